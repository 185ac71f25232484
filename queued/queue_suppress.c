/*
 * queue_suppress.c - recipients on the suppression list are not mailed.
 *
 * bounced owns the list (bounced/suppress.c) and sends every entry to
 * queued (BNC_SUPPRESS) when it connects and each change after; queued
 * passes them on to smtpd (which may refuse such recipients at RCPT).  A
 * message's recipient on the global list or on its VMTA's becomes final
 * at once, as a bounce with a `b` row: status 5.7.1, `recipient is in
 * suppression list "global": <addr>` (or the VMTA's name), and no DSN
 * (the sender's own list said not to mail it).
 *
 * The list must be whole before a new message is routed: smtpd accepts
 * mail as soon as queued is up, before bounced has sent the list, and a
 * recipient routed then would be mailed although listed.  So until
 * bounced says the list is complete (BNC_SUPPRESS_DONE) new messages
 * are held unrouted (suppress_hold), then routed in the order they
 * came; if bounced has not said so in SUPPRESS_WAIT, queued goes on
 * without it and says so.  Recovered messages are routed at once: a
 * restarted deliverd replays their results and reports what it still
 * delivers, which needs them routed (so an address listed while Tern
 * was stopped is still mailed if a recovered message holds it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "proto.h"
#include "sched_int.h"
#include "suplist.h"

#define SUPPRESS_WAIT	10000	/* ms */

static struct suplist	*qsups;
static int		 sup_ready;
static uv_timer_t	 sup_timer;
static TAILQ_HEAD(, qmsg) sup_held = TAILQ_HEAD_INITIALIZER(sup_held);
static uint64_t		 sup_held_rcpts;	/* their recipients */

static void
suppress_timeout(uv_timer_t *t)
{
	log_warnx("bounced has not sent the suppression list in %d s; "
	    "routing mail without it", SUPPRESS_WAIT / 1000);
	suppress_ready();
}

/* At start, before the spool is recovered. */
void
suppress_init(void)
{
	uv_timer_init(qd->loop, &sup_timer);
	uv_timer_start(&sup_timer, suppress_timeout, SUPPRESS_WAIT, 0);
}

/* The list is whole (or will not come): route what was held. */
void
suppress_ready(void)
{
	struct qmsg *m;

	if (sup_ready)
		return;
	sup_ready = 1;
	uv_timer_stop(&sup_timer);
	while ((m = TAILQ_FIRST(&sup_held)) != NULL) {
		TAILQ_REMOVE(&sup_held, m, hentry);
		m->held = 0;
		sched_route_message(m);
	}
	sup_held_rcpts = 0;
	spool_is_full();
}

/* Recipients of messages held for the list: they count towards
 * spool-max-recipients as much as routed ones (spool_is_full). */
uint64_t
suppress_held_rcpts(void)
{
	return sup_held_rcpts;
}

/* Whether m must wait for the list; it is then kept until it is in. */
int
suppress_hold(struct qmsg *m)
{
	if (sup_ready)
		return 0;
	m->held = 1;
	TAILQ_INSERT_TAIL(&sup_held, m, hentry);
	sup_held_rcpts += m->env->nrcpt;
	return 1;
}

/* BNC_SUPPRESS from bounced: apply, and pass it on to smtpd. */
void
suppress_msg(struct msg *m)
{
	const char *vmta, *addr;
	uint32_t add;

	if (suplist_recv(&qsups, m, &add, &vmta, &addr))
		suplist_send(qd->smtpd, add, vmta, addr);
}

/* smtpd (re)connected: it gets the whole list. */
void
suppress_smtpd(struct mproc *p)
{
	suplist_send_all(qsups, p);
}

int
suppress_check(struct qmsg *m, uint32_t k)
{
	struct envelope *e = m->env;
	struct rcpt *r = &e->rcpts[k];
	struct acct_record a;
	struct squeue *q;
	char dom[256], srcmta[600], diag[MAX_ADDR + 300];
	const char *scope;

	if ((scope = suplist_match(qsups, e->vmta, r->addr)) == NULL)
		return 0;
	q = sched_queue_get(addr_domain(r->addr, dom, sizeof(dom)), e->vmta);
	r->state = RCPT_BOUNCED;
	commit_result(m, r->index, RCPT_BOUNCED);
	q->bounced++;
	qd->n_bounced++;
	/* PowerMTA's words, naming the list: "global" or the VMTA. */
	snprintf(diag, sizeof(diag), "550 5.7.1 recipient is in suppression "
	    "list \"%s\": <%s>", *scope ? scope : "global", r->addr);
	snprintf(srcmta, sizeof(srcmta), "%s (%s)", e->helo ? e->helo : "",
	    e->client ? e->client : "");
	memset(&a, 0, sizeof(a));
	a.type = "b";
	a.time_logged = now_ms() / 1000;
	a.time_queued = e->queued;
	a.qid = e->qid;
	a.orig = e->sender;
	a.rcpt = r->addr;
	a.orcpt = r->orcpt;
	a.dsn_action = "failed";
	a.dsn_status = "5.7.1";
	a.dsn_diag = diag;
	a.src_type = envelope_src_type(e);
	a.src_mta = srcmta;
	a.vmta = e->vmta;
	a.jobid = e->jobid;
	a.envid = e->envid;
	a.queue = q->name;
	a.auth_user = e->authuser;
	a.headers = acct_headers(m);
	acct_send(&a);
	log_info("%s: to=<%s> suppressed", e->qid, r->addr);
	return 1;
}
