/*
 * smtp_data.c - the message text after DATA: find the final dot, undo
 * dot-stuffing, store CRLF line ends, enforce the size, and write it all
 * into the spool file queued gave us, after our Received: header.
 *
 * The text is processed as a stream, never as lines, so a long line costs
 * no memory; a state survives across reads.  Only <CRLF>.<CRLF> ends the
 * text: a dot line after a bare LF does not, so that a message cannot
 * smuggle a second one past a front end that sees it differently.  Bare
 * LF is stored as CRLF; a bare CR is kept as it is.
 *
 * The file is a regular file: plain write(2) through a 64 KiB buffer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "msghdr.h"
#include "smtpd.h"

enum {
	D_BOL,		/* start of a line, after CRLF (or the 354) */
	D_BOL_LF,	/* start of a line, after a bare LF */
	D_MID,		/* inside a line */
	D_CR,		/* CR seen inside a line */
	D_DOT,		/* "." at the start of a line after CRLF */
	D_DOT_CR,	/* ".\r" there */
};

/* pwrite at our own offset: the descriptor's file offset is shared with
 * queued, which keeps the file open and hands it out again and again
 * without seeking it back (queued/queue_scratch.c). */
static void
smtp_data_write(struct smtp_data *d)
{
	size_t off = 0;
	ssize_t n;

	while (off < d->len) {
		if ((n = pwrite(d->fd, d->buf + off, d->len - off,
		    d->written + off)) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("spool write");
			d->error = errno == ENOSPC || errno == EDQUOT ?
			    SMTP_DERR_NOSPC : SMTP_DERR_IO;
			break;
		}
		off += n;
	}
	d->written += off;
	d->len = 0;
}

static void
smtp_data_put(struct smtp_data *d, const char *p, size_t n)
{
	size_t room;

	if (d->error != SMTP_DERR_NONE)
		return;
	while (n > 0) {
		room = SMTP_WBUF_SIZE - d->len;
		if (room > n)
			room = n;
		memcpy(d->buf + d->len, p, room);
		d->len += room;
		p += room;
		n -= room;
		if (d->len == SMTP_WBUF_SIZE) {
			smtp_data_write(d);
			if (d->error != SMTP_DERR_NONE)
				return;
		}
	}
}

/* Message bytes (as stored): counted against the size limit. */
static void
smtp_data_text(struct smtp_session *s, const char *p, size_t n)
{
	struct smtp_data *d = &s->tx->data;

	size_t k;

	d->body += n;
	if (s->max_size && d->body > s->max_size &&
	    d->error == SMTP_DERR_NONE)
		d->error = SMTP_DERR_TOOBIG;
	if (d->hstate == SMTP_HDR_COLLECT) {
		k = smtp_hdr_feed(s, p, n);
		p += k;
		n -= k;
	}
	smtp_data_put(d, p, n);
}

/* Headers after processing (smtp_hdr.c): not counted again. */
void
smtp_data_put_raw(struct smtp_data *d, const char *p, size_t n)
{
	smtp_data_put(d, p, n);
}

/* BDAT: octets stored as they come. */
void
smtp_data_bytes(struct smtp_session *s, const char *p, size_t n)
{
	smtp_data_text(s, p, n);
}

static void
smtp_data_eol(struct smtp_session *s, int bare)
{
	s->tx->data.linelen = 0;
	s->tx->data.state = bare ? D_BOL_LF : D_BOL;
	smtp_data_text(s, "\r\n", 2);
}

static void
smtp_data_linelen(struct smtp_session *s, size_t n)
{
	struct smtp_data *d = &s->tx->data;

	d->linelen += n;
	if (d->linelen > SMTP_DATA_LINE_MAX && d->error == SMTP_DERR_NONE)
		d->error = SMTP_DERR_LINE;
}

/* Inside a line: take everything up to the next CR or LF in one go. */
static size_t
smtp_data_run(struct smtp_session *s, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && p[i] != '\r' && p[i] != '\n'; i++)
		;
	if (i > 0) {
		smtp_data_linelen(s, i);
		smtp_data_text(s, p, i);
	}
	return i;
}

/* One octet in state D_MID (also after the start of a line). */
static void
smtp_data_mid(struct smtp_session *s, char c)
{
	struct smtp_data *d = &s->tx->data;

	if (c == '\r')
		d->state = D_CR;
	else if (c == '\n')
		smtp_data_eol(s, 1);
	else {
		d->state = D_MID;
		smtp_data_linelen(s, 1);
		smtp_data_text(s, &c, 1);
	}
}

/* Feed text; returns the octets consumed.  On the final dot it stops
 * (what follows is commands) and calls smtp_data_done(). */
size_t
smtp_data_feed(struct smtp_session *s, const char *p, size_t n)
{
	struct smtp_data *d = &s->tx->data;
	size_t i = 0;
	char c;

	while (i < n) {
		if (d->state == D_MID) {
			i += smtp_data_run(s, p + i, n - i);
			if (i == n)
				break;
		}
		c = p[i++];
		switch (d->state) {
		case D_BOL:
			if (c == '.')
				d->state = D_DOT;
			else
				smtp_data_mid(s, c);
			break;
		case D_BOL_LF:
			/* Unstuff, but this can never be the end. */
			d->state = D_MID;
			if (c != '.')
				smtp_data_mid(s, c);
			break;
		case D_MID:
			smtp_data_mid(s, c);
			break;
		case D_CR:
			if (c == '\n')
				smtp_data_eol(s, 0);
			else {
				smtp_data_linelen(s, 1);
				smtp_data_text(s, "\r", 1);
				smtp_data_mid(s, c);
			}
			break;
		case D_DOT:
			/* The stuffed dot goes; the line goes on. */
			if (c == '\r')
				d->state = D_DOT_CR;
			else
				smtp_data_mid(s, c);
			break;
		case D_DOT_CR:
			if (c == '\n') {
				smtp_data_done(s);
				return i;
			}
			d->state = D_CR;
			i--;		/* look at c again after the CR */
			break;
		}
	}
	return i;
}

struct fold {
	char	*buf;
	size_t	 sz, len, col;
};

/* Append a word, folding before it when the line would pass 78. */
static void
smtp_fold(struct fold *f, const char *fmt, const char *arg)
{
	char word[SMTP_ADDR_MAX + 64];
	int n;

	n = snprintf(word, sizeof(word), fmt, arg);
	if (n < 0 || (size_t)n >= sizeof(word))
		return;
	if (f->col > 0 && f->col + 1 + n > 78) {
		f->len += snprintf(f->buf + f->len, f->sz - f->len, "\r\n\t");
		f->col = 8;
	} else if (f->col > 0) {
		f->len += snprintf(f->buf + f->len, f->sz - f->len, " ");
		f->col++;
	}
	f->len += snprintf(f->buf + f->len, f->sz - f->len, "%s", word);
	f->col += n;
}

/* PowerMTA's Received: line (reference §7.2), folded; every piece is
 * shorter than 600 octets, so every line stays under 998. */
size_t
smtp_received(const struct smtp_session *s, char *buf, size_t sz)
{
	const struct smtp_tx *tx = s->tx;
	struct fold f = { buf, sz, 0, 0 };
	char date[64], from[SMTP_DOMAIN_MAX + INET6_ADDRSTRLEN + 4], proto[16];

	msghdr_date(date, sizeof(date));
	if (s->iprev_header) {
		/* RFC 8601: what check-iprev-inbound found, ours to add. */
		smtp_fold(&f, "Authentication-Results: %s;",
		    smtpd.conf.hostname);
		smtp_fold(&f, "iprev=%s", smtp_iprev_str(s->iprev_result));
		smtp_fold(&f, "policy.iprev=%s", s->ip);
		if (s->iprev_name != NULL)
			smtp_fold(&f, "(%s)", s->iprev_name);
		f.len += snprintf(buf + f.len, sz - f.len, "\r\n");
		f.col = 0;
	}
	smtp_fold(&f, "Received: from %s", s->helo);
	/* The name only when forward-confirmed (iprev pass). */
	if (s->iprev_name != NULL) {
		snprintf(from, sizeof(from), "%s [%s]", s->iprev_name, s->ip);
		smtp_fold(&f, "(%s)", from);
	} else
		smtp_fold(&f, "(%s)", s->ip);
	smtp_fold(&f, "by %s", smtpd.conf.hostname);
	smtp_fold(&f, "%s", "(Tern)");
	/* RFC 3848: S for TLS, A for an authenticated client; RFC 6531
	 * 3.7.3: UTF8SMTP instead of ESMTP for an SMTPUTF8 transaction. */
	snprintf(proto, sizeof(proto), "%s%s%s", !s->esmtp ? "SMTP" :
	    (tx->flags & ENV_SMTPUTF8) ? "UTF8SMTP" : "ESMTP",
	    s->esmtp && s->tls_up ? "S" : "",
	    s->esmtp && s->authuser[0] ? "A" : "");
	smtp_fold(&f, "with %s", proto);
	if (tx->nrcpt == 1) {
		smtp_fold(&f, "id %s", tx->qid);
		smtp_fold(&f, "for <%s>;", tx->rcpts[0].addr);
	} else
		smtp_fold(&f, "id %s;", tx->qid);
	smtp_fold(&f, "%s", date);
	smtp_fold(&f, "(envelope-from <%s>)", tx->sender);
	f.len += snprintf(buf + f.len, sz - f.len, "\r\n");
	return f.len;
}

int
smtp_data_begin(struct smtp_session *s, int fd)
{
	struct smtp_data *d = &s->tx->data;

	if ((d->buf = malloc(SMTP_WBUF_SIZE)) == NULL) {
		log_warn("smtp_data_begin");
		close(fd);
		return -1;
	}
	d->fd = fd;
	d->state = D_BOL;
	d->len = d->written = d->body = d->linelen = 0;
	d->error = SMTP_DERR_NONE;
	d->len = smtp_received(s, d->buf, SMTP_WBUF_SIZE);
	smtp_hdr_begin(s);
	return 0;
}

/* After the final dot: write what is left, close the file.  Returns the
 * reason the message cannot be queued, or SMTP_DERR_NONE. */
int
smtp_data_finish(struct smtp_session *s)
{
	struct smtp_data *d = &s->tx->data;
	int err;

	smtp_hdr_finish(s);
	if (d->error == SMTP_DERR_NONE && d->len > 0)
		smtp_data_write(d);
	err = d->error;
	if (close(d->fd) == -1 && err == SMTP_DERR_NONE) {
		log_warn("spool close");
		err = SMTP_DERR_IO;
	}
	d->fd = -1;
	free(d->buf);
	d->buf = NULL;
	d->len = 0;
	return err;
}

void
smtp_data_abort(struct smtp_data *d)
{
	smtp_hdr_free(d);
	if (d->fd != -1)
		close(d->fd);
	d->fd = -1;
	free(d->buf);
	d->buf = NULL;
	d->len = 0;
}
