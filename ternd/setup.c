/*
 * setup.c - everything ternd does with privilege before the daemons
 * start: find the daemons' binaries, create the spool and chroot
 * directories, open the listening sockets and the accounting files.
 * ternd keeps these fds for the life of the process so that a restarted
 * daemon gets the same ones.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acct_paths.h"
#include "cfg.h"
#include "log.h"
#include "paths.h"
#include "proto.h"
#include "ternd.h"

static const char *spool_subdirs[] = { "incoming", "queue", "corrupt", NULL };

/* Daemons live next to ternd in the build tree, else in libexec. */
static void
setup_libexec(struct ternd *t)
{
	char exe[PATH_MAX], probe[PATH_MAX + 32];
	const char *over = getenv("TERN_LIBEXEC");
	ssize_t n;

	if (over != NULL) {
		strlcpy(t->libexec, over, sizeof(t->libexec));
		return;
	}
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) > 0) {
		exe[n] = '\0';
		dirname(exe);		/* .../build/ternd */
		dirname(exe);		/* .../build */
		snprintf(probe, sizeof(probe), "%s/smtpd/smtpd", exe);
		if (access(probe, X_OK) == 0) {
			strlcpy(t->libexec, exe, sizeof(t->libexec));
			t->buildtree = 1;
			return;
		}
	}
	strlcpy(t->libexec, TERN_LIBEXECDIR, sizeof(t->libexec));
}

static int
setup_mkdir(const char *path, mode_t mode, uid_t uid, gid_t gid, int priv)
{
	if (mkdir(path, mode) == -1 && errno != EEXIST) {
		log_warn("mkdir %s", path);
		return -1;
	}
	if (priv && chown(path, uid, gid) == -1) {
		log_warn("chown %s", path);
		return -1;
	}
	return 0;
}

/* mkdir -p for the parents of a path we are about to create. */
static void
setup_mkparents(const char *path)
{
	char buf[PATH_MAX], *p;

	strlcpy(buf, path, sizeof(buf));
	for (p = buf + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		mkdir(buf, 0755);
		*p = '/';
	}
}

static int
setup_user(const char *name, uid_t *uid, gid_t *gid)
{
	struct passwd *pw;

	if ((pw = getpwnam(name)) == NULL) {
		log_warnx("user %s does not exist (scripts/install-deps.sh "
		    "creates _tern and _ternq)", name);
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

int
setup_paths(struct ternd *t)
{
	char path[PATH_MAX + 16];
	uid_t quid = 0;
	gid_t qgid = 0;
	int i;

	setup_libexec(t);
	strlcpy(t->user, cfg_str(t->cfg->root, "run-as-user", "_tern"),
	    sizeof(t->user));
	strlcpy(t->quser, cfg_str(t->cfg->root, "queue-user", "_ternq"),
	    sizeof(t->quser));
	cfg_spool_dir(t->cfg, t->spool, sizeof(t->spool));
	cfg_path_resolve(t->cfg, cfg_str(t->cfg->root, "chroot-dir",
	    TERN_DEFAULT_EMPTY), t->empty, sizeof(t->empty));
	if (t->privileged) {
		uid_t u;
		gid_t g;

		if (setup_user(t->user, &u, &g) == -1 ||
		    setup_user(t->quser, &quid, &qgid) == -1)
			return -1;
		setup_mkparents(t->empty);
		if (setup_mkdir(t->empty, 0755, 0, 0, 1) == -1)
			return -1;
	}
	setup_mkparents(t->spool);
	if (setup_mkdir(t->spool, 0700, quid, qgid, t->privileged) == -1)
		return -1;
	for (i = 0; spool_subdirs[i] != NULL; i++) {
		snprintf(path, sizeof(path), "%s/%s", t->spool,
		    spool_subdirs[i]);
		if (setup_mkdir(path, 0700, quid, qgid, t->privileged) == -1)
			return -1;
	}
	return 0;
}

static int
setup_add_listener(struct ternd *t, int kind, const char *name, int fd)
{
	struct listener *l;

	if (t->nlisteners == TERND_MAX_LISTENERS) {
		log_warnx("too many listeners");
		close(fd);
		return -1;
	}
	l = &t->listeners[t->nlisteners++];
	l->kind = kind;
	strlcpy(l->name, name, sizeof(l->name));
	l->fd = fd;
	return 0;
}

/* A bound socket on spec ("ip:port"): listening when it is TCP. */
static int
setup_listener(struct ternd *t, int kind, const char *spec, int type)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	char host[256], name[300];
	const char *err;
	int port, fd, on = 1;

	if (cfg_parse_hostport(spec, host, sizeof(host), &port, 25,
	    &err) == -1) {
		log_warnx("listener %s: %s", spec, err);
		return -1;
	}
	memset(&ss, 0, sizeof(ss));
	if (strchr(host, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			goto bad;
		sslen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			goto bad;
		sslen = sizeof(*s4);
	}
	if ((fd = socket(ss.ss_family, type | SOCK_CLOEXEC, 0)) == -1)
		fatal("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, (struct sockaddr *)&ss, sslen) == -1) {
		log_warn("cannot listen on %s", spec);
		close(fd);
		return -1;
	}
	if (type == SOCK_STREAM && listen(fd, 1024) == -1)
		fatal("listen");
	snprintf(name, sizeof(name), "%s%s%s:%d", ss.ss_family == AF_INET6 ?
	    "[" : "", host, ss.ss_family == AF_INET6 ? "]" : "", port);
	log_debug("listening on %s", name);
	return setup_add_listener(t, kind, name, fd);
bad:
	log_warnx("listener %s: not an IP address", spec);
	return -1;
}

int
setup_tcp_listener(struct ternd *t, int kind, const char *spec)
{
	return setup_listener(t, kind, spec, SOCK_STREAM);
}

int
setup_udp_socket(struct ternd *t, int kind, const char *spec)
{
	return setup_listener(t, kind, spec, SOCK_DGRAM);
}

/* Hand the control socket to the `tern` group, so operators need not be
 * root to run `tern`.  Only when ternd is root: otherwise the socket
 * already belongs to whoever runs it. */
static void
setup_control_group(const char *path)
{
	struct group *gr;

	if (geteuid() != 0 || (gr = getgrnam(TERN_CONTROL_GROUP)) == NULL)
		return;
	if (chown(path, 0, gr->gr_gid) == -1)
		log_warn("control socket %s: chown to group %s", path,
		    TERN_CONTROL_GROUP);
}

static int
setup_control(struct ternd *t)
{
	struct sockaddr_un sun;
	char path[PATH_MAX];
	int fd;
	mode_t old;

	cfg_control_socket(t->cfg, path, sizeof(path));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		log_warnx("control socket path too long: %s", path);
		return -1;
	}
	setup_mkparents(path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		fatal("socket");
	unlink(path);
	/* Only root and the members of the `tern` group may steer the
	 * MTA: mode 0660, group tern when the system has that group (the
	 * package creates it; without it the socket stays root's). */
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		log_warn("control socket %s", path);
		close(fd);
		return -1;
	}
	umask(old);
	setup_control_group(path);
	if (listen(fd, 64) == -1)
		fatal("listen");
	return setup_add_listener(t, LISTEN_CONTROL, path, fd);
}

int
setup_listeners(struct ternd *t)
{
	struct cfg_node *n;
	char spec[64];
	int count = 0;

	for (n = cfg_child(t->cfg->root, "smtp-listener"); n != NULL;
	    n = cfg_next_named(n, "smtp-listener")) {
		if (setup_tcp_listener(t, LISTEN_SMTP, n->argc > 0 ?
		    n->argv[0] : n->arg) == -1)
			return -1;
		count++;
	}
	if ((n = cfg_child(t->cfg->root, "smtp-port")) != NULL) {
		snprintf(spec, sizeof(spec), "0.0.0.0:%s", n->argv[0]);
		if (setup_tcp_listener(t, LISTEN_SMTP, spec) == -1)
			return -1;
		count++;
	}
	/* PowerMTA listens on port 25 of every address when told nothing. */
	if (count == 0 && setup_tcp_listener(t, LISTEN_SMTP, "0.0.0.0:25") ==
	    -1)
		return -1;
	return setup_control(t);
}

static int
setup_acct_file(struct ternd *t, const char *written)
{
	struct openfile *f;
	char path[PATH_MAX];
	int fd;

	if (t->nfiles == TERND_MAX_FILES) {
		log_warnx("too many accounting files");
		return -1;
	}
	if (written[0] == '|') {	/* acct_files.c */
		if ((fd = acct_pipe_open(t, written)) == -1)
			return -1;
		f = &t->files[t->nfiles++];
		f->kind = FILE_ACCT;
		strlcpy(f->path, written, sizeof(f->path));
		f->fd = fd;
		return 0;
	}
	cfg_path_resolve(t->cfg, written, path, sizeof(path));
	setup_mkparents(path);
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0640)) == -1) {
		log_warn("accounting file %s", path);
		return -1;
	}
	f = &t->files[t->nfiles++];
	f->kind = FILE_ACCT;
	strlcpy(f->path, path, sizeof(f->path));
	f->fd = fd;
	if (t->logdir[0] == '\0') {
		char *slash;

		strlcpy(t->logdir, path, sizeof(t->logdir));
		if ((slash = strrchr(t->logdir, '/')) != NULL)
			slash[slash == t->logdir ? 1 : 0] = '\0';
	}
	return 0;
}

/* Every file bounced writes (common/acct_paths.c), each path once. */
static void
setup_acct_path(const struct acct_path *p, void *arg)
{
	struct ternd *t = arg;
	char path[PATH_MAX];
	int i;

	if (t->failed)
		return;
	if (p->written[0] != '|')
		cfg_path_resolve(t->cfg, p->written, path, sizeof(path));
	else
		strlcpy(path, p->written, sizeof(path));
	for (i = 0; i < t->nfiles; i++)
		if (t->files[i].kind == FILE_ACCT &&
		    strcmp(t->files[i].path, path) == 0)
			return;
	if (setup_acct_file(t, p->written) == -1)
		t->failed = 1;
}

int
setup_files(struct ternd *t)
{
	t->failed = 0;
	acct_paths(t->cfg, setup_acct_path, t);
	if (t->failed)
		return -1;
	if (t->logdir[0] == '\0')
		strlcpy(t->logdir, t->empty, sizeof(t->logdir));
	setup_suppress_file(t);		/* setup_bounced.c */
	setup_events_dir(t);		/* setup_events.c */
	return 0;
}
