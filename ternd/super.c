/*
 * super.c - start, wire, watch and restart the daemons.
 *
 * Every daemon gets a channel to ternd on fd 3.  The links between daemons
 * (link_table) are socketpairs made here and handed to both ends with
 * IMSG_PEER; when a daemon is restarted it gets fresh links to each
 * running peer, and each peer gets the other end, so no daemon ever needs
 * to know that another one was replaced.
 */
#include <sys/socket.h>
#include <sys/wait.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "proc.h"
#include "proto.h"
#include "reload.h"
#include "ternd.h"

#define BACKOFF_MIN_MS	200
#define BACKOFF_MAX_MS	30000
#define STABLE_SECS	60	/* a life this long resets the backoff */
#define STOP_GRACE_MS	8000	/* then SIGKILL; systemd and tests wait 10 s */

static const struct { int a, b; } link_table[] = {
	{ PROC_SMTPD, PROC_QUEUED },
	{ PROC_QUEUED, PROC_DELIVERD },
	{ PROC_QUEUED, PROC_BOUNCED },
	{ PROC_MGMTD, PROC_QUEUED },
	{ PROC_MGMTD, PROC_BOUNCED },
	{ PROC_MGMTD, PROC_DELIVERD },	/* tern resolve */
};
#define NLINKS	(sizeof(link_table) / sizeof(link_table[0]))

static uv_timer_t	stop_timer;

static void child_msg(struct mproc *, struct imsg *);
static void child_lost(struct mproc *);
static void child_restart_cb(uv_timer_t *);

static void
super_add(struct ternd *t, int proc, int instance)
{
	struct child *c = &t->children[t->nchildren++];

	memset(c, 0, sizeof(*c));
	c->proc = proc;
	c->instance = instance;
	c->backoff = BACKOFF_MIN_MS;
	uv_timer_init(t->loop, &c->timer);
	c->timer.data = c;
}

void
super_init(struct ternd *t)
{
	int64_t n = cfg_int(t->cfg->root, "deliverd-processes", 0);
	int i;

	if (n <= 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		n = cpus > 0 ? cpus : 1;
	}
	if (n > TERND_MAX_CHILDREN - 5)
		n = TERND_MAX_CHILDREN - 5;
	super_add(t, PROC_QUEUED, 0);
	super_add(t, PROC_BOUNCED, 0);
	for (i = 1; i <= n; i++)
		super_add(t, PROC_DELIVERD, i);
	super_add(t, PROC_SMTPD, 0);
	super_add(t, PROC_MGMTD, 0);
}

struct child *
super_child(int proc, int instance)
{
	int i;

	for (i = 0; i < env->nchildren; i++)
		if (env->children[i].proc == proc &&
		    env->children[i].instance == instance)
			return &env->children[i];
	return NULL;
}

static int
super_ninstances(int proc)
{
	int i, n = 0;

	for (i = 0; i < env->nchildren; i++)
		n += env->children[i].proc == proc;
	return n;
}

static const char *
child_chroot(struct ternd *t, int proc)
{
	switch (proc) {
	case PROC_QUEUED:
		return t->spool;
	case PROC_BOUNCED:
		return t->logdir;
	default:
		return t->empty;
	}
}

static int
child_spawn(struct ternd *t, struct child *c)
{
	char path[1200], inst[16], *argv[12];
	int sp[2], argc = 0;

	if (t->buildtree)
		snprintf(path, sizeof(path), "%s/%s/%s", t->libexec,
		    proc_name(c->proc), proc_name(c->proc));
	else
		snprintf(path, sizeof(path), "%s/%s", t->libexec,
		    proc_name(c->proc));
	argv[argc++] = (char *)proc_name(c->proc);
	if (t->foreground || t->logfd != -1)	/* logfile.c */
		argv[argc++] = "-d";
	if (t->verbose)
		argv[argc++] = "-v";
	if (t->privileged) {
		argv[argc++] = "-u";
		argv[argc++] = c->proc == PROC_QUEUED ? t->quser : t->user;
		argv[argc++] = "-r";
		argv[argc++] = (char *)child_chroot(t, c->proc);
	}
	if (c->instance > 0) {
		snprintf(inst, sizeof(inst), "%d", c->instance);
		argv[argc++] = "-i";
		argv[argc++] = inst;
	}
	argv[argc] = NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1) {
		log_warn("socketpair");
		return -1;
	}
	if ((c->pid = proc_exec(path, argv, sp[1])) == -1) {
		c->pid = 0;
		close(sp[0]);
		close(sp[1]);
		return -1;
	}
	close(sp[1]);
	c->started = time(NULL);
	c->mp = mproc_new(t->loop, sp[0], c->proc, c->instance, child_msg,
	    child_lost, c);
	cfg_wire_send(c->mp, t->cfg, t->cfg_gen);
	log_debug("started %s (pid %d)", c->mp->name, (int)c->pid);
	return 0;
}

static void
link_pair(struct child *a, struct child *b)
{
	int sp[2];

	if (a->mp == NULL || b->mp == NULL)
		return;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1) {
		log_warn("socketpair");
		return;
	}
	/* The fds are closed by imsg once sent. */
	m_create(a->mp, IMSG_PEER, 0, sp[0]);
	m_add_u32(a->mp, b->proc);
	m_add_u32(a->mp, b->instance);
	m_close(a->mp);
	m_create(b->mp, IMSG_PEER, 0, sp[1]);
	m_add_u32(b->mp, a->proc);
	m_add_u32(b->mp, a->instance);
	m_close(b->mp);
}

/* Link c with every running child it talks to. */
static void
child_links(struct ternd *t, struct child *c)
{
	size_t l;
	int i, other;

	for (l = 0; l < NLINKS; l++) {
		if (link_table[l].a == c->proc)
			other = link_table[l].b;
		else if (link_table[l].b == c->proc)
			other = link_table[l].a;
		else
			continue;
		for (i = 0; i < t->nchildren; i++)
			if (t->children[i].proc == other)
				link_pair(c, &t->children[i]);
	}
}

static void
child_resources(struct ternd *t, struct child *c)
{
	int i, want;

	for (i = 0; i < t->nlisteners; i++) {
		want = t->listeners[i].kind == LISTEN_SMTP ? PROC_SMTPD :
		    PROC_MGMTD;
		if (want != c->proc)
			continue;
		m_create(c->mp, IMSG_LISTENER, 0, dup(t->listeners[i].fd));
		m_add_u32(c->mp, t->listeners[i].kind);
		m_add_string(c->mp, t->listeners[i].name);
		m_close(c->mp);
	}
	for (i = 0; i < t->nfiles; i++) {
		want = t->files[i].kind == FILE_HTPASSWD ||
		    t->files[i].kind == FILE_HTTP_CERT ? PROC_MGMTD :
		    PROC_BOUNCED;
		if (want != c->proc)
			continue;
		m_create(c->mp, IMSG_FILE, 0, dup(t->files[i].fd));
		m_add_u32(c->mp, t->files[i].kind);
		m_add_string(c->mp, t->files[i].path);
		m_close(c->mp);
	}
	keys_send(t, c);
	cafile_send(t, c);
	resolv_send(t, c);
	secrets_send(t, c);
	events_send(t, c);
}

static void
child_start(struct ternd *t, struct child *c)
{
	m_create(c->mp, IMSG_START, 0, -1);
	m_add_u32(c->mp, c->instance);
	m_add_u32(c->mp, super_ninstances(c->proc));
	m_close(c->mp);
}

void
super_start_all(struct ternd *t)
{
	size_t l;
	int i, j;

	for (i = 0; i < t->nchildren; i++)
		if (child_spawn(t, &t->children[i]) == -1)
			fatalx("cannot start %s", proc_name(t->children[i].proc));
	/* Each pair once. */
	for (l = 0; l < NLINKS; l++)
		for (i = 0; i < t->nchildren; i++)
			for (j = 0; j < t->nchildren; j++)
				if (t->children[i].proc == link_table[l].a &&
				    t->children[j].proc == link_table[l].b)
					link_pair(&t->children[i],
					    &t->children[j]);
	for (i = 0; i < t->nchildren; i++) {
		child_resources(t, &t->children[i]);
		child_start(t, &t->children[i]);
	}
}

static void
child_restart_cb(uv_timer_t *h)
{
	struct child *c = h->data;

	if (env->stopping || c->pid != 0)
		return;
	c->restarts++;
	if (child_spawn(env, c) == -1) {
		uv_timer_start(&c->timer, child_restart_cb, c->backoff, 0);
		return;
	}
	child_links(env, c);
	child_resources(env, c);
	child_start(env, c);
	log_info("restarted %s (pid %d, restart #%d)", c->mp->name,
	    (int)c->pid, c->restarts);
}

static void
child_exited(struct ternd *t, struct child *c, int status)
{
	char why[64];

	if (WIFSIGNALED(status))
		snprintf(why, sizeof(why), "killed by signal %d",
		    WTERMSIG(status));
	else
		snprintf(why, sizeof(why), "exited with status %d",
		    WEXITSTATUS(status));
	c->pid = 0;
	if (c->mp != NULL) {
		mproc_close(c->mp);
		c->mp = NULL;
	}
	if (t->stopping) {
		log_debug("%s %s", proc_name(c->proc), why);
		return;
	}
	if (time(NULL) - c->started >= STABLE_SECS)
		c->backoff = BACKOFF_MIN_MS;
	log_warnx("%s%s%.0d %s; restarting in %d ms", proc_name(c->proc),
	    c->instance ? "." : "", c->instance, why, c->backoff);
	uv_timer_start(&c->timer, child_restart_cb, c->backoff, 0);
	c->backoff = c->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
	    c->backoff * 2;
}

static int
super_running(struct ternd *t)
{
	int i, n = 0;

	for (i = 0; i < t->nchildren; i++)
		n += t->children[i].pid != 0;
	return n;
}

static void
super_done(struct ternd *t)
{
	int i;

	uv_timer_stop(&stop_timer);
	for (i = 0; i < t->nlisteners; i++)
		if (t->listeners[i].kind == LISTEN_CONTROL)
			unlink(t->listeners[i].name);
	uv_stop(t->loop);
}

void
super_reap(struct ternd *t)
{
	pid_t pid;
	int status, i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (local_exited(pid, status))
			continue;
		for (i = 0; i < t->nchildren; i++)
			if (t->children[i].pid == pid)
				child_exited(t, &t->children[i], status);
	}
	if (t->stopping && super_running(t) == 0)
		super_done(t);
}

static void
stop_timeout_cb(uv_timer_t *h)
{
	int i;

	for (i = 0; i < env->nchildren; i++)
		if (env->children[i].pid != 0) {
			log_warnx("%s did not stop, killing it",
			    proc_name(env->children[i].proc));
			kill(env->children[i].pid, SIGKILL);
		}
}

void
super_stop_all(struct ternd *t)
{
	int i;

	for (i = 0; i < t->nchildren; i++) {
		uv_timer_stop(&t->children[i].timer);
		if (t->children[i].pid != 0)
			kill(t->children[i].pid, SIGTERM);
	}
	if (super_running(t) == 0) {
		super_done(t);
		return;
	}
	uv_timer_init(t->loop, &stop_timer);
	uv_timer_start(&stop_timer, stop_timeout_cb, STOP_GRACE_MS, 0);
}

static void
child_lost(struct mproc *p)
{
	struct child *c = p->data;

	c->mp = NULL;	/* the exit status arrives with SIGCHLD */
}

char *
super_procs_json(struct ternd *t)
{
	size_t sz = 64 + t->nchildren * 160, off;
	char *buf;
	int i;

	if ((buf = malloc(sz)) == NULL)
		fatal("malloc");
	off = snprintf(buf, sz, "[");
	for (i = 0; i < t->nchildren; i++) {
		struct child *c = &t->children[i];

		off += snprintf(buf + off, sz - off, "%s{\"name\":\"%s\","
		    "\"instance\":%d,\"pid\":%d,\"running\":%s,"
		    "\"restarts\":%d,\"started\":%lld}", i ? "," : "",
		    proc_name(c->proc), c->instance, (int)c->pid,
		    c->pid ? "true" : "false", c->restarts,
		    (long long)c->started);
	}
	snprintf(buf + off, sz - off, "]");
	return buf;
}

static void
child_msg(struct mproc *p, struct imsg *imsg)
{
	struct msg m;
	char *json;

	m_msg(&m, imsg);
	switch (imsg->hdr.type) {
	case CTL_RELOAD:
		reload_ctl(p, imsg);
		return;
	case CTL_ROTATE:	/* tern rotate log: logfile.c */
		if (imsg->fd != -1)
			close(imsg->fd);
		logfile_rotate_ctl(env, p, imsg);
		return;
	case BNC_ROTATE:	/* acct_files.c */
		if (imsg->fd != -1)
			close(imsg->fd);
		acct_rotate_msg(env, p, imsg);
		return;
	case DLV_PIPE_REQ:
		if (p->proc == PROC_DELIVERD) {
			local_request(p->data, imsg);
			return;
		}
		break;
	case CTL_PROCS_REQ:
		m_end(&m);
		json = super_procs_json(env);
		m_create(p, CTL_PROCS, imsg->hdr.peerid, -1);
		m_add_string(p, json);
		m_close(p);
		free(json);
		return;
	}
	if (imsg->fd != -1)
		close(imsg->fd);
	/* A daemon that breaks the protocol is restarted. */
	log_warnx("%s sent unexpected %s; restarting it", p->name,
	    proto_name(imsg->hdr.type));
	kill(((struct child *)p->data)->pid, SIGKILL);
}
