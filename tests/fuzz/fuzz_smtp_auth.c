/*
 * fuzz_smtp_auth.c - libFuzzer target for smtpd's AUTH dialogue
 * (smtp_auth.c): mechanism choice, base64 of the responses, PLAIN's
 * NUL-separated fields, LOGIN's two steps, cancelling, failure counting.
 *
 * The input is lines: a line is parsed as a command unless the session
 * waits for a response to its 334.  crypt(3) is replaced by a stub that
 * never matches, and there are no <smtp-user> blocks, so no input may
 * ever authenticate; the session must stay consistent whatever comes.
 *
 * FUZZ_EXTRA: smtpd/smtp_auth.c
 */
#include <crypt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_cmd.h"
#include "smtpd.h"

struct smtpd_state	 smtpd;
static int		 last_code;

void
smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	va_list ap;
	char buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	last_code = atoi(buf);
	if (last_code < 200 || last_code > 599)
		__builtin_trap();
}

void
smtp_error(struct smtp_session *s, const char *reply)
{
	smtp_reply(s, "%s", reply);
}

void
smtp_quit(struct smtp_session *s)
{
	s->quit = 1;
}

void
smtp_delay(struct smtp_session *s, int secs)
{
}

/* No password ever matches. */
char *
crypt_r(const char *phrase, const char *setting, struct crypt_data *cd)
{
	return "*0";
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static int init;
	static struct smtp_session s;
	static struct smtp_cmd cmd;
	const char *p = (const char *)data, *end = p + len, *lf;
	size_t n;

	if (!init) {
		smtp_auth_passwd_file("/pw", "alice:$6$salt$hash\n#x\nbob\n"
		    ":\ncarol:$2y$10$abc:extra\n");
		init = 1;
	}
	memset(&s, 0, sizeof(s));
	s.allow_auth = s.auth_unencrypted = s.esmtp = 1;
	s.state = SMTP_S_HELO;
	s.auth_file = "/pw";
	while (p < end && !s.quit) {
		if ((lf = memchr(p, '\n', end - p)) == NULL)
			lf = end;
		n = lf - p;
		if (n > SMTP_CMD_MAX)
			n = SMTP_CMD_MAX;
		if (s.auth_step != SMTP_AUTH_NONE)
			smtp_auth_line(&s, p, n);
		else if (smtp_cmd_parse_len(p, n, &cmd) == SMTP_OK &&
		    cmd.verb == SMTP_CMD_AUTH)
			smtp_auth_cmd(&s, &cmd);
		p = lf + (lf < end);
		if (s.authuser[0] != '\0' || last_code == 235)
			__builtin_trap();
		if (s.auth_fails > SMTP_AUTH_MAX_FAIL ||
		    (s.auth_fails == SMTP_AUTH_MAX_FAIL && !s.quit))
			__builtin_trap();
		if (memchr(s.login_user, '\0', sizeof(s.login_user)) == NULL)
			__builtin_trap();
	}
	return 0;
}
