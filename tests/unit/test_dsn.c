/*
 * test_dsn.c - the text of RFC 3464 failure notifications (bounced/dsn.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bounced.h"
#include "proto.h"

static const char orig[] =
    "Received: from client.test\r\n"
    "Subject: hello\r\n"
    "\r\n"
    "Body line\n"		/* bare LF: returned with CRLF */
    "second\r\n";

static struct dsn_req
req(void)
{
	struct dsn_req r;

	memset(&r, 0, sizeof(r));
	r.qid = "abcdefghijkl";
	r.sender = "s@client.test";
	r.rcpt = "r@example.test";
	r.dsn_status = "5.1.1";
	r.diag = "550 5.1.1 no such user";
	r.mta = "mx.example.test (192.0.2.1)";
	r.queued = 1700000000;
	r.size = sizeof(orig) - 1;
	return r;
}

static void
test_fields(void **state)
{
	struct dsn_req r = req();
	char *t;

	r.envid = "env-1";
	r.orcpt = "orig@example.test";
	t = dsn_build(&r, "tern.test", orig, sizeof(orig) - 1, 1700000100, 1);
	assert_non_null(strstr(t, "\r\nTo: <s@client.test>\r\n"));
	assert_non_null(strstr(t, "multipart/report; report-type="
	    "delivery-status;"));
	assert_non_null(strstr(t, "\r\nReporting-MTA: dns; tern.test\r\n"));
	assert_non_null(strstr(t, "\r\nOriginal-Envelope-Id: env-1\r\n"));
	assert_non_null(strstr(t, "\r\nOriginal-Recipient: "
	    "rfc822;orig@example.test\r\n"));
	assert_non_null(strstr(t, "\r\nFinal-Recipient: rfc822; "
	    "r@example.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"
	    "Remote-MTA: dns; mx.example.test\r\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n"));
	/* default RET: the header only */
	assert_non_null(strstr(t, "text/rfc822-headers"));
	assert_non_null(strstr(t, "Subject: hello\r\n"));
	assert_null(strstr(t, "Body line"));
	/* every line ends in CRLF */
	assert_null(strstr(t, "e\n"));
	free(t);
}

static void
test_ret_full_and_expiry(void **state)
{
	struct dsn_req r = req();
	char *t;

	r.ret = RET_FULL;
	r.dsn_status = "4.4.7";
	r.diag = "connect to 192.0.2.1:25: Connection timed out";
	t = dsn_build(&r, "tern.test", orig, sizeof(orig) - 1, 1700000100, 2);
	assert_non_null(strstr(t, "Content-Type: message/rfc822\r\n"));
	assert_non_null(strstr(t, "Body line\r\nsecond\r\n"));
	/* given up: permanent in the DSN */
	assert_non_null(strstr(t, "\r\nStatus: 5.4.7\r\n"));
	assert_non_null(strstr(t, "Diagnostic-Code: X-Tern; connect to"));
	free(t);
}

static void
test_no_injection(void **state)
{
	struct dsn_req r = req();
	char *t;

	r.diag = "550 bad\r\nBcc: victim@example.test";
	r.envid = "x\r\nX-Evil: 1";
	t = dsn_build(&r, "tern.test", NULL, 0, 1700000100, 3);
	assert_null(strstr(t, "\r\nBcc:"));
	assert_null(strstr(t, "\r\nX-Evil:"));
	free(t);
}

static void
test_wanted(void **state)
{
	struct dsn_req r = req();

	assert_true(dsn_wanted(&r));		/* NOTIFY absent */
	r.notify = NOTIFY_FAILURE | NOTIFY_DELAY;
	assert_true(dsn_wanted(&r));
	r.notify = NOTIFY_SUCCESS;
	assert_false(dsn_wanted(&r));
	r.notify = NOTIFY_NEVER;
	assert_false(dsn_wanted(&r));
	r.notify = 0;
	r.flags = ENV_DSN;
	assert_false(dsn_wanted(&r));		/* never about a DSN */
	r.flags = 0;
	r.sender = "";
	assert_false(dsn_wanted(&r));
}

/* A delay notice: only for NOTIFY=DELAY, Action delayed, 4.x.x, the
 * header only even for RET=FULL. */
static void
test_delayed(void **state)
{
	struct dsn_req r = req();
	char *t;

	(void)state;
	r.action = DSN_ACTION_DELAYED;
	r.dsn_status = "4.2.1";
	r.diag = "451 4.2.1 busy";
	r.ret = RET_FULL;
	assert_false(dsn_wanted(&r));
	r.notify = NOTIFY_FAILURE;
	assert_false(dsn_wanted(&r));
	r.notify = NOTIFY_DELAY | NOTIFY_FAILURE;
	assert_true(dsn_wanted(&r));
	t = dsn_build(&r, "tern.test", orig, sizeof(orig) - 1, 1700000100, 1);
	assert_non_null(strstr(t, "Subject: Delayed Mail"));
	assert_non_null(strstr(t, "Action: delayed\r\nStatus: 4.2.1\r\n"));
	assert_non_null(strstr(t, "text/rfc822-headers"));
	assert_null(strstr(t, "Body line"));
	free(t);
}

/* The header quoted is the original's header section (common/msghdr.c):
 * folded fields and bare LFs included, up to the blank line only. */
static void
test_header_section_lf(void **state)
{
	static const char lf[] =
	    "Received: from client.test\n"
	    "\tby tern.test\n"
	    "Subject: lf\n"
	    "\n"
	    "Body: not a field\n";
	struct dsn_req r = req();
	char *t;

	r.size = sizeof(lf) - 1;
	t = dsn_build(&r, "tern.test", lf, sizeof(lf) - 1, 1700000100, 5);
	assert_non_null(strstr(t, "Received: from client.test\r\n"
	    "\tby tern.test\r\nSubject: lf\r\n\r\n"));
	assert_null(strstr(t, "Body: not a field"));
	free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_ret_full_and_expiry),
		cmocka_unit_test(test_no_injection),
		cmocka_unit_test(test_wanted),
		cmocka_unit_test(test_delayed),
		cmocka_unit_test(test_header_section_lf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
