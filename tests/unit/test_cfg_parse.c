/*
 * test_cfg_parse.c - the parser: tree, validation, messages, includes,
 * the seed configs, the directive table.
 *
 * Runs in tests/unit (ctest WORKING_DIRECTORY); data in ../data/config.
 */
#include <sys/stat.h>

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

#define DATA	"../data/config/"

/* `rel` as an absolute path from the working directory. */
static const char *
here(const char *rel)
{
	static char buf[PATH_MAX * 2];
	char cwd[PATH_MAX];

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(buf, sizeof(buf), "%s/%s", cwd, rel);
	return buf;
}

/* All messages, one per line, to compare in one go. */
static char *
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
static char *
errors(const struct cfg *cfg)
{
	struct cfg copy = *cfg;

	copy.nmsgs = cfg->nerrors;
	return msgs(&copy);
}

#define EXPECT_ERRORS(text, expect) do {				\
	struct cfg *c_ = cfg_load_string("tern.conf", text);		\
	char *e_;							\
	assert_non_null(c_);						\
	e_ = errors(c_);						\
	assert_string_equal(e_, expect);				\
	free(e_);							\
	cfg_free(c_);							\
} while (0)

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
test_error_messages(void **state)
{
	EXPECT_ERRORS("max-smtp-outt 5\n",
	    "tern.conf:1: unknown directive \"max-smtp-outt\"\n");
	EXPECT_ERRORS("\n<domain *>\n  max-msg-rate 10/x\n</domain>\n",
	    "tern.conf:3: max-msg-rate: bad rate \"10/x\" "
	    "(expected N/[M]unit, e.g. 100/h or 100/15m)\n");
	EXPECT_ERRORS("dns-rotate maybe\n",
	    "tern.conf:1: dns-rotate: bad boolean \"maybe\" "
	    "(expected yes, no, true, false, on or off)\n");
	EXPECT_ERRORS("max-smtp-out 5x\n",
	    "tern.conf:1: max-smtp-out: bad integer \"5x\" "
	    "(expected a non-negative integer)\n");
	EXPECT_ERRORS("max-smtp-in lots\n",
	    "tern.conf:1: max-smtp-in: bad integer \"lots\" "
	    "(expected a non-negative integer, or unlimited)\n");
	EXPECT_ERRORS("bounce-after 4days\n",
	    "tern.conf:1: bounce-after: bad time \"4days\" "
	    "(expected a time such as 30s, 10m, 4d12h or 1w)\n");
	EXPECT_ERRORS("permanent-bounce-after 7x\n",
	    "tern.conf:1: permanent-bounce-after: bad time \"7x\" "
	    "(expected a time such as 30s, 10m, 4d12h or 1w)\n");
	EXPECT_ERRORS("notify-of-delay-every sometimes\n",
	    "tern.conf:1: notify-of-delay-every: bad time \"sometimes\" "
	    "(expected a time such as 30s, 10m, 4d12h or 1w, or never)\n");
	EXPECT_ERRORS("retry-after 1m,,5m\n",
	    "tern.conf:1: retry-after: bad time list \"1m,,5m\" (expected a "
	    "comma separated list of times, e.g. 1m,5m,10m)\n");
	EXPECT_ERRORS("memory-pool-max 2GB\n",
	    "tern.conf:1: memory-pool-max: bad size \"2GB\" "
	    "(expected a size such as 512k, 50M, 2g or unlimited)\n");
}

static void
test_error_messages2(void **state)
{
	EXPECT_ERRORS("<source-pool 192.168.1.0/33>\n</source-pool>\n",
	    "tern.conf:1: source-pool: bad CIDR \"192.168.1.0/33\" "
	    "(expected an address or CIDR such as 1.2.3.4, 10/8 or ::1/128)\n");
	EXPECT_ERRORS("route smtp.relay.com:99999\n",
	    "tern.conf:1: route: bad host[:port] \"smtp.relay.com:99999\" "
	    "(expected host, host:port, 1.2.3.4:25 or [IPv6]:port)\n");
	EXPECT_ERRORS("smtp-listener 127.0.0.1\n",
	    "tern.conf:1: smtp-listener: bad listen address \"127.0.0.1\" "
	    "(expected IP:PORT, CIDR:PORT or [IPv6]:PORT)\n");
	EXPECT_ERRORS("smtp-listener 127.0.0.1:25 src=x\n",
	    "tern.conf:1: smtp-listener: expected source=NAME after the "
	    "address, got \"src=x\"\n");
	EXPECT_ERRORS("use-starttls maybe\n",
	    "tern.conf:1: use-starttls: bad value \"maybe\" (expected one of "
	    "if-available, yes, no, true, false, on, off)\n");
	EXPECT_ERRORS("postmaster root\n",
	    "tern.conf:1: postmaster: bad e-mail address \"root\" "
	    "(expected local@domain)\n");
	EXPECT_ERRORS("max-smtp-out 1 2\n",
	    "tern.conf:1: max-smtp-out: expected one value, got 2\n");
	EXPECT_ERRORS("max-smtp-out\n",
	    "tern.conf:1: max-smtp-out: missing value\n");
	EXPECT_ERRORS("log-format-extended mail.log\n",
	    "tern.conf:1: log-format-extended: expected 2 values, got 1\n");
	EXPECT_ERRORS("<acct-file a.csv>\nrecords d,x\n</acct-file>\n",
	    "tern.conf:2: records: bad record type \"x\" "
	    "(expected d, b, t, tq, r, f, rb or rs)\n");
	EXPECT_ERRORS("<domain *>\nqueue-priority 101\n</domain>\n",
	    "tern.conf:2: queue-priority: bad value \"101\" "
	    "(expected 0 to 100)\n");
	EXPECT_ERRORS("http-access 10/8 superuser\n",
	    "tern.conf:1: http-access: bad access level \"superuser\" "
	    "(expected monitor, operator, admin or none)\n");
	EXPECT_ERRORS("domain-key k1,example.com\n",
	    "tern.conf:1: domain-key: expected SELECTOR,DOMAIN,FILE\n");
	EXPECT_ERRORS("domain-key k1,example.com,/nonexistent/k.pem\n",
	    "tern.conf:1: domain-key: cannot access \"/nonexistent/k.pem\": "
	    "No such file or directory\n");
	EXPECT_ERRORS("http-mgmt-auth /nonexistent/htpasswd\n",
	    "tern.conf:1: http-mgmt-auth: cannot access "
	    "\"/nonexistent/htpasswd\": No such file or directory\n");
	EXPECT_ERRORS("<smtp-pattern-list x>\nreply TS03 mode=backoff\n"
	    "</smtp-pattern-list>\n",
	    "tern.conf:2: reply: expected /REGEX/ and actions\n");
	EXPECT_ERRORS("\"unterminated\n",
	    "tern.conf:1: unterminated quoted string\n");
}

static void
test_scope_errors(void **state)
{
	EXPECT_ERRORS("<domain example.com>\nrequire-auth yes\n</domain>\n",
	    "tern.conf:2: \"require-auth\" is not allowed in <domain>\n");
	EXPECT_ERRORS("records d,b\n",
	    "tern.conf:1: \"records\" is not allowed at global level\n");
	EXPECT_ERRORS("<domain a.com>\n<virtual-mta x>\n</virtual-mta>\n"
	    "</domain>\n",
	    "tern.conf:2: <virtual-mta> is not allowed in <domain>\n");
	EXPECT_ERRORS("domain example.com\n",
	    "tern.conf:1: \"domain\" is a block: write <domain ...> ... "
	    "</domain>\n");
	EXPECT_ERRORS("<max-smtp-out 5>\n</max-smtp-out>\n",
	    "tern.conf:1: \"max-smtp-out\" is not a block\n");
	EXPECT_ERRORS("<frobnicate x>\n  anything goes 1\n</frobnicate>\n",
	    "tern.conf:1: unknown block <frobnicate>\n");
	EXPECT_ERRORS("<domain>\n</domain>\n",
	    "tern.conf:1: <domain> needs an argument\n");
	EXPECT_ERRORS("<bounce-category-patterns x>\n"
	    "</bounce-category-patterns>\n",
	    "tern.conf:1: <bounce-category-patterns> takes no argument\n");
	/* The contents of a misplaced block are still checked. */
	EXPECT_ERRORS("<source 10/8>\n<domain a.com>\nmax-smtp-outt 1\n"
	    "</domain>\n</source>\n",
	    "tern.conf:2: <domain> is not allowed in <source>\n"
	    "tern.conf:3: unknown directive \"max-smtp-outt\"\n");
}

static void
test_block_errors(void **state)
{
	EXPECT_ERRORS("</domain>\n", "tern.conf:1: unmatched </domain>\n");
	EXPECT_ERRORS("<domain a.com>\nmax-smtp-out 1\n",
	    "tern.conf:1: unclosed <domain a.com>\n");
	EXPECT_ERRORS("<virtual-mta v>\n<domain a.com>\n</virtual-mta>\n",
	    "tern.conf:2: unclosed <domain a.com>\n");
	EXPECT_ERRORS("<domain a.com>\n</domain b.com>\n",
	    "tern.conf:2: </domain b.com> does not match <domain a.com> "
	    "(line 1)\n");
	EXPECT_ERRORS("<domain a.com>\n</virtual-mta>\n</domain>\n",
	    "tern.conf:2: unmatched </virtual-mta>\n");
	EXPECT_ERRORS("<domain example.com>\n</domain>\n"
	    "<domain EXAMPLE.com>\n</domain>\n",
	    "tern.conf:3: duplicate <domain EXAMPLE.com> "
	    "(first at tern.conf:1)\n");
	/* Same pattern in different parents is fine. */
	EXPECT_ERRORS("<domain a.com>\n</domain>\n<virtual-mta v>\n"
	    "<domain a.com>\n</domain>\n</virtual-mta>\n", "");
	EXPECT_ERRORS("<domain a.com>\nmax-smtp-out 1\nmax-smtp-out 2\n"
	    "</domain>\n",
	    "tern.conf:3: duplicate \"max-smtp-out\" (first at tern.conf:2)\n");
	/* An alias and its real name are the same setting. */
	EXPECT_ERRORS("bounce-after 1d\npermanent-bounce-after 7d\n",
	    "tern.conf:2: duplicate \"permanent-bounce-after\" "
	    "(first at tern.conf:1)\n");
	EXPECT_ERRORS("smtp-listener 0/0:25\nsmtp-listener 0/0:25\n",
	    "tern.conf:2: duplicate \"smtp-listener 0/0:25\" "
	    "(first at tern.conf:1)\n");
	/* Repeatable ones may repeat. */
	EXPECT_ERRORS("host-name a.example\nhost-name b.example\n"
	    "smtp-listener 0/0:25\nsmtp-listener 0/0:587\n", "");
}

static void
test_nesting_limit(void **state)
{
	char text[4096] = "";
	int i;

	for (i = 0; i < CFG_MAX_NESTING + 2; i++)
		strlcat(text, "<pattern-list p>\n", sizeof(text));
	for (i = 0; i < CFG_MAX_NESTING + 2; i++)
		strlcat(text, "</pattern-list>\n", sizeof(text));
	EXPECT_ERRORS(text, "tern.conf:11: blocks nested too deeply (max 10)\n");
}

static void
test_many_errors(void **state)
{
	/* Every error is reported, in order, with its own line. */
	EXPECT_ERRORS(
	    "max-smtp-outt 5\n"				/* 1 */
	    "<domain *>\n"				/* 2 */
	    "  max-msg-rate 10/x\n"			/* 3 */
	    "  retry-after 1m,5q\n"			/* 4 */
	    "  require-auth yes\n"			/* 5 */
	    "</domain>\n"				/* 6 */
	    "<domain *>\n"				/* 7 */
	    "</domain>\n"				/* 8 */
	    "<source 10/8>\n"				/* 9 */
	    "  virtual-mta nosuch\n"			/* 10 */
	    "</source>\n"				/* 11 */
	    "use-starttls sometimes\n"			/* 12 */
	    "</spool>\n",				/* 13 */
	    "tern.conf:1: unknown directive \"max-smtp-outt\"\n"
	    "tern.conf:3: max-msg-rate: bad rate \"10/x\" (expected N/[M]unit, "
	    "e.g. 100/h or 100/15m)\n"
	    "tern.conf:4: retry-after: bad time list \"1m,5q\" (expected a time "
	    "such as 30s, 10m, 4d12h or 1w)\n"
	    "tern.conf:5: \"require-auth\" is not allowed in <domain>\n"
	    "tern.conf:7: duplicate <domain *> (first at tern.conf:2)\n"
	    "tern.conf:12: use-starttls: bad value \"sometimes\" (expected one "
	    "of if-available, yes, no, true, false, on, off)\n"
	    "tern.conf:13: unmatched </spool>\n"
	    "tern.conf:10: virtual-mta: unknown virtual-mta \"nosuch\"\n");
}

static void
test_warnings(void **state)
{
	struct cfg *cfg;
	char *m;

	cfg = cfg_load_string("tern.conf",
	    "max-smtp-outt 1\n"
	    "memory-pool-max 2G\n"
	    "max-smtp-out 20\n"
	    "<source-pool 10/8>\n"
	    "</source-pool>\n"
	    "permanent-bounce-after 7d\n");
	assert_int_equal(cfg->nerrors, 1);
	assert_int_equal(cfg->nwarnings, 2);
	m = msgs(cfg);
	/* Errors first, then the warnings; used directives stay quiet. */
	assert_string_equal(m,
	    "tern.conf:1: unknown directive \"max-smtp-outt\"\n"
	    "tern.conf:2: warning: \"memory-pool-max\" is accepted but not "
	    "acted on yet\n"
	    "tern.conf:4: warning: \"source-pool\" is accepted but not acted "
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

static void
test_vmta_crosscheck(void **state)
{
	EXPECT_ERRORS(
	    "<virtual-mta v1>\n</virtual-mta>\n"
	    "<virtual-mta-pool p1>\n"
	    "  virtual-mta v1\n"
	    "  virtual-mta v2\n"
	    "</virtual-mta-pool>\n"
	    "<source 10/8>\n"
	    "  default-virtual-mta p1\n"
	    "  virtual-mta v1\n"
	    "</source>\n"
	    "<accepted-connect 127.0.0.1>\n"
	    "  default-virtual-mta v3\n"
	    "</accepted-connect>\n"
	    "<source {auth}>\n"
	    "  default-virtual-mta by-smtp-source-ip\n"
	    "</source>\n",
	    "tern.conf:5: virtual-mta: unknown virtual-mta \"v2\"\n"
	    "tern.conf:12: default-virtual-mta: unknown virtual-mta \"v3\"\n");
	/* A pool is not a member of a pool; names are shared. */
	EXPECT_ERRORS(
	    "<virtual-mta v1>\n</virtual-mta>\n"
	    "<virtual-mta-pool p1>\n  virtual-mta v1\n</virtual-mta-pool>\n"
	    "<virtual-mta-pool p2>\n  virtual-mta p1\n</virtual-mta-pool>\n"
	    "<virtual-mta-pool v1>\n</virtual-mta-pool>\n",
	    "tern.conf:7: virtual-mta: unknown virtual-mta \"p1\"\n"
	    "tern.conf:9: <virtual-mta-pool v1>: a virtual-mta has the same "
	    "name\n");
}

static void
test_macro_errors(void **state)
{
	EXPECT_ERRORS("domain-macro tld com,net\n<domain yahoo.$tld>\n"
	    "</domain>\n", "");
	EXPECT_ERRORS("<domain yahoo.$tld>\n</domain>\n",
	    "tern.conf:1: <domain yahoo.$tld>: unknown domain-macro \"$tld\"\n");
	EXPECT_ERRORS("domain-macro a x.$b\ndomain-macro b y.$a\n",
	    "tern.conf:1: domain-macro \"a\": domain-macro \"$a\" refers to "
	    "itself (loop)\n"
	    "tern.conf:2: domain-macro \"b\": domain-macro \"$b\" refers to "
	    "itself (loop)\n");
	EXPECT_ERRORS("domain-macro a x\ndomain-macro a y\n",
	    "tern.conf:2: domain-macro \"a\" defined twice\n");
	EXPECT_ERRORS("domain-macro a.b x\n",
	    "tern.conf:1: domain-macro: bad macro name \"a.b\"\n");
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

/* A scratch directory with files for include tests. */
static char tmpdir[] = "/tmp/test_cfg_parse.XXXXXX";

static void
put(const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	assert_non_null(fp = fopen(path, "w"));
	fputs(text, fp);
	fclose(fp);
}

static int
setup_tmp(void **state)
{
	char path[PATH_MAX];

	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/d", tmpdir);
	return mkdir(path, 0700);
}

static int
teardown_tmp(void **state)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd);
}

static struct cfg *
load_tmp(const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	return cfg_load(path);
}

static void
test_include(void **state)
{
	struct cfg *cfg;
	struct cfg_node *v, *n;
	char *m, *expect;

	put("main.conf",
	    "include d/*.conf\n"
	    "include none/*.conf\n"		/* no match: fine */
	    "<virtual-mta v>\n"
	    "  include vmta.inc\n"
	    "</virtual-mta>\n");
	put("d/b.conf", "host-name b.example\n");
	put("d/a.conf", "host-name a.example\n");
	put("d/c.txt", "this is not included\n");
	put("vmta.inc", "max-smtp-out 7\n<domain x.com>\n</domain>\n");
	cfg = load_tmp("main.conf");
	m = msgs(cfg);
	assert_string_equal(m, "");
	free(m);
	n = cfg_child(cfg->root, "host-name");
	assert_string_equal(n->arg, "a.example");	/* sorted */
	n = cfg_next_named(n, "host-name");
	assert_string_equal(n->arg, "b.example");
	/* Included into the block where the include line is. */
	v = cfg_vmta(cfg, "v");
	assert_int_equal(cfg_int(v, "max-smtp-out", 0), 7);
	assert_non_null(cfg_domain_block(cfg, v, "x.com"));
	cfg_free(cfg);

	/* A plain path must exist. */
	put("missing.conf", "\n\ninclude nothere.conf\n");
	cfg = load_tmp("missing.conf");
	if (asprintf(&expect, "%s/missing.conf:3: include: cannot read "
	    "\"%s/nothere.conf\": No such file or directory\n", tmpdir,
	    tmpdir) == -1)
		fail();
	m = errors(cfg);
	assert_string_equal(m, expect);
	free(m);
	free(expect);
	cfg_free(cfg);

	/* Errors in an included file name that file. */
	put("bad.conf", "include d/x.inc\n");
	put("d/x.inc", "\nmax-smtp-outt 1\n");
	cfg = load_tmp("bad.conf");
	if (asprintf(&expect, "%s/d/x.inc:2: unknown directive "
	    "\"max-smtp-outt\"\n", tmpdir) == -1)
		fail();
	m = errors(cfg);
	assert_string_equal(m, expect);
	free(m);
	free(expect);
	cfg_free(cfg);

	/* Blocks may not span files. */
	put("span.conf", "include span.inc\n</domain>\n");
	put("span.inc", "<domain a.com>\n");
	cfg = load_tmp("span.conf");
	if (asprintf(&expect, "%s/span.inc:1: unclosed <domain a.com>\n"
	    "%s/span.conf:2: unmatched </domain>\n", tmpdir, tmpdir) == -1)
		fail();
	m = errors(cfg);
	assert_string_equal(m, expect);
	free(m);
	free(expect);
	cfg_free(cfg);
}

static void
test_include_loop(void **state)
{
	struct cfg *cfg;
	char *m, *expect;

	put("loop1.conf", "include loop2.conf\n");
	put("loop2.conf", "host-name x.example\ninclude loop1.conf\n");
	cfg = load_tmp("loop1.conf");
	if (asprintf(&expect, "%s/loop2.conf:2: include: \"%s/loop1.conf\" "
	    "is already being read (include loop)\n", tmpdir, tmpdir) == -1)
		fail();
	m = errors(cfg);
	assert_string_equal(m, expect);
	free(m);
	free(expect);
	/* What was read is kept. */
	assert_non_null(cfg_child(cfg->root, "host-name"));
	cfg_free(cfg);

	put("self.conf", "include *.self\n");
	put("x.self", "include x.self\n");
	cfg = load_tmp("self.conf");
	assert_int_equal(cfg->nerrors, 1);
	cfg_free(cfg);
}

static void
test_missing_main(void **state)
{
	struct cfg *cfg;

	cfg = cfg_load("/nonexistent/tern.conf");
	assert_non_null(cfg);
	assert_int_equal(cfg->nerrors, 1);
	assert_string_equal(cfg->msgs[0], "/nonexistent/tern.conf: cannot "
	    "read: No such file or directory");
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

/*
 * The directive table itself.
 */

static int
is_tag(const struct cfg_directive *d)
{
	return d->type == CT_BLOCK && d->alias_of == NULL;
}

static int
is_line(const struct cfg_directive *d)
{
	return !is_tag(d) || d->inline_ok;
}

static void
test_table_consistent(void **state)
{
	const struct cfg_directive *t, *d, *e;
	const char *err;
	size_t n, i, j;
	int64_t iv, tl[CFG_MAX_RETRY];
	uint64_t uv;
	struct cfg_rate r;
	int b, k;

	t = cfg_directive_table(&n);
	assert_true(n > 300);
	for (i = 0; i < n; i++) {
		d = &t[i];
		assert_non_null(d->name);
		assert_non_null(d->help);
		assert_true(d->scopes != 0);
		if (d->alias_of != NULL) {
			e = cfg_directive_canon(d);
			if (e == d || e->alias_of != NULL)
				fail_msg("%s: bad alias", d->name);
			continue;
		}
		if (d->type == CT_BLOCK && d->block_scope == 0)
			fail_msg("%s: block without scope", d->name);
		if (d->type == CT_ENUM && d->enums == NULL)
			fail_msg("%s: enum without words", d->name);
		/* No two entries a lookup could confuse: in one scope a
		 * name has at most one tag form and one line form. */
		for (j = 0; j < n; j++) {
			e = &t[j];
			if (i == j || strcmp(d->name, e->name) != 0 ||
			    (d->scopes & e->scopes) == 0)
				continue;
			if ((is_tag(d) && is_tag(e)) ||
			    (is_line(d) && is_line(e)))
				fail_msg("%s: ambiguous entries", d->name);
		}
		/* Defaults are valid values of their own type. */
		if (d->defval == NULL || (d->enums != NULL &&
		    strstr(d->enums, d->defval) != NULL))
			continue;
		switch (d->type) {
		case CT_BOOL:
			k = cfg_parse_bool(d->defval, &b, &err);
			break;
		case CT_INT:
			k = cfg_parse_int(d->defval, &iv, &err);
			break;
		case CT_TIME:
			k = cfg_parse_time(d->defval, &iv, &err);
			break;
		case CT_TIMELIST:
			k = cfg_parse_timelist(d->defval, tl, CFG_MAX_RETRY,
			    &b, &err);
			break;
		case CT_SIZE:
			k = cfg_parse_size(d->defval, &uv, &err);
			break;
		case CT_RATE:
			k = cfg_parse_rate(d->defval, &r, &err);
			break;
		case CT_ENUM:
			k = -1;
			break;
		default:
			k = 0;
		}
		if (k != 0)
			fail_msg("%s: bad default \"%s\"", d->name, d->defval);
	}
}

static void
test_table_used_by(void **state)
{
	/* The honesty rule: only what a daemon acts on is "used" (grep
	 * each daemon for the directive names it reads). */
	static const char *used[] = {
		"smtp-listener", "smtp-port", "spool", "acct-file",
		"accounting-log", "records", "domain", "route", "smtp-hosts",
		"retry-after", "bounce-after", "virtual-mta", "host-name",
		"max-smtp-out", "max-msg-per-connection", "include",
		"deliverd-processes", "max-message-size", "control-socket",
		"run-as-user", "queue-user", "chroot-dir",
		/* smtpd */
		"source", "accepted-connect", "smtp-service",
		"always-allow-relaying", "allow-submission",
		"total-max-smtp-in", "smtp-command-timeout",
		"smtp-data-timeout", "smtp-server-tls-certificate",
		"smtp-server-tls-ciphers", "auth-plain", "require-auth",
		"allow-auth", "allow-unencrypted-plain-auth", "allow-starttls",
		"allow-chunking", "smtp-user", "password",
		"authentication-method", "max-smtp-in", "source-group",
		"process-x-virtual-mta", "process-x-job", "process-x-envid",
		"add-message-id-header", "add-date-header",
		"default-virtual-mta", "reject-invalid-virtual-mta",
		"smtp-max-auth-failure-rate", "suppression-action",
		"refuse-connect-when-spool-full",
		"require-rdns", "check-iprev-inbound",
		"reject-iprev-check-fail", "reject-iprev-check-permerror",
		"reject-iprev-check-temperror", "smtp-server-tls-allow-tlsv1.2",
		"smtp-server-tls-allow-tlsv1.3", "tls-certificate",
		"tls-allow-tlsv1.2", "tls-allow-tlsv1.3", "tls-ciphers",
		"process-x-remote-mta-ip", "relay-domain",
		/* queued */
		"min-free-space", "spool-max-recipients", "max-queue-size",
		/* bounced */
		"sync", "bounce-category-patterns", "pattern",
		"record-fields", "user-string", "iso-times", "queue-filter",
		"bounce-domain", "verp-default", "bounce-processor",
		"feedback-loop-processor", "move-to", "move-interval",
		"max-size", "delete-after", "log-format-extended",
		"bounce-log", "bounce-category-log", "log-domain",
		"log-entries", "map-header-to-field",
		"notify-of-delay-every", "log-file", "log-rotate",
		/* bounced: event shipping (ternd resolves and reads secrets) */
		"acct-amqp", "acct-webhook", "url", "credentials-file", "ca-file",
		"exchange", "routing-key-prefix", "batch-size", "timeout",
		"min-retry-interval", "max-retry-interval", "buffer-max-size",
		/* deliverd */
		"smtp-source-host", "default-smtp-port", "name-server",
		"smtp-pattern-list", "adaptive-max-smtp-out",
		"adaptive-soft-bounce-limit", "adaptive-backoff-interval",
		"backoff-max-smtp-out", "backoff-max-msg-rate",
		"backoff-to-normal-after", "reply",
		"max-delivery-attempts", "dkim-sign", "domain-key",
		"use-starttls", "require-starttls", "tls", "dns-timeout",
		"resolve-to", "max-rcpt-per-message",
		"max-rcpt-per-transaction", "max-msg-rate",
		"max-connect-rate", "delivery-interval", "random-ip",
		"total-max-smtp-out", "source-ip-max-smtp-out",
		"connect-timeout", "smtp-greeting-timeout",
		"data-send-timeout", "smtp-data-termination-timeout",
		"smtp-multiple-line-response-timeout",
		"smtp-pipeline-depth", "ignore-8bitmime", "ignore-pipelining",
		"type", "command", "pipe-user", "local", "mailbox-command",
		"dkim-headers", "smtp-tls-ca-file", "reenable-source-ip-after",
		"always-use-mx", "queue-interval", "dns-rotate",
		"mx-rollup-list", "mx", "disable-mx-rollup",
		/* mgmtd (ternd opens the port and reads the htpasswd) */
		"http-mgmt-port", "http-mgmt-interface", "http-mgmt-auth",
		"http-access", "http-mgmt-tls-certificate", "http-inject",
		/* the SNMP agent (ternd binds the port) */
		"snmp-port", "snmp-interface", "snmp-community",
		/* <cluster>: queued (ternd reads the password file) */
		"cluster", "redis", "node-name", "redis-password-file",
		"key-prefix", "lease-time", "heartbeat-interval",
		"redis-timeout", NULL,
	};
	const struct cfg_directive *t, *d;
	size_t n, i, k;
	int listed;

	t = cfg_directive_table(&n);
	for (i = 0; i < n; i++) {
		d = &t[i];
		if (d->alias_of != NULL)
			continue;
		for (listed = 0, k = 0; used[k] != NULL; k++)
			if (strcmp(used[k], d->name) == 0)
				listed = 1;
		/* virtual-mta, domain: only the block is used, not the
		 * line of the same name (pool member, address-list entry). */
		if (d->type != CT_BLOCK &&
		    cfg_directive_lookup(d->name, ~0U, 1) != NULL)
			listed = 0;
		if ((d->used_by != 0) != listed)
			fail_msg("%s: used_by %#x", d->name, d->used_by);
	}
}

static void
test_table_has_seed_and_reference_names(void **state)
{
	static const char *names[] = {
		/* Seeds. */
		"bind-to-source-ip", "max-smtp-out-per-ip", "smtp-pipeline-depth",
		"delivery-interval", "resolve-to", "require-rdns", "tls",
		"spf-identity", "bounce-domain", "local", "mailbox-command",
		"log-domain", "log-entries", "accounting-log",
		"log-format-extended", "bounce-log", "bounce-category-log",
		"permanent-bounce-after", "queue-shards", "memory-pool-max",
		"spool-buffer-size", "adaptive-max-smtp-out",
		"adaptive-soft-bounce-limit", "adaptive-backoff-interval",
		"source-pool", "random-ip", "dns-rotate", "accepted-connect",
		"allow-submission", "require-auth", "auth-plain", "max-smtp-in",
		"queue-interval", "max-delivery-attempts", "max-queue-size",
		"snmp-port", "snmp-community", "smtp-port", "source",
		"dns-timeout", "http-mgmt-port", "http-mgmt-interface",
		"http-mgmt-auth", "dkim-sign", "domain-key", "use-starttls",
		"virtual-mta", "max-conn-rate", "expire-after",
		"process-x-remote-mta-ip", "always-use-mx",
		/* §2.14 names. */
		"mx-rollup", "accounting-log-file", "smtp-source-ip",
		"max-message-rate", "enable-starttls", "dkim-key", "run-as-user",
		"run-as-group", "http-listener", "max-rcpt-rate", "require-tls",
		"smtp-auth-username", "process-x-sender", "retry-errors",
		"max-retries", "pid-file", "remove-received-headers",
		"sync-msg-create", "sync-msg-update", "dk-sign", "log-messages",
		"mx-connection-attempts", "smtp-multiple-line-response-timeout",
		"smtp-client-certificate", "retry-after-dns-error",
		"smtp-proxy-source-host",
		/* A sample of the reference tables. */
		"total-max-smtp-out", "smtp-server-tls-allow-tlsv1.2",
		"http-strict-transport-security-max-age", "smtp-service",
		"check-iprev-inbound", "authentication-method", "reserved-smtp-in",
		"immediate-tls", "source-ip-max-data-volume-rate",
		"max-cold-virtual-mta-msg", "bounce-upon-pix-transfer-failure",
		"backoff-reroute-to-virtual-mta", "http-delivery-extra-headers",
		"second-dkim-query-method", "max-smtp-data-volume-rate",
		"cold-virtual-mta", "map-header-to-field", "count-moved-records",
		"delete-file-holders", "body-pattern-file", "precached-max-domains",
		"process-x-sp-subaccount-id", "sender-or-from",
		"transmissions-api-listener", "signals-filter", "mx-rollup-list",
		"bounce-category-patterns", "smtp-pattern-list", "pattern-list",
		"domain-key-list", "feedback-loop-processor", "rewrite-list",
		NULL,
	};
	size_t i;

	for (i = 0; names[i] != NULL; i++)
		if (cfg_directive_find(names[i]) == NULL)
			fail_msg("missing %s", names[i]);
	assert_string_equal(cfg_directive_canon(
	    cfg_directive_find("max-conn-rate"))->name, "max-connect-rate");
	assert_string_equal(cfg_directive_canon(cfg_directive_lookup("source",
	    CFG_S_VMTA, 0))->name, "smtp-source-host");
	assert_string_equal(cfg_directive_lookup("source", CFG_S_LISTENER,
	    0)->name, "source");
	assert_int_equal(cfg_directive_lookup("source", CFG_S_GLOBAL, 1)->type,
	    CT_BLOCK);
	assert_null(cfg_directive_lookup("source", CFG_S_GLOBAL, 0));
	assert_null(cfg_directive_lookup("records", CFG_S_GLOBAL, -1));
	assert_string_equal(cfg_type_name(CT_RATE), "rate");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree),
		cmocka_unit_test(test_getters),
		cmocka_unit_test(test_error_messages),
		cmocka_unit_test(test_error_messages2),
		cmocka_unit_test(test_scope_errors),
		cmocka_unit_test(test_block_errors),
		cmocka_unit_test(test_nesting_limit),
		cmocka_unit_test(test_many_errors),
		cmocka_unit_test(test_warnings),
		cmocka_unit_test(test_warning_idle_scope),
		cmocka_unit_test(test_vmta_crosscheck),
		cmocka_unit_test(test_macro_errors),
		cmocka_unit_test(test_one_line_blocks),
		cmocka_unit_test(test_bounce_patterns),
		cmocka_unit_test(test_seed_configs),
		cmocka_unit_test(test_reference_config),
		cmocka_unit_test(test_include),
		cmocka_unit_test(test_include_loop),
		cmocka_unit_test(test_missing_main),
		cmocka_unit_test(test_build_by_hand),
		cmocka_unit_test(test_table_consistent),
		cmocka_unit_test(test_table_used_by),
		cmocka_unit_test(test_table_has_seed_and_reference_names),
	};

	return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
