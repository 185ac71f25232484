/*
 * mta_dns_cache.c - DNS answers kept for their TTL.
 *
 * Keyed by (kind, name): MX answers (already interpreted: hosts, null
 * MX, implicit MX) and address answers (A and AAAA merged, or A alone
 * for queues that connect over IPv4 only: a kind of its own, so that
 * it never stands for both).  Negative
 * answers (NXDOMAIN, no data) are kept too, for a short fixed time since
 * udns does not give us the SOA minimum; temporary failures never are.
 * TTLs are bounded: a zero TTL would make every connection a lookup, a
 * week-long one would outlive a renumbering.  The cache is bounded in
 * entries; when full, expired entries go first, then the oldest.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "mta.h"

#define DNS_CACHE_MAX		20000
#define DNS_TTL_MIN		30
#define DNS_TTL_MAX		3600
#define DNS_TTL_NEGATIVE	60

struct dns_centry {
	RB_ENTRY(dns_centry)	 entry;
	TAILQ_ENTRY(dns_centry)	 order;		/* oldest first */
	int			 kind;
	char			*name;
	struct mta_dns_entry	*e;
};

RB_HEAD(dns_cache, dns_centry);

static struct dns_cache	 cache = RB_INITIALIZER(&cache);
static TAILQ_HEAD(, dns_centry) order = TAILQ_HEAD_INITIALIZER(order);
static int		 ncache;
static time_t		 swept;		/* last walk for expired entries */

static int
dns_centry_cmp(struct dns_centry *a, struct dns_centry *b)
{
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	return strcasecmp(a->name, b->name);
}

RB_PROTOTYPE(dns_cache, dns_centry, entry, dns_centry_cmp);
RB_GENERATE(dns_cache, dns_centry, entry, dns_centry_cmp);

struct mta_dns_entry *
mta_dns_entry_new(int status, int nmx)
{
	struct mta_dns_entry *e;

	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (nmx > 0 && (e->mx = calloc(nmx, sizeof(*e->mx))) == NULL))
		fatal("mta_dns_entry_new");
	e->status = status;
	e->n = nmx;
	return e;
}

void
mta_dns_entry_free(struct mta_dns_entry *e)
{
	if (e == NULL)
		return;
	free(e->mx);
	free(e->addrs);
	free(e);
}

struct mta_dns_entry *
mta_dns_entry_dup(const struct mta_dns_entry *e)
{
	struct mta_dns_entry *d;

	d = mta_dns_entry_new(e->status, 0);
	d->n = e->n;
	d->expire = e->expire;
	if (e->mx != NULL && e->n > 0) {
		if ((d->mx = calloc(e->n, sizeof(*d->mx))) == NULL)
			fatal("mta_dns_entry_dup");
		memcpy(d->mx, e->mx, e->n * sizeof(*d->mx));
	}
	if (e->addrs != NULL && e->n > 0) {
		if ((d->addrs = calloc(e->n, sizeof(*d->addrs))) == NULL)
			fatal("mta_dns_entry_dup");
		memcpy(d->addrs, e->addrs, e->n * sizeof(*d->addrs));
	}
	return d;
}

static void
dns_centry_free(struct dns_centry *c)
{
	RB_REMOVE(dns_cache, &cache, c);
	TAILQ_REMOVE(&order, c, order);
	ncache--;
	mta_dns_entry_free(c->e);
	free(c->name);
	free(c);
}

/* Room for one more: drop what expired, else the oldest entry.  The
 * walk for expired entries is done once a second at most: done for each
 * new entry, a full cache cost a walk over every entry per new domain. */
static void
dns_cache_trim(time_t now)
{
	struct dns_centry *c, *tmp;

	if (swept != now) {
		swept = now;
		RB_FOREACH_SAFE(c, dns_cache, &cache, tmp)
			if (c->e->expire <= now)
				dns_centry_free(c);
	}
	if (ncache >= DNS_CACHE_MAX && (c = TAILQ_FIRST(&order)) != NULL)
		dns_centry_free(c);
}

/* Keep a copy of e; sets e->expire from the bounded ttl. */
void
mta_dns_cache_put(int kind, const char *name, struct mta_dns_entry *e,
    unsigned ttl)
{
	struct dns_centry key, *c;
	time_t now = time(NULL);

	if (e->status != MTA_DNS_OK && e->status != MTA_DNS_NULLMX)
		ttl = DNS_TTL_NEGATIVE;
	if (ttl < DNS_TTL_MIN)
		ttl = DNS_TTL_MIN;
	if (ttl > DNS_TTL_MAX)
		ttl = DNS_TTL_MAX;
	e->expire = now + ttl;
	key.kind = kind;
	key.name = (char *)name;
	if ((c = RB_FIND(dns_cache, &cache, &key)) != NULL)
		dns_centry_free(c);
	if (ncache >= DNS_CACHE_MAX)
		dns_cache_trim(now);
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->name = strdup(name)) == NULL)
		fatal("mta_dns_cache_put");
	c->kind = kind;
	c->e = mta_dns_entry_dup(e);
	RB_INSERT(dns_cache, &cache, c);
	TAILQ_INSERT_TAIL(&order, c, order);
	ncache++;
}

/* A copy of the live entry for (kind, name), or NULL. */
struct mta_dns_entry *
mta_dns_cache_get(int kind, const char *name)
{
	struct dns_centry key, *c;

	key.kind = kind;
	key.name = (char *)name;
	if ((c = RB_FIND(dns_cache, &cache, &key)) == NULL)
		return NULL;
	if (c->e->expire <= time(NULL)) {
		dns_centry_free(c);
		return NULL;
	}
	return mta_dns_entry_dup(c->e);
}

void
mta_dns_cache_clear(void)
{
	struct dns_centry *c, *tmp;

	RB_FOREACH_SAFE(c, dns_cache, &cache, tmp)
		dns_centry_free(c);
}
