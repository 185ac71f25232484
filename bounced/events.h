/*
 * events.h - event shipping: every accounting record, as JSON, to
 * RabbitMQ (<acct-amqp NAME>) and to HTTP webhooks (<acct-webhook NAME>),
 * at least once (docs/events.md).
 *
 *	events.c	the sinks: configuration, JSON of a record, what goes
 *			in the buffer, counters; the shipper thread
 *	ev_buf.c	the on-disk buffer of one sink (spool/events/NAME)
 *	ev_amqp.c	publishing a batch with publisher confirms
 *	ev_http.c	POSTing a batch as one JSON array
 *
 * The main thread (bounced's loop) only appends to the buffer, in the
 * same loop turn as the accounting files and before queued hears the
 * records are written.  Each sink has one thread that reads the buffer,
 * sends, and moves the buffer's cursor past what the far end confirmed.
 * librabbitmq is blocking, and so is the simple HTTP client; a thread
 * per sink keeps that off the loop, which goes on writing accounting
 * files whatever the broker does.
 */
#ifndef TERN_EVENTS_H
#define TERN_EVENTS_H

#include <sys/queue.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "bounced.h"
#include "ev_url.h"

/* One sink's buffer: segment files of JSON lines and a cursor. */
struct ev_buf {
	int		 dirfd;		/* spool/events/NAME */
	int		 wfd;		/* segment being appended to */
	uint64_t	 wseg;		/* its number */
	uint64_t	 woff;		/* its size (complete lines only) */
	uint64_t	 rseg;		/* shipper: next record's segment */
	uint64_t	 roff;		/* ... and offset */
	uint64_t	 bytes;		/* not yet confirmed */
	uint64_t	 records;
};

/* A batch read from the buffer: `n` records, each one JSON line. */
struct ev_batch {
	char		*data;
	size_t		 len;
	size_t		 n;
	uint64_t	 seg, off;	/* where it starts (for message ids) */
};

/* ev_buf.c.  Every function but ev_buf_append() runs in the shipper,
 * ev_buf_append() in the main thread; the caller locks around the
 * shared fields (wseg, woff, bytes, records). */
int	ev_buf_open(struct ev_buf *, int eventsfd, const char *name);
int	ev_buf_append(struct ev_buf *, const char *data, size_t len,
	    size_t nrec);
/* Up to max records (and about maxbytes) from the cursor, not past
 * (wseg, woff); 0 and b->n == 0 when there is nothing. */
int	ev_buf_read(struct ev_buf *, uint64_t wseg, uint64_t woff,
	    size_t max, size_t maxbytes, struct ev_batch *);
/* The batch is confirmed: move the cursor past it (saved to disk). */
void	ev_buf_commit(struct ev_buf *, const struct ev_batch *);
void	ev_buf_close(struct ev_buf *);

struct ev_sink;
struct ev_transport {
	const char	*kind;		/* "amqp", "webhook" */
	/* Send and get the far end's confirmation: 0, or -1 and err. */
	int		(*send)(struct ev_sink *, const struct ev_batch *,
			    char *err, size_t errsz);
	void		(*disconnect)(struct ev_sink *);
};
extern const struct ev_transport ev_amqp_transport;	/* ev_amqp.c */
extern const struct ev_transport ev_http_transport;	/* ev_http.c */

struct ev_sink {
	TAILQ_ENTRY(ev_sink)	 entry;
	char			 name[128];
	const struct ev_transport *tr;
	struct ev_url		 url;
	int			 records;	/* ACCT_* */
	struct acct_layout	 layout;
	char			*exchange;
	char			*rkprefix;
	size_t			 batch;
	int			 timeout_ms;
	int64_t			 rmin_ms, rmax_ms;
	uint64_t		 maxbuf;
	/* from ternd (BNC_EVENT_SINK) */
	int			 have_info;
	char			 addr[64];	/* "" if not resolved */
	char			*user, *pass;
	char			*ca_pem;	/* https: the ca-file */
	/* transport state (shipper thread only) */
	void			*conn;
	/* buffer; records of this loop turn wait in pend */
	struct ev_buf		 buf;
	int			 buf_ok;
	struct sbuf		 pend;
	size_t			 npend;
	int			 pend_dropped;	/* this turn dropped some */
	/* shipper thread */
	pthread_t		 thr;
	int			 running;
	int			 stop;
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;
	/* counters and state, under mtx */
	uint64_t		 sent, dropped, failures;
	int			 up;		/* last send worked; -1:
						 * nothing sent yet */
	int			 full;		/* dropping now */
	char			 lasterr[256];
};

/* events.c: called by bounced.c and acct.c */
void	events_config(const struct cfg *);
void	events_dir(int fd);			/* FILE_EVENTS */
void	events_sink_info(struct imsg *);	/* BNC_EVENT_SINK */
void	events_start(void);
void	events_write(const struct acct_record *, const struct acct_extra *);
void	events_flush(void);
/* {"NAME": {kind, state, pending, sent, dropped, ...}} or NULL. */
struct json_t;
struct json_t *events_status_json(void);
void	events_shutdown(void);

#endif
