/*
 * mta_session.c - the connection under an outbound SMTP session:
 * resolving the queue's hosts, connecting (with a timeout, from the
 * VMTA's source address), reading replies into the parser, writing,
 * timers and closing.  The dialogue itself is in mta_smtp.c.
 *
 * The TCP handle and the resolver request live in their own allocations
 * that point back at the session, so that a session can be torn down at
 * any moment: the pending libuv callbacks then find a NULL session and
 * only free what is theirs.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "mta.h"
#include "proto.h"

#define MTA_READ_BUF	16384
#define MTA_MAX_TRIES	16	/* addresses tried by one session */

struct mta_conn {
	uv_tcp_t		 tcp;
	uv_connect_t		 creq;
	struct mta_session	*s;	/* NULL once detached */
};

/* What a read brings, for every connection: libuv hands it to the read
 * callback, which takes all of it (the reply parser and OpenSSL copy
 * what they keep) before the next read.  One per connection was 16 KB
 * each, most of a worker's memory with a thousand idle connections. */
static char	mta_rbuf[MTA_READ_BUF];

struct mta_wreq {
	uv_write_t		 req;
	int			 notify;	/* tell mta_smtp_wrote() */
	char			 data[];
};

static uint32_t	session_nextid;

struct mta_session *
mta_session_new(struct mta_queue *q, const struct sockaddr_storage *src)
{
	struct mta_session *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("mta_session_new");
	s->id = ++session_nextid;
	s->q = q;
	s->state = MTA_SLOT;
	/* Routes round robin over their hosts; MX hosts are tried in
	 * preference order (equal ones were shuffled by the lookup), from
	 * the first one no skip-mx pattern took out (mta_session_connect:
	 * the MX hosts may not be known yet). */
	s->hostfirst = q->nhosts > 0 ? q->nexthost++ : 0;
	/* One source address for the life of the connection. */
	if (src != NULL) {
		s->bindaddr = *src;
		s->bound = 1;
		uv_ip_name((const struct sockaddr *)src, s->bindname,
		    sizeof(s->bindname));
	}
	smtp_reply_init(&s->reply);
	uv_timer_init(daemon_loop(), &s->timer);
	s->timer.data = s;
	return s;
}

enum mta_phase
mta_session_phase(const struct mta_session *s)
{
	switch (s->state) {
	case MTA_SLOT:
	case MTA_RESOLVE:
	case MTA_CONNECT:
	case MTA_BANNER:
	case MTA_EHLO:
	case MTA_HELO:
	case MTA_STARTTLS:
	case MTA_TLS:
		return MTA_PHASE_CONNECTING;
	case MTA_IDLE:
		return MTA_PHASE_IDLE;
	case MTA_QUIT:
	case MTA_CLOSED:
		return MTA_PHASE_CLOSING;
	default:
		return MTA_PHASE_BUSY;
	}
}

static void
mta_session_timeout_cb(uv_timer_t *t)
{
	mta_smtp_timeout(t->data);
}

void
mta_session_timer(struct mta_session *s, uint64_t ms)
{
	uv_timer_start(&s->timer, mta_session_timeout_cb, ms, 0);
}

/* --- the connection --- */

static void
mta_conn_free_cb(uv_handle_t *h)
{
	free(h->data);
}

static void
mta_conn_close(struct mta_session *s)
{
	struct mta_conn *c = s->conn;

	mta_tls_free(s->tls);
	s->tls = NULL;
	if (c == NULL)
		return;
	s->conn = NULL;
	c->s = NULL;
	c->tcp.data = c;
	uv_close((uv_handle_t *)&c->tcp, mta_conn_free_cb);
}

static void
mta_session_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	*buf = uv_buf_init(mta_rbuf, sizeof(mta_rbuf));
}

/* Plain text from the server into the reply parser.  -1: the session
 * is gone or closed (stop feeding). */
static int
mta_session_feed(struct mta_session *s, struct mta_conn *c, const char *data,
    size_t n)
{
	size_t used, off = 0;
	int rv;

	/* Several pipelined replies may come in one read. */
	while (off < n) {
		if (c->s != s || s->state == MTA_CLOSED)
			return -1;
		rv = smtp_reply_feed(&s->reply, data + off, n - off, &used);
		off += used;
		if (rv == SMTP_REPLY_ERROR) {
			mta_smtp_lost(s, s->reply.error);
			return -1;
		}
		if (rv == SMTP_REPLY_DONE) {
			mta_smtp_reply(s);
			if (c->s != s || s->state == MTA_CLOSED)
				return -1;
			smtp_reply_reset(&s->reply);
			/* STARTTLS accepted: the rest is TLS records. */
			if (s->tls != NULL && off < n) {
				if (mta_tls_feed(s->tls, data + off,
				    n - off) == -1) {
					mta_smtp_lost(s, "TLS buffer error");
					return -1;
				}
				return 1;
			}
		}
	}
	return 0;
}

static void	mta_session_tls_flush(struct mta_session *);

/* Records from the network under TLS: handshake, then plain text. */
static void
mta_session_tls_in(struct mta_session *s, struct mta_conn *c)
{
	char plain[MTA_READ_BUF], err[256];
	ssize_t k;
	int rv;

	if (!mta_tls_done(s->tls)) {
		rv = mta_tls_handshake(s->tls, err, sizeof(err));
		mta_session_tls_flush(s);
		if (rv == -1) {
			mta_smtp_tls_failed(s, err);
			return;
		}
		if (rv == 0)
			return;
		mta_smtp_tls_ready(s);
		if (c->s != s || s->tls == NULL)
			return;
	}
	while ((k = mta_tls_read(s->tls, plain, sizeof(plain), err,
	    sizeof(err))) > 0) {
		if (mta_session_feed(s, c, plain, k) == -1)
			return;
	}
	if (k == -1)
		mta_smtp_lost(s, err);
}

static void
mta_session_read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct mta_conn *c = st->data;
	struct mta_session *s = c->s;

	if (s == NULL || n == 0)
		return;
	if (n < 0) {
		mta_smtp_lost(s, n == UV_EOF ? "connection closed by server" :
		    uv_strerror(n));
		return;
	}
	if (s->tls != NULL) {
		if (mta_tls_feed(s->tls, buf->base, n) == -1) {
			mta_smtp_lost(s, "TLS buffer error");
			return;
		}
		mta_session_tls_in(s, c);
		return;
	}
	if (mta_session_feed(s, c, buf->base, n) == 1 && c->s == s)
		mta_session_tls_in(s, c);
}

static void
mta_session_connect_cb(uv_connect_t *req, int status)
{
	struct mta_conn *c = req->data;
	struct mta_session *s = c->s;
	struct sockaddr_storage ss;
	char diag[MTA_DIAG_MAX];
	int len = sizeof(ss);

	if (s == NULL)
		return;
	if (status < 0) {
		snprintf(diag, sizeof(diag), "connect to %s:%d: %s", s->dst,
		    s->port, uv_strerror(status));
		mta_session_connfail(s, DLV_TEMPFAIL, "4.4.1", diag);
		return;
	}
	/* Bound to a source address: that is ours (no getsockname()). */
	if (s->src[0] == '\0' &&
	    uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
		uv_ip_name((struct sockaddr *)&ss, s->src, sizeof(s->src));
	/* Every write is a whole command group or a whole piece of the
	 * body: with Nagle, a small write after the body (the final dot,
	 * a DKIM header before it) waited for the server's delayed ACK,
	 * 40 ms per message on each connection. */
	uv_tcp_nodelay(&c->tcp, 1);
	mta_smtp_connected(s);
}

/*
 * Bind to the session's source address, if it is of this family.  The
 * port is chosen at connect time, per destination, so that many
 * connections from one address do not run out of ports.  bind() itself,
 * not uv_tcp_bind(): that sets SO_REUSEADDR first, a system call per
 * connection that changes nothing for a socket without a port.
 */
static int
mta_session_bind(struct mta_session *s, int family)
{
	uv_os_fd_t fd;
	socklen_t len;
	int one = 1, r;

	s->src[0] = '\0';
	if (!s->bound || s->bindaddr.ss_family != family)
		return 0;
	if ((r = uv_fileno((uv_handle_t *)&s->conn->tcp, &fd)) != 0)
		return r;
	(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
	    sizeof(one));
	len = family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
	if (bind(fd, (const struct sockaddr *)&s->bindaddr, len) == -1)
		return uv_translate_sys_error(errno);
	strlcpy(s->src, s->bindname, sizeof(s->src));
	return 0;
}

static void
mta_session_seterr(struct mta_session *s, uint32_t status, const char *dsn,
    const char *diag)
{
	log_debug("session %u: %s", s->id, diag);
	s->err_status = status;
	strlcpy(s->err_dsn, dsn, sizeof(s->err_dsn));
	strlcpy(s->err_diag, diag, sizeof(s->err_diag));
	strlcpy(s->err_mta, s->mta, sizeof(s->err_mta));
	strlcpy(s->err_dst, s->dst, sizeof(s->err_dst));
}

/* Connect to the current address.  -1: could not even start (the error
 * is recorded). */
static int
mta_session_connect_addr(struct mta_session *s)
{
	const struct sockaddr *sa;
	struct mta_conn *c;
	char diag[MTA_DIAG_MAX];
	int r;

	sa = (const struct sockaddr *)&s->addrs[s->curaddr];
	uv_ip_name(sa, s->dst, sizeof(s->dst));
	snprintf(s->mta, sizeof(s->mta), "%s (%s)", s->host, s->dst);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		fatal("mta_session_connect_addr");
	if ((r = uv_tcp_init_ex(daemon_loop(), &c->tcp, sa->sa_family)) != 0)
		fatalx("uv_tcp_init_ex: %s", uv_strerror(r));
	c->s = s;
	c->tcp.data = c;
	c->creq.data = c;
	s->conn = c;
	s->state = MTA_CONNECT;
	/* Reading starts with the connect: the socket goes into epoll
	 * once for both.  Started in the connect callback, it was added
	 * again after libuv had dropped the write interest (EEXIST, then a
	 * second epoll_ctl()).  libuv reports the connect before any read. */
	if ((r = mta_session_bind(s, sa->sa_family)) == 0 &&
	    (r = uv_tcp_connect(&c->creq, &c->tcp, sa,
	    mta_session_connect_cb)) == 0)
		r = uv_read_start((uv_stream_t *)&c->tcp, mta_session_alloc_cb,
		    mta_session_read_cb);
	if (r != 0) {
		snprintf(diag, sizeof(diag), "connect to %s:%d from %s: %s",
		    s->dst, s->port, s->bound ? s->bindname : "any",
		    uv_strerror(r));
		mta_session_seterr(s, DLV_TEMPFAIL, "4.4.1", diag);
		mta_conn_close(s);
		return -1;
	}
	log_debug("session %u: connecting to %s port %d", s->id, s->mta,
	    s->port);
	mta_session_timer(s, s->q->to.connect);
	return 0;
}

static void	mta_session_next_try(struct mta_session *);

/* Addresses found: connect to the first. */
static void
mta_session_addrs(struct mta_session *s, struct sockaddr_storage *addrs,
    int n)
{
	free(s->addrs);
	s->addrs = addrs;
	s->naddrs = n;
	s->curaddr = 0;
	s->tries++;
	if (mta_session_connect_addr(s) == -1)
		mta_session_next_try(s);
}

static void
mta_session_noaddr(struct mta_session *s, const char *why)
{
	char diag[MTA_DIAG_MAX];

	snprintf(diag, sizeof(diag), "cannot resolve host %s: %s", s->host,
	    why);
	snprintf(s->mta, sizeof(s->mta), "%s", s->host);
	s->dst[0] = '\0';
	mta_session_seterr(s, DLV_TEMPFAIL, "4.4.3", diag);
	mta_session_next_try(s);
}

static void
mta_session_gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct mta_session *s = req->data;
	struct sockaddr_storage *addrs;
	struct addrinfo *ai;
	int n = 0;

	free(req);
	if (s == NULL) {
		if (res != NULL)
			uv_freeaddrinfo(res);
		return;
	}
	s->gai = NULL;
	if (status < 0) {
		mta_session_noaddr(s, uv_strerror(status));
		return;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next)
		n++;
	if ((addrs = calloc(n, sizeof(*addrs))) == NULL)
		fatal("mta_session_gai_cb");
	n = 0;
	for (ai = res; ai != NULL; ai = ai->ai_next)
		if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
		    ai->ai_addrlen <= sizeof(*addrs))
			memcpy(&addrs[n++], ai->ai_addr, ai->ai_addrlen);
	uv_freeaddrinfo(res);
	if (n == 0) {
		free(addrs);
		mta_session_noaddr(s, "no address");
		return;
	}
	mta_session_addrs(s, addrs, n);
}

static void
mta_session_dns_cb(void *arg, int status, struct sockaddr_storage *addrs,
    int n)
{
	struct mta_session *s = arg;
	int i;

	s->dnsreq = NULL;
	if (status != MTA_DNS_OK) {
		mta_session_noaddr(s, mta_dns_strstatus(status));
		return;
	}
	for (i = 0; i < n; i++)
		if (addrs[i].ss_family == AF_INET6)
			((struct sockaddr_in6 *)&addrs[i])->sin6_port =
			    htons(s->port);
		else
			((struct sockaddr_in *)&addrs[i])->sin_port =
			    htons(s->port);
	mta_session_addrs(s, addrs, n);
}

static void
mta_session_resolve(struct mta_session *s, const struct mta_host *h)
{
	struct addrinfo hints;
	const char *err;
	char port[16];
	int r;

	free(s->host);
	if ((s->host = strdup(h->name)) == NULL)
		fatal("strdup");
	s->port = h->port;
	s->hoststried++;
	s->state = MTA_RESOLVE;
	if (h->dns) {
		/* MX hosts come from DNS: their addresses too, through the
		 * same name servers. */
		if ((s->dnsreq = mta_dns_addr(h->name, s->q->dns_rotate,
		    s->q->v4only, mta_session_dns_cb, s)) == NULL) {
			err = mta_dns_error();
			mta_session_noaddr(s, err ? err : "cannot query");
		}
		return;
	}
	snprintf(port, sizeof(port), "%d", h->port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	if ((s->gai = calloc(1, sizeof(*s->gai))) == NULL)
		fatal("mta_session_resolve");
	s->gai->data = s;
	r = uv_getaddrinfo(daemon_loop(), s->gai, mta_session_gai_cb,
	    h->name, port, &hints);
	if (r != 0)
		fatalx("uv_getaddrinfo: %s", uv_strerror(r));
}

/* A new session: a slot first (mta_slot.c), then mta_session_connect. */
void
mta_session_start(struct mta_session *s)
{
	mta_slot_request(s);
}

void
mta_session_connect(struct mta_session *s)
{
	const struct mta_host *h;

	if (s->q->nhosts == 0)
		s->hostfirst = mta_queue_first_mx(s->q);
	if ((h = mta_queue_host(s->q, s->hostfirst)) == NULL) {
		mta_session_seterr(s, DLV_TEMPFAIL, "4.4.3",
		    "no route configured");
		mta_session_next_try(s);
		return;
	}
	mta_session_resolve(s, h);
}

/*
 * The last attempt failed: the next address of this host, else the
 * next host of the queue.  When none is left, the queue decides what the
 * error means for the jobs waiting.
 */
static void
mta_session_next_try(struct mta_session *s)
{
	struct mta_conninfo ci;

	while (!mta_stopping() && s->tries < MTA_MAX_TRIES) {
		if (s->curaddr + 1 < s->naddrs) {
			s->curaddr++;
			s->tries++;
			if (mta_session_connect_addr(s) == 0)
				return;
			continue;
		}
		free(s->addrs);
		s->addrs = NULL;
		s->naddrs = s->curaddr = 0;
		if (s->hoststried >= mta_queue_nhosts(s->q))
			break;
		mta_session_resolve(s, mta_queue_host(s->q,
		    s->hostfirst + s->hoststried));
		return;
	}
	memset(&ci, 0, sizeof(ci));
	ci.mta = s->err_mta[0] ? s->err_mta : NULL;
	ci.dst_ip = s->err_dst[0] ? s->err_dst : NULL;
	mta_queue_conn_failed(s->q, s->err_status, s->err_dsn, s->err_diag,
	    &ci);
	mta_session_close(s);
}

/* Not connected: refused, timeout, a bad greeting or EHLO reply. */
void
mta_session_connfail(struct mta_session *s, uint32_t status,
    const char *dsn, const char *diag)
{
	mta_session_seterr(s, status, dsn, diag);
	mta_conn_close(s);
	uv_timer_stop(&s->timer);
	s->ext = 0;
	s->esmtp[0] = '\0';
	s->src[0] = '\0';
	smtp_reply_reset(&s->reply);
	mta_session_next_try(s);
}

/* --- output --- */

char *
mta_session_wbuf(size_t len)
{
	struct mta_wreq *w;

	if ((w = malloc(sizeof(*w) + len)) == NULL)
		fatal("mta_session_wbuf");
	w->notify = 0;
	return w->data;
}

void
mta_session_wbuf_free(char *buf)
{
	free(buf - offsetof(struct mta_wreq, data));
}

static void
mta_session_write_cb(uv_write_t *req, int status)
{
	struct mta_wreq *w = req->data;
	struct mta_conn *c = (struct mta_conn *)req->handle->data;
	struct mta_session *s = c->s;
	int notify = w->notify;

	free(w);
	if (s == NULL || c != s->conn)
		return;
	if (status < 0)
		mta_smtp_lost(s, uv_strerror(status));
	else if (notify)
		mta_smtp_wrote(s);
}

static void
mta_session_rawwrite(struct mta_session *s, char *buf, size_t len,
    int notify)
{
	struct mta_wreq *w;
	uv_buf_t b;
	int r;

	w = (struct mta_wreq *)(buf - offsetof(struct mta_wreq, data));
	if (s->conn == NULL) {
		free(w);
		return;
	}
	w->req.data = w;
	w->notify = notify;
	b = uv_buf_init(buf, len);
	/* Without notify, what the socket takes now is written now: a
	 * uv_write that completes re-arms the fd's epoll registration (one
	 * epoll_ctl() per write).  Errors are left to uv_write's callback. */
	if (!notify && (r = uv_try_write((uv_stream_t *)&s->conn->tcp, &b,
	    1)) > 0) {
		if ((size_t)r == len) {
			free(w);
			return;
		}
		b = uv_buf_init(buf + r, len - r);
	}
	if ((r = uv_write(&w->req, (uv_stream_t *)&s->conn->tcp, &b, 1,
	    mta_session_write_cb)) != 0) {
		free(w);
		mta_smtp_lost(s, uv_strerror(r));
	}
}

/* What OpenSSL has to send, out on the socket. */
static void
mta_session_tls_flush(struct mta_session *s)
{
	char *out;
	size_t len;

	if (s->tls != NULL && (out = mta_tls_pending(s->tls, &len)) != NULL)
		mta_session_rawwrite(s, out, len, 0);
}

/* The server said 220 to STARTTLS: start the handshake. */
void
mta_session_tls_start(struct mta_session *s)
{
	char err[256];

	s->tls = mta_tls_new(s->host, s->q->tls_ca);
	s->state = MTA_TLS;
	if (mta_tls_handshake(s->tls, err, sizeof(err)) == -1) {
		mta_smtp_tls_failed(s, err);
		return;
	}
	mta_session_tls_flush(s);
}

/* Takes buf from mta_session_wbuf(); len <= its size.  notify: call
 * mta_smtp_wrote() once it is written (flow control of the body). */
void
mta_session_write(struct mta_session *s, char *buf, size_t len, int notify)
{
	char *out;
	size_t olen;

	if (s->tls == NULL || s->conn == NULL) {
		mta_session_rawwrite(s, buf, len, notify);
		return;
	}
	if (mta_tls_write(s->tls, buf, len) == -1) {
		mta_session_wbuf_free(buf);
		mta_smtp_lost(s, "TLS write error");
		return;
	}
	mta_session_wbuf_free(buf);
	if ((out = mta_tls_pending(s->tls, &olen)) != NULL)
		mta_session_rawwrite(s, out, olen, notify);
	else if (notify)
		mta_smtp_wrote(s);
}

/* Whether everything written so far is in the socket (or there is no
 * connection any more). */
int
mta_session_flushed(struct mta_session *s)
{
	return s->conn == NULL || uv_stream_get_write_queue_size(
	    (uv_stream_t *)&s->conn->tcp) == 0;
}

/* Hold commands back until mta_session_uncork(): one write, one
 * segment for a pipelined MAIL, RCPT..., DATA. */
void
mta_session_cork(struct mta_session *s)
{
	s->corked = 1;
	s->corklen = 0;
}

void
mta_session_uncork(struct mta_session *s)
{
	char *buf;

	s->corked = 0;
	if (s->corklen == 0)
		return;
	buf = mta_session_wbuf(s->corklen);
	memcpy(buf, s->cork, s->corklen);
	mta_session_write(s, buf, s->corklen, 0);
	s->corklen = 0;
}

static void
mta_session_corked(struct mta_session *s, const char *line, size_t n)
{
	size_t ncap;
	char *nb;

	if (s->corklen + n > s->corkcap) {
		ncap = s->corkcap ? s->corkcap : 4096;
		while (ncap < s->corklen + n)
			ncap *= 2;
		if ((nb = realloc(s->cork, ncap)) == NULL)
			fatal("mta_session_corked");
		s->cork = nb;
		s->corkcap = ncap;
	}
	memcpy(s->cork + s->corklen, line, n);
	s->corklen += n;
}

void
mta_session_put(struct mta_session *s, const char *p, size_t n)
{
	mta_session_corked(s, p, n);
}

void
mta_session_send(struct mta_session *s, const char *fmt, ...)
{
	va_list ap;
	char *line, *buf;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal("mta_session_send");
	if (s->corked) {
		mta_session_corked(s, line, n);
		free(line);
		return;
	}
	buf = mta_session_wbuf(n);
	memcpy(buf, line, n);
	free(line);
	mta_session_write(s, buf, n, 0);
}

void
mta_session_conninfo(struct mta_session *s, struct mta_conninfo *ci)
{
	ci->mta = s->mta[0] ? s->mta : NULL;
	ci->src_ip = s->src[0] ? s->src : NULL;
	ci->dst_ip = s->dst[0] ? s->dst : NULL;
	ci->esmtp = s->esmtp;
	ci->tls_proto = NULL;
	ci->tls_cipher = NULL;
	if (s->tls != NULL && mta_tls_done(s->tls)) {
		ci->tls_proto = mta_tls_protocol(s->tls);
		ci->tls_cipher = mta_tls_cipher(s->tls);
	}
}

/* --- the end --- */

static void
mta_session_free_cb(uv_handle_t *h)
{
	struct mta_session *s = h->data;

	free(s->addrs);
	smtp_reply_free(&s->reply);
	free(s->cork);
	free(s->acc);
	free(s->sent);
	free(s->host);
	mta_idle_remove(s);
	mta_queue_session_gone(s->q, s);
	free(s);
}

void
mta_session_close(struct mta_session *s)
{
	if (s->state == MTA_CLOSED)
		return;
	log_debug("session %u: closing after %d message(s)", s->id, s->nmsg);
	s->state = MTA_CLOSED;
	mta_slot_release(s);
	if (s->job != NULL) {
		/* Callers give the job its outcome first; just in case. */
		mta_job_fail(s->job, DLV_TEMPFAIL, 1, "4.4.2",
		    "connection closed", NULL);
		mta_job_done(s->job);
		s->job = NULL;
	}
	if (s->gai != NULL) {
		s->gai->data = NULL;	/* the callback frees it */
		uv_cancel((uv_req_t *)s->gai);
		s->gai = NULL;
	}
	mta_dns_cancel(s->dnsreq);
	s->dnsreq = NULL;
	mta_conn_close(s);
	uv_timer_stop(&s->timer);
	uv_close((uv_handle_t *)&s->timer, mta_session_free_cb);
}
