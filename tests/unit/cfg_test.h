/*
 * cfg_test.h - helpers the test_cfg_*.c programs share (cfg_test.c):
 * messages of a loaded config as one string to compare in one go.
 */
#ifndef TERN_CFG_TEST_H
#define TERN_CFG_TEST_H

struct cfg;

#define DATA	"../data/config/"

/* `rel` as an absolute path from the working directory (static). */
const char	*here(const char *rel);
/* All messages, one per line; the caller frees it. */
char		*msgs(const struct cfg *);
/* Only the errors (they come first); the caller frees it. */
char		*errors(const struct cfg *);

#define EXPECT_ERRORS(text, expect) do {				\
	struct cfg *c_ = cfg_load_string("tern.conf", text);		\
	char *e_;							\
	assert_non_null(c_);						\
	e_ = errors(c_);						\
	assert_string_equal(e_, expect);				\
	free(e_);							\
	cfg_free(c_);							\
} while (0)

#endif
