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
 * "Another domain's": a set with one domain so far is noted (rollup_alone,
 * for as long as that domain's queue lives) and the domain keeps its own
 * queue, which costs no second queue here and in queued for each new
 * domain.  The second domain with the set makes the rollup: both go into
 * it, the first one's idle connections close (they may not carry the
 * rollup's mail) and its busy ones finish their message; later domains
 * find the rollup queue.  A <domain NAME.rollup> block for the set's
 * rollup makes it from the first domain on, as a list line does: the
 * operator gave those hosts limits.  Each worker notes its own domains,
 * so with several workers a domain alone with its set in its worker
 * keeps its own queue until queued sends it to the rollup's worker.
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

/* The `mx` lines (with a rollup name) of every <mx-rollup-list>. */
struct rollup_lines {
	struct cfg_node *const	*lists;
	int			 nlists, next;
	struct cfg_node		*n;
};

static void
mta_rollup_lines(struct rollup_lines *it)
{
	it->lists = mta_scope_rollup_lists(&it->nlists);
	it->next = 0;
	it->n = NULL;
}

static struct cfg_node *
mta_rollup_line(struct rollup_lines *it)
{
	do {
		if (it->n != NULL)
			it->n = cfg_next_named(it->n, "mx");
		while (it->n == NULL && it->next < it->nlists)
			it->n = cfg_child(it->lists[it->next++], "mx");
	} while (it->n != NULL && it->n->argc < 2);
	return it->n;
}

/* Whether every `mx` line of the lists that names rollup matches. */
static int
mta_rollup_all_match(const struct mta_queue *q, const char *rollup)
{
	struct rollup_lines it;
	struct cfg_node *n;

	mta_rollup_lines(&it);
	while ((n = mta_rollup_line(&it)) != NULL)
		if (strcasecmp(n->argv[1], rollup) == 0 &&
		    !mta_rollup_match(q, n->argv[0]))
			return 0;
	return 1;
}

/* The rollup an <mx-rollup-list> gives q, or NULL. */
static const char *
mta_rollup_listed(const struct mta_queue *q)
{
	struct rollup_lines it;
	struct cfg_node *n;

	mta_rollup_lines(&it);
	while ((n = mta_rollup_line(&it)) != NULL)
		if (mta_rollup_match(q, n->argv[0]) &&
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
 * connections.  *listed: an <mx-rollup-list> named it. */
static const char *
mta_rollup_of(const struct mta_queue *q, char *buf, size_t sz, int *listed)
{
	const char *v;

	*listed = 0;
	if (q->rollup || q->nmx == 0 || q->nhosts > 0 || q->resolve_to ||
	    q->domain[0] == '[' || !q->mx[0].dns || q->mx[0].pref < 0)
		return NULL;
	if ((v = mta_queue_str(q, MS_DISABLE_MX_ROLLUP)) != NULL &&
	    strcasecmp(v, "no") != 0 && strcasecmp(v, "false") != 0 &&
	    strcasecmp(v, "off") != 0)
		return NULL;
	if ((v = mta_rollup_listed(q)) != NULL) {
		*listed = 1;
		return strlcpy(buf, v, sz) < sz ? buf : NULL;
	}
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

/* q goes into the rollup queue name ("NAME.rollup/vmta"). */
static void
mta_rollup_set(struct mta_queue *q, const char *name)
{
	free(q->rollup_name);
	q->rollup_name = xstrdup(name);
	q->rollup_state = 2;
	/* Said again by each new queue of the domain: queued keeps it. */
	log_debug("queue %s: rolled up into %s", q->name, name);
	mta_rollup_tell(q->name, name);
}

/* --- automatic rollups: MX sets seen with one domain so far --- */

struct rollup_alone {
	RB_ENTRY(rollup_alone)	 entry;
	char			*rollup;	/* "NAME.rollup/vmta" */
	struct mta_queue	*q;		/* the one domain's queue */
};

RB_HEAD(rollup_alones, rollup_alone);

static int
mta_rollup_alone_cmp(struct rollup_alone *a, struct rollup_alone *b)
{
	return strcmp(a->rollup, b->rollup);
}

RB_PROTOTYPE(rollup_alones, rollup_alone, entry, mta_rollup_alone_cmp);
RB_GENERATE(rollup_alones, rollup_alone, entry, mta_rollup_alone_cmp);

static struct rollup_alones alones = RB_INITIALIZER(&alones);

/* q's set is no longer noted (q goes, its MX hosts changed, it rolls
 * up). */
void
mta_rollup_forget(struct mta_queue *q)
{
	struct rollup_alone *a = q->rollup_alone;

	if (a == NULL)
		return;
	RB_REMOVE(rollup_alones, &alones, a);
	free(a->rollup);
	free(a);
	q->rollup_alone = NULL;
}

/* The first domain of a set that now has two goes into the rollup too
 * (its waiting jobs: mta_rollup_join); its idle connections close. */
static void
mta_rollup_first(struct mta_queue *first, const char *name)
{
	struct mta_session *s, *tmp;

	mta_rollup_forget(first);
	mta_rollup_set(first, name);
	TAILQ_FOREACH_SAFE(s, &first->sessions, entry, tmp)
		if (mta_session_phase(s) == MTA_PHASE_IDLE)
			mta_session_quit(s);
}

/* Whether q's set (rollup name, domain rdomain) is another domain's
 * too (*first: that domain's queue, if it was alone with the set until
 * now), or has a <domain NAME.rollup> block; if not, it is noted. */
static int
mta_rollup_shared(struct mta_queue *q, const char *name, const char *rdomain,
    struct mta_queue **first)
{
	struct rollup_alone key, *a;

	if (mta_queue_find(name) != NULL ||
	    mta_scope_has_block(q->vmta, rdomain))
		return 1;
	key.rollup = (char *)name;
	if ((a = RB_FIND(rollup_alones, &alones, &key)) == NULL) {
		if ((a = calloc(1, sizeof(*a))) == NULL)
			fatal("mta_rollup_shared");
		a->rollup = xstrdup(name);
		a->q = q;
		RB_INSERT(rollup_alones, &alones, a);
		q->rollup_alone = a;
		return 0;
	}
	*first = a->q;
	mta_rollup_first(*first, name);
	return 1;
}

/* Whether q rolls up (q->rollup_name), worked out once per MX answer. */
static int
mta_rollup_decide(struct mta_queue *q, struct mta_queue **first)
{
	char name[600], buf[256];
	const char *r;
	int listed;

	if (q->rollup_state != 0)
		return q->rollup_state == 2;
	free(q->rollup_name);
	q->rollup_name = NULL;
	q->rollup_state = 1;
	mta_rollup_forget(q);
	if ((r = mta_rollup_of(q, buf, sizeof(buf), &listed)) == NULL)
		return 0;
	snprintf(name, sizeof(name), "%s/%s", r, q->vmta ? q->vmta :
	    "{default}");
	if (!listed && !mta_rollup_shared(q, name, r, first))
		return 0;
	mta_rollup_set(q, name);
	return 1;
}

/* Hand q's waiting jobs to its rollup queue (made with q's hosts, or
 * given q's fresher ones), which it returns. */
static struct mta_queue *
mta_rollup_hand(struct mta_queue *q)
{
	struct mta_queue *rq;
	struct mta_job *job;
	char domain[600];

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

/*
 * q's MX hosts are known: if it rolls up, its waiting jobs go to the
 * rollup queue, and so do those of the domain it made the rollup with.
 * Returns the rollup queue, or NULL when q keeps its jobs.
 */
struct mta_queue *
mta_rollup_join(struct mta_queue *q)
{
	struct mta_queue *rq, *first = NULL;

	if (!mta_rollup_decide(q, &first))
		return NULL;
	rq = mta_rollup_hand(q);
	if (first != NULL && first->nmx > 0)
		mta_rollup_hand(first);
	return rq;
}
