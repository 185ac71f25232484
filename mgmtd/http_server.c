/*
 * http_server.c - HTTP on mgmtd's libuv loop, with libh2o (Debian's
 * build of h2o uses libuv, so it shares the loop with the control
 * socket and the imsg channels: no thread, no locking).
 *
 * ternd opens the listening socket (http-mgmt-port on
 * http-mgmt-interface) and passes it down; mgmtd is chrooted and could
 * not bind it.  Each request: the client's address gives its level
 * (http-access; none: 403), then credentials are checked when
 * http-mgmt-auth is set (missing or wrong: 401 with WWW-Authenticate),
 * then the route (http_api.c) runs, usually a control request whose
 * answer is reshaped into JSON, XML or Prometheus text.  With
 * http-mgmt-tls-certificate, h2o does TLS on every connection.
 */
#define H2O_USE_LIBUV 1
#include <h2o.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "daemon.h"
#include "log.h"
#include "http.h"
#include "inject.h"

#define HTTP_MAX_BODY	(64 * 1024)

struct http_call {
	struct ctl_conn	 base;		/* first: ctl_req sees this */
	h2o_req_t	*req;
	http_shape	 shape;
	int		 format;
	int		 level;
	int		 gone;
	json_t		*kept;
	void		(*on_gone)(void *);	/* the request ended */
	void		*gone_arg;
	char		 line[CTL_MAX_REQUEST + 1];
};

static h2o_globalconf_t	 http_conf;
static h2o_context_t	 http_ctx;
static h2o_accept_ctx_t	 http_actx;
static int		 http_inited;
static int		 http_tls_wanted;	/* a certificate was configured */
static SSL_CTX		*http_ssl;
static uv_tcp_t		*http_listener;

static size_t	http_max_body(const struct cfg *);

/* --- helpers for the endpoints --- */

const char *
http_param(struct http_call *c, const char *name)
{
	h2o_req_t *req = c->req;
	size_t qlen;
	char *out;

	if (req->query_at == SIZE_MAX)
		return NULL;
	qlen = req->path.len - req->query_at - 1;
	out = h2o_mem_alloc_pool(&req->pool, qlen + 1);
	if (http_query_get(req->path.base + req->query_at + 1, qlen, name,
	    out, qlen + 1) == -1)
		return NULL;
	return out;
}

int
http_format(struct http_call *c)
{
	return c->format;
}

void
http_reply(struct http_call *c, int status, const char *ctype,
    const char *body, size_t len)
{
	h2o_req_t *req = c->req;

	if (c->gone)
		return;
	c->gone = 1;
	req->res.status = status;
	req->res.reason = status == 200 ? "OK" : status == 400 ?
	    "Bad Request" : status == 401 ? "Unauthorized" : status == 403 ?
	    "Forbidden" : status == 404 ? "Not Found" : status == 405 ?
	    "Method Not Allowed" : status == 413 ? "Payload Too Large" :
	    status == 500 ? "Internal Server Error" : status == 503 ?
	    "Service Unavailable" : "Error";
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE,
	    NULL, ctype, strlen(ctype));
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL,
	    NULL, H2O_STRLIT("no-store"));
	if (status == 401)
		h2o_add_header(&req->pool, &req->res.headers,
		    H2O_TOKEN_WWW_AUTHENTICATE, NULL,
		    H2O_STRLIT("Basic realm=\"Tern\", charset=\"UTF-8\""));
	h2o_send_inline(req, body, len);
}

/* The answer of a control request: to shape(), or an error reply. */
static void
http_call_answer(struct ctl_conn *base, json_t *j)
{
	struct http_call *c = (struct http_call *)base;
	json_t *err = NULL;
	char *text;

	if (c->gone) {
		json_decref(j);
		return;
	}
	if (j == NULL || (err = json_object_get(j, "error")) != NULL) {
		text = c->format == FMT_XML ? http_xml(NULL, NULL, 0,
		    json_string_value(err)) : http_json_envelope(NULL, 0,
		    json_string_value(err));
		/* A silent daemon is the server's trouble (503); anything
		 * else mgmtd refused is the request's (400). */
		http_reply(c, err != NULL && strstr(json_string_value(err) ?
		    json_string_value(err) : "", "not responding") == NULL ?
		    400 : 503, c->format == FMT_XML ? "application/xml" :
		    "application/json", text, strlen(text));
		free(text);
	} else
		c->shape(c, j);
	json_decref(j);
}

void
http_header(struct http_call *c, const char *name, const char *value)
{
	h2o_req_t *req = c->req;

	if (c->gone)
		return;
	h2o_add_header_by_str(&req->pool, &req->res.headers, name,
	    strlen(name), 0, NULL, value, strlen(value));
}

const char *
http_body(struct http_call *c, size_t *len)
{
	*len = c->req->entity.len;
	return c->req->entity.base;
}

void
http_on_gone(struct http_call *c, void (*fn)(void *), void *arg)
{
	c->on_gone = fn;
	c->gone_arg = arg;
}

static int
http_peer_addr(h2o_req_t *req, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	return req->conn->callbacks->get_peername != NULL &&
	    req->conn->callbacks->get_peername(req->conn,
	    (struct sockaddr *)ss) != 0;
}

void
http_peer(struct http_call *c, char *ip, size_t sz)
{
	struct sockaddr_storage ss;

	strlcpy(ip, "unknown", sz);
	if (!http_peer_addr(c->req, &ss))
		return;
	if (ss.ss_family == AF_INET6)
		uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sz);
	else if (ss.ss_family == AF_INET)
		uv_ip4_name((struct sockaddr_in *)&ss, ip, sz);
}

int
http_user(struct http_call *c, char *user, size_t sz)
{
	h2o_req_t *req = c->req;
	char pass[256];
	ssize_t i;

	user[0] = '\0';
	if (!http_auth_required() || (i = h2o_find_header(&req->headers,
	    H2O_TOKEN_AUTHORIZATION, -1)) == -1)
		return -1;
	return http_basic_decode(req->headers.entries[i].value.base,
	    req->headers.entries[i].value.len, user, sz, pass, sizeof(pass));
}

void
http_run(struct http_call *c, const char *line, http_shape shape)
{
	c->shape = shape;
	strlcpy(c->line, line, sizeof(c->line));
	ctl_req_start(&c->base, c->line);
}

void
http_keep(struct http_call *c, json_t *j)
{
	json_decref(c->kept);
	c->kept = json_incref(j);
}

json_t *
http_kept(struct http_call *c)
{
	return c->kept;
}

/* The request is over (answered, or the client left). */
static void
http_call_dispose(void *p)
{
	struct http_call *c = p;

	c->gone = 1;
	if (c->base.req != NULL) {
		ctl_req_detach(c->base.req);
		c->base.req = NULL;
	}
	if (c->on_gone != NULL) {
		c->on_gone(c->gone_arg);
		c->on_gone = NULL;
	}
	json_decref(c->kept);
	c->kept = NULL;
}

/* --- requests --- */

static int
http_level(h2o_req_t *req)
{
	struct sockaddr_storage ss;

	if (!http_peer_addr(req, &ss))
		return HTTP_NONE;
	return http_acl_level((struct sockaddr *)&ss);
}

static int
http_authorized(h2o_req_t *req)
{
	ssize_t i;

	if (!http_auth_required())
		return 1;
	if ((i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION,
	    -1)) == -1)
		return 0;
	return http_auth_check(req->headers.entries[i].value.base,
	    req->headers.entries[i].value.len, uv_now(daemon_loop()));
}

/*
 * A browser sends Origin with a cross-site POST; a page elsewhere must
 * not steer the MTA with the operator's cached credentials.  Clients
 * that send no Origin (curl, scripts) are not browsers on a foreign
 * page.
 */
static int
http_same_origin(h2o_req_t *req)
{
	const char *o, *sep;
	ssize_t i;
	size_t olen;

	if ((i = h2o_find_header_by_str(&req->headers,
	    H2O_STRLIT("origin"), -1)) == -1)
		return 1;
	o = req->headers.entries[i].value.base;
	olen = req->headers.entries[i].value.len;
	if ((sep = memmem(o, olen, "://", 3)) == NULL)
		return 0;
	olen -= sep + 3 - o;
	o = sep + 3;
	return req->authority.len == olen &&
	    memcmp(req->authority.base, o, olen) == 0;
}

static int
http_on_req(h2o_handler_t *self, h2o_req_t *req)
{
	const struct http_route *rt;
	struct http_call *c;
	const char *fmt, *method;
	char mbuf[16];
	int known;

	c = h2o_mem_alloc_shared(&req->pool, sizeof(*c), http_call_dispose);
	memset(c, 0, sizeof(*c));
	c->req = req;
	c->base.reply = http_call_answer;
	if ((fmt = http_param(c, "format")) != NULL &&
	    strcmp(fmt, "xml") == 0)
		c->format = FMT_XML;
	if ((c->level = http_level(req)) == HTTP_NONE) {
		http_reply(c, 403, "text/plain", H2O_STRLIT("forbidden\n"));
		return 0;
	}
	if (!http_authorized(req)) {
		http_reply(c, 401, "text/plain",
		    H2O_STRLIT("authentication required\n"));
		return 0;
	}
	snprintf(mbuf, sizeof(mbuf), "%.*s", (int)req->method.len,
	    req->method.base);
	method = strcmp(mbuf, "HEAD") == 0 ? "GET" : mbuf;
	if ((rt = http_route_find(method, req->path_normalized.base,
	    req->path_normalized.len, &known)) == NULL) {
		if (known)
			http_reply(c, 405, "text/plain",
			    H2O_STRLIT("method not allowed\n"));
		else
			http_reply(c, 404, "text/plain",
			    H2O_STRLIT("not found\n"));
		return 0;
	}
	if (strcmp(method, "POST") == 0 && !http_same_origin(req)) {
		http_reply(c, 403, "text/plain",
		    H2O_STRLIT("cross-site request refused\n"));
		return 0;
	}
	if (c->level < rt->level) {
		http_reply(c, 403, "text/plain",
		    H2O_STRLIT("this needs admin access (http-access)\n"));
		return 0;
	}
	rt->fn(c);
	return 0;
}

static void
http_accept(uv_stream_t *listener, int status)
{
	uv_tcp_t *conn;
	h2o_socket_t *sock;

	if (status != 0)
		return;
	conn = h2o_mem_alloc(sizeof(*conn));
	uv_tcp_init(listener->loop, conn);
	if (uv_accept(listener, (uv_stream_t *)conn) != 0) {
		uv_close((uv_handle_t *)conn, (uv_close_cb)free);
		return;
	}
	sock = h2o_uv_socket_create((uv_stream_t *)conn, (uv_close_cb)free);
	h2o_accept(&http_actx, sock);
}

static void
http_init(void)
{
	h2o_hostconf_t *host;
	h2o_pathconf_t *path;
	h2o_handler_t *h;

	if (http_inited++)
		return;
	h2o_config_init(&http_conf);
	http_conf.server_name = h2o_iovec_init(H2O_STRLIT("Tern"));
	http_conf.max_request_entity_size = http_max_body(mgmtd_cfg());
	host = h2o_config_register_host(&http_conf,
	    h2o_iovec_init(H2O_STRLIT("default")), 65535);
	path = h2o_config_register_path(host, "/", 0);
	h = h2o_create_handler(path, sizeof(*h));
	h->on_req = http_on_req;
	h2o_context_init(&http_ctx, daemon_loop(), &http_conf);
	http_actx.ctx = &http_ctx;
	http_actx.hosts = http_conf.hosts;
	http_actx.ssl_ctx = http_ssl;
}

/* The certificate from ternd (before IMSG_START, so before listening). */
void
http_tls_cert(int fd)
{
	SSL_CTX *ctx;

	http_tls_wanted = 1;
	if ((ctx = http_tls_context(fd)) == NULL)
		return;
	if (http_ssl != NULL)
		SSL_CTX_free(http_ssl);
	http_ssl = ctx;
	if (http_inited)
		http_actx.ssl_ctx = http_ssl;
}

/* Request bodies: small, unless HTTP injection is on (h2o reads the
 * whole body before the handler runs, and answers 413 beyond this). */
static size_t
http_max_body(const struct cfg *cfg)
{
	return cfg != NULL && cfg_bool(cfg->root, "http-inject", 0) ?
	    INJECT_MAX_BODY : HTTP_MAX_BODY;
}

void
http_configure(const struct cfg *cfg)
{
	http_acl_configure(cfg);
	if (http_inited)
		http_conf.max_request_entity_size = http_max_body(cfg);
}

static void
http_listener_free(uv_handle_t *h)
{
	free(h);
}

void
http_listen(int fd)
{
	int r;

	/* Plain HTTP where HTTPS was asked for would send passwords in
	 * clear: better no HTTP at all (the log says why). */
	if (http_tls_wanted && http_ssl == NULL) {
		close(fd);
		return;
	}
	http_init();
	http_close();
	if ((http_listener = calloc(1, sizeof(*http_listener))) == NULL)
		fatal("http_listen");
	uv_tcp_init(daemon_loop(), http_listener);
	if ((r = uv_tcp_open(http_listener, fd)) != 0 ||
	    (r = uv_listen((uv_stream_t *)http_listener, 128,
	    http_accept)) != 0)
		fatalx("http listener: %s", uv_strerror(r));
}

void
http_close(void)
{
	if (http_listener != NULL) {
		uv_close((uv_handle_t *)http_listener, http_listener_free);
		http_listener = NULL;
	}
}
