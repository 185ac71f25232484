/*
 * ctl_req.c - one control request: ask the daemons that know the answer,
 * wait for all of them (CTL_DAEMON_TIMEOUT at most), build one JSON
 * document.  Nothing blocks: each request is parked in a list under its
 * id, which travels as the imsg peerid and comes back in the replies.
 *
 * The verbs are in one table (ctl_verbs below); the CLI and the HTTP
 * endpoints both come through ctl_req_start() with a request line.
 */
#include <sys/queue.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "daemon.h"
#include "log.h"
#include "mgmtd.h"
#include "proto.h"

enum ctl_kind { REQ_STATUS = 1, REQ_QUEUES, REQ_QOP, REQ_JOBS, REQ_RELOAD,
	REQ_FORWARD, REQ_RESOLVE, REQ_TRACE };

#define BIT(proc)	(1u << (proc))

struct ctl_req {
	TAILQ_ENTRY(ctl_req)	 entry;
	uint32_t		 id;
	enum ctl_kind		 kind;
	struct ctl_conn		*conn;		/* NULL: client went away */
	unsigned		 waiting;	/* BIT(PROC_*) */
	json_t			*part[PROC_COUNT];
	uv_timer_t		 timer;
	/* REQ_QUEUES: the listing wanted; strings copied from the words */
	struct ctl_listopt	 opt;
	char			 sdomain[256], svmta[256], smode[32];
	/* REQ_RESOLVE: the domain; REQ_TRACE: the queue filter */
	char			 arg[520];
	int			 fwd_proc;	/* REQ_FORWARD: who answers */
};

static json_t	*ctl_req_parse(int, const char *);

static TAILQ_HEAD(, ctl_req)	 ctl_reqs = TAILQ_HEAD_INITIALIZER(ctl_reqs);
static uint32_t			 ctl_nextid;

/* Whom to blame first when several daemons are silent. */
static const int ctl_blame[] = { PROC_QUEUED, PROC_BOUNCED, PROC_DELIVERD,
	PROC_TERND };
#define CTL_NBLAME	(sizeof(ctl_blame) / sizeof(ctl_blame[0]))

void
ctl_conn_reply(struct ctl_conn *c, json_t *j)
{
	c->req = NULL;
	c->reply(c, j);
}

void
ctl_conn_error(struct ctl_conn *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctl_conn_reply(c, json_pack("{s:s}", "error", msg));
}

void
ctl_conn_set_req(struct ctl_conn *c, void *req)
{
	c->req = req;
}

static void
ctl_req_free_cb(uv_handle_t *h)
{
	struct ctl_req *r = h->data;
	int i;

	for (i = 0; i < PROC_COUNT; i++)
		json_decref(r->part[i]);
	free(r);
}

static void
ctl_req_free(struct ctl_req *r)
{
	TAILQ_REMOVE(&ctl_reqs, r, entry);
	uv_timer_stop(&r->timer);
	uv_close((uv_handle_t *)&r->timer, ctl_req_free_cb);
}

static void
ctl_req_fail(struct ctl_req *r, int proc)
{
	if (r->conn != NULL)
		ctl_conn_error(r->conn, "%s not responding", proc_name(proc));
	ctl_req_free(r);
}

/* {"status": queued's + bounced's, "processes": ternd's} */
static json_t *
ctl_status_json(struct ctl_req *r)
{
	json_t *status = r->part[PROC_QUEUED], *acct = r->part[PROC_BOUNCED];

	if (!json_is_object(status))
		status = json_pack("{s:O}", "queued", status);
	else
		status = json_deep_copy(status);
	if (json_is_object(acct))
		json_object_update(status, acct);
	return json_pack("{s:o,s:O}", "status", status, "processes",
	    r->part[PROC_TERND]);
}

static void
ctl_req_done(struct ctl_req *r)
{
	json_t *j = NULL;

	if (r->conn != NULL) {
		switch (r->kind) {
		case REQ_STATUS:
			j = ctl_status_json(r);
			break;
		case REQ_QUEUES:
			j = ctl_list(r->part[PROC_QUEUED], &r->opt);
			break;
		case REQ_QOP:
		case REQ_JOBS:
			j = json_incref(r->part[PROC_QUEUED]);
			break;
		case REQ_RELOAD:	/* {ok, message}: ternd's CTL_RESULT */
			j = json_incref(r->part[PROC_TERND]);
			break;
		case REQ_FORWARD:	/* the one daemon's answer, as is */
			j = json_incref(r->part[r->fwd_proc]);
			break;
		case REQ_RESOLVE:
			j = json_incref(r->part[PROC_DELIVERD]);
			break;
		case REQ_TRACE:		/* streams; never "done" */
			break;
		}
		ctl_conn_reply(r->conn, j);
	}
	ctl_req_free(r);
}

static void
ctl_req_timeout(uv_timer_t *t)
{
	struct ctl_req *r = t->data;
	int proc = PROC_QUEUED;
	size_t i;

	for (i = 0; i < CTL_NBLAME; i++)
		if (r->waiting & BIT(ctl_blame[i])) {
			proc = ctl_blame[i];
			break;
		}
	log_warnx("control request %u: %s not responding", r->id,
	    proc_name(proc));
	ctl_req_fail(r, proc);
}

/* Send the question to every daemon in `procs`, all or none. */
static struct ctl_req *
ctl_req_ask(struct ctl_conn *c, enum ctl_kind kind, unsigned procs,
    uint32_t op, const char *queue)
{
	struct ctl_req *r;
	struct mproc *p;
	size_t i;

	for (i = 0; i < CTL_NBLAME; i++)
		if ((procs & BIT(ctl_blame[i])) &&
		    mgmtd_peer(ctl_blame[i]) == NULL) {
			ctl_conn_error(c, "%s not responding",
			    proc_name(ctl_blame[i]));
			return NULL;
		}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		fatal("ctl_req_ask");
	if (++ctl_nextid == 0)
		ctl_nextid = 1;
	r->id = ctl_nextid;
	r->kind = kind;
	r->conn = c;
	r->waiting = procs;
	uv_timer_init(daemon_loop(), &r->timer);
	r->timer.data = r;
	uv_timer_start(&r->timer, ctl_req_timeout, CTL_DAEMON_TIMEOUT, 0);
	TAILQ_INSERT_TAIL(&ctl_reqs, r, entry);
	ctl_conn_set_req(c, r);

	if ((procs & BIT(PROC_TERND)) && kind != REQ_FORWARD)
		m_compose(mgmtd_peer(PROC_TERND), kind == REQ_RELOAD ?
		    CTL_RELOAD : CTL_PROCS_REQ, r->id, -1, NULL, 0);
	if ((procs & BIT(PROC_BOUNCED)) && kind == REQ_STATUS)
		m_compose(mgmtd_peer(PROC_BOUNCED), CTL_STATUS_REQ, r->id, -1,
		    NULL, 0);
	if (procs & BIT(PROC_DELIVERD)) {
		p = mgmtd_peer(PROC_DELIVERD);
		strlcpy(r->arg, queue, sizeof(r->arg));
		m_create(p, CTL_RESOLVE_REQ, r->id, -1);
		m_add_string(p, queue);
		m_close(p);
	}
	if (!(procs & BIT(PROC_QUEUED)) ||
	    (p = mgmtd_peer(PROC_QUEUED)) == NULL)
		return r;
	switch (kind) {
	case REQ_STATUS:
		m_compose(p, CTL_STATUS_REQ, r->id, -1, NULL, 0);
		break;
	case REQ_QUEUES:
		m_compose(p, CTL_QUEUES_REQ, r->id, -1, NULL, 0);
		break;
	case REQ_JOBS:
		m_compose(p, CTL_JOBS_REQ, r->id, -1, NULL, 0);
		break;
	case REQ_QOP:
		m_create(p, CTL_QUEUE_OP, r->id, -1);
		m_add_u32(p, op);
		m_add_string(p, queue);
		m_close(p);
		break;
	case REQ_TRACE:
		/* No deadline: it lasts until the client goes. */
		uv_timer_stop(&r->timer);
		strlcpy(r->arg, queue, sizeof(r->arg));
		m_create(p, CTL_TRACE_REQ, r->id, -1);
		m_add_string(p, queue);
		m_close(p);
		break;
	case REQ_RELOAD:	/* ternd only */
	case REQ_FORWARD:	/* sent by the caller */
	case REQ_RESOLVE:	/* deliverd only */
		break;
	}
	return r;
}

struct mproc *
ctl_req_forward(struct ctl_conn *c, int proc, uint32_t *id)
{
	struct ctl_req *r;

	if ((r = ctl_req_ask(c, REQ_FORWARD, BIT(proc), 0, NULL)) == NULL)
		return NULL;
	r->fwd_proc = proc;
	*id = r->id;
	return mgmtd_peer(proc);
}

/* --- verbs --- */

static void
ctl_show_status(struct ctl_conn *c, char **w, int n)
{
	struct mproc *p;
	uint32_t id;

	/* --cluster: queued holds the Redis state (queued/cluster.c) */
	if (n == 3 && strcmp(w[2], "--cluster") == 0) {
		if ((p = ctl_req_forward(c, PROC_QUEUED, &id)) != NULL)
			m_compose(p, CTL_CLUSTER_REQ, id, -1, NULL, 0);
		return;
	}
	if (n != 2) {
		ctl_conn_error(c, "usage: show status [--cluster]");
		return;
	}
	ctl_req_ask(c, REQ_STATUS, BIT(PROC_QUEUED) | BIT(PROC_BOUNCED) |
	    BIT(PROC_TERND), 0, NULL);
}

/* show queues|topqueues|domains|topdomains|vmtas [options] */
static void
ctl_show_list(struct ctl_conn *c, char **w, int n)
{
	struct ctl_listopt opt;
	struct ctl_req *r;
	const char *err;

	memset(&opt, 0, sizeof(opt));
	opt.paused = -1;
	if (strncmp(w[1], "top", 3) == 0) {
		opt.top = 1;
		opt.maxitems = 20;
	}
	if (strstr(w[1], "domain") != NULL)
		opt.group = LIST_DOMAINS;
	else if (strstr(w[1], "vmta") != NULL)
		opt.group = LIST_VMTAS;
	if (ctl_list_parse(w + 2, n - 2, &opt, &err) == -1) {
		ctl_conn_error(c, "%s", err);
		return;
	}
	if ((r = ctl_req_ask(c, REQ_QUEUES, BIT(PROC_QUEUED), 0, NULL)) ==
	    NULL)
		return;
	r->opt = opt;
	if (opt.domain != NULL)
		r->opt.domain = strncpy(r->sdomain, opt.domain,
		    sizeof(r->sdomain) - 1);
	if (opt.vmta != NULL)
		r->opt.vmta = strncpy(r->svmta, opt.vmta,
		    sizeof(r->svmta) - 1);
	if (opt.mode != NULL)
		r->opt.mode = strncpy(r->smode, opt.mode,
		    sizeof(r->smode) - 1);
}

static void
ctl_show_jobs(struct ctl_conn *c, char **w, int n)
{
	ctl_req_ask(c, REQ_JOBS, BIT(PROC_QUEUED), 0, NULL);
}

static void
ctl_show_version(struct ctl_conn *c, char **w, int n)
{
	ctl_conn_reply(c, json_pack("{s:s,s:s}", "product", "Tern",
	    "version", TERN_VERSION));
}


static void
ctl_show_settings(struct ctl_conn *c, char **w, int n)
{
	const char *err = "no configuration", *queue = NULL, *v;
	const char *domain = NULL, *vmta = NULL;
	char buf[600];
	json_t *j = NULL;
	int i;

	/* show settings [DOMAIN[/VMTA]] [--domain=D] [--vmta=V] */
	for (i = 2; i < n; i++) {
		if ((v = ctl_optval(w, n, &i, "--domain")) != NULL)
			domain = v;
		else if ((v = ctl_optval(w, n, &i, "--vmta")) != NULL)
			vmta = v;
		else if (queue == NULL && w[i][0] != '-')
			queue = w[i];
		else
			break;
	}
	if (i != n || (queue != NULL && (domain || vmta))) {
		ctl_conn_error(c, "usage: show settings [DOMAIN[/VMTA]] | "
		    "[--domain=D] [--vmta=V]");
		return;
	}
	if (domain != NULL || vmta != NULL) {
		/* A VMTA alone: its settings for any domain (<domain *>). */
		snprintf(buf, sizeof(buf), "%s%s%s", domain ? domain : "*",
		    vmta ? "/" : "", vmta ? vmta : "");
		queue = buf;
	}
	if (mgmtd_cfg() != NULL)
		j = ctl_settings(mgmtd_cfg(), queue, &err);
	if (j == NULL)
		ctl_conn_error(c, "%s", err);
	else
		ctl_conn_reply(c, j);
}

/* "pause queue Q", "resume queue Q", "schedule Q" (PowerMTA's form) or
 * "schedule queue Q". */
static void
ctl_qop_verb(struct ctl_conn *c, char **w, int n)
{
	const char *verb = w[0];
	int op = ctl_qop(verb);

	if (n >= 2 && strcmp(w[1], "queue") == 0) {
		w++;
		n--;
	} else if (op != QOP_SCHEDULE)
		n = 0;
	if (n != 2 || strlen(w[1]) > 512) {
		ctl_conn_error(c, "usage: %s queue DOMAIN[/VMTA]", verb);
		return;
	}
	ctl_req_ask(c, REQ_QOP, BIT(PROC_QUEUED), op, w[1]);
}

/* The value of "--name=V" or "--name V" at w[*i]; NULL if not it. */
const char *
ctl_optval(char **w, int n, int *i, const char *name)
{
	size_t len = strlen(name);

	if (strncasecmp(w[*i], name, len) != 0)
		return NULL;
	if (w[*i][len] == '=')
		return w[*i] + len + 1;
	if (w[*i][len] == '\0' && *i + 1 < n)
		return w[++*i];
	return NULL;
}

/* delete --queue=DOMAIN/VMTA | --jobId=ID */
static void
ctl_delete(struct ctl_conn *c, char **w, int n)
{
	const char *queue = NULL, *job = NULL, *v;
	int i;

	for (i = 1; i < n; i++) {
		if ((v = ctl_optval(w, n, &i, "--queue")) != NULL)
			queue = v;
		else if ((v = ctl_optval(w, n, &i, "--jobId")) != NULL)
			job = v;
		else
			break;
	}
	if (i != n || (queue == NULL) == (job == NULL) ||
	    strlen(queue ? queue : job) > 512) {
		ctl_conn_error(c, "usage: delete --queue=DOMAIN[/VMTA] | "
		    "--jobId=ID");
		return;
	}
	ctl_req_ask(c, REQ_QOP, BIT(PROC_QUEUED), queue ? QOP_DELETE :
	    QOP_DELETE_JOB, queue ? queue : job);
}

/* reload: ternd parses the config again (ternd/reload.c) and answers
 * whether it is in use, with every error and warning. */
static void
ctl_reload(struct ctl_conn *c, char **w, int n)
{
	if (n != 1) {
		ctl_conn_error(c, "usage: reload");
		return;
	}
	ctl_req_ask(c, REQ_RELOAD, BIT(PROC_TERND), 0, NULL);
}

/* set queue --mode=normal|backoff DOMAIN[/VMTA] (options in any order) */
static void
ctl_set_queue(struct ctl_conn *c, char **w, int n)
{
	const char *mode = NULL, *queue = NULL, *v;
	int i;

	for (i = 2; i < n; i++) {
		if ((v = ctl_optval(w, n, &i, "--mode")) != NULL)
			mode = v;
		else if (queue == NULL && w[i][0] != '-')
			queue = w[i];
		else
			break;
	}
	if (i != n || mode == NULL || queue == NULL || strlen(queue) > 512 ||
	    (strcmp(mode, "normal") != 0 && strcmp(mode, "backoff") != 0)) {
		ctl_conn_error(c, "usage: set queue --mode=normal|backoff "
		    "DOMAIN[/VMTA]");
		return;
	}
	ctl_req_ask(c, REQ_QOP, BIT(PROC_QUEUED), strcmp(mode, "backoff") ==
	    0 ? QOP_MODE_BACKOFF : QOP_MODE_NORMAL, queue);
}

/* resolve DOMAIN: deliverd looks it up through its resolver and cache. */
static void
ctl_resolve(struct ctl_conn *c, char **w, int n)
{
	if (n != 2) {
		ctl_conn_error(c, "usage: resolve DOMAIN");
		return;
	}
	if (!ctl_resolve_valid(w[1])) {
		ctl_conn_error(c, "resolve: not a domain name: %.100s", w[1]);
		return;
	}
	ctl_req_ask(c, REQ_RESOLVE, BIT(PROC_DELIVERD), 0, w[1]);
}

/* trace [DOMAIN[/VMTA]]: every delivery outcome of the matching queues,
 * one JSON line each, after a first {"tracing": filter} line, until the
 * client hangs up.  queued sends that first line too, once the trace is
 * in place (queue_trace.c), so nothing sent after it is missed. */
static void
ctl_trace(struct ctl_conn *c, char **w, int n)
{
	const char *filter = n == 2 ? w[1] : "";

	if (n > 2 || strlen(filter) > 512 || (filter[0] == '-')) {
		ctl_conn_error(c, "usage: trace [DOMAIN[/VMTA]]");
		return;
	}
	if (c->stream == NULL) {
		ctl_conn_error(c, "trace: only over the control socket");
		return;
	}
	ctl_req_ask(c, REQ_TRACE, BIT(PROC_QUEUED), 0, filter);
}

static const struct ctl_verb ctl_verbs[] = {
	{ "show", "status", ctl_show_status },
	{ "show", "queues", ctl_show_list },
	{ "show", "queue", ctl_show_list },
	{ "show", "topqueues", ctl_show_list },
	{ "show", "domains", ctl_show_list },
	{ "show", "topdomains", ctl_show_list },
	{ "show", "vmtas", ctl_show_list },
	{ "show", "jobs", ctl_show_jobs },
	{ "show", "version", ctl_show_version },
	{ "show", "settings", ctl_show_settings },
	{ "pause", NULL, ctl_qop_verb },
	{ "resume", NULL, ctl_qop_verb },
	{ "schedule", NULL, ctl_qop_verb },
	{ "delete", NULL, ctl_delete },
	{ "reload", NULL, ctl_reload },
	{ "suppression", NULL, ctl_suppression },	/* ctl_bounced.c */
	{ "show", "suppression", ctl_suppression },
	{ "rotate", "acct", ctl_rotate },
	{ "rotate", "log", ctl_rotate },
	{ "set", "queue", ctl_set_queue },
	{ "resolve", NULL, ctl_resolve },
	{ "trace", NULL, ctl_trace },
};
#define CTL_NVERBS	(sizeof(ctl_verbs) / sizeof(ctl_verbs[0]))

void
ctl_req_start(struct ctl_conn *c, char *line)
{
	char *w[CTL_MAX_WORDS], copy[CTL_MAX_REQUEST + 1];
	const struct ctl_verb *v;
	size_t i;
	int n;

	strlcpy(copy, line, sizeof(copy));
	copy[strcspn(copy, "\r\n")] = '\0';
	if ((n = ctl_split(line, w, CTL_MAX_WORDS)) == -1) {
		ctl_conn_error(c, "too many words in request");
		return;
	}
	if (n == 0) {
		ctl_conn_error(c, "empty request");
		return;
	}
	log_debug("control: %s", copy);
	for (i = 0; i < CTL_NVERBS; i++) {
		v = &ctl_verbs[i];
		if (strcmp(w[0], v->w0) != 0 || (v->w1 != NULL &&
		    (n < 2 || strcmp(w[1], v->w1) != 0)))
			continue;
		v->fn(c, w, n);
		return;
	}
	ctl_conn_error(c, "unknown command: %s", copy);
}

static struct ctl_req *
ctl_req_find(uint32_t id)
{
	struct ctl_req *r;

	TAILQ_FOREACH(r, &ctl_reqs, entry)
		if (r->id == id)
			return r;
	return NULL;
}

/* One event of trace `id`, passed on to its client as it is. */
static void
ctl_trace_line(uint32_t id, struct msg *m)
{
	struct ctl_req *r;
	const char *text;
	json_t *j;

	m_get_string(m, &text);
	m_end(m);
	if ((r = ctl_req_find(id)) == NULL || r->kind != REQ_TRACE ||
	    r->conn == NULL || r->conn->stream == NULL)
		return;
	if ((j = ctl_req_parse(PROC_QUEUED, text)) != NULL)
		r->conn->stream(r->conn, j);
}

/* The JSON text a daemon sent; a string if it does not parse. */
static json_t *
ctl_req_parse(int proc, const char *text)
{
	json_error_t err;
	json_t *j;

	if (text == NULL)
		return json_null();
	if ((j = json_loads(text, JSON_DECODE_ANY, &err)) == NULL) {
		log_warnx("%s sent bad JSON: %s", proc_name(proc), err.text);
		j = json_string(text);
	}
	return j;
}

void
ctl_req_reply(int proc, struct imsg *imsg)
{
	struct ctl_req *r;
	struct msg m;
	const char *s;
	uint32_t ok;
	json_t *j;

	m_msg(&m, imsg);
	if (imsg->hdr.type == CTL_TRACE) {
		ctl_trace_line(imsg->hdr.peerid, &m);
		return;
	}
	if (imsg->hdr.type == CTL_RESOLVE) {
		r = ctl_req_find(imsg->hdr.peerid);
		j = ctl_resolve_json(r ? r->arg : "", &m);
	} else if (imsg->hdr.type == CTL_RESULT) {
		m_get_u32(&m, &ok);
		m_get_string(&m, &s);
		m_end(&m);
		j = json_pack("{s:b,s:s}", "ok", ok != 0, "message",
		    s ? s : "");
	} else {
		m_get_string(&m, &s);
		m_end(&m);
		j = ctl_req_parse(proc, s);
	}
	/* A late answer (the request timed out) finds nothing. */
	if ((r = ctl_req_find(imsg->hdr.peerid)) == NULL ||
	    !(r->waiting & BIT(proc))) {
		json_decref(j);
		return;
	}
	r->waiting &= ~BIT(proc);
	json_decref(r->part[proc]);
	r->part[proc] = j;
	if (r->waiting == 0)
		ctl_req_done(r);
}

void
ctl_req_peer_lost(int proc)
{
	struct ctl_req *r, *tmp;

	TAILQ_FOREACH_SAFE(r, &ctl_reqs, entry, tmp)
		if (r->waiting & BIT(proc))
			ctl_req_fail(r, proc);
}

void
ctl_req_detach(void *req)
{
	struct ctl_req *r = req;
	struct mproc *p;

	/* A trace ends when its client goes: queued stops sending. */
	if (r->kind == REQ_TRACE && (p = mgmtd_peer(PROC_QUEUED)) != NULL)
		m_compose(p, CTL_TRACE_END, r->id, -1, NULL, 0);
	r->conn = NULL;
	ctl_req_free(r);
}
