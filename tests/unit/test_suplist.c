/*
 * test_suplist.c - the suppression list set and its file lines
 * (common/suplist.c), the one reader bounced, queued and smtpd share.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "suplist.h"

static void
test_scopes(void **state)
{
	struct suplist *l = suplist_new();

	(void)state;
	assert_int_equal(suplist_add(l, NULL, "<Joe@ISP.example>"), 1);
	assert_int_equal(suplist_add(l, "", "joe@isp.example"), 0);
	assert_int_equal(suplist_add(l, "v1", "ann@isp.example"), 1);
	assert_int_equal(suplist_add(l, NULL, "no-at"), -1);
	assert_int_equal(suplist_add(l, NULL, "a b@c"), -1);
	assert_int_equal(suplist_count(l), 2);
	/* global applies to every VMTA; v1's only to v1 */
	assert_string_equal(suplist_match(l, "v2", "JOE@isp.example"), "");
	assert_string_equal(suplist_match(l, "v1", "ann@isp.example"), "v1");
	assert_null(suplist_match(l, "v2", "ann@isp.example"));
	assert_null(suplist_match(l, NULL, "ann@isp.example"));
	assert_int_equal(suplist_remove(l, NULL, "ann@isp.example"), 0);
	assert_int_equal(suplist_remove(l, "v1", "ann@isp.example"), 1);
	assert_null(suplist_match(l, "v1", "ann@isp.example"));
	suplist_free(l);
}

static void
test_file_lines(void **state)
{
	struct suplist *l = suplist_new();
	char buf[SUPLIST_MAXLINE];

	(void)state;
	assert_int_equal(suplist_apply_line(l, "# comment\n"), 0);
	assert_int_equal(suplist_apply_line(l, "\n"), 0);
	assert_int_equal(suplist_apply_line(l, "a@x.example\n"), 1);
	assert_int_equal(suplist_apply_line(l, "b@x.example v1\r\n"), 1);
	assert_int_equal(suplist_apply_line(l, "!a@x.example\n"), 1);
	assert_int_equal(suplist_apply_line(l, "c@x.example v1 extra\n"), -1);
	assert_int_equal(suplist_apply_line(l, "!\n"), -1);
	assert_null(suplist_match(l, NULL, "a@x.example"));
	assert_string_equal(suplist_match(l, "v1", "b@x.example"), "v1");
	/* what is written reads back the same */
	assert_int_equal(suplist_format_line(buf, sizeof(buf), 0, "v1",
	    "b@x.example"), 16);
	assert_string_equal(buf, "!b@x.example v1\n");
	assert_int_equal(suplist_apply_line(l, buf), 1);
	assert_int_equal(suplist_count(l), 0);
	assert_int_equal(suplist_format_line(buf, 8, 1, NULL, "b@x.example"),
	    -1);
	suplist_free(l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scopes),
		cmocka_unit_test(test_file_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
