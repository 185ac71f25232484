/*
 * events.c - event shipping (events.h, docs/events.md): the sinks of the
 * configuration, each record as one JSON line into every sink that wants
 * its type, and one shipper thread per sink.
 *
 * A record is put in a sink's buffer in the loop turn that writes it to
 * the accounting files, before queued is told it is written (acct.c
 * calls events_write() and events_flush()), so a record queued hears
 * about is on disk for every sink.  The buffer has a size limit
 * (buffer-max-size): a record that does not fit is not buffered, but
 * counted (dropped), logged when it starts and ends, and shown by
 * `tern show status`; the accounting file still has it.  We chose this
 * over back-pressure (not acknowledging to queued) so that a broker that
 * stays down stops neither the accounting files nor deliveries.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "events.h"
#include "log.h"
#include "proto.h"
#include "util.h"

#define EV_BATCH_BYTES	(1024 * 1024)	/* per read from the buffer */
#define EV_BATCH_MAX	10000		/* batch-size at most */

static TAILQ_HEAD(, ev_sink)	 ev_sinks = TAILQ_HEAD_INITIALIZER(ev_sinks);
static int			 ev_dirfd = -1;
static int			 ev_started;
static struct acct_layout	 ev_layout;	/* every column, every type */
static int			 ev_layout_ok;

/* --- the shipper thread --- */

/* Wait ms (0: until there are records), or until told to stop.  Called
 * and returns with s->mtx held. */
static void
ev_wait(struct ev_sink *s, int64_t ms)
{
	struct timespec ts;

	if (ms == 0) {
		while (!s->stop && s->buf.records == 0)
			pthread_cond_wait(&s->cond, &s->mtx);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	while (!s->stop && pthread_cond_timedwait(&s->cond, &s->mtx, &ts) !=
	    ETIMEDOUT)
		;
}

/* After a send: counters, log lines on a change, the next wait. */
static int64_t
ev_sent(struct ev_sink *s, const struct ev_batch *bt, int r,
    const char *err, int64_t wait)
{
	if (r == 0) {
		s->sent += bt->n;
		s->buf.records -= bt->n < s->buf.records ? bt->n :
		    s->buf.records;
		s->buf.bytes -= bt->len < s->buf.bytes ? bt->len :
		    s->buf.bytes;
		if (s->up == 0)
			log_info("events %s: %s reachable again, sending",
			    s->name, s->tr->kind);
		s->up = 1;
		s->lasterr[0] = '\0';
		return 0;
	}
	s->failures++;
	if (s->up != 0)
		log_warnx("events %s: %s; records wait in the buffer "
		    "(retrying)", s->name, err);
	s->up = 0;
	strlcpy(s->lasterr, err, sizeof(s->lasterr));
	wait = wait == 0 ? s->rmin_ms : wait * 2;
	return wait > s->rmax_ms ? s->rmax_ms : wait;
}

static void *
ev_thread(void *arg)
{
	struct ev_sink *s = arg;
	struct ev_batch bt = { 0 };
	uint64_t wseg, woff;
	int64_t wait = 0;
	char err[256];
	int r;

	pthread_mutex_lock(&s->mtx);
	for (;;) {
		ev_wait(s, wait);
		if (s->stop)
			break;
		if (wait == 0 && s->buf.records == 0)
			continue;
		wseg = s->buf.wseg;
		woff = s->buf.woff;
		pthread_mutex_unlock(&s->mtx);
		free(bt.data);
		err[0] = '\0';
		if ((r = ev_buf_read(&s->buf, wseg, woff, s->batch,
		    EV_BATCH_BYTES, &bt)) == -1)
			snprintf(err, sizeof(err), "cannot read the buffer: "
			    "%s", strerror(errno));
		else if (bt.n > 0 && (r = s->tr->send(s, &bt, err,
		    sizeof(err))) == 0)
			ev_buf_commit(&s->buf, &bt);
		if (r == -1)
			s->tr->disconnect(s);
		pthread_mutex_lock(&s->mtx);
		if (r == 0 && bt.n == 0) {
			/* counted more than the files hold: recount */
			s->buf.records = s->buf.bytes = 0;
			wait = 0;
			continue;
		}
		wait = ev_sent(s, &bt, r, err, wait);
	}
	pthread_mutex_unlock(&s->mtx);
	free(bt.data);
	s->tr->disconnect(s);
	return NULL;
}

static void
ev_sink_start(struct ev_sink *s)
{
	if (!ev_started || !s->have_info || !s->buf_ok || s->running)
		return;
	s->stop = 0;
	s->up = -1;
	if (pthread_create(&s->thr, NULL, ev_thread, s) != 0) {
		log_warnx("events %s: cannot start its thread", s->name);
		return;
	}
	s->running = 1;
}

static void
ev_sink_stop(struct ev_sink *s)
{
	if (!s->running)
		return;
	pthread_mutex_lock(&s->mtx);
	s->stop = 1;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->mtx);
	pthread_join(s->thr, NULL);
	s->running = 0;
}

/* --- configuration --- */

static void
ev_sink_free(struct ev_sink *s)
{
	ev_sink_stop(s);
	if (s->buf_ok)
		ev_buf_close(&s->buf);
	free(s->exchange);
	free(s->rkprefix);
	if (s->pass != NULL)
		explicit_bzero(s->pass, strlen(s->pass));
	free(s->user);
	free(s->pass);
	free(s->ca_pem);
	sb_free(&s->pend);
	pthread_mutex_destroy(&s->mtx);
	pthread_cond_destroy(&s->cond);
	free(s);
}

static void
ev_sink_add(const struct cfg_node *n, const struct ev_transport *tr)
{
	const char *name = n->argc > 0 ? n->argv[0] : n->arg, *url, *err;
	const char *file = n->file ? n->file : "?";
	struct ev_sink *s;
	struct ev_url u;

	/* common/cfg_sinks.c refuses such a configuration; a last guard,
	 * since the name becomes a directory and the url a request */
	if (name == NULL || !ev_sink_name_ok(name)) {
		log_warnx("%s:%d: <%s %s>: the name may only have letters, "
		    "digits, '.', '_' and '-'", file, n->line, n->name,
		    name ? name : "");
		return;
	}
	err = NULL;
	if ((url = cfg_str(n, "url", NULL)) == NULL)
		err = "missing";
	else if (ev_url_parse(url, &u, &err) == 0 &&
	    (tr == &ev_amqp_transport) != (u.scheme == EV_URL_AMQP))
		err = tr == &ev_amqp_transport ? "expected amqp://" :
		    "expected http:// or https://";
	if (err != NULL) {
		log_warnx("%s:%d: <%s %s>: url: %s; not shipping", file,
		    n->line, n->name, name, err);
		return;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("ev_sink_add");
	strlcpy(s->name, name, sizeof(s->name));
	s->tr = tr;
	s->url = u;
	s->records = acct_parse_records(cfg_child(n, "records"));
	s->exchange = xstrdup(cfg_str(n, "exchange", "tern"));
	s->rkprefix = xstrdup(cfg_str(n, "routing-key-prefix", ""));
	s->batch = cfg_int(n, "batch-size", 100);
	if (s->batch < 1 || s->batch > EV_BATCH_MAX)
		s->batch = s->batch < 1 ? 1 : EV_BATCH_MAX;
	s->timeout_ms = cfg_time(n, "timeout", 10) * 1000;
	s->rmin_ms = cfg_time(n, "min-retry-interval", 1) * 1000;
	s->rmax_ms = cfg_time(n, "max-retry-interval", 60) * 1000;
	if (s->rmin_ms < 100)
		s->rmin_ms = 100;
	if (s->rmax_ms < s->rmin_ms)
		s->rmax_ms = s->rmin_ms;
	s->maxbuf = cfg_size(n, "buffer-max-size", 100 * 1024 * 1024);
	pthread_mutex_init(&s->mtx, NULL);
	pthread_cond_init(&s->cond, NULL);
	TAILQ_INSERT_TAIL(&ev_sinks, s, entry);
}

static void
ev_sink_open(struct ev_sink *s)
{
	if (s->buf_ok || ev_dirfd == -1)
		return;
	if (ev_buf_open(&s->buf, ev_dirfd, s->name) == 0) {
		s->buf_ok = 1;
		if (s->buf.records > 0)
			log_info("events %s: %llu record(s) waiting in the "
			    "buffer", s->name,
			    (unsigned long long)s->buf.records);
	} else
		log_warnx("events %s: no buffer, records are not shipped",
		    s->name);
}

void
events_config(const struct cfg *cfg)
{
	const struct cfg_node *n;
	struct ev_sink *s;

	events_flush();
	while ((s = TAILQ_FIRST(&ev_sinks)) != NULL) {
		TAILQ_REMOVE(&ev_sinks, s, entry);
		ev_sink_free(s);
	}
	for (n = cfg_child(cfg->root, "acct-amqp"); n != NULL;
	    n = cfg_next_named(n, "acct-amqp"))
		ev_sink_add(n, &ev_amqp_transport);
	for (n = cfg_child(cfg->root, "acct-webhook"); n != NULL;
	    n = cfg_next_named(n, "acct-webhook"))
		ev_sink_add(n, &ev_http_transport);
	TAILQ_FOREACH(s, &ev_sinks, entry)
		ev_sink_open(s);
	if (!ev_layout_ok) {
		acct_layout_default(&ev_layout);
		acct_layout_finish(&ev_layout, 0xff);
		ev_layout_ok = 1;
	}
}

void
events_dir(int fd)
{
	struct ev_sink *s;

	if (ev_dirfd != -1)
		close(ev_dirfd);
	ev_dirfd = fd;
	TAILQ_FOREACH(s, &ev_sinks, entry)
		ev_sink_open(s);
}

#define EV_CA_MAX	(8 * 1024 * 1024)

/* The ca-file ternd opened for an https:// sink, as a string. */
static char *
ev_read_ca(int fd)
{
	struct sbuf b = { 0 };
	char chunk[65536];
	ssize_t n;

	while (b.len < EV_CA_MAX && (n = read(fd, chunk, sizeof(chunk))) > 0)
		sb_add(&b, chunk, n);
	close(fd);
	return sb_done(&b);
}

void
events_sink_info(struct imsg *imsg)
{
	const char *name, *addr, *cred, *colon;
	struct ev_sink *s;
	struct msg m;

	m_msg(&m, imsg);
	m_get_string(&m, &name);
	m_get_string(&m, &addr);
	m_get_string(&m, &cred);
	m_end(&m);
	TAILQ_FOREACH(s, &ev_sinks, entry)
		if (name != NULL && strcmp(s->name, name) == 0)
			break;
	if (s == NULL) {
		if (imsg->fd != -1)
			close(imsg->fd);
		return;
	}
	ev_sink_stop(s);	/* new address or password: reconnect */
	free(s->ca_pem);
	s->ca_pem = imsg->fd != -1 ? ev_read_ca(imsg->fd) : NULL;
	strlcpy(s->addr, addr ? addr : "", sizeof(s->addr));
	free(s->user);
	free(s->pass);
	s->user = s->pass = NULL;
	if (cred != NULL) {
		colon = strchr(cred, ':');
		s->user = strndup(cred, colon ? (size_t)(colon - cred) :
		    strlen(cred));
		s->pass = strdup(colon ? colon + 1 : "");
		if (s->user == NULL || s->pass == NULL)
			fatal("events_sink_info");
		s->pass[strcspn(s->pass, "\r\n")] = '\0';
	}
	s->have_info = 1;
	ev_sink_start(s);
}

void
events_start(void)
{
	struct ev_sink *s;

	ev_started = 1;
	TAILQ_FOREACH(s, &ev_sinks, entry)
		ev_sink_start(s);
}

/* --- records --- */

/* json_string() refuses bad UTF-8: such bytes become '?'. */
static json_t *
ev_json_str(const char *v)
{
	json_t *j;
	char *c;
	size_t i;

	if ((j = json_string(v ? v : "")) != NULL)
		return j;
	if ((c = strdup(v)) == NULL)
		fatal("ev_json_str");
	for (i = 0; c[i] != '\0'; i++)
		if ((unsigned char)c[i] >= 0x80)
			c[i] = '?';
	j = json_string(c);
	free(c);
	return j;
}

static void
ev_json_field(void *arg, const char *name, const char *value, int sel)
{
	if (sel && json_object_set_new(arg, name, ev_json_str(value)) == -1)
		fatalx("ev_json_field");
}

/* One record as a JSON line: the accounting field names and the same
 * text as the CSV row (acct_layout_fields_of), "type" first. */
static char *
ev_json_line(const struct acct_record *a, const struct acct_extra *x)
{
	json_t *o;
	char *s;

	if ((o = json_object()) == NULL)
		fatalx("ev_json_line");
	acct_layout_fields_of(&ev_layout, a, x, ev_json_field, o);
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (s == NULL)
		fatalx("ev_json_line: dump");
	return s;
}

static void
ev_drop(struct ev_sink *s, size_t n, const char *why)
{
	pthread_mutex_lock(&s->mtx);
	s->dropped += n;
	if (!s->full)
		log_warnx("events %s: %s: records are not shipped (counted "
		    "as dropped; the accounting file has them)", s->name,
		    why);
	s->full = 1;
	pthread_mutex_unlock(&s->mtx);
}

void
events_write(const struct acct_record *a, const struct acct_extra *x)
{
	struct ev_sink *s;
	char *line = NULL;
	size_t len = 0;
	uint64_t used;
	int bit = acct_type_bit(a->type);

	TAILQ_FOREACH(s, &ev_sinks, entry) {
		if ((s->records & bit) == 0 || !s->buf_ok)
			continue;
		if (line == NULL) {
			line = ev_json_line(a, x);
			len = strlen(line);
		}
		pthread_mutex_lock(&s->mtx);
		used = s->buf.bytes;
		pthread_mutex_unlock(&s->mtx);
		if (used + s->pend.len + len + 1 > s->maxbuf) {
			ev_drop(s, 1, "buffer full (buffer-max-size)");
			s->pend_dropped = 1;
			continue;
		}
		sb_add(&s->pend, line, len);
		sb_add(&s->pend, "\n", 1);
		s->npend++;
	}
	free(line);
}

void
events_flush(void)
{
	struct ev_sink *s;
	int r;

	TAILQ_FOREACH(s, &ev_sinks, entry) {
		if (s->npend == 0) {
			s->pend_dropped = 0;
			continue;
		}
		pthread_mutex_lock(&s->mtx);
		r = ev_buf_append(&s->buf, s->pend.s, s->pend.len,
		    s->npend);
		/* Room again only when a whole turn's records fit: the
		 * first records of a turn that then filled the buffer do
		 * not say so (the status said "down", not "full", with a
		 * buffer that was dropping). */
		if (r == 0 && s->full && !s->pend_dropped) {
			log_info("events %s: buffer has room again; %llu "
			    "record(s) dropped so far", s->name,
			    (unsigned long long)s->dropped);
			s->full = 0;
		}
		pthread_cond_signal(&s->cond);
		pthread_mutex_unlock(&s->mtx);
		if (r == -1)
			ev_drop(s, s->npend, "cannot write the buffer");
		sb_reset(&s->pend);
		s->npend = 0;
		s->pend_dropped = 0;
	}
}

/* --- status --- */

static json_t *
ev_sink_json(struct ev_sink *s)
{
	json_t *o;

	pthread_mutex_lock(&s->mtx);
	o = json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:s}",
	    "kind", s->tr->kind,
	    "state", !s->buf_ok ? "no-buffer" : s->full ? "full" :
	    !s->running ? "starting" : s->up == 0 ? "down" :
	    s->up == 1 ? "up" : "idle",
	    "pending", (json_int_t)s->buf.records,
	    "pendingBytes", (json_int_t)s->buf.bytes,
	    "sent", (json_int_t)s->sent,
	    "dropped", (json_int_t)s->dropped,
	    "failures", (json_int_t)s->failures,
	    "lastError", s->lasterr);
	pthread_mutex_unlock(&s->mtx);
	if (o == NULL)
		fatalx("ev_sink_json");
	return o;
}

json_t *
events_status_json(void)
{
	struct ev_sink *s;
	json_t *o;

	if (TAILQ_EMPTY(&ev_sinks))
		return NULL;
	if ((o = json_object()) == NULL)
		fatalx("events_status_json");
	TAILQ_FOREACH(s, &ev_sinks, entry)
		json_object_set_new(o, s->name, ev_sink_json(s));
	return o;
}

void
events_shutdown(void)
{
	struct ev_sink *s;

	events_flush();
	while ((s = TAILQ_FIRST(&ev_sinks)) != NULL) {
		TAILQ_REMOVE(&ev_sinks, s, entry);
		ev_sink_free(s);
	}
	if (ev_layout_ok)
		acct_layout_free(&ev_layout);
	ev_layout_ok = 0;
	if (ev_dirfd != -1)
		close(ev_dirfd);
	ev_dirfd = -1;
}
