/*
 * setup_events.c - what bounced needs to ship accounting records to
 * RabbitMQ and webhooks (docs/events.md) and cannot do itself, being
 * chrooted in the accounting directory as an unprivileged user:
 *
 *  - its buffer directory: SPOOL/events, owned by the run-as user, is
 *    opened here and handed over as a directory descriptor (FILE_EVENTS);
 *    bounced creates one subdirectory per sink with mkdirat() under it;
 *  - per <acct-amqp>/<acct-webhook> block (BNC_EVENT_SINK): the url's host
 *    resolved to an address (there is no resolv.conf in the chroot) and
 *    the content of its credentials-file (root-only on disk), and for
 *    an https:// url its ca-file, open (a system bundle is too big for
 *    one imsg; a descriptor has no such limit).
 *
 * Both are sent at each start of bounced and the sinks again after each
 * reload, so a changed url or password needs no restart.  Resolving
 * blocks ternd's loop for the time of one lookup; it only happens then.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ev_url.h"
#include "log.h"
#include "paths.h"
#include "proto.h"
#include "ternd.h"

#define EVENTS_CRED_MAX	4096
#define EVENTS_CA_DEFAULT	"/etc/ssl/certs/ca-certificates.crt"

static const char *events_blocks[] = { "acct-amqp", "acct-webhook", NULL };

void
setup_events_dir(struct ternd *t)
{
	struct passwd *pw;
	struct openfile *f;
	char path[1100];
	int fd;

	if (t->nfiles == TERND_MAX_FILES)
		return;
	snprintf(path, sizeof(path), "%s/events", t->spool);
	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
		log_warn("mkdir %s", path);
		return;
	}
	if (t->privileged && ((pw = getpwnam(t->user)) == NULL ||
	    chown(path, pw->pw_uid, pw->pw_gid) == -1)) {
		log_warn("chown %s to %s", path, t->user);
		return;
	}
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		log_warn("%s", path);
		return;
	}
	f = &t->files[t->nfiles++];
	f->kind = FILE_EVENTS;
	strlcpy(f->path, path, sizeof(f->path));
	f->fd = fd;
}

/* The first address of host, numeric, in buf; -1 if none. */
static int
events_resolve(const char *host, char *buf, size_t bufsz)
{
	struct addrinfo hints, *res;
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((r = getaddrinfo(host, NULL, &hints, &res)) != 0) {
		log_warnx("events: cannot resolve %s: %s", host,
		    gai_strerror(r));
		return -1;
	}
	r = getnameinfo(res->ai_addr, res->ai_addrlen, buf, bufsz, NULL, 0,
	    NI_NUMERICHOST);
	freeaddrinfo(res);
	return r == 0 ? 0 : -1;
}

static void
events_send_sink(struct ternd *t, struct child *c, const struct cfg_node *n)
{
	const char *url, *err, *cf;
	struct ev_url u;
	char addr[INET6_ADDRSTRLEN + 1], path[PATH_MAX], *cred = NULL;
	int have_addr = 0, cafd = -1;

	if ((url = cfg_str(n, "url", NULL)) != NULL &&
	    ev_url_parse(url, &u, &err) == 0) {
		have_addr = events_resolve(u.host, addr, sizeof(addr)) == 0;
		if (u.scheme == EV_URL_HTTPS && (cafd = open(cfg_path_resolve(
		    t->cfg, cfg_str(n, "ca-file", EVENTS_CA_DEFAULT), path,
		    sizeof(path)), O_RDONLY | O_CLOEXEC)) == -1)
			log_warn("events: ca-file %s", path);
	}
	if ((cf = cfg_str(n, "credentials-file", NULL)) != NULL &&
	    cfg_path_resolve(t->cfg, cf, path, sizeof(path)) != NULL)
		cred = ternd_read_file(path, EVENTS_CRED_MAX, "events");
	m_create(c->mp, BNC_EVENT_SINK, 0, cafd);	/* imsg closes it */
	m_add_string(c->mp, n->argc > 0 ? n->argv[0] : n->arg);
	m_add_string(c->mp, have_addr ? addr : NULL);
	m_add_string(c->mp, cred);
	m_close(c->mp);
	if (cred != NULL) {
		explicit_bzero(cred, strlen(cred));
		free(cred);
	}
}

void
events_send(struct ternd *t, struct child *c)
{
	const struct cfg_node *n;
	int i;

	if (c->proc != PROC_BOUNCED || c->mp == NULL)
		return;
	for (i = 0; events_blocks[i] != NULL; i++)
		for (n = cfg_child(t->cfg->root, events_blocks[i]); n != NULL;
		    n = cfg_next_named(n, events_blocks[i]))
			events_send_sink(t, c, n);
}
