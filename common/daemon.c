/*
 * daemon.c - the common life of a Tern daemon: command line, privilege
 * drop, the channel to ternd, setup messages, signals.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "proc.h"
#include "proto.h"

static uv_loop_t		*d_loop;
static struct mproc		*d_parent;
static const struct daemon_ops	*d_ops;
static int			 d_instance, d_ninstances = 1;
static int			 d_configured, d_stopping, d_chrooted;
static uv_signal_t		 d_sigterm;
static uv_prepare_t		 d_logflush;	/* held log lines out */

uv_loop_t *
daemon_loop(void)
{
	return d_loop;
}

struct mproc *
daemon_parent(void)
{
	return d_parent;
}

int
daemon_instance(void)
{
	return d_instance;
}

int
daemon_chrooted(void)
{
	return d_chrooted;
}

int
daemon_ninstances(void)
{
	return d_ninstances;
}

void
daemon_exit(int status)
{
	if (d_parent != NULL)
		mproc_flush_sync(d_parent);
	exit(status);
}

static void
daemon_stop(void)
{
	if (d_stopping++)
		return;
	log_debug("shutting down");
	if (d_ops->shutdown != NULL)
		d_ops->shutdown();
	else
		daemon_exit(0);
}

static void
daemon_parent_msg(struct mproc *p, struct imsg *imsg)
{
	struct msg m;
	struct cfg *cfg;
	const char *name;
	uint32_t proc, inst, kind;

	m_msg(&m, imsg);
	switch (imsg->hdr.type) {
	case IMSG_CFG_BEGIN:
	case IMSG_CFG_NODE:
	case IMSG_CFG_END:
		if ((cfg = cfg_wire_recv(imsg)) != NULL) {
			d_ops->config(cfg, !d_configured);
			d_configured = 1;
		}
		return;
	case IMSG_PEER:
		m_get_u32(&m, &proc);
		m_get_u32(&m, &inst);
		m_end(&m);
		if (imsg->fd == -1 || d_ops->peer == NULL)
			fatalx("unexpected peer %s", proc_name(proc));
		d_ops->peer(proc, inst, imsg->fd);
		return;
	case IMSG_LISTENER:
	case IMSG_FILE:
		m_get_u32(&m, &kind);
		m_get_string(&m, &name);
		m_end(&m);
		if (imsg->fd == -1)
			fatalx("%s without fd", proto_name(imsg->hdr.type));
		if (imsg->hdr.type == IMSG_FILE && kind == FILE_LOG) {
			/* tern rotate log (ternd/logfile.c): new stderr */
			if (dup2(imsg->fd, STDERR_FILENO) == -1)
				log_warn("log file");
			close(imsg->fd);
			return;
		}
		if (imsg->hdr.type == IMSG_LISTENER && d_ops->listener)
			d_ops->listener(kind, name, imsg->fd);
		else if (imsg->hdr.type == IMSG_FILE && d_ops->file)
			d_ops->file(kind, name, imsg->fd);
		else
			fatalx("unexpected %s", proto_name(imsg->hdr.type));
		return;
	case IMSG_LISTENER_CLOSE:
		/* Reload dropped a listener: ops->listener with fd -1. */
		m_get_string(&m, &name);
		m_end(&m);
		if (name == NULL || d_ops->listener == NULL)
			fatalx("unexpected %s", proto_name(imsg->hdr.type));
		d_ops->listener(0, name, -1);
		return;
	case IMSG_START:
		m_get_u32(&m, &inst);
		m_get_u32(&m, &kind);
		m_end(&m);
		d_instance = inst;
		d_ninstances = kind;
		if (!d_configured)
			fatalx("started without a config");
		if (d_ops->start)
			d_ops->start();
		return;
	}
	if (d_ops->parent_msg == NULL)
		fatalx("unexpected %s from ternd", proto_name(imsg->hdr.type));
	d_ops->parent_msg(p, imsg);
}

static void
daemon_parent_gone(struct mproc *p)
{
	d_parent = NULL;
	log_debug("ternd went away");
	daemon_stop();
}

/* Before the loop waits: the lines of the turn, in one write. */
static void
daemon_logflush_cb(uv_prepare_t *h)
{
	log_flush();
}

static void
daemon_sig(uv_signal_t *h, int sig)
{
	daemon_stop();
}

static void
usage(const char *name)
{
	fprintf(stderr, "usage: %s [-dv] [-u user] [-r chroot] [-i instance]\n"
	    "%s is started by ternd, not by hand.\n", name, name);
	exit(2);
}

int
daemon_main(int argc, char **argv, const struct daemon_ops *ops)
{
	const char *user = NULL, *root = NULL, *name = proc_name(ops->proc);
	char pname[32];
	int ch, fg = 0, verbose = 0;

	d_ops = ops;
	/*
	 * Per-connection buffers (smtpd's 64 KB input and file buffers,
	 * deliverd's) sit at the top of the heap.  With glibc's default
	 * 128 KB trim threshold every session end gave them back with brk()
	 * and the next session asked again: two system calls and page faults
	 * per connection (perf: ~4% of smtpd).  Keep up to 1 MB of free heap.
	 */
	mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
	mallopt(M_MMAP_THRESHOLD, 512 * 1024);
	while ((ch = getopt(argc, argv, "dvu:r:i:")) != -1) {
		switch (ch) {
		case 'd': fg = 1; break;
		case 'v': verbose++; break;
		case 'u': user = optarg; break;
		case 'r': root = optarg; break;
		case 'i': d_instance = atoi(optarg); break;
		default: usage(name);
		}
	}
	if (fcntl(PROC_PARENT_FD, F_GETFD) == -1) {
		fprintf(stderr, "%s: no channel to ternd on fd %d\n", name,
		    PROC_PARENT_FD);
		usage(name);
	}
	if (d_instance > 0)
		snprintf(pname, sizeof(pname), "%s.%d", name, d_instance);
	else
		strlcpy(pname, name, sizeof(pname));
	log_init(fg, pname);
	log_hold();
	log_setverbose(verbose);
	signal(SIGPIPE, SIG_IGN);
#ifdef TERN_SANITIZE_BUILD
	d_chrooted = 0;		/* see proc_privdrop() */
#else
	d_chrooted = root != NULL && geteuid() == 0;
#endif
	proc_privdrop(user, root);

	d_loop = uv_default_loop();
	d_parent = mproc_new(d_loop, PROC_PARENT_FD, PROC_TERND, 0,
	    daemon_parent_msg, daemon_parent_gone, NULL);
	uv_signal_init(d_loop, &d_sigterm);
	uv_signal_start(&d_sigterm, daemon_sig, SIGTERM);
	uv_unref((uv_handle_t *)&d_sigterm);
	uv_prepare_init(d_loop, &d_logflush);
	uv_prepare_start(&d_logflush, daemon_logflush_cb);
	uv_unref((uv_handle_t *)&d_logflush);
	uv_run(d_loop, UV_RUN_DEFAULT);
	log_flush();
	return 0;
}
