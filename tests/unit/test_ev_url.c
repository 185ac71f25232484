/*
 * test_ev_url.c - the url of an <acct-amqp>/<acct-webhook> block
 * (common/ev_url.c): schemes, default ports, IPv6, the AMQP vhost, and
 * what is refused (credentials in the url, bad ports, other schemes);
 * and the configuration checks of the sinks (common/cfg_sinks.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cfg.h"
#include "ev_url.h"

static void
test_ev_url_good(void **state)
{
	struct ev_url u;
	const char *err;

	(void)state;
	assert_int_equal(ev_url_parse("amqp://mq.example:5673/tern", &u,
	    &err), 0);
	assert_int_equal(u.scheme, EV_URL_AMQP);
	assert_string_equal(u.host, "mq.example");
	assert_int_equal(u.port, 5673);
	assert_string_equal(u.path, "tern");
	assert_int_equal(ev_url_parse("amqp://10.0.0.1", &u, &err), 0);
	assert_int_equal(u.port, 5672);
	assert_string_equal(u.path, "/");
	assert_int_equal(ev_url_parse("AMQP://h/%2f", &u, &err), 0);
	assert_string_equal(u.path, "/");
	assert_int_equal(ev_url_parse("http://[::1]:8080/h?a=b", &u, &err),
	    0);
	assert_int_equal(u.scheme, EV_URL_HTTP);
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 8080);
	assert_string_equal(u.path, "/h?a=b");
	assert_int_equal(ev_url_parse("http://h.example", &u, &err), 0);
	assert_int_equal(u.port, 80);
	assert_string_equal(u.path, "/");
	assert_int_equal(ev_url_parse("https://h.example?x", &u, &err), 0);
	assert_int_equal(u.scheme, EV_URL_HTTPS);
	assert_int_equal(u.port, 443);
	assert_string_equal(u.path, "/?x");
}

static void
test_ev_url_bad(void **state)
{
	static const char *bad[] = {
		"ftp://h/", "h:80", "http://", "http://:80/",
		"http://h:0/", "http://h:65536/", "http://h:x/",
		"amqp://user:pw@h/", "http://u@h/", "http://[::1/",
		"http://h junk", NULL,
	};
	struct ev_url u;
	const char *err;
	int i;

	(void)state;
	for (i = 0; bad[i] != NULL; i++) {
		err = NULL;
		if (ev_url_parse(bad[i], &u, &err) != -1)
			fail_msg("accepted %s", bad[i]);
		assert_non_null(err);
	}
	assert_int_equal(ev_url_parse(NULL, &u, &err), -1);
}

/* The first message of a configuration, "" if none. */
static void
check_conf(const char *text, int nerrors, const char *msg)
{
	struct cfg *cfg = cfg_load_string("t.conf", text);

	assert_non_null(cfg);
	if (cfg->nerrors != nerrors || (msg != NULL && (cfg->nmsgs == 0 ||
	    strstr(cfg->msgs[0], msg) == NULL)))
		fail_msg("%s\n-> %d error(s): %s", text, cfg->nerrors,
		    cfg->nmsgs ? cfg->msgs[0] : "");
	cfg_free(cfg);
}

static void
test_ev_sink_config(void **state)
{
	(void)state;
	check_conf("<acct-amqp bus>\nurl amqp://127.0.0.1/\n"
	    "records d,b,t\n</acct-amqp>\n"
	    "<acct-webhook hook-1>\nurl https://h.example/x\n"
	    "batch-size 10\n</acct-webhook>\n", 0, NULL);
	check_conf("<acct-amqp bus>\nexchange x\n</acct-amqp>\n", 1,
	    "t.conf:1: <acct-amqp bus>: no url");
	check_conf("<acct-amqp bus>\nurl http://h/\n</acct-amqp>\n", 1,
	    "t.conf:2: url: <acct-amqp> expects amqp://");
	check_conf("<acct-webhook w>\nurl amqp://h/\n</acct-webhook>\n", 1,
	    "t.conf:2: url: <acct-webhook> expects http");
	check_conf("<acct-webhook w>\nurl http://u:p@h/\n</acct-webhook>\n",
	    1, "t.conf:2: url: no user:password");
	check_conf("<acct-webhook ../x>\nurl http://h/\n</acct-webhook>\n",
	    1, "t.conf:1: <acct-webhook ../x>: the name");
	check_conf("<acct-amqp a>\nurl amqp://h/\n</acct-amqp>\n"
	    "<acct-webhook a>\nurl http://h/\n</acct-webhook>\n", 1,
	    "t.conf:4: <acct-webhook a>: a sink of that name is at t.conf:1");
	check_conf("<acct-amqp a>\nurl amqp://h/\nrecords d,x\n"
	    "</acct-amqp>\n", 1, "bad record type \"x\"");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ev_url_good),
		cmocka_unit_test(test_ev_url_bad),
		cmocka_unit_test(test_ev_sink_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
