/*
 * readfile.c - read a small file that only root may read (certificates,
 * DKIM keys, password files), to hand its content to a chrooted daemon.
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "ternd.h"

char *
ternd_read_file(const char *path, size_t max, const char *what)
{
	const char *pfx = what ? what : "", *sep = what ? ": " : "";
	struct stat st;
	size_t off = 0;
	ssize_t n;
	char *buf;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("%s%scannot read %s", pfx, sep, path);
		return NULL;
	}
	if (fstat(fd, &st) == -1 || st.st_size < 0 ||
	    (size_t)st.st_size > max) {
		log_warnx("%s%s%s: missing or larger than %zu bytes", pfx, sep,
		    path, max);
		close(fd);
		return NULL;
	}
	if ((buf = malloc(st.st_size + 1)) == NULL)
		fatal("ternd_read_file");
	while (off < (size_t)st.st_size) {
		n = read(fd, buf + off, st.st_size - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += n;
	}
	close(fd);
	buf[off] = '\0';
	/* Text only: a NUL inside would silently cut what the daemon sees. */
	if (strlen(buf) != off) {
		log_warnx("%s%s%s: contains NUL bytes", pfx, sep, path);
		free(buf);
		return NULL;
	}
	return buf;
}
