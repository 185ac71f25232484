/*
 * smtp_cmd.h - parsing one SMTP command line (RFC 5321 and extensions).
 *
 * The parser is pure: no I/O, no allocation, no global state, so that it
 * can be unit tested and fuzzed.  It recognises every verb a client may
 * send, checks the syntax of its arguments (paths, ESMTP parameters) and
 * copies what the session needs into struct smtp_cmd.  Whether a verb is
 * allowed now, or offered at all, is the session's business.
 *
 * The line is given without its CRLF.  On error the return value is one
 * of SMTP_ERR_*, and smtp_cmd_reply() gives the reply to send.
 */
#ifndef TERN_SMTP_CMD_H
#define TERN_SMTP_CMD_H

#include <stddef.h>
#include <stdint.h>

/* A command line is at most 1000 octets with its CRLF (RFC 5321 4.5.3.1.4
 * allows extensions to raise the 512 of the base protocol). */
#define SMTP_CMD_MAX		998
/* A mailbox (local@domain) without the brackets.  RFC 5321 says 254;
 * VERP'd bulk senders go beyond it, so be generous but bounded.  Must fit
 * envelope.h's MAX_ADDR with its NUL. */
#define SMTP_ADDR_MAX		511
#define SMTP_DOMAIN_MAX		255
#define SMTP_ENVID_MAX		100	/* RFC 3461 4.4 */
#define SMTP_ORCPT_MAX		500	/* RFC 3461 4.2 */
#define SMTP_ARG_MAX		SMTP_CMD_MAX

enum smtp_verb {
	SMTP_CMD_NONE = 0,
	SMTP_CMD_HELO,
	SMTP_CMD_EHLO,
	SMTP_CMD_MAIL,
	SMTP_CMD_RCPT,
	SMTP_CMD_DATA,
	SMTP_CMD_BDAT,
	SMTP_CMD_RSET,
	SMTP_CMD_NOOP,
	SMTP_CMD_QUIT,
	SMTP_CMD_HELP,
	SMTP_CMD_VRFY,
	SMTP_CMD_EXPN,
	SMTP_CMD_STARTTLS,
	SMTP_CMD_AUTH,
	/* Obsolete or refused on purpose. */
	SMTP_CMD_TURN,
	SMTP_CMD_ETRN,
	SMTP_CMD_ATRN,
	SMTP_CMD_SEND,
	SMTP_CMD_SOML,
	SMTP_CMD_SAML,
	SMTP_CMD_VERB,
	SMTP_CMD_ONEX,
};

/* Parse results; SMTP_OK or one of the errors. */
enum smtp_err {
	SMTP_OK = 0,
	SMTP_ERR_UNKNOWN,	/* 500 5.5.1 command unrecognized */
	SMTP_ERR_TOOLONG,	/* 500 5.5.2 line too long */
	SMTP_ERR_NUL,		/* 554 5.5.0 NUL byte in command */
	SMTP_ERR_SYNTAX,	/* 501 5.5.4 syntax error in parameters */
	SMTP_ERR_SENDER,	/* 501 5.1.7 bad sender address syntax */
	SMTP_ERR_RCPT,		/* 501 5.1.3 bad recipient address syntax */
	SMTP_ERR_PARAM,		/* 555 5.5.4 unsupported parameter */
	SMTP_ERR_MAX
};

/* BODY= (RFC 6152, RFC 3030) */
enum smtp_body {
	SMTP_BODY_NONE = 0,	/* not given */
	SMTP_BODY_7BIT,
	SMTP_BODY_8BITMIME,
	SMTP_BODY_BINARYMIME,
};

struct smtp_cmd {
	enum smtp_verb	 verb;

	/* HELO/EHLO domain, NOOP/HELP/VRFY/EXPN/ETRN text, AUTH mechanism:
	 * the first (or only) argument, trimmed.  "" when absent. */
	char		 arg[SMTP_ARG_MAX + 1];

	/* MAIL/RCPT: the mailbox without brackets or source route;
	 * "" is the null sender (MAIL only).  RCPT TO:<postmaster> gives
	 * "postmaster" with is_postmaster set. */
	char		 addr[SMTP_ADDR_MAX + 1];
	int		 is_postmaster;
	int		 addr_utf8;	/* addr has non-ASCII octets */

	/* MAIL parameters */
	int		 has_size;
	uint64_t	 size;		/* SIZE= */
	enum smtp_body	 body;		/* BODY= */
	int		 smtputf8;	/* SMTPUTF8 */
	uint32_t	 ret;		/* RET=: envelope.h RET_* */
	char		 envid[SMTP_ENVID_MAX + 1];	/* ENVID=, as xtext */

	/* RCPT parameters */
	uint32_t	 notify;	/* NOTIFY=: envelope.h NOTIFY_* bits */
	char		 orcpt[SMTP_ORCPT_MAX + 1];	/* ORCPT=, "type;xtext" */

	/* BDAT chunk-size [LAST] */
	uint64_t	 chunk_size;
	int		 last;

	/* AUTH mechanism [initial-response] (mechanism is in arg) */
	char		 auth_initial[SMTP_ARG_MAX + 1];
};

/* Parse a NUL-terminated line (no CRLF). */
int		 smtp_cmd_parse(const char *line, struct smtp_cmd *out);
/* Parse len octets, which may contain NUL (an error). */
int		 smtp_cmd_parse_len(const char *line, size_t len,
		    struct smtp_cmd *out);
/* The full reply line (without CRLF) for an SMTP_ERR_* value. */
const char	*smtp_cmd_reply(int err);
/* The verb's name ("MAIL"), for logs. */
const char	*smtp_cmd_name(enum smtp_verb);

/* Address syntax alone (RFC 5321 Mailbox, with RFC 6531 UTF-8 octets).
 * Returns 0 if valid; *utf8 tells whether non-ASCII octets occur. */
int		 smtp_addr_valid(const char *addr, size_t len, int *utf8);

#endif
