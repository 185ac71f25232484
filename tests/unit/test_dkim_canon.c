/*
 * test_dkim_canon.c - DKIM relaxed canonicalization (deliverd/dkim_canon.c)
 * against RFC 6376's own example (3.4.5) and the corner cases around it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "dkim.h"

static void
body_is(const char *in, const char *want)
{
	struct dkim_buf b = { 0 };

	dkim_canon_body(in, strlen(in), &b);
	assert_int_equal(b.len, strlen(want));
	if (b.len > 0)
		assert_memory_equal(b.data, want, b.len);
	dkim_buf_free(&b);
}

static void
header_is(const char *in, const char *want)
{
	struct dkim_buf b = { 0 };

	dkim_canon_header(in, strlen(in), 1, &b);
	assert_string_equal(b.data, want);
	dkim_buf_free(&b);
}

static void
test_rfc_example(void **state)
{
	/* RFC 6376 3.4.5 */
	header_is("A: X", "a:X\r\n");
	header_is("B : Y\t\r\n\tZ  ", "b:Y Z\r\n");
	body_is(" C \r\nD \t E\r\n\r\n\r\n", " C\r\nD E\r\n");
}

static void
test_body_edges(void **state)
{
	body_is("", "");
	body_is("\r\n\r\n", "");
	body_is("no final newline", "no final newline\r\n");
	body_is("a\r\n\r\nb\r\n", "a\r\n\r\nb\r\n");
	body_is("lf only\nline\n", "lf only\r\nline\r\n");
	body_is("tab\there  \t\r\n", "tab here\r\n");
}

static void
test_header_edges(void **state)
{
	header_is("Subject:hello", "subject:hello\r\n");
	header_is("Subject:   ", "subject:\r\n");
	header_is("To: <a@b>,\r\n <c@d>", "to:<a@b>, <c@d>\r\n");
}

static void
test_find_header(void **state)
{
	const char *msg = "Received: x\r\nFrom: a@b\r\nSubject: one\r\n"
	    "From: c@d\r\n\tcontinued\r\n\r\nFrom: body@x\r\n";
	size_t hend = dkim_header_end(msg, strlen(msg)), len;
	const char *h;

	assert_int_equal(hend, strstr(msg, "\r\n\r\n") + 4 - msg);
	h = dkim_find_header(msg, hend, "from", &len);
	assert_non_null(h);
	/* the last instance, with its continuation, without the CRLF */
	assert_int_equal(len, strlen("From: c@d\r\n\tcontinued"));
	assert_memory_equal(h, "From: c@d\r\n\tcontinued", len);
	assert_null(dkim_find_header(msg, hend, "to", &len));
	/* a prefix of a name is not that name */
	assert_null(dkim_find_header(msg, hend, "subj", &len));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_example),
		cmocka_unit_test(test_body_edges),
		cmocka_unit_test(test_header_edges),
		cmocka_unit_test(test_find_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
