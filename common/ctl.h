/*
 * ctl.h - the control protocol between the `tern` CLI and mgmtd, and
 * small helpers both sides (and bounced) share.
 *
 * The CLI connects to the control socket (AF_UNIX, SOCK_STREAM), writes
 * one request line of command words separated by blanks and ended by
 * "\n", e.g.
 *
 *	show status
 *	show queues
 *	show settings example.com/vmta1
 *	pause queue example.com/default
 *	resume queue example.com/default
 *	schedule example.com/default
 *	show version
 *
 * mgmtd answers with one JSON document followed by "\n" and closes the
 * connection.  A failed request is answered {"error":"..."}; a queue
 * operation {"ok":true|false,"message":"..."}.
 */
#ifndef TERN_CTL_H
#define TERN_CTL_H

#include <stddef.h>

#define CTL_SOCKET_DEFAULT	"/run/tern/control.sock"
#define CTL_MAX_REQUEST		4096	/* bytes of a request line */
#define CTL_MAX_CONN		64	/* concurrent control connections */
#define CTL_MAX_WORDS		16	/* words of a request */
#define CTL_DAEMON_TIMEOUT	5000	/* ms mgmtd waits for a daemon */
#define CTL_CLIENT_TIMEOUT	15000	/* ms the CLI waits for mgmtd */

/* Split a request line in place into at most max blank-separated words;
 * returns the count, or -1 if there are more than max. */
int	ctl_split(char *line, char **words, int max);

/* QOP_* for "pause" / "resume" / "schedule", 0 if none. */
int	ctl_qop(const char *verb);

/*
 * Resolve path the way the configuration means it: a relative path is
 * relative to the directory of the main configuration file cfgpath
 * (NULL: the current directory).  "|command" and absolute paths are kept.
 * The result is made lexically clean ("." and ".." segments, repeated
 * "/" removed) so that two spellings of one file compare equal.
 * Returns out, or NULL if it does not fit.
 */
char	*ctl_path_resolve(const char *cfgpath, const char *path, char *out,
	    size_t outsz);

#endif
