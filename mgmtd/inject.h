/*
 * inject.h - HTTP injection (POST /api/v1/inject): a JSON request that
 * queues one message for many recipients, or one per recipient with its
 * own substitutions.
 *
 *	inject_build.c	the request: validated field by field (a 400 names
 *			the field), rendered into message texts (pure code,
 *			unit tested)
 *	inject_queue.c	into the spool through queued, the way smtpd does
 *			it: MSG_CREATE for every file first, then the texts,
 *			then MSG_COMMIT for all; answered only when queued
 *			has fsync'd every one (MSG_COMMIT_OK)
 *	http_inject.c	the endpoint: opt-in (http-inject), body, replies
 *
 * Why mgmtd: it already serves HTTP with access control and credentials,
 * and has a channel to queued; smtpd would need a second protocol on its
 * listeners, and a daemon of its own a second HTTP stack.  See
 * docs/http.md.
 */
#ifndef TERN_MGMTD_INJECT_H
#define TERN_MGMTD_INJECT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "envelope.h"
#include "mproc.h"

#define INJECT_MAX_BODY		(16 * 1024 * 1024)	/* request octets */
#define INJECT_MAX_RCPTS	10000	/* recipients in one request */
#define INJECT_MAX_TOTAL	(64 * 1024 * 1024)	/* rendered octets */
#define INJECT_LINE_MAX		998	/* RFC 5322 2.1.1 */

/* One spool file: a text and the recipients it goes to. */
struct inject_msg {
	char		*text;		/* CRLF; without Received/Message-ID */
	size_t		 len;
	int		 has_msgid;	/* the text has a Message-ID: */
	uint32_t	 flags;		/* ENV_8BITMIME, ENV_SMTPUTF8 */
	const char	**rcpts;	/* into the request */
	uint32_t	 nrcpt;
	char		 qid[QID_LEN + 1];	/* once queued gave a file */
	int		 state;		/* inject_queue.c */
};

/* A validated request, rendered.  Strings point into req. */
struct inject_batch {
	json_t		*req;
	const char	*sender;	/* "" for the null sender */
	const char	*vmta;		/* NULL: none */
	const char	*jobid;
	const char	*envid;
	struct inject_msg *msgs;
	size_t		 nmsg;
	size_t		 nrcpt;
};

/* Is vmta a <virtual-mta> or <virtual-mta-pool>?  (the caller knows the
 * configuration) */
typedef int (*inject_vmta_known)(const char *vmta);

/* Validate and render req (a reference is taken).  0, or -1 with err
 * naming the bad field ("recipients[3].email: not an address"). */
int	inject_build(json_t *req, inject_vmta_known, struct inject_batch *,
	    char *err, size_t errsz);
void	inject_batch_free(struct inject_batch *);

/* inject_queue.c */
struct inject_job;
/* How it ended: status 200 (all queued), 503 (spool full or queued
 * away: nothing queued, or as `queued` lists), 500 (a commit failed).
 * body is the JSON answer. */
typedef void (*inject_done)(void *arg, int status, const char *body);
/* Queue batch b (taken over) for client (IP) and user (NULL: none). */
struct inject_job *inject_start(struct inject_batch *b, const char *client,
	    const char *user, inject_done, void *arg);
/* The HTTP client went away: nobody to answer. */
void	inject_detach(struct inject_job *);
/* queued's replies (MSG_CREATE_OK/FAIL, MSG_COMMIT_OK/FAIL); 0 if imsg
 * is not one of them. */
int	inject_reply(struct imsg *);
void	inject_queued_lost(void);

#endif
