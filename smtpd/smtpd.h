/*
 * smtpd.h - the inbound ESMTP daemon.
 *
 *	smtpd.c		main, config, listeners, the channel to queued
 *	smtp_session.c	one TCP connection: buffers, replies, timers
 *	smtp_verb.c	what each command does; transactions
 *	smtp_data.c	the message text: dot-unstuffing, CRLF, the file
 *	smtp_cmd.c	the command parser (pure; unit tested and fuzzed)
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
	int		 spool_full;
	int		 stopping;
	uint32_t	 nsessions;	/* counted against total-max-smtp-in */
};
extern struct smtpd_state smtpd;

enum smtp_state {
	SMTP_S_INIT,		/* banner sent, waiting for HELO/EHLO */
	SMTP_S_HELO,		/* greeted, no transaction */
	SMTP_S_MAIL,		/* MAIL accepted, collecting RCPTs */
	SMTP_S_CREATE,		/* DATA sent to queued, waiting for the file */
	SMTP_S_DATA,		/* reading the message text */
	SMTP_S_COMMIT,		/* final dot seen, waiting for queued */
};

enum smtp_refuse {
	SMTP_REFUSE_NONE = 0,
	SMTP_REFUSE_BUSY,	/* total-max-smtp-in reached */
	SMTP_REFUSE_SOURCE,	/* <source> smtp-service no */
	SMTP_REFUSE_STOPPING,	/* shutting down */
};

/* Why a message cannot be accepted, found while reading its text. */
enum smtp_derr {
	SMTP_DERR_NONE = 0,
	SMTP_DERR_TOOBIG,	/* 552 5.3.4 */
	SMTP_DERR_LINE,		/* 554 5.6.0: a line beyond SMTP_DATA_LINE_MAX */
	SMTP_DERR_IO,		/* 451 4.3.0 */
	SMTP_DERR_NOSPC,	/* 452 4.3.1 */
	SMTP_DERR_QUEUED,	/* 451 4.3.0: queued went away meanwhile */
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
};

struct smtp_tx {
	char		*sender;	/* "" for <> */
	uint32_t	 flags;		/* ENV_* */
	uint32_t	 ret;
	char		*envid;
	struct rcpt	*rcpts;
	uint32_t	 nrcpt;
	uint32_t	 rcptcap;
	size_t		 envbytes;	/* estimated envelope size in an imsg */
	char		 qid[QID_LEN + 1];	/* from MSG_CREATE_OK */
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
	struct sockaddr_storage ss;
	char		 ip[INET6_ADDRSTRLEN];

	/* policy, fixed at connect (a reload does not change a session) */
	int		 refuse;	/* SMTP_REFUSE_*: greet with an error */
	int		 relay;		/* may send to any domain */
	uint64_t	 max_size;
	int64_t		 cmd_timeout;
	int64_t		 data_timeout;

	enum smtp_state	 state;
	int		 esmtp;
	char		 helo[SMTP_DOMAIN_MAX + 1];
	struct smtp_tx	*tx;
	int		 nerrors;
	int		 quit;		/* close once the replies are out */
	int		 finishing;	/* uv_shutdown under way */

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

/* smtpd.c */
void	smtpd_policy(struct smtp_session *);
int	smtpd_queued_create(struct smtp_session *);
void	smtpd_queued_commit(struct smtp_session *, const struct envelope *);
void	smtpd_queued_rollback(const char *qid);
void	smtpd_session_gone(void);

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

/* smtp_verb.c */
void	smtp_greet(struct smtp_session *);
void	smtp_command(struct smtp_session *, const char *line, size_t len);
void	smtp_data_done(struct smtp_session *);
void	smtp_tx_free(struct smtp_session *);
void	smtp_created(struct smtp_session *, const char *qid, int fd);
void	smtp_create_failed(struct smtp_session *, uint32_t code,
	    const char *status, const char *text);
void	smtp_committed(struct smtp_session *, const char *qid);
void	smtp_commit_failed(struct smtp_session *, uint32_t code,
	    const char *status, const char *text);
void	smtp_queued_lost(struct smtp_session *);
void	smtp_stopping(struct smtp_session *);

/* smtp_data.c */
int	smtp_data_begin(struct smtp_session *, int fd);
size_t	smtp_data_feed(struct smtp_session *, const char *, size_t);
int	smtp_data_finish(struct smtp_session *);
void	smtp_data_abort(struct smtp_data *);
size_t	smtp_received(const struct smtp_session *, char *, size_t);

#endif
