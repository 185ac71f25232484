/*
 * test_bounce_corpus.c - bounce classification accuracy on the corpus of
 * real provider replies in tests/data/bounces/replies.tsv, and the
 * configuration's <bounce-category-patterns> on top of the defaults.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bounced.h"

#define CORPUS	"../data/bounces/replies.tsv"

/* What deliverd passes: the reply's enhanced code, else "C.0.0". */
static void
status_of(const char *reply, char *buf, size_t sz)
{
	const char *p = reply + 4;
	size_t n;

	if (*p == '#')
		p++;
	n = strspn(p, "0123456789.");
	if (n >= 5 && n < sz && (p[0] == '4' || p[0] == '5') && p[1] == '.') {
		memcpy(buf, p, n);
		buf[n] = '\0';
		return;
	}
	snprintf(buf, sz, "%c.0.0", reply[0] == '4' || reply[0] == '5' ?
	    reply[0] : '5');
}

/*
 * A multiline reply as deliverd reports it: the code and enhanced code
 * once, then each line's text ("550-5.1.1 a 550 5.1.1 b" -> "550 5.1.1 a
 * b").  Works in place.
 */
static void
fold(char *reply)
{
	char pfx[40], *p;
	size_t n, e;

	if (strlen(reply) < 4)
		return;
	e = 4 + strspn(reply + 4, "0123456789.");
	if (e == 4 || reply[e] != ' ')
		e = 3;
	for (;;) {
		/* " 550-5.1.1 " or " 550 5.1.1 " after the first line */
		snprintf(pfx, sizeof(pfx), " %.3s-%.*s", reply, (int)(e - 4 >
		    20 ? 20 : e > 4 ? e - 4 : 0), reply + 4);
		if ((p = strstr(reply + 4, pfx)) == NULL) {
			pfx[4] = ' ';
			if ((p = strstr(reply + e, pfx)) == NULL)
				break;
		}
		n = strlen(pfx);
		memmove(p, p + n, strlen(p + n) + 1);
	}
}

static void
test_corpus(void **state)
{
	char line[4096], status[32], *f[4], *p;
	const char *got;
	FILE *fp;
	int total = 0, good = 0, i;
	double acc;

	(void)state;
	fp = fopen(CORPUS, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		line[strcspn(line, "\r\n")] = '\0';
		p = line;
		for (i = 0; i < 4; i++)
			f[i] = strsep(&p, "\t");
		assert_non_null(f[2]);
		/* every row names where its text comes from */
		if (f[3] == NULL || strlen(f[3]) < 4)
			fail_msg("row without a source: %s", f[2]);
		fold(f[2]);
		status_of(f[2], status, sizeof(status));
		got = bounce_classify(status, f[2]);
		total++;
		if (strcmp(got, f[1]) == 0)
			good++;
		else
			print_message("miss %s: %s: got %s, want %s\n", f[0],
			    f[2], got, f[1]);
	}
	fclose(fp);
	acc = 100.0 * good / (total ? total : 1);
	print_message("bounce classification: %d/%d correct, %.1f%%\n", good,
	    total, acc);
	assert_true(total >= 150);
	assert_true(acc >= 95.0);
}

static const char conf[] =
    "<bounce-category-patterns>\n"
    "/mailbox moved/ bad-mailbox\n"
    "/^5\\.7\\.1;.*greylist/ deferred-greylist\n"
    "/^4\\.2\\.1;/ quota-issues\n"
    "/[unclosed/ other\n"
    "</bounce-category-patterns>\n";

static void
test_config_patterns(void **state)
{
	struct cfg *cfg;

	(void)state;
	cfg = cfg_load_string("test.conf", conf);
	assert_non_null(cfg);
	/* the bad regex is skipped, the others apply */
	assert_int_equal(bounce_patterns_config(cfg), -1);
	/* extends: text the defaults call "other" */
	assert_string_equal(bounce_classify("5.0.0",
	    "550 mailbox moved to a new host"), "bad-mailbox");
	/* overrides: custom category, anchored on the status */
	assert_string_equal(bounce_classify("5.7.1",
	    "550 5.7.1 greylisted, try later"), "deferred-greylist");
	assert_string_equal(bounce_classify("4.2.1",
	    "450 4.2.1 receiving mail at a rate"), "quota-issues");
	/* the defaults still apply to the rest */
	assert_string_equal(bounce_classify("5.1.1", "550 5.1.1 no such user"),
	    "bad-mailbox");
	bounce_patterns_clear();
	assert_string_equal(bounce_classify("5.0.0",
	    "550 mailbox moved to a new host"), "other");
	cfg_free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus),
		cmocka_unit_test(test_config_patterns),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
