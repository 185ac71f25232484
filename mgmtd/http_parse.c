/*
 * http_parse.c - the few bytes of a request that mgmtd reads itself
 * (h2o parses HTTP): the query string, HTTP Basic credentials, and the
 * lines of the htpasswd file.  No I/O and no state, so that the fuzz
 * target (tests/fuzz/fuzz_http_parse.c) can run them alone.
 */
#include <string.h>
#include <strings.h>
#include <openssl/evp.h>

#include "http.h"

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent- and plus-decode s[0..len) into out (outsz >= len + 1). */
static size_t
query_decode(const char *s, size_t len, char *out)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '+')
			out[n++] = ' ';
		else if (s[i] == '%' && i + 2 < len &&
		    hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			out[n++] = hexval(s[i + 1]) * 16 + hexval(s[i + 2]);
			i += 2;
		} else
			out[n++] = s[i];
	}
	out[n] = '\0';
	return n;
}

int
http_query_get(const char *q, size_t qlen, const char *name, char *out,
    size_t outsz)
{
	const char *end = q + qlen, *amp, *eq, *v;
	size_t nlen = strlen(name), vlen;

	for (; q < end; q = amp + 1) {
		if ((amp = memchr(q, '&', end - q)) == NULL)
			amp = end;
		eq = memchr(q, '=', amp - q);
		if ((size_t)((eq ? eq : amp) - q) == nlen &&
		    memcmp(q, name, nlen) == 0) {
			v = eq ? eq + 1 : amp;
			vlen = amp - v;
			if (vlen + 1 > outsz)
				return -1;
			return query_decode(v, vlen, out);
		}
		if (amp == end)
			break;
	}
	return -1;
}

int
http_basic_decode(const char *value, size_t len, char *user, size_t usz,
    char *pass, size_t psz)
{
	unsigned char dec[768];
	const char *colon;
	int n;

	if (len < 6 || strncasecmp(value, "Basic ", 6) != 0)
		return -1;
	value += 6;
	len -= 6;
	while (len > 0 && *value == ' ') {
		value++;
		len--;
	}
	while (len > 0 && value[len - 1] == ' ')
		len--;
	/* EVP_DecodeBlock wants whole quanta and writes 3 per 4. */
	if (len == 0 || len % 4 != 0 || len / 4 * 3 >= sizeof(dec))
		return -1;
	if ((n = EVP_DecodeBlock(dec, (const unsigned char *)value, len)) < 0)
		return -1;
	/* It counts the padding as data. */
	if (value[len - 1] == '=')
		n--;
	if (len > 1 && value[len - 2] == '=')
		n--;
	if (n < 0 || memchr(dec, '\0', n) != NULL ||
	    (colon = memchr(dec, ':', n)) == NULL)
		return -1;
	if ((size_t)(colon - (char *)dec) >= usz ||
	    (size_t)(n - (colon - (char *)dec) - 1) >= psz)
		return -1;
	memcpy(user, dec, colon - (char *)dec);
	user[colon - (char *)dec] = '\0';
	memcpy(pass, colon + 1, n - (colon - (char *)dec) - 1);
	pass[n - (colon - (char *)dec) - 1] = '\0';
	return 0;
}

int
http_htpasswd_line(char *line, char **user, char **hash)
{
	char *colon;

	line[strcspn(line, "\r")] = '\0';
	if (*line == '#' || *line == '\0' ||
	    (colon = strchr(line, ':')) == NULL || colon == line)
		return -1;
	*colon = '\0';
	*user = line;
	*hash = colon + 1;
	return 0;
}
