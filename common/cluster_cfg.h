/*
 * cluster_cfg.h - the <cluster> block as every daemon that talks to Redis
 * reads it: queued (shared limits, queued/cluster.c) and bounced (the
 * shared suppression list, bounced/suppress_redis.c).
 */
#ifndef TERN_CLUSTER_CFG_H
#define TERN_CLUSTER_CFG_H

#include <stdint.h>

#include "redis.h"

struct cfg;
struct cfg_node;

struct cluster_conf {
	int		 nseeds;
	char		 seeds[REDIS_MAX_SEEDS][64];	/* "IP:PORT" */
	char		 node[128];	/* node-name, else the host name */
	char		 prefix[128];	/* key-prefix */
	uint64_t	 lease_ms, hb_ms, timeout_ms;
};

/* The <cluster> block of cfg when it names a Redis, else NULL. */
const struct cfg_node *cluster_cfg_block(const struct cfg *);
/* Read block c into *cc (defaults and bounds applied). */
void	cluster_cfg_read(const struct cfg_node *c, struct cluster_conf *cc);
/* Redis options for cc (seeds point into cc). */
void	cluster_cfg_opts(const struct cluster_conf *cc, const char *password,
	    struct redis_opts *o);

/* CLUSTER_PASSWORD from ternd: the password into *pw (the old one wiped
 * and freed; NULL: none). */
struct msg;
void	cluster_cfg_password(char **pw, struct msg *);

#endif
