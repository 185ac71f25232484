/*
 * sched.c - the in-RAM scheduler.
 *
 * Every pending recipient belongs to exactly one item (sitem): the
 * recipients of one message for one queue (domain x VMTA).  An item is in
 * one place at a time: its queue's ready list, the retry heap (sched_heap.c
 * keeps it ordered by due time), or a deliverd worker's in-flight list.
 * Dispatch walks the queues that have ready work, once per loop turn.
 *
 * A queue is owned by one deliverd worker (hash of its name), so that
 * connection limits of a queue are enforced in one process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"
#include "proto.h"
#include "queued.h"
#include "sched_int.h"

static int	qmsg_cmp(struct qmsg *, struct qmsg *);
static int	squeue_cmp(struct squeue *, struct squeue *);
RB_GENERATE(qmsg_tree, qmsg, entry, qmsg_cmp);
RB_GENERATE(squeue_tree, squeue, entry, squeue_cmp);

static TAILQ_HEAD(, squeue) active = TAILQ_HEAD_INITIALIZER(active);
static uv_idle_t	 dispatch_idle;
static uv_timer_t	 retry_timer;
static int64_t		 retry_timer_due;

#define DEFAULT_MAX_SMTP_OUT	20
#define INFLIGHT_PER_CONN	2	/* jobs waiting behind each connection */
#define MAX_WORKER_JOBS		2048	/* fds held by one worker */

static void	sched_dispatch(uv_idle_t *);

static int
qmsg_cmp(struct qmsg *a, struct qmsg *b)
{
	return strcmp(a->env->qid, b->env->qid);
}

static int
squeue_cmp(struct squeue *a, struct squeue *b)
{
	return strcmp(a->name, b->name);
}

void
sched_init(void)
{
	RB_INIT(&qd->msgs);
	RB_INIT(&qd->queues);
	uv_idle_init(qd->loop, &dispatch_idle);
	uv_timer_init(qd->loop, &retry_timer);
	heap_init();
}

struct qmsg *
sched_find(const char *qid)
{
	struct envelope e;
	struct qmsg key;

	strlcpy(e.qid, qid, sizeof(e.qid));
	key.env = &e;
	return RB_FIND(qmsg_tree, &qd->msgs, &key);
}

struct squeue *
sched_queue_first(void)
{
	return RB_MIN(squeue_tree, &qd->queues);
}

struct squeue *
sched_queue_next(struct squeue *q)
{
	return RB_NEXT(squeue_tree, &qd->queues, q);
}

/* --- queue settings, most specific wins (sched_cfg.c) --- */

static void
queue_configure(struct squeue *q)
{
	const char *v, *err;
	int64_t secs, list[QUEUE_MAX_RETRIES];
	int64_t max_out = DEFAULT_MAX_SMTP_OUT;
	struct cfg_scope *sc = sched_cfg_scope(q->vmta, q->domain);
	int i, n = 0;

	if ((v = cfg_scope_str(sc, QS_RETRY_AFTER)) == NULL ||
	    cfg_parse_timelist(v, list, QUEUE_MAX_RETRIES, &n, &err) == -1 ||
	    n == 0) {
		list[0] = 600;
		n = 1;
	}
	/* The seeds' queue-interval (PowerMTA has none; its nearest is
	 * retry-after): no retry of the queue comes sooner than that. */
	if ((v = cfg_scope_str(sc, QS_QUEUE_INTERVAL)) == NULL ||
	    cfg_parse_time(v, &secs, &err) == -1 || secs < 0)
		secs = 0;
	for (i = 0; i < n; i++)
		q->retry[i] = (list[i] > secs ? list[i] : secs) * 1000;
	q->nretry = n;
	if ((v = cfg_scope_str(sc, QS_BOUNCE_AFTER)) == NULL ||
	    cfg_parse_time(v, &secs, &err) == -1)
		secs = 4 * 86400;
	q->bounce_after = secs * 1000;
	q->max_attempts = 0;
	if ((v = cfg_scope_str(sc, QS_MAX_DELIVERY_ATTEMPTS)) != NULL &&
	    cfg_parse_int(v, &secs, &err) == 0 && secs < 65535)
		q->max_attempts = secs;
	if ((v = cfg_scope_str(sc, QS_MAX_SMTP_OUT)) != NULL)
		cfg_parse_int(v, &max_out, &err);
	if (max_out <= 0)
		max_out = DEFAULT_MAX_SMTP_OUT;
	q->max_inflight = max_out * INFLIGHT_PER_CONN;
	q->cfg_max_out = max_out;
	free(q->cfg_msg_rate);
	v = cfg_scope_str(sc, QS_MAX_MSG_RATE);
	q->cfg_msg_rate = xstrdup(v ? v : "unlimited");
	cfg_scope_put(sc);
}

struct squeue *
sched_queue_get(const char *domain, const char *vmta)
{
	struct squeue key, *q;
	char name[600];

	snprintf(name, sizeof(name), "%s/%s", domain, vmta ? vmta :
	    "{default}");
	key.name = name;
	if ((q = RB_FIND(squeue_tree, &qd->queues, &key)) != NULL)
		return q;
	if ((q = calloc(1, sizeof(*q))) == NULL ||
	    (q->name = strdup(name)) == NULL ||
	    (q->domain = strdup(domain)) == NULL ||
	    (vmta && (q->vmta = strdup(vmta)) == NULL))
		fatal("queue_get");
	TAILQ_INIT(&q->ready);
	queue_configure(q);
	RB_INSERT(squeue_tree, &qd->queues, q);
	return q;
}

static int
queue_worker(struct squeue *q)
{
	uint32_t h = 2166136261u;
	const char *p;

	/* Rolled-up queues meet in their rollup's worker. */
	for (p = q->rollup ? q->rollup : q->name; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return 1 + h % (qd->nworkers ? qd->nworkers : 1);
}

void
sched_queue_activate(struct squeue *q)
{
	if (!q->active && !TAILQ_EMPTY(&q->ready)) {
		TAILQ_INSERT_TAIL(&active, q, aentry);
		q->active = 1;
	}
	sched_kick();
}

/* A reloaded configuration: every queue takes its new retry, expiry and
 * connection settings; queues allowed more now get going. */
void
sched_reconfigure(void)
{
	struct squeue *q;

	sched_cfg_reset();
	RB_FOREACH(q, squeue_tree, &qd->queues) {
		queue_configure(q);
		if (!TAILQ_EMPTY(&q->ready) && !q->active) {
			TAILQ_INSERT_TAIL(&active, q, aentry);
			q->active = 1;
		}
	}
	sched_slot_reconfigure();
	sched_kick();
}

void
sched_kick(void)
{
	if (qd->started && !TAILQ_EMPTY(&active))
		uv_idle_start(&dispatch_idle, sched_dispatch);
}

/* deliverd's word on a queue's backoff mode, for `tern show queues`;
 * it ends by itself at backoff_until even if the word to end it is
 * lost with a deliverd that died. */
void
sched_queue_mode(const char *queue, int backoff, uint64_t secs,
    const char *reason)
{
	struct squeue key, *q;

	key.name = (char *)queue;
	if ((q = RB_FIND(squeue_tree, &qd->queues, &key)) == NULL)
		return;
	q->backoff = backoff;
	q->backoff_until = backoff ? now_ms() + (int64_t)secs * 1000 : 0;
	log_debug("queue %s: %s mode%s%s", queue, backoff ? "backoff" :
	    "normal", reason ? ": " : "", reason ? reason : "");
}

/* deliverd rolled queue up into rollup ("NAME.rollup/vmta"): the
 * rollup gets a row of its own (no items: its connections and limits),
 * and the queue's work goes to the rollup's worker (queue_worker). */
void
sched_queue_rollup(const char *queue, const char *rollup)
{
	struct squeue key, *q, *r;
	char domain[600];
	const char *slash;

	key.name = (char *)queue;
	if ((q = RB_FIND(squeue_tree, &qd->queues, &key)) == NULL ||
	    rollup == NULL || (slash = strrchr(rollup, '/')) == NULL ||
	    (size_t)(slash - rollup) >= sizeof(domain))
		return;
	if (q->rollup == NULL || strcmp(q->rollup, rollup) != 0) {
		free(q->rollup);
		if ((q->rollup = strdup(rollup)) == NULL)
			fatal("sched_queue_rollup");
		log_info("queue %s: rolled up into %s", queue, rollup);
		q->cl_gen = 0;	/* <cluster>: the rollup's max-msg-rate */
	}
	memcpy(domain, rollup, slash - rollup);
	domain[slash - rollup] = '\0';
	r = sched_queue_get(domain, slash[1] == '{' ? NULL : slash + 1);
	r->is_rollup = 1;
}

/* deliverd's word on a queue's connections and limits in force; a
 * worker that goes away (sched_worker_down) has none open any more. */
void
sched_queue_stats(int worker, const char *queue, uint32_t conns,
    uint32_t connecting, uint32_t max_out, const char *rate)
{
	struct squeue key, *q;

	key.name = (char *)queue;
	if ((q = RB_FIND(squeue_tree, &qd->queues, &key)) == NULL)
		return;
	q->stats_worker = worker;
	q->conns = conns;
	q->connecting = connecting;
	q->max_out = max_out;
	free(q->msg_rate);
	q->msg_rate = rate ? strdup(rate) : NULL;
}

/* --- items --- */

struct sitem *
sched_item_new(struct qmsg *m, struct squeue *q, uint32_t nidx)
{
	struct sitem *it;

	if ((it = calloc(1, sizeof(*it) + nidx * sizeof(uint32_t))) == NULL)
		fatal("item_new");
	it->queue = q;
	it->msg = m;
	it->worker = -1;
	it->heapidx = HEAP_NONE;
	it->nidx = nidx;
	q->nrcpts += nidx;
	LIST_INSERT_HEAD(&m->items, it, mentry);
	return it;
}

void
sched_item_free(struct sitem *it)
{
	it->queue->nrcpts -= it->nidx;
	LIST_REMOVE(it, mentry);
	free(it);
}

/* Unlink an item from wherever it is. */
void
sched_item_detach(struct sitem *it)
{
	if (it->heapidx != HEAP_NONE)
		heap_remove(it);
	else if (it->worker > 0) {
		TAILQ_REMOVE(&qd->worker_items[it->worker], it, entry);
		it->queue->inflight_jobs--;
	} else
		TAILQ_REMOVE(&it->queue->ready, it, entry);
}

void
sched_item_schedule(struct sitem *it, int64_t due)
{
	it->worker = -1;
	if (it->queue->retry_until > due)
		due = it->queue->retry_until;
	it->due = due;
	if (due <= now_ms()) {
		TAILQ_INSERT_TAIL(&it->queue->ready, it, entry);
		sched_queue_activate(it->queue);
	} else {
		heap_insert(it);
		sched_arm_timer();
	}
}

/* --- messages --- */

/* Group the pending recipients of a message into one item per queue;
 * the message may be final then (every recipient diverted, suppressed
 * or done before). */
void
sched_route_message(struct qmsg *m)
{
	struct envelope *env = m->env;
	struct sitem *it;
	char dom[256], dom2[256];
	uint32_t i, j, n, *grp;
	uint8_t *done;

	if ((done = calloc(env->nrcpt, 1)) == NULL ||
	    (grp = calloc(env->nrcpt, sizeof(*grp))) == NULL)
		fatal("sched_route_message");
	for (i = 0; i < env->nrcpt; i++) {
		if (env->rcpts[i].state != RCPT_PENDING || done[i])
			continue;
		/* bounce domain: to bounced (queue_inbound.c) */
		if (inbound_divert(m, i) || suppress_check(m, i))
			continue;
		addr_domain(env->rcpts[i].addr, dom, sizeof(dom));
		for (n = 0, j = i; j < env->nrcpt; j++) {
			if (env->rcpts[j].state != RCPT_PENDING || done[j] ||
			    strcmp(addr_domain(env->rcpts[j].addr, dom2,
			    sizeof(dom2)), dom) != 0)
				continue;
			grp[n++] = j;
			done[j] = 1;
		}
		it = sched_item_new(m, sched_queue_get(dom,
		    sched_cfg_pool_member(env->vmta)), n);
		memcpy(it->idx, grp, n * sizeof(*grp));
		m->pending += n;
		qd->nrcpts += n;
		sched_item_schedule(it, now_ms());
	}
	free(done);
	free(grp);
	sched_msg_maybe_final(m);
}

/* A message committed or recovered: in the queue, and routed unless it
 * is new and waits for the suppression list (queue_suppress.c). */
struct qmsg *
sched_add_message(struct envelope *env, int shard, int fresh,
    struct qseg *seg, uint64_t recoff, uint64_t reclen)
{
	struct qmsg *m;

	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->rcpt_item = calloc(env->nrcpt, sizeof(*m->rcpt_item))) ==
	    NULL || (m->attempts = calloc(env->nrcpt, sizeof(uint16_t))) ==
	    NULL)
		fatal("sched_add_message");
	m->env = env;
	m->shard = shard;
	LIST_INIT(&m->items);
	/* before routing: a recipient diverted to bounced reads the body */
	if (seg != NULL)
		seg_attach(m, seg, recoff, reclen);
	if (RB_INSERT(qmsg_tree, &qd->msgs, m) != NULL)
		fatalx("%s: duplicate queue id", env->qid);
	qd->nmsgs++;
	if (fresh)
		qd->n_received++;
	if (!fresh || !suppress_hold(m))
		sched_route_message(m);
	return m;
}

void
sched_msg_maybe_final(struct qmsg *m)
{
	if (m->pending == 0 && m->inflight == 0 && !m->removing &&
	    !m->held) {
		m->removing = 1;
		commit_remove(m);
	}
}

void
sched_message_final(struct qmsg *m)
{
	struct sitem *it;

	while ((it = LIST_FIRST(&m->items)) != NULL) {
		sched_item_detach(it);
		sched_item_free(it);
	}
	RB_REMOVE(qmsg_tree, &qd->msgs, m);
	qd->nmsgs--;
	envelope_free(m->env);
	free(m->acct_hdrs);
	free(m->delays);
	free(m->rcpt_item);
	free(m->attempts);
	free(m);
}

/* --- dispatch --- */

static int
job_send(struct sitem *it, int w)
{
	struct qmsg *m = it->msg;
	struct envelope sub;
	struct rcpt *r;
	char verp[MAX_ADDR * 2];
	const char *vs;
	uint32_t i, n = 0;
	uint64_t seg;
	int fd = -1;

	if ((r = calloc(it->nidx, sizeof(*r))) == NULL)
		fatal("job_send");
	for (i = 0; i < it->nidx; i++) {
		uint32_t k = it->idx[i];

		if (m->env->rcpts[k].state == RCPT_PENDING &&
		    m->rcpt_item[k] == NULL)
			r[n++] = m->env->rcpts[k];
	}
	/* The job names the message's segment, which the worker holds
	 * (queue_seg.c), or carries a descriptor of the message. */
	if (n == 0 || ((seg = seg_for_worker(m, w)) == 0 &&
	    (fd = queue_fs_open(m)) == -1)) {
		if (n != 0)
			log_warn("%s: cannot open message file", m->env->qid);
		free(r);
		return -1;
	}
	sub = *m->env;
	sub.rcpts = r;
	sub.nrcpt = n;
	/* VERP (queue_verp.c): one recipient per job, its own sender. */
	if ((vs = verp_sender(m->env, r[0].addr, verp, sizeof(verp))) !=
	    NULL) {
		if (n > 1)
			verp_job_split(it, r + 1, n - 1);
		sub.nrcpt = n = 1;
		sub.sender = (char *)vs;
	}
	m_create(qd->workers[w], DLV_JOB, 0, fd);
	m_add_envelope(qd->workers[w], &sub);
	m_add_string(qd->workers[w], it->queue->name);
	m_add_string(qd->workers[w], it->queue->domain);
	m_add_u64(qd->workers[w], seg);
	m_close(qd->workers[w]);
	/* The item now holds exactly what was sent. */
	for (i = 0; i < n; i++) {
		uint32_t k;

		for (k = 0; k < m->env->nrcpt; k++)
			if (m->env->rcpts[k].index == r[i].index)
				break;
		it->idx[i] = k;
		m->rcpt_item[k] = it;
	}
	it->queue->nrcpts -= it->nidx - n;
	it->nidx = n;
	it->nresults = 0;
	m->inflight += n;
	free(r);
	return 0;
}

static int
queue_dispatch_one(struct squeue *q)
{
	struct sitem *it;
	int w = queue_worker(q);

	if (q->paused || q->retry_until > now_ms() || !qd->worker_ready[w] ||
	    qd->workers[w] == NULL || q->inflight_jobs >= q->max_inflight ||
	    mproc_congested(qd->workers[w]))
		return 0;
	if ((it = TAILQ_FIRST(&q->ready)) == NULL)
		return 0;
	/* <cluster>: a max-msg-rate token shared by every node */
	if (!cluster_msg_token(q))
		return 0;
	TAILQ_REMOVE(&q->ready, it, entry);
	if (job_send(it, w) == -1) {
		/* nothing left to send: drop the item */
		struct qmsg *m = it->msg;

		sched_item_free(it);
		sched_msg_maybe_final(m);
		return 1;
	}
	it->worker = w;
	TAILQ_INSERT_TAIL(&qd->worker_items[w], it, entry);
	q->inflight_jobs++;
	return 1;
}

static void
sched_dispatch(uv_idle_t *h)
{
	struct squeue *q, *next;
	int budget = 256, progress;

	/* Round robin over active queues, one job each per pass. */
	do {
		progress = 0;
		for (q = TAILQ_FIRST(&active); q != NULL && budget > 0;
		    q = next) {
			next = TAILQ_NEXT(q, aentry);
			if (queue_dispatch_one(q)) {
				progress = 1;
				budget--;
			}
			if (TAILQ_EMPTY(&q->ready)) {
				TAILQ_REMOVE(&active, q, aentry);
				q->active = 0;
			}
		}
	} while (progress && budget > 0);
	if (budget > 0)
		uv_idle_stop(h);
}

/* --- retries --- */

static void
retry_cb(uv_timer_t *h)
{
	struct sitem *it;
	int64_t now = now_ms();

	retry_timer_due = 0;
	while ((it = heap_top()) != NULL && it->due <= now) {
		heap_remove(it);
		TAILQ_INSERT_TAIL(&it->queue->ready, it, entry);
		sched_queue_activate(it->queue);
	}
	sched_arm_timer();
}

void
sched_arm_timer(void)
{
	struct sitem *it = heap_top();
	int64_t now = now_ms(), wait;

	if (it == NULL) {
		uv_timer_stop(&retry_timer);
		retry_timer_due = 0;
		return;
	}
	if (retry_timer_due != 0 && retry_timer_due <= it->due)
		return;
	wait = it->due > now ? it->due - now : 0;
	retry_timer_due = it->due;
	uv_timer_start(&retry_timer, retry_cb, wait, 0);
}

/* A queue whose last try failed for the whole connection waits until
 * its retry time; so does every item in it. */
void
sched_queue_retry_mode(struct squeue *q, int64_t until)
{
	struct sitem *it;

	if (q->retry_until < until)
		q->retry_until = until;
	while ((it = TAILQ_FIRST(&q->ready)) != NULL) {
		TAILQ_REMOVE(&q->ready, it, entry);
		it->due = until;
		heap_insert(it);
	}
	sched_arm_timer();
}

int64_t
sched_retry_delay(struct squeue *q, uint16_t attempts)
{
	int i = attempts > 0 ? attempts - 1 : 0;

	if (i >= q->nretry)
		i = q->nretry - 1;
	return q->retry[i];
}

