/*
 * test_cfg_errors.c - the parser's error messages: bad values, scopes,
 * blocks, nesting, several errors at once, virtual-mta names, macros.
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_messages),
		cmocka_unit_test(test_error_messages2),
		cmocka_unit_test(test_scope_errors),
		cmocka_unit_test(test_block_errors),
		cmocka_unit_test(test_nesting_limit),
		cmocka_unit_test(test_many_errors),
		cmocka_unit_test(test_vmta_crosscheck),
		cmocka_unit_test(test_macro_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
