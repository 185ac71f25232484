/*
 * fuzz_smtp_data.c - libFuzzer target for smtpd's message text automaton
 * (dot-unstuffing, CRLF normalisation, end of data).
 *
 *	clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *	    -isystem /usr/include/bsd -DLIBBSD_OVERLAY -Icommon -Ismtpd \
 *	    tests/fuzz/fuzz_smtp_data.c smtpd/smtp_data.c smtpd/smtp_hdr.c \
 *	    common/log.c \
 *	    -lbsd -o fuzz_smtp_data
 *	./fuzz_smtp_data -max_total_time=10 tests/fuzz/corpus/smtp_data
 *
 * The text is fed twice: whole, and cut in pieces at points taken from
 * its first bytes (as TCP reads would cut it).  Both must consume the
 * same octets, end at the same place and store the same bytes; what is
 * stored has no bare LF, and the end is only ever <CRLF>.<CRLF>.
 * When the high bit of the first byte is set, header processing
 * (smtp_hdr.c: X-Virtual-MTA, X-Job, X-EnvId removed) is on for both runs.
 *
 * FUZZ_EXTRA: smtpd/smtp_data.c smtpd/smtp_hdr.c
 */
#include <sys/mman.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtpd.h"

struct smtpd_state	 smtpd;
static int		 done;

/* What smtp_verb.c would do at the final dot. */
void
smtp_data_done(struct smtp_session *s)
{
	done = 1;
}

struct run {
	size_t		 consumed;
	int		 ended;
	int		 error;
	size_t		 len;
	char		*out;		/* the text after our Received: */
	char		*file;
};

static void
run(const uint8_t *data, size_t len, const uint8_t *cuts, size_t ncuts,
    int hdr, struct run *r)
{
	static struct smtp_session s;
	static struct smtp_tx tx;
	static struct rcpt rcpt = { .addr = "r@example.com" };
	size_t pos = 0, n, step, i = 0;
	off_t end;
	size_t hdrlen;
	int fd;

	memset(&s, 0, sizeof(s));
	memset(&tx, 0, sizeof(tx));
	strlcpy(s.helo, "client.example", sizeof(s.helo));
	strlcpy(s.ip, "192.0.2.1", sizeof(s.ip));
	s.max_size = 1 << 20;
	s.x_vmta = s.x_job = s.x_envid = hdr;
	tx.sender = "s@example.com";
	tx.rcpts = &rcpt;
	tx.nrcpt = 1;
	strlcpy(tx.qid, "abcdefghijkl", sizeof(tx.qid));
	s.tx = &tx;
	if ((fd = memfd_create("data", 0)) == -1 ||
	    smtp_data_begin(&s, fd) == -1)
		abort();
	/* The header carries the time: compare what follows it. */
	hdrlen = tx.data.len;
	done = 0;
	while (pos < len && !done) {
		step = ncuts ? (size_t)cuts[i++ % ncuts] % 7 + 1 : len - pos;
		if (step > len - pos)
			step = len - pos;
		n = smtp_data_feed(&s, (const char *)data + pos, step);
		if (n > step || (n < step && !done))
			__builtin_trap();
		pos += n;
	}
	r->consumed = pos;
	r->ended = done;
	r->error = tx.data.error;
	if (tx.data.len > 0 && tx.data.error == SMTP_DERR_NONE &&
	    write(fd, tx.data.buf, tx.data.len) != (ssize_t)tx.data.len)
		abort();
	end = lseek(fd, 0, SEEK_END);
	if ((r->file = malloc(end + 1)) == NULL ||
	    pread(fd, r->file, end, 0) != end || (size_t)end < hdrlen)
		abort();
	r->out = r->file + hdrlen;
	r->len = end - hdrlen;
	smtp_data_abort(&tx.data);
	free(tx.vmta);
	free(tx.jobid);
	free(tx.envid);
	close(fd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct run a, b;
	size_t ncuts = len > 0 ? data[0] % 8 : 0, i;
	int hdr = len > 0 && (data[0] & 0x80);
	const char *eod;

	if (ncuts >= len)
		ncuts = 0;
	run(data + ncuts + (len > 0), len - ncuts - (len > 0), data + 1,
	    ncuts, hdr, &a);
	run(data + ncuts + (len > 0), len - ncuts - (len > 0), NULL, 0, hdr,
	    &b);
	if (a.consumed != b.consumed || a.ended != b.ended ||
	    a.error != b.error)
		__builtin_trap();
	if (a.error == SMTP_DERR_NONE &&
	    (a.len != b.len || memcmp(a.out, b.out, a.len) != 0))
		__builtin_trap();
	/* The end of data is <CRLF>.<CRLF> (or ".\r\n" right at the start). */
	if (a.ended) {
		eod = (const char *)data + ncuts + (len > 0) + a.consumed;
		if (a.consumed < 3 || memcmp(eod - 3, ".\r\n", 3) != 0 ||
		    (a.consumed > 3 && memcmp(eod - 5, "\r\n", 2) != 0))
			__builtin_trap();
	}
	/* No bare LF is ever stored. */
	if (a.error == SMTP_DERR_NONE)
		for (i = 0; i < a.len; i++)
			if (a.out[i] == '\n' && (i == 0 || a.out[i - 1] != '\r'))
				__builtin_trap();
	/* Bytes in the file = header + text; the size limit holds. */
	if (a.error != SMTP_DERR_TOOBIG && a.len > (1 << 20))
		__builtin_trap();
	free(a.file);
	free(b.file);
	return 0;
}
