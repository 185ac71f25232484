/*
 * sched_cfg.c - the configuration the scheduler reads per queue and per
 * message, looked up once per configuration.
 *
 * A queue's settings (retry-after, bounce-after, max-smtp-out...) and
 * those read per message (bounce-domain for VERP, notify-of-delay-every)
 * are cfg_domain_setting() answers for (VMTA, recipient domain).  Asked
 * by name, each walked the root's blocks for the VMTA and its pool and
 * matched every <domain> pattern: with mail to many domains, a new
 * queue per message, that was 13% of queued's time in perf
 * (docs/performance.md).  common/cfg_scope.c keeps the answers per
 * scope, as for deliverd.  The members of a <virtual-mta-pool> that
 * messages take turns over are kept the same way, per configuration.
 */
#include <sys/tree.h>

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "queued.h"
#include "util.h"

static const char *qs_names[QS_N] = {
#define QS_NAME(id, name) [QS_##id] = name,
	QUEUE_SETTINGS(QS_NAME)
#undef QS_NAME
};

static struct cfg_scopes	*scopes;

static const struct cfg *
sched_cfg_cur(void)
{
	return qd->cfg;
}

static struct cfg_scopes *
sched_cfg_scopes(void)
{
	if (scopes == NULL)
		scopes = cfg_scopes_new(qs_names, QS_N, sched_cfg_cur);
	return scopes;
}

/* The scope of mail of vmta (NULL: none) to domain; held until
 * cfg_scope_put. */
struct cfg_scope *
sched_cfg_scope(const char *vmta, const char *domain)
{
	return cfg_scope_get(sched_cfg_scopes(), vmta, domain);
}

/* Setting id for mail of vmta to domain: its node, NULL if unset. */
struct cfg_node *
sched_cfg_node(const char *vmta, const char *domain, enum queue_set id)
{
	struct cfg_scope *sc = sched_cfg_scope(vmta, domain);
	struct cfg_node *n = cfg_scope_node(sc, id);

	/* The cache keeps the scope (and n) until the next configuration. */
	cfg_scope_put(sc);
	return n;
}

/* --- pool members --- */

struct pool_memo {
	RB_ENTRY(pool_memo)	 entry;
	char			*name;
	const char		**members;	/* NULL: not a pool */
	unsigned		 n;
	unsigned		 next;		/* whose turn it is */
};
RB_HEAD(pool_memos, pool_memo);

static int
pool_memo_cmp(struct pool_memo *a, struct pool_memo *b)
{
	return strcmp(a->name, b->name);
}
RB_PROTOTYPE(pool_memos, pool_memo, entry, pool_memo_cmp);
RB_GENERATE(pool_memos, pool_memo, entry, pool_memo_cmp);

static struct pool_memos	memos = RB_INITIALIZER(&memos);

static struct pool_memo *
pool_memo_new(const char *vmta)
{
	struct cfg_node *pool, *n;
	struct pool_memo *pm;

	if ((pm = calloc(1, sizeof(*pm))) == NULL)
		fatal("pool_memo_new");
	pm->name = xstrdup(vmta);
	if ((pool = cfg_pool(qd->cfg, vmta)) != NULL)
		for (n = cfg_child(pool, "virtual-mta"); n != NULL;
		    n = cfg_next_named(n, "virtual-mta")) {
			if (n->arg == NULL)
				continue;
			if ((pm->members = reallocarray(pm->members,
			    pm->n + 1, sizeof(*pm->members))) == NULL)
				fatal("pool_memo_new");
			pm->members[pm->n++] = n->arg;
		}
	RB_INSERT(pool_memos, &memos, pm);
	return pm;
}

/*
 * Mail for a <virtual-mta-pool> goes out through its member VMTAs, in
 * turn, one message at a time: each member's queue then has that
 * VMTA's source address, limits and keys.  vmta itself when it names no
 * pool (or one without members).
 */
const char *
sched_cfg_pool_member(const char *vmta)
{
	struct pool_memo key, *pm;

	if (vmta == NULL)
		return NULL;
	key.name = (char *)vmta;
	if ((pm = RB_FIND(pool_memos, &memos, &key)) == NULL)
		pm = pool_memo_new(vmta);
	if (pm->n == 0)
		return vmta;
	return pm->members[pm->next++ % pm->n];
}

/* A new configuration: scopes and pools are looked up again. */
void
sched_cfg_reset(void)
{
	struct pool_memo *pm, *tmp;

	cfg_scopes_reset(sched_cfg_scopes());
	RB_FOREACH_SAFE(pm, pool_memos, &memos, tmp) {
		RB_REMOVE(pool_memos, &memos, pm);
		free(pm->members);
		free(pm->name);
		free(pm);
	}
}
