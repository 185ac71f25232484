/*
 * reload.h - configuration reload (SIGHUP or `tern reload`).
 */
#ifndef TERND_RELOAD_H
#define TERND_RELOAD_H

#include "mproc.h"
#include "ternd.h"

/*
 * Parse the configuration file again.  When it is valid (and its new
 * listeners can be opened) it replaces the running one: every daemon
 * gets the new tree and smtpd the listener changes.  Returns 0 when the
 * new configuration is in use, -1 when the old one stays.  *report
 * (malloc'd, never NULL) holds the errors and warnings, one per line;
 * they are logged too.
 */
int	reload_config(struct ternd *, char **report);
/* CTL_RELOAD from mgmtd: reload and answer CTL_RESULT. */
void	reload_ctl(struct mproc *, struct imsg *);

#endif
