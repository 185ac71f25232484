/*
 * inject_queue.c - an injection batch into the spool, through queued,
 * with the same messages and the same durability as smtpd:
 *
 * 1. MSG_CREATE per message (at most INJECT_WINDOW waiting at once: every
 *    MSG_CREATE_OK carries a descriptor); each text is written, after our
 *    Received: line (and a Message-ID: when the text has none), into the
 *    file as soon as it comes, and the descriptor closed.
 * 2. Only when every file exists: MSG_COMMIT for each.  So a spool that
 *    is full (MSG_CREATE_FAIL) refuses the whole request: the files made
 *    so far are rolled back (MSG_ROLLBACK) and nothing is queued.
 * 3. queued seals, fsyncs and publishes each one (group commit) and
 *    answers MSG_COMMIT_OK; the HTTP answer goes out after the last.
 *
 * A queued that goes away before the commits leaves nothing (it drops
 * its incoming files when it starts again); during the commits the
 * answer lists the messages it had confirmed.  A client that goes away
 * before the commits gets its files rolled back, as an SMTP client that
 * disconnects before the final dot; after that, the messages are queued.
 */
#include <sys/queue.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "inject.h"
#include "log.h"
#include "mgmtd.h"
#include "msghdr.h"
#include "proto.h"
#include "util.h"

#define INJECT_WINDOW	16

enum { M_NEW = 0, M_CREATING, M_CREATED, M_COMMITTING, M_QUEUED, M_FAILED };
enum { J_CREATE = 0, J_COMMIT, J_ABORT };

struct inject_job {
	LIST_ENTRY(inject_job) entry;
	struct inject_batch b;
	uint32_t	 base;		/* peerid of msgs[0] */
	size_t		 next;		/* next message to create */
	size_t		 waiting;	/* answers queued owes us */
	size_t		 created, queued, failed;
	int		 phase;
	int		 status;	/* of an abort: 503 or 500 */
	char		 reason[256];
	char		 client[64];
	char		 user[128];
	inject_done	 done;
	void		*arg;
};

static LIST_HEAD(, inject_job) jobs = LIST_HEAD_INITIALIZER(jobs);
static uint32_t	 next_base = 1;

static struct inject_job *
job_of(uint32_t peerid, struct inject_msg **m)
{
	struct inject_job *j;

	LIST_FOREACH(j, &jobs, entry)
		if (peerid - j->base < j->b.nmsg) {
			*m = &j->b.msgs[peerid - j->base];
			return j;
		}
	return NULL;
}

static void
job_free(struct inject_job *j)
{
	LIST_REMOVE(j, entry);
	inject_batch_free(&j->b);
	free(j);
}

/* {"ok":..., "accepted": recipients, "messages": [{"id", "recipients"}],
 * "error"?} with the messages queued so far. */
static char *
job_answer(struct inject_job *j, int ok)
{
	json_t *out, *msgs = json_array();
	size_t i, accepted = 0;
	char *text;

	for (i = 0; i < j->b.nmsg; i++) {
		struct inject_msg *m = &j->b.msgs[i];

		if (m->state != M_QUEUED)
			continue;
		accepted += m->nrcpt;
		json_array_append_new(msgs, json_pack("{s:s,s:I}", "id",
		    m->qid, "recipients", (json_int_t)m->nrcpt));
	}
	out = json_pack("{s:b,s:I,s:I,s:o}", "ok", ok, "accepted",
	    (json_int_t)accepted, "rejected", (json_int_t)(j->b.nrcpt -
	    accepted), "messages", msgs);
	if (!ok)
		json_object_set_new(out, "error", json_string(j->reason));
	text = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(out);
	return text;
}

/* Everything answered: tell the client, forget the job. */
static void
job_finish(struct inject_job *j)
{
	char *text;
	int status;

	if (j->waiting > 0)
		return;
	status = j->phase == J_ABORT ? j->status : j->failed ? 500 : 200;
	if (j->phase != J_ABORT && j->failed)
		strlcpy(j->reason, "queued could not store every message "
		    "(see \"messages\" for those it did)", sizeof(j->reason));
	if (j->done != NULL) {
		text = job_answer(j, status == 200);
		j->done(j->arg, status, text);
		free(text);
	}
	log_info("http inject from %s: %zu of %zu messages queued (%d)",
	    j->client, j->queued, j->b.nmsg, status);
	job_free(j);
}

static void
job_rollback(struct inject_job *j)
{
	struct mproc *q = mgmtd_peer(PROC_QUEUED);
	size_t i;

	for (i = 0; i < j->b.nmsg; i++) {
		struct inject_msg *m = &j->b.msgs[i];

		if (m->state != M_CREATED)
			continue;
		m->state = M_FAILED;
		if (q == NULL)
			continue;
		m_create(q, MSG_ROLLBACK, j->base + i, -1);
		m_add_string(q, m->qid);
		m_close(q);
	}
}

/* Stop creating (the files made are rolled back in job_step). */
static void
job_abort(struct inject_job *j, int status, const char *reason)
{
	if (j->phase != J_CREATE)
		return;
	j->phase = J_ABORT;
	j->status = status;
	strlcpy(j->reason, reason, sizeof(j->reason));
}

static void
job_commit(struct inject_job *j)
{
	struct mproc *q = mgmtd_peer(PROC_QUEUED);
	struct envelope e;
	struct rcpt *rcpts;
	size_t i;
	uint32_t k;

	j->phase = J_COMMIT;
	for (i = 0; i < j->b.nmsg; i++) {
		struct inject_msg *m = &j->b.msgs[i];

		if ((rcpts = calloc(m->nrcpt, sizeof(*rcpts))) == NULL)
			fatal("inject commit");
		for (k = 0; k < m->nrcpt; k++) {
			rcpts[k].addr = (char *)m->rcpts[k];
			rcpts[k].index = k;
		}
		memset(&e, 0, sizeof(e));
		strlcpy(e.qid, m->qid, sizeof(e.qid));
		e.sender = (char *)j->b.sender;
		e.helo = "http";
		e.client = j->client;
		e.vmta = (char *)j->b.vmta;
		e.jobid = (char *)j->b.jobid;
		e.envid = (char *)j->b.envid;
		e.authuser = j->user[0] ? j->user : NULL;
		e.flags = ENV_HTTP | m->flags;
		e.queued = time(NULL);
		e.size = m->len;	/* set to what was written */
		e.nrcpt = m->nrcpt;
		e.rcpts = rcpts;
		m_create(q, MSG_COMMIT, j->base + i, -1);
		m_add_envelope(q, &e);
		m_close(q);
		free(rcpts);
		m->state = M_COMMITTING;
		j->waiting++;
	}
}

static void
job_create_more(struct inject_job *j)
{
	struct mproc *q = mgmtd_peer(PROC_QUEUED);

	while (j->phase == J_CREATE && j->waiting < INJECT_WINDOW &&
	    j->next < j->b.nmsg) {
		j->b.msgs[j->next].state = M_CREATING;
		m_create(q, MSG_CREATE, j->base + j->next, -1);
		m_close(q);
		j->next++;
		j->waiting++;
	}
	if (j->phase == J_CREATE && j->waiting == 0 && j->created == j->b.nmsg)
		job_commit(j);
}

/* Our Received: line, a Message-ID: if the text has none, the text. */
static int
msg_write(struct inject_job *j, struct inject_msg *m, int fd)
{
	char host[256], date[64], id[400], head[2048];
	int n;

	msghdr_hostname(mgmtd_cfg(), host, sizeof(host));
	msghdr_date(date, sizeof(date));
	n = snprintf(head, sizeof(head), "Received: from %s (%s)\r\n"
	    "\tby %s (Tern) with HTTP id %s%s%s%s;\r\n\t%s\r\n",
	    j->user[0] ? j->user : "http", j->client, host, m->qid,
	    m->nrcpt == 1 ? "\r\n\tfor <" : "", m->nrcpt == 1 ?
	    m->rcpts[0] : "", m->nrcpt == 1 ? ">" : "", date);
	if (n < 0 || (size_t)n >= sizeof(head))
		n = 0;
	if (!m->has_msgid) {
		msghdr_message_id(id, sizeof(id), m->qid, host);
		n += snprintf(head + n, sizeof(head) - n, "Message-ID: %s\r\n",
		    id);
		if ((size_t)n >= sizeof(head))
			n = sizeof(head) - 1;
	}
	if (write_all(fd, head, n) == -1 ||
	    write_all(fd, m->text, m->len) == -1)
		return -1;
	m->len += n;
	free(m->text);		/* in the file now */
	m->text = NULL;
	return 0;
}

static void
on_created(struct inject_job *j, struct inject_msg *m, struct imsg *imsg)
{
	struct msg msg;
	const char *qid;
	int fd = imsg->fd;

	m_msg(&msg, imsg);
	m_get_string(&msg, &qid);
	m_end(&msg);
	if (qid == NULL || strlen(qid) != QID_LEN)
		fatalx("queued sent a bad MSG_CREATE_OK");
	strlcpy(m->qid, qid, sizeof(m->qid));
	m->state = M_CREATED;
	j->created++;
	if (j->phase == J_CREATE && (fd == -1 || msg_write(j, m, fd) == -1))
		job_abort(j, 503, errno == ENOSPC || errno == EDQUOT ?
		    "the spool is full, try again later" :
		    "could not write the message, try again later");
	if (fd != -1)
		close(fd);
}

static void
on_create_fail(struct inject_job *j, struct inject_msg *m,
    struct imsg *imsg)
{
	struct msg msg;
	const char *status, *text;
	uint32_t code;
	char reason[256];

	m_msg(&msg, imsg);
	m_get_u32(&msg, &code);
	m_get_string(&msg, &status);
	m_get_string(&msg, &text);
	m_end(&msg);
	m->state = M_FAILED;
	snprintf(reason, sizeof(reason), "%u %s %s", code, status ? status :
	    "", text ? text : "");
	job_abort(j, 503, reason);
}

static void
on_committed(struct inject_job *j, struct inject_msg *m, struct imsg *imsg,
    int ok)
{
	struct msg msg;
	const char *s;
	uint32_t code;

	m_msg(&msg, imsg);
	if (ok)
		m_get_string(&msg, &s);
	else {
		m_get_u32(&msg, &code);
		m_get_string(&msg, &s);
		m_get_string(&msg, &s);
	}
	m_end(&msg);
	m->state = ok ? M_QUEUED : M_FAILED;
	if (ok)
		j->queued++;
	else
		j->failed++;
}

/* What comes next; j may be freed. */
static void
job_step(struct inject_job *j)
{
	if (j->phase == J_CREATE)
		job_create_more(j);
	else if (j->phase == J_COMMIT)
		job_finish(j);
	else if (j->waiting == 0) {
		/* aborted: every create is answered, roll back */
		job_rollback(j);
		job_finish(j);
	}
}

int
inject_reply(struct imsg *imsg)
{
	struct inject_msg *m;
	struct inject_job *j;
	uint32_t type = imsg->hdr.type;

	if (type != MSG_CREATE_OK && type != MSG_CREATE_FAIL &&
	    type != MSG_COMMIT_OK && type != MSG_COMMIT_FAIL)
		return 0;
	if ((j = job_of(imsg->hdr.peerid, &m)) == NULL) {
		if (imsg->fd != -1)
			close(imsg->fd);
		return 1;	/* of a job that ended */
	}
	j->waiting--;
	if (type == MSG_CREATE_OK)
		on_created(j, m, imsg);
	else if (type == MSG_CREATE_FAIL)
		on_create_fail(j, m, imsg);
	else
		on_committed(j, m, imsg, type == MSG_COMMIT_OK);
	job_step(j);
	return 1;
}

void
inject_queued_lost(void)
{
	struct inject_job *j, *next;

	LIST_FOREACH_SAFE(j, &jobs, entry, next) {
		j->waiting = 0;
		if (j->phase == J_COMMIT) {
			j->phase = J_ABORT;
			j->status = 503;
			strlcpy(j->reason, "queued restarted during the "
			    "commit: only \"messages\" are known to be queued",
			    sizeof(j->reason));
		}
		job_abort(j, 503, "queued restarted, nothing was queued; "
		    "try again");
		job_step(j);
	}
}

struct inject_job *
inject_start(struct inject_batch *b, const char *client, const char *user,
    inject_done done, void *arg)
{
	struct inject_job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		fatal("inject_start");
	j->b = *b;
	memset(b, 0, sizeof(*b));
	strlcpy(j->client, client, sizeof(j->client));
	if (user != NULL)
		strlcpy(j->user, user, sizeof(j->user));
	j->done = done;
	j->arg = arg;
	j->base = next_base;
	next_base += j->b.nmsg;
	LIST_INSERT_HEAD(&jobs, j, entry);
	if (mgmtd_peer(PROC_QUEUED) == NULL) {
		job_abort(j, 503, "queued is not running, try again later");
		job_step(j);
		return NULL;
	}
	job_create_more(j);
	return j;
}

void
inject_detach(struct inject_job *j)
{
	j->done = NULL;
	j->arg = NULL;
	job_abort(j, 503, "the client went away");
	if (j->phase == J_ABORT)
		job_step(j);
}
