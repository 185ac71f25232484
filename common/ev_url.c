/*
 * ev_url.c - parse the url of an event sink (ev_url.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ev_url.h"
#include "util.h"

static int
ev_url_scheme(const char **p, struct ev_url *u)
{
	static const struct { const char *s; int scheme, port; } tab[] = {
		{ "amqp://", EV_URL_AMQP, 5672 },
		{ "http://", EV_URL_HTTP, 80 },
		{ "https://", EV_URL_HTTPS, 443 },
	};
	size_t i, n;

	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		n = strlen(tab[i].s);
		if (strncasecmp(*p, tab[i].s, n) == 0) {
			u->scheme = tab[i].scheme;
			u->port = tab[i].port;
			*p += n;
			return 0;
		}
	}
	return -1;
}

/* "[v6]" or "name" up to ':' or '/'. */
static int
ev_url_host(const char **p, struct ev_url *u)
{
	const char *s = *p, *e;
	size_t n;

	if (*s == '[') {
		if ((e = strchr(s, ']')) == NULL)
			return -1;
		s++;
		n = e - s;
		e++;
	} else {
		n = strcspn(s, ":/?");
		e = s + n;
	}
	if (n == 0 || n >= sizeof(u->host))
		return -1;
	memcpy(u->host, s, n);
	u->host[n] = '\0';
	*p = e;
	return 0;
}

int
ev_sink_name_ok(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n < 100 && name[0] != '.' &&
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") == n;
}

static int
ev_url_bad_chars(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

int
ev_url_parse(const char *url, struct ev_url *u, const char **err)
{
	const char *p = url;
	char *end;
	long port;

	memset(u, 0, sizeof(*u));
	if (url != NULL && ev_url_bad_chars(url)) {
		/* it goes into a request line and a Host: header */
		*err = "spaces or control characters";
		return -1;
	}
	if (url == NULL || ev_url_scheme(&p, u) == -1) {
		*err = "expected amqp://, http:// or https://";
		return -1;
	}
	if (strcspn(p, "@/") < strlen(p) && p[strcspn(p, "@/")] == '@') {
		*err = "no user:password in the url: use credentials-file";
		return -1;
	}
	if (ev_url_host(&p, u) == -1) {
		*err = "bad host";
		return -1;
	}
	if (*p == ':') {
		port = strtol(p + 1, &end, 10);
		if (end == p + 1 || port < 1 || port > 65535) {
			*err = "bad port";
			return -1;
		}
		u->port = port;
		p = end;
	}
	if (*p != '\0' && *p != '/' && *p != '?') {
		*err = "bad host or port";
		return -1;
	}
	if (u->scheme == EV_URL_AMQP) {
		/* the vhost: "/" when absent, else the path without its
		 * leading slash ("%2f" is "/" as in RabbitMQ's URIs) */
		if (*p == '\0' || strcmp(p, "/") == 0 ||
		    strcasecmp(p, "/%2f") == 0)
			strlcpy(u->path, "/", sizeof(u->path));
		else if (strlcpy(u->path, p + 1, sizeof(u->path)) >=
		    sizeof(u->path)) {
			*err = "vhost too long";
			return -1;
		}
		return 0;
	}
	if (snprintf(u->path, sizeof(u->path), "%s%s", *p == '/' ? "" : "/",
	    p) >= (int)sizeof(u->path)) {
		*err = "path too long";
		return -1;
	}
	return 0;
}
