/*
 * test_ctl.c - helpers of the control protocol: request words, queue
 * operations, and config-relative path resolution.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "ctl.h"
#include "proto.h"

static void
test_split(void **state)
{
	char line[] = "  pause\tqueue  example.com/vmta1 \r\n";
	char many[] = "a b c d";
	char empty[] = " \t\n";
	char *w[3];

	assert_int_equal(ctl_split(line, w, 3), 3);
	assert_string_equal(w[0], "pause");
	assert_string_equal(w[1], "queue");
	assert_string_equal(w[2], "example.com/vmta1");
	assert_int_equal(ctl_split(many, w, 3), -1);
	assert_int_equal(ctl_split(empty, w, 3), 0);
}

static void
test_qop(void **state)
{
	assert_int_equal(ctl_qop("pause"), QOP_PAUSE);
	assert_int_equal(ctl_qop("resume"), QOP_RESUME);
	assert_int_equal(ctl_qop("schedule"), QOP_SCHEDULE);
	assert_int_equal(ctl_qop("delete"), 0);
}

static const char *
res(const char *cfg, const char *path)
{
	static char buf[4096];

	return ctl_path_resolve(cfg, path, buf, sizeof(buf));
}

static void
test_resolve(void **state)
{
	char cwd[2048], want[4096];

	assert_string_equal(res("/etc/tern/tern.conf", "acct.csv"),
	    "/etc/tern/acct.csv");
	assert_string_equal(res("/etc/tern/tern.conf", "../run/c.sock"),
	    "/etc/run/c.sock");
	assert_string_equal(res("/etc/tern/tern.conf", "/var/log//x/./a.csv"),
	    "/var/log/x/a.csv");
	assert_string_equal(res("/etc/tern/tern.conf", "/a/b/../../../c"),
	    "/c");
	assert_string_equal(res("/etc/tern/tern.conf", "/"), "/");
	assert_string_equal(res("/etc/tern/tern.conf", "|/bin/cat -u"),
	    "|/bin/cat -u");
	assert_string_equal(res("/tern.conf", "x"), "/x");
	/* A relative config: from the working directory. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(want, sizeof(want), "%s/etc/acct.csv", cwd);
	assert_string_equal(res("etc/tern.conf", "acct.csv"),
	    strcmp(cwd, "/") ? want : "/etc/acct.csv");
	snprintf(want, sizeof(want), "%s/acct.csv", cwd);
	assert_string_equal(res(NULL, "acct.csv"),
	    strcmp(cwd, "/") ? want : "/acct.csv");
	assert_string_equal(res("tern.conf", "acct.csv"),
	    strcmp(cwd, "/") ? want : "/acct.csv");
	/* Too long for the buffer. */
	{
		char small[8];

		assert_null(ctl_path_resolve("/etc/t.conf", "abcdefgh", small,
		    sizeof(small)));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_qop),
		cmocka_unit_test(test_resolve),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
