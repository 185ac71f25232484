/*
 * snmp_agent.c - the SNMP agent on mgmtd's loop.
 *
 * ternd binds snmp-port on snmp-interface (as root: 161 is privileged)
 * and hands the socket down (LISTEN_SNMP).  Each datagram is parsed at
 * once (snmp_packet.c); a request that is answered waits for the
 * numbers: one `show status` and one `show queues` control request,
 * run inside mgmtd exactly as the CLI's and HTTP's, then every request
 * that came meanwhile is answered from that one view.  Nothing is
 * cached between batches, so a poll never sees older numbers than
 * /api/v1/stats would show.
 *
 * Bounds: SNMP_MAX_PENDING requests wait at once (more are dropped, as
 * a busy agent does); a batch whose daemons do not answer ends after
 * the control timeout with whatever came (absent objects).
 */
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cfg.h"
#include "log.h"
#include "daemon.h"
#include "mgmtd.h"
#include "snmp.h"
#include "util.h"

#define SNMP_MAX_PENDING	64
#define SNMP_RECV_MAX		65536

struct snmp_pending {
	struct snmp_req		*req;
	struct sockaddr_storage	 from;
};

/* One of the two control requests of a batch. */
struct snmp_fetch {
	struct ctl_conn		 conn;		/* first: ctl_req sees this */
	json_t			*answer;
	int			 done;
};

static uv_udp_t			*agent_udp;
static char			*agent_communities[SNMP_MAX_COMMUNITIES];
static int			 agent_ncommunities;
static struct snmp_stats	 agent_stats;
static struct snmp_pending	 agent_pending[SNMP_MAX_PENDING];
static int			 agent_npending;
static int			 agent_fetching;
static struct snmp_fetch	 agent_fetch_status, agent_fetch_queues;
static char			 agent_rbuf[SNMP_RECV_MAX];

void
snmp_agent_configure(const struct cfg *cfg)
{
	struct cfg_node *n;
	int i;

	for (i = 0; i < agent_ncommunities; i++)
		free(agent_communities[i]);
	agent_ncommunities = 0;
	for (n = cfg_child(cfg->root, "snmp-community"); n != NULL &&
	    agent_ncommunities < SNMP_MAX_COMMUNITIES;
	    n = cfg_next_named(n, "snmp-community"))
		if (n->arg != NULL && *n->arg != '\0' &&
		    strlen(n->arg) <= SNMP_COMMUNITY_MAX)
			agent_communities[agent_ncommunities++] =
			    xstrdup(n->arg);
}

static void
agent_send(const struct sockaddr *to, const unsigned char *pkt, size_t len)
{
	uv_buf_t b = uv_buf_init((char *)pkt, len);
	int r;

	if (agent_udp == NULL)
		return;
	if ((r = uv_udp_try_send(agent_udp, &b, 1, to)) < 0)
		log_debug("snmp: send: %s", uv_strerror(r));
	else
		agent_stats.answered++;
}

static void
agent_answer(struct snmp_req *req, const struct sockaddr *to,
    const struct snmp_view *vw)
{
	unsigned char *out;
	size_t len;

	if ((out = snmp_packet_answer(req, vw, &len)) != NULL) {
		agent_send(to, out, len);
		free(out);
	}
	snmp_packet_free(req);
}

/* Both answers are in: every waiting request gets its reply. */
static void
agent_batch_done(void)
{
	struct snmp_view *vw;
	int i;

	vw = snmp_view_build(agent_fetch_status.answer,
	    agent_fetch_queues.answer, &agent_stats, time(NULL));
	for (i = 0; i < agent_npending; i++)
		agent_answer(agent_pending[i].req,
		    (struct sockaddr *)&agent_pending[i].from, vw);
	agent_npending = 0;
	snmp_view_free(vw);
	json_decref(agent_fetch_status.answer);
	json_decref(agent_fetch_queues.answer);
	agent_fetch_status.answer = agent_fetch_queues.answer = NULL;
	agent_fetching = 0;
}

static void
agent_fetch_reply(struct ctl_conn *c, json_t *j)
{
	struct snmp_fetch *f = (struct snmp_fetch *)c;

	/* {"error":..}: that daemon is down; its objects are absent. */
	if (j != NULL && json_object_get(j, "error") != NULL) {
		json_decref(j);
		j = NULL;
	}
	f->answer = j;
	f->done = 1;
	if (agent_fetch_status.done && agent_fetch_queues.done)
		agent_batch_done();
}

static void
agent_fetch_start(struct snmp_fetch *f, const char *request)
{
	char line[64];

	memset(f, 0, sizeof(*f));
	f->conn.reply = agent_fetch_reply;
	strlcpy(line, request, sizeof(line));
	ctl_req_start(&f->conn, line);
}

static void
agent_batch_start(void)
{
	if (agent_fetching)
		return;
	agent_fetching = 1;
	agent_fetch_status.done = agent_fetch_queues.done = 0;
	agent_fetch_start(&agent_fetch_status, "show status");
	agent_fetch_start(&agent_fetch_queues, "show queues");
}

static void
agent_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	*b = uv_buf_init(agent_rbuf, sizeof(agent_rbuf));
}

static void
agent_recv(uv_udp_t *u, ssize_t n, const uv_buf_t *b,
    const struct sockaddr *from, unsigned flags)
{
	struct snmp_req *req;
	int is_set;

	if (n <= 0 || from == NULL)
		return;
	if (flags & UV_UDP_PARTIAL) {
		agent_stats.packets++;
		agent_stats.malformed++;
		return;
	}
	if ((req = snmp_packet_parse((unsigned char *)b->base, n,
	    agent_communities, agent_ncommunities, &agent_stats,
	    &is_set)) == NULL)
		return;
	if (is_set) {
		agent_answer(req, from, NULL);
		return;
	}
	if (agent_npending == SNMP_MAX_PENDING) {
		snmp_packet_free(req);
		return;
	}
	agent_pending[agent_npending].req = req;
	memset(&agent_pending[agent_npending].from, 0,
	    sizeof(agent_pending[agent_npending].from));
	memcpy(&agent_pending[agent_npending].from, from,
	    from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in));
	agent_npending++;
	agent_batch_start();
}

static void
agent_udp_free(uv_handle_t *h)
{
	free(h);
}

void
snmp_agent_listen(int fd)
{
	int r;

	snmp_agent_close();
	if ((agent_udp = calloc(1, sizeof(*agent_udp))) == NULL)
		fatal("snmp_agent_listen");
	uv_udp_init(daemon_loop(), agent_udp);
	if ((r = uv_udp_open(agent_udp, fd)) != 0 ||
	    (r = uv_udp_recv_start(agent_udp, agent_alloc, agent_recv)) != 0)
		fatalx("snmp socket: %s", uv_strerror(r));
	log_debug("snmp: agent ready, %d communit%s", agent_ncommunities,
	    agent_ncommunities == 1 ? "y" : "ies");
}

void
snmp_agent_close(void)
{
	int i;

	if (agent_udp != NULL) {
		uv_close((uv_handle_t *)agent_udp, agent_udp_free);
		agent_udp = NULL;
	}
	for (i = 0; i < agent_npending; i++)
		snmp_packet_free(agent_pending[i].req);
	agent_npending = 0;
}
