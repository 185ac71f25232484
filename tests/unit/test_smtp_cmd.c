/*
 * test_smtp_cmd.c - smtpd's SMTP command parser.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "envelope.h"
#include "smtp_cmd.h"

static struct smtp_cmd cmd;

static int
parse(const char *line)
{
	return smtp_cmd_parse(line, &cmd);
}

static void
test_simple_verbs(void **state)
{
	static const struct {
		const char	*line;
		enum smtp_verb	 verb;
	} t[] = {
		{ "DATA", SMTP_CMD_DATA },
		{ "RSET", SMTP_CMD_RSET },
		{ "NOOP", SMTP_CMD_NOOP },
		{ "QUIT", SMTP_CMD_QUIT },
		{ "HELP", SMTP_CMD_HELP },
		{ "STARTTLS", SMTP_CMD_STARTTLS },
		{ "TURN", SMTP_CMD_TURN },
		{ "ETRN", SMTP_CMD_ETRN },
		{ "ATRN", SMTP_CMD_ATRN },
		{ "VERB", SMTP_CMD_VERB },
		{ "ONEX", SMTP_CMD_ONEX },
		{ "SEND FROM:<a@b.c>", SMTP_CMD_SEND },
		{ "SOML FROM:<a@b.c>", SMTP_CMD_SOML },
		{ "SAML FROM:<a@b.c>", SMTP_CMD_SAML },
		{ "VRFY root", SMTP_CMD_VRFY },
		{ "EXPN staff", SMTP_CMD_EXPN },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(parse(t[i].line), SMTP_OK);
		assert_int_equal(cmd.verb, t[i].verb);
	}
}

static void
test_case_insensitive(void **state)
{
	assert_int_equal(parse("quit"), SMTP_OK);
	assert_int_equal(cmd.verb, SMTP_CMD_QUIT);
	assert_int_equal(parse("DaTa"), SMTP_OK);
	assert_int_equal(cmd.verb, SMTP_CMD_DATA);
	assert_int_equal(parse("mail from:<a@b.example> size=10 body=8bitmime"),
	    SMTP_OK);
	assert_int_equal(cmd.verb, SMTP_CMD_MAIL);
	assert_int_equal(cmd.size, 10);
	assert_int_equal(cmd.body, SMTP_BODY_8BITMIME);
	assert_int_equal(parse("rCpT tO:<x@y.example> notify=success,Delay"),
	    SMTP_OK);
	assert_int_equal(cmd.notify, NOTIFY_SUCCESS | NOTIFY_DELAY);
	assert_int_equal(parse("ehlo client.example"), SMTP_OK);
	assert_int_equal(cmd.verb, SMTP_CMD_EHLO);
	assert_string_equal(smtp_cmd_name(SMTP_CMD_EHLO), "EHLO");
}

static void
test_unknown(void **state)
{
	assert_int_equal(parse("FOO"), SMTP_ERR_UNKNOWN);
	assert_int_equal(parse(""), SMTP_ERR_UNKNOWN);
	assert_int_equal(parse(" QUIT"), SMTP_ERR_UNKNOWN);
	assert_int_equal(parse("QUITX"), SMTP_ERR_UNKNOWN);
	assert_int_equal(parse("QUI"), SMTP_ERR_UNKNOWN);
	assert_int_equal(parse("MAIL\tFROM:<a@b.c>"), SMTP_ERR_UNKNOWN);
	assert_int_equal(parse("GET / HTTP/1.0"), SMTP_ERR_UNKNOWN);
	assert_int_equal(parse("12345"), SMTP_ERR_UNKNOWN);
	assert_string_equal(smtp_cmd_reply(SMTP_ERR_UNKNOWN),
	    "500 5.5.1 command unrecognized");
}

static void
test_no_args_allowed(void **state)
{
	assert_int_equal(parse("DATA x"), SMTP_ERR_SYNTAX);
	assert_int_equal(parse("RSET now"), SMTP_ERR_SYNTAX);
	assert_int_equal(parse("QUIT please"), SMTP_ERR_SYNTAX);
	assert_int_equal(parse("STARTTLS x"), SMTP_ERR_SYNTAX);
	/* trailing blanks are tolerated */
	assert_int_equal(parse("DATA  "), SMTP_OK);
	assert_int_equal(parse("QUIT\t"), SMTP_OK);
	assert_int_equal(parse("NOOP hello there"), SMTP_OK);
	assert_string_equal(cmd.arg, "hello there");
	assert_int_equal(parse("VRFY"), SMTP_ERR_SYNTAX);
	assert_int_equal(parse("NOOP a\x01"), SMTP_ERR_SYNTAX);
}

static void
test_helo(void **state)
{
	assert_int_equal(parse("HELO client.example"), SMTP_OK);
	assert_int_equal(cmd.verb, SMTP_CMD_HELO);
	assert_string_equal(cmd.arg, "client.example");
	assert_int_equal(parse("EHLO [192.0.2.1]"), SMTP_OK);
	assert_string_equal(cmd.arg, "[192.0.2.1]");
	assert_int_equal(parse("EHLO   spaced.example  "), SMTP_OK);
	assert_string_equal(cmd.arg, "spaced.example");
	assert_int_equal(parse("EHLO"), SMTP_ERR_SYNTAX);
	assert_int_equal(parse("HELO "), SMTP_ERR_SYNTAX);
	assert_int_equal(parse("EHLO two words"), SMTP_ERR_SYNTAX);
	assert_int_equal(parse("EHLO bad\x7f"), SMTP_ERR_SYNTAX);
	assert_int_equal(parse("EHLO b\xc3\xa4" "ckerei.example"), SMTP_OK);
	assert_int_equal(parse("EHLO bad\xff"), SMTP_ERR_SYNTAX);
}

static void
test_mail_basic(void **state)
{
	assert_int_equal(parse("MAIL FROM:<user@example.com>"), SMTP_OK);
	assert_int_equal(cmd.verb, SMTP_CMD_MAIL);
	assert_string_equal(cmd.addr, "user@example.com");
	assert_int_equal(cmd.has_size, 0);
	assert_int_equal(cmd.body, SMTP_BODY_NONE);
	assert_int_equal(cmd.ret, RET_DEFAULT);
	/* null sender */
	assert_int_equal(parse("MAIL FROM:<>"), SMTP_OK);
	assert_string_equal(cmd.addr, "");
	/* the usual space after the colon */
	assert_int_equal(parse("MAIL FROM: <user@example.com>"), SMTP_OK);
	assert_string_equal(cmd.addr, "user@example.com");
	/* source route is ignored */
	assert_int_equal(parse("MAIL FROM:<@relay.example,@b.example:u@c.example>"),
	    SMTP_OK);
	assert_string_equal(cmd.addr, "u@c.example");
}

static void
test_mail_bad(void **state)
{
	assert_int_equal(parse("MAIL"), SMTP_ERR_SYNTAX);
	assert_int_equal(parse("MAIL TO:<a@b.example>"), SMTP_ERR_SYNTAX);
	assert_int_equal(parse("MAIL FROM<a@b.example>"), SMTP_ERR_SYNTAX);
	assert_int_equal(parse("MAIL FROM:a@b.example"), SMTP_ERR_SENDER);
	assert_int_equal(parse("MAIL FROM:<a@b.example"), SMTP_ERR_SENDER);
	assert_int_equal(parse("MAIL FROM:"), SMTP_ERR_SENDER);
	assert_int_equal(parse("MAIL FROM:<a>"), SMTP_ERR_SENDER);
	assert_int_equal(parse("MAIL FROM:<postmaster>"), SMTP_ERR_SENDER);
	assert_int_equal(parse("MAIL FROM:<a@>"), SMTP_ERR_SENDER);
	assert_int_equal(parse("MAIL FROM:<@b.example>"), SMTP_ERR_SENDER);
	assert_int_equal(parse("MAIL FROM:<a b@c.example>"), SMTP_ERR_SENDER);
	assert_int_equal(parse("MAIL FROM:<a@b.example>junk"), SMTP_ERR_SYNTAX);
	assert_int_equal(parse("MAIL FROM:<a@b.example> ="), SMTP_ERR_SYNTAX);
	assert_string_equal(smtp_cmd_reply(SMTP_ERR_SENDER),
	    "501 5.1.7 bad sender address syntax");
}

static void
test_addresses(void **state)
{
	static const char *good[] = {
		"a@b", "first.last@example.com", "a+tag@sub.example.co.uk",
		"!#$%&'*+-/=?^_`{|}~@example.com", "\"quoted\"@example.com",
		"\"with space\"@example.com", "\"a\\\"b\"@example.com",
		"\"a>b\"@example.com", "\"\"@example.com", "u@[192.0.2.1]",
		"u@[IPv6:2001:db8::1]", "u@[ipv6:::1]", "u@[x-tag:abc]",
		"u@host_name.example", "u@xn--bcher-kva.example",
		"bounce-1234567890abcdef-user=example.org@bounces.example.com",
	};
	static const char *bad[] = {
		"", "a", "@b", "a@", ".a@b", "a.@b", "a..b@c", "a@b.", "a@.b",
		"a@b..c", "a@-b.c", "a@b-.c", "a b@c", "a@b c", "\"a@b",
		"\"a\"b@c", "a@[300.1.1.1]", "a@[IPv6:zz]", "a@[1.2.3]",
		"a@[]", "a@[tag:]", "a@[:x]", "a(b)@c", "a@b@c", "a\\b@c",
		"a@b\x01", "\"\x01\"@b",
	};
	char long_label[128], long_addr[600];
	int utf8;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (smtp_addr_valid(good[i], strlen(good[i]), &utf8) != 0)
			fail_msg("should be valid: %s", good[i]);
		assert_int_equal(utf8, 0);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (smtp_addr_valid(bad[i], strlen(bad[i]), &utf8) == 0)
			fail_msg("should be invalid: %s", bad[i]);

	/* labels of 64 octets and addresses beyond SMTP_ADDR_MAX */
	memset(long_label, 'a', 64);
	strcpy(long_label + 64, ".example");
	snprintf(long_addr, sizeof(long_addr), "u@%s", long_label);
	assert_int_equal(smtp_addr_valid(long_addr, strlen(long_addr), NULL),
	    -1);
	memset(long_addr, 'a', SMTP_ADDR_MAX - 2);
	strcpy(long_addr + SMTP_ADDR_MAX - 2, "@b");
	assert_int_equal(smtp_addr_valid(long_addr, SMTP_ADDR_MAX, NULL), 0);
	long_addr[0] = 'b';
	memmove(long_addr + 1, long_addr, SMTP_ADDR_MAX + 1);
	assert_int_equal(smtp_addr_valid(long_addr, SMTP_ADDR_MAX + 1, NULL),
	    -1);
}

static void
test_utf8_addresses(void **state)
{
	int utf8 = 0;

	assert_int_equal(smtp_addr_valid("j\xc3\xb6rg@b\xc3\xbc" "cher.example",
	    strlen("j\xc3\xb6rg@b\xc3\xbc" "cher.example"), &utf8), 0);
	assert_int_equal(utf8, 1);
	assert_int_equal(parse("MAIL FROM:<\xe7\x94\xa8\xe6\x88\xb7@example.com> "
	    "SMTPUTF8"), SMTP_OK);
	assert_int_equal(cmd.addr_utf8, 1);
	assert_int_equal(cmd.smtputf8, 1);
	/* broken UTF-8: lone continuation, overlong, surrogate, truncated */
	assert_int_equal(parse("MAIL FROM:<\x80@example.com>"), SMTP_ERR_SENDER);
	assert_int_equal(parse("MAIL FROM:<\xc0\xaf@example.com>"),
	    SMTP_ERR_SENDER);
	assert_int_equal(parse("MAIL FROM:<\xed\xa0\x80@example.com>"),
	    SMTP_ERR_SENDER);
	assert_int_equal(parse("MAIL FROM:<a@example.\xe2\x82>"),
	    SMTP_ERR_SENDER);
	assert_int_equal(parse("MAIL FROM:<\xf4\x90\x80\x80@example.com>"),
	    SMTP_ERR_SENDER);
}

static void
test_mail_params(void **state)
{
	assert_int_equal(parse("MAIL FROM:<a@b.example> SIZE=12345 BODY=8BITMIME "
	    "SMTPUTF8 RET=HDRS ENVID=abc+2Bdef"), SMTP_OK);
	assert_int_equal(cmd.has_size, 1);
	assert_int_equal(cmd.size, 12345);
	assert_int_equal(cmd.body, SMTP_BODY_8BITMIME);
	assert_int_equal(cmd.smtputf8, 1);
	assert_int_equal(cmd.ret, RET_HDRS);
	assert_string_equal(cmd.envid, "abc+2Bdef");
	assert_int_equal(parse("MAIL FROM:<> BODY=7BIT RET=full"), SMTP_OK);
	assert_int_equal(cmd.body, SMTP_BODY_7BIT);
	assert_int_equal(cmd.ret, RET_FULL);
	assert_int_equal(parse("MAIL FROM:<a@b.example> BODY=BINARYMIME"),
	    SMTP_OK);
	assert_int_equal(cmd.body, SMTP_BODY_BINARYMIME);
	assert_int_equal(parse("MAIL FROM:<a@b.example>   SIZE=1   "), SMTP_OK);
	assert_int_equal(cmd.size, 1);
	assert_int_equal(parse("MAIL FROM:<a@b.example> SIZE=18446744073709551615"),
	    SMTP_OK);
	assert_true(cmd.size == UINT64_MAX);
}

static void
test_mail_bad_params(void **state)
{
	static const char *syntax[] = {
		"SIZE", "SIZE=", "SIZE=abc", "SIZE=-1", "SIZE=1x",
		"SIZE=18446744073709551616", "SIZE=1 SIZE=2", "BODY=9BIT",
		"BODY", "SMTPUTF8=yes", "RET=ALL", "RET", "ENVID=a=b",
		"ENVID=a+zz", "ENVID=a+4", "ENVID=\xc3\xa4", "=x", "-X=1",
		"SIZE=1=2",
	};
	char line[400];
	size_t i;

	for (i = 0; i < sizeof(syntax) / sizeof(syntax[0]); i++) {
		snprintf(line, sizeof(line), "MAIL FROM:<a@b.example> %s",
		    syntax[i]);
		if (parse(line) != SMTP_ERR_SYNTAX)
			fail_msg("should be a syntax error: %s", line);
	}
	memset(line, 0, sizeof(line));
	strcpy(line, "MAIL FROM:<a@b.example> ENVID=");
	memset(line + strlen(line), 'x', SMTP_ENVID_MAX + 1);
	assert_int_equal(parse(line), SMTP_ERR_SYNTAX);
	line[strlen(line) - 1] = '\0';
	assert_int_equal(parse(line), SMTP_OK);

	assert_int_equal(parse("MAIL FROM:<a@b.example> FOO=bar"), SMTP_ERR_PARAM);
	assert_int_equal(parse("MAIL FROM:<a@b.example> AUTH=<>"), SMTP_ERR_PARAM);
	assert_int_equal(parse("MAIL FROM:<a@b.example> NOTIFY=NEVER"),
	    SMTP_ERR_PARAM);
	assert_string_equal(smtp_cmd_reply(SMTP_ERR_PARAM),
	    "555 5.5.4 unsupported parameter");
	assert_string_equal(smtp_cmd_reply(SMTP_ERR_SYNTAX),
	    "501 5.5.4 syntax error in parameters");
}

static void
test_rcpt(void **state)
{
	assert_int_equal(parse("RCPT TO:<x@y.example>"), SMTP_OK);
	assert_int_equal(cmd.verb, SMTP_CMD_RCPT);
	assert_string_equal(cmd.addr, "x@y.example");
	assert_int_equal(cmd.is_postmaster, 0);
	assert_int_equal(cmd.notify, 0);
	assert_string_equal(cmd.orcpt, "");
	assert_int_equal(parse("RCPT TO:<Postmaster>"), SMTP_OK);
	assert_int_equal(cmd.is_postmaster, 1);
	assert_string_equal(cmd.addr, "Postmaster");
	assert_int_equal(parse("RCPT TO:<postmaster@y.example>"), SMTP_OK);
	assert_int_equal(cmd.is_postmaster, 0);
	assert_int_equal(parse("RCPT TO: <x@y.example>"), SMTP_OK);

	assert_int_equal(parse("RCPT TO:<>"), SMTP_ERR_RCPT);
	assert_int_equal(parse("RCPT TO:<x>"), SMTP_ERR_RCPT);
	assert_int_equal(parse("RCPT TO:x@y.example"), SMTP_ERR_RCPT);
	assert_int_equal(parse("RCPT FROM:<x@y.example>"), SMTP_ERR_SYNTAX);
	assert_int_equal(parse("RCPT"), SMTP_ERR_SYNTAX);
	assert_int_equal(parse("RCPT TO:<x@y.example> SIZE=1"), SMTP_ERR_PARAM);
	assert_string_equal(smtp_cmd_reply(SMTP_ERR_RCPT),
	    "501 5.1.3 bad recipient address syntax");
}

static void
test_rcpt_dsn(void **state)
{
	assert_int_equal(parse("RCPT TO:<x@y.example> NOTIFY=SUCCESS,FAILURE,DELAY "
	    "ORCPT=rfc822;x+40y.example"), SMTP_OK);
	assert_int_equal(cmd.notify, NOTIFY_SUCCESS | NOTIFY_FAILURE |
	    NOTIFY_DELAY);
	assert_string_equal(cmd.orcpt, "rfc822;x+40y.example");
	assert_int_equal(parse("RCPT TO:<x@y.example> NOTIFY=NEVER"), SMTP_OK);
	assert_int_equal(cmd.notify, NOTIFY_NEVER);
	assert_int_equal(parse("RCPT TO:<x@y.example> ORCPT=utf-8;j\xc3\xb6rg@y"),
	    SMTP_OK);

	assert_int_equal(parse("RCPT TO:<x@y.example> NOTIFY=NEVER,SUCCESS"),
	    SMTP_ERR_SYNTAX);
	assert_int_equal(parse("RCPT TO:<x@y.example> NOTIFY=SUCCESS,"),
	    SMTP_ERR_SYNTAX);
	assert_int_equal(parse("RCPT TO:<x@y.example> NOTIFY=,SUCCESS"),
	    SMTP_ERR_SYNTAX);
	assert_int_equal(parse("RCPT TO:<x@y.example> NOTIFY=SOMETIMES"),
	    SMTP_ERR_SYNTAX);
	assert_int_equal(parse("RCPT TO:<x@y.example> NOTIFY"), SMTP_ERR_SYNTAX);
	assert_int_equal(parse("RCPT TO:<x@y.example> NOTIFY=DELAY NOTIFY=DELAY"),
	    SMTP_ERR_SYNTAX);
	assert_int_equal(parse("RCPT TO:<x@y.example> ORCPT=x@y.example"),
	    SMTP_ERR_SYNTAX);
	assert_int_equal(parse("RCPT TO:<x@y.example> ORCPT=;x@y"),
	    SMTP_ERR_SYNTAX);
	assert_int_equal(parse("RCPT TO:<x@y.example> ORCPT=rfc822;"),
	    SMTP_ERR_SYNTAX);
	assert_int_equal(parse("RCPT TO:<x@y.example> ORCPT=rfc822;a+4"),
	    SMTP_ERR_SYNTAX);
}

static void
test_bdat_auth(void **state)
{
	assert_int_equal(parse("BDAT 1000"), SMTP_OK);
	assert_int_equal(cmd.verb, SMTP_CMD_BDAT);
	assert_int_equal(cmd.chunk_size, 1000);
	assert_int_equal(cmd.last, 0);
	assert_int_equal(parse("BDAT 0 LAST"), SMTP_OK);
	assert_int_equal(cmd.chunk_size, 0);
	assert_int_equal(cmd.last, 1);
	assert_int_equal(parse("BDAT"), SMTP_ERR_SYNTAX);
	assert_int_equal(parse("BDAT x"), SMTP_ERR_SYNTAX);
	assert_int_equal(parse("BDAT 10 FIRST"), SMTP_ERR_SYNTAX);
	assert_int_equal(parse("BDAT 10LAST"), SMTP_ERR_SYNTAX);

	assert_int_equal(parse("AUTH PLAIN"), SMTP_OK);
	assert_int_equal(cmd.verb, SMTP_CMD_AUTH);
	assert_string_equal(cmd.arg, "PLAIN");
	assert_string_equal(cmd.auth_initial, "");
	assert_int_equal(parse("AUTH PLAIN AHVzZXIAcGFzcw=="), SMTP_OK);
	assert_string_equal(cmd.auth_initial, "AHVzZXIAcGFzcw==");
	assert_int_equal(parse("AUTH PLAIN ="), SMTP_OK);
	assert_int_equal(parse("AUTH"), SMTP_ERR_SYNTAX);
	assert_int_equal(parse("AUTH PLAIN a b"), SMTP_ERR_SYNTAX);
	assert_int_equal(parse("AUTH PL@IN"), SMTP_ERR_SYNTAX);
}

static void
test_overlong(void **state)
{
	char line[SMTP_CMD_MAX + 16];

	memset(line, 0, sizeof(line));
	strcpy(line, "NOOP ");
	memset(line + 5, 'x', SMTP_CMD_MAX - 5);
	assert_int_equal(parse(line), SMTP_OK);
	line[SMTP_CMD_MAX] = 'x';
	assert_int_equal(parse(line), SMTP_ERR_TOOLONG);
	assert_string_equal(smtp_cmd_reply(SMTP_ERR_TOOLONG),
	    "500 5.5.2 line too long");

	/* an address longer than SMTP_ADDR_MAX in a line that fits */
	memset(line, 0, sizeof(line));
	strcpy(line, "RCPT TO:<");
	memset(line + 9, 'a', 600);
	strcat(line, "@b.example>");
	assert_int_equal(parse(line), SMTP_ERR_RCPT);
}

static void
test_nul(void **state)
{
	static const char line[] = "MAIL FROM:<a@b.example>\0 SIZE=1";

	assert_int_equal(smtp_cmd_parse_len(line, sizeof(line) - 1, &cmd),
	    SMTP_ERR_NUL);
	assert_int_equal(smtp_cmd_parse_len("\0", 1, &cmd), SMTP_ERR_NUL);
	assert_int_equal(smtp_cmd_parse_len("QUIT", 4, &cmd), SMTP_OK);
	/* length, not the terminator, bounds the parse */
	assert_int_equal(smtp_cmd_parse_len("QUITTER", 4, &cmd), SMTP_OK);
	assert_int_equal(cmd.verb, SMTP_CMD_QUIT);
	assert_string_equal(smtp_cmd_reply(SMTP_ERR_NUL),
	    "554 5.5.0 NUL byte in command");
}

static void
test_reset_between_parses(void **state)
{
	assert_int_equal(parse("MAIL FROM:<a@b.example> SIZE=5 ENVID=x"), SMTP_OK);
	assert_int_equal(parse("MAIL FROM:<c@d.example>"), SMTP_OK);
	assert_int_equal(cmd.has_size, 0);
	assert_string_equal(cmd.envid, "");
	assert_int_equal(parse("RCPT TO:<x@y.example> NOTIFY=NEVER"), SMTP_OK);
	assert_int_equal(parse("RCPT TO:<x@y.example>"), SMTP_OK);
	assert_int_equal(cmd.notify, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_verbs),
		cmocka_unit_test(test_case_insensitive),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_no_args_allowed),
		cmocka_unit_test(test_helo),
		cmocka_unit_test(test_mail_basic),
		cmocka_unit_test(test_mail_bad),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_utf8_addresses),
		cmocka_unit_test(test_mail_params),
		cmocka_unit_test(test_mail_bad_params),
		cmocka_unit_test(test_rcpt),
		cmocka_unit_test(test_rcpt_dsn),
		cmocka_unit_test(test_bdat_auth),
		cmocka_unit_test(test_overlong),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_reset_between_parses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
