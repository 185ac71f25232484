/*
 * test_mta_body.c - deliverd's DATA stream of a message file: dot
 * stuffing, CRLF, and the final dot in the same piece as the last bytes
 * of the body (one write: a separate small write of ".\r\n" waited for
 * the server's delayed ACK).
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

#include "mta.h"

static int
body_file(const char *text, size_t len)
{
	FILE *f = tmpfile();
	int fd;

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	fflush(f);
	fd = dup(fileno(f));
	fclose(f);
	return fd;
}

static void
test_small_body_is_one_piece_with_the_dot(void **state)
{
	static char out[MTA_BODY_OUTMAX];
	const char *text = "Subject: x\r\n\r\n.leading dot\nbare lf\r\nend";
	const char *want = "Subject: x\r\n\r\n..leading dot\r\nbare lf\r\n"
	    "end\r\n.\r\n";
	struct mta_body b;
	int fd = body_file(text, strlen(text));
	ssize_t n;

	mta_body_init(&b, fd, 0, strlen(text));
	n = mta_body_next(&b, out);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(out, want, n);
	assert_true(b.ended);
	assert_int_equal(mta_body_next(&b, out), 0);
	close(fd);
}

static void
test_large_body_ends_in_its_last_piece(void **state)
{
	static char out[MTA_BODY_OUTMAX];
	size_t len = MTA_BODY_CHUNK + 100, total = 0, pieces = 0;
	char *text = malloc(len);
	struct mta_body b;
	ssize_t n;
	int fd;

	assert_non_null(text);
	memset(text, 'a', len);
	text[len - 2] = '\r';
	text[len - 1] = '\n';
	fd = body_file(text, len);
	mta_body_init(&b, fd, 0, len);
	while ((n = mta_body_next(&b, out)) > 0) {
		pieces++;
		total += n;
		if (b.ended)
			assert_memory_equal(out + n - 5, "\r\n.\r\n", 5);
	}
	assert_int_equal(n, 0);
	assert_int_equal(pieces, 2);
	assert_int_equal(total, len + 3);
	free(text);
	close(fd);
}

static void
test_short_file_is_an_error(void **state)
{
	static char out[MTA_BODY_OUTMAX];
	struct mta_body b;
	int fd = body_file("abc", 3);

	mta_body_init(&b, fd, 0, 10);
	assert_int_equal(mta_body_next(&b, out), 3);
	assert_false(b.ended);
	assert_int_equal(mta_body_next(&b, out), -1);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_body_is_one_piece_with_the_dot),
		cmocka_unit_test(test_large_body_ends_in_its_last_piece),
		cmocka_unit_test(test_short_file_is_an_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
