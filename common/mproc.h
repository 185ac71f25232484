/*
 * mproc.h - a peer process seen through an imsg channel on the libuv loop.
 *
 * Each process keeps one struct mproc per peer (its parent and every
 * daemon it talks to directly).  Incoming messages are dispatched to the
 * handler; outgoing ones are built with the typed builder and sent
 * together, once per loop turn (mproc_flush_cb).  Payloads are never parsed by hand:
 *
 *	m_create(p, MSG_COMMIT, reqid, -1);
 *	m_add_string(p, sender);
 *	m_add_u32(p, nrcpt);
 *	m_close(p);
 *
 *	m_msg(&m, imsg);
 *	m_get_string(&m, &sender);
 *	m_get_u32(&m, &nrcpt);
 *	m_end(&m);
 *
 * Every field is tagged with its type so that a reader that expects
 * something else fails loudly: a malformed payload is a fatal protocol
 * error (the process exits and ternd restarts it).
 */
#ifndef TERN_MPROC_H
#define TERN_MPROC_H

#include <uv.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "imsg.h"

/* Output above this many bytes makes mproc_congested() true, so that
 * producers stop reading new work until the peer catches up. */
#define MPROC_HIWAT	(4 * 1024 * 1024)
#define MPROC_LOWAT	(1 * 1024 * 1024)

struct mproc;
typedef void (*mproc_handler)(struct mproc *, struct imsg *);
typedef void (*mproc_event)(struct mproc *);

struct mproc {
	char		 name[32];	/* "queued", "deliverd.1": for logs */
	int		 proc;		/* PROC_* of the peer */
	int		 instance;
	struct imsgbuf	 ib;
	uv_poll_t	 poll;
	uv_idle_t	 flush;		/* active: messages wait to be sent */
	int		 events;	/* UV_READABLE | UV_WRITABLE */
	int		 nhandles;	/* not yet closed (poll, flush) */
	int		 alive;
	int		 congested;
	mproc_handler	 handler;
	mproc_event	 on_close;	/* peer went away; p is then freed */
	mproc_event	 on_drain;	/* output fell below MPROC_LOWAT */
	void		*data;
	LIST_ENTRY(mproc) entry;	/* every open channel */
};

/* Wrap socket fd (made non-blocking).  The mproc is heap allocated. */
struct mproc	*mproc_new(uv_loop_t *, int fd, int proc, int instance,
		    mproc_handler, mproc_event on_close, void *data);
/* Stop and close (fd closed, struct freed after the uv close). */
void		 mproc_close(struct mproc *);
int		 mproc_congested(const struct mproc *);
/* Write everything out now, blocking if necessary (shutdown paths). */
void		 mproc_flush_sync(struct mproc *);
/* Send, without waiting, what every channel has waiting for the end of
 * the loop turn: before the loop blocks on something else (a sync). */
void		 mproc_flush_all(void);

/* Builder. */
void	m_create(struct mproc *, uint32_t type, uint32_t peerid, int fd);
/* As m_create, but fd stays the caller's: sent, never closed here (the
 * caller keeps it open until the channel has sent it or is closed).
 * Saves a dup() and a close() for a descriptor the sender keeps anyway. */
void	m_create_lent(struct mproc *, uint32_t type, uint32_t peerid, int fd);
void	m_add_u32(struct mproc *, uint32_t);
void	m_add_u64(struct mproc *, uint64_t);
void	m_add_i64(struct mproc *, int64_t);
void	m_add_string(struct mproc *, const char *);	/* NULL allowed */
void	m_add_data(struct mproc *, const void *, size_t);
void	m_add_sockaddr(struct mproc *, const struct sockaddr *);
void	m_close(struct mproc *);
/* Whole message with no payload or a raw one. */
void	m_compose(struct mproc *, uint32_t type, uint32_t peerid, int fd,
	    const void *, size_t);

/* Reader. */
struct msg {
	const uint8_t	*pos;
	const uint8_t	*end;
	uint32_t	 type;
};
void	m_msg(struct msg *, const struct imsg *);
void	m_get_u32(struct msg *, uint32_t *);
void	m_get_u64(struct msg *, uint64_t *);
void	m_get_i64(struct msg *, int64_t *);
void	m_get_string(struct msg *, const char **);	/* may yield NULL */
void	m_get_data(struct msg *, const void **, size_t *);
void	m_get_sockaddr(struct msg *, struct sockaddr_storage *);
int	m_is_eom(const struct msg *);
void	m_end(const struct msg *);

#endif
