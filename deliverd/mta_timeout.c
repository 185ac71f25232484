/*
 * mta_timeout.c - how long a session waits for the remote server.
 *
 * Each wait of the client state machine has a PowerMTA directive, read
 * per queue (domain, VMTA, global):
 *
 *	connect-timeout				TCP connect
 *	smtp-greeting-timeout			220 banner, EHLO/HELO, STARTTLS
 *						and its TLS handshake
 *	smtp-multiple-line-response-timeout	reply to MAIL, RCPT, DATA, RSET
 *	data-send-timeout			each chunk of the body
 *	smtp-data-termination-timeout		reply to the final dot
 *
 * A timer is set when the session starts waiting and is not pushed back
 * by bytes that arrive without completing a reply, so a server that
 * trickles bytes (slow-loris) cannot hold a worker's connection longer
 * than the timeout.
 */
#include <stdint.h>

#include "cfg.h"
#include "log.h"
#include "mta.h"

static uint64_t
mta_timeout_get(const struct mta_queue *q, enum mta_set id, int64_t dflt)
{
	struct cfg_node *n;
	const char *err;
	int64_t secs;

	if ((n = mta_queue_node(q, id)) == NULL)
		return (uint64_t)dflt * 1000;
	if (cfg_parse_time(n->arg, &secs, &err) == -1 || secs <= 0) {
		log_warnx("%s: %s %s: %s", q->name, mta_set_name(id), n->arg,
		    err ? err : "must be positive");
		return (uint64_t)dflt * 1000;
	}
	return (uint64_t)secs * 1000;
}

void
mta_timeout_settings(struct mta_queue *q)
{
	q->to.connect = mta_timeout_get(q, MS_CONNECT_TIMEOUT, 120);
	q->to.greeting = mta_timeout_get(q, MS_SMTP_GREETING_TIMEOUT, 300);
	q->to.reply = mta_timeout_get(q,
	    MS_SMTP_MULTIPLE_LINE_RESPONSE_TIMEOUT, 300);
	q->to.send = mta_timeout_get(q, MS_DATA_SEND_TIMEOUT, 180);
	q->to.eom = mta_timeout_get(q, MS_SMTP_DATA_TERMINATION_TIMEOUT, 600);
}
