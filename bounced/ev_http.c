/*
 * ev_http.c - POST a batch of records to a webhook (<acct-webhook NAME>),
 * blocking, in the sink's shipper thread (events.h).
 *
 * One request per batch on a new connection (Connection: close): the
 * body is a JSON array of the batch's records (each an object with the
 * accounting field names), Content-Type application/json, HTTP basic
 * authentication when the block has a credentials-file, and the header
 * X-Tern-Batch: SEGMENT-OFFSET-COUNT, the same when a batch is sent again
 * (receivers may use it to deduplicate).  Any 2xx answer confirms the
 * whole batch; anything else (another status, no answer within
 * `timeout`, a refused connection) fails it, and it is sent again after
 * the back-off (min-retry-interval doubling up to max-retry-interval).
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "events.h"
#include "log.h"
#include "util.h"

#define EV_HTTP_REPLY_MAX	4096	/* bytes of the answer we read */

static int
ev_http_connect(struct ev_sink *s, char *err, size_t errsz)
{
	struct addrinfo hints, *res, *ai;
	struct timeval tv = { s->timeout_ms / 1000,
	    (s->timeout_ms % 1000) * 1000 };
	const char *host = s->addr[0] ? s->addr : s->url.host;
	char port[16];
	int fd = -1, r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = s->addr[0] ? AI_NUMERICHOST : 0;
	snprintf(port, sizeof(port), "%d", s->url.port);
	if ((r = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errsz, "%s: %s", host, gai_strerror(r));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    0)) == -1)
			continue;
		/* connect() too honours the send timeout on Linux */
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		snprintf(err, errsz, "connect to %s:%d: %s", host,
		    s->url.port, strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* The request: header, then "[" line "," line ... "]". */
static void
ev_http_request(struct ev_sink *s, const struct ev_batch *bt,
    struct acct_buf *req)
{
	char hdr[2048], cred[600], b64[820];
	size_t i, body = bt->len + 1;	/* '\n's become ',' and ']', '[' */
	int n;

	b64[0] = '\0';
	if (s->user != NULL) {
		n = snprintf(cred, sizeof(cred), "%s:%s", s->user, s->pass);
		if (n > 0 && (size_t)n < sizeof(cred))
			EVP_EncodeBlock((unsigned char *)b64,
			    (unsigned char *)cred, n);
		explicit_bzero(cred, sizeof(cred));
	}
	n = snprintf(hdr, sizeof(hdr), "POST %s HTTP/1.1\r\n"
	    "Host: %s:%d\r\n"
	    "User-Agent: Tern\r\n"
	    "Content-Type: application/json\r\n"
	    "Content-Length: %zu\r\n"
	    "X-Tern-Batch: %llu-%llu-%zu\r\n"
	    "%s%s%s"
	    "Connection: close\r\n\r\n",
	    s->url.path, s->url.host, s->url.port, body,
	    (unsigned long long)bt->seg, (unsigned long long)bt->off, bt->n,
	    b64[0] ? "Authorization: Basic " : "", b64, b64[0] ? "\r\n" : "");
	explicit_bzero(b64, sizeof(b64));
	acct_buf_add(req, hdr, n);
	explicit_bzero(hdr, sizeof(hdr));
	acct_buf_add(req, "[", 1);
	for (i = 0; i < bt->len; i++)
		if (bt->data[i] == '\n')
			acct_buf_add(req, i + 1 == bt->len ? "]" : ",", 1);
		else
			acct_buf_add(req, bt->data + i, 1);
}

/* The status code of the answer, or -1. */
static int
ev_http_status(int fd, char *err, size_t errsz)
{
	char buf[EV_HTTP_REPLY_MAX + 1];
	size_t len = 0;
	ssize_t n;
	int code;

	while (len < EV_HTTP_REPLY_MAX && memchr(buf, '\n', len) == NULL) {
		if ((n = recv(fd, buf + len, EV_HTTP_REPLY_MAX - len, 0)) <=
		    0) {
			snprintf(err, errsz, "no answer: %s", n == 0 ?
			    "connection closed" : strerror(errno));
			return -1;
		}
		len += n;
	}
	buf[len] = '\0';
	if (sscanf(buf, "HTTP/%*d.%*d %d", &code) != 1) {
		snprintf(err, errsz, "not an HTTP answer");
		return -1;
	}
	if (code < 200 || code > 299) {
		buf[strcspn(buf, "\r\n")] = '\0';
		snprintf(err, errsz, "answer \"%.100s\"", buf);
		return -1;
	}
	return code;
}

static int
ev_http_send(struct ev_sink *s, const struct ev_batch *bt, char *err,
    size_t errsz)
{
	struct acct_buf req = { 0 };
	size_t off = 0;
	ssize_t n;
	int fd, r = -1;

	if ((fd = ev_http_connect(s, err, errsz)) == -1)
		return -1;
	ev_http_request(s, bt, &req);
	while (off < req.len) {
		if ((n = send(fd, req.data + off, req.len - off,
		    MSG_NOSIGNAL)) <= 0) {
			snprintf(err, errsz, "send: %s", strerror(errno));
			goto done;
		}
		off += n;
	}
	r = ev_http_status(fd, err, errsz) == -1 ? -1 : 0;
done:
	close(fd);
	explicit_bzero(req.data, req.len < 2048 ? req.len : 2048);
	acct_buf_free(&req);
	return r;
}

static void
ev_http_disconnect(struct ev_sink *s)
{
	(void)s;	/* one connection per batch: nothing held */
}

const struct ev_transport ev_http_transport = {
	.kind = "webhook",
	.send = ev_http_send,
	.disconnect = ev_http_disconnect,
};
