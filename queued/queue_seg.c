/*
 * queue_seg.c - messages live in a log of segment files.
 *
 * A committed message is appended to the active segment,
 * queue/data/SEQ (SEQ: 16 hex digits), as one record:
 *
 *	"#TERN-REC2 " QID " " <16 hex: body bytes> " " <8 hex: envelope
 *	    bytes> " " <8 hex: FNV-1a of the line up to here> "\n"
 *	the body, as smtpd wrote it
 *	the envelope text (queue_fs.c)
 *	"\n#TERN-END2 " <16 hex: hash of the body and the envelope> "\n"
 *
 * Why a log and not a file per message: a file per message cost, on
 * every message, a file creation (ext4's inode allocator), an fsync that
 * writes the data, the inode and the allocation bitmaps, a directory
 * fsync and an unlink: 0.19 ms of CPU per message on the benchmark
 * machine, before any SMTP.  Appending the messages committed together
 * and syncing the segment once (group commit) costs 0.01-0.02 ms per
 * message at 5-10 messages per sync (docs/spool.md).
 *
 * One batch is written at a time, by one thread, its records one after
 * the other, and is answered only after its fdatasync.  So every record
 * that was acknowledged lies before every record that was not; after a
 * crash only the tail of the newest segment can hold torn records, and
 * the hash tells them (a page of the body may be missing while the
 * header and trailer reached the disk).  Recovery stops reading a
 * segment at the first header that does not check: nothing after it was
 * acknowledged.  A record whose header checks but whose hash does not is
 * skipped and the next one read.
 *
 * The writer keeps up to a megabyte of zeros ahead of the last record
 * (queue_fs_zero_ahead): a batch then overwrites blocks the file has,
 * and its fdatasync writes the data alone, not the inode too.  Recovery
 * reads the zeros as the end of the segment.
 *
 * A segment is closed at spool-segment-size bytes (64M) and removed when none of its
 * records is needed any more (each message's recipients final and
 * journaled).  Compaction copies the few messages that keep an old
 * segment alive (long-deferred mail) into the active one.
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proto.h"
#include "queued.h"
#include "util.h"

#define REC_MAGIC	"#TERN-REC2 "
#define REC_MAGIC_LEN	(sizeof(REC_MAGIC) - 1)
#define END_MAGIC	"\n#TERN-END2 "
#define END_MAGIC_LEN	(sizeof(END_MAGIC) - 1)
#define ENV_MAX		(16 * 1024 * 1024)
#define QID_CHARS	"0123456789abcdefghijklmnopqrstuv"	/* qid_new() */

static char		 data_dir[1100];
static char		 corrupt_dir[1100];
static int		 data_fd = -1;
static uint64_t		 next_seq = 1;
static uint64_t		 seg_max = 64ULL * 1024 * 1024;
static struct qseg	*active;
static TAILQ_HEAD(, qseg) segs = TAILQ_HEAD_INITIALIZER(segs);

/* A word at a time: the body is hashed on every commit.  Callers feed
 * pieces whose lengths are multiples of 8 except the last of a run. */
static uint64_t
seg_hash(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;
	uint64_t w;

	for (; n >= 8; c += 8, n -= 8) {
		memcpy(&w, c, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
		h ^= h >> 31;
	}
	while (n--)
		h = (h ^ *c++) * 0x100000001b3ULL;
	return h;
}

#define HASH_SEED	0xcbf29ce484222325ULL

uint64_t
seg_rec_len(uint64_t size, size_t envlen)
{
	return SEG_HDR_LEN + size + envlen + SEG_END_LEN;
}

static void
seg_path(char *buf, size_t sz, uint64_t seq)
{
	snprintf(buf, sz, "%s/%016" PRIx64, data_dir, seq);
}

void
seg_init(const char *root)
{
	snprintf(data_dir, sizeof(data_dir), "%s/queue/data", root);
	snprintf(corrupt_dir, sizeof(corrupt_dir), "%s/corrupt", root);
	if (mkdir(data_dir, 0700) == -1 && errno != EEXIST)
		fatal("mkdir %s", data_dir);
	if ((data_fd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1)
		fatal("open %s", data_dir);
}

void
seg_configure(const struct cfg *cfg)
{
	seg_max = cfg_size(cfg->root, "spool-segment-size", seg_max);
	if (seg_max < 4096)
		seg_max = 4096;
}

static struct qseg *
seg_new(uint64_t seq)
{
	struct qseg *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("seg_new");
	s->seq = seq;
	s->fd = s->rfd = -1;
	LIST_INIT(&s->msgs);
	TAILQ_INSERT_TAIL(&segs, s, entry);
	if (seq >= next_seq)
		next_seq = seq + 1;
	return s;
}

/* Workers that hold the segment's descriptor let it go (DLV_SEG_DROP). */
static void
seg_drop_workers(struct qseg *s)
{
	struct mproc *p;
	int w;

	for (w = 1; w <= qd->nworkers; w++) {
		if (!(s->workers & SEG_WORKER_BIT(w)) ||
		    (p = qd->workers[w]) == NULL)
			continue;
		m_create(p, DLV_SEG_DROP, 0, -1);
		m_add_u64(p, s->seq);
		m_close(p);
	}
	s->workers = 0;
}

static void
seg_unlink(struct qseg *s)
{
	char path[1200];

	seg_drop_workers(s);
	seg_path(path, sizeof(path), s->seq);
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("%s", path);
	if (s->fd != -1)
		close(s->fd);
	if (s->rfd != -1)
		close(s->rfd);
	TAILQ_REMOVE(&segs, s, entry);
	free(s);
}

/* --- in the loop --- */

/* Where the next batch of `len` bytes goes: the active segment, or a
 * new one when it is full.  A closed segment nobody needs is removed. */
struct qseg *
seg_place(uint64_t len, uint64_t *off)
{
	struct qseg *old = active;

	if (active == NULL || active->size >= seg_max) {
		active = seg_new(next_seq);
		if (old != NULL && old->nlive == 0)
			seg_unlink(old);
	}
	*off = active->size;
	active->size += len;
	return active;
}

/* The batch placed at `off` failed; the writer cut the file back. */
void
seg_unplace(struct qseg *s, uint64_t off)
{
	s->size = off;
}

/* The message's record is at recoff in s: its body starts after the
 * header, which is where readers are told to look (m->env->off). */
void
seg_attach(struct qmsg *m, struct qseg *s, uint64_t recoff, uint64_t reclen)
{
	m->env->off = recoff + SEG_HDR_LEN;
	m->seg = s;
	m->recoff = recoff;
	m->reclen = reclen;
	s->nlive++;
	s->live_bytes += reclen;
	LIST_INSERT_HEAD(&s->msgs, m, sentry);
}

/* The message is final and journaled, or moved: its record is no longer
 * needed.  A closed segment without records needed goes away. */
void
seg_detach(struct qmsg *m)
{
	struct qseg *s = m->seg;

	if (s == NULL)
		return;
	LIST_REMOVE(m, sentry);
	m->seg = NULL;
	s->nlive--;
	s->live_bytes -= m->reclen;
	if (s->nlive == 0 && s != active)
		seg_unlink(s);
}

/*
 * A job names its message's segment instead of carrying a descriptor:
 * each worker (deliverd instance) is sent a segment's descriptor once
 * (DLV_SEG) and keeps it until told the segment is gone (DLV_SEG_DROP,
 * seg_unlink); through it, jobs under way read a segment unlinked
 * meanwhile (compaction, removal) until they are done.  Returns the
 * segment's number for the job, or 0 when the job must carry a
 * descriptor of its own (seg_open_body).
 */
uint64_t
seg_for_worker(const struct qmsg *m, int w)
{
	struct qseg *s = m->seg;
	struct mproc *p;
	int fd;

	if (s == NULL || s->rfd == -1 || s->seq == 0 || w <= 0 ||
	    w > QUEUE_MAX_WORKERS || (p = qd->workers[w]) == NULL)
		return 0;
	if (!(s->workers & SEG_WORKER_BIT(w))) {
		if ((fd = fcntl(s->rfd, F_DUPFD_CLOEXEC, 0)) == -1)
			return 0;
		m_create(p, DLV_SEG, 0, fd);
		m_add_u64(p, s->seq);
		m_close(p);
		s->workers |= SEG_WORKER_BIT(w);
	}
	return s->seq;
}

/* A worker went away, and the descriptors it held with it. */
void
seg_worker_gone(int w)
{
	struct qseg *s;

	if (w <= 0 || w > QUEUE_MAX_WORKERS)
		return;
	TAILQ_FOREACH(s, &segs, entry)
		s->workers &= ~SEG_WORKER_BIT(w);
}

/* A read-only descriptor of the segment holding the message; the body
 * starts at m->env->off. */
int
seg_open_body(const struct qmsg *m)
{
	if (m->seg == NULL || m->seg->rfd == -1) {
		errno = ENOENT;
		return -1;
	}
	return fcntl(m->seg->rfd, F_DUPFD_CLOEXEC, 0);
}

/* Compaction: a closed segment that is mostly garbage (less than a
 * quarter of it still needed) gives its messages to the active one.
 * `move` is called for each; queue_commit.c copies the record and calls
 * seg_detach on the old place once the copy is durable. */
void
seg_compact(void (*move)(struct qmsg *))
{
	struct qseg *s;
	struct qmsg *m, *next;

	TAILQ_FOREACH(s, &segs, entry) {
		if (s == active || s->nlive == 0 || s->moving ||
		    s->live_bytes * 4 >= s->size)
			continue;
		s->moving = 1;
		log_info("segment %016" PRIx64 ": %" PRIu64 " of its %" PRIu64
		    " bytes still needed (%" PRIu64 " messages); moving them "
		    "to the active segment", s->seq, s->live_bytes, s->size,
		    s->nlive);
		for (m = LIST_FIRST(&s->msgs); m != NULL; m = next) {
			next = LIST_NEXT(m, sentry);
			move(m);
		}
	}
}

/* --- in the writer thread --- */

/* Create the segment's file; its directory entry is synced before any
 * record in it is acknowledged. */
int
seg_file_open(struct qseg *s)
{
	char path[1200];

	if (s->fd != -1)
		return 0;
	seg_path(path, sizeof(path), s->seq);
	if ((s->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1)
		return -1;
	if ((s->rfd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fsync(data_fd) == -1) {
		int e = errno;

		close(s->fd);
		if (s->rfd != -1)
			close(s->rfd);
		s->fd = s->rfd = -1;
		unlink(path);
		errno = e;
		return -1;
	}
	return 0;
}

/* The writer is about to fill [off, off + len). */
static void
seg_wrote(struct qseg *s, uint64_t off, uint64_t len)
{
	if (off + len > s->wend)
		s->wend = off + len;
}

static void
seg_header(char *hdr, const char *qid, uint64_t size, size_t envlen)
{
	int n;

	n = snprintf(hdr, SEG_HDR_LEN + 1, REC_MAGIC "%s %016" PRIx64 " %08zx ",
	    qid, size, envlen);
	snprintf(hdr + n, SEG_HDR_LEN + 1 - n, "%08x\n", queue_fs_fnv1a(hdr, n));
}

/*
 * Append one record at `off`: the header, the body read from `bodyfd`
 * (the scratch file smtpd wrote; exactly `size` bytes), the envelope and
 * the trailer, through `buf` (bufsz: a multiple of 8, at least 4 KB).
 * Small records go out in one write.
 */
int
seg_write_rec(struct qseg *s, uint64_t off, const char *qid, int bodyfd,
    uint64_t size, const char *env, size_t envlen, char *buf, size_t bufsz)
{
	char end[SEG_END_LEN + 1];
	uint64_t h = HASH_SEED, done = 0;
	size_t fill, want;
	ssize_t n;

	seg_wrote(s, off, seg_rec_len(size, envlen));
	seg_header(buf, qid, size, envlen);
	fill = SEG_HDR_LEN;
	while (done < size) {
		/* pieces of 8 bytes but the last, so that the hash is the
		 * one recovery computes over the whole body at once */
		/* the rest in one read when it fits (a body of 4,412 bytes
		 * took two: 4,408, then 4) */
		want = bufsz - fill;
		if (size - done <= want)
			want = size - done;
		else if ((want &= ~(size_t)7) == 0) {
			if (pwrite_all(s->fd, buf, fill, off) == -1)
				return -1;
			off += fill;
			fill = 0;
			continue;
		}
		if ((n = pread(bodyfd, buf + fill, want, done)) <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			if (n == 0)
				errno = EIO;
			return -1;
		}
		if (n & 7 && done + n < size) {
			/* a short read off a multiple of 8: keep it whole */
			want = n & ~(ssize_t)7;
			if (want == 0)
				continue;
			n = want;
		}
		h = seg_hash(h, buf + fill, n);
		fill += n;
		done += n;
		if (fill == bufsz) {
			if (pwrite_all(s->fd, buf, fill, off) == -1)
				return -1;
			off += fill;
			fill = 0;
		}
	}
	h = seg_hash(h, env, envlen);
	snprintf(end, sizeof(end), END_MAGIC "%016" PRIx64 "\n", h);
	if (fill + envlen + SEG_END_LEN <= bufsz) {
		memcpy(buf + fill, env, envlen);
		memcpy(buf + fill + envlen, end, SEG_END_LEN);
		return pwrite_all(s->fd, buf, fill + envlen + SEG_END_LEN, off);
	}
	if (pwrite_all(s->fd, buf, fill, off) == -1 ||
	    pwrite_all(s->fd, env, envlen, off + fill) == -1 ||
	    pwrite_all(s->fd, end, SEG_END_LEN, off + fill + envlen) == -1)
		return -1;
	return 0;
}

/* Compaction: the record at `from`/`fromoff` copied as it is (nothing in
 * it depends on where it lies). */
int
seg_copy_rec(struct qseg *s, uint64_t off, const struct qseg *from,
    uint64_t fromoff, uint64_t len, char *buf, size_t bufsz)
{
	uint64_t done = 0;
	ssize_t n;

	seg_wrote(s, off, len);
	while (done < len) {
		n = pread(from->rfd, buf, len - done < bufsz ? len - done :
		    bufsz, fromoff + done);
		if (n <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			if (n == 0)
				errno = EIO;
			return -1;
		}
		if (pwrite_all(s->fd, buf, n, off + done) == -1)
			return -1;
		done += n;
	}
	return 0;
}

/* The batch is written: zeros ahead of it (queue_fs_zero_ahead, so that
 * the next batches' syncs write no metadata), then one sync for both. */
int
seg_sync(struct qseg *s)
{
	queue_fs_zero_ahead(s->fd, s->wend, &s->zeroed);
	return fdatasync(s->fd);
}

/* A batch failed: nothing of it may be read at recovery. */
void
seg_cut(struct qseg *s, uint64_t off)
{
	if (s->fd != -1 && ftruncate(s->fd, off) == -1)
		log_warn("segment %016" PRIx64 ": cannot cut back", s->seq);
	s->wend = s->zeroed = off;
}

/* --- recovery --- */

/* A record that cannot be read back is kept for the operator in
 * corrupt/QID, as a damaged legacy file is. */
static void
seg_quarantine(const char *qid, const char *p, uint64_t len, const char *why)
{
	char path[1200];
	int fd;

	log_warnx("%s: %s; moved to corrupt/", qid, why);
	if (mkdir(corrupt_dir, 0700) == -1 && errno != EEXIST)
		return;
	snprintf(path, sizeof(path), "%s/%s", corrupt_dir, qid);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1 || write_all(fd, p, len) == -1)
		log_warn("%s: cannot keep it in corrupt/", qid);
	if (fd != -1)
		close(fd);
}

/* The header at p, or -1 when it does not check (not a record). */
static int
seg_parse_header(const char *p, uint64_t avail, char *qid, uint64_t *size,
    size_t *envlen)
{
	char hdr[SEG_HDR_LEN + 1];
	uint32_t sum;

	if (avail < SEG_HDR_LEN || memcmp(p, REC_MAGIC, REC_MAGIC_LEN) != 0)
		return -1;
	memcpy(hdr, p, SEG_HDR_LEN);
	hdr[SEG_HDR_LEN] = '\0';
	if (sscanf(hdr + REC_MAGIC_LEN, "%12s %16" SCNx64 " %8zx %8x", qid,
	    size, envlen, &sum) != 4 || strlen(qid) != QID_LEN ||
	    strspn(qid, QID_CHARS) != QID_LEN ||
	    hdr[SEG_HDR_LEN - 1] != '\n' ||
	    queue_fs_fnv1a(hdr, SEG_HDR_LEN - 9) != sum || *envlen > ENV_MAX)
		return -1;
	return 0;
}

/* The envelope of the whole record at p (len bytes), or NULL when its
 * hash or its envelope does not check. */
static struct envelope *
seg_parse_record(const char *p, const char *qid, uint64_t size,
    size_t envlen)
{
	char end[SEG_END_LEN + 1], *text;
	struct envelope *e;
	uint64_t h;

	h = seg_hash(seg_hash(HASH_SEED, p + SEG_HDR_LEN, size),
	    p + SEG_HDR_LEN + size, envlen);
	snprintf(end, sizeof(end), END_MAGIC "%016" PRIx64 "\n", h);
	if (memcmp(p + SEG_HDR_LEN + size + envlen, end, SEG_END_LEN) != 0)
		return NULL;
	if ((text = malloc(envlen + 1)) == NULL)
		fatal("seg_parse_record");
	memcpy(text, p + SEG_HDR_LEN + size, envlen);
	text[envlen] = '\0';
	e = queue_fs_env_decode(text);
	free(text);
	if (e != NULL && (strcmp(e->qid, qid) != 0 || e->size != size)) {
		envelope_free(e);
		e = NULL;
	}
	return e;
}

/*
 * Every record of one segment, in order.  A record whose header checks
 * but whose content does not is kept in corrupt/ and skipped; a header
 * that does not check ends the segment (a crash cut the last write
 * short: nothing after it was acknowledged).
 */
static void
seg_scan(struct qseg *s, uint64_t fsize,
    void (*cb)(struct envelope *, struct qseg *, uint64_t, uint64_t))
{
	char qid[QID_LEN + 1];
	struct envelope *e;
	const char *map, *z;
	uint64_t off = 0, size, len, i;
	size_t envlen;

	s->size = fsize;
	if (fsize == 0)
		return;
	if ((map = mmap(NULL, fsize, PROT_READ, MAP_PRIVATE, s->rfd, 0)) ==
	    MAP_FAILED) {
		log_warn("segment %016" PRIx64 ": mmap", s->seq);
		return;
	}
	while (off < fsize && seg_parse_header(map + off, fsize - off, qid,
	    &size, &envlen) == 0) {
		if (size > fsize - off ||
		    (len = seg_rec_len(size, envlen)) > fsize - off) {
			seg_quarantine(qid, map + off, fsize - off,
			    "record cut short (a crash during its write: no "
			    "250 was given)");
			off = fsize;
			break;
		}
		if ((e = seg_parse_record(map + off, qid, size, envlen)) ==
		    NULL)
			seg_quarantine(qid, map + off, len, "damaged record "
			    "(hash or envelope does not check)");
		else
			cb(e, s, off, len);
		off += len;
	}
	s->size = off;	/* zeros written ahead are not records */
	for (z = map + off, i = 0; i < fsize - off && z[i] == '\0'; i++)
		;
	if (i < fsize - off)
		log_warnx("segment %016" PRIx64 ": %" PRIu64 " bytes at its "
		    "end are not a record (a write cut short by a crash: "
		    "never acknowledged); ignored", s->seq, fsize - off);
	munmap((void *)map, fsize);
}

static int
seq_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Every record of every segment, oldest segment first. */
void
seg_recover(void (*cb)(struct envelope *, struct qseg *, uint64_t,
    uint64_t))
{
	char path[1200];
	struct dirent *de;
	struct stat st;
	uint64_t *seqs = NULL, seq;
	size_t n = 0, cap = 0, i;
	struct qseg *s;
	DIR *d;

	if ((d = opendir(data_dir)) == NULL)
		fatal("opendir %s", data_dir);
	while ((de = readdir(d)) != NULL) {
		char *end;

		if (strlen(de->d_name) != 16)
			continue;
		seq = strtoull(de->d_name, &end, 16);
		if (*end != '\0')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((seqs = reallocarray(seqs, cap, sizeof(*seqs))) ==
			    NULL)
				fatal("seg_recover");
		}
		seqs[n++] = seq;
	}
	closedir(d);
	if (n > 0)
		qsort(seqs, n, sizeof(*seqs), seq_cmp);
	for (i = 0; i < n; i++) {
		s = seg_new(seqs[i]);
		seg_path(path, sizeof(path), s->seq);
		if ((s->rfd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
		    fstat(s->rfd, &st) == -1) {
			log_warn("%s", path);
			continue;
		}
		seg_scan(s, st.st_size, cb);
	}
	free(seqs);
}

/* After recovery: segments without a record still needed go. */
void
seg_recover_done(void)
{
	struct qseg *s, *next;

	TAILQ_FOREACH_SAFE(s, &segs, entry, next)
		if (s->nlive == 0)
			seg_unlink(s);
}
