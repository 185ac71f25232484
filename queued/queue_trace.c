/*
 * queue_trace.c - `tern trace`: the outcome of every delivery attempt
 * of some queues, streamed to mgmtd as it happens.
 *
 * mgmtd subscribes with CTL_TRACE_REQ (a filter: any queue, a domain, or
 * one "domain/vmta") and ends with CTL_TRACE_END; each recipient result
 * that deliverd reports and that matches becomes one CTL_TRACE with a
 * small JSON object.  queued is where every result passes, with its
 * final meaning (deferred, or bounced because it expired), so nothing
 * is needed from deliverd.  Subscriptions live only as long as the
 * mgmtd channel: a restarted mgmtd has none.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <jansson.h>

#include "log.h"
#include "proto.h"
#include "queued.h"

#define TRACE_MAX	16	/* subscriptions at once */

struct trace_sub {
	uint32_t	 reqid;		/* 0: free slot */
	char		 filter[512];
};

static struct trace_sub	 traces[TRACE_MAX];
static int		 ntraces;

static void	trace_started(uint32_t, const char *);

static void
trace_start(uint32_t reqid, const char *filter)
{
	int i;

	for (i = 0; i < TRACE_MAX; i++)
		if (traces[i].reqid == 0)
			break;
	if (i == TRACE_MAX) {
		log_warnx("trace: more than %d at once, request %u ignored",
		    TRACE_MAX, reqid);
		return;
	}
	traces[i].reqid = reqid;
	strlcpy(traces[i].filter, filter ? filter : "",
	    sizeof(traces[i].filter));
	ntraces++;
	trace_started(reqid, traces[i].filter);
}

/* The first line of a trace, {"tracing": FILTER}, comes from here, once
 * the trace is in place: a client that sends mail after seeing it sees
 * that mail's outcomes. */
static void
trace_started(uint32_t reqid, const char *filter)
{
	json_t *j;
	char *text;

	if (qd->mgmtd == NULL ||
	    (j = json_pack("{s:s}", "tracing", filter[0] ? filter : "*")) ==
	    NULL)
		return;
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (text == NULL)
		return;
	m_create(qd->mgmtd, CTL_TRACE, reqid, -1);
	m_add_string(qd->mgmtd, text);
	m_close(qd->mgmtd);
	free(text);
}

static void
trace_end(uint32_t reqid)
{
	int i;

	for (i = 0; i < TRACE_MAX; i++)
		if (traces[i].reqid == reqid && reqid != 0) {
			traces[i].reqid = 0;
			ntraces--;
		}
}

/* mgmtd went away or came back: nobody is listening any more. */
void
trace_clear(void)
{
	memset(traces, 0, sizeof(traces));
	ntraces = 0;
}

int
trace_msg(struct imsg *imsg, struct msg *m)
{
	const char *filter;

	switch (imsg->hdr.type) {
	case CTL_TRACE_REQ:
		m_get_string(m, &filter);
		m_end(m);
		trace_start(imsg->hdr.peerid, filter);
		return 1;
	case CTL_TRACE_END:
		m_end(m);
		trace_end(imsg->hdr.peerid);
		return 1;
	}
	return 0;
}

/* "" any queue; "domain" its queues; "domain/vmta" that one. */
static int
trace_match(const char *filter, const char *queue, const char *domain)
{
	if (filter[0] == '\0')
		return 1;
	if (strchr(filter, '/') == NULL)
		return strcasecmp(filter, domain) == 0;
	return strcasecmp(filter, queue) == 0;
}

static const char *
trace_result_name(const struct qmsg *m, uint32_t k,
    const struct dlv_result *r)
{
	switch (m->env->rcpts[k].state) {
	case RCPT_DELIVERED:
		return "delivered";
	case RCPT_BOUNCED:
		return r->status == DLV_PERMFAIL ? "bounced" : "expired";
	}
	return "deferred";
}

/* Recipient k of m has had its result r applied (queue q; NULL for a
 * result replayed after a restart: named from the recipient). */
void
trace_result(const struct qmsg *m, uint32_t k, const struct squeue *q,
    const struct dlv_result *r)
{
	char dom[256], qname[600], *text;
	const char *queue;
	json_t *j;
	int i;

	if (ntraces == 0 || qd->mgmtd == NULL)
		return;
	addr_domain(m->env->rcpts[k].addr, dom, sizeof(dom));
	if (q != NULL)
		queue = q->name;
	else {
		snprintf(qname, sizeof(qname), "%s/%s", dom, m->env->vmta ?
		    m->env->vmta : "{default}");
		queue = qname;
	}
	j = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s?,s:s?,s:s?,s:s?,s:s?,s:b}",
	    "time", (json_int_t)time(NULL), "queue", queue,
	    "qid", m->env->qid, "rcpt", m->env->rcpts[k].addr,
	    "result", trace_result_name(m, k, r), "dsn", r->dsn_status,
	    "diag", r->diag, "mta", r->mta, "srcIp", r->src_ip,
	    "tls", r->tls_proto, "connection", r->conn_level != 0);
	if (j == NULL || (text = json_dumps(j, JSON_COMPACT |
	    JSON_PRESERVE_ORDER)) == NULL) {
		json_decref(j);
		return;
	}
	json_decref(j);
	for (i = 0; i < TRACE_MAX; i++) {
		if (traces[i].reqid == 0 ||
		    !trace_match(traces[i].filter, queue, dom))
			continue;
		m_create(qd->mgmtd, CTL_TRACE, traces[i].reqid, -1);
		m_add_string(qd->mgmtd, text);
		m_close(qd->mgmtd);
	}
	free(text);
}
