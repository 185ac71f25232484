/*
 * smtp_suppress.c - refusing suppressed recipients at RCPT.
 *
 * queued passes on every change of the suppression list (BNC_SUPPRESS;
 * bounced owns the list: bounced/suppress.c), so the check is a lookup
 * in memory.  A <source> with `suppression-action reject` has such a
 * recipient refused with PowerMTA's reply; with `bounce` (the default)
 * it is accepted and queued writes a `b` row instead.  The VMTA checked
 * here is the source's default: a VMTA chosen later by X-Virtual-MTA is
 * checked by queued.
 */
#include <string.h>

#include "log.h"
#include "smtpd.h"
#include "suplist.h"

static struct suplist	*smtp_sups;

void
smtp_suppress_msg(struct msg *m)
{
	const char *vmta, *addr;
	uint32_t add;

	suplist_recv(&smtp_sups, m, &add, &vmta, &addr);
}

int
smtp_suppress_policy(const struct cfg_node *src)
{
	const char *v;

	if (src == NULL || (v = cfg_str(src, "suppression-action", NULL)) ==
	    NULL)
		return 0;
	return strcmp(v, "reject") == 0;
}

/* 1 (reply sent) when the session refuses addr. */
int
smtp_suppress_rcpt(struct smtp_session *s, const char *addr)
{
	const char *scope;

	if (!s->suppress_reject || (scope = suplist_match(smtp_sups,
	    s->default_vmta, addr)) == NULL)
		return 0;
	smtp_reply(s, "550 5.7.1 recipient is in suppression list \"%s\": "
	    "<%s>", *scope ? scope : "global", addr);
	return 1;
}
