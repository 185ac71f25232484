/*
 * mta_local.c - local pipe delivery: `type pipe` with `command`, or the
 * seeds' `local yes` with `mailbox-command`.
 *
 * deliverd cannot run the program itself (chrooted, unprivileged), so
 * each recipient's delivery is asked of ternd (DLV_PIPE_REQ,
 * ternd/local.c) with a copy of the message in a memfd: the spool file
 * holds the envelope after the body, and the command must see the body
 * alone on stdin.  ternd answers with the outcome (DLV_PIPE_DONE); the
 * job is done when every recipient has one.
 */
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "mta.h"
#include "proto.h"

struct mta_pipe {
	TAILQ_ENTRY(mta_pipe)	 entry;
	uint32_t		 id;
	struct mta_job		*job;
	uint32_t		 rcpt;
};

static TAILQ_HEAD(, mta_pipe) pipes = TAILQ_HEAD_INITIALIZER(pipes);
static uint32_t		 pipe_nextid;

/* The message body alone, in a memfd at offset 0; -1 on error. */
static int
mta_local_copy(struct mta_job *job)
{
	uint64_t end = job->env->off + job->env->size;
	off_t off = job->env->off;
	ssize_t n;
	int fd;

	if ((fd = memfd_create("tern-pipe-in", MFD_CLOEXEC)) == -1)
		return -1;
	while ((uint64_t)off < end) {
		n = sendfile(fd, job->fd, &off, end - off);
		if (n <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
	}
	if (lseek(fd, 0, SEEK_SET) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
mta_local_fail(struct mta_job *job, uint32_t i, const char *diag)
{
	struct mta_conninfo ci = { .mta = "pipe" };

	mta_job_set(job, i, DLV_TEMPFAIL, 0, "4.3.0", diag, &ci);
}

static void
mta_local_maybe_done(struct mta_job *job)
{
	struct mta_pipe *p;

	TAILQ_FOREACH(p, &pipes, entry)
		if (p->job == job)
			return;
	mta_job_done(job);
}

/* Deliver every recipient of the job through the queue's command. */
void
mta_local_deliver(struct mta_job *job, const char *command, const char *user)
{
	struct mproc *parent = daemon_parent();
	struct mta_pipe *p;
	char diag[MTA_DIAG_MAX];
	uint32_t i;
	int fd;

	job->state = JOB_RUNNING;
	for (i = 0; i < job->env->nrcpt; i++) {
		if ((fd = mta_local_copy(job)) == -1) {
			snprintf(diag, sizeof(diag), "cannot copy the message "
			    "for the pipe: %s", strerror(errno));
			mta_local_fail(job, i, diag);
			continue;
		}
		if ((p = calloc(1, sizeof(*p))) == NULL)
			fatal("mta_local_deliver");
		p->id = ++pipe_nextid;
		p->job = job;
		p->rcpt = i;
		TAILQ_INSERT_TAIL(&pipes, p, entry);
		m_create(parent, DLV_PIPE_REQ, p->id, fd);
		m_add_string(parent, command);
		m_add_string(parent, user);
		m_add_string(parent, job->env->sender);
		m_add_string(parent, job->env->rcpts[i].addr);
		m_add_string(parent, job->env->qid);
		m_close(parent);
	}
	mta_local_maybe_done(job);
}

/* ternd: a command ended. */
void
mta_local_done(struct imsg *imsg)
{
	struct mta_conninfo ci = { .mta = "pipe" };
	struct mta_pipe *p;
	const char *dsn, *diag;
	struct msg m;
	uint32_t status;

	m_msg(&m, imsg);
	m_get_u32(&m, &status);
	m_get_string(&m, &dsn);
	m_get_string(&m, &diag);
	m_end(&m);
	TAILQ_FOREACH(p, &pipes, entry)
		if (p->id == imsg->hdr.peerid)
			break;
	if (p == NULL)
		return;
	TAILQ_REMOVE(&pipes, p, entry);
	if (status != DLV_OK && status != DLV_TEMPFAIL &&
	    status != DLV_PERMFAIL)
		status = DLV_TEMPFAIL;
	mta_job_set(p->job, p->rcpt, status, 0, dsn, diag, &ci);
	mta_local_maybe_done(p->job);
	free(p);
}
