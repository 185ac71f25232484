/*
 * cfg_parse.c - build and check the configuration tree.
 *
 * The parser is strict and does not stop at the first problem: an
 * operator fixing a config wants every error of it at once, each as
 * "FILE:LINE: message".  A wrong directive is left out of the tree, a
 * wrong block is parsed (its contents are checked) but not attached, an
 * unknown block is skipped up to its closing tag.
 *
 * The checks that need the whole tree (virtual-mta names, domain macros)
 * run after the last file has been read.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cfg.h"

struct cfg_msgs {
	char		**v;
	int		 n;
};

struct cfg_parser {
	struct cfg	*cfg;
	struct cfg_msgs	 errs;
	struct cfg_msgs	 warns;
	char		*files[CFG_MAX_INCLUDE + 1];	/* being read, realpath */
	int		 nfiles;
};

/* An open block while its file is read. */
struct cfg_frame {
	const struct cfg_directive *def;	/* NULL: unknown, skipped */
	struct cfg_node	*node;			/* NULL when skipped */
	int		 detached;		/* in error: not in the tree */
	int		 line;
	char		*name;			/* as written */
	char		*arg;
};

struct cfg_file {
	struct cfg_parser *p;
	const char	*file;
	struct cfg_node	*base;			/* where the file's lines go */
	int		 base_depth;
	struct cfg_frame stack[CFG_MAX_NESTING];
	int		 depth;
	int		 overflow;		/* tags beyond CFG_MAX_NESTING */
};

static void	cfg_parse_path(struct cfg_parser *, const char *,
		    struct cfg_node *, const char *, int);

/*
 * Messages.
 */

static void
cfg_msg_add(struct cfg_msgs *m, char *s)
{
	char **nv;

	if (s == NULL)
		return;
	if ((nv = reallocarray(m->v, (size_t)m->n + 1, sizeof(*nv))) == NULL) {
		free(s);
		return;
	}
	nv[m->n++] = s;
	m->v = nv;
}

static void __attribute__((format(printf, 4, 5)))
cfg_error(struct cfg_parser *p, const char *file, int line, const char *fmt,
    ...)
{
	char *msg, *s;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	if (msg == NULL)
		return;
	if (asprintf(&s, "%s:%d: %s", file, line, msg) == -1)
		s = NULL;
	free(msg);
	cfg_msg_add(&p->errs, s);
}

static void
cfg_warn_unused(struct cfg_parser *p, const char *file, int line,
    const char *name)
{
	char *s;

	if (asprintf(&s, "%s:%d: warning: \"%s\" is accepted but not acted "
	    "on yet", file, line, name) == -1)
		s = NULL;
	cfg_msg_add(&p->warns, s);
}

void
cfg_print_msgs(const struct cfg *cfg, FILE *fp)
{
	int i;

	for (i = 0; i < cfg->nmsgs; i++)
		fprintf(fp, "%s\n", cfg->msgs[i]);
}

/*
 * Nodes.
 */

static char *
cfg_join(int argc, char **argv)
{
	size_t len = 1;
	char *s;
	int i;

	for (i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	if ((s = malloc(len)) == NULL)
		return NULL;
	s[0] = '\0';
	for (i = 0; i < argc; i++) {
		if (i > 0)
			strlcat(s, " ", len);
		strlcat(s, argv[i], len);
	}
	return s;
}

static void
cfg_node_free(struct cfg_node *n)
{
	struct cfg_node *c, *next;
	int i;

	if (n == NULL)
		return;
	for (c = n->child; c != NULL; c = next) {
		next = c->next;
		cfg_node_free(c);
	}
	for (i = 0; i < n->argc; i++)
		free(n->argv[i]);
	free(n->argv);
	free(n->name);
	free(n->as_written);
	free(n->arg);
	free(n->file);
	free(n);
}

static struct cfg_node *
cfg_node_new(const struct cfg_directive *def, const char *name,
    const char *as_written, int argc, char **argv, const char *file,
    int line)
{
	struct cfg_node *n;
	int i;

	if ((n = calloc(1, sizeof(*n))) == NULL)
		return NULL;
	n->def = def;
	n->line = line;
	n->name = strdup(name);
	n->as_written = strdup(as_written != NULL ? as_written : name);
	n->file = strdup(file != NULL ? file : "");
	n->arg = cfg_join(argc, argv);
	if (argc > 0)
		n->argv = calloc((size_t)argc, sizeof(*n->argv));
	if (n->name == NULL || n->as_written == NULL || n->file == NULL ||
	    n->arg == NULL || (argc > 0 && n->argv == NULL))
		goto fail;
	for (i = 0; i < argc; i++) {
		if ((n->argv[i] = strdup(argv[i])) == NULL)
			goto fail;
		n->argc++;
	}
	return n;
 fail:
	cfg_node_free(n);
	return NULL;
}

static void
cfg_node_append(struct cfg_node *parent, struct cfg_node *n)
{
	n->parent = parent;
	if (parent->last != NULL)
		parent->last->next = n;
	else
		parent->child = n;
	parent->last = n;
}

unsigned
cfg_node_scope(const struct cfg_node *n)
{
	if (n == NULL || (n->def == NULL && n->parent == NULL))
		return CFG_S_GLOBAL;		/* the root */
	if (n->def == NULL || n->def->type != CT_BLOCK)
		return 0;			/* a line, or unknown */
	return n->def->block_scope;
}

struct cfg *
cfg_new(void)
{
	struct cfg *cfg;

	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		return NULL;
	if ((cfg->root = cfg_node_new(NULL, "", "", 0, NULL, "", 0)) == NULL) {
		free(cfg);
		return NULL;
	}
	return cfg;
}

struct cfg_node *
cfg_node_add(struct cfg_node *parent, const char *name,
    const char *as_written, int argc, char **argv, const char *file,
    int line)
{
	const struct cfg_directive *d;
	struct cfg_node *n;

	d = cfg_directive_lookup(name, cfg_node_scope(parent), -1);
	if (d == NULL)
		d = cfg_directive_find(name);
	d = cfg_directive_canon(d);
	n = cfg_node_new(d, d != NULL ? d->name : name, as_written, argc,
	    argv, file, line);
	if (n != NULL)
		cfg_node_append(parent, n);
	return n;
}

void
cfg_free(struct cfg *cfg)
{
	int i;

	if (cfg == NULL)
		return;
	cfg_node_free(cfg->root);
	for (i = 0; i < cfg->nmsgs; i++)
		free(cfg->msgs[i]);
	free(cfg->msgs);
	free(cfg->path);
	free(cfg);
}

/*
 * Navigation and typed getters.
 */

/* The canonical name `name` has where `scope` is (aliases resolved). */
static const char *
cfg_canon_name(const struct cfg_node *scope, const char *name)
{
	const struct cfg_directive *d;

	d = cfg_directive_lookup(name,
	    scope != NULL ? cfg_node_scope(scope) : ~0U, -1);
	if (d == NULL)
		return name;
	return cfg_directive_canon(d)->name;
}

struct cfg_node *
cfg_child(const struct cfg_node *scope, const char *name)
{
	struct cfg_node *c;
	const char *cn;

	if (scope == NULL)
		return NULL;
	cn = cfg_canon_name(scope, name);
	for (c = scope->child; c != NULL; c = c->next)
		if (strcasecmp(c->name, cn) == 0)
			return c;
	return NULL;
}

struct cfg_node *
cfg_next_named(const struct cfg_node *after, const char *name)
{
	struct cfg_node *c;
	const char *cn;

	if (after == NULL)
		return NULL;
	cn = cfg_canon_name(after->parent, name);
	for (c = after->next; c != NULL; c = c->next)
		if (strcasecmp(c->name, cn) == 0)
			return c;
	return NULL;
}

/* The value text of `name` in scope, else its table default, else NULL. */
static const char *
cfg_text(const struct cfg_node *scope, const char *name)
{
	const struct cfg_directive *d;
	struct cfg_node *n;

	if ((n = cfg_child(scope, name)) != NULL)
		return n->arg;
	d = cfg_directive_lookup(name,
	    scope != NULL ? cfg_node_scope(scope) : ~0U, 0);
	if (d == NULL)
		d = cfg_directive_find(name);
	d = cfg_directive_canon(d);
	return d != NULL ? d->defval : NULL;
}

const char *
cfg_str(const struct cfg_node *scope, const char *name, const char *dflt)
{
	const char *s;

	return (s = cfg_text(scope, name)) != NULL ? s : dflt;
}

int
cfg_bool(const struct cfg_node *scope, const char *name, int dflt)
{
	const char *s, *err;
	int v;

	if ((s = cfg_text(scope, name)) == NULL ||
	    cfg_parse_bool(s, &v, &err) == -1)
		return dflt;
	return v;
}

int64_t
cfg_int(const struct cfg_node *scope, const char *name, int64_t dflt)
{
	const char *s, *err;
	int64_t v;

	if ((s = cfg_text(scope, name)) == NULL)
		return dflt;
	if (strcasecmp(s, "unlimited") == 0)
		return INT64_MAX;
	return cfg_parse_int(s, &v, &err) == 0 ? v : dflt;
}

int64_t
cfg_time(const struct cfg_node *scope, const char *name, int64_t dflt)
{
	int64_t v[CFG_MAX_RETRY];
	const char *s, *err;
	int n;

	if ((s = cfg_text(scope, name)) == NULL)
		return dflt;
	if (strcasecmp(s, "never") == 0)
		return INT64_MAX;
	if (cfg_parse_timelist(s, v, CFG_MAX_RETRY, &n, &err) == -1)
		return dflt;
	return v[0];
}

int
cfg_timelist(const struct cfg_node *scope, const char *name, int64_t *out,
    int max)
{
	const char *s, *err;
	int n;

	if ((s = cfg_text(scope, name)) == NULL ||
	    cfg_parse_timelist(s, out, max, &n, &err) == -1)
		return 0;
	return n;
}

uint64_t
cfg_size(const struct cfg_node *scope, const char *name, uint64_t dflt)
{
	const char *s, *err;
	uint64_t v;

	if ((s = cfg_text(scope, name)) == NULL ||
	    cfg_parse_size(s, &v, &err) == -1)
		return dflt;
	return v;
}

int
cfg_get_rate(const struct cfg_node *scope, const char *name,
    struct cfg_rate *out)
{
	const char *s, *err;

	if ((s = cfg_text(scope, name)) == NULL)
		return -1;
	return cfg_parse_rate(s, out, &err);
}

/*
 * Value checks.
 */

/* "in <domain>" or "at global level", for scope errors. */
static const char *
cfg_where(const struct cfg_node *container, char *buf, size_t sz)
{
	if (container == NULL || container->def == NULL)
		return "at global level";
	snprintf(buf, sz, "in <%s>", container->def->name);
	return buf;
}

/* "a|b|c" as "a, b, c" after `prefix`. */
static void
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

static int
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

static int
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
static char *
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
static char *
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

static int
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
static int
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

static int
cfg_is_regex(const char *s)
{
	size_t len = strlen(s);

	return len >= 2 && s[0] == '/' && s[len - 1] == '/';
}

static int
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

static int
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

static int
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
static int
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

/*
 * Blocks.
 */

static struct cfg_node *
cfg_container(struct cfg_file *f)
{
	return f->depth > 0 ? f->stack[f->depth - 1].node : f->base;
}

/* Scope bits of where the next line goes; 0 inside a skipped block. */
static unsigned
cfg_cur_scope(struct cfg_file *f)
{
	if (f->depth == 0)
		return cfg_node_scope(f->base);
	if (f->stack[f->depth - 1].def == NULL)
		return 0;
	return f->stack[f->depth - 1].def->block_scope;
}

/* A block of the same kind and argument already in `container`.
 * Listeners and spools (also written as lines, with options after the
 * address) compare by their first token only. */
static struct cfg_node *
cfg_find_dup_block(struct cfg_node *container,
    const struct cfg_directive *d, const char *arg, int argc, char **argv)
{
	struct cfg_node *c;

	for (c = container->child; c != NULL; c = c->next) {
		if (c->def != d)
			continue;
		if (d->inline_ok && argc > 0 && c->argc > 0) {
			if (strcasecmp(c->argv[0], argv[0]) == 0)
				return c;
		} else if (strcasecmp(c->arg, arg) == 0)
			return c;
	}
	return NULL;
}

static int
cfg_check_block_arg(struct cfg_parser *p, const char *file, int line,
    const struct cfg_directive *d, int argc, char **argv)
{
	struct cfg_cidr c;
	const char *err;
	char ch;

	if (argc == 0 && d->needs_arg) {
		cfg_error(p, file, line, "<%s> needs an argument", d->name);
		return -1;
	}
	if (argc > 0 && d->noarg) {
		cfg_error(p, file, line, "<%s> takes no argument", d->name);
		return -1;
	}
	if (argc == 0)
		return 0;
	if (strcmp(d->name, "source") == 0) {
		/* A CIDR, a {reserved} name or a plain name; what looks like
		 * an address must be one. */
		ch = argv[0][0];
		if ((isdigit((unsigned char)ch) || strchr(argv[0], ':') ||
		    strchr(argv[0], '/')) &&
		    cfg_parse_cidr(argv[0], &c, &err) == -1) {
			cfg_error(p, file, line, "<source>: bad CIDR \"%s\" "
			    "(%s)", argv[0], err);
			return -1;
		}
		return 0;
	}
	if (d->arg_type == CT_CIDR || d->arg_type == CT_LISTEN) {
		int n = argc;

		return cfg_check_values(p, file, line, d->name, d, &n, argv);
	}
	return 0;
}

/* Stands in for a frame's name or argument when memory ran out. */
static char cfg_nomem[] = "";

static char *
cfg_frame_str(const char *s)
{
	char *d;

	return (d = strdup(s)) != NULL ? d : cfg_nomem;
}

static void
cfg_frame_pop(struct cfg_file *f)
{
	struct cfg_frame *fr = &f->stack[--f->depth];

	if (fr->detached)
		cfg_node_free(fr->node);
	if (fr->name != cfg_nomem)
		free(fr->name);
	if (fr->arg != cfg_nomem)
		free(fr->arg);
	memset(fr, 0, sizeof(*fr));
}

static void
cfg_frame_push(struct cfg_file *f, const struct cfg_directive *d,
    struct cfg_node *n, int detached, int line, const char *name,
    const char *arg)
{
	struct cfg_frame *fr = &f->stack[f->depth++];

	fr->def = d;
	fr->node = n;
	fr->detached = detached;
	fr->line = line;
	fr->name = cfg_frame_str(name);
	fr->arg = cfg_frame_str(arg);
}

static const struct cfg_directive *
cfg_open_def(struct cfg_file *f, int line, const char *name, int *bad)
{
	const struct cfg_directive *d;
	char where[64];

	d = cfg_directive_lookup(name, cfg_cur_scope(f), 1);
	if (d != NULL)
		return d;
	if ((d = cfg_directive_lookup(name, ~0U, 1)) != NULL) {
		cfg_error(f->p, f->file, line, "<%s> is not allowed %s", name,
		    cfg_where(cfg_container(f), where, sizeof(where)));
		*bad = 1;
		return d;
	}
	if (cfg_directive_find(name) != NULL)
		cfg_error(f->p, f->file, line, "\"%s\" is not a block", name);
	else
		cfg_error(f->p, f->file, line, "unknown block <%s>", name);
	return NULL;
}

static void
cfg_open(struct cfg_file *f, struct cfg_lex_item *it)
{
	const struct cfg_directive *d = NULL;
	struct cfg_node *n = NULL, *dup;
	const char *name = it->argv[0];
	char *arg;
	int bad = 0, argc = it->argc - 1;
	char **argv = it->argv + 1;

	if (f->depth + f->base_depth >= CFG_MAX_NESTING || f->overflow) {
		if (f->overflow++ == 0)
			cfg_error(f->p, f->file, it->line, "blocks nested too "
			    "deeply (max %d)", CFG_MAX_NESTING);
		return;
	}
	if ((arg = cfg_join(argc, argv)) == NULL)
		return;
	if (f->depth == 0 || f->stack[f->depth - 1].def != NULL)
		d = cfg_open_def(f, it->line, name, &bad);
	if (d != NULL) {
		if (cfg_check_block_arg(f->p, f->file, it->line, d, argc,
		    argv) == -1)
			bad = 1;
		if (!bad && cfg_container(f) != NULL &&
		    (dup = cfg_find_dup_block(cfg_container(f), d, arg, argc,
		    argv)) != NULL) {
			cfg_error(f->p, f->file, it->line, "duplicate <%s%s%s> "
			    "(first at %s:%d)", d->name, argc ? " " : "", arg,
			    dup->file, dup->line);
			bad = 1;
		}
		/* Even a wrong block is built, so its contents are checked. */
		n = cfg_node_new(d, d->name, name, argc, argv, f->file,
		    it->line);
		if (n != NULL && !bad && cfg_container(f) != NULL)
			cfg_node_append(cfg_container(f), n);
		else
			bad = 1;
		if (d->used_by == 0)
			cfg_warn_unused(f->p, f->file, it->line, name);
	}
	cfg_frame_push(f, d, n, bad, it->line, name, arg);
	free(arg);
}

static void
cfg_unclosed(struct cfg_file *f, struct cfg_frame *fr)
{
	cfg_error(f->p, f->file, fr->line, "unclosed <%s%s%s>", fr->name,
	    fr->arg[0] ? " " : "", fr->arg);
}

static void
cfg_close(struct cfg_file *f, struct cfg_lex_item *it)
{
	struct cfg_frame *top;
	const char *name = it->argv[0];
	char *arg;
	int k;

	if (f->overflow > 0) {
		f->overflow--;
		return;
	}
	if ((arg = cfg_join(it->argc - 1, it->argv + 1)) == NULL)
		return;
	if (f->depth == 0) {
		cfg_error(f->p, f->file, it->line, "unmatched </%s>", name);
		goto out;
	}
	top = &f->stack[f->depth - 1];
	if (strcasecmp(top->name, name) == 0) {
		if (arg[0] != '\0' && strcasecmp(arg, top->arg) != 0)
			cfg_error(f->p, f->file, it->line, "</%s %s> does not "
			    "match <%s %s> (line %d)", name, arg, top->name,
			    top->arg, top->line);
		cfg_frame_pop(f);
		goto out;
	}
	/* A forgotten close tag: close the inner blocks up to the match. */
	for (k = f->depth - 2; k >= 0; k--)
		if (strcasecmp(f->stack[k].name, name) == 0)
			break;
	if (k < 0) {
		cfg_error(f->p, f->file, it->line, "unmatched </%s>", name);
		goto out;
	}
	while (f->depth > k + 1) {
		cfg_unclosed(f, &f->stack[f->depth - 1]);
		cfg_frame_pop(f);
	}
	cfg_frame_pop(f);
 out:
	free(arg);
}

/*
 * Directives.
 */

static int
cfg_has_magic(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/* A directory that does not exist just matches nothing. */
static int
cfg_glob_error(const char *path, int err)
{
	return err != ENOENT && err != ENOTDIR;
}

static void
cfg_include(struct cfg_file *f, int line, const char *name, int argc,
    char **argv)
{
	glob_t g;
	char *pat;
	size_t i;
	int r;

	if (argc != 1) {
		cfg_error(f->p, f->file, line, "%s: expected one file name or "
		    "pattern", name);
		return;
	}
	if ((pat = cfg_resolve(f->file, argv[0])) == NULL)
		return;
	if (!cfg_has_magic(pat)) {
		cfg_parse_path(f->p, pat, cfg_container(f), f->file, line);
		free(pat);
		return;
	}
	memset(&g, 0, sizeof(g));
	r = glob(pat, 0, cfg_glob_error, &g);
	if (r != 0 && r != GLOB_NOMATCH)
		cfg_error(f->p, f->file, line, "%s: cannot expand \"%s\"",
		    name, pat);
	for (i = 0; r == 0 && i < g.gl_pathc; i++)
		cfg_parse_path(f->p, g.gl_pathv[i], cfg_container(f), f->file,
		    line);
	globfree(&g);
	free(pat);
}

static const struct cfg_directive *
cfg_line_def(struct cfg_file *f, int line, const char *name)
{
	const struct cfg_directive *d;
	char where[64];

	if ((d = cfg_directive_lookup(name, cfg_cur_scope(f), 0)) != NULL)
		return d;
	if ((d = cfg_directive_lookup(name, cfg_cur_scope(f), 1)) != NULL)
		cfg_error(f->p, f->file, line, "\"%s\" is a block: write "
		    "<%s ...> ... </%s>", name, d->name, d->name);
	else if (cfg_directive_lookup(name, ~0U, 0) != NULL)
		cfg_error(f->p, f->file, line, "\"%s\" is not allowed %s",
		    name, cfg_where(cfg_container(f), where, sizeof(where)));
	else if ((d = cfg_directive_lookup(name, ~0U, 1)) != NULL)
		cfg_error(f->p, f->file, line, "\"%s\" is a block: write "
		    "<%s ...> ... </%s>", name, d->name, d->name);
	else
		cfg_error(f->p, f->file, line, "unknown directive \"%s\"",
		    name);
	return NULL;
}

static struct cfg_node *
cfg_find_dup(struct cfg_node *container, const struct cfg_directive *d)
{
	struct cfg_node *c;

	for (c = container->child; c != NULL; c = c->next)
		if (c->def == d)
			return c;
	return NULL;
}

static void
cfg_line(struct cfg_file *f, struct cfg_lex_item *it)
{
	const struct cfg_directive *d, *cd;
	struct cfg_node *n, *dup, *container = cfg_container(f);
	const char *name = it->argv[0];
	char **argv = it->argv + 1;
	int argc = it->argc - 1;

	if (f->overflow || (f->depth > 0 && f->stack[f->depth - 1].def == NULL))
		return;
	/* <bounce-category-patterns> lines are "/regex/ category". */
	if (name[0] == '/' && (cfg_cur_scope(f) & CFG_S_PATTERNS)) {
		name = "pattern";
		argv = it->argv;
		argc = it->argc;
	}
	if ((d = cfg_line_def(f, it->line, name)) == NULL)
		return;
	if (strcmp(d->name, "include") == 0) {
		cfg_include(f, it->line, name, argc, argv);
		return;
	}
	cd = cfg_directive_canon(d);
	if (cfg_check_values(f->p, f->file, it->line, name, cd, &argc,
	    argv) == -1)
		return;
	if (container != NULL && cd->type == CT_BLOCK &&
	    (dup = cfg_find_dup_block(container, cd, "", argc, argv)) != NULL) {
		cfg_error(f->p, f->file, it->line, "duplicate \"%s %s\" "
		    "(first at %s:%d)", name, argv[0], dup->file, dup->line);
		return;
	}
	if (container != NULL && !cd->repeatable &&
	    (dup = cfg_find_dup(container, cd)) != NULL) {
		cfg_error(f->p, f->file, it->line, "duplicate \"%s\" (first at "
		    "%s:%d)", name, dup->file, dup->line);
		return;
	}
	if (cd->used_by == 0)
		cfg_warn_unused(f->p, f->file, it->line, name);
	if (container == NULL || (n = cfg_node_new(cd, cd->name, name, argc,
	    argv, f->file, it->line)) == NULL)
		return;
	cfg_node_append(container, n);
}

static void
cfg_parse_buf(struct cfg_parser *p, const char *file, const char *buf,
    size_t len, struct cfg_node *base)
{
	struct cfg_file f;
	struct cfg_lex lx;
	struct cfg_lex_item it;
	struct cfg_node *n;

	memset(&f, 0, sizeof(f));
	f.p = p;
	f.file = file;
	f.base = base;
	for (n = base; n->parent != NULL; n = n->parent)
		f.base_depth++;
	cfg_lex_init(&lx, buf, len);
	while (cfg_lex_next(&lx, &it) != CFG_LEX_EOF) {
		switch (it.kind) {
		case CFG_LEX_ERROR:
			cfg_error(p, file, it.line, "%s", it.err);
			break;
		case CFG_LEX_OPEN:
			cfg_open(&f, &it);
			break;
		case CFG_LEX_CLOSE:
			cfg_close(&f, &it);
			break;
		case CFG_LEX_DIRECTIVE:
			cfg_line(&f, &it);
			break;
		default:
			break;
		}
		cfg_lex_item_clear(&it);
	}
	cfg_lex_done(&lx);
	while (f.depth > 0) {
		cfg_unclosed(&f, &f.stack[f.depth - 1]);
		cfg_frame_pop(&f);
	}
}

/*
 * Files.
 */

static char *
cfg_read_file(struct cfg_parser *p, const char *path, size_t *lenp,
    const char *from, int from_line)
{
	struct stat st;
	char *buf = NULL;
	ssize_t r;
	size_t len = 0;
	int fd, saved;
	const char *why;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		goto syserr;
	if (fstat(fd, &st) == -1)
		goto syserr;
	if (!S_ISREG(st.st_mode)) {
		why = "not a regular file";
		goto err;
	}
	if (st.st_size > CFG_MAX_FILE) {
		why = "file too large (max 16 MiB)";
		goto err;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL)
		goto syserr;
	while (len < (size_t)st.st_size) {
		r = read(fd, buf + len, (size_t)st.st_size - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			goto syserr;
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	*lenp = len;
	return buf;
 syserr:
	why = strerror(errno);
 err:
	saved = errno;
	if (fd != -1)
		close(fd);
	free(buf);
	errno = saved;
	if (from != NULL)
		cfg_error(p, from, from_line, "include: cannot read \"%s\": %s",
		    path, why);
	else {
		char *s;

		if (asprintf(&s, "%s: cannot read: %s", path, why) == -1)
			s = NULL;
		cfg_msg_add(&p->errs, s);
	}
	return NULL;
}

static void
cfg_parse_path(struct cfg_parser *p, const char *path,
    struct cfg_node *scope, const char *from, int from_line)
{
	char *buf, *real;
	size_t len;
	int i;

	if (p->nfiles >= CFG_MAX_INCLUDE) {
		cfg_error(p, from, from_line, "include: nested too deeply "
		    "(max %d)", CFG_MAX_INCLUDE);
		return;
	}
	if ((buf = cfg_read_file(p, path, &len, from, from_line)) == NULL)
		return;
	if ((real = realpath(path, NULL)) == NULL) {
		free(buf);
		return;
	}
	for (i = 0; i < p->nfiles; i++) {
		if (strcmp(p->files[i], real) == 0) {
			cfg_error(p, from, from_line, "include: \"%s\" is "
			    "already being read (include loop)", path);
			free(real);
			free(buf);
			return;
		}
	}
	p->files[p->nfiles++] = real;
	cfg_parse_buf(p, path, buf, len, scope);
	free(p->files[--p->nfiles]);
	free(buf);
}

/*
 * Checks on the whole tree.
 */

static struct cfg_node *
cfg_root_block(const struct cfg *cfg, const char *kind, const char *arg)
{
	struct cfg_node *c;

	for (c = cfg->root->child; c != NULL; c = c->next)
		if (c->def != NULL && c->def->type == CT_BLOCK &&
		    strcmp(c->name, kind) == 0 && strcasecmp(c->arg, arg) == 0)
			return c;
	return NULL;
}

static void
cfg_check_vmta_ref(struct cfg_parser *p, const struct cfg_node *n,
    int pools_ok)
{
	const char *v = n->arg;

	if (v[0] == '{' || cfg_root_block(p->cfg, "virtual-mta", v) != NULL)
		return;
	if (pools_ok && (cfg_root_block(p->cfg, "virtual-mta-pool", v) ||
	    (strcmp(n->name, "default-virtual-mta") == 0 &&
	    strcasecmp(v, "by-smtp-source-ip") == 0)))
		return;
	cfg_error(p, n->file, n->line, "%s: unknown virtual-mta \"%s\"",
	    n->as_written, v);
}

static void
cfg_check_vmtas(struct cfg_parser *p)
{
	struct cfg_node *b, *c;

	for (b = p->cfg->root->child; b != NULL; b = b->next) {
		if (b->def == NULL || b->def->type != CT_BLOCK)
			continue;
		if (strcmp(b->name, "virtual-mta-pool") == 0 &&
		    cfg_root_block(p->cfg, "virtual-mta", b->arg) != NULL)
			cfg_error(p, b->file, b->line, "<virtual-mta-pool %s>: "
			    "a virtual-mta has the same name", b->arg);
		if (strcmp(b->name, "source") != 0 &&
		    strcmp(b->name, "accepted-connect") != 0 &&
		    strcmp(b->name, "virtual-mta-pool") != 0)
			continue;
		for (c = b->child; c != NULL; c = c->next)
			if (strcmp(c->name, "virtual-mta") == 0 ||
			    strcmp(c->name, "default-virtual-mta") == 0)
				cfg_check_vmta_ref(p, c,
				    strcmp(b->name, "virtual-mta-pool") != 0);
	}
}

static struct cfg_node *
cfg_macro(const struct cfg *cfg, const char *name, size_t len)
{
	struct cfg_node *c;

	for (c = cfg->root->child; c != NULL; c = c->next)
		if (strcmp(c->name, "domain-macro") == 0 && c->argc > 0 &&
		    strlen(c->argv[0]) == len &&
		    strncasecmp(c->argv[0], name, len) == 0)
			return c;
	return NULL;
}

static size_t
cfg_macro_len(const char *s)
{
	size_t n = 0;

	while (isalnum((unsigned char)s[n]) || s[n] == '_' || s[n] == '-')
		n++;
	return n;
}

/* Every $NAME in `text` is defined and, followed through the macros it
 * uses, does not lead back to itself within a few levels. */
static int
cfg_check_macro_refs(struct cfg_parser *p, const char *text,
    const char *file, int line, const char *what, int depth)
{
	const struct cfg_node *m;
	const char *s;
	size_t len;
	int i;

	for (s = strchr(text, '$'); s != NULL; s = strchr(s + 1, '$')) {
		len = cfg_macro_len(s + 1);
		if ((m = cfg_macro(p->cfg, s + 1, len)) == NULL) {
			cfg_error(p, file, line, "%s: unknown domain-macro "
			    "\"$%.*s\"", what, (int)len, s + 1);
			return -1;
		}
		if (depth >= 8) {
			cfg_error(p, file, line, "%s: domain-macro \"$%.*s\" "
			    "refers to itself (loop)", what, (int)len, s + 1);
			return -1;
		}
		for (i = 1; i < m->argc; i++)
			if (cfg_check_macro_refs(p, m->argv[i], file, line,
			    what, depth + 1) == -1)
				return -1;
	}
	return 0;
}

static void
cfg_check_domains_in(struct cfg_parser *p, const struct cfg_node *container)
{
	struct cfg_node *c;
	char what[300];

	for (c = container->child; c != NULL; c = c->next) {
		if (c->def == NULL || c->def->type != CT_BLOCK)
			continue;
		if (strcmp(c->name, "domain") == 0 && strchr(c->arg, '$')) {
			snprintf(what, sizeof(what), "<domain %s>", c->arg);
			cfg_check_macro_refs(p, c->arg, c->file, c->line, what,
			    0);
		} else if (strcmp(c->name, "virtual-mta") == 0 ||
		    strcmp(c->name, "virtual-mta-pool") == 0)
			cfg_check_domains_in(p, c);
	}
}

static void
cfg_check_macros(struct cfg_parser *p)
{
	struct cfg_node *c;
	char what[300];
	int i;

	for (c = p->cfg->root->child; c != NULL; c = c->next) {
		if (strcmp(c->name, "domain-macro") != 0 || c->argc < 1)
			continue;
		if (cfg_macro(p->cfg, c->argv[0], strlen(c->argv[0])) != c)
			cfg_error(p, c->file, c->line, "domain-macro \"%s\" "
			    "defined twice", c->argv[0]);
		snprintf(what, sizeof(what), "domain-macro \"%s\"", c->argv[0]);
		for (i = 1; i < c->argc; i++)
			if (cfg_check_macro_refs(p, c->argv[i], c->file,
			    c->line, what, 1) == -1)
				break;
	}
	cfg_check_domains_in(p, p->cfg->root);
}

/*
 * Entry points.
 */

static void
cfg_finish(struct cfg_parser *p)
{
	struct cfg *cfg = p->cfg;
	char **v;
	int i, n;

	cfg_check_vmtas(p);
	cfg_check_macros(p);
	n = p->errs.n + p->warns.n;
	if (n > 0 && (v = calloc((size_t)n, sizeof(*v))) != NULL) {
		for (i = 0; i < p->errs.n; i++)
			v[i] = p->errs.v[i];
		for (i = 0; i < p->warns.n; i++)
			v[p->errs.n + i] = p->warns.v[i];
		cfg->msgs = v;
		cfg->nmsgs = n;
	} else {
		for (i = 0; i < p->errs.n; i++)
			free(p->errs.v[i]);
		for (i = 0; i < p->warns.n; i++)
			free(p->warns.v[i]);
	}
	/* Even without memory for the texts, the counts tell the truth. */
	cfg->nerrors = p->errs.n;
	cfg->nwarnings = p->warns.n;
	free(p->errs.v);
	free(p->warns.v);
}

struct cfg *
cfg_load(const char *path)
{
	struct cfg_parser p;
	struct cfg *cfg;

	if ((cfg = cfg_new()) == NULL)
		return NULL;
	if ((cfg->path = strdup(path)) == NULL) {
		cfg_free(cfg);
		return NULL;
	}
	memset(&p, 0, sizeof(p));
	p.cfg = cfg;
	cfg_parse_path(&p, path, cfg->root, NULL, 0);
	cfg_finish(&p);
	return cfg;
}

struct cfg *
cfg_load_string(const char *name, const char *text)
{
	struct cfg_parser p;
	struct cfg *cfg;

	if ((cfg = cfg_new()) == NULL)
		return NULL;
	if ((cfg->path = strdup(name)) == NULL) {
		cfg_free(cfg);
		return NULL;
	}
	memset(&p, 0, sizeof(p));
	p.cfg = cfg;
	cfg_parse_buf(&p, name, text, strlen(text), cfg->root);
	cfg_finish(&p);
	return cfg;
}
