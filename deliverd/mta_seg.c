/*
 * mta_seg.c - descriptors of the spool's segments, kept for jobs.
 *
 * queued sends a worker each segment of its message log once (DLV_SEG),
 * and jobs then name the segment instead of carrying a descriptor each
 * (queued/queue_seg.c: seg_for_worker).  A segment is kept while a job
 * reads it, and closed once queued says it is gone (DLV_SEG_DROP) and
 * no job uses it any more: the file may be unlinked by then, and its
 * data stays readable through our descriptor until we close it.  When
 * queued goes away every segment counts as dropped: a new queued sends
 * again what it names.
 */
#include <sys/tree.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "mta.h"
#include "proto.h"

struct mta_seg {
	RB_ENTRY(mta_seg) entry;	/* the current ones, by number */
	uint64_t	 seq;
	int		 fd;
	unsigned	 refs;		/* jobs reading it */
	int		 dropped;	/* out of the tree: closed at refs 0 */
};

static int
mta_seg_cmp(struct mta_seg *a, struct mta_seg *b)
{
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}
RB_HEAD(mta_segs, mta_seg);
RB_PROTOTYPE(mta_segs, mta_seg, entry, mta_seg_cmp);
RB_GENERATE(mta_segs, mta_seg, entry, mta_seg_cmp);
static struct mta_segs segs = RB_INITIALIZER(&segs);

static void
mta_seg_drop(struct mta_seg *s)
{
	RB_REMOVE(mta_segs, &segs, s);
	s->dropped = 1;
	if (s->refs > 0)
		return;
	close(s->fd);
	free(s);
}

static struct mta_seg *
mta_seg_find(uint64_t seq)
{
	struct mta_seg key = { .seq = seq };

	return RB_FIND(mta_segs, &segs, &key);
}

/* The segment number DLV_SEG and DLV_SEG_DROP carry. */
static uint64_t
mta_seg_seq(struct imsg *imsg)
{
	struct msg m;
	uint64_t seq;

	m_msg(&m, imsg);
	m_get_u64(&m, &seq);
	m_end(&m);
	return seq;
}

/* DLV_SEG: u64 seq, fd */
void
mta_seg_recv(struct imsg *imsg)
{
	struct mta_seg *s;
	uint64_t seq = mta_seg_seq(imsg);

	if (imsg->fd == -1)
		fatalx("DLV_SEG without a descriptor");
	/* Sent again (a new queued): jobs under way keep the old one. */
	if ((s = mta_seg_find(seq)) != NULL)
		mta_seg_drop(s);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("mta_seg_recv");
	s->seq = seq;
	s->fd = imsg->fd;
	RB_INSERT(mta_segs, &segs, s);
}

/* DLV_SEG_DROP: u64 seq */
void
mta_seg_drop_recv(struct imsg *imsg)
{
	struct mta_seg *s;

	if ((s = mta_seg_find(mta_seg_seq(imsg))) != NULL)
		mta_seg_drop(s);
}

/* queued went away: it no longer knows what we hold. */
void
mta_seg_forget(void)
{
	struct mta_seg *s;

	while ((s = RB_MIN(mta_segs, &segs)) != NULL)
		mta_seg_drop(s);
}

/* A job's hold on segment `seq`, and its descriptor in *fd (-1 and NULL
 * when queued named a segment we do not have). */
struct mta_seg *
mta_seg_get(uint64_t seq, int *fd)
{
	struct mta_seg *s;

	if ((s = mta_seg_find(seq)) == NULL) {
		*fd = -1;
		return NULL;
	}
	s->refs++;
	*fd = s->fd;
	return s;
}

void
mta_seg_put(struct mta_seg *s)
{
	if (--s->refs == 0 && s->dropped) {
		close(s->fd);
		free(s);
	}
}
