/*
 * secrets.c - files that only root may read and a chrooted daemon could
 * not open anyway: the inbound TLS certificates and keys (global and per
 * <smtp-listener>), and the password
 * files of SMTP AUTH.  ternd reads them each time it starts smtpd and
 * sends their contents down the setup channel before IMSG_START, so smtpd
 * never needs a path into the host's file system.  The same for queued
 * and bounced: the Redis password of <cluster> (redis-password-file).
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proto.h"
#include "ternd.h"

/* A certificate or a password file is small; a huge one is a mistake
 * (and must fit in one imsg). */
#define SECRET_MAX	(IMSG_MAX_SIZE - 4096)

/* The whole file as a NUL-terminated string, or NULL (logged). */
static char *
secrets_read(const char *path)
{
	return ternd_read_file(path, SECRET_MAX, NULL);
}

/* n: smtp-server-tls-certificate, or the tls-certificate of the
 * <smtp-listener> whose argument is `listener`. */
static void
secrets_cert(struct child *c, const struct cfg_node *n, const char *listener)
{
	char *pem;

	if (n->argc < 1 || (pem = secrets_read(n->argv[0])) == NULL) {
		log_warnx("smtpd: no STARTTLS %s%s without a readable %s",
		    listener ? "on " : "", listener ? listener : "",
		    n->name);
		return;
	}
	m_create(c->mp, SMTPD_TLS_CERT, 0, -1);
	m_add_string(c->mp, pem);
	m_add_string(c->mp, n->argc > 1 ? n->argv[1] : NULL);
	m_add_string(c->mp, listener);
	m_close(c->mp);
	explicit_bzero(pem, strlen(pem));
	free(pem);
}

static void
secrets_passwd(struct child *c, const char *path)
{
	char *text;

	if ((text = secrets_read(path)) == NULL)
		return;
	m_create(c->mp, SMTPD_PASSWD_FILE, 0, -1);
	m_add_string(c->mp, path);
	m_add_string(c->mp, text);
	m_close(c->mp);
	explicit_bzero(text, strlen(text));
	free(text);
}

/* The first line of redis-password-file, to queued and bounced. */
static void
secrets_cluster(struct ternd *t, struct child *c)
{
	const struct cfg_node *cl, *n;
	char *text;

	if ((cl = cfg_child(t->cfg->root, "cluster")) == NULL ||
	    (n = cfg_child(cl, "redis-password-file")) == NULL ||
	    n->argc < 1)
		return;
	if ((text = secrets_read(n->argv[0])) == NULL) {
		log_warnx("cluster: cannot read %s: Redis without AUTH",
		    n->argv[0]);
		return;
	}
	text[strcspn(text, "\r\n")] = '\0';
	m_create(c->mp, CLUSTER_PASSWORD, 0, -1);
	m_add_string(c->mp, text);
	m_close(c->mp);
	explicit_bzero(text, strlen(text));
	free(text);
}

/* Everything smtpd (and queued) needs, sent between its listeners and
 * IMSG_START. */
void
secrets_send(struct ternd *t, struct child *c)
{
	const struct cfg_node *n, *a;

	/* queued (shared limits) and bounced (shared suppression) */
	if ((c->proc == PROC_QUEUED || c->proc == PROC_BOUNCED) &&
	    c->mp != NULL)
		secrets_cluster(t, c);
	if (c->proc != PROC_SMTPD || c->mp == NULL)
		return;
	if ((n = cfg_child(t->cfg->root, "smtp-server-tls-certificate")) !=
	    NULL)
		secrets_cert(c, n, NULL);
	for (n = cfg_child(t->cfg->root, "smtp-listener"); n != NULL;
	    n = cfg_next_named(n, "smtp-listener"))
		if ((a = cfg_child(n, "tls-certificate")) != NULL)
			secrets_cert(c, a, n->argc > 0 ? n->argv[0] : n->arg);
	for (n = t->cfg->root->child; n != NULL; n = n->next) {
		if (strcmp(n->name, "source") != 0 &&
		    strcmp(n->name, "accepted-connect") != 0)
			continue;
		for (a = cfg_child(n, "auth-plain"); a != NULL;
		    a = cfg_next_named(a, "auth-plain"))
			if (a->argc > 0)
				secrets_passwd(c, a->argv[0]);
	}
}
