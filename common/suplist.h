/*
 * suplist.h - the suppression list as a set, shared by bounced (which
 * owns the file and reads it: one reader), queued (which bounces mail to
 * suppressed addresses) and smtpd (which refuses them at RCPT).
 *
 * An entry is an address (lowercase) and a scope: global ("") or one
 * VMTA.  A message is suppressed for a recipient when the global list or
 * the list of the message's VMTA holds it.
 *
 * The file (suppression.list in the accounting directory) is a log of
 * changes, one a line, applied in order; that way an addition or a
 * removal is one append and a crash never leaves it half rewritten:
 *
 *	joe@isp.example			global
 *	ann@isp.example marketing	only for VMTA "marketing"
 *	!joe@isp.example		removed again
 *	# comment
 */
#ifndef TERN_SUPLIST_H
#define TERN_SUPLIST_H

#include <stddef.h>
#include <stdint.h>

#define SUPLIST_MAXLINE	600

struct suplist;

struct suplist	*suplist_new(void);
void		 suplist_free(struct suplist *);
/* 1 if the entry is new (add) or was there (remove), 0 if not, -1 if
 * addr is no address.  vmta NULL or "": global. */
int		 suplist_add(struct suplist *, const char *vmta,
		    const char *addr);
int		 suplist_remove(struct suplist *, const char *vmta,
		    const char *addr);
/* The scope whose list holds addr for a message of vmta: "" (global),
 * the VMTA's name, or NULL when it is not suppressed. */
const char	*suplist_match(const struct suplist *, const char *vmta,
		    const char *addr);
size_t		 suplist_count(const struct suplist *);
/* Every entry, ordered by scope then address. */
void		 suplist_foreach(const struct suplist *,
		    void (*)(const char *vmta, const char *addr, void *),
		    void *);
/* Apply one line of the file: 1 changed, 0 nothing (comment, blank,
 * no-op), -1 malformed. */
int		 suplist_apply_line(struct suplist *, const char *line);
/* The line that records an addition or removal, "\n" included. */
int		 suplist_format_line(char *buf, size_t sz, int add,
		    const char *vmta, const char *addr);
/* The list travels as BNC_SUPPRESS messages (common/proto.h): send one
 * change, and apply one received to *l (made when NULL).  The apply
 * returns 1 if the list changed; *add, *vmta, *addr tell how (for
 * passing it on). */
struct mproc;
struct msg;
void		 suplist_send(struct mproc *, int add, const char *vmta,
		    const char *addr);
int		 suplist_recv(struct suplist **, struct msg *, uint32_t *add,
		    const char **vmta, const char **addr);
/* Every entry of l as an addition (a peer that just connected). */
void		 suplist_send_all(const struct suplist *, struct mproc *);

/* "<Joe@ISP.example>" -> "joe@isp.example"; NULL if no address (no '@',
 * too long, blanks or controls inside). */
const char	*suplist_norm(const char *addr, char *buf, size_t sz);

#endif
