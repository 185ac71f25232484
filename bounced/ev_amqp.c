/*
 * ev_amqp.c - publish a batch of records to a RabbitMQ exchange with
 * librabbitmq (blocking, in the sink's shipper thread; events.h).
 *
 * On connect: login (credentials-file's USER:PASSWORD, else guest),
 * channel 1, declare the exchange (durable topic; declaring it again
 * with the same type is harmless), and put the channel in confirm mode.
 * A batch is every record published (persistent, content type
 * application/json, routing key routing-key-prefix + record type,
 * message id "SEGMENT-OFFSET": the same record sent again after a crash
 * carries the same id, for consumers that deduplicate), then a wait
 * until the broker has confirmed each of them.  A nack, a closed channel
 * or no confirm within `timeout` fails the whole batch: it is sent again
 * after the back-off, from the same place in the buffer.  Binding a
 * queue to the exchange is the operator's: an unroutable record is
 * confirmed by the broker and dropped by it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include "events.h"
#include "log.h"

struct ev_amqp {
	amqp_connection_state_t	 conn;
	uint64_t		 tag;	/* delivery tag of the last publish */
	int			 open;	/* logged in */
	int			 healthy; /* the last batch went through */
};

static int
ev_amqp_reply(amqp_rpc_reply_t r, const char *what, char *err,
    size_t errsz)
{
	amqp_connection_close_t *cc;
	amqp_channel_close_t *ch;

	switch (r.reply_type) {
	case AMQP_RESPONSE_NORMAL:
		return 0;
	case AMQP_RESPONSE_LIBRARY_EXCEPTION:
		snprintf(err, errsz, "%s: %s", what,
		    amqp_error_string2(r.library_error));
		break;
	case AMQP_RESPONSE_SERVER_EXCEPTION:
		if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
			cc = r.reply.decoded;
			snprintf(err, errsz, "%s: %.*s", what,
			    (int)cc->reply_text.len,
			    (char *)cc->reply_text.bytes);
		} else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
			ch = r.reply.decoded;
			snprintf(err, errsz, "%s: %.*s", what,
			    (int)ch->reply_text.len,
			    (char *)ch->reply_text.bytes);
		} else
			snprintf(err, errsz, "%s: server error", what);
		break;
	default:
		snprintf(err, errsz, "%s: no reply", what);
		break;
	}
	return -1;
}

static int
ev_amqp_connect(struct ev_sink *s, char *err, size_t errsz)
{
	struct ev_amqp *a;
	amqp_socket_t *sock;
	struct timeval tv = { s->timeout_ms / 1000,
	    (s->timeout_ms % 1000) * 1000 };
	const char *host = s->addr[0] ? s->addr : s->url.host;
	int r;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		fatal("ev_amqp_connect");
	s->conn = a;
	if ((a->conn = amqp_new_connection()) == NULL ||
	    (sock = amqp_tcp_socket_new(a->conn)) == NULL)
		fatalx("ev_amqp_connect: out of memory");
	if ((r = amqp_socket_open_noblock(sock, host, s->url.port, &tv)) !=
	    AMQP_STATUS_OK) {
		snprintf(err, errsz, "connect to %s:%d: %s", host,
		    s->url.port, amqp_error_string2(r));
		return -1;
	}
	amqp_set_rpc_timeout(a->conn, &tv);
	if (ev_amqp_reply(amqp_login(a->conn, s->url.path, 0, 131072, 0,
	    AMQP_SASL_METHOD_PLAIN, s->user ? s->user : "guest",
	    s->pass ? s->pass : "guest"), "login", err, errsz) == -1)
		return -1;
	a->open = 1;
	amqp_channel_open(a->conn, 1);
	if (ev_amqp_reply(amqp_get_rpc_reply(a->conn), "channel", err,
	    errsz) == -1)
		return -1;
	amqp_exchange_declare(a->conn, 1, amqp_cstring_bytes(s->exchange),
	    amqp_cstring_bytes("topic"), 0, 1, 0, 0, amqp_empty_table);
	if (ev_amqp_reply(amqp_get_rpc_reply(a->conn), "exchange.declare",
	    err, errsz) == -1)
		return -1;
	amqp_confirm_select(a->conn, 1);
	if (ev_amqp_reply(amqp_get_rpc_reply(a->conn), "confirm.select",
	    err, errsz) == -1)
		return -1;
	a->tag = 0;
	log_info("events %s: connected to amqp://%s:%d", s->name, host,
	    s->url.port);
	return 0;
}

/* The record's type: the first field of its line ({"type":"d",...}). */
static void
ev_amqp_rkey(const struct ev_sink *s, const char *line, size_t len,
    char *buf, size_t bufsz)
{
	static const char pfx[] = "{\"type\":\"";
	size_t n = 0;

	if (len > sizeof(pfx) - 1 && memcmp(line, pfx, sizeof(pfx) - 1) == 0)
		n = strcspn(line + sizeof(pfx) - 1, "\"\n");
	snprintf(buf, bufsz, "%s%.*s", s->rkprefix, (int)n,
	    line + sizeof(pfx) - 1);
}

static int
ev_amqp_publish(struct ev_sink *s, const struct ev_batch *bt, char *err,
    size_t errsz)
{
	struct ev_amqp *a = s->conn;
	amqp_basic_properties_t props;
	amqp_bytes_t body;
	char rkey[300], id[64];
	size_t off = 0, len;
	int r;

	while (off < bt->len) {
		len = strcspn(bt->data + off, "\n");
		ev_amqp_rkey(s, bt->data + off, len, rkey, sizeof(rkey));
		snprintf(id, sizeof(id), "%llu-%llu",
		    (unsigned long long)bt->seg,
		    (unsigned long long)(bt->off + off));
		memset(&props, 0, sizeof(props));
		props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG |
		    AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG;
		props.content_type = amqp_cstring_bytes("application/json");
		props.delivery_mode = 2;	/* persistent */
		props.message_id = amqp_cstring_bytes(id);
		body.bytes = bt->data + off;
		body.len = len;
		if ((r = amqp_basic_publish(a->conn, 1,
		    amqp_cstring_bytes(s->exchange), amqp_cstring_bytes(rkey),
		    0, 0, &props, body)) != AMQP_STATUS_OK) {
			snprintf(err, errsz, "publish: %s",
			    amqp_error_string2(r));
			return -1;
		}
		a->tag++;
		off += len + 1;
	}
	return 0;
}

/* Wait until every tag in (first, last] is acked. */
static int
ev_amqp_confirms(struct ev_sink *s, uint64_t first, uint64_t last,
    char *err, size_t errsz)
{
	struct ev_amqp *a = s->conn;
	struct timeval tv = { s->timeout_ms / 1000,
	    (s->timeout_ms % 1000) * 1000 };
	amqp_basic_ack_t *ack;
	amqp_frame_t f;
	uint64_t n = last - first, left = n, i, t;
	char *done;
	int r;

	if ((done = calloc(n, 1)) == NULL)
		fatal("ev_amqp_confirms");
	while (left > 0) {
		if ((r = amqp_simple_wait_frame_noblock(a->conn, &f, &tv)) !=
		    AMQP_STATUS_OK) {
			snprintf(err, errsz, "waiting for confirms: %s",
			    amqp_error_string2(r));
			break;
		}
		if (f.frame_type != AMQP_FRAME_METHOD)
			continue;
		if (f.payload.method.id == AMQP_BASIC_NACK_METHOD) {
			snprintf(err, errsz, "the broker refused a record "
			    "(nack)");
			break;
		}
		if (f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
		    f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
			snprintf(err, errsz, "the broker closed the %s",
			    f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ?
			    "channel" : "connection");
			break;
		}
		if (f.payload.method.id != AMQP_BASIC_ACK_METHOD)
			continue;
		ack = f.payload.method.decoded;
		t = ack->delivery_tag;
		for (i = ack->multiple ? first + 1 : t; i <= t && i <= last;
		    i++)
			if (i > first && !done[i - first - 1]) {
				done[i - first - 1] = 1;
				left--;
			}
	}
	free(done);
	amqp_maybe_release_buffers(a->conn);
	return left == 0 ? 0 : -1;
}

static int
ev_amqp_send(struct ev_sink *s, const struct ev_batch *bt, char *err,
    size_t errsz)
{
	struct ev_amqp *a;
	uint64_t first;

	if (s->conn == NULL && ev_amqp_connect(s, err, errsz) == -1)
		return -1;
	a = s->conn;
	a->healthy = 0;
	first = a->tag;
	if (ev_amqp_publish(s, bt, err, errsz) == -1 ||
	    ev_amqp_confirms(s, first, a->tag, err, errsz) == -1)
		return -1;
	a->healthy = 1;
	return 0;
}

static void
ev_amqp_disconnect(struct ev_sink *s)
{
	struct ev_amqp *a = s->conn;

	if (a == NULL)
		return;
	if (a->conn != NULL && a->open && a->healthy) {
		/* polite when the broker answered last time (a close
		 * waits for its reply, up to the rpc timeout) */
		amqp_channel_close(a->conn, 1, AMQP_REPLY_SUCCESS);
		amqp_connection_close(a->conn, AMQP_REPLY_SUCCESS);
	}
	if (a->conn != NULL)
		amqp_destroy_connection(a->conn);
	free(a);
	s->conn = NULL;
}

const struct ev_transport ev_amqp_transport = {
	.kind = "amqp",
	.send = ev_amqp_send,
	.disconnect = ev_amqp_disconnect,
};
