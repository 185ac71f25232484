/*
 * msghdr.c - RFC 5322 header pieces shared by smtpd and mgmtd (see
 * msghdr.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "msghdr.h"

void
msghdr_date(char *buf, size_t sz)
{
	struct tm tm;
	time_t now = time(NULL);

	localtime_r(&now, &tm);
	if (strftime(buf, sz, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		strlcpy(buf, "Thu, 01 Jan 1970 00:00:00 +0000", sz);
}

void
msghdr_message_id(char *buf, size_t sz, const char *qid, const char *host)
{
	snprintf(buf, sz, "<%s.%lld@%s>", qid, (long long)time(NULL), host);
}

void
msghdr_hostname(const struct cfg *cfg, char *buf, size_t sz)
{
	const char *host = cfg ? cfg_str(cfg->root, "host-name", NULL) : NULL;

	if (host != NULL && *host != '\0')
		strlcpy(buf, host, sz);
	else if (gethostname(buf, sz) == -1 || buf[0] == '\0')
		strlcpy(buf, "localhost", sz);
	buf[sz - 1] = '\0';
}

size_t
msghdr_field_len(const char *p, size_t n)
{
	const char *lf;
	size_t off = 0;

	while ((lf = memchr(p + off, '\n', n - off)) != NULL) {
		off = lf - p + 1;
		if (off >= n || (p[off] != ' ' && p[off] != '\t'))
			return off;
	}
	return n;
}

int
msghdr_field_is(const char *f, size_t nl, const char *name)
{
	return nl == strlen(name) && strncasecmp(f, name, nl) == 0;
}

char *
msghdr_value(const char *v, size_t n)
{
	char *out, *o;
	size_t i;

	if ((out = malloc(n + 1)) == NULL)
		fatal("msghdr_value");
	for (o = out, i = 0; i < n; i++)
		if (v[i] != '\r' && v[i] != '\n')
			*o++ = v[i] == '\t' ? ' ' : v[i];
	*o = '\0';
	while (o > out && o[-1] == ' ')
		*--o = '\0';
	for (o = out; *o == ' '; o++)
		;
	memmove(out, o, strlen(o) + 1);
	return out;
}

/* Does p (n octets left) start with the empty line? */
static size_t
msghdr_blank(const char *p, size_t n)
{
	if (n >= 1 && p[0] == '\n')
		return 1;
	if (n >= 2 && p[0] == '\r' && p[1] == '\n')
		return 2;
	return 0;
}

size_t
msghdr_section_len(const char *text, size_t n)
{
	size_t off = 0, b;

	while (off < n) {
		if ((b = msghdr_blank(text + off, n - off)) > 0)
			return off + b;
		off += msghdr_field_len(text + off, n - off);
	}
	return n;
}

int
msghdr_has(const char *hdr, size_t n, const char *name)
{
	const char *colon;
	size_t off = 0, f;

	while (off < n && msghdr_blank(hdr + off, n - off) == 0) {
		f = msghdr_field_len(hdr + off, n - off);
		if ((colon = memchr(hdr + off, ':', f)) != NULL &&
		    msghdr_field_is(hdr + off, colon - (hdr + off), name))
			return 1;
		off += f;
	}
	return 0;
}
