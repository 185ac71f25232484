/*
 * sched_int.h - what the scheduler's files share among themselves:
 * item bookkeeping (sched.c), the retry heap (sched_heap.c) and outcome
 * handling (sched_result.c).
 */
#ifndef SCHED_INT_H
#define SCHED_INT_H

#include <stdint.h>

#include "queued.h"

#define HEAP_NONE	SIZE_MAX

/* sched_heap.c: items waiting for their due time, earliest first */
void		 heap_init(void);
void		 heap_insert(struct sitem *);
void		 heap_remove(struct sitem *);
struct sitem	*heap_top(void);
size_t		 heap_size(void);
struct sitem	*heap_at(size_t);

/* sched.c */
struct squeue	*sched_queue_get(const char *domain, const char *vmta);
struct sitem	*sched_item_new(struct qmsg *, struct squeue *, uint32_t nidx);
void		 sched_item_free(struct sitem *);
void		 sched_item_detach(struct sitem *);
void		 sched_item_schedule(struct sitem *, int64_t due);
void		 sched_msg_maybe_final(struct qmsg *);
void		 sched_arm_timer(void);
void		 sched_queue_activate(struct squeue *);
void		 sched_queue_retry_mode(struct squeue *, int64_t until);
int64_t		 sched_retry_delay(struct squeue *, uint16_t attempts);

#endif
