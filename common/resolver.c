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

static int		 res_state;	/* 0: not tried, 1: ready, -1: failed */
static char		*host_servers[RESOLVER_HOST_MAX];
static int		 nhost_servers;
static char		 res_error[128];
static uv_poll_t	 res_poll;
static uv_timer_t	 res_timer;

static void
resolver_timer_cb(uv_timer_t *t)
{
	dns_timeouts(NULL, -1, 0);
}

/* udns asks for its one timer through dns_set_tmcbck(). */
static void
resolver_utm(struct dns_ctx *ctx, int timeout, void *data)
{
	if (ctx == NULL || timeout < 0)
		uv_timer_stop(&res_timer);
	else
		uv_timer_start(&res_timer, resolver_timer_cb,
		    (uint64_t)timeout * 1000, 0);
}

static void
resolver_poll_cb(uv_poll_t *p, int status, int events)
{
	dns_ioevent(NULL, 0);
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

/* name-server directives, else the host's servers from ternd, replace
 * what udns found (nothing, in the chroot). */
static int
resolver_servers(const struct cfg *cfg)
{
	struct cfg_node *n;
	struct sockaddr_storage ss;
	const char *err;
	char host[256];
	int i, port, first = 1;

	n = cfg_child(cfg->root, "name-server");
	if (n == NULL && nhost_servers > 0) {
		if (dns_add_serv(NULL, NULL) < 0)
			return -1;
		for (i = 0; i < nhost_servers; i++)
			if (dns_add_serv(NULL, host_servers[i]) < 0)
				log_warnx("bad name server %s in resolv.conf",
				    host_servers[i]);
		return 0;
	}
	for (; n != NULL; n = cfg_next_named(n, "name-server")) {
		memset(&ss, 0, sizeof(ss));
		if (cfg_parse_hostport(n->arg, host, sizeof(host), &port, 53,
		    &err) == -1 ||
		    (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
		    uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)) {
			snprintf(res_error, sizeof(res_error),
			    "bad name-server %s", n->arg);
			return -1;
		}
		if (first && dns_add_serv(NULL, NULL) < 0)
			return -1;
		first = 0;
		if (dns_add_serv_s(NULL, (struct sockaddr *)&ss) < 0) {
			snprintf(res_error, sizeof(res_error),
			    "too many name servers");
			return -1;
		}
	}
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

	secs = cfg_time(cfg->root, "dns-timeout", 0);
	if (secs <= 0)
		return;
	if (secs > 300)
		secs = 300;
	dns_set_opt(NULL, DNS_OPT_TIMEOUT, secs >= 3 ? secs / 3 : 1);
	dns_set_opt(NULL, DNS_OPT_NTRIES, secs >= 3 ? 2 : 1);
}

void
resolver_reconfig(const struct cfg *cfg)
{
	if (res_state == 1)
		resolver_options(cfg);
}

int
resolver_init(const struct cfg *cfg)
{
	int fd;

	if (res_state != 0)
		return res_state == 1 ? 0 : -1;
	res_state = -1;
	strlcpy(res_error, "cannot initialise the resolver",
	    sizeof(res_error));
	if (dns_init(NULL, 0) < 0 || resolver_servers(cfg) == -1)
		return -1;
	resolver_options(cfg);
	if ((fd = dns_open(NULL)) < 0) {
		snprintf(res_error, sizeof(res_error), "cannot open the "
		    "resolver socket: %s", dns_strerror(dns_status(NULL)));
		return -1;
	}
	uv_poll_init(daemon_loop(), &res_poll, fd);
	uv_poll_start(&res_poll, UV_READABLE, resolver_poll_cb);
	uv_timer_init(daemon_loop(), &res_timer);
	dns_set_tmcbck(NULL, resolver_utm, NULL);
	res_state = 1;
	return 0;
}

const char *
resolver_error(void)
{
	return res_state == 1 ? NULL : res_error;
}
