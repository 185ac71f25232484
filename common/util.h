/*
 * util.h - small helpers every process uses.
 */
#ifndef TERN_UTIL_H
#define TERN_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* strdup that never returns NULL for a string (fatal when out of memory)
 * and passes NULL through, for optional fields. */
char	*xstrdup(const char *);
/* write(2) all of p (retrying short writes and EINTR): 0, or -1 with
 * errno set. */
int	 write_all(int fd, const void *p, size_t len);
int	 pwrite_all(int fd, const void *p, size_t len, uint64_t off);

#endif
