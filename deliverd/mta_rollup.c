/*
 * mta_rollup.c - MX rollup: domains that share their mail hosts share
 * one queue's connections and limits.
 *
 * A queue (domain/vmta) whose MX hosts came from DNS is rolled up into
 * the queue "NAME.rollup/vmta" when
 *
 *	- an <mx-rollup-list> line `mx HOST-OR-WILDCARD NAME.rollup` names
 *	  it: every pattern listed for NAME.rollup matches one of the
 *	  domain's most preferred MX hosts (PowerMTA's rule: only those
 *	  count; extra MX hosts in DNS do not matter), or else
 *	- automatically, when its most preferred MX hosts are the same set
 *	  as another domain's: the rollup is named after that set
 *	  ("mx1.example.net+mx2.example.net.rollup").  A domain with its
 *	  own <domain NAME> block keeps its own queue (its settings are
 *	  its own), unless a rollup list names its MX.
 *
 * `disable-mx-rollup yes` keeps a domain out of both.  Routes
 * (route/smtp-hosts), resolve-to and domain literals are never rolled
 * up.
 *
 * The rollup queue is an ordinary mta_queue whose settings are those of
 * <domain NAME.rollup> (else the global ones): its max-smtp-out, rates
 * and backoff hold for all its domains together, and its connections
 * carry the messages of any of them, one after the other.  Its hosts are
 * the MX hosts of the domain that handed it work last (no lookup of the
 * rollup name).  The domain's queue hands its waiting jobs over as soon
 * as its MX answer is in, and is then freed as usual; each job
 * remembers the rollup queue (job->via) so that its outcome (backoff,
 * reply patterns) is the rollup's.
 *
 * queued hears of each rollup (DLV_ROLLUP) for `tern show queues`, and
 * sends the work of rolled-up queues to the worker of the rollup, so
 * they meet in one process (the first job of a domain may still reach
 * another worker, before its rollup is known there).
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "mta.h"
#include "proto.h"
#include "util.h"

#define ROLLUP_SUFFIX	".rollup"

/* Whether pattern (a host name or wildcard) matches one of the most
 * preferred MX hosts of q. */
static int
mta_rollup_match(const struct mta_queue *q, const char *pattern)
{
	int i;

	for (i = 0; i < q->nmx && q->mx[i].pref == q->mx[0].pref; i++)
		if (fnmatch(pattern, q->mx[i].name, FNM_CASEFOLD) == 0)
			return 1;
	return 0;
}

/* Whether every `mx` line of the lists that names rollup matches. */
static int
mta_rollup_all_match(const struct mta_queue *q, const char *rollup)
{
	struct cfg_node *const *lists, *n;
	int i, nl;

	lists = mta_scope_rollup_lists(&nl);
	for (i = 0; i < nl; i++)
		for (n = cfg_child(lists[i], "mx"); n != NULL;
		    n = cfg_next_named(n, "mx"))
			if (n->argc >= 2 &&
			    strcasecmp(n->argv[1], rollup) == 0 &&
			    !mta_rollup_match(q, n->argv[0]))
				return 0;
	return 1;
}

/* The rollup an <mx-rollup-list> gives q, or NULL. */
static const char *
mta_rollup_listed(const struct mta_queue *q)
{
	struct cfg_node *const *lists, *n;
	int i, nl;

	lists = mta_scope_rollup_lists(&nl);
	for (i = 0; i < nl; i++)
		for (n = cfg_child(lists[i], "mx"); n != NULL;
		    n = cfg_next_named(n, "mx"))
			if (n->argc >= 2 && mta_rollup_match(q, n->argv[0]) &&
			    mta_rollup_all_match(q, n->argv[1]))
				return n->argv[1];
	return NULL;
}

static int
mta_rollup_namecmp(const void *a, const void *b)
{
	return strcasecmp(*(char *const *)a, *(char *const *)b);
}

/* "a+b.rollup" from the most preferred MX hosts, sorted; -1 if it does
 * not fit. */
static int
mta_rollup_auto(const struct mta_queue *q, char *buf, size_t sz)
{
	const char *names[16];
	int i, n = 0;

	for (i = 0; i < q->nmx && q->mx[i].pref == q->mx[0].pref; i++) {
		if (n == (int)(sizeof(names) / sizeof(names[0])))
			return -1;
		names[n++] = q->mx[i].name;
	}
	qsort(names, n, sizeof(names[0]), mta_rollup_namecmp);
	buf[0] = '\0';
	for (i = 0; i < n; i++)
		if ((i > 0 && strlcat(buf, "+", sz) >= sz) ||
		    strlcat(buf, names[i], sz) >= sz)
			return -1;
	return strlcat(buf, ROLLUP_SUFFIX, sz) >= sz ? -1 : 0;
}

/* The rollup domain of q ("NAME.rollup"), or NULL: q keeps its own
 * connections. */
static const char *
mta_rollup_of(const struct mta_queue *q, char *buf, size_t sz)
{
	const char *v;

	if (q->rollup || q->nmx == 0 || q->nhosts > 0 || q->resolve_to ||
	    q->domain[0] == '[' || !q->mx[0].dns || q->mx[0].pref < 0)
		return NULL;
	if ((v = mta_queue_str(q, MS_DISABLE_MX_ROLLUP)) != NULL &&
	    strcasecmp(v, "no") != 0 && strcasecmp(v, "false") != 0 &&
	    strcasecmp(v, "off") != 0)
		return NULL;
	if ((v = mta_rollup_listed(q)) != NULL)
		return strlcpy(buf, v, sz) < sz ? buf : NULL;
	if (mta_scope_has_block(q->vmta, q->domain) ||
	    mta_rollup_auto(q, buf, sz) == -1)
		return NULL;
	return buf;
}

/* Tell queued that queue is rolled up into rollup. */
static void
mta_rollup_tell(const char *queue, const char *rollup)
{
	struct mproc *p;

	if ((p = mta_queued()) == NULL)
		return;
	m_create(p, DLV_ROLLUP, 0, -1);
	m_add_string(p, queue);
	m_add_string(p, rollup);
	m_close(p);
}

/* Whether q rolls up (q->rollup_name), worked out once per MX answer. */
static int
mta_rollup_decide(struct mta_queue *q)
{
	char name[600], buf[256];
	const char *r;

	if (q->rollup_state != 0)
		return q->rollup_state == 2;
	free(q->rollup_name);
	q->rollup_name = NULL;
	q->rollup_state = 1;
	if ((r = mta_rollup_of(q, buf, sizeof(buf))) == NULL)
		return 0;
	snprintf(name, sizeof(name), "%s/%s", r, q->vmta ? q->vmta :
	    "{default}");
	q->rollup_name = xstrdup(name);
	q->rollup_state = 2;
	/* Said again by each new queue of the domain: queued keeps it. */
	log_debug("queue %s: rolled up into %s", q->name, name);
	mta_rollup_tell(q->name, name);
	return 1;
}

/*
 * q's MX hosts are known: if it rolls up, hand its waiting jobs to the
 * rollup queue (made with q's hosts, or given q's fresher ones).
 * Returns the rollup queue, or NULL when q keeps its jobs.
 */
struct mta_queue *
mta_rollup_join(struct mta_queue *q)
{
	struct mta_queue *rq;
	struct mta_job *job;
	char domain[600];

	if (!mta_rollup_decide(q))
		return NULL;
	strlcpy(domain, q->rollup_name, sizeof(domain));
	domain[strcspn(domain, "/")] = '\0';
	rq = mta_queue_rollup(q->rollup_name, domain, q);
	while ((job = TAILQ_FIRST(&q->jobs)) != NULL) {
		TAILQ_REMOVE(&q->jobs, job, qentry);
		q->njobs--;
		free(job->via);
		job->via = xstrdup(rq->name);
		TAILQ_INSERT_TAIL(&rq->jobs, job, qentry);
		rq->njobs++;
	}
	return rq;
}
