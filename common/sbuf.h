/*
 * sbuf.h - a growing string, for answers and texts built piece by piece
 * (mgmtd's XML and Prometheus answers, HTTP-injected messages; bounced's
 * accounting rows, DSNs and event batches).  Always NUL-terminated once
 * something was added; fatal when out of memory.  Start from { 0 }.
 */
#ifndef TERN_SBUF_H
#define TERN_SBUF_H

#include <stddef.h>

struct sbuf {
	char	*s;		/* malloc'd; the owner frees it */
	size_t	 len, cap;
};

/* Room for n more bytes (and the NUL) without moving the string: for a
 * secret, which a realloc() would leave behind in freed memory. */
void	 sb_reserve(struct sbuf *, size_t n);
void	 sb_add(struct sbuf *, const char *s, size_t n);
void	 sb_str(struct sbuf *, const char *s);
void	 sb_printf(struct sbuf *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* The string ("" if nothing was added); the caller frees it. */
char	*sb_done(struct sbuf *);
/* Empty again, keeping the memory for the next round (a buffer of rows
 * written out and refilled). */
void	 sb_reset(struct sbuf *);
/* Free the string and start over from { 0 }. */
void	 sb_free(struct sbuf *);

#endif
