/*
 * sched_slot.c - connection slots: the max-smtp-out limits that span
 * queues, and so deliverd workers.
 *
 * A queue's own max-smtp-out is counted by the worker that owns the
 * queue.  Three limits count connections of many queues at once:
 *
 *	total-max-smtp-out (and a top-level max-smtp-out)	every queue
 *	max-smtp-out in a <virtual-mta NAME> block		its queues
 *	max-smtp-out in a <source-pool CIDR> block		its addresses
 *
 * Their queues live in different workers, so the counters live here: a
 * worker asks for a slot before it connects (DLV_SLOT_REQ) and gives it
 * back when the connection closes (DLV_SLOT_FREE).  A request that does
 * not fit waits, first come first served, until a slot it needs is
 * freed; a request for another VMTA may pass it meanwhile.  A worker
 * that goes away gives back everything it held.
 *
 * With a <cluster>, a slot that fits here must also hold a lease on each
 * limit shared with the other nodes (cluster_limit.c) before it is
 * granted; the lease goes back with the slot.
 *
 * With mail to many domains there is a request and a release per
 * message, and up to total-max-smtp-out slots held: so each VMTA and
 * source pool has a counter of its held slots, a slot knows its limits
 * (looked up once per configuration), and slots are found by (worker,
 * id) in a tree, not by walking the lists.
 */
#include <sys/tree.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "proto.h"
#include "queued.h"
#include "util.h"

#define SLOT_DEFAULT_TOTAL	1200	/* PowerMTA's total-max-smtp-out */

/* Slots held under one VMTA or one <source-pool>. */
struct slot_count {
	LIST_ENTRY(slot_count) entry;
	char		*name;
	int		 held;
	int		 refs;		/* slots naming it */
};
LIST_HEAD(slot_counts, slot_count);

struct slot {
	TAILQ_ENTRY(slot) entry;
	RB_ENTRY(slot)	 byid;
	int		 worker;
	uint32_t	 id;		/* the worker's session id */
	int		 granted;
	char		*queue;		/* "domain/vmta" */
	char		*vmta;		/* NULL: none */
	char		*pool;		/* <source-pool> CIDR, NULL: none */
	struct slot_count *vc, *pc;	/* their counters */
	int64_t		 vlimit, plimit;	/* -1: none */
	uint32_t	 gen;		/* configuration of the limits */
	struct cluster_hold *hold;	/* shared limits held, or NULL */
};
TAILQ_HEAD(slot_list, slot);

static int
slot_cmp(const struct slot *a, const struct slot *b)
{
	if (a->worker != b->worker)
		return a->worker < b->worker ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}
RB_HEAD(slot_tree, slot);
RB_PROTOTYPE(slot_tree, slot, byid, slot_cmp);
RB_GENERATE(slot_tree, slot, byid, slot_cmp);

static struct slot_list	 held = TAILQ_HEAD_INITIALIZER(held);
static struct slot_list	 waiting = TAILQ_HEAD_INITIALIZER(waiting);
static struct slot_tree	 slots = RB_INITIALIZER(&slots);
static struct slot_counts vcounts = LIST_HEAD_INITIALIZER(vcounts);
static struct slot_counts pcounts = LIST_HEAD_INITIALIZER(pcounts);
static int		 nheld;

static struct slot_count *
count_get(struct slot_counts *l, const char *name)
{
	struct slot_count *c;

	if (name == NULL)
		return NULL;
	LIST_FOREACH(c, l, entry)
		if (strcmp(c->name, name) == 0)
			break;
	if (c == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL)
			fatal("count_get");
		c->name = xstrdup(name);
		LIST_INSERT_HEAD(l, c, entry);
	}
	c->refs++;
	return c;
}

static void
count_put(struct slot_count *c)
{
	if (c == NULL || --c->refs > 0)
		return;
	LIST_REMOVE(c, entry);
	free(c->name);
	free(c);
}

static int
slot_same(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* max-smtp-out set in this very block, else -1 ("unlimited": -1). */
static int64_t
slot_block_limit(const struct cfg_node *block)
{
	struct cfg_node *n;
	const char *err;
	int64_t v;

	if (block == NULL || (n = cfg_child(block, "max-smtp-out")) == NULL ||
	    n->arg == NULL || cfg_parse_int(n->arg, &v, &err) == -1 || v < 0)
		return -1;
	return v;
}

static int64_t
slot_total_limit(void)
{
	static int64_t total;
	static uint32_t gen;
	int64_t top;

	if (gen != qd->cfg_gen) {
		total = cfg_int(qd->cfg->root, "total-max-smtp-out",
		    SLOT_DEFAULT_TOTAL);
		top = slot_block_limit(qd->cfg->root);
		if (top >= 0 && top < total)
			total = top;
		gen = qd->cfg_gen;
	}
	return total;
}

/* The <source-pool CIDR> block that holds address `src`, or NULL. */
static struct cfg_node *
slot_pool_of(const char *src)
{
	struct sockaddr_storage ss;
	struct cfg_node *sp;
	struct cfg_cidr c;
	const char *err;

	memset(&ss, 0, sizeof(ss));
	if (src == NULL)
		return NULL;
	if (inet_pton(AF_INET, src,
	    &((struct sockaddr_in *)&ss)->sin_addr) == 1)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, src,
	    &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	else
		return NULL;
	for (sp = cfg_child(qd->cfg->root, "source-pool"); sp != NULL;
	    sp = cfg_next_named(sp, "source-pool"))
		if (sp->child != NULL && sp->arg != NULL &&
		    cfg_parse_cidr(sp->arg, &c, &err) == 0 &&
		    cfg_cidr_match(&c, (struct sockaddr *)&ss))
			return sp;
	return NULL;
}

/* The <source-pool CIDR> block by its CIDR. */
static struct cfg_node *
slot_pool_named(const char *cidr)
{
	struct cfg_node *sp;

	for (sp = cfg_child(qd->cfg->root, "source-pool"); sp != NULL;
	    sp = cfg_next_named(sp, "source-pool"))
		if (sp->child != NULL && slot_same(sp->arg, cidr))
			return sp;
	return NULL;
}

/* The VMTA's and the pool's max-smtp-out, once per configuration. */
static void
slot_limits(struct slot *s)
{
	if (s->gen == qd->cfg_gen)
		return;
	s->vlimit = s->vmta != NULL ?
	    slot_block_limit(cfg_vmta(qd->cfg, s->vmta)) : -1;
	s->plimit = s->pool != NULL ?
	    slot_block_limit(slot_pool_named(s->pool)) : -1;
	s->gen = qd->cfg_gen;
}

/* Whether one more connection like `s` fits every shared limit. */
static int
slot_fits(struct slot *s)
{
	if (nheld >= slot_total_limit())
		return 0;
	slot_limits(s);
	return (s->vlimit < 0 || s->vc->held < s->vlimit) &&
	    (s->plimit < 0 || s->pc->held < s->plimit);
}

static void
slot_hold(struct slot *s)
{
	TAILQ_INSERT_TAIL(&held, s, entry);
	s->granted = 1;
	nheld++;
	if (s->vc != NULL)
		s->vc->held++;
	if (s->pc != NULL)
		s->pc->held++;
}

static void
slot_grant(struct slot *s)
{
	struct mproc *p = qd->workers[s->worker];

	TAILQ_REMOVE(&waiting, s, entry);
	slot_hold(s);
	if (p != NULL)
		m_compose(p, DLV_SLOT_GRANT, s->id, -1, NULL, 0);
}

/* Grant what fits now, oldest request first.  Nothing fits while
 * every slot of total-max-smtp-out is held. */
static void
slot_run(void)
{
	struct slot *s, *tmp;

	TAILQ_FOREACH_SAFE(s, &waiting, entry, tmp) {
		if (nheld >= slot_total_limit())
			break;
		if (slot_fits(s) && cluster_slot_acquire(&s->hold, s->worker,
		    s->id, s->queue, s->vmta, slot_pool_named(s->pool)))
			slot_grant(s);
	}
}

static void
slot_free(struct slot *s)
{
	if (s->granted) {
		TAILQ_REMOVE(&held, s, entry);
		nheld--;
		if (s->vc != NULL)
			s->vc->held--;
		if (s->pc != NULL)
			s->pc->held--;
	} else
		TAILQ_REMOVE(&waiting, s, entry);
	RB_REMOVE(slot_tree, &slots, s);
	cluster_slot_release(&s->hold);
	count_put(s->vc);
	count_put(s->pc);
	free(s->queue);
	free(s->vmta);
	free(s->pool);
	free(s);
}

/*
 * A worker asks for a slot (or, replaying, says it holds one).  The
 * <source-pool> is looked up now: the address stays the same for the
 * life of the connection.
 */
void
sched_slot_request(int worker, uint32_t id, const char *queue,
    const char *vmta, const char *src, int held_already)
{
	struct cfg_node *sp;
	struct slot *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("sched_slot_request");
	s->worker = worker;
	s->id = id;
	s->queue = queue ? xstrdup(queue) : NULL;
	s->vmta = vmta ? xstrdup(vmta) : NULL;
	if ((sp = slot_pool_of(src)) != NULL)
		s->pool = xstrdup(sp->arg);
	s->vc = count_get(&vcounts, s->vmta);
	s->pc = count_get(&pcounts, s->pool);
	if (RB_INSERT(slot_tree, &slots, s) != NULL) {
		/* the worker reused a live id: the old one is gone */
		slot_free(RB_FIND(slot_tree, &slots, s));
		RB_INSERT(slot_tree, &slots, s);
	}
	if (held_already) {
		cluster_slot_held(&s->hold, worker, id, s->queue, s->vmta, sp);
		slot_hold(s);
		return;
	}
	TAILQ_INSERT_TAIL(&waiting, s, entry);
	slot_run();
}

void
sched_slot_release(int worker, uint32_t id)
{
	struct slot key, *s;

	key.worker = worker;
	key.id = id;
	if ((s = RB_FIND(slot_tree, &slots, &key)) == NULL)
		return;
	slot_free(s);
	slot_run();
}

/* The worker is gone, and its connections with it. */
void
sched_slot_worker_down(int worker)
{
	struct squeue *q;
	struct slot *s, *tmp;

	TAILQ_FOREACH_SAFE(s, &held, entry, tmp)
		if (s->worker == worker)
			slot_free(s);
	TAILQ_FOREACH_SAFE(s, &waiting, entry, tmp)
		if (s->worker == worker)
			slot_free(s);
	for (q = sched_queue_first(); q != NULL; q = sched_queue_next(q))
		if (q->stats_worker == worker)
			q->conns = q->connecting = 0;
	slot_run();
}

/* A reloaded config may have raised a limit. */
void
sched_slot_reconfigure(void)
{
	slot_run();
}

/* Connections held by every worker, for the status. */
int
sched_slot_count(void)
{
	return nheld;
}
