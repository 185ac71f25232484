/*
 * cfg_scope.h - the settings of a (VMTA, recipient domain) looked up once
 * per scope, for the daemons that ask cfg_domain_setting() the same
 * questions for many domains (deliverd per queue, queued per queue and
 * per message).  See cfg_scope.c.
 */
#ifndef TERN_CFG_SCOPE_H
#define TERN_CFG_SCOPE_H

#include "cfg.h"

struct cfg_scopes;	/* one daemon's cache, for one list of directives */
struct cfg_scope;	/* the answers for one scope, reference counted */

/* A cache for the directives names[0..n-1] (kept, not copied), asked by
 * their index; cfg() gives the configuration in force. */
struct cfg_scopes *cfg_scopes_new(const char *const *names, int n,
		    const struct cfg *(*cfg)(void));
/* A new configuration: new scopes from now on; the old ones stay only as
 * long as someone holds them (give every holder a new one). */
void		 cfg_scopes_reset(struct cfg_scopes *);
/* The scope of mail of vmta (NULL: none) to domain; held until
 * cfg_scope_put. */
struct cfg_scope *cfg_scope_get(struct cfg_scopes *, const char *vmta,
		    const char *domain);
void		 cfg_scope_put(struct cfg_scope *);
/* The node of directive names[id] there, as cfg_domain_setting() finds
 * it, NULL when unset or empty. */
struct cfg_node	*cfg_scope_node(struct cfg_scope *, int id);
/* Its value text, else the directive's default, else NULL. */
const char	*cfg_scope_str(struct cfg_scope *, int id);
/* The scope's <virtual-mta> block, or NULL. */
struct cfg_node	*cfg_scope_vmta(const struct cfg_scope *);
/* Whether domain has a <domain NAME> block of its own, global or in the
 * VMTA vmta (not in its pool). */
int		 cfg_scope_has_block(struct cfg_scopes *, const char *vmta,
		    const char *domain);

#endif
