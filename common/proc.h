/*
 * proc.h - starting daemons and dropping privileges.
 *
 * ternd starts each daemon with proc_exec(): fork, the channel to ternd
 * on fd 3, every other fd closed, exec of the daemon's binary.  As root the
 * daemon then enters its chroot and becomes its own user (proc_privdrop);
 * started by an unprivileged user (quick start, tests) it stays where it
 * is and says so.
 */
#ifndef TERN_PROC_H
#define TERN_PROC_H

#include <sys/types.h>

#define PROC_PARENT_FD	3

/* argv is NULL terminated; the child's fd 3 is chanfd. */
pid_t	proc_exec(const char *path, char *const argv[], int chanfd);
/* Become `user` inside `root` (either may be NULL to skip). */
void	proc_privdrop(const char *user, const char *root);

#endif
