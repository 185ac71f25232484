/*
 * log.h - logging for every Tern process.
 *
 * In the foreground (-d) lines go to stderr, otherwise to syslog (mail
 * facility).  Each line carries the process name; lines about a message
 * start with its queue id ("log_info("%s: delivered", qid)").
 */
#ifndef TERN_LOG_H
#define TERN_LOG_H

#include <stdarg.h>

void	log_init(int foreground, const char *procname);
void	log_setverbose(int);
int	log_getverbose(void);
void	log_procname(const char *);
void	log_hold(void);		/* lines wait for log_flush() */
void	log_flush(void);
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
