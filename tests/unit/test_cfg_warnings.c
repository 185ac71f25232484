/*
 * test_cfg_warnings.c - the parser's warnings: directives accepted but not
 * acted on, and ones in a scope where they do nothing.
 *
 * Runs in tests/unit (ctest WORKING_DIRECTORY); cfg_test.h has the
 * helpers the test_cfg_* programs share.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cfg.h"
#include "cfg_test.h"

static void
test_warnings(void **state)
{
	struct cfg *cfg;
	char *m;

	cfg = cfg_load_string("tern.conf",
	    "max-smtp-outt 1\n"
	    "memory-pool-max 2G\n"
	    "max-smtp-out 20\n"
	    "<rewrite-list r1>\n"
	    "</rewrite-list>\n"
	    "permanent-bounce-after 7d\n");
	assert_int_equal(cfg->nerrors, 1);
	assert_int_equal(cfg->nwarnings, 2);
	m = msgs(cfg);
	/* Errors first, then the warnings; used directives stay quiet. */
	assert_string_equal(m,
	    "tern.conf:1: unknown directive \"max-smtp-outt\"\n"
	    "tern.conf:2: warning: \"memory-pool-max\" is accepted but not "
	    "acted on yet\n"
	    "tern.conf:4: warning: \"rewrite-list\" is accepted but not acted "
	    "on yet\n");
	free(m);
	cfg_free(cfg);
}

/* always-use-mx is a queue setting: in <source> (where a seed puts it)
 * it is accepted, with a warning that says why it does nothing there. */
static void
test_warning_idle_scope(void **state)
{
	struct cfg *cfg;
	char *m;

	cfg = cfg_load_string("tern.conf",
	    "<source 10.0.0.1>\n"
	    "always-use-mx yes\n"
	    "</source>\n"
	    "<domain example.com>\n"
	    "always-use-mx yes\n"
	    "</domain>\n");
	assert_int_equal(cfg->nerrors, 0);
	assert_int_equal(cfg->nwarnings, 1);
	m = msgs(cfg);
	assert_string_equal(m,
	    "tern.conf:2: warning: \"always-use-mx\" in <source> is not "
	    "acted on: mail is routed per queue (recipient domain and "
	    "virtual-mta), whichever source sent it: put it in <domain> or "
	    "<virtual-mta>\n");
	free(m);
	cfg_free(cfg);
}

/* Pools, source pools, source groups and pattern lists are acted on,
 * and so are the lines that select or fill them: none of them warns
 * (they once did, and every config with a pool said so 50 times). */
static void
test_no_warning_when_used(void **state)
{
	struct cfg *cfg;

	cfg = cfg_load_string("tern.conf",
	    "<virtual-mta v1>\n"
	    "smtp-source-host 127.0.1.1 v1.example\n"
	    "source-pool 127.0.1.0/24\n"
	    "</virtual-mta>\n"
	    "<virtual-mta-pool pool>\n"
	    "virtual-mta v1\n"
	    "</virtual-mta-pool>\n"
	    "<source-pool 127.0.1.0/24>\n"
	    "max-smtp-out 10\n"
	    "</source-pool>\n"
	    "<smtp-pattern-list pl>\n"
	    "reply /421/ mode=backoff\n"
	    "</smtp-pattern-list>\n"
	    "<domain example.com>\n"
	    "smtp-pattern-list pl\n"
	    "</domain>\n"
	    "<source-group g1>\n"
	    "max-smtp-in 5\n"
	    "</source-group>\n"
	    "<source 127.0.0.1>\n"
	    "virtual-mta pool\n"
	    "source-group g1\n"
	    "</source>\n");
	if (cfg->nerrors != 0 || cfg->nwarnings != 0)
		fail_msg("%s", msgs(cfg));
	cfg_free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_warnings),
		cmocka_unit_test(test_warning_idle_scope),
		cmocka_unit_test(test_no_warning_when_used),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
