/*
 * verp.c - VERP addresses (format in verp.h).
 */
#include <stdio.h>
#include <string.h>

#include "verp.h"

const char *
verp_encode(const char *sender, const char *rcpt, const char *domain,
    char *buf, size_t bufsz)
{
	const char *at, *rat, *p;
	size_t o = 0;

	if ((at = strrchr(sender, '@')) == NULL ||
	    (rat = strrchr(rcpt, '@')) == NULL || bufsz == 0)
		return NULL;
	for (p = sender; p < at; p++) {
		if (o + 2 >= bufsz)
			return NULL;
		if (*p == '-')
			buf[o++] = '-';
		buf[o++] = *p;
	}
	if ((size_t)snprintf(buf + o, bufsz - o, "-%.*s=%s@%s",
	    (int)(rat - rcpt), rcpt, rat + 1, domain ? domain : at + 1) >=
	    bufsz - o)
		return NULL;
	return buf;
}

const char *
verp_decode(const char *addr, char *buf, size_t bufsz)
{
	const char *at, *eq, *dash;

	if (addr == NULL || (at = strrchr(addr, '@')) == NULL)
		return NULL;
	for (eq = at; eq > addr && *eq != '='; eq--)
		;
	if (*eq != '=' || eq + 1 == at)
		return NULL;
	/* The first '-' that is not part of a doubled "--". */
	for (dash = addr; dash < eq; dash++) {
		if (*dash != '-')
			continue;
		if (dash + 1 < eq && dash[1] == '-') {
			dash++;
			continue;
		}
		break;
	}
	if (dash >= eq || dash + 1 == eq || dash == addr)
		return NULL;
	if (snprintf(buf, bufsz, "%.*s@%.*s", (int)(eq - dash - 1), dash + 1,
	    (int)(at - eq - 1), eq + 1) >= (int)bufsz)
		return NULL;
	return buf;
}
