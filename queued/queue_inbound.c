/*
 * queue_inbound.c - mail for the bounce domain goes to bounced, not out.
 *
 * Asynchronous bounces (DSNs sent later to a VERP address) and feedback
 * loop reports (ARF) arrive through smtpd like any mail, addressed to the
 * bounce domain.  When a committed message has a
 * recipient in a bounce or feedback-loop domain, queued hands the
 * message file to bounced (BNC_INBOUND) instead of delivering it, and
 * that recipient is final (journaled as delivered) at once.  bounced
 * parses it and writes rb, rs or f rows.
 *
 * Which recipients those are is common/cfg_inbound.c's: smtpd accepts
 * them from any client.
 */
#include <string.h>
#include <strings.h>

#include "log.h"
#include "proto.h"
#include "queued.h"

/* Whether the configuration names inbound addresses at all, once per
 * configuration: asking by name for every recipient walked the root's
 * blocks three times. */
static int
inbound_any(void)
{
	static uint32_t gen;
	static int any;

	if (gen != qd->cfg_gen) {
		any = cfg_inbound_any(qd->cfg);
		gen = qd->cfg_gen;
	}
	return any;
}

int
inbound_divert(struct qmsg *m, uint32_t k)
{
	struct envelope *e = m->env;
	struct rcpt *r = &e->rcpts[k];
	int fd;

	if (!inbound_any() || !cfg_inbound_addr(qd->cfg, r->addr))
		return 0;
	if (qd->bounced == NULL || (fd = queue_fs_open(m)) == -1)
		log_warnx("%s: to=<%s> bounce/feedback report lost: bounced "
		    "is down or the file unreadable", e->qid, r->addr);
	else {
		m_create(qd->bounced, BNC_INBOUND, 0, fd);
		m_add_string(qd->bounced, e->qid);
		m_add_string(qd->bounced, e->sender);
		m_add_string(qd->bounced, r->addr);
		m_add_u64(qd->bounced, e->size);
		m_add_u64(qd->bounced, e->off);
		m_add_string(qd->bounced, e->client);
		m_close(qd->bounced);
		log_info("%s: to=<%s> handed to bounced", e->qid, r->addr);
	}
	r->state = RCPT_DELIVERED;
	commit_result(m, r->index, RCPT_DELIVERED);
	return 1;
}
