/*
 * smtp_cmd.c - the SMTP command parser (see smtp_cmd.h).
 *
 * Grammar: RFC 5321 4.1 (verbs, paths, Mailbox), RFC 1870 (SIZE),
 * RFC 6152 (BODY=8BITMIME), RFC 6531 (SMTPUTF8, UTF-8 in addresses),
 * RFC 3461 (RET, ENVID, NOTIFY, ORCPT), RFC 3030 (BDAT), RFC 4954 (AUTH).
 *
 * Everything is bounded by the input length; nothing is allocated.  This
 * file must not depend on libuv or libbsd: the fuzz target builds it alone.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "envelope.h"
#include "smtp_addr.h"
#include "smtp_cmd.h"

enum arg_kind {
	ARG_NONE,	/* nothing may follow the verb */
	ARG_OPT,	/* free text, optional */
	ARG_REQ,	/* free text, required */
	ARG_HELO,	/* one domain or address literal */
	ARG_MAIL,
	ARG_RCPT,
	ARG_BDAT,
	ARG_AUTH,
};

static const struct {
	const char	*name;
	enum smtp_verb	 verb;
	enum arg_kind	 kind;
} verbs[] = {
	{ "HELO",	SMTP_CMD_HELO,		ARG_HELO },
	{ "EHLO",	SMTP_CMD_EHLO,		ARG_HELO },
	{ "MAIL",	SMTP_CMD_MAIL,		ARG_MAIL },
	{ "RCPT",	SMTP_CMD_RCPT,		ARG_RCPT },
	{ "DATA",	SMTP_CMD_DATA,		ARG_NONE },
	{ "BDAT",	SMTP_CMD_BDAT,		ARG_BDAT },
	{ "RSET",	SMTP_CMD_RSET,		ARG_NONE },
	{ "NOOP",	SMTP_CMD_NOOP,		ARG_OPT },
	{ "QUIT",	SMTP_CMD_QUIT,		ARG_NONE },
	{ "HELP",	SMTP_CMD_HELP,		ARG_OPT },
	{ "VRFY",	SMTP_CMD_VRFY,		ARG_REQ },
	{ "EXPN",	SMTP_CMD_EXPN,		ARG_REQ },
	{ "STARTTLS",	SMTP_CMD_STARTTLS,	ARG_NONE },
	{ "AUTH",	SMTP_CMD_AUTH,		ARG_AUTH },
	{ "TURN",	SMTP_CMD_TURN,		ARG_OPT },
	{ "ETRN",	SMTP_CMD_ETRN,		ARG_OPT },
	{ "ATRN",	SMTP_CMD_ATRN,		ARG_OPT },
	{ "SEND",	SMTP_CMD_SEND,		ARG_OPT },
	{ "SOML",	SMTP_CMD_SOML,		ARG_OPT },
	{ "SAML",	SMTP_CMD_SAML,		ARG_OPT },
	{ "VERB",	SMTP_CMD_VERB,		ARG_OPT },
	{ "ONEX",	SMTP_CMD_ONEX,		ARG_OPT },
};

const char *
smtp_cmd_reply(int err)
{
	switch (err) {
	case SMTP_OK:		return "250 2.0.0 ok";
	case SMTP_ERR_UNKNOWN:	return "500 5.5.1 command unrecognized";
	case SMTP_ERR_TOOLONG:	return "500 5.5.2 line too long";
	case SMTP_ERR_NUL:	return "554 5.5.0 NUL byte in command";
	case SMTP_ERR_SENDER:	return "501 5.1.7 bad sender address syntax";
	case SMTP_ERR_RCPT:	return "501 5.1.3 bad recipient address syntax";
	case SMTP_ERR_PARAM:	return "555 5.5.4 unsupported parameter";
	case SMTP_ERR_SYNTAX:
	default:		return "501 5.5.4 syntax error in parameters";
	}
}

const char *
smtp_cmd_name(enum smtp_verb v)
{
	size_t i;

	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (verbs[i].verb == v)
			return verbs[i].name;
	return "?";
}

/* --- ESMTP parameters --- */

struct param {
	char		 key[32];
	const char	*val;		/* NULL if no "=" */
	size_t		 vlen;
};

static int
is_keychar(int c)
{
	return smtp_is_alpha(c) || smtp_is_digit(c) || c == '-';
}

static int
is_valuechar(int c)
{
	return c >= 33 && c <= 126 && c != '=';
}

/* One "keyword[=value]" at s->p (after the separating spaces). */
static int
next_param(struct span *s, struct param *pm)
{
	const unsigned char *k = s->p;
	size_t n;
	int u = 0;

	if (s->p >= s->end || (!smtp_is_alpha(*s->p) && !smtp_is_digit(*s->p)))
		return -1;
	while (s->p < s->end && is_keychar(*s->p))
		s->p++;
	if ((n = s->p - k) >= sizeof(pm->key))
		return -1;
	memcpy(pm->key, k, n);
	pm->key[n] = '\0';
	pm->val = NULL;
	pm->vlen = 0;
	if (s->p < s->end && *s->p == '=') {
		pm->val = (const char *)++s->p;
		while (smtp_take_char(s, is_valuechar, &u))
			;
		if ((pm->vlen = (const char *)s->p - pm->val) == 0)
			return -1;
	}
	if (s->p < s->end && *s->p != ' ')
		return -1;
	return 0;
}

static int
val_is(const struct param *pm, const char *word)
{
	return pm->vlen == strlen(word) &&
	    strncasecmp(pm->val, word, pm->vlen) == 0;
}

static int
parse_number(const char *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > 20)
		return -1;
	for (i = 0; i < n; i++) {
		if (!smtp_is_digit(p[i]) || v > (UINT64_MAX - (p[i] - '0')) / 10)
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return 0;
}

static int
is_hex(int c)
{
	return smtp_is_digit(c) || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

/* xtext (RFC 3461 4): printable ASCII but "+" and "=", or "+XX". */
static int
xtext_valid(const char *p, size_t n, int allow_utf8)
{
	const unsigned char *u = (const unsigned char *)p, *end = u + n;
	size_t l;

	while (u < end) {
		if (*u == '+') {
			if (end - u < 3 || !is_hex(u[1]) || !is_hex(u[2]))
				return -1;
			u += 3;
		} else if (*u >= 0x80 && allow_utf8 &&
		    (l = smtp_utf8_len(u, end)) != 0)
			u += l;
		else if (*u >= 33 && *u <= 126 && *u != '=')
			u++;
		else
			return -1;
	}
	return 0;
}

static void
copy_val(char *dst, const struct param *pm)
{
	memcpy(dst, pm->val, pm->vlen);
	dst[pm->vlen] = '\0';
}

#define SEEN_SIZE	0x01
#define SEEN_BODY	0x02
#define SEEN_UTF8	0x04
#define SEEN_RET	0x08
#define SEEN_ENVID	0x10
#define SEEN_NOTIFY	0x20
#define SEEN_ORCPT	0x40

static int
seen_once(unsigned *seen, unsigned bit)
{
	if (*seen & bit)
		return -1;
	*seen |= bit;
	return 0;
}

static int
mail_param(const struct param *pm, struct smtp_cmd *out, unsigned *seen)
{
	if (strcasecmp(pm->key, "SIZE") == 0) {
		if (seen_once(seen, SEEN_SIZE) || pm->val == NULL ||
		    parse_number(pm->val, pm->vlen, &out->size) == -1)
			return SMTP_ERR_SYNTAX;
		out->has_size = 1;
	} else if (strcasecmp(pm->key, "BODY") == 0) {
		if (seen_once(seen, SEEN_BODY) || pm->val == NULL)
			return SMTP_ERR_SYNTAX;
		if (val_is(pm, "7BIT"))
			out->body = SMTP_BODY_7BIT;
		else if (val_is(pm, "8BITMIME"))
			out->body = SMTP_BODY_8BITMIME;
		else if (val_is(pm, "BINARYMIME"))
			out->body = SMTP_BODY_BINARYMIME;
		else
			return SMTP_ERR_SYNTAX;
	} else if (strcasecmp(pm->key, "SMTPUTF8") == 0) {
		if (seen_once(seen, SEEN_UTF8) || pm->val != NULL)
			return SMTP_ERR_SYNTAX;
		out->smtputf8 = 1;
	} else if (strcasecmp(pm->key, "RET") == 0) {
		if (seen_once(seen, SEEN_RET) || pm->val == NULL)
			return SMTP_ERR_SYNTAX;
		if (val_is(pm, "FULL"))
			out->ret = RET_FULL;
		else if (val_is(pm, "HDRS"))
			out->ret = RET_HDRS;
		else
			return SMTP_ERR_SYNTAX;
	} else if (strcasecmp(pm->key, "ENVID") == 0) {
		if (seen_once(seen, SEEN_ENVID) || pm->val == NULL ||
		    pm->vlen > SMTP_ENVID_MAX ||
		    xtext_valid(pm->val, pm->vlen, 0) == -1)
			return SMTP_ERR_SYNTAX;
		copy_val(out->envid, pm);
	} else
		return SMTP_ERR_PARAM;
	return SMTP_OK;
}

static int
parse_notify(const struct param *pm, uint32_t *out)
{
	const char *p = pm->val, *end = pm->val + pm->vlen, *comma;
	struct param word;

	*out = 0;
	while (p < end) {
		if ((comma = memchr(p, ',', end - p)) == NULL)
			comma = end;
		word.val = p;
		word.vlen = comma - p;
		if (val_is(&word, "NEVER"))
			*out |= NOTIFY_NEVER;
		else if (val_is(&word, "SUCCESS"))
			*out |= NOTIFY_SUCCESS;
		else if (val_is(&word, "FAILURE"))
			*out |= NOTIFY_FAILURE;
		else if (val_is(&word, "DELAY"))
			*out |= NOTIFY_DELAY;
		else
			return -1;
		p = comma + 1;
		if (comma + 1 == end)
			return -1;	/* trailing comma */
	}
	/* NEVER stands alone (RFC 3461 4.1). */
	if (*out == 0 || ((*out & NOTIFY_NEVER) && *out != NOTIFY_NEVER))
		return -1;
	return 0;
}

/* ORCPT=addr-type;xtext (RFC 3461 4.2, RFC 6533 for utf-8). */
static int
orcpt_valid(const struct param *pm)
{
	const char *semi;
	size_t i, tlen;

	if (pm->vlen > SMTP_ORCPT_MAX ||
	    (semi = memchr(pm->val, ';', pm->vlen)) == NULL)
		return -1;
	if ((tlen = semi - pm->val) == 0)
		return -1;
	for (i = 0; i < tlen; i++)
		if (!smtp_is_atext((unsigned char)pm->val[i]))
			return -1;
	if (pm->vlen - tlen - 1 == 0)
		return -1;
	return xtext_valid(semi + 1, pm->vlen - tlen - 1, 1);
}

static int
rcpt_param(const struct param *pm, struct smtp_cmd *out, unsigned *seen)
{
	if (strcasecmp(pm->key, "NOTIFY") == 0) {
		if (seen_once(seen, SEEN_NOTIFY) || pm->val == NULL ||
		    parse_notify(pm, &out->notify) == -1)
			return SMTP_ERR_SYNTAX;
	} else if (strcasecmp(pm->key, "ORCPT") == 0) {
		if (seen_once(seen, SEEN_ORCPT) || pm->val == NULL ||
		    orcpt_valid(pm) == -1)
			return SMTP_ERR_SYNTAX;
		copy_val(out->orcpt, pm);
	} else
		return SMTP_ERR_PARAM;
	return SMTP_OK;
}

static void
skip_spaces(struct span *s)
{
	while (s->p < s->end && *s->p == ' ')
		s->p++;
}

static int
parse_params(struct span *s, struct smtp_cmd *out, int mail)
{
	struct param pm;
	unsigned seen = 0;
	int r;

	for (;;) {
		if (s->p < s->end && *s->p != ' ')
			return SMTP_ERR_SYNTAX;
		skip_spaces(s);
		if (s->p == s->end)
			return SMTP_OK;
		if (next_param(s, &pm) == -1)
			return SMTP_ERR_SYNTAX;
		r = mail ? mail_param(&pm, out, &seen) :
		    rcpt_param(&pm, out, &seen);
		if (r != SMTP_OK)
			return r;
	}
}

/* "FROM:<path> params" or "TO:<path> params". */
static int
parse_mailrcpt(struct span *s, struct smtp_cmd *out, int mail)
{
	const char *kw = mail ? "FROM:" : "TO:";
	size_t kwlen = strlen(kw);

	if ((size_t)(s->end - s->p) < kwlen ||
	    strncasecmp((const char *)s->p, kw, kwlen) != 0)
		return SMTP_ERR_SYNTAX;
	s->p += kwlen;
	skip_spaces(s);			/* "MAIL FROM: <a@b>" is common */
	if (smtp_parse_path(s, out, mail) == -1)
		return mail ? SMTP_ERR_SENDER : SMTP_ERR_RCPT;
	return parse_params(s, out, mail);
}

/* --- verbs --- */

static int
is_helochar(int c)
{
	return c > 32 && c < 127;
}

static int
parse_helo(struct span *s, struct smtp_cmd *out)
{
	const unsigned char *start = s->p;
	int u = 0;

	while (smtp_take_char(s, is_helochar, &u))
		;
	if (s->p == start || s->p != s->end || s->p - start > SMTP_DOMAIN_MAX)
		return SMTP_ERR_SYNTAX;
	memcpy(out->arg, start, s->p - start);
	out->arg[s->p - start] = '\0';
	return SMTP_OK;
}

static int
parse_bdat(struct span *s, struct smtp_cmd *out)
{
	const unsigned char *num = s->p;

	while (s->p < s->end && smtp_is_digit(*s->p))
		s->p++;
	if (parse_number((const char *)num, s->p - num, &out->chunk_size))
		return SMTP_ERR_SYNTAX;
	if (s->p == s->end)
		return SMTP_OK;
	if (*s->p != ' ')
		return SMTP_ERR_SYNTAX;
	skip_spaces(s);
	if (s->end - s->p == 4 && strncasecmp((const char *)s->p, "LAST",
	    4) == 0) {
		out->last = 1;
		return SMTP_OK;
	}
	return SMTP_ERR_SYNTAX;
}

static int
is_mechchar(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    smtp_is_digit(c) || c == '-' || c == '_';
}

static int
is_b64char(int c)
{
	return smtp_is_alpha(c) || smtp_is_digit(c) || c == '+' || c == '/' || c == '=';
}

static int
parse_auth(struct span *s, struct smtp_cmd *out)
{
	const unsigned char *start = s->p;
	size_t n;

	while (s->p < s->end && is_mechchar(*s->p))
		s->p++;
	if ((n = s->p - start) == 0 || n > 20)
		return SMTP_ERR_SYNTAX;
	memcpy(out->arg, start, n);
	out->arg[n] = '\0';
	if (s->p == s->end)
		return SMTP_OK;
	if (*s->p != ' ')
		return SMTP_ERR_SYNTAX;
	skip_spaces(s);
	start = s->p;
	while (s->p < s->end && is_b64char(*s->p))
		s->p++;
	if (s->p == start || s->p != s->end)
		return SMTP_ERR_SYNTAX;
	memcpy(out->auth_initial, start, s->p - start);
	out->auth_initial[s->p - start] = '\0';
	return SMTP_OK;
}

static int
parse_text(struct span *s, struct smtp_cmd *out)
{
	const unsigned char *q;
	size_t n = s->end - s->p;

	for (q = s->p; q < s->end; q++)
		if (*q < 32 && *q != '\t')
			return SMTP_ERR_SYNTAX;
	memcpy(out->arg, s->p, n);
	out->arg[n] = '\0';
	return SMTP_OK;
}

static int
parse_args(enum arg_kind kind, struct span *s, struct smtp_cmd *out)
{
	if (s->p == s->end) {
		switch (kind) {
		case ARG_NONE:
		case ARG_OPT:
			return SMTP_OK;
		default:
			return SMTP_ERR_SYNTAX;
		}
	}
	switch (kind) {
	case ARG_NONE:
		return SMTP_ERR_SYNTAX;
	case ARG_OPT:
	case ARG_REQ:
		return parse_text(s, out);
	case ARG_HELO:
		return parse_helo(s, out);
	case ARG_MAIL:
		return parse_mailrcpt(s, out, 1);
	case ARG_RCPT:
		return parse_mailrcpt(s, out, 0);
	case ARG_BDAT:
		return parse_bdat(s, out);
	case ARG_AUTH:
		return parse_auth(s, out);
	}
	return SMTP_ERR_SYNTAX;
}

int
smtp_cmd_parse_len(const char *line, size_t len, struct smtp_cmd *out)
{
	struct span s = { (const unsigned char *)line,
	    (const unsigned char *)line + len };
	const unsigned char *w;
	size_t i, n;

	memset(out, 0, sizeof(*out));
	out->ret = RET_DEFAULT;

	if (memchr(line, '\0', len) != NULL)
		return SMTP_ERR_NUL;
	if (len > SMTP_CMD_MAX)
		return SMTP_ERR_TOOLONG;
	/* Trailing blanks are noise some clients add. */
	while (s.end > s.p && (s.end[-1] == ' ' || s.end[-1] == '\t'))
		s.end--;
	for (w = s.p; w < s.end && smtp_is_alpha(*w); w++)
		;
	if (w == s.p || (w < s.end && *w != ' '))
		return SMTP_ERR_UNKNOWN;
	n = w - s.p;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strlen(verbs[i].name) != n ||
		    strncasecmp(verbs[i].name, (const char *)s.p, n) != 0)
			continue;
		out->verb = verbs[i].verb;
		s.p = w;
		skip_spaces(&s);
		return parse_args(verbs[i].kind, &s, out);
	}
	return SMTP_ERR_UNKNOWN;
}

int
smtp_cmd_parse(const char *line, struct smtp_cmd *out)
{
	return smtp_cmd_parse_len(line, strlen(line), out);
}
