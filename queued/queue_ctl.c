/*
 * queue_ctl.c - answers to mgmtd: status counters, the queue listing, the
 * job listing, and operations on a queue (pause, resume, schedule,
 * delete) or on a job (delete).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>

#include "log.h"
#include "proto.h"
#include "queued.h"
#include "sched_int.h"

void
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
	struct qmsg *m;
	uint64_t bytes = 0;
	json_t *j;

	/* Spool use: the sum of the message sizes (a walk over the
	 * messages; queued keeps no running total). */
	RB_FOREACH(m, qmsg_tree, &qd->msgs)
		bytes += m->env->size;
	j = json_pack("{s:{s:I,s:I,s:I},s:I,s:I,s:I,s:I,s:I,s:b}",
	    "queue", "messages", (json_int_t)qd->nmsgs,
	    "recipients", (json_int_t)qd->nrcpts,
	    "bytes", (json_int_t)bytes,
	    "received", (json_int_t)qd->n_received,
	    "delivered", (json_int_t)qd->n_delivered,
	    "bounced", (json_int_t)qd->n_bounced,
	    "deferred", (json_int_t)qd->n_deferred,
	    "retryPending", (json_int_t)heap_size(),
	    "spoolFull", qd->spool_full);
	/* Outbound connections open or opening, every worker. */
	json_object_set_new(j, "smtpOut", json_integer(sched_slot_count()));
	/* Received over SMTP (no DSNs), and inbound sessions as smtpd
	 * last said (MSG_SESSIONS_IN). */
	json_object_set_new(j, "receivedMessages",
	    json_integer((json_int_t)qd->n_in_msgs));
	json_object_set_new(j, "receivedRecipients",
	    json_integer((json_int_t)qd->n_in_rcpts));
	json_object_set_new(j, "connectionsIn", json_integer(qd->conns_in));
	json_object_set_new(j, "scratch", recv_status_json());
	/* <cluster>: shared or degraded mode (cluster.c) */
	if (cluster_enabled())
		json_object_set_new(j, "cluster", cluster_status_json());
	ctl_reply_json(p, CTL_STATUS, reqid, j);
}

/* A rollup's row: its domains and their recipients together.  Its own
 * rcpts stay 0 (it has no items), so that sums over the rows (show
 * domains, metrics) count each recipient once. */
static void
ctl_rollup_members(json_t *j, const struct squeue *r)
{
	struct squeue *q;
	json_t *members = json_array();
	uint64_t rcpts = 0;

	for (q = sched_queue_first(); q != NULL; q = sched_queue_next(q)) {
		if (q->rollup == NULL || strcmp(q->rollup, r->name) != 0)
			continue;
		json_array_append_new(members, json_string(q->domain));
		rcpts += q->nrcpts;
	}
	json_object_set_new(j, "members", members);
	json_object_set_new(j, "memberRcpts", json_integer(rcpts));
}

static json_t *
ctl_queue_json(struct squeue *q)
{
	int64_t now = now_ms();
	json_t *j;

	j = json_pack("{s:s,s:s,s:s,s:I,s:I,s:b,s:s,s:I,s:s?,s:I,s:I,s:I}",
	    "queue", q->name, "domain", q->domain,
	    "vmta", q->vmta ? q->vmta : "{default}",
	    "rcpts", (json_int_t)q->nrcpts,
	    "inflight", (json_int_t)q->inflight_jobs,
	    "paused", q->paused,
	    "mode", q->forced_backoff || (q->backoff &&
	    q->backoff_until > now) ? "backoff" :
	    q->retry_until > now ? "retry" : "normal",
	    "retryIn", (json_int_t)(q->retry_until > now ?
	    (q->retry_until - now + 999) / 1000 : 0),
	    "lastError", q->last_error,
	    "delivered", (json_int_t)q->delivered,
	    "bounced", (json_int_t)q->bounced,
	    "deferred", (json_int_t)q->deferred);
	/* Connections and the limits in force, as deliverd counts them
	 * (DLV_QUEUE_STATS); the configured limits until it has said. */
	json_object_set_new(j, "connections", json_integer(q->conns));
	json_object_set_new(j, "connecting", json_integer(q->connecting));
	json_object_set_new(j, "maxSmtpOut", json_integer(q->stats_worker ?
	    q->max_out : q->cfg_max_out));
	json_object_set_new(j, "msgRate", json_string(q->stats_worker &&
	    q->msg_rate ? q->msg_rate : q->cfg_msg_rate ? q->cfg_msg_rate :
	    "unlimited"));
	/* MX rollup: the queue's rollup, or (a rollup's row) its domains. */
	json_object_set_new(j, "rollup", q->rollup ? json_string(q->rollup) :
	    json_null());
	if (q->is_rollup)
		ctl_rollup_members(j, q);
	return j;
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

/* Recipients of it become final (bounced, no accounting record: pmta's
 * delete writes none either) and the item goes away. */
static uint64_t
item_delete(struct sitem *it)
{
	struct qmsg *m = it->msg;
	uint32_t i, k;

	sched_item_detach(it);
	for (i = 0; i < it->nidx; i++) {
		k = it->idx[i];
		if (m->env->rcpts[k].state != RCPT_PENDING)
			continue;
		m->env->rcpts[k].state = RCPT_BOUNCED;
		m->pending--;
		qd->nrcpts--;
		commit_result(m, m->env->rcpts[k].index, RCPT_BOUNCED);
	}
	i = it->nidx;
	sched_item_free(it);
	sched_msg_maybe_final(m);
	return i;
}

/* Delete what waits in q (ready or waiting for a retry), or, with q
 * NULL, what waits anywhere for job `job`.  Items at deliverd are left
 * to finish: their outcome is already on its way. */
static uint64_t
queue_delete(struct squeue *q, const char *job)
{
	struct qmsg *m, *mnext;
	struct sitem *it, *inext;
	uint64_t n = 0;

	for (m = RB_MIN(qmsg_tree, &qd->msgs); m != NULL; m = mnext) {
		mnext = RB_NEXT(qmsg_tree, &qd->msgs, m);
		if (m->removing || (job != NULL && (m->env->jobid == NULL ||
		    strcmp(m->env->jobid, job) != 0)))
			continue;
		for (it = LIST_FIRST(&m->items); it != NULL; it = inext) {
			inext = LIST_NEXT(it, mentry);
			if (it->worker > 0 || (q != NULL && it->queue != q))
				continue;
			n += item_delete(it);
		}
	}
	sched_arm_timer();
	return n;
}

/* Tell deliverd q's forced mode (every instance: any may get its jobs). */
static void
queue_force_tell(struct mproc *p, const char *name, int backoff)
{
	m_create(p, CTL_QUEUE_FORCE, 0, -1);
	m_add_string(p, name);
	m_add_u32(p, backoff);
	m_close(p);
}

static void
queue_force(struct squeue *q, int backoff)
{
	int i;

	q->forced_backoff = backoff;
	/* Shown at once; deliverd confirms with DLV_QUEUE_MODE. */
	if (!backoff)
		q->backoff = 0;
	for (i = 1; i <= qd->nworkers; i++)
		if (qd->workers[i] != NULL)
			queue_force_tell(qd->workers[i], q->name, backoff);
	log_info("queue %s: %s mode set by the operator", q->name,
	    backoff ? "backoff" : "normal");
}

/* A deliverd (re)connected: it forgets what an earlier queued forced,
 * then learns what is in force now. */
void
ctl_force_send(struct mproc *p)
{
	struct squeue *q;

	queue_force_tell(p, "", 0);
	for (q = sched_queue_first(); q != NULL; q = sched_queue_next(q))
		if (q->forced_backoff)
			queue_force_tell(p, q->name, 1);
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
	case QOP_DELETE:
		queue_delete(q, NULL);
		break;
	case QOP_MODE_BACKOFF:
	case QOP_MODE_NORMAL:
		queue_force(q, op == QOP_MODE_BACKOFF);
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

static void
ctl_result(struct mproc *p, uint32_t reqid, int ok, const char *text)
{
	m_create(p, CTL_RESULT, reqid, -1);
	m_add_u32(p, ok);
	m_add_string(p, text);
	m_close(p);
}

static void
ctl_job_delete(struct mproc *p, uint32_t reqid, const char *job)
{
	char text[400];
	uint64_t n;

	if (job == NULL || *job == '\0') {
		ctl_result(p, reqid, 0, "no job id");
		return;
	}
	n = queue_delete(NULL, job);
	sched_kick();
	snprintf(text, sizeof(text), "%llu recipient%s of job %s deleted",
	    (unsigned long long)n, n == 1 ? "" : "s", job);
	ctl_result(p, reqid, 1, text);
}

void
ctl_queue_op(struct mproc *p, uint32_t reqid, struct msg *m)
{
	const char *name, *verb;
	char text[400];
	uint64_t before = 0;
	uint32_t op;
	int n;

	m_get_u32(m, &op);
	m_get_string(m, &name);
	m_end(m);
	if (op == QOP_DELETE_JOB) {
		ctl_job_delete(p, reqid, name);
		return;
	}
	verb = op == QOP_PAUSE ? "paused" : op == QOP_RESUME ? "resumed" :
	    op == QOP_DELETE ? "emptied" : op == QOP_MODE_BACKOFF ?
	    "set to backoff mode" : op == QOP_MODE_NORMAL ?
	    "set to normal mode" : "scheduled";
	if (name == NULL || ((op < QOP_PAUSE || op > QOP_SCHEDULE) &&
	    op != QOP_DELETE && op != QOP_MODE_BACKOFF &&
	    op != QOP_MODE_NORMAL))
		n = 0;
	else if (op == QOP_DELETE) {
		before = qd->nrcpts;
		n = queue_op_named(name, op);
	} else
		n = queue_op_named(name, op);
	if (n > 0 && op == QOP_DELETE)
		snprintf(text, sizeof(text), "%llu recipient%s deleted from "
		    "%d queue%s", (unsigned long long)(before - qd->nrcpts),
		    before - qd->nrcpts == 1 ? "" : "s", n, n == 1 ? "" : "s");
	else if (n > 0)
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

/* Job ids (X-Job) of the messages in the queue with their counts:
 * one pass over the messages into an array, sorted by job id, summed. */
struct jobent {
	const char	*id;
	uint64_t	 rcpts;
};

static int
jobent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct jobent *)a)->id,
	    ((const struct jobent *)b)->id);
}

void
ctl_jobs(struct mproc *p, uint32_t reqid)
{
	struct jobent *v;
	struct qmsg *m;
	json_t *arr = json_array();
	size_t n = 0, i, j;
	uint64_t rcpts;

	if ((v = calloc(qd->nmsgs + 1, sizeof(*v))) == NULL)
		fatal("ctl_jobs");
	RB_FOREACH(m, qmsg_tree, &qd->msgs) {
		if (m->env->jobid == NULL || m->pending == 0 ||
		    n == qd->nmsgs)
			continue;
		v[n].id = m->env->jobid;
		v[n++].rcpts = m->pending;
	}
	qsort(v, n, sizeof(*v), jobent_cmp);
	for (i = 0; i < n; i = j) {
		rcpts = 0;
		for (j = i; j < n && strcmp(v[j].id, v[i].id) == 0; j++)
			rcpts += v[j].rcpts;
		json_array_append_new(arr, json_pack("{s:s,s:I,s:I}",
		    "jobId", v[i].id, "messages", (json_int_t)(j - i),
		    "rcpts", (json_int_t)rcpts));
	}
	free(v);
	ctl_reply_json(p, CTL_JOBS, reqid, arr);
}

/* Requests of issue 8 that queued.c passes on; 0 if not one of them. */
int
ctl_msg(struct mproc *p, struct imsg *imsg, struct msg *m)
{
	switch (imsg->hdr.type) {
	case CTL_JOBS_REQ:
		m_end(m);
		ctl_jobs(p, imsg->hdr.peerid);
		return 1;
	}
	return trace_msg(imsg, m);
}
