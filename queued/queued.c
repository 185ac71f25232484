/*
 * queued.c - main, peers, and the messages queued answers.
 */
#include <sys/statvfs.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "paths.h"
#include "proto.h"
#include "queued.h"

struct queued	*qd;

#define SPOOL_FLOOR	(16ULL * 1024 * 1024)	/* always keep free */

static uv_timer_t	stop_timer;
static uv_timer_t	full_timer;	/* rechecks a full spool */

#define SPOOL_RECHECK_MS	1000

int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- back-pressure --- */

static void
spool_recheck(uv_timer_t *h)
{
	spool_is_full();
}

/* Free bytes on the spool's filesystem, asked at most every
 * SPOOL_STATFS_MS: this runs twice per message. */
#define SPOOL_STATFS_MS	20

static uint64_t
spool_avail(void)
{
	static uint64_t avail, at;
	static int known;
	struct statvfs sv;
	uint64_t now = uv_now(qd->loop);

	if (!known || now - at >= SPOOL_STATFS_MS || qd->spool_full) {
		if (statvfs(qd->spool, &sv) == 0)
			avail = (uint64_t)sv.f_bavail * sv.f_frsize;
		else
			avail = UINT64_MAX;
		at = now;
		known = 1;
	}
	return avail;
}

int
spool_is_full(void)
{
	static uint64_t floor, limit, gen;
	struct cfg_node *sp;
	int full = 0;

	if (gen != qd->cfg_gen) {
		floor = SPOOL_FLOOR;
		if ((sp = cfg_child(qd->cfg->root, "spool")) != NULL)
			floor += cfg_size(sp, "min-free-space", 0);
		limit = cfg_int(qd->cfg->root, "spool-max-recipients", 0);
		if (limit == 0)
			limit = cfg_int(qd->cfg->root, "max-queue-size", 0);
		gen = qd->cfg_gen;
	}
	if (spool_avail() < floor)
		full = 1;
	if (limit > 0 && qd->nrcpts + suppress_held_rcpts() >= limit)
		full = 1;
	if (full != qd->spool_full) {
		qd->spool_full = full;
		/* Deliveries and removals free room without anyone asking:
		 * look again every second until there is room, and tell
		 * smtpd then, so it stops refusing mail by itself. */
		if (full)
			uv_timer_start(&full_timer, spool_recheck,
			    SPOOL_RECHECK_MS, SPOOL_RECHECK_MS);
		else
			uv_timer_stop(&full_timer);
		log_warnx(full ? "spool is full: refusing new messages" :
		    "spool has room again: accepting messages");
		if (qd->smtpd != NULL) {
			m_create(qd->smtpd, MSG_SPOOL_STATE, 0, -1);
			m_add_u32(qd->smtpd, full);
			m_close(qd->smtpd);
		}
		recv_pool_refill();	/* nothing handed ahead while full */
	}
	return full;
}

/* --- smtpd --- */

static void
smtpd_msg(struct mproc *p, struct imsg *imsg)
{
	struct msg m;

	m_msg(&m, imsg);
	if (recv_msg(p, imsg, &m))
		return;
	switch (imsg->hdr.type) {
	case MSG_SESSIONS_IN:
		m_get_u32(&m, &qd->conns_in);
		m_end(&m);
		return;
	}
	fatalx("smtpd sent unexpected %s", proto_name(imsg->hdr.type));
}

static void
smtpd_lost(struct mproc *p)
{
	if (p != qd->smtpd)
		return;		/* a new smtpd came first (recv_smtpd_up) */
	qd->smtpd = NULL;
	qd->conns_in = 0;	/* its sessions died with it */
	recv_peer_lost(PROC_SMTPD);
}

/* --- deliverd --- */

static void
worker_msg(struct mproc *p, struct imsg *imsg)
{
	struct dlv_result r;
	struct msg m;
	const char *qid;
	uint32_t tag, n, i, idx[1024];

	m_msg(&m, imsg);
	switch (imsg->hdr.type) {
	case DLV_RESULT:
		m_get_result(&m, &r);
		m_end(&m);
		sched_result(p->instance, &r);
		return;
	case DLV_DONE:
		m_get_u32(&m, &tag);
		m_get_string(&m, &qid);
		m_end(&m);
		commit_ack(p->instance, tag);
		return;
	case DLV_INFLIGHT:
		m_get_string(&m, &qid);
		m_get_u32(&m, &n);
		if (qid == NULL || n > 1024)
			fatalx("bad DLV_INFLIGHT");
		for (i = 0; i < n; i++)
			m_get_u32(&m, &idx[i]);
		m_end(&m);
		sched_inflight(p->instance, qid, n, idx);
		return;
	case DLV_HELLO_END:
		m_end(&m);
		sched_worker_up(p->instance);
		return;
	case DLV_SLOT_REQ:
	case DLV_SLOT_HELD: {
		const char *queue, *vmta, *src;

		m_get_string(&m, &queue);
		m_get_string(&m, &vmta);
		m_get_string(&m, &src);
		m_end(&m);
		sched_slot_request(p->instance, imsg->hdr.peerid, queue, vmta,
		    src,
		    imsg->hdr.type == DLV_SLOT_HELD);
		return;
	}
	case DLV_SLOT_FREE:
		m_end(&m);
		sched_slot_release(p->instance, imsg->hdr.peerid);
		return;
	case DLV_QUEUE_STATS: {
		const char *queue, *rate;
		uint32_t conns, connecting, max_out;

		m_get_string(&m, &queue);
		m_get_u32(&m, &conns);
		m_get_u32(&m, &connecting);
		m_get_u32(&m, &max_out);
		m_get_string(&m, &rate);
		m_end(&m);
		if (queue != NULL)
			sched_queue_stats(p->instance, queue, conns,
			    connecting, max_out, rate);
		return;
	}
	case DLV_ROLLUP: {
		const char *queue, *rollup;

		m_get_string(&m, &queue);
		m_get_string(&m, &rollup);
		m_end(&m);
		if (queue != NULL)
			sched_queue_rollup(queue, rollup);
		return;
	}
	case DLV_QUEUE_MODE: {
		const char *queue, *reason;
		uint64_t secs;

		m_get_string(&m, &queue);
		m_get_u32(&m, &n);
		m_get_u64(&m, &secs);
		m_get_string(&m, &reason);
		m_end(&m);
		if (queue != NULL)
			sched_queue_mode(queue, n, secs, reason);
		return;
	}
	}
	fatalx("%s sent unexpected %s", p->name, proto_name(imsg->hdr.type));
}

static void
worker_lost(struct mproc *p)
{
	qd->workers[p->instance] = NULL;
	seg_worker_gone(p->instance);
	sched_worker_down(p->instance);
	sched_slot_worker_down(p->instance);
}

static void
worker_drain(struct mproc *p)
{
	sched_kick();
}

/* --- bounced, mgmtd --- */

static void
bounced_msg(struct mproc *p, struct imsg *imsg)
{
	struct msg m;
	uint64_t seq;

	m_msg(&m, imsg);
	if (imsg->hdr.type == BNC_INJECT) {
		inject_message(&m);
		return;
	}
	if (imsg->hdr.type == BNC_SUPPRESS) {
		suppress_msg(&m);
		return;
	}
	if (imsg->hdr.type == BNC_SUPPRESS_DONE) {
		suppress_ready();
		return;
	}
	if (imsg->hdr.type != BNC_ACK)
		fatalx("bounced sent unexpected %s",
		    proto_name(imsg->hdr.type));
	m_get_u64(&m, &seq);
	m_end(&m);
	acct_ack(seq);
}

static void
bounced_lost(struct mproc *p)
{
	qd->bounced = NULL;
}

static void
mgmtd_msg(struct mproc *p, struct imsg *imsg)
{
	struct msg m;

	m_msg(&m, imsg);
	if (recv_msg(p, imsg, &m))	/* HTTP injection */
		return;
	switch (imsg->hdr.type) {
	case CTL_STATUS_REQ:
		m_end(&m);
		ctl_status(p, imsg->hdr.peerid);
		return;
	case CTL_QUEUES_REQ:
		m_end(&m);
		ctl_queues(p, imsg->hdr.peerid);
		return;
	case CTL_QUEUE_OP:
		ctl_queue_op(p, imsg->hdr.peerid, &m);
		return;
	case CTL_CLUSTER_REQ:
		m_end(&m);
		cluster_ctl(p, imsg->hdr.peerid);
		return;
	}
	if (ctl_msg(p, imsg, &m))
		return;
	fatalx("mgmtd sent unexpected %s", proto_name(imsg->hdr.type));
}

static void
mgmtd_lost(struct mproc *p)
{
	qd->mgmtd = NULL;
	trace_clear();
	recv_peer_lost(PROC_MGMTD);
}

/* --- daemon hooks --- */

static void
queued_peer(int proc, int instance, int fd)
{
	struct mproc *p;

	switch (proc) {
	case PROC_SMTPD:
		qd->smtpd = mproc_new(qd->loop, fd, proc, 0, smtpd_msg,
		    smtpd_lost, NULL);
		if (qd->spool_full) {
			m_create(qd->smtpd, MSG_SPOOL_STATE, 0, -1);
			m_add_u32(qd->smtpd, 1);
			m_close(qd->smtpd);
		}
		suppress_smtpd(qd->smtpd);	/* queue_suppress.c */
		recv_smtpd_up();		/* queue_recv.c */
		return;
	case PROC_DELIVERD:
		if (instance < 1 || instance > QUEUE_MAX_WORKERS)
			fatalx("bad deliverd instance %d", instance);
		p = mproc_new(qd->loop, fd, proc, instance, worker_msg,
		    worker_lost, NULL);
		p->on_drain = worker_drain;
		qd->workers[instance] = p;
		ctl_force_send(p);
		qd->worker_ready[instance] = 0;	/* until its HELLO_END */
		if (instance > qd->nworkers)
			qd->nworkers = instance;
		return;
	case PROC_BOUNCED:
		qd->bounced = mproc_new(qd->loop, fd, proc, 0, bounced_msg,
		    bounced_lost, NULL);
		acct_bounced_up();
		return;
	case PROC_MGMTD:
		trace_clear();
		qd->mgmtd = mproc_new(qd->loop, fd, proc, 0, mgmtd_msg,
		    mgmtd_lost, NULL);
		return;
	}
	fatalx("unexpected peer %s", proc_name(proc));
}

static void
queued_recovered(struct envelope *e, int shard, struct qseg *seg,
    uint64_t recoff, uint64_t reclen)
{
	sched_add_message(e, shard, 0, seg, recoff, reclen);
}

/* The spool is recovered as soon as the config says where it is, before
 * any peer is heard: a deliverd replaying results of a previous queued
 * must find the messages they belong to. */
static void
queued_recover(void)
{
	int i;

	for (i = 0; i <= QUEUE_MAX_WORKERS; i++)
		TAILQ_INIT(&qd->worker_items[i]);
	uv_timer_init(qd->loop, &full_timer);
	queue_fs_init(qd->spool);
	sched_init();
	commit_init();
	suppress_init();	/* before recovery: messages wait for the list */
	queue_fs_recover(queued_recovered);
	log_info("spool %s: %llu messages, %llu recipients queued", qd->spool,
	    (unsigned long long)qd->nmsgs, (unsigned long long)qd->nrcpts);
}

static void
queued_config(struct cfg *cfg, int initial)
{
	if (!initial) {
		/* Reload: the spool stays where it is (ternd says so);
		 * limits and queue settings follow the new tree. */
		cfg_free(qd->cfg);
		qd->cfg = cfg;
		qd->cfg_gen++;
		seg_configure(cfg);
		sched_reconfigure();
		cluster_configure();
		if (qd->started)
			spool_is_full();
		return;
	}
	qd->cfg = cfg;
	seg_configure(cfg);
	qd->cfg_gen = 1;
	cluster_configure();
	if (daemon_chrooted())
		strlcpy(qd->spool, "/", sizeof(qd->spool));
	else
		cfg_spool_dir(cfg, qd->spool, sizeof(qd->spool));
	queued_recover();
}

static void
queued_start(void)
{
	qd->started = 1;
	cluster_configure();	/* connects to Redis: the password is in */
	spool_is_full();
	sched_kick();
}

static void
stop_check(uv_timer_t *h)
{
	if (commit_idle())
		daemon_exit(0);
}

static void
queued_shutdown(void)
{
	qd->stopping = 1;
	/* Let the batch in flight finish: its replies are promises. */
	uv_timer_init(qd->loop, &stop_timer);
	uv_timer_start(&stop_timer, stop_check, 0, 20);
}

/* From ternd: the Redis password (it reads the root-only file). */
static void
queued_parent_msg(struct mproc *p, struct imsg *imsg)
{
	struct msg m;

	m_msg(&m, imsg);
	if (imsg->hdr.type != CLUSTER_PASSWORD)
		fatalx("ternd sent unexpected %s", proto_name(imsg->hdr.type));
	cluster_password(&m);
}

static const struct daemon_ops queued_ops = {
	.proc = PROC_QUEUED,
	.config = queued_config,
	.peer = queued_peer,
	.start = queued_start,
	.parent_msg = queued_parent_msg,
	.shutdown = queued_shutdown,
};

int
main(int argc, char **argv)
{
	/* One work item at a time (queue_commit.c: a round of appends and
	 * journal lines): one thread, not libuv's default of four. */
	setenv("UV_THREADPOOL_SIZE", "1", 0);
	static struct queued q;

	qd = &q;
	qd->loop = uv_default_loop();
	return daemon_main(argc, argv, &queued_ops);
}
