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
 * queued keeps the first SCRATCH_KEEP of them open for good.  Why:
 * ext4 flushes a file that was truncated to zero when its last
 * descriptor is closed (auto_da_alloc, meant for programs that rewrite a
 * file in place), which would write every message's scratch copy to disk
 * for nothing; as long as queued's descriptor is open, the writer's
 * close() is never the last.  That descriptor itself is what queued
 * hands out (lent to the channel, m_create_lent: no dup(), no close()
 * per message) and what it reads at commit.  The writers share its file
 * offset, so smtpd writes with pwrite(2) at its own offsets and nobody
 * needs the offset put back; mgmtd writes with write(2), and queued
 * seeks for it (queue_recv.c).  Slots beyond those (a large HTTP
 * injection creates every file before committing any) are opened and
 * closed each time.
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

/*
 * An empty scratch file, read-write, and its slot in *slot (it names the
 * file until released).  The descriptor is scratch's own when
 * scratch_kept(*slot) (do not close it: lend it), else the caller's.
 */
int
scratch_open(int *slot)
{
	int fd, e;

	*slot = nfree > 0 ? free_slots[--nfree] : next_slot++;
	if (*slot >= SCRATCH_KEEP)
		fd = scratch_file(*slot, O_CREAT);
	else if ((fd = kept[*slot]) == -1)
		fd = kept[*slot] = scratch_file(*slot, O_CREAT);
	if (fd == -1) {
		e = errno;
		scratch_release(*slot, -1);
		errno = e;
	}
	return fd;
}

int
scratch_kept(int slot)
{
	return slot < SCRATCH_KEEP && kept[slot] != -1;
}

/* The file of a slot handed out earlier: the kept descriptor, or the
 * file opened again (the caller's). */
int
scratch_reopen(int slot)
{
	if (scratch_kept(slot))
		return kept[slot];
	return scratch_file(slot, 0);
}

/*
 * The slot is free again; fd (-1, or what scratch_open/reopen gave) is
 * closed unless it is the kept one.  The file is emptied now, and this
 * ftruncate stays, once per message: the body's pages are dropped
 * from the page cache while still dirty, so writeback never writes them
 * (unless a message took longer than the dirty expiry, 30 s by
 * default); a file with data at start is a message cut short
 * (scratch_init); and the next message's size is the file's size
 * (commit_message checks it).  It does not make ext4 write anything
 * (auto_da_alloc acts at the last close, which never comes: above).
 */
void
scratch_release(int slot, int fd)
{
	char path[1200];

	if (scratch_kept(slot)) {
		if (ftruncate(kept[slot], 0) == -1)
			log_warn("scratch/%d", slot);
	} else {
		if (fd != -1)
			close(fd);
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

/* For `tern show status`: slots made so far (the files in scratch/),
 * and how many of them are free. */
void
scratch_counts(uint64_t *files, uint64_t *free)
{
	*files = next_slot;
	*free = nfree;
}
