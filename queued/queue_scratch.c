/*
 * queue_scratch.c - where a message is written before it is committed.
 *
 * smtpd (and mgmtd, for HTTP injection) write the body of a message they
 * receive into a file queued hands them; at commit queued appends it to
 * the message log (queue_seg.c) and the file is free again.  The files,
 * scratch/N, are reused: creating and removing a file per message costs
 * more than the rest of its commit (ext4's inode allocation).  Nothing
 * in them is ever acknowledged, so nothing in them is synced, and at
 * start they are all removed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "queued.h"

static char	 scratch_dir[1100];
static int	*free_slots;		/* a stack */
static size_t	 nfree, cfree;
static int	 next_slot;

static void
scratch_path(char *buf, size_t sz, int slot)
{
	snprintf(buf, sz, "%s/%d", scratch_dir, slot);
}

void
scratch_init(const char *root)
{
	char path[1400];
	struct dirent *de;
	DIR *d;

	snprintf(scratch_dir, sizeof(scratch_dir), "%s/scratch", root);
	if (mkdir(scratch_dir, 0700) == -1 && errno != EEXIST)
		fatal("mkdir %s", scratch_dir);
	if ((d = opendir(scratch_dir)) == NULL)
		fatal("opendir %s", scratch_dir);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", scratch_dir, de->d_name);
		unlink(path);
	}
	closedir(d);
}

/* An empty scratch file, read-write; *slot names it until released. */
int
scratch_open(int *slot)
{
	char path[1200];
	int fd;

	*slot = nfree > 0 ? free_slots[--nfree] : next_slot++;
	scratch_path(path, sizeof(path), *slot);
	if ((fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) ==
	    -1) {
		int e = errno;

		scratch_release(*slot);
		errno = e;
	}
	return fd;
}

int
scratch_reopen(int slot)
{
	char path[1200];

	scratch_path(path, sizeof(path), slot);
	return open(path, O_RDWR | O_CLOEXEC);
}

void
scratch_release(int slot)
{
	if (nfree == cfree) {
		cfree = cfree ? cfree * 2 : 64;
		if ((free_slots = reallocarray(free_slots, cfree,
		    sizeof(*free_slots))) == NULL)
			fatal("scratch_release");
	}
	free_slots[nfree++] = slot;
}
