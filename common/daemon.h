/*
 * daemon.h - the part every daemon's main() shares.
 *
 *	int main(int argc, char **argv) {
 *		return daemon_main(argc, argv, &smtpd_ops);
 *	}
 *
 * daemon_main() parses the command line ternd gives (-d foreground,
 * -v verbose, -u user, -r chroot, -i instance), refuses to run without a
 * channel on fd 3, drops privileges, then runs the libuv loop.  Messages
 * from ternd are handled here: the config tree is rebuilt (cfg_wire.c)
 * and handed to ops->config; peers and listeners go to ops->peer and
 * ops->listener; IMSG_START calls ops->start.  Anything else from ternd
 * goes to ops->parent_msg.
 */
#ifndef TERN_DAEMON_H
#define TERN_DAEMON_H

#include <uv.h>

#include "cfg.h"
#include "mproc.h"

struct daemon_ops {
	int	  proc;				/* PROC_* */
	/* New config (initial: first one).  The daemon owns cfg. */
	void	(*config)(struct cfg *, int initial);
	void	(*peer)(int proc, int instance, int fd);
	/* fd -1: stop listening on `name` (a reload dropped it). */
	void	(*listener)(int kind, const char *name, int fd);
	void	(*file)(int kind, const char *path, int fd);
	void	(*start)(void);
	void	(*parent_msg)(struct mproc *, struct imsg *);
	/* SIGTERM or ternd gone: stop accepting, finish, then call
	 * daemon_exit().  NULL: exit at once. */
	void	(*shutdown)(void);
};

int		 daemon_main(int argc, char **argv, const struct daemon_ops *);
uv_loop_t	*daemon_loop(void);
struct mproc	*daemon_parent(void);
int		 daemon_instance(void);
int		 daemon_ninstances(void);
/* Whether the daemon runs inside its chroot (root paths then differ). */
int		 daemon_chrooted(void);
void		 daemon_exit(int status);

/* Config tree over imsg (cfg_wire.c). */
void		 cfg_wire_send(struct mproc *, const struct cfg *, uint32_t gen);
/* Feed IMSG_CFG_* messages; returns the tree on IMSG_CFG_END, else NULL. */
struct cfg	*cfg_wire_recv(struct imsg *);

#endif
