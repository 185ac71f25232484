/*
 * resolver.c - udns on the libuv loop; see resolver.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <udns.h>

#include "daemon.h"
#include "log.h"
#include "mproc.h"
#include "resolver.h"
#include "util.h"

#define RESOLVER_HOST_MAX	8
#define RESOLVER_MAX_SERVERS	8	/* udns' own limit (DNS_MAXSERV) */

/* One udns context: its socket and its timer on the loop. */
struct res_ctx {
	struct dns_ctx	*ctx;
	uv_poll_t	 poll;
	uv_timer_t	 timer;
};

static int		 res_state;	/* 0: not tried, 1: ready, -1: failed */
static char		*host_servers[RESOLVER_HOST_MAX];
static int		 nhost_servers;
static char		 res_error[128];
/* ctxs[0] is udns' default context (the servers in order); ctxs[i] asks
 * the servers from the i-th on, for dns-rotate. */
static struct res_ctx	 ctxs[RESOLVER_MAX_SERVERS];
static int		 nctxs;
static int		 nextctx;
static struct sockaddr_storage servers[RESOLVER_MAX_SERVERS];
static int		 nservers;

static void
resolver_timer_cb(uv_timer_t *t)
{
	struct res_ctx *rc = t->data;

	dns_timeouts(rc->ctx, -1, 0);
}

/* udns asks for its one timer per context through dns_set_tmcbck(). */
static void
resolver_utm(struct dns_ctx *ctx, int timeout, void *data)
{
	struct res_ctx *rc = data;

	if (ctx == NULL || timeout < 0)
		uv_timer_stop(&rc->timer);
	else
		uv_timer_start(&rc->timer, resolver_timer_cb,
		    (uint64_t)timeout * 1000, 0);
}

static void
resolver_poll_cb(uv_poll_t *p, int status, int events)
{
	struct res_ctx *rc = p->data;

	dns_ioevent(rc->ctx, 0);
}

void
resolver_host_servers(struct imsg *imsg)
{
	const char *a;
	struct msg m;
	uint32_t n, i;

	m_msg(&m, imsg);
	m_get_u32(&m, &n);
	for (i = 0; i < (uint32_t)nhost_servers; i++)
		free(host_servers[i]);
	nhost_servers = 0;
	for (i = 0; i < n; i++) {
		m_get_string(&m, &a);
		if (a != NULL && nhost_servers < RESOLVER_HOST_MAX)
			host_servers[nhost_servers++] = xstrdup(a);
	}
	m_end(&m);
	log_debug("%d name server(s) from the host's resolv.conf",
	    nhost_servers);
}

/* "IP" or "IP:PORT" (port 53 by default) into servers[]; -1: bad. */
static int
resolver_add_server(const char *spec)
{
	struct sockaddr_storage ss;
	const char *err;
	char host[256];
	int port;

	memset(&ss, 0, sizeof(ss));
	if (cfg_parse_hostport(spec, host, sizeof(host), &port, 53,
	    &err) == -1 ||
	    (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
	    uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0))
		return -1;
	if (nservers < RESOLVER_MAX_SERVERS)
		servers[nservers++] = ss;
	return 0;
}

/* name-server directives, else the host's servers from ternd: the list
 * udns is given instead of what it found (nothing, in the chroot). */
static int
resolver_servers(const struct cfg *cfg)
{
	struct cfg_node *n;
	int i;

	nservers = 0;
	n = cfg_child(cfg->root, "name-server");
	if (n == NULL) {
		for (i = 0; i < nhost_servers; i++)
			if (resolver_add_server(host_servers[i]) == -1)
				log_warnx("bad name server %s in resolv.conf",
				    host_servers[i]);
		return 0;
	}
	for (; n != NULL; n = cfg_next_named(n, "name-server"))
		if (resolver_add_server(n->arg) == -1) {
			snprintf(res_error, sizeof(res_error),
			    "bad name-server %s", n->arg);
			return -1;
		}
	return 0;
}

/* Give context i the servers from the i-th on, wrapping: udns starts
 * each query at its context's first server and goes to the next one
 * when it times out. */
static int
resolver_ctx_servers(struct dns_ctx *ctx, int first)
{
	int i;

	if (dns_add_serv(ctx, NULL) < 0)
		return -1;
	for (i = 0; i < nservers; i++)
		if (dns_add_serv_s(ctx,
		    (struct sockaddr *)&servers[(first + i) % nservers]) < 0)
			return -1;
	return 0;
}

/*
 * dns-timeout is the time a lookup may take in all: udns doubles its
 * timeout on each of its tries, so two tries of a third of it fit.
 */
static void
resolver_options(const struct cfg *cfg)
{
	int64_t secs;
	int i;

	secs = cfg_time(cfg->root, "dns-timeout", 0);
	if (secs <= 0)
		return;
	if (secs > 300)
		secs = 300;
	for (i = 0; i < nctxs; i++) {
		dns_set_opt(ctxs[i].ctx, DNS_OPT_TIMEOUT,
		    secs >= 3 ? secs / 3 : 1);
		dns_set_opt(ctxs[i].ctx, DNS_OPT_NTRIES, secs >= 3 ? 2 : 1);
	}
}

void
resolver_reconfig(const struct cfg *cfg)
{
	if (res_state == 1)
		resolver_options(cfg);
}

/* Open context rc and watch its socket and timer on the loop. */
static int
resolver_ctx_open(struct res_ctx *rc)
{
	int fd;

	if ((fd = dns_open(rc->ctx)) < 0) {
		snprintf(res_error, sizeof(res_error), "cannot open the "
		    "resolver socket: %s", dns_strerror(dns_status(rc->ctx)));
		return -1;
	}
	uv_poll_init(daemon_loop(), &rc->poll, fd);
	rc->poll.data = rc;
	uv_poll_start(&rc->poll, UV_READABLE, resolver_poll_cb);
	uv_timer_init(daemon_loop(), &rc->timer);
	rc->timer.data = rc;
	dns_set_tmcbck(rc->ctx, resolver_utm, rc);
	return 0;
}

int
resolver_init(const struct cfg *cfg)
{
	int i;

	if (res_state != 0)
		return res_state == 1 ? 0 : -1;
	res_state = -1;
	strlcpy(res_error, "cannot initialise the resolver",
	    sizeof(res_error));
	if (dns_init(NULL, 0) < 0 || resolver_servers(cfg) == -1)
		return -1;
	ctxs[0].ctx = &dns_defctx;
	nctxs = 1;
	if (nservers > 0 && resolver_ctx_servers(&dns_defctx, 0) == -1)
		return -1;
	for (i = 1; i < nservers; i++) {
		if ((ctxs[i].ctx = dns_new(&dns_defctx)) == NULL ||
		    resolver_ctx_servers(ctxs[i].ctx, i) == -1)
			return -1;
		nctxs++;
	}
	resolver_options(cfg);
	for (i = 0; i < nctxs; i++)
		if (resolver_ctx_open(&ctxs[i]) == -1)
			return -1;
	res_state = 1;
	return 0;
}

struct dns_ctx *
resolver_ctx(int rotate)
{
	if (!rotate || nctxs <= 1)
		return ctxs[0].ctx;
	nextctx = (nextctx + 1) % nctxs;
	return ctxs[nextctx].ctx;
}

const char *
resolver_error(void)
{
	return res_state == 1 ? NULL : res_error;
}
