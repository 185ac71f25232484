/*
 * redis.c - hiredis async on the libuv loop; see redis.h.
 *
 * A request lives from redis_cmd()/redis_eval() until its callback: it is
 * sent to a node (redis_send), sits on that node's in-flight list (the
 * head is the oldest: Redis answers in order, so the timeout only looks
 * there), and on -MOVED/-ASK/-NOSCRIPT is sent again instead of being
 * answered.  A node's connection is dropped (redisAsyncFree, which calls
 * every pending callback with NULL) on a timeout or an error, and made
 * again after a back-off.
 */
#include <sys/queue.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/adapters/libuv.h>
#include <openssl/sha.h>

#include "log.h"
#include "redis.h"
#include "util.h"

#define REDIS_RETRY_MIN		100	/* ms, doubling */
#define REDIS_RETRY_MAX		5000
#define REDIS_MAX_REDIRECTS	5
#define REDIS_SLOTS		16384

struct redis_req;
TAILQ_HEAD(redis_reqlist, redis_req);

struct redis_node {
	char			 addr[64];	/* "IP:PORT" */
	char			 ip[48];
	int			 port;
	redisAsyncContext	*ac;		/* NULL: not connected */
	int			 ready;		/* connect callback said OK */
	int			 wanted;	/* reconnect when dropped */
	unsigned		 backoff;	/* ms */
	uv_timer_t		 retry;
	struct redis_reqlist	 inflight;
	struct redis		*r;
};

struct redis_script {
	char		*text;
	char		 sha[41];
};

struct redis {
	uv_loop_t		*loop;
	struct redis_node	*nodes[REDIS_MAX_NODES];
	int			 nnodes;
	int			 nseeds;	/* nodes[0 .. nseeds-1] */
	uint8_t			 slotmap[REDIS_SLOTS];	/* node + 1, 0: ? */
	struct redis_script	 scripts[REDIS_MAX_SCRIPTS];
	int			 nscripts;
	char			*password;
	unsigned		 timeout_ms;
	redis_state_cb		 state_cb;
	void			*arg;
	int			 up;
	int			 freeing;
	unsigned long		 trips;
	uv_timer_t		 tick;		/* command timeouts */
	char			 error[256];
};

struct redis_req {
	TAILQ_ENTRY(redis_req)	 entry;
	struct redis		*r;
	int			 node;		/* sent to, -1: not yet */
	uint64_t		 sent;
	redis_cb		 cb;
	void			*arg;
	int			 internal;	/* AUTH, SCRIPT LOAD, ASKING */
	int			 keyed;
	unsigned		 slot;
	int			 redirects;
	int			 script;	/* -1: not a redis_eval() */
	int			 argc;		/* redis_eval(): EVALSHA argv */
	char			**argv;
	char			*cmd;		/* formatted, for the others */
	int			 len;
};

static void	redis_send(struct redis *, struct redis_req *, int node);
static void	redis_node_connect(struct redis_node *);

/* --- slots --- */

static uint16_t
redis_crc16(const char *p, size_t len)
{
	uint16_t crc = 0;
	size_t i;
	int b;

	/* CRC16-CCITT (XMODEM), as in the Redis Cluster specification. */
	for (i = 0; i < len; i++) {
		crc ^= (uint16_t)((uint8_t)p[i] << 8);
		for (b = 0; b < 8; b++)
			crc = crc & 0x8000 ? (uint16_t)((crc << 1) ^ 0x1021) :
			    (uint16_t)(crc << 1);
	}
	return crc;
}

unsigned
redis_keyslot(const char *key)
{
	const char *o, *c;
	size_t len = strlen(key);

	if ((o = strchr(key, '{')) != NULL &&
	    (c = strchr(o + 1, '}')) != NULL && c > o + 1)
		return redis_crc16(o + 1, c - o - 1) % REDIS_SLOTS;
	return redis_crc16(key, len) % REDIS_SLOTS;
}

/* --- nodes --- */

static int
redis_node_find(struct redis *r, const char *addr)
{
	int i;

	for (i = 0; i < r->nnodes; i++)
		if (strcmp(r->nodes[i]->addr, addr) == 0)
			return i;
	return -1;
}

/* The node of "IP:PORT", made if new; -1 if it cannot be. */
static int
redis_node_get(struct redis *r, const char *addr)
{
	struct redis_node *n;
	const char *colon;
	int i;

	if ((i = redis_node_find(r, addr)) != -1)
		return i;
	if (r->nnodes == REDIS_MAX_NODES ||
	    (colon = strrchr(addr, ':')) == NULL ||
	    (size_t)(colon - addr) >= sizeof(n->ip) ||
	    strlen(addr) >= sizeof(n->addr))
		return -1;
	if ((n = calloc(1, sizeof(*n))) == NULL)
		fatal("redis_node_get");
	strlcpy(n->addr, addr, sizeof(n->addr));
	memcpy(n->ip, addr, colon - addr);
	if (n->ip[0] == '[') {		/* [v6]:port */
		memmove(n->ip, n->ip + 1, strlen(n->ip));
		n->ip[strcspn(n->ip, "]")] = '\0';
	}
	n->port = atoi(colon + 1);
	n->backoff = REDIS_RETRY_MIN;
	n->r = r;
	TAILQ_INIT(&n->inflight);
	uv_timer_init(r->loop, &n->retry);
	n->retry.data = n;
	r->nodes[r->nnodes] = n;
	return r->nnodes++;
}

static int
redis_any_ready(const struct redis *r)
{
	int i;

	for (i = 0; i < r->nnodes; i++)
		if (r->nodes[i]->ready)
			return 1;
	return 0;
}

static void
redis_update_state(struct redis *r)
{
	int up = redis_any_ready(r);

	if (up == r->up || r->freeing)
		return;
	r->up = up;
	if (r->state_cb != NULL)
		r->state_cb(r, up, r->arg);
}

static void
redis_retry_cb(uv_timer_t *t)
{
	struct redis_node *n = t->data;

	if (n->ac == NULL && !n->r->freeing)
		redis_node_connect(n);
}

static void
redis_schedule_retry(struct redis_node *n)
{
	if (n->r->freeing || !n->wanted)
		return;
	uv_timer_start(&n->retry, redis_retry_cb, n->backoff, 0);
	n->backoff = n->backoff * 2 > REDIS_RETRY_MAX ? REDIS_RETRY_MAX :
	    n->backoff * 2;
}

/* The node has no connection any more: say so, try again later. */
static void
redis_node_lost(struct redis_node *n, const char *why)
{
	snprintf(n->r->error, sizeof(n->r->error), "%s: %s", n->addr, why);
	if (n->ready)
		log_warnx("redis %s: connection lost: %s", n->addr, why);
	n->ac = NULL;
	n->ready = 0;
	redis_update_state(n->r);
	redis_schedule_retry(n);
}

/* Drop the connection: every pending callback runs now (or right after
 * the hiredis callback we are in) with NULL. */
static void
redis_node_drop(struct redis_node *n, const char *why)
{
	redisAsyncContext *ac = n->ac;

	if (ac == NULL)
		return;
	ac->data = NULL;
	redis_node_lost(n, why);
	redisAsyncFree(ac);
}

static void
redis_disconnect_cb(const redisAsyncContext *ac, int status)
{
	struct redis_node *n = ac->data;

	if (n != NULL && n->ac == ac)
		redis_node_lost(n, ac->errstr ? ac->errstr : "closed");
}

static void
redis_connect_cb(const redisAsyncContext *ac, int status)
{
	struct redis_node *n = ac->data;

	if (n == NULL || n->ac != ac)
		return;
	if (status != REDIS_OK) {
		snprintf(n->r->error, sizeof(n->r->error), "%s: %s", n->addr,
		    ac->errstr ? ac->errstr : "connect failed");
		log_debug("redis %s: %s", n->addr, n->r->error);
		/* hiredis frees the context after this callback */
		n->ac = NULL;
		redis_schedule_retry(n);
		return;
	}
	/* ready once AUTH (if any) and SCRIPT LOAD were answered: see
	 * redis_setup_cb */
}

/* The last setup command's answer: the connection is usable. */
static void
redis_setup_cb(struct redis *r, redisReply *reply, void *arg)
{
	struct redis_node *n = arg;

	if (reply == NULL || n->ac == NULL)
		return;
	n->ready = 1;
	n->backoff = REDIS_RETRY_MIN;
	log_info("redis %s: connected", n->addr);
	redis_update_state(r);
}

static void
redis_auth_cb(struct redis *r, redisReply *reply, void *arg)
{
	struct redis_node *n = arg;

	if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
		log_warnx("redis %s: AUTH refused: %s", n->addr, reply->str);
		redis_node_drop(n, "AUTH refused");
	}
}

static struct redis_req *
redis_req_new(struct redis *r, redis_cb cb, void *arg, const char *key)
{
	struct redis_req *q;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		fatal("redis_req_new");
	q->r = r;
	q->node = -1;
	q->cb = cb;
	q->arg = arg;
	q->script = -1;
	if (key != NULL) {
		q->keyed = 1;
		q->slot = redis_keyslot(key);
	}
	return q;
}

static void
redis_internal(struct redis *r, int node, redis_cb cb, void *arg,
    const char *fmt, ...)
{
	struct redis_req *q = redis_req_new(r, cb, arg, NULL);
	va_list ap;

	va_start(ap, fmt);
	q->len = redisvFormatCommand(&q->cmd, fmt, ap);
	va_end(ap);
	q->internal = 1;
	if (q->len < 0)
		fatalx("redis_internal: bad format");
	redis_send(r, q, node);
}

static void
redis_node_connect(struct redis_node *n)
{
	struct redis *r = n->r;
	redisAsyncContext *ac;
	int i, idx = redis_node_find(r, n->addr);

	n->wanted = 1;
	ac = redisAsyncConnect(n->ip, n->port);
	if (ac == NULL || ac->err) {
		snprintf(r->error, sizeof(r->error), "%s: %s", n->addr,
		    ac ? ac->errstr : "out of memory");
		if (ac != NULL)
			redisAsyncFree(ac);
		redis_schedule_retry(n);
		return;
	}
	ac->data = n;
	if (redisLibuvAttach(ac, r->loop) != REDIS_OK) {
		redisAsyncFree(ac);
		redis_schedule_retry(n);
		return;
	}
	redisAsyncSetConnectCallback(ac, redis_connect_cb);
	redisAsyncSetDisconnectCallback(ac, redis_disconnect_cb);
	n->ac = ac;
	/* hiredis buffers these until the TCP connection is made. */
	if (r->password != NULL)
		redis_internal(r, idx, redis_auth_cb, n, "AUTH %s",
		    r->password);
	for (i = 0; i < r->nscripts; i++)
		redis_internal(r, idx, NULL, NULL, "SCRIPT LOAD %s",
		    r->scripts[i].text);
	redis_internal(r, idx, redis_setup_cb, n, "PING");
}

/* --- requests --- */

static void
redis_req_free(struct redis_req *q)
{
	int i;

	for (i = 0; i < q->argc; i++)
		free(q->argv[i]);
	free(q->argv);
	if (q->cmd != NULL)
		redisFreeCommand(q->cmd);
	free(q);
}

static void
redis_req_finish(struct redis_req *q, redisReply *reply)
{
	if (q->cb != NULL)
		q->cb(q->r, reply, q->arg);
	redis_req_free(q);
}

/* The node for a request: its slot's owner if known, else a ready seed,
 * else any ready node, else the first seed (connecting). */
static int
redis_route(struct redis *r, struct redis_req *q)
{
	int i;

	if (q->keyed && r->slotmap[q->slot] != 0)
		return r->slotmap[q->slot] - 1;
	for (i = 0; i < r->nnodes; i++)
		if (r->nodes[i]->ready)
			return i;
	for (i = 0; i < r->nnodes; i++)
		if (r->nodes[i]->ac != NULL)
			return i;
	return 0;
}

/* "MOVED 3999 127.0.0.1:6381" or "ASK ...": the node; -1: not one. */
static int
redis_redirect(struct redis *r, const char *err, unsigned *slot)
{
	char addr[64];

	if (sscanf(err, "%*s %u %63s", slot, addr) != 2 ||
	    *slot >= REDIS_SLOTS)
		return -1;
	return redis_node_get(r, addr);
}

static int
redis_format(struct redis_req *q, int eval_text)
{
	const char *argv[REDIS_MAX_ARGS + 3];
	int i;

	if (q->argv == NULL)
		return 0;
	for (i = 0; i < q->argc; i++)
		argv[i] = q->argv[i];
	if (eval_text) {
		argv[0] = "EVAL";
		argv[1] = q->r->scripts[q->script].text;
	}
	if (q->cmd != NULL)
		redisFreeCommand(q->cmd);
	q->cmd = NULL;
	q->len = redisFormatCommandArgv(&q->cmd, q->argc, argv, NULL);
	return q->len < 0 ? -1 : 0;
}

/* An error reply that asks for the request to go again: 1 if it went. */
static int
redis_retry(struct redis *r, struct redis_req *q, const char *err)
{
	unsigned slot;
	int node;

	if (q->redirects++ >= REDIS_MAX_REDIRECTS)
		return 0;
	if (strncmp(err, "MOVED ", 6) == 0 &&
	    (node = redis_redirect(r, err, &slot)) != -1) {
		r->slotmap[slot] = node + 1;
		redis_send(r, q, node);
		return 1;
	}
	if (strncmp(err, "ASK ", 4) == 0 &&
	    (node = redis_redirect(r, err, &slot)) != -1) {
		redis_internal(r, node, NULL, NULL, "ASKING");
		redis_send(r, q, node);
		return 1;
	}
	if (strncmp(err, "NOSCRIPT", 8) == 0 && q->script != -1 &&
	    redis_format(q, 1) == 0) {
		redis_send(r, q, -1);
		return 1;
	}
	return 0;
}

static void
redis_reply_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct redis_req *q = privdata;
	struct redis *r = q->r;
	redisReply *rep = reply;

	if (q->node >= 0)
		TAILQ_REMOVE(&r->nodes[q->node]->inflight, q, entry);
	if (rep != NULL && rep->type == REDIS_REPLY_ERROR && !q->internal &&
	    !r->freeing && redis_retry(r, q, rep->str))
		return;
	redis_req_finish(q, rep);
}

/* Send q to `node` (-1: where it routes); on failure its callback gets
 * NULL at once. */
static void
redis_send(struct redis *r, struct redis_req *q, int node)
{
	struct redis_node *n;

	if (node < 0)
		node = redis_route(r, q);
	if (r->freeing || node >= r->nnodes) {
		redis_req_finish(q, NULL);
		return;
	}
	n = r->nodes[node];
	/* A node met through a redirect is connected on first use; one in
	 * its back-off fails the request rather than being hammered. */
	if (n->ac == NULL && !q->internal &&
	    !uv_is_active((uv_handle_t *)&n->retry))
		redis_node_connect(n);
	if (n->ac == NULL) {
		redis_req_finish(q, NULL);
		return;
	}
	q->node = node;
	q->sent = uv_now(r->loop);
	TAILQ_INSERT_TAIL(&n->inflight, q, entry);
	if (!q->internal)
		r->trips++;
	if (redisAsyncFormattedCommand(n->ac, redis_reply_cb, q, q->cmd,
	    q->len) != REDIS_OK) {
		TAILQ_REMOVE(&n->inflight, q, entry);
		redis_req_finish(q, NULL);
	}
}

int
redis_cmd(struct redis *r, const char *key, redis_cb cb, void *arg,
    const char *fmt, ...)
{
	struct redis_req *q = redis_req_new(r, cb, arg, key);
	va_list ap;

	va_start(ap, fmt);
	q->len = redisvFormatCommand(&q->cmd, fmt, ap);
	va_end(ap);
	if (q->len < 0) {
		q->cmd = NULL;
		redis_req_finish(q, NULL);
		return -1;
	}
	redis_send(r, q, -1);
	return 0;
}

static struct redis_req *
redis_req_argv(struct redis *r, const char *key, redis_cb cb, void *arg,
    int argc, const char **argv)
{
	struct redis_req *q = redis_req_new(r, cb, arg, key);
	int i;

	q->argc = argc;
	if ((q->argv = calloc(argc, sizeof(*q->argv))) == NULL)
		fatal("redis_req_argv");
	for (i = 0; i < argc; i++)
		q->argv[i] = xstrdup(argv[i]);
	return q;
}

int
redis_cmd_argv(struct redis *r, const char *key, redis_cb cb, void *arg,
    int argc, const char **argv)
{
	struct redis_req *q;

	if (argc < 1 || argc > REDIS_MAX_ARGS + 3) {
		if (cb != NULL)
			cb(r, NULL, arg);
		return -1;
	}
	q = redis_req_argv(r, key, cb, arg, argc, argv);
	if (redis_format(q, 0) == -1) {
		redis_req_finish(q, NULL);
		return -1;
	}
	redis_send(r, q, -1);
	return 0;
}

int
redis_script(struct redis *r, const char *lua)
{
	struct redis_script *s;
	unsigned char md[SHA_DIGEST_LENGTH];
	int i;

	if (r->nscripts == REDIS_MAX_SCRIPTS)
		return -1;
	s = &r->scripts[r->nscripts];
	s->text = xstrdup(lua);
	SHA1((const unsigned char *)lua, strlen(lua), md);
	for (i = 0; i < SHA_DIGEST_LENGTH; i++)
		snprintf(s->sha + 2 * i, 3, "%02x", md[i]);
	/* Connections made before: load it there too. */
	for (i = 0; i < r->nnodes; i++)
		if (r->nodes[i]->ac != NULL)
			redis_internal(r, i, NULL, NULL, "SCRIPT LOAD %s",
			    lua);
	return r->nscripts++;
}

int
redis_eval(struct redis *r, int script, redis_cb cb, void *arg, int nkeys,
    const char **keys, int nargs, const char **args)
{
	const char *argv[REDIS_MAX_ARGS + 3];
	char nk[16];
	struct redis_req *q;
	int i, argc = 0;

	if (script < 0 || script >= r->nscripts || nkeys < 0 || nargs < 0 ||
	    nkeys + nargs > REDIS_MAX_ARGS) {
		if (cb != NULL)
			cb(r, NULL, arg);
		return -1;
	}
	snprintf(nk, sizeof(nk), "%d", nkeys);
	argv[argc++] = "EVALSHA";
	argv[argc++] = r->scripts[script].sha;
	argv[argc++] = nk;
	for (i = 0; i < nkeys; i++)
		argv[argc++] = keys[i];
	for (i = 0; i < nargs; i++)
		argv[argc++] = args[i];
	q = redis_req_argv(r, nkeys > 0 ? keys[0] : NULL, cb, arg, argc, argv);
	q->script = script;
	if (redis_format(q, 0) == -1) {
		redis_req_finish(q, NULL);
		return -1;
	}
	redis_send(r, q, -1);
	return 0;
}

/* --- timeouts, life --- */

static void
redis_tick_cb(uv_timer_t *t)
{
	struct redis *r = t->data;
	struct redis_req *q;
	uint64_t now = uv_now(r->loop);
	int i;

	for (i = 0; i < r->nnodes; i++) {
		q = TAILQ_FIRST(&r->nodes[i]->inflight);
		if (q != NULL && now - q->sent > r->timeout_ms)
			redis_node_drop(r->nodes[i], "command timed out");
	}
}

struct redis *
redis_new(uv_loop_t *loop, const struct redis_opts *o)
{
	struct redis *r;
	unsigned ival;
	int i;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		fatal("redis_new");
	r->loop = loop;
	r->password = o->password ? xstrdup(o->password) : NULL;
	r->timeout_ms = o->timeout_ms ? o->timeout_ms : 2000;
	r->state_cb = o->state_cb;
	r->arg = o->arg;
	for (i = 0; i < o->nseeds && i < REDIS_MAX_SEEDS; i++)
		if (redis_node_get(r, o->seeds[i]) == -1)
			log_warnx("redis: bad address %s", o->seeds[i]);
	r->nseeds = r->nnodes;
	uv_timer_init(loop, &r->tick);
	r->tick.data = r;
	ival = r->timeout_ms / 4 ? r->timeout_ms / 4 : 1;
	uv_timer_start(&r->tick, redis_tick_cb, ival, ival);
	for (i = 0; i < r->nseeds; i++)
		redis_node_connect(r->nodes[i]);
	return r;
}

static void
redis_node_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
redis_tick_closed(uv_handle_t *h)
{
	struct redis *r = h->data;
	int i;

	for (i = 0; i < r->nscripts; i++)
		free(r->scripts[i].text);
	if (r->password != NULL) {
		explicit_bzero(r->password, strlen(r->password));
		free(r->password);
	}
	free(r);
}

void
redis_free(struct redis *r)
{
	struct redis_node *n;
	redisAsyncContext *ac;
	int i;

	if (r == NULL)
		return;
	r->freeing = 1;
	for (i = 0; i < r->nnodes; i++) {
		n = r->nodes[i];
		if ((ac = n->ac) != NULL) {
			n->ac = NULL;
			ac->data = NULL;
			redisAsyncFree(ac);
		}
		uv_timer_stop(&n->retry);
		uv_close((uv_handle_t *)&n->retry, redis_node_closed);
	}
	uv_timer_stop(&r->tick);
	uv_close((uv_handle_t *)&r->tick, redis_tick_closed);
}

int
redis_is_up(const struct redis *r)
{
	return r != NULL && r->up;
}

const char *
redis_last_error(const struct redis *r)
{
	return r->error[0] ? r->error : "not connected";
}

unsigned long
redis_round_trips(const struct redis *r)
{
	return r->trips;
}
