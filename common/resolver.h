/*
 * resolver.h - udns on a daemon's libuv loop (deliverd, smtpd).
 *
 * udns' default context asks the name servers in order (udns goes to the
 * next one when a server does not answer in time), so callers that do
 * not rotate use dns_submit_*(NULL, ...) and dns_cancel(NULL, ...)
 * directly.  With several name servers there is one more context per
 * server, each asking the servers from that one on: `dns-rotate yes`
 * takes them in turn (resolver_ctx(1)), which spreads the queries and
 * keeps the failover.  Each context's UDP socket is watched with a
 * uv_poll_t and its single timer is a uv_timer_t.  The name servers are the config's `name-server` lines,
 * else the host's, which ternd reads from /etc/resolv.conf and sends as
 * DLV_NAMESERVERS (a chroot has no resolv.conf).  `dns-timeout` bounds
 * one lookup.  The resolver is set up on first use.
 */
#ifndef TERN_RESOLVER_H
#define TERN_RESOLVER_H

#include "cfg.h"
#include "imsg.h"

struct dns_ctx;

/* DLV_NAMESERVERS from ternd: keep the host's name servers. */
void		 resolver_host_servers(struct imsg *);
/* Ready the resolver for this config; 0, or -1 (resolver_error()). */
int		 resolver_init(const struct cfg *);
const char	*resolver_error(void);
/* The context for the next query: the default one, or with rotate the
 * next in turn.  Cancel a query with the context it was submitted on. */
struct dns_ctx	*resolver_ctx(int rotate);

/* A new config: dns-timeout may have changed (name servers are read
 * once; changing name-server needs a restart of the daemon). */
void		 resolver_reconfig(const struct cfg *);

#endif
