/*
 * cfg_test.c - helpers of the test_cfg_*.c programs (cfg_test.h).
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfg.h"
#include "cfg_test.h"

/* `rel` as an absolute path from the working directory. */
const char *
here(const char *rel)
{
	static char buf[PATH_MAX * 2];
	char cwd[PATH_MAX];

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(buf, sizeof(buf), "%s/%s", cwd, rel);
	return buf;
}

/* All messages, one per line, to compare in one go. */
char *
msgs(const struct cfg *cfg)
{
	size_t len = 1;
	char *s;
	int i;

	for (i = 0; i < cfg->nmsgs; i++)
		len += strlen(cfg->msgs[i]) + 1;
	s = calloc(1, len);
	assert_non_null(s);
	for (i = 0; i < cfg->nmsgs; i++) {
		strlcat(s, cfg->msgs[i], len);
		strlcat(s, "\n", len);
	}
	return s;
}

/* Only the errors (they come first). */
char *
errors(const struct cfg *cfg)
{
	struct cfg copy = *cfg;

	copy.nmsgs = cfg->nerrors;
	return msgs(&copy);
}
