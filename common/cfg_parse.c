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

#include "cfg_priv.h"

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

void
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

/* A directive acted on elsewhere, not in this scope (d->idle_scopes). */
static void
cfg_warn_idle(struct cfg_parser *p, const char *file, int line,
    const char *name, const char *where, const char *why)
{
	char *s;

	if (asprintf(&s, "%s:%d: warning: \"%s\" %s is not acted on: %s",
	    file, line, name, where, why) == -1)
		s = NULL;
	cfg_msg_add(&p->warns, s);
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
	char where[64];
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
	else if (cd->idle_scopes & cfg_cur_scope(f))
		cfg_warn_idle(f->p, f->file, it->line, name,
		    cfg_where(container, where, sizeof(where)), cd->idle_why);
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
	cfg_check_sinks(p);		/* cfg_sinks.c */
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
