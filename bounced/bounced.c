/*
 * bounced.c - the accounting daemon: takes queued's records, writes them
 * to the accounting files and acknowledges them once written.
 *
 * Records are queued in memory while a loop turn reads them; a uv_check
 * handle (run after the turn's I/O) writes every file once and sends one
 * BNC_ACK with the highest sequence number, so a burst of records costs
 * one write per file and one message back, not one each.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "bounced.h"
#include "daemon.h"
#include "events.h"
#include "log.h"
#include "proto.h"

static struct cfg	*b_cfg;
static struct mproc	*b_queued;
static struct mproc	*b_mgmtd;
static uv_check_t	 b_check;
static int		 b_check_init;
static uint64_t		 b_ack_seq;	/* highest seq written, not acked */
static int		 b_ack_pending;
static int		 b_started;
static int		 b_queued_fd = -1;	/* held until IMSG_START */
static int		 b_mgmtd_fd = -1;	/* the same */
static uint64_t		 b_count_d, b_count_b, b_count_t, b_count_dsn;
static uint64_t		 b_count_inbound;	/* rb, rs, f rows */

static void
bounced_count(const char *type)
{
	switch (acct_type_bit(type)) {
	case ACCT_D:
		b_count_d++;
		break;
	case ACCT_B:
		b_count_b++;
		break;
	case ACCT_T:
		b_count_t++;
		break;
	}
}

/* End of a loop turn: make the records of this turn durable, ack them. */
static void
bounced_check_cb(uv_check_t *h)
{
	acct_flush();
	if (b_ack_pending && b_queued != NULL) {
		m_create(b_queued, BNC_ACK, 0, -1);
		m_add_u64(b_queued, b_ack_seq);
		m_close(b_queued);
	}
	b_ack_pending = 0;
	uv_check_stop(h);
}

static void
bounced_record(struct imsg *imsg)
{
	struct acct_record a;
	struct msg m;
	uint64_t seq;

	m_msg(&m, imsg);
	m_get_u64(&m, &seq);
	m_get_acct(&m, &a);
	m_end(&m);
	acct_write(&a);
	bounced_count(a.type);
	/* A dead address: never again (suppress.c). */
	if (acct_type_bit(a.type) == ACCT_B && a.rcpt != NULL) {
		if (suppress_category(bounce_classify(a.dsn_status,
		    a.dsn_diag)))
			suppress_add(a.rcpt, bounce_classify(a.dsn_status,
			    a.dsn_diag));
		else if (suppress_expired(a.dsn_status, a.dsn_diag))
			suppress_add(a.rcpt, "soft bounces past bounce-after");
	}
	if (!b_ack_pending || seq > b_ack_seq)
		b_ack_seq = seq;
	b_ack_pending = 1;
	/* queued may send records before ternd's IMSG_START reaches us. */
	if (!b_check_init) {
		uv_check_init(daemon_loop(), &b_check);
		b_check_init = 1;
	}
	uv_check_start(&b_check, bounced_check_cb);
}

/* The first min(size, cap) bytes of a message whose body starts at
 * `off` in fd (a record in one of queued's spool segments). */
static char *
bounced_read_orig(int fd, uint64_t off, uint64_t size, size_t cap,
    size_t *len)
{
	size_t want = cap;
	ssize_t n;
	char *buf;

	*len = 0;
	if (fd == -1)
		return NULL;
	if (want > size)
		want = size;
	if ((buf = malloc(want + 1)) == NULL)
		fatal("bounced_read_orig");
	while (*len < want && (n = pread(fd, buf + *len, want - *len,
	    off + *len)) > 0)
		*len += n;
	buf[*len] = '\0';
	return buf;
}

/* Host name in the DSN: host-name, else the system's. */
static const char *
bounced_host(void)
{
	static char host[256];
	const char *h;

	if (b_cfg != NULL && (h = cfg_str(b_cfg->root, "host-name",
	    NULL)) != NULL)
		return h;
	if (gethostname(host, sizeof(host)) == -1 || host[0] == '\0')
		strlcpy(host, "localhost", sizeof(host));
	return host;
}

static void
bounced_dsn(struct mproc *p, struct imsg *imsg)
{
	static unsigned serial;
	struct dsn_req r;
	struct msg m;
	char *orig, *text;
	uint64_t off;
	size_t len;

	memset(&r, 0, sizeof(r));
	m_msg(&m, imsg);
	m_get_string(&m, &r.qid);
	m_get_string(&m, &r.sender);
	m_get_string(&m, &r.envid);
	m_get_u32(&m, &r.ret);
	m_get_u32(&m, &r.flags);
	m_get_i64(&m, &r.queued);
	m_get_u64(&m, &r.size);
	m_get_u64(&m, &off);
	m_get_string(&m, &r.rcpt);
	m_get_string(&m, &r.orcpt);
	m_get_u32(&m, &r.notify);
	m_get_string(&m, &r.dsn_status);
	m_get_string(&m, &r.diag);
	m_get_string(&m, &r.mta);
	m_get_string(&m, &r.queue);
	m_get_u32(&m, &r.action);
	m_end(&m);
	if (!dsn_wanted(&r) || r.rcpt == NULL) {
		if (imsg->fd != -1)
			close(imsg->fd);
		return;
	}
	/* RET=FULL: all of it (if small enough); else enough for the
	 * header. */
	orig = bounced_read_orig(imsg->fd, off, r.size, r.ret == RET_FULL &&
	    r.action != DSN_ACTION_DELAYED && r.size <= DSN_MAX_RETURN ?
	    r.size : 64 * 1024, &len);
	if (imsg->fd != -1)
		close(imsg->fd);
	text = dsn_build(&r, bounced_host(), orig, len, time(NULL),
	    ++serial);
	free(orig);
	m_create(p, BNC_INJECT, 0, -1);
	m_add_string(p, r.qid);
	m_add_string(p, r.sender);
	m_add_string(p, NULL);
	m_add_string(p, text);
	m_close(p);
	b_count_dsn++;
	log_info("%s: %sDSN about <%s> to <%s>", r.qid,
	    r.action == DSN_ACTION_DELAYED ? "delay " : "", r.rcpt, r.sender);
	free(text);
}

#define INBOUND_MAX	(1024 * 1024)	/* bytes of a report we read */

/* An asynchronous bounce or feedback report (inbound.c). */
static void
bounced_inbound(struct imsg *imsg)
{
	const char *qid, *sender, *rcpt, *client;
	struct msg m;
	uint64_t size, off;
	size_t len;
	char *buf, srcmta[300];
	int rows;

	m_msg(&m, imsg);
	m_get_string(&m, &qid);
	m_get_string(&m, &sender);
	m_get_string(&m, &rcpt);
	m_get_u64(&m, &size);
	m_get_u64(&m, &off);
	m_get_string(&m, &client);
	m_end(&m);
	buf = bounced_read_orig(imsg->fd, off, size, INBOUND_MAX, &len);
	if (imsg->fd != -1)
		close(imsg->fd);
	if (buf == NULL || rcpt == NULL) {
		free(buf);
		return;
	}
	snprintf(srcmta, sizeof(srcmta), "%s", client ? client : "");
	rows = inbound_process(buf, len, rcpt, srcmta, time(NULL));
	free(buf);
	b_count_inbound += rows;
	acct_flush();
	log_info("%s: report to <%s>: %d row(s)", qid ? qid : "?", rcpt,
	    rows);
}

static void
bounced_queued_msg(struct mproc *p, struct imsg *imsg)
{
	if (imsg->hdr.type == BNC_DSN) {
		bounced_dsn(p, imsg);
		return;
	}
	if (imsg->hdr.type == BNC_INBOUND) {
		bounced_inbound(imsg);
		return;
	}
	if (imsg->fd != -1)
		close(imsg->fd);
	switch (imsg->hdr.type) {
	case BNC_RECORD:
		bounced_record(imsg);
		return;
	}
	fatalx("unexpected %s from queued", proto_name(imsg->hdr.type));
}

static void
bounced_queued_gone(struct mproc *p)
{
	/* Records of this turn are written anyway; queued re-sends what
	 * it did not see acknowledged. */
	acct_flush();
	b_ack_pending = 0;
	if (b_queued == p) {
		b_queued = NULL;
		suppress_queued(NULL);
	}
}

static char *
bounced_status_json(void)
{
	json_t *root, *ev;
	char *s;

	root = json_pack("{s:{s:I,s:I,s:I},s:I,s:I}", "acct",
	    "d", (json_int_t)b_count_d, "b", (json_int_t)b_count_b,
	    "t", (json_int_t)b_count_t, "dsn", (json_int_t)b_count_dsn,
	    "reports", (json_int_t)b_count_inbound);
	if (json_object_set_new(root, "suppressed",
	    json_integer((json_int_t)suppress_count())) == -1)
		fatalx("bounced_status_json: suppressed");
	if ((ev = events_status_json()) != NULL &&
	    json_object_set_new(root, "events", ev) == -1)
		fatalx("bounced_status_json: events");
	if (root == NULL)
		fatalx("bounced_status_json");
	s = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (s == NULL)
		fatalx("bounced_status_json: dump");
	return s;
}

/* tern suppression list|add|remove (bounced/suppress.c) */
static void
bounced_ctl_suppress(struct mproc *p, struct imsg *imsg)
{
	const char *vmta, *addr;
	struct msg m;
	char msg[600], *json;
	uint32_t op;
	int ok;

	m_msg(&m, imsg);
	m_get_u32(&m, &op);
	m_get_string(&m, &vmta);
	m_get_string(&m, &addr);
	m_end(&m);
	if ((json = suppress_ctl(op, vmta, addr, &ok, msg, sizeof(msg))) !=
	    NULL) {
		m_create(p, CTL_SUPPRESS_LIST, imsg->hdr.peerid, -1);
		m_add_string(p, json);
		m_close(p);
		free(json);
		return;
	}
	m_create(p, CTL_RESULT, imsg->hdr.peerid, -1);
	m_add_u32(p, ok);
	m_add_string(p, msg);
	m_close(p);
}

/* tern rotate acct [FILE] | log (acct.c; ternd does the renaming) */
static void
bounced_ctl_rotate(struct mproc *p, struct imsg *imsg)
{
	const char *what, *file;
	char err[600];
	struct msg m;
	int r = -1;

	m_msg(&m, imsg);
	m_get_string(&m, &what);
	m_get_string(&m, &file);
	m_end(&m);
	if (what != NULL && strcmp(what, "acct") == 0)
		r = acct_rotate_ctl(p, imsg->hdr.peerid, file, err,
		    sizeof(err));
	else
		snprintf(err, sizeof(err), "Tern has no log file to rotate: "
		    "it logs to syslog or stderr");
	if (r == 0)
		return;		/* answered when ternd is done */
	m_create(p, CTL_RESULT, imsg->hdr.peerid, -1);
	m_add_u32(p, 0);
	m_add_string(p, err);
	m_close(p);
}

static void
bounced_mgmtd_msg(struct mproc *p, struct imsg *imsg)
{
	struct msg m;
	char *json;

	if (imsg->fd != -1)
		close(imsg->fd);
	switch (imsg->hdr.type) {
	case CTL_STATUS_REQ:
		m_msg(&m, imsg);
		m_end(&m);
		json = bounced_status_json();
		m_create(p, CTL_STATUS, imsg->hdr.peerid, -1);
		m_add_string(p, json);
		m_close(p);
		free(json);
		return;
	case CTL_SUPPRESS:
		bounced_ctl_suppress(p, imsg);
		return;
	case CTL_ROTATE:
		bounced_ctl_rotate(p, imsg);
		return;
	}
	fatalx("unexpected %s from mgmtd", proto_name(imsg->hdr.type));
}

static void
bounced_mgmtd_gone(struct mproc *p)
{
	acct_rotate_forget(p);
	if (b_mgmtd == p)
		b_mgmtd = NULL;
}

static void
bounced_config(struct cfg *cfg, int initial)
{
	acct_config(cfg);
	events_config(cfg);
	bounce_patterns_config(cfg);
	supr_configure(cfg, b_started);
	if (b_cfg != NULL)
		cfg_free(b_cfg);
	b_cfg = cfg;
}

static void
bounced_queued_open(int fd)
{
	if (b_queued != NULL)
		mproc_close(b_queued);
	b_ack_pending = 0;
	b_queued = mproc_new(daemon_loop(), fd, PROC_QUEUED, 0,
	    bounced_queued_msg, bounced_queued_gone, NULL);
	suppress_queued(b_queued);
}

static void
bounced_mgmtd_open(int fd)
{
	if (b_mgmtd != NULL)
		mproc_close(b_mgmtd);
	b_mgmtd = mproc_new(daemon_loop(), fd, PROC_MGMTD, 0,
	    bounced_mgmtd_msg, bounced_mgmtd_gone, NULL);
}

static void
bounced_peer(int proc, int instance, int fd)
{
	(void)instance;		/* one queued, one mgmtd */
	switch (proc) {
	case PROC_QUEUED:
		/* Records read before the accounting files have all
		 * arrived would miss them: wait for IMSG_START. */
		if (!b_started) {
			if (b_queued_fd != -1)
				close(b_queued_fd);
			b_queued_fd = fd;
		} else
			bounced_queued_open(fd);
		return;
	case PROC_MGMTD:
		/* A `tern suppression add` read before the list file has
		 * arrived would be kept in memory only: wait too. */
		if (!b_started) {
			if (b_mgmtd_fd != -1)
				close(b_mgmtd_fd);
			b_mgmtd_fd = fd;
		} else
			bounced_mgmtd_open(fd);
		return;
	}
	log_warnx("unexpected peer %s", proc_name(proc));
	close(fd);
}

static void
bounced_file(int kind, const char *path, int fd)
{
	if (kind == FILE_SUPPRESS) {
		suppress_file(fd);
		return;
	}
	if (kind == FILE_EVENTS) {
		events_dir(fd);
		return;
	}
	if (kind != FILE_ACCT) {
		log_warnx("unexpected file kind %d for %s", kind, path);
		close(fd);
		return;
	}
	acct_file(path, fd);
}

static void
bounced_start(void)
{
	b_started = 1;
	suppress_load();
	supr_configure(b_cfg, 1);
	events_start();
	if (b_queued_fd != -1) {
		bounced_queued_open(b_queued_fd);
		b_queued_fd = -1;
	}
	if (b_mgmtd_fd != -1) {
		bounced_mgmtd_open(b_mgmtd_fd);
		b_mgmtd_fd = -1;
	}
	log_debug("started");
}

static void
bounced_shutdown(void)
{
	if (b_check_init)
		bounced_check_cb(&b_check);
	if (b_queued != NULL)
		mproc_flush_sync(b_queued);
	acct_shutdown();
	events_shutdown();
	supr_shutdown();
	suppress_shutdown();
	daemon_exit(0);
}

/* From ternd: the answer to a rotation. */
static void
bounced_parent_msg(struct mproc *p, struct imsg *imsg)
{
	if (imsg->hdr.type == BNC_ROTATED) {
		acct_rotated(imsg);
		return;
	}
	if (imsg->hdr.type == CLUSTER_PASSWORD) {
		struct msg m;

		m_msg(&m, imsg);
		supr_password(&m);
		return;
	}
	if (imsg->hdr.type == BNC_EVENT_SINK) {
		events_sink_info(imsg);		/* takes the fd */
		return;
	}
	if (imsg->fd != -1)
		close(imsg->fd);
	log_warnx("unexpected %s from ternd", proto_name(imsg->hdr.type));
}

static const struct daemon_ops bounced_ops = {
	.proc = PROC_BOUNCED,
	.config = bounced_config,
	.peer = bounced_peer,
	.file = bounced_file,
	.start = bounced_start,
	.parent_msg = bounced_parent_msg,
	.shutdown = bounced_shutdown,
};

int
main(int argc, char **argv)
{
	return daemon_main(argc, argv, &bounced_ops);
}
