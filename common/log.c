/*
 * log.c - stderr or syslog logging with the process name in each line.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int	 log_fg = 1;
static int	 log_verbose;
static char	 log_name[32] = "tern";
/* getpid() is a system call (glibc caches nothing): one per line was
 * one per message in each daemon.  Forgotten in a forked child. */
static pid_t	 log_pid;
static int	 log_atfork_set;
/* Held lines: stderr fully buffered, written by log_flush() (a daemon's
 * loop calls it before it waits).  A line a message at a time was one
 * write(2) per message in smtpd and in deliverd; now the lines of a
 * loop turn go out together. */
static int	 log_held;
static char	 log_buf[64 * 1024];

static void
log_forget_pid(void)
{
	log_pid = 0;
}

static int
log_getpid(void)
{
	if (!log_atfork_set) {
		if (pthread_atfork(NULL, NULL, log_forget_pid) != 0)
			return (int)getpid();
		log_atfork_set = 1;
	}
	if (log_pid == 0)
		log_pid = getpid();
	return (int)log_pid;
}

void
log_init(int foreground, const char *procname)
{
	log_fg = foreground;
	log_procname(procname);

	if (!log_fg)
		openlog("tern", LOG_PID | LOG_NDELAY, LOG_MAIL);
	tzset();
}

/* Before anything is written to stderr. */
void
log_hold(void)
{
	if (log_fg && setvbuf(stderr, log_buf, _IOFBF, sizeof(log_buf)) == 0)
		log_held = 1;
}

void
log_flush(void)
{
	if (log_held)
		fflush(stderr);
}

void
log_procname(const char *name)
{
	strlcpy(log_name, name, sizeof(log_name));
}

void
log_setverbose(int v)
{
	log_verbose = v;
}

int
log_getverbose(void)
{
	return log_verbose;
}

static void
vlog(int pri, const char *fmt, va_list ap, const char *suffix)
{
	char	 msg[2048];
	int	 saved = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_fg) {
		struct timespec ts;
		struct tm tm;
		char tbuf[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(tbuf, sizeof(tbuf), "%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld %s[%d]: %s%s%s\n", tbuf,
		    ts.tv_nsec / 1000000, log_name, log_getpid(), msg,
		    suffix ? ": " : "", suffix ? suffix : "");
		if (!log_held)
			fflush(stderr);
	} else
		syslog(pri, "%s: %s%s%s", log_name, msg, suffix ? ": " : "",
		    suffix ? suffix : "");
	errno = saved;
}

#define LOGFN(fn, pri, witherr, cond)				\
void								\
fn(const char *fmt, ...)					\
{								\
	va_list ap;						\
	int e = errno;						\
	if (!(cond))						\
		return;						\
	va_start(ap, fmt);					\
	vlog(pri, fmt, ap, witherr ? strerror(e) : NULL);	\
	va_end(ap);						\
}

LOGFN(log_warn, LOG_WARNING, 1, 1)
LOGFN(log_warnx, LOG_WARNING, 0, 1)
LOGFN(log_info, LOG_INFO, 0, 1)
LOGFN(log_debug, LOG_DEBUG, 0, log_verbose)

void
fatal(const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap, strerror(e));
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap, NULL);
	va_end(ap);
	exit(1);
}
