/*
 * http.h - what the HTTP files of mgmtd share (see mgmtd.h for the map).
 */
#ifndef TERN_MGMTD_HTTP_H
#define TERN_MGMTD_HTTP_H

#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "cfg.h"
#include "mgmtd.h"

/* Access levels, as http-access names them. */
enum { HTTP_NONE = 0, HTTP_MONITOR, HTTP_OPERATOR, HTTP_ADMIN };

/* Reply formats. */
enum { FMT_JSON = 0, FMT_XML, FMT_TEXT, FMT_HTML };

/* One request, as the endpoints see it. */
struct http_call;

/* http_auth.c */
int	http_level_parse(const char *);
void	http_acl_configure(const struct cfg *);
int	http_acl_level(const struct sockaddr *);
int	http_auth_required(void);
int	http_auth_check(const char *value, size_t len, uint64_t now_ms);

/* http_tls.c: an OpenSSL context from the PEM in fd (closed), or NULL */
struct ssl_ctx_st;
struct ssl_ctx_st *http_tls_context(int fd);

/* http_parse.c (pure, fuzzed) */
/* The value of query parameter name, decoded into out; its length, or
 * -1 when absent or longer than outsz - 1. */
int	http_query_get(const char *q, size_t qlen, const char *name,
	    char *out, size_t outsz);
/* "Basic BASE64(user:pass)" into user and pass; 0, or -1 if malformed
 * or too long. */
int	http_basic_decode(const char *value, size_t len, char *user,
	    size_t usz, char *pass, size_t psz);
/* One htpasswd line, split in place; -1 for comments and junk. */
int	http_htpasswd_line(char *line, char **user, char **hash);

/* http_server.c: for the endpoints */
/* A query parameter (decoded), or NULL. */
const char *http_param(struct http_call *, const char *name);
int	 http_format(struct http_call *);
/* Send a reply now. */
void	 http_reply(struct http_call *, int status, const char *ctype,
	    const char *body, size_t len);
/* Run a control request line; shape() turns the answer (borrowed) into
 * the reply with http_reply(). */
typedef void (*http_shape)(struct http_call *, json_t *);
void	 http_run(struct http_call *, const char *line, http_shape);
/* Add a header to the reply (before http_reply). */
void	 http_header(struct http_call *, const char *name, const char *value);
/* The request body (h2o read all of it; NULL when there is none). */
const char *http_body(struct http_call *, size_t *len);
/* fn(arg) when the request ends (answered, or the client left). */
void	 http_on_gone(struct http_call *, void (*fn)(void *), void *arg);
/* The client's address as text. */
void	 http_peer(struct http_call *, char *ip, size_t sz);
/* The Basic user name when http-mgmt-auth is on; 0, or -1 (user ""). */
int	 http_user(struct http_call *, char *user, size_t sz);
/* Keep j (a reference is taken) with the request for a later shape. */
void	 http_keep(struct http_call *, json_t *);
json_t	*http_kept(struct http_call *);

/* http_api.c */
struct http_route {
	const char	*method;	/* "GET" (also HEAD) or "POST" */
	const char	*path;
	int		 level;		/* lowest access level allowed */
	void		(*fn)(struct http_call *);
};
const struct http_route *http_route_find(const char *method,
	    const char *path, size_t len, int *path_known);

/* http_inject.c: POST /api/v1/inject */
void	 http_inject(struct http_call *);

/* http_format.c */
/* json as XML (pmta's <rsp><data>..</data><succ/></rsp>); item names
 * the elements of arrays.  Returns a malloc'd string. */
char	*http_xml(const json_t *data, const char *item, int ok,
	    const char *message);
/* json as pmta's JSON envelope {"data":..,"status":..,"message":..}. */
char	*http_json_envelope(const json_t *data, int ok, const char *message);
/* Prometheus text exposition from status and queues. */
char	*http_metrics(const json_t *status, const json_t *queues);

/* The web monitor page, embedded at build time (www_embed.c). */
extern const char	 www_monitor_html[];
extern const size_t	 www_monitor_html_len;

#endif
