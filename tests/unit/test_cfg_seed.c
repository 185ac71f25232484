/*
 * test_cfg_seed.c - the seed configs and the reference config
 * (tests/data/config) load without errors, with the values where written.
 *
 * Runs in tests/unit (ctest WORKING_DIRECTORY); cfg_test.h has the
 * helpers the test_cfg_* programs share.
 */
#include <limits.h>
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
test_seed_configs(void **state)
{
	static const char *files[] = { DATA "seed1.conf", DATA "seed2.conf" };
	struct cfg *cfg;
	char *m;
	size_t i;

	for (i = 0; i < 2; i++) {
		cfg = cfg_load(files[i]);
		assert_non_null(cfg);
		if (cfg->nerrors != 0) {
			m = errors(cfg);
			fail_msg("%s: %s", files[i], m);
		}
		/* Seed directives Tern does not act on are said so. */
		assert_true(cfg->nwarnings > 0);
		cfg_free(cfg);
	}

	/* Spot checks that the seed directives landed where written. */
	cfg = cfg_load(DATA "seed2.conf");
	assert_string_equal(cfg_str(cfg->root, "bounce-after", NULL), "7d");
	assert_string_equal(cfg_child(cfg->root, "bounce-after")->as_written,
	    "permanent-bounce-after");
	assert_non_null(cfg_child(cfg_vmta(cfg, "marketing"),
	    "smtp-source-host"));
	/* Relative password files resolve next to the config, absolute. */
	assert_string_equal(cfg_str(cfg_child(cfg->root, "accepted-connect")
	    ->next, "auth-plain", NULL), here(DATA "passwd"));
	cfg_free(cfg);
}

static void
test_reference_config(void **state)
{
	struct cfg *cfg;
	struct cfg_node *n;
	char *m;
	int i;

	cfg = cfg_load(DATA "reference.conf");
	assert_non_null(cfg);
	if (cfg->nerrors != 0) {
		m = errors(cfg);
		fail_msg("%s", m);
	}
	/* include conf.d/\*.conf: sorted, appended at the include. */
	for (n = cfg->root->child, i = 0; n != NULL; n = n->next)
		if (strcmp(n->name, "domain") == 0)
			i++;
	assert_int_equal(i, 7);
	n = cfg->root->last;
	assert_string_equal(n->arg, "second.example");
	assert_string_equal(n->file, DATA "conf.d/20-second.conf");
	assert_int_equal(n->line, 1);
	/* The key file inside domain-key is resolved too. */
	assert_memory_equal(cfg_str(cfg->root, "domain-key", NULL),
	    "k1,example.com,", 15);
	assert_string_equal(cfg_str(cfg->root, "domain-key", NULL) + 15,
	    here(DATA "keys/example-dkim.key"));
	cfg_free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_configs),
		cmocka_unit_test(test_reference_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
