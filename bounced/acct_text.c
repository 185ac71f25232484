/*
 * acct_text.c - a record as one text line, for the seeds'
 * `log-format-extended "FILE" "%ts %d %r %s %S %T %p %b %B"` and for
 * log-domain files.  Every token (docs/accounting.md):
 *
 *	%t  time logged, "2026-11-23 19:30:05+0000"
 *	%ts time logged, seconds since 1970
 *	%d  recipient's domain		%r  recipient
 *	%o  envelope sender		%s  delivered, bounced, deferred
 *	%e  enhanced status, 5.1.1	%D  the remote's reply
 *	%S  size in bytes (d)		%T  seconds since it was queued
 *	%p  remote host's IP		%P  our source IP
 *	%m  remote MTA "name (ip)"	%b  bounce category (b, t)
 *	%B  Message-ID header		%v  VMTA
 *	%j  job id			%q  queue (domain/vmta)
 *	%i  queue id			%%  a %
 *
 * An empty value is "-"; a value with blanks is put in double quotes
 * (a quote inside becomes '), so a line splits on blanks.  Lines end
 * with "\n".  Unknown %x are copied as they are.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounced.h"

static const char *
text_outcome(const char *type)
{
	switch (acct_type_bit(type)) {
	case ACCT_D:
		return "delivered";
	case ACCT_B:
	case ACCT_RB:
		return "bounced";
	case ACCT_T:
	case ACCT_TQ:
		return "deferred";
	case ACCT_F:
		return "complaint";
	}
	return type;
}

static void
text_value(struct sbuf *b, const char *v)
{
	const char *p;

	if (v == NULL || *v == '\0') {
		sb_add(b, "-", 1);
		return;
	}
	if (strpbrk(v, " \t") == NULL) {
		sb_str(b, v);
		return;
	}
	sb_add(b, "\"", 1);
	for (p = v; *p; p++)
		sb_add(b, *p == '"' ? "'" : p, 1);
	sb_add(b, "\"", 1);
}

/* "Message-Id: <x>\n" lines (queued/queue_headers.c) -> "<x>" */
static char *
text_msgid(const char *headers)
{
	const char *p;
	size_t vl;

	for (p = headers; p != NULL && *p != '\0'; p += vl + 1) {
		vl = strcspn(p, "\n");
		if (vl > 12 && strncasecmp(p, "Message-Id: ", 12) == 0)
			return strndup(p + 12, vl - 12);
		if (p[vl] == '\0')
			break;
	}
	return NULL;
}

void
acct_text_line(struct sbuf *b, const char *fmt,
    const struct acct_record *a)
{
	char *col[ACCT_NCOLS], num[32], dom[256], diag[1024], *v;
	const char *p, *s;
	int i;

	acct_csv_cols(a, NULL, 1, col);
	for (p = fmt; *p != '\0'; p++) {
		if (*p != '%' || p[1] == '\0') {
			sb_add(b, p, 1);
			continue;
		}
		p++;
		v = NULL;
		s = NULL;
		switch (*p) {
		case 't':
			if (p[1] == 's') {
				p++;
				snprintf(num, sizeof(num), "%" PRId64,
				    a->time_logged);
				s = num;
			} else
				s = col[C_TIMELOGGED];
			break;
		case 'd':
			s = a->rcpt ? addr_domain(a->rcpt, dom, sizeof(dom)) :
			    NULL;
			break;
		case 'r': s = col[C_RCPT]; break;
		case 'o': s = col[C_ORIG]; break;
		case 's': s = text_outcome(a->type); break;
		case 'e': s = a->dsn_status; break;
		case 'D':
			s = col[C_DSNDIAG] && strncmp(col[C_DSNDIAG], "smtp;",
			    5) == 0 ? col[C_DSNDIAG] + 5 : col[C_DSNDIAG];
			if (s != NULL) {
				strlcpy(diag, s, sizeof(diag));
				s = diag;
			}
			break;
		case 'S': s = col[C_DLVSIZE]; break;
		case 'T': s = col[C_TOTALSECS]; break;
		case 'p': s = col[C_DLVDSTIP]; break;
		case 'P': s = col[C_DLVSRCIP]; break;
		case 'm': s = col[C_DSNMTA]; break;
		case 'b': s = col[C_BOUNCECAT]; break;
		case 'B': s = v = text_msgid(a->headers); break;
		case 'v': s = col[C_VMTA]; break;
		case 'j': s = col[C_JOBID]; break;
		case 'q': s = col[C_QUEUE]; break;
		case 'i': s = a->qid; break;
		case '%':
			sb_add(b, "%", 1);
			continue;
		default:
			sb_add(b, p - 1, 2);
			continue;
		}
		text_value(b, s);
		free(v);
	}
	sb_add(b, "\n", 1);
	for (i = 0; i < ACCT_NCOLS; i++)
		free(col[i]);
}
