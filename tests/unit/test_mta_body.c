/*
 * test_mta_body.c - deliverd's DATA stream of a message file: dot
 * stuffing, CRLF, and the final dot in the same piece as the last bytes
 * of the body (one write: a separate small write of ".\r\n" waited for
 * the server's delayed ACK); and its BDAT chunks (CHUNKING).
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

/* The whole message comes out in one piece, exactly want. */
static void
expect_one_piece(struct mta_body *b, char *out, size_t room,
    const char *want)
{
	ssize_t n = mta_body_next(b, out);

	assert_true((size_t)n <= room);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(out, want, n);
	assert_true(b->ended);
	assert_int_equal(mta_body_next(b, out), 0);
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
	size_t room;

	mta_body_init(&b, fd, 0, strlen(text));
	/* the room asked for is what this piece can take, not a chunk's */
	room = mta_body_outmax(&b);
	assert_true(room < 2 * strlen(text) + 16);
	expect_one_piece(&b, out, room, want);
	close(fd);
}

/* CHUNKING: the same octets as DATA carries, less the doubled dots and
 * the final dot, as one "BDAT n LAST" opened by the prefix. */
static void
test_bdat_chunk_has_its_size_and_no_dots(void **state)
{
	static char out[MTA_BODY_OUTMAX + MTA_BDAT_HDR + 64];
	const char *text = "Subject: x\r\n\r\n.leading dot\nbare lf\r\nend";
	const char *content = "DKIM-Signature: a=b\r\n"
	    "Subject: x\r\n\r\n.leading dot\r\nbare lf\r\nend\r\n";
	char want[256];
	struct mta_body b;
	int fd = body_file(text, strlen(text));

	snprintf(want, sizeof(want), "BDAT %zu LAST\r\n%s", strlen(content),
	    content);
	mta_body_init(&b, fd, 0, strlen(text));
	mta_body_bdat(&b, "DKIM-Signature: a=b\r\n");
	assert_true(mta_body_outmax(&b) <= sizeof(out));
	expect_one_piece(&b, out, mta_body_outmax(&b), want);
	close(fd);
}

/* A body over a chunk: "BDAT n" chunks, the last one "BDAT n LAST",
 * whose octets together are the body. */
static void
test_bdat_large_body_in_chunks(void **state)
{
	static char out[MTA_BODY_OUTMAX + MTA_BDAT_HDR];
	size_t len = 3 * MTA_BODY_CHUNK + 100, got = 0, i, k, size;
	char *text = malloc(len), *back = malloc(len + 2);
	struct mta_body b;
	int fd, chunks = 0, last = 0;
	ssize_t n;

	assert_non_null(text);
	assert_non_null(back);
	for (i = 0; i < len; i++)
		text[i] = (i % 70 == 68) ? '\r' : (i % 70 == 69) ? '\n' :
		    (i % 70 == 0) ? '.' : 'a' + i % 26;
	fd = body_file(text, len);
	mta_body_init(&b, fd, 0, len);
	mta_body_bdat(&b, NULL);
	for (;;) {
		size_t room = mta_body_outmax(&b);

		assert_true(room <= sizeof(out));
		if ((n = mta_body_next(&b, out)) <= 0)
			break;
		assert_true((size_t)n <= room);
		assert_memory_equal(out, "BDAT ", 5);
		size = strtoul(out + 5, NULL, 10);
		for (k = 5; out[k] != '\n'; k++)
			;
		k++;
		last = strstr(out, " LAST\r\n") != NULL &&
		    strstr(out, " LAST\r\n") < out + k;
		assert_int_equal(size, n - k);
		memcpy(back + got, out + k, size);
		got += size;
		chunks++;
	}
	assert_true(chunks >= 4);
	assert_true(last);
	/* the body ended without a line end: CRLF added, as for DATA */
	assert_int_equal(got, len + 2);
	assert_memory_equal(back, text, len);
	free(text);
	free(back);
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

/* The rules one byte at a time, as RFC 5321 4.5.2 states them. */
static size_t
stuff_ref(int *bol, int *cr, const char *in, size_t len, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (*bol && in[i] == '.')
			out[o++] = '.';
		if (in[i] == '\n' && !*cr)
			out[o++] = '\r';
		out[o++] = in[i];
		*cr = in[i] == '\r';
		*bol = in[i] == '\n';
	}
	return o;
}

/* Random text of dots, CR, LF and letters cut into random pieces: the
 * same bytes out as the byte-at-a-time rules, piece boundaries
 * anywhere (inside CRLF, before a dot). */
static void
test_stuffing_matches_the_rules_in_any_pieces(void **state)
{
	static const char alpha[] = "..\r\n\nab";
	static char in[4096], out[2 * sizeof(in)], ref[2 * sizeof(in)];
	struct mta_body b;
	size_t len, off, n, o, r;
	int round, bol, cr;

	srandom(1);
	for (round = 0; round < 500; round++) {
		len = random() % sizeof(in);
		for (off = 0; off < len; off++)
			in[off] = alpha[random() % (sizeof(alpha) - 1)];
		mta_body_init(&b, -1, 0, len);
		bol = 1;
		cr = 0;
		r = stuff_ref(&bol, &cr, in, len, ref);
		for (off = o = 0; off < len; off += n) {
			n = 1 + random() % 64;
			if (n > len - off)
				n = len - off;
			o += mta_body_stuff(&b, in + off, n, out + o);
		}
		assert_int_equal(o, r);
		assert_memory_equal(out, ref, r);
		assert_int_equal(b.bol, bol);
		assert_int_equal(b.cr, cr);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_body_is_one_piece_with_the_dot),
		cmocka_unit_test(test_large_body_ends_in_its_last_piece),
		cmocka_unit_test(test_bdat_chunk_has_its_size_and_no_dots),
		cmocka_unit_test(test_bdat_large_body_in_chunks),
		cmocka_unit_test(test_short_file_is_an_error),
		cmocka_unit_test(test_stuffing_matches_the_rules_in_any_pieces),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
