/*
 * mgmtd.c - the management daemon: serves the control socket of the
 * `tern` CLI and the HTTP interface by asking queued, bounced and ternd.
 *
 * deliverd is asked directly only for `tern resolve` (its resolver);
 * queue states and counts come through queued, which hears them from
 * deliverd anyway.
 *
 * It keeps no state of its own besides the running configuration (for
 * "show settings") and the traffic of the last hour (for the monitor's
 * chart, rebuilt by sampling after a restart): every answer is fetched
 * from the daemon that owns it when asked, so mgmtd can be restarted at
 * any time.
 */
#include <stdlib.h>
#include <unistd.h>

#include "daemon.h"
#include "inject.h"
#include "log.h"
#include "mgmtd.h"
#include "proto.h"
#include "snmp.h"

static struct cfg	*g_cfg;
static struct mproc	*g_queued;
static struct mproc	*g_bounced;
static struct mproc	*g_deliverd[MGMTD_MAX_DELIVERD + 1];	/* 1..N */
static int		 g_started;
static int		 g_control_fd = -1;	/* until IMSG_START */
static int		 g_http_fd = -1;
static int		 g_snmp_fd = -1;

struct mproc *
mgmtd_peer(int proc)
{
	int i;

	switch (proc) {
	case PROC_QUEUED:
		return g_queued;
	case PROC_BOUNCED:
		return g_bounced;
	case PROC_TERND:
		return daemon_parent();
	case PROC_DELIVERD:	/* any instance: all share one config */
		for (i = 1; i <= MGMTD_MAX_DELIVERD; i++)
			if (g_deliverd[i] != NULL)
				return g_deliverd[i];
	}
	return NULL;
}

const struct cfg *
mgmtd_cfg(void)
{
	return g_cfg;
}

static int
mgmtd_is_reply(uint32_t type)
{
	return type == CTL_STATUS || type == CTL_QUEUES ||
	    type == CTL_PROCS || type == CTL_RESULT || type == CTL_JOBS ||
	    type == CTL_SUPPRESS_LIST || type == CTL_RESOLVE || type == CTL_TRACE ||
	    type == CTL_CLUSTER;
}

static void
mgmtd_peer_msg(struct mproc *p, struct imsg *imsg)
{
	if (p->proc == PROC_QUEUED && inject_reply(imsg))
		return;		/* HTTP injection (inject_queue.c) */
	if (imsg->fd != -1)
		close(imsg->fd);
	if (!mgmtd_is_reply(imsg->hdr.type))
		fatalx("unexpected %s from %s", proto_name(imsg->hdr.type),
		    p->name);
	ctl_req_reply(p->proc, imsg);
}

static void
mgmtd_peer_gone(struct mproc *p)
{
	if (p == g_queued) {
		g_queued = NULL;
		inject_queued_lost();
	} else if (p == g_bounced)
		g_bounced = NULL;
	else if (p->proc == PROC_DELIVERD && p->instance >= 1 &&
	    p->instance <= MGMTD_MAX_DELIVERD && g_deliverd[p->instance] == p)
		g_deliverd[p->instance] = NULL;
	ctl_req_peer_lost(p->proc);
}

static void
mgmtd_parent_msg(struct mproc *p, struct imsg *imsg)
{
	mgmtd_peer_msg(p, imsg);
}

static void
mgmtd_config(struct cfg *cfg, int initial)
{
	if (g_cfg != NULL)
		cfg_free(g_cfg);
	g_cfg = cfg;
	http_configure(cfg);
	snmp_agent_configure(cfg);
}

static void
mgmtd_peer_new(int proc, int instance, int fd)
{
	struct mproc **pp;

	switch (proc) {
	case PROC_QUEUED:
		pp = &g_queued;
		break;
	case PROC_BOUNCED:
		pp = &g_bounced;
		break;
	case PROC_DELIVERD:
		if (instance >= 1 && instance <= MGMTD_MAX_DELIVERD) {
			pp = &g_deliverd[instance];
			break;
		}
		/* FALLTHROUGH */
	default:
		log_warnx("unexpected peer %s", proc_name(proc));
		close(fd);
		return;
	}
	/* A replacement after a restart: the old channel is dead. */
	if (*pp != NULL) {
		ctl_req_peer_lost(proc);
		if (proc == PROC_QUEUED)
			inject_queued_lost();
		mproc_close(*pp);
	}
	*pp = mproc_new(daemon_loop(), fd, proc, instance, mgmtd_peer_msg,
	    mgmtd_peer_gone, NULL);
}

static void
mgmtd_listener(int kind, const char *name, int fd)
{
	int *slot;

	switch (kind) {
	case LISTEN_CONTROL:
		slot = &g_control_fd;
		break;
	case LISTEN_HTTP:
		slot = &g_http_fd;
		break;
	case LISTEN_SNMP:
		slot = &g_snmp_fd;
		break;
	default:
		log_warnx("listener %s: not for mgmtd", name);
		close(fd);
		return;
	}
	/* Clients are accepted once every peer is known (IMSG_START). */
	if (!g_started) {
		if (*slot != -1)
			close(*slot);
		*slot = fd;
	} else if (kind == LISTEN_CONTROL)
		ctl_server_listen(fd);
	else if (kind == LISTEN_SNMP)
		snmp_agent_listen(fd);
	else
		http_listen(fd);
}

static void
mgmtd_file(int kind, const char *path, int fd)
{
	if (kind == FILE_HTPASSWD)
		http_htpasswd(fd);
	else if (kind == FILE_HTTP_CERT)
		http_tls_cert(fd);
	else {
		log_warnx("file %s: not for mgmtd", path);
		close(fd);
	}
}

static void
mgmtd_start(void)
{
	g_started = 1;
	if (g_control_fd != -1) {
		ctl_server_listen(g_control_fd);
		g_control_fd = -1;
	}
	if (g_http_fd != -1) {
		http_listen(g_http_fd);
		g_http_fd = -1;
	}
	if (g_snmp_fd != -1) {
		snmp_agent_listen(g_snmp_fd);
		g_snmp_fd = -1;
	}
	history_start();
	log_debug("started");
}

static void
mgmtd_shutdown(void)
{
	ctl_server_close();
	http_close();
	snmp_agent_close();
	daemon_exit(0);
}

static const struct daemon_ops mgmtd_ops = {
	.proc = PROC_MGMTD,
	.config = mgmtd_config,
	.peer = mgmtd_peer_new,
	.listener = mgmtd_listener,
	.file = mgmtd_file,
	.start = mgmtd_start,
	.parent_msg = mgmtd_parent_msg,
	.shutdown = mgmtd_shutdown,
};

int
main(int argc, char **argv)
{
	return daemon_main(argc, argv, &mgmtd_ops);
}
