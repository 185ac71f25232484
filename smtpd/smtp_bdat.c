/*
 * smtp_bdat.c - CHUNKING (RFC 3030): "BDAT size [LAST]" and then exactly
 * size octets, stored as they come (no dot-stuffing, no line rules).
 *
 * The first chunk of a transaction takes its spool file just as DATA
 * does (smtpd_queued_create); later chunks append to it.  A chunk that
 * cannot be taken (bad sequence, no recipients, an earlier chunk failed)
 * is still read and thrown away (session->skip), so its octets are never
 * mistaken for commands.  Mixing: DATA, MAIL and RCPT are refused once a
 * BDAT was accepted in the transaction; RSET ends it.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "smtpd.h"

static void
smtp_bdat_refuse(struct smtp_session *s, const struct smtp_cmd *cmd,
    const char *reply)
{
	s->skip = cmd->chunk_size;
	smtp_error(s, reply);
}

void
smtp_bdat_cmd(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	struct smtp_tx *tx = s->tx;
	char qid[QID_LEN + 1];
	int fd;

	if (!s->allow_chunking || !s->esmtp) {
		smtp_bdat_refuse(s, cmd, "502 5.5.1 command not implemented");
		return;
	}
	if (s->state != SMTP_S_MAIL || tx == NULL) {
		smtp_bdat_refuse(s, cmd, "503 5.5.1 bad sequence of commands");
		return;
	}
	if (tx->nrcpt == 0) {
		smtp_bdat_refuse(s, cmd, "554 5.5.1 no valid recipients");
		return;
	}
	/* A declared size over the limit: no need to store anything. */
	if (s->max_size && tx->data.body + cmd->chunk_size > s->max_size) {
		smtp_bdat_refuse(s, cmd, "552 5.3.4 message size exceeds "
		    "fixed maximum message size");
		smtp_tx_free(s);
		return;
	}
	s->bdat_left = cmd->chunk_size;
	s->bdat_last = cmd->last;
	if (tx->bdat) {
		/* The file is open since the first chunk. */
		s->state = SMTP_S_BDAT;
		smtp_timer_reset(s);
		if (s->bdat_left == 0)
			smtp_bdat_feed(s, "", 0);
		return;
	}
	tx->bdat = 1;
	switch (smtpd_queued_create(s, qid, &fd)) {
	case -1:
		tx->bdat = 0;
		s->bdat_left = 0;
		smtp_bdat_refuse(s, cmd, "451 4.3.0 temporary failure, "
		    "try again");
		return;
	case 0:
		/* smtp_created() calls smtp_bdat_begin() when the file is
		 * here. */
		s->state = SMTP_S_CREATE;
		smtp_timer_reset(s);
		return;
	}
	smtp_file_ready(s, qid, fd);	/* calls smtp_bdat_begin() */
}

/* queued gave us the file for the first chunk. */
void
smtp_bdat_begin(struct smtp_session *s)
{
	s->state = SMTP_S_BDAT;
	if (s->bdat_left == 0)
		smtp_bdat_feed(s, "", 0);
}

/* The whole chunk is in. */
static void
smtp_bdat_chunk_done(struct smtp_session *s)
{
	struct smtp_data *d = &s->tx->data;

	s->state = SMTP_S_MAIL;
	if (s->bdat_last) {
		/* Answered after queued's commit, as for DATA. */
		smtp_data_done(s);
		return;
	}
	if (d->error != SMTP_DERR_NONE) {
		if (d->error == SMTP_DERR_QUEUED)
			s->tx->qid[0] = '\0';
		log_info("%s: rejected from %s: %s", s->tx->qid, s->ip,
		    smtp_derr_reply(d->error));
		smtp_reply(s, "%s", smtp_derr_reply(d->error));
		smtp_tx_free(s);
		return;
	}
	smtp_reply(s, "250 2.0.0 %llu octets received",
	    (unsigned long long)d->body);
}

/* Octets of the current chunk; returns how many were taken. */
size_t
smtp_bdat_feed(struct smtp_session *s, const char *p, size_t n)
{
	if (n > s->bdat_left)
		n = s->bdat_left;
	if (n > 0)
		smtp_data_bytes(s, p, n);
	s->bdat_left -= n;
	if (s->bdat_left == 0)
		smtp_bdat_chunk_done(s);
	return n;
}
