/*
 * cfg_check.c - value and scope checks of single directives: each value
 * against its type (cfg_value.c), enumerations, paths that must exist,
 * and the directives with a syntax of their own (domain-key, records,
 * CIDR pairs, domain-macro, ...).  Errors go to the parser's list as
 * "FILE:LINE: message"; checks that need the whole tree are in
 * cfg_parse.c (cfg_finish).
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cfg.h"
#include "cfg_priv.h"

/*
 * Value checks.
 */

/* "in <domain>" or "at global level", for scope errors. */
const char *
cfg_where(const struct cfg_node *container, char *buf, size_t sz)
{
	if (container == NULL || container->def == NULL)
		return "at global level";
	snprintf(buf, sz, "in <%s>", container->def->name);
	return buf;
}

/* "a|b|c" as "a, b, c" after `prefix`. */
void
cfg_words(char *buf, size_t sz, const char *prefix, const char *words)
{
	const char *w;
	size_t len;

	strlcpy(buf, prefix, sz);
	for (w = words; *w != '\0'; w++) {
		len = strlen(buf);
		if (*w == '|')
			strlcat(buf, ", ", sz);
		else if (len + 1 < sz) {
			buf[len] = *w;
			buf[len + 1] = '\0';
		}
	}
}

int
cfg_bad(struct cfg_parser *p, const char *file, int line, const char *name,
    const struct cfg_directive *d, enum cfg_type t, const char *val,
    const char *hint)
{
	char alt[512], pre[256];

	if (d->enums != NULL && d->type != CT_ENUM) {
		/* The extra words some types accept ("never", "unlimited"). */
		snprintf(pre, sizeof(pre), "%s, or ", hint);
		cfg_words(alt, sizeof(alt), pre, d->enums);
		hint = alt;
	}
	cfg_error(p, file, line, "%s: bad %s \"%s\" (%s)", name,
	    cfg_type_name(t), val, hint);
	return -1;
}

int
cfg_in_list(const char *words, const char *w)
{
	const char *s = words, *e;
	size_t len = strlen(w);

	while (s != NULL && *s != '\0') {
		e = strchr(s, '|');
		if ((size_t)((e != NULL ? e : s + strlen(s)) - s) == len &&
		    strncasecmp(s, w, len) == 0)
			return 1;
		s = e != NULL ? e + 1 : NULL;
	}
	return 0;
}

static int
cfg_check_email(const char *s)
{
	const char *at = strrchr(s, '@');
	size_t i;

	if (at == NULL || at == s || at[1] == '\0')
		return -1;
	for (i = 0; s[i] != '\0'; i++)
		if (isspace((unsigned char)s[i]) || s[i] == '<' || s[i] == '>')
			return -1;
	return 0;
}

/* Relative paths are relative to the file that names them, so ternd
 * finds them whatever its working directory; the tree keeps the result. */
char *
cfg_resolve(const char *file, const char *path)
{
	char *dir, *copy, *s;

	if (path[0] == '/' || (copy = strdup(file)) == NULL)
		return strdup(path);
	dir = dirname(copy);
	if (strcmp(dir, ".") == 0)
		s = strdup(path);
	else if (asprintf(&s, "%s/%s", dir, path) == -1)
		s = NULL;
	free(copy);
	return s;
}

/* Files named by CT_PATH values are stored absolute: daemons open them
 * from elsewhere (ternd reads keys and certificates after chdir), and
 * paths.c's resolution leaves an absolute path alone. */
char *
cfg_abspath(const char *file, const char *path)
{
	char *r, *a, cwd[PATH_MAX];

	if ((r = cfg_resolve(file, path)) == NULL || r[0] == '/')
		return r;
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return r;
	if (asprintf(&a, "%s/%s", cwd, r) == -1)
		a = NULL;
	free(r);
	return a;
}

int
cfg_check_path(struct cfg_parser *p, const char *file, int line,
    const char *name, char **val)
{
	struct stat st;
	char *r;

	if ((r = cfg_abspath(file, *val)) == NULL)
		return -1;
	if (stat(r, &st) == -1) {
		cfg_error(p, file, line, "%s: cannot access \"%s\": %s", name,
		    r, strerror(errno));
		free(r);
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		cfg_error(p, file, line, "%s: \"%s\" is a directory", name, r);
		free(r);
		return -1;
	}
	free(*val);
	*val = r;
	return 0;
}

/* One value of a single-valued type. */
int
cfg_check_value(struct cfg_parser *p, const char *file, int line,
    const char *name, const struct cfg_directive *d, enum cfg_type t,
    char **v)
{
	struct cfg_rate rate;
	struct cfg_cidr cidr;
	const char *err = NULL;
	char host[256];
	uint64_t u;
	int64_t i, tl[CFG_MAX_RETRY];
	int b, n, port;

	if (d->enums != NULL && t != CT_ENUM && cfg_in_list(d->enums, *v))
		return 0;
	switch (t) {
	case CT_BOOL:
		if (cfg_parse_bool(*v, &b, &err) == -1)
			return cfg_bad(p, file, line, name, d, t, *v, err);
		break;
	case CT_INT:
		if (cfg_parse_int(*v, &i, &err) == -1)
			return cfg_bad(p, file, line, name, d, t, *v, err);
		break;
	case CT_TIME:
		if (cfg_parse_time(*v, &i, &err) == -1)
			return cfg_bad(p, file, line, name, d, t, *v, err);
		break;
	case CT_TIMELIST:
		if (cfg_parse_timelist(*v, tl, CFG_MAX_RETRY, &n, &err) == -1)
			return cfg_bad(p, file, line, name, d, t, *v, err);
		break;
	case CT_SIZE:
		if (cfg_parse_size(*v, &u, &err) == -1)
			return cfg_bad(p, file, line, name, d, t, *v, err);
		break;
	case CT_RATE:
		if (cfg_parse_rate(*v, &rate, &err) == -1)
			return cfg_bad(p, file, line, name, d, t, *v, err);
		break;
	case CT_CIDR:
		if (cfg_parse_cidr(*v, &cidr, &err) == -1)
			return cfg_bad(p, file, line, name, d, t, *v, err);
		break;
	case CT_HOSTPORT:
		if (cfg_parse_hostport(*v, host, sizeof(host), &port, 0,
		    &err) == -1)
			return cfg_bad(p, file, line, name, d, t, *v, err);
		break;
	case CT_LISTEN:
		if (cfg_parse_listen(*v, &cidr, &port, &err) == -1)
			return cfg_bad(p, file, line, name, d, t, *v, err);
		break;
	case CT_ENUM:
		if (!cfg_in_list(d->enums, *v)) {
			char hint[256];

			cfg_words(hint, sizeof(hint), "expected one of ",
			    d->enums);
			return cfg_bad(p, file, line, name, d, t, *v, hint);
		}
		break;
	case CT_EMAIL:
		if (cfg_check_email(*v) == -1)
			return cfg_bad(p, file, line, name, d, t, *v,
			    "expected local@domain");
		break;
	case CT_PATH:
		return cfg_check_path(p, file, line, name, v);
	default:
		break;
	}
	return 0;
}

int
cfg_is_regex(const char *s)
{
	size_t len = strlen(s);

	return len >= 2 && s[0] == '/' && s[len - 1] == '/';
}

int
cfg_check_int_range(struct cfg_parser *p, const char *file, int line,
    const char *name, const char *v, int64_t lo, int64_t hi)
{
	const char *err;
	int64_t i;

	if (cfg_parse_int(v, &i, &err) == 0 && i >= lo && i <= hi)
		return 0;
	cfg_error(p, file, line, "%s: bad value \"%s\" (expected %lld to %lld)",
	    name, v, (long long)lo, (long long)hi);
	return -1;
}

/* `CIDR X` pairs: source-ip-max-*, ip-connection-limit, http-access. */
static int
cfg_check_cidr_pair(struct cfg_parser *p, const char *file, int line,
    const char *name, int argc, char **argv, enum cfg_type second,
    int cidr_optional)
{
	static const struct cfg_directive cidr = { .type = CT_CIDR };
	struct cfg_directive sd = { .type = second };

	if (argc == 1 && cidr_optional)
		return cfg_check_value(p, file, line, name, &sd, second,
		    &argv[0]);
	if (argc != 2) {
		cfg_error(p, file, line, "%s: expected CIDR and %s", name,
		    cfg_type_name(second));
		return -1;
	}
	if (cfg_check_value(p, file, line, name, &cidr, CT_CIDR, &argv[0]) ||
	    cfg_check_value(p, file, line, name, &sd, second, &argv[1]))
		return -1;
	return 0;
}

static int
cfg_check_domain_key(struct cfg_parser *p, const char *file, int line,
    const char *name, int *argc, char **argv)
{
	char *all, *parts[3], *s, *r, *last;
	int n = 0, ret = -1, i;

	if ((all = cfg_join(*argc, argv)) == NULL)
		return -1;
	for (s = strtok_r(all, ",", &last); s != NULL && n < 4;
	    s = strtok_r(NULL, ",", &last)) {
		while (isspace((unsigned char)*s))
			s++;
		if (n < 3)
			parts[n] = s;
		n++;
	}
	if (n != 3 || *parts[0] == '\0' || *parts[1] == '\0' ||
	    *parts[2] == '\0') {
		cfg_error(p, file, line, "%s: expected SELECTOR,DOMAIN,FILE",
		    name);
		goto out;
	}
	if ((r = strdup(parts[2])) == NULL)
		goto out;
	if (cfg_check_path(p, file, line, name, &r) == -1) {
		free(r);
		goto out;
	}
	/* Store one token with the key file resolved; the slots freed here
	 * stay NULL for the lexer item that owns them. */
	for (i = 0; i < *argc; i++) {
		free(argv[i]);
		argv[i] = NULL;
	}
	if (asprintf(&argv[0], "%s,%s,%s", parts[0], parts[1], r) == -1)
		argv[0] = NULL;
	*argc = argv[0] != NULL ? 1 : 0;
	free(r);
	ret = argv[0] != NULL ? 0 : -1;
 out:
	free(all);
	return ret;
}

static int
cfg_check_records(struct cfg_parser *p, const char *file, int line,
    const char *name, int argc, char **argv)
{
	static const char *types = "d|b|t|tq|r|f|rb|rs|delivery|bounce|"
	    "transient|transient-queue|receipt|feedback-loop|remote-bounce|"
	    "remote-status";
	char *all, *s, *last;
	int ret = 0;

	if ((all = cfg_join(argc, argv)) == NULL)
		return -1;
	for (s = strtok_r(all, ", ", &last); s != NULL;
	    s = strtok_r(NULL, ", ", &last)) {
		if (!cfg_in_list(types, s)) {
			cfg_error(p, file, line, "%s: bad record type \"%s\" "
			    "(expected d, b, t, tq, r, f, rb or rs)", name, s);
			ret = -1;
		}
	}
	free(all);
	return ret;
}

int
cfg_check_macro(struct cfg_parser *p, const char *file, int line,
    const char *name, int argc, char **argv)
{
	const char *s;

	if (argc < 2) {
		cfg_error(p, file, line, "%s: expected NAME and a list of "
		    "domains", name);
		return -1;
	}
	for (s = argv[0]; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
			break;
	if (*s != '\0' || s == argv[0]) {
		cfg_error(p, file, line, "%s: bad macro name \"%s\"", name,
		    argv[0]);
		return -1;
	}
	return 0;
}

int
cfg_check_hostname(const char *h)
{
	size_t i;

	for (i = 0; h[i] != '\0'; i++)
		if (!isalnum((unsigned char)h[i]) && h[i] != '.' &&
		    h[i] != '-' && h[i] != '_')
			return -1;
	return i > 0 ? 0 : -1;
}

/* Checks beyond the type, for directives with a structured value. */
/* queued connects to Redis from its chroot, where no name resolves. */
static int
cfg_check_redis(struct cfg_parser *p, const char *file, int line,
    const char *name, const char *v)
{
	struct in6_addr a6;
	struct in_addr a4;
	const char *err;
	char host[256];
	int port;

	if (cfg_parse_hostport(v, host, sizeof(host), &port, 6379,
	    &err) == -1 || (inet_pton(AF_INET, host, &a4) != 1 &&
	    inet_pton(AF_INET6, host, &a6) != 1)) {
		cfg_error(p, file, line, "%s: expected IP[:PORT] (an address, "
		    "not a name), got \"%s\"", name, v);
		return -1;
	}
	return 0;
}

static int
cfg_check_special(struct cfg_parser *p, const char *file, int line,
    const char *name, const struct cfg_directive *d, int *argc, char **argv)
{
	static const struct cfg_directive rate = { .type = CT_RATE };
	static const struct cfg_directive cidr = { .type = CT_CIDR };
	const char *cn = d->name;
	char *all, *s, *last;
	int ret = 0;

	if (strcmp(cn, "smtp-source-host") == 0) {
		if (cfg_check_value(p, file, line, name, &cidr, CT_CIDR,
		    &argv[0]) == -1)
			return -1;
		if (*argc == 2 && cfg_check_hostname(argv[1]) == -1) {
			cfg_error(p, file, line, "%s: bad host name \"%s\"",
			    name, argv[1]);
			return -1;
		}
	} else if (strcmp(cn, "source-ip-max-smtp-out") == 0) {
		/* The seeds' max-smtp-out-per-ip gives the number alone. */
		return cfg_check_cidr_pair(p, file, line, name, *argc, argv,
		    CT_INT, 1);
	} else if (strcmp(cn, "ip-connection-limit") == 0) {
		return cfg_check_cidr_pair(p, file, line, name, *argc, argv,
		    CT_INT, 0);
	} else if (strcmp(cn, "source-ip-max-connect-rate") == 0 ||
	    strcmp(cn, "source-ip-max-msg-rate") == 0) {
		return cfg_check_cidr_pair(p, file, line, name, *argc, argv,
		    CT_RATE, 1);
	} else if (strcmp(cn, "mx-connection-limit") == 0) {
		if (*argc != 2) {
			cfg_error(p, file, line, "%s: expected MX-PATTERN and "
			    "a number", name);
			return -1;
		}
		return cfg_check_int_range(p, file, line, name, argv[1], 0,
		    INT32_MAX);
	} else if (strcmp(cn, "http-access") == 0) {
		if (cfg_check_cidr_pair(p, file, line, name, *argc, argv,
		    CT_STRING, 0))
			return -1;
		if (!cfg_in_list("monitor|monitor,deny-logs|operator|admin|"
		    "none", argv[1])) {
			cfg_error(p, file, line, "%s: bad access level \"%s\" "
			    "(expected monitor, operator, admin or none)",
			    name, argv[1]);
			return -1;
		}
	} else if (strcmp(cn, "domain-key") == 0) {
		return cfg_check_domain_key(p, file, line, name, argc, argv);
	} else if (strcmp(cn, "domain-macro") == 0) {
		return cfg_check_macro(p, file, line, name, *argc, argv);
	} else if (strcmp(cn, "records") == 0) {
		return cfg_check_records(p, file, line, name, *argc, argv);
	} else if (strcmp(cn, "log-format-extended") == 0 ||
	    strcmp(cn, "pickup") == 0) {
		if (*argc != 2) {
			cfg_error(p, file, line, "%s: expected 2 values, got %d",
			    name, *argc);
			return -1;
		}
	} else if (strcmp(cn, "reply") == 0 || strcmp(cn, "pattern") == 0) {
		if (*argc < 2 || !cfg_is_regex(argv[0])) {
			cfg_error(p, file, line, "%s: expected /REGEX/ and %s",
			    name, cn[0] == 'r' ? "actions" : "a category");
			return -1;
		}
	} else if (strcmp(cn, "alias") == 0) {
		if (*argc < 2) {
			cfg_error(p, file, line, "%s: expected SOURCE and TARGET",
			    name);
			return -1;
		}
	} else if (strcmp(cn, "mx") == 0) {
		if (*argc < 2 || (*argc == 3 &&
		    strcasecmp(argv[2], "rollup-by-ip") != 0)) {
			cfg_error(p, file, line, "%s: expected MX QUEUE "
			    "[rollup-by-ip]", name);
			return -1;
		}
	} else if (strcmp(cn, "redis") == 0) {
		return cfg_check_redis(p, file, line, name, argv[0]);
	} else if (strcmp(cn, "queue-priority") == 0) {
		return cfg_check_int_range(p, file, line, name, argv[0], 0, 100);
	} else if (strcmp(cn, "priority") == 0) {
		return cfg_check_int_range(p, file, line, name, argv[0], 1, 100);
	} else if (strcmp(cn, "smtp-listener") == 0 && *argc == 2) {
		if (strncasecmp(argv[1], "source=", 7) != 0 ||
		    argv[1][7] == '\0') {
			cfg_error(p, file, line, "%s: expected source=NAME "
			    "after the address, got \"%s\"", name, argv[1]);
			return -1;
		}
	} else if (strcmp(cn, "max-cold-virtual-mta-msg") == 0) {
		if ((all = cfg_join(*argc, argv)) == NULL)
			return -1;
		for (s = strtok_r(all, ", ", &last); s != NULL && ret == 0;
		    s = strtok_r(NULL, ", ", &last))
			ret = cfg_check_value(p, file, line, name, &rate,
			    CT_RATE, &s);
		free(all);
	}
	return ret;
}

/* The value tokens of a directive line against its (canonical) entry.
 * May rewrite them (paths are resolved). */
int
cfg_check_values(struct cfg_parser *p, const char *file, int line,
    const char *name, const struct cfg_directive *d, int *argc, char **argv)
{
	enum cfg_type t = d->type == CT_BLOCK ? d->arg_type : d->type;
	char *joined;
	int max, r;

	if (*argc == 0) {
		cfg_error(p, file, line, "%s: missing value", name);
		return -1;
	}
	if ((max = d->maxargs) == 0)
		max = t == CT_STRING || t == CT_ANY || t == CT_TIMELIST ?
		    CFG_MAX_ARGS : 1;
	if (*argc > max) {
		if (max == 1)
			cfg_error(p, file, line, "%s: expected one value, "
			    "got %d", name, *argc);
		else
			cfg_error(p, file, line, "%s: expected at most %d "
			    "values, got %d", name, max, *argc);
		return -1;
	}
	if (t == CT_TIMELIST) {
		/* "1m, 5m, 10m" arrives as three tokens. */
		if ((joined = cfg_join(*argc, argv)) == NULL)
			return -1;
		r = cfg_check_value(p, file, line, name, d, t, &joined);
		free(joined);
		if (r == -1)
			return -1;
	} else if (t != CT_STRING && t != CT_ANY &&
	    cfg_check_value(p, file, line, name, d, t, &argv[0]) == -1)
		return -1;
	return cfg_check_special(p, file, line, name, d, argc, argv);
}
