/*
 * bounced.h - accounting records and bounce classification.
 *
 *	bounced.c	the daemon: channels, acknowledgements, counters
 *	acct.c		accounting files: which records go where, writing
 *	acct_csv.c	one record as a PowerMTA CSV row (pure)
 *	dsn_text.c	enhanced status codes and their RFC 3463 text (pure)
 *	bounce_class.c	bounce categories (pure)
 */
#ifndef TERN_BOUNCED_H
#define TERN_BOUNCED_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "envelope.h"

/* Record types, as bits of an <acct-file>'s `records`. */
#define ACCT_D		0x01	/* delivery */
#define ACCT_B		0x02	/* bounce */
#define ACCT_T		0x04	/* transient */
#define ACCT_TQ		0x08	/* transient-queue */
#define ACCT_R		0x10	/* receipt */
#define ACCT_F		0x20	/* feedback-loop */
#define ACCT_RB		0x40	/* remote-bounce */
#define ACCT_RS		0x80	/* remote-status */
#define ACCT_DEFAULT	(ACCT_D | ACCT_B)

/* A growing output buffer. */
struct acct_buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};
void	acct_buf_add(struct acct_buf *, const char *, size_t);
void	acct_buf_adds(struct acct_buf *, const char *);
void	acct_buf_free(struct acct_buf *);

/* acct_csv.c */
/* The header line, CRLF included. */
const char *acct_csv_header(void);
/* Append s as one RFC 4180 field (NULL: empty). */
void	acct_csv_field(struct acct_buf *, const char *s);
/* "2019-02-08 21:54:05+0000"; "" for t <= 0.  buf >= 32 bytes. */
const char *acct_csv_time(int64_t t, char *buf, size_t bufsz);
/* "smtp;550 ..." ("" for NULL/empty; kept if it has the prefix). */
const char *acct_csv_diag(const char *diag, char *buf, size_t bufsz);
/* Append the whole row for a record, CRLF included. */
void	acct_csv_row(struct acct_buf *, const struct acct_record *);
/* ACCT_* bit of a record type, short ("tq") or long name; 0 if unknown. */
int	acct_type_bit(const char *type);

/* dsn_text.c */
/* Parse "5.1.1" at the start of s: 0 and class/subject/detail, or -1. */
int	dsn_parse(const char *s, int *cls, int *subj, int *detail);
/* "bad destination mailbox address" for "5.1.1"; NULL if s is no code. */
const char *dsn_text(const char *status);
/* "5.1.1 (bad destination mailbox address)"; s as is if no code. */
const char *dsn_status_text(const char *status, char *buf, size_t bufsz);

/* bounce_class.c */
/* PowerMTA bounce category of a failure.  Never NULL. */
const char *bounce_classify(const char *dsn_status, const char *diag);
/* Take the configuration's <bounce-category-patterns> (tried before the
 * defaults); -1 if some line did not compile (it is skipped). */
int	bounce_patterns_config(const struct cfg *);
void	bounce_patterns_clear(void);

/* acct.c */
void	acct_config(const struct cfg *);
void	acct_file(const char *path, int fd);
/* Queue the record for every file that wants it. */
void	acct_write(const struct acct_record *);
/* Write out what acct_write() queued; 0 ok, -1 some file failed. */
int	acct_flush(void);
void	acct_shutdown(void);

#endif
