/*
 * queue_headers.c - message header values for accounting (`header_NAME`
 * columns of record-fields, map-header-to-field).
 *
 * The values are read from the message file in the spool, not captured
 * by smtpd: the file is durable already and is there for as long as the
 * message has a recipient to account for, so nothing new is stored and
 * nothing changes for configurations that name no header.  The header
 * of a message is read once (its first 64 KB, one pread), when its first
 * record is made, and the values the configuration names are kept with
 * the message until it is final.  They go to bounced in each record as
 * "Name: value\n" lines (acct_record.headers), unfolded, control
 * characters made blanks, each value at most 998 bytes, first occurrence
 * of a name only.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "acct_paths.h"
#include "log.h"
#include "sched_int.h"
#include "util.h"

#define HDR_READ	(64 * 1024)	/* where the header must end */
#define HDR_MAXVAL	998
#define HDR_MAXNAMES	32

static const struct cfg	*hdr_cfg;	/* names below are for this one */
static char		*hdr_names[HDR_MAXNAMES];
static size_t		 hdr_n;

static void
hdr_want(const char *tok)
{
	size_t i, len;

	while (isspace((unsigned char)*tok) || *tok == ',')
		tok++;
	if (strncasecmp(tok, "header_", 7) != 0)
		return;
	tok += 7;
	len = strcspn(tok, ", \t");
	if (len == 0 || len > 76)
		return;
	for (i = 0; i < hdr_n; i++)
		if (strncasecmp(hdr_names[i], tok, len) == 0 &&
		    hdr_names[i][len] == '\0')
			return;
	if (hdr_n == HDR_MAXNAMES)
		return;
	if ((hdr_names[hdr_n] = strndup(tok, len)) == NULL)
		fatal("hdr_want");
	hdr_n++;
}

/* Every header_NAME of an <acct-file>'s record-fields and
 * map-header-to-field lines; Message-Id for a log-format-extended %B. */
static void
hdr_names_of_path(const struct acct_path *ap, void *arg)
{
	const struct cfg_node *n;
	const char *p;
	int i;

	if (ap->kind == ACCT_SRC_LOGFMT && strstr(ap->format, "%B") != NULL)
		hdr_want("header_Message-Id");
	if (ap->kind != ACCT_SRC_FILE)
		return;
	for (n = ap->node->child; n != NULL; n = n->next) {
		if (strcmp(n->name, "record-fields") != 0 &&
		    strcmp(n->name, "map-header-to-field") != 0)
			continue;
		for (i = 1; i < n->argc; i++)
			for (p = n->argv[i]; p != NULL; p = strchr(p + 1, ','))
				hdr_want(p);
	}
}

static void
hdr_names_of(const struct cfg *cfg)
{
	while (hdr_n > 0)
		free(hdr_names[--hdr_n]);
	hdr_cfg = cfg;
	acct_paths(cfg, hdr_names_of_path, NULL);
}

/* The value of header `name` in hdr (len bytes), unfolded, into out. */
static int
hdr_value(const char *hdr, size_t len, const char *name, char *out)
{
	size_t nl = strlen(name), o = 0, i;
	const char *p = hdr, *end = hdr + len, *eol;

	while (p < end) {
		eol = memchr(p, '\n', end - p);
		if ((size_t)(end - p) > nl && strncasecmp(p, name, nl) == 0 &&
		    p[nl] == ':') {
			for (p += nl + 1; p < end; p = eol + 1) {
				eol = memchr(p, '\n', end - p);
				if (eol == NULL)
					eol = end;
				/* unfolding drops CRLF, keeps the blank */
				for (i = 0; p + i < eol && o < HDR_MAXVAL; i++)
					if (p[i] != '\r' || p + i + 1 != eol)
						out[o++] = iscntrl(
						    (unsigned char)p[i]) ? ' ' :
						    p[i];
				/* folded: the next line starts with a blank */
				if (eol + 1 >= end || (eol[1] != ' ' &&
				    eol[1] != '\t'))
					break;
			}
			while (o > 0 && out[o - 1] == ' ')
				o--;
			for (i = 0; i < o && out[i] == ' '; i++)
				;
			memmove(out, out + i, o - i);
			out[o - i] = '\0';
			return 1;
		}
		if (eol == NULL)
			break;
		p = eol + 1;
	}
	return 0;
}

static char *
hdr_read(struct qmsg *m)
{
	char *buf, *s, val[HDR_MAXVAL + 1];
	size_t len = 0, hl, sz, o = 0, i, want;
	ssize_t n;
	int fd;

	if ((fd = queue_fs_open(m)) == -1) {
		log_warn("%s: header for accounting", m->env->qid);
		return NULL;
	}
	if ((buf = malloc(HDR_READ)) == NULL)
		fatal("hdr_read");
	want = HDR_READ < m->env->size ? HDR_READ : m->env->size;
	while (len < want && (n = pread(fd, buf + len, want - len,
	    m->env->off + len)) > 0)
		len += n;
	close(fd);
	/* the header ends at the first empty line */
	for (hl = 0; hl < len; hl++)
		if (buf[hl] == '\n' && (hl + 1 == len || buf[hl + 1] == '\n' ||
		    (buf[hl + 1] == '\r' && hl + 2 < len &&
		    buf[hl + 2] == '\n')))
			break;
	sz = hdr_n * (HDR_MAXVAL + 80) + 1;
	if ((s = malloc(sz)) == NULL)
		fatal("hdr_read");
	for (i = 0; i < hdr_n; i++)
		if (hdr_value(buf, hl, hdr_names[i], val))
			o += snprintf(s + o, sz - o, "%s: %s\n",
			    hdr_names[i], val);
	s[o] = '\0';
	free(buf);
	return s;
}

const char *
acct_headers(struct qmsg *m)
{
	if (hdr_cfg != qd->cfg)
		hdr_names_of(qd->cfg);
	if (hdr_n == 0)
		return NULL;
	if (m->acct_hdrs == NULL)
		m->acct_hdrs = hdr_read(m);
	return m->acct_hdrs;
}
