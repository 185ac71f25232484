/*
 * acct_csv.c - an accounting record as one row of PowerMTA's CSV: RFC 4180
 * quoting, CRLF line ends, ISO times with a numeric UTC offset, dsnStatus
 * with its text, dsnDiag with its "smtp;" type, bounceCat for failures.
 *
 * Every file gets the same columns (the union PowerMTA uses for d, b and
 * t records); a record leaves empty what it does not have, so that tools
 * driven by the header line read any mix of record types.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "bounced.h"
#include "log.h"

static const char *acct_col_names[ACCT_NCOLS] = {
	"type", "timeLogged", "timeQueued", "orig", "rcpt", "orcpt",
	"dsnAction", "dsnStatus", "dsnDiag", "dsnMta", "bounceCat", "srcType",
	"srcMta", "dlvType", "dlvSourceIp", "dlvDestinationIp",
	"dlvEsmtpAvailable", "dlvSize", "vmta", "jobId", "envId", "queue",
	"vmtaPool", "totalSecondsQueued", "dlvTlsProtocol", "dlvTlsCipher",
	"rcvSmtpUser", "dsnReportingMta", "format", "feedbackType",
	"userAgent", "reportedDomain", "repSourceIp",
};

static char	 acct_header[1024];

const char *
acct_col_name(int col)
{
	return col >= 0 && col < ACCT_NCOLS ? acct_col_names[col] : NULL;
}

int
acct_col_find(const char *name)
{
	int i;

	for (i = 0; i < ACCT_NCOLS; i++)
		if (strcasecmp(acct_col_names[i], name) == 0)
			return i;
	return -1;
}

const char *
acct_csv_header(void)
{
	int i;

	if (acct_header[0] == '\0') {
		for (i = 0; i < ACCT_NCLASSIC; i++) {
			if (i > 0)
				strlcat(acct_header, ",", sizeof(acct_header));
			strlcat(acct_header, acct_col_names[i],
			    sizeof(acct_header));
		}
		strlcat(acct_header, "\r\n", sizeof(acct_header));
	}
	return acct_header;
}

void
acct_csv_field(struct sbuf *b, const char *s)
{
	const char *q;

	if (s == NULL || *s == '\0')
		return;
	if (strpbrk(s, ",\"\r\n") == NULL) {
		sb_str(b, s);
		return;
	}
	sb_add(b, "\"", 1);
	while ((q = strchr(s, '"')) != NULL) {
		sb_add(b, s, q - s + 1);
		sb_add(b, "\"", 1);
		s = q + 1;
	}
	sb_str(b, s);
	sb_add(b, "\"", 1);
}

const char *
acct_csv_time(int64_t t, char *buf, size_t bufsz)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (bufsz)
		buf[0] = '\0';
	if (t <= 0 || gmtime_r(&tt, &tm) == NULL)
		return buf;
	/* Always UTC: the daemons run chrooted without the zone files,
	 * and "+0000" keeps rows of several hosts comparable. */
	strftime(buf, bufsz, "%Y-%m-%d %H:%M:%S+0000", &tm);
	return buf;
}

const char *
acct_csv_diag(const char *diag, char *buf, size_t bufsz)
{
	if (diag == NULL || *diag == '\0') {
		if (bufsz)
			buf[0] = '\0';
		return buf;
	}
	if (strncasecmp(diag, "smtp;", 5) == 0)
		strlcpy(buf, diag, bufsz);
	else
		snprintf(buf, bufsz, "smtp;%s", diag);
	return buf;
}

/*
 * Remote replies and addresses may carry control characters (multi-line
 * replies joined with CRLF); tools split accounting files on lines, so
 * those become blanks even though RFC 4180 would allow quoted newlines.
 */
static char *
acct_clean(const char *s)
{
	char *d, *p;

	if (s == NULL || *s == '\0')
		return NULL;
	if ((d = strdup(s)) == NULL)
		fatal("acct_clean");
	for (p = d; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return d;
}

int
acct_type_bit(const char *type)
{
	static const struct {
		const char	*s, *l;
		int		 bit;
	} types[] = {
		{ "d", "delivery", ACCT_D },
		{ "b", "bounce", ACCT_B },
		{ "t", "transient", ACCT_T },
		{ "tq", "transient-queue", ACCT_TQ },
		{ "r", "receipt", ACCT_R },
		{ "f", "feedback-loop", ACCT_F },
		{ "rb", "remote-bounce", ACCT_RB },
		{ "rs", "remote-status", ACCT_RS },
	};
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcasecmp(type, types[i].s) == 0 ||
		    strcasecmp(type, types[i].l) == 0)
			return types[i].bit;
	return 0;
}

static int
acct_is_failure(const char *type)
{
	return strcmp(type, "b") == 0 || strcmp(type, "t") == 0 ||
	    strcmp(type, "rb") == 0;
}

/* A time as ISO text or, with iso-times no, as seconds since 1970. */
static char *
acct_time_col(int64_t t, int iso)
{
	char buf[64];

	if (!iso) {
		if (t <= 0)
			return NULL;
		snprintf(buf, sizeof(buf), "%" PRId64, t);
		return strdup(buf);
	}
	return strdup(acct_csv_time(t, buf, sizeof(buf)));
}

/* The computed columns; the others are copied from the record. */
static void
acct_csv_computed(const struct acct_record *a, char **col, int iso)
{
	char buf[2048];
	int bits = acct_type_bit(a->type);

	col[C_TIMELOGGED] = acct_time_col(a->time_logged, iso);
	col[C_TIMEQUEUED] = acct_time_col(a->time_queued, iso);
	col[C_DSNSTATUS] = strdup(dsn_status_text(a->dsn_status, buf,
	    sizeof(buf)));
	col[C_DSNDIAG] = acct_clean(acct_csv_diag(a->dsn_diag, buf,
	    sizeof(buf)));
	if (acct_is_failure(a->type))
		col[C_BOUNCECAT] = strdup(bounce_classify(a->dsn_status,
		    a->dsn_diag));
	if ((bits & ACCT_D) && a->dlv_size > 0) {
		snprintf(buf, sizeof(buf), "%" PRIu64, a->dlv_size);
		col[C_DLVSIZE] = strdup(buf);
	}
	if ((bits & (ACCT_D | ACCT_B | ACCT_T)) && a->time_queued > 0 &&
	    a->time_logged >= a->time_queued) {
		snprintf(buf, sizeof(buf), "%" PRId64,
		    a->time_logged - a->time_queued);
		col[C_TOTALSECS] = strdup(buf);
	}
}

void
acct_csv_cols(const struct acct_record *a, const struct acct_extra *x,
    int iso, char **col)
{
	memset(col, 0, sizeof(char *) * ACCT_NCOLS);
	if (x != NULL) {
		col[C_DSNREPMTA] = acct_clean(x->reporting_mta);
		col[C_FORMAT] = acct_clean(x->format);
		col[C_FEEDBACKTYPE] = acct_clean(x->feedback_type);
		col[C_USERAGENT] = acct_clean(x->user_agent);
		col[C_REPORTEDDOMAIN] = acct_clean(x->reported_domain);
		col[C_REPSOURCEIP] = acct_clean(x->rep_source_ip);
	}
	col[C_TYPE] = acct_clean(a->type);
	col[C_ORIG] = acct_clean(a->orig);
	col[C_RCPT] = acct_clean(a->rcpt);
	col[C_ORCPT] = acct_clean(a->orcpt);
	col[C_DSNACTION] = acct_clean(a->dsn_action);
	col[C_DSNMTA] = acct_clean(a->dsn_mta);
	col[C_SRCTYPE] = acct_clean(a->src_type);
	col[C_SRCMTA] = acct_clean(a->src_mta);
	col[C_DLVTYPE] = acct_clean(a->dlv_type);
	col[C_DLVSRCIP] = acct_clean(a->dlv_src_ip);
	col[C_DLVDSTIP] = acct_clean(a->dlv_dst_ip);
	col[C_DLVESMTP] = acct_clean(a->dlv_esmtp);
	col[C_VMTA] = acct_clean(a->vmta);
	col[C_JOBID] = acct_clean(a->jobid);
	col[C_ENVID] = acct_clean(a->envid);
	col[C_QUEUE] = acct_clean(a->queue);
	col[C_TLSPROTO] = acct_clean(a->tls_proto);
	col[C_TLSCIPHER] = acct_clean(a->tls_cipher);
	col[C_RCVSMTPUSER] = acct_clean(a->auth_user);
	acct_csv_computed(a, col, iso);
}

void
acct_csv_row(struct sbuf *b, const struct acct_record *a)
{
	char *col[ACCT_NCOLS];
	int i;

	acct_csv_cols(a, NULL, 1, col);
	for (i = 0; i < ACCT_NCLASSIC; i++) {
		if (i > 0)
			sb_add(b, ",", 1);
		acct_csv_field(b, col[i]);
		free(col[i]);
	}
	sb_add(b, "\r\n", 2);
}
