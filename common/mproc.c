/*
 * mproc.c - imsg channels driven by uv_poll, and the typed builder/reader.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mproc.h"
#include "proto.h"

enum m_tag { M_U32 = 1, M_U64, M_I64, M_STR, M_NULLSTR, M_DATA, M_SADDR };

static void mproc_poll_cb(uv_poll_t *, int, int);
static void mproc_flush_cb(uv_idle_t *);

static LIST_HEAD(, mproc) mprocs = LIST_HEAD_INITIALIZER(mprocs);

static void
mproc_set_events(struct mproc *p, int events)
{
	if (!p->alive || events == p->events)
		return;
	p->events = events;
	uv_poll_start(&p->poll, events, mproc_poll_cb);
}

struct mproc *
mproc_new(uv_loop_t *loop, int fd, int proc, int instance,
    mproc_handler handler, mproc_event on_close, void *data)
{
	struct mproc *p;
	int fl;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		fatal("mproc_new");
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		fatal("mproc_new: fcntl");
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	if (instance > 0)
		snprintf(p->name, sizeof(p->name), "%s.%d", proc_name(proc),
		    instance);
	else
		strlcpy(p->name, proc_name(proc), sizeof(p->name));
	p->proc = proc;
	p->instance = instance;
	p->handler = handler;
	p->on_close = on_close;
	p->data = data;
	imsgbuf_init(&p->ib, fd);
	if (uv_poll_init(loop, &p->poll, fd) != 0)
		fatalx("mproc_new: uv_poll_init");
	p->poll.data = p;
	uv_idle_init(loop, &p->flush);
	p->flush.data = p;
	p->nhandles = 2;
	p->alive = 1;
	LIST_INSERT_HEAD(&mprocs, p, entry);
	mproc_set_events(p, UV_READABLE);
	return p;
}

static void
mproc_free_cb(uv_handle_t *h)
{
	struct mproc *p = h->data;

	if (--p->nhandles > 0)
		return;
	imsgbuf_clear(&p->ib);
	free(p);
}

void
mproc_close(struct mproc *p)
{
	if (!p->alive)
		return;
	p->alive = 0;
	LIST_REMOVE(p, entry);
	uv_poll_stop(&p->poll);
	uv_idle_stop(&p->flush);
	close(p->ib.sock);
	uv_close((uv_handle_t *)&p->poll, mproc_free_cb);
	uv_close((uv_handle_t *)&p->flush, mproc_free_cb);
}

static void
mproc_lost(struct mproc *p, const char *why)
{
	log_debug("lost %s: %s", p->name, why);
	if (p->on_close)
		p->on_close(p);
	mproc_close(p);
}

int
mproc_congested(const struct mproc *p)
{
	return p->congested;
}

static void
mproc_dispatch(struct mproc *p)
{
	struct imsg m;
	int r;

	while (p->alive && (r = imsg_get(&p->ib, &m)) == 1) {
		p->handler(p, &m);
		/* The handler takes ownership of m.fd only if it wants it. */
	}
	if (p->alive && r == -1)
		fatalx("%s: malformed message stream", p->name);
}

/*
 * Send what is queued; wait for the socket to be writable only if the
 * peer does not take it all now.  -1: the channel is lost (p is going).
 */
static int
mproc_write(struct mproc *p)
{
	if (imsg_flush(&p->ib) == -1) {
		mproc_lost(p, strerror(errno));
		return -1;
	}
	mproc_set_events(p, p->ib.wcount > 0 ? UV_READABLE | UV_WRITABLE :
	    UV_READABLE);
	if (p->congested && p->ib.wqueued < MPROC_LOWAT) {
		p->congested = 0;
		if (p->on_drain)
			p->on_drain(p);
	}
	return 0;
}

/*
 * An idle handle, active while messages wait: it runs once the turn's
 * I/O callbacks are done, before the loop waits again, so all the
 * messages composed in the turn leave in one sendmsg().  (An active idle
 * handle also keeps the loop from blocking: a message composed after the
 * idle phase, e.g. by an on_drain() called from here, is sent right on
 * the next turn.  A prepare handle would not: it would wait for the
 * next event.)  Asking uv_poll for UV_WRITABLE per message instead cost,
 * per message, two epoll_ctl() to add it (libuv re-registers the fd when
 * the events change), a loop turn to learn that the socket was writable,
 * and two more to take it away again (strace: 8 epoll_ctl per message in
 * smtpd).
 */
static void
mproc_flush_cb(uv_idle_t *h)
{
	struct mproc *p = h->data;

	uv_idle_stop(&p->flush);
	if (p->alive && !(p->events & UV_WRITABLE))
		mproc_write(p);
}

static void
mproc_poll_cb(uv_poll_t *h, int status, int events)
{
	struct mproc *p = h->data;
	ssize_t n;

	if (status < 0) {
		/*
		 * libuv has stopped the handle: UV_EBADF means POLLERR, as
		 * when the peer exited without reading what we had just sent
		 * (deliverd's last results to a queued that is stopping).
		 * Take what the peer sent before; then the channel is lost.
		 * Ignoring it left the channel silent for good: deliverd
		 * waited for queued's ACK until its stop grace ran out.
		 */
		if (status == UV_EBADF && imsg_read(&p->ib) > 0)
			mproc_dispatch(p);
		if (p->alive)
			mproc_lost(p, uv_strerror(status));
		return;
	}
	if ((events & UV_WRITABLE) && mproc_write(p) == -1)
		return;
	if (p->alive && (events & (UV_READABLE | UV_DISCONNECT))) {
		n = imsg_read(&p->ib);
		if (n == 0 || (n == -1 && errno != EAGAIN)) {
			mproc_dispatch(p);
			if (p->alive)
				mproc_lost(p, n == 0 ? "eof" : strerror(errno));
			return;
		}
		mproc_dispatch(p);
	}
}

void
mproc_flush_all(void)
{
	struct mproc *p, *next;

	/* A lost channel leaves the list (mproc_close) but is freed only
	 * by the loop's close callbacks: `next` stays readable. */
	for (p = LIST_FIRST(&mprocs); p != NULL; p = next) {
		next = LIST_NEXT(p, entry);
		if (uv_is_active((uv_handle_t *)&p->flush))
			mproc_flush_cb(&p->flush);
	}
}

void
mproc_flush_sync(struct mproc *p)
{
	struct pollfd pfd;

	while (p->alive && p->ib.wcount > 0) {
		if (imsg_flush(&p->ib) == -1)
			return;
		if (p->ib.wcount == 0)
			break;
		pfd.fd = p->ib.sock;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, 1000) <= 0)
			return;
	}
}

/* --- builder --- */

void
m_create(struct mproc *p, uint32_t type, uint32_t peerid, int fd)
{
	if (imsg_begin(&p->ib, type, peerid, fd, 0) == -1)
		fatalx("m_create: %s", proto_name(type));
}

void
m_create_lent(struct mproc *p, uint32_t type, uint32_t peerid, int fd)
{
	m_create(p, type, peerid, fd);
	imsg_lend_fd(&p->ib);
}

static void
m_append(struct mproc *p, const void *d, size_t len)
{
	if (imsg_append(&p->ib, d, len) == -1)
		fatalx("%s: message too large", p->name);
}

static void
m_tag(struct mproc *p, uint8_t tag)
{
	m_append(p, &tag, 1);
}

void
m_add_u32(struct mproc *p, uint32_t v)
{
	m_tag(p, M_U32);
	m_append(p, &v, sizeof(v));
}

void
m_add_u64(struct mproc *p, uint64_t v)
{
	m_tag(p, M_U64);
	m_append(p, &v, sizeof(v));
}

void
m_add_i64(struct mproc *p, int64_t v)
{
	m_tag(p, M_I64);
	m_append(p, &v, sizeof(v));
}

void
m_add_string(struct mproc *p, const char *s)
{
	uint32_t len;

	if (s == NULL) {
		m_tag(p, M_NULLSTR);
		return;
	}
	len = strlen(s) + 1;
	m_tag(p, M_STR);
	m_append(p, &len, sizeof(len));
	m_append(p, s, len);
}

void
m_add_data(struct mproc *p, const void *d, size_t n)
{
	uint32_t len = n;

	m_tag(p, M_DATA);
	m_append(p, &len, sizeof(len));
	m_append(p, d, n);
}

void
m_add_sockaddr(struct mproc *p, const struct sockaddr *sa)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (sa != NULL)
		memcpy(&ss, sa, sa->sa_family == AF_INET6 ?
		    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	m_tag(p, M_SADDR);
	m_append(p, &ss, sizeof(ss));
}

void
m_close(struct mproc *p)
{
	imsg_end(&p->ib);
	if (p->ib.wqueued > MPROC_HIWAT)
		p->congested = 1;
	if (p->alive && !(p->events & UV_WRITABLE))
		uv_idle_start(&p->flush, mproc_flush_cb);
}

void
m_compose(struct mproc *p, uint32_t type, uint32_t peerid, int fd,
    const void *d, size_t len)
{
	m_create(p, type, peerid, fd);
	if (len)
		m_append(p, d, len);
	m_close(p);
}

/* --- reader --- */

void
m_msg(struct msg *m, const struct imsg *im)
{
	m->pos = im->data;
	m->end = im->data + im->len;
	m->type = im->hdr.type;
}

static void
m_need(struct msg *m, uint8_t tag, size_t len)
{
	if (m->pos >= m->end || *m->pos != tag)
		fatalx("%s: bad field type (want %d)", proto_name(m->type), tag);
	m->pos++;
	if ((size_t)(m->end - m->pos) < len)
		fatalx("%s: short message", proto_name(m->type));
}

void
m_get_u32(struct msg *m, uint32_t *v)
{
	m_need(m, M_U32, sizeof(*v));
	memcpy(v, m->pos, sizeof(*v));
	m->pos += sizeof(*v);
}

void
m_get_u64(struct msg *m, uint64_t *v)
{
	m_need(m, M_U64, sizeof(*v));
	memcpy(v, m->pos, sizeof(*v));
	m->pos += sizeof(*v);
}

void
m_get_i64(struct msg *m, int64_t *v)
{
	m_need(m, M_I64, sizeof(*v));
	memcpy(v, m->pos, sizeof(*v));
	m->pos += sizeof(*v);
}

static uint32_t
m_get_len(struct msg *m, uint8_t tag)
{
	uint32_t len;

	m_need(m, tag, sizeof(len));
	memcpy(&len, m->pos, sizeof(len));
	m->pos += sizeof(len);
	if ((size_t)(m->end - m->pos) < len)
		fatalx("%s: short message", proto_name(m->type));
	return len;
}

void
m_get_string(struct msg *m, const char **s)
{
	uint32_t len;

	if (m->pos < m->end && *m->pos == M_NULLSTR) {
		m->pos++;
		*s = NULL;
		return;
	}
	len = m_get_len(m, M_STR);
	if (len == 0 || m->pos[len - 1] != '\0' || memchr(m->pos, 0, len) !=
	    m->pos + len - 1)
		fatalx("%s: bad string", proto_name(m->type));
	*s = (const char *)m->pos;
	m->pos += len;
}

void
m_get_data(struct msg *m, const void **d, size_t *n)
{
	uint32_t len = m_get_len(m, M_DATA);

	*d = m->pos;
	*n = len;
	m->pos += len;
}

void
m_get_sockaddr(struct msg *m, struct sockaddr_storage *ss)
{
	m_need(m, M_SADDR, sizeof(*ss));
	memcpy(ss, m->pos, sizeof(*ss));
	m->pos += sizeof(*ss);
}

int
m_is_eom(const struct msg *m)
{
	return m->pos == m->end;
}

void
m_end(const struct msg *m)
{
	if (m->pos != m->end)
		fatalx("%s: trailing data", proto_name(m->type));
}
