/*
 * inject_build.c - an HTTP injection request, validated and rendered.
 *
 *	{"envelope_sender": "bounces@example.com",
 *	 "content": "From: ...\r\nSubject: ...\r\n\r\nHello {{name}}",
 *	   or {"from": ..., "to": ..., "subject": ..., "text": ...,
 *	       "html": ..., "headers": {"Name": "value"}},
 *	 "recipients": [{"email": "a@example.org",
 *	                 "substitutions": {"name": "Ann"}}, ...],
 *	 "substitutions": {...},	defaults for every recipient
 *	 "vmta": "pool1", "job_id": "j1", "envelope_id": "e1"}
 *
 * {{name}} (spaces allowed inside the braces) is replaced by the
 * recipient's value, else the request's, else nothing.  Recipients
 * without substitutions of their own share one message (one spool file,
 * many recipients); each one with substitutions gets its own.
 *
 * Pure code: no I/O, no libuv; errors name the field, so that a 400
 * tells the caller what to fix.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "inject.h"
#include "log.h"
#include "msghdr.h"
#include "sbuf.h"

static int
fail(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
	return -1;
}

/* --- fields --- */

/* An address as RFC 5321 allows it in a path, loosely: something@domain,
 * no spaces, controls or brackets, UTF-8 allowed (SMTPUTF8). */
static int
addr_ok(const char *a)
{
	const char *at = strrchr(a, '@'), *p;
	size_t len = strlen(a);

	if (at == NULL || at == a || at[1] == '\0' || len >= MAX_ADDR ||
	    at - a > 64)
		return 0;
	for (p = a; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '<' ||
		    *p == '>' || *p == '(' || *p == ')' || *p == ',' ||
		    *p == ';' || *p == '\\')
			return 0;
	for (p = at + 1; *p != '\0'; p++)
		if (*p == '@')
			return 0;
	return 1;
}

static int
is_utf8_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

/* An optional printable ASCII string field of at most max octets. */
static int
opt_token(json_t *req, const char *name, size_t max, const char **out,
    char *err, size_t errsz)
{
	json_t *v = json_object_get(req, name);
	const char *s, *p;

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return fail(err, errsz, "%s: not a string", name);
	s = json_string_value(v);
	if (*s == '\0' || strlen(s) > max)
		return fail(err, errsz, "%s: empty or longer than %zu octets",
		    name, max);
	for (p = s; *p != '\0'; p++)
		if (*p <= ' ' || *p >= 0x7f)
			return fail(err, errsz, "%s: only printable ASCII "
			    "without spaces", name);
	*out = s;
	return 0;
}

/* Substitution values: an object of strings, numbers, booleans. */
static int
subs_ok(json_t *subs, const char *where, char *err, size_t errsz)
{
	const char *k;
	json_t *v;

	if (subs == NULL || json_is_null(subs))
		return 0;
	if (!json_is_object(subs))
		return fail(err, errsz, "%s: not an object", where);
	json_object_foreach(subs, k, v)
		if (!json_is_string(v) && !json_is_number(v) &&
		    !json_is_boolean(v) && !json_is_null(v))
			return fail(err, errsz, "%s.%s: not a string, number "
			    "or boolean", where, k);
	return 0;
}

static const char *known_fields[] = { "envelope_sender", "content",
	"recipients", "substitutions", "vmta", "job_id", "envelope_id",
	NULL };

static int
fields_known(json_t *req, char *err, size_t errsz)
{
	const char *k;
	json_t *v;
	int i;

	json_object_foreach(req, k, v) {
		for (i = 0; known_fields[i] != NULL; i++)
			if (strcmp(k, known_fields[i]) == 0)
				break;
		if (known_fields[i] == NULL)
			return fail(err, errsz, "%s: unknown field", k);
	}
	return 0;
}

static int
content_ok(json_t *c, char *err, size_t errsz)
{
	static const char *parts[] = { "from", "to", "subject", "text",
		"html", NULL };
	const char *k;
	json_t *v;
	int i;

	if (json_is_string(c))
		return *json_string_value(c) == '\0' ? fail(err, errsz,
		    "content: empty") : 0;
	if (!json_is_object(c))
		return fail(err, errsz, "content: neither the message text "
		    "nor an object of parts");
	json_object_foreach(c, k, v) {
		if (strcmp(k, "headers") == 0)
			continue;
		for (i = 0; parts[i] != NULL; i++)
			if (strcmp(k, parts[i]) == 0)
				break;
		if (parts[i] == NULL)
			return fail(err, errsz, "content.%s: unknown field", k);
		if (!json_is_string(v))
			return fail(err, errsz, "content.%s: not a string", k);
	}
	if (json_object_get(c, "from") == NULL)
		return fail(err, errsz, "content.from: missing");
	if (json_object_get(c, "text") == NULL &&
	    json_object_get(c, "html") == NULL)
		return fail(err, errsz, "content: needs text or html");
	if ((v = json_object_get(c, "headers")) == NULL)
		return 0;
	if (!json_is_object(v))
		return fail(err, errsz, "content.headers: not an object");
	json_object_foreach(v, k, c) {
		const char *p;

		if (*k == '\0' || strlen(k) > 76)
			return fail(err, errsz, "content.headers: bad name");
		for (p = k; *p != '\0'; p++)
			if (*p <= ' ' || *p >= 0x7f || *p == ':')
				return fail(err, errsz, "content.headers.%s: "
				    "not a field name", k);
		if (!json_is_string(c))
			return fail(err, errsz, "content.headers.%s: not a "
			    "string", k);
	}
	return 0;
}

static int
rcpts_ok(json_t *rs, char *err, size_t errsz)
{
	char where[64];
	json_t *r, *e;
	size_t i;

	if (!json_is_array(rs) || json_array_size(rs) == 0)
		return fail(err, errsz, "recipients: not a non-empty array");
	if (json_array_size(rs) > INJECT_MAX_RCPTS)
		return fail(err, errsz, "recipients: more than %d",
		    INJECT_MAX_RCPTS);
	json_array_foreach(rs, i, r) {
		if (!json_is_object(r))
			return fail(err, errsz, "recipients[%zu]: not an "
			    "object", i);
		e = json_object_get(r, "email");
		if (!json_is_string(e) || !addr_ok(json_string_value(e)))
			return fail(err, errsz, "recipients[%zu].email: not "
			    "an address", i);
		snprintf(where, sizeof(where), "recipients[%zu].substitutions",
		    i);
		if (subs_ok(json_object_get(r, "substitutions"), where, err,
		    errsz) == -1)
			return -1;
	}
	return 0;
}

static int
request_ok(json_t *req, inject_vmta_known known, struct inject_batch *b,
    char *err, size_t errsz)
{
	json_t *v;

	if (!json_is_object(req))
		return fail(err, errsz, "request: not a JSON object");
	if (fields_known(req, err, errsz) == -1)
		return -1;
	v = json_object_get(req, "envelope_sender");
	if (!json_is_string(v) || (*json_string_value(v) != '\0' &&
	    !addr_ok(json_string_value(v))))
		return fail(err, errsz, "envelope_sender: not an address");
	b->sender = json_string_value(v);
	if ((v = json_object_get(req, "content")) == NULL)
		return fail(err, errsz, "content: missing");
	if (content_ok(v, err, errsz) == -1 ||
	    rcpts_ok(json_object_get(req, "recipients"), err, errsz) == -1 ||
	    subs_ok(json_object_get(req, "substitutions"), "substitutions",
	    err, errsz) == -1 ||
	    opt_token(req, "vmta", 255, &b->vmta, err, errsz) == -1 ||
	    opt_token(req, "job_id", 255, &b->jobid, err, errsz) == -1 ||
	    opt_token(req, "envelope_id", 100, &b->envid, err, errsz) == -1)
		return -1;
	if (b->vmta != NULL && !known(b->vmta))
		return fail(err, errsz, "vmta: no <virtual-mta> or "
		    "<virtual-mta-pool> named %s", b->vmta);
	return 0;
}

/* --- rendering --- */

static json_t *
subs_lookup(json_t *own, json_t *all, const char *name, size_t n)
{
	char key[128];
	json_t *v;

	if (n >= sizeof(key))
		return NULL;
	memcpy(key, name, n);
	key[n] = '\0';
	if (own != NULL && (v = json_object_get(own, key)) != NULL)
		return v;
	return all != NULL ? json_object_get(all, key) : NULL;
}

static void
subs_value(struct sbuf *b, json_t *v)
{
	char num[64];

	if (json_is_string(v))
		sb_add(b, json_string_value(v), json_string_length(v));
	else if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%lld",
		    (long long)json_integer_value(v));
		sb_str(b, num);
	} else if (json_is_real(v)) {
		snprintf(num, sizeof(num), "%g", json_real_value(v));
		sb_str(b, num);
	} else if (json_is_boolean(v))
		sb_str(b, json_is_true(v) ? "true" : "false");
}

static int
name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

/* tmpl with every {{name}} replaced, appended to b. */
static void
subst(struct sbuf *b, const char *tmpl, json_t *own, json_t *all)
{
	const char *p = tmpl, *open, *s, *e, *close;

	while ((open = strstr(p, "{{")) != NULL) {
		sb_add(b, p, open - p);
		for (s = open + 2; *s == ' '; s++)
			;
		for (e = s; name_char(*e); e++)
			;
		for (close = e; *close == ' '; close++)
			;
		if (e == s || strncmp(close, "}}", 2) != 0) {
			sb_add(b, open, 2);	/* not a placeholder */
			p = open + 2;
			continue;
		}
		subs_value(b, subs_lookup(own, all, s, e - s));
		p = close + 2;
	}
	sb_str(b, p);
}

/* A header value: substituted, line breaks replaced by spaces (a value
 * never starts a field of its own). */
static char *
subst_header(const char *tmpl, json_t *own, json_t *all)
{
	struct sbuf b = { 0 };
	size_t i;

	sb_str(&b, "");
	subst(&b, tmpl, own, all);
	for (i = 0; i < b.len; i++)
		if (b.s[i] == '\r' || b.s[i] == '\n')
			b.s[i] = ' ';
	return b.s;
}

/* RFC 2047 for a non-ASCII Subject. */
static void
put_encoded_word(struct sbuf *b, const char *v)
{
	size_t n = strlen(v);
	char *out;

	if (is_utf8_ascii(v)) {
		sb_str(b, v);
		return;
	}
	if ((out = malloc(4 * ((n + 2) / 3) + 1)) == NULL)
		fatal("inject encoded word");
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)v, n);
	sb_str(b, "=?UTF-8?B?");
	sb_str(b, out);
	sb_str(b, "?=");
	free(out);
}

static void
put_field(struct sbuf *b, const char *name, const char *tmpl, json_t *own,
    json_t *all, int encode)
{
	char *v = subst_header(tmpl, own, all);

	sb_str(b, name);
	sb_str(b, ": ");
	if (encode)
		put_encoded_word(b, v);
	else
		sb_str(b, v);
	sb_str(b, "\r\n");
	free(v);
}

/* Quoted-printable (RFC 2045 6.7) for a part with 8-bit text or long
 * lines; line ends become CRLF. */
static void
put_qp(struct sbuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t col = 0;
	char enc[3];
	unsigned char c;

	for (; *s != '\0'; s++) {
		c = *s;
		if (c == '\r' && s[1] == '\n')
			continue;
		if (c == '\n') {
			sb_str(b, "\r\n");
			col = 0;
			continue;
		}
		if (col >= 73) {
			sb_str(b, "=\r\n");
			col = 0;
		}
		if ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' ||
		    c == '\t') && s[1] != '\n' && s[1] != '\r' &&
		    s[1] != '\0')) {
			sb_add(b, (const char *)&c, 1);
			col++;
			continue;
		}
		enc[0] = '=';
		enc[1] = hex[c >> 4];
		enc[2] = hex[c & 15];
		sb_add(b, enc, 3);
		col += 3;
	}
}

static int
needs_qp(const char *s)
{
	size_t col = 0;

	for (; *s != '\0'; s++) {
		if ((unsigned char)*s >= 0x80 || *s == '\r')
			return 1;
		col = *s == '\n' ? 0 : col + 1;
		if (col > INJECT_LINE_MAX)
			return 1;
	}
	return 0;
}

static void
put_part(struct sbuf *b, const char *type, const char *tmpl, json_t *own,
    json_t *all)
{
	struct sbuf body = { 0 };

	sb_str(&body, "");
	subst(&body, tmpl, own, all);
	sb_str(b, "Content-Type: ");
	sb_str(b, type);
	sb_str(b, "; charset=utf-8\r\n");
	if (needs_qp(body.s)) {
		sb_str(b, "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
		put_qp(b, body.s);
	} else {
		sb_str(b, "Content-Transfer-Encoding: 7bit\r\n\r\n");
		sb_str(b, body.s);	/* normalize() makes the CRLFs */
	}
	if (b->len < 2 || memcmp(b->s + b->len - 2, "\r\n", 2) != 0)
		sb_str(b, "\r\n");
	sb_free(&body);
}

/* The message from parts: headers, then one part or an alternative. */
static void
render_parts(struct sbuf *b, json_t *c, const char *rcpt, json_t *own,
    json_t *all)
{
	json_t *text = json_object_get(c, "text");
	json_t *html = json_object_get(c, "html");
	json_t *v, *hs = json_object_get(c, "headers");
	char date[64], boundary[64];
	const char *k;

	put_field(b, "From", json_string_value(json_object_get(c, "from")),
	    own, all, 0);
	if ((v = json_object_get(c, "to")) != NULL)
		put_field(b, "To", json_string_value(v), own, all, 0);
	else
		put_field(b, "To", rcpt ? rcpt : "undisclosed-recipients:;",
		    NULL, NULL, 0);
	if ((v = json_object_get(c, "subject")) != NULL)
		put_field(b, "Subject", json_string_value(v), own, all, 1);
	msghdr_date(date, sizeof(date));
	put_field(b, "Date", date, NULL, NULL, 0);
	sb_str(b, "MIME-Version: 1.0\r\n");
	json_object_foreach(hs, k, v)
		put_field(b, k, json_string_value(v), own, all, 0);
	if (text == NULL || html == NULL) {
		put_part(b, text ? "text/plain" : "text/html",
		    json_string_value(text ? text : html), own, all);
		return;
	}
	snprintf(boundary, sizeof(boundary), "=_tern_%08x%08x",
	    arc4random(), arc4random());
	sb_str(b, "Content-Type: multipart/alternative; boundary=\"");
	sb_str(b, boundary);
	sb_str(b, "\"\r\n\r\n--");
	sb_str(b, boundary);
	sb_str(b, "\r\n");
	put_part(b, "text/plain", json_string_value(text), own, all);
	sb_str(b, "--");
	sb_str(b, boundary);
	sb_str(b, "\r\n");
	put_part(b, "text/html", json_string_value(html), own, all);
	sb_str(b, "--");
	sb_str(b, boundary);
	sb_str(b, "--\r\n");
}

/* The text as stored: CRLF line ends, no NUL, no line over 998. */
static int
normalize(struct sbuf *out, const char *s, size_t n, uint32_t *flags,
    const char *who, char *err, size_t errsz)
{
	size_t i, col = 0, line = 1;

	for (i = 0; i < n; i++) {
		unsigned char c = s[i];

		if (c == '\0')
			return fail(err, errsz, "%s: a NUL octet", who);
		if (c >= 0x80)
			*flags |= ENV_8BITMIME;
		if (c == '\r' && i + 1 < n && s[i + 1] == '\n')
			continue;
		if (c == '\n') {
			sb_add(out, "\r\n", 2);
			col = 0;
			line++;
			continue;
		}
		if (++col > INJECT_LINE_MAX)
			return fail(err, errsz, "%s: line %zu is longer than "
			    "%d octets", who, line, INJECT_LINE_MAX);
		sb_add(out, (const char *)&c, 1);
	}
	if (out->len < 2 || memcmp(out->s + out->len - 2, "\r\n", 2) != 0)
		sb_add(out, "\r\n", 2);
	return 0;
}

/* Message m for the recipient rcpt (NULL: the shared message). */
static int
render(struct inject_batch *b, struct inject_msg *m, const char *rcpt,
    json_t *own, const char *who, size_t *total, char *err, size_t errsz)
{
	json_t *c = json_object_get(b->req, "content");
	json_t *all = json_object_get(b->req, "substitutions");
	struct sbuf raw = { 0 }, out = { 0 };
	char date[64];
	size_t hlen;
	int r;

	sb_str(&raw, "");
	sb_str(&out, "");
	if (json_is_string(c))
		subst(&raw, json_string_value(c), own, all);
	else
		render_parts(&raw, c, rcpt, own, all);
	r = normalize(&out, raw.s, raw.len, &m->flags, who, err, errsz);
	sb_free(&raw);
	if (r == 0 && (*total += out.len) > INJECT_MAX_TOTAL)
		r = fail(err, errsz, "content: %zu messages of this size "
		    "exceed %d octets", b->nmsg, INJECT_MAX_TOTAL);
	if (r == -1) {
		sb_free(&out);
		return -1;
	}
	hlen = msghdr_section_len(out.s, out.len);
	m->has_msgid = msghdr_has(out.s, hlen, "Message-ID");
	if (!msghdr_has(out.s, hlen, "Date")) {
		struct sbuf d = { 0 };

		msghdr_date(date, sizeof(date));
		sb_str(&d, "Date: ");
		sb_str(&d, date);
		sb_str(&d, "\r\n");
		sb_add(&d, out.s, out.len);
		sb_free(&out);
		out = d;
	}
	m->text = out.s;
	m->len = out.len;
	return 0;
}

static int
has_own(json_t *r)
{
	json_t *s = json_object_get(r, "substitutions");

	return json_is_object(s) && json_object_size(s) > 0;
}

/* Messages: one per recipient with substitutions, one for the rest. */
static void
plan(struct inject_batch *b)
{
	json_t *rs = json_object_get(b->req, "recipients"), *r;
	size_t i, nown = 0, k = 0;
	struct inject_msg *shared = NULL;

	json_array_foreach(rs, i, r)
		nown += has_own(r);
	b->nrcpt = json_array_size(rs);
	b->nmsg = nown + (nown < b->nrcpt);
	if ((b->msgs = calloc(b->nmsg, sizeof(*b->msgs))) == NULL)
		fatal("inject plan");
	if (nown < b->nrcpt) {
		shared = &b->msgs[b->nmsg - 1];
		if ((shared->rcpts = calloc(b->nrcpt - nown,
		    sizeof(char *))) == NULL)
			fatal("inject plan");
	}
	json_array_foreach(rs, i, r) {
		const char *a = json_string_value(json_object_get(r, "email"));
		struct inject_msg *m = has_own(r) ? &b->msgs[k++] : shared;

		if (m != shared && (m->rcpts = calloc(1, sizeof(char *))) ==
		    NULL)
			fatal("inject plan");
		m->rcpts[m->nrcpt++] = a;
		if (!is_utf8_ascii(a))
			m->flags |= ENV_SMTPUTF8;
	}
}

int
inject_build(json_t *req, inject_vmta_known known, struct inject_batch *b,
    char *err, size_t errsz)
{
	json_t *rs, *r;
	size_t i, k = 0, total = 0;
	char who[64];

	memset(b, 0, sizeof(*b));
	b->req = json_incref(req);
	if (request_ok(req, known, b, err, errsz) == -1)
		return -1;
	plan(b);
	rs = json_object_get(req, "recipients");
	json_array_foreach(rs, i, r) {
		json_t *own = json_object_get(r, "substitutions");

		if (!has_own(r))
			continue;
		snprintf(who, sizeof(who), "content (for recipients[%zu])", i);
		if (render(b, &b->msgs[k], b->msgs[k].rcpts[0], own, who,
		    &total, err, errsz) == -1)
			return -1;
		k++;
	}
	if (k < b->nmsg && render(b, &b->msgs[k], b->msgs[k].nrcpt == 1 ?
	    b->msgs[k].rcpts[0] : NULL, NULL, "content", &total, err,
	    errsz) == -1)
		return -1;
	if (!is_utf8_ascii(b->sender))
		for (i = 0; i < b->nmsg; i++)
			b->msgs[i].flags |= ENV_SMTPUTF8;
	return 0;
}

void
inject_batch_free(struct inject_batch *b)
{
	size_t i;

	for (i = 0; i < b->nmsg; i++) {
		free(b->msgs[i].text);
		free(b->msgs[i].rcpts);
	}
	free(b->msgs);
	json_decref(b->req);
	memset(b, 0, sizeof(*b));
}
