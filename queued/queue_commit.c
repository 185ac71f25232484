/*
 * queue_commit.c - group commit.
 *
 * A new message is made durable as soon as smtpd commits it: it joins
 * the next append batch, which copies every message committed meanwhile
 * from its scratch file into the message log (queue_seg.c), one record
 * each, and syncs the segment once.  One append batch runs at a time on
 * the threadpool; whatever is committed while it runs fills the next,
 * so under load one fdatasync covers many messages.  When the batch is
 * durable its messages are answered (MSG_COMMIT_OK: smtpd says 250).
 *
 * Everything else that must be on disk before someone is told about it
 * goes into the current outcome batch: journal lines for recipient
 * outcomes, removals of finished messages.  Only after a batch is
 * durable are its replies sent: DLV_ACK to deliverd, and the removals.
 *
 * Both are written and synced in one round: the append batch, then the
 * outcome batch, whichever of them has something; one round at a time,
 * and whatever arrives meanwhile collects in the next.  A work item of
 * its own for each, in parallel, cost a wake-up of a worker thread and
 * one of the loop per batch: with the machine's CPU the limit, those
 * context switches were most of queued's (docs/performance.md).
 *
 * Where a round runs: in the loop itself while the disk answers
 * quickly.  Handing every round to a threadpool thread and back (the
 * thread woken with a futex, the loop with an eventfd, often on the
 * other CPU) took a third of queued's CPU under load (step 23).  The
 * loop waits for the round instead: what arrives meanwhile waits in the
 * channels' buffers and is read after it, into the next round.  A round
 * slower than ROUND_INLINE_MAX_MS (a slow or stalled disk) sends the
 * rounds after it to the threadpool, so that the loop goes on answering
 * (deliveries, `tern show`) while the disk is slow; a round there that
 * takes less than ROUND_INLINE_BACK_MS brings them back.
 *
 * Compaction (seg_compact) moves messages out of a segment that is
 * mostly garbage through the same append batches: their records are
 * copied as they are, and the old place is let go once the copy is
 * durable.
 */
#include <sys/stat.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proto.h"
#include "queued.h"

struct bcommit {
	char		 qid[QID_LEN + 1];
	int		 fd;
	int		 slot;		/* its scratch file */
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
	int		 legacy;	/* a file of its own to unlink */
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

/* A record to append: a new message, or a message moved by compaction
 * (move != NULL, fd -1). */
struct bseal {
	TAILQ_ENTRY(bseal) entry;
	struct bcommit	 c;
	struct qmsg	*move;
	uint64_t	 recoff, reclen;
};
TAILQ_HEAD(bseal_list, bseal);

/* One append batch: records placed one after the other in one segment,
 * written and synced in one round. */
struct abatch {
	struct qseg	*seg;
	uint64_t	 start;
	struct bseal_list items;
	int		 error;
};

/* One outcome batch: journal lines, written and synced in one round,
 * then the removals and acknowledgements they make safe. */
struct batch {
	struct bremove	*removes;
	size_t		 nremoves, cremoves;
	struct back	*acks;
	size_t		 nacks, cacks;
	struct jbuf	 journal;
	int		 jerror;	/* errno of the journal write */
};

/* A round: what one work item writes and syncs. */
struct round {
	uv_work_t	 req;
	struct abatch	*a;		/* NULL: no records to append */
	struct batch	*b;		/* NULL: no outcomes */
	uint64_t	 ns;		/* how long its writes and syncs took */
};

#define ROUND_INLINE_MAX_MS	50
#define ROUND_INLINE_BACK_MS	5
static int		 round_inline = 1;	/* rounds run in the loop */

static struct batch	*cur, *running;
static struct round	*rounding;	/* the round running */
static struct bseal_list apending = TAILQ_HEAD_INITIALIZER(apending);
static size_t		 nsealing;	/* records not durable yet */
static uv_timer_t	 compact_timer;

#define COMPACT_EVERY_MS	10000	/* look for segments to compact */

#define GROW(arr, n, cap) do {						\
	if ((n) == (cap)) {						\
		(cap) = (cap) ? (cap) * 2 : 32;				\
		if (((arr) = reallocarray((arr), (cap), sizeof(*(arr)))) == NULL) \
			fatal("reallocarray");				\
	}								\
} while (0)

static void commit_schedule(void);
static void round_submit(int outcomes);

static void	compact_cb(uv_timer_t *);

void
commit_init(void)
{
	cur = NULL;
	running = NULL;
	uv_timer_init(qd->loop, &compact_timer);
	uv_timer_start(&compact_timer, compact_cb, COMPACT_EVERY_MS,
	    COMPACT_EVERY_MS);
	uv_unref((uv_handle_t *)&compact_timer);
}

/* A journal write failed (typically: the disk is full).  Its lines, the
 * removals and every acknowledgement of the batch move to
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
	if (rounding != NULL || running != NULL || nsealing != 0)
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
	round_submit(1);
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

static int	batch_needs_work(const struct batch *);
static void	batch_done(struct batch *);
static void	commit_reply(struct bcommit *, struct qseg *, uint64_t,
		    uint64_t);

void
commit_message(const char *qid, int fd, int slot, struct envelope *env,
    int proc, uint32_t session)
{
	struct bseal *bs;
	struct bcommit *c;
	struct stat st;

	if ((bs = calloc(1, sizeof(*bs))) == NULL)
		fatal("calloc");
	c = &bs->c;
	strlcpy(c->qid, qid, sizeof(c->qid));
	c->fd = fd;
	c->slot = slot;
	c->shard = queue_fs_shard(qid);
	c->proc = proc;
	c->session = session;
	c->env = env;
	c->envtext = queue_fs_env_encode(env, &c->envlen);
	/* The body is exactly what the writer said: checked here, so that
	 * a message that is not does not fail the batch it would join (a
	 * short file makes the copy in append_work fail, and with it every
	 * message of the batch; a long one would be cut silently).  This
	 * fstat is the one system call per message left on the loop's
	 * commit path: the file was handed out without any (lent kept
	 * descriptor, queue_recv.c), the copy runs on the threadpool, and
	 * the ftruncate at release is needed (scratch_release). */
	if (fstat(fd, &st) == -1)
		c->error = errno;
	else if ((uint64_t)st.st_size != env->size) {
		log_warnx("%s: the file holds %lld bytes, the writer said %llu",
		    qid, (long long)st.st_size, (unsigned long long)env->size);
		c->error = EINVAL;
	}
	if (c->error) {
		commit_reply(c, NULL, 0, 0);
		free(bs);
		return;
	}
	bs->reclen = seg_rec_len(env->size, c->envlen);
	TAILQ_INSERT_TAIL(&apending, bs, entry);
	nsealing++;
	commit_schedule();
}

/* Compaction: copy the message's record into the active segment. */
#define MOVING_FINAL	2

static void
compact_move(struct qmsg *m)
{
	struct bseal *bs;

	if (m->moving || m->removing)
		return;
	if ((bs = calloc(1, sizeof(*bs))) == NULL)
		fatal("calloc");
	bs->move = m;
	bs->c.fd = -1;
	bs->reclen = m->reclen;
	m->moving = 1;
	TAILQ_INSERT_TAIL(&apending, bs, entry);
	nsealing++;
	commit_schedule();
}

static void
compact_cb(uv_timer_t *h)
{
	if (!qd->stopping)
		seg_compact(compact_move);
}

/* Place everything committed since the last batch in one segment, one
 * record after the other, for the next round; NULL if nothing was. */
static struct abatch *
append_take(void)
{
	struct abatch *a;
	struct bseal *bs;
	uint64_t len = 0, off;

	if (TAILQ_EMPTY(&apending))
		return NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		fatal("calloc");
	TAILQ_INIT(&a->items);
	TAILQ_CONCAT(&a->items, &apending, entry);
	TAILQ_FOREACH(bs, &a->items, entry)
		len += bs->reclen;
	a->seg = seg_place(len, &a->start);
	off = a->start;
	TAILQ_FOREACH(bs, &a->items, entry) {
		bs->recoff = off;
		off += bs->reclen;
	}
	return a;
}

/* A message copied by compaction (or not: its segment may try again)
 * takes its new place; one that became final meanwhile is let go now
 * (batch_done left it to us). */
static void
compact_moved(struct qmsg *m, struct abatch *a, struct bseal *bs)
{
	int final = m->moving == MOVING_FINAL;

	m->moving = 0;
	if (final) {
		seg_detach(m);
		sched_message_final(m);
		return;
	}
	if (a->error) {
		m->seg->moving = 0;
		return;
	}
	seg_detach(m);
	seg_attach(m, a->seg, bs->recoff, bs->reclen);
}

/* Back in the loop: answer every message of the batch, durable or not;
 * moved messages take their new place. */
static void
append_done(struct abatch *a)
{
	struct bseal *bs;

	if (a->error)
		seg_unplace(a->seg, a->start);
	while ((bs = TAILQ_FIRST(&a->items)) != NULL) {
		TAILQ_REMOVE(&a->items, bs, entry);
		nsealing--;
		if (bs->move != NULL)
			compact_moved(bs->move, a, bs);
		else {
			if (a->error && !bs->c.error)
				bs->c.error = a->error;
			commit_reply(&bs->c, a->seg, bs->recoff, bs->reclen);
		}
		free(bs);
	}
	free(a);
}

void
commit_result(struct qmsg *m, uint32_t idx, uint32_t state)
{
	struct batch *b = batch_cur();
	struct jbuf *j = &b->journal;
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
	r->legacy = m->seg == NULL;
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
 * One append batch at a time writes its records in order and syncs the
 * segment once: records acknowledged always precede records that were
 * not (queue_seg.c relies on it at recovery).  A batch that fails is cut
 * off the segment, so that no record of it is read at recovery: its
 * messages were refused (451), the client sends them again.  An outcome
 * batch appends and syncs the journal (one file: one sync per batch, not
 * one per shard as when the journal was sharded) and then removes
 * finished legacy files.
 */

#define APPEND_BUF	(256 * 1024)

static void
append_work(struct abatch *a)
{
	struct bseal *bs;
	struct bcommit *c;
	char *buf;
	int r = 0;

	if ((buf = malloc(APPEND_BUF)) == NULL) {
		a->error = ENOMEM;
		return;
	}
	errno = 0;
	if (seg_file_open(a->seg) == -1)
		r = -1;
	TAILQ_FOREACH(bs, &a->items, entry) {
		if (r == -1)
			break;
		c = &bs->c;
		if (bs->move != NULL)
			r = seg_copy_rec(a->seg, bs->recoff, bs->move->seg,
			    bs->move->recoff, bs->reclen, buf, APPEND_BUF);
		else
			r = seg_write_rec(a->seg, bs->recoff, c->qid, c->fd,
			    c->env->size, c->envtext, c->envlen, buf,
			    APPEND_BUF);
	}
	if (r == 0)
		r = seg_sync(a->seg);
	if (r == -1) {
		a->error = errno ? errno : EIO;
		seg_cut(a->seg, a->start);
	}
	free(buf);
}

/* Append the batch's journal lines, sync them, then remove finished
 * legacy files.  Journal lines only name messages already committed. */
static void
journal_work(struct batch *b)
{
	size_t i;

	if (b->journal.len > 0)
		b->jerror = queue_fs_journal_append(b->journal.buf,
		    b->journal.len);
	/* Removal needs no fsync: if it is lost in a crash, the journal
	 * says every recipient is final and recovery removes the file.
	 * Records in segments go with their segment (seg_detach). */
	for (i = 0; i < b->nremoves && b->jerror == 0; i++)
		if (b->removes[i].legacy)
			queue_fs_remove(b->removes[i].qid, b->removes[i].shard);
}

static int
batch_needs_work(const struct batch *b)
{
	size_t i;

	if (b->journal.len > 0)
		return 1;
	for (i = 0; i < b->nremoves; i++)
		if (b->removes[i].legacy)
			return 1;
	return 0;
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
commit_reply(struct bcommit *c, struct qseg *seg, uint64_t recoff,
    uint64_t reclen)
{
	struct mproc *p = batch_requester(c);

	scratch_release(c->slot, c->fd);
	free(c->envtext);
	/* smtpd's next file goes first: a message with a descriptor starts
	 * a sendmsg(), so the reply rides in the same one (imsg_flush). */
	if (p != NULL && p == qd->smtpd)
		recv_pool_refill();
	if (c->error) {
		log_warnx("%s: cannot commit: %s", c->qid, strerror(c->error));
		envelope_free(c->env);
		spool_is_full();	/* the disk may have filled up */
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
	sched_add_message(c->env, c->shard, 1, seg, recoff, reclen);
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
	free(b->journal.buf);
	free(b->removes);
	free(b->acks);
	free(b);
}

static void
batch_retry(struct batch *b)
{
	struct batch *n = batch_cur();
	struct jbuf *from = &b->journal, *to = &n->journal;
	size_t i;

	log_warnx("journal write failed: %s; outcomes kept, trying again",
	    strerror(b->jerror));
	if (to->len + from->len > to->cap) {
		to->cap = to->len + from->len;
		if ((to->buf = realloc(to->buf, to->cap)) == NULL)
			fatal("realloc");
	}
	if (from->len > 0) {
		memcpy(to->buf + to->len, from->buf, from->len);
		to->len += from->len;
	}
	for (i = 0; i < b->nremoves; i++) {
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

	running = NULL;
	if (b->jerror) {
		/* Outcomes not durable: deliverd must not forget them yet,
		 * and the messages stay; a later batch tries again. */
		batch_retry(b);
		batch_free(b);
		return;
	}
	for (i = 0; i < b->nacks; i++) {
		struct mproc *p = qd->workers[b->acks[i].worker];

		if (p == NULL)
			continue;
		m_create(p, DLV_ACK, 0, -1);
		m_add_u32(p, b->acks[i].tag);
		m_close(p);
	}
	for (i = 0; i < b->nremoves; i++) {
		struct qmsg *m = b->removes[i].msg;

		if (m->moving) {
			m->moving = MOVING_FINAL;	/* compact_moved */
			continue;
		}
		seg_detach(m);
		sched_message_final(m);
	}
	batch_free(b);
}

/* The outcome batch for the next round, or NULL; one with nothing to
 * write (acknowledgements, removals of records) is done at once. */
static struct batch *
batch_take(void)
{
	struct batch *b;

	if (cur == NULL)
		return NULL;
	b = running = cur;
	cur = NULL;
	if (batch_needs_work(b))
		return b;
	batch_done(b);
	return NULL;
}

static void
round_work(uv_work_t *w)
{
	struct round *r = w->data;
	uint64_t t0 = uv_hrtime();

	if (r->a != NULL)
		append_work(r->a);
	if (r->b != NULL)
		journal_work(r->b);
	r->ns = uv_hrtime() - t0;
}

/* In the loop or in the threadpool, from how long the last round took. */
static void
round_where(const struct round *r)
{
	uint64_t ms = r->ns / 1000000;

	if (round_inline && ms > ROUND_INLINE_MAX_MS) {
		round_inline = 0;
		log_warnx("the spool's disk is slow (a sync round took %" PRIu64
		    " ms): syncing in a thread until it is fast again", ms);
	} else if (!round_inline && ms < ROUND_INLINE_BACK_MS) {
		round_inline = 1;
		log_info("the spool's disk is fast again (%" PRIu64 " ms)", ms);
	}
}

static void
round_done(uv_work_t *w, int status)
{
	struct round *r = w->data;
	int jerror = r->b != NULL && r->b->jerror;
	int was_inline = round_inline;

	rounding = NULL;
	round_where(r);
	if (r->a != NULL)
		append_done(r->a);
	if (r->b != NULL)
		batch_done(r->b);
	free(r);
	/* After a failed journal write the retry timer submits the
	 * outcomes, or new work does: not at once, which would spin on a
	 * full disk.  A round run in the loop leaves the next one (what
	 * this one's replies made: bounces, compaction) to the end of the
	 * loop turn, after what arrived meanwhile has been read. */
	if (!was_inline)
		round_submit(!jerror);
	else if (!jerror && (!TAILQ_EMPTY(&apending) || cur != NULL))
		commit_schedule();
	sched_kick();
}

/*
 * A round in the loop.  What this turn composed (replies, jobs) leaves
 * before the loop waits for the disk; and the records' replies (250s)
 * leave as soon as the segment is synced, not after the journal too:
 * nothing in them waits for the outcomes.
 */
static void
round_run_inline(struct round *r)
{
	uint64_t t0 = uv_hrtime();

	mproc_flush_all();
	if (r->a != NULL) {
		append_work(r->a);
		append_done(r->a);
		r->a = NULL;
		mproc_flush_all();
	}
	if (r->b != NULL)
		journal_work(r->b);
	r->ns = uv_hrtime() - t0;
	round_done(&r->req, 0);
}

/* Start a round with what is ready, unless one runs; outcomes: the
 * outcome batch too. */
static void
round_submit(int outcomes)
{
	struct round *r;
	struct abatch *a;
	struct batch *b;

	if (rounding != NULL)
		return;
	a = append_take();
	b = outcomes ? batch_take() : NULL;
	if (a == NULL && b == NULL)
		return;
	if ((r = rounding = calloc(1, sizeof(*r))) == NULL)
		fatal("calloc");
	r->a = a;
	r->b = b;
	r->req.data = r;
	if (round_inline)
		round_run_inline(r);
	else if (uv_queue_work(qd->loop, &r->req, round_work,
	    round_done) != 0)
		fatalx("uv_queue_work");
}
