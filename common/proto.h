/*
 * proto.h - every process type and every message exchanged between Tern's
 * processes, with its payload (in m_add order; see mproc.h).
 *
 * Channels:
 *	ternd  <-> each daemon	fd 3 of the child: setup, config, control
 *	smtpd  <-> queued	message creation and commit
 *	queued <-> deliverd.N	delivery jobs and per-recipient outcomes
 *	queued <-> bounced	accounting records (acknowledged)
 *	mgmtd  <-> queued	status for the CLI and HTTP
 *	mgmtd  <-> bounced	counters
 * Peer channels are socketpairs made by ternd and handed to both ends with
 * IMSG_PEER, also after a restart, so hot paths never cross ternd.
 *
 * A "peerid" in the header is the requester's id for a request (session,
 * job, control request); replies carry the same value back.
 */
#ifndef TERN_PROTO_H
#define TERN_PROTO_H

#include <stdint.h>

enum proc_type {
	PROC_TERND = 0,
	PROC_SMTPD,
	PROC_QUEUED,
	PROC_DELIVERD,
	PROC_BOUNCED,
	PROC_MGMTD,
	PROC_CLI,
	PROC_COUNT
};

enum imsg_type {
	IMSG_NONE = 0,

	/* --- ternd -> every daemon: setup and configuration --- */

	/* Start of a configuration tree. u32 generation */
	IMSG_CFG_BEGIN = 1,
	/* One node of the tree, depth first.  u32 depth (1 = global),
	 * str name, str as_written, str file, u32 line, u32 argc,
	 * str argv[argc] */
	IMSG_CFG_NODE,
	/* Tree complete: apply it (first one: initial config). */
	IMSG_CFG_END,
	/* fd: a socket connected to another daemon.  u32 proc, u32 instance */
	IMSG_PEER,
	/* fd: a listening socket.  u32 kind (LISTEN_*), str "ip:port" */
	IMSG_LISTENER,
	/* fd: an open log or accounting file.  u32 kind (FILE_*), str path */
	IMSG_FILE,
	/* All setup sent: start serving.  u32 instance, u32 ninstances */
	IMSG_START,

	/* --- smtpd <-> queued: accepting a message ---
	 * queued hands smtpd a few files ahead (MSG_SCRATCH), so that a
	 * DATA does not wait for queued; smtpd sends MSG_CREATE only when
	 * it has none left or queued said the spool is full
	 * (queued/queue_recv.c).  mgmtd sends MSG_CREATE, MSG_COMMIT and
	 * MSG_ROLLBACK too, for HTTP injection (mgmtd/inject_queue.c), and
	 * gets the same answers.  The descriptors are queued's own kept
	 * ones (queued/queue_scratch.c): they share its file offset, so
	 * smtpd writes with pwrite() at its own offsets; queued seeks a
	 * file back to 0 before it hands it to mgmtd. */

	/* smtpd: a new message file, please.  peerid = session */
	MSG_CREATE = 100,
	/* queued: fd = an empty file, open for writing.  str qid */
	MSG_CREATE_OK,
	/* queued: cannot (spool full, I/O error).  u32 smtp code,
	 * str enhanced status, str text */
	MSG_CREATE_FAIL,
	/* smtpd: body written, make it durable.  envelope (envelope.h) */
	MSG_COMMIT,
	/* queued: on disk (fsync'd).  str qid */
	MSG_COMMIT_OK,
	/* queued: not stored.  u32 smtp code, str enhanced status, str text */
	MSG_COMMIT_FAIL,
	/* smtpd: session gave up on this message.  str qid */
	MSG_ROLLBACK,
	/* queued -> smtpd: spool over its limits or not.  u32 full */
	MSG_SPOOL_STATE,
	/* queued -> smtpd: a file for a later DATA, handed ahead (when
	 * smtpd connects, and again for each one it commits or rolls back,
	 * just before the MSG_COMMIT_OK).  peerid 0, fd = an empty file,
	 * open for writing, str qid (the message's, as in MSG_CREATE_OK).
	 * smtpd commits or rolls it back like a MSG_CREATE_OK file; queued
	 * empties those it still holds when smtpd goes away. */
	MSG_SCRATCH,

	/* --- ternd -> smtpd: secrets smtpd may not open itself --- */

	/* An inbound STARTTLS certificate (smtp-server-tls-certificate, or
	 * the tls-certificate of an <smtp-listener>), sent before
	 * IMSG_START.  str pem (certificate chain and private key as read
	 * from the file), str password (NULL: none), str listener (the
	 * <smtp-listener> argument; NULL: the global certificate) */
	SMTPD_TLS_CERT = 120,
	/* One password file (auth-plain FILE of a <source> or
	 * <accepted-connect>), sent before IMSG_START.  str path (absolute,
	 * as stored in the config tree), str contents ("user:crypt-hash"
	 * lines) */
	SMTPD_PASSWD_FILE,

	/* --- smtpd -> queued: inbound activity (146-149) --- */

	/* The number of open inbound SMTP sessions (those counted against
	 * total-max-smtp-in), for `tern show status`, /api/v1/stats and
	 * SNMP: sent when it changes, at most once a second, and when
	 * the queued channel comes up (smtpd/smtp_report.c).  u32 n */
	MSG_SESSIONS_IN = 146,

	/* --- queued <-> deliverd: delivery --- */

	/* queued: deliver these recipients of one message; fd = message
	 * file (read only), or none: u64 seg names a segment of the message
	 * log sent before (DLV_SEG).  envelope with only the job's
	 * recipients, then str queue ("domain/vmta"), str domain, u64 seg
	 * (0: the fd) */
	DLV_JOB = 200,
	/* deliverd: outcome for one recipient.  struct dlv_result fields
	 * (envelope.h: m_add_result) */
	DLV_RESULT,
	/* deliverd: every result of local job `tag` was sent.
	 * u32 tag, str qid */
	DLV_DONE,
	/* queued: results of job `tag` are durable; forget it.  u32 tag */
	DLV_ACK,
	/* deliverd, after (re)connecting: recipients it is still working
	 * on, so a restarted queued does not hand them out again.
	 * str qid, u32 n, u32 rcpt_index[n] */
	DLV_INFLIGHT,
	/* deliverd: replay after (re)connect finished. */
	DLV_HELLO_END,
	/* queued: fd = a segment of the message log (read only), kept by
	 * the worker for the jobs that name it, so that a job carries no
	 * descriptor (one sendmsg and recvmsg each, a dup and two closes
	 * per message before).  u64 seg */
	DLV_SEG,
	/* queued: the segment is gone; close it once no job reads it.
	 * u64 seg */
	DLV_SEG_DROP,

	/* --- ternd -> deliverd: DKIM keys (deliverd never opens them) --- */

	/* One private key of a domain-key line, read by ternd as root,
	 * sent before IMSG_START.  str selector, str domain ("*" = any),
	 * str vmta (NULL: a global key), str pem */
	DLV_DKIM_KEY = 220,

	/* --- deliverd -> queued: queue state for the CLI --- */

	/* A queue entered (1) or left (0) backoff mode.  str queue
	 * ("domain/vmta"), u32 backoff, u64 seconds it lasts at most,
	 * str reason */
	DLV_QUEUE_MODE,

	/* ternd -> deliverd and smtpd: the host's name servers
	 * (resolv.conf), when the config names none; sent before
	 * IMSG_START (common/resolver.c).  u32 n, str address[n] */
	DLV_NAMESERVERS = 222,

	/* --- deliverd <-> queued: connection slots (223-249) ---
	 * A queue belongs to one worker, but total-max-smtp-out, a VMTA's
	 * own max-smtp-out and a <source-pool>'s max-smtp-out count the
	 * connections of every queue in every worker: queued holds those
	 * counters, and a worker asks for a slot before each connection. */

	/* deliverd: may session `peerid` connect?  str queue, str vmta
	 * (NULL: none), str source IP (NULL: any).  queued answers with
	 * DLV_SLOT_GRANT when every shared limit has room; until then the
	 * request waits (first come, first served). */
	DLV_SLOT_REQ = 223,
	/* queued: session `peerid` may connect.  No payload. */
	DLV_SLOT_GRANT,
	/* deliverd: session `peerid` closed, or no longer wants its slot
	 * (granted or still waiting).  No payload. */
	DLV_SLOT_FREE,
	/* deliverd, replaying after (re)connecting to queued: session
	 * `peerid` holds a slot already.  Payload as DLV_SLOT_REQ; it is
	 * counted without waiting. */
	DLV_SLOT_HELD,
	/* deliverd: what a queue is doing, for `tern show queues` and
	 * GET /queues; sent when it changes (at most once a second per
	 * queue) and with connections 0 when the worker forgets the queue.
	 * str queue ("domain/vmta"), u32 connections (open TCP
	 * connections, past connect()), u32 connecting (sessions waiting
	 * for a slot, resolving or connecting), u32 max_smtp_out (the
	 * limit in force now: backoff-max-smtp-out in backoff, lowered
	 * while the host refuses), str msg_rate (in force now, as written,
	 * "unlimited" when none) */
	DLV_QUEUE_STATS,

	/* --- deliverd <-> ternd: local pipe delivery (ternd/local.c) --- */

	/* deliverd: run the pipe command of a `type pipe` (or `local yes`)
	 * domain for one recipient; fd = the message alone (a memfd, at
	 * offset 0), its stdin.  peerid = request.  str command (as
	 * configured; ternd splits it and replaces $from $to $user $domain
	 * $envid), str user (pipe-user; NULL: run-as-user), str sender,
	 * str rcpt, str qid */
	DLV_PIPE_REQ = 228,
	/* ternd: the command ended.  peerid = request.  u32 status (DLV_OK,
	 * DLV_TEMPFAIL for exit 75 or a command that could not run or was
	 * killed, DLV_PERMFAIL for any other exit), str dsn, str diag */
	DLV_PIPE_DONE,

	/* ternd -> deliverd: one CA bundle named by smtp-tls-ca-file, read
	 * as root, sent before IMSG_START (ternd/cafile.c).  str file (the
	 * value as written in the config), str pem */
	DLV_TLS_CA = 230,

	/* --- deliverd -> queued: MX rollup (deliverd/mta_rollup.c) --- */

	/* The queue ("domain/vmta") is rolled up into the rollup queue
	 * ("NAME.rollup/vmta"): shown by `tern show queues`, and queued
	 * sends its work to the rollup's worker.  str queue, str rollup */
	DLV_ROLLUP = 231,

	/* --- queued <-> bounced: accounting --- */

	/* queued: one accounting record.  peerid unused.  u64 seq, then
	 * struct acct_record fields (envelope.h: m_add_acct) */
	BNC_RECORD = 300,
	/* bounced: records up to seq are written.  u64 seq */
	BNC_ACK,

	/* --- queued <-> bounced: DSNs (issue 7: 320-349) --- */

	/* queued: a recipient failed for good and its sender asked for (or
	 * did not refuse) a failure DSN; fd = the message file (read only,
	 * body = the first `size` bytes).  str qid, str sender, str envid,
	 * u32 ret (RET_*), u32 flags (ENV_*), i64 queued (unix time),
	 * u64 size, str rcpt, str orcpt, u32 notify, str dsn_status,
	 * str diag (remote reply), str mta ("host (ip)"), str queue,
	 * u32 action (DSN_ACTION_*) */
	BNC_DSN = 320,
	/* bounced: put this message in the queue (a DSN, null sender,
	 * flagged ENV_DSN).  str about_qid (what it reports on), str rcpt,
	 * str vmta (may be NULL), str text (the whole message, CRLF) */
	BNC_INJECT,
	/* queued: a message for the bounce domain (an asynchronous bounce
	 * or a feedback report), already final in the queue; fd = the
	 * message file (read only, body = the first `size` bytes).
	 * str qid, str sender, str rcpt (the bounce address), u64 size,
	 * str client (submitting IP) */
	BNC_INBOUND,
	/* bounced -> queued, queued -> smtpd: a change of the suppression
	 * list (every entry when the peer connects, then each change).
	 * u32 add (1 add, 0 remove), str vmta (NULL: global), str addr
	 * (lowercase; common/suplist.h) */
	BNC_SUPPRESS,
	/* bounced -> queued: every entry of the list has been sent (after
	 * the BNC_SUPPRESS of each, when the channel comes up).  Until the
	 * first one, queued routes no new message, so that none slips past
	 * the list after a restart (queue_suppress.c).
	 * no data */
	BNC_SUPPRESS_DONE,

	/* mgmtd -> bounced: `tern suppression list|add|remove`.  peerid =
	 * request.  u32 op (SUP_*), str vmta (NULL: global; for a list:
	 * every scope), str addr (NULL for a list: every address).  Reply:
	 * CTL_RESULT for add/remove, CTL_SUPPRESS_LIST for a list. */
	CTL_SUPPRESS = 331,
	/* bounced -> mgmtd: JSON array [{address, vmta ("*": global)}].
	 * str json */
	CTL_SUPPRESS_LIST,
	/* mgmtd -> bounced: `tern rotate acct [FILE]`; mgmtd -> ternd:
	 * `tern rotate log`.  peerid = request.  str what ("acct" or
	 * "log"), str file (NULL: every accounting file).  Reply:
	 * CTL_RESULT once every file is rotated. */
	CTL_ROTATE,
	/* bounced -> ternd: rotate this accounting file (rename it aside,
	 * open a new one).  peerid = bounced's tag.  str path (as ternd
	 * passed it in IMSG_FILE).  bounced has written every row it had
	 * before asking; rows written meanwhile land in the old file. */
	BNC_ROTATE,
	/* ternd -> bounced: the rotation is done.  peerid = the tag;
	 * fd = the new file (-1 if it failed).  u32 ok, str path,
	 * str moved_to (the old file's new name; NULL if it failed),
	 * str error (NULL if ok) */
	BNC_ROTATED,

	/* --- control: mgmtd <-> ternd / queued / bounced --- */

	/* mgmtd -> queued: status counters.  peerid = request */
	CTL_STATUS_REQ = 400,
	/* queued -> mgmtd: JSON text of the status.  str json */
	CTL_STATUS,
	/* mgmtd -> queued: per-queue listing.  peerid = request */
	CTL_QUEUES_REQ,
	/* queued -> mgmtd: JSON array of queues.  str json */
	CTL_QUEUES,
	/* mgmtd -> ternd: processes and restarts.  peerid = request */
	CTL_PROCS_REQ,
	/* ternd -> mgmtd: JSON of the process table.  str json */
	CTL_PROCS,
	/* mgmtd -> queued: pause/resume/schedule a queue.  u32 op, str queue */
	CTL_QUEUE_OP,
	/* reply to a CTL_* operation.  u32 ok, str message */
	CTL_RESULT,

	/* --- configuration reload (issue 4: 450-499) --- */

	/* mgmtd -> ternd: parse the configuration again and, when it is
	 * valid, send it to every daemon (`tern reload`).  peerid =
	 * request, no payload.  Reply: CTL_RESULT, ok = 1 when the new
	 * configuration is in use; message = every error and warning,
	 * "FILE:LINE: message" lines. */
	CTL_RELOAD = 450,
	/* ternd -> smtpd: a listener the reloaded configuration no longer
	 * names; stop accepting on it (sessions in progress go on).
	 * str name (as sent in IMSG_LISTENER) */
	IMSG_LISTENER_CLOSE,

	/* --- mgmtd <-> queued: listings for the CLI and HTTP (420-449) --- */

	/* mgmtd -> queued: recipients per job id.  peerid = request */
	CTL_JOBS_REQ = 420,
	/* queued -> mgmtd: JSON array [{jobId, messages, rcpts}].  str json */
	CTL_JOBS,

	/* queued -> every deliverd: the operator set the queue's mode
	 * (`tern set queue --mode`).  Backoff so set lasts until set back
	 * to normal; queued sends "" first after a deliverd connects
	 * (forget every earlier one), then the ones in force.
	 * str queue ("domain/vmta", or "" for all), u32 backoff */
	CTL_QUEUE_FORCE = 430,
	/* mgmtd -> deliverd: MX hosts and addresses of a domain as
	 * deliverd's resolver (and its cache) sees them (`tern resolve`).
	 * peerid = request.  str domain */
	CTL_RESOLVE_REQ,
	/* deliverd -> mgmtd: the answer.  u32 status (0 ok, else the
	 * lookup failed), str error (NULL when ok), u32 ttl (seconds the
	 * MX answer stays cached), u32 nmx, then per MX host in the order
	 * deliverd tries them: str name, u32 pref (UINT32_MAX: unknown),
	 * str error (NULL: addresses found), u32 naddr, str address[naddr] */
	CTL_RESOLVE,
	/* mgmtd -> queued: stream the outcome of every delivery attempt of
	 * the queues matching filter (`tern trace`) until CTL_TRACE_END.
	 * peerid = request.  str filter ("" any, "domain", "domain/vmta") */
	CTL_TRACE_REQ,
	/* queued -> mgmtd: one attempt.  str json ({time, queue, qid, rcpt,
	 * result, dsn, diag, mta, ...}) */
	CTL_TRACE,
	/* mgmtd -> queued: stop the trace `peerid`.  No payload. */
	CTL_TRACE_END,

	/* --- <cluster> (issue 13, 600-649; docs/cluster.md) --- */

	/* ternd -> queued, before IMSG_START: the Redis password, from
	 * redis-password-file (root-only; queued is chrooted).  str password */
	CLUSTER_PASSWORD = 600,
	/* mgmtd -> queued: `show status --cluster`.  peerid = request */
	CTL_CLUSTER_REQ,
	/* queued -> mgmtd: JSON of the cluster (nodes, shared limits).
	 * str json */
	CTL_CLUSTER,

	/* --- ternd -> bounced: event shipping (issue 13: 650-699) --- */

	/* ternd -> bounced: what an <acct-amqp NAME> or <acct-webhook NAME>
	 * needs that bounced (chrooted, unprivileged) cannot get itself;
	 * one per block before IMSG_START and again after each reload
	 * (ternd/setup_events.c).  fd: for an https:// url, its ca-file
	 * open for reading (else -1).  str name (the block's argument),
	 * str address (the url's host resolved by ternd, numeric; NULL if
	 * it did not resolve), str credentials (the credentials-file's
	 * content, "USER:PASSWORD"; NULL without one) */
	BNC_EVENT_SINK = 650,
};

/* IMSG_LISTENER kinds */
enum { LISTEN_SMTP = 1, LISTEN_HTTP, LISTEN_CONTROL,
	/* a bound UDP socket: mgmtd's SNMP agent (issue 14) */
	LISTEN_SNMP = 500 };
/* IMSG_FILE kinds */
enum { FILE_ACCT = 1,
	/* to bounced: its suppression list (bounced/suppress.c) */
	FILE_SUPPRESS = 330,
	/* to every daemon: the new log-file after `tern rotate log`; it
	 * becomes the daemon's stderr (common/daemon.c, ternd/logfile.c) */
	FILE_LOG = 331,
	/* to mgmtd: a memfd holding the http-mgmt-auth (htpasswd) content */
	FILE_HTPASSWD = 420,
	/* to mgmtd: a memfd holding http-mgmt-tls-certificate (PEM chain
	 * and private key) */
	FILE_HTTP_CERT,
	/* to bounced: the spool's events/ directory (O_DIRECTORY): each
	 * event sink keeps its on-disk buffer in a subdirectory */
	FILE_EVENTS = 650 };
/* BNC_DSN actions */
enum { DSN_ACTION_FAILED = 0, DSN_ACTION_DELAYED };
/* CTL_SUPPRESS operations */
enum { SUP_LIST = 1, SUP_ADD, SUP_REMOVE };
/* CTL_QUEUE_OP operations */
enum { QOP_PAUSE = 1, QOP_RESUME, QOP_SCHEDULE,
	/* issue 8 (420-449): str is a queue name, except QOP_DELETE_JOB
	 * (a job id).  Delete drops waiting recipients without accounting,
	 * as pmta's delete does; in-flight ones finish. */
	QOP_DELETE = 420, QOP_DELETE_JOB,
	/* `set queue --mode=backoff|normal` (430-449) */
	QOP_MODE_BACKOFF = 430, QOP_MODE_NORMAL };

const char	*proc_name(int proc);
const char	*proto_name(uint32_t type);

#endif
