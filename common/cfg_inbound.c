/*
 * cfg_inbound.c - which recipients are Tern's own: the addresses that
 * asynchronous bounces and feedback-loop reports come back to.
 *
 * smtpd accepts them from any client (no relaying needed) and queued
 * hands their messages to bounced instead of delivering them; both ask
 * here so they agree.  The domains: `bounce-domain` (global), and the
 * `domain` and `address` lines of the <address-list> in
 * <bounce-processor> and <feedback-loop-processor> blocks.
 */
#include <string.h>
#include <strings.h>

#include "cfg.h"
#include "envelope.h"

static int
cfg_inbound_list_match(const struct cfg *cfg, const struct cfg_node *proc,
    const char *rcpt, const char *dom)
{
	const struct cfg_node *l, *n;

	for (l = cfg_child(proc, "address-list"); l != NULL;
	    l = cfg_next_named(l, "address-list"))
		for (n = l->child; n != NULL; n = n->next) {
			if (n->arg == NULL)
				continue;
			if (strcmp(n->name, "domain") == 0 &&
			    cfg_domain_match(cfg, n->arg, dom) > 0)
				return 1;
			if (strcmp(n->name, "address") == 0 &&
			    strcasecmp(n->arg, rcpt) == 0)
				return 1;
		}
	return 0;
}

static const char *const cfg_inbound_procs[] = { "bounce-processor",
    "feedback-loop-processor" };

int
cfg_inbound_any(const struct cfg *cfg)
{
	size_t i;

	if (cfg == NULL)
		return 0;
	if (cfg_str(cfg->root, "bounce-domain", NULL) != NULL)
		return 1;
	for (i = 0; i < sizeof(cfg_inbound_procs) /
	    sizeof(cfg_inbound_procs[0]); i++)
		if (cfg_child(cfg->root, cfg_inbound_procs[i]) != NULL)
			return 1;
	return 0;
}

int
cfg_inbound_addr(const struct cfg *cfg, const char *rcpt)
{
	const struct cfg_node *p;
	const char *bd;
	char dom[256];
	size_t i;

	if (cfg == NULL || rcpt == NULL)
		return 0;
	addr_domain(rcpt, dom, sizeof(dom));
	if ((bd = cfg_str(cfg->root, "bounce-domain", NULL)) != NULL &&
	    strcasecmp(bd, dom) == 0)
		return 1;
	for (i = 0; i < sizeof(cfg_inbound_procs) /
	    sizeof(cfg_inbound_procs[0]); i++)
		for (p = cfg_child(cfg->root, cfg_inbound_procs[i]);
		    p != NULL; p = cfg_next_named(p, cfg_inbound_procs[i]))
			if (cfg_inbound_list_match(cfg, p, rcpt, dom))
				return 1;
	return 0;
}
