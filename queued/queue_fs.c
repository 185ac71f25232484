/*
 * queue_fs.c - the spool on disk.
 *
 * A message is one file: the body exactly as smtpd wrote it (Received:
 * header first, CRLF lines, dot-unstuffed), then the envelope as text,
 * then a fixed-size trailer that locates the envelope:
 *
 *	"\n#TERN-ENV1 " <16 hex: envelope offset> " " <8 hex: length>
 *	" " <8 hex: FNV-1a of the envelope> "\n"
 *
 * Writing the envelope after the body lets smtpd stream the body into the
 * file before the envelope is final (X-Virtual-MTA and friends are only
 * known after DATA) and still costs one file and one fsync per message.
 *
 * The file is created in its final place, queue/SS/QID, with mode 0700:
 * the owner's x bit says "not sealed yet" (a bit that leaves the file
 * writable, and that files of earlier versions, 0600, do not have).
 * Sealing writes the envelope and the trailer, makes it 0600 and fsyncs
 * it, while queue_commit.c fsyncs the directory at the same time: one
 * round of fsyncs per message before its 250.  At start a file still
 * 0700 was never acknowledged (its seal did not finish) and is removed;
 * a sealed file whose trailer does not check is damaged and
 * quarantined.
 *
 * Outcomes are appended to the shard's journal as fixed-width lines
 * "QID IDX S\n"; a message file is removed once all its recipients are
 * final, and its journal lines become garbage that the next start drops.
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

#define TRAILER_MAGIC	"\n#TERN-ENV1 "
#define TRAILER_LEN	(sizeof(TRAILER_MAGIC) - 1 + 16 + 1 + 8 + 1 + 8 + 1)
#define ENV_MAX		(16 * 1024 * 1024)
#define JOURNAL_LINE	(QID_LEN + 1 + 6 + 1 + 1 + 1)
#define MODE_UNSEALED	0700
#define MODE_SEALED	0600

static char	 spool_root[1024];
static int	 journal_fds[QUEUE_SHARDS];
static int	 dir_fds[QUEUE_SHARDS];

static uint32_t
fnv1a(const char *p, size_t len)
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
	return fnv1a(qid, strlen(qid)) % QUEUE_SHARDS;
}

int
queue_fs_init(const char *spool)
{
	char path[1200];
	int i;

	strlcpy(spool_root, strcmp(spool, "/") ? spool : "", sizeof(spool_root));
	for (i = 0; i < QUEUE_SHARDS; i++) {
		snprintf(path, sizeof(path), "%s/queue/%02x", spool_root, i);
		if (mkdir(path, 0700) == -1 && errno != EEXIST)
			fatal("mkdir %s", path);
		if ((dir_fds[i] = open(path, O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC)) == -1)
			fatal("open %s", path);
		journal_fds[i] = -1;
	}
	return 0;
}

int
queue_fs_create(const char *qid)
{
	char path[1200];

	spool_path(path, sizeof(path), NULL, qid, queue_fs_shard(qid));
	return open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
	    MODE_UNSEALED);
}

/* An incoming file again, for writing its envelope (mgmtd's files:
 * queued.c keeps no descriptor for them meanwhile). */
int
queue_fs_reopen(const char *qid)
{
	char path[1200];

	spool_path(path, sizeof(path), NULL, qid, queue_fs_shard(qid));
	return open(path, O_RDWR | O_CLOEXEC);
}

void
queue_fs_discard(const char *qid)
{
	char path[1200];

	spool_path(path, sizeof(path), NULL, qid, queue_fs_shard(qid));
	unlink(path);
}

int
queue_fs_open(const struct qmsg *m)
{
	char path[1200];

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

static struct envelope *
env_decode(char *text)
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

int
queue_fs_seal(int fd, uint64_t size, const char *envtext, size_t envlen)
{
	char trailer[TRAILER_LEN + 1];
	struct stat st;

	if (fstat(fd, &st) == -1)
		return -1;
	if ((uint64_t)st.st_size != size) {
		errno = EINVAL;
		return -1;
	}
	snprintf(trailer, sizeof(trailer), TRAILER_MAGIC "%016" PRIx64
	    " %08zx %08x\n", size, envlen, fnv1a(envtext, envlen));
	if (pwrite(fd, envtext, envlen, size) != (ssize_t)envlen ||
	    pwrite(fd, trailer, TRAILER_LEN, size + envlen) != TRAILER_LEN)
		return -1;
	/* fsync, not fdatasync: the mode says "sealed" at recovery.  The
	 * inode is written anyway (the size changed). */
	if (fchmod(fd, MODE_SEALED) == -1)
		return -1;
	return fsync(fd);
}

int
queue_fs_journal_fd(int shard)
{
	char path[1200];

	if (journal_fds[shard] == -1) {
		snprintf(path, sizeof(path), "%s/queue/%02x.journal",
		    spool_root, shard);
		journal_fds[shard] = open(path, O_WRONLY | O_APPEND | O_CREAT |
		    O_CLOEXEC, 0600);
	}
	return journal_fds[shard];
}

int
queue_fs_sync_dir(int shard)
{
	return fsync(dir_fds[shard]);
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
	    fnv1a(text, len) != sum) {
		free(text);
		close(fd);
		quarantine(path, qid, "envelope checksum mismatch");
		return NULL;
	}
	close(fd);
	text[len] = '\0';
	e = env_decode(text);
	free(text);
	if (e == NULL || strcmp(e->qid, qid) != 0 || e->size != off) {
		envelope_free(e);
		quarantine(path, qid, "unparsable envelope");
		return NULL;
	}
	return e;
}

/* Journal of one shard: mark final recipients in the recovered envelopes
 * of that shard, then rewrite it with only the lines still needed. */
struct jline {
	char		 qid[QID_LEN + 1];
	uint32_t	 idx;
	uint32_t	 state;
};

static struct jline *
journal_read(int shard, size_t *n)
{
	char path[1200], line[64];
	struct jline *v = NULL;
	size_t cap = 0;
	FILE *f;

	*n = 0;
	snprintf(path, sizeof(path), "%s/queue/%02x.journal", spool_root, shard);
	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	while (fgets(line, sizeof(line), f) != NULL) {
		struct jline j;

		/* A torn last line (crash mid-write) is ignored: its
		 * outcome was never acknowledged. */
		if (sscanf(line, "%12s %u %u", j.qid, &j.idx, &j.state) != 3 ||
		    strlen(line) != JOURNAL_LINE)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 256;
			if ((v = reallocarray(v, cap, sizeof(*v))) == NULL)
				fatal("realloc");
		}
		v[(*n)++] = j;
	}
	fclose(f);
	return v;
}

static void
journal_apply(struct envelope **envs, size_t nenv, struct jline *j, size_t nj)
{
	size_t i, k;
	uint32_t r;

	/* Spools are recovered once per start; n*m is fine for the
	 * journal sizes one shard sees between restarts. Index by qid. */
	for (i = 0; i < nj; i++)
		for (k = 0; k < nenv; k++) {
			if (envs[k] == NULL || strcmp(envs[k]->qid, j[i].qid))
				continue;
			for (r = 0; r < envs[k]->nrcpt; r++)
				if (envs[k]->rcpts[r].index == j[i].idx)
					envs[k]->rcpts[r].state = j[i].state;
			break;
		}
}

static void
journal_rewrite(int shard, struct envelope **envs, size_t nenv)
{
	char path[1200], tmp[1300], line[64];
	size_t k;
	uint32_t r;
	FILE *f;

	snprintf(path, sizeof(path), "%s/queue/%02x.journal", spool_root, shard);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	if ((f = fopen(tmp, "w")) == NULL) {
		log_warn("%s", tmp);
		return;
	}
	for (k = 0; k < nenv; k++)
		for (r = 0; envs[k] && r < envs[k]->nrcpt; r++)
			if (envs[k]->rcpts[r].state != RCPT_PENDING) {
				snprintf(line, sizeof(line), "%s %06u %u\n",
				    envs[k]->qid, envs[k]->rcpts[r].index,
				    envs[k]->rcpts[r].state);
				fputs(line, f);
			}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0 ||
	    rename(tmp, path) != 0)
		log_warn("cannot rewrite %s", path);
	fsync(dir_fds[shard]);
}

static void
recover_shard(int shard, void (*cb)(struct envelope *, int))
{
	char dir[1200], path[1600];
	struct envelope **envs = NULL;
	struct jline *j;
	struct dirent *de;
	size_t n = 0, cap = 0, nj, k;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/queue/%02x", spool_root, shard);
	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		struct envelope *e;

		if (strlen(de->d_name) != QID_LEN)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if ((e = recover_file(path, de->d_name)) == NULL)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((envs = reallocarray(envs, cap, sizeof(*envs))) ==
			    NULL)
				fatal("realloc");
		}
		envs[n++] = e;
	}
	closedir(d);
	j = journal_read(shard, &nj);
	journal_apply(envs, n, j, nj);
	free(j);
	journal_rewrite(shard, envs, n);
	for (k = 0; k < n; k++)
		cb(envs[k], shard);
	free(envs);
}

void
queue_fs_recover(void (*cb)(struct envelope *, int))
{
	char dir[1200], path[1600];
	struct dirent *de;
	DIR *d;
	int i;

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
	for (i = 0; i < QUEUE_SHARDS; i++)
		recover_shard(i, cb);
}
