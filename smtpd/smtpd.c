/*
 * smtpd.c - the inbound ESMTP daemon: configuration, listening sockets,
 * inbound policy, and the channel to queued.
 *
 * ternd hands us the listening sockets (we never bind), the config tree
 * and a socketpair to queued.  Sessions live in smtp_session.c.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <malloc.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "msghdr.h"
#include "proto.h"
#include "resolver.h"
#include "smtpd.h"
#include "util.h"

struct smtpd_listener {
	uv_tcp_t		 tcp;
	char			 name[64];
	int			 listening;
	struct sockaddr_storage	 addr;	/* where it is bound, asked once */
	int			 addrlen;	/* 0: not asked yet */
	struct smtpd_listener	*next;
};

struct smtpd_state		 smtpd;
static struct smtpd_listener	*smtpd_listeners;
static int			 smtpd_started;
static uv_timer_t		 smtpd_stop_timer;

/* --- configuration --- */

static void
smtpd_conf_load(struct smtpd_conf *c, const struct cfg *cfg)
{
	const struct cfg_node *g = cfg->root;

	memset(c, 0, sizeof(*c));
	msghdr_hostname(cfg, c->hostname, sizeof(c->hostname));
	/* The table's default is PowerMTA's "unlimited"; ours is 50M. */
	c->max_size = SMTP_DEFAULT_MAX_SIZE;
	if (cfg_child(g, "max-message-size") != NULL)
		c->max_size = cfg_size(g, "max-message-size", c->max_size);
	/* "unlimited" is UINT64_MAX, and 0 means the same (PowerMTA). */
	if (c->max_size == UINT64_MAX)
		c->max_size = 0;
	c->max_sessions = cfg_int(g, "total-max-smtp-in", SMTP_DEFAULT_MAX_IN);
	c->cmd_timeout = SMTP_CMD_TIMEOUT;
	c->data_timeout = SMTP_DATA_TIMEOUT;
}

static void
smtpd_config(struct cfg *cfg, int initial)
{
	smtpd_conf_load(&smtpd.conf, cfg);
	if (smtpd.cfg != NULL)
		cfg_free(smtpd.cfg);
	smtpd.cfg = cfg;
	log_debug("config: host-name %s, max-message-size %llu, "
	    "total-max-smtp-in %lld", smtpd.conf.hostname,
	    (unsigned long long)smtpd.conf.max_size,
	    (long long)smtpd.conf.max_sessions);
}

/* A <source> value only if the block itself sets it: the table default
 * must not hide the global setting. */
static void
smtpd_source_time(const struct cfg_node *src, const char *name,
    int64_t *secs)
{
	if (src != NULL && cfg_child(src, name) != NULL)
		*secs = cfg_time(src, name, *secs);
}

/* A yes/no of the client's <source>, else one written at the global
 * level, else no: nobody relays unless the config says so. */
static int
smtpd_source_bool(const struct cfg_node *src, const char *name)
{
	if (src != NULL && cfg_child(src, name) != NULL)
		return cfg_bool(src, name, 0);
	if (smtpd.cfg != NULL && cfg_child(smtpd.cfg->root, name) != NULL)
		return cfg_bool(smtpd.cfg->root, name, 0);
	return 0;
}

/* A yes/no that only a <source> sets (no global form). */
static int
smtpd_source_flag(const struct cfg_node *src, const char *name, int dflt)
{
	if (src != NULL && cfg_child(src, name) != NULL)
		return cfg_bool(src, name, dflt);
	return dflt;
}

static void
smtpd_policy_auth(struct smtp_session *s, const struct cfg_node *src)
{
	const struct cfg_node *n;
	struct cfg_rate rate;

	s->allow_starttls = smtpd_source_flag(src, "allow-starttls", 1);
	s->allow_auth = smtpd_source_flag(src, "allow-auth", 1);
	s->auth_unencrypted = smtpd_source_flag(src,
	    "allow-unencrypted-plain-auth", 0);
	s->require_auth = smtpd_source_flag(src, "require-auth", 0);
	s->allow_chunking = smtpd_source_flag(src, "allow-chunking", 1);
	if (src != NULL && cfg_child(src, "smtp-max-auth-failure-rate") !=
	    NULL && cfg_get_rate(src, "smtp-max-auth-failure-rate", &rate) ==
	    0 && !rate.unlimited && rate.count > 0 && rate.per_secs > 0) {
		s->authfail_max = rate.count > UINT32_MAX ? UINT32_MAX :
		    rate.count;
		s->authfail_window = rate.per_secs;
	}
	if (src != NULL && (n = cfg_child(src, "auth-plain")) != NULL &&
	    n->argc > 0 && (s->auth_file = strdup(n->argv[0])) == NULL)
		fatal("smtpd_policy_auth");
}

/* Header processing (smtp_hdr.c) and the VMTA of the source's mail. */
static void
smtpd_policy_headers(struct smtp_session *s, const struct cfg_node *src)
{
	const char *v;

	s->x_vmta = smtpd_source_flag(src, "process-x-virtual-mta", 0);
	s->x_job = smtpd_source_flag(src, "process-x-job", 0);
	s->x_envid = smtpd_source_flag(src, "process-x-envid", 0);
	s->x_remote_ip = smtpd_source_flag(src, "process-x-remote-mta-ip", 0);
	s->add_msgid = smtpd_source_flag(src, "add-message-id-header", 0);
	s->reject_bad_vmta = smtpd_source_flag(src,
	    "reject-invalid-virtual-mta", 1);
	s->add_date = SMTP_ADD_DATE_NO;
	if (src != NULL && (v = cfg_str(src, "add-date-header", NULL)) !=
	    NULL) {
		if (strcmp(v, "override") == 0)
			s->add_date = SMTP_ADD_DATE_OVERRIDE;
		else if (cfg_bool(src, "add-date-header", 0))
			s->add_date = SMTP_ADD_DATE_YES;
	}
	v = NULL;
	if (src != NULL)
		v = cfg_str(src, "default-virtual-mta", cfg_str(src,
		    "virtual-mta", NULL));
	if (v != NULL && *v != '\0' && (s->default_vmta = strdup(v)) == NULL)
		fatal("smtpd_policy_headers");
}

/* require-rdns (seed name: reject fail, permerror and temperror) and
 * check-iprev-inbound with its reject-iprev-check-* (PowerMTA). */
static void
smtpd_policy_iprev(struct smtp_session *s, const struct cfg_node *src)
{
	if (smtpd_source_bool(src, "require-rdns")) {
		s->iprev_check = 1;
		s->iprev_reject = SMTP_IPREV_R_FAIL | SMTP_IPREV_R_PERM |
		    SMTP_IPREV_R_TEMP;
	}
	if (!smtpd_source_flag(src, "check-iprev-inbound", 0))
		return;
	s->iprev_check = s->iprev_header = 1;
	if (smtpd_source_flag(src, "reject-iprev-check-fail", 0))
		s->iprev_reject |= SMTP_IPREV_R_FAIL;
	if (smtpd_source_flag(src, "reject-iprev-check-permerror", 0))
		s->iprev_reject |= SMTP_IPREV_R_PERM;
	if (smtpd_source_flag(src, "reject-iprev-check-temperror", 0))
		s->iprev_reject |= SMTP_IPREV_R_TEMP;
}

/* Inbound policy of a new session, from its <source> block.  Nobody
 * relays unless the config says so, not even loopback clients. */
void
smtpd_policy(struct smtp_session *s)
{
	const struct sockaddr *sa = (const struct sockaddr *)&s->ss;
	struct cfg_node *src = NULL;
	uint64_t size;

	s->max_size = smtpd.conf.max_size;
	s->cmd_timeout = smtpd.conf.cmd_timeout;
	s->data_timeout = smtpd.conf.data_timeout;
	if (smtpd.cfg != NULL && sa->sa_family != AF_UNSPEC)
		src = cfg_source_match(smtpd.cfg, sa);
	s->relay = smtpd_source_bool(src, "always-allow-relaying") ||
	    smtpd_source_bool(src, "allow-submission");
	if (src != NULL && cfg_child(src, "max-message-size") != NULL) {
		size = cfg_size(src, "max-message-size", s->max_size);
		s->max_size = size == UINT64_MAX ? 0 : size;
	}
	smtpd_policy_auth(s, src);
	smtpd_policy_headers(s, src);
	s->suppress_reject = smtp_suppress_policy(src);
	smtpd_policy_iprev(s, src);
	smtpd_source_time(src, "smtp-command-timeout", &s->cmd_timeout);
	smtpd_source_time(src, "smtp-data-timeout", &s->data_timeout);
	if (s->cmd_timeout <= 0)
		s->cmd_timeout = SMTP_CMD_TIMEOUT;
	if (s->data_timeout <= 0)
		s->data_timeout = SMTP_DATA_TIMEOUT;

	if (smtpd.stopping)
		s->refuse = SMTP_REFUSE_STOPPING;
	else if (src != NULL && !cfg_bool(src, "smtp-service", 1))
		s->refuse = SMTP_REFUSE_SOURCE;
	else if (smtpd_spool_full() &&
	    smtpd_source_bool(src, "refuse-connect-when-spool-full"))
		s->refuse = SMTP_REFUSE_SPOOL;
	else if (smtpd.conf.max_sessions > 0 &&
	    smtpd.nsessions >= smtpd.conf.max_sessions)
		s->refuse = SMTP_REFUSE_BUSY;
	else if (smtp_limit_take(s, src) == -1)
		s->refuse = SMTP_REFUSE_LIMIT;
	else {
		s->counted = 1;
		smtpd.nsessions++;
		smtp_report_sessions();
	}
}

/* --- listeners --- */

/* The argument of an smtp-listener line or block, as ternd binds it. */
static const char *
smtpd_listener_spec(const struct cfg_node *n)
{
	return n->argc > 0 ? n->argv[0] : n->arg;
}

static int
smtpd_same_addr(const struct sockaddr_storage *a, const char *spec)
{
	struct sockaddr_storage b;
	const char *err;
	char host[256];
	int port;

	memset(&b, 0, sizeof(b));
	if (cfg_parse_hostport(spec, host, sizeof(host), &port, 25,
	    &err) == -1 ||
	    (uv_ip4_addr(host, port, (struct sockaddr_in *)&b) != 0 &&
	    uv_ip6_addr(host, port, (struct sockaddr_in6 *)&b) != 0) ||
	    a->ss_family != b.ss_family)
		return 0;
	if (a->ss_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
		    &((struct sockaddr_in *)&b)->sin_addr, 4) == 0 &&
		    ((const struct sockaddr_in *)a)->sin_port ==
		    ((struct sockaddr_in *)&b)->sin_port;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
	    &((struct sockaddr_in6 *)&b)->sin6_addr, 16) == 0 &&
	    ((const struct sockaddr_in6 *)a)->sin6_port ==
	    ((struct sockaddr_in6 *)&b)->sin6_port;
}

/* The <smtp-listener> argument of the socket a session came in on (a
 * copy), or NULL (smtp-port, or a listener the config no longer has). */
char *
smtpd_listener_of(uv_stream_t *server)
{
	struct smtpd_listener *l = server->data;
	struct cfg_node *n;

	if (smtpd.cfg == NULL)
		return NULL;
	/* A bound socket keeps its address: one getsockname per listener,
	 * not one per connection. */
	if (l->addrlen == 0) {
		l->addrlen = sizeof(l->addr);
		if (uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&l->addr,
		    &l->addrlen) != 0) {
			l->addrlen = 0;
			return NULL;
		}
	}
	for (n = cfg_child(smtpd.cfg->root, "smtp-listener"); n != NULL;
	    n = cfg_next_named(n, "smtp-listener"))
		if (smtpd_same_addr(&l->addr, smtpd_listener_spec(n)))
			return xstrdup(smtpd_listener_spec(n));
	return NULL;
}

/* The <smtp-listener> block of that argument in the current config. */
const struct cfg_node *
smtpd_listener_node(const char *listener)
{
	struct cfg_node *n;

	if (listener == NULL || smtpd.cfg == NULL)
		return NULL;
	for (n = cfg_child(smtpd.cfg->root, "smtp-listener"); n != NULL;
	    n = cfg_next_named(n, "smtp-listener"))
		if (strcmp(smtpd_listener_spec(n), listener) == 0)
			return n;
	return NULL;
}

static void
smtpd_accept_cb(uv_stream_t *server, int status)
{
	if (status < 0) {
		log_warnx("accept: %s", uv_strerror(status));
		return;
	}
	smtp_session_accept(server);
}

static void
smtpd_listen(struct smtpd_listener *l)
{
	int r;

	if (l->listening)
		return;
	if ((r = uv_listen((uv_stream_t *)&l->tcp, 511, smtpd_accept_cb)) != 0) {
		log_warnx("listen on %s: %s", l->name, uv_strerror(r));
		return;
	}
	l->listening = 1;
	log_debug("listening on %s", l->name);
}

static void
smtpd_listener_free_cb(uv_handle_t *h);

/* A reload dropped this listener: no new sessions on it, the ones in
 * progress go on (they have their own sockets). */
static void
smtpd_listener_remove(const char *name)
{
	struct smtpd_listener **lp, *l;

	for (lp = &smtpd_listeners; (l = *lp) != NULL; lp = &l->next)
		if (strcmp(l->name, name) == 0) {
			*lp = l->next;
			log_info("no longer listening on %s", l->name);
			uv_close((uv_handle_t *)&l->tcp,
			    smtpd_listener_free_cb);
			return;
		}
	log_warnx("no listener %s to close", name);
}

static void
smtpd_listener(int kind, const char *name, int fd)
{
	struct smtpd_listener *l;
	int r;

	if (fd == -1) {
		smtpd_listener_remove(name);
		return;
	}
	if (kind != LISTEN_SMTP) {
		log_warnx("unexpected listener %s (kind %d)", name, kind);
		close(fd);
		return;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL)
		fatal("smtpd_listener");
	strlcpy(l->name, name ? name : "?", sizeof(l->name));
	uv_tcp_init(daemon_loop(), &l->tcp);
	l->tcp.data = l;
	if ((r = uv_tcp_open(&l->tcp, fd)) != 0)
		fatalx("listener %s: %s", l->name, uv_strerror(r));
	/* Accepted sockets inherit TCP_NODELAY from the listener (Linux):
	 * one setsockopt here instead of one per connection. */
	uv_tcp_nodelay(&l->tcp, 1);
	l->next = smtpd_listeners;
	smtpd_listeners = l;
	if (smtpd_started && !smtpd.stopping)
		smtpd_listen(l);
}

static void
smtpd_listener_free_cb(uv_handle_t *h)
{
	free(h->data);
}

static void
smtpd_listeners_close(void)
{
	struct smtpd_listener *l, *next;

	for (l = smtpd_listeners; l != NULL; l = next) {
		next = l->next;
		uv_close((uv_handle_t *)&l->tcp, smtpd_listener_free_cb);
	}
	smtpd_listeners = NULL;
}

/* --- queued --- */

void
smtpd_queued_rollback(const char *qid)
{
	if (smtpd.queued == NULL)
		return;
	m_create(smtpd.queued, MSG_ROLLBACK, 0, -1);
	m_add_string(smtpd.queued, qid);
	m_close(smtpd.queued);
}

/*
 * Files queued handed ahead (MSG_SCRATCH, queued/queue_recv.c), so that
 * a DATA starts at once.  They belong to the queued that sent them:
 * forgotten (closed) when it goes away.
 */
#define SMTPD_POOL_MAX	128		/* queued hands at most 64 */

static struct {
	char	 qid[QID_LEN + 1];
	int	 fd;
} smtpd_pool[SMTPD_POOL_MAX];
static size_t	smtpd_npool;

/* The queue id of a MSG_CREATE_OK or MSG_SCRATCH, which carry a file. */
static const char *
smtpd_file_qid(struct imsg *imsg, struct msg *m)
{
	const char *qid;

	m_get_string(m, &qid);
	m_end(m);
	if (qid == NULL || strlen(qid) != QID_LEN || imsg->fd == -1)
		fatalx("%s: bad queue id or no file",
		    proto_name(imsg->hdr.type));
	return qid;
}

static void
smtpd_pool_add(struct imsg *imsg, struct msg *m)
{
	const char *qid = smtpd_file_qid(imsg, m);

	if (smtpd_npool == SMTPD_POOL_MAX) {
		close(imsg->fd);
		smtpd_queued_rollback(qid);
		return;
	}
	strlcpy(smtpd_pool[smtpd_npool].qid, qid, QID_LEN + 1);
	smtpd_pool[smtpd_npool++].fd = imsg->fd;
	imsg->fd = -1;
}

static void
smtpd_pool_clear(void)
{
	while (smtpd_npool > 0)
		close(smtpd_pool[--smtpd_npool].fd);
}

/*
 * A file for session s's message: 1 with a file queued handed ahead in
 * qid and *fd; 0 if queued was asked (smtp_created or
 * smtp_create_failed follow); -1 if queued is away.  While queued says
 * the spool is full, it is asked, so that it answers 452 or, if it has
 * room again by now, a file.
 */
int
smtpd_queued_create(struct smtp_session *s, char *qid, int *fd)
{
	if (smtpd.queued == NULL)
		return -1;
	if (smtpd_npool > 0 && !smtpd.spool_full) {
		smtpd_npool--;
		strlcpy(qid, smtpd_pool[smtpd_npool].qid, QID_LEN + 1);
		*fd = smtpd_pool[smtpd_npool].fd;
		return 1;
	}
	m_compose(smtpd.queued, MSG_CREATE, s->id, -1, NULL, 0);
	return 0;
}

void
smtpd_queued_commit(struct smtp_session *s, const struct envelope *env)
{
	m_create(smtpd.queued, MSG_COMMIT, s->id, -1);
	m_add_envelope(smtpd.queued, env);
	m_close(smtpd.queued);
}

static void
smtpd_create_ok(struct imsg *imsg, struct msg *m)
{
	struct smtp_session *s;
	const char *qid = smtpd_file_qid(imsg, m);

	s = smtp_session_find(imsg->hdr.peerid);
	if (s == NULL || s->quit || s->state != SMTP_S_CREATE) {
		/* The session went away meanwhile. */
		log_debug("%s: session %08x gone, rollback", qid,
		    imsg->hdr.peerid);
		close(imsg->fd);
		smtpd_queued_rollback(qid);
		return;
	}
	smtp_created(s, qid, imsg->fd);
}

static void
smtpd_queued_fail(struct imsg *imsg, struct msg *m, enum smtp_state want)
{
	struct smtp_session *s;
	const char *status, *text;
	uint32_t code;

	m_get_u32(m, &code);
	m_get_string(m, &status);
	m_get_string(m, &text);
	m_end(m);
	s = smtp_session_find(imsg->hdr.peerid);
	if (s == NULL || s->state != want)
		return;
	if (want == SMTP_S_CREATE)
		smtp_create_failed(s, code, status, text);
	else
		smtp_commit_failed(s, code, status, text);
}

static void
smtpd_commit_ok(struct imsg *imsg, struct msg *m)
{
	struct smtp_session *s;
	const char *qid;

	m_get_string(m, &qid);
	m_end(m);
	s = smtp_session_find(imsg->hdr.peerid);
	if (s == NULL || s->state != SMTP_S_COMMIT || qid == NULL ||
	    strcmp(qid, s->tx->qid) != 0) {
		log_debug("%s: committed for a session gone", qid ? qid : "?");
		return;
	}
	smtp_committed(s, qid);
}

void
smtpd_spool_state(int full)
{
	if (!smtpd.spool_full != !full)
		log_info("spool %s", full ? "full: refusing mail" :
		    "has room again");
	smtpd.spool_full = full != 0;
}

/* Whether to answer MAIL and RCPT with 452.  queued tells us each time
 * the spool crosses its limits, both ways: when a commit fills it (before
 * the 250 of that message, so the next MAIL already knows) and when
 * deliveries free room again (it rechecks every second while full). */
int
smtpd_spool_full(void)
{
	return smtpd.spool_full;
}

static void
smtpd_queued_msg(struct mproc *p, struct imsg *imsg)
{
	struct msg m;
	uint32_t full;

	m_msg(&m, imsg);
	if (imsg->hdr.type != MSG_CREATE_OK && imsg->hdr.type != MSG_SCRATCH &&
	    imsg->fd != -1) {
		close(imsg->fd);
		imsg->fd = -1;
	}
	switch (imsg->hdr.type) {
	case MSG_CREATE_OK:
		smtpd_create_ok(imsg, &m);
		break;
	case MSG_SCRATCH:
		smtpd_pool_add(imsg, &m);
		break;
	case MSG_CREATE_FAIL:
		smtpd_queued_fail(imsg, &m, SMTP_S_CREATE);
		break;
	case MSG_COMMIT_OK:
		smtpd_commit_ok(imsg, &m);
		break;
	case MSG_COMMIT_FAIL:
		smtpd_queued_fail(imsg, &m, SMTP_S_COMMIT);
		break;
	case MSG_SPOOL_STATE:
		m_get_u32(&m, &full);
		m_end(&m);
		smtpd_spool_state(full);
		break;
	case BNC_SUPPRESS:
		smtp_suppress_msg(&m);
		break;
	default:
		fatalx("unexpected %s from queued", proto_name(imsg->hdr.type));
	}
}

static void
smtpd_queued_gone(struct mproc *p)
{
	if (p != smtpd.queued)
		return;
	log_warnx("lost queued: mail is refused until it is back");
	smtpd.queued = NULL;
	smtpd_pool_clear();	/* the files of the queued that went */
	smtp_session_foreach(smtp_queued_lost);
}

static void
smtpd_peer(int proc, int instance, int fd)
{
	struct mproc *old;

	if (proc != PROC_QUEUED) {
		log_warnx("unexpected peer %s", proc_name(proc));
		close(fd);
		return;
	}
	/* A replacement may come before we noticed the old one's end. */
	if ((old = smtpd.queued) != NULL) {
		smtpd_queued_gone(old);
		mproc_close(old);
	}
	smtpd.queued = mproc_new(daemon_loop(), fd, PROC_QUEUED, instance,
	    smtpd_queued_msg, smtpd_queued_gone, NULL);
	smtpd.spool_full = 0;
	smtp_report_queued_up();
	log_debug("queued channel up");
}

/* --- life --- */

#define SMTPD_TRIM_THRESHOLD	(8 * 1024 * 1024)

static void
smtpd_start(void)
{
	struct smtpd_listener *l;

	smtpd_started = 1;
	/* A session in DATA holds 128 KB of heap (its input buffer and
	 * the file buffer), so with tens of sessions the top of the heap
	 * moves by more than daemon.c's 1 MB as they come and go: glibc
	 * gave it back and took it again all the time (at 20 sessions 0.4
	 * brk() per message, each followed by page faults; CPU of smtpd
	 * +20%, bench/ctxsw.sh).  Keep up to 64 sessions' worth. */
	mallopt(M_TRIM_THRESHOLD, SMTPD_TRIM_THRESHOLD);
	for (l = smtpd_listeners; l != NULL; l = l->next)
		smtpd_listen(l);
	if (smtpd_listeners == NULL)
		log_warnx("no SMTP listener");
	log_info("ready, %s", smtpd.conf.hostname);
}

void
smtpd_session_gone(void)
{
	/* Refused sessions are not counted: they are gone in a moment. */
	if (smtpd.stopping && smtpd.nsessions == 0) {
		log_debug("all sessions closed");
		daemon_exit(0);
	}
}

static void
smtpd_stop_timeout(uv_timer_t *t)
{
	log_info("shutdown: sessions still open, exiting");
	daemon_exit(0);
}

static void
smtpd_shutdown(void)
{
	smtpd.stopping = 1;
	smtpd_listeners_close();
	smtp_session_foreach(smtp_stopping);
	uv_timer_init(daemon_loop(), &smtpd_stop_timer);
	uv_timer_start(&smtpd_stop_timer, smtpd_stop_timeout,
	    SMTP_STOP_GRACE * 1000, 0);
	uv_unref((uv_handle_t *)&smtpd_stop_timer);
	if (smtpd.nsessions == 0)
		daemon_exit(0);
}

/* Secrets from ternd (ternd/secrets.c), before IMSG_START. */
static void
smtpd_parent_msg(struct mproc *p, struct imsg *imsg)
{
	struct msg m;
	const char *a, *b, *l;

	m_msg(&m, imsg);
	if (imsg->fd != -1) {
		close(imsg->fd);
		imsg->fd = -1;
	}
	switch (imsg->hdr.type) {
	case SMTPD_TLS_CERT:
		m_get_string(&m, &a);
		m_get_string(&m, &b);
		m_get_string(&m, &l);
		m_end(&m);
		if (a != NULL)
			smtp_tls_config(l, a, b);
		break;
	case DLV_NAMESERVERS:
		resolver_host_servers(imsg);
		return;
	case SMTPD_PASSWD_FILE:
		m_get_string(&m, &a);
		m_get_string(&m, &b);
		m_end(&m);
		if (a != NULL && b != NULL)
			smtp_auth_passwd_file(a, b);
		break;
	default:
		fatalx("unexpected %s from ternd", proto_name(imsg->hdr.type));
	}
	/* The PEM and the hashes are in our copies now, not in this one. */
	explicit_bzero((void *)imsg->data, imsg->len);
}

static const struct daemon_ops smtpd_ops = {
	.proc = PROC_SMTPD,
	.config = smtpd_config,
	.peer = smtpd_peer,
	.listener = smtpd_listener,
	.start = smtpd_start,
	.parent_msg = smtpd_parent_msg,
	.shutdown = smtpd_shutdown,
};

int
main(int argc, char **argv)
{
	return daemon_main(argc, argv, &smtpd_ops);
}
