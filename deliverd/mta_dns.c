/*
 * mta_dns.c - MX and address lookups with udns on the libuv loop.
 *
 * One resolver context per process: its UDP socket is watched with a
 * uv_poll_t and its single timer is a uv_timer_t (udns asks for it through
 * dns_set_tmcbck).  The name servers are those of /etc/resolv.conf unless
 * the config names some (`name-server host[:port]`, tests use that to
 * point us at a fake server on loopback).
 *
 * The MX answer is turned into an ordered host list here: by preference,
 * equal preferences shuffled (RFC 5321 5.1), no MX record = the domain
 * itself (implicit MX), a lone "." = null MX (RFC 7505).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <udns.h>

#include "daemon.h"
#include "log.h"
#include "mta.h"

struct mta_dnsreq {
	struct dns_query	*q;
	mta_dns_mx_cb		 mxcb;
	mta_dns_addr_cb		 addrcb;
	void			*arg;
	char			*name;
	int			 port;
};

static int		 dns_state;	/* 0: not tried, 1: ready, -1: failed */
static char		 dns_error[128];
static uv_poll_t	 dns_poll;
static uv_timer_t	 dns_timer;

static void
mta_dns_timer_cb(uv_timer_t *t)
{
	dns_timeouts(NULL, -1, 0);
}

static void
mta_dns_utm(struct dns_ctx *ctx, int timeout, void *data)
{
	if (ctx == NULL || timeout < 0)
		uv_timer_stop(&dns_timer);
	else
		uv_timer_start(&dns_timer, mta_dns_timer_cb,
		    (uint64_t)timeout * 1000, 0);
}

static void
mta_dns_poll_cb(uv_poll_t *p, int status, int events)
{
	dns_ioevent(NULL, 0);
}

/* name-server directives replace resolv.conf's servers. */
static int
mta_dns_servers(void)
{
	struct cfg_node *n;
	struct sockaddr_storage ss;
	const char *err;
	char host[256];
	int port, first = 1;

	n = cfg_child(mta_cfg()->root, "name-server");
	for (; n != NULL; n = cfg_next_named(n, "name-server")) {
		if (cfg_parse_hostport(n->arg, host, sizeof(host), &port, 53,
		    &err) == -1 ||
		    (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
		    uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)) {
			snprintf(dns_error, sizeof(dns_error),
			    "bad name-server %s", n->arg);
			return -1;
		}
		if (first && dns_add_serv(NULL, NULL) < 0)
			return -1;
		first = 0;
		if (dns_add_serv_s(NULL, (struct sockaddr *)&ss) < 0) {
			snprintf(dns_error, sizeof(dns_error),
			    "too many name servers");
			return -1;
		}
	}
	return 0;
}

/* Set up the resolver on first use.  0: ready. */
static int
mta_dns_init(void)
{
	int fd;

	if (dns_state != 0)
		return dns_state == 1 ? 0 : -1;
	dns_state = -1;
	strlcpy(dns_error, "cannot initialise the resolver",
	    sizeof(dns_error));
	if (dns_init(NULL, 0) < 0 || mta_dns_servers() == -1)
		return -1;
	if ((fd = dns_open(NULL)) < 0) {
		snprintf(dns_error, sizeof(dns_error), "cannot open the "
		    "resolver socket: %s", dns_strerror(dns_status(NULL)));
		return -1;
	}
	uv_poll_init(daemon_loop(), &dns_poll, fd);
	uv_poll_start(&dns_poll, UV_READABLE, mta_dns_poll_cb);
	uv_timer_init(daemon_loop(), &dns_timer);
	dns_set_tmcbck(NULL, mta_dns_utm, NULL);
	dns_state = 1;
	return 0;
}

const char *
mta_dns_error(void)
{
	return mta_dns_init() == 0 ? NULL : dns_error;
}

static struct mta_dnsreq *
mta_dns_req(const char *name, void *arg)
{
	struct mta_dnsreq *r;

	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->name = strdup(name)) == NULL)
		fatal("mta_dns_req");
	r->arg = arg;
	return r;
}

static void
mta_dns_req_free(struct mta_dnsreq *r)
{
	free(r->name);
	free(r);
}

void
mta_dns_cancel(struct mta_dnsreq *r)
{
	if (r == NULL)
		return;
	dns_cancel(NULL, r->q);
	mta_dns_req_free(r);
}

static int
mta_dns_status(int st)
{
	switch (st) {
	case DNS_E_NXDOMAIN:
		return MTA_DNS_NXDOMAIN;
	case DNS_E_NODATA:
		return MTA_DNS_NODATA;
	default:
		return MTA_DNS_TEMP;
	}
}

/* --- MX --- */

static int
mta_dns_mx_cmp(const void *a, const void *b)
{
	const struct dns_mx *x = a, *y = b;

	return x->priority < y->priority ? -1 : x->priority > y->priority;
}

/* Sort by preference, then shuffle each run of equal preference. */
static void
mta_dns_mx_order(struct dns_mx *mx, int n)
{
	struct dns_mx t;
	int i, j, k;

	qsort(mx, n, sizeof(*mx), mta_dns_mx_cmp);
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && mx[j].priority == mx[i].priority; j++)
			;
		for (k = j - 1; k > i; k--) {
			int r = i + arc4random_uniform(k - i + 1);

			t = mx[k];
			mx[k] = mx[r];
			mx[r] = t;
		}
	}
}

static struct mta_host *
mta_dns_hosts(const char *const *names, int n, int port)
{
	struct mta_host *h;
	int i;

	if ((h = calloc(n, sizeof(*h))) == NULL)
		fatal("mta_dns_hosts");
	for (i = 0; i < n; i++) {
		if ((h[i].name = strdup(names[i])) == NULL)
			fatal("mta_dns_hosts");
		h[i].port = port;
		h[i].dns = 1;
	}
	return h;
}

static void
mta_dns_mx_result(struct dns_ctx *ctx, struct dns_rr_mx *rr, void *arg)
{
	struct mta_dnsreq *r = arg;
	struct mta_host *hosts;
	const char **names;
	unsigned ttl = 300;
	int i, st, n = 0;

	st = rr ? 0 : dns_status(ctx);
	if (st == DNS_E_NODATA || (rr && rr->dnsmx_nrr == 0)) {
		/* No MX: the domain is its own mail host (RFC 5321 5.1). */
		hosts = mta_dns_hosts((const char *const *)&r->name, 1,
		    r->port);
		r->mxcb(r->arg, MTA_DNS_OK, hosts, 1, ttl);
	} else if (rr == NULL)
		r->mxcb(r->arg, mta_dns_status(st), NULL, 0, 0);
	else if (rr->dnsmx_nrr == 1 && (rr->dnsmx_mx[0].name[0] == '\0' ||
	    strcmp(rr->dnsmx_mx[0].name, ".") == 0))
		r->mxcb(r->arg, MTA_DNS_NULLMX, NULL, 0, 0);
	else {
		mta_dns_mx_order(rr->dnsmx_mx, rr->dnsmx_nrr);
		if ((names = calloc(rr->dnsmx_nrr, sizeof(*names))) == NULL)
			fatal("mta_dns_mx_result");
		for (i = 0; i < rr->dnsmx_nrr; i++)
			if (rr->dnsmx_mx[i].name[0] != '\0')
				names[n++] = rr->dnsmx_mx[i].name;
		ttl = rr->dnsmx_ttl;
		if (n == 0)
			r->mxcb(r->arg, MTA_DNS_NULLMX, NULL, 0, 0);
		else {
			hosts = mta_dns_hosts(names, n, r->port);
			r->mxcb(r->arg, MTA_DNS_OK, hosts, n, ttl);
		}
		free(names);
	}
	free(rr);
	mta_dns_req_free(r);
}

struct mta_dnsreq *
mta_dns_mx(const char *domain, int port, mta_dns_mx_cb cb, void *arg)
{
	struct mta_dnsreq *r;

	if (mta_dns_init() == -1)
		return NULL;
	r = mta_dns_req(domain, arg);
	r->mxcb = cb;
	r->port = port;
	r->q = dns_submit_mx(NULL, domain, DNS_NOSRCH, mta_dns_mx_result, r);
	if (r->q == NULL) {
		mta_dns_req_free(r);
		return NULL;
	}
	return r;
}

/* --- addresses --- */

static void
mta_dns_a_result(struct dns_ctx *ctx, struct dns_rr_a4 *rr, void *arg)
{
	struct mta_dnsreq *r = arg;
	struct sockaddr_storage *ss = NULL;
	struct sockaddr_in *sin;
	int i, n = rr ? rr->dnsa4_nrr : 0;

	if (n > 0 && (ss = calloc(n, sizeof(*ss))) == NULL)
		fatal("mta_dns_a_result");
	for (i = 0; i < n; i++) {
		sin = (struct sockaddr_in *)&ss[i];
		sin->sin_family = AF_INET;
		sin->sin_addr = rr->dnsa4_addr[i];
	}
	if (n > 0)
		r->addrcb(r->arg, MTA_DNS_OK, ss, n);
	else
		r->addrcb(r->arg, rr ? MTA_DNS_NODATA :
		    mta_dns_status(dns_status(ctx)), NULL, 0);
	free(rr);
	mta_dns_req_free(r);
}

/* IPv4 only for now: an AAAA lookup and happy eyeballs come later. */
struct mta_dnsreq *
mta_dns_addr(const char *name, mta_dns_addr_cb cb, void *arg)
{
	struct mta_dnsreq *r;

	if (mta_dns_init() == -1)
		return NULL;
	r = mta_dns_req(name, arg);
	r->addrcb = cb;
	r->q = dns_submit_a4(NULL, name, DNS_NOSRCH, mta_dns_a_result, r);
	if (r->q == NULL) {
		mta_dns_req_free(r);
		return NULL;
	}
	return r;
}

const char *
mta_dns_strstatus(int st)
{
	switch (st) {
	case MTA_DNS_NXDOMAIN:
		return "no such domain";
	case MTA_DNS_NODATA:
		return "no address record";
	case MTA_DNS_NULLMX:
		return "null MX";
	case MTA_DNS_OK:
		return "ok";
	default:
		return "temporary DNS failure";
	}
}
