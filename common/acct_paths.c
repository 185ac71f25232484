/*
 * acct_paths.c - the files bounced writes (acct_paths.h).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "acct_paths.h"

static const char *
ap_arg(const struct cfg_node *n)
{
	if (n->argc > 0)
		return n->argv[0];
	return n->arg != NULL ? n->arg : "";
}

/* The enclosing <domain NAME> / <virtual-mta NAME> of a line. */
static void
ap_scope(const struct cfg_node *n, struct acct_path *p)
{
	const struct cfg_node *s;

	for (s = n->parent; s != NULL && s->name != NULL; s = s->parent) {
		if (p->domain == NULL && strcmp(s->name, "domain") == 0)
			p->domain = ap_arg(s);
		else if (p->vmta == NULL && strcmp(s->name, "virtual-mta") == 0)
			p->vmta = ap_arg(s);
	}
}

static int
ap_is(const struct cfg_node *n, const char *name)
{
	return strcmp(n->name, name) == 0 || (n->as_written != NULL &&
	    strcasecmp(n->as_written, name) == 0);
}

/* log-domain: the closest one in scope of a <domain> block. */
static const char *
ap_log_domain(const struct cfg_node *dom)
{
	const struct cfg_node *s, *n;

	for (s = dom; s != NULL; s = s->parent)
		for (n = s->child; n != NULL; n = n->next)
			if (strcmp(n->name, "log-domain") == 0 && n->argc > 0)
				return n->argv[0];
	return NULL;
}

static void
ap_domain_log(const struct cfg_node *dom,
    void (*fn)(const struct acct_path *, void *), void *arg)
{
	struct acct_path p;
	const char *pat, *name = ap_arg(dom), *pc;
	char path[PATH_MAX];
	size_t o = 0;

	/* Only a named domain: a file per domain must be known to ternd
	 * before bounced sees the first record. */
	if (!cfg_bool(dom, "log-entries", 0) || strpbrk(name, "*[]/") ||
	    strstr(name, "..") || (pat = ap_log_domain(dom)) == NULL)
		return;
	for (pc = pat; *pc != '\0' && o + 1 < sizeof(path); pc++) {
		if (pc[0] == '%' && pc[1] == 'd') {
			o += strlcpy(path + o, name, sizeof(path) - o);
			if (o >= sizeof(path))
				return;
			pc++;
		} else
			path[o++] = *pc;
	}
	path[o] = '\0';
	memset(&p, 0, sizeof(p));
	p.kind = ACCT_SRC_LOGDOMAIN;
	p.written = path;
	p.node = dom;
	p.domain = name;
	fn(&p, arg);
}

static void
ap_walk(const struct cfg_node *scope,
    void (*fn)(const struct acct_path *, void *), void *arg)
{
	static const struct { const char *name; int kind; } lines[] = {
		{ "accounting-log", ACCT_SRC_ACCLOG },
		{ "bounce-log", ACCT_SRC_BOUNCELOG },
		{ "bounce-category-log", ACCT_SRC_BCATLOG },
		{ "log-format-extended", ACCT_SRC_LOGFMT },
	};
	const struct cfg_node *n;
	struct acct_path p;
	size_t i;

	for (n = scope->child; n != NULL; n = n->next) {
		if (strcmp(n->name, "acct-file") == 0) {
			memset(&p, 0, sizeof(p));
			p.kind = ACCT_SRC_FILE;
			p.written = ap_arg(n);
			p.node = n;
			fn(&p, arg);
			continue;
		}
		if (strcmp(n->name, "domain") == 0)
			ap_domain_log(n, fn, arg);
		if (n->child != NULL)
			ap_walk(n, fn, arg);
		for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
			if (!ap_is(n, lines[i].name) || n->argc < 1 ||
			    n->argv[0][0] == '\0')
				continue;
			memset(&p, 0, sizeof(p));
			p.kind = lines[i].kind;
			p.written = n->argv[0];
			p.node = n;
			if (p.kind == ACCT_SRC_LOGFMT)
				p.format = n->argc > 1 ? n->argv[1] :
				    "%t %d %r %s %S %T %p %b %B";
			ap_scope(n, &p);
			fn(&p, arg);
		}
	}
}

void
acct_paths(const struct cfg *cfg,
    void (*fn)(const struct acct_path *, void *), void *arg)
{
	if (cfg != NULL && cfg->root != NULL)
		ap_walk(cfg->root, fn, arg);
}
