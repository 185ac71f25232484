/*
 * http_inject.c - POST /api/v1/inject: the endpoint (inject.h has the
 * design).
 *
 * Off unless the configuration says `http-inject yes` (403 then), and
 * like every POST it needs operator or admin access (http-access) and,
 * when http-mgmt-auth is set, credentials: an open HTTP port never
 * becomes an open relay.  Answers:
 *
 *	200	every message fsync'd in the spool
 *	400	the request is wrong; the message names the field
 *	413	the body is larger than INJECT_MAX_BODY (h2o says so)
 *	503	the spool is full or queued is away (Retry-After): nothing
 *		was queued
 *	500	queued could not store some message (disk error): the answer
 *		lists those it did store
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "http.h"
#include "inject.h"
#include "log.h"

#define INJECT_RETRY_AFTER	"30"	/* seconds, for a 503 */

static void
inject_error(struct http_call *c, int status, const char *msg)
{
	json_t *j = json_pack("{s:b,s:s}", "ok", 0, "error", msg);
	char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);

	if (status == 503)
		http_header(c, "retry-after", INJECT_RETRY_AFTER);
	http_reply(c, status, "application/json", text, strlen(text));
	free(text);
	json_decref(j);
}

static int
vmta_known(const char *name)
{
	const struct cfg *cfg = mgmtd_cfg();

	return cfg != NULL && (cfg_vmta(cfg, name) != NULL ||
	    cfg_pool(cfg, name) != NULL);
}

static void
inject_answered(void *arg, int status, const char *body)
{
	struct http_call *c = arg;

	http_on_gone(c, NULL, NULL);	/* the job is over */
	if (status == 503)
		http_header(c, "retry-after", INJECT_RETRY_AFTER);
	http_reply(c, status, "application/json", body, strlen(body));
}

static void
inject_gone(void *job)
{
	inject_detach(job);
}

void
http_inject(struct http_call *c)
{
	const struct cfg *cfg = mgmtd_cfg();
	struct inject_batch b;
	struct inject_job *job;
	json_error_t jerr;
	json_t *req;
	const char *body;
	char err[512], ip[64], user[128];
	size_t len;

	if (cfg == NULL || !cfg_bool(cfg->root, "http-inject", 0)) {
		inject_error(c, 403, "HTTP injection is off (http-inject)");
		return;
	}
	if ((body = http_body(c, &len)) == NULL || len == 0) {
		inject_error(c, 400, "request: no body");
		return;
	}
	if ((req = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		snprintf(err, sizeof(err), "request: not JSON (line %d, "
		    "column %d: %s)", jerr.line, jerr.column, jerr.text);
		inject_error(c, 400, err);
		return;
	}
	if (inject_build(req, vmta_known, &b, err, sizeof(err)) == -1) {
		inject_batch_free(&b);
		json_decref(req);
		inject_error(c, 400, err);
		return;
	}
	json_decref(req);
	http_peer(c, ip, sizeof(ip));
	http_user(c, user, sizeof(user));
	/* When queued is away the answer comes at once (job NULL). */
	if ((job = inject_start(&b, ip, user[0] ? user : NULL,
	    inject_answered, c)) != NULL)
		http_on_gone(c, inject_gone, job);
}
