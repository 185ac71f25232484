/*
 * mgmtd.h - the management daemon: the control socket of the `tern` CLI.
 *
 *	mgmtd.c		the daemon: config, peers, replies from daemons
 *	ctl_server.c	the control socket: connections, one request line
 *			in, one JSON document out
 *	ctl_req.c	requests: what to ask which daemon, waiting for the
 *			answers (5 s at most), building the JSON reply
 *	ctl_settings.c	"show settings": the running configuration
 */
#ifndef TERN_MGMTD_H
#define TERN_MGMTD_H

#include <stdint.h>
#include <jansson.h>
#include <uv.h>

#include "cfg.h"
#include "mproc.h"

struct ctl_conn;

/* mgmtd.c */
/* The channel to a daemon (PROC_QUEUED, PROC_BOUNCED, PROC_TERND), or
 * NULL when it is not connected. */
struct mproc	*mgmtd_peer(int proc);
const struct cfg *mgmtd_cfg(void);

/* ctl_server.c */
void	ctl_server_listen(int fd);
void	ctl_server_close(void);
/* Answer the request of conn with j (reference stolen) and close. */
void	ctl_conn_reply(struct ctl_conn *, json_t *j);
void	ctl_conn_error(struct ctl_conn *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Park a request on conn; should the client go away first, the request
 * is told with ctl_req_detach(). */
void	ctl_conn_set_req(struct ctl_conn *, void *req);

/* ctl_req.c */
/* A request line of conn: answer it now or after asking daemons. */
void	ctl_req_start(struct ctl_conn *, char *line);
/* A reply from a daemon to request `id`. */
void	ctl_req_reply(int proc, struct imsg *);
/* The daemon went away: requests waiting for it fail now. */
void	ctl_req_peer_lost(int proc);
/* The client of req went away. */
void	ctl_req_detach(void *req);

/* ctl_settings.c */
/* {"queue":..., "settings":{name: value}} for "domain[/vmta]" or the
 * global settings when queue is NULL; NULL with *err on failure. */
json_t	*ctl_settings(const struct cfg *, const char *queue, const char **err);

#endif
