/*
 * mta_slot.c - what deliverd and queued share about connections.
 *
 * Slots: a queue's own max-smtp-out is counted here, by the worker that
 * owns the queue, but total-max-smtp-out, a VMTA's max-smtp-out and a
 * <source-pool>'s max-smtp-out count the connections of queues in every
 * worker.  queued keeps those counters (queued/sched_slot.c): a session
 * asks for a slot before it resolves and connects (state MTA_SLOT), and
 * gives it back when it closes.  A queued that restarts is told which
 * slots are held and which are still wanted.
 *
 * Idle connections give their slots up when others wait: a connection
 * stays open MTA_IDLE_TIMEOUT after its last message, in case more mail
 * comes for its queue.  With mail to many domains (a connection each)
 * those idle connections filled total-max-smtp-out, and new ones waited
 * for them to time out: 1200 slots / 5 s = 240 connections a second at
 * most.  Now, while a request has waited MTA_SLOT_PRESSURE_MS, idle
 * connections of queues with nothing to send are closed, one for each
 * such request.
 *
 * Stats: once a second, each queue whose connection counts or limits
 * changed tells queued (DLV_QUEUE_STATS), so that `tern show queues`
 * shows the connections deliverd has open, not the jobs queued handed
 * out.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "mta.h"
#include "proto.h"

#define MTA_STATS_INTERVAL	1000	/* ms */
#define MTA_SLOT_PRESSURE_MS	100

RB_HEAD(mta_slots, mta_session);

static int
mta_slot_cmp(struct mta_session *a, struct mta_session *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

RB_PROTOTYPE(mta_slots, mta_session, slotentry, mta_slot_cmp);
RB_GENERATE(mta_slots, mta_session, slotentry, mta_slot_cmp);

static struct mta_slots	 slots = RB_INITIALIZER(&slots);
/* The sessions in MTA_SLOT_WAIT, in the order they asked (so by
 * slot_since): the pressure check looks at the oldest only. */
static TAILQ_HEAD(, mta_session) waiting = TAILQ_HEAD_INITIALIZER(waiting);
static uv_timer_t	 stats_timer;
static int		 stats_on;
static uv_timer_t	 pressure_timer;
static int		 pressure_init;
static int		 nwaiting;	/* sessions in MTA_SLOT_WAIT */

/* Requests that have waited too long: as many idle connections close. */
static void
mta_slot_pressure_cb(uv_timer_t *t)
{
	uint64_t now = uv_now(daemon_loop());
	struct mta_session *s;
	int old = 0;

	if (nwaiting == 0) {
		uv_timer_stop(t);
		return;
	}
	TAILQ_FOREACH(s, &waiting, waitentry) {
		if (now - s->slot_since < MTA_SLOT_PRESSURE_MS)
			break;
		old++;
	}
	if (old > 0)
		mta_queue_close_idle(old);
}

/* s starts (delta 1) or stops (-1) waiting for a slot. */
static void
mta_slot_waiting(struct mta_session *s, int delta)
{
	if (!pressure_init) {
		uv_timer_init(daemon_loop(), &pressure_timer);
		uv_unref((uv_handle_t *)&pressure_timer);
		pressure_init = 1;
	}
	if (delta > 0)
		TAILQ_INSERT_TAIL(&waiting, s, waitentry);
	else
		TAILQ_REMOVE(&waiting, s, waitentry);
	nwaiting += delta;
	if (nwaiting > 0 && !uv_is_active((uv_handle_t *)&pressure_timer))
		uv_timer_start(&pressure_timer, mta_slot_pressure_cb,
		    MTA_SLOT_PRESSURE_MS, MTA_SLOT_PRESSURE_MS);
}

static void
mta_slot_send(struct mproc *p, uint32_t type, struct mta_session *s)
{
	m_create(p, type, s->id, -1);
	m_add_string(p, s->q->name);
	m_add_string(p, s->q->vmta);
	m_add_string(p, s->bound ? s->bindname : NULL);
	m_close(p);
}

/* The session waits in MTA_SLOT until queued grants (or the next queued
 * does, after a restart: the replay asks again). */
void
mta_slot_request(struct mta_session *s)
{
	s->state = MTA_SLOT;
	s->slot = MTA_SLOT_WAIT;
	s->slot_since = uv_now(daemon_loop());
	RB_INSERT(mta_slots, &slots, s);
	mta_slot_waiting(s, 1);
	if (mta_queued() != NULL)
		mta_slot_send(mta_queued(), DLV_SLOT_REQ, s);
}

void
mta_slot_grant(struct imsg *imsg)
{
	struct mta_session key, *s;

	key.id = imsg->hdr.peerid;
	/* A session that closed meanwhile: its FREE is on the way. */
	if ((s = RB_FIND(mta_slots, &slots, &key)) == NULL ||
	    s->slot != MTA_SLOT_WAIT)
		return;
	s->slot = MTA_SLOT_HELD;
	mta_slot_waiting(s, -1);
	/* Other sessions of the queue may have taken the work meanwhile. */
	if (mta_stopping() || s->q->njobs == 0) {
		mta_session_close(s);
		return;
	}
	mta_session_connect(s);
}

/* From mta_session_close: the slot, held or wanted, is given back. */
void
mta_slot_release(struct mta_session *s)
{
	if (s->slot == MTA_SLOT_NONE)
		return;
	RB_REMOVE(mta_slots, &slots, s);
	if (s->slot == MTA_SLOT_WAIT)
		mta_slot_waiting(s, -1);
	s->slot = MTA_SLOT_NONE;
	if (mta_queued() != NULL)
		m_compose(mta_queued(), DLV_SLOT_FREE, s->id, -1, NULL, 0);
}

/* A new queued knows nothing of our connections: tell it. */
void
mta_slot_replay(struct mproc *p)
{
	struct mta_session *s;

	RB_FOREACH(s, mta_slots, &slots)
		mta_slot_send(p, s->slot == MTA_SLOT_HELD ? DLV_SLOT_HELD :
		    DLV_SLOT_REQ, s);
}

/* --- counts for show queues --- */

static void
mta_stats_count(struct mta_queue *q, uint32_t *v)
{
	struct mta_session *s;

	v[0] = v[1] = 0;
	TAILQ_FOREACH(s, &q->sessions, entry) {
		if (s->state == MTA_CLOSED)
			continue;
		if (s->state <= MTA_CONNECT)
			v[1]++;
		else
			v[0]++;
	}
	v[2] = mta_queue_conn_max(q);
}

void
mta_stats_send(struct mta_queue *q)
{
	struct mproc *p = mta_queued();
	const char *rate = mta_queue_rate_text(q);
	uint32_t v[3];

	if (p == NULL)
		return;
	mta_stats_count(q, v);
	if (q->stats_sent && memcmp(v, q->stats, sizeof(v)) == 0 &&
	    strncmp(q->stats_rate, rate, sizeof(q->stats_rate) - 1) == 0)
		return;
	memcpy(q->stats, v, sizeof(v));
	strlcpy(q->stats_rate, rate, sizeof(q->stats_rate));
	q->stats_sent = 1;
	m_create(p, DLV_QUEUE_STATS, 0, -1);
	m_add_string(p, q->name);
	m_add_u32(p, v[0]);
	m_add_u32(p, v[1]);
	m_add_u32(p, v[2]);
	m_add_string(p, rate);
	m_close(p);
}

static void
mta_stats_cb(uv_timer_t *t)
{
	mta_queue_foreach(mta_stats_send);
}

void
mta_stats_start(void)
{
	uv_timer_init(daemon_loop(), &stats_timer);
	uv_timer_start(&stats_timer, mta_stats_cb, MTA_STATS_INTERVAL,
	    MTA_STATS_INTERVAL);
	uv_unref((uv_handle_t *)&stats_timer);
	stats_on = 1;
}

void
mta_stats_stop(void)
{
	if (stats_on)
		uv_timer_stop(&stats_timer);
	stats_on = 0;
}
