/*
 * cluster.c - this node in a <cluster>: the Redis connection, the node
 * registry and its heartbeat, shared or degraded mode.
 *
 * queued holds the Redis state of a node: it grants the connection slots
 * and hands out the jobs, so the limits that several nodes share are
 * counted where those decisions are made (cluster_limit.c), and mgmtd
 * asks it for `tern show status --cluster`.
 *
 * Keys (PREFIX = key-prefix, "tern:" by default):
 *	PREFIX{nodes}		ZSET node-name -> last heartbeat (ms, Redis
 *				clock); a node is live while its heartbeat is
 *				younger than lease-time
 *	PREFIX{q:QUEUE}:...	a queue's shared limits (cluster_limit.c)
 *
 * Mode: "shared" while Redis answers; "degraded" from the first command
 * that gets no answer (connection lost, refused, timed out) until a
 * heartbeat is answered again.  In degraded mode each limit is this
 * node's share: limit / live nodes as last seen.  Nothing waits on Redis
 * longer than redis-timeout.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "cluster_cfg.h"
#include "log.h"
#include "proto.h"
#include "queued.h"
#include "redis.h"
#include "util.h"

#define CLUSTER_MAX_NODES	256

/* Registers this node, forgets nodes silent for 100 lease times, and
 * returns {now, {name, last, name, last, ...}}. */
static const char cluster_hb_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
    "redis.call('ZADD', KEYS[1], now, ARGV[1])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf',"
    " now - 100 * tonumber(ARGV[2]))\n"
    "return {now, redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')}\n";

struct cluster_node {
	char		 name[128];
	int64_t		 last;		/* ms, Redis clock */
};

static struct {
	int			 on;		/* <cluster> configured */
	struct redis		*redis;
	char			*password;
	struct cluster_conf	 conf;		/* common/cluster_cfg.c */
	int			 hb_script;
	uv_timer_t		 hb_timer;
	int			 timer_init;
	int			 shared;	/* else degraded */
	int			 hb_pending;
	int64_t			 redis_now;	/* at the last heartbeat */
	struct cluster_node	 nodes[CLUSTER_MAX_NODES];
	int			 nnodes;
	int			 live;		/* last known, >= 1 */
	char			 why[256];	/* why degraded */
	int64_t			 degraded_since;
} cl = { .live = 1 };

int
cluster_enabled(void)
{
	return cl.on && cl.redis != NULL;
}

int
cluster_shared(void)
{
	return cluster_enabled() && cl.shared;
}

int
cluster_live_nodes(void)
{
	return cl.live > 0 ? cl.live : 1;
}

struct redis *
cluster_redis(void)
{
	return cl.redis;
}

const char *
cluster_node_name(void)
{
	return cl.conf.node;
}

uint64_t
cluster_lease_ms(void)
{
	return cl.conf.lease_ms;
}

/* PREFIX + the rest, formatted. */
const char *
cluster_key(char *buf, size_t sz, const char *fmt, ...)
{
	va_list ap;
	size_t n = strlcpy(buf, cl.conf.prefix, sz);

	if (n >= sz)
		n = sz - 1;
	va_start(ap, fmt);
	vsnprintf(buf + n, sz - n, fmt, ap);
	va_end(ap);
	return buf;
}

/* A command got no answer: each limit falls back to this node's share. */
void
cluster_failed(const char *why)
{
	if (!cluster_enabled() || !cl.shared)
		return;
	cl.shared = 0;
	cl.degraded_since = now_ms();
	strlcpy(cl.why, why, sizeof(cl.why));
	log_warnx("cluster: degraded mode (%s): each shared limit is this "
	    "node's share, limit / %d live node(s)", why, cluster_live_nodes());
	cluster_limit_mode();
}

static void
cluster_resumed(void)
{
	if (cl.shared)
		return;
	cl.shared = 1;
	cl.why[0] = '\0';
	log_info("cluster: shared mode: Redis answers, %d live node(s)",
	    cluster_live_nodes());
	cluster_limit_mode();
}

static void
cluster_hb_nodes(const redisReply *list)
{
	int64_t since = cl.redis_now - (int64_t)cl.conf.lease_ms;
	size_t i;

	cl.nnodes = 0;
	cl.live = 0;
	for (i = 0; i + 1 < list->elements && cl.nnodes < CLUSTER_MAX_NODES;
	    i += 2) {
		struct cluster_node *n = &cl.nodes[cl.nnodes++];

		if (list->element[i]->type != REDIS_REPLY_STRING)
			continue;
		strlcpy(n->name, list->element[i]->str, sizeof(n->name));
		n->last = list->element[i + 1]->str ?
		    strtoll(list->element[i + 1]->str, NULL, 10) : 0;
		if (n->last >= since)
			cl.live++;
	}
	if (cl.live < 1)
		cl.live = 1;
}

static void
cluster_hb_cb(struct redis *r, redisReply *reply, void *arg)
{
	cl.hb_pending = 0;
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 2 ||
	    reply->element[1]->type != REDIS_REPLY_ARRAY) {
		cluster_failed(reply && reply->type == REDIS_REPLY_ERROR ?
		    reply->str : redis_last_error(r));
		return;
	}
	cl.redis_now = reply->element[0]->integer;
	cluster_hb_nodes(reply->element[1]);
	cluster_resumed();
}

static void
cluster_heartbeat(uv_timer_t *t)
{
	char key[300], lease[32];
	const char *keys[1], *args[2];

	if (!cluster_enabled())
		return;
	/* leases first: they may expire; the registry can wait a beat */
	cluster_limit_renew();
	cluster_limit_beat();
	if (cl.hb_pending)
		return;
	snprintf(lease, sizeof(lease), "%llu",
	    (unsigned long long)cl.conf.lease_ms);
	keys[0] = cluster_key(key, sizeof(key), "{nodes}");
	args[0] = cl.conf.node;
	args[1] = lease;
	cl.hb_pending = 1;
	redis_eval(cl.redis, cl.hb_script, cluster_hb_cb, NULL, 1, keys, 2,
	    args);
}

static void
cluster_state_cb(struct redis *r, int up, void *arg)
{
	if (!up)
		cluster_failed(redis_last_error(r));
	else	/* the heartbeat's answer says shared again */
		cluster_heartbeat(NULL);
}

/* --- configuration --- */

static void
cluster_connect(void)
{
	struct redis_opts o;

	cluster_cfg_opts(&cl.conf, cl.password, &o);
	o.state_cb = cluster_state_cb;
	cl.redis = redis_new(qd->loop, &o);
	cl.hb_script = redis_script(cl.redis, cluster_hb_lua);
	cluster_limit_scripts(cl.redis);
	/* degraded until the first heartbeat is answered */
	cl.shared = 0;
	strlcpy(cl.why, "not connected yet", sizeof(cl.why));
	cl.degraded_since = now_ms();
	log_info("cluster: node %s, Redis %s%s, lease %llus", cl.conf.node,
	    cl.conf.seeds[0], cl.conf.nseeds > 1 ? " (and other seeds)" : "",
	    (unsigned long long)cl.conf.lease_ms / 1000);
	if (!cl.timer_init) {
		uv_timer_init(qd->loop, &cl.hb_timer);
		cl.timer_init = 1;
	}
	uv_timer_start(&cl.hb_timer, cluster_heartbeat, cl.conf.hb_ms,
	    cl.conf.hb_ms);
}

/* Pending callbacks run (with NULL) before the limits are forgotten. */
static void
cluster_disconnect(void)
{
	struct redis *r = cl.redis;

	uv_timer_stop(&cl.hb_timer);
	cl.redis = NULL;
	cl.hb_pending = 0;
	redis_free(r);
	cluster_limit_clear();
}

/* The configuration was loaded or reloaded (and started). */
void
cluster_configure(void)
{
	const struct cfg_node *c = cluster_cfg_block(qd->cfg);
	char old[REDIS_MAX_SEEDS][64];
	int oldn = cl.conf.nseeds;

	memcpy(old, cl.conf.seeds, sizeof(old));
	cl.on = c != NULL;
	if (!cl.on) {
		if (cl.redis != NULL) {
			log_info("cluster: <cluster> removed: limits are "
			    "this node's own");
			cluster_disconnect();
		}
		return;
	}
	cluster_cfg_read(c, &cl.conf);
	if (!qd->started)
		return;
	if (cl.redis != NULL && (oldn != cl.conf.nseeds ||
	    memcmp(old, cl.conf.seeds, sizeof(old)) != 0)) {
		cluster_disconnect();
	}
	if (cl.redis == NULL)
		cluster_connect();
	else
		uv_timer_start(&cl.hb_timer, cluster_heartbeat, cl.conf.hb_ms,
		    cl.conf.hb_ms);
}

/* CLUSTER_PASSWORD from ternd, before IMSG_START. */
void
cluster_password(struct msg *m)
{
	cluster_cfg_password(&cl.password, m);
}

/* --- status --- */

/* For `tern show status`: {"mode", "node", "liveNodes"}, or NULL. */
json_t *
cluster_status_json(void)
{
	if (!cluster_enabled())
		return NULL;
	return json_pack("{s:s,s:s,s:i,s:s?}", "mode", cl.shared ? "shared" :
	    "degraded", "node", cl.conf.node, "liveNodes",
	    cluster_live_nodes(),
	    "reason", cl.shared ? NULL : cl.why);
}

static json_t *
cluster_nodes_json(void)
{
	json_t *a = json_array();
	int i;

	for (i = 0; i < cl.nnodes; i++)
		json_array_append_new(a, json_pack("{s:s,s:I,s:I,s:b}",
		    "name", cl.nodes[i].name,
		    "lastHeartbeat", (json_int_t)cl.nodes[i].last / 1000,
		    "ageSeconds", (json_int_t)(cl.redis_now -
		    cl.nodes[i].last) / 1000,
		    "live", cl.nodes[i].last >= cl.redis_now -
		    (int64_t)cl.conf.lease_ms));
	return a;
}

/* `tern show status --cluster`, /api/v1/cluster */
void
cluster_ctl(struct mproc *p, uint32_t reqid)
{
	json_t *j;
	int i;

	if (!cluster_enabled()) {
		ctl_reply_json(p, CTL_CLUSTER, reqid, json_pack("{s:s}",
		    "mode", "off"));
		return;
	}
	j = cluster_status_json();
	json_object_set_new(j, "redis", json_array());
	for (i = 0; i < cl.conf.nseeds; i++)
		json_array_append_new(json_object_get(j, "redis"),
		    json_string(cl.conf.seeds[i]));
	json_object_set_new(j, "keyPrefix", json_string(cl.conf.prefix));
	json_object_set_new(j, "leaseSeconds",
	    json_integer((json_int_t)cl.conf.lease_ms / 1000));
	json_object_set_new(j, "redisRoundTrips",
	    json_integer((json_int_t)redis_round_trips(cl.redis)));
	json_object_set_new(j, "nodes", cluster_nodes_json());
	json_object_set_new(j, "limits", cluster_limit_json());
	ctl_reply_json(p, CTL_CLUSTER, reqid, j);
}
