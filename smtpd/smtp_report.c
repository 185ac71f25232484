/*
 * smtp_report.c - tells queued how many inbound sessions are open
 * (MSG_SESSIONS_IN), so that `tern show status`, /api/v1/stats, /metrics
 * and SNMP can show inbound connections next to the outbound ones.
 *
 * Sessions come and go fast under load: a change arms a timer instead of
 * sending at once, and the timer sends the count as it is then, at most
 * once a second.  The last change is always sent (a change with the timer
 * already armed is picked up when it fires).
 */
#include <stdint.h>

#include "daemon.h"
#include "mproc.h"
#include "proto.h"
#include "smtpd.h"

#define SMTP_REPORT_MS	1000	/* at most one report a second */

static uv_timer_t	report_timer;
static int		report_ready;
static uint64_t		report_last;	/* uv_now() of the last report */
static int64_t		report_sent = -1; /* what queued has; -1: nothing */

static void
smtp_report_send(uv_timer_t *t)
{
	(void)t;
	if (smtpd.queued == NULL || report_sent == smtpd.nsessions)
		return;
	m_create(smtpd.queued, MSG_SESSIONS_IN, 0, -1);
	m_add_u32(smtpd.queued, smtpd.nsessions);
	m_close(smtpd.queued);
	report_sent = smtpd.nsessions;
	report_last = uv_now(daemon_loop());
}

/* The session count changed (or queued needs it again). */
void
smtp_report_sessions(void)
{
	uint64_t now, wait = 0;

	if (!report_ready) {
		uv_timer_init(daemon_loop(), &report_timer);
		/* never what keeps smtpd running at shutdown */
		uv_unref((uv_handle_t *)&report_timer);
		report_ready = 1;
	}
	if (uv_is_active((uv_handle_t *)&report_timer))
		return;
	now = uv_now(daemon_loop());
	if (report_sent != -1 && report_last + SMTP_REPORT_MS > now)
		wait = report_last + SMTP_REPORT_MS - now;
	uv_timer_start(&report_timer, smtp_report_send, wait, 0);
}

/* A new queued knows nothing yet: tell it, even when the count is 0. */
void
smtp_report_queued_up(void)
{
	report_sent = -1;
	smtp_report_sessions();
}
