/*
 * queue_suppress.c - recipients on the suppression list are not mailed.
 *
 * bounced owns the list (bounced/suppress.c) and sends every address to
 * queued (BNC_SUPPRESS) when it connects and as addresses are added.  A
 * message's recipient on the list becomes final at once, as a bounce
 * with a `b` row: status 5.7.1, "recipient is on the suppression list",
 * and no DSN (the sender's own list said not to mail it).
 */
#include <sys/tree.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sched_int.h"

struct qsup {
	RB_ENTRY(qsup)	 entry;
	char		*addr;
};

static int
qsup_cmp(struct qsup *a, struct qsup *b)
{
	return strcmp(a->addr, b->addr);
}

RB_HEAD(qsup_tree, qsup);
RB_PROTOTYPE(qsup_tree, qsup, entry, qsup_cmp);
RB_GENERATE(qsup_tree, qsup, entry, qsup_cmp);

static struct qsup_tree	qsups = RB_INITIALIZER(&qsups);

void
suppress_msg(struct msg *m)
{
	const char *addr;
	struct qsup *s;

	m_get_string(m, &addr);
	m_end(m);
	if (addr == NULL || *addr == '\0')
		return;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->addr = strdup(addr)) == NULL)
		fatal("suppress_msg");
	if (RB_INSERT(qsup_tree, &qsups, s) != NULL) {
		free(s->addr);
		free(s);
	}
}

static int
suppressed(const char *addr)
{
	struct qsup key, *s;
	char buf[MAX_ADDR + 1], *p;

	if (RB_EMPTY(&qsups) || addr == NULL)
		return 0;
	strlcpy(buf, addr, sizeof(buf));
	for (p = buf; *p; p++)
		*p = tolower((unsigned char)*p);
	key.addr = buf;
	s = RB_FIND(qsup_tree, &qsups, &key);
	return s != NULL;
}

int
suppress_check(struct qmsg *m, uint32_t k)
{
	struct envelope *e = m->env;
	struct rcpt *r = &e->rcpts[k];
	struct acct_record a;
	struct squeue *q;
	char dom[256], srcmta[600], diag[MAX_ADDR + 64];

	if (!suppressed(r->addr))
		return 0;
	q = sched_queue_get(addr_domain(r->addr, dom, sizeof(dom)), e->vmta);
	r->state = RCPT_BOUNCED;
	commit_result(m, r->index, RCPT_BOUNCED);
	q->bounced++;
	qd->n_bounced++;
	snprintf(diag, sizeof(diag), "550 5.7.1 <%s>: recipient is on the "
	    "suppression list", r->addr);
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
	a.src_type = "smtp";
	a.src_mta = srcmta;
	a.vmta = e->vmta;
	a.jobid = e->jobid;
	a.envid = e->envid;
	a.queue = q->name;
	a.auth_user = e->authuser;
	acct_send(&a);
	log_info("%s: to=<%s> suppressed", e->qid, r->addr);
	return 1;
}
