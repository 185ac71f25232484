/*
 * setup_bounced.c - files bounced keeps besides the accounting files.
 *
 * bounced is chrooted in the accounting directory as an unprivileged
 * user and cannot create files there, so ternd opens its suppression
 * list ("suppression.list" next to the first accounting file) and hands
 * the descriptor over like an accounting file (FILE_SUPPRESS).
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proto.h"
#include "ternd.h"

void
setup_suppress_file(struct ternd *t)
{
	struct openfile *f;
	char path[1200];
	int fd;

	if (t->nfiles == TERND_MAX_FILES || t->logdir[0] == '\0' ||
	    strcmp(t->logdir, t->empty) == 0)
		return;
	snprintf(path, sizeof(path), "%s/suppression.list", t->logdir);
	if ((fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC,
	    0640)) == -1) {
		log_warn("suppression list %s", path);
		return;
	}
	f = &t->files[t->nfiles++];
	f->kind = FILE_SUPPRESS;
	strlcpy(f->path, path, sizeof(f->path));
	f->fd = fd;
}
