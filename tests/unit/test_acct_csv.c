/*
 * test_acct_csv.c - accounting rows as PowerMTA writes them: RFC 4180
 * quoting, ISO times, dsnStatus text, dsnDiag prefix, whole rows.
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

static const char *
field(const char *s)
{
	static struct sbuf b;

	b.len = 0;
	sb_str(&b, "");
	acct_csv_field(&b, s);
	return b.s;
}

static void
test_quoting(void **state)
{
	assert_string_equal(field("plain"), "plain");
	assert_string_equal(field(NULL), "");
	assert_string_equal(field(""), "");
	assert_string_equal(field("a,b"), "\"a,b\"");
	assert_string_equal(field("say \"hi\""), "\"say \"\"hi\"\"\"");
	assert_string_equal(field("\"\""), "\"\"\"\"\"\"");
	assert_string_equal(field("two\r\nlines"), "\"two\r\nlines\"");
	assert_string_equal(field("lf\nonly"), "\"lf\nonly\"");
	assert_string_equal(field("semi;colon (x)"), "semi;colon (x)");
	assert_string_equal(field("ENHANCEDSTATUSCODES,8BITMIME,SMTPUTF8"),
	    "\"ENHANCEDSTATUSCODES,8BITMIME,SMTPUTF8\"");
}

static void
test_time(void **state)
{
	char buf[32];

	assert_string_equal(acct_csv_time(1549662845, buf, sizeof(buf)),
	    "2019-02-08 21:54:05+0000");
	assert_string_equal(acct_csv_time(0, buf, sizeof(buf)), "");
	assert_string_equal(acct_csv_time(-5, buf, sizeof(buf)), "");
	assert_string_equal(acct_csv_time(951782400, buf, sizeof(buf)),
	    "2000-02-29 00:00:00+0000");
}

static void
test_dsn_status_text(void **state)
{
	char buf[128];

#define ST(in, out) \
	assert_string_equal(dsn_status_text(in, buf, sizeof(buf)), out)
	ST("2.0.0", "2.0.0 (success)");
	ST("4.0.0", "4.0.0 (undefined status)");
	ST("5.0.0", "5.0.0 (undefined status)");
	ST("5.1.1", "5.1.1 (bad destination mailbox address)");
	ST("4.4.1", "4.4.1 (no answer from host)");
	ST("5.7.1", "5.7.1 (delivery not authorized, message refused)");
	ST("4.7.0", "4.7.0 (other or undefined security status)");
	ST("5.2.2", "5.2.2 (mailbox full)");
	ST("4.4.7", "4.4.7 (delivery time expired)");
	ST("5.1.10", "5.1.10 (recipient address has null MX)");
	ST("5.7.26", "5.7.26 (multiple authentication checks failed)");
	ST("2.1.5", "2.1.5 (destination address valid)");
	/* unregistered detail: the subject's text; unknown subject */
	ST("5.1.99", "5.1.99 (other address status)");
	ST("5.9.9", "5.9.9 (undefined status)");
	/* not a code: kept as is; empty stays empty */
	ST("", "");
	ST(NULL, "");
	ST("garbage", "garbage");
	ST("6.1.1", "6.1.1");
	ST("5.1.1 (bad destination mailbox address)",
	    "5.1.1 (bad destination mailbox address)");
#undef ST
	assert_null(dsn_text("5.1"));
	assert_null(dsn_text("5.1.1x"));
	assert_string_equal(dsn_text("5.1.1;"),
	    "bad destination mailbox address");
}

static void
test_diag(void **state)
{
	char buf[128];

	assert_string_equal(acct_csv_diag("250 DATA ok", buf, sizeof(buf)),
	    "smtp;250 DATA ok");
	assert_string_equal(acct_csv_diag("smtp;550 5.1.1 no", buf,
	    sizeof(buf)), "smtp;550 5.1.1 no");
	assert_string_equal(acct_csv_diag("SMTP;550 x", buf, sizeof(buf)),
	    "SMTP;550 x");
	assert_string_equal(acct_csv_diag("", buf, sizeof(buf)), "");
	assert_string_equal(acct_csv_diag(NULL, buf, sizeof(buf)), "");
}

static void
test_type_bits(void **state)
{
	assert_int_equal(acct_type_bit("d"), ACCT_D);
	assert_int_equal(acct_type_bit("delivery"), ACCT_D);
	assert_int_equal(acct_type_bit("tq"), ACCT_TQ);
	assert_int_equal(acct_type_bit("transient-queue"), ACCT_TQ);
	assert_int_equal(acct_type_bit("remote-bounce"), ACCT_RB);
	assert_int_equal(acct_type_bit("x"), 0);
}

static void
test_header(void **state)
{
	assert_string_equal(acct_csv_header(), "type,timeLogged,timeQueued,"
	    "orig,rcpt,orcpt,dsnAction,dsnStatus,dsnDiag,dsnMta,bounceCat,"
	    "srcType,srcMta,dlvType,dlvSourceIp,dlvDestinationIp,"
	    "dlvEsmtpAvailable,dlvSize,vmta,jobId,envId,queue,vmtaPool,"
	    "totalSecondsQueued,dlvTlsProtocol,dlvTlsCipher,rcvSmtpUser\r\n");
}

/* Count the columns of a row (no quoted commas in the row given). */
static int
ncols(const char *s)
{
	int n = 1, inq = 0;

	for (; *s != '\0' && *s != '\r'; s++) {
		if (*s == '"')
			inq = !inq;
		else if (*s == ',' && !inq)
			n++;
	}
	return n;
}

static void
test_row_delivered(void **state)
{
	struct sbuf b = { 0 };
	struct acct_record a;

	memset(&a, 0, sizeof(a));
	a.type = "d";
	a.time_logged = 1549662845;
	a.time_queued = 1549662840;
	a.orig = "AA-D=1181.com@bounce.bar.com";
	a.rcpt = "D@1181.com";
	a.dsn_action = "relayed";
	a.dsn_status = "2.0.0";
	a.dsn_diag = "250 DATA ok";
	a.dsn_mta = "foo.int.port25.com (10.1.2.3)";
	a.src_type = "api";
	a.src_mta = "foo.int.port25.com (127.0.0.1)";
	a.dlv_type = "smtp";
	a.dlv_src_ip = "10.1.2.3";
	a.dlv_dst_ip = "10.1.2.3";
	a.dlv_esmtp = "ENHANCEDSTATUSCODES,8BITMIME,SMTPUTF8";
	a.dlv_size = 41159;
	a.vmta = "vmta48";
	a.jobid = "JoBID29546016861868";
	a.queue = "1181.com/vmta48";
	acct_csv_row(&b, &a);
	assert_string_equal(b.s,
	    "d,2019-02-08 21:54:05+0000,2019-02-08 21:54:00+0000,"
	    "AA-D=1181.com@bounce.bar.com,D@1181.com,,relayed,2.0.0 (success),"
	    "smtp;250 DATA ok,foo.int.port25.com (10.1.2.3),,api,"
	    "foo.int.port25.com (127.0.0.1),smtp,10.1.2.3,10.1.2.3,"
	    "\"ENHANCEDSTATUSCODES,8BITMIME,SMTPUTF8\",41159,vmta48,"
	    "JoBID29546016861868,,1181.com/vmta48,,5,,,\r\n");
	assert_int_equal(ncols(b.s), ncols(acct_csv_header()));
	sb_free(&b);
}

static void
test_row_bounce(void **state)
{
	struct sbuf b = { 0 };
	struct acct_record a;

	memset(&a, 0, sizeof(a));
	a.type = "b";
	a.time_logged = 1549662821;
	a.time_queued = 1549662821;
	a.orig = "CB-A=yahoo.com@bounce.bar.com";
	a.rcpt = "A@yahoo.com";
	a.dsn_action = "failed";
	a.dsn_status = "5.7.1";
	a.dsn_diag = "554 5.7.1 Denied - Spam Suspected\r\n second \"line\"";
	a.dlv_size = 100;	/* not written for b */
	a.auth_user = "joe";
	acct_csv_row(&b, &a);
	assert_string_equal(b.s,
	    "b,2019-02-08 21:53:41+0000,2019-02-08 21:53:41+0000,"
	    "CB-A=yahoo.com@bounce.bar.com,A@yahoo.com,,failed,"
	    "\"5.7.1 (delivery not authorized, message refused)\","
	    "\"smtp;554 5.7.1 Denied - Spam Suspected   second \"\"line\"\"\","
	    ",spam-related,,,,,,,,,,,,,0,,,joe\r\n");
	sb_free(&b);
}

static void
test_row_tq(void **state)
{
	struct sbuf b = { 0 };
	struct acct_record a;

	memset(&a, 0, sizeof(a));
	a.type = "tq";
	a.time_logged = 1549662819;
	a.dsn_status = "4.4.1";
	a.dsn_mta = "mx.example.de (87.98.150.101)";
	a.dlv_type = "smtp";
	a.dlv_src_ip = "0.0.0.0";
	a.dlv_dst_ip = "87.98.150.101";
	a.vmta = "vmta29";
	a.queue = "example.de/vmta29";
	acct_csv_row(&b, &a);
	assert_string_equal(b.s,
	    "tq,2019-02-08 21:53:39+0000,,,,,,4.4.1 (no answer from host),,"
	    "mx.example.de (87.98.150.101),,,,smtp,0.0.0.0,87.98.150.101,,,"
	    "vmta29,,,example.de/vmta29,,,,,\r\n");
	sb_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quoting),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_dsn_status_text),
		cmocka_unit_test(test_diag),
		cmocka_unit_test(test_type_bits),
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_row_delivered),
		cmocka_unit_test(test_row_bounce),
		cmocka_unit_test(test_row_tq),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
