/*
 * cfg_lex.c - lexer of the PowerMTA configuration syntax.
 *
 * The language is line based: "name value..." per line, "#" to the end
 * of the line is a comment (outside quotes), values may be double quoted
 * with \\ and \" escapes, and blocks are tags "<name arg>" / "</name>".
 * The lexer works one physical line at a time and splits it into items:
 * usually one, but the guides also write whole blocks on one line
 * ("<domain *> max-smtp-out 5 </domain>"), which costs nothing to accept.
 *
 * Regular expressions are written "/.../" and may contain spaces, so
 * they are one token where a regex is expected: as the first token of a
 * line (<bounce-category-patterns> entries) and as values of the pattern
 * directives listed below.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfg.h"

/* Directives whose values may be /regexes/ containing spaces. */
static const char *cfg_lex_regex_directives[] = {
	"reply", "header", "mail-from", "rcpt-to", "relay-address", "address",
	"dkim-headers", "second-dkim-headers", "*", NULL
};

struct cfg_lex_line {
	const char	*s;
	size_t		 n;
	size_t		 i;
	char		*tok;		/* scratch, n + 1 bytes */
	const char	*err;
};

void
cfg_lex_init(struct cfg_lex *lx, const char *buf, size_t len)
{
	memset(lx, 0, sizeof(*lx));
	lx->buf = buf;
	lx->len = len;
}

void
cfg_lex_item_clear(struct cfg_lex_item *it)
{
	int i;

	for (i = 0; i < it->argc; i++)
		free(it->argv[i]);
	free(it->argv);
	memset(it, 0, sizeof(*it));
}

static void
cfg_lex_flush(struct cfg_lex *lx)
{
	int i;

	for (i = lx->cur; i < lx->nitems; i++)
		cfg_lex_item_clear(&lx->items[i]);
	free(lx->items);
	lx->items = NULL;
	lx->nitems = lx->cur = 0;
}

void
cfg_lex_done(struct cfg_lex *lx)
{
	cfg_lex_flush(lx);
}

static int
cfg_lex_space(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static int
cfg_lex_push_arg(struct cfg_lex_item *it, const char *tok)
{
	char **nv, *s;

	if (it->argc >= CFG_MAX_ARGS + 1)
		return -1;
	if ((s = strdup(tok)) == NULL)
		return -1;
	if ((nv = reallocarray(it->argv, (size_t)it->argc + 1,
	    sizeof(*nv))) == NULL) {
		free(s);
		return -1;
	}
	nv[it->argc++] = s;
	it->argv = nv;
	return 0;
}

static int
cfg_lex_push_item(struct cfg_lex *lx, struct cfg_lex_item *it)
{
	struct cfg_lex_item *ni;

	if ((ni = reallocarray(lx->items, (size_t)lx->nitems + 1,
	    sizeof(*ni))) == NULL)
		return -1;
	ni[lx->nitems++] = *it;
	lx->items = ni;
	memset(it, 0, sizeof(*it));
	return 0;
}

/* Name of a tag starting at s[0] == '<' if it is a known block, so that
 * "<domain" ends a directive written on the same line but "<>" (a null
 * sender in a rewrite rule) does not. */
static int
cfg_lex_midline_tag(const char *s, size_t n)
{
	char name[64];
	size_t i = 1, j = 0;

	if (n > 1 && s[1] == '/')
		return 1;
	while (i < n && cfg_lex_space(s[i]))
		i++;
	while (i < n && j < sizeof(name) - 1 &&
	    (isalnum((unsigned char)s[i]) || s[i] == '-'))
		name[j++] = s[i++];
	name[j] = '\0';
	if (j == 0 || (i < n && !cfg_lex_space(s[i]) && s[i] != '>'))
		return 0;
	return cfg_directive_lookup(name, ~0U, 1) != NULL;
}

/* A "/regex/" token: up to a closing unescaped slash followed by a
 * space, a comma or the end.  0 if there is none (then it is a path). */
static int
cfg_lex_regex(struct cfg_lex_line *l)
{
	size_t j = l->i + 1, len;

	while (j < l->n && l->s[j] != '#') {
		if (l->s[j] == '\\' && j + 1 < l->n) {
			j += 2;
			continue;
		}
		if (l->s[j] == '/' && (j + 1 == l->n ||
		    cfg_lex_space(l->s[j + 1]) || l->s[j + 1] == ',' ||
		    l->s[j + 1] == '#'))
			break;
		j++;
	}
	if (j >= l->n || l->s[j] != '/')
		return 0;
	len = j + 1 - l->i;
	memcpy(l->tok, l->s + l->i, len);
	l->tok[len] = '\0';
	l->i = j + 1;
	return 1;
}

/*
 * One token into l->tok.  Quoted parts may be glued to unquoted ones
 * (as in a shell).  In a tag, '>' ends the token.  Returns -1 with
 * l->err set on an unterminated quote.
 */
static int
cfg_lex_token(struct cfg_lex_line *l, int in_tag, int regex_ok)
{
	size_t o = 0;
	char c;

	if (regex_ok && l->s[l->i] == '/' && cfg_lex_regex(l))
		return 0;
	while (l->i < l->n) {
		c = l->s[l->i];
		if (cfg_lex_space(c) || c == '#' || (in_tag && c == '>'))
			break;
		if (!in_tag && c == '<' && o > 0 &&
		    cfg_lex_midline_tag(l->s + l->i, l->n - l->i))
			break;
		if (c != '"') {
			l->tok[o++] = c;
			l->i++;
			continue;
		}
		for (l->i++; l->i < l->n && l->s[l->i] != '"'; l->i++) {
			if (l->s[l->i] == '\\' && l->i + 1 < l->n &&
			    (l->s[l->i + 1] == '\\' || l->s[l->i + 1] == '"'))
				l->i++;
			l->tok[o++] = l->s[l->i];
		}
		if (l->i == l->n) {
			l->err = "unterminated quoted string";
			return -1;
		}
		l->i++;
	}
	l->tok[o] = '\0';
	return 0;
}

static void
cfg_lex_skip_space(struct cfg_lex_line *l)
{
	while (l->i < l->n && cfg_lex_space(l->s[l->i]))
		l->i++;
}

/* A tag from '<' to '>' into an OPEN or CLOSE item. */
static int
cfg_lex_tag(struct cfg_lex_line *l, struct cfg_lex_item *it)
{
	it->kind = CFG_LEX_OPEN;
	l->i++;
	cfg_lex_skip_space(l);
	if (l->i < l->n && l->s[l->i] == '/') {
		it->kind = CFG_LEX_CLOSE;
		l->i++;
	}
	for (;;) {
		cfg_lex_skip_space(l);
		if (l->i == l->n || l->s[l->i] == '#') {
			l->err = "unterminated tag (missing '>')";
			return -1;
		}
		if (l->s[l->i] == '>')
			break;
		if (cfg_lex_token(l, 1, 0) == -1)
			return -1;
		if (cfg_lex_push_arg(it, l->tok) == -1) {
			l->err = "too many values in tag";
			return -1;
		}
	}
	l->i++;
	if (it->argc == 0) {
		l->err = "empty tag";
		return -1;
	}
	return 0;
}

static int
cfg_lex_regex_ok(const struct cfg_lex_item *cur)
{
	size_t k;

	if (cur->argc == 0)
		return 1;
	for (k = 0; cfg_lex_regex_directives[k] != NULL; k++)
		if (strcasecmp(cur->argv[0], cfg_lex_regex_directives[k]) == 0)
			return 1;
	return 0;
}

/*
 * The guides write whole blocks on one line ("<domain *> max-smtp-out 5
 * max-msg-rate 100/h </domain>").  On a line that has a tag, a directive
 * therefore ends where the next directive name starts.  Lines without
 * tags are never split: there a value may be any word.
 */
static int
cfg_lex_split_at(const struct cfg_lex_item *it)
{
	int i;

	for (i = 1; i < it->argc; i++)
		if (isalpha((unsigned char)it->argv[i][0]) &&
		    cfg_directive_find(it->argv[i]) != NULL)
			return i;
	return 0;
}

static int
cfg_lex_split(struct cfg_lex *lx)
{
	struct cfg_lex_item *ni, *it, rest;
	int k, at, tags = 0;

	for (k = 0; k < lx->nitems; k++)
		if (lx->items[k].kind == CFG_LEX_OPEN ||
		    lx->items[k].kind == CFG_LEX_CLOSE)
			tags = 1;
	if (!tags)
		return 0;
	for (k = 0; k < lx->nitems; k++) {
		it = &lx->items[k];
		if (it->kind != CFG_LEX_DIRECTIVE || (at = cfg_lex_split_at(it)) == 0)
			continue;
		/* Move argv[at..] into a new item right after this one. */
		memset(&rest, 0, sizeof(rest));
		rest.kind = CFG_LEX_DIRECTIVE;
		rest.line = it->line;
		rest.argc = it->argc - at;
		if ((rest.argv = calloc((size_t)rest.argc, sizeof(char *))) == NULL)
			return -1;
		memcpy(rest.argv, it->argv + at, (size_t)rest.argc * sizeof(char *));
		it->argc = at;
		if ((ni = reallocarray(lx->items, (size_t)lx->nitems + 1,
		    sizeof(*ni))) == NULL) {
			cfg_lex_item_clear(&rest);
			return -1;
		}
		lx->items = ni;
		memmove(&ni[k + 2], &ni[k + 1],
		    (size_t)(lx->nitems - k - 1) * sizeof(*ni));
		ni[k + 1] = rest;
		lx->nitems++;
	}
	return 0;
}

/* Split one physical line into items.  On error the items lexed so far
 * are kept and an ERROR item ends the line. */
static void
cfg_lex_line(struct cfg_lex *lx, const char *s, size_t n)
{
	struct cfg_lex_line l = { .s = s, .n = n };
	struct cfg_lex_item cur, tag;

	memset(&cur, 0, sizeof(cur));
	if (memchr(s, '\0', n) != NULL) {
		l.err = "NUL byte in line";
		goto error;
	}
	if ((l.tok = malloc(n + 1)) == NULL) {
		l.err = "out of memory";
		goto error;
	}
	for (;;) {
		cfg_lex_skip_space(&l);
		if (l.i == n || s[l.i] == '#')
			break;
		if (s[l.i] == '<' && (cur.argc == 0 ||
		    cfg_lex_midline_tag(s + l.i, n - l.i))) {
			if (cur.argc > 0 && cfg_lex_push_item(lx, &cur) == -1)
				goto nomem;
			memset(&tag, 0, sizeof(tag));
			tag.line = lx->line;
			if (cfg_lex_tag(&l, &tag) == -1) {
				cfg_lex_item_clear(&tag);
				goto error;
			}
			if (cfg_lex_push_item(lx, &tag) == -1) {
				cfg_lex_item_clear(&tag);
				goto nomem;
			}
			continue;
		}
		if (cfg_lex_token(&l, 0, cfg_lex_regex_ok(&cur)) == -1)
			goto error;
		cur.kind = CFG_LEX_DIRECTIVE;
		cur.line = lx->line;
		if (cfg_lex_push_arg(&cur, l.tok) == -1) {
			l.err = "too many values (max 256)";
			goto error;
		}
	}
	if (cur.argc > 0 && cfg_lex_push_item(lx, &cur) == -1)
		goto nomem;
	free(l.tok);
	if (cfg_lex_split(lx) == -1) {
		l.tok = NULL;
		goto nomem;
	}
	return;
 nomem:
	l.err = "out of memory";
 error:
	cfg_lex_item_clear(&cur);
	free(l.tok);
	memset(&cur, 0, sizeof(cur));
	cur.kind = CFG_LEX_ERROR;
	cur.line = lx->line;
	cur.err = l.err;
	if (cfg_lex_push_item(lx, &cur) == -1) {
		/* Not even room for the error: report it in place of all. */
		cfg_lex_flush(lx);
		lx->items = NULL;
	}
}

/* Lex physical lines until one yields items.  0 at the end of input. */
static int
cfg_lex_fill(struct cfg_lex *lx)
{
	const char *s, *nl;
	size_t n;

	cfg_lex_flush(lx);
	while (lx->nitems == 0) {
		if (lx->pos >= lx->len)
			return 0;
		s = lx->buf + lx->pos;
		nl = memchr(s, '\n', lx->len - lx->pos);
		n = nl != NULL ? (size_t)(nl - s) : lx->len - lx->pos;
		lx->pos += n + (nl != NULL);
		lx->line++;
		if (n > CFG_MAX_LINE) {
			struct cfg_lex_item e = {
				.kind = CFG_LEX_ERROR, .line = lx->line,
				.err = "line too long (max 65536 bytes)"
			};
			if (cfg_lex_push_item(lx, &e) == -1)
				return 0;
			break;
		}
		cfg_lex_line(lx, s, n);
	}
	return 1;
}

enum cfg_lex_kind
cfg_lex_next(struct cfg_lex *lx, struct cfg_lex_item *it)
{
	memset(it, 0, sizeof(*it));
	if (lx->cur == lx->nitems && !cfg_lex_fill(lx)) {
		it->kind = CFG_LEX_EOF;
		it->line = lx->line;
		return CFG_LEX_EOF;
	}
	*it = lx->items[lx->cur];
	memset(&lx->items[lx->cur], 0, sizeof(lx->items[lx->cur]));
	lx->cur++;
	return it->kind;
}
