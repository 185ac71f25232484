/*
 * cfg_lookup.c - most-specific-wins resolution over the config tree.
 *
 * PowerMTA merges settings from general to specific regardless of file
 * order: for a recipient domain the most specific matching <domain>
 * pattern wins (exact > *.suffix > [*.]suffix > *, longer suffixes
 * first), a VMTA's own <domain> blocks win over its pool's, which win
 * over the global ones.  For an inbound client the <source> with the
 * longest matching prefix wins.  These functions answer those questions
 * from the tree alone, so every daemon resolves them the same way.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cfg.h"

#define CFG_MACRO_DEPTH	8
#define CFG_PATTERN_MAX	1024

/* Pattern kinds, the tie-breaker among equally long suffixes. */
#define K_EXACT		7
#define K_SUB		5	/* *.example.com */
#define K_BOTH		3	/* [*.]example.com */

static struct cfg_node *
cfg_root_named(const struct cfg *cfg, const char *kind, const char *arg)
{
	struct cfg_node *c;

	if (cfg == NULL || arg == NULL)
		return NULL;
	for (c = cfg->root->child; c != NULL; c = c->next)
		if (c->def != NULL && c->def->type == CT_BLOCK &&
		    strcmp(c->name, kind) == 0 && strcasecmp(c->arg, arg) == 0)
			return c;
	return NULL;
}

struct cfg_node *
cfg_vmta(const struct cfg *cfg, const char *name)
{
	return cfg_root_named(cfg, "virtual-mta", name);
}

struct cfg_node *
cfg_pool(const struct cfg *cfg, const char *name)
{
	return cfg_root_named(cfg, "virtual-mta-pool", name);
}

/* Does `dom` (dl bytes) end with ".suffix"? */
static int
cfg_is_subdomain(const char *dom, size_t dl, const char *suffix)
{
	size_t sl = strlen(suffix);

	return sl > 0 && dl > sl + 1 && dom[dl - sl - 1] == '.' &&
	    strncasecmp(dom + dl - sl, suffix, sl) == 0;
}

/* [CIDR] patterns match address literals such as [192.0.2.1]. */
static int
cfg_literal_score(const char *pat, const char *dom, size_t dl)
{
	struct sockaddr_storage ss;
	struct cfg_cidr pc, dc;
	char buf[64];
	const char *err;
	size_t pl = strlen(pat);

	if (pl < 3 || pat[pl - 1] != ']' || dl < 3 || dom[0] != '[' ||
	    dom[dl - 1] != ']' || pl - 2 >= sizeof(buf) || dl - 2 >= sizeof(buf))
		return 0;
	memcpy(buf, pat + 1, pl - 2);
	buf[pl - 2] = '\0';
	if (cfg_parse_cidr(buf, &pc, &err) == -1)
		return 0;
	memcpy(buf, dom + 1, dl - 2);
	buf[dl - 2] = '\0';
	if (cfg_parse_cidr(buf, &dc, &err) == -1)
		return 0;
	memset(&ss, 0, sizeof(ss));
	if (dc.af == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, dc.addr, 4);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, dc.addr, 16);
	}
	if (!cfg_cidr_match(&pc, (struct sockaddr *)&ss))
		return 0;
	return (pc.bits + 1) * 8 + K_EXACT;
}

/* Score of one macro-free pattern: (suffix length * 8 + kind), minus one
 * for patterns produced by a macro, so explicit names win ties. */
static int
cfg_pattern_score(const char *pat, const char *dom, int macro)
{
	size_t dl = strlen(dom), pl;

	while (dl > 0 && dom[dl - 1] == '.')
		dl--;
	if (dl == 0)
		return 0;
	if (strcmp(pat, "*") == 0)
		return 1;
	if (strncmp(pat, "[*.]", 4) == 0) {
		pat += 4;
		pl = strlen(pat);
		if ((pl == dl && strncasecmp(pat, dom, dl) == 0) ||
		    cfg_is_subdomain(dom, dl, pat))
			return (int)pl * 8 + K_BOTH - macro;
		return 0;
	}
	if (strncmp(pat, "*.", 2) == 0) {
		pl = strlen(pat + 2);
		if (cfg_is_subdomain(dom, dl, pat + 2))
			return (int)pl * 8 + K_SUB - macro;
		return 0;
	}
	if (pat[0] == '[')
		return cfg_literal_score(pat, dom, dl);
	pl = strlen(pat);
	if (pl == dl && strncasecmp(pat, dom, dl) == 0)
		return (int)pl * 8 + K_EXACT - macro;
	return 0;
}

static const struct cfg_node *
cfg_find_macro(const struct cfg *cfg, const char *name, size_t len)
{
	const struct cfg_node *c;

	if (cfg == NULL)
		return NULL;
	for (c = cfg->root->child; c != NULL; c = c->next)
		if (strcmp(c->name, "domain-macro") == 0 && c->argc > 1 &&
		    strlen(c->argv[0]) == len &&
		    strncasecmp(c->argv[0], name, len) == 0)
			return c;
	return NULL;
}

/* Expand the first $NAME of `pat` with every entry of the macro (entries
 * are comma or space separated, may use macros themselves) and score
 * each expansion; the best score wins. */
static int
cfg_expand_score(const struct cfg *cfg, const char *pat, const char *dom,
    int depth, int macro)
{
	const struct cfg_node *m;
	const char *dollar, *rest, *s;
	char buf[CFG_PATTERN_MAX];
	size_t len, ilen;
	int best = 0, sc, i;

	if ((dollar = strchr(pat, '$')) == NULL)
		return cfg_pattern_score(pat, dom, macro);
	if (depth >= CFG_MACRO_DEPTH)
		return 0;
	for (len = 0; isalnum((unsigned char)dollar[1 + len]) ||
	    dollar[1 + len] == '_' || dollar[1 + len] == '-'; len++)
		;
	if ((m = cfg_find_macro(cfg, dollar + 1, len)) == NULL)
		return 0;
	rest = dollar + 1 + len;
	for (i = 1; i < m->argc; i++) {
		for (s = m->argv[i]; *s != '\0'; s += ilen) {
			s += strspn(s, ", ");
			if ((ilen = strcspn(s, ", ")) == 0)
				break;
			if (snprintf(buf, sizeof(buf), "%.*s%.*s%s",
			    (int)(dollar - pat), pat, (int)ilen, s, rest) >=
			    (int)sizeof(buf))
				continue;
			sc = cfg_expand_score(cfg, buf, dom, depth + 1, 1);
			if (sc > best)
				best = sc;
		}
	}
	return best;
}

int
cfg_domain_match(const struct cfg *cfg, const char *pattern,
    const char *domain)
{
	if (pattern == NULL || domain == NULL)
		return 0;
	return cfg_expand_score(cfg, pattern, domain, 0, 0);
}

int
cfg_is_domain_block(const struct cfg_node *n)
{
	return n->def != NULL && n->def->type == CT_BLOCK &&
	    strcmp(n->name, "domain") == 0;
}

/* The setting named `canon` (already canonical) directly in `scope`. */
static struct cfg_node *
cfg_child_canon(const struct cfg_node *scope, const char *canon)
{
	struct cfg_node *c;

	for (c = scope->child; c != NULL; c = c->next)
		if (strcmp(c->name, canon) == 0 &&
		    (c->def == NULL || c->def->type != CT_BLOCK))
			return c;
	return NULL;
}

/* The name a directive has inside <domain> blocks (aliases resolved
 * once, not once per block). */
static const char *
cfg_domain_canon(const char *directive)
{
	const struct cfg_directive *d;

	if ((d = cfg_directive_lookup(directive, CFG_S_DOMAIN, 0)) == NULL)
		return directive;
	return cfg_directive_canon(d)->name;
}

/* Best <domain> block of `container` for `domain`; with `canon`, only
 * among the blocks that set that (canonical) directive. */
static struct cfg_node *
cfg_best_domain(const struct cfg *cfg, const struct cfg_node *container,
    const char *domain, const char *canon)
{
	struct cfg_node *c, *best = NULL;
	int sc, bestsc = 0;

	if (container == NULL || domain == NULL)
		return NULL;
	for (c = container->child; c != NULL; c = c->next) {
		if (!cfg_is_domain_block(c))
			continue;
		if ((sc = cfg_domain_match(cfg, c->arg, domain)) <= bestsc)
			continue;
		if (canon != NULL && cfg_child_canon(c, canon) == NULL)
			continue;
		best = c;
		bestsc = sc;
	}
	return best;
}

struct cfg_node *
cfg_domain_block(const struct cfg *cfg, const struct cfg_node *container,
    const char *domain)
{
	return cfg_best_domain(cfg, container, domain, NULL);
}

static struct cfg_node *
cfg_domain_value(const struct cfg *cfg, const struct cfg_node *container,
    const char *domain, const char *canon)
{
	struct cfg_node *b;

	if ((b = cfg_best_domain(cfg, container, domain, canon)) == NULL)
		return NULL;
	return cfg_child_canon(b, canon);
}

/* The first pool (in file order) that lists `vmta` as a member. */
static struct cfg_node *
cfg_pool_of(const struct cfg *cfg, const char *vmta)
{
	struct cfg_node *p, *m;

	for (p = cfg->root->child; p != NULL; p = p->next) {
		if (p->def == NULL || p->def->type != CT_BLOCK ||
		    strcmp(p->name, "virtual-mta-pool") != 0)
			continue;
		for (m = p->child; m != NULL; m = m->next)
			if (strcmp(m->name, "virtual-mta") == 0 &&
			    strcasecmp(m->arg, vmta) == 0)
				return p;
	}
	return NULL;
}

void
cfg_vmta_scopes(const struct cfg *cfg, const char *vmta, struct cfg_node **v,
    struct cfg_node **pool)
{
	*v = *pool = NULL;
	if (cfg == NULL || vmta == NULL)
		return;
	/* A pool name selects the pool itself (shared name space). */
	if ((*v = cfg_vmta(cfg, vmta)) != NULL)
		*pool = cfg_pool_of(cfg, vmta);
	else
		*pool = cfg_pool(cfg, vmta);
}

struct cfg_node *
cfg_domain_setting(const struct cfg *cfg, const char *vmta,
    const char *domain, const char *directive)
{
	struct cfg_node *v, *pool, *n;
	const char *canon;

	if (cfg == NULL || directive == NULL)
		return NULL;
	canon = cfg_domain_canon(directive);
	cfg_vmta_scopes(cfg, vmta, &v, &pool);
	if ((n = cfg_domain_value(cfg, v, domain, canon)) != NULL ||
	    (n = cfg_domain_value(cfg, pool, domain, canon)) != NULL ||
	    (n = cfg_domain_value(cfg, cfg->root, domain, canon)) != NULL)
		return n;
	if ((n = cfg_child(v, directive)) != NULL ||
	    (n = cfg_child(pool, directive)) != NULL)
		return n;
	return cfg_child(cfg->root, directive);
}

struct cfg_node *
cfg_source_match(const struct cfg *cfg, const struct sockaddr *sa)
{
	struct cfg_node *c, *best = NULL;
	struct cfg_cidr cidr;
	const char *err;
	int bestbits = -1;

	if (cfg == NULL || sa == NULL)
		return NULL;
	for (c = cfg->root->child; c != NULL; c = c->next) {
		if (c->def == NULL || c->def->type != CT_BLOCK ||
		    (strcmp(c->name, "source") != 0 &&
		    strcmp(c->name, "accepted-connect") != 0))
			continue;
		/* Named sources ({auth}, "local") are selected, not matched. */
		if (cfg_parse_cidr(c->arg, &cidr, &err) == -1)
			continue;
		if (cidr.bits > bestbits && cfg_cidr_match(&cidr, sa)) {
			best = c;
			bestbits = cidr.bits;
		}
	}
	return best;
}

/* Where a setting came from, for `tern show settings`: "FILE:LINE" of
 * the node, or "default" when it is not set anywhere (n == NULL). */
const char *
cfg_node_origin(const struct cfg_node *n, char *buf, size_t bufsz)
{
	if (n == NULL || n->file == NULL)
		snprintf(buf, bufsz, "default");
	else
		snprintf(buf, bufsz, "%s:%d", n->file, n->line);
	return buf;
}
