/*
 * keys.c - DKIM private keys for deliverd.
 *
 * Key files are readable by root only, and deliverd runs in an empty
 * chroot as an unprivileged user: ternd reads each key of a
 * `domain-key SELECTOR,DOMAIN,FILE` line (global, in a <virtual-mta>, a
 * <virtual-mta-pool> or a <domain-key-list>) whenever it starts a
 * deliverd, and sends it down the setup channel before IMSG_START.  A
 * key that cannot be read is logged and left out; the rest still sign.
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "paths.h"
#include "proto.h"
#include "ternd.h"

#define KEY_MAX		(64 * 1024)	/* a PEM key is a few KB */

static char *
keys_read(const char *path)
{
	char *pem = ternd_read_file(path, KEY_MAX, "domain-key");

	if (pem != NULL && *pem == '\0') {
		log_warnx("domain-key: %s is empty", path);
		free(pem);
		return NULL;
	}
	return pem;
}

/* "SELECTOR,DOMAIN,FILE" (commas and/or blanks) -> one DLV_DKIM_KEY. */
static void
keys_one(struct ternd *t, struct child *c, const struct cfg_node *n,
    const char *vmta)
{
	char *copy, *p, *tok, *f[3], path[1024], *pem;
	int k = 0;

	if (n->arg == NULL || (copy = strdup(n->arg)) == NULL)
		return;
	p = copy;
	while (k < 3 && (tok = strsep(&p, ", \t")) != NULL)
		if (*tok != '\0')
			f[k++] = tok;
	if (k < 3) {
		log_warnx("%s:%d: domain-key needs SELECTOR,DOMAIN,FILE",
		    n->file, n->line);
		free(copy);
		return;
	}
	cfg_path_resolve(t->cfg, f[2], path, sizeof(path));
	if ((pem = keys_read(path)) != NULL) {
		m_create(c->mp, DLV_DKIM_KEY, 0, -1);
		m_add_string(c->mp, f[0]);
		m_add_string(c->mp, f[1]);
		m_add_string(c->mp, vmta);
		m_add_string(c->mp, pem);
		m_close(c->mp);
		explicit_bzero(pem, strlen(pem));
		free(pem);
	}
	free(copy);
}

static void
keys_scope(struct ternd *t, struct child *c, const struct cfg_node *scope,
    const char *vmta)
{
	struct cfg_node *n;

	for (n = cfg_child(scope, "domain-key"); n != NULL;
	    n = cfg_next_named(n, "domain-key"))
		keys_one(t, c, n, vmta);
}

void
keys_send(struct ternd *t, struct child *c)
{
	struct cfg_node *b;

	if (c->proc != PROC_DELIVERD || t->cfg == NULL)
		return;
	for (b = t->cfg->root->child; b != NULL; b = b->next) {
		if (b->def == NULL || b->child == NULL)
			continue;
		if (strcmp(b->name, "virtual-mta") == 0 ||
		    strcmp(b->name, "virtual-mta-pool") == 0)
			keys_scope(t, c, b, b->arg);
		else if (strcmp(b->name, "domain-key-list") == 0)
			keys_scope(t, c, b, NULL);
	}
	keys_scope(t, c, t->cfg->root, NULL);
}
