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

#include "daemon.h"
#include "log.h"
#include "util.h"
#include "mta.h"
#include "proto.h"

#define MTA_MX_TTL_MIN	60
#define MTA_MX_TTL_MAX	3600

RB_HEAD(mta_queues, mta_queue);

static void	mta_queue_timer_free(uv_handle_t *);

static struct mta_queues queues = RB_INITIALIZER(&queues);

static int
mta_queue_cmp(struct mta_queue *a, struct mta_queue *b)
{
	return strcmp(a->name, b->name);
}

RB_PROTOTYPE(mta_queues, mta_queue, entry, mta_queue_cmp);
RB_GENERATE(mta_queues, mta_queue, entry, mta_queue_cmp);

/* The queue's setting id (set and not empty), or NULL. */
struct cfg_node *
mta_queue_node(const struct mta_queue *q, enum mta_set id)
{
	return cfg_scope_node(q->scope, id);
}

/* The queue's setting id as written, or NULL. */
const char *
mta_queue_str(const struct mta_queue *q, enum mta_set id)
{
	struct cfg_node *n = mta_queue_node(q, id);

	return n ? n->arg : NULL;
}

/* Set in a <domain> or <virtual-mta> rather than globally. */
int
mta_queue_scoped(const struct cfg_node *n)
{
	return n != NULL && n->parent != NULL && n->parent->parent != NULL;
}

static int
mta_queue_int(const struct mta_queue *q, enum mta_set id, int dflt)
{
	const char *s, *err;
	int64_t v;

	if ((s = mta_queue_str(q, id)) == NULL)
		return dflt;
	if (cfg_parse_int(s, &v, &err) == -1 || v > 1000000) {
		log_warnx("%s: %s %s: %s", q->name, mta_set_name(id), s,
		    err ? err : "too large");
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
	h->pref = -1;
}

/* Destination port when a route names none: the domain's smtp-port
 * (globally, smtp-port is the listener's), else default-smtp-port. */
static int
mta_queue_port(const struct mta_queue *q)
{
	struct cfg_node *n = mta_queue_node(q, MS_SMTP_PORT);
	int64_t v;
	const char *err;

	if (!mta_queue_scoped(n) || cfg_parse_int(n->arg, &v, &err) == -1 ||
	    v < 1 || v > 65535)
		n = mta_queue_node(q, MS_DEFAULT_SMTP_PORT);
	if (n == NULL || cfg_parse_int(n->arg, &v, &err) == -1 || v < 1 ||
	    v > 65535)
		return 25;
	return v;
}

/* route / smtp-hosts: one or more host[:port], comma separated.  The
 * seeds' `always-use-mx yes` overrides them: the domain's MX records
 * decide (a route set for a wider scope, say <domain *>, need not send a
 * domain with its own MX to a smarthost). */
static void
mta_queue_hosts(struct mta_queue *q)
{
	const char *v, *err;
	char *list, *p, *tok;
	int port, mx = 0;

	if ((v = mta_queue_str(q, MS_ALWAYS_USE_MX)) != NULL &&
	    cfg_parse_bool(v, &mx, &err) == 0 && mx)
		return;
	if ((v = mta_queue_str(q, MS_ROUTE)) == NULL &&
	    (v = mta_queue_str(q, MS_SMTP_HOSTS)) == NULL)
		return;
	port = mta_queue_port(q);
	list = p = xstrdup(v);
	while ((tok = strsep(&p, ", \t")) != NULL)
		if (*tok != '\0')
			mta_queue_add_host(q, tok, port);
	free(list);
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
	free(q->srcs);
	q->srcs = NULL;
	q->nsrcs = 0;
	free(q->resolve_to);
	q->resolve_to = NULL;
	free(q->pipe_cmd);
	q->pipe_cmd = NULL;
	free(q->pipe_user);
	q->pipe_user = NULL;
	free(q->dkim_headers);
	q->dkim_headers = NULL;
	free(q->tls_ca);
	q->tls_ca = NULL;
}

static void
mta_queue_rate(struct mta_queue *q, enum mta_set id, struct mta_bucket *b)
{
	struct cfg_rate r;
	const char *v, *err;

	if ((v = mta_queue_str(q, id)) == NULL ||
	    cfg_parse_rate(v, &r, &err) == -1) {
		b->on = 0;
		return;
	}
	mta_bucket_set(b, &r);
}

static int
mta_queue_word_no(const char *v)
{
	return strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0 ||
	    strcasecmp(v, "off") == 0 || strcmp(v, "0") == 0;
}

/* type pipe + command, or the seeds' local yes + mailbox-command. */
static void
mta_queue_pipe(struct mta_queue *q)
{
	const char *type, *local, *cmd;

	type = mta_queue_str(q, MS_TYPE);
	local = mta_queue_str(q, MS_LOCAL);
	if (!(type != NULL && strcasecmp(type, "pipe") == 0) &&
	    !(local != NULL && !mta_queue_word_no(local)))
		return;
	if ((cmd = mta_queue_str(q, MS_COMMAND)) == NULL &&
	    (cmd = mta_queue_str(q, MS_MAILBOX_COMMAND)) == NULL) {
		log_warnx("%s: pipe delivery without a command", q->name);
		return;
	}
	q->pipe_cmd = xstrdup(cmd);
	if ((cmd = mta_queue_str(q, MS_PIPE_USER)) != NULL)
		q->pipe_user = xstrdup(cmd);
}

/* use-starttls yes|no|if-available, require-starttls, the seeds' tls
 * required|if-available|no: one policy. */
static void
mta_queue_tls(struct mta_queue *q)
{
	const char *v;
	int req;

	q->tls_mode = MTA_TLS_OPPORTUNISTIC;
	if ((v = mta_queue_str(q, MS_USE_STARTTLS)) != NULL &&
	    mta_queue_word_no(v))
		q->tls_mode = MTA_TLS_NO;
	if ((v = mta_queue_str(q, MS_TLS)) != NULL) {
		if (strcasecmp(v, "required") == 0)
			q->tls_mode = MTA_TLS_REQUIRED;
		else if (mta_queue_word_no(v))
			q->tls_mode = MTA_TLS_NO;
		else
			q->tls_mode = MTA_TLS_OPPORTUNISTIC;
	}
	if ((v = mta_queue_str(q, MS_REQUIRE_STARTTLS)) != NULL &&
	    cfg_parse_bool(v, &req, &v) == 0 && req)
		q->tls_mode = MTA_TLS_REQUIRED;
}

/* Rates, sizes and recipients per transaction. */
static void
mta_queue_limits(struct mta_queue *q)
{
	const char *v, *err;
	int64_t secs;
	int a, b;

	mta_queue_rate(q, MS_MAX_MSG_RATE, &q->msg_rate);
	mta_queue_rate(q, MS_MAX_CONNECT_RATE, &q->conn_rate);
	if ((v = mta_queue_str(q, MS_DELIVERY_INTERVAL)) == NULL ||
	    cfg_parse_time(v, &secs, &err) == -1)
		secs = 0;
	mta_bucket_interval(&q->conn_ival, secs > 0 ? secs * 1000 : 0);
	q->max_size = 0;
	if ((v = mta_queue_str(q, MS_MAX_MESSAGE_SIZE)) != NULL &&
	    cfg_parse_size(v, &q->max_size, &err) == -1)
		q->max_size = 0;
	/* PowerMTA's max-rcpt-per-transaction and the seeds'
	 * max-rcpt-per-message: the smaller one that is set. */
	a = mta_queue_int(q, MS_MAX_RCPT_PER_TRANSACTION, 1000);
	b = mta_queue_int(q, MS_MAX_RCPT_PER_MESSAGE, 0);
	q->max_rcpt = a > 0 && (b <= 0 || a < b) ? a : b > 0 ? b : 0;
}

static void
mta_queue_settings(struct mta_queue *q)
{
	struct cfg_scope *old;
	const char *v;

	mta_queue_clear_settings(q);
	old = q->scope;
	q->scope = mta_scope_get(q->vmta, q->cfg_domain);
	cfg_scope_put(old);
	mta_queue_hosts(q);
	mta_srcip_settings(q);
	if ((v = mta_queue_str(q, MS_RESOLVE_TO)) != NULL)
		q->resolve_to = xstrdup(v);
	q->max_conn = mta_queue_int(q, MS_MAX_SMTP_OUT, MTA_DEFAULT_MAX_CONN);
	if (q->max_conn < 1)
		q->max_conn = 1;
	q->max_msg = mta_queue_int(q, MS_MAX_MSG_PER_CONNECTION, 0);
	q->conn_limit = q->max_conn;
	mta_queue_limits(q);
		mta_queue_pipe(q);
	if ((v = mta_queue_str(q, MS_DKIM_HEADERS)) != NULL)
		q->dkim_headers = xstrdup(v);
	if ((v = mta_queue_str(q, MS_SMTP_TLS_CA_FILE)) != NULL)
		q->tls_ca = xstrdup(v);
	q->pipeline_depth = mta_queue_int(q, MS_SMTP_PIPELINE_DEPTH, 0);
	q->no_pipelining = (v = mta_queue_str(q, MS_IGNORE_PIPELINING)) != NULL &&
	    !mta_queue_word_no(v);
	q->no_chunking = (v = mta_queue_str(q, MS_IGNORE_CHUNKING)) != NULL &&
	    !mta_queue_word_no(v);
	q->no_8bitmime = (v = mta_queue_str(q, MS_IGNORE_8BITMIME)) != NULL &&
	    !mta_queue_word_no(v);
	mta_queue_tls(q);
	q->tls_broken = 0;
	mta_backoff_settings(q);
	mta_timeout_settings(q);
	q->dkim_sign = (v = mta_queue_str(q, MS_DKIM_SIGN)) != NULL &&
	    (strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0 ||
	    strcasecmp(v, "on") == 0);
	q->dns_rotate = (v = mta_queue_str(q, MS_DNS_ROTATE)) != NULL &&
	    !mta_queue_word_no(v);
}

/* A new queue: name "domain/vmta", settings of cfg_domain's. */
static struct mta_queue *
mta_queue_new(const char *name, const char *domain, const char *cfg_domain)
{
	struct mta_queue *q;
	const char *slash;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		fatal("mta_queue_new");
	q->name = xstrdup(name);
	q->domain = xstrdup(domain);
	q->cfg_domain = xstrdup(cfg_domain);
	/* queued names the queue of no VMTA "domain/{default}". */
	if ((slash = strrchr(name, '/')) != NULL && slash[1] != '\0' &&
	    slash[1] != '{')
		q->vmta = xstrdup(slash + 1);
	TAILQ_INIT(&q->jobs);
	TAILQ_INIT(&q->sessions);
	mta_queue_settings(q);
	RB_INSERT(mta_queues, &queues, q);
	log_debug("queue %s: %d host(s), max %d connection(s), helo %s, "
	    "%d source address(es)", q->name, q->nhosts, q->max_conn, q->helo,
	    q->nsrcs);
	return q;
}

static struct mta_queue *
mta_queue_get(const char *name, const char *domain)
{
	struct mta_queue key, *q;

	key.name = (char *)name;
	if ((q = RB_FIND(mta_queues, &queues, &key)) != NULL)
		return q;
	return mta_queue_new(name, domain, domain);
}

static void
mta_queue_copy_mx(struct mta_queue *dst, const struct mta_queue *src)
{
	int i;

	mta_queue_free_hosts(dst->mx, dst->nmx);
	if ((dst->mx = calloc(src->nmx, sizeof(*dst->mx))) == NULL)
		fatal("mta_queue_copy_mx");
	for (i = 0; i < src->nmx; i++) {
		dst->mx[i] = src->mx[i];
		dst->mx[i].name = xstrdup(src->mx[i].name);
	}
	dst->nmx = src->nmx;
	dst->mx_expire = src->mx_expire;
}

/*
 * The rollup queue name ("NAME.rollup/vmta", domain "NAME.rollup") for
 * member: made with the settings of <domain NAME.rollup> when there is
 * one, else of member's domain; its hosts are member's MX hosts when
 * these are newer (a rollup does no lookup of its own).
 */
struct mta_queue *
mta_queue_rollup(const char *name, const char *domain,
    const struct mta_queue *member)
{
	struct mta_queue key, *q;

	key.name = (char *)name;
	if ((q = RB_FIND(mta_queues, &queues, &key)) == NULL) {
		q = mta_queue_new(name, domain,
		    mta_scope_has_block(member->vmta, domain) ? domain :
		    member->domain);
		q->rollup = 1;
	}
	if (q->nmx == 0 || member->mx_expire > q->mx_expire)
		mta_queue_copy_mx(q, member);
	return q;
}

static void	mta_queue_arm(struct mta_queue *, uint64_t);

/* Milliseconds until every rate of the queue has refilled (0: now). */
static uint64_t
mta_queue_refill_ms(struct mta_queue *q)
{
	struct mta_bucket *b[] = { &q->msg_rate, &q->backoff_rate,
	    &q->conn_rate, &q->conn_ival };
	uint64_t now = uv_now(daemon_loop()), w, max = 0;
	size_t i;

	for (i = 0; i < sizeof(b) / sizeof(b[0]); i++)
		if ((w = mta_bucket_wait(b[i], now)) > max)
			max = w;
	return max;
}

static void
mta_queue_maybe_free(struct mta_queue *q)
{
	uint64_t refill, linger, now;

	/* A queue in backoff stays, or it would forget it; so does one
	 * whose server's TLS is broken, or the retry would fail the same
	 * handshake again instead of going in clear. */
	mta_backoff_check(q);
	if (q->njobs > 0 || q->nsessions > 0 || q->backoff || q->tls_broken)
		return;
	/* queued's show queues: no connections any more (now, not at the
	 * next stats tick: a lingering queue is idle already). */
	if (q->stats_sent)
		mta_stats_send(q);
	/* A queue whose rates have not refilled stays too, and any queue
	 * for MTA_IDLE_TIMEOUT after its last work: a new queue starts with
	 * full buckets and the first source address, so messages that come
	 * one at a time, each delivered before the next, would go faster
	 * than max-msg-rate, max-connect-rate or delivery-interval allow,
	 * and all from the same address. */
	now = uv_now(daemon_loop());
	if (q->empty_since == 0)
		q->empty_since = now;
	linger = q->empty_since + MTA_IDLE_TIMEOUT > now ?
	    q->empty_since + MTA_IDLE_TIMEOUT - now : 0;
	if ((refill = mta_queue_refill_ms(q)) > linger)
		linger = refill;
	if (linger > 0) {
		mta_queue_arm(q, linger);
		return;
	}
	RB_REMOVE(mta_queues, &queues, q);
	mta_rollup_forget(q);
	if (q->timer != NULL)
		uv_close((uv_handle_t *)q->timer, mta_queue_timer_free);
	mta_backoff_clear(q);
	mta_dns_cancel(q->mxreq);
	mta_queue_free_hosts(q->mx, q->nmx);
	mta_queue_clear_settings(q);
	cfg_scope_put(q->scope);
	free(q->name);
	free(q->domain);
	free(q->cfg_domain);
	free(q->rollup_name);
	free(q->vmta);
	free(q);
}

void
mta_queue_add(struct mta_job *job)
{
	struct mta_queue *q;
	char diag[MTA_DIAG_MAX];

	q = mta_queue_get(job->queue, job->domain);
	if (q->max_size > 0 && job->env->size > q->max_size) {
		/* No receiver is asked: the limit is ours. */
		snprintf(diag, sizeof(diag), "message size %llu exceeds "
		    "max-message-size %llu for %s",
		    (unsigned long long)job->env->size,
		    (unsigned long long)q->max_size, q->domain);
		mta_job_fail(job, DLV_PERMFAIL, 0, "5.3.4", diag, NULL);
		mta_job_done(job);
		mta_queue_maybe_free(q);
		return;
	}
	if (q->pipe_cmd != NULL) {
		/* No SMTP: ternd runs the command (mta_local.c). */
		mta_local_deliver(job, q->pipe_cmd, q->pipe_user);
		mta_queue_maybe_free(q);
		return;
	}
	TAILQ_INSERT_TAIL(&q->jobs, job, qentry);
	q->njobs++;
	q->empty_since = 0;
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

static void
mta_queue_timer_cb(uv_timer_t *t)
{
	struct mta_queue *q = t->data;

	mta_queue_pump(q);
	mta_queue_maybe_free(q);
}

static void
mta_queue_timer_free(uv_handle_t *h)
{
	free(h);
}

/* Come back when a rate lets more work go. */
static void
mta_queue_arm(struct mta_queue *q, uint64_t ms)
{
	if (q->timer == NULL) {
		if ((q->timer = calloc(1, sizeof(*q->timer))) == NULL)
			fatal("mta_queue_arm");
		uv_timer_init(daemon_loop(), q->timer);
		q->timer->data = q;
	}
	if (uv_is_active((uv_handle_t *)q->timer) &&
	    uv_timer_get_due_in(q->timer) <= ms)
		return;
	uv_timer_start(q->timer, mta_queue_timer_cb, ms, 0);
}

/* The message rate that applies now: backoff-max-msg-rate in backoff. */
static struct mta_bucket *
mta_queue_rate_now(struct mta_queue *q)
{
	mta_backoff_check(q);
	return q->backoff && q->backoff_rate.on ? &q->backoff_rate :
	    &q->msg_rate;
}

void
mta_queue_wake(struct mta_queue *q, uint64_t ms)
{
	mta_queue_arm(q, ms);
}

/* The next job for a ready session, if max-msg-rate allows one now. */
struct mta_job *
mta_queue_take(struct mta_queue *q)
{
	uint64_t now = uv_now(daemon_loop());

	struct mta_bucket *rate = mta_queue_rate_now(q);

	if (q->njobs == 0)
		return NULL;
	if (!mta_bucket_take(rate, now)) {
		mta_queue_arm(q, mta_bucket_wait(rate, now));
		return NULL;
	}
	return mta_queue_next(q);
}

/* Whether a new connection may be opened now (and count it). */
static int
mta_queue_may_connect(struct mta_queue *q)
{
	uint64_t now = uv_now(daemon_loop()), w;

	/* No point connecting while no message may go. */
	if ((w = mta_bucket_wait(mta_queue_rate_now(q), now)) > 0 ||
	    (w = mta_bucket_wait(&q->conn_rate, now)) > 0 ||
	    (w = mta_bucket_wait(&q->conn_ival, now)) > 0) {
		mta_queue_arm(q, w);
		return 0;
	}
	mta_bucket_take(&q->conn_rate, now);
	mta_bucket_take(&q->conn_ival, now);
	return 1;
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
		q->rollup_state = 0;	/* the hosts may have changed */
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

/* One fixed host instead of the MX hosts. */
static void
mta_queue_literal(struct mta_queue *q, const char *name, size_t len,
    int port)
{
	mta_queue_free_hosts(q->mx, q->nmx);
	q->mx = calloc(1, sizeof(*q->mx));
	if (q->mx == NULL || (q->mx->name = strndup(name, len)) == NULL)
		fatal("mta_queue_literal");
	q->mx->port = port;
	q->nmx = 1;
	q->mx_expire = INT64_MAX;
}

/*
 * resolve-to HOST[:PORT]: look up HOST's MX instead of the domain's, or
 * connect to HOST itself when it is an address.  0: hosts are set.
 */
static int
mta_queue_resolve_to(struct mta_queue *q)
{
	struct in6_addr a;
	char host[256];
	const char *err;
	int port;

	if (cfg_parse_hostport(q->resolve_to, host, sizeof(host), &port,
	    mta_queue_port(q), &err) == -1)
		return -1;
	if (inet_pton(AF_INET, host, &a) != 1 &&
	    inet_pton(AF_INET6, host, &a) != 1)
		return -1;
	if (q->nmx == 0)
		mta_queue_literal(q, host, strlen(host), port);
	return 0;
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

	/* A rollup's hosts come from its members (mta_queue_rollup). */
	if (q->rollup)
		return q->nmx > 0 ? 0 : -1;
	if (q->domain[0] == '[') {
		/* An address literal is its own host, no DNS. */
		if (q->nmx == 0)
			mta_queue_literal(q, q->domain + 1,
			    strcspn(q->domain + 1, "]"), mta_queue_port(q));
		return 0;
	}
	if (q->resolve_to != NULL && mta_queue_resolve_to(q) == 0)
		return 0;
	if ((q->nmx == 0 || time(NULL) >= q->mx_expire) && q->mxreq == NULL) {
		q->mxreq = mta_dns_mx(q->resolve_to ? q->resolve_to :
		    q->domain, mta_queue_port(q), q->dns_rotate,
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

/* Connections the queue may have now: max-smtp-out, fewer while the
 * host refuses some, backoff-max-smtp-out in backoff. */
int
mta_queue_conn_max(const struct mta_queue *q)
{
	int limit;

	limit = q->conn_limit < q->max_conn ? q->conn_limit : q->max_conn;
	if (q->backoff && q->backoff_conn < limit)
		limit = q->backoff_conn;
	return limit;
}

/* The max-msg-rate in force, as written ("half of R" in backoff
 * without a backoff-max-msg-rate). */
const char *
mta_queue_rate_text(struct mta_queue *q)
{
	static char half[80];
	const char *v = NULL;

	if (mta_queue_rate_now(q) == &q->backoff_rate) {
		if (q->backoff_half &&
		    (v = mta_queue_str(q, MS_MAX_MSG_RATE)) != NULL) {
			snprintf(half, sizeof(half), "half of %s", v);
			return half;
		}
		v = mta_queue_str(q, MS_BACKOFF_MAX_MSG_RATE);
	}
	if (v == NULL)
		v = mta_queue_str(q, MS_MAX_MSG_RATE);
	return v ? v : "unlimited";
}

void
mta_queue_foreach(void (*fn)(struct mta_queue *))
{
	struct mta_queue *q, *tmp;

	RB_FOREACH_SAFE(q, mta_queues, &queues, tmp)
		fn(q);
}

void
mta_queue_pump(struct mta_queue *q)
{
	const struct sockaddr_storage *src;
	struct mta_session *s, *tmp;
	struct mta_queue *rq;
	struct mta_job *job;
	int want, limit;

	/* A rolled-up domain's own connections (it was alone with its MX
	 * hosts when they were made) take none of the rollup's work. */
	TAILQ_FOREACH_SAFE(s, &q->sessions, entry, tmp) {
		if (q->njobs == 0 || q->rollup_state == 2)
			break;
		if (mta_session_phase(s) == MTA_PHASE_IDLE &&
		    (job = mta_queue_take(q)) != NULL)
			mta_session_job(s, job);
	}
	if (mta_stopping() || q->njobs == 0)
		return;
	if (q->nhosts == 0 && mta_queue_mx(q) == -1)
		return;
	/* MX hosts known: a rolled-up domain's jobs go to its rollup. */
	if (q->nhosts == 0 && !q->rollup &&
	    (rq = mta_rollup_join(q)) != NULL) {
		mta_queue_pump(rq);
		return;
	}
	/* Each connecting session will take one job when it is ready. */
	want = q->njobs - mta_queue_count(q, MTA_PHASE_CONNECTING);
	limit = mta_queue_conn_max(q);
	while (want-- > 0 && q->nsessions < limit) {
		/* An address at its source-ip-max-smtp-out: the next
		 * session gone makes room (session_gone pumps again). */
		if (mta_queue_pick_source(q, &src) == -1 ||
		    !mta_queue_may_connect(q))
			break;
		s = mta_session_new(q, src);
		TAILQ_INSERT_TAIL(&q->sessions, s, entry);
		q->nsessions++;
		mta_session_start(s);
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

/* A job is done: its failures may put the queue into backoff. */
void
mta_queue_outcome(struct mta_job *job)
{
	struct mta_queue key, *q;
	uint32_t i;
	int act = 0;

	key.name = job->via ? job->via : job->queue;
	if ((q = RB_FIND(mta_queues, &queues, &key)) == NULL)
		return;
	for (i = 0; i < job->env->nrcpt; i++)
		if (job->res[i].status != DLV_OK)
			act |= mta_backoff_reply(q, &job->res[i]);
	/* The jobs waiting here share the fate (queued's own retry mode
	 * holds back the rest of a deferred queue). */
	if (act & MTA_ACT_BOUNCE)
		mta_queue_fail_waiting(q, DLV_PERMFAIL, 0, "5.0.0",
		    "queue bounced: a reply matched a bounce-queue pattern",
		    NULL);
	else if (act & MTA_ACT_DEFER)
		mta_queue_fail_waiting(q, DLV_TEMPFAIL, 1, "4.0.0",
		    "queue deferred: a reply matched a defer-queue pattern",
		    NULL);
}

/* skip-mx: the queue's connections to MX host name take no new work
 * (the skip itself is in mta_backoff.c). */
void
mta_queue_skip_mx(struct mta_queue *q, const char *name)
{
	struct mta_session *s;

	TAILQ_FOREACH(s, &q->sessions, entry)
		if (s->host != NULL && strcasecmp(s->host, name) == 0)
			s->stale = 1;
}

/* The MX host a new connection starts with: the first (in preference
 * order) that no skip-mx pattern took out; the skipped ones come last,
 * when the others fail too. */
int
mta_queue_first_mx(const struct mta_queue *q)
{
	int i;

	for (i = 0; i < q->nmx; i++)
		if (mta_backoff_mx_ok(q, q->mx[i].name))
			return i;
	return 0;
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

/* Connections made under the old config (route, source, port) take no
 * new work: idle ones close now, busy ones after their transaction; new
 * ones follow the new config. */
static void
mta_queue_stale_sessions(struct mta_queue *q)
{
	struct mta_session *s, *stmp;

	TAILQ_FOREACH_SAFE(s, &q->sessions, entry, stmp) {
		s->stale = 1;
		if (mta_session_phase(s) != MTA_PHASE_BUSY)
			mta_session_quit(s);
	}
}

void
mta_queue_reconfig(void)
{
	struct mta_queue *q, *tmp;

	mta_scope_reconfig();
	RB_FOREACH_SAFE(q, mta_queues, &queues, tmp) {
		mta_queue_settings(q);
		q->rollup_state = 0;	/* the rollup lists may have changed */
		/* The port or resolve-to may have changed (a rollup keeps
		 * its hosts until a member brings newer ones). */
		if (!q->rollup) {
			mta_queue_free_hosts(q->mx, q->nmx);
			q->mx = NULL;
			q->nmx = 0;
			q->mx_expire = 0;
		}
		mta_queue_stale_sessions(q);
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

/* The queue named (for the operator's commands), or NULL. */
struct mta_queue *
mta_queue_find(const char *name)
{
	struct mta_queue key;

	key.name = (char *)name;
	return RB_FIND(mta_queues, &queues, &key);
}

/* A new queued: no backoff it did not ask for stays forced. */
void
mta_queue_unforce_all(void)
{
	struct mta_queue *q, *tmp;

	RB_FOREACH_SAFE(q, mta_queues, &queues, tmp)
		if (q->backoff_forced)
			mta_backoff_unforce(q);
}
