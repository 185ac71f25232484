/*
 * http_format.c - answers in the shapes other tools expect: PowerMTA's
 * JSON and XML envelopes (monitoring plugins read `//queue`, `//vmta`,
 * `//domain` from them) and the Prometheus text exposition format.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "http.h"
#include "sbuf.h"

/* --- XML --- */

static void
xml_text(struct sbuf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '<': sb_str(b, "&lt;"); break;
		case '>': sb_str(b, "&gt;"); break;
		case '&': sb_str(b, "&amp;"); break;
		case '"': sb_str(b, "&quot;"); break;
		default:
			/* XML 1.0 has no other control characters */
			if ((unsigned char)*s < 0x20 && *s != '\t' &&
			    *s != '\n' && *s != '\r')
				sb_str(b, " ");
			else
				sb_add(b, s, 1);
		}
	}
}

static void xml_value(struct sbuf *, const json_t *, const char *);

static void
xml_elem(struct sbuf *b, const char *name, const json_t *v,
    const char *item)
{
	sb_printf(b, "<%s>", name);
	xml_value(b, v, item);
	sb_printf(b, "</%s>", name);
}

static void
xml_value(struct sbuf *b, const json_t *v, const char *item)
{
	const char *key;
	json_t *e;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		json_object_foreach((json_t *)v, key, e)
			xml_elem(b, key, e, "item");
		break;
	case JSON_ARRAY:
		json_array_foreach(v, i, e)
			xml_elem(b, item ? item : "item", e, "item");
		break;
	case JSON_STRING:
		xml_text(b, json_string_value(v));
		break;
	case JSON_INTEGER:
		sb_printf(b, "%lld", (long long)json_integer_value(v));
		break;
	case JSON_REAL:
		sb_printf(b, "%g", json_real_value(v));
		break;
	case JSON_TRUE:
		sb_str(b, "true");
		break;
	case JSON_FALSE:
		sb_str(b, "false");
		break;
	case JSON_NULL:
		break;
	}
}

char *
http_xml(const json_t *data, const char *item, int ok, const char *message)
{
	struct sbuf b = { 0 };

	sb_str(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rsp>");
	if (ok) {
		sb_str(&b, "<data>");
		if (data != NULL)
			xml_value(&b, data, item);
		sb_str(&b, "</data><succ/>");
	} else {
		sb_str(&b, "<error>");
		xml_text(&b, message ? message : "failed");
		sb_str(&b, "</error>");
	}
	sb_str(&b, "</rsp>\n");
	return sb_done(&b);
}

char *
http_json_envelope(const json_t *data, int ok, const char *message)
{
	json_t *j;
	char *s;

	j = json_pack("{s:O?,s:s,s:s}", "data", data, "status",
	    ok ? "success" : "error", "message", message ? message : "");
	s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (s == NULL)
		fatalx("http_json_envelope");
	return s;
}

/* --- Prometheus --- */

static void
prom_label(struct sbuf *b, const char *name, const char *v)
{
	sb_printf(b, "%s=\"", name);
	for (v = v ? v : ""; *v != '\0'; v++) {
		if (*v == '\\')
			sb_str(b, "\\\\");
		else if (*v == '"')
			sb_str(b, "\\\"");
		else if (*v == '\n')
			sb_str(b, "\\n");
		else
			sb_add(b, v, 1);
	}
	sb_str(b, "\"");
}

static void
prom_head(struct sbuf *b, const char *name, const char *type,
    const char *help)
{
	sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static json_int_t
jint(const json_t *o, const char *k1, const char *k2)
{
	if (k2 != NULL)
		o = json_object_get(o, k1);
	return json_integer_value(json_object_get(o, k2 ? k2 : k1));
}

static const struct {
	const char	*name;
	const char	*key;
	const char	*type;
	const char	*help;
} prom_queue[] = {
	{ "tern_delivered_total", "delivered", "counter",
	    "Recipients delivered, by domain and VMTA (since queued started)" },
	{ "tern_bounced_total", "bounced", "counter",
	    "Recipients bounced, by domain and VMTA (since queued started)" },
	{ "tern_deferred_total", "deferred", "counter",
	    "Temporary failures, by domain and VMTA (since queued started)" },
	{ "tern_queue_recipients", "rcpts", "gauge",
	    "Recipients waiting in the queue" },
	{ "tern_queue_connections", "connections", "gauge",
	    "Outbound SMTP connections of the queue, open or opening, as "
	    "deliverd counts them" },
	{ "tern_queue_inflight", "inflight", "gauge",
	    "Delivery jobs at deliverd for the queue" },
	{ "tern_queue_paused", "paused", "gauge",
	    "1 if the queue is paused" },
};

static void
prom_queues(struct sbuf *b, const json_t *queues)
{
	json_t *q, *v;
	size_t i, k;

	for (k = 0; k < sizeof(prom_queue) / sizeof(prom_queue[0]); k++) {
		prom_head(b, prom_queue[k].name, prom_queue[k].type,
		    prom_queue[k].help);
		json_array_foreach(queues, i, q) {
			v = json_object_get(q, prom_queue[k].key);
			sb_printf(b, "%s{", prom_queue[k].name);
			prom_label(b, "domain", json_string_value(
			    json_object_get(q, "domain")));
			sb_str(b, ",");
			prom_label(b, "vmta", json_string_value(
			    json_object_get(q, "vmta")));
			sb_printf(b, "} %lld\n", json_is_boolean(v) ?
			    (long long)json_is_true(v) :
			    (long long)json_integer_value(v));
		}
	}
}

static void
prom_procs(struct sbuf *b, const json_t *procs)
{
	char name[64];
	json_t *p;
	size_t i;

	prom_head(b, "tern_process_restarts_total", "counter",
	    "Restarts of each daemon by ternd");
	json_array_foreach(procs, i, p) {
		if (jint(p, "instance", NULL) > 0)
			snprintf(name, sizeof(name), "%s.%lld",
			    json_string_value(json_object_get(p, "name")),
			    (long long)jint(p, "instance", NULL));
		else
			snprintf(name, sizeof(name), "%s",
			    json_string_value(json_object_get(p, "name")));
		sb_str(b, "tern_process_restarts_total{");
		prom_label(b, "process", name);
		sb_printf(b, "} %lld\n", (long long)jint(p, "restarts", NULL));
	}
}

/* One sample each, from the status answer: status.k1[.k2]. */
static const struct {
	const char	*name;
	const char	*k1, *k2;
	const char	*type;
	const char	*help;
} prom_status[] = {
	{ "tern_received_total", "received", NULL, "counter",
	    "Messages accepted into the spool (since queued started)" },
	{ "tern_received_messages_total", "receivedMessages", NULL, "counter",
	    "Messages accepted over SMTP, no DSNs (since queued started)" },
	{ "tern_received_recipients_total", "receivedRecipients", NULL,
	    "counter", "Recipients of the messages accepted over SMTP" },
	{ "tern_spool_messages", "queue", "messages", "gauge",
	    "Messages in the spool" },
	{ "tern_spool_recipients", "queue", "recipients", "gauge",
	    "Recipients not yet final in the spool" },
	{ "tern_spool_bytes", "queue", "bytes", "gauge",
	    "Bytes of the messages in the spool" },
	{ "tern_spool_full", "spoolFull", NULL, "gauge",
	    "1 while the spool is over its limits (SMTP answers 452)" },
	{ "tern_smtp_out_connections", "smtpOut", NULL, "gauge",
	    "Outbound SMTP connections open or opening, every deliverd" },
	{ "tern_smtp_in_connections", "connectionsIn", NULL, "gauge",
	    "Inbound SMTP sessions open (counted against total-max-smtp-in)" },
	{ "tern_retry_pending", "retryPending", NULL, "gauge",
	    "Recipient groups waiting for their retry time" },
};

static void
prom_status_scalars(struct sbuf *b, const json_t *st)
{
	const json_t *v;
	size_t k;

	for (k = 0; k < sizeof(prom_status) / sizeof(prom_status[0]); k++) {
		v = json_object_get(st, prom_status[k].k1);
		if (prom_status[k].k2 != NULL)
			v = json_object_get(v, prom_status[k].k2);
		prom_head(b, prom_status[k].name, prom_status[k].type,
		    prom_status[k].help);
		sb_printf(b, "%s %lld\n", prom_status[k].name,
		    json_is_boolean(v) ? (long long)json_is_true(v) :
		    (long long)json_integer_value(v));
	}
}

/* Event shipping (docs/events.md): per sink, from bounced's status.
 * Sink names are letters, digits, '.', '_', '-': no label escaping. */
static void
prom_events(struct sbuf *b, const json_t *ev)
{
	static const struct { const char *name, *key, *type, *help; } m[] = {
		{ "tern_events_sent_total", "sent", "counter",
		    "Records a sink's broker or webhook confirmed" },
		{ "tern_events_dropped_total", "dropped", "counter",
		    "Records not buffered: the sink's buffer was full" },
		{ "tern_events_pending", "pending", "gauge",
		    "Records in a sink's buffer, not yet confirmed" },
	};
	const char *name;
	json_t *s;
	size_t i;

	if (!json_is_object(ev) || json_object_size(ev) == 0)
		return;
	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		prom_head(b, m[i].name, m[i].type, m[i].help);
		json_object_foreach((json_t *)ev, name, s)
			sb_printf(b, "%s{sink=\"%s\"} %lld\n", m[i].name, name,
			    (long long)jint(s, m[i].key, NULL));
	}
}

char *
http_metrics(const json_t *sj, const json_t *queues)
{
	const json_t *st = json_object_get(sj, "status");
	struct sbuf b = { 0 };

	prom_status_scalars(&b, st);
	prom_head(&b, "tern_accounting_records_total", "counter",
	    "Accounting records written by bounced, by record type");
	sb_printf(&b, "tern_accounting_records_total{type=\"d\"} %lld\n"
	    "tern_accounting_records_total{type=\"b\"} %lld\n"
	    "tern_accounting_records_total{type=\"t\"} %lld\n",
	    (long long)jint(st, "acct", "d"), (long long)jint(st, "acct", "b"),
	    (long long)jint(st, "acct", "t"));
	prom_events(&b, json_object_get(st, "events"));
	if (json_is_array(queues))
		prom_queues(&b, queues);
	if (json_is_array(json_object_get(sj, "processes")))
		prom_procs(&b, json_object_get(sj, "processes"));
	return sb_done(&b);
}
