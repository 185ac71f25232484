/*
 * cfg_node.c - the configuration tree: nodes, navigation and the typed
 * getters every daemon uses (cfg_child, cfg_str, cfg_int, ...).
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cfg.h"
#include "cfg_priv.h"

/*
 * Nodes.
 */

char *
cfg_join(int argc, char **argv)
{
	size_t len = 1;
	char *s;
	int i;

	for (i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	if ((s = malloc(len)) == NULL)
		return NULL;
	s[0] = '\0';
	for (i = 0; i < argc; i++) {
		if (i > 0)
			strlcat(s, " ", len);
		strlcat(s, argv[i], len);
	}
	return s;
}

void
cfg_node_free(struct cfg_node *n)
{
	struct cfg_node *c, *next;
	int i;

	if (n == NULL)
		return;
	for (c = n->child; c != NULL; c = next) {
		next = c->next;
		cfg_node_free(c);
	}
	for (i = 0; i < n->argc; i++)
		free(n->argv[i]);
	free(n->argv);
	free(n->name);
	free(n->as_written);
	free(n->arg);
	free(n->file);
	free(n);
}

struct cfg_node *
cfg_node_new(const struct cfg_directive *def, const char *name,
    const char *as_written, int argc, char **argv, const char *file,
    int line)
{
	struct cfg_node *n;
	int i;

	if ((n = calloc(1, sizeof(*n))) == NULL)
		return NULL;
	n->def = def;
	n->line = line;
	n->name = strdup(name);
	n->as_written = strdup(as_written != NULL ? as_written : name);
	n->file = strdup(file != NULL ? file : "");
	n->arg = cfg_join(argc, argv);
	if (argc > 0)
		n->argv = calloc((size_t)argc, sizeof(*n->argv));
	if (n->name == NULL || n->as_written == NULL || n->file == NULL ||
	    n->arg == NULL || (argc > 0 && n->argv == NULL))
		goto fail;
	for (i = 0; i < argc; i++) {
		if ((n->argv[i] = strdup(argv[i])) == NULL)
			goto fail;
		n->argc++;
	}
	return n;
 fail:
	cfg_node_free(n);
	return NULL;
}

void
cfg_node_append(struct cfg_node *parent, struct cfg_node *n)
{
	n->parent = parent;
	if (parent->last != NULL)
		parent->last->next = n;
	else
		parent->child = n;
	parent->last = n;
}

unsigned
cfg_node_scope(const struct cfg_node *n)
{
	if (n == NULL || (n->def == NULL && n->parent == NULL))
		return CFG_S_GLOBAL;		/* the root */
	if (n->def == NULL || n->def->type != CT_BLOCK)
		return 0;			/* a line, or unknown */
	return n->def->block_scope;
}

struct cfg *
cfg_new(void)
{
	struct cfg *cfg;

	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		return NULL;
	if ((cfg->root = cfg_node_new(NULL, "", "", 0, NULL, "", 0)) == NULL) {
		free(cfg);
		return NULL;
	}
	return cfg;
}

struct cfg_node *
cfg_node_add(struct cfg_node *parent, const char *name,
    const char *as_written, int argc, char **argv, const char *file,
    int line)
{
	const struct cfg_directive *d;
	struct cfg_node *n;

	d = cfg_directive_lookup(name, cfg_node_scope(parent), -1);
	if (d == NULL)
		d = cfg_directive_find(name);
	d = cfg_directive_canon(d);
	n = cfg_node_new(d, d != NULL ? d->name : name, as_written, argc,
	    argv, file, line);
	if (n != NULL)
		cfg_node_append(parent, n);
	return n;
}

void
cfg_free(struct cfg *cfg)
{
	int i;

	if (cfg == NULL)
		return;
	cfg_node_free(cfg->root);
	for (i = 0; i < cfg->nmsgs; i++)
		free(cfg->msgs[i]);
	free(cfg->msgs);
	free(cfg->path);
	free(cfg);
}

/*
 * Navigation and typed getters.
 */

/* The canonical name `name` has where `scope` is (aliases resolved). */
static const char *
cfg_canon_name(const struct cfg_node *scope, const char *name)
{
	const struct cfg_directive *d;

	d = cfg_directive_lookup(name,
	    scope != NULL ? cfg_node_scope(scope) : ~0U, -1);
	if (d == NULL)
		return name;
	return cfg_directive_canon(d)->name;
}

struct cfg_node *
cfg_child(const struct cfg_node *scope, const char *name)
{
	struct cfg_node *c;
	const char *cn;

	if (scope == NULL)
		return NULL;
	cn = cfg_canon_name(scope, name);
	for (c = scope->child; c != NULL; c = c->next)
		if (strcasecmp(c->name, cn) == 0)
			return c;
	return NULL;
}

struct cfg_node *
cfg_next_named(const struct cfg_node *after, const char *name)
{
	struct cfg_node *c;
	const char *cn;

	if (after == NULL)
		return NULL;
	cn = cfg_canon_name(after->parent, name);
	for (c = after->next; c != NULL; c = c->next)
		if (strcasecmp(c->name, cn) == 0)
			return c;
	return NULL;
}

/* The value text of `name` in scope, else its table default, else NULL. */
static const char *
cfg_text(const struct cfg_node *scope, const char *name)
{
	const struct cfg_directive *d;
	struct cfg_node *n;

	if ((n = cfg_child(scope, name)) != NULL)
		return n->arg;
	d = cfg_directive_lookup(name,
	    scope != NULL ? cfg_node_scope(scope) : ~0U, 0);
	if (d == NULL)
		d = cfg_directive_find(name);
	d = cfg_directive_canon(d);
	return d != NULL ? d->defval : NULL;
}

const char *
cfg_str(const struct cfg_node *scope, const char *name, const char *dflt)
{
	const char *s;

	return (s = cfg_text(scope, name)) != NULL ? s : dflt;
}

int
cfg_bool(const struct cfg_node *scope, const char *name, int dflt)
{
	const char *s, *err;
	int v;

	if ((s = cfg_text(scope, name)) == NULL ||
	    cfg_parse_bool(s, &v, &err) == -1)
		return dflt;
	return v;
}

int64_t
cfg_int(const struct cfg_node *scope, const char *name, int64_t dflt)
{
	const char *s, *err;
	int64_t v;

	if ((s = cfg_text(scope, name)) == NULL)
		return dflt;
	if (strcasecmp(s, "unlimited") == 0)
		return INT64_MAX;
	return cfg_parse_int(s, &v, &err) == 0 ? v : dflt;
}

int64_t
cfg_time(const struct cfg_node *scope, const char *name, int64_t dflt)
{
	int64_t v[CFG_MAX_RETRY];
	const char *s, *err;
	int n;

	if ((s = cfg_text(scope, name)) == NULL)
		return dflt;
	if (strcasecmp(s, "never") == 0)
		return INT64_MAX;
	if (cfg_parse_timelist(s, v, CFG_MAX_RETRY, &n, &err) == -1)
		return dflt;
	return v[0];
}

int
cfg_timelist(const struct cfg_node *scope, const char *name, int64_t *out,
    int max)
{
	const char *s, *err;
	int n;

	if ((s = cfg_text(scope, name)) == NULL ||
	    cfg_parse_timelist(s, out, max, &n, &err) == -1)
		return 0;
	return n;
}

uint64_t
cfg_size(const struct cfg_node *scope, const char *name, uint64_t dflt)
{
	const char *s, *err;
	uint64_t v;

	if ((s = cfg_text(scope, name)) == NULL ||
	    cfg_parse_size(s, &v, &err) == -1)
		return dflt;
	return v;
}

int
cfg_get_rate(const struct cfg_node *scope, const char *name,
    struct cfg_rate *out)
{
	const char *s, *err;

	if ((s = cfg_text(scope, name)) == NULL)
		return -1;
	return cfg_parse_rate(s, out, &err);
}
