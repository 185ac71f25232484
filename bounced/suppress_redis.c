/*
 * suppress_redis.c - the suppression list shared by the nodes of a
 * <cluster>, through Redis (docs/cluster.md, "Shared suppression").
 *
 * bounced keeps its list as before (suppression.list, pushed to queued
 * and smtpd), so RCPT checks and deliveries never wait on Redis and go on
 * when it is away.  With <cluster> that list is a mirror of a Redis set:
 *
 *	PREFIX{suppression}:set	SET of "VMTA\tADDRESS" ("" VMTA: global)
 *	PREFIX{suppression}:log	STREAM of changes {op 1|0, m MEMBER, by ID},
 *				trimmed to about SUPR_LOG_MAX entries
 *
 * A change made here (an operator's `tern suppression add|remove`, a hard
 * bounce, a complaint) goes to the set and, when it changed the set, to
 * the log, in one Lua script (both keys share a hash slot).  Every
 * SUPR_POLL_MS each node reads the log after the last entry it applied
 * and applies what it finds (its own changes too: applying is
 * idempotent).  When it (re)connects, or finds entries trimmed away
 * before it read them, it resyncs: it notes the log's last entry, reads
 * the whole set (SSCAN) and makes its list equal to it.
 *
 * While Redis is away, changes made here wait in memory (at most
 * SUPR_PENDING_MAX) and are written before the resync reads the set when
 * it answers again.  When Redis has no log at all (a new cluster, or a
 * Redis that lost its data), the first node to resync seeds it with its
 * list, and the others take that list.  Limits: changes waiting when bounced restarts during
 * an outage are lost (the resync removes them from this node's list too);
 * past SUPR_PENDING_MAX, the next resync adds every local entry instead
 * (removals made meanwhile elsewhere come back).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounced.h"
#include "cluster_cfg.h"
#include "daemon.h"
#include "log.h"
#include "redis.h"
#include "suplist.h"
#include "util.h"

#define SUPR_POLL_MS		500
#define SUPR_POLL_COUNT		"500"
#define SUPR_SCAN_COUNT		"1000"
#define SUPR_LOG_MAX		"100000"
#define SUPR_PENDING_MAX	65536

/* KEYS set, log; ARGV op, member, by, maxlen.  1 if the set changed. */
static const char supr_change_lua[] =
    "local c\n"
    "if ARGV[1] == '1' then c = redis.call('SADD', KEYS[1], ARGV[2])\n"
    "else c = redis.call('SREM', KEYS[1], ARGV[2]) end\n"
    "if c == 1 then redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4],"
    " '*', 'op', ARGV[1], 'm', ARGV[2], 'by', ARGV[3]) end\n"
    "return c\n";

/* KEYS log; ARGV last id, count.  {first id or "", entries after}. */
static const char supr_poll_lua[] =
    "local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)\n"
    "local f = ''\n"
    "if #first > 0 then f = first[1][1] end\n"
    "return {f, redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+',"
    " 'COUNT', ARGV[2])}\n";

/* KEYS log.  {last id or "0-0", log exists}. */
static const char supr_mark_lua[] =
    "local l = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)\n"
    "local id = '0-0'\n"
    "if #l > 0 then id = l[1][1] end\n"
    "return {id, redis.call('EXISTS', KEYS[1])}\n";

struct supr_change {
	int		 add;
	char		*member;
};

static struct {
	int			 on;
	struct redis		*redis;
	char			*password;
	struct cluster_conf	 conf;
	char			 set_key[300], log_key[300];
	char			 me[32];	/* this process, in log entries */
	char			 last_id[64];	/* last log entry applied */
	int			 change_script, poll_script, mark_script;
	uv_timer_t		 timer;
	int			 timer_init;
	int			 synced;	/* resynced since connected */
	int			 busy;		/* a poll or resync running */
	int			 resyncing;
	struct suplist		*during;	/* changed here while resyncing */
	int			 overflow;	/* pending changes were dropped */
	struct supr_change	*pend;
	size_t			 npend;
	struct suplist		*scan;		/* resync: the set so far */
} sr;

static void	supr_resync(void);

/* --- members: "VMTA\tADDRESS" --- */

static void
supr_member(char *buf, size_t sz, const char *vmta, const char *addr)
{
	snprintf(buf, sz, "%s\t%s", vmta ? vmta : "", addr);
}

/* Split a member in place; NULL if it is none. */
static char *
supr_split(char *m, const char **vmta)
{
	char *tab = strchr(m, '\t');

	if (tab == NULL)
		return NULL;
	*tab = '\0';
	*vmta = *m ? m : NULL;
	return tab + 1;
}

static void
supr_apply(int add, const char *member)
{
	const char *vmta, *addr;
	char m[SUPLIST_MAXLINE * 2];

	strlcpy(m, member, sizeof(m));
	if ((addr = supr_split(m, &vmta)) != NULL)
		suppress_apply(add, vmta, addr, "cluster");
}

/* --- writing changes --- */

static void
supr_pending_add(int add, const char *member)
{
	if (sr.npend >= SUPR_PENDING_MAX) {
		if (!sr.overflow)
			log_warnx("cluster: %d suppression changes wait for "
			    "Redis: the next resync adds every local entry",
			    SUPR_PENDING_MAX);
		sr.overflow = 1;
		return;
	}
	if ((sr.pend = reallocarray(sr.pend, sr.npend + 1,
	    sizeof(*sr.pend))) == NULL)
		fatal("supr_pending_add");
	sr.pend[sr.npend].add = add;
	sr.pend[sr.npend].member = xstrdup(member);
	sr.npend++;
}

static void
supr_change_cb(struct redis *r, redisReply *reply, void *arg)
{
	struct supr_change *c = arg;

	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		/* Perhaps written, perhaps not: again, after a resync. */
		log_warnx("cluster: suppression change not stored in Redis "
		    "(%s): kept to send again", reply ? reply->str :
		    redis_last_error(r));
		if (sr.redis != NULL) {
			supr_pending_add(c->add, c->member);
			sr.synced = 0;
		}
	}
	free(c->member);
	free(c);
}

static void
supr_send(int add, const char *member)
{
	struct supr_change *c;
	const char *keys[2] = { sr.set_key, sr.log_key };
	const char *args[4] = { add ? "1" : "0", member, sr.me, SUPR_LOG_MAX };

	if ((c = calloc(1, sizeof(*c))) == NULL)
		fatal("supr_send");
	c->add = add;
	c->member = xstrdup(member);
	redis_eval(sr.redis, sr.change_script, supr_change_cb, c, 2, keys, 4,
	    args);
}

/* A change made on this node (suppress.c): to Redis, or to wait. */
void
supr_changed(int add, const char *vmta, const char *addr)
{
	char m[SUPLIST_MAXLINE * 2];

	if (!sr.on || sr.redis == NULL)
		return;
	supr_member(m, sizeof(m), vmta, addr);
	if (!redis_is_up(sr.redis) || (!sr.synced && !sr.resyncing)) {
		supr_pending_add(add, m);
		return;
	}
	supr_send(add, m);
	/* The set being read may or may not have it: the resync must not
	 * undo it (the log brings it back in any case). */
	if (sr.resyncing) {
		if (sr.during == NULL)
			sr.during = suplist_new();
		suplist_add(sr.during, vmta, addr);
	}
}

static void
supr_flush_pending(void)
{
	size_t i;

	for (i = 0; i < sr.npend; i++) {
		supr_send(sr.pend[i].add, sr.pend[i].member);
		free(sr.pend[i].member);
	}
	free(sr.pend);
	sr.pend = NULL;
	sr.npend = 0;
}

/* --- reading the log --- */

/* "MS-SEQ" as a pair; 0 if malformed. */
static int
supr_id(const char *s, unsigned long long *ms, unsigned long long *seq)
{
	return sscanf(s, "%llu-%llu", ms, seq) == 2;
}

static int
supr_id_after(const char *a, const char *b)
{
	unsigned long long am, as, bm, bs;

	if (!supr_id(a, &am, &as) || !supr_id(b, &bm, &bs))
		return 0;
	return am > bm || (am == bm && as > bs);
}

/* One entry: [id, [field, value, ...]]. */
static void
supr_entry(const redisReply *e)
{
	const redisReply *f;
	const char *op = NULL, *m = NULL;
	size_t i;

	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
	    e->element[0]->type != REDIS_REPLY_STRING ||
	    e->element[1]->type != REDIS_REPLY_ARRAY)
		return;
	f = e->element[1];
	for (i = 0; i + 1 < f->elements; i += 2) {
		if (f->element[i]->type != REDIS_REPLY_STRING ||
		    f->element[i + 1]->type != REDIS_REPLY_STRING)
			continue;
		if (strcmp(f->element[i]->str, "op") == 0)
			op = f->element[i + 1]->str;
		else if (strcmp(f->element[i]->str, "m") == 0)
			m = f->element[i + 1]->str;
	}
	if (op != NULL && m != NULL)
		supr_apply(strcmp(op, "1") == 0, m);
	strlcpy(sr.last_id, e->element[0]->str, sizeof(sr.last_id));
}

static void	supr_poll(void);

static void
supr_poll_cb(struct redis *r, redisReply *reply, void *arg)
{
	const redisReply *first, *list;
	size_t i;

	sr.busy = 0;
	if (sr.redis == NULL)
		return;
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 2 ||
	    reply->element[1]->type != REDIS_REPLY_ARRAY) {
		sr.synced = 0;
		return;
	}
	first = reply->element[0];
	list = reply->element[1];
	if (strcmp(sr.last_id, "0-0") != 0 &&
	    first->type == REDIS_REPLY_STRING && first->len > 0 &&
	    supr_id_after(first->str, sr.last_id)) {
		log_info("cluster: suppression log trimmed past what this "
		    "node read: resync");
		supr_resync();
		return;
	}
	for (i = 0; i < list->elements; i++)
		supr_entry(list->element[i]);
	if (list->elements == (size_t)atoi(SUPR_POLL_COUNT))
		supr_poll();	/* more waiting */
}

static void
supr_poll(void)
{
	const char *keys[1] = { sr.log_key };
	const char *args[2] = { sr.last_id, SUPR_POLL_COUNT };

	sr.busy = 1;
	redis_eval(sr.redis, sr.poll_script, supr_poll_cb, NULL, 1, keys, 2,
	    args);
}

/* --- resync: the list becomes the set --- */

struct supr_diff {
	char		**members;
	size_t		 n;
};

static void
supr_collect(const char *vmta, const char *addr, void *arg)
{
	struct supr_diff *d = arg;
	char m[SUPLIST_MAXLINE * 2];

	if (sr.during != NULL && suplist_remove(sr.during, vmta, addr) == 1)
		return;		/* changed here meanwhile: keep */
	supr_member(m, sizeof(m), vmta, addr);
	if ((d->members = reallocarray(d->members, d->n + 1,
	    sizeof(char *))) == NULL)
		fatal("supr_diff_one");
	d->members[d->n++] = xstrdup(m);
}

/* A local entry: in both lists, it is crossed off the scan; else it is
 * only local. */
static void
supr_diff_one(const char *vmta, const char *addr, void *arg)
{
	if (suplist_remove(sr.scan, vmta, addr) != 1)
		supr_collect(vmta, addr, arg);
}

static void
supr_apply_all(struct supr_diff *d, int add)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		supr_apply(add, d->members[i]);
		free(d->members[i]);
	}
	free(d->members);
	memset(d, 0, sizeof(*d));
}

/* A resync ended, done or failed. */
static void
supr_resync_end(void)
{
	suplist_free(sr.scan);
	sr.scan = NULL;
	suplist_free(sr.during);
	sr.during = NULL;
	sr.resyncing = 0;
	sr.busy = 0;
}

/* Every local entry to Redis (a new set, or after an overflow). */
static void
supr_push_one(const char *vmta, const char *addr, void *arg)
{
	char m[SUPLIST_MAXLINE * 2];

	supr_member(m, sizeof(m), vmta, addr);
	supr_send(1, m);
}

static void
supr_resync_done(void)
{
	struct supr_diff gone = { 0 }, added = { 0 };
	size_t before = suplist_count(suppress_list());

	suplist_foreach(suppress_list(), supr_diff_one, &gone);
	suplist_foreach(sr.scan, supr_collect, &added);
	supr_apply_all(&gone, 0);
	supr_apply_all(&added, 1);
	supr_resync_end();
	sr.synced = 1;
	log_info("cluster: suppression list in sync with Redis (%zu "
	    "entries, was %zu)", suplist_count(suppress_list()), before);
}

static void
supr_scan_cb(struct redis *r, redisReply *reply, void *arg)
{
	const redisReply *items;
	size_t i;
	char m[SUPLIST_MAXLINE * 2];
	const char *vmta, *addr;

	if (sr.redis == NULL)
		return;
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 2 ||
	    reply->element[0]->type != REDIS_REPLY_STRING ||
	    reply->element[1]->type != REDIS_REPLY_ARRAY) {
		supr_resync_end();
		return;		/* not synced: tried again */
	}
	items = reply->element[1];
	for (i = 0; i < items->elements; i++) {
		if (items->element[i]->type != REDIS_REPLY_STRING)
			continue;
		strlcpy(m, items->element[i]->str, sizeof(m));
		if ((addr = supr_split(m, &vmta)) != NULL)
			suplist_add(sr.scan, vmta, addr);
	}
	if (strcmp(reply->element[0]->str, "0") == 0)
		supr_resync_done();
	else
		redis_cmd(sr.redis, sr.set_key, supr_scan_cb, NULL,
		    "SSCAN %s %s COUNT " SUPR_SCAN_COUNT, sr.set_key,
		    reply->element[0]->str);
}

static void
supr_mark_cb(struct redis *r, redisReply *reply, void *arg)
{
	if (sr.redis == NULL)
		return;
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 2 ||
	    reply->element[0]->type != REDIS_REPLY_STRING) {
		supr_resync_end();
		return;
	}
	strlcpy(sr.last_id, reply->element[0]->str, sizeof(sr.last_id));
	/*
	 * No log: a new cluster, or a Redis that lost its data (an empty set
	 * does not exist in Redis, but the log of its changes does).  The
	 * first node to find no log seeds it with its list; nodes that
	 * resync later take that list.  Else
	 * the changes made here while Redis was away go first (on the
	 * connection of the keys' slot, so before the set is read).
	 */
	if (reply->element[1]->integer == 0 || sr.overflow) {
		log_info("cluster: %s: this node's suppression list goes to "
		    "Redis", sr.overflow ? "changes were dropped while Redis "
		    "was away" : "no suppression log in Redis");
		suplist_foreach(suppress_list(), supr_push_one, NULL);
		sr.overflow = 0;
	}
	supr_flush_pending();
	suplist_free(sr.scan);
	sr.scan = suplist_new();
	redis_cmd(sr.redis, sr.set_key, supr_scan_cb, NULL,
	    "SSCAN %s 0 COUNT " SUPR_SCAN_COUNT, sr.set_key);
}

/* Note the log's end, then read the whole set. */
static void
supr_resync(void)
{
	const char *keys[1] = { sr.log_key };

	sr.busy = 1;
	sr.resyncing = 1;
	sr.synced = 0;
	redis_eval(sr.redis, sr.mark_script, supr_mark_cb, NULL, 1, keys, 0,
	    NULL);
}

/* --- timer, connection, configuration --- */

static void
supr_tick(uv_timer_t *t)
{
	if (sr.redis == NULL || sr.busy || !redis_is_up(sr.redis))
		return;
	if (!sr.synced)
		supr_resync();
	else
		supr_poll();
}

static void
supr_state_cb(struct redis *r, int up, void *arg)
{
	if (!up) {
		sr.synced = 0;
		log_warnx("cluster: Redis away (%s): suppression changes "
		    "made here wait", redis_last_error(r));
	} else
		supr_tick(NULL);
}

static void
supr_disconnect(void)
{
	struct redis *r = sr.redis;

	if (sr.timer_init)
		uv_timer_stop(&sr.timer);
	sr.redis = NULL;
	sr.synced = 0;
	if (r != NULL)
		redis_free(r);
	supr_resync_end();
}

static void
supr_connect(void)
{
	struct redis_opts o;

	cluster_cfg_opts(&sr.conf, sr.password, &o);
	o.state_cb = supr_state_cb;
	snprintf(sr.set_key, sizeof(sr.set_key), "%s{suppression}:set",
	    sr.conf.prefix);
	snprintf(sr.log_key, sizeof(sr.log_key), "%s{suppression}:log",
	    sr.conf.prefix);
	snprintf(sr.me, sizeof(sr.me), "%.20s-%08x", sr.conf.node,
	    arc4random());
	strlcpy(sr.last_id, "0-0", sizeof(sr.last_id));
	sr.redis = redis_new(daemon_loop(), &o);
	sr.change_script = redis_script(sr.redis, supr_change_lua);
	sr.poll_script = redis_script(sr.redis, supr_poll_lua);
	sr.mark_script = redis_script(sr.redis, supr_mark_lua);
	if (!sr.timer_init) {
		uv_timer_init(daemon_loop(), &sr.timer);
		sr.timer_init = 1;
	}
	uv_timer_start(&sr.timer, supr_tick, SUPR_POLL_MS, SUPR_POLL_MS);
	log_info("cluster: suppression list shared through Redis %s",
	    sr.conf.seeds[0]);
}

/* The configuration was loaded or reloaded; started: bounced runs. */
void
supr_configure(const struct cfg *cfg, int started)
{
	const struct cfg_node *c = cluster_cfg_block(cfg);
	struct cluster_conf old = sr.conf;

	sr.on = c != NULL;
	if (!sr.on) {
		if (sr.redis != NULL)
			log_info("cluster: <cluster> removed: the suppression "
			    "list is this node's own");
		supr_disconnect();
		return;
	}
	cluster_cfg_read(c, &sr.conf);
	if (!started)
		return;
	if (sr.redis != NULL && (old.nseeds != sr.conf.nseeds ||
	    memcmp(old.seeds, sr.conf.seeds, sizeof(old.seeds)) != 0 ||
	    strcmp(old.prefix, sr.conf.prefix) != 0))
		supr_disconnect();
	if (sr.redis == NULL)
		supr_connect();
}

/* CLUSTER_PASSWORD from ternd, before IMSG_START. */
void
supr_password(struct msg *m)
{
	cluster_cfg_password(&sr.password, m);
}

void
supr_shutdown(void)
{
	size_t i;

	supr_disconnect();
	for (i = 0; i < sr.npend; i++)
		free(sr.pend[i].member);
	free(sr.pend);
	sr.pend = NULL;
	sr.npend = 0;
	if (sr.timer_init) {
		uv_close((uv_handle_t *)&sr.timer, NULL);
		sr.timer_init = 0;
	}
	free(sr.password);
	sr.password = NULL;
}
