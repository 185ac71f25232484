/*
 * cfg_sinks.c - whole-tree checks of the event sinks, <acct-amqp NAME>
 * and <acct-webhook NAME> (docs/events.md), so that a mistake is a
 * FILE:LINE error when the configuration is loaded or reloaded, not a
 * sink that silently does not ship: a name usable as a directory, one
 * name per sink (each has its own buffer, spool/events/NAME), a url, and
 * the url's scheme fitting the block.
 */
#include <string.h>

#include "cfg.h"
#include "cfg_priv.h"
#include "ev_url.h"

static void
cfg_check_sink(struct cfg_parser *p, struct cfg_node *b)
{
	struct cfg_node *o, *u;
	struct ev_url url;
	const char *name = b->argc > 0 ? b->argv[0] : b->arg, *err;
	int amqp = strcmp(b->name, "acct-amqp") == 0;

	if (name == NULL || !ev_sink_name_ok(name)) {
		cfg_error(p, b->file, b->line, "<%s %s>: the name may only have "
		    "letters, digits, '.', '_' and '-'", b->name,
		    name ? name : "");
		return;
	}
	for (o = p->cfg->root->child; o != b; o = o->next)
		if ((strcmp(o->name, "acct-amqp") == 0 ||
		    strcmp(o->name, "acct-webhook") == 0) && o->arg != NULL &&
		    strcmp(o->arg, b->arg) == 0)
			cfg_error(p, b->file, b->line, "<%s %s>: a sink of that "
			    "name is at %s:%d", b->name, name, o->file, o->line);
	if ((u = cfg_child(b, "url")) == NULL) {
		cfg_error(p, b->file, b->line, "<%s %s>: no url", b->name,
		    name);
		return;
	}
	if (ev_url_parse(u->arg, &url, &err) == -1)
		cfg_error(p, u->file, u->line, "url: %s", err);
	else if (amqp != (url.scheme == EV_URL_AMQP))
		cfg_error(p, u->file, u->line, "url: <%s> expects %s", b->name,
		    amqp ? "amqp://" : "http:// or https://");
}

void
cfg_check_sinks(struct cfg_parser *p)
{
	struct cfg_node *b;

	for (b = p->cfg->root->child; b != NULL; b = b->next)
		if (strcmp(b->name, "acct-amqp") == 0 ||
		    strcmp(b->name, "acct-webhook") == 0)
			cfg_check_sink(p, b);
}
