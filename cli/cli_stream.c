/*
 * cli_stream.c - `tern trace [DOMAIN[/VMTA]]`: mgmtd answers with one
 * JSON document per line for as long as we stay connected (no deadline:
 * the request is kept open, not half-closed, so that mgmtd sees us go).
 * Ctrl-C ends it with exit code 0; an {"error"} line ends it with 1.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ctl.h"
#include "util.h"

#define CLI_LINE_MAX	(64 * 1024)	/* no event is longer */

static volatile sig_atomic_t	cli_interrupted;

static void
cli_sigint(int sig)
{
	cli_interrupted = 1;
}

static void
cli_trace_print(const json_t *j)
{
	char when[32];
	const char *s;
	time_t t = json_integer_value(json_object_get(j, "time"));
	struct tm tm;

	if ((s = json_string_value(json_object_get(j, "tracing"))) != NULL) {
		printf("tracing %s (Ctrl-C to stop)\n", s);
		return;
	}
	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	printf("%s %-9s %s %s <%s>", when,
	    json_string_value(json_object_get(j, "result")) ?: "?",
	    json_string_value(json_object_get(j, "queue")) ?: "?",
	    json_string_value(json_object_get(j, "qid")) ?: "?",
	    json_string_value(json_object_get(j, "rcpt")) ?: "?");
	if ((s = json_string_value(json_object_get(j, "mta"))) != NULL)
		printf(" via %s", s);
	if ((s = json_string_value(json_object_get(j, "diag"))) != NULL)
		printf(": %s", s);
	printf("\n");
	if (json_integer_value(json_object_get(j, "dropped")) > 0)
		printf("(%lld events lost: output too slow)\n",
		    (long long)json_integer_value(json_object_get(j,
		    "dropped")));
}

/* One line from mgmtd; CLI_OK to go on, else the exit code. */
static int
cli_trace_line(const char *text, size_t len, int json)
{
	json_error_t err;
	json_t *j, *e;
	int rc = -1;

	if ((j = json_loadb(text, len, 0, &err)) == NULL) {
		fprintf(stderr, "tern: bad answer from mgmtd: %s\n", err.text);
		return CLI_FAIL;
	}
	if ((e = json_object_get(j, "error")) != NULL) {
		fprintf(stderr, "tern: %s\n", json_is_string(e) ?
		    json_string_value(e) : "error");
		rc = CLI_FAIL;
	} else if (json) {		/* one compact document per line */
		json_dumpf(j, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
		putchar('\n');
	} else
		cli_trace_print(j);
	fflush(stdout);
	json_decref(j);
	return rc == -1 ? CLI_OK : rc;
}

static int
cli_trace_read(int s, int json)
{
	struct pollfd pfd = { .fd = s, .events = POLLIN };
	char *buf, *nl;
	size_t len = 0;
	ssize_t n;
	int rc;

	if ((buf = malloc(CLI_LINE_MAX)) == NULL)
		return CLI_FAIL;
	while (!cli_interrupted) {
		if (poll(&pfd, 1, -1) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if ((n = read(s, buf + len, CLI_LINE_MAX - len)) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			break;
		}
		if (n == 0) {		/* mgmtd ended it (it stopped) */
			free(buf);
			return len == 0 ? CLI_OK : CLI_FAIL;
		}
		len += n;
		while ((nl = memchr(buf, '\n', len)) != NULL) {
			if ((rc = cli_trace_line(buf, nl - buf, json)) !=
			    CLI_OK) {
				free(buf);
				return rc;
			}
			len -= nl + 1 - buf;
			memmove(buf, nl + 1, len);
		}
		if (len == CLI_LINE_MAX) {
			fprintf(stderr, "tern: line too long from mgmtd\n");
			break;
		}
	}
	free(buf);
	return cli_interrupted ? CLI_OK : CLI_FAIL;
}

int
cli_trace(const char *path, const char *line, int json)
{
	struct sigaction sa;
	int s, rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cli_sigint;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if ((s = cli_connect(path)) == -1)
		return CLI_FAIL;
	if (write_all(s, line, strlen(line)) == -1 ||
	    write_all(s, "\n", 1) == -1) {
		fprintf(stderr, "tern: %s: %s\n", path, strerror(errno));
		close(s);
		return CLI_FAIL;
	}
	rc = cli_trace_read(s, json);
	close(s);
	return rc;
}
