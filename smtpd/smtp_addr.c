/*
 * smtp_addr.c - address syntax: mailboxes, domains, address literals and
 * the <path> of MAIL and RCPT (RFC 5321 4.1.2, RFC 6531 for UTF-8).
 *
 * Split from smtp_cmd.c; the same rules apply: bounded by the input,
 * nothing allocated, no dependency on libuv or libbsd (the fuzz target
 * builds it alone).
 */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "smtp_addr.h"

/* --- character classes --- */

int
smtp_is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int
smtp_is_digit(int c)
{
	return c >= '0' && c <= '9';
}

int
smtp_is_atext(int c)
{
	return smtp_is_alpha(c) || smtp_is_digit(c) || (c != 0 &&
	    strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* Length of the well-formed UTF-8 sequence at p (a non-ASCII lead octet),
 * or 0: no overlongs, no surrogates, nothing above U+10FFFF. */
size_t
smtp_utf8_len(const unsigned char *p, const unsigned char *end)
{
	size_t n, i;
	unsigned c = p[0], lo = 0x80, hi = 0xbf;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/* Step over one character of class ok() or one UTF-8 character; 0 if
 * the octet at s->p is neither. */
int
smtp_take_char(struct span *s, int (*ok)(int), int *utf8)
{
	size_t n;

	if (s->p >= s->end)
		return 0;
	if (*s->p < 0x80) {
		if (!ok(*s->p))
			return 0;
		s->p++;
		return 1;
	}
	if ((n = smtp_utf8_len(s->p, s->end)) == 0)
		return 0;
	*utf8 = 1;
	s->p += n;
	return 1;
}

/* --- addresses --- */

static int
local_dotstring(struct span *s, int *utf8)
{
	for (;;) {
		if (!smtp_take_char(s, smtp_is_atext, utf8))
			return -1;
		while (smtp_take_char(s, smtp_is_atext, utf8))
			;
		if (s->p < s->end && *s->p == '.') {
			s->p++;
			continue;
		}
		return 0;
	}
}

static int
is_qtext(int c)
{
	return c == 32 || c == 33 || (c >= 35 && c <= 91) ||
	    (c >= 93 && c <= 126);
}

static int
local_quoted(struct span *s, int *utf8)
{
	s->p++;				/* DQUOTE */
	while (s->p < s->end) {
		if (*s->p == '"') {
			s->p++;
			return 0;
		}
		if (*s->p == '\\') {
			if (s->end - s->p < 2 || s->p[1] < 32 || s->p[1] > 126)
				return -1;
			s->p += 2;
			continue;
		}
		if (!smtp_take_char(s, is_qtext, utf8))
			return -1;
	}
	return -1;
}

static int
is_ldh(int c)
{
	/* '_' is not in RFC 5321, but real host names carry it. */
	return smtp_is_alpha(c) || smtp_is_digit(c) || c == '-' || c == '_';
}

static int
domain_name(struct span *s, int *utf8)
{
	const unsigned char *start = s->p, *label;

	for (;;) {
		label = s->p;
		while (smtp_take_char(s, is_ldh, utf8))
			;
		if (s->p == label || s->p - label > 63 ||
		    *label == '-' || s->p[-1] == '-')
			return -1;
		if (s->p < s->end && *s->p == '.') {
			s->p++;
			continue;
		}
		break;
	}
	return s->p - start > SMTP_DOMAIN_MAX ? -1 : 0;
}

static int
is_dcontent(int c)
{
	return (c >= 33 && c <= 90) || (c >= 94 && c <= 126);
}

/* "[1.2.3.4]", "[IPv6:...]" or "[tag:text]" (RFC 5321 4.1.3). */
static int
address_literal(struct span *s)
{
	const unsigned char *in, *close;
	char buf[64];
	struct in6_addr a6;
	size_t n;

	in = s->p + 1;
	if ((close = memchr(in, ']', s->end - in)) == NULL)
		return -1;
	n = close - in;
	s->p = close + 1;
	if (n == 0 || n >= sizeof(buf))
		goto general;
	memcpy(buf, in, n);
	buf[n] = '\0';
	if (smtp_is_digit(buf[0]))
		return inet_pton(AF_INET, buf, &a6) == 1 ? 0 : -1;
	if (strncasecmp(buf, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, buf + 5, &a6) == 1 ? 0 : -1;
general:
	/* General-address-literal: Standardized-tag ":" 1*dcontent */
	{
		struct span t = { in, close };
		int u = 0;

		while (t.p < t.end && is_ldh(*t.p) && *t.p != '_')
			t.p++;
		if (t.p == in || t.p >= t.end || *t.p != ':' || t.p[-1] == '-')
			return -1;
		t.p++;
		if (t.p == t.end)
			return -1;
		while (smtp_take_char(&t, is_dcontent, &u))
			;
		return u || t.p != t.end ? -1 : 0;
	}
}

int
smtp_addr_valid(const char *addr, size_t len, int *utf8)
{
	struct span s = { (const unsigned char *)addr,
	    (const unsigned char *)addr + len };
	int u = 0, r;

	if (len == 0 || len > SMTP_ADDR_MAX)
		return -1;
	r = *s.p == '"' ? local_quoted(&s, &u) : local_dotstring(&s, &u);
	if (r == -1 || s.p >= s.end || *s.p != '@')
		return -1;
	s.p++;
	if (s.p < s.end && *s.p == '[') {
		if (address_literal(&s) == -1)
			return -1;
	} else if (domain_name(&s, &u) == -1)
		return -1;
	if (s.p != s.end)
		return -1;
	if (utf8)
		*utf8 = u;
	return 0;
}

/* The mailbox inside <...>: find the closing bracket, stepping over
 * quoted strings, where '>' may appear. */
static const unsigned char *
path_end(const unsigned char *p, const unsigned char *end)
{
	int quoted = 0;

	for (; p < end; p++) {
		if (quoted && *p == '\\' && p + 1 < end)
			p++;
		else if (*p == '"')
			quoted = !quoted;
		else if (!quoted && *p == '>')
			return p;
	}
	return NULL;
}

/* Skip an obsolete source route "@a,@b:" (RFC 5321 4.1.2: accept, ignore). */
static int
skip_route(struct span *s)
{
	int u = 0;

	for (;;) {
		if (s->p >= s->end || *s->p != '@')
			return -1;
		s->p++;
		if (domain_name(s, &u) == -1)
			return -1;
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			continue;
		}
		if (s->p < s->end && *s->p == ':') {
			s->p++;
			return 0;
		}
		return -1;
	}
}

/* "<path>" at s->p; fills out->addr.  MAIL allows <>, RCPT <postmaster>. */
int
smtp_parse_path(struct span *s, struct smtp_cmd *out, int mail)
{
	const unsigned char *close;
	struct span in;
	size_t n;

	if (s->p >= s->end || *s->p != '<')
		return -1;
	in.p = s->p + 1;
	if ((close = path_end(in.p, s->end)) == NULL)
		return -1;
	in.end = close;
	s->p = close + 1;
	if (in.p == in.end)
		return mail ? 0 : -1;
	if (*in.p == '@' && skip_route(&in) == -1)
		return -1;
	n = in.end - in.p;
	if (!mail && n == 10 && strncasecmp((const char *)in.p, "postmaster",
	    10) == 0) {
		out->is_postmaster = 1;
		memcpy(out->addr, in.p, n);
		out->addr[n] = '\0';
		return 0;
	}
	if (smtp_addr_valid((const char *)in.p, n, &out->addr_utf8) == -1)
		return -1;
	memcpy(out->addr, in.p, n);
	out->addr[n] = '\0';
	return 0;
}
