/*
 * acct_files.c - what ternd does for bounced's accounting files besides
 * opening them (setup.c): piped accounting and rotation.
 *
 * Pipes.  `<acct-file |COMMAND>`: ternd starts `/bin/sh -c COMMAND` once,
 * as the run-as user (never root), with a pipe on its standard input,
 * and hands bounced the write end as if it were a file.  bounced writes
 * the header line once, then rows.  When the command exits, bounced's
 * writes fail (logged once, rows lost) until the next start.
 *
 * Rotation.  bounced is chrooted and unprivileged, so it cannot rename
 * or create files: when a file is due (move-interval, max-size, `tern
 * rotate acct`) it writes out every row it holds and sends BNC_ROTATE.
 * ternd renames the file aside — `acct.csv` -> `acct-2026-11-23-1930.csv`
 * (`-2`, `-3`, ... if taken), into `move-to` when set — opens a new
 * `acct.csv` and sends the descriptor back (BNC_ROTATED).  Rows bounced
 * writes meanwhile go to the old descriptor, that is into the renamed
 * file; the new one gets every row after.  Every row is written once to
 * exactly one of the two, and queued hears it is written only after the
 * write: nothing is lost or written twice.  Then rotated files older than
 * `delete-after` are deleted (not when moving, as PowerMTA).  A file
 * someone else moved away already (logrotate, then `tern rotate acct`)
 * is not renamed: a new one is opened in its place.
 */
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "paths.h"
#include "proc.h"
#include "proto.h"
#include "ternd.h"

/* --- pipes --- */

int
acct_pipe_open(struct ternd *t, const char *written)
{
	const char *cmd = written + 1;
	int fds[2], devnull;
	pid_t pid;

	while (*cmd == ' ' || *cmd == '\t')
		cmd++;
	if (*cmd == '\0') {
		log_warnx("acct-file \"%s\": no command after |", written);
		return -1;
	}
	if (pipe2(fds, O_CLOEXEC) == -1)
		fatal("pipe2");
	switch ((pid = fork())) {
	case -1:
		fatal("fork");
	case 0:
		signal(SIGPIPE, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		if (dup2(fds[0], STDIN_FILENO) == -1)
			_exit(127);
		/* its output is not ours to read: the log gets nothing */
		if ((devnull = open("/dev/null", O_WRONLY)) != -1)
			dup2(devnull, STDOUT_FILENO);
		if (t->privileged)
			proc_privdrop(t->user[0] ? t->user : NULL, NULL);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(fds[0]);
	log_info("accounting pipe started: %s (pid %d)", cmd, (int)pid);
	return fds[1];
}

/* --- rotation --- */

/* The block of the file: <acct-file PATH> resolving to path. */
static const struct cfg_node *
acct_block(struct ternd *t, const char *path)
{
	const struct cfg_node *n;
	char abs[PATH_MAX];
	const char *arg;

	for (n = cfg_child(t->cfg->root, "acct-file"); n != NULL;
	    n = cfg_next_named(n, "acct-file")) {
		arg = n->argc > 0 ? n->argv[0] : n->arg;
		if (arg == NULL || arg[0] == '|')
			continue;
		cfg_path_resolve(t->cfg, arg, abs, sizeof(abs));
		if (strcmp(abs, path) == 0)
			return n;
	}
	return NULL;
}

/* dir/stem and .ext of a path ("/a/acct.csv": "/a", "acct", ".csv"). */
static void
acct_split(const char *path, char *dir, char *stem, char *ext, size_t sz)
{
	const char *slash = strrchr(path, '/'), *base, *dot;

	base = slash ? slash + 1 : path;
	snprintf(dir, sz, "%.*s", slash ? (int)(slash - path) : 1,
	    slash ? path : ".");
	if (slash == path)
		snprintf(dir, sz, "/");
	dot = strrchr(base, '.');
	if (dot == NULL || dot == base)
		dot = base + strlen(base);
	snprintf(stem, sz, "%.*s", (int)(dot - base), base);
	snprintf(ext, sz, "%s", dot);
}

/* A free name for the rotated file. */
static int
acct_target(const char *path, const char *moveto, char *out, size_t sz)
{
	char dir[PATH_MAX], stem[PATH_MAX], ext[PATH_MAX], date[32], n[16];
	struct stat st;
	time_t now = time(NULL);
	struct tm tm;
	int i;

	acct_split(path, dir, stem, ext, sizeof(dir));
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d-%H%M", &tm);
	for (i = 1; i < 10000; i++) {
		n[0] = '\0';
		if (i > 1)
			snprintf(n, sizeof(n), "-%d", i);
		if (snprintf(out, sz, "%s/%s-%s%s%s", moveto ? moveto : dir,
		    stem, date, n, ext) >= (int)sz)
			return -1;
		if (lstat(out, &st) == -1 && errno == ENOENT)
			return 0;
	}
	return -1;
}

/* delete-after: rotated files (STEM-*EXT next to the file) older than
 * `age` seconds. */
static void
acct_delete_old(const char *path, int64_t age)
{
	char dir[PATH_MAX], stem[PATH_MAX], ext[PATH_MAX], f[PATH_MAX * 2];
	size_t ls, le, ln;
	struct dirent *de;
	struct stat st;
	time_t now = time(NULL);
	DIR *d;

	acct_split(path, dir, stem, ext, sizeof(dir));
	if ((d = opendir(dir)) == NULL)
		return;
	ls = strlen(stem);
	le = strlen(ext);
	while ((de = readdir(d)) != NULL) {
		ln = strlen(de->d_name);
		/* STEM-YYYY-MM-DD-HHMM[-N]EXT */
		if (ln < ls + 16 + le || strncmp(de->d_name, stem, ls) != 0 ||
		    de->d_name[ls] != '-' ||
		    strcmp(de->d_name + ln - le, ext) != 0 ||
		    de->d_name[ls + 1] < '0' || de->d_name[ls + 1] > '9')
			continue;
		snprintf(f, sizeof(f), "%s/%s", dir, de->d_name);
		if (stat(f, &st) == 0 && S_ISREG(st.st_mode) &&
		    now - st.st_mtime > age) {
			if (unlink(f) == 0)
				log_info("accounting file %s deleted "
				    "(delete-after)", f);
			else
				log_warn("delete %s", f);
		}
	}
	closedir(d);
}

/* Rename f aside and open a new file in its place: the new fd, or -1
 * with err set. */
static int
acct_rotate_file(struct ternd *t, struct openfile *f, char *moved,
    size_t movedsz, char *err, size_t errsz)
{
	const struct cfg_node *blk = acct_block(t, f->path);
	const char *moveto = NULL;
	char mt[PATH_MAX];
	int64_t age;
	int fd, aside = 1;

	if (blk != NULL && (moveto = cfg_str(blk, "move-to", NULL)) != NULL) {
		cfg_path_resolve(t->cfg, moveto, mt, sizeof(mt));
		moveto = mt;
	}
	if (acct_target(f->path, moveto, moved, movedsz) == -1) {
		snprintf(err, errsz, "no free name to rotate %.1000s",
		    f->path);
		return -1;
	}
	if (rename(f->path, moved) == -1) {
		if (errno != ENOENT) {
			snprintf(err, errsz, "rename %.1000s to %.1000s: %s",
			    f->path, moved, strerror(errno));
			return -1;
		}
		/* Moved away already: logrotate (/etc/logrotate.d/tern)
		 * renames the file, then runs `tern rotate acct`.  Rows went
		 * on into the moved file; a new one takes them from here. */
		strlcpy(moved, "(moved away before)", movedsz);
		aside = 0;
	}
	if ((fd = open(f->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0640)) == -1) {
		snprintf(err, errsz, "%.1000s: %s", f->path, strerror(errno));
		/* the old name back, so rows keep a file to go to */
		if (aside && rename(moved, f->path) == -1)
			log_warn("rename %s back", moved);
		return -1;
	}
	close(f->fd);
	f->fd = fd;
	log_info("accounting file %s rotated to %s", f->path, moved);
	age = blk != NULL ? cfg_time(blk, "delete-after", 8 * 86400) :
	    8 * 86400;
	if (aside && moveto == NULL && age != INT64_MAX)
		acct_delete_old(f->path, age);
	return fd;
}

/* BNC_ROTATE from bounced. */
void
acct_rotate_msg(struct ternd *t, struct mproc *p, struct imsg *imsg)
{
	char moved[PATH_MAX], err[PATH_MAX + 100];
	struct openfile *f = NULL;
	const char *path;
	struct msg m;
	int i, fd = -1;

	m_msg(&m, imsg);
	m_get_string(&m, &path);
	m_end(&m);
	err[0] = '\0';
	/* Only a file ternd opened as an accounting file, never a pipe. */
	for (i = 0; path != NULL && i < t->nfiles; i++)
		if (t->files[i].kind == FILE_ACCT &&
		    strcmp(t->files[i].path, path) == 0 &&
		    t->files[i].path[0] != '|')
			f = &t->files[i];
	if (f == NULL)
		snprintf(err, sizeof(err), "%.1000s is no accounting file",
		    path ? path : "(none)");
	else
		fd = acct_rotate_file(t, f, moved, sizeof(moved), err,
		    sizeof(err));
	if (fd == -1)
		log_warnx("rotation: %s", err);
	m_create(p, BNC_ROTATED, imsg->hdr.peerid, fd == -1 ? -1 : dup(fd));
	m_add_u32(p, fd != -1);
	m_add_string(p, path);
	m_add_string(p, fd != -1 ? moved : NULL);
	m_add_string(p, fd != -1 ? NULL : err);
	m_close(p);
}
