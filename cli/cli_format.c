/*
 * cli_format.c - mgmtd's JSON answers as aligned tables for people.
 *
 * The daemons own the shape of their JSON; this file reads it loosely
 * (a missing key prints "-", an unknown one is still shown where a
 * generic layout allows) so that the CLI does not break when a daemon
 * adds a counter.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define CLI_MAX_COLS	16
#define CLI_CELL	256

struct cli_table {
	int	 ncols;
	int	 nrows;
	char	 head[CLI_MAX_COLS][64];
	int	 right[CLI_MAX_COLS];	/* right-aligned (numbers) */
	int	 noheader;
	char	(*cells)[CLI_MAX_COLS][CLI_CELL];
};

void
cli_print_json(FILE *fp, const json_t *j)
{
	char *s;

	if ((s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
	    JSON_ENCODE_ANY)) == NULL)
		return;
	fprintf(fp, "%s\n", s);
	free(s);
}

const char *
cli_duration(long long secs, char *buf, size_t bufsz)
{
	static const struct { long long n; char u; } units[] = {
		{ 86400, 'd' }, { 3600, 'h' }, { 60, 'm' }, { 1, 's' },
	};
	size_t i, off = 0;
	int parts = 0;

	buf[0] = '\0';
	if (secs <= 0) {
		snprintf(buf, bufsz, "0s");
		return buf;
	}
	/* The two largest units are precise enough for people. */
	for (i = 0; i < 4 && parts < 2 && off < bufsz; i++) {
		if (secs < units[i].n && parts == 0)
			continue;
		if (secs / units[i].n > 0)
			off += snprintf(buf + off, bufsz - off, "%lld%c",
			    secs / units[i].n, units[i].u);
		secs %= units[i].n;
		parts++;
	}
	return buf;
}

static const char *
cli_time(long long t, char *buf, size_t bufsz)
{
	struct tm tm;
	time_t tt = t;

	if (t <= 0 || localtime_r(&tt, &tm) == NULL)
		snprintf(buf, bufsz, "-");
	else
		strftime(buf, bufsz, "%Y-%m-%d %H:%M:%S", &tm);
	return buf;
}

/* A scalar as text; objects and arrays as compact JSON; none: "-". */
static const char *
cli_scalar(const json_t *v, char *buf, size_t bufsz)
{
	char *s;

	if (v == NULL) {
		snprintf(buf, bufsz, "-");
		return buf;
	}
	switch (json_typeof(v)) {
	case JSON_STRING:
		snprintf(buf, bufsz, "%s", json_string_value(v));
		break;
	case JSON_INTEGER:
		snprintf(buf, bufsz, "%lld",
		    (long long)json_integer_value(v));
		break;
	case JSON_REAL:
		snprintf(buf, bufsz, "%.1f", json_real_value(v));
		break;
	case JSON_TRUE:
		snprintf(buf, bufsz, "yes");
		break;
	case JSON_FALSE:
		snprintf(buf, bufsz, "no");
		break;
	case JSON_NULL:
		snprintf(buf, bufsz, "-");
		break;
	default:
		if ((s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) ==
		    NULL)
			snprintf(buf, bufsz, "?");
		else {
			snprintf(buf, bufsz, "%s", s);
			free(s);
		}
	}
	return buf;
}

const char *
cli_cell(const json_t *v, char *buf, size_t bufsz)
{
	return cli_scalar(v, buf, bufsz);
}

/* --- tables --- */

static void
cli_table_init(struct cli_table *t, int nrows)
{
	memset(t, 0, sizeof(*t));
	if ((t->cells = calloc(nrows ? nrows : 1, sizeof(*t->cells))) ==
	    NULL) {
		perror("tern");
		exit(CLI_FAIL);
	}
}

static void
cli_table_col(struct cli_table *t, const char *head, int right)
{
	if (t->ncols == CLI_MAX_COLS)
		return;
	snprintf(t->head[t->ncols], sizeof(t->head[0]), "%s", head);
	t->right[t->ncols++] = right;
}

static void
cli_table_print(FILE *fp, struct cli_table *t, const char *indent)
{
	char line[CLI_MAX_COLS * (CLI_CELL + 2) + 64];
	int w[CLI_MAX_COLS], c, r, off, len;

	for (c = 0; c < t->ncols; c++) {
		w[c] = strlen(t->head[c]);
		for (r = 0; r < t->nrows; r++)
			if ((int)strlen(t->cells[r][c]) > w[c])
				w[c] = strlen(t->cells[r][c]);
	}
	for (r = t->noheader ? 0 : -1; r < t->nrows; r++) {
		off = snprintf(line, sizeof(line), "%s", indent);
		for (c = 0; c < t->ncols; c++) {
			const char *s = r < 0 ? t->head[c] : t->cells[r][c];

			off += snprintf(line + off, sizeof(line) - off,
			    t->right[c] ? "%*s%s" : "%-*s%s", w[c], s,
			    c < t->ncols - 1 ? "  " : "");
		}
		/* No trailing blanks after an empty last column. */
		len = strlen(line);
		while (len > 0 && line[len - 1] == ' ')
			len--;
		fprintf(fp, "%.*s\n", len, line);
	}
	free(t->cells);
	t->cells = NULL;
}

/* --- show status --- */

/* Nested counters as "a.b  N" lines, keys in the daemon's order. */
static void
cli_flatten(struct cli_table *t, const char *prefix, const json_t *obj,
    int max)
{
	const char *key;
	json_t *v;
	char name[CLI_CELL];

	json_object_foreach((json_t *)obj, key, v) {
		snprintf(name, sizeof(name), "%s%s%s", prefix,
		    *prefix ? "." : "", key);
		if (json_is_object(v)) {
			cli_flatten(t, name, v, max);
			continue;
		}
		if (t->nrows == max)
			return;
		snprintf(t->cells[t->nrows][0], CLI_CELL, "%s", name);
		cli_scalar(v, t->cells[t->nrows][1], CLI_CELL);
		t->nrows++;
	}
}

static size_t
cli_count_leaves(const json_t *obj)
{
	const char *key;
	json_t *v;
	size_t n = 0;

	json_object_foreach((json_t *)obj, key, v)
		n += json_is_object(v) ? cli_count_leaves(v) : 1;
	return n;
}

static void
cli_print_processes(FILE *fp, const json_t *procs)
{
	struct cli_table t;
	const json_t *p;
	char buf[64];
	size_t i;

	cli_table_init(&t, json_array_size(procs));
	cli_table_col(&t, "process", 0);
	cli_table_col(&t, "pid", 1);
	cli_table_col(&t, "state", 0);
	cli_table_col(&t, "restarts", 1);
	cli_table_col(&t, "started", 0);
	json_array_foreach(procs, i, p) {
		char (*row)[CLI_CELL] = t.cells[t.nrows++];
		json_t *inst = json_object_get(p, "instance");

		cli_scalar(json_object_get(p, "name"), row[0], CLI_CELL);
		if (json_integer_value(inst) > 0)
			snprintf(row[0] + strlen(row[0]), CLI_CELL -
			    strlen(row[0]), ".%lld",
			    (long long)json_integer_value(inst));
		cli_scalar(json_object_get(p, "pid"), row[1],
		    CLI_CELL);
		snprintf(row[2], CLI_CELL, "%s", json_is_false(
		    json_object_get(p, "running")) ? "stopped" : "running");
		cli_scalar(json_object_get(p, "restarts"),
		    row[3], CLI_CELL);
		snprintf(row[4], CLI_CELL, "%s", cli_time(json_integer_value(
		    json_object_get(p, "started")), buf, sizeof(buf)));
	}
	cli_table_print(fp, &t, " ");
}

void
cli_print_status(FILE *fp, const json_t *j)
{
	const json_t *status = json_object_get(j, "status");
	const json_t *procs = json_object_get(j, "processes");
	struct cli_table t;
	size_t n;

	fprintf(fp, "Tern %s status\n\n", TERN_VERSION);
	if (json_is_object(status)) {
		n = cli_count_leaves(status);
		cli_table_init(&t, n);
		cli_table_col(&t, "counter", 0);
		cli_table_col(&t, "value", 1);
		cli_flatten(&t, "", status, n);
		cli_table_print(fp, &t, " ");
	}
	if (json_is_array(procs)) {
		fputc('\n', fp);
		cli_print_processes(fp, procs);
	}
}

/* --- show status --cluster --- */

/* rows: an array of objects; cols: their keys ("-" first: right-aligned) */
static void
cli_print_rows(FILE *fp, const json_t *rows, const char **cols, int ncols)
{
	struct cli_table t;
	const json_t *r;
	size_t i;
	int c;

	cli_table_init(&t, json_array_size(rows));
	for (c = 0; c < ncols; c++)
		cli_table_col(&t, cols[c] + (cols[c][0] == '-'),
		    cols[c][0] == '-');
	json_array_foreach(rows, i, r)
		for (c = 0; c < ncols; c++)
			cli_scalar(json_object_get(r, cols[c] +
			    (cols[c][0] == '-')), t.cells[t.nrows][c],
			    CLI_CELL);
	t.nrows = json_array_size(rows);
	cli_table_print(fp, &t, " ");
}

void
cli_print_cluster(FILE *fp, const json_t *j)
{
	static const char *ncols[] = { "name", "-ageSeconds", "live" };
	static const char *lcols[] = { "limit", "of", "-max", "rate", "-used",
	    "-heldHere", "-usedThisMinute", "-share" };
	const char *mode = json_string_value(json_object_get(j, "mode"));
	const char *why = json_string_value(json_object_get(j, "reason"));

	if (mode != NULL && strcmp(mode, "off") == 0) {
		fprintf(fp, "no <cluster>: limits are this node's own\n");
		return;
	}
	fprintf(fp, "node %s: %s mode%s%s, %lld live node(s)\n",
	    json_string_value(json_object_get(j, "node")), mode,
	    why ? ": " : "", why ? why : "",
	    (long long)json_integer_value(json_object_get(j, "liveNodes")));
	fputc('\n', fp);
	cli_print_rows(fp, json_object_get(j, "nodes"), ncols, 3);
	if (json_array_size(json_object_get(j, "limits")) > 0) {
		fputc('\n', fp);
		cli_print_rows(fp, json_object_get(j, "limits"), lcols, 8);
	}
}

/* --- show queues --- */

/* The first of the keys the row has. */
static json_t *
cli_get(const json_t *row, const char *k1, const char *k2)
{
	json_t *v;

	if ((v = json_object_get(row, k1)) == NULL && k2 != NULL)
		v = json_object_get(row, k2);
	return v;
}

static void
cli_queue_retry(const json_t *q, char *buf, size_t bufsz)
{
	json_t *v;

	if ((v = cli_get(q, "retryIn", "retry_in")) != NULL &&
	    json_integer_value(v) > 0) {
		char d[32];

		snprintf(buf, bufsz, "in %s", cli_duration(
		    json_integer_value(v), d, sizeof(d)));
	} else if ((v = cli_get(q, "nextRetry", "next_retry")) != NULL &&
	    json_is_integer(v))
		cli_time(json_integer_value(v), buf, bufsz);
	else
		snprintf(buf, bufsz, "-");
}

static void
cli_queue_row(const json_t *q, char (*row)[CLI_CELL], int with_msgs)
{
	json_t *v;
	int c = 0;

	cli_scalar(cli_get(q, "queue", "name"), row[c], CLI_CELL);
	/* MX rollup: where the queue's mail goes out */
	if ((v = cli_get(q, "rollup", NULL)) != NULL && json_is_string(v)) {
		strlcat(row[c], " > ", CLI_CELL);
		strlcat(row[c], json_string_value(v), CLI_CELL);
	}
	c++;
	cli_scalar(cli_get(q, "rcpts", "recipients"),
	    row[c++], CLI_CELL);
	if (with_msgs)
		cli_scalar(cli_get(q, "messages", "msgs"),
		    row[c++], CLI_CELL);
	cli_scalar(cli_get(q, "inflight", NULL), row[c++],
	    CLI_CELL);
	/* deliverd's open connections and the limits in force */
	cli_scalar(cli_get(q, "connections", NULL), row[c++], CLI_CELL);
	cli_scalar(cli_get(q, "maxSmtpOut", NULL), row[c++], CLI_CELL);
	cli_scalar(cli_get(q, "msgRate", NULL), row[c++], CLI_CELL);
	cli_scalar(cli_get(q, "paused", NULL), row[c++], CLI_CELL);
	cli_scalar(cli_get(q, "mode", NULL), row[c++],
	    CLI_CELL);
	cli_queue_retry(q, row[c++], CLI_CELL);
	v = cli_get(q, "lastError", "last_error");
	if (v == NULL || json_is_null(v))
		row[c][0] = '\0';
	else
		cli_scalar(v, row[c], CLI_CELL);
}

void
cli_print_queues(FILE *fp, const json_t *j)
{
	const json_t *arr = json_is_array(j) ? j : json_object_get(j, "queues");
	const json_t *q;
	struct cli_table t;
	int with_msgs = 0;
	size_t i;

	if (!json_is_array(arr)) {
		cli_print_json(fp, j);
		return;
	}
	json_array_foreach(arr, i, q)
		if (cli_get(q, "messages", "msgs") != NULL)
			with_msgs = 1;
	cli_table_init(&t, json_array_size(arr));
	cli_table_col(&t, "queue", 0);
	cli_table_col(&t, "rcpts", 1);
	if (with_msgs)
		cli_table_col(&t, "messages", 1);
	cli_table_col(&t, "inflight", 1);
	cli_table_col(&t, "conn", 1);
	cli_table_col(&t, "max-out", 1);
	cli_table_col(&t, "rate", 0);
	cli_table_col(&t, "paused", 0);
	cli_table_col(&t, "mode", 0);
	cli_table_col(&t, "next retry", 0);
	cli_table_col(&t, "last error", 0);
	json_array_foreach(arr, i, q)
		cli_queue_row(q, t.cells[t.nrows++], with_msgs);
	cli_table_print(fp, &t, "");
	fprintf(fp, "%zu queue%s.\n", json_array_size(arr),
	    json_array_size(arr) == 1 ? "" : "s");
}

/* --- show settings --- */

/* name value [# FILE:LINE | # default] (from: where each came from) */
static void
cli_print_section(FILE *fp, const char *title, const json_t *obj,
    const json_t *from)
{
	struct cli_table t;
	const char *key, *src;
	json_t *v;

	if (!json_is_object(obj))
		return;
	fprintf(fp, "%s\n", title);
	cli_table_init(&t, json_object_size(obj));
	cli_table_col(&t, "", 0);
	cli_table_col(&t, "", 0);
	if (json_is_object(from))
		cli_table_col(&t, "", 0);
	json_object_foreach((json_t *)obj, key, v) {
		snprintf(t.cells[t.nrows][0], CLI_CELL, "%s", key);
		cli_scalar(v, t.cells[t.nrows][1], CLI_CELL);
		if (json_is_string(v) && *json_string_value(v) == '\0')
			snprintf(t.cells[t.nrows][1], CLI_CELL, "\"\"");
		if (json_is_object(from)) {
			src = json_string_value(json_object_get(from, key));
			snprintf(t.cells[t.nrows][2], CLI_CELL, "# %s",
			    src ? src : "default");
		}
		t.nrows++;
	}
	/* No header line: PowerMTA prints "name value" pairs only. */
	t.noheader = 1;
	cli_table_print(fp, &t, "  ");
}

void
cli_print_settings(FILE *fp, const json_t *j)
{
	const json_t *q = json_object_get(j, "queue");

	if (q != NULL) {
		if (json_object_size(json_object_get(j, "vmtaSettings")) > 0) {
			cli_print_section(fp, "Virtual MTA Settings",
			    json_object_get(j, "vmtaSettings"),
			    json_object_get(j, "vmtaFrom"));
			fputc('\n', fp);
		}
		cli_print_section(fp, "Queue Settings",
		    json_object_get(j, "settings"), json_object_get(j, "from"));
		return;
	}
	cli_print_section(fp, "Global Settings",
	    json_object_get(j, "settings"), json_object_get(j, "from"));
}
