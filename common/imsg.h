/*
 * imsg.h - framed messages over an AF_UNIX stream socket, with fd passing.
 *
 * A message is a 16-byte header followed by its payload:
 *
 *	uint32 type	message type (proto.h)
 *	uint32 len	header + payload bytes; bit 31 set: an fd rides along
 *	uint32 peerid	request id chosen by the requester, echoed in replies
 *	uint32 pid	sender's pid (diagnostics)
 *
 * The fd of a message is sent with SCM_RIGHTS on the sendmsg() call that
 * carries the message's first byte.  Linux never merges a stream segment
 * that carries fds with earlier bytes in one recvmsg(), so the receiver
 * keeps received fds in arrival order and hands the oldest to the next
 * message that is flagged as having one.
 *
 * This layer does no I/O scheduling: imsg_read()/imsg_flush() are called
 * by mproc.c when the socket is readable/writable.  Both are non-blocking.
 */
#ifndef TERN_IMSG_H
#define TERN_IMSG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define IMSG_HDR_SIZE		16
#define IMSG_MAX_SIZE		(256 * 1024)	/* header + payload */
#define IMSG_FD_FLAG		0x80000000u
#define IMSG_READ_BUF		(64 * 1024)
#define IMSG_MAX_FDS		64		/* received, not yet consumed */

struct imsg_hdr {
	uint32_t	type;
	uint32_t	len;
	uint32_t	peerid;
	uint32_t	pid;
};

struct imsg {
	struct imsg_hdr	 hdr;
	int		 fd;		/* -1 if none; the receiver owns it */
	const uint8_t	*data;		/* valid until the next imsg_get() */
	size_t		 len;		/* payload length */
};

struct imsg_out {
	struct imsg_out	*next;
	int		 fd;		/* -1 if none; closed once sent */
	int		 fd_lent;	/* fd is the sender's: never closed here */
	size_t		 len;
	size_t		 off;		/* bytes already sent */
	size_t		 cap;
	uint8_t		 buf[];
};

struct imsgbuf {
	int		 sock;
	pid_t		 pid;
	/* input */
	uint8_t		*rbuf;
	size_t		 rsize, rstart, rend;
	int		 fds[IMSG_MAX_FDS];
	int		 nfds;
	/* output */
	struct imsg_out	*whead, **wtail;
	struct imsg_out	*cur;		/* being composed, not yet queued */
	size_t		 wqueued;	/* bytes waiting to be sent */
	size_t		 wcount;	/* messages waiting */
};

void	imsgbuf_init(struct imsgbuf *, int sock);
void	imsgbuf_clear(struct imsgbuf *);	/* frees, closes fds, not sock */

/* Receive what is available: >0 bytes read, 0 on EOF, -1 on error
 * (errno EAGAIN: nothing to read now). */
ssize_t	imsg_read(struct imsgbuf *);
/* Next complete message: 1 and *m filled, 0 if none yet, -1 on a
 * malformed stream (bad length, missing fd). */
int	imsg_get(struct imsgbuf *, struct imsg *m);

/* Composition: begin, append payload, end (queues it). */
int	imsg_begin(struct imsgbuf *, uint32_t type, uint32_t peerid,
	    int fd, size_t sizehint);
int	imsg_append(struct imsgbuf *, const void *, size_t);
/* The fd of the message being composed stays the sender's: it is not
 * closed once sent (nor when the channel is cleared), so the sender must
 * keep it open until then. */
void	imsg_lend_fd(struct imsgbuf *);
void	imsg_end(struct imsgbuf *);
int	imsg_compose(struct imsgbuf *, uint32_t type, uint32_t peerid,
	    int fd, const void *data, size_t len);

/* Send queued messages: 1 all sent, 0 some left (EAGAIN), -1 error. */
int	imsg_flush(struct imsgbuf *);

#endif
