/*
 * test_cfg_value.c - the value types of the configuration language.
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
test_bool(void **state)
{
	static const struct {
		const char	*in;
		int		 ok, v;
	} cases[] = {
		{ "yes", 1, 1 }, { "YES", 1, 1 }, { "true", 1, 1 },
		{ "on", 1, 1 }, { "no", 1, 0 }, { "False", 1, 0 },
		{ "off", 1, 0 }, { "", 0, 0 }, { "1", 0, 0 }, { "y", 0, 0 },
		{ "yess", 0, 0 }, { "enabled", 0, 0 },
	};
	const char *err;
	size_t i;
	int v;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err = NULL;
		if (cases[i].ok) {
			assert_int_equal(cfg_parse_bool(cases[i].in, &v, &err), 0);
			assert_int_equal(v, cases[i].v);
		} else {
			assert_int_equal(cfg_parse_bool(cases[i].in, &v, &err), -1);
			assert_non_null(err);
		}
	}
}

static void
test_int(void **state)
{
	const char *err;
	int64_t v;

	assert_int_equal(cfg_parse_int("0", &v, &err), 0);
	assert_int_equal(v, 0);
	assert_int_equal(cfg_parse_int("2000", &v, &err), 0);
	assert_int_equal(v, 2000);
	assert_int_equal(cfg_parse_int("9223372036854775807", &v, &err), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(cfg_parse_int("9223372036854775808", &v, &err), -1);
	assert_string_equal(err, "value too large");
	assert_int_equal(cfg_parse_int("-1", &v, &err), -1);
	assert_string_equal(err, "expected a non-negative integer");
	assert_int_equal(cfg_parse_int("", &v, &err), -1);
	assert_int_equal(cfg_parse_int("12a", &v, &err), -1);
	assert_int_equal(cfg_parse_int("+5", &v, &err), -1);
	assert_int_equal(cfg_parse_int(" 5", &v, &err), -1);
}

static void
test_time(void **state)
{
	static const struct {
		const char	*in;
		int64_t		 secs;
	} good[] = {
		{ "0", 0 }, { "300", 300 }, { "300s", 300 }, { "10m", 600 },
		{ "2h", 7200 }, { "4d12h", 4 * 86400 + 12 * 3600 },
		{ "1w2d12h", 7 * 86400 + 2 * 86400 + 12 * 3600 },
		{ "1h30m10s", 5410 }, { "10M", 600 }, { "1W", 604800 },
		{ "7d", 604800 },
	};
	static const char *bad[] = {
		"", "m", "10x", "1h30", "-5m", "1.5h", "h10", "10 m", "1hh",
		"never",
	};
	const char *err;
	int64_t v;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(cfg_parse_time(good[i].in, &v, &err), 0);
		assert_true(v == good[i].secs);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = NULL;
		assert_int_equal(cfg_parse_time(bad[i], &v, &err), -1);
		assert_string_equal(err,
		    "expected a time such as 30s, 10m, 4d12h or 1w");
	}
	assert_int_equal(cfg_parse_time("99999999999999999999w", &v, &err), -1);
	assert_string_equal(err, "value too large");
	assert_int_equal(cfg_parse_time("9999999999999999w", &v, &err), -1);
	assert_string_equal(err, "value too large");
}

static void
test_timelist(void **state)
{
	int64_t v[30];
	const char *err;
	int n;

	assert_int_equal(cfg_parse_timelist("1m,5m,10m", v, 30, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_true(v[0] == 60 && v[1] == 300 && v[2] == 600);
	assert_int_equal(cfg_parse_timelist("10m", v, 30, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_true(v[0] == 600);
	assert_int_equal(cfg_parse_timelist("1m, 5m ,1h", v, 30, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_true(v[2] == 3600);
	assert_int_equal(cfg_parse_timelist("1m,,5m", v, 30, &n, &err), -1);
	assert_int_equal(cfg_parse_timelist("1m,", v, 30, &n, &err), -1);
	assert_int_equal(cfg_parse_timelist("", v, 30, &n, &err), -1);
	assert_int_equal(cfg_parse_timelist("1m,5x", v, 30, &n, &err), -1);
	assert_string_equal(err,
	    "expected a time such as 30s, 10m, 4d12h or 1w");
	assert_int_equal(cfg_parse_timelist("1m,2m,3m", v, 2, &n, &err), -1);
	assert_string_equal(err, "too many entries in the list");
}

static void
test_size(void **state)
{
	static const struct {
		const char	*in;
		uint64_t	 v;
	} good[] = {
		{ "0", 0 }, { "100", 100 }, { "100b", 100 }, { "512k", 524288 },
		{ "512K", 524288 }, { "50M", 50ULL << 20 }, { "2G", 2ULL << 30 },
		{ "2g", 2ULL << 30 }, { "1t", 1ULL << 40 },
		{ "unlimited", UINT64_MAX }, { "UNLIMITED", UINT64_MAX },
	};
	static const char *bad[] = {
		"", "M", "50x", "1.5G", "50MB", "-1", "5 M", "k50",
	};
	const char *err;
	uint64_t v;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(cfg_parse_size(good[i].in, &v, &err), 0);
		assert_true(v == good[i].v);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(cfg_parse_size(bad[i], &v, &err), -1);
		assert_string_equal(err,
		    "expected a size such as 512k, 50M, 2g or unlimited");
	}
	assert_int_equal(cfg_parse_size("16777216t", &v, &err), -1);
	assert_string_equal(err, "value too large");
}

static void
test_rate(void **state)
{
	static const struct {
		const char	*in;
		uint64_t	 count, per;
		int		 unlimited;
	} good[] = {
		{ "100/h", 100, 3600, 0 }, { "100/hr", 100, 3600, 0 },
		{ "100/hour", 100, 3600, 0 }, { "5000/h", 5000, 3600, 0 },
		{ "100/15m", 100, 900, 0 }, { "83/5s", 83, 5, 0 },
		{ "10/min", 10, 60, 0 }, { "1/sec", 1, 1, 0 },
		{ "2000/d", 2000, 86400, 0 }, { "2000/day", 2000, 86400, 0 },
		{ "3/5m", 3, 300, 0 }, { "1/2d", 1, 172800, 0 },
		{ "unlimited", 0, 0, 1 }, { "0", 0, 0, 1 }, { "0/h", 0, 0, 1 },
	};
	static const char *bad[] = {
		"", "100", "10/x", "/h", "100/", "100/0m", "100/h2", "a/h",
		"100/w", "-1/h", "100 /h", "100/15",
	};
	struct cfg_rate r;
	const char *err;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(cfg_parse_rate(good[i].in, &r, &err), 0);
		assert_true(r.count == good[i].count);
		assert_true(r.per_secs == good[i].per);
		assert_int_equal(r.unlimited, good[i].unlimited);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(cfg_parse_rate(bad[i], &r, &err), -1);
		assert_string_equal(err,
		    "expected N/[M]unit, e.g. 100/h or 100/15m");
	}
}

static void
test_cidr(void **state)
{
	struct cfg_cidr c;
	const char *err;

	assert_int_equal(cfg_parse_cidr("10/8", &c, &err), 0);
	assert_int_equal(c.af, AF_INET);
	assert_int_equal(c.bits, 8);
	assert_int_equal(c.addr[0], 10);
	assert_int_equal(cfg_parse_cidr("0/0", &c, &err), 0);
	assert_int_equal(c.bits, 0);
	assert_int_equal(cfg_parse_cidr("1.2.3.4", &c, &err), 0);
	assert_int_equal(c.bits, 32);
	assert_int_equal(c.addr[3], 4);
	assert_int_equal(cfg_parse_cidr("192.168/16", &c, &err), 0);
	assert_int_equal(c.addr[0], 192);
	assert_int_equal(c.addr[1], 168);
	assert_int_equal(cfg_parse_cidr("192.168.1.77/24", &c, &err), 0);
	assert_int_equal(c.addr[3], 0);		/* host part masked off */
	assert_int_equal(cfg_parse_cidr("192.168.1.0/28", &c, &err), 0);
	assert_int_equal(c.bits, 28);
	assert_int_equal(cfg_parse_cidr("::1/128", &c, &err), 0);
	assert_int_equal(c.af, AF_INET6);
	assert_int_equal(c.bits, 128);
	assert_int_equal(c.addr[15], 1);
	assert_int_equal(cfg_parse_cidr("2001:db8::/32", &c, &err), 0);
	assert_int_equal(c.bits, 32);
	assert_int_equal(cfg_parse_cidr("::", &c, &err), 0);
	assert_int_equal(c.bits, 128);

	assert_int_equal(cfg_parse_cidr("10", &c, &err), -1);
	assert_string_equal(err,
	    "expected an address or CIDR such as 1.2.3.4, 10/8 or ::1/128");
	assert_int_equal(cfg_parse_cidr("256.1.1.1", &c, &err), -1);
	assert_int_equal(cfg_parse_cidr("1.2.3.4/33", &c, &err), -1);
	assert_int_equal(cfg_parse_cidr("1.2.3.4/", &c, &err), -1);
	assert_int_equal(cfg_parse_cidr("1.2.3.4.5", &c, &err), -1);
	assert_int_equal(cfg_parse_cidr("1..3.4", &c, &err), -1);
	assert_int_equal(cfg_parse_cidr("::1/129", &c, &err), -1);
	assert_int_equal(cfg_parse_cidr("host.example.com", &c, &err), -1);
	assert_int_equal(cfg_parse_cidr("", &c, &err), -1);
	assert_int_equal(cfg_parse_cidr("/8", &c, &err), -1);
	assert_int_equal(cfg_parse_cidr("1.2.3.4/-1", &c, &err), -1);
}

static void
sin_of(struct sockaddr_storage *ss, const char *ip)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':') != NULL) {
		sin6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
	} else {
		sin->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
	}
}

static void
test_cidr_match(void **state)
{
	static const struct {
		const char	*cidr, *ip;
		int		 match;
	} cases[] = {
		{ "10/8", "10.1.2.3", 1 }, { "10/8", "11.1.2.3", 0 },
		{ "0/0", "203.0.113.9", 1 }, { "0/0", "2001:db8::1", 1 },
		{ "1.2.3.4", "1.2.3.4", 1 }, { "1.2.3.4", "1.2.3.5", 0 },
		{ "192.168.1.0/28", "192.168.1.15", 1 },
		{ "192.168.1.0/28", "192.168.1.16", 0 },
		{ "192.168.0.0/23", "192.168.1.200", 1 },
		{ "::1/128", "::1", 1 }, { "::1/128", "::2", 0 },
		{ "2001:db8::/32", "2001:db8:1::5", 1 },
		{ "2001:db8::/32", "2001:db9::5", 0 },
		{ "10/8", "::ffff:10.0.0.1", 1 },	/* v4-mapped client */
		{ "::ffff:0:0/96", "10.0.0.1", 1 },
		{ "10/8", "2001:db8::1", 0 },
		{ "2001:db8::/32", "10.0.0.1", 0 },
	};
	struct sockaddr_storage ss;
	struct cfg_cidr c;
	const char *err;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(cfg_parse_cidr(cases[i].cidr, &c, &err), 0);
		sin_of(&ss, cases[i].ip);
		if (cfg_cidr_match(&c, (struct sockaddr *)&ss) !=
		    cases[i].match)
			fail_msg("%s vs %s", cases[i].cidr, cases[i].ip);
	}
}

static void
test_hostport(void **state)
{
	static const struct {
		const char	*in;
		const char	*host;
		int		 port;
	} good[] = {
		{ "smtp.relay.com", "smtp.relay.com", 25 },
		{ "alt4.gmail-smtp-in.l.google.com:25",
		    "alt4.gmail-smtp-in.l.google.com", 25 },
		{ "1.2.3.4:2525", "1.2.3.4", 2525 },
		{ "5.181.234.238:22400", "5.181.234.238", 22400 },
		{ "10.0.0.1", "10.0.0.1", 25 },
		{ "[::1]:587", "::1", 587 },
		{ "[2001:db8::1]", "2001:db8::1", 25 },
		{ "[IPv6:2001:db8::1]:26", "2001:db8::1", 26 },
		{ "[1.2.3.4]:26", "1.2.3.4", 26 },
		{ "2001:db8::25", "2001:db8::25", 25 },
	};
	static const char *bad[] = {
		"", ":25", "host:", "host:0", "host:65536", "host:abc",
		"[::1", "[::1]x", "[nothost]:25", "bad host", "-x.com",
		"a:b:c", "host:25:26",
	};
	char host[256];
	const char *err;
	size_t i;
	int port;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(cfg_parse_hostport(good[i].in, host,
		    sizeof(host), &port, 25, &err), 0);
		assert_string_equal(host, good[i].host);
		assert_int_equal(port, good[i].port);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (cfg_parse_hostport(bad[i], host, sizeof(host), &port, 25,
		    &err) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_string_equal(err,
		    "expected host, host:port, 1.2.3.4:25 or [IPv6]:port");
	}
	/* The host must fit the caller's buffer. */
	assert_int_equal(cfg_parse_hostport("averyveryverylonghost.example",
	    host, 8, &port, 25, &err), -1);
}

static void
test_listen(void **state)
{
	struct cfg_cidr c;
	const char *err;
	int port;

	assert_int_equal(cfg_parse_listen("0/0:25", &c, &port, &err), 0);
	assert_int_equal(c.bits, 0);
	assert_int_equal(port, 25);
	assert_int_equal(cfg_parse_listen("127.0.0.1:2525", &c, &port, &err), 0);
	assert_int_equal(port, 2525);
	assert_int_equal(cfg_parse_listen("[::1]:587", &c, &port, &err), 0);
	assert_int_equal(c.af, AF_INET6);
	assert_int_equal(cfg_parse_listen("127.0.0.1", &c, &port, &err), -1);
	assert_string_equal(err, "expected IP:PORT, CIDR:PORT or [IPv6]:PORT");
	assert_int_equal(cfg_parse_listen("host:25", &c, &port, &err), -1);
	assert_int_equal(cfg_parse_listen("1.2.3.4:0", &c, &port, &err), -1);
	assert_int_equal(cfg_parse_listen(":25", &c, &port, &err), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bool),
		cmocka_unit_test(test_int),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_timelist),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_cidr),
		cmocka_unit_test(test_cidr_match),
		cmocka_unit_test(test_hostport),
		cmocka_unit_test(test_listen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
