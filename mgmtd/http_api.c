/*
 * http_api.c - the HTTP endpoints.
 *
 *	GET  /, /monitor		the web monitor page
 *	GET  /api/v1/stats		status counters, processes, last hour
 *	GET  /api/v1/{queues,domains,vmtas,jobs,history}	plain JSON
 *	GET  /status /queues /domains /vmtas /jobs	PowerMTA's monitor
 *		URLs: ?format=json (default) or ?format=xml, in pmta's
 *		envelopes ({"data":..,"status":"success","message":""} and
 *		<rsp><data>..</data><succ/></rsp>)
 *	GET  /metrics			Prometheus text format
 *	POST /api/v1/{pause,resume,schedule}?queue=DOMAIN[/VMTA]
 *	POST /api/v1/delete?queue=DOMAIN[/VMTA] | ?jobId=ID
 *	POST /api/v1/reload
 *	POST /api/v1/inject		queue mail (http_inject.c)
 *
 * Reads need monitor access, POSTs operator or admin (pmta: operators
 * "run commands").  Every endpoint runs the control request line the
 * CLI would send, so both always agree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "http.h"

/* --- shapes: a control answer into a reply --- */

static void
reply_json(struct http_call *c, json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER |
	    JSON_ENCODE_ANY);

	http_reply(c, 200, "application/json", text, strlen(text));
	free(text);
}

/* pmta's envelope, JSON or XML as ?format= asks. */
static void
reply_pmta(struct http_call *c, json_t *data, const char *item)
{
	char *text;

	if (http_format(c) == FMT_XML) {
		text = http_xml(data, item, 1, "");
		http_reply(c, 200, "application/xml", text, strlen(text));
	} else {
		text = http_json_envelope(data, 1, "");
		http_reply(c, 200, "application/json", text, strlen(text));
	}
	free(text);
}

static json_t *
jget(const json_t *j, const char *path)
{
	char key[64];
	const char *dot;

	while (j != NULL && (dot = strchr(path, '.')) != NULL) {
		snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
		j = json_object_get(j, key);
		path = dot + 1;
	}
	return j ? json_object_get(j, path) : NULL;
}

static json_int_t
jint(const json_t *j, const char *path)
{
	return json_integer_value(jget(j, path));
}

static void
shape_stats(struct http_call *c, json_t *j)
{
	json_t *out = json_deep_copy(j);

	json_object_set_new(out, "timeNow", json_integer(time(NULL)));
	json_object_set_new(out, "traffic", history_json());
	reply_json(c, out);
	json_decref(out);
}

static void
shape_plain(struct http_call *c, json_t *j)
{
	reply_json(c, j);
}

/* pmta's status tree (the keys monitoring tools read), from ours.  Its
 * traffic counts recipients (rcp): in is what came over SMTP
 * (receivedRecipients), out what was delivered. */
static void
shape_status(struct http_call *c, json_t *j)
{
	json_t *h = history_json(), *data;

	data = json_pack("{s:{s:s,s:I,s:{s:{s:{s:I},s:{s:I}},"
	    "s:{s:{s:I},s:{s:I}}},s:{s:{s:I,s:I,s:f}},s:{s:{s:I},s:I},"
	    "s:{s:I,s:I,s:I},s:b}}",
	    "status",
	    "status", "running",
	    "timeNow", (json_int_t)time(NULL),
	    "traffic",
	    "total", "in", "rcp", jint(j, "status.receivedRecipients"),
	    "out", "rcp", jint(j, "status.delivered"),
	    "lastHr", "in", "rcp", jint(h, "lastHour.receivedRecipients"),
	    "out", "rcp", jint(h, "lastHour.delivered"),
	    "queue", "smtp", "rcp", jint(j, "status.queue.recipients"),
	    "msg", jint(j, "status.queue.messages"),
	    "kb", jint(j, "status.queue.bytes") / 1024.0,
	    "spool", "files", "inUse", jint(j, "status.queue.messages"),
	    "totalRcp", jint(j, "status.queue.recipients"),
	    "counters", "delivered", jint(j, "status.delivered"),
	    "bounced", jint(j, "status.bounced"),
	    "deferred", jint(j, "status.deferred"),
	    "spoolFull", json_is_true(jget(j, "status.spoolFull")));
	json_decref(h);
	reply_pmta(c, data, NULL);
	json_decref(data);
}

/* pmta's element names: queue/name, queue/rcp, ... */
static json_t *
pmta_rows(json_t *rows, const char *key)
{
	json_t *out = json_array(), *r;
	size_t i;

	json_array_foreach(rows, i, r) {
		json_t *o = json_deep_copy(r);
		json_t *name = json_object_get(r, key);

		json_object_set(o, "name", name ? name : json_null());
		json_object_set(o, "rcp", json_object_get(r, "rcpts"));
		json_array_append_new(out, o);
	}
	return out;
}

static void
shape_queues(struct http_call *c, json_t *j)
{
	json_t *rows = pmta_rows(j, "queue");

	reply_pmta(c, rows, "queue");
	json_decref(rows);
}

static void
shape_domains(struct http_call *c, json_t *j)
{
	json_t *rows = pmta_rows(j, "domain");

	reply_pmta(c, rows, "domain");
	json_decref(rows);
}

static void
shape_vmtas(struct http_call *c, json_t *j)
{
	json_t *rows = pmta_rows(j, "vmta");

	reply_pmta(c, rows, "vmta");
	json_decref(rows);
}

static void
shape_jobs(struct http_call *c, json_t *j)
{
	json_t *rows = pmta_rows(j, "jobId");

	reply_pmta(c, rows, "job");
	json_decref(rows);
}

/* --- routes --- */

static void
get_monitor(struct http_call *c)
{
	http_reply(c, 200, "text/html; charset=utf-8", www_monitor_html,
	    www_monitor_html_len);
}

static void
get_stats(struct http_call *c)
{
	http_run(c, "show status", shape_stats);
}

static void
get_history(struct http_call *c)
{
	json_t *h = history_json();

	reply_json(c, h);
	json_decref(h);
}

/* "show queues" and its filters from ?domain=&vmta=&mode=&errors= */
static void
run_list(struct http_call *c, const char *verb, http_shape shape)
{
	static const char *opts[] = { "domain", "vmta", "mode", "maxitems",
	    NULL };
	char line[1024];
	const char *v;
	int i;

	snprintf(line, sizeof(line), "show %s", verb);
	for (i = 0; opts[i] != NULL; i++)
		if ((v = http_param(c, opts[i])) != NULL && *v != '\0' &&
		    strpbrk(v, " \t\r\n") == NULL && strlen(v) < 256) {
			strlcat(line, " --", sizeof(line));
			strlcat(line, opts[i], sizeof(line));
			strlcat(line, "=", sizeof(line));
			strlcat(line, v, sizeof(line));
		}
	if (http_param(c, "errors") != NULL)
		strlcat(line, " --errors", sizeof(line));
	/* pmta's ?queue=*\/VMTA */
	if ((v = http_param(c, "queue")) != NULL && *v != '\0' &&
	    strpbrk(v, " \t\r\n") == NULL && strlen(v) < 512) {
		strlcat(line, " ", sizeof(line));
		strlcat(line, v, sizeof(line));
	}
	http_run(c, line, shape);
}

static void get_api_queues(struct http_call *c)
{ run_list(c, "queues", shape_plain); }
static void get_api_domains(struct http_call *c)
{ run_list(c, "domains", shape_plain); }
static void get_api_vmtas(struct http_call *c)
{ run_list(c, "vmtas", shape_plain); }
static void get_api_jobs(struct http_call *c)
{ http_run(c, "show jobs", shape_plain); }
static void get_api_cluster(struct http_call *c)
{ http_run(c, "show status --cluster", shape_plain); }
static void get_status(struct http_call *c)
{ http_run(c, "show status", shape_status); }
static void get_queues(struct http_call *c)
{ run_list(c, "topqueues", shape_queues); }
static void get_domains(struct http_call *c)
{ run_list(c, "topdomains", shape_domains); }
static void get_vmtas(struct http_call *c)
{ run_list(c, "vmtas", shape_vmtas); }
static void get_jobs(struct http_call *c)
{ http_run(c, "show jobs", shape_jobs); }

/* /metrics: status first, then the queues. */
static void
shape_metrics_queues(struct http_call *c, json_t *j)
{
	char *text = http_metrics(http_kept(c), j);

	http_reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", text,
	    strlen(text));
	free(text);
}

static void
shape_metrics_status(struct http_call *c, json_t *j)
{
	http_keep(c, j);
	http_run(c, "show queues", shape_metrics_queues);
}

static void
get_metrics(struct http_call *c)
{
	http_run(c, "show status", shape_metrics_status);
}

/* --- POST: operations --- */

static void
post_reply(struct http_call *c, json_t *j)
{
	int ok = !json_is_false(json_object_get(j, "ok"));

	if (http_format(c) == FMT_XML) {
		char *text = http_xml(NULL, NULL, ok, json_string_value(
		    json_object_get(j, "message")));

		http_reply(c, ok ? 200 : 400, "application/xml", text,
		    strlen(text));
		free(text);
		return;
	}
	{
		char *text = json_dumps(j, JSON_COMPACT);

		http_reply(c, ok ? 200 : 400, "application/json", text,
		    strlen(text));
		free(text);
	}
}

static int
bad_param(const char *v)
{
	return v == NULL || *v == '\0' || strlen(v) > 512 ||
	    strpbrk(v, " \t\r\n") != NULL;
}

static void
post_qop(struct http_call *c, const char *verb)
{
	const char *q = http_param(c, "queue");
	char line[700];

	if (bad_param(q)) {
		http_reply(c, 400, "application/json",
		    "{\"error\":\"queue=DOMAIN[/VMTA] needed\"}", 37);
		return;
	}
	snprintf(line, sizeof(line), "%s queue %s", verb, q);
	http_run(c, line, post_reply);
}

static void post_pause(struct http_call *c) { post_qop(c, "pause"); }
static void post_resume(struct http_call *c) { post_qop(c, "resume"); }
static void post_schedule(struct http_call *c) { post_qop(c, "schedule"); }

static void
post_delete(struct http_call *c)
{
	const char *q = http_param(c, "queue"), *job = http_param(c, "jobId");
	char line[700];

	if (bad_param(q) == bad_param(job)) {
		http_reply(c, 400, "application/json",
		    "{\"error\":\"queue= or jobId= needed\"}", 34);
		return;
	}
	snprintf(line, sizeof(line), "delete %s=%s", q ? "--queue" :
	    "--jobId", q ? q : job);
	http_run(c, line, post_reply);
}

static void
post_reload(struct http_call *c)
{
	http_run(c, "reload", post_reply);
}

static const struct http_route routes[] = {
	{ "GET", "/", HTTP_MONITOR, get_monitor },
	{ "GET", "/monitor", HTTP_MONITOR, get_monitor },
	{ "GET", "/api/v1/stats", HTTP_MONITOR, get_stats },
	{ "GET", "/api/v1/history", HTTP_MONITOR, get_history },
	{ "GET", "/api/v1/queues", HTTP_MONITOR, get_api_queues },
	{ "GET", "/api/v1/domains", HTTP_MONITOR, get_api_domains },
	{ "GET", "/api/v1/vmtas", HTTP_MONITOR, get_api_vmtas },
	{ "GET", "/api/v1/jobs", HTTP_MONITOR, get_api_jobs },
	{ "GET", "/api/v1/cluster", HTTP_MONITOR, get_api_cluster },
	{ "GET", "/status", HTTP_MONITOR, get_status },
	{ "GET", "/queues", HTTP_MONITOR, get_queues },
	{ "GET", "/domains", HTTP_MONITOR, get_domains },
	{ "GET", "/vmtas", HTTP_MONITOR, get_vmtas },
	{ "GET", "/jobs", HTTP_MONITOR, get_jobs },
	{ "GET", "/metrics", HTTP_MONITOR, get_metrics },
	{ "POST", "/api/v1/pause", HTTP_OPERATOR, post_pause },
	{ "POST", "/api/v1/resume", HTTP_OPERATOR, post_resume },
	{ "POST", "/api/v1/schedule", HTTP_OPERATOR, post_schedule },
	{ "POST", "/api/v1/delete", HTTP_OPERATOR, post_delete },
	{ "POST", "/api/v1/reload", HTTP_OPERATOR, post_reload },
	{ "POST", "/api/v1/inject", HTTP_OPERATOR, http_inject },
};

const struct http_route *
http_route_find(const char *method, const char *path, size_t len,
    int *path_known)
{
	size_t i;

	*path_known = 0;
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strlen(routes[i].path) != len ||
		    memcmp(routes[i].path, path, len) != 0)
			continue;
		*path_known = 1;
		if (strcmp(routes[i].method, method) == 0)
			return &routes[i];
	}
	return NULL;
}
