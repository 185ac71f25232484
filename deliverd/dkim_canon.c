/*
 * dkim_canon.c - DKIM "relaxed" canonicalization (RFC 6376 3.4.2 and
 * 3.4.4), pure functions over byte buffers so that unit tests and the
 * fuzzer can run them without the daemon.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkim.h"

static int
dkim_wsp(int c)
{
	return c == ' ' || c == '\t';
}

/* Grow-as-needed output buffer. */
static void
dkim_put(struct dkim_buf *b, const char *p, size_t n)
{
	char *nb;
	size_t cap;

	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((nb = realloc(b->data, cap)) == NULL)
			abort();
		b->data = nb;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
dkim_buf_printf(struct dkim_buf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (s = malloc(n + 1)) == NULL)
		abort();
	va_start(ap, fmt);
	vsnprintf(s, n + 1, fmt, ap);
	va_end(ap);
	dkim_put(b, s, n);
	free(s);
}

void
dkim_buf_free(struct dkim_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/*
 * Relaxed body: each line loses trailing whitespace and has its runs of
 * whitespace made one space; empty lines at the end go; a non-empty
 * body ends with CRLF.  Lines end with CRLF in the spool; a bare LF is
 * taken as a line end too.
 */
void
dkim_canon_body(const char *p, size_t n, struct dkim_buf *out)
{
	size_t i = 0, start, end, k, emptyrun = 0;
	int sp;

	while (i < n) {
		start = i;
		while (i < n && p[i] != '\n')
			i++;
		end = i;
		if (end > start && p[end - 1] == '\r')
			end--;
		if (i < n)
			i++;		/* the LF */
		/* trailing whitespace */
		while (end > start && dkim_wsp((unsigned char)p[end - 1]))
			end--;
		if (end == start) {
			emptyrun++;
			continue;
		}
		for (; emptyrun > 0; emptyrun--)
			dkim_put(out, "\r\n", 2);
		for (k = start, sp = 0; k < end; k++) {
			if (dkim_wsp((unsigned char)p[k])) {
				sp = 1;
				continue;
			}
			if (sp)
				dkim_put(out, " ", 1);
			sp = 0;
			dkim_put(out, &p[k], 1);
		}
		dkim_put(out, "\r\n", 2);
	}
}

/*
 * Relaxed header: name lowercased, no whitespace around the colon,
 * value unfolded with whitespace runs made one space and none at the
 * end; then CRLF (unless crlf is 0: the DKIM-Signature itself).
 */
void
dkim_canon_header(const char *p, size_t n, int crlf, struct dkim_buf *out)
{
	size_t i, colon, end;
	char c;
	int sp = 0, started = 0;

	for (colon = 0; colon < n && p[colon] != ':'; colon++)
		;
	end = colon;
	while (end > 0 && dkim_wsp((unsigned char)p[end - 1]))
		end--;
	for (i = 0; i < end; i++) {
		c = tolower((unsigned char)p[i]);
		dkim_put(out, &c, 1);
	}
	dkim_put(out, ":", 1);
	for (i = colon + 1; i < n; i++) {
		c = p[i];
		if (c == '\r' || c == '\n' || dkim_wsp((unsigned char)c)) {
			sp = 1;
			continue;
		}
		if (sp && started)
			dkim_put(out, " ", 1);
		sp = 0;
		started = 1;
		dkim_put(out, &c, 1);
	}
	if (crlf)
		dkim_put(out, "\r\n", 2);
}

/* Length of the header block (up to and including the empty line), or
 * n when the message has no body. */
size_t
dkim_header_end(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i++) {
		if (p[i] != '\n')
			continue;
		if (p[i + 1] == '\n')
			return i + 2;
		if (p[i + 1] == '\r' && i + 2 < n && p[i + 2] == '\n')
			return i + 3;
	}
	return n;
}

/*
 * The last instance of header `name` in the header block (RFC 6376
 * 5.4.2: instances are signed from the bottom up), with its
 * continuation lines, without the final line end.  NULL if none.
 */
const char *
dkim_find_header(const char *p, size_t n, const char *name, size_t *len)
{
	size_t i = 0, start, nl = strlen(name);
	const char *found = NULL;

	while (i < n) {
		start = i;
		/* a header field: this line and those that start with WSP */
		for (;;) {
			while (i < n && p[i] != '\n')
				i++;
			if (i < n)
				i++;
			if (i >= n || !dkim_wsp((unsigned char)p[i]))
				break;
		}
		if (i - start <= 2)
			break;		/* the empty line */
		if (i - start > nl && strncasecmp(p + start, name, nl) == 0) {
			size_t k = start + nl;

			while (k < i && dkim_wsp((unsigned char)p[k]))
				k++;
			if (k < i && p[k] == ':') {
				found = p + start;
				*len = i - start;
				while (*len > 0 && (found[*len - 1] == '\n' ||
				    found[*len - 1] == '\r'))
					(*len)--;
			}
		}
	}
	return found;
}
