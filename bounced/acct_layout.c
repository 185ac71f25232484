/*
 * acct_layout.c - the columns of one accounting file.
 *
 * A file's header is the union of the columns its record types select
 * (`record-fields TYPE FIELDS`), in PowerMTA's default order, then
 * userString and header_NAME columns in the order first named; `type`
 * is always first.  A record leaves empty the columns its type did not
 * select, so tools that read by header name work on any mix of types.
 *
 * header_NAME columns stay empty: queued does not pass message headers
 * to bounced (yet); they are accepted so that PowerMTA configs load and
 * the files keep the columns their consumers expect.
 */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bounced.h"
#include "log.h"

/* `*` for a type: the classic columns, and for the report types (f, rb,
 * rs) their own ones too. */
static uint64_t
acct_type_all(int t)
{
	if ((1 << t) & (ACCT_F | ACCT_RB | ACCT_RS))
		return (1ULL << ACCT_NCOLS) - 1;
	return (1ULL << ACCT_NCLASSIC) - 1;
}

static int
acct_type_index(int bit)
{
	int i;

	for (i = 0; i < ACCT_NTYPES; i++)
		if (bit == (1 << i))
			return i;
	return -1;
}

void
acct_layout_default(struct acct_layout *l)
{
	int i;

	memset(l, 0, sizeof(*l));
	for (i = 0; i < ACCT_NCOLS; i++) {
		l->name[i] = strdup(acct_col_name(i));
		if (l->name[i] == NULL)
			fatal("acct_layout_default");
		l->col[i] = i;
	}
	/* userString next, selected only when user-string is set. */
	if ((l->name[ACCT_NCOLS] = strdup("userString")) == NULL)
		fatal("acct_layout_default");
	l->col[ACCT_NCOLS] = ACCT_COL_USER;
	l->ncols = ACCT_NCOLS + 1;
	for (i = 0; i < ACCT_NTYPES; i++)
		l->sel[i] = acct_type_all(i);
	l->iso_times = 1;
}

/* Index of a column, added at the end if new; -1 if the name is none. */
static int
acct_layout_col(struct acct_layout *l, const char *name)
{
	int i, c;

	if (strncasecmp(name, "header_", 7) == 0 && name[7] != '\0')
		c = ACCT_COL_HEADER;
	else if (strcasecmp(name, "userString") == 0)
		c = ACCT_COL_USER;
	else if ((c = acct_col_find(name)) < 0)
		return -1;
	for (i = 0; i < l->ncols; i++)
		if (strcasecmp(l->name[i], name) == 0)
			return i;
	if (l->ncols == ACCT_MAXCOLS)
		return -1;
	if ((l->name[l->ncols] = strdup(name)) == NULL)
		fatal("acct_layout_col");
	l->col[l->ncols] = c;
	return l->ncols++;
}

int
acct_layout_fields(struct acct_layout *l, const char *type,
    const char *fields, const char **err)
{
	char *s, *p, *tok;
	uint64_t sel = 1;	/* type */
	int t, i, neg;

	if ((t = acct_type_index(acct_type_bit(type))) < 0) {
		*err = "unknown record type";
		return -1;
	}
	if ((s = p = strdup(fields)) == NULL)
		fatal("acct_layout_fields");
	*err = NULL;
	while ((tok = strsep(&p, ", \t")) != NULL) {
		if (*tok == '\0')
			continue;
		if (strcmp(tok, "*") == 0) {
			sel |= acct_type_all(t);
			continue;
		}
		if ((neg = tok[0] == '!'))
			tok++;
		if ((i = acct_layout_col(l, tok)) < 0) {
			*err = "unknown field";
			continue;
		}
		if (neg)
			sel &= ~(1ULL << i);
		else
			sel |= 1ULL << i;
	}
	free(s);
	l->sel[t] = sel | 1;
	return *err ? -1 : 0;
}

int
acct_layout_map(struct acct_layout *l, const char *type, const char *header,
    const char *field, const char **err)
{
	struct acct_map *m;
	int t, c;

	if ((t = acct_type_index(acct_type_bit(type))) < 0) {
		*err = "unknown record type";
		return -1;
	}
	if (strncasecmp(header, "header_", 7) != 0 || header[7] == '\0') {
		*err = "expected header_NAME";
		return -1;
	}
	if ((c = acct_col_find(field)) < 0 || c == C_TYPE) {
		*err = "unknown field";
		return -1;
	}
	if (l->nmap == (int)(sizeof(l->map) / sizeof(l->map[0]))) {
		*err = "too many map-header-to-field lines";
		return -1;
	}
	m = &l->map[l->nmap++];
	m->type = t;
	m->col = c;
	if ((m->header = strdup(header + 7)) == NULL)
		fatal("acct_layout_map");
	return 0;
}

/* The value of header `name` in a record's "Name: value\n" lines. */
static char *
acct_header_value(const char *headers, const char *name)
{
	size_t nl = strlen(name), vl;
	const char *p;

	for (p = headers; p != NULL && *p != '\0'; p += vl + 1) {
		vl = strcspn(p, "\n");
		if (vl > nl + 1 && strncasecmp(p, name, nl) == 0 &&
		    p[nl] == ':' && p[nl + 1] == ' ')
			return strndup(p + nl + 2, vl - nl - 2);
		if (p[vl] == '\0')
			break;
	}
	return NULL;
}

void
acct_layout_finish(struct acct_layout *l, int records)
{
	uint64_t any = 0, nsel[ACCT_NTYPES];
	int i, t, n = 0;

	/* user-string alone asks for its column in every type. */
	if (l->user_string != NULL && (i = acct_layout_col(l,
	    "userString")) >= 0)
		for (t = 0; t < ACCT_NTYPES; t++)
			l->sel[t] |= 1ULL << i;
	/* Only the types the file holds make its header. */
	for (t = 0; t < ACCT_NTYPES; t++)
		if (records & (1 << t))
			any |= l->sel[t];
	memset(nsel, 0, sizeof(nsel));
	for (i = 0; i < l->ncols; i++) {
		if ((any & (1ULL << i)) == 0) {
			free(l->name[i]);
			continue;
		}
		l->name[n] = l->name[i];
		l->col[n] = l->col[i];
		for (t = 0; t < ACCT_NTYPES; t++)
			if (l->sel[t] & (1ULL << i))
				nsel[t] |= 1ULL << n;
		n++;
	}
	l->ncols = n;
	memcpy(l->sel, nsel, sizeof(nsel));
}

void
acct_layout_header(const struct acct_layout *l, struct sbuf *b)
{
	int i;

	for (i = 0; i < l->ncols; i++) {
		if (i > 0)
			sb_add(b, ",", 1);
		acct_csv_field(b, l->name[i]);
	}
	sb_add(b, "\r\n", 2);
}

/*
 * Every column of the layout with its value for this record, in order:
 * fn(arg, name, value, selected).  value NULL: empty; selected 0: the
 * record's type does not fill that column.  The CSV row and the JSON
 * of event shipping are both made from this, so they cannot differ.
 */
void
acct_layout_fields_of(const struct acct_layout *l,
    const struct acct_record *a, const struct acct_extra *x,
    acct_field_fn fn, void *arg)
{
	char *col[ACCT_NCOLS], *v;
	uint64_t sel;
	int i, t;

	if ((t = acct_type_index(acct_type_bit(a->type))) < 0)
		return;
	sel = l->sel[t];
	acct_csv_cols(a, x, l->iso_times, col);
	/* map-header-to-field: the header's value replaces the field's */
	for (i = 0; i < l->nmap; i++)
		if (l->map[i].type == t && (v = acct_header_value(a->headers,
		    l->map[i].header)) != NULL) {
			free(col[l->map[i].col]);
			col[l->map[i].col] = v;
		}
	for (i = 0; i < l->ncols; i++) {
		if ((sel & (1ULL << i)) == 0)
			fn(arg, l->name[i], NULL, 0);
		else if (l->col[i] >= 0)
			fn(arg, l->name[i], col[l->col[i]], 1);
		else if (l->col[i] == ACCT_COL_USER)
			fn(arg, l->name[i], l->user_string, 1);
		else if (l->col[i] == ACCT_COL_HEADER) {
			v = acct_header_value(a->headers, l->name[i] + 7);
			fn(arg, l->name[i], v, 1);
			free(v);
		}
	}
	for (i = 0; i < ACCT_NCOLS; i++)
		free(col[i]);
}

struct acct_row_state {
	struct sbuf	*b;
	int		 n;
};

static void
acct_row_field(void *arg, const char *name, const char *value, int sel)
{
	struct acct_row_state *st = arg;

	(void)name;
	if (st->n++ > 0)
		sb_add(st->b, ",", 1);
	if (sel)
		acct_csv_field(st->b, value);
}

void
acct_layout_row(const struct acct_layout *l, struct sbuf *b,
    const struct acct_record *a, const struct acct_extra *x)
{
	struct acct_row_state st = { b, 0 };

	if (acct_type_index(acct_type_bit(a->type)) < 0)
		return;
	acct_layout_fields_of(l, a, x, acct_row_field, &st);
	sb_add(b, "\r\n", 2);
}

/*
 * "[!]pattern,..." over the queue name ("domain/vmta") or its domain;
 * the first pattern that matches decides, none: only if all were
 * negative ("!gmail.com" means every other queue).
 */
int
acct_layout_queue_ok(const struct acct_layout *l, const char *queue)
{
	char *s, *p, *tok, dom[256];
	int neg, allneg = 1, ok = -1;
	size_t len;

	if (l->queue_filter == NULL)
		return 1;
	if (queue == NULL)
		queue = "";
	len = strcspn(queue, "/");
	if (len >= sizeof(dom))
		len = sizeof(dom) - 1;
	memcpy(dom, queue, len);
	dom[len] = '\0';
	if ((s = p = strdup(l->queue_filter)) == NULL)
		fatal("acct_layout_queue_ok");
	while (ok == -1 && (tok = strsep(&p, ", \t")) != NULL) {
		if (*tok == '\0')
			continue;
		if ((neg = tok[0] == '!'))
			tok++;
		else
			allneg = 0;
		if (fnmatch(tok, queue, FNM_CASEFOLD) == 0 ||
		    fnmatch(tok, dom, FNM_CASEFOLD) == 0)
			ok = !neg;
	}
	free(s);
	return ok == -1 ? allneg : ok;
}

void
acct_layout_free(struct acct_layout *l)
{
	int i;

	for (i = 0; i < l->ncols; i++)
		free(l->name[i]);
	free(l->user_string);
	free(l->queue_filter);
	for (i = 0; i < l->nmap; i++)
		free(l->map[i].header);
	memset(l, 0, sizeof(*l));
}

void
acct_layout_copy(struct acct_layout *d, const struct acct_layout *s)
{
	int i;

	*d = *s;
	for (i = 0; i < s->ncols; i++)
		if ((d->name[i] = strdup(s->name[i])) == NULL)
			fatal("acct_layout_copy");
	if (s->user_string != NULL &&
	    (d->user_string = strdup(s->user_string)) == NULL)
		fatal("acct_layout_copy");
	if (s->queue_filter != NULL &&
	    (d->queue_filter = strdup(s->queue_filter)) == NULL)
		fatal("acct_layout_copy");
	for (i = 0; i < s->nmap; i++)
		if ((d->map[i].header = strdup(s->map[i].header)) == NULL)
			fatal("acct_layout_copy");
}
