/*
 * queue_fs.c - the spool on disk: envelope text, journals, recovery.
 *
 * Messages live in the segments of the message log (queue_seg.c).  This
 * file keeps what is not the log: the envelope as text (one "key value"
 * line per field, values %XX-escaped), the journals of recipient
 * outcomes, recovery at start, and the files of earlier versions.
 *
 * Outcomes are appended to the journal, queue/journal, as fixed-width
 * lines "QID IDX S\n" (earlier versions kept one per shard,
 * queue/SS.journal; they are read and merged at start).  A message's record
 * is no longer needed once all its recipients are final; its journal
 * lines become garbage that the next start drops when no segment holds
 * the message any more.
 *
 * Earlier versions kept a file per message, queue/SS/QID: the body, the
 * envelope, and a trailer locating the envelope,
 *
 *	"\n#TERN-ENV1 " <16 hex: envelope offset> " " <8 hex: length>
 *	" " <8 hex: FNV-1a of the envelope> "\n"
 *
 * mode 0700 until sealed, 0600 after.  Such files are still recovered
 * (an upgrade keeps its queue) and removed when done; no new one is made.
 */
#include <sys/stat.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "queued.h"
#include "util.h"

#define TRAILER_MAGIC	"\n#TERN-ENV1 "
#define TRAILER_LEN	(sizeof(TRAILER_MAGIC) - 1 + 16 + 1 + 8 + 1 + 8 + 1)
#define ENV_MAX		(16 * 1024 * 1024)
#define JOURNAL_LINE	(QID_LEN + 1 + 6 + 1 + 1 + 1)

static char	 spool_root[1024];
static int	 journal_fd = -1;
static uint64_t	 journal_end;		/* where the next line goes */
static uint64_t	 journal_zeroed;	/* zeros written up to here */
static int	 queue_dir_fd = -1;	/* queue/: the journals' directory */

/* FNV-1a, 32 bits: shards, and the checks of envelopes and record
 * headers (queue_seg.c). */
uint32_t
queue_fs_fnv1a(const char *p, size_t len)
{
	uint32_t h = 2166136261u;

	while (len--) {
		h ^= (uint8_t)*p++;
		h *= 16777619u;
	}
	return h;
}

/* queue/SS/QID when shard >= 0, else SUB/QID */
static void
spool_path(char *buf, size_t sz, const char *sub, const char *qid, int shard)
{
	if (shard >= 0 || sub == NULL)
		snprintf(buf, sz, "%s/queue/%02x/%s", spool_root,
		    shard < 0 ? 0 : shard, qid);
	else
		snprintf(buf, sz, "%s/%s/%s", spool_root, sub, qid);
}

int
queue_fs_shard(const char *qid)
{
	return queue_fs_fnv1a(qid, strlen(qid)) % QUEUE_SHARDS;
}

int
queue_fs_init(const char *spool)
{
	char path[1200];

	strlcpy(spool_root, strcmp(spool, "/") ? spool : "", sizeof(spool_root));
	snprintf(path, sizeof(path), "%s/queue", spool_root);
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		fatal("mkdir %s", path);
	if ((queue_dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1)
		fatal("open %s", path);
	seg_init(spool_root);
	scratch_init(spool_root);
	return 0;
}

int
queue_fs_open(const struct qmsg *m)
{
	char path[1200];

	if (m->seg != NULL)
		return seg_open_body(m);
	spool_path(path, sizeof(path), NULL, m->env->qid, m->shard);
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* --- envelope text: "key value" lines, values %XX-escaped --- */

static void
enc_str(FILE *f, const char *key, const char *s)
{
	fprintf(f, "%s ", key);
	if (s == NULL) {
		fputs("-\n", f);
		return;
	}
	if (*s == '-' || *s == '\0')
		fputs(*s == '\0' ? "%00" : "%2D", f), s += *s == '-';
	for (; *s; s++) {
		if ((unsigned char)*s <= ' ' || *s == '%' || *s == 0x7f)
			fprintf(f, "%%%02X", (unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('\n', f);
}

char *
queue_fs_env_encode(const struct envelope *e, size_t *len)
{
	char *buf = NULL, key[32];
	size_t sz = 0;
	uint32_t i;
	FILE *f;

	if ((f = open_memstream(&buf, &sz)) == NULL)
		fatal("open_memstream");
	fprintf(f, "version 1\n");
	enc_str(f, "qid", e->qid);
	enc_str(f, "sender", e->sender);
	enc_str(f, "helo", e->helo);
	enc_str(f, "client", e->client);
	enc_str(f, "vmta", e->vmta);
	enc_str(f, "jobid", e->jobid);
	enc_str(f, "envid", e->envid);
	enc_str(f, "authuser", e->authuser);
	fprintf(f, "ret %u\nflags %u\nqueued %" PRId64 "\nsize %" PRIu64
	    "\nnrcpt %u\n", e->ret, e->flags, e->queued, e->size, e->nrcpt);
	for (i = 0; i < e->nrcpt; i++) {
		snprintf(key, sizeof(key), "rcpt %u %u", e->rcpts[i].index,
		    e->rcpts[i].notify);
		enc_str(f, key, e->rcpts[i].addr);
		enc_str(f, "orcpt", e->rcpts[i].orcpt);
	}
	fclose(f);
	*len = sz;
	return buf;
}

static char *
dec_str(const char *v, int *err)
{
	char *out, *o;

	if (strcmp(v, "-") == 0)
		return NULL;
	if ((out = o = malloc(strlen(v) + 1)) == NULL)
		fatal("malloc");
	while (*v) {
		if (*v == '%') {
			unsigned int c;

			if (!isxdigit((unsigned char)v[1]) ||
			    !isxdigit((unsigned char)v[2]) ||
			    sscanf(v + 1, "%2x", &c) != 1) {
				*err = 1;
				break;
			}
			if (c != 0)
				*o++ = c;
			v += 3;
		} else
			*o++ = *v++;
	}
	*o = '\0';
	return out;
}

static int
env_decode_line(struct envelope *e, char *key, char *val, uint32_t *nr)
{
	int err = 0;
	unsigned int idx, notify;

#define S(k, f)	if (strcmp(key, k) == 0) { free(e->f); e->f = dec_str(val, &err); return err ? -1 : 0; }
	S("sender", sender) S("helo", helo) S("client", client)
	S("vmta", vmta) S("jobid", jobid) S("envid", envid)
	S("authuser", authuser)
#undef S
	if (strcmp(key, "qid") == 0)
		return strlcpy(e->qid, val, sizeof(e->qid)) == QID_LEN ? 0 : -1;
	if (strcmp(key, "ret") == 0)
		return (e->ret = strtoul(val, NULL, 10)), 0;
	if (strcmp(key, "flags") == 0)
		return (e->flags = strtoul(val, NULL, 10)), 0;
	if (strcmp(key, "queued") == 0)
		return (e->queued = strtoll(val, NULL, 10)), 0;
	if (strcmp(key, "size") == 0)
		return (e->size = strtoull(val, NULL, 10)), 0;
	if (strcmp(key, "version") == 0)
		return strcmp(val, "1") == 0 ? 0 : -1;
	if (strcmp(key, "nrcpt") == 0) {
		e->nrcpt = strtoul(val, NULL, 10);
		if (e->nrcpt == 0 || e->nrcpt > MAX_RCPT || e->rcpts)
			return -1;
		if ((e->rcpts = calloc(e->nrcpt, sizeof(*e->rcpts))) == NULL)
			fatal("calloc");
		return 0;
	}
	if (strcmp(key, "rcpt") == 0) {
		char addr[MAX_ADDR * 3 + 1];

		if (e->rcpts == NULL || *nr >= e->nrcpt ||
		    sscanf(val, "%u %u %1536s", &idx, &notify, addr) != 3)
			return -1;
		e->rcpts[*nr].index = idx;
		e->rcpts[*nr].notify = notify;
		e->rcpts[*nr].addr = dec_str(addr, &err);
		(*nr)++;
		return err || e->rcpts[*nr - 1].addr == NULL ? -1 : 0;
	}
	if (strcmp(key, "orcpt") == 0) {
		if (*nr == 0)
			return -1;
		e->rcpts[*nr - 1].orcpt = dec_str(val, &err);
		return err ? -1 : 0;
	}
	return -1;
}

struct envelope *
queue_fs_env_decode(char *text)
{
	struct envelope *e;
	char *line, *sp, *save = NULL;
	uint32_t nr = 0;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		fatal("calloc");
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if ((sp = strchr(line, ' ')) == NULL)
			goto bad;
		*sp = '\0';
		if (env_decode_line(e, line, sp + 1, &nr) == -1)
			goto bad;
	}
	if (e->qid[0] == '\0' || e->sender == NULL || nr != e->nrcpt ||
	    e->nrcpt == 0)
		goto bad;
	return e;
bad:
	envelope_free(e);
	return NULL;
}

/* --- worker thread side --- */

/*
 * Zeros ahead of a log's end, so that its appends overwrite blocks the
 * file already has: an fdatasync then writes the data and nothing else.
 * An append that grows the file makes fdatasync write the inode as well
 * (on ext4 without a journal, one more synchronous write; with one, a
 * journal commit): measured on the benchmark machine, 3 disk writes per
 * sync against 2, and a third less CPU per sync.  PostgreSQL fills its
 * WAL segments with zeros for the same reason.  fallocate() would not
 * do: its unwritten extents are converted, metadata again, when written.
 *
 * Called after the batch's writes and before its sync, by the one thread
 * that writes that file; the sync that follows carries the new size.
 * Readers stop at the zeros (a record header or a journal line never
 * starts with NUL).  Failing (a full disk) costs nothing: appends then
 * grow the file as before, and the zeros already there stay valid.
 */
void
queue_fs_zero_ahead(int fd, uint64_t end, uint64_t *zeroed)
{
	static const char zeros[64 * 1024];
	uint64_t to;

	if (*zeroed < end)
		*zeroed = end;
	if (*zeroed - end >= ZERO_LOW)
		return;
	to = end + ZERO_AHEAD;
	while (*zeroed < to) {
		if (pwrite_all(fd, zeros, sizeof(zeros), *zeroed) == -1)
			return;
		*zeroed += sizeof(zeros);
	}
}

static int
queue_fs_journal_fd(void)
{
	char path[1200];
	struct stat st;

	if (journal_fd == -1) {
		snprintf(path, sizeof(path), "%s/queue/journal", spool_root);
		journal_fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (journal_fd != -1 && fstat(journal_fd, &st) == 0)
			journal_end = journal_zeroed = st.st_size;
	}
	return journal_fd;
}

/*
 * Append a batch of journal lines and sync them; errno on failure.  The
 * lines go at the end of the last batch that was synced: a failed batch
 * (disk full) is written again at the same place by the next one, so
 * that lines never follow a torn one.  All lines have one width and
 * every batch starts on a line, so whatever a failed batch left beyond
 * the end is whole lines (true outcomes) or a torn one (ignored).
 */
int
queue_fs_journal_append(const char *buf, size_t len)
{
	int fd;

	errno = 0;
	if ((fd = queue_fs_journal_fd()) == -1)
		return errno ? errno : EIO;
	if (pwrite_all(fd, buf, len, journal_end) == -1)
		return errno ? errno : EIO;
	queue_fs_zero_ahead(fd, journal_end + len, &journal_zeroed);
	if (fdatasync(fd) == -1)
		return errno ? errno : EIO;
	journal_end += len;
	return 0;
}

int
queue_fs_remove(const char *qid, int shard)
{
	char path[1200];

	spool_path(path, sizeof(path), NULL, qid, shard);
	return unlink(path);
}

/* --- recovery --- */

static void
quarantine(const char *path, const char *qid, const char *why)
{
	char to[1200];

	spool_path(to, sizeof(to), "corrupt", qid, -1);
	log_warnx("%s: %s; moved to corrupt/", qid, why);
	if (rename(path, to) == -1)
		log_warn("%s: cannot quarantine", qid);
}

static struct envelope *
recover_file(const char *path, const char *qid)
{
	char trailer[TRAILER_LEN + 1], *text;
	struct envelope *e;
	struct stat st;
	uint64_t off;
	size_t len;
	uint32_t sum;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1) {
		close(fd);
		return NULL;
	}
	if (st.st_mode & S_IXUSR) {
		/* Its seal never finished: never acknowledged. */
		close(fd);
		log_info("%s: never sealed (no 250 was given); removed", qid);
		unlink(path);
		return NULL;
	}
	if (st.st_size < (off_t)TRAILER_LEN ||
	    pread(fd, trailer, TRAILER_LEN, st.st_size - TRAILER_LEN) !=
	    (ssize_t)TRAILER_LEN) {
		close(fd);
		quarantine(path, qid, "truncated (no envelope trailer)");
		return NULL;
	}
	trailer[TRAILER_LEN] = '\0';
	if (memcmp(trailer, TRAILER_MAGIC, sizeof(TRAILER_MAGIC) - 1) != 0 ||
	    sscanf(trailer + sizeof(TRAILER_MAGIC) - 1, "%16" SCNx64 " %8zx %8x",
	    &off, &len, &sum) != 3 || len > ENV_MAX ||
	    off + len + TRAILER_LEN != (uint64_t)st.st_size) {
		close(fd);
		quarantine(path, qid, "bad envelope trailer");
		return NULL;
	}
	if ((text = malloc(len + 1)) == NULL)
		fatal("malloc");
	if (pread(fd, text, len, off) != (ssize_t)len ||
	    queue_fs_fnv1a(text, len) != sum) {
		free(text);
		close(fd);
		quarantine(path, qid, "envelope checksum mismatch");
		return NULL;
	}
	close(fd);
	text[len] = '\0';
	e = queue_fs_env_decode(text);
	free(text);
	if (e == NULL || strcmp(e->qid, qid) != 0 || e->size != off) {
		envelope_free(e);
		quarantine(path, qid, "unparsable envelope");
		return NULL;
	}
	return e;
}

/* What recovery found: a message, where it is, its shard. */
struct rrec {
	struct envelope	*e;
	struct qseg	*seg;		/* NULL: a legacy file */
	uint64_t	 recoff, reclen;
	int		 shard;
};

struct rset {
	struct rrec	*v;
	size_t		 n, cap;
};

static struct rset	rset;

static void
rset_add(struct envelope *e, struct qseg *seg, uint64_t recoff,
    uint64_t reclen)
{
	struct rrec *r;

	if (rset.n == rset.cap) {
		rset.cap = rset.cap ? rset.cap * 2 : 256;
		if ((rset.v = reallocarray(rset.v, rset.cap, sizeof(*rset.v))) ==
		    NULL)
			fatal("rset_add");
	}
	r = &rset.v[rset.n++];
	r->e = e;
	r->seg = seg;
	r->recoff = recoff;
	r->reclen = reclen;
	r->shard = queue_fs_shard(e->qid);
}

static int
rrec_cmp(const void *a, const void *b)
{
	const struct rrec *x = a, *y = b;
	int c;

	if ((c = strcmp(x->e->qid, y->e->qid)) != 0)
		return c;
	/* copies made by compaction: the older segment first */
	if (x->seg == NULL || y->seg == NULL)
		return x->seg == NULL ? -1 : y->seg != NULL;
	return x->seg->seq < y->seg->seq ? -1 : x->seg->seq > y->seg->seq;
}

/* Sorted by queue id, one record per message (compaction may have left
 * the same record in two segments; both are whole, the first is kept). */
static void
rset_sort(void)
{
	size_t i, k;

	if (rset.n > 0)
		qsort(rset.v, rset.n, sizeof(*rset.v), rrec_cmp);
	for (i = k = 0; i < rset.n; i++) {
		if (k > 0 && strcmp(rset.v[k - 1].e->qid, rset.v[i].e->qid) == 0) {
			envelope_free(rset.v[i].e);
			continue;
		}
		rset.v[k++] = rset.v[i];
	}
	rset.n = k;
}

static struct rrec *
rset_find(const char *qid)
{
	size_t lo = 0, hi = rset.n, mid;
	int c;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if ((c = strcmp(qid, rset.v[mid].e->qid)) == 0)
			return &rset.v[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* Mark the final recipients of the recovered messages from one journal
 * file (queue/journal, or queue/SS.journal of earlier versions). */
static void
journal_read(const char *path)
{
	char qid[QID_LEN + 1], *line = NULL, *p;
	unsigned int idx, state;
	size_t cap = 0;
	struct rrec *r;
	ssize_t n;
	uint32_t k;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		return;
	while ((n = getline(&line, &cap, f)) != -1) {
		/* Zeros written ahead (queue_fs_zero_ahead) come before the
		 * first line that follows them, if any; a torn last line
		 * (crash mid-write) is ignored: its outcome was never
		 * acknowledged. */
		for (p = line; n > 0 && *p == '\0'; p++)
			n--;
		if (n != JOURNAL_LINE || memchr(p, '\0', n) != NULL ||
		    sscanf(p, "%12s %u %u", qid, &idx, &state) != 3 ||
		    (r = rset_find(qid)) == NULL)
			continue;
		for (k = 0; k < r->e->nrcpt; k++)
			if (r->e->rcpts[k].index == idx)
				r->e->rcpts[k].state = state;
	}
	free(line);
	fclose(f);
}

/* Read every journal, then write queue/journal again with only the
 * lines of messages still on disk; the sharded journals of earlier
 * versions go once their lines are in it. */
static void
journal_recover(void)
{
	char path[1200], tmp[1300], old[1200];
	struct rrec *r;
	uint32_t k;
	size_t i;
	FILE *f;
	int s;

	snprintf(path, sizeof(path), "%s/queue/journal", spool_root);
	journal_read(path);
	for (s = 0; s < QUEUE_SHARDS; s++) {
		snprintf(old, sizeof(old), "%s/queue/%02x.journal", spool_root,
		    s);
		journal_read(old);
	}
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	if ((f = fopen(tmp, "w")) == NULL) {
		log_warn("%s", tmp);
		return;
	}
	for (i = 0; i < rset.n; i++) {
		r = &rset.v[i];
		for (k = 0; k < r->e->nrcpt; k++)
			if (r->e->rcpts[k].state != RCPT_PENDING)
				fprintf(f, "%s %06u %u\n", r->e->qid,
				    r->e->rcpts[k].index, r->e->rcpts[k].state);
	}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0 ||
	    rename(tmp, path) != 0 || fsync(queue_dir_fd) != 0) {
		log_warn("cannot rewrite %s", path);
		return;
	}
	for (s = 0; s < QUEUE_SHARDS; s++) {
		snprintf(old, sizeof(old), "%s/queue/%02x.journal", spool_root,
		    s);
		unlink(old);
	}
}

/* Files of earlier versions, one per message, in queue/SS/. */
static void
recover_legacy(int shard)
{
	char dir[1200], path[1600];
	struct envelope *e;
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/queue/%02x", spool_root, shard);
	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strlen(de->d_name) != QID_LEN)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if ((e = recover_file(path, de->d_name)) != NULL)
			rset_add(e, NULL, 0, 0);
	}
	closedir(d);
}

static int
all_final(const struct envelope *e)
{
	uint32_t k;

	for (k = 0; k < e->nrcpt; k++)
		if (e->rcpts[k].state == RCPT_PENDING)
			return 0;
	return 1;
}

void
queue_fs_recover(void (*cb)(struct envelope *, int, struct qseg *, uint64_t,
    uint64_t))
{
	char dir[1200], path[1600];
	struct dirent *de;
	struct rrec *r;
	size_t i;
	DIR *d;
	int s;

	/* Files in incoming/ (where earlier versions received messages)
	 * never got a 250: drop them. */
	snprintf(dir, sizeof(dir), "%s/incoming", spool_root);
	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			unlink(path);
		}
		closedir(d);
	}
	seg_recover(rset_add);
	for (s = 0; s < QUEUE_SHARDS; s++)
		recover_legacy(s);
	rset_sort();
	journal_recover();
	for (i = 0; i < rset.n; i++) {
		r = &rset.v[i];
		/* A record whose recipients are all final is not needed
		 * (its journal lines stay until its segment is gone); a
		 * legacy file is, to be removed. */
		if (r->seg != NULL && all_final(r->e))
			envelope_free(r->e);
		else
			cb(r->e, r->shard, r->seg, r->recoff, r->reclen);
	}
	free(rset.v);
	memset(&rset, 0, sizeof(rset));
	seg_recover_done();
}
