/*
 * test_cfg_lookup.c - most-specific-wins resolution: domain patterns,
 * VMTA/pool/global <domain> layering, <source> CIDR specificity.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cfg.h"

static void
test_domain_patterns(void **state)
{
	static const struct {
		const char	*pattern, *domain;
		int		 match;
	} cases[] = {
		{ "*", "example.com", 1 },
		{ "example.com", "example.com", 1 },
		{ "example.com", "EXAMPLE.Com", 1 },
		{ "Example.COM", "example.com", 1 },
		{ "example.com", "example.com.", 1 },	/* trailing dot */
		{ "example.com", "mail.example.com", 0 },
		{ "example.com", "xexample.com", 0 },
		{ "*.example.com", "mail.example.com", 1 },
		{ "*.example.com", "a.b.example.com", 1 },
		{ "*.example.com", "example.com", 0 },	/* subdomains only */
		{ "*.example.com", "badexample.com", 0 },
		{ "[*.]example.com", "example.com", 1 },
		{ "[*.]example.com", "mail.example.com", 1 },
		{ "[*.]example.com", "badexample.com", 0 },
		{ "[*.]example.com", "example.org", 0 },
		{ "[10/8]", "[10.1.2.3]", 1 },
		{ "[10/8]", "[11.1.2.3]", 0 },
		{ "[0/0]", "[192.0.2.1]", 1 },
		{ "[10/8]", "example.com", 0 },
		{ "*", "", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if ((cfg_domain_match(NULL, cases[i].pattern,
		    cases[i].domain) > 0) != cases[i].match)
			fail_msg("%s vs %s", cases[i].pattern, cases[i].domain);
}

static void
test_domain_specificity(void **state)
{
	/* For each domain: patterns from the most to the least specific. */
	static const struct {
		const char	*domain;
		const char	*order[5];
	} cases[] = {
		{ "example.com",
		    { "example.com", "[*.]example.com", "*.com", "*", NULL } },
		{ "mail.example.com",
		    { "mail.example.com", "*.example.com", "[*.]example.com",
		    "*.com", "*" } },
		{ "a.b.example.com",
		    { "*.b.example.com", "[*.]b.example.com", "*.example.com",
		    "[*.]com", "*" } },
	};
	size_t i, k;
	int prev, sc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		prev = 1 << 30;
		for (k = 0; k < 5 && cases[i].order[k] != NULL; k++) {
			sc = cfg_domain_match(NULL, cases[i].order[k],
			    cases[i].domain);
			if (sc <= 0 || sc >= prev)
				fail_msg("%s: %s out of order (%d after %d)",
				    cases[i].domain, cases[i].order[k], sc, prev);
			prev = sc;
		}
	}
}

static void
test_domain_macros(void **state)
{
	struct cfg *cfg;

	cfg = cfg_load_string("tern.conf",
	    "domain-macro tld com, net,co.uk\n"
	    "domain-macro yahoos yahoo.$tld ymail.com\n"
	    "<domain yahoo.$tld>\n  max-smtp-out 3\n</domain>\n"
	    "<domain $yahoos>\n  max-msg-per-connection 9\n</domain>\n"
	    "<domain yahoo.net>\n  max-smtp-out 4\n</domain>\n"
	    "<domain *.$tld>\n  max-smtp-out 1\n</domain>\n");
	assert_int_equal(cfg->nerrors, 0);
	assert_true(cfg_domain_match(cfg, "yahoo.$tld", "yahoo.com") > 0);
	assert_true(cfg_domain_match(cfg, "yahoo.$tld", "yahoo.co.uk") > 0);
	assert_true(cfg_domain_match(cfg, "yahoo.$tld", "yahoo.org") == 0);
	assert_true(cfg_domain_match(cfg, "$yahoos", "ymail.com") > 0);
	assert_true(cfg_domain_match(cfg, "$yahoos", "yahoo.net") > 0);
	assert_true(cfg_domain_match(cfg, "$nosuch", "yahoo.net") == 0);
	assert_true(cfg_domain_match(NULL, "yahoo.$tld", "yahoo.com") == 0);
	/* An explicit name beats the same name made by a macro. */
	assert_true(cfg_domain_match(cfg, "yahoo.net", "yahoo.net") >
	    cfg_domain_match(cfg, "yahoo.$tld", "yahoo.net"));

	assert_string_equal(cfg_domain_setting(cfg, NULL, "yahoo.com",
	    "max-smtp-out")->arg, "3");
	assert_string_equal(cfg_domain_setting(cfg, NULL, "yahoo.net",
	    "max-smtp-out")->arg, "4");
	assert_string_equal(cfg_domain_setting(cfg, NULL, "mail.yahoo.co.uk",
	    "max-smtp-out")->arg, "1");
	assert_string_equal(cfg_domain_setting(cfg, NULL, "ymail.com",
	    "max-msg-per-connection")->arg, "9");
	cfg_free(cfg);
}

static const char layered[] =
    "max-smtp-out 2000\n"
    "bounce-after 5d\n"
    "route global.relay:25\n"
    "<domain *>\n"
    "  max-smtp-out 5\n"
    "  max-msg-rate 100/h\n"
    "</domain>\n"
    "<domain [*.]example.com>\n"
    "  max-smtp-out 6\n"
    "</domain>\n"
    "<domain *.example.com>\n"
    "  max-smtp-out 7\n"
    "</domain>\n"
    "<domain mail.example.com>\n"
    "  max-msg-per-connection 11\n"
    "</domain>\n"
    "<domain gmail.com>\n"
    "  max-smtp-out 10\n"
    "  retry-after 1m,5m\n"
    "</domain>\n"
    "<virtual-mta marketing>\n"
    "  max-smtp-out 50\n"
    "  bounce-after 2d\n"
    "  <domain gmail.com>\n"
    "    max-smtp-out 20\n"
    "  </domain>\n"
    "  <domain *>\n"
    "    max-msg-rate 1000/h\n"
    "  </domain>\n"
    "</virtual-mta>\n"
    "<virtual-mta transactional>\n"
    "  max-smtp-out 200\n"
    "</virtual-mta>\n"
    "<virtual-mta-pool pool1>\n"
    "  virtual-mta transactional\n"
    "  max-msg-per-connection 3\n"
    "  <domain yahoo.com>\n"
    "    max-smtp-out 30\n"
    "  </domain>\n"
    "  <domain *>\n"
    "    route pool.relay\n"
    "  </domain>\n"
    "</virtual-mta-pool>\n";

static void
test_domain_setting(void **state)
{
	static const struct {
		const char	*vmta, *domain, *directive, *expect;
	} cases[] = {
		/* Global <domain> blocks, most specific wins. */
		{ NULL, "gmail.com", "max-smtp-out", "10" },
		{ NULL, "aol.com", "max-smtp-out", "5" },
		{ NULL, "example.com", "max-smtp-out", "6" },
		{ NULL, "a.example.com", "max-smtp-out", "7" },
		/* The exact block does not set it: next most specific. */
		{ NULL, "mail.example.com", "max-smtp-out", "7" },
		{ NULL, "mail.example.com", "max-msg-per-connection", "11" },
		{ NULL, "MAIL.Example.COM", "max-msg-per-connection", "11" },
		/* Not in any <domain>: global scope. */
		{ NULL, "aol.com", "bounce-after", "5d" },
		{ NULL, "aol.com", "max-connect-rate", NULL },
		/* A VMTA's own <domain> beats the global ones. */
		{ "marketing", "gmail.com", "max-smtp-out", "20" },
		{ "marketing", "gmail.com", "max-msg-rate", "1000/h" },
		{ "marketing", "gmail.com", "retry-after", "1m,5m" },
		/* Global <domain> beats the directive set in the VMTA. */
		{ "marketing", "aol.com", "max-smtp-out", "5" },
		{ "marketing", "aol.com", "bounce-after", "2d" },
		/* Pool <domain> blocks for its members, then global. */
		{ "transactional", "yahoo.com", "max-smtp-out", "30" },
		{ "transactional", "gmail.com", "max-smtp-out", "10" },
		{ "transactional", "aol.com", "route", "pool.relay" },
		{ "marketing", "aol.com", "route", "global.relay:25" },
		/* VMTA directly, then pool directly, then global. */
		{ "transactional", "aol.com", "max-msg-per-connection", "3" },
		{ "transactional", "aol.com", "bounce-after", "5d" },
		/* A pool name selects the pool. */
		{ "pool1", "yahoo.com", "max-smtp-out", "30" },
		{ "pool1", "aol.com", "max-msg-per-connection", "3" },
		/* Unknown VMTA: as if none. */
		{ "nosuch", "gmail.com", "max-smtp-out", "10" },
		/* Aliases find the setting. */
		{ NULL, "aol.com", "expire-after", "5d" },
	};
	struct cfg *cfg;
	struct cfg_node *n;
	size_t i;

	cfg = cfg_load_string("tern.conf", layered);
	assert_int_equal(cfg->nerrors, 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = cfg_domain_setting(cfg, cases[i].vmta, cases[i].domain,
		    cases[i].directive);
		if (cases[i].expect == NULL && n == NULL)
			continue;
		if (cases[i].expect == NULL || n == NULL ||
		    strcmp(n->arg, cases[i].expect) != 0)
			fail_msg("%s %s %s: got %s, expected %s",
			    cases[i].vmta ? cases[i].vmta : "-",
			    cases[i].domain, cases[i].directive,
			    n ? n->arg : "NULL",
			    cases[i].expect ? cases[i].expect : "NULL");
	}
	assert_null(cfg_domain_setting(NULL, NULL, "a.com", "max-smtp-out"));
	assert_null(cfg_domain_setting(cfg, NULL, "a.com", NULL));
	cfg_free(cfg);
}

static void
test_vmta_and_blocks(void **state)
{
	struct cfg *cfg;
	struct cfg_node *v, *d;

	cfg = cfg_load_string("tern.conf", layered);
	v = cfg_vmta(cfg, "Marketing");
	assert_non_null(v);
	assert_string_equal(v->arg, "marketing");
	assert_null(cfg_vmta(cfg, "pool1"));
	assert_non_null(cfg_pool(cfg, "pool1"));
	assert_null(cfg_vmta(cfg, NULL));
	d = cfg_domain_block(cfg, v, "gmail.com");
	assert_string_equal(d->arg, "gmail.com");
	d = cfg_domain_block(cfg, v, "hotmail.com");
	assert_string_equal(d->arg, "*");
	d = cfg_domain_block(cfg, cfg->root, "x.example.com");
	assert_string_equal(d->arg, "*.example.com");
	assert_null(cfg_domain_block(cfg, cfg_vmta(cfg, "transactional"),
	    "gmail.com"));
	cfg_free(cfg);
}

static struct sockaddr_storage *
addr(const char *ip)
{
	static struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':') != NULL) {
		sin6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
	} else {
		sin->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
	}
	return &ss;
}

static void
test_source_match(void **state)
{
	static const struct {
		const char	*ip, *expect;
	} cases[] = {
		{ "203.0.113.5", "0/0" },
		{ "10.9.9.9", "10/8" },
		{ "10.1.2.3", "10.1/16" },
		{ "10.1.2.4", "10.1.2.4" },		/* accepted-connect /32 */
		{ "10.1.2.3", "10.1/16" },
		{ "127.0.0.1", "127.0.0.1" },
		{ "::1", "::1/128" },
		{ "2001:db8::5", "0/0" },
		{ "::ffff:10.1.2.4", "10.1.2.4" },
	};
	struct cfg *cfg;
	struct cfg_node *n;
	size_t i;

	cfg = cfg_load_string("tern.conf",
	    "<source 10/8>\n</source>\n"
	    "<source 0/0>\n</source>\n"
	    "<source {auth}>\n</source>\n"
	    "<source local>\n</source>\n"
	    "<source 10.1/16>\n</source>\n"
	    "<accepted-connect 10.1.2.4>\n</accepted-connect>\n"
	    "<accepted-connect 127.0.0.1>\n</accepted-connect>\n"
	    "<source ::1/128>\n</source>\n");
	assert_int_equal(cfg->nerrors, 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = cfg_source_match(cfg,
		    (struct sockaddr *)addr(cases[i].ip));
		if (n == NULL || strcmp(n->arg, cases[i].expect) != 0)
			fail_msg("%s: got %s, expected %s", cases[i].ip,
			    n ? n->arg : "NULL", cases[i].expect);
	}
	cfg_free(cfg);

	/* Without a 0/0 default, an unmatched client has no source. */
	cfg = cfg_load_string("tern.conf", "<source 10/8>\n</source>\n");
	assert_null(cfg_source_match(cfg, (struct sockaddr *)addr("1.2.3.4")));
	assert_null(cfg_source_match(cfg, NULL));
	cfg_free(cfg);
}

static void
test_seed_lookups(void **state)
{
	struct cfg *cfg;
	struct cfg_node *n;

	cfg = cfg_load("../data/config/seed1.conf");
	assert_int_equal(cfg->nerrors, 0);
	/* <virtual-mta domain-specific> <domain gmail.com> route ... */
	n = cfg_domain_setting(cfg, "domain-specific", "gmail.com", "route");
	assert_string_equal(n->arg, "alt4.gmail-smtp-in.l.google.com:25");
	n = cfg_domain_setting(cfg, "domain-specific", "example.com",
	    "max-smtp-out");
	assert_string_equal(n->arg, "10");
	n = cfg_domain_setting(cfg, NULL, "example.com", "max-smtp-out");
	assert_string_equal(n->arg, "5");		/* <domain *> */
	n = cfg_domain_setting(cfg, NULL, "yahoo.com", "max-smtp-out-per-ip");
	assert_string_equal(n->arg, "1");
	assert_string_equal(n->name, "source-ip-max-smtp-out");
	cfg_free(cfg);

	cfg = cfg_load("../data/config/seed2.conf");
	assert_int_equal(cfg->nerrors, 0);
	n = cfg_source_match(cfg, (struct sockaddr *)addr("192.168.1.11"));
	assert_string_equal(cfg_str(n, "virtual-mta", NULL), "primary");
	n = cfg_source_match(cfg, (struct sockaddr *)addr("10.20.30.40"));
	assert_string_equal(n->name, "accepted-connect");
	assert_int_equal(cfg_bool(n, "require-auth", 0), 1);
	n = cfg_domain_setting(cfg, "marketing", "gmail.com", "max-msg-rate");
	assert_string_equal(n->arg, "5000/h");
	n = cfg_domain_setting(cfg, "rotating", "gmail.com", "max-msg-rate");
	assert_string_equal(n->arg, "100/h");
	n = cfg_domain_setting(cfg, "transactional", "aol.com", "max-smtp-out");
	assert_string_equal(n->arg, "5");
	cfg_free(cfg);
}

/* `tern show settings` says FILE:LINE of the winning node, or default. */
static void
test_node_origin(void **state)
{
	struct cfg *cfg;
	struct cfg_node *n;
	char buf[256];

	cfg = cfg_load_string("tern.conf",
	    "max-smtp-out 9\n"
	    "<virtual-mta v1>\n"
	    "  <domain gmail.com>\n"
	    "    max-smtp-out 3\n"
	    "  </domain>\n"
	    "</virtual-mta>\n");
	assert_int_equal(cfg->nerrors, 0);
	n = cfg_domain_setting(cfg, "v1", "gmail.com", "max-smtp-out");
	assert_string_equal(cfg_node_origin(n, buf, sizeof(buf)),
	    "tern.conf:4");
	n = cfg_domain_setting(cfg, "v1", "yahoo.com", "max-smtp-out");
	assert_string_equal(cfg_node_origin(n, buf, sizeof(buf)),
	    "tern.conf:1");
	n = cfg_domain_setting(cfg, NULL, "yahoo.com", "retry-after");
	assert_null(n);
	assert_string_equal(cfg_node_origin(n, buf, sizeof(buf)), "default");
	cfg_free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_domain_patterns),
		cmocka_unit_test(test_domain_specificity),
		cmocka_unit_test(test_domain_macros),
		cmocka_unit_test(test_domain_setting),
		cmocka_unit_test(test_vmta_and_blocks),
		cmocka_unit_test(test_source_match),
		cmocka_unit_test(test_seed_lookups),
		cmocka_unit_test(test_node_origin),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
