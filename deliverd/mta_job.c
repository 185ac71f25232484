/*
 * mta_job.c - delivery jobs from queued and what becomes of them.
 *
 * A job lives from DLV_JOB until queued's DLV_ACK: the results are only
 * forgotten once queued has journaled them, so that a queued that dies
 * in between hears them again from us (mta_job_replay) instead of
 * handing the recipients to another delivery.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "mta.h"
#include "proto.h"

RB_HEAD(mta_jobs, mta_job);

static struct mta_jobs	 jobs = RB_INITIALIZER(&jobs);
static uint32_t		 job_nextid = 1;
static int		 njobs, nactive;

static int
mta_job_cmp(struct mta_job *a, struct mta_job *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

RB_PROTOTYPE(mta_jobs, mta_job, entry, mta_job_cmp);
RB_GENERATE(mta_jobs, mta_job, entry, mta_job_cmp);

static uint32_t
mta_job_newid(void)
{
	uint32_t id;

	/* Tags must be unique among the jobs we keep; 0 is never used. */
	do {
		id = job_nextid++;
		if (id == 0)
			id = job_nextid++;
	} while (RB_FIND(mta_jobs, &jobs, &(struct mta_job){ .id = id }));
	return id;
}

static struct mta_job *
mta_job_new(const struct envelope *env, const char *queue,
    const char *domain, int fd, uint32_t peerid)
{
	struct mta_job *job;

	if ((job = calloc(1, sizeof(*job))) == NULL)
		fatal("mta_job_new");
	job->id = mta_job_newid();
	job->peerid = peerid;
	job->state = JOB_WAITING;
	job->env = envelope_dup(env);
	job->queue = xstrdup(queue);
	job->domain = xstrdup(domain);
	job->fd = fd;
	job->eightbit = -1;
	if ((job->res = calloc(env->nrcpt ? env->nrcpt : 1,
	    sizeof(*job->res))) == NULL)
		fatal("mta_job_new");
	RB_INSERT(mta_jobs, &jobs, job);
	njobs++;
	nactive++;
	return job;
}

static void
mta_job_free(struct mta_job *job)
{
	struct mta_result *r;
	uint32_t i;

	RB_REMOVE(mta_jobs, &jobs, job);
	njobs--;
	mta_job_close_fd(job);
	for (i = 0; i < job->env->nrcpt; i++) {
		r = &job->res[i];
		free(r->dsn_status);
		free(r->diag);
		free(r->mta);
		free(r->src_ip);
		free(r->dst_ip);
		free(r->esmtp);
		free(r->tls_proto);
		free(r->tls_cipher);
	}
	free(job->res);
	free(job->dkim);
	envelope_free(job->env);
	free(job->queue);
	free(job->domain);
	free(job->via);
	free(job);
}

void
mta_job_recv(struct imsg *imsg)
{
	struct envelope env;
	struct mta_job *job;
	struct msg m;
	const char *queue, *domain;
	struct mta_seg *seg = NULL;
	uint64_t seq;
	int fd = imsg->fd;

	m_msg(&m, imsg);
	m_get_envelope(&m, &env);
	m_get_string(&m, &queue);
	m_get_string(&m, &domain);
	m_get_u64(&m, &seq);
	m_end(&m);
	if (queue == NULL || domain == NULL)
		fatalx("DLV_JOB without queue or domain");
	/* The message is in a segment queued sent before (mta_seg.c). */
	if (seq != 0 && fd == -1)
		seg = mta_seg_get(seq, &fd);
	job = mta_job_new(&env, queue, domain, fd, imsg->hdr.peerid);
	job->seg = seg;
	envelope_clear_view(&env);
	log_debug("%s: job %u for %s, %u recipient(s), %llu bytes",
	    job->env->qid, job->id, job->queue, job->env->nrcpt,
	    (unsigned long long)job->env->size);

	if (job->fd == -1)
		mta_job_fail(job, DLV_TEMPFAIL, 0, "4.3.0",
		    "internal error: no message file with the job", NULL);
	else if (mta_stopping())
		mta_job_fail(job, DLV_TEMPFAIL, 0, "4.3.2",
		    "deliverd is shutting down", NULL);
	if (job->env->nrcpt == 0 || job->res[0].status != 0) {
		mta_job_done(job);
		return;
	}
	mta_queue_add(job);
}

void
mta_job_set(struct mta_job *job, uint32_t i, uint32_t status,
    int conn_level, const char *dsn, const char *diag,
    const struct mta_conninfo *ci)
{
	struct mta_result *r;

	if (i >= job->env->nrcpt || job->res[i].status != 0)
		return;
	r = &job->res[i];
	r->status = status;
	r->conn_level = conn_level;
	r->dsn_status = xstrdup(dsn);
	r->diag = xstrdup(diag);
	if (ci != NULL) {
		r->mta = xstrdup(ci->mta);
		r->src_ip = xstrdup(ci->src_ip);
		r->dst_ip = xstrdup(ci->dst_ip);
		r->esmtp = xstrdup(ci->esmtp);
		r->tls_proto = xstrdup(ci->tls_proto);
		r->tls_cipher = xstrdup(ci->tls_cipher);
	}
}

/* Every recipient without an outcome yet gets this one. */
void
mta_job_fail(struct mta_job *job, uint32_t status, int conn_level,
    const char *dsn, const char *diag, const struct mta_conninfo *ci)
{
	uint32_t i;

	for (i = 0; i < job->env->nrcpt; i++)
		mta_job_set(job, i, status, conn_level, dsn, diag, ci);
}

void
mta_job_close_fd(struct mta_job *job)
{
	if (job->seg != NULL) {
		mta_seg_put(job->seg);
		job->seg = NULL;
		job->fd = -1;
	} else if (job->fd != -1) {
		close(job->fd);
		job->fd = -1;
	}
}

uint32_t
mta_status_of(const struct smtp_reply *r)
{
	switch (smtp_reply_class(r)) {
	case 2:
		return DLV_OK;
	case 5:
		return DLV_PERMFAIL;
	default:
		return DLV_TEMPFAIL;
	}
}

static void
mta_job_log(const struct mta_job *job)
{
	const struct mta_result *r;
	const char *what;
	uint32_t i;

	for (i = 0; i < job->env->nrcpt; i++) {
		r = &job->res[i];
		what = r->status == DLV_OK ? "delivered" :
		    r->status == DLV_PERMFAIL ? "failed" : "deferred";
		log_info("%s: to=<%s>, relay=%s, dsn=%s, %s: %s",
		    job->env->qid, job->env->rcpts[i].addr,
		    r->mta ? r->mta : "none", r->dsn_status, what,
		    r->diag ? r->diag : "");
	}
}

static void
mta_job_report(struct mproc *p, const struct mta_job *job)
{
	const struct mta_result *r;
	struct dlv_result d;
	uint32_t i;

	for (i = 0; i < job->env->nrcpt; i++) {
		r = &job->res[i];
		memset(&d, 0, sizeof(d));
		d.qid = job->env->qid;
		d.index = job->env->rcpts[i].index;
		d.status = r->status;
		d.conn_level = r->conn_level;
		d.dsn_status = r->dsn_status;
		d.diag = r->diag;
		d.mta = r->mta;
		d.src_ip = r->src_ip;
		d.dst_ip = r->dst_ip;
		d.esmtp = r->esmtp;
		d.tls_proto = r->tls_proto;
		d.tls_cipher = r->tls_cipher;
		d.size = job->env->size;
		m_create(p, DLV_RESULT, job->peerid, -1);
		m_add_result(p, &d);
		m_close(p);
	}
	m_create(p, DLV_DONE, job->peerid, -1);
	m_add_u32(p, job->id);
	m_add_string(p, job->env->qid);
	m_close(p);
}

/* Every recipient has its outcome: tell queued, keep it until ACK. */
void
mta_job_done(struct mta_job *job)
{
	struct mproc *p;

	mta_job_fail(job, DLV_TEMPFAIL, 0, "4.3.0",
	    "internal error: no outcome for this recipient", NULL);
	mta_job_close_fd(job);
	if (job->state != JOB_DONE)
		nactive--;
	job->state = JOB_DONE;
	mta_job_log(job);
	mta_queue_outcome(job);
	if ((p = mta_queued()) != NULL)
		mta_job_report(p, job);
	mta_check_exit();
}

void
mta_job_ack(struct imsg *imsg)
{
	struct mta_job *job;
	struct msg m;
	uint32_t tag;

	m_msg(&m, imsg);
	m_get_u32(&m, &tag);
	m_end(&m);
	job = RB_FIND(mta_jobs, &jobs, &(struct mta_job){ .id = tag });
	if (job == NULL || job->state != JOB_DONE) {
		/* A late ACK from a queued that already heard a replay. */
		log_warnx("DLV_ACK for %s job %u", job ? "unfinished" :
		    "unknown", tag);
		return;
	}
	log_debug("%s: job %u acknowledged", job->env->qid, job->id);
	mta_job_free(job);
	mta_check_exit();
}

/* Split so that a job with many recipients fits in IMSG_MAX_SIZE. */
#define INFLIGHT_PER_MSG	1000

static void
mta_job_inflight(struct mproc *p, const struct mta_job *job)
{
	uint32_t i, n, start;

	for (start = 0; start < job->env->nrcpt; start += n) {
		n = job->env->nrcpt - start;
		if (n > INFLIGHT_PER_MSG)
			n = INFLIGHT_PER_MSG;
		m_create(p, DLV_INFLIGHT, job->peerid, -1);
		m_add_string(p, job->env->qid);
		m_add_u32(p, n);
		for (i = start; i < start + n; i++)
			m_add_u32(p, job->env->rcpts[i].index);
		m_close(p);
	}
}

/* A new queued: everything it must know before giving us work. */
void
mta_job_replay(struct mproc *p)
{
	struct mta_job *job;
	int done = 0, inflight = 0;

	RB_FOREACH(job, mta_jobs, &jobs) {
		if (job->state == JOB_DONE) {
			mta_job_report(p, job);
			done++;
		} else {
			mta_job_inflight(p, job);
			inflight++;
		}
	}
	m_compose(p, DLV_HELLO_END, 0, -1, NULL, 0);
	if (done || inflight)
		log_info("replayed %d finished job(s), %d in flight", done,
		    inflight);
}

int
mta_job_count(void)
{
	return njobs;
}

int
mta_job_active(void)
{
	return nactive;
}
