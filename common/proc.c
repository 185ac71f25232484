/*
 * proc.c - fork+exec of daemons and privilege separation.
 */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"

pid_t
proc_exec(const char *path, char *const argv[], int chanfd)
{
	pid_t pid;
	sigset_t all;

	switch ((pid = fork())) {
	case -1:
		log_warn("fork");
		return -1;
	case 0:
		break;
	default:
		return pid;
	}
	/* child */
	if (chanfd != PROC_PARENT_FD) {
		if (dup2(chanfd, PROC_PARENT_FD) == -1)
			_exit(127);
	} else
		fcntl(chanfd, F_SETFD, 0);
	closefrom(PROC_PARENT_FD + 1);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	signal(SIGPIPE, SIG_DFL);
	/* Ctrl-C reaches the whole process group; ternd alone decides. */
	signal(SIGINT, SIG_IGN);
	execv(path, argv);
	fprintf(stderr, "exec %s: %s\n", path, strerror(errno));
	_exit(127);
}

void
proc_privdrop(const char *user, const char *root)
{
	struct passwd *pw = NULL;

	/* Die with ternd rather than linger without a supervisor. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (geteuid() != 0) {
		log_debug("not root: running unprivileged as uid %d",
		    (int)getuid());
		return;
	}
	if (user != NULL && (pw = getpwnam(user)) == NULL)
		fatalx("unknown user %s", user);
#ifdef TERN_SANITIZE_BUILD
	/* LeakSanitizer scans /proc/self at exit, which a chrooted process
	 * lacks and a setuid one may not read; and the test spools live in
	 * root's private tmp.  Privilege separation is tested with the
	 * normal build. */
	log_debug("sanitizer build: keeping privileges (no %s, no chroot)",
	    user ? user : "user change");
	return;
#endif
	if (root != NULL) {
		if (chroot(root) == -1)
			fatal("chroot %s", root);
		if (chdir("/") == -1)
			fatal("chdir /");
	}
	if (pw != NULL) {
		if (setgroups(1, &pw->pw_gid) == -1 ||
		    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
		    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
			fatal("cannot drop privileges to %s", user);
	}
	prctl(PR_SET_PDEATHSIG, SIGTERM);	/* reset by setuid */
}
