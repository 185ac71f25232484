/*
 * queue_ctl.c - answers to mgmtd: status counters, the queue listing, and
 * operations on a queue (pause, resume, schedule).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>

#include "log.h"
#include "proto.h"
#include "queued.h"
#include "sched_int.h"

static void
ctl_reply_json(struct mproc *p, uint32_t type, uint32_t reqid, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);

	if (s == NULL)
		fatalx("json_dumps");
	m_create(p, type, reqid, -1);
	m_add_string(p, s);
	m_close(p);
	free(s);
	json_decref(j);
}

void
ctl_status(struct mproc *p, uint32_t reqid)
{
	json_t *j;

	j = json_pack("{s:{s:I,s:I},s:I,s:I,s:I,s:I,s:I,s:b}",
	    "queue", "messages", (json_int_t)qd->nmsgs,
	    "recipients", (json_int_t)qd->nrcpts,
	    "received", (json_int_t)qd->n_received,
	    "delivered", (json_int_t)qd->n_delivered,
	    "bounced", (json_int_t)qd->n_bounced,
	    "deferred", (json_int_t)qd->n_deferred,
	    "retryPending", (json_int_t)heap_size(),
	    "spoolFull", qd->spool_full);
	ctl_reply_json(p, CTL_STATUS, reqid, j);
}

static json_t *
ctl_queue_json(struct squeue *q)
{
	int64_t now = now_ms();

	return json_pack("{s:s,s:s,s:s,s:I,s:I,s:b,s:s,s:I,s:s?,s:I,s:I,s:I}",
	    "queue", q->name, "domain", q->domain,
	    "vmta", q->vmta ? q->vmta : "{default}",
	    "rcpts", (json_int_t)q->nrcpts,
	    "inflight", (json_int_t)q->inflight_jobs,
	    "paused", q->paused,
	    "mode", q->retry_until > now ? "retry" : "normal",
	    "retryIn", (json_int_t)(q->retry_until > now ?
	    (q->retry_until - now + 999) / 1000 : 0),
	    "lastError", q->last_error,
	    "delivered", (json_int_t)q->delivered,
	    "bounced", (json_int_t)q->bounced,
	    "deferred", (json_int_t)q->deferred);
}

void
ctl_queues(struct mproc *p, uint32_t reqid)
{
	struct squeue *q;
	json_t *arr = json_array();

	for (q = sched_queue_first(); q != NULL; q = sched_queue_next(q))
		json_array_append_new(arr, ctl_queue_json(q));
	ctl_reply_json(p, CTL_QUEUES, reqid, arr);
}

/* Items of the queue waiting for a retry become ready now. */
static void
queue_schedule_now(struct squeue *q)
{
	struct sitem *it;
	size_t i;

	q->retry_until = 0;
	for (i = 0; i < heap_size();) {
		it = heap_at(i);
		if (it->queue != q) {
			i++;
			continue;
		}
		heap_remove(it);
		sched_item_schedule(it, 0);
		i = 0;		/* the heap was reordered */
	}
	sched_arm_timer();
}

static void
queue_apply(struct squeue *q, uint32_t op)
{
	switch (op) {
	case QOP_PAUSE:
		q->paused = 1;
		break;
	case QOP_RESUME:
		q->paused = 0;
		sched_queue_activate(q);
		break;
	case QOP_SCHEDULE:
		queue_schedule_now(q);
		break;
	}
}

/* "domain/vmta" names one queue and creates it if needed, so that a
 * destination can be paused before its mail arrives; "domain" alone
 * names every existing queue of that domain. */
static int
queue_op_named(const char *name, uint32_t op)
{
	struct squeue *q;
	char dom[256];
	const char *slash;
	int n = 0;

	for (q = sched_queue_first(); q != NULL; q = sched_queue_next(q))
		if (strcmp(q->name, name) == 0 || (strchr(name, '/') == NULL &&
		    strcasecmp(q->domain, name) == 0)) {
			queue_apply(q, op);
			n++;
		}
	if (n == 0 && (slash = strchr(name, '/')) != NULL &&
	    slash != name && slash - name < (int)sizeof(dom)) {
		snprintf(dom, sizeof(dom), "%.*s", (int)(slash - name), name);
		q = sched_queue_get(dom, strcmp(slash + 1, "{default}") ?
		    slash + 1 : NULL);
		queue_apply(q, op);
		n++;
	}
	return n;
}

void
ctl_queue_op(struct mproc *p, uint32_t reqid, struct msg *m)
{
	const char *name, *verb;
	char text[400];
	uint32_t op;
	int n;

	m_get_u32(m, &op);
	m_get_string(m, &name);
	m_end(m);
	verb = op == QOP_PAUSE ? "paused" : op == QOP_RESUME ? "resumed" :
	    "scheduled";
	if (name == NULL || op < QOP_PAUSE || op > QOP_SCHEDULE)
		n = 0;
	else
		n = queue_op_named(name, op);
	if (n > 0)
		snprintf(text, sizeof(text), "%d queue%s %s", n,
		    n == 1 ? "" : "s", verb);
	else
		snprintf(text, sizeof(text), "no queue named %s",
		    name ? name : "");
	m_create(p, CTL_RESULT, reqid, -1);
	m_add_u32(p, n > 0);
	m_add_string(p, text);
	m_close(p);
	sched_kick();
}
