/*
 * smtp_reply.h - parser for the replies of a remote SMTP server.
 *
 * Pure code (no I/O, no libuv) so that it can be unit tested and fuzzed.
 * Bytes read from the socket are fed in as they come; the parser splits
 * them into lines (CRLF, a bare LF is tolerated), checks that every line
 * of a multiline reply ("250-...", then "250 ...") carries the same code,
 * and keeps each line's text.  A reply is bounded (SMTP_REPLY_MAXLINES
 * lines, SMTP_REPLY_MAXSIZE bytes) so that a hostile server cannot make
 * us buffer without end.
 *
 *	smtp_reply_init(&r);
 *	while (len > 0) {
 *		rv = smtp_reply_feed(&r, buf, len, &used);
 *		buf += used; len -= used;
 *		if (rv == SMTP_REPLY_ERROR) -> r.error says why
 *		if (rv == SMTP_REPLY_DONE) { use r; smtp_reply_reset(&r); }
 *	}
 *	smtp_reply_free(&r);
 */
#ifndef TERN_SMTP_REPLY_H
#define TERN_SMTP_REPLY_H

#include <stddef.h>

#define SMTP_REPLY_MAXLINES	100
#define SMTP_REPLY_MAXSIZE	(64 * 1024)	/* bytes, line ends included */
#define SMTP_REPLY_ENHLEN	16		/* "5.123.123" + NUL fits */

enum {
	SMTP_REPLY_ERROR = -1,
	SMTP_REPLY_MORE = 0,	/* all input used, reply not complete */
	SMTP_REPLY_DONE = 1,	/* a reply is complete; input may remain */
};

struct smtp_reply {
	int		 code;		/* 200..599 */
	char		 enhanced[SMTP_REPLY_ENHLEN];	/* "5.1.1" or "" */
	int		 nlines;
	const char	*error;		/* set with SMTP_REPLY_ERROR */

	/* private */
	char		*buf;		/* line texts, each NUL terminated */
	size_t		 len, cap;
	size_t		 size;		/* raw bytes of the reply so far */
	size_t		 linestart;	/* offset in buf of the partial line */
	size_t		 off[SMTP_REPLY_MAXLINES];
	int		 done, failed;
};

void	 smtp_reply_init(struct smtp_reply *);
/* Forget the current reply, keep the buffer for the next one. */
void	 smtp_reply_reset(struct smtp_reply *);
void	 smtp_reply_free(struct smtp_reply *);
/* Consume input up to the end of a reply; *used = bytes consumed. */
int	 smtp_reply_feed(struct smtp_reply *, const char *, size_t,
	    size_t *used);

/* Text of line i (after "250-" / "250 "), NUL terminated. */
const char	*smtp_reply_line(const struct smtp_reply *, int i);
/* The class of the reply: 2, 3, 4 or 5. */
int		 smtp_reply_class(const struct smtp_reply *);
/* Enhanced status, or the one the basic code implies (2.0.0, 4.0.0,
 * 5.0.0; a 3xx reply counts as 2.0.0). */
const char	*smtp_reply_status(const struct smtp_reply *);
/* The whole reply on one line, for logs and DSN diagnostics:
 * "550 5.1.1 <x@y> user unknown".  Lines are joined by one space, the
 * enhanced code repeated at the start of continuation lines is dropped,
 * control characters become spaces; truncated to fit bufsz.  Returns
 * buf. */
char		*smtp_reply_oneline(const struct smtp_reply *, char *buf,
		    size_t bufsz);

#endif
