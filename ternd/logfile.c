/*
 * logfile.c - `log-file PATH`: every daemon's log lines in one file, and
 * `tern rotate log`.
 *
 * ternd opens the file as root and makes it its standard error; the
 * daemons inherit it and log to stderr (they get -d).  `tern rotate log`
 * (CTL_ROTATE "log" from mgmtd) renames PATH to PATH.1 after moving
 * PATH.N to PATH.N+1 (`log-rotate` files kept, default 8, as PowerMTA's
 * log.N), opens a new PATH, and hands it to every daemon (IMSG_FILE
 * FILE_LOG: common/daemon.c puts it on fd 2).  A line written during the
 * switch goes to the old file, never nowhere.  Without log-file, Tern
 * logs to syslog (or stderr with -d) and there is nothing to rotate.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "paths.h"
#include "proto.h"
#include "ternd.h"

static int
logfile_openfd(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

/* After daemon(3): log-file, if set, becomes our stderr. */
void
logfile_open(struct ternd *t)
{
	const char *v;
	int fd;

	t->logfd = -1;
	if ((v = cfg_str(t->cfg->root, "log-file", NULL)) == NULL || *v == '\0')
		return;
	cfg_path_resolve(t->cfg, v, t->logfile, sizeof(t->logfile));
	if ((fd = logfile_openfd(t->logfile)) == -1)
		fatal("log-file %s", t->logfile);
	if (dup2(fd, STDERR_FILENO) == -1)
		fatal("dup2");
	t->logfd = fd;
	log_init(1, "ternd");
	log_setverbose(t->verbose);
}

/* PATH.N-1 -> PATH.N ... PATH -> PATH.1; a new PATH.  0 or -1 (err). */
static int
logfile_rotate(struct ternd *t, char *err, size_t errsz)
{
	char from[PATH_MAX + 16], to[PATH_MAX + 16];
	int keep, i, fd, c;

	keep = (int)cfg_int(t->cfg->root, "log-rotate", 8);
	if (keep < 1)
		keep = 1;
	for (i = keep - 1; i >= 1; i--) {
		snprintf(from, sizeof(from), "%s.%d", t->logfile, i);
		snprintf(to, sizeof(to), "%s.%d", t->logfile, i + 1);
		if (rename(from, to) == -1 && errno != ENOENT)
			log_warn("rename %s", from);
	}
	snprintf(to, sizeof(to), "%s.1", t->logfile);
	if (rename(t->logfile, to) == -1 && errno != ENOENT) {
		snprintf(err, errsz, "rename %.1000s: %s", t->logfile,
		    strerror(errno));
		return -1;
	}
	if ((fd = logfile_openfd(t->logfile)) == -1) {
		snprintf(err, errsz, "%.1000s: %s", t->logfile,
		    strerror(errno));
		return -1;
	}
	dup2(fd, STDERR_FILENO);
	close(t->logfd);
	t->logfd = fd;
	for (c = 0; c < t->nchildren; c++) {
		if (t->children[c].mp == NULL)
			continue;
		m_create(t->children[c].mp, IMSG_FILE, 0, dup(fd));
		m_add_u32(t->children[c].mp, FILE_LOG);
		m_add_string(t->children[c].mp, t->logfile);
		m_close(t->children[c].mp);
	}
	log_info("log file rotated");
	return 0;
}

/* CTL_ROTATE from mgmtd: str what ("log"), str file (unused). */
void
logfile_rotate_ctl(struct ternd *t, struct mproc *p, struct imsg *imsg)
{
	const char *what, *file;
	char err[1200];
	struct msg m;
	int ok;

	m_msg(&m, imsg);
	m_get_string(&m, &what);
	m_get_string(&m, &file);
	m_end(&m);
	if (t->logfd == -1) {
		snprintf(err, sizeof(err), "no log-file: Tern logs to syslog "
		    "(or stderr with -d), nothing to rotate");
		ok = 0;
	} else
		ok = logfile_rotate(t, err, sizeof(err)) == 0;
	m_create(p, CTL_RESULT, imsg->hdr.peerid, -1);
	m_add_u32(p, ok);
	m_add_string(p, ok ? "Logging file rotated." : err);
	m_close(p);
}
