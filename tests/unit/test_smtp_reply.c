/*
 * test_smtp_reply.c - the SMTP reply parser of deliverd.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "smtp_reply.h"

/* Feed all of s; return the last status, *rest = unconsumed bytes. */
static int
feed(struct smtp_reply *r, const char *s, size_t *rest)
{
	size_t used, len = strlen(s);
	int rv;

	rv = smtp_reply_feed(r, s, len, &used);
	if (rest != NULL)
		*rest = len - used;
	return rv;
}

static void
test_single_line(void **state)
{
	struct smtp_reply r;
	char buf[256];
	size_t rest;

	smtp_reply_init(&r);
	assert_int_equal(feed(&r, "220 mx.example.com ESMTP ready\r\n", &rest),
	    SMTP_REPLY_DONE);
	assert_int_equal(rest, 0);
	assert_int_equal(r.code, 220);
	assert_int_equal(r.nlines, 1);
	assert_string_equal(smtp_reply_line(&r, 0), "mx.example.com ESMTP ready");
	assert_string_equal(r.enhanced, "");
	assert_string_equal(smtp_reply_status(&r), "2.0.0");
	assert_int_equal(smtp_reply_class(&r), 2);
	assert_string_equal(smtp_reply_oneline(&r, buf, sizeof(buf)),
	    "220 mx.example.com ESMTP ready");
	smtp_reply_free(&r);
}

static void
test_code_only(void **state)
{
	struct smtp_reply r;
	char buf[64];

	smtp_reply_init(&r);
	assert_int_equal(feed(&r, "250\r\n", NULL), SMTP_REPLY_DONE);
	assert_int_equal(r.code, 250);
	assert_string_equal(smtp_reply_line(&r, 0), "");
	assert_string_equal(smtp_reply_oneline(&r, buf, sizeof(buf)), "250");
	smtp_reply_free(&r);
}

static void
test_bare_lf(void **state)
{
	struct smtp_reply r;

	smtp_reply_init(&r);
	assert_int_equal(feed(&r, "250 ok\n", NULL), SMTP_REPLY_DONE);
	assert_string_equal(smtp_reply_line(&r, 0), "ok");
	smtp_reply_free(&r);
}

static void
test_multiline(void **state)
{
	struct smtp_reply r;
	char buf[256];

	smtp_reply_init(&r);
	assert_int_equal(feed(&r, "250-mx.example.com\r\n250-PIPELINING\r\n"
	    "250-SIZE 10240000\r\n", NULL), SMTP_REPLY_MORE);
	assert_int_equal(feed(&r, "250 8BITMIME\r\n", NULL), SMTP_REPLY_DONE);
	assert_int_equal(r.code, 250);
	assert_int_equal(r.nlines, 4);
	assert_string_equal(smtp_reply_line(&r, 0), "mx.example.com");
	assert_string_equal(smtp_reply_line(&r, 1), "PIPELINING");
	assert_string_equal(smtp_reply_line(&r, 2), "SIZE 10240000");
	assert_string_equal(smtp_reply_line(&r, 3), "8BITMIME");
	assert_string_equal(smtp_reply_line(&r, 4), "");
	assert_string_equal(smtp_reply_oneline(&r, buf, sizeof(buf)),
	    "250 mx.example.com PIPELINING SIZE 10240000 8BITMIME");
	smtp_reply_free(&r);
}

/* Input arrives in arbitrary pieces: one byte at a time must work. */
static void
test_bytewise(void **state)
{
	const char *s = "550-5.1.1 first\r\n550 5.1.1 second\r\n";
	struct smtp_reply r;
	size_t i, used;
	int rv = SMTP_REPLY_MORE;

	smtp_reply_init(&r);
	for (i = 0; s[i] != '\0'; i++) {
		assert_int_equal(rv, SMTP_REPLY_MORE);
		rv = smtp_reply_feed(&r, s + i, 1, &used);
		assert_int_equal(used, 1);
	}
	assert_int_equal(rv, SMTP_REPLY_DONE);
	assert_int_equal(r.code, 550);
	assert_string_equal(r.enhanced, "5.1.1");
	smtp_reply_free(&r);
}

/* Pipelined replies come in one read: the parser stops after each. */
static void
test_several_replies(void **state)
{
	const char *s = "250 2.1.0 ok\r\n550 5.1.1 <x@y> unknown\r\n354 go\r\n";
	struct smtp_reply r;
	size_t used, off = 0, len = strlen(s);

	smtp_reply_init(&r);
	assert_int_equal(smtp_reply_feed(&r, s, len, &used), SMTP_REPLY_DONE);
	assert_int_equal(r.code, 250);
	assert_string_equal(r.enhanced, "2.1.0");
	off += used;
	/* a finished reply consumes nothing more until reset */
	assert_int_equal(smtp_reply_feed(&r, s + off, len - off, &used),
	    SMTP_REPLY_DONE);
	assert_int_equal(used, 0);
	smtp_reply_reset(&r);
	assert_int_equal(smtp_reply_feed(&r, s + off, len - off, &used),
	    SMTP_REPLY_DONE);
	off += used;
	assert_int_equal(r.code, 550);
	assert_string_equal(smtp_reply_status(&r), "5.1.1");
	smtp_reply_reset(&r);
	assert_int_equal(smtp_reply_feed(&r, s + off, len - off, &used),
	    SMTP_REPLY_DONE);
	off += used;
	assert_int_equal(off, len);
	assert_int_equal(r.code, 354);
	assert_string_equal(smtp_reply_status(&r), "2.0.0");
	smtp_reply_free(&r);
}

static void
test_enhanced(void **state)
{
	static const struct {
		const char *in, *enh, *status, *oneline;
	} t[] = {
		{ "550 5.1.1 <x@y> user unknown\r\n", "5.1.1", "5.1.1",
		    "550 5.1.1 <x@y> user unknown" },
		{ "451 4.7.1 greylisted\r\n", "4.7.1", "4.7.1",
		    "451 4.7.1 greylisted" },
		{ "250 2.0.0\r\n", "2.0.0", "2.0.0", "250 2.0.0" },
		{ "552 5.123.456 big\r\n", "5.123.456", "5.123.456",
		    "552 5.123.456 big" },
		/* class must match the code */
		{ "451 5.7.1 odd\r\n", "", "4.0.0", "451 5.7.1 odd" },
		/* not an enhanced code */
		{ "550 5.1 short\r\n", "", "5.0.0", "550 5.1 short" },
		{ "550 5.1.1234 long\r\n", "", "5.0.0", "550 5.1.1234 long" },
		{ "550 5.1.1x glued\r\n", "", "5.0.0", "550 5.1.1x glued" },
		{ "550 5..1 empty\r\n", "", "5.0.0", "550 5..1 empty" },
		{ "550 no code\r\n", "", "5.0.0", "550 no code" },
		{ "421 Service not available\r\n", "", "4.0.0",
		    "421 Service not available" },
		/* continuation lines repeat the code: shown once */
		{ "550-5.7.1 line one\r\n550-5.7.1 line two\r\n550 5.7.1\r\n",
		    "5.7.1", "5.7.1", "550 5.7.1 line one line two" },
	};
	struct smtp_reply r;
	char buf[256];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		smtp_reply_init(&r);
		assert_int_equal(feed(&r, t[i].in, NULL), SMTP_REPLY_DONE);
		assert_string_equal(r.enhanced, t[i].enh);
		assert_string_equal(smtp_reply_status(&r), t[i].status);
		assert_string_equal(smtp_reply_oneline(&r, buf, sizeof(buf)),
		    t[i].oneline);
		smtp_reply_free(&r);
	}
}

static void
test_bad_input(void **state)
{
	static const char *bad[] = {
		"hello\r\n",
		"25\r\n",
		"\r\n",
		"2500 x\r\n",
		"250x\r\n",
		"150 too low\r\n",
		"650 too high\r\n",
		"260 second digit\r\n",
		"25a x\r\n",
		"250-one\r\n251 two\r\n",	/* codes differ */
		"250-one\r\nxyz\r\n",
	};
	struct smtp_reply r;
	size_t i, used;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		smtp_reply_init(&r);
		assert_int_equal(feed(&r, bad[i], NULL), SMTP_REPLY_ERROR);
		assert_non_null(r.error);
		/* stays failed */
		assert_int_equal(smtp_reply_feed(&r, "250 ok\r\n", 8, &used),
		    SMTP_REPLY_ERROR);
		smtp_reply_free(&r);
	}
}

static void
test_control_chars(void **state)
{
	static const char in[] = "550 bad\001text\033here\0nul\r\n";
	struct smtp_reply r;
	char buf[64];
	size_t used;

	smtp_reply_init(&r);
	assert_int_equal(smtp_reply_feed(&r, in, sizeof(in) - 1, &used),
	    SMTP_REPLY_DONE);
	assert_string_equal(smtp_reply_line(&r, 0), "bad\001text\033here nul");
	assert_string_equal(smtp_reply_oneline(&r, buf, sizeof(buf)),
	    "550 bad text here nul");
	smtp_reply_free(&r);
}

static void
test_max_lines(void **state)
{
	struct smtp_reply r;
	int i;

	smtp_reply_init(&r);
	for (i = 0; i < SMTP_REPLY_MAXLINES - 1; i++)
		assert_int_equal(feed(&r, "250-x\r\n", NULL), SMTP_REPLY_MORE);
	assert_int_equal(feed(&r, "250 last\r\n", NULL), SMTP_REPLY_DONE);
	assert_int_equal(r.nlines, SMTP_REPLY_MAXLINES);
	smtp_reply_free(&r);

	smtp_reply_init(&r);
	for (i = 0; i < SMTP_REPLY_MAXLINES; i++)
		assert_int_equal(feed(&r, "250-x\r\n", NULL), SMTP_REPLY_MORE);
	assert_int_equal(feed(&r, "250 last\r\n", NULL), SMTP_REPLY_ERROR);
	assert_string_equal(r.error, "too many lines in reply");
	smtp_reply_free(&r);
}

static void
test_max_size(void **state)
{
	struct smtp_reply r;
	char *line;
	size_t used, n = SMTP_REPLY_MAXSIZE;

	/* exactly the limit, line end included */
	line = malloc(n);
	assert_non_null(line);
	memset(line, 'a', n);
	memcpy(line, "250 ", 4);
	memcpy(line + n - 2, "\r\n", 2);
	smtp_reply_init(&r);
	assert_int_equal(smtp_reply_feed(&r, line, n, &used), SMTP_REPLY_DONE);
	assert_int_equal(used, n);
	assert_int_equal(strlen(smtp_reply_line(&r, 0)), n - 6);
	smtp_reply_free(&r);

	/* one more byte, even without a line end yet */
	smtp_reply_init(&r);
	assert_int_equal(smtp_reply_feed(&r, line, n - 2, &used),
	    SMTP_REPLY_MORE);
	assert_int_equal(smtp_reply_feed(&r, "aaa", 3, &used),
	    SMTP_REPLY_ERROR);
	assert_string_equal(r.error, "reply too long");
	smtp_reply_free(&r);
	free(line);
}

static void
test_oneline_truncation(void **state)
{
	struct smtp_reply r;
	char buf[16], buf17[17];

	smtp_reply_init(&r);
	assert_int_equal(feed(&r, "550 5.1.1 0123456789\r\n", NULL),
	    SMTP_REPLY_DONE);
	assert_string_equal(smtp_reply_oneline(&r, buf, sizeof(buf)),
	    "550 5.1.1 01234");
	smtp_reply_free(&r);

	/* "é" is two bytes: never cut in the middle */
	smtp_reply_init(&r);
	assert_int_equal(feed(&r, "550 abcdefghij\xc3\xa9z\r\n", NULL),
	    SMTP_REPLY_DONE);
	assert_string_equal(smtp_reply_oneline(&r, buf, sizeof(buf)),
	    "550 abcdefghij");
	assert_string_equal(smtp_reply_oneline(&r, buf17, sizeof(buf17)),
	    "550 abcdefghij\xc3\xa9");
	smtp_reply_free(&r);
}

static void
test_reset_reuse(void **state)
{
	struct smtp_reply r;
	int i;

	smtp_reply_init(&r);
	for (i = 0; i < 1000; i++) {
		assert_int_equal(feed(&r, "250-a\r\n250 2.1.5 b\r\n", NULL),
		    SMTP_REPLY_DONE);
		assert_int_equal(r.nlines, 2);
		assert_string_equal(smtp_reply_line(&r, 1), "2.1.5 b");
		smtp_reply_reset(&r);
	}
	smtp_reply_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_line),
		cmocka_unit_test(test_code_only),
		cmocka_unit_test(test_bare_lf),
		cmocka_unit_test(test_multiline),
		cmocka_unit_test(test_bytewise),
		cmocka_unit_test(test_several_replies),
		cmocka_unit_test(test_enhanced),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_control_chars),
		cmocka_unit_test(test_max_lines),
		cmocka_unit_test(test_max_size),
		cmocka_unit_test(test_oneline_truncation),
		cmocka_unit_test(test_reset_reuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
