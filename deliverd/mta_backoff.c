/*
 * mta_backoff.c - backoff mode of a queue.
 *
 * A queue goes into backoff when a receiver's reply matches a
 * `reply /REGEX/ mode=backoff` line of the queue's <smtp-pattern-list>,
 * or (the seeds' adaptive throttling) when `adaptive-max-smtp-out yes`
 * and `adaptive-soft-bounce-limit` soft failures come within a minute.
 * In backoff the queue keeps to `backoff-max-smtp-out` connections (half
 * of max-smtp-out when unset) and to `backoff-max-msg-rate` if set.
 *
 * Unlike PowerMTA, where backoff lasts until someone ends it, it always
 * ends by itself: after the matching line's `backoff-to-normal-after=`,
 * else `adaptive-backoff-interval`, else `backoff-to-normal-after`, else
 * 10 minutes, counted from the last deferral (an interval without
 * deferrals); a `mode=normal` reply ends it at once.  Every change is
 * logged.
 *
 * A pattern may also disable the source address the reply came on
 * (disable-source-ip, until reenable-after= / reenable-source-ip-after),
 * leave the MX host it came from for the next ones (skip-mx),
 * turn the soft failure into a bounce (bounce-rcpt, bounce-queue) or put
 * the queue into queued's retry mode (defer-queue); the last two also
 * fail the jobs waiting in the queue (mta_queue_outcome).
 *
 * The operator may force it (`tern set queue --mode=backoff`, through
 * queued: CTL_QUEUE_FORCE): that backoff lasts until `--mode=normal`.
 * The forced names are kept apart from the queues, which come and go
 * with their jobs, so a queue forced before its mail arrives starts in
 * backoff.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon.h"
#include "log.h"
#include "mta.h"
#include "util.h"
#include "proto.h"

#define BACKOFF_DEFAULT_MS	(10 * 60 * 1000)
#define SOFT_WINDOW_MS		60000
#define BACKOFF_TELL_MS		5000

struct mta_pattern {
	regex_t		 re;
	int		 mode;		/* 1: backoff, -1: normal, 0: other */
	int		 disable_ip;	/* disable-source-ip */
	int		 bounce_rcpt;	/* bounce-rcpt */
	int		 skip_mx;	/* skip-mx */
	int		 queue_act;	/* MTA_ACT_*: bounce-queue, defer-queue */
	int64_t		 reenable;	/* reenable-after= s, -1: not given */
	int64_t		 normal_after;	/* backoff-to-normal-after= s, -1 */
};

/*
 * What patterns took out of a queue's use, until a time (UINT64_MAX:
 * never): source addresses (disable-source-ip, until reenable-after= /
 * reenable-source-ip-after) and MX hosts (skip-mx, until reenable-after=
 * else SKIP_MX_DEFAULT_S).  Kept apart from the queues, which are freed
 * when they have no jobs, like the forced names.
 */
enum { OFF_IP, OFF_MX };
struct mta_off {
	char		*queue;
	int		 kind;		/* OFF_* */
	char		 what[256];	/* the IP, or the MX host name */
	uint64_t	 until;		/* uv_now() time */
};
#define OFF_MAX		4096
#define SKIP_MX_DEFAULT_S	(10 * 60)
static struct mta_off	*off;
static int		 noff;

#define FORCED_MAX	4096

static char	**forced;	/* queue names in forced backoff */
static int	  nforced;

void
mta_backoff_clear(struct mta_queue *q)
{
	int i;

	for (i = 0; i < q->npatterns; i++)
		regfree(&q->patterns[i].re);
	free(q->patterns);
	q->patterns = NULL;
	q->npatterns = 0;
}

/* The KEY=TIME (key given with its "=") of an action list, -1 if none
 * (or bad). */
static int64_t
mta_backoff_action_time(const struct cfg_node *n, const char *act,
    const char *key)
{
	const char *v, *err;
	char buf[32];
	size_t len;
	int64_t t;

	if ((v = strstr(act, key)) == NULL)
		return -1;
	v += strlen(key);
	len = strcspn(v, ", \t");
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, v, len);
	buf[len] = '\0';
	if (cfg_parse_time(buf, &t, &err) == -1 || t < 0 ||
	    t > 86400 * 365) {
		log_warnx("%s:%d: bad %s%s", n->file, n->line, key, buf);
		return -1;
	}
	return t;
}

/* "reply /REGEX/ ACTION[,ACTION...]" into a pattern; -1 if not usable. */
static int
mta_backoff_pattern(const struct cfg_node *n, struct mta_pattern *p)
{
	const char *a = n->arg, *end, *act;
	char *re;
	int r;

	if (a == NULL || a[0] != '/' || (end = strrchr(a + 1, '/')) == NULL)
		return -1;
	if ((re = strndup(a + 1, end - a - 1)) == NULL)
		fatal("mta_backoff_pattern");
	r = regcomp(&p->re, re, REG_EXTENDED | REG_ICASE | REG_NOSUB);
	free(re);
	if (r != 0) {
		log_warnx("%s:%d: bad reply pattern %s", n->file, n->line, a);
		return -1;
	}
	act = end + 1;
	p->mode = strstr(act, "mode=backoff") ? 1 :
	    strstr(act, "mode=normal") ? -1 : 0;
	p->disable_ip = strstr(act, "disable-source-ip") != NULL;
	p->bounce_rcpt = strstr(act, "bounce-rcpt") != NULL;
	p->skip_mx = strstr(act, "skip-mx") != NULL;
	p->queue_act = strstr(act, "bounce-queue") ? MTA_ACT_BOUNCE :
	    strstr(act, "defer-queue") ? MTA_ACT_DEFER : 0;
	p->reenable = mta_backoff_action_time(n, act, "reenable-after=");
	p->normal_after = mta_backoff_action_time(n, act,
	    "backoff-to-normal-after=");
	return 0;
}

static void
mta_backoff_patterns(struct mta_queue *q)
{
	struct cfg_node *b, *n;
	struct mta_pattern *p;
	const char *name;

	if ((name = mta_queue_str(q, MS_SMTP_PATTERN_LIST)) == NULL)
		return;
	for (b = cfg_child(mta_cfg()->root, "smtp-pattern-list"); b != NULL;
	    b = cfg_next_named(b, "smtp-pattern-list")) {
		if (b->arg == NULL || strcmp(b->arg, name) != 0)
			continue;
		for (n = cfg_child(b, "reply"); n != NULL;
		    n = cfg_next_named(n, "reply")) {
			p = reallocarray(q->patterns, q->npatterns + 1,
			    sizeof(*p));
			if (p == NULL)
				fatal("mta_backoff_patterns");
			q->patterns = p;
			if (mta_backoff_pattern(n, &p[q->npatterns]) == 0)
				q->npatterns++;
		}
	}
}

static void mta_backoff_forced_apply(struct mta_queue *);

/* Settings of the queue (again after a reload). */
void
mta_backoff_settings(struct mta_queue *q)
{
	struct cfg_rate r;
	const char *v, *err;
	int64_t t, n;

	mta_backoff_clear(q);
	mta_backoff_patterns(q);
	q->adaptive = (v = mta_queue_str(q, MS_ADAPTIVE_MAX_SMTP_OUT)) !=
	    NULL && cfg_parse_bool(v, &q->adaptive, &err) == 0 && q->adaptive;
	q->soft_limit = 0;
	if ((v = mta_queue_str(q, MS_ADAPTIVE_SOFT_BOUNCE_LIMIT)) != NULL &&
	    cfg_parse_int(v, &n, &err) == 0 && n < 1000000)
		q->soft_limit = n;
	q->backoff_ms = BACKOFF_DEFAULT_MS;
	if (((v = mta_queue_str(q, MS_ADAPTIVE_BACKOFF_INTERVAL)) !=
	    NULL || (v = mta_queue_str(q, MS_BACKOFF_TO_NORMAL_AFTER)) !=
	    NULL) && cfg_parse_time(v, &t, &err) == 0 && t > 0 &&
	    t < 86400 * 30)
		q->backoff_ms = t * 1000;
	q->reenable_ip = -1;
	if ((v = mta_queue_str(q, MS_REENABLE_SOURCE_IP_AFTER)) !=
	    NULL && cfg_parse_time(v, &t, &err) == 0 && t >= 0 &&
	    t < 86400 * 365)
		q->reenable_ip = t;
	q->backoff_conn = q->max_conn > 1 ? q->max_conn / 2 : 1;
	if ((v = mta_queue_str(q, MS_BACKOFF_MAX_SMTP_OUT)) != NULL &&
	    cfg_parse_int(v, &n, &err) == 0 && n >= 1 && n < 1000000)
		q->backoff_conn = n;
	q->backoff_rate.on = 0;
	q->backoff_half = 0;
	if ((v = mta_queue_str(q, MS_BACKOFF_MAX_MSG_RATE)) != NULL &&
	    cfg_parse_rate(v, &r, &err) == 0)
		mta_bucket_set(&q->backoff_rate, &r);
	else if (q->msg_rate.on) {
		/* Backoff is fewer connections and a lower rate: half of
		 * max-msg-rate when no backoff-max-msg-rate says. */
		q->backoff_rate = q->msg_rate;
		q->backoff_rate.per_ms /= 2;
		q->backoff_half = 1;
	}
	mta_backoff_forced_apply(q);
}

/* Tell queued, for `tern show queues`. */
static void
mta_backoff_tell(struct mta_queue *q, const char *why)
{
	struct mproc *p;

	if ((p = mta_queued()) == NULL)
		return;
	m_create(p, DLV_QUEUE_MODE, 0, -1);
	m_add_string(p, q->name);
	m_add_u32(p, q->backoff);
	m_add_u64(p, q->backoff ? (q->backoff_cur + 999) / 1000 : 0);
	m_add_string(p, why);
	m_close(p);
}

/* Into backoff (or longer in it) for ms: a pattern's
 * backoff-to-normal-after=, else the queue's backoff_ms. */
static void
mta_backoff_enter(struct mta_queue *q, const char *why, uint64_t ms)
{
	uint64_t now = uv_now(daemon_loop());

	q->backoff_cur = ms;
	q->backoff_until = now + ms;
	if (!q->backoff) {
		q->backoff = 1;
		log_info("queue %s: backoff mode (%s): at most %d "
		    "connection(s)%s, for %llds", q->name, why,
		    q->backoff_conn, q->backoff_half ?
		    ", half of max-msg-rate" : q->backoff_rate.on ?
		    ", backoff-max-msg-rate" : "",
		    (long long)(ms / 1000));
		q->backoff_told = q->backoff_until;
		mta_backoff_tell(q, why);
	}
	mta_queue_wake(q, ms);
}

/* A deferral in backoff: normal mode comes only after a whole interval
 * without one.  queued (show queues) hears of the new end when it moved
 * by some seconds, not at every deferral. */
static void
mta_backoff_extend(struct mta_queue *q)
{
	uint64_t now = uv_now(daemon_loop());

	if (!q->backoff || q->backoff_forced)
		return;
	q->backoff_until = now + q->backoff_cur;
	if (q->backoff_until >= q->backoff_told + BACKOFF_TELL_MS) {
		q->backoff_told = q->backoff_until;
		mta_backoff_tell(q, "deferrals go on");
	}
	mta_queue_wake(q, q->backoff_cur);
}

static void
mta_backoff_leave(struct mta_queue *q, const char *why)
{
	if (!q->backoff || q->backoff_forced)
		return;
	q->backoff = 0;
	q->soft_count = 0;
	log_info("queue %s: back to normal mode (%s)", q->name, why);
	mta_backoff_tell(q, why);
}

static int
mta_backoff_forced_find(const char *name)
{
	int i;

	for (i = 0; i < nforced; i++)
		if (strcmp(forced[i], name) == 0)
			return i;
	return -1;
}

/* A queue (new, or reconfigured) that the operator put in backoff. */
static void
mta_backoff_forced_apply(struct mta_queue *q)
{
	if (q->backoff_forced || mta_backoff_forced_find(q->name) == -1)
		return;
	mta_backoff_enter(q, "set by the operator", q->backoff_ms);
	q->backoff_forced = 1;
}

static void
mta_backoff_forced_forget(void)
{
	int i;

	for (i = 0; i < nforced; i++)
		free(forced[i]);
	free(forced);
	forced = NULL;
	nforced = 0;
}

/* CTL_QUEUE_FORCE from queued: name ("" all) into or out of backoff. */
void
mta_backoff_force(const char *name, int backoff)
{
	struct mta_queue *q;
	char **nv;
	int i;

	if (name[0] == '\0') {
		mta_backoff_forced_forget();
		mta_queue_unforce_all();
		return;
	}
	i = mta_backoff_forced_find(name);
	if (backoff && i == -1 && nforced < FORCED_MAX) {
		if ((nv = reallocarray(forced, nforced + 1,
		    sizeof(*nv))) == NULL)
			fatal("mta_backoff_force");
		forced = nv;
		forced[nforced++] = xstrdup(name);
	} else if (!backoff && i != -1) {
		free(forced[i]);
		forced[i] = forced[--nforced];
	}
	if ((q = mta_queue_find(name)) == NULL)
		return;
	if (backoff)
		mta_backoff_forced_apply(q);
	else
		mta_backoff_unforce(q);
}

/* Back to normal at once, as the operator said. */
void
mta_backoff_unforce(struct mta_queue *q)
{
	q->backoff_forced = 0;
	mta_backoff_leave(q, "set by the operator");
	mta_queue_pump(q);
}

/* Leave backoff when its time is up; called before the queue works. */
void
mta_backoff_check(struct mta_queue *q)
{
	if (q->backoff && uv_now(daemon_loop()) >= q->backoff_until)
		mta_backoff_leave(q, "backoff interval over");
}

static int
mta_off_find(int kind, const struct mta_queue *q, const char *what)
{
	int i;

	for (i = 0; i < noff; i++)
		if (off[i].kind == kind && strcasecmp(off[i].what, what) == 0 &&
		    strcmp(off[i].queue, q->name) == 0)
			return i;
	return -1;
}

/* Whether what (of kind) is still in use for q: 0 while it is off. */
static int
mta_off_ok(int kind, const struct mta_queue *q, const char *what)
{
	int i;

	if ((i = mta_off_find(kind, q, what)) == -1)
		return 1;
	if (uv_now(daemon_loop()) < off[i].until)
		return 0;
	log_info("queue %s: %s %s in use again", q->name,
	    kind == OFF_IP ? "source address" : "MX host", what);
	free(off[i].queue);
	off[i] = off[--noff];
	return 1;
}

/* Take what (of kind) out of q's use for secs (< 0: for good). */
static void
mta_off_add(int kind, struct mta_queue *q, const char *what, int64_t secs)
{
	struct mta_off *nv;
	int i;

	if ((i = mta_off_find(kind, q, what)) == -1) {
		if (noff >= OFF_MAX)
			return;
		if ((nv = reallocarray(off, noff + 1, sizeof(*nv))) == NULL)
			fatal("mta_off_add");
		off = nv;
		i = noff++;
		off[i].queue = xstrdup(q->name);
		off[i].kind = kind;
		strlcpy(off[i].what, what, sizeof(off[i].what));
	}
	off[i].until = secs < 0 ? UINT64_MAX :
	    uv_now(daemon_loop()) + (uint64_t)secs * 1000;
	if (secs >= 0)
		mta_queue_wake(q, (uint64_t)secs * 1000);
}

/* Whether the queue may bind to source address ip now. */
int
mta_backoff_ip_ok(const struct mta_queue *q, const char *ip)
{
	return mta_off_ok(OFF_IP, q, ip);
}

/* Whether the queue's connections may go to MX host name now. */
int
mta_backoff_mx_ok(const struct mta_queue *q, const char *name)
{
	return mta_off_ok(OFF_MX, q, name);
}

/* disable-source-ip: the queue stops using ip, for reenable-after=
 * else reenable-source-ip-after (else for good). */
static void
mta_backoff_ip_disable(struct mta_queue *q, const struct mta_pattern *p,
    const char *ip)
{
	int64_t secs = p->reenable >= 0 ? p->reenable : q->reenable_ip;

	if (ip == NULL || ip[0] == '\0' || strlen(ip) >= 64)
		return;
	mta_off_add(OFF_IP, q, ip, secs);
	if (secs < 0)
		log_info("queue %s: source address %s disabled", q->name, ip);
	else
		log_info("queue %s: source address %s disabled for %llds",
		    q->name, ip, (long long)secs);
}

/* skip-mx: the MX host of mta ("host (ip)") is left for the next ones,
 * for reenable-after= else SKIP_MX_DEFAULT_S; its connections of the
 * queue take no more work.  Mail stays queued, even after a 5xx. */
static void
mta_backoff_skip_mx(struct mta_queue *q, const struct mta_pattern *p,
    struct mta_result *r)
{
	int64_t secs = p->reenable >= 0 ? p->reenable : SKIP_MX_DEFAULT_S;
	char host[256];
	size_t len;

	if (r->status == DLV_PERMFAIL) {
		r->status = DLV_TEMPFAIL;
		if (r->dsn_status != NULL && r->dsn_status[0] == '5')
			r->dsn_status[0] = '4';
	}
	if (r->mta == NULL || (len = strcspn(r->mta, " ")) == 0 ||
	    len >= sizeof(host))
		return;
	memcpy(host, r->mta, len);
	host[len] = '\0';
	mta_off_add(OFF_MX, q, host, secs);
	log_info("queue %s: skipping MX host %s for %llds", q->name, host,
	    (long long)secs);
	mta_queue_skip_mx(q, host);
}

/* A soft failure made a bounce (bounce-rcpt, bounce-queue). */
static void
mta_backoff_harden(struct mta_result *r)
{
	if (r->status != DLV_TEMPFAIL)
		return;
	r->status = DLV_PERMFAIL;
	if (r->dsn_status != NULL && r->dsn_status[0] == '4')
		r->dsn_status[0] = '5';
}

/* The pattern a reply matches, with what it does to the result r (got
 * on a connection from r->src_ip); returns the MTA_ACT_* for the rest
 * of the queue. */
static int
mta_backoff_match(struct mta_queue *q, struct mta_result *r)
{
	const struct mta_pattern *p;
	char why[128];
	int i;

	for (i = 0; r->diag != NULL && i < q->npatterns; i++) {
		p = &q->patterns[i];
		if (regexec(&p->re, r->diag, 0, NULL, 0) != 0)
			continue;
		if (p->disable_ip)
			mta_backoff_ip_disable(q, p, r->src_ip);
		if (p->bounce_rcpt || p->queue_act == MTA_ACT_BOUNCE)
			mta_backoff_harden(r);
		if (p->skip_mx)
			mta_backoff_skip_mx(q, p, r);
		if (p->queue_act == MTA_ACT_DEFER &&
		    r->status == DLV_TEMPFAIL)
			r->conn_level = 1;	/* queued: retry mode */
		if (p->mode == 1) {
			snprintf(why, sizeof(why), "reply matched a pattern: "
			    "%.80s", r->diag);
			mta_backoff_enter(q, why, p->normal_after > 0 ?
			    (uint64_t)p->normal_after * 1000 : q->backoff_ms);
		} else if (p->mode == -1)
			mta_backoff_leave(q, "reply matched a mode=normal "
			    "pattern");
		return p->queue_act;
	}
	return 0;
}

/* A failure reply (or connection error) of the queue: the actions of
 * the pattern it matches, and the seeds' adaptive backoff.  Returns
 * MTA_ACT_* for the jobs still waiting in the queue. */
int
mta_backoff_reply(struct mta_queue *q, struct mta_result *r)
{
	uint64_t now = uv_now(daemon_loop());
	uint32_t status = r->status;
	char why[128];
	int act;

	if (status == DLV_TEMPFAIL)
		mta_backoff_extend(q);
	act = mta_backoff_match(q, r);
	if (status != DLV_TEMPFAIL || !q->adaptive || q->soft_limit <= 0)
		return act;
	if (now - q->soft_start > SOFT_WINDOW_MS) {
		q->soft_start = now;
		q->soft_count = 0;
	}
	if (++q->soft_count >= q->soft_limit) {
		snprintf(why, sizeof(why), "%d soft failures within a minute",
		    q->soft_count);
		mta_backoff_enter(q, why, q->backoff_ms);
	}
	return act;
}
