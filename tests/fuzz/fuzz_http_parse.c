/*
 * fuzz_http_parse.c - libFuzzer target for what mgmtd reads of an HTTP
 * request itself (h2o parses the rest): query parameters, HTTP Basic
 * credentials, and htpasswd lines.
 *
 *	clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *	    -isystem /usr/include/bsd -DLIBBSD_OVERLAY -Icommon -Imgmtd \
 *	    tests/fuzz/fuzz_http_parse.c mgmtd/http_parse.c \
 *	    -lbsd -lcrypto -o fuzz_http_parse
 *	./fuzz_http_parse -max_total_time=10 tests/fuzz/corpus/http_parse
 *
 * Checked: nothing is read or written out of bounds; a decoded query
 * value is never longer than its encoding; credentials that decode
 * contain no NUL and fit the buffers; a split htpasswd line has a
 * non-empty user without ':'.
 *
 * FUZZ_EXTRA: mgmtd/http_parse.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *names[] = { "queue", "format", "jobId", "", "a" };
	char *q, out[64], *big, user[32], pass[32], *line, *u, *h;
	size_t i;
	int n;

	/* The query, exactly as long as the input (no terminator). */
	if ((q = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(q, data, size);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		n = http_query_get(q, size, names[i], out, sizeof(out));
		if (n >= (int)sizeof(out))
			abort();
		if ((big = malloc(size + 1)) == NULL)
			break;
		n = http_query_get(q, size, names[i], big, size + 1);
		if (n > (int)size)
			abort();
		free(big);
	}
	if (http_basic_decode(q, size, user, sizeof(user), pass,
	    sizeof(pass)) == 0 && (strlen(user) >= sizeof(user) ||
	    strlen(pass) >= sizeof(pass) || strchr(user, ':') != NULL))
		abort();
	free(q);

	if ((line = malloc(size + 1)) == NULL)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	if (http_htpasswd_line(line, &u, &h) == 0 &&
	    (*u == '\0' || strchr(u, ':') != NULL))
		abort();
	free(line);
	return 0;
}
