/*
 * ctl_server.c - the control socket: ternd creates and binds it (only
 * root and group tern may connect) and passes the listening fd; each
 * client writes one request line, gets one JSON document and "\n", and
 * the connection is closed.
 *
 * Bounds: CTL_MAX_CONN connections at once (more are told so and
 * closed), CTL_MAX_REQUEST bytes of request, and a deadline for the
 * whole exchange so an idle client cannot hold a slot forever.
 *
 * A streaming request (`trace`) writes a document per line for as long
 * as the client stays; it has no deadline, and while it streams we read
 * only to notice the client hang up.  A client that does not read loses
 * lines beyond CTL_STREAM_MAX bytes waiting (counted in the last line).
 */
#include <sys/queue.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "daemon.h"
#include "log.h"
#include "mgmtd.h"

/* Deadline of a connection: the daemons' 5 s, plus slack for the
 * client to send its line. */
#define CTL_CONN_TIMEOUT	(CTL_DAEMON_TIMEOUT + 5000)
#define CTL_STREAM_MAX		(1024 * 1024)	/* bytes queued to a client */

struct ctl_line {
	uv_write_t		 wreq;
	struct ctl_sock		*c;
	size_t			 len;
	char			 text[];
};

struct ctl_sock {
	struct ctl_conn		 base;		/* first: ctl_req sees this */
	TAILQ_ENTRY(ctl_sock)	 entry;
	uv_pipe_t		 pipe;
	uv_timer_t		 timer;
	uv_write_t		 wreq;
	uv_shutdown_t		 sreq;
	char			*out;		/* reply being written */
	char			 in[CTL_MAX_REQUEST + 1];
	size_t			 inlen;
	int			 done;		/* line received */
	int			 draining;	/* reply sent, reading to EOF */
	int			 streaming;	/* lines go out, reading to EOF */
	size_t			 queued;	/* stream bytes not yet written */
	uint64_t		 dropped;	/* stream lines not sent */
	int			 closing;
	int			 handles;	/* open uv handles */
};

static TAILQ_HEAD(, ctl_sock)	 ctl_conns = TAILQ_HEAD_INITIALIZER(ctl_conns);
static int			 ctl_nconns;
static uv_pipe_t		*ctl_listener;

static void
ctl_conn_free_cb(uv_handle_t *h)
{
	struct ctl_sock *c = h->data;

	if (--c->handles > 0)
		return;
	free(c->out);
	free(c);
}

static void
ctl_conn_close(struct ctl_sock *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	if (c->base.req != NULL) {
		ctl_req_detach(c->base.req);
		c->base.req = NULL;
	}
	TAILQ_REMOVE(&ctl_conns, c, entry);
	ctl_nconns--;
	uv_close((uv_handle_t *)&c->timer, ctl_conn_free_cb);
	uv_close((uv_handle_t *)&c->pipe, ctl_conn_free_cb);
}

static void ctl_conn_alloc(uv_handle_t *, size_t, uv_buf_t *);
static void ctl_conn_read(uv_stream_t *, ssize_t, const uv_buf_t *);

/*
 * The reply is out: send FIN, then read until the client closes.
 * Closing with unread input (a request that was too long) would make
 * the kernel send a reset, and the client could lose the reply.
 */
static void
ctl_conn_shut(uv_shutdown_t *sr, int status)
{
	struct ctl_sock *c = sr->data;

	if (status < 0 || c->closing) {
		ctl_conn_close(c);
		return;
	}
	c->draining = 1;
	if (uv_read_start((uv_stream_t *)&c->pipe, ctl_conn_alloc,
	    ctl_conn_read) != 0)
		ctl_conn_close(c);
}

static void
ctl_conn_written(uv_write_t *w, int status)
{
	struct ctl_sock *c = w->data;

	if (status < 0) {
		log_debug("control: write: %s", uv_strerror(status));
		ctl_conn_close(c);
		return;
	}
	if (c->closing)
		return;
	c->sreq.data = c;
	if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->pipe, ctl_conn_shut) != 0)
		ctl_conn_close(c);
}

/* Write text and "\n", then close; text is taken over. */
static void
ctl_conn_send(struct ctl_sock *c, char *text)
{
	uv_buf_t b[2];
	int r;

	if (c->closing || c->out != NULL) {
		free(text);
		return;
	}
	uv_read_stop((uv_stream_t *)&c->pipe);
	c->out = text;
	b[0] = uv_buf_init(c->out, strlen(c->out));
	b[1] = uv_buf_init("\n", 1);
	c->wreq.data = c;
	if ((r = uv_write(&c->wreq, (uv_stream_t *)&c->pipe, b, 2,
	    ctl_conn_written)) != 0) {
		log_debug("control: write: %s", uv_strerror(r));
		ctl_conn_close(c);
	}
}

/* The answer to the request line: JSON and "\n", then close. */
static void
ctl_sock_reply(struct ctl_conn *base, json_t *j)
{
	struct ctl_sock *c = (struct ctl_sock *)base;
	char *text;

	if (j == NULL)
		j = json_pack("{s:s}", "error", "out of memory");
	text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	if (text == NULL) {
		ctl_conn_close(c);
		return;
	}
	ctl_conn_send(c, text);
}

static void
ctl_line_written(uv_write_t *w, int status)
{
	struct ctl_line *l = w->data;
	struct ctl_sock *c = l->c;

	c->queued -= l->len;
	free(l);
	if (status < 0 && status != UV_ECANCELED)
		ctl_conn_close(c);
}

/* One more line of a streaming answer (the first one starts it). */
static void
ctl_sock_stream(struct ctl_conn *base, json_t *j)
{
	struct ctl_sock *c = (struct ctl_sock *)base;
	struct ctl_line *l;
	char *text;
	uv_buf_t b;
	size_t len;

	if (c->closing || c->out != NULL || j == NULL) {
		json_decref(j);
		return;
	}
	if (!c->streaming) {
		c->streaming = 1;
		uv_timer_stop(&c->timer);
		if (uv_read_start((uv_stream_t *)&c->pipe, ctl_conn_alloc,
		    ctl_conn_read) != 0) {
			json_decref(j);
			ctl_conn_close(c);
			return;
		}
	}
	if (c->dropped > 0)
		json_object_set_new(j, "dropped", json_integer(c->dropped));
	text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (text == NULL)
		return;
	len = strlen(text) + 1;
	if (c->queued + len > CTL_STREAM_MAX ||
	    (l = malloc(sizeof(*l) + len)) == NULL) {
		c->dropped++;
		free(text);
		return;
	}
	c->dropped = 0;
	memcpy(l->text, text, len - 1);
	l->text[len - 1] = '\n';
	free(text);
	l->c = c;
	l->len = len;
	l->wreq.data = l;
	c->queued += len;
	b = uv_buf_init(l->text, len);
	if (uv_write(&l->wreq, (uv_stream_t *)&c->pipe, &b, 1,
	    ctl_line_written) != 0) {
		c->queued -= len;
		free(l);
		ctl_conn_close(c);
	}
}

static void
ctl_conn_timeout(uv_timer_t *t)
{
	struct ctl_sock *c = t->data;

	if (c->base.req == NULL && !c->done)
		ctl_conn_error(&c->base, "request timed out");
	else
		ctl_conn_close(c);
}

static void
ctl_conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct ctl_sock *c = h->data;

	/* One byte more than allowed, to notice a request too long. */
	if (c->draining || c->streaming)
		c->inlen = 0;
	*b = uv_buf_init(c->in + c->inlen, sizeof(c->in) - c->inlen);
}

static void
ctl_conn_line(struct ctl_sock *c, size_t len)
{
	c->done = 1;
	c->in[len] = '\0';
	uv_read_stop((uv_stream_t *)&c->pipe);
	ctl_req_start(&c->base, c->in);
}

static void
ctl_conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct ctl_sock *c = s->data;
	char *nl;

	if (c->draining || c->streaming) {
		if (n < 0)
			ctl_conn_close(c);
		return;
	}
	if (n == 0 || c->done)
		return;
	if (n < 0) {
		/* EOF without "\n": take what came as the request. */
		if (n == UV_EOF && c->inlen > 0)
			ctl_conn_line(c, c->inlen);
		else
			ctl_conn_close(c);
		return;
	}
	c->inlen += n;
	if ((nl = memchr(c->in, '\n', c->inlen)) != NULL)
		ctl_conn_line(c, nl - c->in);
	else if (c->inlen > CTL_MAX_REQUEST) {
		c->done = 1;
		ctl_conn_error(&c->base, "request too long");
	}
}

static void
ctl_accept(uv_stream_t *server, int status)
{
	struct ctl_sock *c;

	if (status < 0) {
		log_warnx("control: accept: %s", uv_strerror(status));
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		fatal("ctl_accept");
	uv_pipe_init(server->loop, &c->pipe, 0);
	uv_timer_init(server->loop, &c->timer);
	c->pipe.data = c->timer.data = c;
	c->base.reply = ctl_sock_reply;
	c->base.stream = ctl_sock_stream;
	c->handles = 2;
	TAILQ_INSERT_TAIL(&ctl_conns, c, entry);
	ctl_nconns++;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0) {
		ctl_conn_close(c);
		return;
	}
	/* Accepted anyway so that libuv keeps listening, and so that the
	 * client learns why. */
	if (ctl_nconns > CTL_MAX_CONN) {
		c->done = 1;
		ctl_conn_error(&c->base, "too many control connections");
		return;
	}
	uv_timer_start(&c->timer, ctl_conn_timeout, CTL_CONN_TIMEOUT, 0);
	uv_read_start((uv_stream_t *)&c->pipe, ctl_conn_alloc, ctl_conn_read);
}

static void
ctl_listener_free_cb(uv_handle_t *h)
{
	free(h);
}

/* A new listening socket (first start or after a reload). */
void
ctl_server_listen(int fd)
{
	int r;

	ctl_server_close();
	if ((ctl_listener = calloc(1, sizeof(*ctl_listener))) == NULL)
		fatal("ctl_server_listen");
	uv_pipe_init(daemon_loop(), ctl_listener, 0);
	if ((r = uv_pipe_open(ctl_listener, fd)) != 0)
		fatalx("control socket: %s", uv_strerror(r));
	if ((r = uv_listen((uv_stream_t *)ctl_listener, CTL_MAX_CONN,
	    ctl_accept)) != 0)
		fatalx("control socket: listen: %s", uv_strerror(r));
}

/* Stop accepting; connections already open are answered. */
void
ctl_server_close(void)
{
	if (ctl_listener != NULL) {
		uv_close((uv_handle_t *)ctl_listener, ctl_listener_free_cb);
		ctl_listener = NULL;
	}
}
