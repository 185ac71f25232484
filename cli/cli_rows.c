/*
 * cli_rows.c - listings other than queues as aligned tables: `show
 * domains`, `show vmtas`, `show jobs`, `suppression list`.  Each is a
 * list of columns over mgmtd's JSON rows; a key a row lacks prints "-".
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

struct cli_col {
	const char	*key;
	const char	*head;
	int		 right;
};

static const struct cli_col cli_domain_cols[] = {
	{ "domain", "domain", 0 }, { "rcpts", "rcpts", 1 },
	{ "queues", "queues", 1 }, { "connections", "conn", 1 },
	{ "delivered", "delivered", 1 }, { "bounced", "bounced", 1 },
	{ "deferred", "deferred", 1 }, { "paused", "paused", 0 },
	{ "lastError", "last error", 0 }, { NULL, NULL, 0 },
};

static const struct cli_col cli_vmta_cols[] = {
	{ "vmta", "vmta", 0 }, { "rcpts", "rcpts", 1 },
	{ "queues", "queues", 1 }, { "connections", "conn", 1 },
	{ "delivered", "delivered", 1 }, { "bounced", "bounced", 1 },
	{ "deferred", "deferred", 1 }, { "paused", "paused", 0 },
	{ NULL, NULL, 0 },
};

static const struct cli_col cli_job_cols[] = {
	{ "jobId", "job", 0 }, { "messages", "messages", 1 },
	{ "rcpts", "rcpts", 1 }, { NULL, NULL, 0 },
};

static const struct cli_col cli_sup_cols[] = {
	{ "address", "address", 0 }, { "vmta", "vmta", 0 },
	{ NULL, NULL, 0 },
};

static void
cli_print_cols(FILE *fp, const json_t *arr, const struct cli_col *cols,
    const char *what)
{
	char line[4096], cell[256];
	const json_t *row, *v;
	size_t i, c, ncols, w[16];
	int off;

	if (!json_is_array(arr)) {
		cli_print_json(fp, arr);
		return;
	}
	for (ncols = 0; cols[ncols].key != NULL && ncols < 16; ncols++)
		w[ncols] = strlen(cols[ncols].head);
	json_array_foreach(arr, i, row)
		for (c = 0; c < ncols; c++) {
			cli_cell(json_object_get(row, cols[c].key), cell,
			    sizeof(cell));
			if (strlen(cell) > w[c])
				w[c] = strlen(cell);
		}
	for (i = 0; i <= json_array_size(arr); i++) {
		row = i ? json_array_get(arr, i - 1) : NULL;
		for (c = 0, off = 0; c < ncols; c++) {
			if (row == NULL)
				snprintf(cell, sizeof(cell), "%s",
				    cols[c].head);
			else if ((v = json_object_get(row, cols[c].key)) ==
			    NULL || json_is_null(v))
				snprintf(cell, sizeof(cell), "%s",
				    c == ncols - 1 ? "" : "-");
			else
				cli_cell(v, cell, sizeof(cell));
			off += snprintf(line + off, sizeof(line) - off,
			    cols[c].right ? "%*s%s" : "%-*s%s", (int)w[c],
			    cell, c < ncols - 1 ? "  " : "");
			if (off >= (int)sizeof(line))
				off = sizeof(line) - 1;
		}
		while (off > 0 && line[off - 1] == ' ')
			off--;
		fprintf(fp, "%.*s\n", off, line);
	}
	fprintf(fp, "%zu %s%s.\n", json_array_size(arr), what,
	    json_array_size(arr) == 1 ? "" : "s");
}

void
cli_print_domains(FILE *fp, const json_t *j)
{
	cli_print_cols(fp, j, cli_domain_cols, "domain");
}

void
cli_print_vmtas(FILE *fp, const json_t *j)
{
	cli_print_cols(fp, j, cli_vmta_cols, "virtual MTA");
}

void
cli_print_jobs(FILE *fp, const json_t *j)
{
	cli_print_cols(fp, j, cli_job_cols, "job");
}

void
cli_print_suppression(FILE *fp, const json_t *j)
{
	cli_print_cols(fp, j, cli_sup_cols, "suppressed address");
}

/* resolve: "DOMAIN: N MX hosts (cached Ns)", then pref/host/addresses. */
void
cli_print_resolve(FILE *fp, const json_t *j)
{
	const json_t *mx = json_object_get(j, "mx"), *h, *a;
	const char *dom = json_string_value(json_object_get(j, "domain"));
	const char *err = json_string_value(json_object_get(j, "error"));
	char line[2048], pref[16];
	size_t i, k, w = 4;
	int off;

	if (err != NULL) {
		fprintf(fp, "%s: %s\n", dom ? dom : "?", err);
		return;
	}
	fprintf(fp, "%s: %zu MX host%s (answer cached %llds more)\n",
	    dom ? dom : "?", json_array_size(mx),
	    json_array_size(mx) == 1 ? "" : "s",
	    (long long)json_integer_value(json_object_get(j, "ttl")));
	json_array_foreach(mx, i, h) {
		const char *n = json_string_value(json_object_get(h, "host"));
		if (n != NULL && strlen(n) > w)
			w = strlen(n);
	}
	fprintf(fp, "%-4s  %-*s  %s\n", "pref", (int)w, "host", "addresses");
	json_array_foreach(mx, i, h) {
		cli_cell(json_object_get(h, "pref"), pref, sizeof(pref));
		off = 0;
		line[0] = '\0';
		json_array_foreach(json_object_get(h, "addresses"), k, a)
			if (off >= 0 && off < (int)sizeof(line))
				off += snprintf(line + off, sizeof(line) - off,
				    "%s%s", k ? ", " : "",
				    json_string_value(a) ?: "?");
		if (json_object_get(h, "error") != NULL && off >= 0 &&
		    off < (int)sizeof(line))
			snprintf(line + off, sizeof(line) - off, "%s(%s)",
			    off ? " " : "", json_string_value(json_object_get(h,
			    "error")) ?: "?");
		fprintf(fp, "%4s  %-*s  %s\n", pref, (int)w,
		    json_string_value(json_object_get(h, "host")) ?: "?", line);
	}
}
