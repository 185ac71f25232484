/*
 * queue_inject.c - DSNs: asking bounced for one when a recipient fails,
 * and taking the message bounced builds into the queue.
 *
 * When a recipient bounces (a 5xx, or its retries ran out) and the
 * sender may be told (non-null sender, NOTIFY not NEVER and, if given,
 * with FAILURE, the message not itself a DSN), queued sends bounced a
 * BNC_DSN with the message file's descriptor, so that bounced can quote
 * the original (RET=HDRS or FULL) even after the spool file is removed.
 *
 * bounced answers with BNC_INJECT: the whole DSN text.  It is written to
 * a new spool file and committed through the same group commit as mail
 * from smtpd (sealed, fsync'd, journaled), flagged ENV_DSN so that its
 * own failure never produces another DSN, and then scheduled like any
 * message.  A DSN requested while bounced is down, or lost in a crash
 * before its commit, is not sent (logged): DSNs are best effort, the
 * accounting `b` row is the record of the failure.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "proto.h"
#include "queued.h"

static int
inject_wanted(const struct envelope *e, const struct rcpt *r)
{
	if (e->sender == NULL || e->sender[0] == '\0')
		return 0;		/* null sender: nobody to tell */
	if (e->flags & ENV_DSN)
		return 0;		/* never a DSN about a DSN */
	if (r->notify & NOTIFY_NEVER)
		return 0;
	/* NOTIFY absent means failures only (RFC 3461 4.1). */
	return r->notify == 0 || (r->notify & NOTIFY_FAILURE);
}

/* BNC_DSN for recipient k: a failure, or a delay (NOTIFY=DELAY). */
static void
inject_send(struct qmsg *m, uint32_t k, const char *queue,
    const char *status, const struct dlv_result *res, uint32_t action)
{
	const struct envelope *e = m->env;
	const struct rcpt *r = &e->rcpts[k];
	int fd;

	if (qd->bounced == NULL) {
		log_warnx("%s: no DSN to <%s> for <%s>: bounced is down",
		    e->qid, e->sender, r->addr);
		return;
	}
	if ((fd = queue_fs_open(m)) == -1) {
		log_warn("%s: no DSN: cannot open the message", e->qid);
		return;
	}
	m_create(qd->bounced, BNC_DSN, 0, fd);
	m_add_string(qd->bounced, e->qid);
	m_add_string(qd->bounced, e->sender);
	m_add_string(qd->bounced, e->envid);
	m_add_u32(qd->bounced, e->ret);
	m_add_u32(qd->bounced, e->flags);
	m_add_i64(qd->bounced, e->queued);
	m_add_u64(qd->bounced, e->size);
	m_add_u64(qd->bounced, e->off);
	m_add_string(qd->bounced, r->addr);
	m_add_string(qd->bounced, r->orcpt);
	m_add_u32(qd->bounced, r->notify);
	m_add_string(qd->bounced, status ? status : res ? res->dsn_status :
	    NULL);
	m_add_string(qd->bounced, res ? res->diag : NULL);
	m_add_string(qd->bounced, res ? res->mta : NULL);
	m_add_string(qd->bounced, queue);
	m_add_u32(qd->bounced, action);
	m_close(qd->bounced);
}

void
inject_dsn_request(struct qmsg *m, uint32_t k, const char *queue,
    const char *status, const struct dlv_result *res)
{
	if (inject_wanted(m->env, &m->env->rcpts[k]))
		inject_send(m, k, queue, status, res, DSN_ACTION_FAILED);
}

/* notify-of-delay-every of the recipient's domain (default 4h); 0 for
 * never. */
static int64_t
inject_delay_every(const struct envelope *e, const char *rcpt)
{
	const struct cfg_node *n;
	const char *err;
	char dom[256];
	int64_t secs = 4 * 3600;

	addr_domain(rcpt, dom, sizeof(dom));
	if (qd->cfg != NULL && (n = sched_cfg_node(e->vmta, dom,
	    QS_NOTIFY_OF_DELAY_EVERY)) != NULL) {
		if (strcasecmp(n->arg, "never") == 0 ||
		    cfg_parse_time(n->arg, &secs, &err) == -1)
			return 0;
	}
	return secs > 0 ? secs : 0;
}

/*
 * A recipient was deferred.  With NOTIFY=DELAY (only then: RFC 3461
 * leaves delay notices to the MTA when NOTIFY is absent, and senders
 * that did not ask rarely want them), the sender is told once for every
 * notify-of-delay-every the recipient has waited since the message was
 * queued.  The count is kept in memory: after a restart of queued one
 * notice may come again.
 */
void
inject_delay_check(struct qmsg *m, uint32_t k, const char *queue,
    const struct dlv_result *res)
{
	const struct envelope *e = m->env;
	const struct rcpt *r = &e->rcpts[k];
	int64_t every, due;

	if (!(r->notify & NOTIFY_DELAY) || e->sender == NULL ||
	    e->sender[0] == '\0' || (e->flags & ENV_DSN) ||
	    (every = inject_delay_every(e, r->addr)) == 0)
		return;
	due = (now_ms() / 1000 - e->queued) / every;
	if (due <= 0)
		return;
	if (m->delays == NULL &&
	    (m->delays = calloc(e->nrcpt, sizeof(*m->delays))) == NULL)
		fatal("inject_delay_check");
	if (due <= m->delays[k])
		return;
	m->delays[k] = due > UINT16_MAX ? UINT16_MAX : due;
	inject_send(m, k, queue, NULL, res, DSN_ACTION_DELAYED);
	log_info("%s: delay DSN about <%s> to <%s>", e->qid, r->addr,
	    e->sender);
}

void
inject_message(struct msg *msg)
{
	const char *about, *rcpt, *vmta, *text, *p;
	struct envelope *e;
	char qid[QID_LEN + 1];
	int fd, slot;

	m_get_string(msg, &about);
	m_get_string(msg, &rcpt);
	m_get_string(msg, &vmta);
	m_get_string(msg, &text);
	m_end(msg);
	if (rcpt == NULL || text == NULL || *rcpt == '\0')
		return;
	queued_qid_new(qid);
	/* pwrite: the kept descriptor's offset is shared with whoever
	 * wrote the file last (queue_scratch.c) */
	if ((fd = scratch_open(&slot)) == -1 ||
	    pwrite_all(fd, text, strlen(text), 0) == -1) {
		log_warn("%s: DSN to <%s> not queued", about ? about : "?",
		    rcpt);
		if (fd != -1)
			scratch_release(slot, fd);
		return;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (e->rcpts = calloc(1, sizeof(*e->rcpts))) == NULL)
		fatal("inject_message");
	strlcpy(e->qid, qid, sizeof(e->qid));
	if ((e->sender = strdup("")) == NULL ||
	    (e->helo = strdup("localhost")) == NULL ||
	    (e->client = strdup("127.0.0.1")) == NULL ||
	    (vmta != NULL && (e->vmta = strdup(vmta)) == NULL) ||
	    (e->rcpts[0].addr = strdup(rcpt)) == NULL)
		fatal("inject_message");
	e->flags = ENV_DSN;
	/* A returned original may carry 8-bit text. */
	for (p = text; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80) {
			e->flags |= ENV_8BITMIME;
			break;
		}
	e->queued = now_ms() / 1000;
	e->size = strlen(text);
	e->nrcpt = 1;
	e->rcpts[0].notify = NOTIFY_NEVER;
	log_info("%s: DSN for %s to <%s>", qid, about ? about : "?", rcpt);
	commit_message(qid, fd, slot, e, PROC_QUEUED, COMMIT_LOCAL);
}
