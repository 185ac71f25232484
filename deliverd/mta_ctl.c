/*
 * mta_ctl.c - what the operator asks deliverd directly.
 *
 * `tern resolve DOMAIN` (CTL_RESOLVE_REQ from mgmtd): the MX hosts of a
 * domain and their addresses, looked up through mta_dns.c exactly as a
 * delivery would, so the answer comes from (and fills) the same cache
 * with the same name servers, ordering and null-MX/implicit-MX rules.
 *
 * `tern set queue --mode` (CTL_QUEUE_FORCE, relayed by queued, which
 * remembers it for deliverd restarts): see mta_backoff.c.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon.h"
#include "log.h"
#include "mta.h"
#include "proto.h"
#include "util.h"

#define RESOLVE_MAX_PENDING	32	/* lookups of mgmtd at once */
#define RESOLVE_MAX_HOSTS	16	/* MX hosts whose addresses we get */

struct resolve_host {
	struct resolve		*res;
	char			*name;
	int			 pref;
	int			 status;
	struct sockaddr_storage	*addrs;
	int			 naddrs;
	struct mta_dnsreq	*req;
};

struct resolve {
	uint32_t		 reqid;
	char			 domain[256];
	int			 status;
	unsigned		 ttl;
	struct resolve_host	 hosts[RESOLVE_MAX_HOSTS];
	int			 nhosts;
	int			 pending;
};

static int	resolve_npending;

void
mta_ctl_force(struct imsg *imsg)
{
	struct msg m;
	const char *name;
	uint32_t backoff;

	m_msg(&m, imsg);
	m_get_string(&m, &name);
	m_get_u32(&m, &backoff);
	m_end(&m);
	mta_backoff_force(name ? name : "", backoff != 0);
}

static void
resolve_free(struct resolve *r)
{
	int i;

	for (i = 0; i < r->nhosts; i++) {
		free(r->hosts[i].name);
		free(r->hosts[i].addrs);
	}
	free(r);
	resolve_npending--;
}

static void
resolve_addr_text(const struct sockaddr_storage *ss, char *buf, size_t sz)
{
	const void *a = ss->ss_family == AF_INET6 ?
	    (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr :
	    (const void *)&((const struct sockaddr_in *)ss)->sin_addr;

	if (inet_ntop(ss->ss_family, a, buf, sz) == NULL)
		strlcpy(buf, "?", sz);
}

/* Everything is known: answer mgmtd (if it is still there). */
static void
resolve_reply(struct resolve *r)
{
	struct mproc *p = mta_mgmtd();
	struct resolve_host *h;
	char addr[INET6_ADDRSTRLEN];
	int i, k;

	if (p != NULL) {
		m_create(p, CTL_RESOLVE, r->reqid, -1);
		m_add_u32(p, r->status);
		m_add_string(p, r->status == MTA_DNS_OK ? NULL :
		    r->status < 0 ? mta_dns_error() :
		    mta_dns_strstatus(r->status));
		m_add_u32(p, r->ttl);
		m_add_u32(p, r->nhosts);
		for (i = 0; i < r->nhosts; i++) {
			h = &r->hosts[i];
			m_add_string(p, h->name);
			m_add_u32(p, h->pref);
			m_add_string(p, h->status == MTA_DNS_OK ? NULL :
			    h->status < 0 ? mta_dns_error() :
			    mta_dns_strstatus(h->status));
			m_add_u32(p, h->naddrs);
			for (k = 0; k < h->naddrs; k++) {
				resolve_addr_text(&h->addrs[k], addr,
				    sizeof(addr));
				m_add_string(p, addr);
			}
		}
		m_close(p);
	}
	resolve_free(r);
}

static void
resolve_addr_cb(void *arg, int status, struct sockaddr_storage *ss, int n)
{
	struct resolve_host *h = arg;
	struct resolve *r = h->res;

	h->req = NULL;
	h->status = status;
	h->addrs = ss;
	h->naddrs = n;
	if (--r->pending == 0)
		resolve_reply(r);
}

/* The preference of each host, from the cached answer (the callback
 * gives the hosts in the order they are tried, without it). */
static void
resolve_prefs(struct resolve *r)
{
	struct mta_dns_entry *e;
	int i, k;

	if ((e = mta_dns_cache_get(MTA_DNS_C_MX, r->domain)) == NULL)
		return;
	for (i = 0; i < r->nhosts; i++)
		for (k = 0; k < e->n; k++)
			if (strcasecmp(e->mx[k].name, r->hosts[i].name) == 0)
				r->hosts[i].pref = e->mx[k].pref;
	mta_dns_entry_free(e);
}

static void
resolve_mx_cb(void *arg, int status, struct mta_host *hosts, int n,
    unsigned ttl)
{
	struct resolve *r = arg;
	struct resolve_host *h;
	int i;

	r->status = status;
	r->ttl = ttl;
	for (i = 0; i < n; i++) {
		if (r->nhosts < RESOLVE_MAX_HOSTS) {
			h = &r->hosts[r->nhosts++];
			h->res = r;
			h->name = hosts[i].name;
			h->pref = -1;
		} else
			free(hosts[i].name);
	}
	free(hosts);
	resolve_prefs(r);
	/* One extra count so that an answer from the cache, which comes on
	 * a later loop turn anyway, cannot end r while we still loop. */
	r->pending = 1;
	for (i = 0; i < r->nhosts; i++) {
		h = &r->hosts[i];
		r->pending++;
		if ((h->req = mta_dns_addr(h->name, 0, 0, resolve_addr_cb, h)) ==
		    NULL) {
			h->status = -1;
			r->pending--;
		}
	}
	if (--r->pending == 0)
		resolve_reply(r);
}

static void
resolve_start(uint32_t reqid, const char *domain)
{
	struct resolve *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		fatal("resolve_start");
	resolve_npending++;
	r->reqid = reqid;
	strlcpy(r->domain, domain ? domain : "", sizeof(r->domain));
	if (domain == NULL || *domain == '\0' || strlen(domain) > 253 ||
	    resolve_npending > RESOLVE_MAX_PENDING) {
		r->status = MTA_DNS_TEMP;
		resolve_reply(r);
		return;
	}
	if (mta_dns_mx(r->domain, 25, 0, resolve_mx_cb, r) == NULL) {
		r->status = -1;		/* the resolver: mta_dns_error() */
		resolve_reply(r);
	}
}

void
mta_ctl_msg(struct mproc *p, struct imsg *imsg)
{
	struct msg m;
	const char *domain;

	if (imsg->hdr.type != CTL_RESOLVE_REQ)
		fatalx("unexpected %s from mgmtd", proto_name(imsg->hdr.type));
	m_msg(&m, imsg);
	m_get_string(&m, &domain);
	m_end(&m);
	resolve_start(imsg->hdr.peerid, domain);
}
