/*
 * queue_commit.c - group commit.
 *
 * A new message is made durable as soon as smtpd commits it, with one
 * round of fsyncs: its file was created in its final place,
 * queue/SS/QID, so that what remains is to seal it (envelope and trailer
 * written, the file fsynced) and to fsync its shard directory (the
 * directory entry), and both run on the libuv threadpool at the same
 * time.  The directory fsyncs are shared: one per shard per loop turn
 * covers every message committed in that turn.  When both are done the
 * message is answered (MSG_COMMIT_OK: smtpd says 250).  A file that was
 * never sealed is recognised at start and removed (queue_fs.c): it was
 * never acknowledged.
 *
 * Everything else that must be on disk before someone is told about it
 * goes into the current batch: journal lines for recipient outcomes,
 * removals of finished messages.  One batch at a time runs on the
 * threadpool (fsyncs never block the loop); whatever arrives meanwhile
 * collects in the next batch.  Under load one fsync per shard and per
 * batch covers hundreds of outcomes.  Only after a batch is durable are
 * its replies sent: DLV_ACK to deliverd, and the removals.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proto.h"
#include "queued.h"

struct bcommit {
	char		 qid[QID_LEN + 1];
	int		 fd;
	int		 shard;
	int		 proc;		/* who waits for the reply */
	uint32_t	 session;
	struct envelope	*env;
	char		*envtext;
	size_t		 envlen;
	int		 error;		/* errno, 0 = durable */
};

struct bremove {
	char		 qid[QID_LEN + 1];
	int		 shard;
	struct qmsg	*msg;
};

struct back {
	int		 worker;
	uint32_t	 tag;
};

struct jbuf {
	char		*buf;
	size_t		 len, cap;
};

struct bwork {
	uv_work_t	 req;
	struct batch	*batch;
	size_t		 index;		/* shard */
};

/* A message being made durable: its seal and its shard directory's
 * fsync (struct dsync) run at the same time; answered when both are
 * done. */
struct bseal {
	uv_work_t	 req;
	struct bcommit	 c;
	int		 waiting;	/* seal, directory: answer at 0 */
	struct bseal	*dnext;		/* next in the same dsync */
};

/* One fsync of a shard directory for the messages committed in one
 * loop turn; every one of their files was created before it starts. */
struct dsync {
	uv_work_t	 req;
	int		 shard;
	int		 error;
	struct bseal	*members;
};

struct batch {
	struct bwork	 journal_w[QUEUE_SHARDS];	/* per shard: journal */
	size_t		 pending;	/* work items not done yet */
	struct bremove	*removes;
	size_t		 nremoves, cremoves;
	struct back	*acks;
	size_t		 nacks, cacks;
	struct jbuf	 journal[QUEUE_SHARDS];
	int		 jerrors[QUEUE_SHARDS];	/* per shard, from its work item */
	int		 jerror;
};

static struct batch	*cur, *running;
static size_t		 nsealing;	/* messages not answered yet */
static struct dsync	*dnext[QUEUE_SHARDS];	/* start at end of turn */

#define GROW(arr, n, cap) do {						\
	if ((n) == (cap)) {						\
		(cap) = (cap) ? (cap) * 2 : 32;				\
		if (((arr) = reallocarray((arr), (cap), sizeof(*(arr)))) == NULL) \
			fatal("reallocarray");				\
	}								\
} while (0)

static void commit_submit(void);
static void commit_schedule(void);
static void dsync_start_all(void);

void
commit_init(void)
{
	cur = NULL;
	running = NULL;
}

/* A journal write failed (typically: the disk is full).  Its lines, the
 * removals of its shard and every acknowledgement of the batch move to
 * the next batch, tried again in a second: until then deliverd keeps the
 * results (a crash meanwhile has them replayed) and the files stay, and
 * once the disk has room nothing is lost and nothing delivered twice. */
static uv_timer_t	retry_timer;
static int		retry_init;

#define JOURNAL_RETRY_MS	1000

static void
retry_cb(uv_timer_t *h)
{
	commit_schedule();
}

/* Nothing left to make durable; when stopping, outcomes that wait for a
 * full disk are given up (deliverd replays what it still holds). */
int
commit_idle(void)
{
	if (running != NULL || nsealing != 0)
		return 0;
	return cur == NULL || (qd->stopping && retry_init &&
	    uv_is_active((uv_handle_t *)&retry_timer));
}

static struct batch *
batch_cur(void)
{
	if (cur == NULL && (cur = calloc(1, sizeof(*cur))) == NULL)
		fatal("calloc");
	return cur;
}

/* Submit at the end of this loop turn so that everything that arrives in
 * the same turn shares the fsyncs. */
static uv_idle_t	kick;
static int		kick_init;

static void
kick_cb(uv_idle_t *h)
{
	uv_idle_stop(h);
	dsync_start_all();
	commit_submit();
}

static void
commit_schedule(void)
{
	if (!kick_init) {
		uv_idle_init(qd->loop, &kick);
		kick_init = 1;
	}
	uv_idle_start(&kick, kick_cb);
}

static void	seal_work(uv_work_t *);
static void	seal_done(uv_work_t *, int);
static void	dsync_work(uv_work_t *);
static void	dsync_done(uv_work_t *, int);
static void	commit_reply(struct bcommit *);

void
commit_message(const char *qid, int fd, struct envelope *env, int proc,
    uint32_t session)
{
	struct bseal *bs;
	struct bcommit *c;
	struct dsync *d;

	if ((bs = calloc(1, sizeof(*bs))) == NULL)
		fatal("calloc");
	c = &bs->c;
	strlcpy(c->qid, qid, sizeof(c->qid));
	c->fd = fd;
	c->shard = queue_fs_shard(qid);
	c->proc = proc;
	c->session = session;
	c->env = env;
	c->envtext = queue_fs_env_encode(env, &c->envlen);
	bs->req.data = bs;
	bs->waiting = 2;
	if ((d = dnext[c->shard]) == NULL) {
		if ((d = dnext[c->shard] = calloc(1, sizeof(*d))) == NULL)
			fatal("calloc");
		d->shard = c->shard;
		d->req.data = d;
	}
	bs->dnext = d->members;
	d->members = bs;
	nsealing++;
	if (uv_queue_work(qd->loop, &bs->req, seal_work, seal_done) != 0)
		fatalx("uv_queue_work");
	commit_schedule();
}

/* Sealed and its directory entry synced (or failed): answer. */
static void
seal_finish(struct bseal *bs)
{
	if (--bs->waiting > 0)
		return;
	nsealing--;
	commit_reply(&bs->c);
	free(bs);
	sched_kick();
}

static void
seal_done(uv_work_t *w, int status)
{
	seal_finish(w->data);
}

/* The directory fsyncs of this loop turn's messages, one per shard. */
static void
dsync_start_all(void)
{
	int s;

	for (s = 0; s < QUEUE_SHARDS; s++) {
		if (dnext[s] == NULL)
			continue;
		if (uv_queue_work(qd->loop, &dnext[s]->req, dsync_work,
		    dsync_done) != 0)
			fatalx("uv_queue_work");
		dnext[s] = NULL;
	}
}

static void
dsync_done(uv_work_t *w, int status)
{
	struct dsync *d = w->data;
	struct bseal *bs, *next;

	for (bs = d->members; bs != NULL; bs = next) {
		next = bs->dnext;
		if (d->error && !bs->c.error)
			bs->c.error = d->error;
		seal_finish(bs);
	}
	free(d);
}

void
commit_result(struct qmsg *m, uint32_t idx, uint32_t state)
{
	struct batch *b = batch_cur();
	struct jbuf *j = &b->journal[m->shard];
	char line[64];
	int n;

	n = snprintf(line, sizeof(line), "%s %06u %u\n", m->env->qid, idx,
	    state);
	if (j->len + n > j->cap) {
		j->cap = j->cap ? j->cap * 2 : 4096;
		if ((j->buf = realloc(j->buf, j->cap)) == NULL)
			fatal("realloc");
	}
	memcpy(j->buf + j->len, line, n);
	j->len += n;
	commit_schedule();
}

void
commit_remove(struct qmsg *m)
{
	struct batch *b = batch_cur();
	struct bremove *r;

	GROW(b->removes, b->nremoves, b->cremoves);
	r = &b->removes[b->nremoves++];
	strlcpy(r->qid, m->env->qid, sizeof(r->qid));
	r->shard = m->shard;
	r->msg = m;
	commit_schedule();
}

void
commit_ack(int worker, uint32_t tag)
{
	struct batch *b = batch_cur();

	GROW(b->acks, b->nacks, b->cacks);
	b->acks[b->nacks].worker = worker;
	b->acks[b->nacks].tag = tag;
	b->nacks++;
	commit_schedule();
}

/* --- in threadpool threads ---
 *
 * Each new message is sealed by its own work item doing its own fsync,
 * and each shard directory with new files is fsynced once per loop turn
 * by another, all at the same time: concurrent fsyncs on one filesystem
 * share the disk flush, so N messages cost about one round instead of N
 * in a row.  A batch has one item per shard with outcomes: it appends
 * and syncs the shard's journal and then removes finished files.
 */

static void
seal_work(uv_work_t *w)
{
	struct bseal *bs = w->data;
	struct bcommit *c = &bs->c;

	errno = 0;
	if (queue_fs_seal(c->fd, c->env->size, c->envtext, c->envlen) == -1)
		c->error = errno ? errno : EIO;
}

static void
dsync_work(uv_work_t *w)
{
	struct dsync *d = w->data;

	errno = 0;
	if (queue_fs_sync_dir(d->shard) == -1)
		d->error = errno ? errno : EIO;
}

/* Append a batch's lines to a shard's journal and sync it; errno on
 * failure.  A short write (disk full) is cut off again, so that the
 * lines, written again by a later batch, never follow a torn one. */
static int
journal_append(int s, const struct jbuf *j)
{
	off_t end;
	int fd, err;

	errno = 0;
	if ((fd = queue_fs_journal_fd(s)) == -1)
		return errno ? errno : EIO;
	end = lseek(fd, 0, SEEK_END);
	if (write(fd, j->buf, j->len) == (ssize_t)j->len && fdatasync(fd) == 0)
		return 0;
	err = errno ? errno : EIO;
	if (end != -1 && ftruncate(fd, end) == -1)
		return err;
	return err;
}

/* Append the shard's journal lines, sync them, then remove finished
 * files.  Journal lines only name messages already committed. */
static void
journal_work(uv_work_t *w)
{
	struct bwork *bw = w->data;
	struct batch *b = bw->batch;
	struct jbuf *j = &b->journal[bw->index];
	int s = bw->index, jerr = 0;
	size_t i;

	if (j->len > 0)
		jerr = journal_append(s, j);
	b->jerrors[s] = jerr;		/* each shard writes only its own */
	/* Removal needs no fsync: if it is lost in a crash, the journal
	 * says every recipient is final and recovery removes the file. */
	for (i = 0; i < b->nremoves && jerr == 0; i++)
		if (b->removes[i].shard == s)
			queue_fs_remove(b->removes[i].qid, s);
}

static void	phase_done(uv_work_t *, int);

static void
batch_queue(struct batch *b, struct bwork *bw, size_t index,
    uv_work_cb fn)
{
	bw->batch = b;
	bw->index = index;
	bw->req.data = bw;
	b->pending++;
	if (uv_queue_work(qd->loop, &bw->req, fn, phase_done) != 0)
		fatalx("uv_queue_work");
}

static int
shard_has_journal(struct batch *b, int s)
{
	size_t i;

	if (b->journal[s].len > 0)
		return 1;
	for (i = 0; i < b->nremoves; i++)
		if (b->removes[i].shard == s)
			return 1;
	return 0;
}

static void
batch_shards(struct batch *b)
{
	int s;

	for (s = 0; s < QUEUE_SHARDS; s++)
		if (shard_has_journal(b, s))
			batch_queue(b, &b->journal_w[s], s, journal_work);
}

/* --- back in the loop --- */

/* The channel to whoever waits for this commit, or NULL. */
static struct mproc *
batch_requester(const struct bcommit *c)
{
	if (c->session == COMMIT_LOCAL)
		return NULL;
	return c->proc == PROC_SMTPD ? qd->smtpd : c->proc == PROC_MGMTD ?
	    qd->mgmtd : NULL;
}

static void
commit_reply(struct bcommit *c)
{
	struct mproc *p = batch_requester(c);

	close(c->fd);
	free(c->envtext);
	if (c->error) {
		log_warnx("%s: cannot commit: %s", c->qid, strerror(c->error));
		queue_fs_discard(c->qid);
		envelope_free(c->env);
		if (p == NULL)
			return;
		m_create(p, MSG_COMMIT_FAIL, c->session, -1);
		m_add_u32(p, 451);
		m_add_string(p, "4.3.0");
		m_add_string(p, "could not store the message, try again later");
		m_close(p);
		return;
	}
	/* Counted first, so that a message that fills the spool makes
	 * queued send MSG_SPOOL_STATE before its MSG_COMMIT_OK: the
	 * client's next MAIL is refused there, not at DATA.  Received
	 * over SMTP (the 250 goes out now; DSNs are COMMIT_LOCAL) is
	 * counted before: the message may be final in sched_add_message. */
	if (p != NULL && c->proc == PROC_SMTPD) {
		qd->n_in_msgs++;
		qd->n_in_rcpts += c->env->nrcpt;
	}
	sched_add_message(c->env, c->shard, 1);
	spool_is_full();
	if (p != NULL) {
		m_create(p, MSG_COMMIT_OK, c->session, -1);
		m_add_string(p, c->qid);
		m_close(p);
	}
}

static void
batch_free(struct batch *b)
{
	int s;

	for (s = 0; s < QUEUE_SHARDS; s++)
		free(b->journal[s].buf);
	free(b->removes);
	free(b->acks);
	free(b);
}

static void
batch_retry(struct batch *b)
{
	struct batch *n = batch_cur();
	struct jbuf *from, *to;
	size_t i;
	int s;

	log_warnx("journal write failed: %s; outcomes kept, trying again",
	    strerror(b->jerror));
	for (s = 0; s < QUEUE_SHARDS; s++) {
		from = &b->journal[s];
		to = &n->journal[s];
		if (!b->jerrors[s] || from->len == 0)
			continue;
		if (to->len + from->len > to->cap) {
			to->cap = to->len + from->len;
			if ((to->buf = realloc(to->buf, to->cap)) == NULL)
				fatal("realloc");
		}
		memcpy(to->buf + to->len, from->buf, from->len);
		to->len += from->len;
	}
	for (i = 0; i < b->nremoves; i++)
		if (b->jerrors[b->removes[i].shard]) {
			GROW(n->removes, n->nremoves, n->cremoves);
			n->removes[n->nremoves++] = b->removes[i];
		}
	for (i = 0; i < b->nacks; i++) {
		GROW(n->acks, n->nacks, n->cacks);
		n->acks[n->nacks++] = b->acks[i];
	}
	if (!retry_init) {
		uv_timer_init(qd->loop, &retry_timer);
		retry_init = 1;
	}
	uv_timer_start(&retry_timer, retry_cb, JOURNAL_RETRY_MS, 0);
}

static void
batch_done(struct batch *b)
{
	size_t i;
	int s;

	running = NULL;
	for (s = 0; s < QUEUE_SHARDS; s++)
		if (b->jerrors[s])
			b->jerror = b->jerrors[s];
	if (b->jerror)
		/* Outcomes not durable: deliverd must not forget them yet;
		 * they go into a later batch (batch_retry). */
		batch_retry(b);
	else
		for (i = 0; i < b->nacks; i++) {
			struct mproc *p = qd->workers[b->acks[i].worker];

			if (p == NULL)
				continue;
			m_create(p, DLV_ACK, 0, -1);
			m_add_u32(p, b->acks[i].tag);
			m_close(p);
		}
	for (i = 0; i < b->nremoves; i++)
		if (!b->jerrors[b->removes[i].shard])
			sched_message_final(b->removes[i].msg);
	/* After a failed journal write the retry timer submits the rest,
	 * or new work does: not at once, which would spin on a full disk. */
	if (cur != NULL && !b->jerror)
		commit_submit();
	batch_free(b);
	sched_kick();
}

/* Called in the loop when a work item of the running batch is done:
 * after the last one, reply. */
static void
phase_done(uv_work_t *w, int status)
{
	struct bwork *bw = w->data;
	struct batch *b = bw->batch;

	if (--b->pending == 0)
		batch_done(b);
}

static void
commit_submit(void)
{
	struct batch *b;

	if (running != NULL || cur == NULL)
		return;
	b = running = cur;
	cur = NULL;
	batch_shards(b);
	if (b->pending == 0)
		batch_done(b);
}
