/*
 * http_auth.c - who may use the HTTP interface.
 *
 * http-access CIDR LEVEL: the first line whose CIDR holds the client's
 * address gives its level (none, monitor, operator, admin; pmta's
 * "monitor,deny-logs" counts as monitor).  An address no line holds
 * gets none.  Without any http-access line, the loopback addresses get
 * monitor, so that a fresh install is usable locally and nowhere else.
 *
 * http-mgmt-auth FILE: an htpasswd file ("user:hash" lines).  ternd
 * reads it and hands the content down in a memfd (mgmtd is chrooted).
 * When it is set, every request needs HTTP Basic credentials that
 * crypt(3) accepts: bcrypt ($2y$, $2b$), SHA-crypt ($5$, $6$) or
 * yescrypt ($y$).  DES and Apache's $apr1$ are refused: crypt(3) does
 * not do $apr1$ and DES is too weak to trust.
 *
 * bcrypt costs tens of milliseconds per check on the event loop; the
 * monitor page polls, so a verified Authorization value is remembered
 * (as a SHA-256 digest) for a minute.
 */
#include <sys/socket.h>
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "cfg.h"
#include "log.h"
#include "http.h"

#define ACL_MAX		64
#define USERS_MAX	1024
#define CACHE_SLOTS	16
#define CACHE_TTL	60000	/* ms */

struct acl {
	struct cfg_cidr	 cidr;
	int		 level;
};

struct user {
	char		*name;
	char		*hash;
};

struct cached {
	uint8_t		 digest[SHA256_DIGEST_LENGTH];
	uint64_t	 until;
	int		 used;
};

static struct acl	 acls[ACL_MAX];
static int		 nacls = -1;	/* -1: no http-access lines */
static struct user	 users[USERS_MAX];
static int		 nusers;
static int		 auth_on;
static struct cached	 cache[CACHE_SLOTS];

int
http_level_parse(const char *s)
{
	if (strcmp(s, "admin") == 0)
		return HTTP_ADMIN;
	if (strcmp(s, "operator") == 0)
		return HTTP_OPERATOR;
	if (strncmp(s, "monitor", 7) == 0)
		return HTTP_MONITOR;
	return HTTP_NONE;
}

void
http_acl_configure(const struct cfg *cfg)
{
	struct cfg_node *n;
	const char *err;

	nacls = -1;
	for (n = cfg_child(cfg->root, "http-access"); n != NULL;
	    n = cfg_next_named(n, "http-access")) {
		if (nacls == -1)
			nacls = 0;
		if (n->argc != 2 || nacls == ACL_MAX)
			continue;
		if (cfg_parse_cidr(n->argv[0], &acls[nacls].cidr, &err) == -1) {
			log_warnx("http-access %s: %s", n->argv[0], err);
			continue;
		}
		acls[nacls++].level = http_level_parse(n->argv[1]);
	}
	auth_on = cfg_child(cfg->root, "http-mgmt-auth") != NULL;
	memset(cache, 0, sizeof(cache));
}

int
http_acl_level(const struct sockaddr *sa)
{
	struct cfg_cidr lo;
	const char *err;
	int i;

	if (nacls == -1) {
		if ((cfg_parse_cidr("127.0.0.1/32", &lo, &err) == 0 &&
		    cfg_cidr_match(&lo, sa)) ||
		    (cfg_parse_cidr("::1/128", &lo, &err) == 0 &&
		    cfg_cidr_match(&lo, sa)))
			return HTTP_MONITOR;
		return HTTP_NONE;
	}
	for (i = 0; i < nacls; i++)
		if (cfg_cidr_match(&acls[i].cidr, sa))
			return acls[i].level;
	return HTTP_NONE;
}

static void
users_clear(void)
{
	int i;

	for (i = 0; i < nusers; i++) {
		free(users[i].name);
		free(users[i].hash);
	}
	nusers = 0;
	memset(cache, 0, sizeof(cache));
}

/* The htpasswd content from ternd's memfd; fd is closed. */
void
http_htpasswd(int fd)
{
	char *buf, *line, *next, *user, *hash;
	off_t size;
	ssize_t n;

	users_clear();
	if ((size = lseek(fd, 0, SEEK_END)) < 0 || size > 1024 * 1024 ||
	    (buf = calloc(1, size + 1)) == NULL ||
	    (n = pread(fd, buf, size, 0)) != size) {
		log_warnx("http-mgmt-auth: cannot read the content ternd sent");
		close(fd);
		return;
	}
	close(fd);
	for (line = buf; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (http_htpasswd_line(line, &user, &hash) == -1)
			continue;
		if (hash[0] != '$') {
			log_warnx("http-mgmt-auth: user %s: hash not in a "
			    "crypt(3) $id$ form (bcrypt, SHA-crypt); ignored",
			    user);
			continue;
		}
		if (nusers == USERS_MAX)
			break;
		users[nusers].name = strdup(user);
		users[nusers].hash = strdup(hash);
		nusers++;
	}
	free(buf);
	log_debug("http-mgmt-auth: %d users", nusers);
}

int
http_auth_required(void)
{
	return auth_on;
}

static int
cache_find(const uint8_t *d, uint64_t now)
{
	int i;

	for (i = 0; i < CACHE_SLOTS; i++)
		if (cache[i].used && cache[i].until > now &&
		    memcmp(cache[i].digest, d, sizeof(cache[i].digest)) == 0)
			return 1;
	return 0;
}

static void
cache_add(const uint8_t *d, uint64_t now)
{
	int i, old = 0;

	for (i = 0; i < CACHE_SLOTS; i++) {
		if (!cache[i].used) {
			old = i;
			break;
		}
		if (cache[i].until < cache[old].until)
			old = i;
	}
	memcpy(cache[old].digest, d, sizeof(cache[old].digest));
	cache[old].until = now + CACHE_TTL;
	cache[old].used = 1;
}

static int
check_password(const char *user, const char *pass)
{
	static struct crypt_data cd;
	const char *h;
	int i;

	for (i = 0; i < nusers; i++) {
		if (strcmp(users[i].name, user) != 0)
			continue;
		memset(&cd, 0, sizeof(cd));
		if ((h = crypt_r(pass, users[i].hash, &cd)) == NULL ||
		    h[0] == '*')
			return 0;
		return strlen(h) == strlen(users[i].hash) &&
		    CRYPTO_memcmp(h, users[i].hash, strlen(h)) == 0;
	}
	return 0;
}

/* value: the Authorization header; 1 if it names a user with the
 * right password. */
int
http_auth_check(const char *value, size_t len, uint64_t now)
{
	uint8_t digest[SHA256_DIGEST_LENGTH];
	char user[256], pass[512];
	int ok;

	if (len > 1024)
		return 0;
	SHA256((const unsigned char *)value, len, digest);
	if (cache_find(digest, now))
		return 1;
	if (http_basic_decode(value, len, user, sizeof(user), pass,
	    sizeof(pass)) == -1)
		return 0;
	ok = check_password(user, pass);
	explicit_bzero(pass, sizeof(pass));
	if (ok)
		cache_add(digest, now);
	return ok;
}
