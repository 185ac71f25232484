/*
 * test_arf.c - bounced's parser of reports that come back by mail
 * (bounced/inbound.c): DSNs to rb/rs rows, ARF to f rows, VERP decoding,
 * and every truncation of a report parsed without harm (run under ASan
 * in the sanitizer build).
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

/* The rows inbound_process() writes, captured instead of written. */
static struct {
	char	type[8], rcpt[256], status[32], diag[256], format[16];
	char	ftype[32], orig[256];
} rows[8];
static int nrows, nsuppressed;

void
acct_write_ext(const struct acct_record *a, const struct acct_extra *x)
{
	if (nrows == 8)
		return;
	memset(&rows[nrows], 0, sizeof(rows[0]));
#define CP(f, v) snprintf(rows[nrows].f, sizeof(rows[nrows].f), "%s", \
	(v) ? (v) : "")
	CP(type, a->type);
	CP(rcpt, a->rcpt);
	CP(status, a->dsn_status);
	CP(diag, a->dsn_diag);
	CP(orig, a->orig);
	CP(format, x ? x->format : NULL);
	CP(ftype, x ? x->feedback_type : NULL);
#undef CP
	nrows++;
}

int
suppress_add(const char *addr, const char *why)
{
	nsuppressed++;
	return 1;
}

int
suppress_category(const char *cat)
{
	return strcmp(cat, "bad-mailbox") == 0;
}

static const char dsn[] =
    "From: MAILER-DAEMON@mx.example\r\n"
    "Content-Type: multipart/report; report-type=delivery-status;\r\n"
    "\tboundary=\"XX\"\r\n"
    "\r\n"
    "--XX\r\nContent-Type: text/plain\r\n\r\nSorry.\r\n"
    "--XX\r\nContent-Type: message/delivery-status\r\n\r\n"
    "Reporting-MTA: dns; mx.example\r\n\r\n"
    "Final-Recipient: rfc822; a@internal.example\r\n"
    "Action: failed\r\nStatus: 5.1.1\r\n"
    "Diagnostic-Code: smtp; 550 5.1.1 unknown\r\n\r\n"
    "Final-Recipient: rfc822; b@isp.example\r\n"
    "Action: delayed\r\nStatus: 4.4.1\r\n\r\n"
    "--XX--\r\n";

static const char arf[] =
    "Content-Type: multipart/report; report-type=feedback-report; "
    "boundary=b1\n\n"
    "--b1\nContent-Type: text/plain\n\nabuse report\n"
    "--b1\nContent-Type: message/feedback-report\n\n"
    "Feedback-Type: abuse\nUser-Agent: X/1\nVersion: 1\n"
    "Original-Rcpt-To: <c@isp.example>\n"
    "--b1\nContent-Type: text/rfc822-headers\n\n"
    "Return-Path: <n-d=isp.example@b.example>\n"
    "--b1--\n";

static void
test_dsn_rows(void **state)
{
	nrows = nsuppressed = 0;
	assert_int_equal(inbound_process(dsn, sizeof(dsn) - 1,
	    "bounce@b.example", "192.0.2.1", 1700000000), 2);
	assert_string_equal(rows[0].type, "rb");
	assert_string_equal(rows[0].rcpt, "a@internal.example");
	assert_string_equal(rows[0].status, "5.1.1");
	assert_string_equal(rows[0].diag, "smtp;550 5.1.1 unknown");
	assert_string_equal(rows[0].format, "dsn");
	assert_string_equal(rows[0].orig, "bounce@b.example");
	assert_string_equal(rows[1].type, "rs");
	assert_string_equal(rows[1].rcpt, "b@isp.example");
	assert_int_equal(nsuppressed, 1);
	/* sent to a VERP address: that names the recipient */
	nrows = 0;
	inbound_process(dsn, sizeof(dsn) - 1, "n-joe=isp.example@b.example",
	    "192.0.2.1", 1700000000);
	assert_string_equal(rows[0].rcpt, "joe@isp.example");
}

/* No VERP, no Original-Recipient: an X-header of the returned message
 * names the recipient, before Final-Recipient (often an internal alias). */
static const char dsn_xhdr[] =
    "Content-Type: multipart/report; report-type=delivery-status; "
    "boundary=Q\n\n"
    "--Q\nContent-Type: message/delivery-status\n\n"
    "Reporting-MTA: dns; mx.example\n\n"
    "Final-Recipient: rfc822; mbox42@store.internal\n"
    "Action: failed\nStatus: 5.1.1\n\n"
    "--Q\nContent-Type: text/rfc822-headers\n\n"
    "Subject: x\nX-Rcpt-To: <Real@ISP.example>\n\n"
    "--Q--\n";

static void
test_dsn_xheader_rcpt(void **state)
{
	nrows = 0;
	assert_int_equal(inbound_process(dsn_xhdr, sizeof(dsn_xhdr) - 1,
	    "bounce@b.example", "192.0.2.1", 1700000000), 1);
	assert_string_equal(rows[0].rcpt, "Real@ISP.example");
}

static void
test_arf_row(void **state)
{
	nrows = 0;
	assert_int_equal(inbound_process(arf, sizeof(arf) - 1, "fbl@b.example",
	    "192.0.2.1", 1700000000), 1);
	assert_string_equal(rows[0].type, "f");
	assert_string_equal(rows[0].ftype, "abuse");
	assert_string_equal(rows[0].format, "arf");
	assert_string_equal(rows[0].rcpt, "c@isp.example");
}

/* Every prefix of the reports: no crash, no read past the end (ASan). */
static void
test_truncations(void **state)
{
	size_t i;
	char *p;

	for (i = 0; i <= sizeof(dsn) - 1; i++) {
		nrows = 0;
		p = malloc(i ? i : 1);
		memcpy(p, dsn, i);
		inbound_process(p, i, "n-j=i.example@b.example", "x", 1);
		free(p);
	}
	for (i = 0; i <= sizeof(arf) - 1; i++) {
		nrows = 0;
		p = malloc(i ? i : 1);
		memcpy(p, arf, i);
		inbound_process(p, i, "fbl@b.example", "x", 1);
		free(p);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dsn_rows),
		cmocka_unit_test(test_dsn_xheader_rcpt),
		cmocka_unit_test(test_arf_row),
		cmocka_unit_test(test_truncations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
