/*
 * mta_body.c - a message file as the DATA of an SMTP transaction.
 *
 * The body is read with pread() in chunks (the fd is shared with nobody,
 * but the offset of a file queued handed us is none of our business),
 * lines starting with "." get another "." (RFC 5321 4.5.2), a bare LF
 * becomes CRLF so that a stray one cannot end the data early at a strict
 * server, and the data ends with CRLF.CRLF.  The state (beginning of
 * line, last byte CR) carries over from chunk to chunk.
 *
 * With CHUNKING (RFC 3030, mta_body_bdat) each piece is one BDAT chunk:
 * "BDAT <octets>[ LAST]\r\n" and the octets, the same as DATA would
 * carry (bare LF made CRLF, a last line ended) but with no dot doubled
 * and no final dot; a prefix (the DKIM signature) opens the first
 * chunk.  A message that fits in a piece is one "BDAT n LAST".
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "mta.h"

void
mta_body_init(struct mta_body *b, int fd, uint64_t base, uint64_t size)
{
	b->fd = fd;
	b->base = base;
	b->off = 0;
	b->size = size;
	b->bol = 1;
	b->cr = 0;
	b->ended = 0;
	b->bdat = 0;
	b->prefix = NULL;
	b->prefixlen = 0;
}

/* BDAT chunks from now on, the first one opening with prefix (kept by
 * the caller until it is sent, or NULL). */
void
mta_body_bdat(struct mta_body *b, const char *prefix)
{
	b->bdat = 1;
	b->prefix = prefix;
	b->prefixlen = prefix != NULL ? strlen(prefix) : 0;
}

/* Each byte in gives at most two out (a dot doubled, LF -> CRLF), and
 * the end adds CRLF.CRLF: a 4 KB message needs 8 KB, not the 128 KB
 * of a full chunk (which malloc would take from the heap top and give
 * back, piece after piece). */
/* The bytes the next piece reads: what is left, at most a chunk. */
static uint64_t
mta_body_want(const struct mta_body *b)
{
	uint64_t left = b->off < b->size ? b->size - b->off : 0;

	return left < MTA_BODY_CHUNK ? left : MTA_BODY_CHUNK;
}

size_t
mta_body_outmax(const struct mta_body *b)
{
	return 2 * mta_body_want(b) + 8 +
	    (b->bdat ? MTA_BDAT_HDR + b->prefixlen : 0);
}

int
mta_body_8bit(int fd, uint64_t base, uint64_t size)
{
	unsigned char buf[MTA_BODY_CHUNK];
	uint64_t off = 0;
	ssize_t n, i;

	while (off < size) {
		n = pread(fd, buf, size - off < sizeof(buf) ? size - off :
		    sizeof(buf), base + off);
		if (n <= 0)
			return -1;
		for (i = 0; i < n; i++)
			if (buf[i] & 0x80)
				return 1;
		off += n;
	}
	return 0;
}

/* A line at a time (memchr and memcpy: this runs over every byte of
 * every message sent). */
size_t
mta_body_stuff(struct mta_body *b, const char *in, size_t len, char *out)
{
	const char *p = in, *end = in + len, *nl;
	size_t o = 0, n;

	while (p < end) {
		if (b->bol && *p == '.' && !b->bdat)
			out[o++] = '.';
		nl = memchr(p, '\n', end - p);
		n = (nl != NULL ? nl : end) - p;
		if (n > 0) {
			memcpy(out + o, p, n);
			o += n;
			b->cr = p[n - 1] == '\r';
			b->bol = 0;
			p += n;
		}
		if (nl == NULL)
			break;
		if (!b->cr)
			out[o++] = '\r';
		out[o++] = '\n';
		b->cr = 0;
		b->bol = 1;
		p++;
	}
	return o;
}

static size_t
mta_body_end(struct mta_body *b, char *out)
{
	size_t o = 0;

	if (!b->bol) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	if (!b->bdat) {
		out[o++] = '.';
		out[o++] = '\r';
		out[o++] = '\n';
	}
	b->ended = 1;
	return o;
}

static ssize_t	mta_body_piece(struct mta_body *, char *);

/* A BDAT chunk: the piece is made MTA_BDAT_HDR bytes in, then its
 * command goes right before it (a memmove of the piece: cheaper than
 * knowing its size, which LF -> CRLF changes, before reading it). */
static ssize_t
mta_body_chunk(struct mta_body *b, char *out)
{
	char hdr[MTA_BDAT_HDR];
	size_t pre = 0;
	ssize_t n;
	int h;

	if (b->prefix != NULL) {
		memcpy(out + MTA_BDAT_HDR, b->prefix, b->prefixlen);
		pre = b->prefixlen;
		b->prefix = NULL;
		b->prefixlen = 0;
	}
	if ((n = mta_body_piece(b, out + MTA_BDAT_HDR + pre)) == -1)
		return -1;
	n += pre;
	h = snprintf(hdr, sizeof(hdr), "BDAT %zd%s\r\n", n,
	    b->ended ? " LAST" : "");
	memmove(out + h, out + MTA_BDAT_HDR, n);
	memcpy(out, hdr, h);
	return n + h;
}

ssize_t
mta_body_next(struct mta_body *b, char *out)
{
	if (b->ended)
		return 0;
	return b->bdat ? mta_body_chunk(b, out) : mta_body_piece(b, out);
}

static ssize_t
mta_body_piece(struct mta_body *b, char *out)
{
	static char in[MTA_BODY_CHUNK];
	uint64_t want;
	ssize_t n;

	if (b->off >= b->size)
		return mta_body_end(b, out);
	want = mta_body_want(b);
	do {
		n = pread(b->fd, in, want, b->base + b->off);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	if (n == 0) {
		errno = ENODATA;	/* the file is shorter than its size */
		return -1;
	}
	b->off += n;
	n = mta_body_stuff(b, in, n, out);
	/* The final dot (BDAT: LAST) goes with the last piece: one write,
	 * one segment for a message that fits in a chunk. */
	if (b->off >= b->size)
		n += mta_body_end(b, out + n);
	return n;
}
