/*
 * ctl_bounced.c - the verbs bounced answers:
 *
 *	suppression list [--vmta=V] [ADDR]	(also: show suppression)
 *	suppression add [--vmta=V] ADDR
 *	suppression remove [--vmta=V] ADDR
 *	rotate acct [FILE]
 *	rotate log
 *
 * Each becomes one message to bounced (CTL_SUPPRESS, CTL_ROTATE) or, for
 * the log, to ternd (CTL_ROTATE), whose answer goes back to the client
 * as is (ctl_req_forward).
 */
#include <string.h>

#include "cfg.h"
#include "ctl.h"
#include "mgmtd.h"
#include "proto.h"

static int
ctl_sup_op(char **w, int n, int *first)
{
	*first = 2;
	if (strcmp(w[0], "show") == 0)
		return SUP_LIST;
	if (n < 2) {
		*first = 1;
		return SUP_LIST;
	}
	if (strcmp(w[1], "list") == 0)
		return SUP_LIST;
	if (strcmp(w[1], "add") == 0)
		return SUP_ADD;
	if (strcmp(w[1], "remove") == 0 || strcmp(w[1], "delete") == 0)
		return SUP_REMOVE;
	return -1;
}

void
ctl_suppression(struct ctl_conn *c, char **w, int n)
{
	const char *vmta = NULL, *addr = NULL, *v;
	struct mproc *p;
	uint32_t id;
	int op, i;

	op = ctl_sup_op(w, n, &i);
	for (; op != -1 && i < n; i++) {
		if ((v = ctl_optval(w, n, &i, "--vmta")) != NULL)
			vmta = v;
		else if (addr == NULL && w[i][0] != '-')
			addr = w[i];
		else
			break;
	}
	if (op == -1 || i != n || (op != SUP_LIST && addr == NULL) ||
	    (addr != NULL && strlen(addr) > 512) ||
	    (vmta != NULL && strlen(vmta) > 128)) {
		ctl_conn_error(c, "usage: suppression list|add|remove "
		    "[--vmta=V] ADDR");
		return;
	}
	/* A typo in a VMTA name would make an entry nothing ever matches. */
	if (vmta != NULL && op != SUP_LIST && mgmtd_cfg() != NULL &&
	    cfg_vmta(mgmtd_cfg(), vmta) == NULL) {
		ctl_conn_error(c, "unknown virtual-mta \"%s\"", vmta);
		return;
	}
	if ((p = ctl_req_forward(c, PROC_BOUNCED, &id)) == NULL)
		return;
	m_create(p, CTL_SUPPRESS, id, -1);
	m_add_u32(p, op);
	m_add_string(p, vmta);
	m_add_string(p, addr);
	m_close(p);
}

void
ctl_rotate(struct ctl_conn *c, char **w, int n)
{
	struct mproc *p;
	uint32_t id;

	if (n > 3 || (strcmp(w[1], "log") == 0 && n != 2) ||
	    (n == 3 && strlen(w[2]) > 1000)) {
		ctl_conn_error(c, "usage: rotate acct [FILE] | rotate log");
		return;
	}
	/* accounting files: bounced (ternd renames them for it); the log
	 * file: ternd (ternd/logfile.c) */
	if ((p = ctl_req_forward(c, strcmp(w[1], "log") == 0 ? PROC_TERND :
	    PROC_BOUNCED, &id)) == NULL)
		return;
	m_create(p, CTL_ROTATE, id, -1);
	m_add_string(p, w[1]);			/* "acct" or "log" */
	m_add_string(p, n == 3 ? w[2] : NULL);
	m_close(p);
}
