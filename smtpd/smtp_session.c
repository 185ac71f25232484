/*
 * smtp_session.c - one inbound TCP connection: reading and splitting
 * lines, queueing replies, timers, and the session's lifetime.
 *
 * Pipelining (RFC 2920) falls out of the input loop: every complete
 * command in the buffer is processed before the replies go out, in one
 * write.  A command that needs queued stops the loop (and reading, once
 * the client sends more: smtp_update_read); the rest of the buffer waits
 * until queued answers.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "smtpd.h"

struct smtp_wreq {
	uv_write_t		 req;
	uv_buf_t		 buf;		/* what is left to write */
	char			*mem;		/* the whole buffer, freed after */
	struct smtp_session	*s;
};

static int smtp_session_cmp(struct smtp_session *, struct smtp_session *);
RB_HEAD(smtp_tree, smtp_session);
RB_PROTOTYPE(smtp_tree, smtp_session, entry, smtp_session_cmp);
RB_GENERATE(smtp_tree, smtp_session, entry, smtp_session_cmp);

static struct smtp_tree	 smtp_sessions = RB_INITIALIZER(&smtp_sessions);
static uint32_t		 smtp_lastid;

static void smtp_update_read(struct smtp_session *);

static int
smtp_session_cmp(struct smtp_session *a, struct smtp_session *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

struct smtp_session *
smtp_session_find(uint32_t id)
{
	struct smtp_session key;

	key.id = id;
	return RB_FIND(smtp_tree, &smtp_sessions, &key);
}

void
smtp_session_foreach(void (*fn)(struct smtp_session *))
{
	struct smtp_session *s, *next;

	RB_FOREACH_SAFE(s, smtp_tree, &smtp_sessions, next)
		fn(s);
}

/* A new id, never 0, never one still in use after a wrap. */
static uint32_t
smtp_session_id(void)
{
	do {
		if (++smtp_lastid == 0)
			smtp_lastid = 1;
	} while (smtp_session_find(smtp_lastid) != NULL);
	return smtp_lastid;
}

static int
smtp_blocked(const struct smtp_session *s)
{
	return s->state == SMTP_S_CREATE || s->state == SMTP_S_COMMIT ||
	    s->delayed || s->iprev_req != NULL;
}

/* --- output --- */

void
smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	va_list ap;
	size_t need;
	char *nb;
	int n;

	if (s->closing)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	need = s->olen + n + 3;
	if (need > s->ocap) {
		if ((nb = realloc(s->obuf, need + 512)) == NULL)
			fatal("smtp_reply");
		s->obuf = nb;
		s->ocap = need + 512;
	}
	va_start(ap, fmt);
	vsnprintf(s->obuf + s->olen, n + 1, fmt, ap);
	va_end(ap);
	log_debug("%08x >>> %s", s->id, s->obuf + s->olen);
	s->olen += n;
	memcpy(s->obuf + s->olen, "\r\n", 2);
	s->olen += 2;
}

static void
smtp_shutdown_cb(uv_shutdown_t *req, int status)
{
	smtp_close(req->data, NULL);
}

/* After QUIT or a fatal reply, once everything is written: close.  In
 * clear text close(2) itself sends the FIN after the last reply, as a
 * shutdown(2) first would (and either way unread input from the client
 * makes it a reset): no shutdown, one system call less per session.
 * TLS sends its close_notify first, then FIN once that is written. */
static void
smtp_finish(struct smtp_session *s)
{
	if (s->closing || s->finishing || s->wpending > 0)
		return;
	if (s->ssl == NULL) {
		smtp_close(s, NULL);
		return;
	}
	if (!s->tls_closed) {
		smtp_tls_shutdown(s);
		if (s->closing || s->wpending > 0)
			return;		/* again from smtp_write_cb */
	}
	s->finishing = 1;
	s->shutdown.data = s;
	if (uv_shutdown(&s->shutdown, (uv_stream_t *)&s->tcp,
	    smtp_shutdown_cb) != 0)
		smtp_close(s, NULL);
}

static void
smtp_write_cb(uv_write_t *req, int status)
{
	struct smtp_wreq *w = req->data;
	struct smtp_session *s = w->s;

	s->wpending -= w->buf.len;
	free(w->mem);
	free(w);
	if (s->closing)
		return;
	if (status < 0) {
		smtp_close(s, uv_strerror(status));
		return;
	}
	if (s->quit)
		smtp_finish(s);
	else
		smtp_update_read(s);
}

/*
 * Hand buf (malloc'd; ours now) to the socket.  It is written at once
 * if the socket takes it (nearly always: a reply is small), and only
 * what is left goes through uv_write: a uv_write that completes re-arms
 * the fd's epoll registration, one epoll_ctl() per reply.
 */
int
smtp_write_raw(struct smtp_session *s, char *buf, size_t len)
{
	struct smtp_wreq *w;
	uv_buf_t b = uv_buf_init(buf, len);
	int r, n;

	if (s->closing) {
		free(buf);
		return -1;
	}
	/* An error is left to uv_write to report, from its callback, as
	 * before: callers do not expect the session to close under them. */
	if ((n = uv_try_write((uv_stream_t *)&s->tcp, &b, 1)) < 0)
		n = 0;
	if ((size_t)n == len) {
		free(buf);
		return 0;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		fatal("smtp_write_raw");
	w->mem = buf;
	w->buf = uv_buf_init(buf + n, len - n);
	w->s = s;
	w->req.data = w;
	if ((r = uv_write(&w->req, (uv_stream_t *)&s->tcp, &w->buf, 1,
	    smtp_write_cb)) != 0) {
		free(w->mem);
		free(w);
		smtp_close(s, uv_strerror(r));
		return -1;
	}
	s->wpending += w->buf.len;
	return 0;
}

void
smtp_flush(struct smtp_session *s)
{
	char *buf;
	size_t len;

	/* A failed AUTH holds its reply back (smtp_delay). */
	if (s->closing || s->delayed)
		return;
	if (s->olen > 0) {
		/* The buffer moves out; replies start a new one. */
		buf = s->obuf;
		len = s->olen;
		s->obuf = NULL;
		s->olen = s->ocap = 0;
		if (s->ssl != NULL) {
			smtp_tls_output(s, buf, len);
			free(buf);
		} else if (smtp_write_raw(s, buf, len) == -1)
			return;
	}
	if (s->quit && !s->closing)
		smtp_finish(s);
}

/* Reply (already queued) then close: QUIT, timeouts, refusals. */
void
smtp_quit(struct smtp_session *s)
{
	s->quit = 1;
	smtp_update_read(s);
	smtp_flush(s);
}

/* --- lifetime --- */

static void
smtp_free_cb(uv_handle_t *h)
{
	struct smtp_session *s = h->data;

	if (--s->nhandles > 0)
		return;
	smtp_tls_free(s);
	free(s->ibuf);
	free(s->obuf);
	free(s->auth_file);
	free(s->default_vmta);
	free(s->listener);
	free(s);
	smtpd_session_gone();
}

void
smtp_close(struct smtp_session *s, const char *why)
{
	if (s->closing)
		return;
	if (why != NULL)
		log_debug("%08x closed: %s", s->id, why);
	else
		log_debug("%08x closed", s->id);
	smtp_tx_free(s);
	smtp_iprev_cancel(s);
	s->closing = 1;
	RB_REMOVE(smtp_tree, &smtp_sessions, s);
	if (s->counted) {
		s->counted = 0;
		smtpd.nsessions--;
		smtp_report_sessions();
	}
	smtp_limit_release(s);
	uv_timer_stop(&s->timer);
	uv_close((uv_handle_t *)&s->timer, smtp_free_cb);
	uv_close((uv_handle_t *)&s->tcp, smtp_free_cb);
}

static void
smtp_timeout_cb(uv_timer_t *t)
{
	struct smtp_session *s = t->data;

	if (s->delayed) {
		/* The held reply goes out now; carry on with the input. */
		s->delayed = 0;
		smtp_resume(s);
		return;
	}
	if (s->quit) {
		smtp_close(s, "timeout while closing");
		return;
	}
	log_info("%08x: timeout from %s in state %d", s->id, s->ip, s->state);
	smtp_reply(s, "421 4.4.2 %s timeout, closing connection",
	    smtpd.conf.hostname);
	smtp_quit(s);
	/* A client that does not read cannot block us either. */
	uv_timer_start(&s->timer, smtp_timeout_cb, 30 * 1000, 0);
}

void
smtp_timer_reset(struct smtp_session *s)
{
	int64_t secs;

	if (s->closing || s->quit || s->delayed)
		return;
	if (s->state == SMTP_S_DATA || s->state == SMTP_S_BDAT)
		secs = s->data_timeout;
	else if (smtp_blocked(s))
		secs = SMTP_QUEUED_TIMEOUT;
	else
		secs = s->cmd_timeout;
	uv_timer_start(&s->timer, smtp_timeout_cb, (uint64_t)secs * 1000, 0);
}

/* Hold replies and input back for a while (after a failed AUTH: slows
 * down password guessing without costing more than a timer). */
void
smtp_delay(struct smtp_session *s, int secs)
{
	if (s->closing || secs <= 0)
		return;
	s->delayed = 1;
	uv_timer_start(&s->timer, smtp_timeout_cb, (uint64_t)secs * 1000, 0);
}

/* --- input --- */

static void
smtp_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct smtp_session *s = h->data;

	if (s->ssl != NULL) {
		/* Ciphertext: decrypted into ibuf by smtp_process(). */
		if (s->tlsbuf == NULL &&
		    (s->tlsbuf = malloc(SMTP_TLS_RBUF)) == NULL)
			fatal("smtp_alloc_cb");
		*buf = uv_buf_init(s->tlsbuf, SMTP_TLS_RBUF);
		return;
	}
	/* Allocated on demand: idle sessions hold no input buffer. */
	if (s->ibuf == NULL && (s->ibuf = malloc(SMTP_IBUF_SIZE)) == NULL)
		fatal("smtp_alloc_cb");
	*buf = uv_buf_init(s->ibuf + s->ilen, SMTP_IBUF_SIZE - s->ilen);
}

/* One complete line of a command (LF included in n). */
static void
smtp_line(struct smtp_session *s, char *line, size_t n)
{
	size_t len = n - 1;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (n > SMTP_LINE_MAX) {
		s->nerrors++;
		smtp_reply(s, "%s", smtp_cmd_reply(SMTP_ERR_TOOLONG));
		return;
	}
	smtp_command(s, line, len);
}

static int
smtp_can_process(const struct smtp_session *s)
{
	return !smtp_blocked(s) && !s->quit && !s->closing && !s->starttls;
}

/* Process the buffered input from pos on; returns the new pos. */
static size_t
smtp_process_buf(struct smtp_session *s, size_t pos)
{
	size_t n;
	char *lf;

	while (pos < s->ilen && smtp_can_process(s)) {
		if (s->skip > 0) {
			/* The octets of a refused BDAT chunk. */
			n = s->ilen - pos < s->skip ? s->ilen - pos : s->skip;
			s->skip -= n;
			pos += n;
			continue;
		}
		if (s->state == SMTP_S_DATA) {
			pos += smtp_data_feed(s, s->ibuf + pos, s->ilen - pos);
			continue;
		}
		if (s->state == SMTP_S_BDAT) {
			pos += smtp_bdat_feed(s, s->ibuf + pos, s->ilen - pos);
			continue;
		}
		if ((lf = memchr(s->ibuf + pos, '\n', s->ilen - pos)) == NULL) {
			if (s->ilen - pos >= SMTP_LINE_MAX) {
				if (!s->discard) {
					s->nerrors++;
					smtp_reply(s, "%s",
					    smtp_cmd_reply(SMTP_ERR_TOOLONG));
				}
				s->discard = 1;
				pos = s->ilen;
			}
			break;
		}
		n = lf - (s->ibuf + pos) + 1;
		if (s->discard)
			s->discard = 0;
		else
			smtp_line(s, s->ibuf + pos, n);
		pos += n;
	}
	/* RFC 3207 section 6: nothing sent before the TLS handshake may
	 * count as a command after it. */
	if (s->starttls)
		pos = s->ilen;
	return pos;
}

/* Under TLS: decrypt what we can into ibuf; 0 if nothing came. */
static size_t
smtp_process_pull(struct smtp_session *s)
{
	size_t n;

	if (s->ssl == NULL || !smtp_can_process(s) ||
	    s->ilen >= SMTP_IBUF_SIZE)
		return 0;
	if (s->ibuf == NULL && (s->ibuf = malloc(SMTP_IBUF_SIZE)) == NULL)
		fatal("smtp_process_pull");
	n = smtp_tls_pull(s, s->ibuf + s->ilen, SMTP_IBUF_SIZE - s->ilen);
	s->ilen += n;
	return n;
}

/* Process as much buffered input as the state allows. */
static void
smtp_process(struct smtp_session *s)
{
	size_t pos;
	int used = 0;

	do {
		pos = s->ibuf != NULL ? smtp_process_buf(s, 0) : 0;
		if (s->closing)
			return;
		if (pos > 0) {
			memmove(s->ibuf, s->ibuf + pos, s->ilen - pos);
			s->ilen -= pos;
			used = 1;
		}
	} while (smtp_process_pull(s) > 0);
	if (s->closing)
		return;
	if (used)
		smtp_timer_reset(s);
	if (s->ilen == 0 && s->state != SMTP_S_DATA) {
		free(s->ibuf);
		s->ibuf = NULL;
	}
	/* The replies to a pipelined MAIL, RCPT... wait for the 354 (or
	 * refusal) of the DATA or BDAT that ends the group, which comes
	 * when queued has answered: one write and one wake-up of the client
	 * instead of two.  RFC 2920 lets a server hold replies while it is
	 * not waiting for the client. */
	if (s->state != SMTP_S_CREATE)
		smtp_flush(s);
	if (s->starttls && !s->closing) {
		s->starttls = 0;
		if (smtp_tls_start(s) == -1) {
			smtp_close(s, "cannot start TLS");
			return;
		}
	}
	smtp_update_read(s);
}

static void
smtp_read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct smtp_session *s = st->data;

	if (nread == 0)
		return;
	if (smtp_blocked(s)) {
		/* Input while queued has to answer first (smtp_update_read
		 * left reading on): stop until it has.  An EOF or error is
		 * read again then, after the reply the client waits for. */
		uv_read_stop(st);
		s->reading = 0;
		if (nread < 0)
			return;
	}
	if (nread < 0) {
		smtp_close(s, nread == UV_EOF ? "disconnected" :
		    uv_strerror(nread));
		return;
	}
	if (s->ssl != NULL) {
		if (smtp_tls_input(s, buf->base, nread) == -1) {
			smtp_close(s, "TLS input");
			return;
		}
	} else
		s->ilen += nread;
	/* Bytes alone push the timeout back only in DATA/BDAT; otherwise
	 * it takes a whole command (smtp_process), so that a client that
	 * trickles a line byte by byte (slow-loris) still times out. */
	if (s->state == SMTP_S_DATA || s->state == SMTP_S_BDAT)
		smtp_timer_reset(s);
	smtp_process(s);
}

/*
 * Read only when the input can be used: not while queued has to answer
 * first, not when the client does not read its replies.  While queued
 * answers, reading stays on until something actually comes
 * (smtp_read_cb): a client waits for the reply before it sends more, and
 * with libuv, stopping and starting to read again costs two epoll_ctl()
 * per wait, two waits per message.
 */
static void
smtp_update_read(struct smtp_session *s)
{
	int can, want;

	if (s->closing)
		return;
	can = !s->quit && s->wpending < SMTP_OUT_HIWAT &&
	    s->ilen < SMTP_IBUF_SIZE;
	want = can && !smtp_blocked(s);
	if (want && !s->reading) {
		if (uv_read_start((uv_stream_t *)&s->tcp, smtp_alloc_cb,
		    smtp_read_cb) != 0) {
			smtp_close(s, "uv_read_start");
			return;
		}
		s->reading = 1;
	} else if (!can && s->reading) {
		uv_read_stop((uv_stream_t *)&s->tcp);
		s->reading = 0;
	}
}

/* queued answered: go on with what the client already sent. */
void
smtp_resume(struct smtp_session *s)
{
	if (s->closing)
		return;
	smtp_timer_reset(s);
	smtp_process(s);
}

/* --- accept --- */

static void
smtp_peer_addr(struct smtp_session *s)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&s->ss;
	struct sockaddr_in sin;
	int len = sizeof(s->ss);

	if (uv_tcp_getpeername(&s->tcp, (struct sockaddr *)&s->ss, &len) != 0)
		memset(&s->ss, 0, sizeof(s->ss));
	/* A dual-stack listener shows IPv4 clients as ::ffff:a.b.c.d;
	 * policy and logs want them as IPv4. */
	if (s->ss.ss_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = sin6->sin6_port;
		memcpy(&sin.sin_addr, &sin6->sin6_addr.s6_addr[12], 4);
		memset(&s->ss, 0, sizeof(s->ss));
		memcpy(&s->ss, &sin, sizeof(sin));
	}
	if (s->ss.ss_family == AF_INET)
		uv_ip4_name((struct sockaddr_in *)&s->ss, s->ip, sizeof(s->ip));
	else if (s->ss.ss_family == AF_INET6)
		uv_ip6_name(sin6, s->ip, sizeof(s->ip));
	else
		strlcpy(s->ip, "unknown", sizeof(s->ip));
}

void
smtp_session_accept(uv_stream_t *server)
{
	struct smtp_session *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("smtp_session_accept");
	uv_tcp_init(daemon_loop(), &s->tcp);
	uv_timer_init(daemon_loop(), &s->timer);
	s->tcp.data = s->timer.data = s;
	s->nhandles = 2;
	s->id = smtp_session_id();
	RB_INSERT(smtp_tree, &smtp_sessions, s);
	if (uv_accept(server, (uv_stream_t *)&s->tcp) != 0) {
		smtp_close(s, "accept failed");
		return;
	}
	smtp_peer_addr(s);
	s->listener = smtpd_listener_of(server);
	smtpd_policy(s);
	log_debug("%08x connected from %s", s->id, s->ip);
	/* With a reverse DNS check, the greeting waits for its result. */
	if (s->refuse != SMTP_REFUSE_NONE || !s->iprev_check ||
	    smtp_iprev_start(s) == -1)
		smtp_greet(s);
	smtp_timer_reset(s);
	smtp_flush(s);
	smtp_update_read(s);
}
