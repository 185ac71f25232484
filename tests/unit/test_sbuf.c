/*
 * test_sbuf.c - the growing string of mgmtd and bounced (common/sbuf.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sbuf.h"

static void
test_add_grows_and_terminates(void **state)
{
	struct sbuf b = { 0 };
	char big[3000];
	int i;

	sb_add(&b, "ab\0cd", 5);	/* bytes, not a string */
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.s, "ab\0cd", 6);
	memset(big, 'x', sizeof(big));
	for (i = 0; i < 3; i++)
		sb_add(&b, big, sizeof(big));
	assert_int_equal(b.len, 5 + 3 * sizeof(big));
	assert_true(b.cap > b.len);
	assert_int_equal(b.s[b.len], '\0');
	sb_str(&b, "end");
	assert_string_equal(b.s + b.len - 3, "end");
	sb_free(&b);
	assert_null(b.s);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	sb_free(&b);			/* twice is harmless */
}

static void
test_printf_and_done(void **state)
{
	struct sbuf b = { 0 };
	char *s;

	s = sb_done(&b);		/* nothing added: "" */
	assert_string_equal(s, "");
	sb_printf(&b, "%d-%s", 42, "x");
	assert_string_equal(b.s, "42-x");
	sb_printf(&b, "%s", "");		/* nothing: still a string */
	assert_string_equal(b.s, "42-x");
	s = sb_done(&b);
	assert_string_equal(s, "42-x");
	free(s);
}

/* Longer than any stack buffer: kept whole (a long label or name). */
static void
test_printf_long(void **state)
{
	struct sbuf b = { 0 };
	char big[5000];

	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	sb_str(&b, "<");
	sb_printf(&b, "%s>%d", big, 7);
	assert_int_equal(b.len, 1 + strlen(big) + 2);
	assert_int_equal(strlen(b.s), b.len);
	assert_memory_equal(b.s + b.len - 4, "zz>7", 5);
	sb_free(&b);
}

/* A buffer of rows written out and refilled keeps its memory. */
static void
test_reset_keeps_memory(void **state)
{
	struct sbuf b = { 0 };
	size_t cap;

	sb_reset(&b);			/* before anything: fine */
	assert_null(b.s);
	sb_str(&b, "row 1\r\n");
	cap = b.cap;
	sb_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.s, "");
	assert_int_equal(b.cap, cap);
	sb_str(&b, "row 2\r\n");
	assert_string_equal(b.s, "row 2\r\n");
	sb_free(&b);
}

/* Reserved room is used without moving the string (bounced's webhook
 * request: the header with the password is not left in freed memory). */
static void
test_reserve_does_not_move(void **state)
{
	struct sbuf b = { 0 };
	char chunk[1000];
	const char *at;
	int i;

	memset(chunk, 'y', sizeof(chunk));
	sb_str(&b, "secret header\r\n");
	sb_reserve(&b, 10 * sizeof(chunk));
	assert_true(b.cap >= b.len + 10 * sizeof(chunk) + 1);
	at = b.s;
	for (i = 0; i < 10; i++)
		sb_add(&b, chunk, sizeof(chunk));
	assert_ptr_equal(b.s, at);
	assert_int_equal(b.s[b.len], '\0');
	assert_memory_equal(b.s, "secret header\r\nyyy", 18);
	sb_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_grows_and_terminates),
		cmocka_unit_test(test_printf_and_done),
		cmocka_unit_test(test_printf_long),
		cmocka_unit_test(test_reset_keeps_memory),
		cmocka_unit_test(test_reserve_does_not_move),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
