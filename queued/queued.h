/*
 * queued.h - the spool and the scheduler.
 *
 * queued owns every durable state change: it creates message files for
 * smtpd, makes them durable before smtpd may answer 250 (group commit,
 * queue_commit.c), keeps every queued recipient in RAM grouped by queue
 * (domain/vmta, sched.c), hands work to deliverd, journals outcomes and
 * tells bounced what happened (queue_acct.c).
 *
 * Spool layout (queue_fs.c, queue_seg.c, queue_scratch.c):
 *	queue/data/SEQ		segments: the log of committed messages,
 *				one record each (body, envelope, hash)
 *	queue/journal		recipient outcomes, appended
 *	scratch/N		where smtpd and mgmtd write a message
 *				before it is committed; reused
 *	queue/SS/QID		a file per message (earlier versions):
 *				still read at start, never written
 *	corrupt/QID		such files that failed to parse at start
 */
#ifndef QUEUED_H
#define QUEUED_H

#include <sys/tree.h>
#include <sys/queue.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "cfg.h"
#include "cfg_scope.h"
#include "envelope.h"
#include "mproc.h"

#define QUEUE_SHARDS		16
#define QUEUE_MAX_WORKERS	64
#define QUEUE_MAX_RETRIES	32

struct sitem;
struct qmsg;

/* A segment of the message log (queue_seg.c). */
struct qseg {
	TAILQ_ENTRY(qseg) entry;
	uint64_t	 seq;
	int		 fd;		/* read-write: the writer thread */
	int		 rfd;		/* read-only: dup'ed for readers */
	uint64_t	 size;		/* end of the last placed record */
	uint64_t	 wend;		/* writer thread: end of its writes */
	uint64_t	 zeroed;	/* writer thread: zeros up to here */
	uint64_t	 nlive;		/* records still needed */
	uint64_t	 live_bytes;
	int		 moving;	/* compaction copies its records */
	uint64_t	 workers;	/* deliverd instances holding it:
					 * SEG_WORKER_BIT(instance) */
	LIST_HEAD(, qmsg) msgs;
};
#define SEG_WORKER_BIT(w)	(1ULL << ((w) - 1))	/* w: 1..64 */
_Static_assert(QUEUE_MAX_WORKERS <= 64, "qseg.workers has 64 bits");
#define SEG_HDR_LEN	59
#define SEG_END_LEN	29

/* A message in the queue. */
struct qmsg {
	RB_ENTRY(qmsg)	 entry;
	struct envelope	*env;
	int		 shard;
	uint32_t	 pending;	/* recipients not final */
	uint32_t	 inflight;	/* recipients at deliverd */
	struct sitem	**rcpt_item;	/* in-flight item per recipient */
	uint16_t	*attempts;	/* per recipient */
	int		 removing;
	LIST_HEAD(, sitem) items;
	char		*acct_hdrs;	/* queue_headers.c, NULL: not read */
	uint16_t	*delays;	/* delay DSNs sent per recipient */
	struct qseg	*seg;		/* NULL: a file of its own (legacy) */
	LIST_ENTRY(qmsg) sentry;	/* the segment's messages */
	uint64_t	 recoff, reclen;	/* its record in seg */
	int		 moving;	/* being copied by compaction */
	int		 held;		/* not routed before the suppression
					 * list is in (queue_suppress.c) */
	TAILQ_ENTRY(qmsg) hentry;
};
RB_HEAD(qmsg_tree, qmsg);
RB_PROTOTYPE(qmsg_tree, qmsg, entry, qmsg_cmp);

/* Recipients of one message that go to one queue: the unit of work. */
struct sitem {
	TAILQ_ENTRY(sitem) entry;	/* queue ready list or worker list */
	LIST_ENTRY(sitem) mentry;	/* the message's items */
	struct squeue	*queue;
	struct qmsg	*msg;
	int64_t		 due;		/* not before (unix time, ms) */
	size_t		 heapidx;	/* in the retry heap, or SIZE_MAX */
	int		 worker;	/* -1 unless in flight */
	uint32_t	 nresults;
	uint32_t	 nidx;
	uint32_t	 idx[];
};
TAILQ_HEAD(sitem_list, sitem);

/* A queue: recipient domain x VMTA. */
struct squeue {
	RB_ENTRY(squeue) entry;
	char		*name;		/* "example.com/vmta1" */
	char		*domain;
	char		*vmta;		/* NULL: {default} */
	struct sitem_list ready;
	uint64_t	 nrcpts;	/* in this queue's items */
	uint32_t	 inflight_jobs;
	uint32_t	 max_inflight;
	int		 paused;
	int64_t		 retry_until;	/* queue-level retry mode (ms) */
	int		 active;	/* on the active list */
	TAILQ_ENTRY(squeue) aentry;
	char		*last_error;
	int64_t		 retry[QUEUE_MAX_RETRIES];	/* retry-after, ms */
	int		 nretry;
	int64_t		 bounce_after;	/* ms */
	int		 max_attempts;	/* max-delivery-attempts, 0: any */
	/* deliverd says (DLV_QUEUE_STATS), for show queues */
	int		 stats_worker;	/* 0: nothing heard */
	uint32_t	 conns, connecting, max_out;
	char		*msg_rate;
	/* the same from the config, until deliverd says */
	uint32_t	 cfg_max_out;
	char		*cfg_msg_rate;
	/* <cluster>: the shared max-msg-rate (cluster_limit.c), looked up
	 * again when cl_gen != qd->cfg_gen */
	struct climit	*cl_rate;
	uint32_t	 cl_gen;
	int		 backoff;	/* deliverd says: backoff mode */
	int		 forced_backoff; /* tern set queue --mode=backoff */
	int64_t		 backoff_until;	/* ms, at the latest */
	/* MX rollup, deliverd says (DLV_ROLLUP) */
	char		*rollup;	/* rolled up into this queue's name */
	int		 is_rollup;	/* a NAME.rollup queue: no items */
	uint64_t	 delivered, bounced, deferred;
};
RB_HEAD(squeue_tree, squeue);
RB_PROTOTYPE(squeue_tree, squeue, entry, squeue_cmp);

struct queued {
	uv_loop_t	*loop;
	struct cfg	*cfg;
	uint32_t	 cfg_gen;	/* bumped by each config, from 1 */
	char		 spool[1024];	/* "/" inside the chroot */
	struct mproc	*smtpd;
	struct mproc	*bounced;
	struct mproc	*mgmtd;
	struct mproc	*workers[QUEUE_MAX_WORKERS + 1];	/* 1..N */
	int		 worker_ready[QUEUE_MAX_WORKERS + 1];
	struct sitem_list worker_items[QUEUE_MAX_WORKERS + 1];
	int		 nworkers;
	int		 started;
	int		 stopping;
	struct qmsg_tree msgs;
	struct squeue_tree queues;
	uint64_t	 nmsgs, nrcpts;	/* in the queue */
	uint64_t	 n_received, n_delivered, n_bounced, n_deferred;
	/* accepted over SMTP (250 to the client): messages, recipients */
	uint64_t	 n_in_msgs, n_in_rcpts;
	uint32_t	 conns_in;	/* open inbound sessions (MSG_SESSIONS_IN) */
	int		 spool_full;
};

extern struct queued	*qd;

int64_t		 now_ms(void);		/* wall clock, ms */
/* Re-evaluate the spool limits; tells smtpd when the answer changed. */
int		 spool_is_full(void);

/* queue_recv.c: messages being received (files handed to smtpd, mgmtd) */
void		 queued_qid_new(char *qid);
int		 recv_msg(struct mproc *, struct imsg *, struct msg *);
void		 recv_peer_lost(int proc);
void		 recv_smtpd_up(void);
void		 recv_pool_refill(void);
struct json_t	*recv_status_json(void);	/* `show status`: "scratch" */

/* queue_fs.c: envelope text, journals, recovery, legacy files */
int		 queue_fs_init(const char *spool);
int		 queue_fs_shard(const char *qid);
uint32_t	 queue_fs_fnv1a(const char *, size_t);
char		*queue_fs_env_encode(const struct envelope *, size_t *len);
struct envelope	*queue_fs_env_decode(char *text);
/* A read-only fd of the message; its body starts at m->env->off. */
int		 queue_fs_open(const struct qmsg *);
/* Run in a worker thread: */
int		 queue_fs_journal_append(const char *, size_t);
/* Zeros kept ahead of a log's end (queue_fs_zero_ahead): refilled to
 * ZERO_AHEAD bytes when fewer than ZERO_LOW are left. */
#define ZERO_AHEAD	(1024 * 1024)
#define ZERO_LOW	(256 * 1024)
void		 queue_fs_zero_ahead(int, uint64_t, uint64_t *);
int		 queue_fs_remove(const char *qid, int shard);
/* Recovery at start: cb gets each message with its segment (NULL for
 * a file of its own) and its record there. */
void		 queue_fs_recover(void (*cb)(struct envelope *, int shard,
		    struct qseg *, uint64_t recoff, uint64_t reclen));

/* queue_seg.c: the message log */
void		 seg_init(const char *root);
void		 seg_configure(const struct cfg *);
uint64_t	 seg_rec_len(uint64_t size, size_t envlen);
struct qseg	*seg_place(uint64_t len, uint64_t *off);
void		 seg_unplace(struct qseg *, uint64_t off);
void		 seg_attach(struct qmsg *, struct qseg *, uint64_t recoff,
		    uint64_t reclen);
void		 seg_detach(struct qmsg *);
int		 seg_open_body(const struct qmsg *);
uint64_t	 seg_for_worker(const struct qmsg *, int worker);
void		 seg_worker_gone(int worker);
void		 seg_compact(void (*move)(struct qmsg *));
void		 seg_recover(void (*cb)(struct envelope *, struct qseg *,
		    uint64_t recoff, uint64_t reclen));
void		 seg_recover_done(void);
/* Run in the writer thread: */
int		 seg_file_open(struct qseg *);
int		 seg_write_rec(struct qseg *, uint64_t off, const char *qid,
		    int bodyfd, uint64_t size, const char *env, size_t envlen,
		    char *buf, size_t bufsz);
int		 seg_copy_rec(struct qseg *, uint64_t off, const struct qseg *,
		    uint64_t fromoff, uint64_t len, char *buf, size_t bufsz);
int		 seg_sync(struct qseg *);
void		 seg_cut(struct qseg *, uint64_t off);

/* queue_scratch.c: files a message is written into before its commit */
void		 scratch_init(const char *spool);
int		 scratch_open(int *slot);	/* fd (empty file), or -1 */
int		 scratch_kept(int slot);	/* its fd is scratch's own */
int		 scratch_reopen(int slot);
void		 scratch_release(int slot, int fd);
void		 scratch_counts(uint64_t *files, uint64_t *free);

/* queue_commit.c: group commit */
void		 commit_init(void);
/* proc: who waits for MSG_COMMIT_OK/FAIL with peerid session
 * (PROC_SMTPD, or PROC_MGMTD for HTTP injection); COMMIT_LOCAL for a
 * message Tern made itself. */
void		 commit_message(const char *qid, int fd, int slot,
		    struct envelope *, int proc, uint32_t session);
void		 commit_result(struct qmsg *, uint32_t idx, uint32_t state);
void		 commit_remove(struct qmsg *);
void		 commit_ack(int worker, uint32_t tag);
int		 commit_idle(void);

/* sched_cfg.c: the settings the scheduler reads per queue and per
 * message, looked up once per scope (cfg_scope.h) */
#define QUEUE_SETTINGS(X) \
	X(BOUNCE_AFTER, "bounce-after") \
	X(BOUNCE_DOMAIN, "bounce-domain") \
	X(MAX_CONNECT_RATE, "max-connect-rate") \
	X(MAX_DELIVERY_ATTEMPTS, "max-delivery-attempts") \
	X(MAX_MSG_RATE, "max-msg-rate") \
	X(MAX_SMTP_OUT, "max-smtp-out") \
	X(NOTIFY_OF_DELAY_EVERY, "notify-of-delay-every") \
	X(QUEUE_INTERVAL, "queue-interval") \
	X(RETRY_AFTER, "retry-after")
enum queue_set {
#define QS_ENUM(id, name) QS_##id,
	QUEUE_SETTINGS(QS_ENUM)
#undef QS_ENUM
	QS_N
};
struct cfg_scope *sched_cfg_scope(const char *vmta, const char *domain);
struct cfg_node	*sched_cfg_node(const char *vmta, const char *domain,
		    enum queue_set);
const char	*sched_cfg_pool_member(const char *vmta);
void		 sched_cfg_reset(void);

/* sched.c */
void		 sched_init(void);
/* seg NULL: a legacy file of its own */
void		 sched_route_message(struct qmsg *);
struct qmsg	*sched_add_message(struct envelope *, int shard, int fresh,
		    struct qseg *seg, uint64_t recoff, uint64_t reclen);
void		 sched_kick(void);
void		 sched_reconfigure(void);
void		 sched_worker_up(int worker);
void		 sched_worker_down(int worker);
void		 sched_result(int worker, struct dlv_result *);
void		 sched_queue_mode(const char *queue, int backoff,
		    uint64_t secs, const char *reason);
/* sched_slot.c: connections counted across workers */
void		 sched_slot_request(int worker, uint32_t id, const char *queue,
		    const char *vmta, const char *src, int held_already);
void		 sched_slot_release(int worker, uint32_t id);
void		 sched_slot_worker_down(int worker);
void		 sched_slot_reconfigure(void);
int		 sched_slot_count(void);
void		 sched_queue_rollup(const char *queue, const char *rollup);
void		 sched_queue_stats(int worker, const char *queue,
		    uint32_t conns, uint32_t connecting, uint32_t max_out,
		    const char *rate);
void		 sched_inflight(int worker, const char *qid, uint32_t n,
		    const uint32_t *idx);
void		 sched_committed(const char *qid);	/* journal durable */
void		 sched_message_final(struct qmsg *);
struct qmsg	*sched_find(const char *qid);
int		 sched_queue_op(int op, const char *queue, char *msg,
		    size_t msgsz);
/* For listings: iterate every queue. */
struct squeue	*sched_queue_first(void);
struct squeue	*sched_queue_next(struct squeue *);

/* queue_ctl.c */
void		 ctl_status(struct mproc *, uint32_t reqid);
void		 ctl_queues(struct mproc *, uint32_t reqid);
void		 ctl_queue_op(struct mproc *, uint32_t reqid, struct msg *);
void		 ctl_jobs(struct mproc *, uint32_t reqid);
/* Other control requests (queue_ctl.c); 0 if not handled. */
int		 ctl_msg(struct mproc *, struct imsg *, struct msg *);

/* queue_trace.c: `tern trace` subscriptions of mgmtd */
int		 trace_msg(struct imsg *, struct msg *);	/* 0: not one */
void		 trace_result(const struct qmsg *, uint32_t k,
		    const struct squeue *, const struct dlv_result *);
void		 trace_clear(void);
/* queue_ctl.c: modes the operator set, again for a new deliverd */
void		 ctl_force_send(struct mproc *deliverd);

/* queue_inject.c: DSNs (bounced builds them, queued stores them) */
#define COMMIT_LOCAL	UINT32_MAX	/* commit_message() session of a
					 * message made by Tern: no smtpd reply */
void		 inject_dsn_request(struct qmsg *, uint32_t k,
		    const char *queue, const char *status,
		    const struct dlv_result *);
/* A recipient was deferred: a delay DSN if NOTIFY=DELAY and due. */
void		 inject_delay_check(struct qmsg *, uint32_t k,
		    const char *queue, const struct dlv_result *);
void		 inject_message(struct msg *);

/* queue_inbound.c: mail for the bounce domain goes to bounced; 1 if
 * recipient k was handed over (and is final) */
int		 inbound_divert(struct qmsg *, uint32_t k);

/* queue_suppress.c: the suppression list bounced sends; 1 if recipient
 * k is on it (it is then final, with a b row) */
void		 suppress_init(void);
void		 suppress_ready(void);
int		 suppress_hold(struct qmsg *);
uint64_t	 suppress_held_rcpts(void);
void		 suppress_msg(struct msg *);
void		 suppress_smtpd(struct mproc *);
int		 suppress_check(struct qmsg *, uint32_t k);
/* queue_headers.c: "Name: value\n" lines of the headers the accounting
 * files name (header_NAME), read once per message; NULL if none wanted */
const char	*acct_headers(struct qmsg *);

/* queue_verp.c: VERP senders */
const char	*verp_sender(const struct envelope *, const char *rcpt,
		    char *buf, size_t bufsz);
void		 verp_job_split(struct sitem *, const struct rcpt *rest,
		    uint32_t n);

/* queue_ctl.c */
struct json_t;
void		 ctl_reply_json(struct mproc *, uint32_t type, uint32_t reqid,
		    struct json_t *);
/* cluster.c: this node in a <cluster> (Redis connection, registry,
 * shared or degraded mode) */
struct redis;
void		 cluster_configure(void);	/* config loaded, reloaded */
void		 cluster_password(struct msg *);	/* CLUSTER_PASSWORD */
int		 cluster_enabled(void);
int		 cluster_shared(void);		/* else degraded */
int		 cluster_live_nodes(void);	/* last known, >= 1 */
struct redis	*cluster_redis(void);
const char	*cluster_node_name(void);
uint64_t	 cluster_lease_ms(void);
const char	*cluster_key(char *, size_t, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));
void		 cluster_failed(const char *why);	/* -> degraded */
struct json_t	*cluster_status_json(void);	/* NULL: no <cluster> */
void		 cluster_ctl(struct mproc *, uint32_t reqid);
/* cluster_limit.c: the shared limits */
struct cluster_hold;
struct climit;
void		 cluster_limit_scripts(struct redis *);
int		 cluster_slot_acquire(struct cluster_hold **, int worker,
		    uint32_t id, const char *queue, const char *vmta,
		    const struct cfg_node *pool);
void		 cluster_slot_held(struct cluster_hold **, int worker,
		    uint32_t id, const char *queue, const char *vmta,
		    const struct cfg_node *pool);
void		 cluster_slot_release(struct cluster_hold **);
int		 cluster_msg_token(struct squeue *);
void		 cluster_limit_renew(void);
void		 cluster_limit_beat(void);
void		 cluster_limit_mode(void);
void		 cluster_limit_clear(void);
struct json_t	*cluster_limit_json(void);
/* queue_acct.c */
void		 acct_send(const struct acct_record *);
void		 acct_bounced_up(void);
void		 acct_ack(uint64_t seq);

#endif
