/*
 * mta_idle.c - idle connections give their slots up.
 *
 * A connection stays open MTA_IDLE_TIMEOUT after its last message, in
 * case more mail comes for its queue; when sessions of other queues
 * wait for a slot (mta_slot.c), idle connections of queues with nothing
 * to send are closed instead, those idle longest first.
 *
 * They are found on a list, not by a walk over every queue: with mail
 * to many domains there are thousands of queues (each lingers a while
 * after its last message) and the walk ran every 100 ms while requests
 * waited.  A session joins the list when it goes idle and is dropped
 * from it when found busy again, when it is closed here, or freed.
 */
#include "mta.h"

static TAILQ_HEAD(, mta_session) idle = TAILQ_HEAD_INITIALIZER(idle);

/* s waits for work (MTA_IDLE). */
void
mta_idle_add(struct mta_session *s)
{
	if (s->idle_listed)
		return;
	TAILQ_INSERT_TAIL(&idle, s, idleentry);
	s->idle_listed = 1;
}

void
mta_idle_remove(struct mta_session *s)
{
	if (!s->idle_listed)
		return;
	TAILQ_REMOVE(&idle, s, idleentry);
	s->idle_listed = 0;
}

/* Up to `max` connections of queues that have nothing to send are
 * closed (QUIT), so that their slots go to queues that wait for one
 * (mta_slot.c).  Returns how many. */
int
mta_queue_close_idle(int max)
{
	struct mta_session *s, *tmp;
	int n = 0;

	TAILQ_FOREACH_SAFE(s, &idle, idleentry, tmp) {
		if (n >= max)
			break;
		if (s->state != MTA_IDLE) {
			mta_idle_remove(s);
			continue;
		}
		if (s->q->njobs > 0)
			continue;
		mta_idle_remove(s);
		mta_session_quit(s);
		n++;
	}
	return n;
}
