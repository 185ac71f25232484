/*
 * mgmtd.h - the management daemon: the control socket of the `tern` CLI
 * and the HTTP interface (JSON API, PowerMTA monitor URLs, Prometheus
 * metrics, the web monitor page).
 *
 *	mgmtd.c		the daemon: config, peers, replies from daemons
 *	ctl_server.c	the control socket: connections, one request line
 *			in, one JSON document out
 *	ctl_req.c	requests: the verb table, what to ask which daemon,
 *			waiting for the answers (5 s at most), the JSON reply
 *	ctl_list.c	queue listings: filters, sorting, per domain/VMTA
 *	ctl_settings.c	"show settings": the running configuration
 *	ctl_resolve.c	"resolve": deliverd's DNS answer as JSON
 *	http_server.c	HTTP on the libuv loop (libh2o): accept, access
 *			control, routing
 *	http_auth.c	http-access ACL and http-mgmt-auth (htpasswd)
 *	http_api.c	the endpoints: JSON, XML, Prometheus text
 *	http_history.c	traffic per minute over the last hour
 *	http_tls.c	HTTPS: the certificate ternd read
 *	http_parse.c	query strings, Basic credentials, htpasswd lines
 *	http_inject.c	POST /api/v1/inject: mail over HTTP (inject.h)
 *	inject_*.c	its request and its way into the spool
 *	snmp_*.c	the SNMP agent (snmp.h)
 *
 * Both front ends speak to the daemons through the same requests: an
 * HTTP endpoint runs a control request line and reshapes its answer.
 */
#ifndef TERN_MGMTD_H
#define TERN_MGMTD_H

#include <stdint.h>
#include <jansson.h>
#include <uv.h>

#include "cfg.h"
#include "mproc.h"

/*
 * Whoever asked: a CLI connection, an HTTP request, or mgmtd itself.
 * reply() gets the answer (reference stolen; NULL: out of memory) and
 * is called exactly once unless the client went away first (it then
 * calls ctl_req_detach(req) itself).
 */
struct ctl_conn {
	void	(*reply)(struct ctl_conn *, json_t *);
	/* A front end that can stream (the control socket: `tern trace`)
	 * sets this: one more document on its own line, before the reply
	 * that ends it (reference stolen).  NULL: cannot. */
	void	(*stream)(struct ctl_conn *, json_t *);
	void	 *req;		/* ctl_req waiting, or NULL */
};

#define MGMTD_MAX_DELIVERD	64	/* instances whose channel we keep */

/* mgmtd.c */
/* The channel to a daemon (PROC_QUEUED, PROC_BOUNCED, PROC_TERND), or
 * NULL when it is not connected. */
struct mproc	*mgmtd_peer(int proc);
const struct cfg *mgmtd_cfg(void);

/* ctl_server.c */
void	ctl_server_listen(int fd);
void	ctl_server_close(void);

/* ctl_req.c */
/* Answer conn with j (reference stolen). */
void	ctl_conn_reply(struct ctl_conn *, json_t *j);
void	ctl_conn_error(struct ctl_conn *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	ctl_conn_set_req(struct ctl_conn *, void *req);
/* A request line of conn: answer it now or after asking daemons. */
void	ctl_req_start(struct ctl_conn *, char *line);
/* A reply from a daemon to request `id`. */
void	ctl_req_reply(int proc, struct imsg *);
/* The daemon went away: requests waiting for it fail now. */
void	ctl_req_peer_lost(int proc);
/* The client of req went away. */
void	ctl_req_detach(void *req);
/* A request answered by one daemon alone, bounced or ternd
 * (ctl_bounced.c): the channel to build the question on, with *id as its
 * peerid; NULL when the daemon is not there (conn has its error). */
struct mproc *ctl_req_forward(struct ctl_conn *, int proc, uint32_t *id);

/* The value of "--name=V" or "--name V" at w[*i] (i moves past it);
 * NULL if w[*i] is not that option. */
const char *ctl_optval(char **w, int n, int *i, const char *name);

/* ctl_bounced.c: suppression list and accounting rotation */
void	ctl_suppression(struct ctl_conn *, char **w, int n);
void	ctl_rotate(struct ctl_conn *, char **w, int n);

/*
 * The verb table: one line per verb, so that other modules
 * (ctl_reload.c, ctl_rotate.c, ...) add theirs with one entry in
 * ctl_req.c.  w1 NULL: a one-word verb.  The handler gets every word of
 * the request (w[0] is the verb) and answers conn, now or later.
 */
struct ctl_verb {
	const char	*w0;
	const char	*w1;
	void		(*fn)(struct ctl_conn *, char **w, int n);
};

/* ctl_resolve.c */
/* deliverd's CTL_RESOLVE as JSON: {"domain", "ok", "error"?, "ttl",
 * "mx":[{"host","pref","addresses":[..],"error"?}]} */
json_t	*ctl_resolve_json(const char *domain, struct msg *);
/* A DNS name fit to send to the resolver (letters, digits, -, _, .). */
int	 ctl_resolve_valid(const char *domain);

/* ctl_list.c */
struct ctl_listopt {
	const char	*domain;	/* only this domain */
	const char	*vmta;		/* only this VMTA */
	const char	*mode;		/* only queues in this mode */
	int		 errors;	/* only queues with a last error */
	int		 paused;	/* 1 paused, 0 not, -1 any */
	int		 group;		/* LIST_QUEUES, LIST_DOMAINS, ... */
	int		 top;		/* sort by recipients, descending */
	long		 maxitems;	/* 0: all */
};
enum { LIST_QUEUES, LIST_DOMAINS, LIST_VMTAS };
/* Options of a listing ("--domain=D", "--vmta V", "--errors", ...)
 * from words; -1 with *err on a bad option. */
int	 ctl_list_parse(char **w, int n, struct ctl_listopt *, const char **err);
/* queued's queue array reshaped by opt (queues is not stolen). */
json_t	*ctl_list(const json_t *queues, const struct ctl_listopt *);

/* ctl_settings.c */
/* {"queue":..., "settings":{name: value}} for "domain[/vmta]" or the
 * global settings when queue is NULL; NULL with *err on failure. */
json_t	*ctl_settings(const struct cfg *, const char *queue, const char **err);

/* http_server.c */
void	http_listen(int fd);
void	http_configure(const struct cfg *);
void	http_htpasswd(int fd);
void	http_tls_cert(int fd);
void	http_close(void);

/* http_history.c */
void	history_start(void);
/* {"minutes":[{"t":unix,"received":..,...} x 60], "lastHour":{...}} */
json_t	*history_json(void);

#endif
