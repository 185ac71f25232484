/*
 * tern-gen - SMTP load generator for Tern's benchmarks (bench/run.sh).
 *
 *   tern-gen [-c SESSIONS] [-n MESSAGES] [-T SECONDS] [-s BYTES]
 *            [-r RCPTS] [-d DOMAINS] [-D FORMAT] [-m PER_CONN] [-P]
 *            [-f FROM] HOST:PORT
 *
 * SESSIONS concurrent SMTP sessions on one epoll loop (default 20) send
 * MESSAGES messages in total (1000) or stop starting new ones after
 * SECONDS (60).  Each message has a body of BYTES (4096, in 78-byte
 * lines) and RCPTS recipients (1) spread round-robin over DOMAINS
 * recipient domains (1) named by FORMAT (printf with one %u, default
 * "d%u.bench.test").  A connection carries PER_CONN messages (0:
 * unlimited, 1: a new connection per message, like smtp-source's
 * default).  With PIPELINING (the default; -P turns it off) MAIL, every
 * RCPT and DATA go out in one write, as RFC 2920 allows.
 *
 * At the end it prints one line of key=value pairs:
 *   accepted=A failed=F conn_errors=E elapsed_s=T msg_s=R
 * and exits 0 when every message started was accepted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define GEN_IN_MAX	65536

/* What the session waits for next. */
enum gen_state {
	GEN_CONNECTING,
	GEN_GREETING,
	GEN_EHLO,
	GEN_ENVELOPE,	/* replies to MAIL, RCPTs, DATA */
	GEN_BODY,	/* reply to the final dot */
	GEN_QUIT,
};

struct gen_sess {
	int		 fd;
	enum gen_state	 state;
	unsigned	 want;		/* replies still expected */
	unsigned	 sent_rcpts;	/* without pipelining: next RCPT */
	int		 txn_ok;	/* every envelope reply positive */
	unsigned	 conn_msgs;	/* messages on this connection */
	unsigned long	 msg_no;	/* the current message's number */
	char		*out;		/* pending output */
	size_t		 olen, ooff, ocap;
	size_t		 ilen;
	char		 in[GEN_IN_MAX];
};

static struct {
	unsigned	 sessions, rcpts, domains, per_conn;
	unsigned long	 messages;
	double		 seconds;
	size_t		 size;
	int		 pipelining;
	const char	*from, *domfmt;
	struct sockaddr_in addr;
} opt = { 20, 1, 1, 0, 1000, 60, 4096, 1, "bench@src.bench.test",
    "d%u.bench.test", { 0 } };

static int		 gen_ep;
static unsigned long	 gen_started, gen_accepted, gen_failed, gen_conn_errors;
static unsigned		 gen_live;
static double		 gen_t0;
static char		*gen_body;	/* shared body text, ends in CRLF */
static size_t		 gen_body_len;

static double
gen_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
gen_out(struct gen_sess *s, const char *p, size_t n)
{
	if (s->olen + n > s->ocap) {
		size_t cap = (s->olen + n) * 2;
		char *o = realloc(s->out, cap);

		if (o == NULL) {
			perror("tern-gen: realloc");
			exit(1);
		}
		s->out = o;
		s->ocap = cap;
	}
	memcpy(s->out + s->olen, p, n);
	s->olen += n;
}

static void
gen_outf(struct gen_sess *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
gen_outf(struct gen_sess *s, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		gen_out(s, buf, (size_t)n < sizeof(buf) ? (size_t)n :
		    sizeof(buf) - 1);
}

static void
gen_watch(struct gen_sess *s, int op)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = s };

	if (s->ooff < s->olen || s->state == GEN_CONNECTING)
		ev.events |= EPOLLOUT;
	epoll_ctl(gen_ep, op, s->fd, &ev);
}

/* Write what is pending; watch for writability only while some is left. */
static int
gen_flush(struct gen_sess *s)
{
	int had = s->ooff < s->olen;

	while (s->ooff < s->olen) {
		ssize_t n = write(s->fd, s->out + s->ooff, s->olen - s->ooff);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			return -1;
		s->ooff += (size_t)n;
	}
	if (s->ooff == s->olen)
		s->ooff = s->olen = 0;
	if (had != (s->ooff < s->olen))
		gen_watch(s, EPOLL_CTL_MOD);
	return 0;
}

static void gen_connect(struct gen_sess *);

/* May another message start?  Claims it when so. */
static int
gen_claim(struct gen_sess *s)
{
	if (gen_started >= opt.messages || gen_now() - gen_t0 >= opt.seconds)
		return 0;
	if (opt.per_conn && s->conn_msgs >= opt.per_conn)
		return 0;
	s->msg_no = gen_started++;
	s->conn_msgs++;
	return 1;
}

static void
gen_rcpt(struct gen_sess *s, unsigned i)
{
	char dom[256];
	unsigned long n = s->msg_no * opt.rcpts + i;

	snprintf(dom, sizeof(dom), opt.domfmt, (unsigned)(n % opt.domains));
	gen_outf(s, "RCPT TO:<u%lu@%s>\r\n", n, dom);
}

static void
gen_envelope(struct gen_sess *s)
{
	unsigned i;

	s->state = GEN_ENVELOPE;
	s->txn_ok = 1;
	gen_outf(s, "MAIL FROM:<%s> SIZE=%zu\r\n", opt.from, gen_body_len + 200);
	if (opt.pipelining) {
		for (i = 0; i < opt.rcpts; i++)
			gen_rcpt(s, i);
		gen_out(s, "DATA\r\n", 6);
		s->want = opt.rcpts + 2;
	} else {
		s->sent_rcpts = 0;
		s->want = 1;
	}
}

static void
gen_message(struct gen_sess *s)
{
	s->state = GEN_BODY;
	s->want = 1;
	gen_outf(s, "From: <%s>\r\nTo: <u%lu@bench.test>\r\n"
	    "Subject: tern-gen message %lu\r\n"
	    "Message-ID: <%lu.%d@src.bench.test>\r\n\r\n",
	    opt.from, s->msg_no, s->msg_no, s->msg_no, (int)getpid());
	gen_out(s, gen_body, gen_body_len);
	gen_out(s, ".\r\n", 3);
}

static void
gen_next(struct gen_sess *s)
{
	if (gen_claim(s))
		gen_envelope(s);
	else {
		s->state = GEN_QUIT;
		s->want = 1;
		gen_out(s, "QUIT\r\n", 6);
	}
}

static void
gen_close(struct gen_sess *s, int error)
{
	epoll_ctl(gen_ep, EPOLL_CTL_DEL, s->fd, NULL);
	close(s->fd);
	s->fd = -1;
	gen_live--;
	if (error) {
		gen_conn_errors++;
		/* A message in the middle of its transaction is lost. */
		if (s->state == GEN_ENVELOPE || s->state == GEN_BODY)
			gen_failed++;
	}
	/* Reconnect while there are messages left to send. */
	s->conn_msgs = 0;
	if (gen_started < opt.messages && gen_now() - gen_t0 < opt.seconds &&
	    (!error || gen_conn_errors < 1000))
		gen_connect(s);
}

/* One complete reply with its code; returns -1 to close the session. */
static int
gen_reply(struct gen_sess *s, int code)
{
	if (s->want > 0)
		s->want--;
	switch (s->state) {
	case GEN_CONNECTING:
		return -1;
	case GEN_GREETING:
		if (code != 220)
			return -1;
		s->state = GEN_EHLO;
		s->want = 1;
		gen_out(s, "EHLO gen.bench.test\r\n", 21);
		return 0;
	case GEN_EHLO:
		if (code != 250)
			return -1;
		gen_next(s);
		return 0;
	case GEN_ENVELOPE:
		if (s->want > 0 || !opt.pipelining) {
			if (code / 100 != 2 && !(s->want == 0 && code == 354))
				s->txn_ok = 0;
		}
		if (!opt.pipelining && s->txn_ok && code / 100 == 2) {
			/* Without pipelining: one command per reply. */
			if (s->sent_rcpts < opt.rcpts) {
				gen_rcpt(s, s->sent_rcpts++);
				s->want = 1;
				return 0;
			}
			if (s->sent_rcpts == opt.rcpts) {
				s->sent_rcpts++;
				gen_out(s, "DATA\r\n", 6);
				s->want = 1;
				return 0;
			}
		}
		if (s->want > 0)
			return 0;
		if (code == 354 && s->txn_ok) {
			gen_message(s);
			return 0;
		}
		gen_failed++;
		s->state = GEN_QUIT;	/* not expected in a benchmark */
		s->want = 1;
		gen_out(s, code == 354 ? ".\r\nQUIT\r\n" : "RSET\r\nQUIT\r\n",
		    code == 354 ? 9 : 12);
		s->want = 2;
		return 0;
	case GEN_BODY:
		if (code == 250)
			gen_accepted++;
		else
			gen_failed++;
		gen_next(s);
		return 0;
	case GEN_QUIT:
		return s->want == 0 ? -1 : 0;
	}
	return -1;
}

/* Split the input into replies: the last line of one is "NNN " or "NNN". */
static int
gen_input(struct gen_sess *s)
{
	size_t start = 0;
	char *nl;

	while ((nl = memchr(s->in + start, '\n', s->ilen - start)) != NULL) {
		char *l = s->in + start;
		size_t len = (size_t)(nl - l);

		start += len + 1;
		if (len < 3)
			return -1;
		if (len > 3 && l[3] == '-')
			continue;
		if (gen_reply(s, atoi(l)) < 0)
			return -1;
	}
	memmove(s->in, s->in + start, s->ilen - start);
	s->ilen -= start;
	return 0;
}

static void
gen_readable(struct gen_sess *s)
{
	ssize_t n = read(s->fd, s->in + s->ilen, sizeof(s->in) - s->ilen);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		gen_close(s, s->state != GEN_QUIT);
		return;
	}
	s->ilen += (size_t)n;
	if (gen_input(s) < 0) {
		gen_close(s, s->state != GEN_QUIT || s->want != 0);
		return;
	}
	if (gen_flush(s) < 0)
		gen_close(s, 1);
}

static void
gen_connect(struct gen_sess *s)
{
	int one = 1;

	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		perror("tern-gen: socket");
		exit(1);
	}
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->state = GEN_CONNECTING;
	s->ilen = s->olen = s->ooff = 0;
	gen_live++;
	if (connect(s->fd, (struct sockaddr *)&opt.addr, sizeof(opt.addr)) < 0 &&
	    errno != EINPROGRESS) {
		gen_conn_errors++;
		close(s->fd);
		s->fd = -1;
		gen_live--;
		return;
	}
	gen_watch(s, EPOLL_CTL_ADD);
}

static void
gen_connected(struct gen_sess *s)
{
	int err = 0;
	socklen_t len = sizeof(err);

	getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err != 0) {
		gen_close(s, 1);
		return;
	}
	s->state = GEN_GREETING;
	s->want = 1;
	gen_watch(s, EPOLL_CTL_MOD);
}

static void
gen_make_body(void)
{
	size_t i;

	gen_body = malloc(opt.size + 80);
	if (gen_body == NULL)
		exit(1);
	for (i = 0; i + 78 <= opt.size; i += 78) {
		memset(gen_body + i, 'a' + (i / 78) % 26, 76);
		memcpy(gen_body + i + 76, "\r\n", 2);
	}
	if (i < opt.size || i == 0) {	/* a last, shorter line */
		size_t n = opt.size > i + 2 ? opt.size - i - 2 : 1;

		memset(gen_body + i, 'z', n);
		memcpy(gen_body + i + n, "\r\n", 2);
		i += n + 2;
	}
	gen_body_len = i;
}

static int
gen_parse_addr(const char *arg)
{
	char host[256];
	const char *colon = strrchr(arg, ':');

	if (colon == NULL || (size_t)(colon - arg) >= sizeof(host))
		return -1;
	memcpy(host, arg, (size_t)(colon - arg));
	host[colon - arg] = '\0';
	opt.addr.sin_family = AF_INET;
	opt.addr.sin_port = htons((unsigned short)atoi(colon + 1));
	return inet_pton(AF_INET, host, &opt.addr.sin_addr) == 1 ? 0 : -1;
}

int
main(int argc, char **argv)
{
	struct gen_sess *sess;
	struct epoll_event evs[256];
	unsigned i;
	double el;
	int ch;

	while ((ch = getopt(argc, argv, "c:n:T:s:r:d:D:m:Pf:")) != -1) {
		switch (ch) {
		case 'c': opt.sessions = (unsigned)atoi(optarg); break;
		case 'n': opt.messages = strtoul(optarg, NULL, 10); break;
		case 'T': opt.seconds = atof(optarg); break;
		case 's': opt.size = strtoul(optarg, NULL, 10); break;
		case 'r': opt.rcpts = (unsigned)atoi(optarg); break;
		case 'd': opt.domains = (unsigned)atoi(optarg); break;
		case 'D': opt.domfmt = optarg; break;
		case 'm': opt.per_conn = (unsigned)atoi(optarg); break;
		case 'P': opt.pipelining = 0; break;
		case 'f': opt.from = optarg; break;
		default: goto usage;
		}
	}
	if (optind != argc - 1 || gen_parse_addr(argv[optind]) < 0 ||
	    opt.sessions == 0 || opt.rcpts == 0 || opt.domains == 0 ||
	    strstr(opt.domfmt, "%u") == NULL)
		goto usage;
	signal(SIGPIPE, SIG_IGN);
	gen_make_body();
	gen_ep = epoll_create1(EPOLL_CLOEXEC);
	sess = calloc(opt.sessions, sizeof(*sess));
	if (sess == NULL)
		return 1;
	gen_t0 = gen_now();
	for (i = 0; i < opt.sessions && i < opt.messages; i++)
		gen_connect(&sess[i]);
	while (gen_live > 0) {
		int n = epoll_wait(gen_ep, evs, 256, 1000);

		for (int k = 0; k < n; k++) {
			struct gen_sess *s = evs[k].data.ptr;

			if (s->fd < 0)
				continue;
			if (s->state == GEN_CONNECTING)
				gen_connected(s);
			else if (evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				gen_readable(s);
			else if (gen_flush(s) < 0)
				gen_close(s, 1);
		}
		/* A session stuck past the time bound plus 30 s is abandoned. */
		if (gen_now() - gen_t0 > opt.seconds + 30)
			break;
	}
	el = gen_now() - gen_t0;
	printf("accepted=%lu failed=%lu conn_errors=%lu started=%lu "
	    "elapsed_s=%.3f msg_s=%.1f\n", gen_accepted, gen_failed,
	    gen_conn_errors, gen_started, el, el > 0 ? gen_accepted / el : 0);
	return gen_accepted == gen_started && gen_started > 0 ? 0 : 1;
usage:
	fprintf(stderr, "usage: tern-gen [-c sessions] [-n messages] "
	    "[-T seconds] [-s bytes] [-r rcpts] [-d domains] [-D format] "
	    "[-m per_conn] [-P] [-f from] host:port\n");
	return 2;
}
