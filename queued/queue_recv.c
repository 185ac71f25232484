/*
 * queue_recv.c - messages being received: the scratch files handed to
 * smtpd (and to mgmtd, for HTTP injection) until their commit.
 *
 * smtpd gets its files ahead of time: queued keeps a few handed to it
 * (MSG_SCRATCH, each with its queue id), so a DATA starts writing at once
 * instead of asking queued and waiting for the answer (a round trip and
 * two wake-ups per message).  A file smtpd commits or rolls back is
 * replaced, the replacement sent just before the MSG_COMMIT_OK (both go
 * in one sendmsg).  When smtpd finds its pool empty it asks with
 * MSG_CREATE as before, and the pool grows by one (to POOL_MAX): its
 * size follows the number of DATAs under way at once.
 *
 * Every handed file is an `incoming` until committed or dropped; they
 * all go back (emptied) when their process goes away, so a dead smtpd
 * leaks none, and a new smtpd gets a new pool.  A restarted queued
 * removes every scratch file at start (scratch_init) and hands out new
 * ones; smtpd forgets the old ones when the channel goes.
 *
 * While the spool is full, nothing is handed ahead: smtpd asks with
 * MSG_CREATE at DATA, which queued refuses with 452 (and smtpd does not
 * take from its pool while queued says the spool is full).
 */
#include <sys/tree.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proto.h"
#include "queued.h"

#define POOL_MIN	4	/* files smtpd holds ahead, at first */
#define POOL_MAX	64

struct incoming {
	RB_ENTRY(incoming) entry;
	char		 qid[QID_LEN + 1];
	int		 slot;		/* its scratch file */
	int		 proc;		/* PROC_SMTPD or PROC_MGMTD */
	int		 pooled;	/* handed ahead (MSG_SCRATCH) */
};
static int incoming_cmp(struct incoming *a, struct incoming *b)
{
	return strcmp(a->qid, b->qid);
}
static RB_HEAD(incoming_tree, incoming) incomings = RB_INITIALIZER(&incomings);
RB_PROTOTYPE(incoming_tree, incoming, entry, incoming_cmp);
RB_GENERATE(incoming_tree, incoming, entry, incoming_cmp);

static unsigned	pool_out;		/* pooled files smtpd holds */
static unsigned	pool_want = POOL_MIN;
static uint64_t	nincoming;		/* files handed out, in the tree */

/* A queue id no message in the queue or being received has (60 random
 * bits: this loop all but never turns twice). */
void
queued_qid_new(char *qid)
{
	struct incoming key;

	do {
		qid_new(qid);
		strlcpy(key.qid, qid, sizeof(key.qid));
	} while (sched_find(qid) != NULL ||
	    RB_FIND(incoming_tree, &incomings, &key) != NULL);
}

/* A new empty file for p; sent with `type` (MSG_CREATE_OK or
 * MSG_SCRATCH), peerid `session`.  -1 if none could be made. */
static int
recv_hand(struct mproc *p, uint32_t type, uint32_t session, int pooled)
{
	struct incoming *in;
	char qid[QID_LEN + 1];
	int fd, slot;

	queued_qid_new(qid);
	if ((fd = scratch_open(&slot)) == -1) {
		log_warn("cannot create message file");
		return -1;
	}
	if ((in = calloc(1, sizeof(*in))) == NULL)
		fatal("calloc");
	strlcpy(in->qid, qid, sizeof(in->qid));
	in->slot = slot;
	in->proc = p->proc;
	in->pooled = pooled;
	RB_INSERT(incoming_tree, &incomings, in);
	nincoming++;
	if (pooled)
		pool_out++;
	/* mgmtd writes with write(2) through the offset it shares with
	 * our kept descriptor (smtpd uses pwrite: no seek for it). */
	if (p->proc == PROC_MGMTD && scratch_kept(slot))
		lseek(fd, 0, SEEK_SET);
	/* Our kept descriptor is lent (not duplicated, not closed once
	 * sent); another one is given, and the file opened again at
	 * commit (mgmtd may hold hundreds of them at once). */
	if (scratch_kept(slot))
		m_create_lent(p, type, session, fd);
	else
		m_create(p, type, session, fd);
	m_add_string(p, qid);
	m_close(p);
	return 0;
}

/* Top smtpd's pool up: after a file of it was committed or rolled
 * back, when it grows, when smtpd (re)connects, when the spool has room
 * again. */
void
recv_pool_refill(void)
{
	while (qd->smtpd != NULL && !qd->stopping && !qd->spool_full &&
	    pool_out < pool_want)
		if (recv_hand(qd->smtpd, MSG_SCRATCH, 0, 1) == -1)
			return;
}

static void
create_fail(struct mproc *p, uint32_t session, uint32_t code,
    const char *status, const char *text)
{
	m_create(p, MSG_CREATE_FAIL, session, -1);
	m_add_u32(p, code);
	m_add_string(p, status);
	m_add_string(p, text);
	m_close(p);
}

/*
 * A new message file, asked for: by mgmtd for each message of an HTTP
 * injection (it creates every file before it commits any, so that a
 * full spool refuses the whole call, not half of it), by smtpd when its
 * pool is empty or the spool was full when it last heard.
 */
static void
msg_create(struct mproc *p, uint32_t session)
{
	if (qd->stopping || spool_is_full()) {
		create_fail(p, session, 452, "4.3.1",
		    "insufficient system storage");
		return;
	}
	if (recv_hand(p, MSG_CREATE_OK, session, 0) == -1) {
		create_fail(p, session, 451, "4.3.0",
		    "temporary local problem, try again later");
		return;
	}
	if (p->proc == PROC_SMTPD) {
		if (pool_want < POOL_MAX)
			pool_want++;
		recv_pool_refill();
	}
}

/* The incoming qid of process proc, out of the tree; NULL if none. */
static struct incoming *
incoming_take(const char *qid, int proc)
{
	struct incoming key, *in;

	strlcpy(key.qid, qid, sizeof(key.qid));
	if ((in = RB_FIND(incoming_tree, &incomings, &key)) == NULL ||
	    in->proc != proc)
		return NULL;
	RB_REMOVE(incoming_tree, &incomings, in);
	nincoming--;
	if (in->pooled)
		pool_out--;
	return in;
}

static void
msg_commit(struct mproc *p, uint32_t session, struct msg *m)
{
	struct envelope env;
	struct incoming *in;
	int fd = -1;

	m_get_envelope(m, &env);
	m_end(m);
	if ((in = incoming_take(env.qid, p->proc)) != NULL &&
	    (fd = scratch_reopen(in->slot)) == -1) {
		log_warn("%s: cannot open the message again", in->qid);
		scratch_release(in->slot, -1);
		free(in);
		in = NULL;
	}
	if (in == NULL) {
		envelope_clear_view(&env);
		m_create(p, MSG_COMMIT_FAIL, session, -1);
		m_add_u32(p, 451);
		m_add_string(p, "4.3.0");
		m_add_string(p, "unknown message, try again");
		m_close(p);
		recv_pool_refill();
		return;
	}
	/* The pool is topped up when the commit is answered
	 * (commit_reply): the new file rides with the MSG_COMMIT_OK. */
	commit_message(in->qid, fd, in->slot, envelope_dup(&env), p->proc,
	    session);
	envelope_clear_view(&env);
	free(in);
}

static void
incoming_drop(struct incoming *in)
{
	scratch_release(in->slot, -1);
	free(in);
}

static void
msg_rollback(struct mproc *p, struct msg *m)
{
	struct incoming *in;
	const char *qid;

	m_get_string(m, &qid);
	m_end(m);
	if (qid == NULL || (in = incoming_take(qid, p->proc)) == NULL)
		return;
	incoming_drop(in);
	/* The client may have given up because the disk is full (smtpd
	 * could not write): look, so that smtpd hears of it and refuses
	 * the next MAIL (spool_avail asks statvfs at most every 20 ms). */
	spool_is_full();
	if (p->proc == PROC_SMTPD)
		recv_pool_refill();
}

/* The sender of these files went away: nothing it had not committed was
 * acknowledged to anyone; drop it all, its pool too. */
void
recv_peer_lost(int proc)
{
	struct incoming *in, *next;

	RB_FOREACH_SAFE(in, incoming_tree, &incomings, next)
		if (in->proc == proc) {
			RB_REMOVE(incoming_tree, &incomings, in);
			nincoming--;
			incoming_drop(in);
		}
	if (proc == PROC_SMTPD)
		pool_out = 0;
}

/* A new smtpd: whatever the one before held is gone with it (its loss
 * may be noticed after the new one comes); hand it a pool. */
void
recv_smtpd_up(void)
{
	recv_peer_lost(PROC_SMTPD);
	recv_pool_refill();
}

/* MSG_CREATE, MSG_COMMIT, MSG_ROLLBACK from smtpd or mgmtd; 0 if the
 * message is none of these. */
int
recv_msg(struct mproc *p, struct imsg *imsg, struct msg *m)
{
	switch (imsg->hdr.type) {
	case MSG_CREATE:
		m_end(m);
		msg_create(p, imsg->hdr.peerid);
		return 1;
	case MSG_COMMIT:
		msg_commit(p, imsg->hdr.peerid, m);
		return 1;
	case MSG_ROLLBACK:
		msg_rollback(p, m);
		return 1;
	}
	return 0;
}

/*
 * `tern show status`: scratch files, so that a leak shows.  files and
 * free as scratch_counts(); receiving: handed out and not yet committed
 * or dropped (ahead: of those, held in smtpd's pool).  A slot is free,
 * receiving, or being committed: when nothing is being committed,
 * files - free == receiving.
 */
json_t *
recv_status_json(void)
{
	uint64_t files, free;

	scratch_counts(&files, &free);
	return json_pack("{s:I,s:I,s:I,s:I}", "files", (json_int_t)files,
	    "free", (json_int_t)free, "receiving", (json_int_t)nincoming,
	    "ahead", (json_int_t)pool_out);
}
