/*
 * smtp_limit.c - inbound connection limits beyond total-max-smtp-in:
 *
 *	<source CIDR> max-smtp-in N	connections from all the clients that
 *					block matches, together
 *	<source-group G> max-smtp-in N	connections from all the sources that
 *					say `source-group G`, together
 *	max-smtp-in N (global)		connections from one client IP
 *
 * Counters are keyed by text ("s:" block argument, "g:" group name,
 * "i:" client IP), not by config nodes, so that they survive a reload.
 * A session remembers the keys it counted and gives them back when it
 * closes.  The table is small: one entry per busy source or client.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "smtpd.h"

struct smtp_counter {
	char			*key;
	uint32_t		 n;
	struct smtp_counter	*next;
};

static struct smtp_counter	*smtp_counters;

static struct smtp_counter *
smtp_counter(const char *key, int create)
{
	struct smtp_counter *c;

	for (c = smtp_counters; c != NULL; c = c->next)
		if (strcmp(c->key, key) == 0)
			return c;
	if (!create)
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->key = strdup(key)) == NULL)
		fatal("smtp_counter");
	c->next = smtp_counters;
	smtp_counters = c;
	return c;
}

static void
smtp_counter_drop(const char *key)
{
	struct smtp_counter **pp, *c;

	for (pp = &smtp_counters; (c = *pp) != NULL; pp = &c->next)
		if (strcmp(c->key, key) == 0) {
			if (c->n > 0 && --c->n == 0) {
				*pp = c->next;
				free(c->key);
				free(c);
			}
			return;
		}
}

/* The limit set by `max-smtp-in` in scope, or -1 (unset, unlimited). */
static int64_t
smtp_limit_of(const struct cfg_node *scope)
{
	int64_t n;

	if (scope == NULL || cfg_child(scope, "max-smtp-in") == NULL)
		return -1;
	n = cfg_int(scope, "max-smtp-in", -1);
	return n == INT64_MAX ? -1 : n;
}

static struct cfg_node *
smtp_limit_group(const struct cfg_node *src)
{
	struct cfg_node *g;
	const char *name;

	if (src == NULL || smtpd.cfg == NULL ||
	    (name = cfg_str(src, "source-group", NULL)) == NULL)
		return NULL;
	for (g = cfg_child(smtpd.cfg->root, "source-group"); g != NULL;
	    g = cfg_next_named(g, "source-group"))
		if (g->arg != NULL && strcmp(g->arg, name) == 0)
			return g;
	return NULL;
}

/* Count the session against each limit that applies; 0, or -1 (nothing
 * counted) when one of them is reached. */
int
smtp_limit_take(struct smtp_session *s, const struct cfg_node *src)
{
	struct { char key[300]; int64_t max; } want[SMTP_NLIMITS];
	const struct cfg_node *grp = smtp_limit_group(src);
	struct smtp_counter *c;
	int n = 0, i;

	if (smtpd.cfg != NULL &&
	    (want[n].max = smtp_limit_of(smtpd.cfg->root)) >= 0)
		snprintf(want[n++].key, sizeof(want[0].key), "i:%s", s->ip);
	if (src != NULL && (want[n].max = smtp_limit_of(src)) >= 0)
		snprintf(want[n++].key, sizeof(want[0].key), "s:%s", src->arg);
	if (grp != NULL && (want[n].max = smtp_limit_of(grp)) >= 0)
		snprintf(want[n++].key, sizeof(want[0].key), "g:%s", grp->arg);
	for (i = 0; i < n; i++)
		if ((c = smtp_counter(want[i].key, 0)) != NULL &&
		    c->n >= want[i].max) {
			log_info("%08x: %s: max-smtp-in %lld reached for %s",
			    s->id, s->ip, (long long)want[i].max, want[i].key);
			return -1;
		} else if (c == NULL && want[i].max == 0)
			return -1;
	for (i = 0; i < n; i++) {
		smtp_counter(want[i].key, 1)->n++;
		if ((s->limits[i] = strdup(want[i].key)) == NULL)
			fatal("smtp_limit_take");
	}
	return 0;
}

void
smtp_limit_release(struct smtp_session *s)
{
	int i;

	for (i = 0; i < SMTP_NLIMITS; i++) {
		if (s->limits[i] == NULL)
			continue;
		smtp_counter_drop(s->limits[i]);
		free(s->limits[i]);
		s->limits[i] = NULL;
	}
}
