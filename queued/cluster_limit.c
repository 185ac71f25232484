/*
 * cluster_limit.c - the limits a receiver sees, held for all the nodes of
 * a <cluster> together (cluster.c has the connection and the mode).
 *
 *	what					Redis key (PREFIX...)	kind
 *	max-smtp-out in a <domain> block	{q:QUEUE}:conn		lease
 *	max-connect-rate of a queue		{q:QUEUE}:crate		bucket
 *	max-smtp-out in a <virtual-mta> block	{v:VMTA}:conn		lease
 *	max-smtp-out in a <source-pool> block	{p:CIDR}:conn		lease
 *	max-msg-rate of a queue			{q:QUEUE}:mrate		bucket
 *
 * Leases: a connection slot (sched_slot.c) is granted only once it holds
 * a lease on each shared limit it falls under: a member "NODE/W/ID" of
 * the key's sorted set, scored with its expiry.  The holder renews all
 * its leases on each heartbeat, one EVALSHA per key and all of them
 * pipelined; a node that dies stops renewing and its leases expire after
 * lease-time.  The connect-rate token is taken in the same script as the
 * queue's lease (same {hash tag}), so a refused lease costs no token.
 *
 * Buckets: a token bucket per key (tokens, last fill, Redis clock), one
 * bucket step deep; max-msg-rate tokens are taken in chunks (a quarter
 * of a second's worth, at most 64, at most what is queued) so a busy
 * queue costs one round trip per chunk, not per message.  queued hands a
 * job to deliverd only with a token.
 *
 * Degraded mode (Redis away): leases are counted here against
 * ceil(limit / live nodes), rates run from a local bucket at rate / live
 * nodes.  Back in shared mode the next renewal registers every lease
 * held meanwhile.
 */
#include <sys/tree.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "log.h"
#include "queued.h"
#include "redis.h"
#include "util.h"

#define CL_RETRY_MS		100	/* a refused lease asks again after */
#define CL_CHUNK_MAX		64	/* max-msg-rate tokens per round trip */
#define CL_TOKEN_AGE_MS		1000	/* unused tokens are dropped after */
#define CL_HOLD_MAX		3	/* shared limits of one connection */

/* Lua: a token bucket, one step deep at least.  Returns got, wait (ms
 * until a token), used (tokens taken in the current minute). */
#define CL_LUA_BUCKET \
    "local function take(key, now, per_ms, burst, want)\n" \
    "  local b = redis.call('HMGET', key, 't', 'v', 'm', 'c')\n" \
    "  local last = tonumber(b[1]) or now\n" \
    "  local v = tonumber(b[2]) or burst\n" \
    "  local m = tonumber(b[3]) or now\n" \
    "  local c = tonumber(b[4]) or 0\n" \
    "  if now > last then v = math.min(burst, v + (now - last) * per_ms) end\n" \
    "  local got = math.max(0, math.min(want, math.floor(v + 1e-9)))\n" \
    "  v = v - got\n" \
    "  if now - m >= 60000 then m = now; c = 0 end\n" \
    "  c = c + got\n" \
    "  redis.call('HSET', key, 't', now, 'v', tostring(v), 'm', m, 'c', c)\n" \
    "  redis.call('PEXPIRE', key, math.ceil(burst / per_ms) + 120000)\n" \
    "  local wait = 0\n" \
    "  if got == 0 then wait = math.ceil((1 - v) / per_ms) end\n" \
    "  return got, wait, c\n" \
    "end\n" \
    "local t = redis.call('TIME')\n" \
    "local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"

/* KEYS: lease set [, connect bucket]; ARGV: member, limit (-1: none),
 * lease ms [, per_ms, burst].  Returns {granted, holders, wait}. */
static const char cl_lease_lua[] = CL_LUA_BUCKET
    "local k = KEYS[1]\n"
    "redis.call('ZREMRANGEBYSCORE', k, '-inf', now)\n"
    "local n = redis.call('ZCARD', k)\n"
    "local lim = tonumber(ARGV[2])\n"
    "if lim >= 0 and n >= lim then return {0, n, 0} end\n"
    "if #KEYS > 1 then\n"
    "  local got, wait = take(KEYS[2], now, tonumber(ARGV[4]),"
    " tonumber(ARGV[5]), 1)\n"
    "  if got == 0 then return {0, n, wait} end\n"
    "end\n"
    "redis.call('ZADD', k, now + tonumber(ARGV[3]), ARGV[1])\n"
    "redis.call('PEXPIRE', k, 2 * tonumber(ARGV[3]))\n"
    "return {1, n + 1, 0}\n";

/* KEYS: lease set; ARGV: lease ms, members...  Returns the holders. */
static const char cl_renew_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
    "for i = 2, #ARGV do\n"
    "  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i])\n"
    "end\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
    "redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[1]))\n"
    "return redis.call('ZCARD', KEYS[1])\n";

/* KEYS: bucket; ARGV: per_ms, burst, want.  Returns {got, wait, used}. */
static const char cl_take_lua[] = CL_LUA_BUCKET
    "local got, wait, c = take(KEYS[1], now, tonumber(ARGV[1]),"
    " tonumber(ARGV[2]), tonumber(ARGV[3]))\n"
    "return {got, wait, c}\n";

enum { CL_LEASE = 1, CL_RATE };

/* One shared limit. */
struct climit {
	RB_ENTRY(climit) entry;
	char		 key[400];	/* the Redis key */
	char		 what[300];	/* for show status: "QUEUE" */
	const char	*kind;		/* "max-smtp-out", ... */
	int		 type;		/* CL_LEASE, CL_RATE */
	int64_t		 limit;		/* lease: holders, -1: none */
	char		 ratetext[64];	/* rate: as written */
	double		 per_ms;	/* rate: tokens a millisecond */
	int		 burst;		/* rate: bucket depth, chunk */
	/* a lease's connect-rate bucket (same {hash tag}) */
	char		 ckey[400];
	double		 c_per_ms;
	/* state */
	int		 held;		/* leases of this node */
	int64_t		 used;		/* holders / tokens this minute, last
					 * Redis said */
	int		 tokens;	/* rate: taken, not used yet */
	int64_t		 tokens_at;
	int		 fetching;
	int64_t		 next_try;
	double		 local;		/* degraded: the local bucket */
	double		 clocal;	/* degraded: connect bucket */
	int64_t		 local_at, clocal_at;
	int		 seen;		/* in the current config */
};

RB_HEAD(climits, climit);

static int
climit_cmp(struct climit *a, struct climit *b)
{
	return strcmp(a->key, b->key);
}

RB_PROTOTYPE(climits, climit, entry, climit_cmp);
RB_GENERATE(climits, climit, entry, climit_cmp);

/* The shared limits one connection slot holds. */
struct cluster_hold {
	TAILQ_ENTRY(cluster_hold) entry;
	char		 member[200];
	struct climit	*lim[CL_HOLD_MAX];
	int		 granted[CL_HOLD_MAX];
	int		 n;
	int		 state;		/* CL_H_* */
	int		 pending;	/* replies awaited */
	int		 failed;	/* a reply was missing */
	int64_t		 wait;		/* ms, the longest a reply said */
	int64_t		 until;		/* CL_H_WAIT: ask again then */
	int		 freed;		/* released while asking */
};
enum { CL_H_NEW = 0, CL_H_ASKING, CL_H_OK, CL_H_WAIT };
TAILQ_HEAD(cluster_holds, cluster_hold);

static struct climits		 limits = RB_INITIALIZER(&limits);
static struct cluster_holds	 holds = TAILQ_HEAD_INITIALIZER(holds);
static int			 sc_lease = -1, sc_renew = -1, sc_take = -1;
static uv_timer_t		 kick_timer;
static int			 kick_init;
static int64_t			 kick_due;

void
cluster_limit_scripts(struct redis *r)
{
	sc_lease = redis_script(r, cl_lease_lua);
	sc_renew = redis_script(r, cl_renew_lua);
	sc_take = redis_script(r, cl_take_lua);
}

/* --- waking the scheduler --- */

static void
cl_kick_cb(uv_timer_t *t)
{
	kick_due = 0;
	sched_slot_reconfigure();
	sched_kick();
}

/* Look at the waiting slots and the queues again in `ms`. */
static void
cl_kick(int64_t ms)
{
	int64_t due = now_ms() + (ms < 1 ? 1 : ms);

	if (!kick_init) {
		uv_timer_init(qd->loop, &kick_timer);
		uv_unref((uv_handle_t *)&kick_timer);
		kick_init = 1;
	}
	if (kick_due != 0 && kick_due <= due)
		return;
	kick_due = due;
	uv_timer_start(&kick_timer, cl_kick_cb, due - now_ms(), 0);
}

/* --- the limits --- */

static struct climit *
cl_get(const char *key)
{
	struct climit key_, *l;

	strlcpy(key_.key, key, sizeof(key_.key));
	if ((l = RB_FIND(climits, &limits, &key_)) != NULL)
		return l;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		fatal("cl_get");
	strlcpy(l->key, key, sizeof(l->key));
	l->limit = -1;
	RB_INSERT(climits, &limits, l);
	return l;
}

static int
cl_rate(const char *v, struct cfg_rate *r)
{
	const char *err;

	return v != NULL && cfg_parse_rate(v, r, &err) == 0 &&
	    !r->unlimited && r->count > 0 && r->per_secs > 0;
}

static double
cl_per_ms(const struct cfg_rate *r)
{
	return (double)r->count / ((double)r->per_secs * 1000.0);
}

/* The queue's own limits: max-smtp-out set in a <domain> block, and
 * max-connect-rate; NULL when neither is set. */
static struct climit *
cl_queue_lease(const char *queue, const char *vmta)
{
	struct cfg_node *n, *cr;
	struct cfg_rate rate;
	struct climit *l;
	const char *err;
	char key[400], domain[300];
	int64_t max = -1;

	strlcpy(domain, queue, sizeof(domain));
	domain[strcspn(domain, "/")] = '\0';
	n = sched_cfg_node(vmta, domain, QS_MAX_SMTP_OUT);
	if (n != NULL && (n->parent == NULL || n->parent->def == NULL ||
	    strcmp(n->parent->name, "domain") != 0 ||
	    cfg_parse_int(n->arg, &max, &err) == -1))
		max = -1;
	cr = sched_cfg_node(vmta, domain, QS_MAX_CONNECT_RATE);
	if (!cl_rate(cr ? cr->arg : NULL, &rate) && max < 0)
		return NULL;
	l = cl_get(cluster_key(key, sizeof(key), "{q:%s}:conn", queue));
	l->type = CL_LEASE;
	l->kind = "max-smtp-out";
	strlcpy(l->what, queue, sizeof(l->what));
	l->limit = max;
	l->ckey[0] = '\0';
	if (cr != NULL && cl_rate(cr->arg, &rate)) {
		cluster_key(l->ckey, sizeof(l->ckey), "{q:%s}:crate", queue);
		l->c_per_ms = cl_per_ms(&rate);
		strlcpy(l->ratetext, cr->arg, sizeof(l->ratetext));
	}
	l->seen = 1;
	return l;
}

/* max-smtp-out in a <virtual-mta> or <source-pool> block. */
static struct climit *
cl_block_lease(const char *what, const char *tag, const char *name,
    const struct cfg_node *block)
{
	struct cfg_node *n;
	struct climit *l;
	const char *err;
	char key[400];
	int64_t max;

	if (block == NULL || name == NULL ||
	    (n = cfg_child(block, "max-smtp-out")) == NULL ||
	    n->arg == NULL || cfg_parse_int(n->arg, &max, &err) == -1)
		return NULL;
	l = cl_get(cluster_key(key, sizeof(key), "{%s:%s}:conn", tag, name));
	l->type = CL_LEASE;
	l->kind = what;
	strlcpy(l->what, name, sizeof(l->what));
	l->limit = max;
	l->seen = 1;
	return l;
}

/* This node's share of a limit while Redis is away (at least 1). */
static int64_t
cl_share(int64_t limit)
{
	int live = cluster_live_nodes();

	return limit < 0 ? INT64_MAX : (limit + live - 1) / live;
}

/* A local bucket at rate / live nodes, one token deep. */
static int
cl_local_take(double *tokens, int64_t *at, double per_ms, int64_t *wait)
{
	int64_t now = now_ms();
	double rate = per_ms / cluster_live_nodes();

	if (*at == 0)
		*tokens = 1.0;
	else if (now > *at)
		*tokens += (double)(now - *at) * rate;
	if (*tokens > 1.0)
		*tokens = 1.0;
	*at = now;
	if (*tokens >= 1.0 - 1e-9) {
		*tokens -= 1.0;
		return 1;
	}
	*wait = (int64_t)ceil((1.0 - *tokens) / rate);
	return 0;
}

/* --- connection slots --- */

static void
cl_hold_free(struct cluster_hold *h)
{
	free(h);
}

static void
cl_release_one(struct cluster_hold *h, int i)
{
	const char *argv[3];

	if (!h->granted[i])
		return;
	h->granted[i] = 0;
	h->lim[i]->held--;
	if (h->lim[i]->used > 0)
		h->lim[i]->used--;	/* until Redis says again */
	if (!cluster_shared())
		return;		/* expires by itself */
	argv[0] = "ZREM";
	argv[1] = h->lim[i]->key;
	argv[2] = h->member;
	redis_cmd_argv(cluster_redis(), h->lim[i]->key, NULL, NULL, 3, argv);
}

/* Degraded: each limit against this node's share. */
static int
cl_acquire_local(struct cluster_hold *h)
{
	int64_t wait = CL_RETRY_MS;
	struct climit *l;
	int i;

	for (i = 0; i < h->n; i++)
		if (h->lim[i]->held >= cl_share(h->lim[i]->limit))
			return 0;
	for (i = 0; i < h->n; i++) {
		l = h->lim[i];
		if (l->ckey[0] != '\0' && !cl_local_take(&l->clocal,
		    &l->clocal_at, l->c_per_ms, &wait)) {
			h->until = now_ms() + wait;
			return 0;
		}
	}
	for (i = 0; i < h->n; i++) {
		h->granted[i] = 1;
		h->lim[i]->held++;
	}
	return 1;
}

static void
cl_hold_wait(struct cluster_hold *h, int64_t ms)
{
	h->state = CL_H_WAIT;
	h->until = now_ms() + (ms < CL_RETRY_MS ? CL_RETRY_MS : ms);
	cl_kick(h->until - now_ms());
}

/* All the replies of an ask are in. */
static void
cl_hold_answered(struct cluster_hold *h)
{
	int i, all = 1;

	if (h->freed) {
		for (i = 0; i < h->n; i++)
			cl_release_one(h, i);
		cl_hold_free(h);
		return;
	}
	for (i = 0; i < h->n; i++)
		all &= h->granted[i];
	if (all) {
		h->state = CL_H_OK;
		cl_kick(0);
		return;
	}
	for (i = 0; i < h->n; i++)
		cl_release_one(h, i);
	if (h->failed) {	/* degraded now: decide locally */
		h->state = CL_H_NEW;
		cl_kick(0);
		return;
	}
	cl_hold_wait(h, h->wait);
}

struct cl_ask {
	struct cluster_hold	*h;
	int			 i;
};

static void
cl_lease_cb(struct redis *r, redisReply *reply, void *arg)
{
	struct cl_ask *a = arg;
	struct cluster_hold *h = a->h;
	int i = a->i;

	free(a);
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 3) {
		h->failed = 1;
		cluster_failed(reply && reply->type == REDIS_REPLY_ERROR ?
		    reply->str : redis_last_error(r));
	} else {
		h->lim[i]->used = reply->element[1]->integer;
		if (reply->element[0]->integer == 1) {
			h->granted[i] = 1;
			h->lim[i]->held++;
		} else if (reply->element[2]->integer > h->wait)
			h->wait = reply->element[2]->integer;
	}
	if (--h->pending == 0)
		cl_hold_answered(h);
}

static void
cl_ask(struct cluster_hold *h)
{
	const char *keys[2], *args[5];
	char lim[32], lease[32], per[64];
	struct climit *l;
	struct cl_ask *a;
	int i;

	h->state = CL_H_ASKING;
	h->pending = h->n;
	h->failed = 0;
	h->wait = 0;
	snprintf(lease, sizeof(lease), "%llu",
	    (unsigned long long)cluster_lease_ms());
	for (i = 0; i < h->n; i++) {
		l = h->lim[i];
		snprintf(lim, sizeof(lim), "%lld", (long long)l->limit);
		snprintf(per, sizeof(per), "%.9f", l->c_per_ms);
		keys[0] = l->key;
		keys[1] = l->ckey;
		args[0] = h->member;
		args[1] = lim;
		args[2] = lease;
		args[3] = per;
		args[4] = "1";
		if ((a = malloc(sizeof(*a))) == NULL)
			fatal("cl_ask");
		a->h = h;
		a->i = i;
		redis_eval(cluster_redis(), sc_lease, cl_lease_cb, a,
		    l->ckey[0] ? 2 : 1, keys, l->ckey[0] ? 5 : 3, args);
	}
}

static struct cluster_hold *
cl_hold_new(int worker, uint32_t id, const char *queue, const char *vmta,
    const struct cfg_node *pool)
{
	struct cluster_hold *h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		fatal("cl_hold_new");
	snprintf(h->member, sizeof(h->member), "%s/%d/%u",
	    cluster_node_name(), worker, id);
	if ((h->lim[h->n] = cl_queue_lease(queue, vmta)) != NULL)
		h->n++;
	if (vmta != NULL && (h->lim[h->n] = cl_block_lease(
	    "virtual-mta max-smtp-out", "v", vmta,
	    cfg_vmta(qd->cfg, vmta))) != NULL)
		h->n++;
	if (pool != NULL && (h->lim[h->n] = cl_block_lease(
	    "source-pool max-smtp-out", "p", pool->arg, pool)) != NULL)
		h->n++;
	TAILQ_INSERT_TAIL(&holds, h, entry);
	return h;
}

/*
 * Whether the slot may be granted now, as far as shared limits go: 1
 * (none apply, or all are held), else 0 and sched_slot_reconfigure() is
 * called when it is worth asking again.
 */
int
cluster_slot_acquire(struct cluster_hold **hp, int worker, uint32_t id,
    const char *queue, const char *vmta, const struct cfg_node *pool)
{
	struct cluster_hold *h = *hp;

	if (!cluster_enabled() || queue == NULL)
		return 1;
	if (h == NULL)
		*hp = h = cl_hold_new(worker, id, queue, vmta, pool);
	if (h->n == 0 || h->state == CL_H_OK)
		return 1;
	if (h->state == CL_H_ASKING)
		return 0;
	if (h->state == CL_H_WAIT && now_ms() < h->until) {
		/* the kick may come early: loop time is not the wall clock */
		cl_kick(h->until - now_ms());
		return 0;
	}
	if (cluster_shared()) {
		cl_ask(h);
		return 0;
	}
	if (cl_acquire_local(h)) {
		h->state = CL_H_OK;
		return 1;
	}
	cl_hold_wait(h, h->until > now_ms() ? h->until - now_ms() :
	    CL_RETRY_MS);
	return 0;
}

/* A slot replayed by a deliverd after queued restarted: its connection
 * exists, so its leases are taken without asking (the next renewal
 * registers them). */
void
cluster_slot_held(struct cluster_hold **hp, int worker, uint32_t id,
    const char *queue, const char *vmta, const struct cfg_node *pool)
{
	struct cluster_hold *h;
	int i;

	if (!cluster_enabled() || queue == NULL)
		return;
	*hp = h = cl_hold_new(worker, id, queue, vmta, pool);
	for (i = 0; i < h->n; i++) {
		h->granted[i] = 1;
		h->lim[i]->held++;
	}
	h->state = CL_H_OK;
}

void
cluster_slot_release(struct cluster_hold **hp)
{
	struct cluster_hold *h = *hp;
	int i;

	if (h == NULL)
		return;
	*hp = NULL;
	TAILQ_REMOVE(&holds, h, entry);
	if (h->state == CL_H_ASKING) {
		h->freed = 1;		/* cl_hold_answered frees it */
		return;
	}
	for (i = 0; i < h->n; i++)
		cl_release_one(h, i);
	cl_hold_free(h);
}

/* --- renewal --- */

/* Each heartbeat looks at whatever waits for a shared limit, so no wait
 * outlasts a beat even if a wake-up were lost. */
void
cluster_limit_beat(void)
{
	cl_kick(0);
}

static void
cl_renew_cb(struct redis *r, redisReply *reply, void *arg)
{
	char *key = arg;
	struct climit k, *l;

	strlcpy(k.key, key, sizeof(k.key));
	free(key);
	if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
		cluster_failed(reply && reply->type == REDIS_REPLY_ERROR ?
		    reply->str : redis_last_error(r));
		return;
	}
	if ((l = RB_FIND(climits, &limits, &k)) != NULL)
		l->used = reply->integer;
}

static void
cl_renew_send(struct climit *l, const char **args, int nargs)
{
	const char *keys[1] = { l->key };

	redis_eval(cluster_redis(), sc_renew, cl_renew_cb, xstrdup(l->key),
	    1, keys, nargs, args);
}

/* Every lease this node holds, one EVALSHA per key (at most
 * REDIS_MAX_ARGS members each), all sent at once. */
void
cluster_limit_renew(void)
{
	const char *args[REDIS_MAX_ARGS - 1];
	struct cluster_hold *h;
	struct climit *l;
	char lease[32];
	int i, n;

	if (!cluster_enabled())
		return;
	snprintf(lease, sizeof(lease), "%llu",
	    (unsigned long long)cluster_lease_ms());
	RB_FOREACH(l, climits, &limits) {
		if (l->type != CL_LEASE || l->held == 0)
			continue;
		args[0] = lease;
		n = 1;
		TAILQ_FOREACH(h, &holds, entry)
			for (i = 0; i < h->n; i++) {
				if (h->lim[i] != l || !h->granted[i])
					continue;
				args[n++] = h->member;
				if (n == REDIS_MAX_ARGS - 1) {
					cl_renew_send(l, args, n);
					n = 1;
				}
			}
		if (n > 1)
			cl_renew_send(l, args, n);
	}
}

/* --- max-msg-rate --- */

/* The queue's max-msg-rate; a rolled-up queue's is its rollup's (the
 * <domain NAME.rollup> block), shared by all the rollup's domains. */
static struct climit *
cl_msg_limit(struct squeue *q)
{
	const char *name = q->rollup ? q->rollup : q->name;
	struct cfg_node *n;
	struct cfg_rate rate;
	struct climit *l;
	char key[400], domain[300];
	double per_sec;

	if (q->cl_gen == qd->cfg_gen)
		return q->cl_rate;
	q->cl_gen = qd->cfg_gen;
	q->cl_rate = NULL;
	strlcpy(domain, q->rollup ? q->rollup : q->domain, sizeof(domain));
	if (q->rollup != NULL)
		domain[strcspn(domain, "/")] = '\0';
	n = sched_cfg_node(q->vmta, domain, QS_MAX_MSG_RATE);
	if (n == NULL || !cl_rate(n->arg, &rate))
		return NULL;
	l = cl_get(cluster_key(key, sizeof(key), "{q:%s}:mrate", name));
	l->type = CL_RATE;
	l->kind = "max-msg-rate";
	strlcpy(l->what, name, sizeof(l->what));
	strlcpy(l->ratetext, n->arg, sizeof(l->ratetext));
	l->per_ms = cl_per_ms(&rate);
	per_sec = l->per_ms * 1000.0;
	l->burst = (int)ceil(per_sec / 4);
	if (l->burst < 1)
		l->burst = 1;
	if (l->burst > CL_CHUNK_MAX)
		l->burst = CL_CHUNK_MAX;
	l->seen = 1;
	q->cl_rate = l;
	return l;
}

static void
cl_take_cb(struct redis *r, redisReply *reply, void *arg)
{
	struct climit *l = arg;

	l->fetching = 0;
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 3) {
		cluster_failed(reply && reply->type == REDIS_REPLY_ERROR ?
		    reply->str : redis_last_error(r));
		cl_kick(0);
		return;
	}
	if (reply->element[0]->integer > 0)
		l->tokens += (int)reply->element[0]->integer;
	l->tokens_at = now_ms();
	log_debug("cluster: %s: %lld token(s), wait %lld ms", l->what,
	    reply->element[0]->integer, reply->element[1]->integer);
	l->used = reply->element[2]->integer;
	if (reply->element[0]->integer == 0) {
		l->next_try = now_ms() + (reply->element[1]->integer > 0 ?
		    reply->element[1]->integer : 1);
		cl_kick(l->next_try - now_ms());
	} else
		cl_kick(0);
}

static void
cl_fetch(struct climit *l, uint64_t queued)
{
	const char *keys[1] = { l->key }, *args[3];
	char per[64], burst[32], want[32];
	uint64_t w = queued < (uint64_t)l->burst ? queued : (uint64_t)l->burst;

	snprintf(per, sizeof(per), "%.9f", l->per_ms);
	snprintf(burst, sizeof(burst), "%d", l->burst);
	snprintf(want, sizeof(want), "%llu", (unsigned long long)(w ? w : 1));
	args[0] = per;
	args[1] = burst;
	args[2] = want;
	l->fetching = 1;
	redis_eval(cluster_redis(), sc_take, cl_take_cb, l, 1, keys, 3, args);
}

/* Whether queue q may hand one more message to deliverd now (and if so
 * the token is spent).  When not, the scheduler is kicked later. */
int
cluster_msg_token(struct squeue *q)
{
	struct climit *l;
	int64_t now, wait = CL_RETRY_MS;

	if (!cluster_enabled() || (l = cl_msg_limit(q)) == NULL)
		return 1;
	now = now_ms();
	if (l->tokens > 0 && now - l->tokens_at > CL_TOKEN_AGE_MS)
		l->tokens = 0;		/* do not sit on the others' share */
	if (l->tokens > 0) {
		l->tokens--;
		return 1;
	}
	if (cluster_shared()) {
		if (!l->fetching && now >= l->next_try)
			cl_fetch(l, q->nrcpts);
		else if (!l->fetching)
			cl_kick(l->next_try - now);
		log_debug("cluster: %s: no token (fetching %d, next in %lld ms)",
		    q->name, l->fetching, (long long)(l->next_try - now));
		return 0;
	}
	if (cl_local_take(&l->local, &l->local_at, l->per_ms, &wait))
		return 1;
	cl_kick(wait);
	return 0;
}

/* --- mode, reload, status --- */

/* Shared <-> degraded: whatever waits on a decision looks again. */
void
cluster_limit_mode(void)
{
	struct cluster_hold *h;

	TAILQ_FOREACH(h, &holds, entry)
		if (h->state == CL_H_WAIT)
			h->until = 0;
	cl_kick(0);
}

/* <cluster> removed: forget every shared limit. */
void
cluster_limit_clear(void)
{
	struct cluster_hold *h;
	struct climit *l, *tmp;
	struct squeue *q;

	TAILQ_FOREACH(h, &holds, entry)
		h->n = 0;		/* still referenced by their slots */
	RB_FOREACH_SAFE(l, climits, &limits, tmp) {
		if (l->fetching)
			continue;	/* its callback still comes */
		RB_REMOVE(climits, &limits, l);
		free(l);
	}
	for (q = sched_queue_first(); q != NULL; q = sched_queue_next(q)) {
		q->cl_rate = NULL;
		q->cl_gen = 0;
	}
}

json_t *
cluster_limit_json(void)
{
	json_t *a = json_array(), *j;
	struct climit *l;

	RB_FOREACH(l, climits, &limits) {
		if (l->type == CL_LEASE && l->limit >= 0) {
			j = json_pack("{s:s,s:s,s:I,s:I,s:i}", "limit", l->kind,
			    "of", l->what, "max", (json_int_t)l->limit,
			    "used", (json_int_t)l->used, "heldHere", l->held);
			if (!cluster_shared())
				json_object_set_new(j, "share",
				    json_integer(cl_share(l->limit)));
			json_array_append_new(a, j);
		}
		if (l->type == CL_LEASE && l->ckey[0] != '\0')
			json_array_append_new(a, json_pack("{s:s,s:s,s:s}",
			    "limit", "max-connect-rate", "of", l->what,
			    "rate", l->ratetext));
		if (l->type == CL_RATE)
			json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:I}",
			    "limit", l->kind, "of", l->what, "rate",
			    l->ratetext, "usedThisMinute", (json_int_t)l->used));
	}
	return a;
}
