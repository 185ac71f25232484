/*
 * queue_verp.c - VERP: the envelope sender of a delivery encodes its
 * recipient, so that a bounce that comes back later, asynchronously,
 * names the recipient it is about in the address it is sent to.
 *
 *	sender bounces@news.example, recipient joe@isp.example,
 *	bounce-domain bounce.example
 *	=> MAIL FROM:<bounces-joe=isp.example@bounce.example>
 *
 * (PowerMTA's form: SENDERLOCAL-RCPTLOCAL=RCPTDOMAIN@DOMAIN; a '-' in
 * the sender's local part is doubled: common/verp.h.)  VERP is on
 * for a recipient when a `bounce-domain` applies to its domain (global,
 * or in its <domain>), or when the <source> the message came from says
 * `verp-default yes` (then the sender's own domain is used unless a
 * bounce-domain is set).  A VERP'd job carries one recipient: each
 * recipient needs its own MAIL FROM.  Null senders (DSNs) are never
 * VERP'd.  bounced decodes the address (inbound.c).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "sched_int.h"
#include "verp.h"

/* Whether any <source> says verp-default yes, once per configuration:
 * matching the client's address against every <source> for each
 * message is the work of a message that does not need it. */
static int
verp_any_source(void)
{
	static uint32_t gen;
	static int any;
	const struct cfg_node *c;

	if (gen == qd->cfg_gen)
		return any;
	gen = qd->cfg_gen;
	any = 0;
	for (c = qd->cfg->root->child; c != NULL && !any; c = c->next)
		if (c->def != NULL && c->def->type == CT_BLOCK &&
		    (strcmp(c->name, "source") == 0 ||
		    strcmp(c->name, "accepted-connect") == 0))
			any = cfg_bool(c, "verp-default", 0);
	return any;
}

static int
verp_source_default(const struct envelope *e)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	struct cfg_node *src;

	if (e->client == NULL || !verp_any_source())
		return 0;
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, e->client, &sin->sin_addr) == 1)
		sin->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, e->client, &sin6->sin6_addr) == 1)
		sin6->sin6_family = AF_INET6;
	else
		return 0;
	if ((src = cfg_source_match(qd->cfg, (struct sockaddr *)&ss)) == NULL)
		return 0;
	return cfg_bool(src, "verp-default", 0);
}

const char *
verp_sender(const struct envelope *e, const char *rcpt, char *buf,
    size_t bufsz)
{
	const struct cfg_node *n;
	const char *bdom = NULL, *at, *rat;
	char rdom[256];

	if (qd->cfg == NULL || e->sender == NULL || e->sender[0] == '\0' ||
	    (e->flags & ENV_DSN) || (at = strrchr(e->sender, '@')) == NULL ||
	    (rat = strrchr(rcpt, '@')) == NULL)
		return NULL;
	addr_domain(rcpt, rdom, sizeof(rdom));
	if ((n = sched_cfg_node(e->vmta, rdom, QS_BOUNCE_DOMAIN)) != NULL)
		bdom = n->arg;
	if (bdom == NULL && !verp_source_default(e))
		return NULL;
	return verp_encode(e->sender, rcpt, bdom, buf, bufsz);
}

/* job_send(): the recipients after the first of a VERP'd item go back to
 * the queue as an item of their own, due now. */
void
verp_job_split(struct sitem *it, const struct rcpt *rest, uint32_t n)
{
	struct qmsg *m = it->msg;
	struct sitem *nit;
	uint32_t i, k;

	nit = sched_item_new(m, it->queue, n);
	for (i = 0; i < n; i++) {
		for (k = 0; k < m->env->nrcpt; k++)
			if (m->env->rcpts[k].index == rest[i].index)
				break;
		nit->idx[i] = k;
	}
	sched_item_schedule(nit, now_ms());
}
