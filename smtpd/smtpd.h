/*
 * smtpd.h - the inbound ESMTP daemon.
 *
 *	smtpd.c		main, config, listeners, the channel to queued
 *	smtp_session.c	one TCP connection: buffers, replies, timers
 *	smtp_verb.c	what each command does; transactions
 *	smtp_data.c	the message text: dot-unstuffing, CRLF, the file
 *	smtp_cmd.c	the command parser (pure; unit tested and fuzzed)
 *	smtp_addr.c	address syntax for it (pure as well)
 *	smtp_tls.c	STARTTLS: OpenSSL over memory BIOs under libuv
 *	smtp_auth.c	AUTH PLAIN and LOGIN against password files and
 *			<smtp-user> blocks
 *	smtp_bdat.c	CHUNKING (RFC 3030): BDAT chunks into the spool file
 *	smtp_limit.c	max-smtp-in per source, source group and client IP
 *	smtp_hdr.c	header processing (X-Virtual-MTA, X-Job, X-EnvId,
 *			Message-ID:, Date:) while the text streams to disk
 *	smtp_iprev.c	reverse DNS of clients (require-rdns, iprev)
 *
 * A session that needs queued (a file at DATA, a commit after the final
 * dot) sends the request with its id as peerid and stops reading; the
 * reply finds it again in the session tree and resumes it.  Nothing
 * waits inside a callback.
 */
#ifndef TERN_SMTPD_H
#define TERN_SMTPD_H

#include <sys/socket.h>
#include <sys/tree.h>
#include <netinet/in.h>
#include <stdint.h>
#include <uv.h>

#include "cfg.h"
#include "envelope.h"
#include "smtp_cmd.h"

#define SMTP_LINE_MAX		1000		/* command, with CRLF */
#define SMTP_DATA_LINE_MAX	(64 * 1024)	/* message line, tolerated */
#define SMTP_IBUF_SIZE		(64 * 1024 + SMTP_LINE_MAX)
#define SMTP_WBUF_SIZE		(64 * 1024)	/* file writes */
#define SMTP_OUT_HIWAT		(256 * 1024)	/* stop reading above */
#define SMTP_MAX_RCPTS		1000
#define SMTP_MAX_ERRORS		20		/* then 421 and close */
/* Every envelope goes to queued in one imsg: keep room for the fixed
 * fields above the recipients. */
#define SMTP_ENV_BUDGET		(IMSG_MAX_SIZE - 8 * 1024)

#define SMTP_DEFAULT_MAX_SIZE	(50ULL * 1024 * 1024)
#define SMTP_DEFAULT_MAX_IN	100
#define SMTP_CMD_TIMEOUT	(5 * 60)	/* seconds */
#define SMTP_DATA_TIMEOUT	(10 * 60)
#define SMTP_QUEUED_TIMEOUT	(5 * 60)	/* waiting for queued */
#define SMTP_STOP_GRACE		30		/* shutdown deadline */
#define SMTP_TLS_RBUF		(17 * 1024)	/* one TLS record and some */
#define SMTP_AUTH_MAX_FAIL	3		/* failed AUTHs, then 421 */
#define SMTP_AUTH_DELAY		1		/* seconds per failure */
#define SMTP_AUTH_USER_MAX	255
#define SMTP_NLIMITS		3		/* client IP, source, group */
#define SMTP_HDR_MAX		(1024 * 1024)	/* header section held back */
#define SMTP_IPREV_NAMES	10		/* PTR names checked */

struct smtpd_conf {
	char		 hostname[256];
	uint64_t	 max_size;	/* 0: unlimited */
	int64_t		 max_sessions;
	int64_t		 cmd_timeout;	/* seconds */
	int64_t		 data_timeout;
};

struct smtpd_state {
	struct cfg	*cfg;
	struct smtpd_conf conf;
	struct mproc	*queued;	/* NULL while queued is away */
	int		 spool_full;	/* as queued last said (MSG_SPOOL_STATE) */
	int		 stopping;
	uint32_t	 nsessions;	/* counted against total-max-smtp-in */
};
extern struct smtpd_state smtpd;

enum smtp_state {
	SMTP_S_INIT,		/* banner sent, waiting for HELO/EHLO */
	SMTP_S_HELO,		/* greeted, no transaction */
	SMTP_S_MAIL,		/* MAIL accepted, collecting RCPTs */
	SMTP_S_CREATE,		/* none handed ahead: asked queued for a file */
	SMTP_S_DATA,		/* reading the message text */
	SMTP_S_COMMIT,		/* final dot seen, waiting for queued */
	SMTP_S_BDAT,		/* reading the octets of a BDAT chunk */
};

enum smtp_refuse {
	SMTP_REFUSE_NONE = 0,
	SMTP_REFUSE_BUSY,	/* total-max-smtp-in reached */
	SMTP_REFUSE_SOURCE,	/* <source> smtp-service no */
	SMTP_REFUSE_STOPPING,	/* shutting down */
	SMTP_REFUSE_LIMIT,	/* max-smtp-in of the source, group or IP */
	SMTP_REFUSE_SPOOL,	/* refuse-connect-when-spool-full */
};

/* Why a message cannot be accepted, found while reading its text. */
enum smtp_derr {
	SMTP_DERR_NONE = 0,
	SMTP_DERR_TOOBIG,	/* 552 5.3.4 */
	SMTP_DERR_LINE,		/* 554 5.6.0: a line beyond SMTP_DATA_LINE_MAX */
	SMTP_DERR_IO,		/* 451 4.3.0 */
	SMTP_DERR_NOSPC,	/* 452 4.3.1 */
	SMTP_DERR_QUEUED,	/* 451 4.3.0: queued went away meanwhile */
	SMTP_DERR_HDRTOOBIG,	/* 552 5.3.4: header section over SMTP_HDR_MAX */
	SMTP_DERR_VMTA,		/* 550 5.7.1: X-Virtual-MTA names no VMTA */
};

struct smtp_data {
	int		 fd;		/* the spool file from queued, or -1 */
	int		 state;		/* dot/CRLF automaton (smtp_data.c) */
	char		*buf;		/* SMTP_WBUF_SIZE, pending writes */
	size_t		 len;
	uint64_t	 written;	/* bytes in the file (header + body) */
	uint64_t	 body;		/* message bytes received, normalised */
	size_t		 linelen;
	int		 error;		/* SMTP_DERR_* */
	int		 hstate;	/* SMTP_HDR_* (smtp_hdr.c) */
	char		*hbuf;		/* header section held back */
	size_t		 hlen, hcap;
};

enum { SMTP_HDR_OFF = 0, SMTP_HDR_COLLECT, SMTP_HDR_DONE };
enum { SMTP_ADD_DATE_NO = 0, SMTP_ADD_DATE_YES, SMTP_ADD_DATE_OVERRIDE };

struct smtp_tx {
	char		*sender;	/* "" for <> */
	uint32_t	 flags;		/* ENV_* */
	uint32_t	 ret;
	char		*envid;
	struct rcpt	*rcpts;
	uint32_t	 nrcpt;
	uint32_t	 rcptcap;
	size_t		 envbytes;	/* estimated envelope size in an imsg */
	char		 qid[QID_LEN + 1];	/* its file's (from queued) */
	int		 bdat;		/* a BDAT transaction: DATA refused */
	char		*vmta;		/* from X-Virtual-MTA */
	char		*jobid;		/* from X-Job */
	char		*remote_ip;	/* from X-Remote-MTA-IP */
	int		 has_msgid;	/* the message has a Message-ID: */
	int		 has_date;
	struct smtp_data data;
};

struct smtp_session {
	RB_ENTRY(smtp_session) entry;
	uint32_t	 id;		/* peerid of our requests to queued */
	uv_tcp_t	 tcp;
	uv_timer_t	 timer;
	uv_shutdown_t	 shutdown;
	int		 nhandles;	/* open libuv handles; free at 0 */
	int		 closing;
	int		 counted;	/* in smtpd.nsessions */
	char		*limits[SMTP_NLIMITS];	/* max-smtp-in counters held */
	struct sockaddr_storage ss;
	char		 ip[INET6_ADDRSTRLEN];
	char		*listener;	/* its <smtp-listener> argument, or NULL */

	/* policy, fixed at connect (a reload does not change a session) */
	int		 refuse;	/* SMTP_REFUSE_*: greet with an error */
	int		 relay;		/* may send to any domain */
	uint64_t	 max_size;
	int64_t		 cmd_timeout;
	int64_t		 data_timeout;
	int		 allow_starttls;
	int		 allow_auth;
	int		 auth_unencrypted;	/* PLAIN/LOGIN without TLS */
	int		 require_auth;
	int		 allow_chunking;
	char		*auth_file;	/* auth-plain of the <source>, or NULL */
	uint32_t	 authfail_max;	/* smtp-max-auth-failure-rate, 0: none */
	int64_t		 authfail_window;	/* seconds */
	int		 x_vmta;	/* process-x-virtual-mta */
	int		 x_job;		/* process-x-job */
	int		 x_envid;	/* process-x-envid */
	int		 x_remote_ip;	/* process-x-remote-mta-ip */
	int		 add_msgid;	/* add-message-id-header */
	int		 add_date;	/* add-date-header: SMTP_ADD_DATE_* */
	int		 reject_bad_vmta;	/* reject-invalid-virtual-mta */
	char		*default_vmta;	/* default-virtual-mta, or NULL */
	int		 suppress_reject;	/* suppression-action reject */
	int		 iprev_check;	/* require-rdns or check-iprev-inbound */
	int		 iprev_header;	/* check-iprev-inbound: add A-R: */
	int		 iprev_reject;	/* SMTP_IPREV_R_* */

	/* reverse DNS (smtp_iprev.c) */
	struct smtp_iprev *iprev_req;	/* lookups under way: not greeted */
	int		 iprev_result;	/* SMTP_IPREV_* */
	char		*iprev_name;	/* verified host name (pass) */

	enum smtp_state	 state;
	int		 esmtp;
	char		 helo[SMTP_DOMAIN_MAX + 1];
	struct smtp_tx	*tx;
	int		 nerrors;
	int		 quit;		/* close once the replies are out */
	int		 finishing;	/* uv_shutdown under way */

	/* TLS (smtp_tls.c): after STARTTLS every byte goes through ssl */
	void		*ssl;		/* SSL *, NULL before STARTTLS */
	int		 tls_up;	/* handshake done */
	int		 tls_closed;	/* close_notify sent */
	int		 starttls;	/* switch to TLS once the 220 is out */
	char		*tlsbuf;	/* SMTP_TLS_RBUF, ciphertext read */

	/* AUTH (smtp_auth.c) */
	int		 auth_step;	/* SMTP_AUTH_*: the next line is data */
	int		 auth_fails;
	int		 delayed;	/* replies held back (failed AUTH) */
	char		 authuser[SMTP_AUTH_USER_MAX + 1];	/* "" = none */
	char		 login_user[SMTP_AUTH_USER_MAX + 1];

	/* BDAT (smtp_bdat.c) */
	uint64_t	 bdat_left;	/* octets of the chunk still to read */
	int		 bdat_last;
	uint64_t	 skip;		/* octets of a refused chunk to drop */

	/* input: bytes read, not yet processed */
	char		*ibuf;
	size_t		 ilen;
	int		 discard;	/* skipping the rest of an overlong line */
	int		 reading;

	/* output: replies not yet handed to uv_write */
	char		*obuf;
	size_t		 olen, ocap;
	size_t		 wpending;	/* bytes inside uv_write requests */
};

/* iprev results (RFC 8601 2.7.3) and which of them refuse MAIL */
enum { SMTP_IPREV_NONE = 0, SMTP_IPREV_PASS, SMTP_IPREV_FAIL,
    SMTP_IPREV_TEMPERROR, SMTP_IPREV_PERMERROR };
#define SMTP_IPREV_R_FAIL	0x01
#define SMTP_IPREV_R_PERM	0x02
#define SMTP_IPREV_R_TEMP	0x04

enum { SMTP_AUTH_NONE = 0, SMTP_AUTH_PLAIN, SMTP_AUTH_LOGIN_USER,
    SMTP_AUTH_LOGIN_PASS };

/* smtpd.c */
void	smtpd_policy(struct smtp_session *);
char	*smtpd_listener_of(uv_stream_t *server);
const struct cfg_node *smtpd_listener_node(const char *listener);
int	smtpd_queued_create(struct smtp_session *, char *qid, int *fd);
void	smtpd_queued_commit(struct smtp_session *, const struct envelope *);
void	smtpd_queued_rollback(const char *qid);
void	smtpd_session_gone(void);
int	smtpd_spool_full(void);
void	smtpd_spool_state(int full);

/* smtp_report.c */
void	smtp_report_sessions(void);
void	smtp_report_queued_up(void);

/* smtp_session.c */
void	smtp_session_accept(uv_stream_t *server);
struct smtp_session *smtp_session_find(uint32_t id);
void	smtp_session_foreach(void (*)(struct smtp_session *));
void	smtp_reply(struct smtp_session *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	smtp_flush(struct smtp_session *);
void	smtp_close(struct smtp_session *, const char *why);
void	smtp_quit(struct smtp_session *);
void	smtp_resume(struct smtp_session *);
void	smtp_timer_reset(struct smtp_session *);
int	smtp_write_raw(struct smtp_session *, char *buf, size_t len);
void	smtp_delay(struct smtp_session *, int secs);

/* smtp_tls.c */
int	smtp_tls_config(const char *listener, const char *pem,
	    const char *password);
int	smtp_tls_available(const struct smtp_session *);
void	smtp_tls_cmd(struct smtp_session *, const struct smtp_cmd *);
int	smtp_tls_start(struct smtp_session *);
int	smtp_tls_input(struct smtp_session *, const char *, size_t);
size_t	smtp_tls_pull(struct smtp_session *, char *, size_t);
void	smtp_tls_output(struct smtp_session *, const char *, size_t);
void	smtp_tls_shutdown(struct smtp_session *);
void	smtp_tls_free(struct smtp_session *);

/* smtp_auth.c */
void	smtp_auth_passwd_file(const char *path, const char *text);
int	smtp_auth_offered(const struct smtp_session *);
void	smtp_auth_cmd(struct smtp_session *, const struct smtp_cmd *);
void	smtp_auth_line(struct smtp_session *, const char *, size_t);

/* smtp_limit.c */
int	smtp_limit_take(struct smtp_session *, const struct cfg_node *src);
void	smtp_limit_release(struct smtp_session *);

/* smtp_hdr.c */
int	smtp_hdr_wanted(const struct smtp_session *);
void	smtp_hdr_begin(struct smtp_session *);
size_t	smtp_hdr_feed(struct smtp_session *, const char *, size_t);
void	smtp_hdr_finish(struct smtp_session *);
void	smtp_hdr_free(struct smtp_data *);
/* "pass", "fail", "temperror", "permerror" or "none" */
const char *smtp_iprev_str(int result);

/* smtp_iprev.c */
int	smtp_iprev_start(struct smtp_session *);
void	smtp_iprev_cancel(struct smtp_session *);
int	smtp_iprev_refuse(struct smtp_session *);

/* smtp_bdat.c */
void	smtp_bdat_cmd(struct smtp_session *, const struct smtp_cmd *);
size_t	smtp_bdat_feed(struct smtp_session *, const char *, size_t);
void	smtp_bdat_begin(struct smtp_session *);

/* smtp_verb.c */
void	smtp_greet(struct smtp_session *);
void	smtp_command(struct smtp_session *, const char *line, size_t len);
void	smtp_data_done(struct smtp_session *);
void	smtp_error(struct smtp_session *, const char *reply);
const char *smtp_derr_reply(int err);
void	smtp_tx_free(struct smtp_session *);
void	smtp_created(struct smtp_session *, const char *qid, int fd);
void	smtp_file_ready(struct smtp_session *, const char *qid, int fd);
void	smtp_create_failed(struct smtp_session *, uint32_t code,
	    const char *status, const char *text);
void	smtp_committed(struct smtp_session *, const char *qid);
void	smtp_commit_failed(struct smtp_session *, uint32_t code,
	    const char *status, const char *text);
void	smtp_queued_lost(struct smtp_session *);
void	smtp_stopping(struct smtp_session *);

/* smtp_suppress.c: suppressed recipients refused at RCPT */
void	smtp_suppress_msg(struct msg *);
int	smtp_suppress_policy(const struct cfg_node *src);
int	smtp_suppress_rcpt(struct smtp_session *, const char *addr);

/* smtp_data.c */
int	smtp_data_begin(struct smtp_session *, int fd);
void	smtp_data_bytes(struct smtp_session *, const char *, size_t);
void	smtp_data_put_raw(struct smtp_data *, const char *, size_t);
size_t	smtp_data_feed(struct smtp_session *, const char *, size_t);
int	smtp_data_finish(struct smtp_session *);
void	smtp_data_abort(struct smtp_data *);
size_t	smtp_received(const struct smtp_session *, char *, size_t);

#endif
