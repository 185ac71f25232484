/*
 * reload.c - configuration reload (SIGHUP or `tern reload`).
 *
 * The file is parsed again from the path ternd started with.  A config
 * with errors changes nothing: the running one stays and the errors go
 * to the log and, for `tern reload`, back to the caller.  A valid one
 * replaces the running tree: every daemon gets it (generation + 1) and
 * applies it in its config hook without dropping sessions, connections
 * or queued mail; a daemon restarted later gets the new tree too,
 * because child_spawn() sends env->cfg.
 *
 * SMTP listeners follow the config: new ones are opened here (as root)
 * and handed to smtpd; ones the config no longer names are closed in
 * smtpd (IMSG_LISTENER_CLOSE) and here.  New listeners are opened before
 * anything is switched, so a port that cannot be bound fails the reload
 * as a whole.  What the daemons were started with (users, chroot, spool,
 * number of deliverd processes, control socket, accounting files) needs
 * a restart; a change there is reported as a warning.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "daemon.h"
#include "log.h"
#include "paths.h"
#include "proto.h"
#include "reload.h"
#include "ternd.h"

#define RELOAD_MAX_SPECS	TERND_MAX_LISTENERS

struct report {
	char	*buf;
	size_t	 len;
};

static void
report_add(struct report *r, const char *fmt, ...)
{
	va_list ap;
	char *line, *nb;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n == -1)
		fatal("report_add");
	if ((nb = realloc(r->buf, r->len + n + 2)) == NULL)
		fatal("report_add");
	r->buf = nb;
	memcpy(r->buf + r->len, line, n);
	r->len += n;
	r->buf[r->len++] = '\n';
	r->buf[r->len] = '\0';
	free(line);
}

/* The listener name setup_tcp_listener() gives spec ("ip:port",
 * "[v6]:port"), so that old and new listeners compare by name. */
static int
reload_listener_name(const char *spec, char *buf, size_t sz)
{
	char host[256];
	const char *err;
	int port;

	if (cfg_parse_hostport(spec, host, sizeof(host), &port, 25,
	    &err) == -1)
		return -1;
	if (strchr(host, ':') != NULL)
		snprintf(buf, sz, "[%s]:%d", host, port);
	else
		snprintf(buf, sz, "%s:%d", host, port);
	return 0;
}

/* The SMTP listeners cfg asks for, as setup_listeners() opens them. */
static int
reload_specs(const struct cfg *cfg, char specs[][128], int max)
{
	struct cfg_node *n;
	int count = 0;

	for (n = cfg_child(cfg->root, "smtp-listener"); n != NULL &&
	    count < max; n = cfg_next_named(n, "smtp-listener"))
		strlcpy(specs[count++], n->argc > 0 ? n->argv[0] : n->arg,
		    sizeof(specs[0]));
	if ((n = cfg_child(cfg->root, "smtp-port")) != NULL && count < max)
		snprintf(specs[count++], sizeof(specs[0]), "0.0.0.0:%s",
		    n->argv[0]);
	if (count == 0)
		strlcpy(specs[count++], "0.0.0.0:25", sizeof(specs[0]));
	return count;
}

static int
reload_has_listener(struct ternd *t, int upto, const char *name)
{
	int i;

	for (i = 0; i < upto; i++)
		if (t->listeners[i].kind == LISTEN_SMTP &&
		    strcmp(t->listeners[i].name, name) == 0)
			return 1;
	return 0;
}

static int
reload_wanted(char specs[][128], int nspecs, const char *name)
{
	char want[300];
	int i;

	for (i = 0; i < nspecs; i++)
		if (reload_listener_name(specs[i], want, sizeof(want)) == 0 &&
		    strcmp(want, name) == 0)
			return 1;
	return 0;
}

static void
reload_listener_drop(struct ternd *t, int i)
{
	close(t->listeners[i].fd);
	memmove(&t->listeners[i], &t->listeners[i + 1],
	    (t->nlisteners - i - 1) * sizeof(t->listeners[0]));
	t->nlisteners--;
}

/* Open the listeners cfg adds; *first is where they start in
 * t->listeners.  On failure nothing stays open. */
static int
reload_open_listeners(struct ternd *t, const struct cfg *cfg, int *first,
    struct report *r)
{
	char specs[RELOAD_MAX_SPECS][128], name[300];
	int i, n;

	*first = t->nlisteners;
	n = reload_specs(cfg, specs, RELOAD_MAX_SPECS);
	for (i = 0; i < n; i++) {
		if (reload_listener_name(specs[i], name, sizeof(name)) == -1 ||
		    reload_has_listener(t, t->nlisteners, name))
			continue;
		if (setup_tcp_listener(t, LISTEN_SMTP, specs[i]) == -1) {
			report_add(r, "%s: smtp-listener %s: cannot listen "
			    "(address in use or not local)", cfg->path,
			    specs[i]);
			while (t->nlisteners > *first)
				reload_listener_drop(t, t->nlisteners - 1);
			return -1;
		}
	}
	return 0;
}

static void
reload_send_listener(struct child *smtpd, const struct listener *l,
    uint32_t type)
{
	if (smtpd == NULL || smtpd->mp == NULL)
		return;
	m_create(smtpd->mp, type, 0, type == IMSG_LISTENER ? dup(l->fd) :
	    -1);
	if (type == IMSG_LISTENER)
		m_add_u32(smtpd->mp, l->kind);
	m_add_string(smtpd->mp, l->name);
	m_close(smtpd->mp);
}

/* After the switch: smtpd stops on listeners the config dropped and
 * starts on the new ones (from index `first` on). */
static void
reload_apply_listeners(struct ternd *t, int first)
{
	char specs[RELOAD_MAX_SPECS][128];
	struct child *smtpd = super_child(PROC_SMTPD, 0);
	int i, n;

	n = reload_specs(t->cfg, specs, RELOAD_MAX_SPECS);
	for (i = 0; i < first; ) {
		if (t->listeners[i].kind != LISTEN_SMTP ||
		    reload_wanted(specs, n, t->listeners[i].name)) {
			i++;
			continue;
		}
		log_info("reload: no longer listening on %s",
		    t->listeners[i].name);
		reload_send_listener(smtpd, &t->listeners[i],
		    IMSG_LISTENER_CLOSE);
		reload_listener_drop(t, i);
		first--;
	}
	for (i = first; i < t->nlisteners; i++) {
		log_info("reload: now listening on %s", t->listeners[i].name);
		reload_send_listener(smtpd, &t->listeners[i], IMSG_LISTENER);
	}
}

static const char *
reload_str(const struct cfg *cfg, const char *name)
{
	const char *v = cfg_str(cfg->root, name, "");

	return v ? v : "";
}

/* The accounting files a config names, joined: ternd opens them at
 * start (bounced may not), so a new one waits for a restart. */
static void
reload_acct_names(const struct cfg *cfg, char *buf, size_t sz)
{
	static const char *names[] = { "acct-file", "accounting-log", NULL };
	struct cfg_node *n;
	int i;

	buf[0] = '\0';
	for (i = 0; names[i] != NULL; i++)
		for (n = cfg_child(cfg->root, names[i]); n != NULL;
		    n = cfg_next_named(n, names[i])) {
			strlcat(buf, n->argc > 0 ? n->argv[0] : n->arg, sz);
			strlcat(buf, "\n", sz);
		}
}

/* Settings the daemons were started with: say that they wait for a
 * restart rather than pretending they changed. */
static void
reload_restart_only(const struct cfg *old, const struct cfg *new,
    struct report *r)
{
	static const char *names[] = { "run-as-user", "queue-user",
	    "chroot-dir", "deliverd-processes", "control-socket", NULL };
	char a[1024], b[1024];
	int i;

	for (i = 0; names[i] != NULL; i++)
		if (strcmp(reload_str(old, names[i]),
		    reload_str(new, names[i])) != 0) {
			report_add(r, "%s: warning: %s changed: takes effect "
			    "when ternd restarts", new->path, names[i]);
			log_warnx("reload: %s changed: takes effect when "
			    "ternd restarts", names[i]);
		}
	reload_acct_names(old, a, sizeof(a));
	reload_acct_names(new, b, sizeof(b));
	if (strcmp(a, b) != 0) {
		report_add(r, "%s: warning: accounting files changed: new "
		    "ones are opened when ternd restarts", new->path);
		log_warnx("reload: accounting files changed: new ones are "
		    "opened when ternd restarts");
	}
	cfg_spool_dir(old, a, sizeof(a));
	cfg_spool_dir(new, b, sizeof(b));
	if (strcmp(a, b) != 0) {
		report_add(r, "%s: warning: spool changed: takes effect when "
		    "ternd restarts", new->path);
		log_warnx("reload: spool changed: takes effect when ternd "
		    "restarts");
	}
}

static void
reload_send_all(struct ternd *t)
{
	int i;

	for (i = 0; i < t->nchildren; i++)
		if (t->children[i].mp != NULL) {
			cfg_wire_send(t->children[i].mp, t->cfg, t->cfg_gen);
			events_send(t, &t->children[i]);
		}
}

int
reload_config(struct ternd *t, char **report)
{
	struct report r = { NULL, 0 };
	struct cfg *cfg, *old;
	int i, first;

	if ((r.buf = strdup("")) == NULL)	/* never NULL */
		fatal("reload_config");
	log_info("reloading configuration %s", t->cfg->path);
	cfg = cfg_load(t->cfg->path);
	for (i = 0; cfg != NULL && i < cfg->nmsgs; i++)
		report_add(&r, "%s", cfg->msgs[i]);
	if (cfg == NULL || cfg->nerrors > 0) {
		if (cfg == NULL)
			report_add(&r, "%s: cannot load configuration",
			    t->cfg->path);
		else
			report_add(&r, "%s: %d error%s; the running "
			    "configuration stays", t->cfg->path,
			    cfg->nerrors, cfg->nerrors == 1 ? "" : "s");
		goto fail;
	}
	if (t->stopping) {
		report_add(&r, "ternd is stopping");
		goto fail;
	}
	if (reload_open_listeners(t, cfg, &first, &r) == -1)
		goto fail;
	reload_restart_only(t->cfg, cfg, &r);
	old = t->cfg;
	t->cfg = cfg;
	t->cfg_gen++;
	reload_send_all(t);
	reload_apply_listeners(t, first);
	cfg_free(old);
	log_info("configuration reloaded (generation %u, %d warning%s)",
	    t->cfg_gen, cfg->nwarnings, cfg->nwarnings == 1 ? "" : "s");
	*report = r.buf;
	return 0;
fail:
	/* Every message reaches the log, not only the caller. */
	for (i = 0; cfg != NULL && i < cfg->nmsgs; i++)
		log_warnx("reload: %s", cfg->msgs[i]);
	log_warnx("reload failed; the running configuration stays");
	cfg_free(cfg);
	*report = r.buf;
	return -1;
}

void
reload_ctl(struct mproc *p, struct imsg *imsg)
{
	struct msg m;
	char *report;
	int ok;

	m_msg(&m, imsg);
	m_end(&m);
	ok = reload_config(env, &report) == 0;
	m_create(p, CTL_RESULT, imsg->hdr.peerid, -1);
	m_add_u32(p, ok);
	m_add_string(p, report);
	m_close(p);
	free(report);
}
