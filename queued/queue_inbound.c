/*
 * queue_inbound.c - mail for the bounce domain goes to bounced, not out.
 *
 * Asynchronous bounces (DSNs sent later to a VERP address) and feedback
 * loop reports (ARF) arrive through smtpd like any mail, addressed to the
 * bounce domain.  smtpd needs no change: when a committed message has a
 * recipient in a bounce or feedback-loop domain, queued hands the
 * message file to bounced (BNC_INBOUND) instead of delivering it, and
 * that recipient is final (journaled as delivered) at once.  bounced
 * parses it and writes rb, rs or f rows.
 *
 * The domains: `bounce-domain` (global), and the `domain` and `address`
 * lines of the <address-list> in <bounce-processor> and
 * <feedback-loop-processor> blocks.
 */
#include <string.h>
#include <strings.h>

#include "log.h"
#include "proto.h"
#include "queued.h"

static int
inbound_list_match(const struct cfg_node *proc, const char *rcpt,
    const char *dom)
{
	const struct cfg_node *l, *n;

	for (l = cfg_child(proc, "address-list"); l != NULL;
	    l = cfg_next_named(l, "address-list"))
		for (n = l->child; n != NULL; n = n->next) {
			if (n->arg == NULL)
				continue;
			if (strcmp(n->name, "domain") == 0 &&
			    cfg_domain_match(qd->cfg, n->arg, dom) > 0)
				return 1;
			if (strcmp(n->name, "address") == 0 &&
			    strcasecmp(n->arg, rcpt) == 0)
				return 1;
		}
	return 0;
}

static int
inbound_wanted(const char *rcpt)
{
	static const char *procs[] = { "bounce-processor",
	    "feedback-loop-processor" };
	const struct cfg_node *p;
	const char *bd;
	char dom[256];
	size_t i;

	if (qd->cfg == NULL || rcpt == NULL)
		return 0;
	addr_domain(rcpt, dom, sizeof(dom));
	if ((bd = cfg_str(qd->cfg->root, "bounce-domain", NULL)) != NULL &&
	    strcasecmp(bd, dom) == 0)
		return 1;
	for (i = 0; i < sizeof(procs) / sizeof(procs[0]); i++)
		for (p = cfg_child(qd->cfg->root, procs[i]); p != NULL;
		    p = cfg_next_named(p, procs[i]))
			if (inbound_list_match(p, rcpt, dom))
				return 1;
	return 0;
}

int
inbound_divert(struct qmsg *m, uint32_t k)
{
	struct envelope *e = m->env;
	struct rcpt *r = &e->rcpts[k];
	int fd;

	if (!inbound_wanted(r->addr))
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
		m_add_string(qd->bounced, e->client);
		m_close(qd->bounced);
		log_info("%s: to=<%s> handed to bounced", e->qid, r->addr);
	}
	r->state = RCPT_DELIVERED;
	commit_result(m, r->index, RCPT_DELIVERED);
	return 1;
}
