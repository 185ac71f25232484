/*
 * local.c - local pipe delivery, run for deliverd.
 *
 * deliverd is chrooted into an empty directory as an unprivileged user:
 * it can neither find the program of a `type pipe` domain nor run it as
 * another user.  So it hands each recipient's delivery to ternd
 * (DLV_PIPE_REQ, with the message in a memfd), and ternd forks the
 * command: as the domain's pipe-user (else run-as-user) when ternd is
 * root, with the message on stdin and stdout/stderr into a scratch file
 * whose first line becomes the diagnostic.  The exit status says what
 * happened, as sendmail and Postfix read it:
 *
 *	0			delivered
 *	75 (EX_TEMPFAIL)	soft: try again later
 *	could not start it	soft (a missing program is a config error)
 *	killed after LOCAL_TIMEOUT, or by a signal	soft
 *	any other		hard: bounce
 *
 * No shell runs the command: it is split on white space, and $from, $to,
 * $user, $domain and $envid are replaced inside each word, so an address
 * cannot add words or shell syntax.  The environment carries SENDER,
 * RECIPIENT, USER, DOMAIN and QID too.
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "envelope.h"
#include "log.h"
#include "proto.h"
#include "ternd.h"
#include "util.h"

#define LOCAL_MAX_RUNS	256		/* at once */
#define LOCAL_TIMEOUT	(10 * 60 * 1000)	/* ms */
#define LOCAL_MAX_ARGS	32
#define LOCAL_ARG_MAX	1024
#define LOCAL_DIAG_MAX	400
#define EX_TEMPFAIL	75

struct local_run {
	pid_t		 pid;		/* 0: free */
	struct child	*c;		/* the deliverd that asked */
	struct mproc	*mp;		/* its channel then (a restart: drop) */
	uint32_t	 id;
	int		 outfd;
	int		 timedout;
	uv_timer_t	 timer;
	int		 timer_init;
};

static struct local_run	 runs[LOCAL_MAX_RUNS];

struct local_req {
	const char	*command, *user, *sender, *rcpt, *qid;
	/* looked up before fork: the child only calls what is safe */
	int		 found;		/* the user exists */
	uid_t		 uid;
	gid_t		 gid;
	char		 name[64];
	char		 home[256];
};

/* Append the value of $name (at *p, after the '$') to out. */
static void
local_macro(const char **p, const struct local_req *r, char *out, size_t sz)
{
	static const char *names[] = { "from", "to", "user", "domain",
	    "envid", NULL };
	const char *at = strrchr(r->rcpt, '@'), *v = NULL;
	char part[LOCAL_ARG_MAX];
	size_t len;
	int i;

	for (i = 0; names[i] != NULL; i++)
		if (strncmp(*p, names[i], strlen(names[i])) == 0)
			break;
	if (names[i] == NULL) {
		strlcat(out, "$", sz);
		return;
	}
	*p += strlen(names[i]);
	switch (i) {
	case 0: v = r->sender; break;
	case 1: v = r->rcpt; break;
	case 2:
		len = at ? (size_t)(at - r->rcpt) : strlen(r->rcpt);
		if (len >= sizeof(part))
			len = sizeof(part) - 1;
		memcpy(part, r->rcpt, len);
		part[len] = '\0';
		v = part;
		break;
	case 3: v = at ? at + 1 : ""; break;
	default: v = r->qid; break;
	}
	strlcat(out, v ? v : "", sz);
}

/* The words of the command, macros replaced.  NULL argv[0]: empty. */
static void
local_argv(const struct local_req *r, char buf[][LOCAL_ARG_MAX], char **argv)
{
	const char *p = r->command;
	char one[2] = "";
	int n = 0;

	while (*p != '\0' && n < LOCAL_MAX_ARGS - 1) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		buf[n][0] = '\0';
		while (*p != '\0' && *p != ' ' && *p != '\t') {
			if (*p == '$') {
				p++;
				local_macro(&p, r, buf[n], LOCAL_ARG_MAX);
				continue;
			}
			one[0] = *p++;
			strlcat(buf[n], one, LOCAL_ARG_MAX);
		}
		argv[n] = buf[n];
		n++;
	}
	argv[n] = NULL;
}

/* In the child: become the user, then run the command.  Never returns. */
static void
local_exec(const struct local_req *r, int in, int out)
{
	static char buf[LOCAL_MAX_ARGS][LOCAL_ARG_MAX];
	char *argv[LOCAL_MAX_ARGS];
	sigset_t all;
	const char *at = strrchr(r->rcpt, '@');

	if (dup2(in, 0) == -1 || dup2(out, 1) == -1 || dup2(out, 2) == -1)
		_exit(EX_TEMPFAIL);
	closefrom(3);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	setsid();
	if (geteuid() == 0) {
		if (!r->found || r->uid == 0) {
			fprintf(stderr, "pipe user %s: %s\n", r->name,
			    r->found ? "is root" : "no such user");
			_exit(EX_TEMPFAIL);
		}
		if (setgroups(1, &r->gid) == -1 ||
		    setgid(r->gid) == -1 || setuid(r->uid) == -1) {
			fprintf(stderr, "cannot become %s: %s\n", r->name,
			    strerror(errno));
			_exit(EX_TEMPFAIL);
		}
	}
	if (chdir(r->home[0] ? r->home : "/") == -1 && chdir("/") == -1)
		_exit(EX_TEMPFAIL);
	clearenv();
	setenv("PATH", "/usr/local/bin:/usr/bin:/bin", 1);
	setenv("SENDER", r->sender ? r->sender : "", 1);
	setenv("RECIPIENT", r->rcpt, 1);
	setenv("DOMAIN", at ? at + 1 : "", 1);
	setenv("QID", r->qid ? r->qid : "", 1);
	if (r->found) {
		setenv("USER", r->name, 1);
		setenv("LOGNAME", r->name, 1);
		setenv("HOME", r->home[0] ? r->home : "/", 1);
	}
	local_argv(r, buf, argv);
	if (argv[0] == NULL) {
		fprintf(stderr, "empty pipe command\n");
		_exit(EX_TEMPFAIL);
	}
	execv(argv[0], argv);
	fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(EX_TEMPFAIL);
}

static void
local_reply(struct local_run *run, uint32_t status, const char *dsn,
    const char *diag)
{
	if (run->c->mp == NULL || run->c->mp != run->mp)
		return;		/* that deliverd is gone; it will retry */
	m_create(run->mp, DLV_PIPE_DONE, run->id, -1);
	m_add_u32(run->mp, status);
	m_add_string(run->mp, dsn);
	m_add_string(run->mp, diag);
	m_close(run->mp);
}

static void
local_timeout_cb(uv_timer_t *t)
{
	struct local_run *run = t->data;

	if (run->pid > 0) {
		run->timedout = 1;
		kill(-run->pid, SIGKILL);
	}
}

/* The user to run as: the request's, else run-as-user; when ternd is
 * not root, itself. */
static void
local_user(struct local_req *r)
{
	struct passwd *pw;

	if (geteuid() == 0)
		pw = getpwnam(r->user ? r->user : env->user);
	else
		pw = getpwuid(getuid());
	strlcpy(r->name, r->user ? r->user : env->user, sizeof(r->name));
	r->home[0] = '\0';
	if ((r->found = pw != NULL)) {
		r->uid = pw->pw_uid;
		r->gid = pw->pw_gid;
		strlcpy(r->name, pw->pw_name, sizeof(r->name));
		if (pw->pw_dir != NULL)
			strlcpy(r->home, pw->pw_dir, sizeof(r->home));
	}
}

/* deliverd: run the command for one recipient; fd = the message. */
void
local_request(struct child *c, struct imsg *imsg)
{
	struct local_req r;
	struct local_run *run = NULL;
	struct msg m;
	int i, outfd;
	pid_t pid;

	m_msg(&m, imsg);
	m_get_string(&m, &r.command);
	m_get_string(&m, &r.user);
	m_get_string(&m, &r.sender);
	m_get_string(&m, &r.rcpt);
	m_get_string(&m, &r.qid);
	m_end(&m);
	for (i = 0; i < LOCAL_MAX_RUNS; i++)
		if (runs[i].pid == 0) {
			run = &runs[i];
			break;
		}
	if (run == NULL || imsg->fd == -1 || r.command == NULL ||
	    r.rcpt == NULL) {
		struct local_run tmp = { .c = c, .mp = c->mp,
		    .id = imsg->hdr.peerid };

		local_reply(&tmp, DLV_TEMPFAIL, "4.3.0", run == NULL ?
		    "too many pipe deliveries at once" : "bad pipe request");
		if (imsg->fd != -1)
			close(imsg->fd);
		return;
	}
	local_user(&r);
	if ((outfd = memfd_create("tern-pipe-out", MFD_CLOEXEC)) == -1) {
		log_warn("memfd_create");
		run->c = c;
		run->mp = c->mp;
		run->id = imsg->hdr.peerid;
		local_reply(run, DLV_TEMPFAIL, "4.3.0", "cannot run the pipe");
		close(imsg->fd);
		return;
	}
	switch ((pid = fork())) {
	case -1:
		log_warn("fork");
		close(outfd);
		close(imsg->fd);
		run->c = c;
		run->mp = c->mp;
		run->id = imsg->hdr.peerid;
		local_reply(run, DLV_TEMPFAIL, "4.3.0", "cannot fork");
		return;
	case 0:
		local_exec(&r, imsg->fd, outfd);
		/* NOTREACHED */
	}
	close(imsg->fd);
	run->pid = pid;
	run->c = c;
	run->mp = c->mp;
	run->id = imsg->hdr.peerid;
	run->outfd = outfd;
	run->timedout = 0;
	if (!run->timer_init) {
		uv_timer_init(env->loop, &run->timer);
		run->timer.data = run;
		run->timer_init = 1;
	}
	uv_timer_start(&run->timer, local_timeout_cb, LOCAL_TIMEOUT, 0);
	log_debug("pipe for %s: pid %d: %s", r.rcpt, (int)pid, r.command);
}

/* The first line of what the command said, printable. */
static void
local_output(int fd, char *buf, size_t sz)
{
	ssize_t n;
	size_t i;

	buf[0] = '\0';
	if ((n = pread(fd, buf, sz - 1, 0)) <= 0)
		return;
	buf[n] = '\0';
	for (i = 0; buf[i] != '\0'; i++) {
		if (buf[i] == '\n' || buf[i] == '\r') {
			buf[i] = '\0';
			break;
		}
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = ' ';
	}
}

/* From super_reap: 1 when pid was one of ours. */
int
local_exited(pid_t pid, int status)
{
	char out[LOCAL_DIAG_MAX], diag[LOCAL_DIAG_MAX + 64];
	struct local_run *run = NULL;
	uint32_t st;
	const char *dsn;
	int i, code = -1;

	for (i = 0; i < LOCAL_MAX_RUNS; i++)
		if (runs[i].pid == pid)
			run = &runs[i];
	if (run == NULL)
		return 0;
	uv_timer_stop(&run->timer);
	local_output(run->outfd, out, sizeof(out));
	close(run->outfd);
	run->pid = 0;
	if (WIFEXITED(status))
		code = WEXITSTATUS(status);
	if (code == 0) {
		st = DLV_OK;
		dsn = "2.0.0";
		snprintf(diag, sizeof(diag), "delivered to command%s%s",
		    out[0] ? ": " : "", out);
	} else if (code == EX_TEMPFAIL || code == -1) {
		st = DLV_TEMPFAIL;
		dsn = "4.3.0";
		if (run->timedout)
			snprintf(diag, sizeof(diag), "pipe command timed "
			    "out%s%s", out[0] ? ": " : "", out);
		else if (code == -1)
			snprintf(diag, sizeof(diag), "pipe command killed by "
			    "signal %d%s%s", WTERMSIG(status), out[0] ?
			    ": " : "", out);
		else
			snprintf(diag, sizeof(diag), "pipe command: temporary "
			    "failure (exit 75)%s%s", out[0] ? ": " : "", out);
	} else {
		st = DLV_PERMFAIL;
		dsn = "5.3.0";
		snprintf(diag, sizeof(diag), "pipe command failed (exit "
		    "%d)%s%s", code, out[0] ? ": " : "", out);
	}
	local_reply(run, st, dsn, diag);
	return 1;
}
