/*
 * queue_acct.c - accounting records to bounced, at least once.
 *
 * Each record gets a sequence number and stays here until bounced says it
 * is written (BNC_ACK).  When bounced is restarted, everything not yet
 * acknowledged is sent again, in order.
 */
#include <stdlib.h>

#include "log.h"
#include "proto.h"
#include "queued.h"

struct pending {
	TAILQ_ENTRY(pending)	 entry;
	uint64_t		 seq;
	struct acct_record	*rec;
};

static TAILQ_HEAD(, pending) pendings = TAILQ_HEAD_INITIALIZER(pendings);
static uint64_t	next_seq = 1;
static size_t	npending;

#define ACCT_MAX_PENDING	1000000	/* beyond this, records are dropped */

static void
acct_write(struct pending *p)
{
	m_create(qd->bounced, BNC_RECORD, 0, -1);
	m_add_u64(qd->bounced, p->seq);
	m_add_acct(qd->bounced, p->rec);
	m_close(qd->bounced);
}

void
acct_send(const struct acct_record *a)
{
	struct pending *p;

	if (npending >= ACCT_MAX_PENDING) {
		log_warnx("%s: bounced is not keeping up; accounting record "
		    "for <%s> lost", a->qid, a->rcpt ? a->rcpt : "");
		return;
	}
	if ((p = malloc(sizeof(*p))) == NULL)
		fatal("acct_send");
	p->seq = next_seq++;
	p->rec = acct_record_dup(a);
	TAILQ_INSERT_TAIL(&pendings, p, entry);
	npending++;
	if (qd->bounced != NULL)
		acct_write(p);
}

void
acct_bounced_up(void)
{
	struct pending *p;

	TAILQ_FOREACH(p, &pendings, entry)
		acct_write(p);
}

void
acct_ack(uint64_t seq)
{
	struct pending *p;

	while ((p = TAILQ_FIRST(&pendings)) != NULL && p->seq <= seq) {
		TAILQ_REMOVE(&pendings, p, entry);
		acct_record_free(p->rec);
		free(p);
		npending--;
	}
}
