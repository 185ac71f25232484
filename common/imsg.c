/*
 * imsg.c - message framing, fd passing, buffering.  See imsg.h.
 */
#include <sys/socket.h>
#include <sys/uio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsg.h"

#define IMSG_IOV_MAX	64

void
imsgbuf_init(struct imsgbuf *ib, int sock)
{
	memset(ib, 0, sizeof(*ib));
	ib->sock = sock;
	ib->pid = getpid();
	ib->whead = NULL;
	ib->wtail = &ib->whead;
}

void
imsgbuf_clear(struct imsgbuf *ib)
{
	struct imsg_out *o;

	while ((o = ib->whead) != NULL) {
		ib->whead = o->next;
		if (o->fd != -1 && !o->fd_lent)
			close(o->fd);
		free(o);
	}
	ib->wtail = &ib->whead;
	if (ib->cur) {
		if (ib->cur->fd != -1 && !ib->cur->fd_lent)
			close(ib->cur->fd);
		free(ib->cur);
		ib->cur = NULL;
	}
	while (ib->nfds > 0)
		close(ib->fds[--ib->nfds]);
	free(ib->rbuf);
	ib->rbuf = NULL;
	ib->rsize = ib->rstart = ib->rend = 0;
	ib->wqueued = ib->wcount = 0;
}

static void
imsg_take_fds(struct imsgbuf *ib, struct msghdr *mh)
{
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
		int *fds, n, i;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		fds = (int *)CMSG_DATA(c);
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			if (ib->nfds < IMSG_MAX_FDS)
				ib->fds[ib->nfds++] = fds[i];
			else
				close(fds[i]);	/* peer misbehaves */
		}
	}
}

ssize_t
imsg_read(struct imsgbuf *ib)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int) * 16)];
	} cmsgbuf;
	struct msghdr mh;
	struct iovec iov;
	ssize_t n;

	if (ib->rbuf == NULL) {
		ib->rsize = IMSG_READ_BUF + IMSG_MAX_SIZE;
		if ((ib->rbuf = malloc(ib->rsize)) == NULL)
			return -1;
	}
	/* Keep room for one full message after the unread part. */
	if (ib->rstart > 0 && ib->rsize - ib->rend < IMSG_MAX_SIZE) {
		memmove(ib->rbuf, ib->rbuf + ib->rstart, ib->rend - ib->rstart);
		ib->rend -= ib->rstart;
		ib->rstart = 0;
	}
	iov.iov_base = ib->rbuf + ib->rend;
	iov.iov_len = ib->rsize - ib->rend;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = &cmsgbuf.buf;
	mh.msg_controllen = sizeof(cmsgbuf.buf);
	do {
		n = recvmsg(ib->sock, &mh, MSG_CMSG_CLOEXEC);
	} while (n == -1 && errno == EINTR);
	if (n <= 0)
		return n;
	imsg_take_fds(ib, &mh);
	ib->rend += n;
	return n;
}

int
imsg_get(struct imsgbuf *ib, struct imsg *m)
{
	struct imsg_hdr hdr;
	size_t avail = ib->rend - ib->rstart, len;

	if (avail < IMSG_HDR_SIZE)
		return 0;
	memcpy(&hdr, ib->rbuf + ib->rstart, sizeof(hdr));
	len = hdr.len & ~IMSG_FD_FLAG;
	if (len < IMSG_HDR_SIZE || len > IMSG_MAX_SIZE)
		return -1;
	if (avail < len)
		return 0;
	m->hdr = hdr;
	m->hdr.len = len;
	m->fd = -1;
	if (hdr.len & IMSG_FD_FLAG) {
		if (ib->nfds == 0)
			return -1;
		m->fd = ib->fds[0];
		memmove(ib->fds, ib->fds + 1, --ib->nfds * sizeof(int));
	}
	m->data = ib->rbuf + ib->rstart + IMSG_HDR_SIZE;
	m->len = len - IMSG_HDR_SIZE;
	ib->rstart += len;
	if (ib->rstart == ib->rend)
		ib->rstart = ib->rend = 0;
	return 1;
}

int
imsg_begin(struct imsgbuf *ib, uint32_t type, uint32_t peerid, int fd,
    size_t sizehint)
{
	struct imsg_out *o;
	struct imsg_hdr hdr;
	size_t cap = IMSG_HDR_SIZE + (sizehint < 240 ? 240 : sizehint);

	if (cap > IMSG_MAX_SIZE)
		cap = IMSG_MAX_SIZE;
	if (ib->cur != NULL || (o = malloc(sizeof(*o) + cap)) == NULL)
		return -1;
	o->next = NULL;
	o->fd = fd;
	o->fd_lent = 0;
	o->off = 0;
	o->cap = cap;
	hdr.type = type;
	hdr.len = 0;
	hdr.peerid = peerid;
	hdr.pid = ib->pid;
	memcpy(o->buf, &hdr, sizeof(hdr));
	o->len = IMSG_HDR_SIZE;
	ib->cur = o;
	return 0;
}

int
imsg_append(struct imsgbuf *ib, const void *data, size_t len)
{
	struct imsg_out *o = ib->cur;

	if (o == NULL || len > IMSG_MAX_SIZE - o->len)
		return -1;
	if (o->len + len > o->cap) {
		size_t cap = o->cap * 2;

		while (cap < o->len + len)
			cap *= 2;
		if (cap > IMSG_MAX_SIZE)
			cap = IMSG_MAX_SIZE;
		if ((o = realloc(o, sizeof(*o) + cap)) == NULL)
			return -1;
		o->cap = cap;
		ib->cur = o;
	}
	if (len)
		memcpy(o->buf + o->len, data, len);
	o->len += len;
	return 0;
}

void
imsg_lend_fd(struct imsgbuf *ib)
{
	if (ib->cur != NULL)
		ib->cur->fd_lent = 1;
}

void
imsg_end(struct imsgbuf *ib)
{
	struct imsg_out *o = ib->cur;
	uint32_t len;

	if (o == NULL)
		return;
	len = o->len | (o->fd != -1 ? IMSG_FD_FLAG : 0);
	memcpy(o->buf + offsetof(struct imsg_hdr, len), &len, sizeof(len));
	ib->cur = NULL;
	*ib->wtail = o;
	ib->wtail = &o->next;
	ib->wqueued += o->len;
	ib->wcount++;
}

int
imsg_compose(struct imsgbuf *ib, uint32_t type, uint32_t peerid, int fd,
    const void *data, size_t len)
{
	if (imsg_begin(ib, type, peerid, fd, len) == -1)
		return -1;
	if (imsg_append(ib, data, len) == -1)
		return -1;
	imsg_end(ib);
	return 0;
}

/*
 * Gather queued messages into one sendmsg().  A message carrying an fd
 * may only start a batch (its fd goes in that call's control data), so a
 * batch stops before the next such message.
 */
int
imsg_flush(struct imsgbuf *ib)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct iovec iov[IMSG_IOV_MAX];
	struct msghdr mh;
	struct imsg_out *o;
	ssize_t n;
	int i, fd;

	while (ib->whead != NULL) {
		memset(&mh, 0, sizeof(mh));
		fd = -1;
		i = 0;
		for (o = ib->whead; o != NULL && i < IMSG_IOV_MAX; o = o->next) {
			if (o->fd != -1 && o->off == 0) {
				if (i > 0)
					break;
				fd = o->fd;
			}
			iov[i].iov_base = o->buf + o->off;
			iov[i].iov_len = o->len - o->off;
			i++;
		}
		mh.msg_iov = iov;
		mh.msg_iovlen = i;
		if (fd != -1) {
			struct cmsghdr *c;

			memset(&cmsgbuf, 0, sizeof(cmsgbuf));
			mh.msg_control = &cmsgbuf.buf;
			mh.msg_controllen = sizeof(cmsgbuf.buf);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_len = CMSG_LEN(sizeof(int));
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			memcpy(CMSG_DATA(c), &fd, sizeof(int));
		}
		do {
			n = sendmsg(ib->sock, &mh, MSG_NOSIGNAL);
		} while (n == -1 && errno == EINTR);
		if (n == -1)
			return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
		while (n > 0 && (o = ib->whead) != NULL) {
			size_t left = o->len - o->off;

			if (o->fd != -1) {
				/* sent with this call: ours is no longer needed */
				if (!o->fd_lent)
					close(o->fd);
				o->fd = -1;
			}
			if ((size_t)n < left) {
				o->off += n;
				ib->wqueued -= n;
				break;
			}
			n -= left;
			ib->wqueued -= left;
			ib->wcount--;
			ib->whead = o->next;
			if (ib->whead == NULL)
				ib->wtail = &ib->whead;
			free(o);
		}
	}
	return 1;
}
