/*
 * suppress.c - the suppression list: addresses that are known dead or
 * that complained, so that Tern stops mailing them.
 *
 * An address is added (globally) when a `b` or `rb` row says
 * bad-mailbox, inactive-mailbox or bad-domain, when its soft bounces went
 * on past bounce-after (suppress_expired), and when a feedback report
 * (`f` row) names it; the operator adds and removes addresses, globally
 * or for one VMTA, with `tern suppression add|remove [--vmta V] ADDR`.
 *
 * The list is kept in bounced's directory (the accounting directory) as
 * "suppression.list", a log of changes appended as they happen and read
 * back at start (the format and the set: common/suplist.c, the one
 * reader).  bounced pushes every change to queued (BNC_SUPPRESS), which
 * refuses to deliver to a suppressed recipient (queued/queue_suppress.c)
 * and tells smtpd, which refuses it at RCPT when the <source> says so.
 * With <cluster>, the list is shared by every node through Redis
 * (suppress_redis.c).
 */
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "bounced.h"
#include "log.h"
#include "proto.h"
#include "suplist.h"
#include "util.h"

#define SUPPRESS_FILE	"suppression.list"

static struct suplist	*sups;
static int		 sup_fd = -1;
static struct mproc	*sup_q;		/* queued, when connected */

static struct suplist *
sup_list(void)
{
	if (sups == NULL)
		sups = suplist_new();
	return sups;
}

/* ternd opened the list for us (we cannot create files in our chroot):
 * read what it holds, then append to it. */
void
suppress_file(int fd)
{
	char line[SUPLIST_MAXLINE + 2];
	FILE *fp;
	int dfd, lineno = 0;

	if (sup_fd != -1)
		close(sup_fd);
	sup_fd = fd;
	if ((dfd = dup(fd)) == -1 || lseek(dfd, 0, SEEK_SET) == -1 ||
	    (fp = fdopen(dfd, "r")) == NULL) {
		log_warn("%s", SUPPRESS_FILE);
		if (dfd != -1)
			close(dfd);
		return;
	}
	while (fgets(line, sizeof(line), fp) != NULL)
		if (suplist_apply_line(sup_list(), line) == -1)
			log_warnx("%s:%d: not an address line, skipped",
			    SUPPRESS_FILE, ++lineno);
		else
			lineno++;
	fclose(fp);
	log_debug("suppression list: %zu entries", suplist_count(sup_list()));
}

void
suppress_load(void)
{
	if (sup_fd == -1)
		log_warnx("no %s from ternd: suppressions are kept in memory "
		    "only", SUPPRESS_FILE);
}

/* Record one change: the file first (so that a change queued acted on
 * is never lost at restart), then queued; a change made here also goes
 * to the other nodes of a <cluster> (suppress_redis.c). */
static int
sup_change(int add, const char *vmta, const char *addr, const char *why,
    int here)
{
	char a[SUPLIST_MAXLINE], line[SUPLIST_MAXLINE * 2];
	int n, r;

	if (suplist_norm(addr, a, sizeof(a)) == NULL)
		return -1;
	r = add ? suplist_add(sup_list(), vmta, a) :
	    suplist_remove(sup_list(), vmta, a);
	if (here && r != -1)
		supr_changed(add, vmta, a);
	if (r != 1)
		return r;
	if (sup_fd != -1 && ((n = suplist_format_line(line, sizeof(line),
	    add, vmta, a)) == -1 || write_all(sup_fd, line, n) == -1))
		log_warn("%s", SUPPRESS_FILE);
	log_info("<%s> %s%s%s (%s)", a, add ? "suppressed" : "unsuppressed",
	    vmta && *vmta ? " for VMTA " : "", vmta && *vmta ? vmta : "",
	    why);
	suplist_send(sup_q, add, vmta, a);
	return 1;
}

int
suppress_add(const char *addr, const char *why)
{
	return sup_change(1, NULL, addr, why, 1) == 1;
}

/* A change another node made (suppress_redis.c). */
void
suppress_apply(int add, const char *vmta, const char *addr, const char *why)
{
	sup_change(add, vmta, addr, why, 0);
}

const struct suplist *
suppress_list(void)
{
	return sup_list();
}

void
suppress_queued(struct mproc *q)
{
	sup_q = q;
	if (q == NULL)
		return;		/* queued is gone */
	suplist_send_all(sup_list(), q);
	m_compose(q, BNC_SUPPRESS_DONE, 0, -1, NULL, 0);
}

size_t
suppress_count(void)
{
	return suplist_count(sup_list());
}

/* Whether a failure of this category means the address is dead. */
int
suppress_category(const char *cat)
{
	return cat != NULL && (strcmp(cat, "bad-mailbox") == 0 ||
	    strcmp(cat, "inactive-mailbox") == 0 ||
	    strcmp(cat, "bad-domain") == 0);
}

/*
 * Soft bounces that went on past bounce-after (PowerMTA's
 * permanent-bounce-after): the recipient expired (4.4.7) and the last
 * thing its server said was a 4xx reply about it.  An expiry after
 * connection failures (the whole domain unreachable) says nothing about
 * the address and does not count.
 */
int
suppress_expired(const char *status, const char *diag)
{
	if (status == NULL || strcmp(status, "4.4.7") != 0 || diag == NULL)
		return 0;
	if (strncmp(diag, "smtp;", 5) == 0)
		diag += 5;
	return diag[0] == '4' && isdigit((unsigned char)diag[1]) &&
	    isdigit((unsigned char)diag[2]) && (diag[3] == ' ' ||
	    diag[3] == '-');
}

struct sup_listing {
	json_t		*arr;
	const char	*vmta;		/* only this scope; NULL: all */
	const char	*addr;		/* only this address; NULL: all */
};

static void
sup_list_one(const char *vmta, const char *addr, void *arg)
{
	struct sup_listing *l = arg;

	if ((l->vmta != NULL && strcmp(l->vmta, vmta) != 0) ||
	    (l->addr != NULL && strcmp(l->addr, addr) != 0))
		return;
	json_array_append_new(l->arr, json_pack("{s:s,s:s}", "address",
	    addr, "vmta", *vmta ? vmta : "*"));
}

/* CTL_SUPPRESS (tern suppression list|add|remove): the reply's JSON, or
 * NULL with *ok/msg for add and remove. */
char *
suppress_ctl(uint32_t op, const char *vmta, const char *addr, int *ok,
    char *msg, size_t msgsz)
{
	struct sup_listing l;
	char a[SUPLIST_MAXLINE], *s;
	int r;

	*ok = 0;
	if (op == SUP_LIST) {
		l.arr = json_array();
		l.vmta = vmta;
		l.addr = addr != NULL ? suplist_norm(addr, a, sizeof(a)) :
		    NULL;
		if (addr != NULL && l.addr == NULL)
			l.addr = addr;	/* matches nothing */
		suplist_foreach(sup_list(), sup_list_one, &l);
		s = json_dumps(l.arr, JSON_COMPACT);
		json_decref(l.arr);
		if (s == NULL)
			fatalx("suppress_ctl: dump");
		*ok = 1;
		return s;
	}
	r = sup_change(op == SUP_ADD, vmta, addr, "operator", 1);
	if (r == -1)
		snprintf(msg, msgsz, "not an address: %s", addr ? addr : "");
	else if (op == SUP_ADD)
		snprintf(msg, msgsz, r ? "%s suppressed%s%s." :
		    "%s was already suppressed%s%s.", suplist_norm(addr, a,
		    sizeof(a)), vmta ? " for VMTA " : "", vmta ? vmta : "");
	else
		snprintf(msg, msgsz, r ? "%s removed from the suppression "
		    "list%s%s." : "%s is not on the suppression list%s%s.",
		    suplist_norm(addr, a, sizeof(a)), vmta ? " of VMTA " : "",
		    vmta ? vmta : "");
	*ok = r == 1 || (r == 0 && op == SUP_ADD);
	return NULL;
}

void
suppress_shutdown(void)
{
	suplist_free(sups);
	sups = NULL;
}
