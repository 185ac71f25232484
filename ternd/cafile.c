/*
 * cafile.c - the CA bundles of smtp-tls-ca-file for deliverd.
 *
 * deliverd verifies a receiver's certificate only for queues that name a
 * CA bundle (smtp-tls-ca-file), and it runs in an empty chroot: ternd
 * reads every bundle the configuration names (anywhere in the tree) when
 * it starts a deliverd, and sends each once, keyed by the value as
 * written, before IMSG_START.  An unreadable bundle is logged and left
 * out: deliverd then trusts nothing for those queues (fails closed).
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "paths.h"
#include "proto.h"
#include "ternd.h"

#define CAFILE_MAX	(4 * 1024 * 1024)	/* a full system bundle is ~200K */
#define CAFILE_SEEN	64

struct cafile_sent {
	const char	*v[CAFILE_SEEN];
	int		 n;
};

static void
cafile_one(struct ternd *t, struct child *c, const struct cfg_node *n,
    struct cafile_sent *sent)
{
	char path[1024], *pem;
	int i;

	if (n->arg == NULL || n->arg[0] == '\0')
		return;
	for (i = 0; i < sent->n; i++)
		if (strcmp(sent->v[i], n->arg) == 0)
			return;
	if (sent->n == CAFILE_SEEN) {
		log_warnx("%s:%d: too many smtp-tls-ca-file bundles", n->file,
		    n->line);
		return;
	}
	sent->v[sent->n++] = n->arg;
	cfg_path_resolve(t->cfg, n->arg, path, sizeof(path));
	if ((pem = ternd_read_file(path, CAFILE_MAX, "smtp-tls-ca-file")) ==
	    NULL)
		return;
	m_create(c->mp, DLV_TLS_CA, 0, -1);
	m_add_string(c->mp, n->arg);
	m_add_string(c->mp, pem);
	m_close(c->mp);
	free(pem);
}

static void
cafile_walk(struct ternd *t, struct child *c, const struct cfg_node *scope,
    struct cafile_sent *sent)
{
	const struct cfg_node *n;

	for (n = scope->child; n != NULL; n = n->next) {
		if (strcmp(n->name, "smtp-tls-ca-file") == 0)
			cafile_one(t, c, n, sent);
		if (n->child != NULL)
			cafile_walk(t, c, n, sent);
	}
}

void
cafile_send(struct ternd *t, struct child *c)
{
	struct cafile_sent sent = { .n = 0 };

	if (c->proc != PROC_DELIVERD || t->cfg == NULL)
		return;
	cafile_walk(t, c, t->cfg->root, &sent);
}
