/*
 * test_bounce_class.c - bounce categories of real-world remote replies.
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

struct bc_case {
	const char	*status;
	const char	*diag;
	const char	*cat;
};

static const struct bc_case cases[] = {
	/* the enhanced code decides when it is precise */
	{ "5.1.1", "550 5.1.1 <a@example.com>: Recipient address rejected: "
	    "User unknown in virtual mailbox table", "bad-mailbox" },
	{ "5.1.1", "550 5.1.1 The email account that you tried to reach does "
	    "not exist.", "bad-mailbox" },
	{ "5.1.2", "550 5.1.2 Host unknown (Name server: host not found)",
	    "bad-domain" },
	{ "5.1.10", "556 5.1.10 Recipient address has null MX", "bad-domain" },
	{ "5.2.1", "550 5.2.1 The email account that you tried to reach is "
	    "disabled.", "inactive-mailbox" },
	{ "5.2.2", "552 5.2.2 The email account that you tried to reach is "
	    "over quota.", "quota-issues" },
	{ "4.2.2", "452 4.2.2 Mailbox full", "quota-issues" },
	{ "4.4.1", "connect to 192.0.2.1:25: Connection timed out",
	    "no-answer-from-host" },
	{ "4.4.2", "421 4.4.2 Connection dropped", "bad-connection" },
	{ "5.4.4", "554 5.4.4 Unable to route", "routing-errors" },
	{ "5.4.7", "delivery time expired", "message-expired" },
	{ "5.3.5", "554 5.3.5 Local configuration error", "bad-configuration" },
	{ "5.1.8", "553 5.1.8 Sender address rejected: Domain not found",
	    "invalid-sender" },
	/* vague codes: the text decides */
	{ "5.7.1", "554 5.7.1 Denied - Spam Suspected - http://x.invalid/",
	    "spam-related" },
	{ "5.7.1", "554 5.7.1 Service unavailable; Client host [192.0.2.9] "
	    "blocked using zen.spamhaus.org", "spam-related" },
	{ "5.7.1", "550 5.7.1 Relaying denied", "relaying-issues" },
	{ "5.7.1", "550 5.7.1 Unable to relay for x@example.com",
	    "relaying-issues" },
	{ "5.7.1", "550 5.7.1 Message rejected due to virus found",
	    "virus-related" },
	{ "5.7.1", "554 5.7.1 A virus was detected", "virus-related" },
	{ "5.7.1", "550 5.7.1 Message content rejected", "content-related" },
	{ "5.7.1", "550 5.7.1 Not authorized", "policy-related" },
	{ "4.7.0", "421 4.7.0 mx002.roc2.bluetie.com Error: too many errors",
	    "policy-related" },
	{ "5.0.0", "550 No Such User Here", "bad-mailbox" },
	{ "5.0.0", "550 Requested action not taken: mailbox unavailable",
	    "bad-mailbox" },
	{ "5.0.0", "550 Mailbox quota exceeded", "quota-issues" },
	{ "5.0.0", "550 Account inactive", "inactive-mailbox" },
	{ "5.0.0", "550 This account has been disabled or discontinued",
	    "inactive-mailbox" },
	{ "5.0.0", "553 sorry, that domain isn't in my list of allowed "
	    "rcpthosts (#5.7.1)", "policy-related" },
	{ "5.0.0", "550 Sender verify failed", "invalid-sender" },
	{ "5.0.0", "550 Too many invalid recipients", "other" },
	{ "5.0.0", "500 Syntax error, command unrecognized",
	    "protocol-errors" },
	{ "5.0.0", "503 Bad sequence of commands", "protocol-errors" },
	{ "5.0.0", "550 Message rejected as UCE", "spam-related" },
	{ "5.0.0", "554 Your access to this mail system has been rejected "
	    "due to the sending MTA's poor reputation", "policy-related" },
	{ "5.0.0", "550 domain retired", "bad-domain" },
	{ "4.0.0", "421 Too many concurrent SMTP connections; please try "
	    "again later", "policy-related" },
	/* the reply's own code when the status says only x.0.0 */
	{ "5.0.0", "550 5.1.1 user unknown", "bad-mailbox" },
	{ NULL, "smtp;550 5.2.2 mailbox full", "quota-issues" },
	{ "", "550-5.1.1 no such user", "bad-mailbox" },
	/* code fallbacks */
	{ "5.5.2", "500 what?", "protocol-errors" },
	{ "5.6.0", "554 not acceptable", "content-related" },
	{ "5.5.3", "452 5.5.3 Too many recipients", "policy-related" },
	{ "4.2.1", "450 4.2.1 The user you are trying to contact is receiving "
	    "mail at a rate that prevents additional messages from being "
	    "delivered", "policy-related" },
	/* no SMTP reply at all */
	{ "4.4.0", "connect to 192.0.2.1:25: Connection refused",
	    "no-answer-from-host" },
	{ "4.0.0", "connection reset by peer", "bad-connection" },
	{ "5.0.0", "Host or domain name not found", "bad-domain" },
	{ "4.0.0", "", "other" },
	{ NULL, NULL, "other" },
	{ "2.0.0", "250 ok", "success" },
};

static void
test_cases(void **state)
{
	size_t i;
	const char *got;
	int bad = 0;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = bounce_classify(cases[i].status, cases[i].diag);
		if (strcmp(got, cases[i].cat) != 0) {
			print_error("%s / %s: got %s, want %s\n",
			    cases[i].status ? cases[i].status : "(null)",
			    cases[i].diag ? cases[i].diag : "(null)", got,
			    cases[i].cat);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* Word boundaries: "adv" only as a word, "relay" not in "delayed". */
static void
test_words(void **state)
{
	assert_string_equal(bounce_classify("5.0.0", "550 Adv not wanted"),
	    "spam-related");
	assert_string_equal(bounce_classify("5.0.0", "550 advanced thing"),
	    "other");
	assert_string_equal(bounce_classify("4.0.0", "451 delayed"),
	    "other");
	assert_string_equal(bounce_classify("4.0.0", "451 SPAM"),
	    "spam-related");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_words),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
