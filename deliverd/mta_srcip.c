/*
 * mta_srcip.c - the source addresses of a queue's connections.
 *
 * smtp-source-host (or a <source-pool>) gives a queue its addresses
 * and EHLO name; a new connection takes the next address in turn (or
 * one at random with random-ip), skipping those at their
 * source-ip-max-smtp-out and those a disable-source-ip reply pattern
 * took out of use (mta_backoff.c keeps those until they are enabled
 * again).
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "mta.h"

/* Add the addresses of "IP" or "CIDR" to the queue's sources. */
static void
mta_srcip_add(struct mta_queue *q, const char *spec)
{
	struct cfg_cidr c;
	struct sockaddr_storage *ss;
	const char *err;
	uint32_t base, first, last, a;

	if (cfg_parse_cidr(spec, &c, &err) == -1) {
		log_warnx("%s: source %s: %s", q->name, spec, err);
		return;
	}
	if (c.af == AF_INET6) {
		/* One address: a v6 prefix is too big to spread over. */
		first = last = 0;
	} else {
		memcpy(&base, c.addr, 4);
		base = ntohl(base) & (c.bits ? ~0U << (32 - c.bits) : 0);
		first = base;
		last = base + (c.bits < 32 ? (1U << (32 - c.bits)) - 1 : 0);
		/* Network and broadcast addresses are not hosts. */
		if (c.bits <= 30) {
			first++;
			last--;
		}
		if (last - first >= MTA_MAX_SOURCES)
			last = first + MTA_MAX_SOURCES - 1;
	}
	for (a = first; ; a++) {
		if (q->nsrcs >= MTA_MAX_SOURCES)
			break;
		ss = reallocarray(q->srcs, q->nsrcs + 1, sizeof(*ss));
		if (ss == NULL)
			fatal("mta_srcip_add");
		q->srcs = ss;
		ss = &q->srcs[q->nsrcs++];
		memset(ss, 0, sizeof(*ss));
		if (c.af == AF_INET6) {
			((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
			memcpy(&((struct sockaddr_in6 *)ss)->sin6_addr, c.addr,
			    16);
		} else {
			((struct sockaddr_in *)ss)->sin_family = AF_INET;
			((struct sockaddr_in *)ss)->sin_addr.s_addr = htonl(a);
		}
		if (a == last)
			break;
	}
}

/*
 * Source addresses and EHLO name.  smtp-source-host (alias source,
 * bind-to-source-ip) IP|CIDR [NAME] gives both, and may be repeated;
 * the seeds' source-pool CIDR names a <source-pool CIDR> block whose
 * addresses are used, with its random-ip.  A host-name set for the
 * domain or VMTA wins over NAME, a global host-name does not.
 */
static void
mta_srcip_source(struct mta_queue *q)
{
	struct cfg_node *src, *hn, *sp, *vm;
	char host[256];
	const char *name = NULL;

	src = mta_queue_node(q, MS_SMTP_SOURCE_HOST);
	hn = mta_queue_node(q, MS_HOST_NAME);
	vm = cfg_scope_vmta(q->scope);
	if (src != NULL) {
		/* Every smtp-source-host line of the scope that set it. */
		for (; src != NULL; src = cfg_next_named(src,
		    "smtp-source-host")) {
			if (src->argc >= 1)
				mta_srcip_add(q, src->argv[0]);
			if (src->argc >= 2 && name == NULL)
				name = src->argv[1];
		}
	}
	if ((sp = mta_queue_node(q, MS_SOURCE_POOL)) != NULL) {
		mta_srcip_add(q, sp->arg);
		q->random_ip = cfg_bool(vm ? vm : mta_cfg()->root, "random-ip",
		    0);
		for (sp = cfg_child(mta_cfg()->root, "source-pool"); sp != NULL;
		    sp = cfg_next_named(sp, "source-pool"))
			if (sp->child != NULL && sp->arg != NULL &&
			    strcmp(sp->arg, mta_queue_str(q, MS_SOURCE_POOL)) == 0)
				q->random_ip = cfg_bool(sp, "random-ip",
				    q->random_ip);
	} else if (vm != NULL)
		q->random_ip = cfg_bool(vm, "random-ip", 0);
	if (name != NULL && !mta_queue_scoped(hn))
		q->helo = xstrdup(name);
	if (q->helo == NULL && hn != NULL)
		q->helo = xstrdup(hn->arg);
	if (q->helo == NULL) {
		if (gethostname(host, sizeof(host)) == 0 && host[0] != '\0') {
			host[sizeof(host) - 1] = '\0';
			q->helo = xstrdup(host);
		} else
			q->helo = xstrdup("localhost");
	}
}

/* source-ip-max-smtp-out [CIDR] N, repeatable (the seeds'
 * max-smtp-out-per-ip N): the first line whose CIDR holds an address,
 * or that has none, limits that address's connections in this queue. */
static void
mta_srcip_limits(struct mta_queue *q)
{
	struct cfg_node *n;
	struct mta_ip_limit *l;
	const char *err, *num;
	int64_t v;

	q->nip_limits = 0;
	for (n = mta_queue_node(q, MS_SOURCE_IP_MAX_SMTP_OUT); n != NULL &&
	    q->nip_limits < MTA_MAX_IP_LIMITS;
	    n = cfg_next_named(n, "source-ip-max-smtp-out")) {
		l = &q->ip_limits[q->nip_limits];
		memset(l, 0, sizeof(*l));
		l->any = n->argc < 2;
		num = n->argc > 0 ? n->argv[n->argc - 1] : "";
		if (n->argc < 1 || (!l->any && cfg_parse_cidr(n->argv[0],
		    &l->cidr, &err) == -1) || cfg_parse_int(num, &v, &err) ==
		    -1 || v < 1) {
			log_warnx("%s: source-ip-max-smtp-out %s: ignored",
			    q->name, n->arg ? n->arg : "");
			continue;
		}
		l->max = v > 100000 ? 100000 : v;
		q->nip_limits++;
	}
}

/* Connections this queue may have from `src` (NULL: the kernel's
 * choice), -1: no limit. */
static int
mta_srcip_max(const struct mta_queue *q, const struct sockaddr_storage *src)
{
	int i;

	for (i = 0; i < q->nip_limits; i++)
		if (q->ip_limits[i].any || (src != NULL && cfg_cidr_match(
		    &q->ip_limits[i].cidr, (const struct sockaddr *)src)))
			return q->ip_limits[i].max;
	return -1;
}

static int
mta_srcip_room(const struct mta_queue *q, const struct sockaddr_storage *src)
{
	const struct mta_session *s;
	char name[64];
	int max, n = 0;

	if ((max = mta_srcip_max(q, src)) < 0)
		return 1;
	name[0] = '\0';
	if (src != NULL)
		uv_ip_name((const struct sockaddr *)src, name, sizeof(name));
	TAILQ_FOREACH(s, &q->sessions, entry)
		if (s->state != MTA_CLOSED && (src == NULL ||
		    (s->bound && strcmp(s->bindname, name) == 0)))
			n++;
	return n < max;
}

/* Not taken out of use by a disable-source-ip reply pattern. */
static int
mta_srcip_enabled(const struct mta_queue *q,
    const struct sockaddr_storage *ss)
{
	char ip[64];

	if (uv_ip_name((const struct sockaddr *)ss, ip, sizeof(ip)) != 0)
		return 1;
	return mta_backoff_ip_ok(q, ip);
}

/* The source address for a new connection: round robin, or at random
 * with random-ip, skipping addresses at their source-ip-max-smtp-out
 * and disabled ones.  *src NULL: let the kernel choose.  -1: every
 * address is busy (or disabled). */
int
mta_queue_pick_source(struct mta_queue *q, const struct sockaddr_storage **src)
{
	uint32_t first, i;
	const struct sockaddr_storage *ss;

	*src = NULL;
	if (q->nsrcs == 0)
		return mta_srcip_room(q, NULL) ? 0 : -1;
	first = q->random_ip ? arc4random_uniform(q->nsrcs) :
	    (uint32_t)q->nextsrc;
	for (i = 0; i < (uint32_t)q->nsrcs; i++) {
		ss = &q->srcs[(first + i) % q->nsrcs];
		if (!mta_srcip_room(q, ss) ||
		    !mta_srcip_enabled(q, ss))
			continue;
		if (!q->random_ip)
			q->nextsrc = (first + i + 1) % q->nsrcs;
		*src = ss;
		return 0;
	}
	return -1;
}

/* Addresses, EHLO name and per-address limits (again after a reload). */
void
mta_srcip_settings(struct mta_queue *q)
{
	int i;

	mta_srcip_source(q);
	mta_srcip_limits(q);
	/* Only IPv4 sources: connections go over IPv4 only (an IPv6
	 * address would be reached from one the VMTA does not name), so
	 * the hosts' AAAA records are not asked for. */
	q->v4only = q->nsrcs > 0;
	for (i = 0; i < q->nsrcs; i++)
		if (q->srcs[i].ss_family != AF_INET)
			q->v4only = 0;
}
