/*
 * cfg_scope.c - the settings of a (VMTA, recipient domain), looked up
 * once per scope.
 *
 * A queue's settings come from cfg_domain_setting(): the most specific
 * <domain> block of its VMTA, of the VMTA's pool, then of the global
 * level that sets the directive, else the VMTA, the pool, the global
 * value.  Looked up by name for every directive of every new queue,
 * that was most of deliverd's work, and a good part of queued's, when
 * each message went to a domain of its own (docs/performance.md): names
 * compared with strcasecmp in the directive table, the VMTA and its pool
 * searched among the root's blocks, every <domain> pattern matched, once
 * per directive.
 *
 * The answer for (VMTA, domain) depends on the domain only through the
 * <domain> blocks it matches and their scores: two domains that match
 * the same blocks with the same scores get the same node for every
 * directive.  So queues share a scope: the VMTA (its blocks and <domain>
 * blocks found once per configuration) and that list of matches; each
 * directive, named by its index in the daemon's list rather than by
 * name, is looked up the first time a queue of the scope asks for it
 * and kept.  The cache holds every scope it made until the next
 * configuration (there are few: VMTAs times the sets of <domain> blocks
 * that domains match, not one per domain), so that a lookup for a
 * message costs no allocation.  A reload starts afresh: scopes of the
 * old configuration stay only as long as someone else holds them.
 */
#include <sys/tree.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfg_scope.h"
#include "log.h"
#include "util.h"

struct cfg_dmatch {
	const struct cfg_node	*block;
	int			 score;
};

struct cfg_scope {
	RB_ENTRY(cfg_scope)	 entry;
	struct cfg_vscope	*vs;
	int			 refs;
	char			*domain;	/* the first one: any would do */
	struct cfg_dmatch	*match;
	int			 nmatch;
	struct cfg_node		**val;		/* [names] */
	uint8_t			*looked;	/* [names] */
};

RB_HEAD(cfg_scope_tree, cfg_scope);

/* One VMTA (or none: ""), under one configuration. */
struct cfg_vscope {
	RB_ENTRY(cfg_vscope)	 entry;
	struct cfg_scopes	*cache;
	char			*vmta;
	struct cfg_node		*v, *pool;
	struct cfg_node		**blocks;	/* <domain> blocks of v, pool,
						 * root, in that order */
	int			 nblocks;
	struct cfg_scope_tree	 scopes;
	int			 nscopes;
	int			 old;		/* of an older configuration */
};

RB_HEAD(cfg_vscope_tree, cfg_vscope);

struct cfg_scopes {
	const char *const	*names;
	int			 nnames;
	const struct cfg	*(*cfg)(void);
	struct cfg_vscope_tree	 vscopes;
};

static int
cfg_vscope_cmp(struct cfg_vscope *a, struct cfg_vscope *b)
{
	return strcmp(a->vmta, b->vmta);
}

static int
cfg_scope_cmp(struct cfg_scope *a, struct cfg_scope *b)
{
	if (a->nmatch != b->nmatch)
		return a->nmatch < b->nmatch ? -1 : 1;
	return memcmp(a->match, b->match, a->nmatch * sizeof(*a->match));
}

RB_PROTOTYPE(cfg_vscope_tree, cfg_vscope, entry, cfg_vscope_cmp);
RB_GENERATE(cfg_vscope_tree, cfg_vscope, entry, cfg_vscope_cmp);
RB_PROTOTYPE(cfg_scope_tree, cfg_scope, entry, cfg_scope_cmp);
RB_GENERATE(cfg_scope_tree, cfg_scope, entry, cfg_scope_cmp);

struct cfg_scopes *
cfg_scopes_new(const char *const *names, int n, const struct cfg *(*cfg)(void))
{
	struct cfg_scopes *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		fatal("cfg_scopes_new");
	c->names = names;
	c->nnames = n;
	c->cfg = cfg;
	RB_INIT(&c->vscopes);
	return c;
}

/* Append the children of `container` that are <domain> blocks. */
static void
cfg_scope_collect(const struct cfg_node *container, struct cfg_node ***list,
    int *n)
{
	struct cfg_node *c, **l;

	if (container == NULL)
		return;
	for (c = container->child; c != NULL; c = c->next) {
		if (!cfg_is_domain_block(c))
			continue;
		if ((l = reallocarray(*list, *n + 1, sizeof(*l))) == NULL)
			fatal("cfg_scope_collect");
		*list = l;
		l[(*n)++] = c;
	}
}

static struct cfg_vscope *
cfg_vscope_get(struct cfg_scopes *cache, const char *vmta)
{
	const struct cfg *cfg = cache->cfg();
	struct cfg_vscope key, *vs;

	key.vmta = (char *)(vmta ? vmta : "");
	if ((vs = RB_FIND(cfg_vscope_tree, &cache->vscopes, &key)) != NULL)
		return vs;
	if ((vs = calloc(1, sizeof(*vs))) == NULL)
		fatal("cfg_vscope_get");
	vs->cache = cache;
	vs->vmta = xstrdup(key.vmta);
	cfg_vmta_scopes(cfg, vmta, &vs->v, &vs->pool);
	cfg_scope_collect(vs->v, &vs->blocks, &vs->nblocks);
	cfg_scope_collect(vs->pool, &vs->blocks, &vs->nblocks);
	if (cfg != NULL)
		cfg_scope_collect(cfg->root, &vs->blocks, &vs->nblocks);
	RB_INIT(&vs->scopes);
	RB_INSERT(cfg_vscope_tree, &cache->vscopes, vs);
	return vs;
}

static void
cfg_vscope_free(struct cfg_vscope *vs)
{
	free(vs->blocks);
	free(vs->vmta);
	free(vs);
}

/* The <domain> blocks of vs that match domain, with their scores. */
static int
cfg_scope_matches(const struct cfg_vscope *vs, const char *domain,
    struct cfg_dmatch *m)
{
	const struct cfg *cfg = vs->cache->cfg();
	int i, n = 0, sc;

	for (i = 0; i < vs->nblocks; i++) {
		if ((sc = cfg_domain_match(cfg, vs->blocks[i]->arg,
		    domain)) <= 0)
			continue;
		m[n].block = vs->blocks[i];
		m[n].score = sc;
		n++;
	}
	return n;
}

struct cfg_scope *
cfg_scope_get(struct cfg_scopes *cache, const char *vmta, const char *domain)
{
	struct cfg_vscope *vs = cfg_vscope_get(cache, vmta);
	struct cfg_scope key, *sc;
	struct cfg_dmatch mbuf[16], *m = mbuf;

	if (vs->nblocks > (int)(sizeof(mbuf) / sizeof(mbuf[0])) &&
	    (m = calloc(vs->nblocks, sizeof(*m))) == NULL)
		fatal("cfg_scope_get");
	memset(&key, 0, sizeof(key));
	key.match = m;
	key.nmatch = cfg_scope_matches(vs, domain, m);
	if ((sc = RB_FIND(cfg_scope_tree, &vs->scopes, &key)) != NULL) {
		if (m != mbuf)
			free(m);
		sc->refs++;
		return sc;
	}
	if ((sc = calloc(1, sizeof(*sc))) == NULL ||
	    (sc->val = calloc(cache->nnames, sizeof(*sc->val))) == NULL ||
	    (sc->looked = calloc(cache->nnames, 1)) == NULL ||
	    (sc->match = calloc(key.nmatch + 1, sizeof(*m))) == NULL)
		fatal("cfg_scope_get");
	memcpy(sc->match, m, key.nmatch * sizeof(*m));
	if (m != mbuf)
		free(m);
	sc->vs = vs;
	sc->refs = 2;		/* the caller's and the cache's */
	sc->domain = xstrdup(domain);
	sc->nmatch = key.nmatch;
	RB_INSERT(cfg_scope_tree, &vs->scopes, sc);
	vs->nscopes++;
	return sc;
}

void
cfg_scope_put(struct cfg_scope *sc)
{
	struct cfg_vscope *vs;

	if (sc == NULL || --sc->refs > 0)
		return;
	vs = sc->vs;
	RB_REMOVE(cfg_scope_tree, &vs->scopes, sc);
	free(sc->domain);
	free(sc->match);
	free(sc->val);
	free(sc->looked);
	free(sc);
	if (--vs->nscopes == 0 && vs->old)
		cfg_vscope_free(vs);
}

struct cfg_node *
cfg_scope_node(struct cfg_scope *sc, int id)
{
	struct cfg_scopes *cache = sc->vs->cache;
	struct cfg_node *n;

	if (!sc->looked[id]) {
		n = cfg_domain_setting(cache->cfg(), sc->vs->vmta[0] ?
		    sc->vs->vmta : NULL, sc->domain, cache->names[id]);
		sc->val[id] = n == NULL || n->arg == NULL || n->arg[0] == '\0' ?
		    NULL : n;
		sc->looked[id] = 1;
	}
	return sc->val[id];
}

const char *
cfg_scope_str(struct cfg_scope *sc, int id)
{
	const struct cfg_directive *d;
	struct cfg_node *n;

	if ((n = cfg_scope_node(sc, id)) != NULL)
		return n->arg;
	d = cfg_directive_find(sc->vs->cache->names[id]);
	return d != NULL ? d->defval : NULL;
}

struct cfg_node *
cfg_scope_vmta(const struct cfg_scope *sc)
{
	return sc->vs->v;
}

int
cfg_scope_has_block(struct cfg_scopes *cache, const char *vmta,
    const char *domain)
{
	const struct cfg *cfg = cache->cfg();
	struct cfg_vscope *vs = cfg_vscope_get(cache, vmta);
	struct cfg_node *d;
	int i;

	for (i = 0; cfg != NULL && i < vs->nblocks; i++) {
		d = vs->blocks[i];
		if ((d->parent == cfg->root || (vs->v != NULL &&
		    d->parent == vs->v)) && d->arg != NULL &&
		    strcasecmp(d->arg, domain) == 0)
			return 1;
	}
	return 0;
}

void
cfg_scopes_reset(struct cfg_scopes *cache)
{
	struct cfg_vscope *vs, *tmp;
	struct cfg_scope *sc, *stmp;

	RB_FOREACH_SAFE(vs, cfg_vscope_tree, &cache->vscopes, tmp) {
		RB_REMOVE(cfg_vscope_tree, &cache->vscopes, vs);
		vs->old = 1;
		if (vs->nscopes == 0) {
			cfg_vscope_free(vs);
			continue;
		}
		/* The cache's references: vs goes with its last scope. */
		RB_FOREACH_SAFE(sc, cfg_scope_tree, &vs->scopes, stmp)
			cfg_scope_put(sc);
	}
}
