/*
 * smtp_hdr.c - the header section of an incoming message, when the
 * client's <source> asks for header processing:
 *
 *	process-x-virtual-mta	X-Virtual-MTA: picks the VMTA or pool
 *	process-x-job		X-Job: the job id
 *	process-x-envid		X-EnvId: the envelope id (unless MAIL gave one)
 *	process-x-remote-mta-ip	X-Remote-MTA-IP: the address of the MTA the
 *				client got the message from (a gateway in
 *				front of Tern), recorded as the message's
 *				client address instead of the gateway's
 *	add-message-id-header	Message-ID: when missing
 *	add-date-header		Date: when missing (yes) or always (override)
 *
 * The processed headers are removed.  Because smtpd streams the text into
 * the spool file, the header section is held back in memory until its end
 * (the empty line), at most SMTP_HDR_MAX octets (then 552), processed,
 * and written in front of the body.  Sessions that need none of this
 * stream the text untouched.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "msghdr.h"
#include "smtpd.h"
#include "util.h"

/* What the session wants done to headers (set at connect). */
int
smtp_hdr_wanted(const struct smtp_session *s)
{
	return s->x_vmta || s->x_job || s->x_envid || s->x_remote_ip ||
	    s->add_msgid || s->add_date;
}

void
smtp_hdr_begin(struct smtp_session *s)
{
	struct smtp_data *d = &s->tx->data;

	d->hstate = smtp_hdr_wanted(s) ? SMTP_HDR_COLLECT : SMTP_HDR_OFF;
	d->hbuf = NULL;
	d->hlen = d->hcap = 0;
}

void
smtp_hdr_free(struct smtp_data *d)
{
	free(d->hbuf);
	d->hbuf = NULL;
	d->hlen = d->hcap = 0;
}

static void
smtp_hdr_set(char **dst, const char *v, size_t n)
{
	free(*dst);
	*dst = msghdr_value(v, n);
}

/* X-Remote-MTA-IP: an IPv4 or IPv6 address, perhaps in brackets; anything
 * else is dropped (logged), and the connecting address stays. */
static void
smtp_hdr_remote_ip(struct smtp_session *s, const char *v, size_t n)
{
	struct sockaddr_in6 sin6;
	struct sockaddr_in sin;
	char *ip = msghdr_value(v, n), *p = ip;
	size_t len = strlen(ip);

	if (len >= 2 && ip[0] == '[' && ip[len - 1] == ']') {
		ip[len - 1] = '\0';
		p++;
	}
	if (strncasecmp(p, "IPv6:", 5) == 0)
		p += 5;
	if (uv_ip4_addr(p, 0, &sin) != 0 && uv_ip6_addr(p, 0, &sin6) != 0) {
		log_info("%08x: X-Remote-MTA-IP \"%.64s\" is not an address, "
		    "ignored", s->id, ip);
		free(ip);
		return;
	}
	free(s->tx->remote_ip);
	s->tx->remote_ip = xstrdup(p);
	free(ip);
}

/* One field (name: value, with its folded lines and line end).  Returns
 * 1 if it is to be removed. */
static int
smtp_hdr_field(struct smtp_session *s, const char *f, size_t n)
{
	struct smtp_tx *tx = s->tx;
	const char *colon = memchr(f, ':', n);
	size_t nl;

	if (colon == NULL)
		return 0;
	nl = colon - f;
	colon++;
	n -= colon - f;
#define IS(name) msghdr_field_is(f, nl, name)
	if (IS("Message-ID"))
		tx->has_msgid = 1;
	else if (IS("Date"))
		tx->has_date = 1;
	if (s->x_vmta && IS("X-Virtual-MTA")) {
		smtp_hdr_set(&tx->vmta, colon, n);
		if (tx->vmta[0] == '\0') {	/* empty: the default VMTA */
			free(tx->vmta);
			tx->vmta = NULL;
		}
		return 1;
	}
	if (s->x_job && IS("X-Job")) {
		smtp_hdr_set(&tx->jobid, colon, n);
		return 1;
	}
	if (s->x_envid && IS("X-EnvId")) {
		if (tx->envid == NULL)
			smtp_hdr_set(&tx->envid, colon, n);
		return 1;
	}
	if (s->x_remote_ip && IS("X-Remote-MTA-IP")) {
		smtp_hdr_remote_ip(s, colon, n);
		return 1;
	}
	if (s->add_date == SMTP_ADD_DATE_OVERRIDE && IS("Date"))
		return 1;
#undef IS
	return 0;
}

/* Headers we add go at the end of the section, before the empty line. */
static void
smtp_hdr_add(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	char line[600], date[64], id[400];
	int n;

	if (s->add_msgid && !tx->has_msgid) {
		msghdr_message_id(id, sizeof(id), tx->qid, smtpd.conf.hostname);
		n = snprintf(line, sizeof(line), "Message-ID: %s\r\n", id);
		smtp_data_put_raw(&tx->data, line, n);
	}
	if (s->add_date == SMTP_ADD_DATE_OVERRIDE ||
	    (s->add_date == SMTP_ADD_DATE_YES && !tx->has_date)) {
		msghdr_date(date, sizeof(date));
		n = snprintf(line, sizeof(line), "Date: %s\r\n", date);
		smtp_data_put_raw(&tx->data, line, n);
	}
}

/* The whole header section is in hbuf[0, hlen): write what stays. */
static void
smtp_hdr_flush(struct smtp_session *s)
{
	struct smtp_data *d = &s->tx->data;
	const char *p = d->hbuf;
	size_t n = d->hlen, f;
	int blank = 0;

	d->hstate = SMTP_HDR_DONE;
	while (n > 0) {
		if (p[0] == '\n' || (p[0] == '\r' && n > 1 && p[1] == '\n')) {
			blank = 1;	/* the empty line: the rest is body */
			break;
		}
		f = msghdr_field_len(p, n);
		if (!smtp_hdr_field(s, p, f))
			smtp_data_put_raw(d, p, f);
		p += f;
		n -= f;
	}
	smtp_hdr_add(s);
	if (blank)
		smtp_data_put_raw(d, p, n);
	smtp_hdr_free(d);
}

/* b[i] is a LF: does it end an empty line (LF or CRLF alone)? */
static int
smtp_hdr_blank_end(const char *b, size_t i)
{
	if (i > 0 && b[i - 1] == '\r')
		i--;
	return i == 0 || b[i - 1] == '\n';
}

/* Text of the message while the headers are being collected; returns the
 * octets taken (the rest is body). */
size_t
smtp_hdr_feed(struct smtp_session *s, const char *p, size_t n)
{
	struct smtp_data *d = &s->tx->data;
	size_t from, i, take, ncap;
	char *nb;

	if (d->hstate != SMTP_HDR_COLLECT)
		return 0;
	if (d->hlen + n > SMTP_HDR_MAX) {
		if (d->error == SMTP_DERR_NONE)
			d->error = SMTP_DERR_HDRTOOBIG;
		d->hstate = SMTP_HDR_DONE;
		smtp_hdr_free(d);
		return n;
	}
	if (d->hlen + n > d->hcap) {
		ncap = d->hcap ? d->hcap : 4096;
		while (ncap < d->hlen + n)
			ncap *= 2;
		if ((nb = realloc(d->hbuf, ncap)) == NULL)
			fatal("smtp_hdr_feed");
		d->hbuf = nb;
		d->hcap = ncap;
	}
	/* Look for the end of the section in what is new (and the two
	 * octets before it: "\n" + "\r\n" may straddle two calls). */
	from = d->hlen > 2 ? d->hlen - 2 : 0;
	memcpy(d->hbuf + d->hlen, p, n);
	d->hlen += n;
	for (i = from; i < d->hlen; i++) {
		if (d->hbuf[i] != '\n' || !smtp_hdr_blank_end(d->hbuf, i))
			continue;
		/* hbuf[0, i] ends with the empty line. */
		take = n - (d->hlen - (i + 1));
		d->hlen = i + 1;
		smtp_hdr_flush(s);
		return take;
	}
	return n;
}

/* End of the message text: a header section without an empty line. */
void
smtp_hdr_finish(struct smtp_session *s)
{
	if (s->tx->data.hstate == SMTP_HDR_COLLECT)
		smtp_hdr_flush(s);
}

/* The iprev verdict as RFC 8601 names it, for the headers that carry it
 * (Received:, Authentication-Results:); here, not in smtp_iprev.c, so the
 * header code needs nothing of the lookup. */
const char *
smtp_iprev_str(int result)
{
	switch (result) {
	case SMTP_IPREV_PASS:
		return "pass";
	case SMTP_IPREV_FAIL:
		return "fail";
	case SMTP_IPREV_TEMPERROR:
		return "temperror";
	case SMTP_IPREV_PERMERROR:
		return "permerror";
	default:
		return "none";
	}
}
