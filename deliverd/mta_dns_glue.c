/*
 * mta_dns_glue.c - addresses of MX hosts from the MX answer itself.
 *
 * A name server that answers an MX query usually adds the A records of
 * the mail hosts it knows in the additional section (RFC 1035 3.3.9).
 * Taking them saves the A query that would follow for each new domain:
 * a datagram out, one or two reads back and a loop turn.  Only what the
 * answering server can vouch for is taken, as resolvers do with glue:
 *
 *	- A records (IN, 4 bytes) of the additional section,
 *	- whose name is one of the MX hosts of this answer,
 *	- at or below the domain asked about (in bailiwick: the server
 *	  that answers for the domain answers for the names under it),
 *	- from an answer that was not truncated (it may lack some).
 *
 * They go into the cache as the host's IPv4-only address answer
 * (MTA_DNS_C_ADDR4), with their own TTL; AAAA records are never
 * inferred from their absence, so queues that want both still ask.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "mta.h"
#include "mta_dns_glue.h"

/* Whether the wire-format name dn is zone or a name under it. */
static int
glue_under(dnscc_t *dn, dnscc_t *zone)
{
	for (; *dn != 0; dn += *dn + 1)
		if (dns_dnequal(dn, zone))
			return 1;
	return 0;
}

static int
glue_is_mx(const struct dns_rr_mx *mx, const char *name)
{
	int i;

	for (i = 0; i < mx->dnsmx_nrr; i++)
		if (strcasecmp(mx->dnsmx_mx[i].name, name) == 0)
			return 1;
	return 0;
}

/* The additional section's A records that qualify, into a->glue. */
static void
glue_collect(struct mta_dns_mxans *a, dnscc_t *qdn, dnscc_t *pkt,
    dnscc_t *cur, dnscc_t *end)
{
	struct dns_parse p;
	struct dns_rr rr;
	struct mta_dns_glue *g;
	int skip, i = 0;

	if (dns_tc(pkt) || dns_numar(pkt) == 0)
		return;
	dns_initparse(&p, NULL, pkt, cur, end);
	skip = dns_numan(pkt) + dns_numns(pkt);
	p.dnsp_rrl = skip + dns_numar(pkt);
	p.dnsp_qtyp = 0;	/* every record, of every section */
	p.dnsp_qcls = 0;
	while (a->nglue < MTA_DNS_MAX_GLUE && dns_nextrr(&p, &rr) > 0) {
		if (i++ < skip || rr.dnsrr_typ != DNS_T_A ||
		    rr.dnsrr_cls != DNS_C_IN || rr.dnsrr_dsz != 4 ||
		    !glue_under(rr.dnsrr_dn, qdn))
			continue;
		g = &a->glue[a->nglue];
		if (dns_dntop(rr.dnsrr_dn, g->name, sizeof(g->name)) <= 0 ||
		    !glue_is_mx(a->rr, g->name))
			continue;
		memcpy(&g->addr, rr.dnsrr_dptr, 4);
		g->ttl = rr.dnsrr_ttl;
		a->nglue++;
	}
}

/* udns parser of an MX answer: dns_parse_mx's result and the glue. */
int
mta_dns_parse_mx(dnscc_t *qdn, dnscc_t *pkt, dnscc_t *cur, dnscc_t *end,
    void **result)
{
	struct mta_dns_mxans *a;
	void *rr;
	int r;

	if ((r = dns_parse_mx(qdn, pkt, cur, end, &rr)) != 0)
		return r;
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		free(rr);
		return DNS_E_NOMEM;
	}
	a->rr = rr;
	glue_collect(a, qdn, pkt, cur, end);
	*result = a;
	return 0;
}

/* Each MX host with glue: its A records, one cache entry. */
void
mta_dns_glue_cache(const struct mta_dns_mxans *a)
{
	struct mta_dns_entry *e;
	struct sockaddr_in *sin;
	unsigned ttl;
	int i, j, n;

	for (i = 0; i < a->nglue; i++) {
		/* Done already with the first record of this name? */
		for (j = 0; j < i; j++)
			if (strcasecmp(a->glue[j].name, a->glue[i].name) == 0)
				break;
		if (j < i)
			continue;
		for (n = 0, j = i; j < a->nglue; j++)
			n += strcasecmp(a->glue[j].name, a->glue[i].name) == 0;
		e = mta_dns_entry_new(MTA_DNS_OK, 0);
		if ((e->addrs = calloc(n, sizeof(*e->addrs))) == NULL)
			fatal("mta_dns_glue_cache");
		ttl = a->glue[i].ttl;
		for (j = i; j < a->nglue; j++) {
			if (strcasecmp(a->glue[j].name, a->glue[i].name) != 0)
				continue;
			sin = (struct sockaddr_in *)&e->addrs[e->n++];
			sin->sin_family = AF_INET;
			sin->sin_addr = a->glue[j].addr;
			if (a->glue[j].ttl < ttl)
				ttl = a->glue[j].ttl;
		}
		log_debug("dns: %s: %d address(es) from the MX answer",
		    a->glue[i].name, e->n);
		mta_dns_cache_put(MTA_DNS_C_ADDR4, a->glue[i].name, e, ttl);
		mta_dns_entry_free(e);
	}
}

void
mta_dns_mxans_free(struct mta_dns_mxans *a)
{
	if (a == NULL)
		return;
	free(a->rr);
	free(a);
}
