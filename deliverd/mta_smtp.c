/*
 * mta_smtp.c - the SMTP client dialogue of a session (RFC 5321):
 * greeting, EHLO (HELO when EHLO is refused), then transactions for the
 * jobs the queue hands over, one after another on the same connection.
 *
 * With PIPELINING (RFC 2920) MAIL, every RCPT and DATA go out in one
 * write and the replies are read in order; without it each command waits
 * for the previous reply.  Both paths share the reply handlers below:
 * only whether the handler sends the next command differs.
 *
 * A recipient accepted at RCPT is delivered only when the reply to the
 * final dot is positive; that reply (or a lost connection before it)
 * applies to every accepted recipient.
 *
 * CHUNKING (RFC 3030): when the server offers it and PIPELINING, and
 * neither ignore-chunking nor a smtp-pipeline-depth holds it back, the
 * message goes as BDAT chunks right behind the RCPTs, in the same write
 * for a message that fits in one (mta_body.c): a transaction costs one
 * round trip, not two (no 354 to wait for), and no dot is doubled.
 * PowerMTA uses CHUNKING when offered too (ignore-chunking no).  The
 * last chunk's reply stands where the final dot's does; a failed chunk
 * ends the transaction (RSET, or closing when chunks are still being
 * written, since the dialogue is then out of step).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mta.h"
#include "proto.h"

static void	mta_smtp_next(struct mta_session *);
static void	mta_smtp_body(struct mta_session *);

static const char *
mta_smtp_waiting_for(const struct mta_session *s)
{
	switch (s->state) {
	case MTA_BANNER:	return "the greeting";
	case MTA_EHLO:		return "reply to EHLO";
	case MTA_HELO:		return "reply to HELO";
	case MTA_STARTTLS:	return "reply to STARTTLS";
	case MTA_TLS:		return "the TLS handshake";
	case MTA_MAIL:		return "reply to MAIL FROM";
	case MTA_RCPT:		return "reply to RCPT TO";
	case MTA_DATA:		return "reply to DATA";
	case MTA_BODY:		return "the end of the message data";
	case MTA_EOM:		return "reply to the end of data";
	case MTA_RSET:		return "reply to RSET";
	default:		return "reply";
	}
}

static void
mta_smtp_diag(const struct mta_session *s, char *buf, size_t bufsz)
{
	smtp_reply_oneline(&s->reply, buf, bufsz);
}

/* Outcome for every recipient of the job without one, job handed back. */
static void
mta_smtp_end_job(struct mta_session *s, uint32_t status, int conn_level,
    const char *dsn, const char *diag)
{
	struct mta_conninfo ci;
	struct mta_job *job = s->job;

	if (job == NULL)
		return;
	mta_session_conninfo(s, &ci);
	mta_job_fail(job, status, conn_level, dsn, diag, &ci);
	s->job = NULL;
	free(s->acc);
	free(s->sent);
	s->acc = NULL;
	s->sent = NULL;
	mta_job_done(job);
}

/*
 * The connection is gone or unusable (lost, timeout, garbage, 421).
 * Before EHLO completed that is a connection failure for the queue;
 * during a transaction the job's open recipients get a temporary
 * failure for the whole connection.
 */
static void
mta_smtp_fail_conn(struct mta_session *s, uint32_t status, const char *dsn,
    const char *diag)
{
	switch (mta_session_phase(s)) {
	case MTA_PHASE_CONNECTING:
		mta_session_connfail(s, status, dsn, diag);
		return;
	case MTA_PHASE_BUSY:
		log_info("session %u: %s: %s", s->id, s->mta, diag);
		mta_smtp_end_job(s, status, 1, dsn, diag);
		break;
	default:
		break;
	}
	mta_session_close(s);
}

void
mta_smtp_lost(struct mta_session *s, const char *why)
{
	char diag[MTA_DIAG_MAX];

	if (s->state == MTA_EOM && !s->discard)
		/* The server may have taken the message: say so, since
		 * queued will try it again (a possible duplicate). */
		snprintf(diag, sizeof(diag), "%s after the end of data, "
		    "before the reply: the message may have been delivered",
		    why);
	else
		snprintf(diag, sizeof(diag), "%s while waiting for %s", why,
		    mta_smtp_waiting_for(s));
	mta_smtp_fail_conn(s, DLV_TEMPFAIL,
	    s->state == MTA_BANNER ? "4.4.1" : "4.4.2", diag);
}

void
mta_smtp_timeout(struct mta_session *s)
{
	char diag[MTA_DIAG_MAX];

	switch (s->state) {
	case MTA_CONNECT:
		snprintf(diag, sizeof(diag), "connect to %s:%d: timed out",
		    s->dst, s->port);
		mta_session_connfail(s, DLV_TEMPFAIL, "4.4.1", diag);
		return;
	case MTA_IDLE:
		mta_session_quit(s);
		return;
	case MTA_QUIT:
		mta_session_close(s);
		return;
	default:
		mta_smtp_lost(s, "timeout");
		return;
	}
}

void
mta_smtp_connected(struct mta_session *s)
{
	log_debug("session %u: connected to %s from %s", s->id, s->mta,
	    s->src);
	s->state = MTA_BANNER;
	mta_session_timer(s, s->q->to.greeting);
}

/* A failure reply before the session is ready. */
static void
mta_smtp_refused(struct mta_session *s)
{
	char diag[MTA_DIAG_MAX];

	mta_smtp_diag(s, diag, sizeof(diag));
	mta_session_connfail(s, mta_status_of(&s->reply) == DLV_PERMFAIL ?
	    DLV_PERMFAIL : DLV_TEMPFAIL, smtp_reply_status(&s->reply), diag);
}

static void
mta_smtp_ehlo(struct mta_session *s, const char *cmd)
{
	s->state = strcmp(cmd, "EHLO") == 0 ? MTA_EHLO : MTA_HELO;
	mta_session_send(s, "%s %s\r\n", cmd, s->q->helo);
	mta_session_timer(s, s->q->to.greeting);
}

static void
mta_smtp_ext(struct mta_session *s, const char *line)
{
	static const struct { const char *kw; int flag; } exts[] = {
		{ "PIPELINING", MTA_EXT_PIPELINING },
		{ "8BITMIME", MTA_EXT_8BITMIME },
		{ "SIZE", MTA_EXT_SIZE },
		{ "SMTPUTF8", MTA_EXT_SMTPUTF8 },
		{ "STARTTLS", MTA_EXT_STARTTLS },
		{ "DSN", MTA_EXT_DSN },
		{ "CHUNKING", MTA_EXT_CHUNKING },
	};
	char kw[64];
	size_t i, n;

	for (n = 0; line[n] != '\0' && line[n] != ' ' && n + 1 < sizeof(kw);
	    n++)
		kw[n] = toupper((unsigned char)line[n]);
	kw[n] = '\0';
	if (n == 0 || strchr(kw, ',') != NULL)
		return;
	if (s->esmtp[0] != '\0')
		strlcat(s->esmtp, ",", sizeof(s->esmtp));
	strlcat(s->esmtp, kw, sizeof(s->esmtp));
	for (i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
		if (strcmp(kw, exts[i].kw) == 0)
			s->ext |= exts[i].flag;
	if (strcmp(kw, "SIZE") == 0 && line[n] == ' ')
		s->sizemax = strtoull(line + n + 1, NULL, 10);
}

/* Whether this session should ask for STARTTLS now. */
static int
mta_smtp_want_tls(const struct mta_session *s)
{
	const struct mta_queue *q = s->q;

	if (s->tls != NULL || !(s->ext & MTA_EXT_STARTTLS))
		return 0;
	return q->tls_mode == MTA_TLS_REQUIRED ||
	    (q->tls_mode == MTA_TLS_OPPORTUNISTIC && !q->tls_broken);
}

static void
mta_smtp_ready(struct mta_session *s)
{
	char diag[MTA_DIAG_MAX];
	int i;

	if (s->state == MTA_EHLO)
		for (i = 1; i < s->reply.nlines; i++)
			mta_smtp_ext(s, smtp_reply_line(&s->reply, i));
	if (mta_smtp_want_tls(s)) {
		s->state = MTA_STARTTLS;
		mta_session_send(s, "STARTTLS\r\n");
		mta_session_timer(s, s->q->to.greeting);
		return;
	}
	if (s->tls == NULL && s->q->tls_mode == MTA_TLS_REQUIRED) {
		/* Never in clear: a temporary failure, so the mail waits
		 * (and expires) rather than going out unprotected. */
		snprintf(diag, sizeof(diag), "TLS is required but %s does not "
		    "offer STARTTLS", s->mta);
		mta_session_connfail(s, DLV_TEMPFAIL, "4.7.10", diag);
		return;
	}
	log_debug("session %u: ready at %s, extensions %s%s", s->id, s->mta,
	    s->esmtp[0] ? s->esmtp : "none", s->tls ? ", TLS" : "");
	s->state = MTA_IDLE;
	mta_smtp_next(s);
}

/* Handshake done: start again with EHLO (RFC 3207 4.2). */
void
mta_smtp_tls_ready(struct mta_session *s)
{
	log_debug("session %u: TLS with %s: %s %s", s->id, s->mta,
	    mta_tls_protocol(s->tls), mta_tls_cipher(s->tls));
	s->ext = 0;
	s->esmtp[0] = '\0';
	s->sizemax = 0;
	mta_smtp_ehlo(s, "EHLO");
}

void
mta_smtp_tls_failed(struct mta_session *s, const char *why)
{
	char diag[MTA_DIAG_MAX];

	snprintf(diag, sizeof(diag), "STARTTLS with %s failed: %s", s->mta,
	    why);
	/* Opportunistic: the next connections of the queue go in clear
	 * rather than fail the same way again.  A certificate that did not
	 * verify (smtp-tls-ca-file) is PowerMTA's "fall back to plain":
	 * this session tries the same address again at once, in clear. */
	if (s->q->tls_mode != MTA_TLS_REQUIRED) {
		s->q->tls_broken = 1;
		if (s->q->tls_ca != NULL && !s->tls_retried &&
		    s->addrs != NULL) {
			s->tls_retried = 1;
			s->curaddr--;
		}
	}
	mta_session_connfail(s, DLV_TEMPFAIL, "4.7.5", diag);
}

static void
mta_smtp_starttls_reply(struct mta_session *s)
{
	if (s->reply.code == 220) {
		mta_session_tls_start(s);
		return;
	}
	if (s->q->tls_mode == MTA_TLS_REQUIRED) {
		mta_smtp_refused(s);
		return;
	}
	/* Refused, but TLS was only wished for: go on in clear. */
	s->ext &= ~MTA_EXT_STARTTLS;
	s->state = MTA_IDLE;
	mta_smtp_next(s);
}

/* Addresses go into a command line: nothing that could end it early. */
static int
mta_smtp_addr_ok(const char *a)
{
	for (; *a != '\0'; a++)
		if ((unsigned char)*a < 0x20 || *a == '<' || *a == '>' ||
		    *a == 0x7f)
			return 0;
	return 1;
}

/* A parameter value goes on a command line as it is: ENVID and ORCPT
 * were checked as xtext by smtpd, this only keeps the line intact. */
static int
mta_smtp_param_ok(const char *v)
{
	if (v == NULL || *v == '\0')
		return 0;
	for (; *v != '\0'; v++)
		if ((unsigned char)*v <= ' ' || *v == 0x7f)
			return 0;
	return 1;
}

static void
mta_smtp_send_mail(struct mta_session *s)
{
	const struct envelope *env = s->job->env;
	char size[32] = "", dsn[128 + MAX_ADDR] = "";

	if (s->ext & MTA_EXT_SIZE)
		snprintf(size, sizeof(size), " SIZE=%llu",
		    (unsigned long long)env->size +
		    (s->job->dkim ? strlen(s->job->dkim) : 0));
	/* RFC 3461: DSN requests travel on when the next hop takes them. */
	if (s->ext & MTA_EXT_DSN) {
		if (env->ret == RET_FULL || env->ret == RET_HDRS)
			strlcat(dsn, env->ret == RET_FULL ? " RET=FULL" :
			    " RET=HDRS", sizeof(dsn));
		if (mta_smtp_param_ok(env->envid) &&
		    strlen(env->envid) < MAX_ADDR) {
			strlcat(dsn, " ENVID=", sizeof(dsn));
			strlcat(dsn, env->envid, sizeof(dsn));
		}
	}
	mta_session_send(s, "MAIL FROM:<%s>%s%s%s%s\r\n", env->sender, size,
	    (env->flags & ENV_8BITMIME) && (s->ext & MTA_EXT_8BITMIME) &&
	    !s->q->no_8bitmime ? " BODY=8BITMIME" : "",
	    (env->flags & ENV_SMTPUTF8) && (s->ext & MTA_EXT_SMTPUTF8) ?
	    " SMTPUTF8" : "", dsn);
}

static void
mta_smtp_send_rcpt(struct mta_session *s, uint32_t n)
{
	const struct rcpt *r = &s->job->env->rcpts[s->sent[n]];
	char dsn[64 + MAX_ADDR] = "";

	if (s->ext & MTA_EXT_DSN) {
		if (r->notify & NOTIFY_NEVER)
			strlcat(dsn, " NOTIFY=NEVER", sizeof(dsn));
		else if (r->notify != 0)
			snprintf(dsn, sizeof(dsn), " NOTIFY=%s%s%s%s%s",
			    r->notify & NOTIFY_SUCCESS ? "SUCCESS" : "",
			    (r->notify & NOTIFY_SUCCESS) &&
			    (r->notify & (NOTIFY_FAILURE | NOTIFY_DELAY)) ?
			    "," : "",
			    r->notify & NOTIFY_FAILURE ? "FAILURE" : "",
			    (r->notify & NOTIFY_FAILURE) &&
			    (r->notify & NOTIFY_DELAY) ? "," : "",
			    r->notify & NOTIFY_DELAY ? "DELAY" : "");
		if (mta_smtp_param_ok(r->orcpt) &&
		    strlen(r->orcpt) < MAX_ADDR) {
			strlcat(dsn, " ORCPT=", sizeof(dsn));
			strlcat(dsn, r->orcpt, sizeof(dsn));
		}
	}
	mta_session_send(s, "RCPT TO:<%s>%s\r\n", r->addr, dsn);
}

/*
 * RFC 6152: 8-bit content goes only to a receiver that offers 8BITMIME
 * (not ignored with ignore-8bitmime).  Without, a message that really
 * has 8-bit bytes bounces with 5.6.3 (the RFC's other choice, a MIME
 * downgrade to quoted-printable, would break a DKIM signature made
 * upstream); one declared BODY=8BITMIME but 7-bit throughout goes as
 * it is.  -1: the job has its outcome.
 */
static int
mta_smtp_8bit_check(struct mta_session *s)
{
	struct mta_job *job = s->job;
	char diag[MTA_DIAG_MAX];

	if ((s->ext & MTA_EXT_8BITMIME) && !s->q->no_8bitmime)
		return 0;
	if (job->eightbit == -1 && job->fd != -1)
		job->eightbit = mta_body_8bit(job->fd, job->env->off,
		    job->env->size);
	if (job->eightbit != 1)
		return 0;
	snprintf(diag, sizeof(diag), "the message has 8-bit content and "
	    "%s does not offer 8BITMIME%s", s->mta, s->q->no_8bitmime ?
	    " (ignore-8bitmime)" : "");
	mta_smtp_end_job(s, DLV_PERMFAIL, 0, "5.6.3", diag);
	return -1;
}

/* Outcomes known without talking to the server.  0: go on. */
static int
mta_smtp_precheck(struct mta_session *s)
{
	struct mta_job *job = s->job;
	const struct envelope *env = job->env;
	char diag[MTA_DIAG_MAX];
	uint32_t i;

	if (!mta_smtp_addr_ok(env->sender)) {
		mta_smtp_end_job(s, DLV_PERMFAIL, 0, "5.1.7",
		    "bad sender address syntax");
		return -1;
	}
	if ((s->ext & MTA_EXT_SIZE) && s->sizemax > 0 &&
	    env->size > s->sizemax) {
		snprintf(diag, sizeof(diag), "message size %llu exceeds size "
		    "limit %llu of server %s", (unsigned long long)env->size,
		    (unsigned long long)s->sizemax, s->mta);
		mta_smtp_end_job(s, DLV_PERMFAIL, 0, "5.3.4", diag);
		return -1;
	}
	if (mta_smtp_8bit_check(s) == -1)
		return -1;
	s->more = 0;
	for (i = 0; i < env->nrcpt; i++) {
		if (job->res[i].status != 0)
			continue;	/* done in an earlier transaction */
		if (!mta_smtp_addr_ok(env->rcpts[i].addr))
			mta_job_set(job, i, DLV_PERMFAIL, 0, "5.1.3",
			    "bad recipient address syntax", NULL);
		else if (s->q->max_rcpt > 0 &&
		    s->nsent >= (uint32_t)s->q->max_rcpt)
			s->more = 1;	/* the next transaction takes it */
		else
			s->sent[s->nsent++] = i;
	}
	if (s->nsent == 0) {
		mta_smtp_end_job(s, DLV_PERMFAIL, 0, "5.1.3",
		    "bad recipient address syntax");
		return -1;
	}
	return 0;
}

/* The next piece of the body (DATA) or chunk (BDAT) in a write buffer,
 * or NULL when the file cannot be read: the job is then failed and the
 * connection closed without the final dot or BDAT LAST, so the server
 * drops the message. */
static char *
mta_smtp_piece(struct mta_session *s, ssize_t *n)
{
	char diag[MTA_DIAG_MAX], *buf;

	buf = mta_session_wbuf(mta_body_outmax(&s->body));
	if ((*n = mta_body_next(&s->body, buf)) != -1)
		return buf;
	snprintf(diag, sizeof(diag), "cannot read the message file: %s",
	    strerror(errno));
	mta_session_wbuf_free(buf);
	mta_smtp_end_job(s, DLV_TEMPFAIL, 0, "4.3.0", diag);
	mta_session_close(s);
	return NULL;
}

/* The next BDAT chunk; called again when it is written while more are
 * to come.  A message that fits in one chunk goes into the corked write
 * of MAIL and RCPT. */
static void
mta_smtp_bdat_chunk(struct mta_session *s)
{
	char *buf;
	ssize_t n;

	if ((buf = mta_smtp_piece(s, &n)) == NULL)
		return;
	s->bdat_wait++;
	s->body_writing = !s->body.ended;
	if (s->corked) {
		/* the rest once the cork is out (mta_smtp_uncork) */
		mta_session_put(s, buf, n);
		mta_session_wbuf_free(buf);
		s->bdat_kick = s->body_writing;
	} else
		mta_session_write(s, buf, n, s->body_writing);
	if (!s->body_writing && !s->more)
		mta_job_close_fd(s->job);	/* every byte is queued */
	if (s->body_writing)
		mta_session_timer(s, s->q->to.send);
}

static void
mta_smtp_bdat_start(struct mta_session *s)
{
	mta_body_init(&s->body, s->job->fd, s->job->env->off,
	    s->job->env->size);
	mta_body_bdat(&s->body, s->job->dkim);
	mta_smtp_bdat_chunk(s);
}

/* The held commands (and a first BDAT chunk) in one write; then the
 * next chunk, if the message did not fit in one. */
static void
mta_smtp_uncork(struct mta_session *s)
{
	mta_session_uncork(s);
	if (s->bdat_kick) {
		s->bdat_kick = 0;
		mta_smtp_bdat_chunk(s);
	}
}

/*
 * Pipelining: RCPTs, then DATA, while fewer than smtp-pipeline-depth
 * commands await their replies (MAIL counts); without a depth, all of
 * them in one write.  Called again as replies come in.
 */
static void
mta_smtp_fill(struct mta_session *s)
{
	int depth = s->q->pipeline_depth, cork = !s->corked;

	if (cork)
		mta_session_cork(s);
	while (s->nrcpt_out < s->nsent && (depth <= 0 ||
	    s->inflight < depth)) {
		mta_smtp_send_rcpt(s, s->nrcpt_out++);
		s->inflight++;
	}
	if (s->nrcpt_out == s->nsent && !s->data_out && (depth <= 0 ||
	    s->inflight < depth)) {
		s->data_out = 1;
		s->inflight++;
		if (s->bdat)
			mta_smtp_bdat_start(s);
		else
			mta_session_send(s, "DATA\r\n");
	}
	if (cork)
		mta_smtp_uncork(s);
}

static void
mta_smtp_start(struct mta_session *s, struct mta_job *job)
{
	uint32_t n = job->env->nrcpt;

	s->job = job;
	s->acc = calloc(n ? n : 1, sizeof(*s->acc));
	s->sent = calloc(n ? n : 1, sizeof(*s->sent));
	if (s->acc == NULL || s->sent == NULL)
		fatal("mta_smtp_start");
	s->nsent = s->nreplied = s->naccepted = 0;
	s->mailfailed = s->discard = 0;
	s->nrcpt_out = 0;
	s->data_out = s->inflight = 0;
	s->pipelined = (s->ext & MTA_EXT_PIPELINING) != 0 &&
	    !s->q->no_pipelining && s->q->pipeline_depth != 1;
	s->bdat = s->pipelined && (s->ext & MTA_EXT_CHUNKING) != 0 &&
	    !s->q->no_chunking && s->q->pipeline_depth <= 0;
	s->bdat_wait = s->body_writing = s->bdat_kick = 0;
	if (s->q->dkim_sign && !job->dkim_done && job->fd != -1) {
		/* Once per job, before MAIL: SIZE counts the signature. */
		job->dkim = mta_dkim_sign(job->fd, job->env->off,
		    job->env->size, s->q->vmta, job->env->qid,
		    s->q->dkim_headers);
		job->dkim_done = 1;
	}
	if (mta_smtp_precheck(s) == -1) {
		mta_smtp_next(s);
		return;
	}
	log_debug("%s: session %u: %u recipient(s) to %s", job->env->qid,
	    s->id, s->nsent, s->mta);
	s->state = MTA_MAIL;
	if (!s->pipelined) {
		mta_smtp_send_mail(s);
		mta_session_timer(s, s->q->to.reply);
		return;
	}
	mta_session_cork(s);
	mta_smtp_send_mail(s);
	s->inflight = 1;
	mta_smtp_fill(s);
	mta_smtp_uncork(s);
	mta_session_timer(s, s->q->to.reply);
}

/* Done with a message: the next one, idle, or QUIT at the limit. */
static void
mta_smtp_next(struct mta_session *s)
{
	struct mta_job *job;

	if (s->state == MTA_CLOSED)
		return;
	if (mta_stopping() || s->stale || (s->q->max_msg > 0 &&
	    s->nmsg >= s->q->max_msg)) {
		mta_session_quit(s);
		return;
	}
	s->state = MTA_IDLE;
	if ((job = mta_queue_take(s->q)) != NULL) {
		mta_smtp_start(s, job);
		return;
	}
	mta_idle_add(s);
	mta_session_timer(s, MTA_IDLE_TIMEOUT);
}

void
mta_session_job(struct mta_session *s, struct mta_job *job)
{
	mta_smtp_start(s, job);
}

void
mta_session_quit(struct mta_session *s)
{
	if (mta_session_phase(s) != MTA_PHASE_IDLE) {
		mta_session_close(s);
		return;
	}
	s->state = MTA_QUIT;
	mta_session_send(s, "QUIT\r\n");
	/* The reply to QUIT changes nothing (Postfix does not wait for it
	 * either): once QUIT is in the socket, the connection closes.  A
	 * read and a wake-up less per connection, and the slot is free at
	 * once.  Only a QUIT still waiting to be written waits for it. */
	if (mta_session_flushed(s)) {
		mta_session_close(s);
		return;
	}
	mta_session_timer(s, MTA_QUIT_TIMEOUT);
}

/* The transaction failed before DATA: reset it for the next message. */
static void
mta_smtp_rset(struct mta_session *s, uint32_t status, int conn_level,
    const char *dsn, const char *diag)
{
	mta_smtp_end_job(s, status, conn_level, dsn, diag);
	s->nmsg++;
	s->state = MTA_RSET;
	mta_session_send(s, "RSET\r\n");
	mta_session_timer(s, s->q->to.reply);
}

/* Status and DSN code of a failure reply; a positive reply where a
 * failure is seen (e.g. 250 to DATA) is a protocol error. */
static uint32_t
mta_smtp_failure(const struct mta_session *s, const char **dsn)
{
	switch (smtp_reply_class(&s->reply)) {
	case 5:
		*dsn = smtp_reply_status(&s->reply);
		return DLV_PERMFAIL;
	case 4:
		*dsn = smtp_reply_status(&s->reply);
		return DLV_TEMPFAIL;
	default:
		*dsn = "4.5.0";
		return DLV_TEMPFAIL;
	}
}

static void
mta_smtp_mail_reply(struct mta_session *s, const char *diag)
{
	struct mta_conninfo ci;
	const char *dsn;
	uint32_t status;

	if (smtp_reply_class(&s->reply) != 2) {
		status = mta_smtp_failure(s, &dsn);
		s->mailfailed = 1;
		if (!s->pipelined) {
			mta_smtp_rset(s, status, 1, dsn, diag);
			return;
		}
		/* Read the RCPT and DATA replies; they fail too. */
		mta_session_conninfo(s, &ci);
		mta_job_fail(s->job, status, 1, dsn, diag, &ci);
	}
	s->state = MTA_RCPT;
	if (!s->pipelined)
		mta_smtp_send_rcpt(s, 0);
	else {
		s->inflight--;
		mta_smtp_fill(s);
	}
}

static void
mta_smtp_rcpt_reply(struct mta_session *s, const char *diag)
{
	struct mta_conninfo ci;
	uint32_t i = s->sent[s->nreplied++], status;
	const char *dsn;

	if (s->mailfailed)
		;
	else if (smtp_reply_class(&s->reply) == 2) {
		s->acc[i] = 1;
		s->naccepted++;
	} else {
		status = mta_smtp_failure(s, &dsn);
		mta_session_conninfo(s, &ci);
		mta_job_set(s->job, i, status, 0, dsn, diag, &ci);
	}
	if (s->pipelined)
		s->inflight--;
	if (s->nreplied < s->nsent) {
		if (!s->pipelined)
			mta_smtp_send_rcpt(s, s->nreplied);
		else
			mta_smtp_fill(s);
		return;
	}
	if ((!s->pipelined || !s->data_out) && s->naccepted == 0) {
		/* Every recipient has its own outcome already. */
		mta_smtp_rset(s, DLV_TEMPFAIL, 0, "4.0.0", diag);
		return;
	}
	if (s->bdat) {
		/* The chunks are out (or going): their replies are next. */
		s->discard = s->mailfailed || s->naccepted == 0;
		s->state = MTA_EOM;
		mta_session_timer(s, s->q->to.eom);
		return;
	}
	s->state = MTA_DATA;
	if (!s->pipelined)
		mta_session_send(s, "DATA\r\n");
	else if (!s->data_out)
		mta_smtp_fill(s);
}

static void
mta_smtp_data_reply(struct mta_session *s, const char *diag)
{
	const char *dsn;
	uint32_t status;

	if (s->reply.code == 354 && (s->mailfailed || s->naccepted == 0)) {
		/* Pipelined and nobody accepted, yet the server wants
		 * data: give it an empty message it has no one to send to. */
		s->discard = 1;
		s->state = MTA_EOM;
		mta_session_send(s, ".\r\n");
		mta_session_timer(s, s->q->to.eom);
		return;
	}
	if (s->reply.code == 354) {
		if (s->job->dkim != NULL) {
			/* The signature goes first; it has no dot to stuff. */
			size_t n = strlen(s->job->dkim);
			char *buf = mta_session_wbuf(n);

			memcpy(buf, s->job->dkim, n);
			mta_session_write(s, buf, n, 0);
		}
		mta_body_init(&s->body, s->job->fd, s->job->env->off,
		    s->job->env->size);
		s->state = MTA_BODY;
		mta_smtp_body(s);
		return;
	}
	status = mta_smtp_failure(s, &dsn);
	mta_smtp_rset(s, status, 1, dsn, diag);
}

/* Send the next piece of the body; called again when it is written. */
static void
mta_smtp_body(struct mta_session *s)
{
	char *buf;
	ssize_t n;

	if ((buf = mta_smtp_piece(s, &n)) == NULL)
		return;
	/* Told when written only if more is to come (the last piece is
	 * then written at once if the socket takes it). */
	mta_session_write(s, buf, n, !s->body.ended);
	if (s->body.ended) {
		/* Every byte is in the socket's queue: the file can go,
		 * unless recipients wait for another transaction. */
		if (!s->more)
			mta_job_close_fd(s->job);
		s->state = MTA_EOM;
		mta_session_timer(s, s->q->to.eom);
	} else
		mta_session_timer(s, s->q->to.send);
}

void
mta_smtp_wrote(struct mta_session *s)
{
	if (s->state == MTA_BODY)
		mta_smtp_body(s);
	else if (s->body_writing)
		mta_smtp_bdat_chunk(s);
}

/* The reply that ends the data applies to the recipients accepted in
 * this transaction. */
static void
mta_smtp_set_accepted(struct mta_session *s, uint32_t status,
    const char *dsn, const char *diag)
{
	struct mta_conninfo ci;
	uint32_t i;

	mta_session_conninfo(s, &ci);
	for (i = 0; i < s->nsent; i++)
		if (s->acc[s->sent[i]])
			mta_job_set(s->job, s->sent[i], status,
			    status != DLV_OK, dsn, diag, &ci);
}

static void
mta_smtp_eom_partial(struct mta_session *s, const char *diag)
{
	struct mta_job *job = s->job;
	const char *dsn;
	uint32_t status;

	if (smtp_reply_class(&s->reply) == 2) {
		status = DLV_OK;
		dsn = smtp_reply_status(&s->reply);
	} else
		status = mta_smtp_failure(s, &dsn);
	mta_smtp_set_accepted(s, status, dsn, diag);
	if (status != DLV_OK || mta_stopping() ||
	    (s->q->max_msg > 0 && s->nmsg >= s->q->max_msg)) {
		/* The rest waits for another try or connection. */
		mta_smtp_end_job(s, DLV_TEMPFAIL, 0, "4.5.3",
		    "too many recipients for one transaction; the rest "
		    "follow later");
		mta_smtp_next(s);
		return;
	}
	s->job = NULL;
	free(s->acc);
	free(s->sent);
	s->acc = NULL;
	s->sent = NULL;
	s->state = MTA_IDLE;
	mta_smtp_start(s, job);
}

static void
mta_smtp_eom_reply(struct mta_session *s, const char *diag)
{
	const char *dsn;
	uint32_t status;

	s->nmsg++;
	if (s->more && !s->discard) {
		/* max-rcpt: this reply is for the recipients of this
		 * transaction; the others go in the next one. */
		mta_smtp_eom_partial(s, diag);
		return;
	}
	if (s->discard)
		mta_smtp_end_job(s, DLV_TEMPFAIL, 0, "4.0.0", diag);
	else if (smtp_reply_class(&s->reply) == 2)
		mta_smtp_end_job(s, DLV_OK, 0, smtp_reply_status(&s->reply),
		    diag);
	else {
		status = mta_smtp_failure(s, &dsn);
		mta_smtp_end_job(s, status, 1, dsn, diag);
	}
	mta_smtp_next(s);
}

/*
 * A reply to a BDAT chunk.  The last one stands where the reply to the
 * final dot does.  A failure ends the transaction: the accepted
 * recipients take it, and RSET clears the server's side (RFC 3030 does
 * not say the transaction is gone after a failed chunk), or the
 * connection is closed if chunks are still being written.
 */
static void
mta_smtp_bdat_reply(struct mta_session *s, const char *diag)
{
	const char *dsn;
	uint32_t status;

	s->bdat_wait--;
	if (s->bdat_wait > 0 || s->body_writing)
		mta_session_timer(s, s->q->to.eom);
	if (smtp_reply_class(&s->reply) == 2 && !s->discard) {
		if (s->bdat_wait == 0 && !s->body_writing)
			mta_smtp_eom_reply(s, diag);
		return;
	}
	if (s->discard && (s->bdat_wait > 0 || s->body_writing))
		return;		/* every recipient has its outcome */
	status = mta_smtp_failure(s, &dsn);
	if (!s->discard)
		mta_smtp_set_accepted(s, status, dsn, diag);
	if (s->bdat_wait > 0 || s->body_writing) {
		mta_smtp_end_job(s, DLV_TEMPFAIL, 0, "4.0.0", diag);
		mta_session_close(s);
		return;
	}
	mta_smtp_rset(s, DLV_TEMPFAIL, 0, "4.0.0", diag);
}

void
mta_smtp_reply(struct mta_session *s)
{
	char diag[MTA_DIAG_MAX];
	const char *dsn;
	uint32_t status;

	mta_smtp_diag(s, diag, sizeof(diag));
	log_debug("session %u: <<< %s", s->id, diag);
	/* Any reply restarts the command timeout; handlers that wait
	 * longer (end of data) or shorter (idle) set their own. */
	if (mta_session_phase(s) == MTA_PHASE_BUSY)
		mta_session_timer(s, s->q->to.reply);
	if (s->reply.code == 421 && s->state != MTA_QUIT) {
		/* The server is closing the connection. */
		status = mta_smtp_failure(s, &dsn);
		mta_smtp_fail_conn(s, status, dsn, diag);
		return;
	}
	switch (s->state) {
	case MTA_BANNER:
		if (s->reply.code != 220)
			mta_smtp_refused(s);
		else
			mta_smtp_ehlo(s, "EHLO");
		return;
	case MTA_EHLO:
		if (smtp_reply_class(&s->reply) == 2)
			mta_smtp_ready(s);
		else
			mta_smtp_ehlo(s, "HELO");
		return;
	case MTA_HELO:
		if (smtp_reply_class(&s->reply) == 2)
			mta_smtp_ready(s);
		else
			mta_smtp_refused(s);
		return;
	case MTA_STARTTLS:
		mta_smtp_starttls_reply(s);
		return;
	case MTA_MAIL:
		mta_smtp_mail_reply(s, diag);
		return;
	case MTA_RCPT:
		mta_smtp_rcpt_reply(s, diag);
		return;
	case MTA_DATA:
		mta_smtp_data_reply(s, diag);
		return;
	case MTA_EOM:
		if (s->bdat)
			mta_smtp_bdat_reply(s, diag);
		else
			mta_smtp_eom_reply(s, diag);
		return;
	case MTA_RSET:
		if (smtp_reply_class(&s->reply) == 2)
			mta_smtp_next(s);
		else
			mta_session_close(s);
		return;
	case MTA_QUIT:
		mta_session_close(s);
		return;
	default:
		/* Unasked (idle) or early (during the body): either way
		 * the dialogue is out of step. */
		status = mta_smtp_failure(s, &dsn);
		mta_smtp_fail_conn(s, status, dsn, diag);
		return;
	}
}
