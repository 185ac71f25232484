/*
 * setup_http.c - what ternd opens for mgmtd's HTTP interface: the
 * listening socket (http-mgmt-port on http-mgmt-interface) and the
 * htpasswd file (http-mgmt-auth).
 *
 * mgmtd runs chrooted in an empty directory, so it can open neither.
 * The htpasswd file is read here, once, and its content handed down in
 * a memfd (an anonymous in-memory file): mgmtd gets the content, never
 * a way to the file itself.
 *
 * The interface is off unless http-mgmt-port is set: PowerMTA's default
 * of 8080 would make every Tern on a machine (tests run several) fight
 * over one port.
 */
#include <sys/mman.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "paths.h"
#include "proto.h"
#include "ternd.h"

#define HTPASSWD_MAX	(1024 * 1024)

static int
setup_htpasswd(struct ternd *t, const char *written)
{
	struct openfile *f;
	char path[PATH_MAX], buf[8192];
	ssize_t n, total = 0;
	int fd, mfd;

	if (t->nfiles == TERND_MAX_FILES) {
		log_warnx("too many files");
		return -1;
	}
	cfg_path_resolve(t->cfg, written, path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("http-mgmt-auth %s", path);
		return -1;
	}
	if ((mfd = memfd_create("htpasswd", MFD_CLOEXEC)) == -1)
		fatal("memfd_create");
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 || (total += n) > HTPASSWD_MAX ||
		    write(mfd, buf, n) != n) {
			log_warnx("http-mgmt-auth %s: cannot read (or over "
			    "1 MB)", path);
			close(fd);
			close(mfd);
			return -1;
		}
	}
	close(fd);
	f = &t->files[t->nfiles++];
	f->kind = FILE_HTPASSWD;
	strlcpy(f->path, path, sizeof(f->path));
	f->fd = mfd;
	return 0;
}

int
setup_http(struct ternd *t)
{
	const char *auth, *iface;
	char spec[300];
	int64_t port;

	if (cfg_child(t->cfg->root, "http-mgmt-port") == NULL)
		return 0;
	if ((port = cfg_int(t->cfg->root, "http-mgmt-port", 0)) <= 0)
		return 0;
	iface = cfg_str(t->cfg->root, "http-mgmt-interface", "127.0.0.1");
	snprintf(spec, sizeof(spec), "%s%s%s:%lld", strchr(iface, ':') ?
	    "[" : "", iface, strchr(iface, ':') ? "]" : "", (long long)port);
	if (setup_tcp_listener(t, LISTEN_HTTP, spec) == -1)
		return -1;
	if ((auth = cfg_str(t->cfg->root, "http-mgmt-auth", NULL)) != NULL &&
	    setup_htpasswd(t, auth) == -1)
		return -1;
	return 0;
}
