/*
 * mta_idle.c - idle connections give their slots up.
 *
 * A connection stays open MTA_IDLE_TIMEOUT after its last message, in
 * case more mail comes for its queue; when sessions of other queues
 * wait for a slot (mta_slot.c), idle connections of queues with nothing
 * to send are closed instead.
 */
#include "mta.h"

static int	idle_max, idle_n;

static void
mta_idle_queue(struct mta_queue *q)
{
	struct mta_session *s, *stmp;

	if (q->njobs > 0)
		return;
	TAILQ_FOREACH_SAFE(s, &q->sessions, entry, stmp) {
		if (idle_n >= idle_max)
			return;
		if (s->state == MTA_IDLE) {
			mta_session_quit(s);
			idle_n++;
		}
	}
}

/* Up to `max` connections of queues that have nothing to send are
 * closed (QUIT), so that their slots go to queues that wait for one
 * (mta_slot.c).  Returns how many. */
int
mta_queue_close_idle(int max)
{
	idle_max = max;
	idle_n = 0;
	mta_queue_foreach(mta_idle_queue);
	return idle_n;
}
