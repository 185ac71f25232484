/*
 * smtp_auth.c - SMTP AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN
 * mechanisms.
 *
 * Credentials come from two places: the password file named by the
 * client's <source> (`auth-plain FILE`, htpasswd style "user:hash" lines
 * with crypt(3) hashes: bcrypt $2y$/$2b$, SHA-512 $6$, SHA-256 $5$), which
 * ternd read for us (SMTPD_PASSWD_FILE: we are chrooted), and the
 * <smtp-user NAME> blocks of the config with `password`.
 *
 * Passwords are never logged, nor are the lines that carry them.  A
 * failed attempt holds the reply back (SMTP_AUTH_DELAY seconds per
 * failure so far) and the session ends after SMTP_AUTH_MAX_FAIL.
 *
 * `smtp-max-auth-failure-rate N/TIME` of the <source> locks a client IP
 * out of AUTH (454) once it failed N times within one window of TIME,
 * across connections.
 *
 * Checking a hash runs on the event loop: a bcrypt of cost 10 takes tens
 * of milliseconds, bounded by the failure limit per connection.
 */
#include <crypt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon.h"
#include "log.h"
#include "smtpd.h"

#define R_AUTH_OK	"235 2.7.0 authentication succeeded"
#define R_AUTH_FAIL	"535 5.7.8 authentication credentials invalid"
#define R_AUTH_CANCEL	"501 5.7.0 authentication cancelled"
#define R_AUTH_B64	"501 5.5.2 cannot decode base64"
#define R_NEED_TLS	"538 5.7.11 encryption required for requested " \
			"authentication mechanism"

struct smtp_pwfile {
	char			*path;
	char			*text;
	struct smtp_pwfile	*next;
};

static struct smtp_pwfile	*smtp_pwfiles;

/* Failed AUTHs per client IP in the current window. */
struct smtp_authfail {
	char			 ip[INET6_ADDRSTRLEN];
	uint64_t		 start;		/* uv_now() of the window */
	uint32_t		 count;
	struct smtp_authfail	*next;
};
#define SMTP_AUTHFAIL_MAX	4096	/* clients tracked at once */

static struct smtp_authfail	*smtp_authfails;
static int			 smtp_nauthfails;

/* The entry of ip, after dropping every expired one (the list only holds
 * clients that failed within the last window). */
static struct smtp_authfail *
smtp_authfail_find(const struct smtp_session *s, uint64_t now)
{
	struct smtp_authfail **pp, *f, *hit = NULL;

	for (pp = &smtp_authfails; (f = *pp) != NULL;) {
		if (now - f->start >= (uint64_t)s->authfail_window * 1000) {
			*pp = f->next;
			free(f);
			smtp_nauthfails--;
			continue;
		}
		if (strcmp(f->ip, s->ip) == 0)
			hit = f;
		pp = &f->next;
	}
	return hit;
}

static int
smtp_authfail_locked(const struct smtp_session *s)
{
	struct smtp_authfail *f;

	if (s->authfail_max == 0)
		return 0;
	f = smtp_authfail_find(s, uv_now(daemon_loop()));
	return f != NULL && f->count >= s->authfail_max;
}

static void
smtp_authfail_count(const struct smtp_session *s)
{
	struct smtp_authfail *f;
	uint64_t now;

	if (s->authfail_max == 0)
		return;
	now = uv_now(daemon_loop());
	if ((f = smtp_authfail_find(s, now)) == NULL) {
		if (smtp_nauthfails >= SMTP_AUTHFAIL_MAX ||
		    (f = calloc(1, sizeof(*f))) == NULL)
			return;
		strlcpy(f->ip, s->ip, sizeof(f->ip));
		f->start = now;
		f->next = smtp_authfails;
		smtp_authfails = f;
		smtp_nauthfails++;
	}
	f->count++;
}

/* ternd sent a password file; a newer copy replaces an older one. */
void
smtp_auth_passwd_file(const char *path, const char *text)
{
	struct smtp_pwfile *f;

	for (f = smtp_pwfiles; f != NULL; f = f->next)
		if (strcmp(f->path, path) == 0)
			break;
	if (f == NULL) {
		if ((f = calloc(1, sizeof(*f))) == NULL ||
		    (f->path = strdup(path)) == NULL)
			fatal("smtp_auth_passwd_file");
		f->next = smtp_pwfiles;
		smtp_pwfiles = f;
	} else {
		explicit_bzero(f->text, strlen(f->text));
		free(f->text);
	}
	if ((f->text = strdup(text)) == NULL)
		fatal("smtp_auth_passwd_file");
}

static const char *
smtp_auth_file_text(const char *path)
{
	struct smtp_pwfile *f;

	if (path == NULL)
		return NULL;
	for (f = smtp_pwfiles; f != NULL; f = f->next)
		if (strcmp(f->path, path) == 0)
			return f->text;
	return NULL;
}

static int
smtp_auth_have_users(void)
{
	return smtpd.cfg != NULL &&
	    cfg_child(smtpd.cfg->root, "smtp-user") != NULL;
}

/* Whether AUTH could work at all for this client (TLS aside). */
static int
smtp_auth_usable(const struct smtp_session *s)
{
	return s->allow_auth && (smtp_auth_file_text(s->auth_file) != NULL ||
	    smtp_auth_have_users());
}

int
smtp_auth_offered(const struct smtp_session *s)
{
	return smtp_auth_usable(s) && s->authuser[0] == '\0' &&
	    (s->tls_up || s->auth_unencrypted);
}

/* Equal strings, in a time that does not depend on where they differ. */
static int
smtp_auth_streq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i;
	unsigned char d = la != lb;

	for (i = 0; i < la && i < lb; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

static int
smtp_auth_crypt_ok(const char *pass, const char *hash)
{
	static struct crypt_data cd;
	const char *out;
	int ok;

	memset(&cd, 0, sizeof(cd));
	out = crypt_r(pass, hash, &cd);
	/* Failures give NULL or a string starting with '*'. */
	ok = out != NULL && out[0] != '*' && smtp_auth_streq(out, hash);
	explicit_bzero(&cd, sizeof(cd));
	return ok;
}

/* The "user:hash" line of the file for user. */
static int
smtp_auth_file_ok(const char *text, const char *user, const char *pass)
{
	const char *line, *eol, *colon;
	char hash[512];
	size_t ulen = strlen(user), hlen;

	for (line = text; *line != '\0'; line = *eol ? eol + 1 : eol) {
		if ((eol = strchr(line, '\n')) == NULL)
			eol = line + strlen(line);
		if (*line == '#' || (colon = memchr(line, ':', eol - line)) ==
		    NULL)
			continue;
		if ((size_t)(colon - line) != ulen ||
		    memcmp(line, user, ulen) != 0)
			continue;
		/* The hash ends at the next ':' (htpasswd may add fields). */
		hlen = strcspn(colon + 1, ":\r\n");
		if (hlen == 0 || hlen >= sizeof(hash))
			return 0;
		memcpy(hash, colon + 1, hlen);
		hash[hlen] = '\0';
		return smtp_auth_crypt_ok(pass, hash);
	}
	return 0;
}

/* <smtp-user NAME> with `password` (authentication-method password). */
static int
smtp_auth_users_ok(const char *user, const char *pass)
{
	struct cfg_node *n;
	const char *pw, *method;

	if (smtpd.cfg == NULL)
		return 0;
	for (n = cfg_child(smtpd.cfg->root, "smtp-user"); n != NULL;
	    n = cfg_next_named(n, "smtp-user")) {
		if (n->arg == NULL || strcmp(n->arg, user) != 0)
			continue;
		method = cfg_str(n, "authentication-method", "password");
		pw = cfg_str(n, "password", NULL);
		if (strcmp(method, "password") == 0 && pw != NULL &&
		    smtp_auth_streq(pw, pass))
			return 1;
	}
	return 0;
}

static int
smtp_auth_check(const struct smtp_session *s, const char *user,
    const char *pass)
{
	const char *text;

	if (*user == '\0' || *pass == '\0')
		return 0;
	if ((text = smtp_auth_file_text(s->auth_file)) != NULL &&
	    smtp_auth_file_ok(text, user, pass))
		return 1;
	return smtp_auth_users_ok(user, pass);
}

/* RFC 4648 base64 into out (NUL-terminated); -1 if malformed. */
static int
smtp_b64_decode(const char *in, size_t len, char *out, size_t outsz,
    size_t *outlen)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t acc = 0;
	size_t i, n = 0, pad = 0;
	int bits = 0;
	const char *p;

	if (len % 4 != 0)
		return -1;
	for (i = 0; i < len; i++) {
		if (in[i] == '=') {
			if (++pad > 2 || i < len - 2)
				return -1;
			continue;
		}
		if (pad || in[i] == '\0' || (p = strchr(a, in[i])) == NULL)
			return -1;
		acc = (acc << 6) | (uint32_t)(p - a);
		if ((bits += 6) >= 8) {
			bits -= 8;
			if (n + 1 >= outsz)
				return -1;
			out[n++] = (acc >> bits) & 0xff;
		}
	}
	out[n] = '\0';
	*outlen = n;
	return 0;
}

static void
smtp_auth_done(struct smtp_session *s, const char *user, const char *pass)
{
	int ok;

	s->auth_step = SMTP_AUTH_NONE;
	ok = strlen(user) <= SMTP_AUTH_USER_MAX && smtp_auth_check(s, user,
	    pass);
	if (ok) {
		strlcpy(s->authuser, user, sizeof(s->authuser));
		log_info("%08x: authenticated as %s from %s", s->id, user,
		    s->ip);
		smtp_reply(s, R_AUTH_OK);
		return;
	}
	s->auth_fails++;
	smtp_authfail_count(s);
	log_info("%08x: authentication failed for \"%.64s\" from %s "
	    "(%d)", s->id, user, s->ip, s->auth_fails);
	smtp_reply(s, R_AUTH_FAIL);
	if (s->auth_fails >= SMTP_AUTH_MAX_FAIL) {
		smtp_reply(s, "421 4.7.0 %s too many authentication failures, "
		    "closing connection", smtpd.conf.hostname);
		smtp_quit(s);
		return;
	}
	smtp_delay(s, SMTP_AUTH_DELAY * s->auth_fails);
}

/* PLAIN: [authzid] NUL authcid NUL passwd. */
static void
smtp_auth_plain(struct smtp_session *s, const char *b64, size_t len)
{
	char buf[SMTP_CMD_MAX + 1];
	const char *authz, *user, *pass;
	size_t n;

	if (smtp_b64_decode(b64, len, buf, sizeof(buf), &n) == -1) {
		s->auth_step = SMTP_AUTH_NONE;
		smtp_error(s, R_AUTH_B64);
		return;
	}
	authz = buf;
	user = memchr(buf, '\0', n);
	pass = user != NULL ? memchr(user + 1, '\0', buf + n - user - 1) :
	    NULL;
	if (user == NULL || pass == NULL) {
		explicit_bzero(buf, sizeof(buf));
		s->auth_step = SMTP_AUTH_NONE;
		smtp_error(s, "501 5.5.2 malformed PLAIN response");
		return;
	}
	user++;
	pass++;
	/* Acting for someone else is not supported. */
	if (*authz != '\0' && strcmp(authz, user) != 0)
		pass = "";
	smtp_auth_done(s, user, pass);
	explicit_bzero(buf, sizeof(buf));
}

/* A line after a 334: the client's response, never a command. */
void
smtp_auth_line(struct smtp_session *s, const char *line, size_t len)
{
	char buf[SMTP_CMD_MAX + 1];
	size_t n;

	if (len == 1 && line[0] == '*') {
		s->auth_step = SMTP_AUTH_NONE;
		smtp_reply(s, R_AUTH_CANCEL);
		return;
	}
	switch (s->auth_step) {
	case SMTP_AUTH_PLAIN:
		smtp_auth_plain(s, line, len);
		return;
	case SMTP_AUTH_LOGIN_USER:
	case SMTP_AUTH_LOGIN_PASS:
		break;
	default:
		return;
	}
	if (smtp_b64_decode(line, len, buf, sizeof(buf), &n) == -1 ||
	    strlen(buf) != n) {
		s->auth_step = SMTP_AUTH_NONE;
		smtp_error(s, R_AUTH_B64);
		return;
	}
	if (s->auth_step == SMTP_AUTH_LOGIN_USER) {
		strlcpy(s->login_user, buf, sizeof(s->login_user));
		s->auth_step = SMTP_AUTH_LOGIN_PASS;
		smtp_reply(s, "334 UGFzc3dvcmQ6");	/* "Password:" */
	} else
		smtp_auth_done(s, s->login_user, buf);
	explicit_bzero(buf, sizeof(buf));
}

void
smtp_auth_cmd(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	const char *init = cmd->auth_initial;

	if (!smtp_auth_usable(s)) {
		smtp_error(s, "502 5.5.1 AUTH not available");
		return;
	}
	if (s->authuser[0] != '\0' || s->state != SMTP_S_HELO ||
	    !s->esmtp) {
		smtp_error(s, "503 5.5.1 bad sequence of commands");
		return;
	}
	if (!s->tls_up && !s->auth_unencrypted) {
		smtp_error(s, R_NEED_TLS);
		return;
	}
	if (smtp_authfail_locked(s)) {
		log_info("%08x: AUTH from %s refused: smtp-max-auth-failure-rate",
		    s->id, s->ip);
		smtp_error(s, "454 4.7.0 too many authentication failures, "
		    "try again later");
		return;
	}
	if (strcasecmp(cmd->arg, "PLAIN") == 0) {
		s->auth_step = SMTP_AUTH_PLAIN;
		if (*init == '\0')
			smtp_reply(s, "334 ");
		else
			smtp_auth_line(s, strcmp(init, "=") == 0 ? "" : init,
			    strcmp(init, "=") == 0 ? 0 : strlen(init));
	} else if (strcasecmp(cmd->arg, "LOGIN") == 0) {
		s->auth_step = SMTP_AUTH_LOGIN_USER;
		if (*init == '\0')
			smtp_reply(s, "334 VXNlcm5hbWU6");	/* "Username:" */
		else
			smtp_auth_line(s, init, strlen(init));
	} else
		smtp_error(s, "504 5.5.4 mechanism not supported");
}
