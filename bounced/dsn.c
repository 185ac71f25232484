/*
 * dsn.c - RFC 3464 delivery status notifications for recipients that
 * failed for good (multipart/report; report-type=delivery-status).
 *
 * One DSN per failed recipient, sent from the null sender to the
 * original envelope sender.  Three parts: a human explanation, the
 * machine-readable message/delivery-status (Reporting-MTA, Original-
 * Envelope-Id, Arrival-Date; Original-Recipient, Final-Recipient,
 * Action, Status, Remote-MTA, Diagnostic-Code, Last-Attempt-Date), and
 * the original: its header (RET=HDRS and by default, text/rfc822-headers)
 * or all of it (RET=FULL, message/rfc822) when it is at most
 * DSN_MAX_RETURN bytes; a larger one comes back as its header only.
 *
 * Pure: the caller reads the original message and sends the text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "bounced.h"
#include "log.h"
#include "msghdr.h"
#include "proto.h"

/* Anything that came from outside goes into a header or a report line
 * without CR, LF or other controls, so it cannot add lines of its own. */
static void
dsn_add_clean(struct sbuf *b, const char *s)
{
	char c;

	for (; s != NULL && *s != '\0'; s++) {
		c = ((unsigned char)*s < 0x20 || *s == 0x7f) ? ' ' : *s;
		sb_add(b, &c, 1);
	}
}

static void
dsn_line(struct sbuf *b, const char *name, const char *value)
{
	sb_str(b, name);
	dsn_add_clean(b, value);
	sb_add(b, "\r\n", 2);
}

static const char *
dsn_date(int64_t t, char *buf, size_t sz)
{
	struct tm tm;
	time_t tt = (time_t)t;

	gmtime_r(&tt, &tm);
	strftime(buf, sz, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	return buf;
}

/* "mx.example.com (192.0.2.1)" -> "mx.example.com" */
static void
dsn_remote_mta(struct sbuf *b, const char *mta)
{
	size_t n;

	if (mta == NULL || *mta == '\0')
		return;
	n = strcspn(mta, " (");
	if (n == 0)
		return;
	sb_str(b, "Remote-MTA: dns; ");
	sb_add(b, mta, n);
	sb_add(b, "\r\n", 2);
}

/* Append text with every line ending in CRLF. */
static void
dsn_add_crlf(struct sbuf *b, const char *p, size_t len)
{
	size_t i, start = 0;

	for (i = 0; i < len; i++) {
		if (p[i] != '\n')
			continue;
		sb_add(b, p + start, i - start -
		    (i > start && p[i - 1] == '\r'));
		sb_add(b, "\r\n", 2);
		start = i + 1;
	}
	if (start < len) {
		sb_add(b, p + start, len - start);
		sb_add(b, "\r\n", 2);
	}
}

static void
dsn_status_of(const struct dsn_req *r, char *buf, size_t sz)
{
	int c, s, d;

	if (r->dsn_status == NULL || dsn_parse(r->dsn_status, &c, &s,
	    &d) == -1) {
		strlcpy(buf, r->action == DSN_ACTION_DELAYED ? "4.0.0" :
		    "5.0.0", sz);
		return;
	}
	/* Action: failed is permanent: a 4.x.x that ran out of time is
	 * reported as 5.x.x (the accounting row keeps the 4.4.7); a delay
	 * is transient, 4.x.x. */
	snprintf(buf, sz, "%d.%d.%d", r->action == DSN_ACTION_DELAYED ? 4 : 5,
	    s, d);
}

static void
dsn_human(struct sbuf *b, const struct dsn_req *r, const char *host)
{
	sb_str(b, "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Description: Notification\r\n\r\n");
	sb_str(b, "This is the mail system at host ");
	dsn_add_clean(b, host);
	sb_str(b, ".\r\n\r\n");
	if (r->action == DSN_ACTION_DELAYED)
		sb_str(b, "Your message has not been delivered to the "
		    "recipient below yet.\r\nThis is a warning only: it stays "
		    "queued and will be tried again;\r\nyou do not need to "
		    "send it again.");
	else if (r->dsn_status != NULL && r->dsn_status[0] == '4')
		sb_str(b, "Your message could not be delivered in the "
		    "time allowed and has been\r\ngiven up on.");
	else
		sb_str(b, "Your message could not be delivered to the "
		    "recipient below; the\r\nreceiving system refused it "
		    "permanently.");
	sb_str(b, "  The delivery report and\r\nthe original "
	    "message's header are attached.\r\n\r\n    <");
	dsn_add_clean(b, r->rcpt);
	sb_str(b, ">: ");
	dsn_add_clean(b, r->diag && *r->diag ? r->diag : "delivery failed");
	sb_str(b, "\r\n\r\n");
}

static void
dsn_report(struct sbuf *b, const struct dsn_req *r, const char *host,
    int64_t now)
{
	char date[64], status[32];

	sb_str(b, "Content-Type: message/delivery-status\r\n"
	    "Content-Description: Delivery report\r\n\r\n");
	dsn_line(b, "Reporting-MTA: dns; ", host);
	dsn_line(b, "X-Tern-Queue-ID: ", r->qid);
	if (r->envid != NULL && *r->envid != '\0')
		dsn_line(b, "Original-Envelope-Id: ", r->envid);
	if (r->queued > 0)
		dsn_line(b, "Arrival-Date: ", dsn_date(r->queued, date,
		    sizeof(date)));
	sb_str(b, "\r\n");
	if (r->orcpt != NULL && *r->orcpt != '\0') {
		/* ORCPT without its type: RFC 3461 says rfc822. */
		sb_str(b, "Original-Recipient: ");
		if (strchr(r->orcpt, ';') == NULL)
			sb_str(b, "rfc822;");
		dsn_line(b, "", r->orcpt);
	}
	dsn_line(b, "Final-Recipient: rfc822; ", r->rcpt);
	sb_str(b, r->action == DSN_ACTION_DELAYED ?
	    "Action: delayed\r\n" : "Action: failed\r\n");
	dsn_status_of(r, status, sizeof(status));
	dsn_line(b, "Status: ", status);
	dsn_remote_mta(b, r->mta);
	if (r->diag != NULL && *r->diag != '\0') {
		if (strlen(r->diag) > 3 && r->diag[0] >= '2' &&
		    r->diag[0] <= '5' && r->diag[3] != '\0' &&
		    strchr(" -", r->diag[3]) != NULL)
			dsn_line(b, "Diagnostic-Code: smtp; ", r->diag);
		else
			dsn_line(b, "Diagnostic-Code: X-Tern; ", r->diag);
	}
	dsn_line(b, "Last-Attempt-Date: ", dsn_date(now, date,
	    sizeof(date)));
	sb_str(b, "\r\n");
}

char *
dsn_build(const struct dsn_req *r, const char *host, const char *orig,
    size_t origlen, int64_t now, unsigned serial)
{
	struct sbuf b = { 0 };
	char boundary[80], date[64];
	int full;

	snprintf(boundary, sizeof(boundary), "=_tern_%s_%u", r->qid,
	    serial);
	sb_str(&b, "From: Mail Delivery System <MAILER-DAEMON@");
	dsn_add_clean(&b, host);
	sb_str(&b, ">\r\nTo: <");
	dsn_add_clean(&b, r->sender);
	sb_str(&b, ">\r\n");
	dsn_line(&b, r->action == DSN_ACTION_DELAYED ?
	    "Subject: Delayed Mail (still being retried): " :
	    "Subject: Undelivered Mail Returned to Sender: ", r->rcpt);
	dsn_line(&b, "Date: ", dsn_date(now, date, sizeof(date)));
	sb_str(&b, "Message-ID: <");
	dsn_add_clean(&b, boundary + 2);
	sb_str(&b, "@");
	dsn_add_clean(&b, host);
	sb_str(&b, ">\r\nAuto-Submitted: auto-replied\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	    "\tboundary=\"");
	sb_str(&b, boundary);
	sb_str(&b, "\"\r\n\r\nThis is a MIME-encapsulated message."
	    "\r\n\r\n--");
	sb_str(&b, boundary);
	sb_str(&b, "\r\n");
	dsn_human(&b, r, host);
	sb_str(&b, "--");
	sb_str(&b, boundary);
	sb_str(&b, "\r\n");
	dsn_report(&b, r, host, now);
	sb_str(&b, "--");
	sb_str(&b, boundary);
	sb_str(&b, "\r\n");
	/* a delay notice quotes the header only (RFC 3461 4.3) */
	full = r->ret == RET_FULL && r->action != DSN_ACTION_DELAYED &&
	    orig != NULL && r->size <= DSN_MAX_RETURN && origlen >= r->size;
	if (full) {
		sb_str(&b, "Content-Type: message/rfc822\r\n"
		    "Content-Description: Undelivered Message\r\n\r\n");
		dsn_add_crlf(&b, orig, origlen);
	} else {
		sb_str(&b, "Content-Type: text/rfc822-headers\r\n"
		    "Content-Description: Undelivered Message Headers\r\n\r\n");
		if (orig != NULL)
			dsn_add_crlf(&b, orig, msghdr_section_len(orig, origlen));
	}
	sb_str(&b, "\r\n--");
	sb_str(&b, boundary);
	sb_str(&b, "--\r\n");
	return b.s;
}

int
dsn_wanted(const struct dsn_req *r)
{
	if (r->sender == NULL || *r->sender == '\0' || (r->flags & ENV_DSN))
		return 0;
	if (r->notify & NOTIFY_NEVER)
		return 0;
	if (r->action == DSN_ACTION_DELAYED)
		return (r->notify & NOTIFY_DELAY) != 0;
	return r->notify == 0 || (r->notify & NOTIFY_FAILURE);
}
