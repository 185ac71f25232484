/*
 * dsn_text.c - enhanced mail system status codes (RFC 3463 and the IANA
 * registry that extends it) and the text PowerMTA writes after them in
 * the dsnStatus column: "5.1.1 (bad destination mailbox address)".
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounced.h"

struct dsn_code {
	int		 subj;
	int		 detail;
	const char	*text;
};

/* Lower case like PowerMTA; the class (2, 4, 5) does not change it. */
static const struct dsn_code dsn_codes[] = {
	{ 0, 0, "undefined status" },
	{ 1, 0, "other address status" },
	{ 1, 1, "bad destination mailbox address" },
	{ 1, 2, "bad destination system address" },
	{ 1, 3, "bad destination mailbox address syntax" },
	{ 1, 4, "destination mailbox address ambiguous" },
	{ 1, 5, "destination address valid" },
	{ 1, 6, "destination mailbox has moved, no forwarding address" },
	{ 1, 7, "bad sender's mailbox address syntax" },
	{ 1, 8, "bad sender's system address" },
	{ 1, 9, "message relayed to non-compliant mailer" },
	{ 1, 10, "recipient address has null MX" },
	{ 2, 0, "other or undefined mailbox status" },
	{ 2, 1, "mailbox disabled, not accepting messages" },
	{ 2, 2, "mailbox full" },
	{ 2, 3, "message length exceeds administrative limit" },
	{ 2, 4, "mailing list expansion problem" },
	{ 3, 0, "other or undefined mail system status" },
	{ 3, 1, "mail system full" },
	{ 3, 2, "system not accepting network messages" },
	{ 3, 3, "system not capable of selected features" },
	{ 3, 4, "message too big for system" },
	{ 3, 5, "system incorrectly configured" },
	{ 3, 6, "requested priority was changed" },
	{ 4, 0, "other or undefined network or routing status" },
	{ 4, 1, "no answer from host" },
	{ 4, 2, "bad connection" },
	{ 4, 3, "directory server failure" },
	{ 4, 4, "unable to route" },
	{ 4, 5, "mail system congestion" },
	{ 4, 6, "routing loop detected" },
	{ 4, 7, "delivery time expired" },
	{ 4, 8, "non-compliant mailer" },
	{ 5, 0, "other or undefined protocol status" },
	{ 5, 1, "invalid command" },
	{ 5, 2, "syntax error" },
	{ 5, 3, "too many recipients" },
	{ 5, 4, "invalid command arguments" },
	{ 5, 5, "wrong protocol version" },
	{ 5, 6, "authentication exchange line is too long" },
	{ 6, 0, "other or undefined media error" },
	{ 6, 1, "media not supported" },
	{ 6, 2, "conversion required and prohibited" },
	{ 6, 3, "conversion required but not supported" },
	{ 6, 4, "conversion with loss performed" },
	{ 6, 5, "conversion failed" },
	{ 6, 6, "message content not available" },
	{ 6, 7, "non-ASCII addresses not permitted for that sender/recipient" },
	{ 6, 8, "UTF-8 string reply is required, but not permitted by the "
	    "SMTP client" },
	{ 6, 9, "UTF-8 header message cannot be transferred to one or more "
	    "recipients" },
	{ 6, 10, "non-compliant mailer" },
	{ 7, 0, "other or undefined security status" },
	{ 7, 1, "delivery not authorized, message refused" },
	{ 7, 2, "mailing list expansion prohibited" },
	{ 7, 3, "security conversion required but not possible" },
	{ 7, 4, "security features not supported" },
	{ 7, 5, "cryptographic failure" },
	{ 7, 6, "cryptographic algorithm not supported" },
	{ 7, 7, "message integrity failure" },
	{ 7, 8, "authentication credentials invalid" },
	{ 7, 9, "authentication mechanism is too weak" },
	{ 7, 10, "encryption needed" },
	{ 7, 11, "encryption required for requested authentication mechanism" },
	{ 7, 12, "a password transition is needed" },
	{ 7, 13, "user account disabled" },
	{ 7, 14, "trust relationship required" },
	{ 7, 15, "priority level is too low" },
	{ 7, 16, "message is too big for the specified priority" },
	{ 7, 17, "mailbox owner has changed" },
	{ 7, 18, "domain owner has changed" },
	{ 7, 19, "RRVS test cannot be completed" },
	{ 7, 20, "no passing DKIM signature found" },
	{ 7, 21, "no acceptable DKIM signature found" },
	{ 7, 22, "no valid author-matched DKIM signature found" },
	{ 7, 23, "SPF validation failed" },
	{ 7, 24, "SPF validation error" },
	{ 7, 25, "reverse DNS validation failed" },
	{ 7, 26, "multiple authentication checks failed" },
	{ 7, 27, "sender address has null MX" },
	{ 7, 28, "mail flood detected" },
	{ 7, 29, "ARC validation failure" },
	{ 7, 30, "REQUIRETLS support required" },
};

/* One to three digits; the registry never goes beyond. */
static const char *
dsn_num(const char *s, int *v)
{
	int n = 0, i;

	for (i = 0; i < 3 && isdigit((unsigned char)s[i]); i++)
		n = n * 10 + (s[i] - '0');
	if (i == 0 || isdigit((unsigned char)s[i]))
		return NULL;
	*v = n;
	return s + i;
}

int
dsn_parse(const char *s, int *cls, int *subj, int *detail)
{
	const char *p;

	if (s == NULL || (*s != '2' && *s != '4' && *s != '5') ||
	    s[1] != '.')
		return -1;
	*cls = *s - '0';
	if ((p = dsn_num(s + 2, subj)) == NULL || *p != '.')
		return -1;
	if ((p = dsn_num(p + 1, detail)) == NULL)
		return -1;
	/* "5.1.1" must end there, not run into more text ("5.1.1x"). */
	if (*p != '\0' && !isspace((unsigned char)*p) && *p != ';' &&
	    *p != ',' && *p != ')' && *p != ':')
		return -1;
	return 0;
}

static const char *
dsn_lookup(int subj, int detail)
{
	size_t i;

	for (i = 0; i < sizeof(dsn_codes) / sizeof(dsn_codes[0]); i++)
		if (dsn_codes[i].subj == subj && dsn_codes[i].detail == detail)
			return dsn_codes[i].text;
	return NULL;
}

const char *
dsn_text(const char *status)
{
	const char *t;
	int cls, subj, detail;

	if (dsn_parse(status, &cls, &subj, &detail) == -1)
		return NULL;
	if (cls == 2 && subj == 0 && detail == 0)
		return "success";
	if ((t = dsn_lookup(subj, detail)) != NULL)
		return t;
	/* An unregistered detail: say what its subject is about. */
	if ((t = dsn_lookup(subj, 0)) != NULL)
		return t;
	return "undefined status";
}

const char *
dsn_status_text(const char *status, char *buf, size_t bufsz)
{
	const char *t;
	size_t len;

	if (status == NULL || *status == '\0') {
		if (bufsz)
			buf[0] = '\0';
		return buf;
	}
	/* Already in text form (a record replayed from elsewhere). */
	if ((t = dsn_text(status)) == NULL || strchr(status, '(') != NULL) {
		strlcpy(buf, status, bufsz);
		return buf;
	}
	len = strcspn(status, " \t;,):");
	snprintf(buf, bufsz, "%.*s (%s)", (int)len, status, t);
	return buf;
}
