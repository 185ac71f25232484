/*
 * mta.h - deliverd internals.
 *
 *	deliverd.c	the daemon: config, the queued channel, start, stop
 *	mta_job.c	jobs from queued, their results, ACK and replay
 *	mta_queue.c	one queue ("domain/vmta"): FIFO of jobs and a pool of
 *			connections bounded by max-smtp-out
 *	mta_srcip.c	a queue's source addresses (limits, disabled ones)
 *	mta_idle.c	idle connections give their slots up
 *	mta_session.c	one outbound SMTP connection (client state machine)
 *	mta_body.c	streaming a message file as DATA (dot-stuffing)
 *			or as BDAT chunks (CHUNKING)
 *	mta_slot.c	connection slots from queued (limits across queues)
 *			and the queue counts sent to it for show queues
 *	mta_timeout.c	how long a session waits for the server (per queue)
 *	smtp_reply.c	parser of the server's replies (pure)
 *
 * A job (one message, some of its recipients) waits in its queue's FIFO
 * until a session of that queue is ready; the session runs one SMTP
 * transaction for it, records one result per recipient and hands the job
 * back (mta_job_done), which reports to queued.  The job is kept until
 * queued acknowledges, so that a restarted queued can be told again.
 */
#ifndef TERN_MTA_H
#define TERN_MTA_H

#include <sys/queue.h>
#include <sys/tree.h>
#include <sys/socket.h>
#include <netdb.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "cfg.h"
#include "cfg_scope.h"
#include "envelope.h"
#include "smtp_reply.h"

#define MTA_DEFAULT_MAX_CONN	20
#define MTA_IDLE_TIMEOUT	5000		/* ms before QUIT when idle */
#define MTA_QUIT_TIMEOUT	5000
#define MTA_DIAG_MAX		1024		/* diag text sent to queued */
#define MTA_ESMTP_MAX		256
#define MTA_MAX_SOURCES		256		/* addresses of one queue */
#define MTA_MAX_IP_LIMITS	16		/* source-ip-max-smtp-out lines */

/* Per recipient: what happened. */
struct mta_result {
	uint32_t	 status;	/* DLV_*; 0 = not known yet */
	uint32_t	 conn_level;
	char		*dsn_status;
	char		*diag;
	char		*mta;
	char		*src_ip;
	char		*dst_ip;
	char		*esmtp;
	char		*tls_proto;
	char		*tls_cipher;
};

/* The connection a result was obtained on (any field may be NULL). */
struct mta_conninfo {
	const char	*mta;		/* "host (ip)" */
	const char	*src_ip;
	const char	*dst_ip;
	const char	*esmtp;
	const char	*tls_proto;	/* NULL: in clear */
	const char	*tls_cipher;
};

/* TLS policy of a queue */
enum { MTA_TLS_NO = 0, MTA_TLS_OPPORTUNISTIC, MTA_TLS_REQUIRED };

enum mta_job_state { JOB_WAITING, JOB_RUNNING, JOB_DONE };

struct mta_queue;

struct mta_job {
	RB_ENTRY(mta_job)	 entry;		/* all jobs, by id */
	TAILQ_ENTRY(mta_job)	 qentry;	/* queue FIFO while waiting */
	uint32_t		 id;		/* our tag for DLV_DONE/ACK */
	uint32_t		 peerid;	/* queued's, echoed */
	enum mta_job_state	 state;
	int			 reported;	/* sent to the current queued */
	struct envelope		*env;
	char			*queue;		/* "domain/vmta" */
	char			*domain;
	int			 fd;		/* message file, -1 once sent */
	struct mta_seg		*seg;		/* fd is this segment's, or NULL:
						 * the job's own */
	char			*via;		/* the rollup queue that ran it */
	char			*dkim;		/* DKIM-Signature header, or NULL */
	int			 dkim_done;	/* signing was tried */
	int			 eightbit;	/* body has 8-bit bytes: -1 not
						 * looked yet (mta_body_8bit) */
	struct mta_result	*res;		/* env->nrcpt entries */
};

/* deliverd.c */
struct cfg	*mta_cfg(void);
struct mproc	*mta_queued(void);
struct mproc	*mta_mgmtd(void);	/* NULL: not connected */
int		 mta_stopping(void);
void		 mta_check_exit(void);

/* mta_seg.c: segments of the spool's log, held for jobs */
struct mta_seg;
void		 mta_seg_recv(struct imsg *);
void		 mta_seg_drop_recv(struct imsg *);
void		 mta_seg_forget(void);
struct mta_seg	*mta_seg_get(uint64_t seq, int *fd);
void		 mta_seg_put(struct mta_seg *);

/* mta_job.c */
void		 mta_job_recv(struct imsg *);
void		 mta_job_ack(struct imsg *);
void		 mta_job_replay(struct mproc *);
void		 mta_job_set(struct mta_job *, uint32_t i, uint32_t status,
		    int conn_level, const char *dsn, const char *diag,
		    const struct mta_conninfo *);
void		 mta_job_fail(struct mta_job *, uint32_t status,
		    int conn_level, const char *dsn, const char *diag,
		    const struct mta_conninfo *);
void		 mta_job_close_fd(struct mta_job *);
void		 mta_job_done(struct mta_job *);
int		 mta_job_count(void);
int		 mta_job_active(void);
uint32_t	 mta_status_of(const struct smtp_reply *);

/* mta_dkim.c */
void		 mta_dkim_key_recv(struct imsg *);
char		*mta_dkim_sign(int fd, uint64_t base, uint64_t size,
		    const char *vmta,
		    const char *qid, const char *extra_headers);

/* mta_dns.c */
enum {
	MTA_DNS_OK = 0,
	MTA_DNS_TEMP,		/* timeout, SERVFAIL, ... */
	MTA_DNS_NXDOMAIN,
	MTA_DNS_NODATA,
	MTA_DNS_NULLMX,		/* RFC 7505: the domain takes no mail */
};
struct mta_dnsreq;
struct mta_host;
/* hosts: malloc'd array (names too), the callee owns it */
typedef void	(*mta_dns_mx_cb)(void *, int status, struct mta_host *,
		    int n, unsigned ttl);
typedef void	(*mta_dns_addr_cb)(void *, int status,
		    struct sockaddr_storage *, int n);
/* rotate: dns-rotate, spread over the name servers (resolver_ctx()) */
struct mta_dnsreq *mta_dns_mx(const char *domain, int port, int rotate,
		    mta_dns_mx_cb, void *);
/* v4only: A records alone (no AAAA query) */
struct mta_dnsreq *mta_dns_addr(const char *name, int rotate, int v4only,
		    mta_dns_addr_cb, void *);
void		 mta_dns_cancel(struct mta_dnsreq *);
const char	*mta_dns_error(void);
const char	*mta_dns_strstatus(int);
void		 mta_dns_reconfig(void);

/* mta_dns_cache.c: answers by (kind, name), kept for their TTL */
enum { MTA_DNS_C_MX = 1, MTA_DNS_C_ADDR, MTA_DNS_C_ADDR4 };
struct mta_dns_mx {
	int		 pref;
	char		 name[256];
};
struct mta_dns_entry {
	int		 status;	/* MTA_DNS_* */
	int		 n;		/* mx[] or addrs[] entries */
	time_t		 expire;
	struct mta_dns_mx *mx;
	struct sockaddr_storage *addrs;
};
struct mta_dns_entry *mta_dns_entry_new(int status, int nmx);
void		 mta_dns_entry_free(struct mta_dns_entry *);
struct mta_dns_entry *mta_dns_entry_dup(const struct mta_dns_entry *);
void		 mta_dns_cache_put(int kind, const char *name,
		    struct mta_dns_entry *, unsigned ttl);
struct mta_dns_entry *mta_dns_cache_get(int kind, const char *name);
void		 mta_dns_cache_clear(void);
void		 mta_dns_mx_order(struct mta_dns_mx *, int);

/* mta_body.c: dot-stuffing of a message body, chunk by chunk. */
struct mta_body {
	int		 fd;
	uint64_t	 base;		/* where the body starts in fd */
	uint64_t	 off, size;
	int		 bol;		/* at the beginning of a line */
	int		 cr;		/* the last byte was CR */
	int		 ended;		/* ".\r\n" (BDAT: LAST) produced */
	int		 bdat;		/* BDAT chunks: no dots (RFC 3030) */
	const char	*prefix;	/* opens the first chunk (DKIM) */
	size_t		 prefixlen;
};
/* Room for "BDAT <octets> LAST\r\n" before a chunk. */
#define MTA_BDAT_HDR	32
#define MTA_BODY_CHUNK	(64 * 1024)
/* DATA output needs at most this much room per chunk (LF -> CRLF
 * doubles); a BDAT chunk MTA_BDAT_HDR more, and its prefix. */
#define MTA_BODY_OUTMAX	(2 * MTA_BODY_CHUNK + 8)
void		 mta_body_init(struct mta_body *, int fd, uint64_t base,
		    uint64_t size);
/* Room the next mta_body_next() needs (see MTA_BODY_OUTMAX). */
size_t		 mta_body_outmax(const struct mta_body *);
void		 mta_body_bdat(struct mta_body *, const char *prefix);
/* Next piece of DATA into out: >0 bytes, 0 once the final ".\r\n" was
 * produced, -1 on a read error or a short file (errno set). */
ssize_t		 mta_body_next(struct mta_body *, char *out);
size_t		 mta_body_stuff(struct mta_body *, const char *in, size_t len,
		    char *out);
/* Whether the first `size` bytes of fd hold a byte above 127 (-1: read
 * error). */
int		 mta_body_8bit(int fd, uint64_t base, uint64_t size);

/* mta_limit.c: token buckets (rates), one token deep */
struct mta_bucket {
	int		 on;
	double		 tokens;
	double		 per_ms;	/* tokens added per millisecond */
	uint64_t	 last;		/* uv_now() of the last fill */
};
void		 mta_bucket_set(struct mta_bucket *, const struct cfg_rate *);
void		 mta_bucket_interval(struct mta_bucket *, uint64_t ms);
int		 mta_bucket_ready(struct mta_bucket *, uint64_t now);
int		 mta_bucket_take(struct mta_bucket *, uint64_t now);
uint64_t	 mta_bucket_wait(struct mta_bucket *, uint64_t now);

/* mta_scope.c: the directives a queue reads, looked up once per scope
 * (cfg_scope.h) */
#define MTA_SETTINGS(X) \
	X(ADAPTIVE_BACKOFF_INTERVAL, "adaptive-backoff-interval") \
	X(ADAPTIVE_MAX_SMTP_OUT, "adaptive-max-smtp-out") \
	X(ADAPTIVE_SOFT_BOUNCE_LIMIT, "adaptive-soft-bounce-limit") \
	X(ALWAYS_USE_MX, "always-use-mx") \
	X(BACKOFF_MAX_MSG_RATE, "backoff-max-msg-rate") \
	X(BACKOFF_MAX_SMTP_OUT, "backoff-max-smtp-out") \
	X(BACKOFF_TO_NORMAL_AFTER, "backoff-to-normal-after") \
	X(COMMAND, "command") \
	X(CONNECT_TIMEOUT, "connect-timeout") \
	X(DATA_SEND_TIMEOUT, "data-send-timeout") \
	X(DEFAULT_SMTP_PORT, "default-smtp-port") \
	X(DELIVERY_INTERVAL, "delivery-interval") \
	X(DISABLE_MX_ROLLUP, "disable-mx-rollup") \
	X(DKIM_HEADERS, "dkim-headers") \
	X(DKIM_SIGN, "dkim-sign") \
	X(DNS_ROTATE, "dns-rotate") \
	X(HOST_NAME, "host-name") \
	X(IGNORE_8BITMIME, "ignore-8bitmime") \
	X(IGNORE_PIPELINING, "ignore-pipelining") \
	X(IGNORE_CHUNKING, "ignore-chunking") \
	X(LOCAL, "local") \
	X(MAILBOX_COMMAND, "mailbox-command") \
	X(MAX_CONNECT_RATE, "max-connect-rate") \
	X(MAX_MESSAGE_SIZE, "max-message-size") \
	X(MAX_MSG_PER_CONNECTION, "max-msg-per-connection") \
	X(MAX_MSG_RATE, "max-msg-rate") \
	X(MAX_RCPT_PER_MESSAGE, "max-rcpt-per-message") \
	X(MAX_RCPT_PER_TRANSACTION, "max-rcpt-per-transaction") \
	X(MAX_SMTP_OUT, "max-smtp-out") \
	X(PIPE_USER, "pipe-user") \
	X(REENABLE_SOURCE_IP_AFTER, "reenable-source-ip-after") \
	X(REQUIRE_STARTTLS, "require-starttls") \
	X(RESOLVE_TO, "resolve-to") \
	X(ROUTE, "route") \
	X(SMTP_DATA_TERMINATION_TIMEOUT, "smtp-data-termination-timeout") \
	X(SMTP_GREETING_TIMEOUT, "smtp-greeting-timeout") \
	X(SMTP_HOSTS, "smtp-hosts") \
	X(SMTP_MULTIPLE_LINE_RESPONSE_TIMEOUT, "smtp-multiple-line-response-timeout") \
	X(SMTP_PATTERN_LIST, "smtp-pattern-list") \
	X(SMTP_PIPELINE_DEPTH, "smtp-pipeline-depth") \
	X(SMTP_PORT, "smtp-port") \
	X(SMTP_SOURCE_HOST, "smtp-source-host") \
	X(SMTP_TLS_CA_FILE, "smtp-tls-ca-file") \
	X(SOURCE_IP_MAX_SMTP_OUT, "source-ip-max-smtp-out") \
	X(SOURCE_POOL, "source-pool") \
	X(TLS, "tls") \
	X(TYPE, "type") \
	X(USE_STARTTLS, "use-starttls")
enum mta_set {
#define MS_ENUM(id, name) MS_##id,
	MTA_SETTINGS(MS_ENUM)
#undef MS_ENUM
	MS_N
};
struct cfg_scope *mta_scope_get(const char *vmta, const char *domain);
int		 mta_scope_has_block(const char *vmta, const char *domain);
struct cfg_node *const *mta_scope_rollup_lists(int *);
const char	*mta_set_name(enum mta_set);
void		 mta_scope_reconfig(void);

/* mta_queue.c */
struct mta_host {
	char	*name;
	int	 port;
	int	 dns;		/* resolve with udns (an MX host) */
	int	 pref;		/* MX preference; -1: not an MX record (a
				 * route, the domain itself: implicit MX) */
};

struct mta_session;
TAILQ_HEAD(mta_joblist, mta_job);
TAILQ_HEAD(mta_sesslist, mta_session);

struct mta_queue {
	RB_ENTRY(mta_queue)	 entry;
	char			*name;		/* "domain/vmta" */
	char			*domain;
	char			*vmta;		/* NULL: none */
	char			*cfg_domain;	/* whose <domain> settings apply:
						 * domain, but a rollup's may be
						 * its first member's */
	struct cfg_scope	*scope;		/* where they are looked up */
	/* MX rollup (mta_rollup.c) */
	int			 rollup;	/* this is a NAME.rollup queue */
	int			 rollup_state;	/* 0: not looked, 1: none, 2: */
	char			*rollup_name;	/* rolled up into this queue */
	struct rollup_alone	*rollup_alone;	/* its MX set, noted: no other
						 * domain has it (yet) */
	/* settings, from the config */
	struct mta_host		*hosts;		/* route / smtp-hosts */
	int			 nhosts;
	int			 nexthost;	/* round robin over hosts */
	/* no route: the MX hosts of the domain, from DNS */
	struct mta_host		*mx;
	int			 nmx;
	time_t			 mx_expire;
	struct mta_dnsreq	*mxreq;		/* lookup under way */
	char			*resolve_to;	/* look this up instead */
	char			*helo;
	struct sockaddr_storage	*srcs;		/* bind addresses, none: any */
	int			 nsrcs;
	int			 nextsrc;
	int			 v4only;	/* every source address IPv4 */
	int			 random_ip;
	/* source-ip-max-smtp-out [CIDR] N: connections per source address */
	struct mta_ip_limit {
		struct cfg_cidr	 cidr;
		int		 any;		/* no CIDR: every address */
		int		 max;
	}			 ip_limits[MTA_MAX_IP_LIMITS];
	int			 nip_limits;
	int			 tls_mode;	/* MTA_TLS_* */
	int			 tls_broken;	/* handshakes fail: in clear */
	int			 dkim_sign;	/* dkim-sign yes */
	int			 dns_rotate;	/* dns-rotate yes */
	struct mta_timeouts {			/* ms, mta_timeout.c */
		uint64_t	 connect;
		uint64_t	 greeting;	/* banner, EHLO, STARTTLS */
		uint64_t	 reply;		/* MAIL, RCPT, DATA, RSET */
		uint64_t	 send;		/* each chunk of the body */
		uint64_t	 eom;		/* reply to the final dot */
	}			 to;
	char			*dkim_headers;	/* dkim-headers, or NULL */
	char			*tls_ca;	/* smtp-tls-ca-file: verify */
	int			 max_conn;
	int			 max_msg;	/* 0: unlimited */
	int			 max_rcpt;	/* per transaction, 0: any */
	uint64_t		 max_size;	/* max-message-size, 0: any */
	int			 pipeline_depth;	/* 0: all at once */
	int			 no_pipelining;		/* ignore-pipelining */
	int			 no_chunking;		/* ignore-chunking */
	int			 no_8bitmime;		/* ignore-8bitmime */
	char			*pipe_cmd;	/* type pipe: command, else NULL */
	char			*pipe_user;	/* pipe-user, NULL: ternd's */
	struct mta_bucket	 msg_rate;	/* max-msg-rate */
	struct mta_bucket	 conn_rate;	/* max-connect-rate */
	struct mta_bucket	 conn_ival;	/* delivery-interval */
	uv_timer_t		*timer;		/* a rate lets work go on */
	/* backoff mode (mta_backoff.c) */
	struct mta_pattern	*patterns;	/* smtp-pattern-list */
	int			 npatterns;
	int			 adaptive;	/* adaptive-max-smtp-out */
	int			 soft_limit;	/* adaptive-soft-bounce-limit */
	int			 soft_count;
	uint64_t		 soft_start;
	int			 backoff;	/* in backoff mode */
	int			 backoff_forced; /* by the operator: no end */
	uint64_t		 backoff_until;
	uint64_t		 backoff_ms;	/* the queue's backoff interval */
	uint64_t		 backoff_cur;	/* the one in force (a pattern's
						 * backoff-to-normal-after=) */
	uint64_t		 backoff_told;	/* the end queued was told */
	int64_t			 reenable_ip;	/* reenable-source-ip-after
						 * s, -1: never */
	int			 backoff_conn;	/* backoff-max-smtp-out */
	struct mta_bucket	 backoff_rate;	/* backoff-max-msg-rate */
	int			 backoff_half;	/* none: half of max-msg-rate */
	/* state */
	int			 conn_limit;	/* lowered when the host refuses */
	struct mta_joblist	 jobs;
	int			 njobs;
	uint64_t		 empty_since;	/* uv_now(): no jobs, no
						 * sessions; 0 = busy */
	struct mta_sesslist	 sessions;
	int			 nsessions;
	/* last DLV_QUEUE_STATS sent (mta_slot.c) */
	int			 stats_sent;
	uint32_t		 stats[3];	/* conns, connecting, max */
	char			 stats_rate[64];
};

void		 mta_queue_add(struct mta_job *);
struct mta_job	*mta_queue_next(struct mta_queue *);
struct mta_job	*mta_queue_take(struct mta_queue *);
void		 mta_queue_pump(struct mta_queue *);
void		 mta_queue_conn_failed(struct mta_queue *, uint32_t status,
		    const char *dsn, const char *diag,
		    const struct mta_conninfo *);
void		 mta_queue_session_gone(struct mta_queue *,
		    struct mta_session *);
const struct mta_host *mta_queue_host(struct mta_queue *, int);
int		 mta_queue_pick_source(struct mta_queue *,
		    const struct sockaddr_storage **);
int		 mta_queue_conn_max(const struct mta_queue *);
const char	*mta_queue_rate_text(struct mta_queue *);
void		 mta_queue_foreach(void (*)(struct mta_queue *));
int		 mta_queue_nhosts(const struct mta_queue *);
void		 mta_queue_reconfig(void);
void		 mta_queue_wake(struct mta_queue *, uint64_t ms);
void		 mta_queue_outcome(struct mta_job *);
struct mta_queue *mta_queue_find(const char *name);
struct mta_queue *mta_queue_rollup(const char *name, const char *domain,
		    const struct mta_queue *member);
struct cfg_node	*mta_queue_node(const struct mta_queue *, enum mta_set);
const char	*mta_queue_str(const struct mta_queue *, enum mta_set);
int		 mta_queue_scoped(const struct cfg_node *);

/* mta_srcip.c: source addresses of a queue's connections */
void		 mta_srcip_settings(struct mta_queue *);

/* mta_rollup.c */
struct mta_queue *mta_rollup_join(struct mta_queue *);
void		 mta_rollup_forget(struct mta_queue *);
void		 mta_queue_skip_mx(struct mta_queue *, const char *host);
int		 mta_queue_first_mx(const struct mta_queue *);
void		 mta_queue_unforce_all(void);

/* mta_backoff.c */
struct mta_pattern;
void		 mta_backoff_settings(struct mta_queue *);
void		 mta_timeout_settings(struct mta_queue *);
void		 mta_backoff_clear(struct mta_queue *);
void		 mta_backoff_check(struct mta_queue *);
/* what a reply pattern does to the rest of the queue */
enum { MTA_ACT_DEFER = 1, MTA_ACT_BOUNCE = 2 };
int		 mta_backoff_reply(struct mta_queue *, struct mta_result *);
int		 mta_backoff_ip_ok(const struct mta_queue *, const char *ip);
int		 mta_backoff_mx_ok(const struct mta_queue *, const char *host);
void		 mta_queue_shutdown(void);
void		 mta_backoff_force(const char *name, int backoff);
void		 mta_backoff_unforce(struct mta_queue *);

/* mta_ctl.c: requests of mgmtd (`tern resolve`) and the operator's
 * queue modes from queued */
struct imsg;
void		 mta_ctl_force(struct imsg *);
void		 mta_ctl_msg(struct mproc *, struct imsg *);

/* mta_session.c: one connection; mta_smtp.c: the dialogue on it. */
enum mta_phase {
	MTA_PHASE_CONNECTING,	/* resolving, connecting, banner, EHLO */
	MTA_PHASE_IDLE,		/* ready, no job */
	MTA_PHASE_BUSY,		/* a transaction, RSET */
	MTA_PHASE_CLOSING,	/* QUIT or closed */
};

enum mta_state {
	MTA_SLOT,		/* waiting for queued's slot (mta_slot.c) */
	MTA_RESOLVE, MTA_CONNECT, MTA_BANNER, MTA_EHLO, MTA_HELO,
	MTA_STARTTLS, MTA_TLS,
	MTA_IDLE, MTA_MAIL, MTA_RCPT, MTA_DATA, MTA_BODY, MTA_EOM,
	MTA_RSET, MTA_QUIT, MTA_CLOSED
};

/* Extensions the server offered. */
#define MTA_EXT_PIPELINING	0x01
#define MTA_EXT_8BITMIME	0x02
#define MTA_EXT_SIZE		0x04
#define MTA_EXT_SMTPUTF8	0x08
#define MTA_EXT_STARTTLS	0x10
#define MTA_EXT_DSN		0x20
#define MTA_EXT_CHUNKING	0x40

struct mta_conn;
struct mta_tls;

/* mta_tls.c: OpenSSL on memory BIOs under a session */
struct mta_tls	*mta_tls_new(const char *servername, const char *cafile);
void		 mta_tls_ca_recv(struct imsg *);
void		 mta_tls_free(struct mta_tls *);
int		 mta_tls_done(const struct mta_tls *);
char		*mta_tls_pending(struct mta_tls *, size_t *);
int		 mta_tls_handshake(struct mta_tls *, char *err, size_t);
int		 mta_tls_feed(struct mta_tls *, const char *, size_t);
ssize_t		 mta_tls_read(struct mta_tls *, char *, size_t, char *err,
		    size_t);
int		 mta_tls_write(struct mta_tls *, const char *, size_t);
const char	*mta_tls_protocol(const struct mta_tls *);
const char	*mta_tls_cipher(const struct mta_tls *);

struct mta_session {
	TAILQ_ENTRY(mta_session) entry;
	uint32_t		 id;
	struct mta_queue	*q;
	RB_ENTRY(mta_session)	 slotentry;	/* by id, while slot != 0 */
	TAILQ_ENTRY(mta_session) waitentry;	/* oldest first, while
						 * slot == MTA_SLOT_WAIT */
	int			 slot;		/* MTA_SLOT_* */
	uint64_t		 slot_since;	/* uv_now() of the request */
	TAILQ_ENTRY(mta_session) idleentry;	/* mta_idle.c */
	int			 idle_listed;
	enum mta_state		 state;
	uv_timer_t		 timer;
	struct mta_conn		*conn;		/* the TCP connection, or NULL */
	struct mta_tls		*tls;		/* after STARTTLS, or NULL */
	uv_getaddrinfo_t	*gai;		/* resolution under way */
	struct mta_dnsreq	*dnsreq;	/* or this, for MX hosts */
	struct sockaddr_storage	*addrs;		/* addresses of the host */
	int			 naddrs, curaddr;
	/* where we are connected, or trying to */
	int			 hostfirst;	/* index of the first host */
	int			 hoststried;
	int			 tries;		/* addresses tried */
	char			*host;
	int			 port;
	char			 dst[64];	/* peer IP */
	char			 src[64];	/* our IP */
	struct sockaddr_storage	 bindaddr;	/* source address (a copy: */
	int			 bound;		/* reconfig may free q's) */
	char			 bindname[64];
	char			 mta[320];	/* "host (ip)" */
	char			 esmtp[MTA_ESMTP_MAX];
	int			 ext;		/* MTA_EXT_* */
	int			 tls_retried;	/* reconnected in clear once */
	uint64_t		 sizemax;	/* SIZE limit, 0: none */
	int			 nmsg;		/* transactions done */
	int			 stale;		/* made under an older config: no
						 * new work after this one */
	/* last error while connecting, for the queue if all fail */
	uint32_t		 err_status;
	char			 err_dsn[16];
	char			 err_diag[MTA_DIAG_MAX];
	char			 err_mta[320];
	char			 err_dst[64];
	struct smtp_reply	 reply;
	/* commands held back to go out in one write (pipelining) */
	char			*cork;
	size_t			 corklen, corkcap;
	int			 corked;
	/* the transaction */
	struct mta_job		*job;
	uint8_t			*acc;		/* per rcpt: RCPT accepted */
	uint32_t		*sent;		/* rcpt indexes, RCPT order */
	uint32_t		 nsent, nreplied, naccepted;
	int			 pipelined;
	uint32_t		 nrcpt_out;	/* RCPTs written */
	int			 data_out;	/* DATA written */
	int			 inflight;	/* commands awaiting replies */
	int			 mailfailed;
	int			 discard;	/* 354 (or BDAT) without
						 * recipients */
	int			 bdat;		/* CHUNKING: BDAT, not DATA */
	int			 bdat_wait;	/* BDAT replies to come */
	int			 body_writing;	/* BDAT chunks still to write */
	int			 bdat_kick;	/* the next one after uncork */
	int			 more;		/* recipients left for another
						 * transaction (max-rcpt) */
	struct mta_body		 body;
};

struct mta_session *mta_session_new(struct mta_queue *,
		    const struct sockaddr_storage *src);
void		 mta_session_connect(struct mta_session *);
void		 mta_session_start(struct mta_session *);

/* mta_local.c: type pipe, run by ternd */
void		 mta_local_deliver(struct mta_job *, const char *command,
		    const char *user);
void		 mta_local_done(struct imsg *);

/* mta_slot.c */
enum { MTA_SLOT_NONE = 0, MTA_SLOT_WAIT, MTA_SLOT_HELD };
void		 mta_slot_request(struct mta_session *);
void		 mta_slot_grant(struct imsg *);
void		 mta_slot_release(struct mta_session *);
void		 mta_slot_replay(struct mproc *);
/* mta_idle.c */
void		 mta_idle_add(struct mta_session *);
void		 mta_idle_remove(struct mta_session *);
int		 mta_queue_close_idle(int max);
void		 mta_stats_start(void);
void		 mta_stats_send(struct mta_queue *);
void		 mta_stats_stop(void);
enum mta_phase	 mta_session_phase(const struct mta_session *);
void		 mta_session_timer(struct mta_session *, uint64_t ms);
void		 mta_session_send(struct mta_session *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 mta_session_write(struct mta_session *, char *, size_t,
		    int notify);
void		 mta_session_cork(struct mta_session *);
void		 mta_session_uncork(struct mta_session *);
/* Bytes into the held write (mta_session_cork). */
void		 mta_session_put(struct mta_session *, const char *, size_t);
int		 mta_session_flushed(struct mta_session *);
char		*mta_session_wbuf(size_t);
void		 mta_session_wbuf_free(char *);
void		 mta_session_conninfo(struct mta_session *,
		    struct mta_conninfo *);
void		 mta_session_connfail(struct mta_session *, uint32_t status,
		    const char *dsn, const char *diag);
void		 mta_session_close(struct mta_session *);
void		 mta_session_tls_start(struct mta_session *);

void		 mta_smtp_connected(struct mta_session *);
void		 mta_smtp_reply(struct mta_session *);
void		 mta_smtp_lost(struct mta_session *, const char *why);
void		 mta_smtp_timeout(struct mta_session *);
void		 mta_smtp_wrote(struct mta_session *);
void		 mta_smtp_tls_ready(struct mta_session *);
void		 mta_smtp_tls_failed(struct mta_session *, const char *);
void		 mta_session_job(struct mta_session *, struct mta_job *);
void		 mta_session_quit(struct mta_session *);

#endif
