/*
 * inbound.c - reports that come back by mail: asynchronous bounces and
 * feedback loop complaints, turned into accounting rows.
 *
 *  - RFC 3464 DSNs (multipart/report; report-type=delivery-status): one
 *    row per recipient block, `rb` for Action: failed, `rs` for
 *    delivered, relayed, delayed or expanded; format "dsn".
 *  - RFC 5965 ARF (report-type=feedback-report): one `f` row; format
 *    "arf".
 *  - anything else (qmail's "Hi. This is the qmail-send program", plain
 *    text bounces of old MTAs): an `rb` row when a recipient can be
 *    found; format "qmail" or "text".
 *
 * The recipient the report is about, in order of trust: the VERP address
 * the report was sent to (queued/queue_verp.c wrote it), then
 * Original-Recipient, then an X-header of the returned message naming
 * the recipient (in_xrcpt), then Final-Recipient (or, in ARF,
 * Original-Rcpt-To, the VERP Return-Path of the returned message, the
 * VERP address, then the X-header).  `orig` is the
 * address the report came to, as in PowerMTA's rb rows.
 *
 * The parser is deliberately small: header lookup with unfolding, one
 * level of multipart, no transfer decoding (report parts are 7bit by
 * RFC).  Input is bounded by the caller.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bounced.h"
#include "log.h"
#include "msghdr.h"
#include "verp.h"

#define IN_VAL	1024

/* A header's value in [p, p+len) (a header block), unfolded, trimmed. */
static int
in_header(const char *p, size_t len, const char *name, char *out,
    size_t outsz)
{
	size_t nl = strlen(name), i = 0, o = 0;
	const char *end = p + len, *q;

	while (p < end) {
		q = memchr(p, '\n', end - p);
		if (q == NULL)
			q = end;
		if ((size_t)(q - p) > nl && strncasecmp(p, name, nl) == 0 &&
		    p[nl] == ':') {
			p += nl + 1;
			/* the value, with continuation lines */
			for (;;) {
				for (; p < q; p++) {
					if (*p == '\r')
						continue;
					if (o + 1 < outsz)
						out[o++] = (*p == '\t' ||
						    (unsigned char)*p < 0x20) ?
						    ' ' : *p;
				}
				if (q >= end || (q + 1 < end && q[1] != ' ' &&
				    q[1] != '\t') || q + 1 >= end)
					break;
				p = q + 1;
				if ((q = memchr(p, '\n', end - p)) == NULL)
					q = end;
			}
			out[o] = '\0';
			while (o > 0 && isspace((unsigned char)out[o - 1]))
				out[--o] = '\0';
			for (i = 0; isspace((unsigned char)out[i]); i++)
				;
			memmove(out, out + i, o - i + 1);
			return 1;
		}
		p = q + 1;
	}
	if (outsz)
		out[0] = '\0';
	return 0;
}

/* A parameter of a Content-Type value (quotes removed). */
static int
in_param(const char *ct, const char *name, char *out, size_t outsz)
{
	const char *p = ct;
	size_t nl = strlen(name), o = 0;

	while ((p = strchr(p, ';')) != NULL) {
		p++;
		while (isspace((unsigned char)*p))
			p++;
		if (strncasecmp(p, name, nl) != 0 || p[nl] != '=')
			continue;
		p += nl + 1;
		if (*p == '"') {
			for (p++; *p && *p != '"' && o + 1 < outsz; p++)
				out[o++] = *p;
		} else
			for (; *p && *p != ';' && !isspace((unsigned char)*p) &&
			    o + 1 < outsz; p++)
				out[o++] = *p;
		out[o] = '\0';
		return o > 0;
	}
	return 0;
}

struct in_part {
	const char	*p;
	size_t		 len;
};

/* The parts of a multipart body, at most max. */
static int
in_split(const char *body, size_t len, const char *boundary,
    struct in_part *parts, int max)
{
	char delim[256];
	const char *p = body, *end = body + len, *start = NULL, *q;
	size_t dl;
	int n = 0;

	dl = snprintf(delim, sizeof(delim), "--%s", boundary);
	while (p < end && (q = memmem(p, end - p, delim, dl)) != NULL) {
		if (q != body && q[-1] != '\n') {
			p = q + dl;
			continue;
		}
		if (start != NULL && n < max) {
			parts[n].p = start;
			parts[n].len = q - start;
			n++;
		}
		if (q + dl + 1 < end && q[dl] == '-' && q[dl + 1] == '-')
			break;
		if ((p = memchr(q, '\n', end - q)) == NULL)
			break;
		start = ++p;
	}
	return n;
}

/* "rfc822; a@b" -> "a@b"; "dns; mx.example" -> "mx.example" */
static const char *
in_typed(const char *v)
{
	const char *s = strchr(v, ';');

	if (s == NULL)
		return v;
	for (s++; isspace((unsigned char)*s); s++)
		;
	return s;
}

struct in_ctx {
	const char	*to;
	const char	*client;
	int64_t		 now;
	char		 verp[IN_VAL];
	int		 have_verp;
	int		 rows;
};

static void
in_suppress(const char *rcpt, const char *status, const char *diag)
{
	const char *cat = bounce_classify(status, diag);

	if (suppress_category(cat))
		suppress_add(rcpt, cat);
}

static void
in_row(struct in_ctx *c, const char *type, const char *rcpt,
    const char *orcpt, const char *action, const char *status,
    const char *diag, const char *mta, const char *envid,
    const struct acct_extra *x)
{
	struct acct_record a;
	char d[IN_VAL + 8];

	memset(&a, 0, sizeof(a));
	a.type = type;
	a.time_logged = c->now;
	a.orig = c->to;
	a.rcpt = rcpt;
	a.orcpt = orcpt && *orcpt ? orcpt : NULL;
	a.dsn_action = action && *action ? action : NULL;
	a.dsn_status = status && *status ? status : NULL;
	if (diag && *diag) {
		/* "smtp; 550 ..." -> "smtp;550 ..." as in d/b rows */
		if (strncasecmp(diag, "smtp;", 5) == 0)
			snprintf(d, sizeof(d), "smtp;%s", in_typed(diag));
		else
			snprintf(d, sizeof(d), "%s", diag);
		a.dsn_diag = d;
	}
	a.dsn_mta = mta && *mta ? mta : NULL;
	a.src_type = "smtp";
	a.src_mta = c->client;
	a.envid = envid && *envid ? envid : NULL;
	acct_write_ext(&a, x);
	c->rows++;
	if (strcmp(type, "rb") == 0 && rcpt != NULL)
		in_suppress(rcpt, a.dsn_status, a.dsn_diag);
}

/* The recipient an X-header of the returned message names (senders
 * and feedback loops put it there: Hotmail's X-HmXmrOriginalRecipient);
 * NULL if none. */
static const char *
in_xrcpt(const char *orig, size_t olen, char *buf, size_t bufsz)
{
	static const char *names[] = { "X-Rcpt-To", "X-Recipient",
	    "X-Envelope-To", "X-Original-To", "X-HmXmrOriginalRecipient",
	    NULL };
	size_t hl, i;
	char *p;

	if (orig == NULL)
		return NULL;
	hl = msghdr_section_len(orig, olen);
	for (i = 0; names[i] != NULL; i++) {
		if (!in_header(orig, hl, names[i], buf, bufsz))
			continue;
		p = buf + strspn(buf, " <");
		p[strcspn(p, "> ,;")] = '\0';
		if (strchr(p, '@') != NULL && p[0] != '@') {
			memmove(buf, p, strlen(p) + 1);
			return buf;
		}
	}
	return NULL;
}

/* One recipient block of a message/delivery-status part. */
static void
in_dsn_block(struct in_ctx *c, const char *p, size_t len,
    const char *repmta, const char *envid, const char *xrcpt)
{
	char fin[IN_VAL], orc[IN_VAL], act[64], st[64], diag[IN_VAL];
	char mta[IN_VAL];
	struct acct_extra x = { .format = "dsn" };
	const char *rcpt, *type;

	if (!in_header(p, len, "Final-Recipient", fin, sizeof(fin)))
		return;
	in_header(p, len, "Original-Recipient", orc, sizeof(orc));
	in_header(p, len, "Action", act, sizeof(act));
	in_header(p, len, "Status", st, sizeof(st));
	in_header(p, len, "Diagnostic-Code", diag, sizeof(diag));
	in_header(p, len, "Remote-MTA", mta, sizeof(mta));
	if (c->have_verp)
		rcpt = c->verp;
	else if (orc[0] != '\0')
		rcpt = in_typed(orc);
	else if (xrcpt != NULL)
		rcpt = xrcpt;
	else
		rcpt = in_typed(fin);
	type = strcasecmp(act, "failed") == 0 ? "rb" : "rs";
	x.reporting_mta = repmta;
	in_row(c, type, rcpt, orc[0] ? orc : NULL, act, st, diag,
	    in_typed(mta), envid, &x);
}

static void
in_dsn(struct in_ctx *c, const char *p, size_t len, const char *orig,
    size_t olen)
{
	char repmta[IN_VAL], envid[IN_VAL], xb[IN_VAL];
	const char *xrcpt = in_xrcpt(orig, olen, xb, sizeof(xb));
	size_t hl;

	/* per-message block, then per-recipient blocks, blank separated */
	hl = msghdr_section_len(p, len);
	in_header(p, hl, "Reporting-MTA", repmta, sizeof(repmta));
	in_header(p, hl, "Original-Envelope-Id", envid, sizeof(envid));
	p += hl;
	len -= hl;
	while (len > 0) {
		hl = msghdr_section_len(p, len);
		if (hl > 2)
			in_dsn_block(c, p, hl, in_typed(repmta), envid,
			    xrcpt);
		p += hl;
		len -= hl;
	}
}

static void
in_arf(struct in_ctx *c, const char *p, size_t len, const char *orig,
    size_t olen)
{
	char ft[128], ua[256], from[IN_VAL], to[IN_VAL], ip[128], dom[256];
	char rp[IN_VAL], v[IN_VAL];
	struct acct_extra x = { .format = "arf" };
	struct acct_record a;
	const char *rcpt = NULL;

	in_header(p, len, "Feedback-Type", ft, sizeof(ft));
	in_header(p, len, "User-Agent", ua, sizeof(ua));
	in_header(p, len, "Original-Mail-From", from, sizeof(from));
	in_header(p, len, "Original-Rcpt-To", to, sizeof(to));
	in_header(p, len, "Source-IP", ip, sizeof(ip));
	in_header(p, len, "Reported-Domain", dom, sizeof(dom));
	if (to[0] == '<') {
		to[strcspn(to, ">")] = '\0';
		memmove(to, to + 1, strlen(to));
	}
	if (to[0] != '\0')
		rcpt = to;
	else if (orig != NULL && in_header(orig,
	    msghdr_section_len(orig, olen), "Return-Path", rp, sizeof(rp))) {
		rp[strcspn(rp, ">")] = '\0';
		rcpt = verp_decode(rp[0] == '<' ? rp + 1 : rp, v, sizeof(v));
	}
	if (rcpt == NULL && c->have_verp)
		rcpt = c->verp;
	if (rcpt == NULL)
		rcpt = in_xrcpt(orig, olen, v, sizeof(v));
	x.feedback_type = ft;
	x.user_agent = ua;
	x.reported_domain = dom;
	x.rep_source_ip = c->client;
	memset(&a, 0, sizeof(a));
	a.type = "f";
	a.time_logged = c->now;
	if (from[0] == '<') {
		from[strcspn(from, ">")] = '\0';
		memmove(from, from + 1, strlen(from));
	}
	a.orig = from[0] ? from : NULL;
	a.rcpt = rcpt;
	a.dlv_src_ip = ip[0] ? ip : NULL;
	a.src_type = "smtp";
	a.src_mta = c->client;
	acct_write_ext(&a, &x);
	c->rows++;
	if (rcpt != NULL)
		suppress_add(rcpt, "complaint");
}

/* Not a report: qmail's format, or any text naming a reply. */
static void
in_text(struct in_ctx *c, const char *body, size_t len, int qmail)
{
	struct acct_extra x = { .format = qmail ? "qmail" : "text" };
	char diag[IN_VAL], rcpt[IN_VAL], *t, *line, *s, *e;
	const char *r = c->have_verp ? c->verp : NULL;
	int cls;

	if ((t = strndup(body, len)) == NULL)
		fatal("in_text");
	diag[0] = rcpt[0] = '\0';
	for (s = t; (line = strsep(&s, "\n")) != NULL;) {
		line[strcspn(line, "\r")] = '\0';
		/* qmail: "<joe@isp.example>:" then the remote's words */
		if (line[0] == '<' && (e = strstr(line, ">:")) != NULL &&
		    rcpt[0] == '\0') {
			snprintf(rcpt, sizeof(rcpt), "%.*s",
			    (int)(e - line - 1), line + 1);
			continue;
		}
		while (*line == ' ' || *line == '\t')
			line++;
		cls = line[0];
		if (diag[0] == '\0' && (cls == '4' || cls == '5') &&
		    isdigit((unsigned char)line[1]) &&
		    isdigit((unsigned char)line[2]) &&
		    (line[3] == ' ' || line[3] == '-'))
			snprintf(diag, sizeof(diag), "%s", line);
		else if (diag[0] == '\0' && rcpt[0] != '\0' && qmail &&
		    *line != '\0' && strstr(line, "#5.") != NULL)
			snprintf(diag, sizeof(diag), "%s", line);
	}
	free(t);
	if (r == NULL && rcpt[0] != '\0')
		r = rcpt;
	if (r == NULL || diag[0] == '\0')
		return;
	in_row(c, "rb", r, NULL, "failed", NULL, diag, NULL, NULL, &x);
}

int
inbound_process(const char *msg, size_t len, const char *to,
    const char *client, int64_t now)
{
	struct in_ctx c;
	struct in_part parts[8];
	char ct[IN_VAL], rt[64], bnd[200], pct[IN_VAL];
	size_t hl, phl;
	int n, i;
	const char *dsn = NULL, *arf = NULL, *orig = NULL;
	size_t dsnlen = 0, arflen = 0, origlen = 0;

	memset(&c, 0, sizeof(c));
	c.to = to;
	c.client = client;
	c.now = now;
	c.have_verp = verp_decode(to, c.verp, sizeof(c.verp)) != NULL;
	hl = msghdr_section_len(msg, len);
	in_header(msg, hl, "Content-Type", ct, sizeof(ct));
	if (strncasecmp(ct, "multipart/report", 16) == 0 &&
	    in_param(ct, "report-type", rt, sizeof(rt)) &&
	    in_param(ct, "boundary", bnd, sizeof(bnd))) {
		n = in_split(msg + hl, len - hl, bnd, parts, 8);
		for (i = 0; i < n; i++) {
			phl = msghdr_section_len(parts[i].p, parts[i].len);
			in_header(parts[i].p, phl, "Content-Type", pct,
			    sizeof(pct));
			if (strncasecmp(pct, "message/delivery-status", 23) ==
			    0) {
				dsn = parts[i].p + phl;
				dsnlen = parts[i].len - phl;
			} else if (strncasecmp(pct, "message/feedback-report",
			    23) == 0) {
				arf = parts[i].p + phl;
				arflen = parts[i].len - phl;
			} else if (strncasecmp(pct, "message/rfc822", 14) ==
			    0 || strncasecmp(pct, "text/rfc822-headers",
			    19) == 0) {
				orig = parts[i].p + phl;
				origlen = parts[i].len - phl;
			}
		}
		if (strcasecmp(rt, "feedback-report") == 0 && arf != NULL)
			in_arf(&c, arf, arflen, orig, origlen);
		else if (dsn != NULL)
			in_dsn(&c, dsn, dsnlen, orig, origlen);
	}
	if (c.rows == 0 && dsn == NULL && arf == NULL)
		in_text(&c, msg + hl, len - hl,
		    memmem(msg, len, "qmail-send", 10) != NULL);
	if (c.rows == 0)
		log_info("report to <%s> not understood: no row written", to);
	return c.rows;
}
