/*
 * mta_dns.c - MX and address lookups with udns on the libuv loop.
 *
 * The udns context on the libuv loop, its name servers and dns-timeout
 * are common/resolver.c's (smtpd uses the same for iprev).
 *
 * Answers are cached (mta_dns_cache.c) for their TTL within bounds, so
 * that a busy domain costs one MX lookup per TTL, not one per connection.
 * A cache hit is still answered from the loop, never from inside the
 * call, so callers can store the request handle before the callback runs.
 *
 * The MX answer is turned into an ordered host list here: by preference,
 * equal preferences shuffled (RFC 5321 5.1), no MX record = the domain
 * itself (implicit MX), a lone "." = null MX (RFC 7505).  Addresses are
 * looked up as A and AAAA together; IPv4 comes first.  A queue that can
 * only connect over IPv4 (every source address IPv4) asks A alone.
 *
 * The A records of MX hosts that come in the MX answer's additional
 * section are kept as their address answers (mta_dns_glue.c).
 *
 * A name is asked once at a time: a request for (kind, name) while the
 * same lookup is in flight waits for its answer (mta_dnslook) instead
 * of sending the queries again, as queues of one domain through many
 * VMTAs, or sessions of one MX host, would.
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
#include "mta_dns_glue.h"
#include "resolver.h"

enum { REQ_MX, REQ_ADDR, REQ_ADDR4 };

struct mta_dnslook;

/* What a caller holds: one request, answered from the cache or by a
 * lookup it shares with others. */
struct mta_dnsreq {
	TAILQ_ENTRY(mta_dnsreq)	 entry;		/* dns_ready, or look->waiters */
	int			 kind;
	struct mta_dnslook	*look;		/* waiting for this lookup */
	mta_dns_mx_cb		 mxcb;
	mta_dns_addr_cb		 addrcb;
	void			*arg;
	char			*name;
	int			 port;
	/* the answer to hand over (owned until the callback) */
	struct mta_dns_entry	*ans;
};

TAILQ_HEAD(mta_dnsreqs, mta_dnsreq);

/* The queries in flight for one (kind, name). */
struct mta_dnslook {
	RB_ENTRY(mta_dnslook)	 entry;
	int			 kind;
	char			*name;
	struct dns_ctx		*ctx;		/* the queries' (dns-rotate) */
	struct dns_query	*q[2];		/* MX, or A and AAAA */
	int			 pending;
	int			 answering;	/* callbacks under way */
	struct mta_dnsreqs	 waiters;
	/* address lookups: what came back so far */
	int			 st[2];
	unsigned		 ttl;
	struct sockaddr_storage	*addrs;
	int			 naddrs;
};

RB_HEAD(mta_dnslooks, mta_dnslook);

static int
mta_dnslook_cmp(struct mta_dnslook *a, struct mta_dnslook *b)
{
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	return strcasecmp(a->name, b->name);
}

RB_PROTOTYPE(mta_dnslooks, mta_dnslook, entry, mta_dnslook_cmp);
RB_GENERATE(mta_dnslooks, mta_dnslook, entry, mta_dnslook_cmp);

static struct mta_dnslooks looks = RB_INITIALIZER(&looks);

static struct mta_dnsreqs dns_ready = TAILQ_HEAD_INITIALIZER(dns_ready);

static uv_timer_t	 dns_ready_timer;
static int		 dns_ready_init;

static void	mta_dns_ready_cb(uv_timer_t *);

/* Set up the resolver (common/resolver.c) on first use.  0: ready. */
static int
mta_dns_init(void)
{
	if (resolver_init(mta_cfg()) == -1)
		return -1;
	if (!dns_ready_init) {
		uv_timer_init(daemon_loop(), &dns_ready_timer);
		dns_ready_init = 1;
	}
	return 0;
}

void
mta_dns_reconfig(void)
{
	resolver_reconfig(mta_cfg());
}

const char *
mta_dns_error(void)
{
	return mta_dns_init() == 0 ? NULL : resolver_error();
}

static struct mta_dnsreq *
mta_dns_req(int kind, const char *name, void *arg)
{
	struct mta_dnsreq *r;

	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->name = strdup(name)) == NULL)
		fatal("mta_dns_req");
	r->kind = kind;
	r->arg = arg;
	return r;
}

static void
mta_dns_req_free(struct mta_dnsreq *r)
{
	mta_dns_entry_free(r->ans);
	free(r->name);
	free(r);
}

static void
mta_dnslook_free(struct mta_dnslook *l)
{
	int i;

	for (i = 0; i < 2; i++)
		if (l->q[i] != NULL)
			dns_cancel(l->ctx, l->q[i]);
	if (!l->answering)
		RB_REMOVE(mta_dnslooks, &looks, l);
	free(l->addrs);
	free(l->name);
	free(l);
}

void
mta_dns_cancel(struct mta_dnsreq *r)
{
	struct mta_dnslook *l;

	if (r == NULL)
		return;
	if ((l = r->look) != NULL) {
		TAILQ_REMOVE(&l->waiters, r, entry);
		/* Nobody waits for it any more: stop asking. */
		if (TAILQ_EMPTY(&l->waiters) && !l->answering)
			mta_dnslook_free(l);
	} else
		TAILQ_REMOVE(&dns_ready, r, entry);
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

/* --- handing answers over --- */

/* Sort by preference, then shuffle each run of equal preference. */
static int
mta_dns_mx_cmp(const void *a, const void *b)
{
	const struct mta_dns_mx *x = a, *y = b;

	return x->pref < y->pref ? -1 : x->pref > y->pref;
}

void
mta_dns_mx_order(struct mta_dns_mx *mx, int n)
{
	struct mta_dns_mx t;
	int i, j, k;

	qsort(mx, n, sizeof(*mx), mta_dns_mx_cmp);
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && mx[j].pref == mx[i].pref; j++)
			;
		for (k = j - 1; k > i; k--) {
			int r = i + arc4random_uniform(k - i + 1);

			t = mx[k];
			mx[k] = mx[r];
			mx[r] = t;
		}
	}
}

static void
mta_dns_deliver_mx(struct mta_dnsreq *r, const struct mta_dns_entry *e)
{
	struct mta_dns_mx *mx;
	struct mta_host *h;
	unsigned ttl;
	int i;

	if (e->status != MTA_DNS_OK) {
		r->mxcb(r->arg, e->status, NULL, 0, 0);
		return;
	}
	if ((mx = calloc(e->n, sizeof(*mx))) == NULL ||
	    (h = calloc(e->n, sizeof(*h))) == NULL)
		fatal("mta_dns_deliver_mx");
	memcpy(mx, e->mx, e->n * sizeof(*mx));
	mta_dns_mx_order(mx, e->n);
	for (i = 0; i < e->n; i++) {
		if ((h[i].name = strdup(mx[i].name)) == NULL)
			fatal("mta_dns_deliver_mx");
		h[i].port = r->port;
		h[i].dns = 1;
		h[i].pref = mx[i].pref;
	}
	free(mx);
	ttl = e->expire > time(NULL) ? e->expire - time(NULL) : 0;
	r->mxcb(r->arg, MTA_DNS_OK, h, e->n, ttl);
}

static void
mta_dns_deliver_addr(struct mta_dnsreq *r, const struct mta_dns_entry *e)
{
	struct sockaddr_storage *ss;

	if (e->status != MTA_DNS_OK || e->n == 0) {
		r->addrcb(r->arg, e->status == MTA_DNS_OK ? MTA_DNS_NODATA :
		    e->status, NULL, 0);
		return;
	}
	if ((ss = calloc(e->n, sizeof(*ss))) == NULL)
		fatal("mta_dns_deliver_addr");
	memcpy(ss, e->addrs, e->n * sizeof(*ss));
	r->addrcb(r->arg, MTA_DNS_OK, ss, e->n);
}

/* The request's answer is in r->ans: call back and forget it. */
static void
mta_dns_finish(struct mta_dnsreq *r)
{
	if (r->kind == REQ_MX)
		mta_dns_deliver_mx(r, r->ans);
	else
		mta_dns_deliver_addr(r, r->ans);
	mta_dns_req_free(r);
}

/* The lookup's answer e (kept in the cache already, or not to be): every
 * request that waited for it gets a copy. */
static void
mta_dnslook_answer(struct mta_dnslook *l, struct mta_dns_entry *e)
{
	struct mta_dnsreq *r;

	/* Out of the tree: a request made by a callback starts afresh. */
	RB_REMOVE(mta_dnslooks, &looks, l);
	l->answering = 1;
	while ((r = TAILQ_FIRST(&l->waiters)) != NULL) {
		TAILQ_REMOVE(&l->waiters, r, entry);
		r->look = NULL;
		r->ans = mta_dns_entry_dup(e);
		mta_dns_finish(r);
	}
	mta_dns_entry_free(e);
	mta_dnslook_free(l);
}

/* Join the lookup of (kind, name) in flight, if there is one. */
static int
mta_dnslook_join(struct mta_dnsreq *r)
{
	struct mta_dnslook key, *l;

	key.kind = r->kind;
	key.name = r->name;
	if ((l = RB_FIND(mta_dnslooks, &looks, &key)) == NULL)
		return -1;
	log_debug("dns: %s already asked, waiting for its answer", r->name);
	TAILQ_INSERT_TAIL(&l->waiters, r, entry);
	r->look = l;
	return 0;
}

/* A new lookup for r, queries to be submitted by the caller. */
static struct mta_dnslook *
mta_dnslook_new(struct mta_dnsreq *r, int rotate)
{
	struct mta_dnslook *l;

	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    (l->name = strdup(r->name)) == NULL)
		fatal("mta_dnslook_new");
	l->kind = r->kind;
	l->ctx = resolver_ctx(rotate);
	TAILQ_INIT(&l->waiters);
	TAILQ_INSERT_TAIL(&l->waiters, r, entry);
	r->look = l;
	RB_INSERT(mta_dnslooks, &looks, l);
	return l;
}

/* The queries could not be sent: nobody waits yet but r. */
static void
mta_dnslook_abort(struct mta_dnslook *l, struct mta_dnsreq *r)
{
	TAILQ_REMOVE(&l->waiters, r, entry);
	mta_dnslook_free(l);
	mta_dns_req_free(r);
}

static void
mta_dns_ready_cb(uv_timer_t *t)
{
	struct mta_dnsreq *r;

	while ((r = TAILQ_FIRST(&dns_ready)) != NULL) {
		TAILQ_REMOVE(&dns_ready, r, entry);
		mta_dns_finish(r);
	}
}

/* Answer from the cache on the next loop turn; 0 when there was one. */
static int
mta_dns_from_cache(struct mta_dnsreq *r, int type)
{
	if ((r->ans = mta_dns_cache_get(type, r->name)) == NULL)
		return -1;
	log_debug("dns: %s %s from the cache", type == MTA_DNS_C_MX ? "MX" :
	    "address", r->name);
	TAILQ_INSERT_TAIL(&dns_ready, r, entry);
	uv_timer_start(&dns_ready_timer, mta_dns_ready_cb, 0, 0);
	return 0;
}

/* --- MX --- */

static void
mta_dns_mx_result(struct dns_ctx *ctx, void *result, void *arg)
{
	struct mta_dns_mxans *ans = result;
	struct dns_rr_mx *rr = ans ? ans->rr : NULL;
	struct mta_dnslook *l = arg;
	struct mta_dns_entry *e;
	int i, st;

	l->q[0] = NULL;
	l->pending = 0;
	st = rr ? 0 : dns_status(ctx);
	/* Before the callbacks: their sessions look the hosts up. */
	if (ans != NULL)
		mta_dns_glue_cache(ans);
	if (st == DNS_E_NODATA || (rr && rr->dnsmx_nrr == 0)) {
		/* No MX: the domain is its own mail host (RFC 5321 5.1). */
		e = mta_dns_entry_new(MTA_DNS_OK, 1);
		e->mx[0].pref = -1;	/* no MX record (mta_host.pref) */
		strlcpy(e->mx[0].name, l->name, sizeof(e->mx[0].name));
		mta_dns_cache_put(MTA_DNS_C_MX, l->name, e,
		    rr ? rr->dnsmx_ttl : 0);
	} else if (rr == NULL) {
		e = mta_dns_entry_new(mta_dns_status(st), 0);
		if (e->status == MTA_DNS_NXDOMAIN)
			mta_dns_cache_put(MTA_DNS_C_MX, l->name, e, 0);
	} else if (rr->dnsmx_nrr == 1 && (rr->dnsmx_mx[0].name[0] == '\0' ||
	    strcmp(rr->dnsmx_mx[0].name, ".") == 0)) {
		e = mta_dns_entry_new(MTA_DNS_NULLMX, 0);
		mta_dns_cache_put(MTA_DNS_C_MX, l->name, e, rr->dnsmx_ttl);
	} else {
		e = mta_dns_entry_new(MTA_DNS_OK, rr->dnsmx_nrr);
		e->n = 0;
		for (i = 0; i < rr->dnsmx_nrr; i++) {
			/* "." among real hosts means nothing: skip it. */
			if (rr->dnsmx_mx[i].name[0] == '\0' ||
			    strcmp(rr->dnsmx_mx[i].name, ".") == 0)
				continue;
			e->mx[e->n].pref = rr->dnsmx_mx[i].priority;
			strlcpy(e->mx[e->n].name, rr->dnsmx_mx[i].name,
			    sizeof(e->mx[e->n].name));
			e->n++;
		}
		if (e->n == 0)
			e->status = MTA_DNS_NULLMX;
		mta_dns_cache_put(MTA_DNS_C_MX, l->name, e, rr->dnsmx_ttl);
	}
	mta_dns_mxans_free(ans);
	mta_dnslook_answer(l, e);
}

struct mta_dnsreq *
mta_dns_mx(const char *domain, int port, int rotate, mta_dns_mx_cb cb,
    void *arg)
{
	struct mta_dnsreq *r;
	struct mta_dnslook *l;

	if (mta_dns_init() == -1)
		return NULL;
	r = mta_dns_req(REQ_MX, domain, arg);
	r->mxcb = cb;
	r->port = port;
	if (mta_dns_from_cache(r, MTA_DNS_C_MX) == 0 ||
	    mta_dnslook_join(r) == 0)
		return r;
	l = mta_dnslook_new(r, rotate);
	/* dns_submit_mx(), with a parser that keeps the glue too. */
	l->q[0] = dns_submit_p(l->ctx, domain, DNS_C_IN, DNS_T_MX, DNS_NOSRCH,
	    mta_dns_parse_mx, mta_dns_mx_result, l);
	if (l->q[0] == NULL) {
		mta_dnslook_abort(l, r);
		return NULL;
	}
	l->pending = 1;
	return r;
}

/* --- addresses --- */

static void
mta_dns_addr_add(struct mta_dnslook *l, int family, const void *a, int n,
    unsigned ttl)
{
	struct sockaddr_storage *ss;
	int i;

	if (n <= 0)
		return;
	ss = reallocarray(l->addrs, l->naddrs + n, sizeof(*ss));
	if (ss == NULL)
		fatal("mta_dns_addr_add");
	l->addrs = ss;
	for (i = 0; i < n; i++) {
		ss = &l->addrs[l->naddrs++];
		memset(ss, 0, sizeof(*ss));
		if (family == AF_INET) {
			((struct sockaddr_in *)ss)->sin_family = AF_INET;
			((struct sockaddr_in *)ss)->sin_addr =
			    ((const struct in_addr *)a)[i];
		} else {
			((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
			((struct sockaddr_in6 *)ss)->sin6_addr =
			    ((const struct in6_addr *)a)[i];
		}
	}
	if (l->ttl == 0 || ttl < l->ttl)
		l->ttl = ttl;
}

/* Both lookups are back (or the A one, for IPv4 only): one answer.  Any
 * address wins; then a temporary failure of either; then NXDOMAIN; else
 * no data. */
static void
mta_dns_addr_done(struct mta_dnslook *l)
{
	struct mta_dns_entry *e;
	struct sockaddr_storage *v4first;
	int i, n = 0, status;

	if (l->naddrs > 0)
		status = MTA_DNS_OK;
	else if (l->st[0] == MTA_DNS_TEMP || l->st[1] == MTA_DNS_TEMP)
		status = MTA_DNS_TEMP;
	else if (l->st[0] == MTA_DNS_NXDOMAIN || l->st[1] == MTA_DNS_NXDOMAIN)
		status = MTA_DNS_NXDOMAIN;
	else
		status = MTA_DNS_NODATA;
	e = mta_dns_entry_new(status, 0);
	if (l->naddrs > 0) {
		/* IPv4 first: the receivers of bulk mail know it best. */
		if ((v4first = calloc(l->naddrs, sizeof(*v4first))) == NULL)
			fatal("mta_dns_addr_done");
		for (i = 0; i < l->naddrs; i++)
			if (l->addrs[i].ss_family == AF_INET)
				v4first[n++] = l->addrs[i];
		for (i = 0; i < l->naddrs; i++)
			if (l->addrs[i].ss_family != AF_INET)
				v4first[n++] = l->addrs[i];
		e->addrs = v4first;
		e->n = n;
	}
	if (status != MTA_DNS_TEMP)
		mta_dns_cache_put(l->kind == REQ_ADDR4 ? MTA_DNS_C_ADDR4 :
		    MTA_DNS_C_ADDR, l->name, e, l->ttl);
	mta_dnslook_answer(l, e);
}

static void
mta_dns_a4_result(struct dns_ctx *ctx, struct dns_rr_a4 *rr, void *arg)
{
	struct mta_dnslook *l = arg;

	l->q[0] = NULL;
	l->st[0] = rr ? MTA_DNS_OK : mta_dns_status(dns_status(ctx));
	if (rr != NULL)
		mta_dns_addr_add(l, AF_INET, rr->dnsa4_addr, rr->dnsa4_nrr,
		    rr->dnsa4_ttl);
	free(rr);
	if (--l->pending == 0)
		mta_dns_addr_done(l);
}

static void
mta_dns_a6_result(struct dns_ctx *ctx, struct dns_rr_a6 *rr, void *arg)
{
	struct mta_dnslook *l = arg;

	l->q[1] = NULL;
	l->st[1] = rr ? MTA_DNS_OK : mta_dns_status(dns_status(ctx));
	if (rr != NULL)
		mta_dns_addr_add(l, AF_INET6, rr->dnsa6_addr, rr->dnsa6_nrr,
		    rr->dnsa6_ttl);
	free(rr);
	if (--l->pending == 0)
		mta_dns_addr_done(l);
}

/* The addresses of name: A and AAAA, or A alone with v4only (a queue
 * whose every source address is IPv4 has no use for IPv6 ones). */
struct mta_dnsreq *
mta_dns_addr(const char *name, int rotate, int v4only, mta_dns_addr_cb cb,
    void *arg)
{
	struct mta_dnsreq *r;
	struct mta_dnslook *l;

	if (mta_dns_init() == -1)
		return NULL;
	r = mta_dns_req(v4only ? REQ_ADDR4 : REQ_ADDR, name, arg);
	r->addrcb = cb;
	if (mta_dns_from_cache(r, v4only ? MTA_DNS_C_ADDR4 :
	    MTA_DNS_C_ADDR) == 0 || mta_dnslook_join(r) == 0)
		return r;
	l = mta_dnslook_new(r, rotate);
	l->q[0] = dns_submit_a4(l->ctx, name, DNS_NOSRCH, mta_dns_a4_result, l);
	if (l->q[0] == NULL) {
		mta_dnslook_abort(l, r);
		return NULL;
	}
	l->pending = 1;
	if (v4only) {
		l->st[1] = MTA_DNS_NODATA;	/* not asked */
		return r;
	}
	l->q[1] = dns_submit_a6(l->ctx, name, DNS_NOSRCH, mta_dns_a6_result, l);
	if (l->q[1] == NULL) {
		mta_dnslook_abort(l, r);
		return NULL;
	}
	l->pending = 2;
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
