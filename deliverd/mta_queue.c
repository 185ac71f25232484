/*
 * mta_queue.c - one delivery queue ("domain/vmta") and its connections.
 *
 * Jobs wait in the queue's FIFO.  A session that is ready (past EHLO, or
 * done with its previous message) takes the oldest one, so a connection
 * carries several messages in a row; new connections are opened only
 * while jobs wait that no connecting session will take, and never more
 * than max-smtp-out.  When the server refuses a connection while others
 * of the queue work, the queue keeps to the connections it has until its
 * backlog is drained; when none works, the waiting jobs fail with that
 * connection error, so that queued backs the whole queue off instead of
 * us hammering a dead host.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mta.h"
#include "proto.h"

#define MTA_NOROUTE_DIAG \
	"no route configured (DNS delivery not available yet)"

RB_HEAD(mta_queues, mta_queue);

static struct mta_queues queues = RB_INITIALIZER(&queues);

static int
mta_queue_cmp(struct mta_queue *a, struct mta_queue *b)
{
	return strcmp(a->name, b->name);
}

RB_PROTOTYPE(mta_queues, mta_queue, entry, mta_queue_cmp);
RB_GENERATE(mta_queues, mta_queue, entry, mta_queue_cmp);

static char *
xstrdup(const char *s)
{
	char *d;

	if ((d = strdup(s)) == NULL)
		fatal("strdup");
	return d;
}

static const char *
mta_queue_str(const struct mta_queue *q, const char *name)
{
	struct cfg_node *n;

	n = cfg_domain_setting(mta_cfg(), q->vmta, q->domain, name);
	if (n == NULL || n->arg == NULL || n->arg[0] == '\0')
		return NULL;
	return n->arg;
}

static int
mta_queue_int(const struct mta_queue *q, const char *name, int dflt)
{
	const char *s, *err;
	int64_t v;

	if ((s = mta_queue_str(q, name)) == NULL)
		return dflt;
	if (cfg_parse_int(s, &v, &err) == -1 || v > 1000000) {
		log_warnx("%s: %s %s: %s", q->name, name, s, err ? err :
		    "too large");
		return dflt;
	}
	return v;
}

static void
mta_queue_add_host(struct mta_queue *q, const char *tok)
{
	struct mta_host *h;
	const char *err;
	char host[256];
	int port;

	/* PowerMTA's "lookup-mx:" prefix asks for the MX of that name;
	 * without DNS support we connect to the name itself. */
	if (strncasecmp(tok, "lookup-mx:", 10) == 0)
		tok += 10;
	if (cfg_parse_hostport(tok, host, sizeof(host), &port, 25,
	    &err) == -1) {
		log_warnx("%s: bad route %s: %s", q->name, tok, err);
		return;
	}
	h = reallocarray(q->hosts, q->nhosts + 1, sizeof(*q->hosts));
	if (h == NULL)
		fatal("mta_queue_add_host");
	q->hosts = h;
	h = &q->hosts[q->nhosts++];
	h->name = xstrdup(host);
	h->port = port;
}

/* route / smtp-hosts: one or more host[:port], comma separated. */
static void
mta_queue_hosts(struct mta_queue *q)
{
	const char *v;
	char *list, *p, *tok;

	if ((v = mta_queue_str(q, "route")) == NULL &&
	    (v = mta_queue_str(q, "smtp-hosts")) == NULL)
		return;
	list = p = xstrdup(v);
	while ((tok = strsep(&p, ", \t")) != NULL)
		if (*tok != '\0')
			mta_queue_add_host(q, tok);
	free(list);
}

static void
mta_queue_clear_settings(struct mta_queue *q)
{
	int i;

	for (i = 0; i < q->nhosts; i++)
		free(q->hosts[i].name);
	free(q->hosts);
	q->hosts = NULL;
	q->nhosts = 0;
	free(q->helo);
	q->helo = NULL;
	free(q->source);
	q->source = NULL;
}

static void
mta_queue_settings(struct mta_queue *q)
{
	char host[256];
	const char *v;

	mta_queue_clear_settings(q);
	mta_queue_hosts(q);
	if ((v = mta_queue_str(q, "host-name")) != NULL)
		q->helo = xstrdup(v);
	else if (gethostname(host, sizeof(host)) == 0 && host[0] != '\0') {
		host[sizeof(host) - 1] = '\0';
		q->helo = xstrdup(host);
	} else
		q->helo = xstrdup("localhost");
	q->max_conn = mta_queue_int(q, "max-smtp-out", MTA_DEFAULT_MAX_CONN);
	if (q->max_conn < 1)
		q->max_conn = 1;
	q->max_msg = mta_queue_int(q, "max-msg-per-connection", 0);
	q->conn_limit = q->max_conn;
}

static struct mta_queue *
mta_queue_get(const char *name, const char *domain)
{
	struct mta_queue key, *q;
	const char *slash;

	key.name = (char *)name;
	if ((q = RB_FIND(mta_queues, &queues, &key)) != NULL)
		return q;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		fatal("mta_queue_get");
	q->name = xstrdup(name);
	q->domain = xstrdup(domain);
	if ((slash = strrchr(name, '/')) != NULL && slash[1] != '\0')
		q->vmta = xstrdup(slash + 1);
	TAILQ_INIT(&q->jobs);
	TAILQ_INIT(&q->sessions);
	mta_queue_settings(q);
	RB_INSERT(mta_queues, &queues, q);
	log_debug("queue %s: %d host(s), max %d connection(s), helo %s",
	    q->name, q->nhosts, q->max_conn, q->helo);
	return q;
}

static void
mta_queue_maybe_free(struct mta_queue *q)
{
	if (q->njobs > 0 || q->nsessions > 0)
		return;
	RB_REMOVE(mta_queues, &queues, q);
	mta_queue_clear_settings(q);
	free(q->name);
	free(q->domain);
	free(q->vmta);
	free(q);
}

void
mta_queue_add(struct mta_job *job)
{
	struct mta_queue *q;

	q = mta_queue_get(job->queue, job->domain);
	TAILQ_INSERT_TAIL(&q->jobs, job, qentry);
	q->njobs++;
	mta_queue_pump(q);
	mta_queue_maybe_free(q);
}

struct mta_job *
mta_queue_next(struct mta_queue *q)
{
	struct mta_job *job;

	if ((job = TAILQ_FIRST(&q->jobs)) == NULL)
		return NULL;
	TAILQ_REMOVE(&q->jobs, job, qentry);
	job->state = JOB_RUNNING;
	/* Backlog gone: the next burst may use every connection again. */
	if (--q->njobs == 0)
		q->conn_limit = q->max_conn;
	return job;
}

/* Every waiting job gets the same outcome. */
static void
mta_queue_fail_waiting(struct mta_queue *q, uint32_t status, int conn_level,
    const char *dsn, const char *diag, const struct mta_conninfo *ci)
{
	struct mta_job *job;

	while ((job = mta_queue_next(q)) != NULL) {
		mta_job_fail(job, status, conn_level, dsn, diag, ci);
		mta_job_done(job);
	}
}

static int
mta_queue_count(struct mta_queue *q, enum mta_phase phase)
{
	struct mta_session *s;
	int n = 0;

	TAILQ_FOREACH(s, &q->sessions, entry)
		if (mta_session_phase(s) == phase)
			n++;
	return n;
}

void
mta_queue_pump(struct mta_queue *q)
{
	struct mta_session *s, *tmp;
	int want, limit;

	if (q->nhosts == 0) {
		mta_queue_fail_waiting(q, DLV_TEMPFAIL, 1, "4.4.3",
		    MTA_NOROUTE_DIAG, NULL);
		return;
	}
	TAILQ_FOREACH_SAFE(s, &q->sessions, entry, tmp) {
		if (q->njobs == 0)
			return;
		if (mta_session_phase(s) == MTA_PHASE_IDLE)
			mta_session_job(s, mta_queue_next(q));
	}
	if (mta_stopping())
		return;
	/* Each connecting session will take one job when it is ready. */
	want = q->njobs - mta_queue_count(q, MTA_PHASE_CONNECTING);
	limit = q->conn_limit < q->max_conn ? q->conn_limit : q->max_conn;
	while (want-- > 0 && q->nsessions < limit) {
		s = mta_session_new(q);
		TAILQ_INSERT_TAIL(&q->sessions, s, entry);
		q->nsessions++;
		mta_session_connect(s);
	}
}

/* A session could not get through to any host of the queue. */
void
mta_queue_conn_failed(struct mta_queue *q, uint32_t status, const char *dsn,
    const char *diag, const struct mta_conninfo *ci)
{
	int others;

	/* The failed session still counts as connecting: not itself. */
	others = mta_queue_count(q, MTA_PHASE_BUSY) +
	    mta_queue_count(q, MTA_PHASE_IDLE) +
	    mta_queue_count(q, MTA_PHASE_CONNECTING) - 1;
	if (others <= 0) {
		log_info("queue %s: %s", q->name, diag);
		mta_queue_fail_waiting(q, status, 1, dsn, diag, ci);
		return;
	}
	/* The host may serve us, just not this many times at once: the
	 * sessions left take the backlog, the last to fail fails it. */
	q->conn_limit = others;
	log_debug("queue %s: %s; keeping to %d connection(s)", q->name, diag,
	    others);
}

void
mta_queue_session_gone(struct mta_queue *q, struct mta_session *s)
{
	TAILQ_REMOVE(&q->sessions, s, entry);
	q->nsessions--;
	mta_queue_pump(q);
	mta_queue_maybe_free(q);
}

const struct mta_host *
mta_queue_host(struct mta_queue *q, int i)
{
	if (q->nhosts == 0)
		return NULL;
	return &q->hosts[i % q->nhosts];
}

void
mta_queue_reconfig(void)
{
	struct mta_queue *q, *tmp;

	RB_FOREACH_SAFE(q, mta_queues, &queues, tmp) {
		mta_queue_settings(q);
		mta_queue_pump(q);
		mta_queue_maybe_free(q);
	}
}

void
mta_queue_shutdown(void)
{
	struct mta_queue *q, *tmp;
	struct mta_session *s, *stmp;

	RB_FOREACH_SAFE(q, mta_queues, &queues, tmp) {
		mta_queue_fail_waiting(q, DLV_TEMPFAIL, 0, "4.3.2",
		    "deliverd is shutting down", NULL);
		TAILQ_FOREACH_SAFE(s, &q->sessions, entry, stmp)
			if (mta_session_phase(s) != MTA_PHASE_BUSY)
				mta_session_quit(s);
		mta_queue_maybe_free(q);
	}
}
