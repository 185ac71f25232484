/*
 * tern-sink - counting SMTP receiver for Tern's benchmarks (bench/run.sh).
 *
 *   tern-sink [-D] [-a ADDR] -p PORT -o STATUSFILE
 *
 * One thread, one epoll loop, no per-message allocation: it accepts every
 * MAIL and RCPT, answers pipelined command groups with one write, throws
 * the DATA away while scanning for the terminating dot, and counts.  The
 * counters go to STATUSFILE as one line of key=value pairs
 *
 *   msgs=M rcpts=R sessions=S bytes=B first_ms=T0 last_ms=T1
 *
 * (rcpts/msgs: transactions whose DATA got "250"; first_ms/last_ms: wall
 * clock of the first/last such message, so the harness measures end to
 * end with the receiver's clock, not its own polling).  The file is
 * replaced atomically (tmp + rename) at most every 50 ms while something
 * changes, and once more on SIGTERM/SIGINT.  ADDR 0.0.0.0 receives for
 * every loopback address (the DNS scenario spreads MX hosts over 127/8).
 *
 * It offers CHUNKING (RFC 3030), as the large mailbox providers do: a
 * "BDAT n [LAST]" chunk is counted and skipped by length, the LAST one
 * ends the message.  -D offers DATA only (SINK_NO_CHUNKING=1 in the
 * bench scripts), to measure a client's DATA path.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SINK_LINE_MAX	2048	/* longest command line kept */
#define SINK_OUT_MAX	16384	/* pending replies of one connection */
#define SINK_MAX_FD	65536

/* Where the end-of-data scanner is: the dot must start a line. */
enum sink_dot { AT_BOL, SEEN_DOT, SEEN_DOTCR, IN_LINE, SEEN_CR };

struct sink_conn {
	int		 fd;
	int		 in_data;
	enum sink_dot	 dot;
	int		 has_mail;
	unsigned	 rcpts;		/* accepted in this transaction */
	size_t		 llen, olen;
	int		 quitting;
	unsigned long long bdat_left;	/* octets of a BDAT chunk to skip */
	int		 bdat_last;	/* that chunk ends the message */
	int		 bdat_bad;	/* refused: no transaction */
	char		 line[SINK_LINE_MAX];
	char		 out[SINK_OUT_MAX];
};

static struct sink_conn	*sink_conns[SINK_MAX_FD];
static unsigned long long sink_msgs, sink_rcpts, sink_sessions, sink_bytes;
static long long	 sink_first_ms, sink_last_ms;
static volatile sig_atomic_t sink_stop;
static const char	*sink_status_path;
static int		 sink_chunking = 1;

static long long
sink_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sink_write_status(void)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", sink_status_path);
	if ((f = fopen(tmp, "w")) == NULL)
		return;
	fprintf(f, "msgs=%llu rcpts=%llu sessions=%llu bytes=%llu "
	    "first_ms=%lld last_ms=%lld\n", sink_msgs, sink_rcpts,
	    sink_sessions, sink_bytes, sink_first_ms, sink_last_ms);
	fclose(f);
	rename(tmp, sink_status_path);
}

static void
sink_reply(struct sink_conn *c, const char *s)
{
	size_t n = strlen(s);

	if (c->olen + n <= sizeof(c->out)) {
		memcpy(c->out + c->olen, s, n);
		c->olen += n;
	}
}

/* Flush replies; a slow reader is simply waited for (loopback). */
static int
sink_flush(struct sink_conn *c)
{
	size_t off = 0;
	ssize_t n;

	while (off < c->olen) {
		n = write(c->fd, c->out + off, c->olen - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct timespec ts = { 0, 1000000 };
			nanosleep(&ts, NULL);
			continue;
		}
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	c->olen = 0;
	return 0;
}

static void	sink_bdat_done(struct sink_conn *);

static void
sink_command(struct sink_conn *c, char *l)
{
	if (!strncasecmp(l, "EHLO", 4))
		sink_reply(c, sink_chunking ?
		    "250-sink.bench.test\r\n250-PIPELINING\r\n250-CHUNKING\r\n"
		    "250-8BITMIME\r\n250-SIZE 104857600\r\n250 ENHANCEDSTATUSCODES\r\n" :
		    "250-sink.bench.test\r\n250-PIPELINING\r\n"
		    "250-8BITMIME\r\n250-SIZE 104857600\r\n250 ENHANCEDSTATUSCODES\r\n");
	else if (sink_chunking && !strncasecmp(l, "BDAT ", 5)) {
		char *end;

		c->bdat_left = strtoull(l + 5, &end, 10);
		c->bdat_last = strncasecmp(end, " LAST", 5) == 0;
		c->bdat_bad = !c->has_mail || c->rcpts == 0;
		if (c->bdat_left == 0)
			sink_bdat_done(c);
	} else if (!strncasecmp(l, "HELO", 4))
		sink_reply(c, "250 sink.bench.test\r\n");
	else if (!strncasecmp(l, "MAIL", 4)) {
		c->has_mail = 1;
		c->rcpts = 0;
		sink_reply(c, "250 2.1.0 ok\r\n");
	} else if (!strncasecmp(l, "RCPT", 4)) {
		if (!c->has_mail) {
			sink_reply(c, "503 5.5.1 MAIL first\r\n");
			return;
		}
		c->rcpts++;
		sink_reply(c, "250 2.1.5 ok\r\n");
	} else if (!strncasecmp(l, "DATA", 4)) {
		if (!c->has_mail || c->rcpts == 0) {
			sink_reply(c, "554 5.5.1 no valid recipients\r\n");
			return;
		}
		c->in_data = 1;
		c->dot = AT_BOL;
		sink_reply(c, "354 go ahead\r\n");
	} else if (!strncasecmp(l, "RSET", 4)) {
		c->has_mail = 0;
		c->rcpts = 0;
		sink_reply(c, "250 2.0.0 ok\r\n");
	} else if (!strncasecmp(l, "NOOP", 4))
		sink_reply(c, "250 2.0.0 ok\r\n");
	else if (!strncasecmp(l, "QUIT", 4)) {
		sink_reply(c, "221 2.0.0 bye\r\n");
		c->quitting = 1;
	} else
		sink_reply(c, "500 5.5.2 unknown command\r\n");
}

static void
sink_message_done(struct sink_conn *c)
{
	long long now = sink_now_ms();

	sink_msgs++;
	sink_rcpts += c->rcpts;
	if (sink_first_ms == 0)
		sink_first_ms = now;
	sink_last_ms = now;
	c->in_data = 0;
	c->has_mail = 0;
	c->rcpts = 0;
	sink_reply(c, "250 2.0.0 ok: counted\r\n");
}

/* A BDAT chunk is all in: its reply. */
static void
sink_bdat_done(struct sink_conn *c)
{
	if (c->bdat_bad)
		sink_reply(c, "554 5.5.1 no valid recipients\r\n");
	else if (c->bdat_last)
		sink_message_done(c);
	else
		sink_reply(c, "250 2.0.0 chunk ok\r\n");
}

/*
 * Consume DATA bytes up to and including "CRLF.CRLF" (the first line's
 * dot counts too: the DATA reply ended a line).  Returns bytes used.
 */
static size_t
sink_scan_data(struct sink_conn *c, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char ch = p[i];

		switch (c->dot) {
		case AT_BOL:
			c->dot = ch == '.' ? SEEN_DOT : ch == '\r' ? SEEN_CR :
			    IN_LINE;
			break;
		case SEEN_DOT:
			c->dot = ch == '\r' ? SEEN_DOTCR : IN_LINE;
			break;
		case SEEN_DOTCR:
			if (ch == '\n') {
				sink_bytes += i + 1;
				sink_message_done(c);
				return i + 1;
			}
			c->dot = IN_LINE;
			break;
		case IN_LINE:
		case SEEN_CR:
			if (ch == '\n' && c->dot == SEEN_CR)
				c->dot = AT_BOL;
			else if (ch == '\r')
				c->dot = SEEN_CR;
			else {
				/* bulk skip to the next CR */
				const char *cr = memchr(p + i, '\r', n - i);

				c->dot = IN_LINE;
				if (cr == NULL) {
					sink_bytes += n;
					return n;
				}
				i = (size_t)(cr - p) - 1;
			}
			break;
		}
	}
	sink_bytes += n;
	return n;
}

/* Handle received bytes: commands line by line, DATA scanned. */
static void
sink_input(struct sink_conn *c, const char *p, size_t n)
{
	while (n > 0 && !c->quitting) {
		if (c->bdat_left > 0) {
			size_t used = n < c->bdat_left ? n : c->bdat_left;

			sink_bytes += used;
			c->bdat_left -= used;
			p += used;
			n -= used;
			if (c->bdat_left == 0)
				sink_bdat_done(c);
			continue;
		}
		if (c->in_data) {
			size_t used = sink_scan_data(c, p, n);

			p += used;
			n -= used;
			continue;
		}
		const char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) + 1 : n;

		if (c->llen + take < sizeof(c->line)) {
			memcpy(c->line + c->llen, p, take);
			c->llen += take;
		} else
			c->llen = sizeof(c->line) - 1;	/* too long: truncate */
		p += take;
		n -= take;
		if (nl == NULL)
			break;
		c->line[c->llen] = '\0';
		c->llen = 0;
		sink_command(c, c->line);
	}
}

static void
sink_close(int ep, struct sink_conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	sink_conns[c->fd] = NULL;
	free(c);
}

static void
sink_accept(int ep, int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN };
		struct sink_conn *c;
		int one = 1;

		if (fd < 0)
			return;
		if (fd >= SINK_MAX_FD || (c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
		sink_conns[fd] = c;
		sink_sessions++;
		ev.data.fd = fd;
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
		sink_reply(c, "220 sink.bench.test ESMTP tern-sink\r\n");
		if (sink_flush(c) < 0)
			sink_close(ep, c);
	}
}

static void
sink_readable(int ep, struct sink_conn *c)
{
	char buf[65536];
	ssize_t n = read(c->fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		sink_close(ep, c);
		return;
	}
	sink_input(c, buf, (size_t)n);
	if (sink_flush(c) < 0 || c->quitting)
		sink_close(ep, c);
}

static int
sink_listen(const char *addr, int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd, one = 1;

	sin.sin_port = htons((unsigned short)port);
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(fd, 4096) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
sink_on_signal(int sig)
{
	(void)sig;
	sink_stop = 1;
}

int
main(int argc, char **argv)
{
	const char *addr = "127.0.0.1";
	int port = 0, ch, lfd, ep;
	unsigned long long seen = ~0ULL;
	long long wrote_ms = 0;
	struct epoll_event ev = { .events = EPOLLIN }, evs[256];

	while ((ch = getopt(argc, argv, "Da:p:o:")) != -1) {
		switch (ch) {
		case 'D': sink_chunking = 0; break;
		case 'a': addr = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'o': sink_status_path = optarg; break;
		default: goto usage;
		}
	}
	if (port <= 0 || sink_status_path == NULL)
		goto usage;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, sink_on_signal);
	signal(SIGINT, sink_on_signal);
	if ((lfd = sink_listen(addr, port)) < 0) {
		fprintf(stderr, "tern-sink: cannot listen on %s:%d: %s\n",
		    addr, port, strerror(errno));
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.data.fd = lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	sink_write_status();
	while (!sink_stop) {
		int i, n = epoll_wait(ep, evs, 256, 50);

		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == lfd)
				sink_accept(ep, lfd);
			else if (sink_conns[fd] != NULL)
				sink_readable(ep, sink_conns[fd]);
		}
		/* At most every 50 ms: the status file must not cost much. */
		if (sink_msgs + sink_sessions != seen &&
		    sink_now_ms() - wrote_ms >= 50) {
			seen = sink_msgs + sink_sessions;
			wrote_ms = sink_now_ms();
			sink_write_status();
		}
	}
	sink_write_status();
	return 0;
usage:
	fprintf(stderr, "usage: tern-sink [-D] [-a ADDR] -p PORT -o STATUSFILE\n");
	return 2;
}
