/*
 * bounce_class.c - sort a delivery failure into one of PowerMTA's bounce
 * categories (bad-mailbox, spam-related, ...).
 *
 * The order of the checks:
 *
 *  0. the configuration's <bounce-category-patterns>, over
 *     "STATUS;smtp;REPLY", so that an operator can override anything;
 *  1. a few texts that say more than the code sent with them (providers
 *     that misuse 5.1.10, 5.4.1, ...);
 *  2. the enhanced status code, when its detail says exactly what went
 *     wrong (5.1.1 is a bad mailbox whatever the text says);
 *  3. case-insensitive patterns over the remote reply, PowerMTA's default
 *     <bounce-category-patterns> in their order, then a few of ours for
 *     failures that never got an SMTP reply (timeouts, refused
 *     connections, DNS);
 *  4. the enhanced status code again, now also the vague ones (5.7.1 is
 *     "policy-related" only if the text did not say "spam");
 *  5. a bare 500-504 reply is a protocol error; else "other".
 *
 * tests/data/bounces/replies.tsv holds the replies of major providers
 * this is measured against (test_bounce_corpus.c).
 *
 * The code is taken from the status, or else from the reply itself
 * ("550 5.1.1 ...").  The patterns are POSIX extended regular expressions
 * (with GNU's \b and \S) so that a configured list can be added to the
 * same engine later.
 */
#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bounced.h"
#include "log.h"

struct bc_code {
	char		 cls;		/* '4', '5', or 0 for both */
	int		 subj;
	int		 detail;	/* -1: any */
	int		 decisive;	/* wins over the text patterns */
	const char	*cat;
};

/* First match wins. */
static const struct bc_code bc_codes[] = {
	{ 0, 1, 1, 1, "bad-mailbox" },
	{ 0, 1, 3, 1, "bad-mailbox" },
	{ 0, 1, 4, 1, "bad-mailbox" },
	{ 0, 1, 6, 1, "bad-mailbox" },
	{ 0, 1, 2, 1, "bad-domain" },
	{ 0, 1, 10, 1, "bad-domain" },
	{ 0, 1, 7, 1, "invalid-sender" },
	{ 0, 1, 8, 1, "invalid-sender" },
	/* 4.2.1 is also Gmail's "receiving mail too fast": not decisive. */
	{ '5', 2, 1, 1, "inactive-mailbox" },
	{ 0, 2, 2, 1, "quota-issues" },
	{ 0, 3, 5, 1, "bad-configuration" },
	/* 5.4.1 is also Microsoft's "Recipient address rejected: Access
	 * denied" (no such recipient): only a fallback. */
	{ 0, 4, 2, 1, "bad-connection" },
	{ 0, 4, 3, 1, "routing-errors" },
	{ 0, 4, 4, 1, "routing-errors" },
	{ 0, 4, 6, 1, "routing-errors" },
	{ 0, 4, 7, 1, "message-expired" },
	{ 0, 7, 7, 1, "content-related" },
	{ 0, 7, 27, 1, "invalid-sender" },
	{ 0, 2, 3, 1, "content-related" },	/* message too long */
	{ 0, 3, 4, 1, "content-related" },	/* message too big */
	/* Vague codes: only when no pattern matched. */
	{ 0, 2, 0, 0, "bad-mailbox" },
	{ 0, 2, 1, 0, "inactive-mailbox" },
	{ 0, 3, 3, 0, "content-related" },
	{ 0, 4, 1, 0, "no-answer-from-host" },
	{ 0, 4, -1, 0, "routing-errors" },
	{ 0, 5, 3, 0, "policy-related" },
	{ 0, 5, -1, 0, "protocol-errors" },
	{ 0, 6, -1, 0, "content-related" },
	{ 0, 7, 0, 0, "policy-related" },
	{ 0, 7, 1, 0, "policy-related" },
	{ 0, 7, 2, 0, "policy-related" },
	{ 0, 7, 23, 0, "policy-related" },
	{ 0, 7, 24, 0, "policy-related" },
	{ 0, 7, 25, 0, "policy-related" },
	{ 0, 7, 26, 0, "policy-related" },
};

#define BC_WHO	"(user|mailbox|recipient|rcpt|local part|address|account|" \
		"mail drop|ad(d?)ressee)"
#define BC_BAD	"(not (a +)?valid|not known|not here|not found|" \
		"does not exist|bad|invalid|unknown|illegal|unavailable)"

struct bc_pattern {
	const char	*re;
	const char	*cat;
};

/*
 * Texts that say more than the code that comes with them: providers that
 * use 5.1.10 or 5.4.1 for "no such recipient", 5.1.2 for a sender domain,
 * or "limit exceeded" for throttling.  Checked before anything else.
 */
static const struct bc_pattern bc_early[] = {
	{ "RecipientNotFound|RecipNotFound|recipient not found",
	    "bad-mailbox" },
	{ "5\\.4\\.1 Recipient address rejected: Access denied",
	    "bad-mailbox" },
	{ "#5\\.1\\.0 Address rejected", "bad-mailbox" },
	{ "(nonexistent|non-existent) domain|NonExistentDomain",
	    "bad-domain" },
	{ "required for sender address|unregistered domain",
	    "invalid-sender" },
	{ "content presents a potential security issue", "content-related" },
	{ "unauthenticated|not authenticated|authentication (checks|"
	    "information|level|required)|\\bDMARC\\b|\\bSPF\\b|\\bDKIM\\b",
	    "policy-related" },
};

static const struct bc_pattern bc_patterns[] = {
	/* PowerMTA's defaults, without the ones anchored on a code. */
	{ "spam", "spam-related" },
	{ "junk mail", "spam-related" },
	{ "blacklist", "spam-related" },
	{ "blocked", "spam-related" },
	{ "\\bU\\.?C\\.?E\\.?\\b", "spam-related" },
	{ "\\bAdv(ertisements?)?\\b", "spam-related" },
	{ "unsolicited", "spam-related" },
	{ "\\b(open)?RBL\\b", "spam-related" },
	{ "realtime blackhole", "spam-related" },
	/* Ours: throttling, ahead of /limit exceeded/ (quota). */
	{ "rate ?limit", "policy-related" },
	{ "\\bvirus\\b", "virus-related" },
	{ "message +content", "content-related" },
	{ "content +rejected", "content-related" },
	{ "quota", "quota-issues" },
	{ "limit exceeded", "quota-issues" },
	{ "mailbox +(is +)?full", "quota-issues" },
	{ "sender ((verify|verification) failed|could not be verified|"
	    "address rejected|domain must exist)", "invalid-sender" },
	{ "unable to verify sender", "invalid-sender" },
	{ "requires valid sender domain", "invalid-sender" },
	{ "bad sender's system address", "invalid-sender" },
	{ "No MX for envelope sender domain", "invalid-sender" },
	{ "no mail hosts for domain", "invalid-sender" },
	{ "Your domain has no(t)? DNS/MX entries", "invalid-sender" },
	{ "REQUESTED ACTION NOT TAKEN: DNS FAILURE", "invalid-sender" },
	{ "Domain of sender address", "invalid-sender" },
	{ "return MX does not exist", "invalid-sender" },
	{ "Invalid sender domain", "invalid-sender" },
	{ "Verification failed", "invalid-sender" },
	{ "\\bstorage\\b", "quota-issues" },
	/* Ours: more senders that do not verify, more block lists. */
	{ "sender rejected|invalid mail ?from|sender verify",
	    "invalid-sender" },
	{ "block ?list|black ?list|dnsbl|banned (sending ip|sender)|"
	    "traffic not accepted from this ip|user complaints|"
	    "\\((RTR:[A-Z]+|BL)\\)", "spam-related" },
	{ "disk space|insufficient (system )?(storage|resources)",
	    "quota-issues" },
	{ BC_WHO " (has|has been|is)? *(currently|temporarily +)?"
	    "(disabled|expired|inactive|not activated)", "inactive-mailbox" },
	{ "(conta|usu.rio) inativ(a|o)", "inactive-mailbox" },
	{ "\\bis (now |currently )?(inactive|deactivated|suspended)\\b",
	    "inactive-mailbox" },
	{ "Too many (bad|invalid|unknown|illegal|unavailable) " BC_WHO,
	    "other" },
	{ "(No such|bad|invalid|unknown|illegal|unavailable) (local +)?"
	    BC_WHO, "bad-mailbox" },
	{ BC_WHO " +(\\S+@\\S+ +)?" BC_BAD, "bad-mailbox" },
	{ "\\S+@\\S+ +(is +)?" BC_BAD, "bad-mailbox" },
	{ "no mailbox here by that name", "bad-mailbox" },
	{ "my badrcptto list", "bad-mailbox" },
	{ "not our customer", "bad-mailbox" },
	{ "no longer (valid|available)", "bad-mailbox" },
	{ "have a \\S+ account", "bad-mailbox" },
	{ "\\brelay(ing)?", "relaying-issues" },
	{ "domain (retired|bad|invalid|unknown|illegal|unavailable)",
	    "bad-domain" },
	{ "domain no longer in use", "bad-domain" },
	{ "domain (\\S+ +)?(is +)?obsolete", "bad-domain" },
	{ "Invalid 7bit DATA", "content-related" },
	/* Ours: failures of Tern itself, before any SMTP reply;
	 * ahead of /refused/ and /rejected/, which would call them policy. */
	{ "(host|domain)( name)? not found|nxdomain|null MX|"
	    "no (mx|mail exchanger|address) (record|for)", "bad-domain" },
	{ "(message|delivery time) expired|too long in (the )?queue|"
	    "expired after", "message-expired" },
	{ "timed? ?out|no answer|not responding|unreachable|"
	    "connection refused",
	    "no-answer-from-host" },
	{ "connection (reset|lost|closed|dropped)|lost connection|"
	    "broken pipe|tls (handshake|negotiation)", "bad-connection" },
	/* Ours: throttling says nothing about the recipient. */
	{ "rate limit|rate that prevents|too many (connections|messages|"
	    "concurrent|recipients)|throttl|limits for how many|"
	    "receiving mail at a rate|"
	    "too (quickly|fast)|server busy|temporarily deferred|"
	    "\\((DYN|DNS):[A-Z0-9]+\\)", "policy-related" },
	{ "\\bPTR\\b|reverse (dns|hostname)|rdns", "policy-related" },
	{ "mail loop|routing loop|too many hops|hop count|points back to",
	    "routing-errors" },
	{ "denied", "policy-related" },
	{ "prohibit", "policy-related" },
	{ "rejected", "policy-related" },
	{ "refused", "policy-related" },
	{ "allowed", "policy-related" },
	{ "banned", "policy-related" },
	{ "policy", "policy-related" },
	{ "suspicious activity", "policy-related" },
	{ "bad sequence", "protocol-errors" },
	{ "syntax error", "protocol-errors" },
	{ "\\broute\\b", "routing-errors" },
	{ "\\bunroutable\\b", "routing-errors" },
	{ "\\bunrouteable\\b", "routing-errors" },
};

#define BC_NEARLY	(sizeof(bc_early) / sizeof(bc_early[0]))
#define BC_NPATTERNS	(sizeof(bc_patterns) / sizeof(bc_patterns[0]))

static regex_t	bc_re_early[BC_NEARLY];
static regex_t	bc_re[BC_NPATTERNS];
static int	bc_compiled;

/* <bounce-category-patterns> of the configuration, tried first. */
struct bc_user {
	regex_t	 re;
	char	*cat;
};
static struct bc_user	*bc_user;
static size_t		 bc_nuser;

static void
bc_compile_list(const struct bc_pattern *p, regex_t *re, size_t n)
{
	size_t i;
	int r;

	for (i = 0; i < n; i++)
		if ((r = regcomp(&re[i], p[i].re,
		    REG_EXTENDED | REG_ICASE | REG_NOSUB)) != 0)
			fatalx("bounce pattern \"%s\" does not compile (%d)",
			    p[i].re, r);
}

static void
bc_compile(void)
{
	bc_compile_list(bc_early, bc_re_early, BC_NEARLY);
	bc_compile_list(bc_patterns, bc_re, BC_NPATTERNS);
	bc_compiled = 1;
}

void
bounce_patterns_clear(void)
{
	size_t i;

	for (i = 0; i < bc_nuser; i++) {
		regfree(&bc_user[i].re);
		free(bc_user[i].cat);
	}
	free(bc_user);
	bc_user = NULL;
	bc_nuser = 0;
}

/*
 * "/regex/ category" lines.  The regex is a POSIX extended one, matched
 * without regard to case (as PowerMTA's are by default) against
 * "STATUS;DIAG", e.g. "5.1.1;smtp;550 5.1.1 no such user", so that
 * PowerMTA's anchored patterns (/^[45]\.1\.1;/) work unchanged.  A line
 * that does not compile is logged and skipped; the rest still apply.
 */
int
bounce_patterns_config(const struct cfg *cfg)
{
	const struct cfg_node *blk, *n;
	struct bc_user *u;
	char *re;
	size_t len;
	int bad = 0, r;

	bounce_patterns_clear();
	if (cfg == NULL || (blk = cfg_child(cfg->root,
	    "bounce-category-patterns")) == NULL)
		return 0;
	for (n = blk->child; n != NULL; n = n->next) {
		if (n->argc < 2 || (len = strlen(n->argv[0])) < 2 ||
		    n->argv[0][0] != '/' || n->argv[0][len - 1] != '/')
			continue;
		if ((re = strndup(n->argv[0] + 1, len - 2)) == NULL)
			fatal("bounce_patterns_config");
		if ((u = reallocarray(bc_user, bc_nuser + 1,
		    sizeof(*u))) == NULL)
			fatal("bounce_patterns_config");
		bc_user = u;
		u = &bc_user[bc_nuser];
		if ((r = regcomp(&u->re, re, REG_EXTENDED | REG_ICASE |
		    REG_NOSUB)) != 0) {
			log_warnx("%s:%d: bounce category pattern %s does "
			    "not compile (%d), ignored", n->file ? n->file :
			    "?", n->line, n->argv[0], r);
			bad++;
		} else {
			if ((u->cat = strdup(n->argv[1])) == NULL)
				fatal("bounce_patterns_config");
			bc_nuser++;
		}
		free(re);
	}
	return bad ? -1 : 0;
}

static const char *
bc_by_user(const char *status, const char *diag)
{
	char subj[2048];
	size_t i;

	if (bc_nuser == 0)
		return NULL;
	snprintf(subj, sizeof(subj), "%s;%s%s", status ? status : "",
	    diag && *diag && strncasecmp(diag, "smtp;", 5) != 0 ? "smtp;" :
	    "", diag ? diag : "");
	for (i = 0; i < bc_nuser; i++)
		if (regexec(&bc_user[i].re, subj, 0, NULL, 0) == 0)
			return bc_user[i].cat;
	return NULL;
}

/* The code in a reply: "550 5.1.1 text" or "smtp;550-5.1.1 text". */
static int
bc_reply_code(const char *diag, int *cls, int *subj, int *detail)
{
	const char *p;

	if (diag == NULL)
		return -1;
	if (strncasecmp(diag, "smtp;", 5) == 0)
		diag += 5;
	for (p = diag; isdigit((unsigned char)*p); p++)
		;
	if (p - diag != 3 || (*p != ' ' && *p != '-'))
		return -1;
	p++;
	if (*p == '#')		/* IronPort: "550 #5.1.0 Address rejected" */
		p++;
	return dsn_parse(p, cls, subj, detail);
}

/*
 * The enhanced code of a failure: the status, unless it is missing or
 * only "x.0.0" (what Tern says when the remote gave no code) and the
 * reply has a better one.
 */
static int
bc_code_of(const char *status, const char *diag, int *cls, int *subj,
    int *detail)
{
	int c, s, d;

	if (dsn_parse(status, cls, subj, detail) == 0 && (*subj != 0 ||
	    *detail != 0))
		return 0;
	if (bc_reply_code(diag, &c, &s, &d) == 0) {
		*cls = c;
		*subj = s;
		*detail = d;
		return 0;
	}
	return dsn_parse(status, cls, subj, detail);
}

static const char *
bc_by_code(int cls, int subj, int detail, int decisive_only)
{
	const struct bc_code *c;
	size_t i;

	for (i = 0; i < sizeof(bc_codes) / sizeof(bc_codes[0]); i++) {
		c = &bc_codes[i];
		if (decisive_only && !c->decisive)
			continue;
		if ((c->cls == 0 || c->cls - '0' == cls) && c->subj == subj &&
		    (c->detail == -1 || c->detail == detail))
			return c->cat;
	}
	return NULL;
}

static const char *
bc_by_text(const char *diag, int early)
{
	const struct bc_pattern *p = early ? bc_early : bc_patterns;
	regex_t *re = early ? bc_re_early : bc_re;
	size_t i, n = early ? BC_NEARLY : BC_NPATTERNS;

	if (diag == NULL || *diag == '\0')
		return NULL;
	if (!bc_compiled)
		bc_compile();
	for (i = 0; i < n; i++)
		if (regexec(&re[i], diag, 0, NULL, 0) == 0)
			return p[i].cat;
	return NULL;
}

/* 500-504 without an enhanced code: the remote did not understand us. */
static int
bc_protocol_reply(const char *diag)
{
	if (diag == NULL)
		return 0;
	if (strncasecmp(diag, "smtp;", 5) == 0)
		diag += 5;
	return diag[0] == '5' && diag[1] == '0' && diag[2] >= '0' &&
	    diag[2] <= '4' && (diag[3] == ' ' || diag[3] == '-' ||
	    diag[3] == '\0');
}

const char *
bounce_classify(const char *dsn_status, const char *diag)
{
	const char *cat;
	int cls, subj, detail, have;

	have = bc_code_of(dsn_status, diag, &cls, &subj, &detail) == 0;
	if (have && cls == 2)
		return "success";
	if ((cat = bc_by_user(dsn_status, diag)) != NULL)
		return cat;
	if ((cat = bc_by_text(diag, 1)) != NULL)
		return cat;
	if (have && (cat = bc_by_code(cls, subj, detail, 1)) != NULL)
		return cat;
	if ((cat = bc_by_text(diag, 0)) != NULL)
		return cat;
	if (have && (cat = bc_by_code(cls, subj, detail, 0)) != NULL)
		return cat;
	if (bc_protocol_reply(diag))
		return "protocol-errors";
	return "other";
}
