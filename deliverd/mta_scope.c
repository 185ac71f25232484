/*
 * mta_scope.c - the directives a deliverd queue reads, looked up once per
 * scope (common/cfg_scope.c: queues of one VMTA whose domains match the
 * same <domain> blocks share the looked-up nodes), and the root's
 * <mx-rollup-list> blocks, found once per configuration.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mta.h"
#include "util.h"

static const char *ms_names[MS_N] = {
#define MS_NAME(id, name) [MS_##id] = name,
	MTA_SETTINGS(MS_NAME)
#undef MS_NAME
};

static struct cfg_scopes	*scopes;

static struct cfg_node	**root_rollups;
static int		  nroot_rollups, root_done;

const char *
mta_set_name(enum mta_set id)
{
	return ms_names[id];
}

static const struct cfg *
mta_scope_cfg(void)
{
	return mta_cfg();
}

static struct cfg_scopes *
mta_scopes(void)
{
	if (scopes == NULL)
		scopes = cfg_scopes_new(ms_names, MS_N, mta_scope_cfg);
	return scopes;
}

/* The scope of a queue of vmta (NULL: none) whose settings are those of
 * domain; held until cfg_scope_put. */
struct cfg_scope *
mta_scope_get(const char *vmta, const char *domain)
{
	return cfg_scope_get(mta_scopes(), vmta, domain);
}

/* Whether domain has a <domain NAME> block of its own, global or in the
 * VMTA vmta (not in its pool). */
int
mta_scope_has_block(const char *vmta, const char *domain)
{
	return cfg_scope_has_block(mta_scopes(), vmta, domain);
}

/* The <mx-rollup-list> blocks. */
struct cfg_node *const *
mta_scope_rollup_lists(int *n)
{
	struct cfg_node *c, **l;

	if (!root_done) {
		for (c = mta_cfg()->root->child; c != NULL; c = c->next) {
			if (c->def == NULL || c->def->type != CT_BLOCK ||
			    strcmp(c->name, "mx-rollup-list") != 0)
				continue;
			if ((l = reallocarray(root_rollups, nroot_rollups + 1,
			    sizeof(*l))) == NULL)
				fatal("mta_scope_rollup_lists");
			root_rollups = l;
			l[nroot_rollups++] = c;
		}
		root_done = 1;
	}
	*n = nroot_rollups;
	return root_rollups;
}

/* A new configuration: new scopes from now on (the old ones go with the
 * last queue that holds them). */
void
mta_scope_reconfig(void)
{
	cfg_scopes_reset(mta_scopes());
	free(root_rollups);
	root_rollups = NULL;
	nroot_rollups = root_done = 0;
}
