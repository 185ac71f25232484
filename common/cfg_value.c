/*
 * cfg_value.c - the value types of the configuration language.
 *
 * Each parser takes one token (already unquoted by the lexer), accepts
 * exactly the syntax PowerMTA documents and nothing looser, and on error
 * leaves a static hint in *err that the parser quotes back to the
 * operator ("bad rate "10/x" (expected ...)").
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfg.h"

#define HINT_BOOL	"expected yes, no, true, false, on or off"
#define HINT_INT	"expected a non-negative integer"
#define HINT_TIME	"expected a time such as 30s, 10m, 4d12h or 1w"
#define HINT_SIZE	"expected a size such as 512k, 50M, 2g or unlimited"
#define HINT_RATE	"expected N/[M]unit, e.g. 100/h or 100/15m"
#define HINT_CIDR	"expected an address or CIDR such as 1.2.3.4, 10/8 or ::1/128"
#define HINT_HOST	"expected host, host:port, 1.2.3.4:25 or [IPv6]:port"
#define HINT_LISTEN	"expected IP:PORT, CIDR:PORT or [IPv6]:PORT"
#define HINT_BIG	"value too large"

int
cfg_parse_bool(const char *s, int *out, const char **err)
{
	static const char *yes[] = { "yes", "true", "on" };
	static const char *no[] = { "no", "false", "off" };
	size_t i;

	for (i = 0; i < 3; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	*err = HINT_BOOL;
	return -1;
}

/* Leading decimal digits of *sp into *out; advances *sp.  -1 when there
 * is no digit, -2 on overflow of `max`. */
static int
cfg_digits(const char **sp, uint64_t max, uint64_t *out)
{
	const char *s = *sp;
	uint64_t v = 0;

	if (!isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++) {
		if (v > (max - (uint64_t)(*s - '0')) / 10)
			return -2;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*sp = s;
	*out = v;
	return 0;
}

int
cfg_parse_int(const char *s, int64_t *out, const char **err)
{
	uint64_t v;
	int r;

	if ((r = cfg_digits(&s, INT64_MAX, &v)) != 0 || *s != '\0') {
		*err = r == -2 ? HINT_BIG : HINT_INT;
		return -1;
	}
	*out = (int64_t)v;
	return 0;
}

static int64_t
cfg_time_unit(int c)
{
	switch (tolower(c)) {
	case 'w':
		return 7 * 86400;
	case 'd':
		return 86400;
	case 'h':
		return 3600;
	case 'm':
		return 60;
	case 's':
		return 1;
	}
	return 0;
}

int
cfg_parse_time(const char *s, int64_t *secs, const char **err)
{
	uint64_t n, total = 0;
	int64_t unit;
	int r;

	if (*s == '\0')
		goto bad;
	/* A bare number is seconds. */
	if ((r = cfg_digits(&s, INT64_MAX, &n)) == 0 && *s == '\0') {
		*secs = (int64_t)n;
		return 0;
	}
	if (r == -2)
		goto big;
	if (r == -1)
		goto bad;
	/* Otherwise every number carries a unit: 1w2d12h30m10s. */
	for (;;) {
		if ((unit = cfg_time_unit(*s)) == 0)
			goto bad;
		s++;
		if (n > (uint64_t)INT64_MAX / (uint64_t)unit ||
		    total > (uint64_t)INT64_MAX - n * (uint64_t)unit)
			goto big;
		total += n * (uint64_t)unit;
		if (*s == '\0')
			break;
		if ((r = cfg_digits(&s, INT64_MAX, &n)) != 0)
			goto bad_or_big;
	}
	*secs = (int64_t)total;
	return 0;
 bad_or_big:
	if (r == -2)
		goto big;
 bad:
	*err = HINT_TIME;
	return -1;
 big:
	*err = HINT_BIG;
	return -1;
}

int
cfg_parse_timelist(const char *s, int64_t *out, int max, int *n,
    const char **err)
{
	char item[64];
	const char *e;
	size_t len;
	int count = 0;

	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		e = s + strcspn(s, ",");
		len = (size_t)(e - s);
		while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;
		if (len == 0 || len >= sizeof(item)) {
			*err = "expected a comma separated list of times, e.g. 1m,5m,10m";
			return -1;
		}
		if (count == max) {
			*err = "too many entries in the list";
			return -1;
		}
		memcpy(item, s, len);
		item[len] = '\0';
		if (cfg_parse_time(item, &out[count], err) == -1)
			return -1;
		count++;
		if (*e == '\0')
			break;
		s = e + 1;
	}
	*n = count;
	return 0;
}

int
cfg_parse_size(const char *s, uint64_t *bytes, const char **err)
{
	uint64_t n, mult = 1;
	int r;

	if (strcasecmp(s, "unlimited") == 0) {
		*bytes = UINT64_MAX;
		return 0;
	}
	if ((r = cfg_digits(&s, UINT64_MAX, &n)) != 0) {
		*err = r == -2 ? HINT_BIG : HINT_SIZE;
		return -1;
	}
	switch (tolower((unsigned char)*s)) {
	case '\0':
	case 'b':
		break;
	case 't':
		mult <<= 10;
		/* FALLTHROUGH */
	case 'g':
		mult <<= 10;
		/* FALLTHROUGH */
	case 'm':
		mult <<= 10;
		/* FALLTHROUGH */
	case 'k':
		mult <<= 10;
		break;
	default:
		*err = HINT_SIZE;
		return -1;
	}
	if (*s != '\0' && s[1] != '\0') {
		*err = HINT_SIZE;
		return -1;
	}
	if (n > UINT64_MAX / mult) {
		*err = HINT_BIG;
		return -1;
	}
	*bytes = n * mult;
	return 0;
}

static uint64_t
cfg_rate_unit(const char *u)
{
	static const struct {
		const char	*name;
		uint64_t	 secs;
	} units[] = {
		{ "d", 86400 }, { "day", 86400 },
		{ "h", 3600 }, { "hr", 3600 }, { "hour", 3600 },
		{ "m", 60 }, { "min", 60 },
		{ "s", 1 }, { "sec", 1 },
	};
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcasecmp(u, units[i].name) == 0)
			return units[i].secs;
	return 0;
}

int
cfg_parse_rate(const char *s, struct cfg_rate *r, const char **err)
{
	uint64_t count, mult = 1, unit;
	int e;

	memset(r, 0, sizeof(*r));
	if (strcasecmp(s, "unlimited") == 0 || strcmp(s, "0") == 0) {
		r->unlimited = 1;
		return 0;
	}
	if ((e = cfg_digits(&s, UINT32_MAX, &count)) != 0 || *s++ != '/')
		goto bad;
	/* Optional multiplier of the unit: 100/15m, 83/5s. */
	if (isdigit((unsigned char)*s) &&
	    ((e = cfg_digits(&s, UINT32_MAX, &mult)) != 0 || mult == 0))
		goto bad;
	if ((unit = cfg_rate_unit(s)) == 0)
		goto bad;
	/* PowerMTA: 0 means no limit, whatever the window. */
	if (count == 0) {
		r->unlimited = 1;
		return 0;
	}
	r->count = count;
	r->per_secs = mult * unit;
	return 0;
 bad:
	*err = e == -2 ? HINT_BIG : HINT_RATE;
	return -1;
}

/* IPv4 in the PowerMTA short form: 1 to 4 octets ("10", "192.168"). */
static int
cfg_parse_v4(const char *s, uint8_t *addr, int *noctets)
{
	uint64_t v;
	int n = 0;

	memset(addr, 0, 4);
	for (;;) {
		if (n == 4 || cfg_digits(&s, 255, &v) != 0)
			return -1;
		addr[n++] = (uint8_t)v;
		if (*s == '\0')
			break;
		if (*s++ != '.')
			return -1;
	}
	*noctets = n;
	return 0;
}

int
cfg_parse_cidr(const char *s, struct cfg_cidr *c, const char **err)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash, *p;
	uint64_t bits = 0;
	size_t len;
	int n, i, max;

	memset(c, 0, sizeof(*c));
	slash = strchr(s, '/');
	len = slash != NULL ? (size_t)(slash - s) : strlen(s);
	if (len == 0 || len >= sizeof(buf))
		goto bad;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (strchr(buf, ':') != NULL) {
		if (inet_pton(AF_INET6, buf, c->addr) != 1)
			goto bad;
		c->af = AF_INET6;
		max = 128;
	} else {
		if (cfg_parse_v4(buf, c->addr, &n) == -1)
			goto bad;
		/* Short forms only with a mask: "10/8", not "10". */
		if (n != 4 && slash == NULL)
			goto bad;
		c->af = AF_INET;
		max = 32;
	}
	c->bits = max;
	if (slash != NULL) {
		p = slash + 1;
		if (cfg_digits(&p, (uint64_t)max, &bits) != 0 || *p != '\0')
			goto bad;
		c->bits = (int)bits;
	}
	/* Keep the network only, so comparisons need no mask of their own. */
	for (i = 0; i < 16; i++) {
		if (i * 8 >= c->bits)
			c->addr[i] = 0;
		else if (i * 8 + 8 > c->bits)
			c->addr[i] &= (uint8_t)(0xff << (8 - (c->bits - i * 8)));
	}
	return 0;
 bad:
	*err = HINT_CIDR;
	return -1;
}

static int
cfg_prefix_eq(const uint8_t *a, const uint8_t *b, int bits)
{
	int full = bits / 8, rest = bits % 8;
	uint8_t m;

	if (memcmp(a, b, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	m = (uint8_t)(0xff << (8 - rest));
	return (a[full] & m) == (b[full] & m);
}

static const uint8_t v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/*
 * IPv4 clients also match IPv4-mapped IPv6 prefixes and vice versa, and
 * 0/0 (the catch-all <source 0/0>) matches every address of either
 * family, as operators expect of "the default source".
 */
int
cfg_cidr_match(const struct cfg_cidr *c, const struct sockaddr *sa)
{
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;
	uint8_t a[16];

	if (c->bits == 0)
		return sa->sa_family == AF_INET || sa->sa_family == AF_INET6;
	if (sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)sa;
		if (c->af == AF_INET)
			return cfg_prefix_eq(c->addr,
			    (const uint8_t *)&sin->sin_addr, c->bits);
		memcpy(a, v4mapped, 12);
		memcpy(a + 12, &sin->sin_addr, 4);
		return cfg_prefix_eq(c->addr, a, c->bits);
	}
	if (sa->sa_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)sa;
		memcpy(a, &sin6->sin6_addr, 16);
		if (c->af == AF_INET6)
			return cfg_prefix_eq(c->addr, a, c->bits);
		if (memcmp(a, v4mapped, 12) == 0)
			return cfg_prefix_eq(c->addr, a + 12, c->bits);
	}
	return 0;
}

static int
cfg_parse_port(const char *s, int *port)
{
	uint64_t v;

	if (cfg_digits(&s, 65535, &v) != 0 || *s != '\0' || v == 0)
		return -1;
	*port = (int)v;
	return 0;
}

static int
cfg_valid_hostname(const char *h)
{
	size_t i;

	if (*h == '\0' || *h == '.' || *h == '-')
		return 0;
	for (i = 0; h[i] != '\0'; i++)
		if (!isalnum((unsigned char)h[i]) && h[i] != '.' &&
		    h[i] != '-' && h[i] != '_')
			return 0;
	return 1;
}

/* "[1.2.3.4]", "[::1]" or "[IPv6:::1]": the address inside, checked. */
static int
cfg_bracketed(const char *s, size_t len, char *out, size_t outsz)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (len > 5 && strncasecmp(s, "IPv6:", 5) == 0) {
		s += 5;
		len -= 5;
	}
	if (len == 0 || len >= outsz)
		return -1;
	memcpy(out, s, len);
	out[len] = '\0';
	if (inet_pton(AF_INET, out, &a4) == 1 ||
	    inet_pton(AF_INET6, out, &a6) == 1)
		return 0;
	return -1;
}

int
cfg_parse_hostport(const char *s, char *host, size_t hostsz, int *port,
    int defport, const char **err)
{
	struct in6_addr a6;
	const char *colon, *end;
	size_t len;

	*port = defport;
	if (*s == '[') {
		if ((end = strchr(s, ']')) == NULL ||
		    cfg_bracketed(s + 1, (size_t)(end - s - 1), host, hostsz) == -1)
			goto bad;
		if (end[1] == '\0')
			return 0;
		if (end[1] != ':' || cfg_parse_port(end + 2, port) == -1)
			goto bad;
		return 0;
	}
	colon = strchr(s, ':');
	if (colon != NULL && strchr(colon + 1, ':') != NULL) {
		/* Several colons: a bare IPv6 address, no port. */
		if (strlen(s) >= hostsz || inet_pton(AF_INET6, s, &a6) != 1)
			goto bad;
		strlcpy(host, s, hostsz);
		return 0;
	}
	len = colon != NULL ? (size_t)(colon - s) : strlen(s);
	if (len == 0 || len >= hostsz)
		goto bad;
	memcpy(host, s, len);
	host[len] = '\0';
	if (!cfg_valid_hostname(host))
		goto bad;
	if (colon != NULL && cfg_parse_port(colon + 1, port) == -1)
		goto bad;
	return 0;
 bad:
	if (hostsz > 0)
		host[0] = '\0';
	*err = HINT_HOST;
	return -1;
}

int
cfg_parse_listen(const char *s, struct cfg_cidr *c, int *port,
    const char **err)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *colon, *hs = s;
	size_t len;

	if ((colon = strrchr(s, ':')) == NULL)
		goto bad;
	len = (size_t)(colon - s);
	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		hs = s + 1;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(buf))
		goto bad;
	memcpy(buf, hs, len);
	buf[len] = '\0';
	if (cfg_parse_cidr(buf, c, err) == -1 ||
	    cfg_parse_port(colon + 1, port) == -1)
		goto bad;
	return 0;
 bad:
	*err = HINT_LISTEN;
	return -1;
}
