/*
 * mta_scope.c - the configuration of a queue, looked up once per scope.
 *
 * A queue's settings come from cfg_domain_setting(): the most specific
 * <domain> block of its VMTA, of the VMTA's pool, then of the global
 * level that sets the directive, else the VMTA, the pool, the global
 * value.  Looked up by name for every directive of every new queue,
 * that was most of deliverd's work when each message went to a domain
 * of its own (docs/performance.md): names compared with strcasecmp in
 * the directive table, the VMTA and its pool searched among the root's
 * blocks, every <domain> pattern matched, once per directive.
 *
 * The answer for (VMTA, domain) depends on the domain only through the
 * <domain> blocks it matches and their scores: two domains that match
 * the same blocks with the same scores get the same node for every
 * directive.  So queues share a scope: the VMTA (its blocks and <domain>
 * blocks found once per configuration) and that list of matches; each
 * directive, named by an MS_* number rather than by name, is looked up
 * the first time a queue of the scope asks for it and kept.  A reload
 * starts afresh: scopes of the old configuration stay only as long as
 * queues hold them (mta_queue_reconfig gives every queue a new one).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "mta.h"
#include "util.h"

static const char *ms_names[MS_N] = {
#define MS_NAME(id, name) [MS_##id] = name,
	MTA_SETTINGS(MS_NAME)
#undef MS_NAME
};

struct mta_dmatch {
	const struct cfg_node	*block;
	int			 score;
};

struct mta_scope {
	RB_ENTRY(mta_scope)	 entry;
	struct mta_vscope	*vs;
	int			 refs;
	char			*domain;	/* the first one: any would do */
	struct mta_dmatch	*match;
	int			 nmatch;
	struct cfg_node		*val[MS_N];
	uint8_t			 looked[MS_N];
};

RB_HEAD(mta_scopes, mta_scope);

/* One VMTA (or none: ""), under one configuration. */
struct mta_vscope {
	RB_ENTRY(mta_vscope)	 entry;
	char			*vmta;
	struct cfg_node		*v, *pool;
	struct cfg_node		**blocks;	/* <domain> blocks of v, pool,
						 * root, in that order */
	int			 nblocks;
	struct mta_scopes	 scopes;
	int			 nscopes;
	int			 old;		/* of an older configuration */
};

RB_HEAD(mta_vscopes, mta_vscope);

static struct mta_vscopes	vscopes = RB_INITIALIZER(&vscopes);

/* The root's blocks deliverd searches, found once per configuration. */
static struct cfg_node	**root_domains, **root_rollups;
static int		  nroot_domains, nroot_rollups, root_done;

static int
mta_vscope_cmp(struct mta_vscope *a, struct mta_vscope *b)
{
	return strcmp(a->vmta, b->vmta);
}

static int
mta_scope_cmp(struct mta_scope *a, struct mta_scope *b)
{
	if (a->nmatch != b->nmatch)
		return a->nmatch < b->nmatch ? -1 : 1;
	return memcmp(a->match, b->match, a->nmatch * sizeof(*a->match));
}

RB_PROTOTYPE(mta_vscopes, mta_vscope, entry, mta_vscope_cmp);
RB_GENERATE(mta_vscopes, mta_vscope, entry, mta_vscope_cmp);
RB_PROTOTYPE(mta_scopes, mta_scope, entry, mta_scope_cmp);
RB_GENERATE(mta_scopes, mta_scope, entry, mta_scope_cmp);

const char *
mta_set_name(enum mta_set id)
{
	return ms_names[id];
}

/* Append the children of `container` that are blocks named `kind`. */
static void
mta_scope_collect(const struct cfg_node *container, const char *kind,
    struct cfg_node ***list, int *n)
{
	struct cfg_node *c, **l;

	if (container == NULL)
		return;
	for (c = container->child; c != NULL; c = c->next) {
		if (c->def == NULL || c->def->type != CT_BLOCK ||
		    strcmp(c->name, kind) != 0)
			continue;
		if ((l = reallocarray(*list, *n + 1, sizeof(*l))) == NULL)
			fatal("mta_scope_collect");
		*list = l;
		l[(*n)++] = c;
	}
}

static void
mta_scope_root(void)
{
	if (root_done)
		return;
	mta_scope_collect(mta_cfg()->root, "domain", &root_domains,
	    &nroot_domains);
	mta_scope_collect(mta_cfg()->root, "mx-rollup-list", &root_rollups,
	    &nroot_rollups);
	root_done = 1;
}

static struct mta_vscope *
mta_vscope_get(const char *vmta)
{
	struct mta_vscope key, *vs;

	key.vmta = (char *)(vmta ? vmta : "");
	if ((vs = RB_FIND(mta_vscopes, &vscopes, &key)) != NULL)
		return vs;
	mta_scope_root();
	if ((vs = calloc(1, sizeof(*vs))) == NULL)
		fatal("mta_vscope_get");
	vs->vmta = xstrdup(key.vmta);
	cfg_vmta_scopes(mta_cfg(), vmta, &vs->v, &vs->pool);
	mta_scope_collect(vs->v, "domain", &vs->blocks, &vs->nblocks);
	mta_scope_collect(vs->pool, "domain", &vs->blocks, &vs->nblocks);
	mta_scope_collect(mta_cfg()->root, "domain", &vs->blocks,
	    &vs->nblocks);
	RB_INIT(&vs->scopes);
	RB_INSERT(mta_vscopes, &vscopes, vs);
	return vs;
}

static void
mta_vscope_free(struct mta_vscope *vs)
{
	free(vs->blocks);
	free(vs->vmta);
	free(vs);
}

/* The <domain> blocks of vs that match domain, with their scores. */
static int
mta_scope_matches(const struct mta_vscope *vs, const char *domain,
    struct mta_dmatch *m)
{
	int i, n = 0, sc;

	for (i = 0; i < vs->nblocks; i++) {
		if ((sc = cfg_domain_match(mta_cfg(), vs->blocks[i]->arg,
		    domain)) <= 0)
			continue;
		m[n].block = vs->blocks[i];
		m[n].score = sc;
		n++;
	}
	return n;
}

/* The scope of a queue of vmta (NULL: none) whose settings are those of
 * domain; held until mta_scope_put. */
struct mta_scope *
mta_scope_get(const char *vmta, const char *domain)
{
	struct mta_vscope *vs = mta_vscope_get(vmta);
	struct mta_scope key, *sc;
	struct mta_dmatch *m;

	if ((m = calloc(vs->nblocks + 1, sizeof(*m))) == NULL)
		fatal("mta_scope_get");
	memset(&key, 0, sizeof(key));
	key.match = m;
	key.nmatch = mta_scope_matches(vs, domain, m);
	if ((sc = RB_FIND(mta_scopes, &vs->scopes, &key)) != NULL) {
		free(m);
		sc->refs++;
		return sc;
	}
	if ((sc = calloc(1, sizeof(*sc))) == NULL)
		fatal("mta_scope_get");
	sc->vs = vs;
	sc->refs = 1;
	sc->domain = xstrdup(domain);
	sc->match = m;
	sc->nmatch = key.nmatch;
	RB_INSERT(mta_scopes, &vs->scopes, sc);
	vs->nscopes++;
	return sc;
}

void
mta_scope_put(struct mta_scope *sc)
{
	struct mta_vscope *vs;

	if (sc == NULL || --sc->refs > 0)
		return;
	vs = sc->vs;
	RB_REMOVE(mta_scopes, &vs->scopes, sc);
	free(sc->domain);
	free(sc->match);
	free(sc);
	if (--vs->nscopes == 0 && vs->old)
		mta_vscope_free(vs);
}

/* The node of directive id for the scope (set and not empty), or NULL. */
struct cfg_node *
mta_scope_node(struct mta_scope *sc, enum mta_set id)
{
	struct cfg_node *n;

	if (!sc->looked[id]) {
		n = cfg_domain_setting(mta_cfg(), sc->vs->vmta[0] ?
		    sc->vs->vmta : NULL, sc->domain, ms_names[id]);
		sc->val[id] = n == NULL || n->arg == NULL || n->arg[0] == '\0' ?
		    NULL : n;
		sc->looked[id] = 1;
	}
	return sc->val[id];
}

/* The scope's <virtual-mta> block, or NULL. */
struct cfg_node *
mta_scope_vmta(const struct mta_scope *sc)
{
	return sc->vs->v;
}

/* Whether domain has a <domain NAME> block of its own, global or in the
 * VMTA vmta (not in its pool). */
int
mta_scope_has_block(const char *vmta, const char *domain)
{
	struct mta_vscope *vs = mta_vscope_get(vmta);
	struct cfg_node *d;
	int i;

	for (i = 0; i < nroot_domains; i++)
		if (root_domains[i]->arg != NULL &&
		    strcasecmp(root_domains[i]->arg, domain) == 0)
			return 1;
	for (i = 0; vs->v != NULL && i < vs->nblocks; i++) {
		d = vs->blocks[i];
		if (d->parent == vs->v && d->arg != NULL &&
		    strcasecmp(d->arg, domain) == 0)
			return 1;
	}
	return 0;
}

/* The <mx-rollup-list> blocks. */
struct cfg_node *const *
mta_scope_rollup_lists(int *n)
{
	mta_scope_root();
	*n = nroot_rollups;
	return root_rollups;
}

/* A new configuration: new scopes from now on (the old ones go with the
 * last queue that holds them). */
void
mta_scope_reconfig(void)
{
	struct mta_vscope *vs, *tmp;

	RB_FOREACH_SAFE(vs, mta_vscopes, &vscopes, tmp) {
		RB_REMOVE(mta_vscopes, &vscopes, vs);
		vs->old = 1;
		if (vs->nscopes == 0)
			mta_vscope_free(vs);
	}
	free(root_domains);
	free(root_rollups);
	root_domains = root_rollups = NULL;
	nroot_domains = nroot_rollups = root_done = 0;
}
