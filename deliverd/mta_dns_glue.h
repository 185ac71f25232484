/*
 * mta_dns_glue.h - the A records of MX hosts that come with an MX answer
 * (mta_dns_glue.c), for mta_dns.c.
 */
#ifndef TERN_MTA_DNS_GLUE_H
#define TERN_MTA_DNS_GLUE_H

#include <netinet/in.h>
#include <udns.h>

#define MTA_DNS_MAX_GLUE	32

struct mta_dns_glue {
	char		 name[256];
	struct in_addr	 addr;
	unsigned	 ttl;
};

/* An MX answer: the MX records (as dns_parse_mx gives them) and the
 * addresses of the hosts that may be taken from it. */
struct mta_dns_mxans {
	struct dns_rr_mx	*rr;
	int			 nglue;
	struct mta_dns_glue	 glue[MTA_DNS_MAX_GLUE];
};

dns_parse_fn	 mta_dns_parse_mx;
void		 mta_dns_glue_cache(const struct mta_dns_mxans *);
void		 mta_dns_mxans_free(struct mta_dns_mxans *);

#endif
