/*
 * cluster_cfg.c - the <cluster> block (cluster_cfg.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "cluster_cfg.h"
#include "mproc.h"
#include "util.h"

const struct cfg_node *
cluster_cfg_block(const struct cfg *cfg)
{
	const struct cfg_node *c;

	if (cfg == NULL || (c = cfg_child(cfg->root, "cluster")) == NULL ||
	    cfg_child(c, "redis") == NULL)
		return NULL;
	return c;
}

void
cluster_cfg_read(const struct cfg_node *c, struct cluster_conf *cc)
{
	const struct cfg_node *n;
	const char *v, *err;
	char host[256];
	int port;

	memset(cc, 0, sizeof(*cc));
	for (n = cfg_child(c, "redis"); n != NULL && cc->nseeds <
	    REDIS_MAX_SEEDS; n = cfg_next_named(n, "redis"))
		if (n->arg != NULL && cfg_parse_hostport(n->arg, host,
		    sizeof(host), &port, 6379, &err) == 0)
			snprintf(cc->seeds[cc->nseeds++], sizeof(cc->seeds[0]),
			    strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
	if ((v = cfg_str(c, "node-name", NULL)) != NULL)
		strlcpy(cc->node, v, sizeof(cc->node));
	else if (gethostname(cc->node, sizeof(cc->node)) == -1)
		strlcpy(cc->node, "tern", sizeof(cc->node));
	strlcpy(cc->prefix, cfg_str(c, "key-prefix", "tern:"),
	    sizeof(cc->prefix));
	cc->lease_ms = cfg_time(c, "lease-time", 15) * 1000;
	cc->hb_ms = cfg_time(c, "heartbeat-interval", 3) * 1000;
	cc->timeout_ms = cfg_time(c, "redis-timeout", 2) * 1000;
	if (cc->lease_ms < 1000)
		cc->lease_ms = 1000;
	if (cc->hb_ms < 100 || cc->hb_ms > cc->lease_ms / 2)
		cc->hb_ms = cc->lease_ms / 3;
	if (cc->timeout_ms < 100)
		cc->timeout_ms = 100;
}

void
cluster_cfg_opts(const struct cluster_conf *cc, const char *password,
    struct redis_opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->nseeds = cc->nseeds;
	for (i = 0; i < cc->nseeds; i++)
		o->seeds[i] = cc->seeds[i];
	o->password = password;
	o->timeout_ms = cc->timeout_ms;
}

void
cluster_cfg_password(char **pw, struct msg *m)
{
	const char *s;

	m_get_string(m, &s);
	m_end(m);
	if (*pw != NULL) {
		explicit_bzero(*pw, strlen(*pw));
		free(*pw);
	}
	*pw = s ? xstrdup(s) : NULL;
	if (*pw != NULL)
		(*pw)[strcspn(*pw, "\r\n")] = '\0';
}
