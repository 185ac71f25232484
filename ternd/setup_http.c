/*
 * setup_http.c - what ternd opens for mgmtd's HTTP interface: the
 * listening socket (http-mgmt-port on http-mgmt-interface), the htpasswd
 * file (http-mgmt-auth) and the TLS certificate and key
 * (http-mgmt-tls-certificate).
 *
 * mgmtd runs chrooted in an empty directory, so it can open none of
 * them.  The files are read here, once, and their content handed down
 * in a memfd (an anonymous in-memory file): mgmtd gets the content,
 * never a way to the file itself.
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

#define MEMFILE_MAX	(1024 * 1024)

/* The content of file `written` (config-relative) as a FILE_* for
 * mgmtd. */
static int
setup_memfile(struct ternd *t, const char *written, int kind,
    const char *what)
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
		log_warn("%s %s", what, path);
		return -1;
	}
	if ((mfd = memfd_create(what, MFD_CLOEXEC)) == -1)
		fatal("memfd_create");
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 || (total += n) > MEMFILE_MAX ||
		    write(mfd, buf, n) != n) {
			log_warnx("%s %s: cannot read (or over 1 MB)", what,
			    path);
			close(fd);
			close(mfd);
			return -1;
		}
	}
	close(fd);
	f = &t->files[t->nfiles++];
	f->kind = kind;
	strlcpy(f->path, path, sizeof(f->path));
	f->fd = mfd;
	return 0;
}

/* snmp-port on snmp-interface: a UDP socket bound here as root (161 is
 * privileged) for mgmtd's SNMP agent. */
static int
setup_snmp(struct ternd *t)
{
	const char *iface;
	char spec[300];
	int64_t port;

	if ((port = cfg_int(t->cfg->root, "snmp-port", 0)) <= 0)
		return 0;
	iface = cfg_str(t->cfg->root, "snmp-interface", "127.0.0.1");
	snprintf(spec, sizeof(spec), "%s%s%s:%lld", strchr(iface, ':') ?
	    "[" : "", iface, strchr(iface, ':') ? "]" : "", (long long)port);
	return setup_udp_socket(t, LISTEN_SNMP, spec);
}

int
setup_http(struct ternd *t)
{
	const char *auth, *iface, *cert;
	char spec[300];
	int64_t port;

	if (setup_snmp(t) == -1)
		return -1;
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
	    setup_memfile(t, auth, FILE_HTPASSWD, "http-mgmt-auth") == -1)
		return -1;
	if ((cert = cfg_str(t->cfg->root, "http-mgmt-tls-certificate",
	    NULL)) != NULL && setup_memfile(t, cert, FILE_HTTP_CERT,
	    "http-mgmt-tls-certificate") == -1)
		return -1;
	return 0;
}
