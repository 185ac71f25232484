/*
 * redis.h - a Redis client on a daemon's libuv loop (hiredis async and
 * its libuv adapter), for a single Redis or a Redis Cluster.
 *
 *	struct redis_opts o = { .nseeds = 1, .seeds = { "127.0.0.1:6379" },
 *	    .password = pw, .timeout_ms = 2000, .state_cb = up_down };
 *	struct redis *r = redis_new(loop, &o);
 *	int sc = redis_script(r, "return redis.call('INCR', KEYS[1])");
 *	redis_cmd(r, "k", done, arg, "SET %s %s", "k", "v");
 *	redis_eval(r, sc, done, arg, 1, keys, 0, NULL);
 *
 * Every request gets exactly one callback: with the reply, or with NULL
 * when it could not be answered (no connection, the node went away, the
 * command timed out).  The reply belongs to hiredis and is freed after the
 * callback returns.
 *
 * Connections: one per Redis node, opened on demand, with AUTH first when
 * a password is set.  A node that goes away is reconnected with back-off
 * (100 ms doubling to 5 s).  A command that has had no answer within
 * timeout_ms drops its connection (and so fails everything pending on it):
 * a slow Redis is treated like an absent one.
 *
 * Redis Cluster: a command goes to the node that owns its key's slot (a
 * {hash tag} decides, so the keys of one script must share one);
 * -MOVED teaches the slot's owner and the command is sent again there,
 * -ASK sends ASKING + the command to the named node once.
 *
 * Scripts: redis_script() registers Lua text; its SHA1 is loaded on each
 * connection (SCRIPT LOAD) and redis_eval() runs EVALSHA, falling back to
 * EVAL of the text on -NOSCRIPT (a Redis restarted, a failover).
 *
 * state_cb is called with up = 1 when the first connection is ready and
 * up = 0 when none is left.
 */
#ifndef TERN_REDIS_H
#define TERN_REDIS_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <uv.h>

#define REDIS_MAX_SEEDS		16
#define REDIS_MAX_NODES		64
#define REDIS_MAX_SCRIPTS	16
#define REDIS_MAX_ARGS		64	/* keys + args of one redis_eval() */

struct redis;
typedef void	(*redis_cb)(struct redis *, redisReply *, void *arg);
typedef void	(*redis_state_cb)(struct redis *, int up, void *arg);

struct redis_opts {
	int		 nseeds;
	const char	*seeds[REDIS_MAX_SEEDS];	/* "IP:PORT" */
	const char	*password;	/* NULL: no AUTH */
	unsigned	 timeout_ms;	/* per command; 0: 2000 */
	redis_state_cb	 state_cb;
	void		*arg;
};

struct redis	*redis_new(uv_loop_t *, const struct redis_opts *);
/* Pending callbacks are called with NULL; handles close on the loop. */
void		 redis_free(struct redis *);
int		 redis_is_up(const struct redis *);
const char	*redis_last_error(const struct redis *);
/* key: the key the command works on (routes it in a cluster), or NULL. */
int		 redis_cmd(struct redis *, const char *key, redis_cb, void *,
		    const char *fmt, ...);
int		 redis_cmd_argv(struct redis *, const char *key, redis_cb,
		    void *, int argc, const char **argv);
/* A script id for redis_eval(), or -1 (too many). */
int		 redis_script(struct redis *, const char *lua);
int		 redis_eval(struct redis *, int script, redis_cb, void *,
		    int nkeys, const char **keys, int nargs, const char **args);
/* Round trips started since redis_new() (the bench reads them). */
unsigned long	 redis_round_trips(const struct redis *);
/* The Redis Cluster slot of a key (CRC16 of its hash tag) mod 16384. */
unsigned	 redis_keyslot(const char *key);

#endif
