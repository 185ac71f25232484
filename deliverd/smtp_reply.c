/*
 * smtp_reply.c - incremental, bounded parser for SMTP replies.  See
 * smtp_reply.h.  No I/O here: this file is built into the unit tests and
 * the fuzzer as it is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_reply.h"

void
smtp_reply_init(struct smtp_reply *r)
{
	memset(r, 0, sizeof(*r));
}

void
smtp_reply_reset(struct smtp_reply *r)
{
	char *buf = r->buf;
	size_t cap = r->cap;

	memset(r, 0, sizeof(*r));
	r->buf = buf;
	r->cap = cap;
}

void
smtp_reply_free(struct smtp_reply *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

static int
smtp_reply_fail(struct smtp_reply *r, const char *why)
{
	r->failed = 1;
	r->error = why;
	return SMTP_REPLY_ERROR;
}

static int
smtp_reply_append(struct smtp_reply *r, const char *p, size_t n)
{
	size_t ncap;
	char *nbuf;

	/* +1: room for the NUL that ends the line's text */
	if (r->len + n + 1 > r->cap) {
		ncap = r->cap ? r->cap : 256;
		while (ncap < r->len + n + 1)
			ncap *= 2;
		if ((nbuf = realloc(r->buf, ncap)) == NULL)
			return -1;
		r->buf = nbuf;
		r->cap = ncap;
	}
	memcpy(r->buf + r->len, p, n);
	r->len += n;
	return 0;
}

static int
smtp_reply_code(const char *s)
{
	if (s[0] < '2' || s[0] > '5' || s[1] < '0' || s[1] > '5' ||
	    s[2] < '0' || s[2] > '9')
		return -1;
	return (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
}

/* "x.y.z" with x the reply class and 1-3 digits for y and z, followed
 * by a space or the end: length of the code, else 0. */
static size_t
smtp_reply_enhlen(const char *s, int code)
{
	size_t i = 0, n;
	int part;

	if (s[0] != '0' + code / 100 || s[1] != '.')
		return 0;
	i = 2;
	for (part = 0; part < 2; part++) {
		for (n = 0; n < 3 && s[i] >= '0' && s[i] <= '9'; n++)
			i++;
		if (n == 0)
			return 0;
		if (part == 0 && s[i++] != '.')
			return 0;
	}
	if (s[i] != '\0' && s[i] != ' ')
		return 0;
	return i;
}

static void
smtp_reply_finish(struct smtp_reply *r)
{
	const char *t = r->buf + r->off[0];
	size_t n;

	r->done = 1;
	if ((n = smtp_reply_enhlen(t, r->code)) > 0)
		memcpy(r->enhanced, t, n);
}

/* A whole line is in buf[linestart, len): check it, keep its text. */
static int
smtp_reply_endline(struct smtp_reply *r)
{
	char *line = r->buf + r->linestart;
	size_t n = r->len - r->linestart, i;
	int code, last;

	if (n > 0 && line[n - 1] == '\r')
		n--;
	if (n < 3 || (code = smtp_reply_code(line)) == -1)
		return smtp_reply_fail(r, "malformed reply line");
	if (n > 3 && line[3] != ' ' && line[3] != '-')
		return smtp_reply_fail(r, "malformed reply line");
	if (r->nlines > 0 && code != r->code)
		return smtp_reply_fail(r, "inconsistent codes in reply");
	if (r->nlines == SMTP_REPLY_MAXLINES)
		return smtp_reply_fail(r, "too many lines in reply");
	last = n == 3 || line[3] == ' ';
	/* Keep only the text; a NUL in it would cut it short later. */
	n = n > 4 ? n - 4 : 0;
	memmove(line, line + 4, n);
	for (i = 0; i < n; i++)
		if (line[i] == '\0')
			line[i] = ' ';
	line[n] = '\0';
	r->code = code;
	r->off[r->nlines++] = r->linestart;
	r->len = r->linestart = r->linestart + n + 1;
	if (last)
		smtp_reply_finish(r);
	return SMTP_REPLY_MORE;
}

int
smtp_reply_feed(struct smtp_reply *r, const char *data, size_t len,
    size_t *used)
{
	const char *nl;
	size_t n;

	*used = 0;
	if (r->failed)
		return SMTP_REPLY_ERROR;
	while (!r->done && *used < len) {
		nl = memchr(data + *used, '\n', len - *used);
		n = nl ? (size_t)(nl - (data + *used)) + 1 : len - *used;
		if (r->size + n > SMTP_REPLY_MAXSIZE)
			return smtp_reply_fail(r, "reply too long");
		if (smtp_reply_append(r, data + *used, nl ? n - 1 : n) == -1)
			return smtp_reply_fail(r, "out of memory");
		r->size += n;
		*used += n;
		if (nl && smtp_reply_endline(r) == SMTP_REPLY_ERROR)
			return SMTP_REPLY_ERROR;
	}
	return r->done ? SMTP_REPLY_DONE : SMTP_REPLY_MORE;
}

const char *
smtp_reply_line(const struct smtp_reply *r, int i)
{
	if (i < 0 || i >= r->nlines)
		return "";
	return r->buf + r->off[i];
}

int
smtp_reply_class(const struct smtp_reply *r)
{
	return r->code / 100;
}

const char *
smtp_reply_status(const struct smtp_reply *r)
{
	if (r->enhanced[0] != '\0')
		return r->enhanced;
	switch (smtp_reply_class(r)) {
	case 4:
		return "4.0.0";
	case 5:
		return "5.0.0";
	default:
		return "2.0.0";
	}
}

/* Append s to buf (position *pos), control characters as spaces. */
static void
smtp_reply_put(char *buf, size_t bufsz, size_t *pos, const char *s)
{
	unsigned char c;

	for (; *s != '\0' && *pos + 1 < bufsz; s++) {
		c = *s;
		buf[(*pos)++] = (c < 0x20 || c == 0x7f) ? ' ' : c;
	}
	buf[*pos] = '\0';
}

/* Cutting text may split a UTF-8 sequence: drop an incomplete tail. */
static void
smtp_reply_utf8_trim(char *buf, size_t *pos)
{
	size_t i = *pos, need;
	unsigned char c;

	while (i > 0 && ((unsigned char)buf[i - 1] & 0xc0) == 0x80 &&
	    *pos - i < 3)
		i--;
	if (i == 0 || ((c = buf[i - 1]) & 0x80) == 0)
		return;
	need = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 :
	    (c & 0xf8) == 0xf0 ? 4 : 1;
	if (*pos - (i - 1) < need) {
		*pos = i - 1;
		buf[*pos] = '\0';
	}
}

char *
smtp_reply_oneline(const struct smtp_reply *r, char *buf, size_t bufsz)
{
	size_t pos = 0, elen = strlen(r->enhanced);
	const char *t;
	char code[8];
	int i;

	if (bufsz == 0)
		return buf;
	buf[0] = '\0';
	snprintf(code, sizeof(code), "%03d", r->code);
	smtp_reply_put(buf, bufsz, &pos, code);
	if (elen > 0) {
		smtp_reply_put(buf, bufsz, &pos, " ");
		smtp_reply_put(buf, bufsz, &pos, r->enhanced);
	}
	for (i = 0; i < r->nlines; i++) {
		t = smtp_reply_line(r, i);
		if (elen > 0 && strncmp(t, r->enhanced, elen) == 0 &&
		    (t[elen] == ' ' || t[elen] == '\0'))
			t += elen;
		while (*t == ' ')
			t++;
		if (*t == '\0')
			continue;
		smtp_reply_put(buf, bufsz, &pos, " ");
		smtp_reply_put(buf, bufsz, &pos, t);
	}
	if (pos + 1 >= bufsz)
		smtp_reply_utf8_trim(buf, &pos);
	return buf;
}
