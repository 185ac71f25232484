/*
 * snmp.h - mgmtd's SNMP agent: v2c, read only, TERN-MIB (etc/TERN-MIB.txt).
 *
 *	snmp_agent.c	the UDP socket ternd bound, on mgmtd's loop: one
 *			datagram in, its answer out once the numbers are in
 *	snmp_packet.c	a datagram into a request (net-snmp's BER/PDU
 *			parser), checks, and the answer (net-snmp's encoder)
 *	snmp_mib.c	the TERN-MIB view: every object and its value, in
 *			OID order, built from the answers of `show status`
 *			and `show queues`, the same ones /api/v1/stats and
 *			/metrics are made of
 *
 * See docs/snmp.md for why an agent inside mgmtd rather than an AgentX
 * subagent of snmpd.
 */
#ifndef TERN_SNMP_H
#define TERN_SNMP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <jansson.h>

#define SNMP_OIDLEN_MAX		32	/* sub-identifiers in our names */
#define SNMP_MAX_COMMUNITIES	16
#define SNMP_COMMUNITY_MAX	255

/* enterprises.99999.1: see the MODULE-IDENTITY in etc/TERN-MIB.txt */
#define SNMP_TERN_ROOT		1, 3, 6, 1, 4, 1, 99999, 1
#define SNMP_TERN_ROOT_LEN	8

/* What the agent itself counts (ternAgent in the MIB). */
struct snmp_stats {
	uint64_t	packets;	/* datagrams received */
	uint64_t	bad_community;	/* dropped: no such community */
	uint64_t	malformed;	/* dropped: not a v2c request we parse */
	uint64_t	set_refused;	/* SET answered notWritable */
	uint64_t	answered;
};

/* One object instance. */
struct snmp_var {
	uint32_t	 name[SNMP_OIDLEN_MAX];
	size_t		 len;
	int		 type;		/* SNMP_T_* */
	uint64_t	 num;
	char		*str;		/* SNMP_T_STRING */
};
enum { SNMP_T_INTEGER = 1, SNMP_T_STRING, SNMP_T_GAUGE, SNMP_T_COUNTER64,
	SNMP_T_TIMETICKS };

struct snmp_view {
	struct snmp_var	*v;		/* sorted by name */
	size_t		 n, cap;
};

/* snmp_mib.c */
/* The view of status (`show status`: {"status":..,"processes":..}) and
 * queues (`show queues`: an array); either may be NULL (daemon down:
 * its objects are absent). */
struct snmp_view *snmp_view_build(const json_t *status, const json_t *queues,
		    const struct snmp_stats *, time_t now);
void		 snmp_view_free(struct snmp_view *);
/* The instance named exactly, or the first one after name; NULL if none. */
const struct snmp_var *snmp_view_get(const struct snmp_view *,
		    const uint32_t *name, size_t len);
const struct snmp_var *snmp_view_next(const struct snmp_view *,
		    const uint32_t *name, size_t len);

/* snmp_packet.c */
struct snmp_req;
/* A datagram: NULL when it is dropped (counted in stats); *is_set when
 * it is a SET, which is answered with snmp_packet_answer(req, NULL). */
struct snmp_req	*snmp_packet_parse(const unsigned char *, size_t,
		    char *const *communities, int ncommunities,
		    struct snmp_stats *, int *is_set);
/* The answer (malloc'd, *lenp bytes) to req from view; NULL on failure. */
unsigned char	*snmp_packet_answer(struct snmp_req *,
		    const struct snmp_view *, size_t *lenp);
void		 snmp_packet_free(struct snmp_req *);

/* snmp_agent.c */
void		 snmp_agent_listen(int fd);
struct cfg;
void		 snmp_agent_configure(const struct cfg *);
void		 snmp_agent_close(void);

#endif
