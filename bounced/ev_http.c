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
 *
 * https://: TLS 1.2 or later with OpenSSL, the peer's certificate
 * verified against the block's ca-file (ternd opens it: the system
 * bundle by default) and the url's host (name or IP address); a
 * certificate that does not verify fails the batch like a refused
 * connection.  No CA certificate at all: nothing verifies (fails
 * closed).
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

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "events.h"
#include "log.h"
#include "util.h"

#define EV_HTTP_REPLY_MAX	4096	/* bytes of the answer we read */
/* The request's header but the Authorization line: the path (< 1024),
 * the host (< 256) and numbers fit with room to spare. */
#define EV_HTTP_HDR_MAX		2048

/* One request's connection. */
struct ev_http_conn {
	int	 fd;
	SSL	*ssl;		/* https */
};

/* https: the sink's context (s->conn), made once from its ca-file. */
static SSL_CTX *
ev_http_ctx(struct ev_sink *s, char *err, size_t errsz)
{
	SSL_CTX *ctx;
	BIO *bio;
	X509 *x;
	int n = 0;

	if (s->conn != NULL)
		return s->conn;
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		fatalx("SSL_CTX_new");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (s->ca_pem != NULL &&
	    (bio = BIO_new_mem_buf(s->ca_pem, -1)) != NULL) {
		while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) !=
		    NULL) {
			n += X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx),
			    x);
			X509_free(x);
		}
		BIO_free(bio);
	}
	ERR_clear_error();
	if (n == 0) {
		snprintf(err, errsz, "ca-file: no CA certificate");
		SSL_CTX_free(ctx);
		return NULL;
	}
	return s->conn = ctx;
}

static int
ev_http_tls(struct ev_sink *s, struct ev_http_conn *c, char *err,
    size_t errsz)
{
	struct in6_addr a6;
	SSL_CTX *ctx;
	long v;
	int ip;

	if ((ctx = ev_http_ctx(s, err, errsz)) == NULL)
		return -1;
	if ((c->ssl = SSL_new(ctx)) == NULL)
		fatalx("SSL_new");
	SSL_set_fd(c->ssl, c->fd);
	ip = inet_pton(AF_INET, s->url.host, &a6) == 1 ||
	    inet_pton(AF_INET6, s->url.host, &a6) == 1;
	if (ip)
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl),
		    s->url.host);
	else {
		SSL_set_tlsext_host_name(c->ssl, s->url.host);
		SSL_set1_host(c->ssl, s->url.host);
	}
	if (SSL_connect(c->ssl) == 1)
		return 0;
	if ((v = SSL_get_verify_result(c->ssl)) != X509_V_OK)
		snprintf(err, errsz, "TLS: certificate: %s",
		    X509_verify_cert_error_string(v));
	else
		snprintf(err, errsz, "TLS handshake failed: %s",
		    ERR_reason_error_string(ERR_peek_last_error()) ?
		    ERR_reason_error_string(ERR_peek_last_error()) :
		    strerror(errno));
	ERR_clear_error();
	return -1;
}

static ssize_t
ev_http_write(struct ev_http_conn *c, const char *p, size_t len)
{
	int n;

	if (c->ssl == NULL)
		return send(c->fd, p, len, MSG_NOSIGNAL);
	n = SSL_write(c->ssl, p, len > INT32_MAX ? INT32_MAX : (int)len);
	return n > 0 ? n : -1;
}

static ssize_t
ev_http_read(struct ev_http_conn *c, char *p, size_t len)
{
	int n;

	if (c->ssl == NULL)
		return recv(c->fd, p, len, 0);
	n = SSL_read(c->ssl, p, (int)len);
	return n > 0 ? n : SSL_get_error(c->ssl, n) == SSL_ERROR_ZERO_RETURN ?
	    0 : -1;
}

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

/* "Authorization: Basic ...\r\n" for the sink's credentials (any length
 * ternd reads), in a new string the caller scrubs and frees; NULL when
 * there are none. */
static char *
ev_http_auth(const struct ev_sink *s, size_t *lenp)
{
	static const char name[] = "Authorization: Basic ";
	size_t ulen, plen, clen, nlen = sizeof(name) - 1;
	char *cred, *line;
	int n;

	*lenp = 0;
	if (s->user == NULL)
		return NULL;
	ulen = strlen(s->user);
	plen = strlen(s->pass);
	clen = ulen + 1 + plen;
	if ((cred = malloc(clen + 1)) == NULL ||
	    (line = malloc(nlen + 4 * ((clen + 2) / 3) + 3)) == NULL)
		fatal("ev_http_auth");
	memcpy(cred, s->user, ulen);
	cred[ulen] = ':';
	memcpy(cred + ulen + 1, s->pass, plen + 1);
	memcpy(line, name, nlen);
	n = EVP_EncodeBlock((unsigned char *)line + nlen,
	    (unsigned char *)cred, (int)clen);
	explicit_bzero(cred, clen);
	free(cred);
	memcpy(line + nlen + n, "\r\n", 3);
	*lenp = nlen + n + 2;
	return line;
}

/* The request: header, then "[" line "," line ... "]"; -1 if the header
 * does not fit (it always does). */
static int
ev_http_request(struct ev_sink *s, const struct ev_batch *bt,
    struct sbuf *req)
{
	static const char conn[] = "Connection: close\r\n\r\n";
	char hdr[EV_HTTP_HDR_MAX], *auth;
	size_t alen, i;
	size_t body = bt->len + 1;	/* '\n's become ',' and ']', '[' */
	int n, v6;

	v6 = strchr(s->url.host, ':') != NULL;
	n = snprintf(hdr, sizeof(hdr), "POST %s HTTP/1.1\r\n"
	    "Host: %s%s%s:%d\r\n"
	    "User-Agent: Tern\r\n"
	    "Content-Type: application/json\r\n"
	    "Content-Length: %zu\r\n"
	    "X-Tern-Batch: %llu-%llu-%zu\r\n",
	    s->url.path, v6 ? "[" : "", s->url.host, v6 ? "]" : "",
	    s->url.port, body,
	    (unsigned long long)bt->seg, (unsigned long long)bt->off, bt->n);
	if (n < 0 || (size_t)n >= sizeof(hdr))
		return -1;
	auth = ev_http_auth(s, &alen);
	/* All of it at once: the Authorization line has the password, and
	 * a buffer that grew would leave a copy in freed memory. */
	sb_reserve(req, n + alen + sizeof(conn) - 1 + body);
	sb_add(req, hdr, n);
	if (auth != NULL) {
		sb_add(req, auth, alen);
		explicit_bzero(auth, alen);
		free(auth);
	}
	sb_add(req, conn, sizeof(conn) - 1);
	sb_add(req, "[", 1);
	for (i = 0; i < bt->len; i++)
		if (bt->data[i] == '\n')
			sb_add(req, i + 1 == bt->len ? "]" : ",", 1);
		else
			sb_add(req, bt->data + i, 1);
	return 0;
}

/* The status code of the answer, or -1. */
static int
ev_http_status(struct ev_http_conn *c, char *err, size_t errsz)
{
	char buf[EV_HTTP_REPLY_MAX + 1];
	size_t len = 0;
	ssize_t n;
	int code;

	while (len < EV_HTTP_REPLY_MAX && memchr(buf, '\n', len) == NULL) {
		if ((n = ev_http_read(c, buf + len, EV_HTTP_REPLY_MAX -
		    len)) <= 0) {
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
	struct ev_http_conn c = { -1, NULL };
	struct sbuf req = { 0 };
	size_t off = 0;
	ssize_t n;
	int r = -1;

	if ((c.fd = ev_http_connect(s, err, errsz)) == -1)
		return -1;
	if (s->url.scheme == EV_URL_HTTPS && ev_http_tls(s, &c, err, errsz) ==
	    -1)
		goto done;
	if (ev_http_request(s, bt, &req) == -1) {
		snprintf(err, errsz, "request header too long");
		goto done;
	}
	while (off < req.len) {
		if ((n = ev_http_write(&c, req.s + off, req.len - off)) <=
		    0) {
			snprintf(err, errsz, "send: %s", strerror(errno));
			goto done;
		}
		off += n;
	}
	r = ev_http_status(&c, err, errsz) == -1 ? -1 : 0;
done:
	if (c.ssl != NULL) {
		if (r == 0)
			SSL_shutdown(c.ssl);
		SSL_free(c.ssl);
	}
	close(c.fd);
	if (req.s != NULL)	/* the header has the password */
		explicit_bzero(req.s, req.len);
	sb_free(&req);
	return r;
}

/* One connection per batch: only the TLS context is held; made again
 * after a failure (a changed ca-file comes with a reload anyway). */
static void
ev_http_disconnect(struct ev_sink *s)
{
	SSL_CTX_free(s->conn);
	s->conn = NULL;
}

const struct ev_transport ev_http_transport = {
	.kind = "webhook",
	.send = ev_http_send,
	.disconnect = ev_http_disconnect,
};
