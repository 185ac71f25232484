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
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "mta.h"
#include "proto.h"

#define MTA_MX_TTL_MIN	60
#define MTA_MX_TTL_MAX	3600

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

static struct cfg_node *
mta_queue_node(const struct mta_queue *q, const char *name)
{
	struct cfg_node *n;

	n = cfg_domain_setting(mta_cfg(), q->vmta, q->domain, name);
	if (n == NULL || n->arg == NULL || n->arg[0] == '\0')
		return NULL;
	return n;
}

static const char *
mta_queue_str(const struct mta_queue *q, const char *name)
{
	struct cfg_node *n = mta_queue_node(q, name);

	return n ? n->arg : NULL;
}

/* Set in a <domain> or <virtual-mta> rather than globally. */
static int
mta_queue_scoped(const struct cfg_node *n)
{
	return n != NULL && n->parent != NULL && n->parent->parent != NULL;
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
mta_queue_add_host(struct mta_queue *q, const char *tok, int defport)
{
	struct mta_host *h;
	const char *err;
	char host[256];
	int port;

	/* PowerMTA's "lookup-mx:" prefix asks for the MX of that name;
	 * without DNS support we connect to the name itself. */
	if (strncasecmp(tok, "lookup-mx:", 10) == 0)
		tok += 10;
	if (cfg_parse_hostport(tok, host, sizeof(host), &port, defport,
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
	h->dns = 0;
}

/* Destination port when a route names none: the domain's smtp-port
 * (globally, smtp-port is the listener's), else default-smtp-port. */
static int
mta_queue_port(const struct mta_queue *q)
{
	struct cfg_node *n = mta_queue_node(q, "smtp-port");
	int64_t v;
	const char *err;

	if (!mta_queue_scoped(n) || cfg_parse_int(n->arg, &v, &err) == -1 ||
	    v < 1 || v > 65535)
		n = mta_queue_node(q, "default-smtp-port");
	if (n == NULL || cfg_parse_int(n->arg, &v, &err) == -1 || v < 1 ||
	    v > 65535)
		return 25;
	return v;
}

/* route / smtp-hosts: one or more host[:port], comma separated. */
static void
mta_queue_hosts(struct mta_queue *q)
{
	const char *v;
	char *list, *p, *tok;
	int port;

	if ((v = mta_queue_str(q, "route")) == NULL &&
	    (v = mta_queue_str(q, "smtp-hosts")) == NULL)
		return;
	port = mta_queue_port(q);
	list = p = xstrdup(v);
	while ((tok = strsep(&p, ", \t")) != NULL)
		if (*tok != '\0')
			mta_queue_add_host(q, tok, port);
	free(list);
}

/*
 * Source address and EHLO name.  smtp-source-host IP [NAME] gives both;
 * a host-name set for the domain or VMTA wins over its NAME, a global
 * host-name does not.
 */
static void
mta_queue_source(struct mta_queue *q)
{
	struct cfg_node *src, *hn;
	struct in6_addr a6;
	char host[256];

	src = mta_queue_node(q, "smtp-source-host");
	hn = mta_queue_node(q, "host-name");
	if (src != NULL && src->argc >= 1) {
		if (inet_pton(AF_INET, src->argv[0], &a6) == 1 ||
		    inet_pton(AF_INET6, src->argv[0], &a6) == 1)
			q->source = xstrdup(src->argv[0]);
		else
			log_warnx("%s: smtp-source-host %s: only a single "
			    "address is supported", q->name, src->argv[0]);
		if (src->argc >= 2 && !mta_queue_scoped(hn))
			q->helo = xstrdup(src->argv[1]);
	}
	if (q->helo == NULL && hn != NULL)
		q->helo = xstrdup(hn->arg);
	if (q->helo == NULL) {
		if (gethostname(host, sizeof(host)) == 0 && host[0] != '\0') {
			host[sizeof(host) - 1] = '\0';
			q->helo = xstrdup(host);
		} else
			q->helo = xstrdup("localhost");
	}
}

static void
mta_queue_free_hosts(struct mta_host *h, int n)
{
	int i;

	for (i = 0; i < n; i++)
		free(h[i].name);
	free(h);
}

static void
mta_queue_clear_settings(struct mta_queue *q)
{
	mta_queue_free_hosts(q->hosts, q->nhosts);
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
	mta_queue_clear_settings(q);
	mta_queue_hosts(q);
	mta_queue_source(q);
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
	/* queued names the queue of no VMTA "domain/{default}". */
	if ((slash = strrchr(name, '/')) != NULL && slash[1] != '\0' &&
	    slash[1] != '{')
		q->vmta = xstrdup(slash + 1);
	TAILQ_INIT(&q->jobs);
	TAILQ_INIT(&q->sessions);
	mta_queue_settings(q);
	RB_INSERT(mta_queues, &queues, q);
	log_debug("queue %s: %d host(s), max %d connection(s), helo %s, "
	    "source %s", q->name, q->nhosts, q->max_conn, q->helo,
	    q->source ? q->source : "any");
	return q;
}

static void
mta_queue_maybe_free(struct mta_queue *q)
{
	if (q->njobs > 0 || q->nsessions > 0)
		return;
	RB_REMOVE(mta_queues, &queues, q);
	mta_dns_cancel(q->mxreq);
	mta_queue_free_hosts(q->mx, q->nmx);
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

static void
mta_queue_mx_cb(void *arg, int status, struct mta_host *hosts, int n,
    unsigned ttl)
{
	struct mta_queue *q = arg;
	char diag[MTA_DIAG_MAX];

	q->mxreq = NULL;
	if (status == MTA_DNS_OK) {
		mta_queue_free_hosts(q->mx, q->nmx);
		q->mx = hosts;
		q->nmx = n;
		if (ttl < MTA_MX_TTL_MIN)
			ttl = MTA_MX_TTL_MIN;
		if (ttl > MTA_MX_TTL_MAX)
			ttl = MTA_MX_TTL_MAX;
		q->mx_expire = time(NULL) + ttl;
		log_debug("queue %s: %d MX host(s), first %s", q->name, n,
		    hosts[0].name);
		mta_queue_pump(q);
	} else if (q->nmx > 0) {
		/* Keep the old answer a while rather than fail on a blip. */
		q->mx_expire = time(NULL) + MTA_MX_TTL_MIN;
		mta_queue_pump(q);
	} else if (status == MTA_DNS_NXDOMAIN || status == MTA_DNS_NULLMX) {
		snprintf(diag, sizeof(diag), "domain %s %s", q->domain,
		    status == MTA_DNS_NULLMX ? "accepts no mail (null MX)" :
		    "does not exist (DNS NXDOMAIN)");
		mta_queue_fail_waiting(q, DLV_PERMFAIL, 1,
		    status == MTA_DNS_NULLMX ? "5.1.10" : "5.1.2", diag, NULL);
	} else {
		snprintf(diag, sizeof(diag), "MX lookup for %s failed: %s",
		    q->domain, mta_dns_strstatus(status));
		mta_queue_fail_waiting(q, DLV_TEMPFAIL, 1, "4.4.3", diag, NULL);
	}
	mta_queue_maybe_free(q);
}

/*
 * No route: the domain's MX hosts.  0 when there are hosts to use (the
 * answer may be refreshing meanwhile), -1 while there are none yet or the
 * lookup could not even start (then the waiting jobs failed).
 */
static int
mta_queue_mx(struct mta_queue *q)
{
	char diag[MTA_DIAG_MAX];
	const char *err;

	if (q->domain[0] == '[') {
		/* An address literal is its own host, no DNS. */
		if (q->nmx == 0) {
			mta_queue_free_hosts(q->mx, q->nmx);
			q->mx = calloc(1, sizeof(*q->mx));
			if (q->mx == NULL ||
			    (q->mx->name = strndup(q->domain + 1,
			    strcspn(q->domain + 1, "]"))) == NULL)
				fatal("mta_queue_mx");
			q->mx->port = mta_queue_port(q);
			q->nmx = 1;
			q->mx_expire = INT64_MAX;
		}
		return 0;
	}
	if ((q->nmx == 0 || time(NULL) >= q->mx_expire) && q->mxreq == NULL) {
		q->mxreq = mta_dns_mx(q->domain, mta_queue_port(q),
		    mta_queue_mx_cb, q);
		if (q->mxreq == NULL && q->nmx == 0) {
			err = mta_dns_error();
			snprintf(diag, sizeof(diag), "MX lookup for %s failed: "
			    "%s", q->domain, err ? err : "cannot query");
			mta_queue_fail_waiting(q, DLV_TEMPFAIL, 1, "4.4.3",
			    diag, NULL);
			return -1;
		}
	}
	return q->nmx > 0 ? 0 : -1;
}

void
mta_queue_pump(struct mta_queue *q)
{
	struct mta_session *s, *tmp;
	int want, limit;

	TAILQ_FOREACH_SAFE(s, &q->sessions, entry, tmp) {
		if (q->njobs == 0)
			return;
		if (mta_session_phase(s) == MTA_PHASE_IDLE)
			mta_session_job(s, mta_queue_next(q));
	}
	if (mta_stopping() || q->njobs == 0)
		return;
	if (q->nhosts == 0 && mta_queue_mx(q) == -1)
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

/* The hosts to try: the configured route, else the MX hosts. */
int
mta_queue_nhosts(const struct mta_queue *q)
{
	return q->nhosts > 0 ? q->nhosts : q->nmx;
}

const struct mta_host *
mta_queue_host(struct mta_queue *q, int i)
{
	if (q->nhosts > 0)
		return &q->hosts[i % q->nhosts];
	if (q->nmx > 0)
		return &q->mx[i % q->nmx];
	return NULL;
}

void
mta_queue_reconfig(void)
{
	struct mta_queue *q, *tmp;

	RB_FOREACH_SAFE(q, mta_queues, &queues, tmp) {
		mta_queue_settings(q);
		q->mx_expire = 0;	/* the port may have changed */
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
