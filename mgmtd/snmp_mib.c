/*
 * snmp_mib.c - TERN-MIB (etc/TERN-MIB.txt) as a sorted list of object
 * instances, built for each batch of requests from the same control
 * answers that /api/v1/stats and /metrics use, so they never disagree.
 *
 *	ternObjects.1	general: version, uptime, state
 *	ternObjects.2	counters: messages received, recipients delivered,
 *			bounced, deferred; messages and recipients
 *			received over SMTP
 *	ternObjects.3	spool: messages, recipients, bytes, retry pending,
 *			full
 *	ternObjects.4	connections: outbound, inbound SMTP
 *	ternObjects.5	the agent: packets, bad community, malformed, SET
 *	ternObjects.6	ternVmtaTable, one row per VMTA
 *	ternObjects.7	ternQueueTable, one row per queue (domain/VMTA)
 *
 * Table rows are numbered 1..n in the order queued lists its queues
 * (by name), so a row's index may change when queues come and go: the
 * name column says which queue a row is.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mgmtd.h"
#include "snmp.h"

static const uint32_t snmp_root[] = { SNMP_TERN_ROOT };

static void
view_add(struct snmp_view *vw, const uint32_t *suffix, size_t n, int type,
    uint64_t num, const char *str)
{
	struct snmp_var *v;

	if (SNMP_TERN_ROOT_LEN + n > SNMP_OIDLEN_MAX)
		return;
	if (vw->n == vw->cap) {
		vw->cap = vw->cap ? vw->cap * 2 : 64;
		if ((v = reallocarray(vw->v, vw->cap, sizeof(*v))) == NULL)
			fatal("view_add");
		vw->v = v;
	}
	v = &vw->v[vw->n++];
	memset(v, 0, sizeof(*v));
	memcpy(v->name, snmp_root, sizeof(snmp_root));
	memcpy(v->name + SNMP_TERN_ROOT_LEN, suffix, n * sizeof(*suffix));
	v->len = SNMP_TERN_ROOT_LEN + n;
	v->type = type;
	v->num = num;
	if (str != NULL && (v->str = strdup(str)) == NULL)
		fatal("view_add");
}

#define ADD(vw, type, num, str, ...) do {				\
	const uint32_t sfx_[] = { __VA_ARGS__ };			\
	view_add((vw), sfx_, sizeof(sfx_) / sizeof(sfx_[0]), (type),	\
	    (num), (str));						\
} while (0)

/* A JSON number (or boolean) at o.k1[.k2], never negative. */
static uint64_t
jnum(const json_t *o, const char *k1, const char *k2)
{
	json_int_t v;

	o = json_object_get(o, k1);
	if (k2 != NULL)
		o = json_object_get(o, k2);
	if (json_is_boolean(o))
		return json_is_true(o);
	v = json_integer_value(o);
	return v > 0 ? (uint64_t)v : 0;
}

/* Gauge32 saturates rather than wraps. */
static uint64_t
gauge(uint64_t v)
{
	return v > UINT32_MAX ? UINT32_MAX : v;
}

/* TruthValue: true(1), false(2) */
static uint64_t
truth(const json_t *v)
{
	return json_is_true(v) ? 1 : 2;
}

/* Uptime in hundredths: since the oldest daemon ternd started. */
static uint64_t
uptime(const json_t *procs, time_t now)
{
	json_int_t s, first = 0;
	json_t *p;
	size_t i;

	json_array_foreach(procs, i, p) {
		s = json_integer_value(json_object_get(p, "started"));
		if (s > 0 && (first == 0 || s < first))
			first = s;
	}
	return first > 0 && now > first ? (uint64_t)(now - first) * 100 : 0;
}

static void
view_status(struct snmp_view *vw, const json_t *sj, time_t now)
{
	const json_t *st = json_object_get(sj, "status");

	ADD(vw, SNMP_T_STRING, 0, TERN_VERSION, 1, 1, 0);
	ADD(vw, SNMP_T_TIMETICKS, uptime(json_object_get(sj, "processes"),
	    now) & UINT32_MAX, NULL, 1, 2, 0);
	/* running(1), spoolFull(2) */
	ADD(vw, SNMP_T_INTEGER, jnum(st, "spoolFull", NULL) ? 2 : 1, NULL,
	    1, 3, 0);
	ADD(vw, SNMP_T_COUNTER64, jnum(st, "received", NULL), NULL, 2, 1, 0);
	ADD(vw, SNMP_T_COUNTER64, jnum(st, "delivered", NULL), NULL, 2, 2, 0);
	ADD(vw, SNMP_T_COUNTER64, jnum(st, "bounced", NULL), NULL, 2, 3, 0);
	ADD(vw, SNMP_T_COUNTER64, jnum(st, "deferred", NULL), NULL, 2, 4, 0);
	ADD(vw, SNMP_T_COUNTER64, jnum(st, "receivedMessages", NULL), NULL,
	    2, 5, 0);
	ADD(vw, SNMP_T_COUNTER64, jnum(st, "receivedRecipients", NULL), NULL,
	    2, 6, 0);
	ADD(vw, SNMP_T_GAUGE, gauge(jnum(st, "queue", "messages")), NULL,
	    3, 1, 0);
	ADD(vw, SNMP_T_GAUGE, gauge(jnum(st, "queue", "recipients")), NULL,
	    3, 2, 0);
	ADD(vw, SNMP_T_GAUGE, gauge(jnum(st, "queue", "bytes")), NULL,
	    3, 3, 0);
	ADD(vw, SNMP_T_GAUGE, gauge(jnum(st, "retryPending", NULL)), NULL,
	    3, 4, 0);
	ADD(vw, SNMP_T_INTEGER, truth(json_object_get(st, "spoolFull")),
	    NULL, 3, 5, 0);
	ADD(vw, SNMP_T_GAUGE, gauge(jnum(st, "smtpOut", NULL)), NULL,
	    4, 1, 0);
	ADD(vw, SNMP_T_GAUGE, gauge(jnum(st, "connectionsIn", NULL)), NULL,
	    4, 2, 0);
}

static void
view_agent(struct snmp_view *vw, const struct snmp_stats *s)
{
	ADD(vw, SNMP_T_COUNTER64, s->packets, NULL, 5, 1, 0);
	ADD(vw, SNMP_T_COUNTER64, s->bad_community, NULL, 5, 2, 0);
	ADD(vw, SNMP_T_COUNTER64, s->malformed, NULL, 5, 3, 0);
	ADD(vw, SNMP_T_COUNTER64, s->set_refused, NULL, 5, 4, 0);
}

/* ternVmtaTable: ternObjects.6.1.COLUMN.ROW */
static void
view_vmtas(struct snmp_view *vw, const json_t *queues)
{
	struct ctl_listopt opt;
	json_t *rows, *r;
	size_t i;
	uint32_t k;

	memset(&opt, 0, sizeof(opt));
	opt.paused = -1;
	opt.group = LIST_VMTAS;
	if ((rows = ctl_list(queues, &opt)) == NULL)
		return;
	json_array_foreach(rows, i, r) {
		k = i + 1;
		ADD(vw, SNMP_T_STRING, 0, json_string_value(json_object_get(r,
		    "vmta")), 6, 1, 2, k);
		ADD(vw, SNMP_T_GAUGE, gauge(jnum(r, "queues", NULL)), NULL,
		    6, 1, 3, k);
		ADD(vw, SNMP_T_GAUGE, gauge(jnum(r, "rcpts", NULL)), NULL,
		    6, 1, 4, k);
		ADD(vw, SNMP_T_COUNTER64, jnum(r, "delivered", NULL), NULL,
		    6, 1, 5, k);
		ADD(vw, SNMP_T_COUNTER64, jnum(r, "bounced", NULL), NULL,
		    6, 1, 6, k);
		ADD(vw, SNMP_T_COUNTER64, jnum(r, "deferred", NULL), NULL,
		    6, 1, 7, k);
		ADD(vw, SNMP_T_GAUGE, gauge(jnum(r, "connections", NULL)),
		    NULL, 6, 1, 8, k);
		ADD(vw, SNMP_T_INTEGER, truth(json_object_get(r, "paused")),
		    NULL, 6, 1, 9, k);
	}
	json_decref(rows);
}

/* normal(1), backoff(2), retry(3) */
static uint64_t
mode(const json_t *q)
{
	const char *m = json_string_value(json_object_get(q, "mode"));

	if (m != NULL && strcmp(m, "backoff") == 0)
		return 2;
	if (m != NULL && strcmp(m, "retry") == 0)
		return 3;
	return 1;
}

/* ternQueueTable: ternObjects.7.1.COLUMN.ROW */
static void
view_queues(struct snmp_view *vw, const json_t *queues)
{
	json_t *q;
	size_t i;
	uint32_t k;

	json_array_foreach(queues, i, q) {
		k = i + 1;
		ADD(vw, SNMP_T_STRING, 0, json_string_value(json_object_get(q,
		    "queue")), 7, 1, 2, k);
		ADD(vw, SNMP_T_STRING, 0, json_string_value(json_object_get(q,
		    "domain")), 7, 1, 3, k);
		ADD(vw, SNMP_T_STRING, 0, json_string_value(json_object_get(q,
		    "vmta")), 7, 1, 4, k);
		ADD(vw, SNMP_T_GAUGE, gauge(jnum(q, "rcpts", NULL)), NULL,
		    7, 1, 5, k);
		ADD(vw, SNMP_T_COUNTER64, jnum(q, "delivered", NULL), NULL,
		    7, 1, 6, k);
		ADD(vw, SNMP_T_COUNTER64, jnum(q, "bounced", NULL), NULL,
		    7, 1, 7, k);
		ADD(vw, SNMP_T_COUNTER64, jnum(q, "deferred", NULL), NULL,
		    7, 1, 8, k);
		ADD(vw, SNMP_T_GAUGE, gauge(jnum(q, "connections", NULL)),
		    NULL, 7, 1, 9, k);
		ADD(vw, SNMP_T_INTEGER, mode(q), NULL, 7, 1, 10, k);
		ADD(vw, SNMP_T_INTEGER, truth(json_object_get(q, "paused")),
		    NULL, 7, 1, 11, k);
	}
}

static int
name_cmp(const uint32_t *a, size_t alen, const uint32_t *b, size_t blen)
{
	size_t i;

	for (i = 0; i < alen && i < blen; i++)
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	return alen < blen ? -1 : alen > blen;
}

static int
var_cmp(const void *a, const void *b)
{
	const struct snmp_var *x = a, *y = b;

	return name_cmp(x->name, x->len, y->name, y->len);
}

struct snmp_view *
snmp_view_build(const json_t *status, const json_t *queues,
    const struct snmp_stats *stats, time_t now)
{
	struct snmp_view *vw;

	if ((vw = calloc(1, sizeof(*vw))) == NULL)
		fatal("snmp_view_build");
	if (json_is_object(status))
		view_status(vw, status, now);
	view_agent(vw, stats);
	if (json_is_array(queues)) {
		view_vmtas(vw, queues);
		view_queues(vw, queues);
	}
	/* Tables are added row by row: put the columns in OID order. */
	qsort(vw->v, vw->n, sizeof(*vw->v), var_cmp);
	return vw;
}

void
snmp_view_free(struct snmp_view *vw)
{
	size_t i;

	if (vw == NULL)
		return;
	for (i = 0; i < vw->n; i++)
		free(vw->v[i].str);
	free(vw->v);
	free(vw);
}

/* Index of the first instance >= name. */
static size_t
view_lower(const struct snmp_view *vw, const uint32_t *name, size_t len)
{
	size_t lo = 0, hi = vw->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (name_cmp(vw->v[mid].name, vw->v[mid].len, name, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct snmp_var *
snmp_view_get(const struct snmp_view *vw, const uint32_t *name, size_t len)
{
	size_t i = view_lower(vw, name, len);

	if (i < vw->n && name_cmp(vw->v[i].name, vw->v[i].len, name,
	    len) == 0)
		return &vw->v[i];
	return NULL;
}

const struct snmp_var *
snmp_view_next(const struct snmp_view *vw, const uint32_t *name, size_t len)
{
	size_t i = view_lower(vw, name, len);

	if (i < vw->n && name_cmp(vw->v[i].name, vw->v[i].len, name,
	    len) == 0)
		i++;
	return i < vw->n ? &vw->v[i] : NULL;
}
