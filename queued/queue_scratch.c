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
 *
 * queued keeps the first SCRATCH_KEEP of them open for good and hands
 * out duplicates of that descriptor (offset 0: the writers use
 * write(2)); a file is emptied when it is released.  Why: ext4 flushes a file that was truncated to
 * zero when its last descriptor is closed (auto_da_alloc, meant for
 * programs that rewrite a file in place), which would write every
 * message's scratch copy to disk for nothing.  Slots beyond those (a
 * large HTTP injection creates every file before committing any) are
 * opened and closed each time.
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

#define SCRATCH_KEEP	512

static char	 scratch_dir[1100];
static int	*free_slots;		/* a stack */
static size_t	 nfree, cfree;
static int	 next_slot;
static int	 kept[SCRATCH_KEEP];	/* open for good, -1: not yet */

static void	scratch_push(int);

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
	struct stat st;
	DIR *d;

	for (int i = 0; i < SCRATCH_KEEP; i++)
		kept[i] = -1;
	snprintf(scratch_dir, sizeof(scratch_dir), "%s/scratch", root);
	if (mkdir(scratch_dir, 0700) == -1 && errno != EEXIST)
		fatal("mkdir %s", scratch_dir);
	if ((d = opendir(scratch_dir)) == NULL)
		fatal("opendir %s", scratch_dir);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", scratch_dir, de->d_name);
		/* Emptied when released: one with data was being received
		 * (or committed) when Tern stopped.  No 250 was given for
		 * it; a message committed from it is in the log. */
		if (stat(path, &st) == 0 && st.st_size > 0)
			log_info("scratch/%s: %lld bytes of a message being "
			    "received when Tern stopped (no 250 was given); "
			    "removed", de->d_name, (long long)st.st_size);
		unlink(path);
	}
	closedir(d);
}

static int
scratch_file(int slot, int flags)
{
	char path[1200];

	scratch_path(path, sizeof(path), slot);
	return open(path, O_RDWR | O_CLOEXEC | flags, 0600);
}

/* An empty scratch file, read-write; *slot names it until released. */
int
scratch_open(int *slot)
{
	int fd, e;

	*slot = nfree > 0 ? free_slots[--nfree] : next_slot++;
	if (*slot >= SCRATCH_KEEP) {
		if ((fd = scratch_file(*slot, O_CREAT)) == -1)
			goto fail;
		return fd;
	}
	if (kept[*slot] == -1 &&
	    (kept[*slot] = scratch_file(*slot, O_CREAT)) == -1)
		goto fail;
	if (lseek(kept[*slot], 0, SEEK_SET) == -1 ||
	    (fd = fcntl(kept[*slot], F_DUPFD_CLOEXEC, 0)) == -1)
		goto fail;
	return fd;
fail:
	e = errno;
	scratch_release(*slot);
	errno = e;
	return -1;
}

int
scratch_reopen(int slot)
{
	if (slot < SCRATCH_KEEP && kept[slot] != -1)
		return fcntl(kept[slot], F_DUPFD_CLOEXEC, 0);
	return scratch_file(slot, 0);
}

/* Emptied now (in the page cache only: nothing of it was written out)
 * so that a file with data at start is a message cut short. */
void
scratch_release(int slot)
{
	char path[1200];

	if (slot < SCRATCH_KEEP && kept[slot] != -1) {
		if (ftruncate(kept[slot], 0) == -1)
			log_warn("scratch/%d", slot);
	} else {
		scratch_path(path, sizeof(path), slot);
		if (truncate(path, 0) == -1 && errno != ENOENT)
			log_warn("%s", path);
	}
	scratch_push(slot);
}

static void
scratch_push(int slot)
{
	if (nfree == cfree) {
		cfree = cfree ? cfree * 2 : 64;
		if ((free_slots = reallocarray(free_slots, cfree,
		    sizeof(*free_slots))) == NULL)
			fatal("scratch_push");
	}
	free_slots[nfree++] = slot;
}
