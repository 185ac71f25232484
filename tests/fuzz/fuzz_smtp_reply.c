/*
 * fuzz_smtp_reply.c - libFuzzer target for deliverd's SMTP reply parser.
 *
 *	clang -g -O1 -fsanitize=fuzzer,address,undefined -Ideliverd \
 *	    tests/fuzz/fuzz_smtp_reply.c deliverd/smtp_reply.c -o fuzz_smtp_reply
 *	./fuzz_smtp_reply -max_total_time=10 tests/fuzz/corpus/smtp_reply
 *
 * The input is split at a point taken from its first byte, so that the
 * fuzzer also exercises replies that arrive in two reads, and is parsed
 * as a sequence of replies (as pipelined replies arrive).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "smtp_reply.h"

static void
check(const struct smtp_reply *r)
{
	char buf[512], tiny[8];
	int i;

	if (r->code < 200 || r->code > 559 || r->nlines < 1 ||
	    r->nlines > SMTP_REPLY_MAXLINES)
		__builtin_trap();
	for (i = 0; i < r->nlines; i++)
		(void)strlen(smtp_reply_line(r, i));
	if (strlen(smtp_reply_oneline(r, buf, sizeof(buf))) >= sizeof(buf))
		__builtin_trap();
	(void)smtp_reply_oneline(r, tiny, sizeof(tiny));
	(void)smtp_reply_oneline(r, tiny, 1);
	(void)smtp_reply_status(r);
}

/* Feed data; returns 0 to go on, -1 after an error. */
static int
feed(struct smtp_reply *r, const uint8_t *data, size_t len)
{
	size_t used;
	int rv;

	while (len > 0) {
		rv = smtp_reply_feed(r, (const char *)data, len, &used);
		if (used > len)
			__builtin_trap();
		data += used;
		len -= used;
		if (rv == SMTP_REPLY_ERROR)
			return -1;
		if (rv == SMTP_REPLY_DONE) {
			check(r);
			smtp_reply_reset(r);
		}
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_reply r;
	size_t split;

	if (size == 0)
		return 0;
	split = size > 1 ? data[0] % size : 0;
	data++;
	size--;
	if (split > size)
		split = size;
	smtp_reply_init(&r);
	if (feed(&r, data, split) == 0)
		(void)feed(&r, data + split, size - split);
	smtp_reply_free(&r);
	return 0;
}
