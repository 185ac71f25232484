/*
 * cli_conn.c - talk to mgmtd: find the control socket, send one request
 * line, read the JSON answer until mgmtd closes.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "cli.h"
#include "ctl.h"
#include "paths.h"
#include "util.h"

/* No answer is this large; a bound keeps a confused peer from filling
 * memory. */
#define CLI_MAX_ANSWER	(64 * 1024 * 1024)

const char *
cli_config_path(const char *opt_config)
{
	const char *env;

	if (opt_config != NULL)
		return opt_config;
	if ((env = getenv("TERN_CONFIG")) != NULL && *env != '\0')
		return env;
	return TERN_DEFAULT_CONFIG;
}

const char *
cli_socket_path(const char *opt_socket, const char *config, char *buf,
    size_t bufsz)
{
	const char *env, *cs;
	struct cfg *cfg;

	if (opt_socket != NULL) {
		strlcpy(buf, opt_socket, bufsz);
		return buf;
	}
	if ((env = getenv("TERN_CONTROL")) != NULL && *env != '\0') {
		strlcpy(buf, env, bufsz);
		return buf;
	}
	strlcpy(buf, CTL_SOCKET_DEFAULT, bufsz);
	/* An unreadable config (not root, not installed) is no error
	 * here: the default socket may still be right. */
	if (access(config, R_OK) == -1)
		return buf;
	if ((cfg = cfg_load(config)) == NULL)
		return buf;
	if ((cs = cfg_str(cfg->root, "control-socket", NULL)) != NULL &&
	    ctl_path_resolve(cfg->path ? cfg->path : config, cs, buf,
	    bufsz) == NULL)
		strlcpy(buf, cs, bufsz);
	cfg_free(cfg);
	return buf;
}

int
cli_connect(const char *path)
{
	struct sockaddr_un sun;
	int s, saved;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		fprintf(stderr, "tern: control socket path too long: %s\n",
		    path);
		return -1;
	}
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		fprintf(stderr, "tern: socket: %s\n", strerror(errno));
		return -1;
	}
	if (connect(s, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		return s;
	saved = errno;
	close(s);
	if (saved == ENOENT || saved == ECONNREFUSED)
		fprintf(stderr, "tern: cannot connect to %s: ternd is not "
		    "running?\n", path);
	else
		fprintf(stderr, "tern: cannot connect to %s: %s\n", path,
		    strerror(saved));
	return -1;
}

static int
cli_send(int s, const char *line)
{
	return write_all(s, line, strlen(line));
}

static long long
cli_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Everything until EOF, within the deadline; NUL terminated. */
static char *
cli_read_all(int s, size_t *lenp)
{
	struct pollfd pfd = { .fd = s, .events = POLLIN };
	long long deadline = cli_now_ms() + CTL_CLIENT_TIMEOUT, left;
	size_t len = 0, cap = 0;
	char *buf = NULL, *nb;
	ssize_t n;

	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			if (cap > CLI_MAX_ANSWER || (nb = realloc(buf, cap)) ==
			    NULL)
				goto fail;
			buf = nb;
		}
		if ((left = deadline - cli_now_ms()) <= 0 ||
		    poll(&pfd, 1, (int)left) == 0) {
			errno = ETIMEDOUT;
			goto fail;
		}
		if ((n = read(s, buf + len, cap - len - 1)) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			goto fail;
		}
		if (n == 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	*lenp = len;
	return buf;
fail:
	free(buf);
	return NULL;
}

json_t *
cli_request(const char *path, const char *line)
{
	json_error_t err;
	json_t *j;
	size_t len;
	char *text;
	int s;

	if ((s = cli_connect(path)) == -1)
		return NULL;
	if (cli_send(s, line) == -1 || cli_send(s, "\n") == -1) {
		fprintf(stderr, "tern: %s: %s\n", path, strerror(errno));
		close(s);
		return NULL;
	}
	shutdown(s, SHUT_WR);
	text = cli_read_all(s, &len);
	close(s);
	if (text == NULL) {
		fprintf(stderr, "tern: no answer from mgmtd: %s\n",
		    strerror(errno));
		return NULL;
	}
	if ((j = json_loadb(text, len, JSON_DECODE_ANY, &err)) == NULL)
		fprintf(stderr, "tern: bad answer from mgmtd: %s\n",
		    len ? err.text : "empty");
	free(text);
	return j;
}
