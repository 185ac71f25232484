/*
 * deliverd.c - outbound SMTP delivery daemon (one of N instances).
 *
 * queued hands us jobs (DLV_JOB: one message, the recipients of one
 * queue) on a channel ternd set up; we deliver them over SMTP and answer
 * with one DLV_RESULT per recipient and a DLV_DONE.  See mta.h for the
 * parts and docs/internals.md for the protocol.
 */
#include <stdlib.h>

#include "daemon.h"
#include "log.h"
#include "mta.h"
#include "proto.h"
#include "resolver.h"

#define DELIVERD_STOP_GRACE	5000	/* ms to finish work on SIGTERM: well
					   inside ternd's own grace (super.c) */

static struct cfg	*d_cfg;
static struct mproc	*d_queued;
static struct mproc	*d_mgmtd;	/* `tern resolve` asks here */
static int		 d_stopping;
static uv_timer_t	 d_stop_timer;

struct cfg *
mta_cfg(void)
{
	return d_cfg;
}

struct mproc *
mta_queued(void)
{
	return d_queued;
}

struct mproc *
mta_mgmtd(void)
{
	return d_mgmtd;
}

int
mta_stopping(void)
{
	return d_stopping;
}

static void
deliverd_config(struct cfg *cfg, int initial)
{
	struct cfg *old = d_cfg;

	d_cfg = cfg;
	/* Queues copy what they need: the old tree can go after this. */
	if (!initial) {
		mta_dns_reconfig();
		mta_queue_reconfig();
	}
	if (old != NULL)
		cfg_free(old);
	log_debug("%s configuration", initial ? "initial" : "new");
}

static void
deliverd_queued_msg(struct mproc *p, struct imsg *imsg)
{
	switch (imsg->hdr.type) {
	case DLV_JOB:
		mta_job_recv(imsg);
		return;
	case DLV_ACK:
		mta_job_ack(imsg);
		return;
	case DLV_SEG:
		mta_seg_recv(imsg);
		return;
	case DLV_SEG_DROP:
		mta_seg_drop_recv(imsg);
		return;
	case DLV_SLOT_GRANT:
		mta_slot_grant(imsg);
		return;
	case CTL_QUEUE_FORCE:
		mta_ctl_force(imsg);
		return;
	}
	fatalx("unexpected %s from queued", proto_name(imsg->hdr.type));
}

static void
deliverd_queued_gone(struct mproc *p)
{
	if (p != d_queued)
		return;
	d_queued = NULL;
	mta_seg_forget();
	/* In-flight jobs go on; their results wait for the next queued. */
	log_info("queued went away; %d job(s) kept for its return",
	    mta_job_count());
	mta_check_exit();
}

static void
deliverd_mgmtd_gone(struct mproc *p)
{
	if (p == d_mgmtd)
		d_mgmtd = NULL;
}

static void
deliverd_peer(int proc, int instance, int fd)
{
	if (proc == PROC_MGMTD) {
		if (d_mgmtd != NULL)
			mproc_close(d_mgmtd);
		d_mgmtd = mproc_new(daemon_loop(), fd, PROC_MGMTD, 0,
		    mta_ctl_msg, deliverd_mgmtd_gone, NULL);
		return;
	}
	if (proc != PROC_QUEUED)
		fatalx("unexpected peer %s", proc_name(proc));
	if (d_queued != NULL) {
		log_warnx("new queued channel while the old one is open");
		mproc_close(d_queued);
	}
	d_queued = mproc_new(daemon_loop(), fd, PROC_QUEUED, 0,
	    deliverd_queued_msg, deliverd_queued_gone, NULL);
	/* queued gives us no work before DLV_HELLO_END. */
	mta_slot_replay(d_queued);
	mta_job_replay(d_queued);
}

static void
deliverd_start(void)
{
	log_info("started, instance %d of %d", daemon_instance(),
	    daemon_ninstances());
	mta_stats_start();
}

void
mta_check_exit(void)
{
	if (!d_stopping || mta_job_active() > 0)
		return;
	/* Finished jobs wait for queued's ACK, if there is a queued. */
	if (d_queued != NULL && mta_job_count() > 0)
		return;
	if (d_queued != NULL)
		mproc_flush_sync(d_queued);
	log_debug("all work done, exiting");
	daemon_exit(0);
}

static void
deliverd_stop_timeout(uv_timer_t *t)
{
	log_warnx("exiting with %d job(s) unfinished or unacknowledged",
	    mta_job_count());
	if (d_queued != NULL)
		mproc_flush_sync(d_queued);
	daemon_exit(0);
}

static void
deliverd_shutdown(void)
{
	d_stopping = 1;
	mta_stats_stop();
	uv_timer_init(daemon_loop(), &d_stop_timer);
	uv_timer_start(&d_stop_timer, deliverd_stop_timeout,
	    DELIVERD_STOP_GRACE, 0);
	mta_queue_shutdown();
	mta_check_exit();
}

static void
deliverd_parent_msg(struct mproc *p, struct imsg *imsg)
{
	switch (imsg->hdr.type) {
	case DLV_DKIM_KEY:
		mta_dkim_key_recv(imsg);
		return;
	case DLV_NAMESERVERS:
		resolver_host_servers(imsg);
		return;
	case DLV_TLS_CA:
		mta_tls_ca_recv(imsg);
		return;
	case DLV_PIPE_DONE:
		mta_local_done(imsg);
		return;
	}
	fatalx("unexpected %s from ternd", proto_name(imsg->hdr.type));
}

static const struct daemon_ops deliverd_ops = {
	.proc = PROC_DELIVERD,
	.config = deliverd_config,
	.peer = deliverd_peer,
	.start = deliverd_start,
	.parent_msg = deliverd_parent_msg,
	.shutdown = deliverd_shutdown,
};

int
main(int argc, char **argv)
{
	return daemon_main(argc, argv, &deliverd_ops);
}
