/*
 * sched_result.c - what happens when deliverd reports: recipients become
 * final (journaled), wait for a retry, or expire into a bounce; and what
 * happens when a deliverd worker comes or goes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "proto.h"
#include "sched_int.h"

static void
result_acct(struct qmsg *m, uint32_t k, struct squeue *q, const char *type,
    const char *action, const struct dlv_result *r, const char *status)
{
	struct envelope *e = m->env;
	struct acct_record a;
	char srcmta[600];

	memset(&a, 0, sizeof(a));
	snprintf(srcmta, sizeof(srcmta), "%s (%s)", e->helo ? e->helo : "",
	    e->client ? e->client : "");
	a.type = type;
	a.time_logged = now_ms() / 1000;
	a.time_queued = e->queued;
	a.qid = e->qid;
	a.orig = e->sender;
	a.rcpt = e->rcpts[k].addr;
	a.orcpt = e->rcpts[k].orcpt;
	a.dsn_action = action;
	a.dsn_status = status ? status : r ? r->dsn_status : NULL;
	a.dsn_diag = r ? r->diag : NULL;
	a.dsn_mta = r ? r->mta : NULL;
	a.src_type = envelope_src_type(e);
	a.src_mta = srcmta;
	a.dlv_type = "smtp";
	a.dlv_src_ip = r ? r->src_ip : NULL;
	a.dlv_dst_ip = r ? r->dst_ip : NULL;
	a.dlv_esmtp = r ? r->esmtp : NULL;
	a.dlv_size = r ? r->size : e->size;
	a.vmta = e->vmta;
	a.jobid = e->jobid;
	a.envid = e->envid;
	a.queue = q ? q->name : NULL;
	a.tls_proto = r ? r->tls_proto : NULL;
	a.tls_cipher = r ? r->tls_cipher : NULL;
	a.auth_user = e->authuser;
	a.headers = acct_headers(m);
	acct_send(&a);
}

static uint32_t
msg_rcpt_pos(struct qmsg *m, uint32_t index)
{
	uint32_t k;

	if (index < m->env->nrcpt && m->env->rcpts[index].index == index)
		return index;
	for (k = 0; k < m->env->nrcpt; k++)
		if (m->env->rcpts[k].index == index)
			return k;
	return UINT32_MAX;
}

static void
rcpt_final(struct qmsg *m, uint32_t k, uint32_t state)
{
	m->env->rcpts[k].state = state;
	m->pending--;
	qd->nrcpts--;
	commit_result(m, m->env->rcpts[k].index, state);
}

static const char *
esmtp_has_dsn(const char *esmtp)
{
	const char *p = esmtp;

	while (p != NULL && (p = strstr(p, "DSN")) != NULL) {
		if ((p == esmtp || p[-1] == ',') && (p[3] == ',' || !p[3]))
			return p;
		p += 3;
	}
	return NULL;
}

static void
result_apply(struct qmsg *m, uint32_t k, struct squeue *q,
    const struct dlv_result *r)
{
	char rcptdom[256];

	if (q == NULL)
		q = sched_queue_get(addr_domain(m->env->rcpts[k].addr, rcptdom,
		    sizeof(rcptdom)), m->env->vmta);
	switch (r->status) {
	case DLV_OK:
		rcpt_final(m, k, RCPT_DELIVERED);
		q->delivered++;
		qd->n_delivered++;
		result_acct(m, k, q, "d", esmtp_has_dsn(r->esmtp) ?
		    "delivered" : "relayed", r, NULL);
		/* deliverd logged it with the relay; again only with -v */
		log_debug("%s: to=<%s> delivered: %s", m->env->qid,
		    m->env->rcpts[k].addr, r->diag ? r->diag : "");
		return;
	case DLV_PERMFAIL:
		rcpt_final(m, k, RCPT_BOUNCED);
		q->bounced++;
		qd->n_bounced++;
		result_acct(m, k, q, "b", "failed", r, NULL);
		inject_dsn_request(m, k, q->name, NULL, r);
		log_info("%s: to=<%s> bounced: %s", m->env->qid,
		    m->env->rcpts[k].addr, r->diag ? r->diag : "");
		return;
	}
	/* Temporary failure: expire, or wait for the next try. */
	free(q->last_error);
	q->last_error = r->diag ? strdup(r->diag) : NULL;
	if (m->attempts[k] < UINT16_MAX)
		m->attempts[k]++;
	/* Expired, or tried max-delivery-attempts times. */
	if (now_ms() - m->env->queued * 1000 >= q->bounce_after ||
	    (q->max_attempts > 0 && m->attempts[k] >= q->max_attempts)) {
		rcpt_final(m, k, RCPT_BOUNCED);
		q->bounced++;
		qd->n_bounced++;
		result_acct(m, k, q, "b", "failed", r, "4.4.7");
		inject_dsn_request(m, k, q->name, "4.4.7", r);
		log_info("%s: to=<%s> expired after %d attempts: %s",
		    m->env->qid, m->env->rcpts[k].addr, m->attempts[k],
		    r->diag ? r->diag : "");
		return;
	}
	q->deferred++;
	qd->n_deferred++;
	result_acct(m, k, q, "t", "delayed", r, NULL);
	inject_delay_check(m, k, q->name, r);
	log_info("%s: to=<%s> deferred: %s", m->env->qid,
	    m->env->rcpts[k].addr, r->diag ? r->diag : "");
}

/* Every recipient of an in-flight item has a result: what is still
 * pending goes back to wait for its retry. */
static void
item_complete(struct sitem *it, int conn_level)
{
	struct qmsg *m = it->msg;
	struct squeue *q = it->queue;
	struct sitem *retry;
	uint32_t i, n = 0;
	int64_t delay = 0;

	sched_item_detach(it);
	for (i = 0; i < it->nidx; i++)
		if (m->env->rcpts[it->idx[i]].state == RCPT_PENDING &&
		    m->rcpt_item[it->idx[i]] == NULL)
			n++;
	if (n > 0) {
		retry = sched_item_new(m, q, n);
		for (i = 0, n = 0; i < it->nidx; i++) {
			uint32_t k = it->idx[i];

			if (m->env->rcpts[k].state != RCPT_PENDING ||
			    m->rcpt_item[k] != NULL)
				continue;
			retry->idx[n++] = k;
			if (delay == 0)
				delay = sched_retry_delay(q, m->attempts[k]);
		}
		if (conn_level)
			sched_queue_retry_mode(q, now_ms() + delay);
		sched_item_schedule(retry, now_ms() + delay);
	}
	sched_item_free(it);
	sched_msg_maybe_final(m);
	sched_kick();
}

void
sched_result(int worker, struct dlv_result *r)
{
	struct qmsg *m;
	struct sitem *it;
	uint32_t k;

	if ((m = sched_find(r->qid)) == NULL ||
	    (k = msg_rcpt_pos(m, r->index)) == UINT32_MAX) {
		log_debug("%s: result for unknown recipient %u (replayed)",
		    r->qid, r->index);
		return;
	}
	if (m->env->rcpts[k].state != RCPT_PENDING) {
		/* A replay of a result already recorded: ignore. */
		return;
	}
	it = m->rcpt_item[k];
	if (it != NULL) {
		m->rcpt_item[k] = NULL;
		m->inflight--;
	}
	result_apply(m, k, it ? it->queue : NULL, r);
	trace_result(m, k, it ? it->queue : NULL, r);
	if (it != NULL && ++it->nresults == it->nidx)
		item_complete(it, r->conn_level && r->status == DLV_TEMPFAIL);
	else if (it == NULL)
		sched_msg_maybe_final(m);
}

/* A restarted queued learns what a worker is still delivering. */
void
sched_inflight(int worker, const char *qid, uint32_t n, const uint32_t *idx)
{
	struct qmsg *m;
	struct sitem *it;
	char dom[256];
	uint32_t i, k, cnt = 0;

	if ((m = sched_find(qid)) == NULL || n == 0)
		return;
	it = sched_item_new(m, sched_queue_get(addr_domain(
	    m->env->rcpts[msg_rcpt_pos(m, idx[0]) == UINT32_MAX ? 0 :
	    msg_rcpt_pos(m, idx[0])].addr, dom, sizeof(dom)), m->env->vmta),
	    n);
	for (i = 0; i < n; i++) {
		if ((k = msg_rcpt_pos(m, idx[i])) == UINT32_MAX ||
		    m->env->rcpts[k].state != RCPT_PENDING ||
		    m->rcpt_item[k] != NULL)
			continue;
		it->idx[cnt++] = k;
		m->rcpt_item[k] = it;
		m->inflight++;
	}
	it->queue->nrcpts -= n - cnt;
	it->nidx = cnt;
	if (cnt == 0) {
		sched_item_free(it);
		return;
	}
	it->worker = worker;
	TAILQ_INSERT_TAIL(&qd->worker_items[worker], it, entry);
	it->queue->inflight_jobs++;
}

void
sched_worker_up(int worker)
{
	qd->worker_ready[worker] = 1;
	sched_kick();
}

/* A worker went away: what it held is handed out again. */
void
sched_worker_down(int worker)
{
	struct sitem *it;
	uint32_t i;

	qd->worker_ready[worker] = 0;
	while ((it = TAILQ_FIRST(&qd->worker_items[worker])) != NULL) {
		TAILQ_REMOVE(&qd->worker_items[worker], it, entry);
		it->queue->inflight_jobs--;
		for (i = 0; i < it->nidx; i++)
			if (it->msg->rcpt_item[it->idx[i]] == it) {
				it->msg->rcpt_item[it->idx[i]] = NULL;
				it->msg->inflight--;
			}
		sched_item_schedule(it, now_ms());
	}
}

