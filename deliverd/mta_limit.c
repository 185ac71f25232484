/*
 * mta_limit.c - token buckets for max-msg-rate, max-connect-rate and
 * delivery-interval of a queue.
 *
 * A queue is owned by one deliverd worker, so its rates are counted
 * here, in that process.  The bucket holds at most one token: a rate of
 * 60/m sends one message a second rather than 60 at the top of each
 * minute, which is what receivers that count per window like best.
 */
#include "mta.h"

void
mta_bucket_set(struct mta_bucket *b, const struct cfg_rate *r)
{
	int was = b->on;

	b->on = r != NULL && !r->unlimited && r->count > 0 && r->per_secs > 0;
	if (!b->on)
		return;
	b->per_ms = (double)r->count / ((double)r->per_secs * 1000.0);
	if (!was) {
		b->tokens = 1.0;
		b->last = 0;
	}
}

/* A minimum interval between events: a rate of one per ms. */
void
mta_bucket_interval(struct mta_bucket *b, uint64_t ms)
{
	struct cfg_rate r = { .count = 1, .per_secs = 1 };

	if (ms == 0) {
		b->on = 0;
		return;
	}
	mta_bucket_set(b, &r);
	b->per_ms = 1.0 / (double)ms;
}

static void
mta_bucket_fill(struct mta_bucket *b, uint64_t now)
{
	if (b->last != 0 && now > b->last)
		b->tokens += (double)(now - b->last) * b->per_ms;
	if (b->tokens > 1.0)
		b->tokens = 1.0;
	b->last = now;
}

/* Whether an event may happen now (without taking it). */
int
mta_bucket_ready(struct mta_bucket *b, uint64_t now)
{
	if (!b->on)
		return 1;
	mta_bucket_fill(b, now);
	return b->tokens >= 1.0 - 1e-9;
}

int
mta_bucket_take(struct mta_bucket *b, uint64_t now)
{
	if (!mta_bucket_ready(b, now))
		return 0;
	if (b->on)
		b->tokens -= 1.0;
	return 1;
}

/* Milliseconds until the next event may happen (0: now). */
uint64_t
mta_bucket_wait(struct mta_bucket *b, uint64_t now)
{
	double w;
	uint64_t ms;

	if (mta_bucket_ready(b, now))
		return 0;
	w = (1.0 - b->tokens) / b->per_ms;
	ms = (uint64_t)w;
	return ms < w ? ms + 1 : (ms ? ms : 1);
}
