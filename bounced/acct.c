/*
 * acct.c - the accounting files: which record types each one wants (from
 * its <acct-file> block or a seed-style `accounting-log`), rows queued in
 * memory during a loop turn, and written out with one write per file
 * before queued is told they are safe.
 *
 * ternd opens the files (bounced is chrooted and unprivileged) and hands
 * each one over with the path as its block names it; the block is found
 * again by resolving both spellings the same way (ctl_path_resolve).
 */
#include <sys/queue.h>
#include <sys/stat.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "acct_paths.h"
#include "bounced.h"
#include "ctl.h"
#include "daemon.h"
#include "events.h"
#include "log.h"
#include "proto.h"
#include "util.h"

/* What the configuration says about one file. */
struct acct_rule {
	char	 path[PATH_MAX];
	int	 records;		/* ACCT_* */
	int	 sync;
	int64_t	 move_interval;		/* seconds, 0: never */
	uint64_t max_size;		/* bytes, 0: no limit */
	char	*domain;		/* only records for this domain */
	char	*vmta;			/* only records of this VMTA */
	char	*text_fmt;		/* text lines (acct_text.c), not CSV */
	struct acct_layout layout;	/* columns */
};

struct acct_file {
	TAILQ_ENTRY(acct_file)	 entry;
	char			 path[PATH_MAX];
	int			 fd;
	struct acct_rule	 rule;
	struct sbuf		 buf;
	int			 failing;	/* logged the current error */
	int			 matched;	/* a block named it */
	int			 is_pipe;	/* |COMMAND: header once */
	int			 need_header;	/* pipe: not written yet */
	int64_t			 period_start;	/* of move-interval */
	int			 rotating;	/* BNC_ROTATE sent */
	int			 rotreq;	/* acct_rotreqs index + 1 */
};

/* `tern rotate acct` requests waiting for their files. */
#define ACCT_MAX_ROTREQ	8
static struct acct_rotreq {
	struct mproc	*p;		/* mgmtd; NULL: slot free */
	uint32_t	 id;
	int		 left;
	int		 failed;
	char		 err[300];
} acct_rotreqs[ACCT_MAX_ROTREQ];
static uv_timer_t	 acct_timer;
static int		 acct_timer_on;

static void	acct_file_opened(struct acct_file *);
static void	acct_rotate_start(struct acct_file *);

static TAILQ_HEAD(, acct_file)	 acct_files =
    TAILQ_HEAD_INITIALIZER(acct_files);
static struct acct_rule		*acct_rules;
static size_t			 acct_nrules;
static char			*acct_cfgpath;

/* `records d, b` may come as one token or several, commas anywhere. */
int
acct_parse_records(const struct cfg_node *n)
{
	char *s, *p, *tok;
	int i, bits = 0, bit;

	if (n == NULL)
		return ACCT_DEFAULT;
	for (i = 0; i < n->argc; i++) {
		if ((s = p = strdup(n->argv[i])) == NULL)
			fatal("acct_parse_records");
		while ((tok = strsep(&p, ", \t")) != NULL) {
			if (*tok == '\0')
				continue;
			if ((bit = acct_type_bit(tok)) == 0)
				log_warnx("%s:%d: unknown record type \"%s\"",
				    n->file ? n->file : "?", n->line, tok);
			bits |= bit;
		}
		free(s);
	}
	return bits ? bits : ACCT_DEFAULT;
}

/* record-fields, user-string, iso-times, queue-filter of a block. */
static void
acct_rule_layout(struct acct_layout *l, const struct cfg_node *blk,
    int records)
{
	const struct cfg_node *n;
	const char *err, *s;
	char fields[4096];
	int i;

	acct_layout_default(l);
	if (blk == NULL) {
		acct_layout_finish(l, records);
		return;
	}
	for (n = cfg_child(blk, "record-fields"); n != NULL;
	    n = cfg_next_named(n, "record-fields")) {
		fields[0] = '\0';
		for (i = 1; i < n->argc; i++) {
			strlcat(fields, n->argv[i], sizeof(fields));
			strlcat(fields, ",", sizeof(fields));
		}
		if (n->argc < 2 || acct_layout_fields(l, n->argv[0], fields,
		    &err) == -1)
			log_warnx("%s:%d: record-fields: %s",
			    n->file ? n->file : "?", n->line,
			    n->argc < 2 ? "expected TYPE FIELDS" : err);
	}
	for (n = cfg_child(blk, "map-header-to-field"); n != NULL;
	    n = cfg_next_named(n, "map-header-to-field"))
		if (n->argc != 3 || acct_layout_map(l, n->argv[0], n->argv[1],
		    n->argv[2], &err) == -1)
			log_warnx("%s:%d: map-header-to-field: %s",
			    n->file ? n->file : "?", n->line,
			    n->argc != 3 ? "expected TYPE header_NAME FIELD" :
			    err);
	if ((s = cfg_str(blk, "user-string", NULL)) != NULL &&
	    (l->user_string = strdup(s)) == NULL)
		fatal("acct_rule_layout");
	if ((s = cfg_str(blk, "queue-filter", NULL)) != NULL &&
	    (l->queue_filter = strdup(s)) == NULL)
		fatal("acct_rule_layout");
	l->iso_times = cfg_bool(blk, "iso-times", 1);
	acct_layout_finish(l, records);
}

static struct acct_rule *
acct_rule_add(const struct cfg *cfg, const char *path, int records,
    int sync, const char *domain, const struct cfg_node *blk)
{
	struct acct_rule *r;

	if ((r = reallocarray(acct_rules, acct_nrules + 1, sizeof(*r))) ==
	    NULL)
		fatal("acct_rule_add");
	acct_rules = r;
	r = &acct_rules[acct_nrules];
	memset(r, 0, sizeof(*r));
	if (path[0] == '|')		/* a pipe: ternd passes it as written */
		strlcpy(r->path, path, sizeof(r->path));
	else if (ctl_path_resolve(cfg->path, path, r->path, sizeof(r->path))
	    == NULL) {
		log_warnx("accounting file path too long: %s", path);
		return NULL;
	}
	r->records = records;
	r->sync = sync;
	acct_rule_layout(&r->layout, blk, records);
	r->domain = xstrdup(domain);
	acct_nrules++;
	return r;
}

/* The columns of bounce-category-log: who bounced, why, where. */
#define ACCT_BCAT_FIELDS \
	"timeLogged,orig,rcpt,bounceCat,dsnStatus,dsnDiag,dsnMta,vmta,queue"
/* log-domain lines */
#define ACCT_DOMAIN_FMT	"%t %s %r %e %p %m %D"

/* One file of the configuration (common/acct_paths.c). */
static void
acct_rule_of(const struct acct_path *p, void *arg)
{
	const struct cfg *cfg = arg;
	struct acct_rule *r = NULL;
	const char *err;
	int bits;

	switch (p->kind) {
	case ACCT_SRC_FILE:
		if ((r = acct_rule_add(cfg, p->written, acct_parse_records(
		    cfg_child(p->node, "records")), cfg_bool(p->node, "sync",
		    0), NULL, p->node)) == NULL)
			return;
		/* PowerMTA's defaults: every day, or at 250 MB. */
		r->move_interval = cfg_time(p->node, "move-interval", 86400);
		r->max_size = cfg_size(p->node, "max-size",
		    250 * 1024 * 1024);
		break;
	case ACCT_SRC_ACCLOG:
		r = acct_rule_add(cfg, p->written, ACCT_DEFAULT, 0, p->domain,
		    NULL);
		break;
	case ACCT_SRC_BOUNCELOG:
	case ACCT_SRC_BCATLOG:
		bits = ACCT_B | ACCT_RB;
		if ((r = acct_rule_add(cfg, p->written, bits, 0, p->domain,
		    NULL)) == NULL || p->kind == ACCT_SRC_BOUNCELOG)
			break;
		acct_layout_free(&r->layout);
		acct_layout_default(&r->layout);
		if (acct_layout_fields(&r->layout, "b", ACCT_BCAT_FIELDS,
		    &err) == -1 || acct_layout_fields(&r->layout, "rb",
		    ACCT_BCAT_FIELDS, &err) == -1)
			fatalx("bounce-category-log: %s", err);
		acct_layout_finish(&r->layout, bits);
		break;
	case ACCT_SRC_LOGFMT:
	case ACCT_SRC_LOGDOMAIN:
		if ((r = acct_rule_add(cfg, p->written, ACCT_D | ACCT_B |
		    ACCT_T, 0, p->domain, NULL)) != NULL)
			r->text_fmt = xstrdup(p->kind == ACCT_SRC_LOGFMT ?
			    p->format : ACCT_DOMAIN_FMT);
		break;
	}
	if (r != NULL)
		r->vmta = xstrdup(p->vmta);
}

static void
acct_rules_clear(void)
{
	size_t i;

	for (i = 0; i < acct_nrules; i++) {
		free(acct_rules[i].domain);
		free(acct_rules[i].vmta);
		free(acct_rules[i].text_fmt);
		acct_layout_free(&acct_rules[i].layout);
	}
	free(acct_rules);
	acct_rules = NULL;
	acct_nrules = 0;
}

static const struct acct_rule *
acct_rule_find(const char *path)
{
	char abs[PATH_MAX];
	size_t i;

	if (path[0] == '|')
		strlcpy(abs, path, sizeof(abs));
	else if (ctl_path_resolve(acct_cfgpath, path, abs, sizeof(abs)) ==
	    NULL)
		return NULL;
	for (i = 0; i < acct_nrules; i++)
		if (strcmp(acct_rules[i].path, abs) == 0)
			return &acct_rules[i];
	return NULL;
}

static void
acct_file_close(struct acct_file *f)
{
	TAILQ_REMOVE(&acct_files, f, entry);
	close(f->fd);
	sb_free(&f->buf);
	free(f->rule.domain);
	free(f->rule.vmta);
	free(f->rule.text_fmt);
	acct_layout_free(&f->rule.layout);
	free(f);
}

/* Give f the settings of its block; 0 if the config has none. */
static int
acct_file_apply(struct acct_file *f)
{
	const struct acct_rule *r;

	free(f->rule.domain);
	free(f->rule.vmta);
	free(f->rule.text_fmt);
	acct_layout_free(&f->rule.layout);
	memset(&f->rule, 0, sizeof(f->rule));
	if ((r = acct_rule_find(f->path)) == NULL) {
		f->rule.records = ACCT_DEFAULT;
		acct_layout_default(&f->rule.layout);
		acct_layout_finish(&f->rule.layout, ACCT_DEFAULT);
		return 0;
	}
	f->matched = 1;
	f->rule = *r;
	acct_layout_copy(&f->rule.layout, &r->layout);
	f->rule.domain = xstrdup(r->domain);
	f->rule.vmta = xstrdup(r->vmta);
	f->rule.text_fmt = xstrdup(r->text_fmt);
	return 1;
}

void
acct_config(const struct cfg *cfg)
{
	struct acct_file *f, *tmp;

	acct_rules_clear();
	free(acct_cfgpath);
	acct_cfgpath = cfg->path ? strdup(cfg->path) : NULL;
	acct_paths(cfg, acct_rule_of, (void *)cfg);
	/* Files the new config no longer names are closed; one that never
	 * matched a block stays (ternd opened it, so it is configured). */
	acct_flush();
	TAILQ_FOREACH_SAFE(f, &acct_files, entry, tmp)
		if (!acct_file_apply(f) && f->matched) {
			log_info("accounting file %s no longer configured",
			    f->path);
			acct_file_close(f);
		}
}

void
acct_file(const char *path, int fd)
{
	struct acct_file *f;

	TAILQ_FOREACH(f, &acct_files, entry)
		if (strcmp(f->path, path) == 0)
			break;
	if (f != NULL) {
		/* Reopened by ternd (reload, rotation): switch over. */
		acct_flush();
		close(f->fd);
		f->fd = fd;
		f->failing = 0;
	} else {
		if ((f = calloc(1, sizeof(*f))) == NULL)
			fatal("acct_file");
		strlcpy(f->path, path, sizeof(f->path));
		f->fd = fd;
		TAILQ_INSERT_TAIL(&acct_files, f, entry);
	}
	acct_file_opened(f);
	if (!acct_file_apply(f))
		log_warnx("accounting file %s matches no <acct-file> block, "
		    "writing records d,b", path);
	log_debug("accounting file %s: records 0x%x%s%s", path,
	    f->rule.records, f->rule.domain ? " for domain " : "",
	    f->rule.domain ? f->rule.domain : "");
}

/* "example.com", "*.example.com" or "*" against a domain. */
static int
acct_domain_match(const char *pat, const char *domain)
{
	size_t lp, ld;

	if (strcmp(pat, "*") == 0)
		return 1;
	if (strncmp(pat, "*.", 2) == 0) {
		lp = strlen(pat + 1);
		ld = strlen(domain);
		return ld > lp && strcasecmp(domain + ld - lp, pat + 1) == 0;
	}
	return strcasecmp(pat, domain) == 0;
}

static int
acct_wants(const struct acct_file *f, const struct acct_record *a, int bit)
{
	char dom[256];
	size_t len;

	if ((f->rule.records & bit) == 0)
		return 0;
	if (f->rule.vmta != NULL && (a->vmta == NULL ||
	    strcasecmp(f->rule.vmta, a->vmta) != 0))
		return 0;
	/* queue-filter: d, b, t and tq only (PowerMTA). */
	if ((bit & (ACCT_D | ACCT_B | ACCT_T | ACCT_TQ)) &&
	    !acct_layout_queue_ok(&f->rule.layout, a->queue))
		return 0;
	if (f->rule.domain == NULL)
		return 1;
	if (a->rcpt != NULL)
		addr_domain(a->rcpt, dom, sizeof(dom));
	else if (a->queue != NULL) {
		len = strcspn(a->queue, "/");
		if (len >= sizeof(dom))
			len = sizeof(dom) - 1;
		memcpy(dom, a->queue, len);
		dom[len] = '\0';
	} else
		return 0;
	return acct_domain_match(f->rule.domain, dom);
}

void
acct_write(const struct acct_record *a)
{
	acct_write_ext(a, NULL);
}

void
acct_write_ext(const struct acct_record *a, const struct acct_extra *x)
{
	struct acct_file *f;
	int bit = acct_type_bit(a->type);

	events_write(a, x);		/* RabbitMQ, webhooks (events.c) */
	TAILQ_FOREACH(f, &acct_files, entry) {
		if (!acct_wants(f, a, bit))
			continue;
		if (f->rule.text_fmt != NULL)
			acct_text_line(&f->buf, f->rule.text_fmt, a);
		else
			acct_layout_row(&f->rule.layout, &f->buf, a, x);
	}
}

/* --- rotation (ternd renames and reopens: ternd/acct_files.c) --- */

static void	acct_tick(uv_timer_t *);

/* A new descriptor for f: where move-interval counts from, and whether
 * it is a pipe (no size, no rotation, a header once). */
static void
acct_file_opened(struct acct_file *f)
{
	struct stat st;
	int64_t now = time(NULL);

	f->is_pipe = f->path[0] == '|' || (fstat(f->fd, &st) == 0 &&
	    S_ISFIFO(st.st_mode));
	f->need_header = f->is_pipe;
	/* A file written before a restart counts from its last write. */
	f->period_start = !f->is_pipe && fstat(f->fd, &st) == 0 &&
	    st.st_size > 0 ? st.st_mtime : now;
	if (!acct_timer_on) {
		uv_timer_init(daemon_loop(), &acct_timer);
		uv_timer_start(&acct_timer, acct_tick, 1000, 1000);
		uv_unref((uv_handle_t *)&acct_timer);
		acct_timer_on = 1;
	}
}

/* Ask ternd to rotate f; rows still buffered are written first. */
static void
acct_rotate_start(struct acct_file *f)
{
	struct mproc *p = daemon_parent();

	if (f->rotating || f->is_pipe || p == NULL)
		return;
	f->rotating = 1;
	m_create(p, BNC_ROTATE, 0, -1);
	m_add_string(p, f->path);
	m_close(p);
}

/* move-interval: the period (aligned on the epoch, UTC midnight for 1d)
 * of the file's first row is over. */
static void
acct_tick(uv_timer_t *h)
{
	struct acct_file *f;
	int64_t now = time(NULL), iv;

	TAILQ_FOREACH(f, &acct_files, entry) {
		iv = f->rule.move_interval;
		if (iv <= 0 || iv == INT64_MAX || f->is_pipe || f->rotating)
			continue;
		if (now / iv != f->period_start / iv) {
			acct_flush();
			acct_rotate_start(f);
		}
	}
}

static void
acct_rotreq_done(struct acct_file *f, int ok, const char *err)
{
	struct acct_rotreq *q;

	if (f->rotreq == 0)
		return;
	q = &acct_rotreqs[f->rotreq - 1];
	f->rotreq = 0;
	if (!ok) {
		q->failed = 1;
		strlcpy(q->err, err ? err : "failed", sizeof(q->err));
	}
	if (--q->left > 0 || q->p == NULL)
		return;
	m_create(q->p, CTL_RESULT, q->id, -1);
	m_add_u32(q->p, !q->failed);
	m_add_string(q->p, q->failed ? q->err : "Accounting file rotated.");
	m_close(q->p);
	q->p = NULL;
}

void
acct_rotated(struct imsg *imsg)
{
	const char *path, *moved, *err;
	struct acct_file *f;
	struct msg m;
	uint32_t ok;

	m_msg(&m, imsg);
	m_get_u32(&m, &ok);
	m_get_string(&m, &path);
	m_get_string(&m, &moved);
	m_get_string(&m, &err);
	m_end(&m);
	TAILQ_FOREACH(f, &acct_files, entry)
		if (path != NULL && strcmp(f->path, path) == 0)
			break;
	if (f == NULL) {
		if (imsg->fd != -1)
			close(imsg->fd);
		return;
	}
	f->rotating = 0;
	if (ok && imsg->fd != -1) {
		/* flushes what came meanwhile into the old (renamed) file */
		acct_file(f->path, imsg->fd);
		log_info("accounting file %s rotated to %s", f->path,
		    moved ? moved : "?");
	} else {
		/* try again in the next period, not every second */
		f->period_start = time(NULL);
		log_warnx("accounting file %s not rotated: %s", f->path,
		    err ? err : "?");
	}
	acct_rotreq_done(f, ok && imsg->fd != -1, err);
}

/* `tern rotate acct [FILE]`: FILE as the config names it, or its full
 * path; NULL: every file. */
int
acct_rotate_ctl(struct mproc *p, uint32_t id, const char *file,
    char *err, size_t errsz)
{
	struct acct_file *f;
	struct acct_rotreq *q = NULL;
	char abs[PATH_MAX];
	int i, n = 0;

	if (file != NULL && file[0] != '|' &&
	    ctl_path_resolve(acct_cfgpath, file, abs, sizeof(abs)) == NULL)
		strlcpy(abs, file, sizeof(abs));
	else if (file != NULL)
		strlcpy(abs, file, sizeof(abs));
	for (i = 0; i < ACCT_MAX_ROTREQ && q == NULL; i++)
		if (acct_rotreqs[i].p == NULL)
			q = &acct_rotreqs[i];
	if (q == NULL) {
		snprintf(err, errsz, "too many rotations under way");
		return -1;
	}
	memset(q, 0, sizeof(*q));
	acct_flush();
	TAILQ_FOREACH(f, &acct_files, entry) {
		if (f->is_pipe || (file != NULL && strcmp(f->path, abs) != 0))
			continue;
		if (f->rotreq != 0)	/* another request waits on it */
			continue;
		acct_rotate_start(f);
		if (!f->rotating)
			continue;
		f->rotreq = q - acct_rotreqs + 1;
		n++;
	}
	if (n == 0) {
		snprintf(err, errsz, file ? "no accounting file %s" :
		    "no accounting file to rotate", file ? file : "");
		return -1;
	}
	q->p = p;
	q->id = id;
	q->left = n;
	return 0;
}

/* mgmtd went away: nobody to answer. */
void
acct_rotate_forget(struct mproc *p)
{
	int i;

	for (i = 0; i < ACCT_MAX_ROTREQ; i++)
		if (acct_rotreqs[i].p == p)
			acct_rotreqs[i].p = NULL;
}

static int
acct_file_flush(struct acct_file *f)
{
	struct sbuf hdr = { 0 };
	struct stat st;
	size_t hlen = 0;
	int r;

	/* An empty file (new, or truncated by log rotation) starts with
	 * the header line, as PowerMTA's files do; text logs
	 * (log-format-extended, log-domain) have none. */
	r = fstat(f->fd, &st) == -1;
	if (!r && f->rule.text_fmt == NULL &&
	    (f->is_pipe ? f->need_header : st.st_size == 0)) {
		acct_layout_header(&f->rule.layout, &hdr);
		hlen = hdr.len;
		r = write_all(f->fd, hdr.s, hdr.len) == -1;
		sb_free(&hdr);
	}
	if (!r)
		f->need_header = 0;
	if (r ||
	    write_all(f->fd, f->buf.s, f->buf.len) == -1 ||
	    (f->rule.sync && fdatasync(f->fd) == -1)) {
		if (!f->failing)
			log_warn("accounting file %s", f->path);
		f->failing = 1;
		return -1;
	}
	if (f->failing)
		log_info("accounting file %s writable again", f->path);
	f->failing = 0;
	if (f->rule.max_size > 0 && (uint64_t)st.st_size + hlen +
	    f->buf.len >= f->rule.max_size)
		acct_rotate_start(f);
	return 0;
}

int
acct_flush(void)
{
	struct acct_file *f;
	int ret = 0;

	TAILQ_FOREACH(f, &acct_files, entry) {
		if (f->buf.len == 0)
			continue;
		if (acct_file_flush(f) == -1)
			ret = -1;
		/* Records that could not be written are lost: keeping them
		 * would only grow memory while the disk is full. */
		sb_reset(&f->buf);
	}
	events_flush();
	return ret;
}

void
acct_shutdown(void)
{
	struct acct_file *f;

	if (acct_timer_on) {
		uv_timer_stop(&acct_timer);
		acct_timer_on = 0;
	}
	acct_flush();
	while ((f = TAILQ_FIRST(&acct_files)) != NULL)
		acct_file_close(f);
	acct_rules_clear();
	free(acct_cfgpath);
	acct_cfgpath = NULL;
}
