/*
 * ev_url.h - the `url` of an <acct-amqp> or <acct-webhook> block
 * (event shipping, docs/events.md).  ternd parses it to resolve the host
 * for bounced (which is chrooted and cannot); bounced parses it to
 * connect.  Credentials never come from the URL: a credentials-file,
 * read by ternd, carries them.
 */
#ifndef TERN_EV_URL_H
#define TERN_EV_URL_H

enum { EV_URL_AMQP = 1, EV_URL_HTTP, EV_URL_HTTPS };

struct ev_url {
	int	 scheme;	/* EV_URL_* */
	char	 host[256];	/* name or address, no brackets */
	int	 port;
	char	 path[1024];	/* HTTP: "/path?query"; AMQP: the vhost */
};

/* "amqp://host[:port][/vhost]", "http[s]://host[:port][/path]": 0, or -1
 * with *err set.  A user:password@ part is refused (see above). */
int	ev_url_parse(const char *url, struct ev_url *, const char **err);

/* A sink's name (its buffer's directory under spool/events): letters,
 * digits, '.', '_', '-', not starting with '.', under 100 bytes. */
int	ev_sink_name_ok(const char *);

#endif
