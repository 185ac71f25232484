/*
 * http_history.c - traffic per minute over the last hour, for the web
 * monitor's chart and pmta's lastHr counters.
 *
 * queued counts since it started; every HISTORY_SAMPLE ms mgmtd asks
 * for the status (the same request `tern show status` makes) and adds
 * the growth of each counter to the current minute's slot of a ring of
 * 60.  A counter that went down means queued restarted: its new value
 * is the growth.  The first sample counts everything queued counted
 * so far: queued normally started a moment before.
 */
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "log.h"
#include "mgmtd.h"
#include "proto.h"

#define HISTORY_MINUTES	60
#define HISTORY_SAMPLE	5000	/* ms */

/* Messages queued (DSNs included), then recipients: received over SMTP
 * (pmta's lastHr in.rcp), delivered, bounced, deferred. */
static const char *const hist_keys[] = {
	"received", "receivedRecipients", "delivered", "bounced", "deferred",
};
#define NKEYS	(sizeof(hist_keys) / sizeof(hist_keys[0]))

struct slot {
	long long	 minute;	/* unix time / 60 */
	long long	 n[NKEYS];
};

static struct slot	 ring[HISTORY_MINUTES];
static long long	 last[NKEYS];
static uv_timer_t	 hist_timer;
static struct ctl_conn	 hist_conn;

static struct slot *
slot_for(long long minute)
{
	struct slot *s = &ring[minute % HISTORY_MINUTES];

	if (s->minute != minute) {
		memset(s, 0, sizeof(*s));
		s->minute = minute;
	}
	return s;
}

static void
hist_answer(struct ctl_conn *c, json_t *j)
{
	json_t *st = json_object_get(j, "status");
	struct slot *s = slot_for(time(NULL) / 60);
	long long v;
	size_t k;

	if (json_is_object(st)) {
		for (k = 0; k < NKEYS; k++) {
			v = json_integer_value(json_object_get(st,
			    hist_keys[k]));
			s->n[k] += v >= last[k] ? v - last[k] : v;
			last[k] = v;
		}
	}
	json_decref(j);
}

static void
hist_tick(uv_timer_t *t)
{
	char line[] = "show status";

	if (hist_conn.req != NULL || mgmtd_peer(PROC_QUEUED) == NULL ||
	    mgmtd_peer(PROC_BOUNCED) == NULL)
		return;
	ctl_req_start(&hist_conn, line);
}

void
history_start(void)
{
	static int started;

	if (started++)
		return;
	hist_conn.reply = hist_answer;
	uv_timer_init(daemon_loop(), &hist_timer);
	uv_unref((uv_handle_t *)&hist_timer);
	uv_timer_start(&hist_timer, hist_tick, 0, HISTORY_SAMPLE);
}

json_t *
history_json(void)
{
	json_t *mins = json_array(), *sum = json_object(), *row;
	long long now = time(NULL) / 60, m, tot[NKEYS] = { 0 };
	struct slot *s;
	size_t k;

	for (m = now - HISTORY_MINUTES + 1; m <= now; m++) {
		s = &ring[m % HISTORY_MINUTES];
		row = json_pack("{s:I}", "t", (json_int_t)(m * 60));
		for (k = 0; k < NKEYS; k++) {
			long long v = s->minute == m ? s->n[k] : 0;

			json_object_set_new(row, hist_keys[k],
			    json_integer(v));
			tot[k] += v;
		}
		json_array_append_new(mins, row);
	}
	for (k = 0; k < NKEYS; k++)
		json_object_set_new(sum, hist_keys[k], json_integer(tot[k]));
	return json_pack("{s:o,s:o,s:I}", "minutes", mins, "lastHour", sum,
	    "sampleSeconds", (json_int_t)(HISTORY_SAMPLE / 1000));
}
