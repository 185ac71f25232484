/*
 * test_cfg_include.c - include: globs, sorting, errors in included files,
 * blocks across files, loops, a missing main file.
 *
 * Runs in tests/unit (ctest WORKING_DIRECTORY); cfg_test.h has the
 * helpers the test_cfg_* programs share.
 */
#include <sys/stat.h>

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfg.h"
#include "cfg_test.h"

/* A scratch directory with files for include tests. */
static char tmpdir[] = "/tmp/test_cfg_include.XXXXXX";

static void
put(const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	assert_non_null(fp = fopen(path, "w"));
	fputs(text, fp);
	fclose(fp);
}

static int
setup_tmp(void **state)
{
	char path[PATH_MAX];

	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/d", tmpdir);
	return mkdir(path, 0700);
}

static int
teardown_tmp(void **state)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd);
}

static struct cfg *
load_tmp(const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	return cfg_load(path);
}

static void
test_include(void **state)
{
	struct cfg *cfg;
	struct cfg_node *v, *n;
	char *m, *expect;

	put("main.conf",
	    "include d/*.conf\n"
	    "include none/*.conf\n"		/* no match: fine */
	    "<virtual-mta v>\n"
	    "  include vmta.inc\n"
	    "</virtual-mta>\n");
	put("d/b.conf", "host-name b.example\n");
	put("d/a.conf", "host-name a.example\n");
	put("d/c.txt", "this is not included\n");
	put("vmta.inc", "max-smtp-out 7\n<domain x.com>\n</domain>\n");
	cfg = load_tmp("main.conf");
	m = msgs(cfg);
	assert_string_equal(m, "");
	free(m);
	n = cfg_child(cfg->root, "host-name");
	assert_string_equal(n->arg, "a.example");	/* sorted */
	n = cfg_next_named(n, "host-name");
	assert_string_equal(n->arg, "b.example");
	/* Included into the block where the include line is. */
	v = cfg_vmta(cfg, "v");
	assert_int_equal(cfg_int(v, "max-smtp-out", 0), 7);
	assert_non_null(cfg_domain_block(cfg, v, "x.com"));
	cfg_free(cfg);

	/* A plain path must exist. */
	put("missing.conf", "\n\ninclude nothere.conf\n");
	cfg = load_tmp("missing.conf");
	if (asprintf(&expect, "%s/missing.conf:3: include: cannot read "
	    "\"%s/nothere.conf\": No such file or directory\n", tmpdir,
	    tmpdir) == -1)
		fail();
	m = errors(cfg);
	assert_string_equal(m, expect);
	free(m);
	free(expect);
	cfg_free(cfg);

	/* Errors in an included file name that file. */
	put("bad.conf", "include d/x.inc\n");
	put("d/x.inc", "\nmax-smtp-outt 1\n");
	cfg = load_tmp("bad.conf");
	if (asprintf(&expect, "%s/d/x.inc:2: unknown directive "
	    "\"max-smtp-outt\"\n", tmpdir) == -1)
		fail();
	m = errors(cfg);
	assert_string_equal(m, expect);
	free(m);
	free(expect);
	cfg_free(cfg);

	/* Blocks may not span files. */
	put("span.conf", "include span.inc\n</domain>\n");
	put("span.inc", "<domain a.com>\n");
	cfg = load_tmp("span.conf");
	if (asprintf(&expect, "%s/span.inc:1: unclosed <domain a.com>\n"
	    "%s/span.conf:2: unmatched </domain>\n", tmpdir, tmpdir) == -1)
		fail();
	m = errors(cfg);
	assert_string_equal(m, expect);
	free(m);
	free(expect);
	cfg_free(cfg);
}

static void
test_include_loop(void **state)
{
	struct cfg *cfg;
	char *m, *expect;

	put("loop1.conf", "include loop2.conf\n");
	put("loop2.conf", "host-name x.example\ninclude loop1.conf\n");
	cfg = load_tmp("loop1.conf");
	if (asprintf(&expect, "%s/loop2.conf:2: include: \"%s/loop1.conf\" "
	    "is already being read (include loop)\n", tmpdir, tmpdir) == -1)
		fail();
	m = errors(cfg);
	assert_string_equal(m, expect);
	free(m);
	free(expect);
	/* What was read is kept. */
	assert_non_null(cfg_child(cfg->root, "host-name"));
	cfg_free(cfg);

	put("self.conf", "include *.self\n");
	put("x.self", "include x.self\n");
	cfg = load_tmp("self.conf");
	assert_int_equal(cfg->nerrors, 1);
	cfg_free(cfg);
}

static void
test_missing_main(void **state)
{
	struct cfg *cfg;

	cfg = cfg_load("/nonexistent/tern.conf");
	assert_non_null(cfg);
	assert_int_equal(cfg->nerrors, 1);
	assert_string_equal(cfg->msgs[0], "/nonexistent/tern.conf: cannot "
	    "read: No such file or directory");
	cfg_free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_include),
		cmocka_unit_test(test_include_loop),
		cmocka_unit_test(test_missing_main),
	};

	return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
