/*
 * smtp_verb.c - what each SMTP command does, and the mail transaction
 * (MAIL, RCPT, DATA) up to queued's answer.
 *
 * Replies follow PowerMTA's wording (reference §7.2) with RFC 3463
 * enhanced status codes on every line.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "smtpd.h"

#define R_BADSEQ	"503 5.5.1 bad sequence of commands"
#define R_TEMPFAIL	"451 4.3.0 temporary failure, try again"
#define R_NOSPACE	"452 4.3.1 insufficient system storage"
#define R_TOOMANY	"452 4.5.3 too many recipients"
#define R_NEEDUTF8	"553 5.6.7 non-ASCII address needs SMTPUTF8"
#define R_STOPPING	"421 4.3.2 %s service shutting down"

/* A reply that counts as a client error; too many end the session. */
void
smtp_error(struct smtp_session *s, const char *reply)
{
	smtp_reply(s, "%s", reply);
	if (++s->nerrors <= SMTP_MAX_ERRORS)
		return;
	smtp_reply(s, "421 4.7.0 %s too many errors, closing connection",
	    smtpd.conf.hostname);
	smtp_quit(s);
}

void
smtp_greet(struct smtp_session *s)
{
	switch (s->refuse) {
	case SMTP_REFUSE_BUSY:
		smtp_reply(s, "421 4.7.0 too many connections");
		break;
	case SMTP_REFUSE_LIMIT:
		smtp_reply(s, "421 4.7.0 too many connections from your "
		    "address or network");
		break;
	case SMTP_REFUSE_SOURCE:
		smtp_reply(s, "521 5.7.1 %s does not accept mail from you",
		    smtpd.conf.hostname);
		break;
	case SMTP_REFUSE_STOPPING:
		smtp_reply(s, R_STOPPING, smtpd.conf.hostname);
		break;
	case SMTP_REFUSE_SPOOL:
		/* RFC 3463: 4.3.2 system not accepting network messages. */
		smtp_reply(s, "421 4.3.2 %s spool full, try again later",
		    smtpd.conf.hostname);
		break;
	default:
		smtp_reply(s, "220 %s ESMTP Tern service ready",
		    smtpd.conf.hostname);
		return;
	}
	smtp_quit(s);
}

/* --- transaction --- */

void
smtp_tx_free(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	uint32_t i;

	if (tx == NULL)
		return;
	smtp_data_abort(&tx->data);
	/* A file queued made for us and never committed: give it back. */
	if (tx->qid[0] != '\0' && s->state != SMTP_S_COMMIT)
		smtpd_queued_rollback(tx->qid);
	for (i = 0; i < tx->nrcpt; i++) {
		free(tx->rcpts[i].addr);
		free(tx->rcpts[i].orcpt);
	}
	free(tx->rcpts);
	free(tx->sender);
	free(tx->envid);
	free(tx->vmta);
	free(tx->jobid);
	free(tx->remote_ip);
	free(tx);
	s->tx = NULL;
	if (s->state != SMTP_S_INIT)
		s->state = SMTP_S_HELO;
}

static void
smtp_tx_new(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	struct smtp_tx *tx;

	if ((tx = calloc(1, sizeof(*tx))) == NULL)
		fatal("smtp_tx_new");
	tx->data.fd = -1;
	tx->sender = xstrdup(cmd->addr);
	tx->envid = cmd->envid[0] ? xstrdup(cmd->envid) : NULL;
	tx->ret = cmd->ret;
	if (cmd->body == SMTP_BODY_8BITMIME)
		tx->flags |= ENV_8BITMIME;
	if (cmd->smtputf8)
		tx->flags |= ENV_SMTPUTF8;
	/* Fixed fields of the envelope, roughly, with their tags. */
	tx->envbytes = 1024 + strlen(tx->sender) + strlen(s->helo) +
	    (tx->envid ? strlen(tx->envid) : 0);
	s->tx = tx;
	s->state = SMTP_S_MAIL;
}

static void
smtp_tx_add_rcpt(struct smtp_tx *tx, const char *addr,
    const struct smtp_cmd *cmd, size_t cost)
{
	struct rcpt *r;
	uint32_t cap;

	if (tx->nrcpt == tx->rcptcap) {
		cap = tx->rcptcap ? tx->rcptcap * 2 : 8;
		if ((r = reallocarray(tx->rcpts, cap, sizeof(*r))) == NULL)
			fatal("smtp_tx_add_rcpt");
		tx->rcpts = r;
		tx->rcptcap = cap;
	}
	r = &tx->rcpts[tx->nrcpt];
	memset(r, 0, sizeof(*r));
	r->addr = xstrdup(addr);
	r->orcpt = cmd->orcpt[0] ? xstrdup(cmd->orcpt) : NULL;
	r->notify = cmd->notify;
	r->index = tx->nrcpt++;
	tx->envbytes += cost;
}

/* --- commands --- */

static void
smtp_helo(struct smtp_session *s, const struct smtp_cmd *cmd, int esmtp)
{
	const char *host = smtpd.conf.hostname;

	smtp_tx_free(s);
	strlcpy(s->helo, cmd->arg, sizeof(s->helo));
	s->esmtp = esmtp;
	s->state = SMTP_S_HELO;
	if (!esmtp) {
		smtp_reply(s, "250 %s says hello", host);
		return;
	}
	smtp_reply(s, "250-%s says hello", host);
	smtp_reply(s, "250-ENHANCEDSTATUSCODES");
	smtp_reply(s, "250-PIPELINING");
	smtp_reply(s, "250-8BITMIME");
	smtp_reply(s, "250-SIZE %llu", (unsigned long long)s->max_size);
	smtp_reply(s, "250-DSN");
	if (s->allow_chunking)
		smtp_reply(s, "250-CHUNKING");
	if (s->ssl == NULL && s->allow_starttls && smtp_tls_available(s))
		smtp_reply(s, "250-STARTTLS");
	if (smtp_auth_offered(s))
		smtp_reply(s, "250-AUTH PLAIN LOGIN");
	smtp_reply(s, "250 SMTPUTF8");
}

static int
smtp_has_params(const struct smtp_cmd *cmd)
{
	return cmd->has_size || cmd->body != SMTP_BODY_NONE ||
	    cmd->smtputf8 || cmd->ret != RET_DEFAULT || cmd->envid[0] ||
	    cmd->notify || cmd->orcpt[0];
}

static void
smtp_mail(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	if (s->state != SMTP_S_HELO) {
		smtp_error(s, R_BADSEQ);
		return;
	}
	if (!s->esmtp && smtp_has_params(cmd)) {
		smtp_error(s, smtp_cmd_reply(SMTP_ERR_PARAM));
		return;
	}
	if (s->require_auth && s->authuser[0] == '\0') {
		smtp_error(s, "530 5.7.0 authentication required");
		return;
	}
	if (s->iprev_check && smtp_iprev_refuse(s))
		return;
	if (smtpd_spool_full()) {
		smtp_reply(s, R_NOSPACE);
		return;
	}
	if (cmd->has_size && s->max_size && cmd->size > s->max_size) {
		smtp_error(s, "552 5.3.4 message size exceeds fixed maximum "
		    "message size");
		return;
	}
	if (cmd->body == SMTP_BODY_BINARYMIME) {
		smtp_error(s, "555 5.5.4 BODY=BINARYMIME needs CHUNKING");
		return;
	}
	if (cmd->addr_utf8 && !cmd->smtputf8) {
		smtp_error(s, R_NEEDUTF8);
		return;
	}
	smtp_tx_new(s, cmd);
	smtp_reply(s, "250 2.1.0 MAIL ok");
}

/* Mail any client may send without relaying rights: bounces and
 * feedback reports for bounced, and the relay-domain domains. */
static int
smtp_rcpt_ours(const char *addr)
{
	const struct cfg_node *n;
	char dom[SMTP_DOMAIN_MAX + 1];

	if (smtpd.cfg == NULL)
		return 0;
	if (cfg_inbound_addr(smtpd.cfg, addr))
		return 1;
	addr_domain(addr, dom, sizeof(dom));
	for (n = cfg_child(smtpd.cfg->root, "relay-domain"); n != NULL;
	    n = cfg_next_named(n, "relay-domain"))
		if (n->arg != NULL && cfg_domain_match(smtpd.cfg, n->arg,
		    dom) > 0)
			return 1;
	return 0;
}

static void
smtp_rcpt(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	char pm[sizeof("postmaster@") + sizeof(smtpd.conf.hostname)];
	const char *addr = cmd->addr;
	size_t cost;

	if (s->state != SMTP_S_MAIL || s->tx->bdat) {
		smtp_error(s, R_BADSEQ);
		return;
	}
	if (!s->esmtp && smtp_has_params(cmd)) {
		smtp_error(s, smtp_cmd_reply(SMTP_ERR_PARAM));
		return;
	}
	if (smtpd_spool_full()) {
		smtp_reply(s, R_NOSPACE);
		return;
	}
	if (cmd->addr_utf8 && !(s->tx->flags & ENV_SMTPUTF8)) {
		smtp_error(s, R_NEEDUTF8);
		return;
	}
	if (cmd->is_postmaster) {
		/* RFC 5321 4.5.1: always accepted; ours is at host-name. */
		snprintf(pm, sizeof(pm), "postmaster@%s", smtpd.conf.hostname);
		addr = pm;
	} else if (!s->relay && s->authuser[0] == '\0' &&
	    !smtp_rcpt_ours(addr)) {
		smtp_error(s, "550 5.7.1 relaying denied");
		return;
	}
	if (!cmd->is_postmaster && smtp_suppress_rcpt(s, addr))
		return;
	cost = 32 + strlen(addr) + strlen(cmd->orcpt);
	if (s->tx->nrcpt >= SMTP_MAX_RCPTS ||
	    s->tx->envbytes + cost > SMTP_ENV_BUDGET) {
		smtp_reply(s, R_TOOMANY);
		return;
	}
	smtp_tx_add_rcpt(s->tx, addr, cmd, cost);
	smtp_reply(s, "250 2.1.5 <%s> ok", cmd->addr);
}

static void
smtp_data(struct smtp_session *s)
{
	char qid[QID_LEN + 1];
	int fd;

	if (s->state != SMTP_S_MAIL || s->tx->bdat) {
		smtp_error(s, R_BADSEQ);
		return;
	}
	if (s->tx->nrcpt == 0) {
		smtp_error(s, "554 5.5.1 no valid recipients");
		return;
	}
	switch (smtpd_queued_create(s, qid, &fd)) {
	case -1:
		smtp_reply(s, R_TEMPFAIL);
		return;
	case 0:
		/* The input loop stops here until queued answers. */
		s->state = SMTP_S_CREATE;
		smtp_timer_reset(s);
		return;
	}
	smtp_file_ready(s, qid, fd);	/* the input loop goes on */
}

static void
smtp_rset(struct smtp_session *s)
{
	smtp_tx_free(s);
	smtp_reply(s, "250 2.0.0 ok");
}

static void
smtp_quit_cmd(struct smtp_session *s)
{
	smtp_reply(s, "221 2.0.0 %s says goodbye", smtpd.conf.hostname);
	smtp_quit(s);
}

/* How much of a command line may be logged: AUTH's initial response
 * carries a password. */
static size_t
smtp_log_len(const char *line, size_t len)
{
	const char *sp;

	if (len > 5 && strncasecmp(line, "AUTH ", 5) == 0 &&
	    (sp = memchr(line + 5, ' ', len - 5)) != NULL)
		return sp - line;
	return len;
}

void
smtp_command(struct smtp_session *s, const char *line, size_t len)
{
	struct smtp_cmd cmd;
	int r;

	if (s->auth_step != SMTP_AUTH_NONE) {
		/* A response to our 334: credentials, never logged. */
		smtp_auth_line(s, line, len);
		return;
	}
	log_debug("%08x <<< %.*s", s->id, (int)smtp_log_len(line, len), line);
	if ((r = smtp_cmd_parse_len(line, len, &cmd)) != SMTP_OK) {
		/* Bulk lists hold bad addresses: not a misbehaving client. */
		if (r == SMTP_ERR_RCPT)
			smtp_reply(s, "%s", smtp_cmd_reply(r));
		else
			smtp_error(s, smtp_cmd_reply(r));
		return;
	}
	if (smtpd.stopping && cmd.verb != SMTP_CMD_QUIT) {
		smtp_reply(s, R_STOPPING, smtpd.conf.hostname);
		smtp_quit(s);
		return;
	}
	switch (cmd.verb) {
	case SMTP_CMD_HELO:
	case SMTP_CMD_EHLO:
		smtp_helo(s, &cmd, cmd.verb == SMTP_CMD_EHLO);
		break;
	case SMTP_CMD_MAIL:
		smtp_mail(s, &cmd);
		break;
	case SMTP_CMD_RCPT:
		smtp_rcpt(s, &cmd);
		break;
	case SMTP_CMD_DATA:
		smtp_data(s);
		break;
	case SMTP_CMD_RSET:
		smtp_rset(s);
		break;
	case SMTP_CMD_NOOP:
		smtp_reply(s, "250 2.0.0 ok");
		break;
	case SMTP_CMD_QUIT:
		smtp_quit_cmd(s);
		break;
	case SMTP_CMD_STARTTLS:
		smtp_tls_cmd(s, &cmd);
		break;
	case SMTP_CMD_AUTH:
		smtp_auth_cmd(s, &cmd);
		break;
	case SMTP_CMD_BDAT:
		smtp_bdat_cmd(s, &cmd);
		break;
	case SMTP_CMD_HELP:
		smtp_reply(s, "214 2.0.0 EHLO HELO MAIL RCPT DATA RSET NOOP "
		    "QUIT HELP");
		break;
	default:
		/* VRFY, EXPN (off on purpose), TURN, ETRN... */
		smtp_error(s, "502 5.5.1 command not implemented");
		break;
	}
}

/* --- queued's answers --- */

static void
smtp_reply_code(struct smtp_session *s, uint32_t code, const char *status,
    const char *text)
{
	if (code < 400 || code > 599 || status == NULL || text == NULL) {
		smtp_reply(s, R_TEMPFAIL);
		return;
	}
	smtp_reply(s, "%u %s %s", code, status, text);
}

/* The message's file is here: from the files queued handed ahead, while
 * the input loop runs, or in queued's answer (smtp_created). */
void
smtp_file_ready(struct smtp_session *s, const char *qid, int fd)
{
	strlcpy(s->tx->qid, qid, sizeof(s->tx->qid));
	if (smtp_data_begin(s, fd) == -1) {
		smtp_reply(s, R_TEMPFAIL);
		if (s->tx->bdat) {
			s->skip = s->bdat_left;
			s->bdat_left = 0;
		}
		smtp_tx_free(s);
		return;
	}
	if (s->tx->bdat) {
		smtp_bdat_begin(s);
		return;
	}
	s->state = SMTP_S_DATA;
	smtp_reply(s, "354 send message");
}

/* queued answered MSG_CREATE: go on with the input. */
void
smtp_created(struct smtp_session *s, const char *qid, int fd)
{
	smtp_file_ready(s, qid, fd);
	smtp_resume(s);
}

void
smtp_create_failed(struct smtp_session *s, uint32_t code, const char *status,
    const char *text)
{
	/* The transaction stays: the client may RSET, QUIT or retry. */
	s->state = SMTP_S_MAIL;
	if (code == 452)
		smtpd_spool_state(1);	/* still full: refuse at MAIL again */
	smtp_reply_code(s, code, status, text);
	if (s->tx->bdat) {
		/* The chunk's octets follow the command: drop them. */
		s->skip = s->bdat_left;
		s->bdat_left = 0;
		smtp_tx_free(s);
	}
	smtp_resume(s);
}

const char *
smtp_derr_reply(int err)
{
	switch (err) {
	case SMTP_DERR_TOOBIG:
		return "552 5.3.4 message too big";
	case SMTP_DERR_LINE:
		return "554 5.6.0 message has a line too long";
	case SMTP_DERR_NOSPC:
		return R_NOSPACE;
	case SMTP_DERR_HDRTOOBIG:
		return "552 5.3.4 header section too big";
	case SMTP_DERR_VMTA:
		return "550 5.7.1 unknown virtual MTA in X-Virtual-MTA";
	default:
		return R_TEMPFAIL;
	}
}

static void
smtp_commit(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	struct envelope env;

	memset(&env, 0, sizeof(env));
	strlcpy(env.qid, tx->qid, sizeof(env.qid));
	env.sender = tx->sender;
	env.helo = s->helo;
	env.client = tx->remote_ip ? tx->remote_ip : s->ip;
	env.envid = tx->envid;
	env.authuser = s->authuser[0] != '\0' ? s->authuser : NULL;
	env.vmta = tx->vmta != NULL ? tx->vmta : s->default_vmta;
	env.jobid = tx->jobid;
	env.ret = tx->ret;
	env.flags = tx->flags;
	env.queued = time(NULL);
	env.size = tx->data.written;
	env.nrcpt = tx->nrcpt;
	env.rcpts = tx->rcpts;
	smtpd_queued_commit(s, &env);
	s->state = SMTP_S_COMMIT;
	smtp_timer_reset(s);
}

/* The final dot was read. */
void
smtp_data_done(struct smtp_session *s)
{
	int err;

	err = smtp_data_finish(s);
	if (err == SMTP_DERR_NONE && smtpd.queued == NULL)
		err = SMTP_DERR_QUEUED;
	if (err == SMTP_DERR_NONE && s->tx->vmta != NULL &&
	    s->reject_bad_vmta && smtpd.cfg != NULL &&
	    cfg_vmta(smtpd.cfg, s->tx->vmta) == NULL &&
	    cfg_pool(smtpd.cfg, s->tx->vmta) == NULL)
		err = SMTP_DERR_VMTA;
	if (err != SMTP_DERR_NONE) {
		log_info("%s: rejected from %s: %s", s->tx->qid, s->ip,
		    smtp_derr_reply(err));
		/* A file of a queued that went away is not the new one's. */
		if (err == SMTP_DERR_QUEUED)
			s->tx->qid[0] = '\0';
		smtp_reply(s, "%s", smtp_derr_reply(err));
		smtp_tx_free(s);
		return;
	}
	smtp_commit(s);
}

void
smtp_committed(struct smtp_session *s, const char *qid)
{
	log_info("%s: from=<%s> size=%llu nrcpt=%u helo=%s client=%s", qid,
	    s->tx->sender, (unsigned long long)s->tx->data.written,
	    s->tx->nrcpt, s->helo, s->ip);
	smtp_reply(s, "250 2.0.0 %s message queued", qid);
	smtp_tx_free(s);
	if (smtpd.stopping) {
		smtp_reply(s, R_STOPPING, smtpd.conf.hostname);
		smtp_quit(s);
		return;
	}
	smtp_resume(s);
}

void
smtp_commit_failed(struct smtp_session *s, uint32_t code, const char *status,
    const char *text)
{
	log_info("%s: not queued: %u %s %s", s->tx->qid, code,
	    status ? status : "-", text ? text : "-");
	smtp_reply_code(s, code, status, text);
	smtp_tx_free(s);
	smtp_resume(s);
}

/* queued went away: nothing of what it was doing for us is valid. */
void
smtp_queued_lost(struct smtp_session *s)
{
	switch (s->state) {
	case SMTP_S_CREATE:
		s->state = SMTP_S_MAIL;
		break;
	case SMTP_S_COMMIT:
		s->tx->qid[0] = '\0';
		smtp_tx_free(s);
		break;
	case SMTP_S_MAIL:
		/* A BDAT transaction's file belonged to the old queued. */
		if (s->tx != NULL && s->tx->bdat &&
		    s->tx->data.error == SMTP_DERR_NONE)
			s->tx->data.error = SMTP_DERR_QUEUED;
		return;
	case SMTP_S_DATA:
	case SMTP_S_BDAT:
		/* Read the rest of the text, then answer 451. */
		if (s->tx->data.error == SMTP_DERR_NONE)
			s->tx->data.error = SMTP_DERR_QUEUED;
		return;
	default:
		return;
	}
	smtp_reply(s, R_TEMPFAIL);
	smtp_resume(s);
}

/* Shutdown: idle sessions go now, busy ones after their message. */
void
smtp_stopping(struct smtp_session *s)
{
	if (s->quit || s->closing)
		return;
	switch (s->state) {
	case SMTP_S_INIT:
	case SMTP_S_HELO:
	case SMTP_S_MAIL:
		smtp_reply(s, R_STOPPING, smtpd.conf.hostname);
		smtp_quit(s);
		break;
	default:
		break;
	}
}
