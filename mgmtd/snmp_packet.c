/*
 * snmp_packet.c - one SNMP datagram in, its answer out, with net-snmp's
 * library doing the BER: snmp_comstr_parse() for the message header
 * (version, community), snmp_pdu_parse() for the PDU, snmp_build() for
 * the response.  What is ours: the checks and the request semantics.
 *
 * Dropped without an answer (and counted): anything but SNMPv2c, a
 * community not in snmp-community, a PDU that does not parse, a PDU
 * type an agent does not answer (responses, traps, reports).  SET is
 * answered notWritable: the agent is read only.
 *
 * Bounds: GETBULK repetitions are capped at SNMP_MAX_REPS and an answer
 * holds at most SNMP_MAX_VARS variables, so one request cannot make a
 * huge reply.
 */
#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>
#include <net-snmp/library/snmp_impl.h>
#include <stdlib.h>
#include <string.h>

#include "snmp.h"

#define SNMP_MAX_REPS	64
#define SNMP_MAX_VARS	512
#define SNMP_MAX_PACKET	65507

struct snmp_req {
	netsnmp_pdu	*pdu;
};

static netsnmp_session	 pkt_sess;
static int		 pkt_sess_ready;

/* net-snmp writes its complaints about bad packets to stderr unless
 * told not to: a flood of garbage must not fill ternd's log. */
static void
pkt_lib_init(void)
{
	if (pkt_sess_ready)
		return;
	snmp_disable_log();
	snmp_sess_init(&pkt_sess);
	pkt_sess.version = SNMP_VERSION_2c;
	pkt_sess_ready = 1;
}

void
snmp_packet_free(struct snmp_req *r)
{
	if (r == NULL)
		return;
	if (r->pdu != NULL)
		snmp_free_pdu(r->pdu);
	free(r);
}

static int
pkt_community_ok(const u_char *c, size_t len, char *const *list, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (strlen(list[i]) == len && memcmp(list[i], c, len) == 0)
			return 1;
	return 0;
}

struct snmp_req *
snmp_packet_parse(const unsigned char *data, size_t size,
    char *const *communities, int ncommunities, struct snmp_stats *st,
    int *is_set)
{
	u_char community[SNMP_COMMUNITY_MAX + 1], *copy, *pdu;
	size_t clen = sizeof(community), len = size;
	struct snmp_req *r;
	long version = -1;

	pkt_lib_init();
	*is_set = 0;
	st->packets++;
	/* net-snmp's parser takes a non-const buffer. */
	if (size == 0 || size > SNMP_MAX_PACKET ||
	    (copy = malloc(size)) == NULL) {
		st->malformed++;
		return NULL;
	}
	memcpy(copy, data, size);
	pdu = snmp_comstr_parse(copy, &len, community, &clen, &version);
	if (pdu == NULL || version != SNMP_VERSION_2c) {
		free(copy);
		st->malformed++;
		return NULL;
	}
	if (!pkt_community_ok(community, clen, communities, ncommunities)) {
		free(copy);
		st->bad_community++;
		return NULL;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->pdu = calloc(1, sizeof(*r->pdu))) == NULL) {
		free(r);
		free(copy);
		st->malformed++;
		return NULL;
	}
	r->pdu->version = version;
	if (snmp_pdu_parse(r->pdu, pdu, &len) != SNMPERR_SUCCESS ||
	    (r->pdu->command != SNMP_MSG_GET &&
	    r->pdu->command != SNMP_MSG_GETNEXT &&
	    r->pdu->command != SNMP_MSG_GETBULK &&
	    r->pdu->command != SNMP_MSG_SET)) {
		free(copy);
		snmp_packet_free(r);
		st->malformed++;
		return NULL;
	}
	free(copy);
	if ((r->pdu->community = malloc(clen + 1)) == NULL) {
		snmp_packet_free(r);
		st->malformed++;
		return NULL;
	}
	memcpy(r->pdu->community, community, clen);
	r->pdu->community_len = clen;
	if (r->pdu->command == SNMP_MSG_SET) {
		*is_set = 1;
		st->set_refused++;
	}
	return r;
}

/* Our instance v into the response. */
static void
pkt_add_var(netsnmp_pdu *resp, const struct snmp_var *v)
{
	oid name[SNMP_OIDLEN_MAX];
	struct counter64 c64;
	u_long ul;
	long l;
	size_t i;

	for (i = 0; i < v->len; i++)
		name[i] = v->name[i];
	switch (v->type) {
	case SNMP_T_STRING:
		snmp_pdu_add_variable(resp, name, v->len, ASN_OCTET_STR,
		    v->str ? v->str : "", v->str ? strlen(v->str) : 0);
		break;
	case SNMP_T_INTEGER:
		l = (long)v->num;
		snmp_pdu_add_variable(resp, name, v->len, ASN_INTEGER, &l,
		    sizeof(l));
		break;
	case SNMP_T_COUNTER64:
		c64.high = v->num >> 32;
		c64.low = v->num & 0xffffffffUL;
		snmp_pdu_add_variable(resp, name, v->len, ASN_COUNTER64, &c64,
		    sizeof(c64));
		break;
	default:
		ul = (u_long)(v->num & 0xffffffffUL);
		snmp_pdu_add_variable(resp, name, v->len, v->type ==
		    SNMP_T_TIMETICKS ? ASN_TIMETICKS : ASN_GAUGE, &ul,
		    sizeof(ul));
	}
}

/* The request's name as ours; 0 if it is too long to be one of ours
 * (then nothing of ours is equal and only the next one counts). */
static size_t
pkt_name(const netsnmp_variable_list *vb, uint32_t *out)
{
	size_t i, n = vb->name_length;

	if (n > SNMP_OIDLEN_MAX)
		n = SNMP_OIDLEN_MAX;
	for (i = 0; i < n; i++)
		out[i] = vb->name[i] > UINT32_MAX ? UINT32_MAX :
		    (uint32_t)vb->name[i];
	return n;
}

static void
pkt_exception(netsnmp_pdu *resp, const netsnmp_variable_list *vb, u_char t)
{
	snmp_pdu_add_variable(resp, vb->name, vb->name_length, t, NULL, 0);
}

/* GETNEXT of one name; the instance found, or NULL (endOfMibView). */
static const struct snmp_var *
pkt_next(const struct snmp_view *vw, netsnmp_pdu *resp,
    const netsnmp_variable_list *vb, const uint32_t *name, size_t len)
{
	const struct snmp_var *v = snmp_view_next(vw, name, len);

	if (v != NULL)
		pkt_add_var(resp, v);
	else
		pkt_exception(resp, vb, SNMP_ENDOFMIBVIEW);
	return v;
}

static void
pkt_do_get(netsnmp_pdu *req, netsnmp_pdu *resp, const struct snmp_view *vw)
{
	netsnmp_variable_list *vb;
	const struct snmp_var *v;
	uint32_t name[SNMP_OIDLEN_MAX];
	size_t len;
	int n = 0;

	for (vb = req->variables; vb != NULL && n < SNMP_MAX_VARS;
	    vb = vb->next_variable, n++) {
		len = pkt_name(vb, name);
		if (req->command == SNMP_MSG_GETNEXT)
			pkt_next(vw, resp, vb, name, len);
		else if (vb->name_length <= SNMP_OIDLEN_MAX &&
		    (v = snmp_view_get(vw, name, len)) != NULL)
			pkt_add_var(resp, v);
		else
			pkt_exception(resp, vb, SNMP_NOSUCHOBJECT);
	}
}

/* GETBULK (RFC 3416 4.2.3): N non-repeaters once, then up to M rounds
 * of the other R names, each continuing where it stopped. */
static void
pkt_do_bulk(netsnmp_pdu *req, netsnmp_pdu *resp, const struct snmp_view *vw)
{
	netsnmp_variable_list *vb, *rep[SNMP_MAX_VARS];
	const struct snmp_var *v, *last[SNMP_MAX_VARS];
	uint32_t name[SNMP_OIDLEN_MAX];
	long nonrep = req->non_repeaters, reps = req->max_repetitions;
	int i = 0, r, nrep = 0, nvars = 0, live;

	if (nonrep < 0)
		nonrep = 0;
	if (reps < 0)
		reps = 0;
	if (reps > SNMP_MAX_REPS)
		reps = SNMP_MAX_REPS;
	for (vb = req->variables; vb != NULL && nvars < SNMP_MAX_VARS;
	    vb = vb->next_variable, i++) {
		if (i < nonrep) {
			pkt_next(vw, resp, vb, name, pkt_name(vb, name));
			nvars++;
		} else if (nrep < SNMP_MAX_VARS) {
			rep[nrep] = vb;
			last[nrep++] = NULL;
		}
	}
	for (; reps > 0; reps--) {
		live = 0;
		for (r = 0; r < nrep && nvars < SNMP_MAX_VARS; r++, nvars++) {
			if (last[r] == NULL && reps != req->max_repetitions &&
			    req->max_repetitions <= SNMP_MAX_REPS) {
				/* ended in an earlier round */
				pkt_exception(resp, rep[r],
				    SNMP_ENDOFMIBVIEW);
				continue;
			}
			v = last[r] ? pkt_next(vw, resp, rep[r], last[r]->name,
			    last[r]->len) : pkt_next(vw, resp, rep[r], name,
			    pkt_name(rep[r], name));
			live += v != NULL;
			last[r] = v;
		}
		if (live == 0 || nvars >= SNMP_MAX_VARS)
			break;
	}
}

unsigned char *
snmp_packet_answer(struct snmp_req *r, const struct snmp_view *vw,
    size_t *lenp)
{
	netsnmp_pdu *req = r->pdu, *resp;
	netsnmp_variable_list *vb;
	u_char *pkt, *out = NULL;
	size_t pktlen = 2048, off = 0;

	pkt_lib_init();
	if ((resp = snmp_pdu_create(SNMP_MSG_RESPONSE)) == NULL)
		return NULL;
	resp->version = SNMP_VERSION_2c;
	resp->reqid = req->reqid;
	resp->msgid = req->msgid;
	if ((resp->community = malloc(req->community_len + 1)) == NULL) {
		snmp_free_pdu(resp);
		return NULL;
	}
	memcpy(resp->community, req->community, req->community_len);
	resp->community_len = req->community_len;
	if (req->command == SNMP_MSG_SET || vw == NULL) {
		/* read only: the variables back, and why not */
		resp->errstat = SNMP_ERR_NOTWRITABLE;
		resp->errindex = 1;
		for (vb = req->variables; vb != NULL; vb = vb->next_variable)
			snmp_pdu_add_variable(resp, vb->name, vb->name_length,
			    vb->type, vb->val.string, vb->val_len);
	} else if (req->command == SNMP_MSG_GETBULK)
		pkt_do_bulk(req, resp, vw);
	else
		pkt_do_get(req, resp, vw);
	if ((pkt = malloc(pktlen)) != NULL &&
	    snmp_build(&pkt, &pktlen, &off, &pkt_sess, resp) == 0 &&
	    off > 0 && off <= pktlen && off <= SNMP_MAX_PACKET &&
	    (out = malloc(off)) != NULL) {
		/* net-snmp encodes backwards, from the end of the buffer */
		memcpy(out, pkt + pktlen - off, off);
		*lenp = off;
	}
	free(pkt);
	snmp_free_pdu(resp);
	return out;
}
