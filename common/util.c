/*
 * util.c - small helpers every process uses.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

char *
xstrdup(const char *s)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		fatal("strdup");
	return d;
}

int
write_all(int fd, const void *p, size_t len)
{
	const char *s = p;
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, s, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		s += n;
		len -= n;
	}
	return 0;
}

/* pwrite(2) until all of it is written; a write of nothing is ENOSPC. */
int
pwrite_all(int fd, const void *p, size_t len, uint64_t off)
{
	const char *s = p;
	ssize_t n;

	while (len > 0) {
		if ((n = pwrite(fd, s, len, off)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = ENOSPC;
			return -1;
		}
		s += n;
		len -= n;
		off += n;
	}
	return 0;
}
