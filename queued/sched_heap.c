/*
 * sched_heap.c - a binary min-heap of items by due time.  Each item
 * remembers its index so that removal from the middle is O(log n).
 */
#include <stdlib.h>

#include "log.h"
#include "sched_int.h"

static struct sitem	**heap;
static size_t		  hlen, hcap;

void
heap_init(void)
{
	heap = NULL;
	hlen = hcap = 0;
}

static void
heap_set(size_t i, struct sitem *it)
{
	heap[i] = it;
	it->heapidx = i;
}

static void
heap_up(size_t i)
{
	struct sitem *it = heap[i];

	while (i > 0 && heap[(i - 1) / 2]->due > it->due) {
		heap_set(i, heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(i, it);
}

static void
heap_down(size_t i)
{
	struct sitem *it = heap[i];
	size_t c;

	while ((c = 2 * i + 1) < hlen) {
		if (c + 1 < hlen && heap[c + 1]->due < heap[c]->due)
			c++;
		if (heap[c]->due >= it->due)
			break;
		heap_set(i, heap[c]);
		i = c;
	}
	heap_set(i, it);
}

void
heap_insert(struct sitem *it)
{
	if (hlen == hcap) {
		hcap = hcap ? hcap * 2 : 1024;
		if ((heap = reallocarray(heap, hcap, sizeof(*heap))) == NULL)
			fatal("heap_insert");
	}
	heap_set(hlen, it);
	heap_up(hlen++);
}

void
heap_remove(struct sitem *it)
{
	size_t i = it->heapidx;

	it->heapidx = HEAP_NONE;
	if (--hlen == i)
		return;
	heap_set(i, heap[hlen]);
	heap_down(i);
	heap_up(heap[i]->heapidx);
}

struct sitem *
heap_top(void)
{
	return hlen ? heap[0] : NULL;
}

size_t
heap_size(void)
{
	return hlen;
}

struct sitem *
heap_at(size_t i)
{
	return i < hlen ? heap[i] : NULL;
}
