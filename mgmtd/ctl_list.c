/*
 * ctl_list.c - queue listings as PowerMTA shows them: `show queues`
 * with filters, `show topqueues` (most recipients first, 20 rows),
 * `show domains` and `show vmtas` (queues summed per domain or VMTA).
 *
 * queued sends every queue; the shaping happens here so that queued's
 * answer stays one cheap walk over its queues.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "mgmtd.h"

static int
ctl_opt(const char *word, const char *name, const char **val, char **w,
    int n, int *i)
{
	size_t len = strlen(name);

	if (strncmp(word, name, len) != 0)
		return 0;
	if (word[len] == '=') {
		*val = word + len + 1;
		return 1;
	}
	if (word[len] == '\0' && *i + 1 < n) {
		*val = w[++*i];
		return 1;
	}
	return 0;
}

int
ctl_list_parse(char **w, int n, struct ctl_listopt *o, const char **err)
{
	const char *v, *errstr;
	int i;

	for (i = 0; i < n; i++) {
		if (strcmp(w[i], "--errors") == 0)
			o->errors = 1;
		else if (ctl_opt(w[i], "--domain", &v, w, n, &i))
			o->domain = v;
		else if (ctl_opt(w[i], "--vmta", &v, w, n, &i))
			o->vmta = v;
		else if (ctl_opt(w[i], "--mode", &v, w, n, &i))
			o->mode = v;
		else if (ctl_opt(w[i], "--paused", &v, w, n, &i))
			o->paused = strcmp(v, "yes") == 0 ||
			    strcmp(v, "true") == 0;
		else if (ctl_opt(w[i], "--maxitems", &v, w, n, &i)) {
			o->maxitems = strtonum(v, 0, 1000000, &errstr);
			if (errstr != NULL) {
				*err = "--maxitems: not a number";
				return -1;
			}
		} else if (w[i][0] != '-' && o->domain == NULL &&
		    o->vmta == NULL) {
			/* pmta's positional "domain[/vmta]" */
			char *slash = strchr(w[i], '/');

			if (slash != NULL) {
				*slash = '\0';
				if (slash[1] != '\0' && strcmp(slash + 1, "*"))
					o->vmta = slash + 1;
			}
			if (w[i][0] != '\0' && strcmp(w[i], "*") != 0)
				o->domain = w[i];
		} else {
			*err = "unknown option (expected --domain, --vmta, "
			    "--mode, --paused, --errors, --maxitems)";
			return -1;
		}
	}
	return 0;
}

static int
ctl_list_match(const json_t *q, const struct ctl_listopt *o)
{
	const char *s;

	if (o->domain != NULL && ((s = json_string_value(json_object_get(q,
	    "domain"))) == NULL || strcasecmp(s, o->domain) != 0))
		return 0;
	if (o->vmta != NULL && ((s = json_string_value(json_object_get(q,
	    "vmta"))) == NULL || strcmp(s, o->vmta) != 0))
		return 0;
	if (o->mode != NULL && ((s = json_string_value(json_object_get(q,
	    "mode"))) == NULL || strcmp(s, o->mode) != 0))
		return 0;
	if (o->errors && !json_is_string(json_object_get(q, "lastError")))
		return 0;
	if (o->paused != -1 &&
	    json_is_true(json_object_get(q, "paused")) != o->paused)
		return 0;
	return 1;
}

static const char *const ctl_sums[] = {
	"rcpts", "inflight", "connections", "delivered", "bounced",
	"deferred", NULL
};

/* Add queue q into the group row of its domain or VMTA. */
static void
ctl_list_add(json_t *groups, const json_t *q, const char *key)
{
	const char *name = json_string_value(json_object_get(q, key));
	json_t *g, *v;
	int i;

	if (name == NULL)
		return;
	if ((g = json_object_get(groups, name)) == NULL) {
		g = json_pack("{s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:b,s:n}",
		    key, name, "queues", 0, "rcpts", 0, "inflight", 0,
		    "connections", 0, "delivered", 0, "bounced", 0, "deferred", 0,
		    "paused", 0, "lastError");
		json_object_set_new(groups, name, g);
	}
	json_object_set_new(g, "queues", json_integer(json_integer_value(
	    json_object_get(g, "queues")) + 1));
	for (i = 0; ctl_sums[i] != NULL; i++)
		json_object_set_new(g, ctl_sums[i], json_integer(
		    json_integer_value(json_object_get(g, ctl_sums[i])) +
		    json_integer_value(json_object_get(q, ctl_sums[i]))));
	if (json_is_true(json_object_get(q, "paused")))
		json_object_set_new(g, "paused", json_true());
	if (json_is_string(v = json_object_get(q, "lastError")))
		json_object_set(g, "lastError", v);
}

static int
ctl_rcpts_cmp(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_object_get(*(json_t **)a,
	    "rcpts"));
	json_int_t y = json_integer_value(json_object_get(*(json_t **)b,
	    "rcpts"));

	return x < y ? 1 : x > y ? -1 : 0;
}

/* Sort by recipients (stable enough: ties keep name order) and cut. */
static json_t *
ctl_list_finish(json_t *rows, const struct ctl_listopt *o)
{
	json_t **v, *out;
	size_t i, n = json_array_size(rows);

	if ((v = calloc(n ? n : 1, sizeof(*v))) == NULL)
		fatal("ctl_list_finish");
	for (i = 0; i < n; i++)
		v[i] = json_array_get(rows, i);
	if (o->top)
		qsort(v, n, sizeof(*v), ctl_rcpts_cmp);
	out = json_array();
	for (i = 0; i < n && (o->maxitems == 0 || (long)i < o->maxitems);
	    i++)
		json_array_append(out, v[i]);
	free(v);
	json_decref(rows);
	return out;
}

json_t *
ctl_list(const json_t *queues, const struct ctl_listopt *o)
{
	const char *key = o->group == LIST_DOMAINS ? "domain" : "vmta";
	json_t *rows = json_array(), *groups, *q, *g;
	const char *name;
	size_t i;

	if (!json_is_array(queues)) {
		json_decref(rows);
		return json_pack("{s:s}", "error", "queued sent no queue list");
	}
	if (o->group == LIST_QUEUES) {
		json_array_foreach(queues, i, q)
			if (ctl_list_match(q, o))
				json_array_append(rows, q);
		return ctl_list_finish(rows, o);
	}
	groups = json_object();
	json_array_foreach(queues, i, q)
		if (ctl_list_match(q, o))
			ctl_list_add(groups, q, key);
	json_object_foreach(groups, name, g)
		json_array_append(rows, g);
	json_decref(groups);
	return ctl_list_finish(rows, o);
}
