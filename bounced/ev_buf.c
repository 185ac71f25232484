/*
 * ev_buf.c - the on-disk buffer of one event sink, in spool/events/NAME:
 *
 *	00000000000000000001.jsonl	segments: one record per line
 *	00000000000000000002.jsonl	(the last one is appended to)
 *	cursor				"SEGMENT OFFSET": first unsent byte
 *
 * The main thread appends whole lines with one write and fdatasync() per
 * loop turn, before queued hears the records are written; a failed write
 * is cut off again, so a segment only ever holds complete lines.  A
 * segment is closed at EV_SEG_MAX and a new one begun.  The shipper reads
 * from the cursor, sends, and only after the far end confirmed saves the
 * cursor (write a temporary file, rename) and deletes segments it has
 * passed.  A crash between the confirmation and the rename sends the
 * batch again: at least once, duplicates possible (docs/events.md).
 */
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "events.h"
#include "log.h"
#include "util.h"

#define EV_SEG_MAX	(1024 * 1024)

static void
ev_seg_name(uint64_t seg, char *buf, size_t sz)
{
	snprintf(buf, sz, "%020" PRIu64 ".jsonl", seg);
}

static int
ev_seg_parse(const char *name, uint64_t *seg)
{
	char *end;

	if (strlen(name) != 26 || strcmp(name + 20, ".jsonl") != 0)
		return -1;
	*seg = strtoull(name, &end, 10);
	return end == name + 20 ? 0 : -1;
}

static void
ev_cursor_save(struct ev_buf *b)
{
	char line[64];
	int fd, n;

	n = snprintf(line, sizeof(line), "%" PRIu64 " %" PRIu64 "\n",
	    b->rseg, b->roff);
	if ((fd = openat(b->dirfd, "cursor.tmp", O_WRONLY | O_CREAT |
	    O_TRUNC | O_CLOEXEC, 0600)) == -1 ||
	    write_all(fd, line, n) == -1 ||
	    renameat(b->dirfd, "cursor.tmp", b->dirfd, "cursor") == -1)
		log_warn("events: cannot save the cursor");
	if (fd != -1)
		close(fd);
}

static void
ev_cursor_load(struct ev_buf *b)
{
	char line[64];
	ssize_t n;
	int fd;

	b->rseg = b->roff = 0;
	if ((fd = openat(b->dirfd, "cursor", O_RDONLY | O_CLOEXEC)) == -1)
		return;
	n = read(fd, line, sizeof(line) - 1);
	close(fd);
	line[n > 0 ? n : 0] = '\0';
	if (sscanf(line, "%" SCNu64 " %" SCNu64, &b->rseg, &b->roff) != 2)
		b->rseg = b->roff = 0;
}

/* Lowest and highest segment present; 0 if there is none. */
static int
ev_seg_range(struct ev_buf *b, uint64_t *lo, uint64_t *hi)
{
	struct dirent *de;
	uint64_t seg;
	DIR *d;
	int fd, found = 0;

	if ((fd = dup(b->dirfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (ev_seg_parse(de->d_name, &seg) == -1)
			continue;
		if (!found || seg < *lo)
			*lo = seg;
		if (!found || seg > *hi)
			*hi = seg;
		found = 1;
	}
	closedir(d);
	return found;
}

/* Size and lines of a segment from off; a torn last line is cut off
 * (a crash in the middle of a write). */
static int
ev_seg_scan(struct ev_buf *b, uint64_t seg, uint64_t off, uint64_t *bytes,
    uint64_t *lines, int cut)
{
	char name[64], buf[65536];
	uint64_t pos = off, lastnl = off;
	ssize_t n, i;
	int fd;

	ev_seg_name(seg, name, sizeof(name));
	if ((fd = openat(b->dirfd, name, (cut ? O_RDWR : O_RDONLY) |
	    O_CLOEXEC)) == -1)
		return -1;
	*lines = 0;
	while ((n = pread(fd, buf, sizeof(buf), pos)) > 0) {
		for (i = 0; i < n; i++)
			if (buf[i] == '\n') {
				(*lines)++;
				lastnl = pos + i + 1;
			}
		pos += n;
	}
	if (cut && lastnl < pos && ftruncate(fd, lastnl) == -1)
		log_warn("events: truncate %s", name);
	close(fd);
	*bytes = lastnl - off;
	return 0;
}

static int
ev_seg_open(struct ev_buf *b)
{
	char name[64];

	ev_seg_name(b->wseg, name, sizeof(name));
	if ((b->wfd = openat(b->dirfd, name, O_WRONLY | O_APPEND | O_CREAT |
	    O_CLOEXEC, 0600)) == -1) {
		log_warn("events: %s", name);
		return -1;
	}
	return 0;
}

int
ev_buf_open(struct ev_buf *b, int eventsfd, const char *name)
{
	uint64_t lo = 0, hi = 0, seg, bytes, lines;
	int found;

	memset(b, 0, sizeof(*b));
	b->wfd = -1;
	if ((mkdirat(eventsfd, name, 0700) == -1 && errno != EEXIST) ||
	    (b->dirfd = openat(eventsfd, name, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1) {
		log_warn("events: buffer directory %s", name);
		return -1;
	}
	ev_cursor_load(b);
	if ((found = ev_seg_range(b, &lo, &hi)) == -1)
		return -1;
	if (!found)
		lo = hi = b->rseg > 0 ? b->rseg : 1;
	if (b->rseg < lo || b->rseg > hi) {	/* lost or stale cursor */
		b->rseg = lo;
		b->roff = 0;
	}
	b->wseg = hi;
	for (seg = b->rseg; seg <= hi; seg++) {
		if (ev_seg_scan(b, seg, seg == b->rseg ? b->roff : 0, &bytes,
		    &lines, seg == hi) == -1)
			continue;
		b->bytes += bytes;
		b->records += lines;
		if (seg == hi)
			b->woff = (seg == b->rseg ? b->roff : 0) + bytes;
	}
	return ev_seg_open(b);
}

int
ev_buf_append(struct ev_buf *b, const char *data, size_t len, size_t nrec)
{
	if (b->wfd == -1 && ev_seg_open(b) == -1)
		return -1;
	if (write_all(b->wfd, data, len) == -1 || fdatasync(b->wfd) == -1) {
		/* keep whole lines only */
		if (ftruncate(b->wfd, b->woff) == -1)
			log_warn("events: truncate");
		return -1;
	}
	b->woff += len;
	b->bytes += len;
	b->records += nrec;
	if (b->woff >= EV_SEG_MAX) {
		close(b->wfd);
		b->wfd = -1;
		b->wseg++;
		b->woff = 0;
		ev_seg_open(b);
	}
	return 0;
}

/* The shipper passed the end of a closed segment: on to the next. */
static void
ev_buf_next_seg(struct ev_buf *b)
{
	char name[64];

	ev_seg_name(b->rseg, name, sizeof(name));
	if (unlinkat(b->dirfd, name, 0) == -1 && errno != ENOENT)
		log_warn("events: unlink %s", name);
	b->rseg++;
	b->roff = 0;
	ev_cursor_save(b);
}

int
ev_buf_read(struct ev_buf *b, uint64_t wseg, uint64_t woff, size_t max,
    size_t maxbytes, struct ev_batch *bt)
{
	char name[64];
	uint64_t limit;
	size_t want, cut, i;
	ssize_t n;
	int fd;

	memset(bt, 0, sizeof(*bt));
	for (;;) {
		limit = b->rseg == wseg ? woff : UINT64_MAX;
		if (b->rseg > wseg || b->roff >= limit)
			return 0;
		want = limit - b->roff < maxbytes ? limit - b->roff : maxbytes;
		ev_seg_name(b->rseg, name, sizeof(name));
		if ((fd = openat(b->dirfd, name, O_RDONLY | O_CLOEXEC)) ==
		    -1) {
			if (errno != ENOENT || b->rseg == wseg)
				return -1;
			ev_buf_next_seg(b);
			continue;
		}
		if ((bt->data = realloc(bt->data, want)) == NULL)
			fatal("ev_buf_read");
		n = pread(fd, bt->data, want, b->roff);
		close(fd);
		if (n < 0)
			return -1;
		if (n == 0) {
			if (b->rseg == wseg)
				return 0;
			ev_buf_next_seg(b);
			continue;
		}
		for (i = 0, cut = 0; i < (size_t)n && bt->n < max; i++)
			if (bt->data[i] == '\n') {
				bt->n++;
				cut = i + 1;
			}
		if (cut == 0) {		/* a line longer than maxbytes */
			maxbytes *= 2;
			continue;
		}
		bt->len = cut;
		bt->seg = b->rseg;
		bt->off = b->roff;
		return 0;
	}
}

void
ev_buf_commit(struct ev_buf *b, const struct ev_batch *bt)
{
	b->roff = bt->off + bt->len;
	ev_cursor_save(b);
}

void
ev_buf_close(struct ev_buf *b)
{
	if (b->wfd != -1)
		close(b->wfd);
	if (b->dirfd > 0)
		close(b->dirfd);
	b->wfd = b->dirfd = -1;
}
