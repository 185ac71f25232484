/*
 * test_cfg_tree.c - the parser's tree: nodes, aliases, getters and table
 * defaults, one-line blocks, patterns, a tree built by hand (cfg_wire.c).
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
test_tree(void **state)
{
	struct cfg *cfg;
	struct cfg_node *v, *d, *n;

	cfg = cfg_load_string("tern.conf",
	    "host-name mta.example.com\n"
	    "<virtual-mta vmta1>\n"
	    "  bind-to-source-ip 192.0.2.1\n"
	    "  <domain gmail.com>\n"
	    "    max-smtp-out 20\n"
	    "    retry-after 1m, 5m,10m\n"
	    "  </domain gmail.com>\n"
	    "</virtual-mta>\n"
	    "smtp-listener 127.0.0.1:2525 source=local\n"
	    "<source local>\n</source>\n");
	assert_int_equal(cfg->nerrors, 0);
	assert_string_equal(cfg->path, "tern.conf");

	n = cfg_child(cfg->root, "host-name");
	assert_non_null(n);
	assert_string_equal(n->arg, "mta.example.com");
	assert_string_equal(n->file, "tern.conf");
	assert_int_equal(n->line, 1);
	assert_ptr_equal(n->parent, cfg->root);

	v = cfg_child(cfg->root, "virtual-mta");
	assert_non_null(v);
	assert_string_equal(v->arg, "vmta1");
	assert_int_equal(v->argc, 1);
	assert_int_equal(cfg_node_scope(v), CFG_S_VMTA);

	/* The alias is stored under the real name, found by either. */
	n = cfg_child(v, "smtp-source-host");
	assert_non_null(n);
	assert_string_equal(n->name, "smtp-source-host");
	assert_string_equal(n->as_written, "bind-to-source-ip");
	assert_ptr_equal(cfg_child(v, "bind-to-source-ip"), n);
	assert_ptr_equal(cfg_child(v, "source"), n);	/* seed alias in vmta */

	d = cfg_child(v, "domain");
	assert_non_null(d);
	assert_string_equal(d->arg, "gmail.com");
	assert_int_equal(cfg_int(d, "max-smtp-out", -1), 20);
	n = cfg_child(d, "retry-after");
	assert_string_equal(n->arg, "1m, 5m,10m");
	assert_int_equal(n->argc, 2);

	/* A listener written as a line is a listener block without body. */
	n = cfg_child(cfg->root, "smtp-listener");
	assert_non_null(n);
	assert_int_equal(n->def->type, CT_BLOCK);
	assert_int_equal(n->argc, 2);
	assert_string_equal(n->argv[1], "source=local");
	assert_null(n->child);
	cfg_free(cfg);
}

static void
test_getters(void **state)
{
	struct cfg *cfg;
	struct cfg_node *d;
	struct cfg_rate r;
	int64_t tl[CFG_MAX_RETRY];

	cfg = cfg_load_string("tern.conf",
	    "max-message-size 25M\n"
	    "deliverd-processes 3\n"
	    "<domain example.com>\n"
	    "  retry-after 1m,5m,10m\n"
	    "  max-msg-rate 100/15m\n"
	    "  use-starttls no\n"
	    "  max-errors-per-connection unlimited\n"
	    "  notify-of-delay-every never\n"
	    "</domain>\n");
	assert_int_equal(cfg->nerrors, 0);
	assert_true(cfg_size(cfg->root, "max-message-size", 0) == 25 << 20);
	assert_int_equal(cfg_int(cfg->root, "deliverd-processes", -1), 3);
	/* Table defaults when not set, then the caller's. */
	assert_string_equal(cfg_str(cfg->root, "run-as-user", NULL), "_tern");
	assert_string_equal(cfg_str(cfg->root, "control-socket", NULL),
	    "control.sock");
	assert_int_equal(cfg_int(cfg->root, "http-mgmt-port", -1), 8080);
	assert_null(cfg_str(cfg->root, "postmaster", NULL));
	assert_string_equal(cfg_str(cfg->root, "no-such-thing", "x"), "x");
	assert_int_equal(cfg_int(cfg->root, "no-such-thing", 7), 7);

	d = cfg_child(cfg->root, "domain");
	assert_int_equal(cfg_timelist(d, "retry-after", tl, CFG_MAX_RETRY), 3);
	assert_true(tl[0] == 60 && tl[1] == 300 && tl[2] == 600);
	assert_int_equal(cfg_time(d, "retry-after", 0), 60);
	assert_int_equal(cfg_time(d, "bounce-after", 0), 4 * 86400 + 12 * 3600);
	assert_true(cfg_time(d, "notify-of-delay-every", 0) == INT64_MAX);
	assert_int_equal(cfg_get_rate(d, "max-msg-rate", &r), 0);
	assert_true(r.count == 100 && r.per_secs == 900 && !r.unlimited);
	assert_int_equal(cfg_get_rate(d, "max-connect-rate", &r), 0);
	assert_true(r.unlimited);
	assert_int_equal(cfg_bool(d, "use-starttls", 1), 0);
	assert_int_equal(cfg_bool(d, "use-dane", 0), 1);
	assert_true(cfg_int(d, "max-errors-per-connection", 0) == INT64_MAX);
	assert_int_equal(cfg_int(d, "max-smtp-out", -1), 20);
	assert_int_equal(cfg_bool(NULL, "use-dane", 0), 1);
	cfg_free(cfg);
}

static void
test_one_line_blocks(void **state)
{
	struct cfg *cfg;
	struct cfg_node *v, *d;

	/* The seed guide's own one-line form. */
	cfg = cfg_load_string("tern.conf",
	    "<virtual-mta marketing> bounce-log /var/log/powermta/bounce.log "
	    "dns-timeout 60 <domain gmail.com> max-smtp-out 20 max-msg-rate "
	    "5000/h </domain> <domain *> max-smtp-out 5 max-msg-rate 100/h "
	    "</domain> </virtual-mta>\n");
	assert_int_equal(cfg->nerrors, 0);
	v = cfg_vmta(cfg, "marketing");
	assert_non_null(v);
	assert_string_equal(cfg_str(v, "bounce-log", NULL),
	    "/var/log/powermta/bounce.log");
	assert_int_equal(cfg_time(v, "dns-timeout", 0), 60);
	d = cfg_domain_block(cfg, v, "gmail.com");
	assert_non_null(d);
	assert_int_equal(cfg_int(d, "max-smtp-out", 0), 20);
	cfg_free(cfg);
}

static void
test_bounce_patterns(void **state)
{
	struct cfg *cfg;
	struct cfg_node *b, *p;

	cfg = cfg_load_string("tern.conf",
	    "<bounce-category-patterns>\n"
	    "  /spam detected/ spam-related\n"
	    "  // other\n"
	    "</bounce-category-patterns>\n");
	assert_int_equal(cfg->nerrors, 0);
	b = cfg_child(cfg->root, "bounce-category-patterns");
	p = cfg_child(b, "pattern");
	assert_non_null(p);
	assert_int_equal(p->argc, 2);
	assert_string_equal(p->argv[0], "/spam detected/");
	assert_string_equal(p->argv[1], "spam-related");
	p = cfg_next_named(p, "pattern");
	assert_non_null(p);
	assert_string_equal(p->argv[0], "//");
	assert_null(cfg_next_named(p, "pattern"));
	cfg_free(cfg);
}

static void
test_build_by_hand(void **state)
{
	char *argv1[] = { "vmta1" }, *argv2[] = { "192.0.2.1" };
	char *argv3[] = { "0/0:25" };
	struct cfg *cfg;
	struct cfg_node *v, *n;

	/* As cfg_wire.c rebuilds a tree in a daemon. */
	cfg = cfg_new();
	assert_non_null(cfg);
	v = cfg_node_add(cfg->root, "virtual-mta", "virtual-mta", 1, argv1,
	    "tern.conf", 3);
	assert_non_null(v);
	assert_int_equal(v->def->type, CT_BLOCK);
	n = cfg_node_add(v, "smtp-source-host", "bind-to-source-ip", 1, argv2,
	    "tern.conf", 4);
	assert_non_null(n->def);
	assert_string_equal(n->name, "smtp-source-host");
	assert_ptr_equal(cfg_child(cfg_vmta(cfg, "vmta1"), "source"), n);
	n = cfg_node_add(cfg->root, "smtp-listener", "smtp-listener", 1, argv3,
	    "tern.conf", 1);
	assert_int_equal(n->def->type, CT_BLOCK);
	/* An unknown name is kept as is (a newer ternd). */
	n = cfg_node_add(cfg->root, "future-thing", NULL, 0, NULL, NULL, 0);
	assert_null(n->def);
	assert_string_equal(n->as_written, "future-thing");
	assert_string_equal(n->arg, "");
	cfg_free(cfg);
	cfg_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree),
		cmocka_unit_test(test_getters),
		cmocka_unit_test(test_one_line_blocks),
		cmocka_unit_test(test_bounce_patterns),
		cmocka_unit_test(test_build_by_hand),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
