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
#include "imsg.h"
#include "sbuf.h"

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

/* Columns every record can fill, in PowerMTA's default order. */
enum acct_col {
	C_TYPE, C_TIMELOGGED, C_TIMEQUEUED, C_ORIG, C_RCPT, C_ORCPT,
	C_DSNACTION, C_DSNSTATUS, C_DSNDIAG, C_DSNMTA, C_BOUNCECAT, C_SRCTYPE,
	C_SRCMTA, C_DLVTYPE, C_DLVSRCIP, C_DLVDSTIP, C_DLVESMTP, C_DLVSIZE,
	C_VMTA, C_JOBID, C_ENVID, C_QUEUE, C_VMTAPOOL, C_TOTALSECS,
	C_TLSPROTO, C_TLSCIPHER, C_RCVSMTPUSER,
	/* rb, rs and f records only (parsed inbound reports) */
	C_DSNREPMTA, C_FORMAT, C_FEEDBACKTYPE, C_USERAGENT, C_REPORTEDDOMAIN,
	C_REPSOURCEIP, ACCT_NCOLS
};
#define ACCT_NCLASSIC	(C_RCVSMTPUSER + 1)	/* the columns of d, b, t */

/* What a parsed report adds to a record (NULL: empty). */
struct acct_extra {
	const char	*reporting_mta;
	const char	*format;	/* dsn, arf, qmail, ... */
	const char	*feedback_type;
	const char	*user_agent;
	const char	*reported_domain;
	const char	*rep_source_ip;
};

/* acct_csv.c */
/* "dsnStatus" for C_DSNSTATUS; NULL out of range. */
const char *acct_col_name(int col);
/* C_* of a column name (any case), -1 if none. */
int	acct_col_find(const char *name);
/* Every column's text for a record (malloc'd or NULL; caller frees). */
void	acct_csv_cols(const struct acct_record *, const struct acct_extra *,
	    int iso_times, char **col /* [ACCT_NCOLS] */);
/* The header line, CRLF included. */
const char *acct_csv_header(void);
/* Append s as one RFC 4180 field (NULL: empty). */
void	acct_csv_field(struct sbuf *, const char *s);
/* "2019-02-08 21:54:05+0000"; "" for t <= 0.  buf >= 32 bytes. */
const char *acct_csv_time(int64_t t, char *buf, size_t bufsz);
/* "smtp;550 ..." ("" for NULL/empty; kept if it has the prefix). */
const char *acct_csv_diag(const char *diag, char *buf, size_t bufsz);
/* Append the whole row for a record, CRLF included. */
void	acct_csv_row(struct sbuf *, const struct acct_record *);
/* ACCT_* bit of a record type, short ("tq") or long name; 0 if unknown. */
int	acct_type_bit(const char *type);

/* acct_text.c: a record as a line of log-format-extended's FORMAT
 * (%t %d %r %s ...; docs/accounting.md), "\n" included. */
void	acct_text_line(struct sbuf *, const char *fmt,
	    const struct acct_record *);

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

/* acct_layout.c: the columns of one file (`record-fields`, `user-string`,
 * `iso-times`, `queue-filter`). */
#define ACCT_MAXCOLS	64
#define ACCT_NTYPES	8
struct acct_layout {
	int		 ncols;
	char		*name[ACCT_MAXCOLS];	/* header text */
	int		 col[ACCT_MAXCOLS];	/* C_*, ACCT_COL_USER, or
						 * ACCT_COL_HEADER */
	uint64_t	 sel[ACCT_NTYPES];	/* per type: columns it fills */
	char		*user_string;
	int		 iso_times;
	char		*queue_filter;
	/* map-header-to-field TYPE header_NAME FIELD, in order */
	int		 nmap;
	struct acct_map {
		int	 type;		/* acct type index */
		char	*header;	/* NAME */
		int	 col;		/* C_* it overwrites */
	}		 map[16];
};
#define ACCT_COL_USER	-1	/* userString */
#define ACCT_COL_HEADER	-2	/* header_NAME: acct_record.headers */
/* The default: every column of acct_csv_header() for every type. */
void	acct_layout_default(struct acct_layout *);
/* One `record-fields TYPE FIELDS` line: 0, or -1 with *err set. */
int	acct_layout_fields(struct acct_layout *, const char *type,
	    const char *fields, const char **err);
/* Drop the columns that no type of `records` (ACCT_* bits) selects. */
/* One `map-header-to-field TYPE header_NAME FIELD` line. */
int	acct_layout_map(struct acct_layout *, const char *type,
	    const char *header, const char *field, const char **err);
void	acct_layout_finish(struct acct_layout *, int records);
void	acct_layout_header(const struct acct_layout *, struct sbuf *);
void	acct_layout_row(const struct acct_layout *, struct sbuf *,
	    const struct acct_record *, const struct acct_extra *);
/* Each column: fn(arg, name, value or NULL, whether the type fills it). */
typedef void (*acct_field_fn)(void *, const char *, const char *, int);
void	acct_layout_fields_of(const struct acct_layout *,
	    const struct acct_record *, const struct acct_extra *,
	    acct_field_fn, void *);
/* queue-filter: does the file want a d/b/t/tq record of this queue? */
int	acct_layout_queue_ok(const struct acct_layout *, const char *queue);
void	acct_layout_free(struct acct_layout *);
void	acct_layout_copy(struct acct_layout *, const struct acct_layout *);

/* dsn.c: RFC 3464 failure and delay notifications. */
#define DSN_MAX_RETURN	(128 * 1024)	/* RET=FULL up to this size */
struct dsn_req {
	const char	*qid;
	const char	*sender;
	const char	*envid;
	uint32_t	 ret;		/* RET_* */
	uint32_t	 flags;		/* ENV_* */
	int64_t		 queued;
	uint64_t	 size;		/* of the original */
	const char	*rcpt;
	const char	*orcpt;
	uint32_t	 notify;
	const char	*dsn_status;
	const char	*diag;
	const char	*mta;
	const char	*queue;
	uint32_t	 action;	/* DSN_ACTION_FAILED or _DELAYED */
};
/* The whole DSN message (CRLF), malloc'd.  orig: the first origlen bytes
 * of the original message (header at least), may be NULL. */
char	*dsn_build(const struct dsn_req *, const char *host,
	    const char *orig, size_t origlen, int64_t now, unsigned serial);
/* Whether this failure gets a DSN (sender, NOTIFY, not about a DSN). */
int	 dsn_wanted(const struct dsn_req *);

/* inbound.c: asynchronous bounces and feedback reports -> rb, rs, f */
/* Parse one inbound message sent to `to` and write its rows; the
 * number of rows written. */
int	inbound_process(const char *msg, size_t len, const char *to,
	    const char *client, int64_t now);

/* suppress.c: the suppression list */
struct mproc;
void	suppress_load(void);		/* at start: warn if no file */
void	suppress_file(int fd);		/* the list, opened by ternd */
/* Add (normalised); 1 if new.  Pushed to queued if connected. */
int	suppress_add(const char *addr, const char *why);
/* queued (re)connected (NULL: gone): it gets the whole list. */
void	suppress_queued(struct mproc *q);
size_t	suppress_count(void);
int	suppress_category(const char *bounce_cat);
/* An expiry (4.4.7) whose last reply was a 4xx from the remote. */
int	suppress_expired(const char *dsn_status, const char *diag);
/* CTL_SUPPRESS: a listing (JSON, malloc'd) for SUP_LIST; NULL with *ok
 * and msg set for SUP_ADD/SUP_REMOVE. */
char	*suppress_ctl(uint32_t op, const char *vmta, const char *addr,
	    int *ok, char *msg, size_t msgsz);
void	suppress_shutdown(void);
/* A change from another node of the cluster: file and queued, not Redis. */
void	suppress_apply(int add, const char *vmta, const char *addr,
	    const char *why);
struct suplist;
const struct suplist *suppress_list(void);

/* suppress_redis.c: the list shared through Redis with <cluster> */
struct cfg;
void	supr_configure(const struct cfg *, int started);
void	supr_password(struct msg *);
/* A change made on this node (added or removed, whether or not the local
 * list changed), for the other nodes. */
void	supr_changed(int add, const char *vmta, const char *addr);
void	supr_shutdown(void);

/* acct.c */
void	acct_config(const struct cfg *);
/* `records` of a block as ACCT_* bits (NULL: d,b). */
int	acct_parse_records(const struct cfg_node *);
void	acct_file(const char *path, int fd);
/* Queue the record for every file that wants it. */
void	acct_write(const struct acct_record *);
/* The same for a record bounced made itself (rb, rs, f). */
void	acct_write_ext(const struct acct_record *, const struct acct_extra *);
/* Write out what acct_write() queued; 0 ok, -1 some file failed. */
int	acct_flush(void);
void	acct_shutdown(void);
/* Rotation (move-interval, max-size, tern rotate acct): ternd renames
 * and reopens (BNC_ROTATE); its answer, BNC_ROTATED: */
void	acct_rotated(struct imsg *);
/* CTL_ROTATE: rotate FILE (NULL: all); CTL_RESULT to p/id when done.
 * -1 with err when nothing can be rotated. */
int	acct_rotate_ctl(struct mproc *p, uint32_t id, const char *file,
	    char *err, size_t errsz);
void	acct_rotate_forget(struct mproc *);

#endif
