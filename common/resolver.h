/*
 * resolver.h - udns on a daemon's libuv loop (deliverd, smtpd).
 *
 * One udns context per process (udns' default context, so callers use
 * dns_submit_*(NULL, ...) and dns_cancel(NULL, ...) directly): its UDP
 * socket is watched with a uv_poll_t and its single timer is a
 * uv_timer_t.  The name servers are the config's `name-server` lines,
 * else the host's, which ternd reads from /etc/resolv.conf and sends as
 * DLV_NAMESERVERS (a chroot has no resolv.conf).  `dns-timeout` bounds
 * one lookup.  The resolver is set up on first use.
 */
#ifndef TERN_RESOLVER_H
#define TERN_RESOLVER_H

#include "cfg.h"
#include "imsg.h"

/* DLV_NAMESERVERS from ternd: keep the host's name servers. */
void		 resolver_host_servers(struct imsg *);
/* Ready the resolver for this config; 0, or -1 (resolver_error()). */
int		 resolver_init(const struct cfg *);
const char	*resolver_error(void);
/* A new config: dns-timeout may have changed (name servers are read
 * once; changing name-server needs a restart of the daemon). */
void		 resolver_reconfig(const struct cfg *);

#endif
