/*
 * test_imsg.c - imsg framing over a socketpair: many messages, large
 * payloads split across reads, fd passing in order, malformed streams;
 * and the typed builder/reader of mproc.
 */
#include <sys/socket.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "envelope.h"
#include "imsg.h"
#include "mproc.h"

static void
pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
}

static int
tmpfile_with(const char *text)
{
	char path[] = "/tmp/tern-imsg-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	return fd;
}

/* Send until everything left, receive until n messages arrived. */
static int
pump(struct imsgbuf *out, struct imsgbuf *in, struct imsg *got, int n)
{
	int have = 0, r;

	while (have < n) {
		r = imsg_flush(out);
		assert_true(r >= 0);
		if (imsg_read(in) <= 0 && out->wcount == 0 && have < n) {
			/* nothing more can come */
		}
		while (have < n && (r = imsg_get(in, &got[have])) == 1) {
			/* copy payload: the buffer is reused */
			void *copy = malloc(got[have].len + 1);
			memcpy(copy, got[have].data, got[have].len);
			got[have].data = copy;
			have++;
		}
		if (r == -1)
			return -1;
	}
	return have;
}

static void
test_roundtrip(void **state)
{
	struct imsgbuf a, b;
	struct imsg got[3];
	int sv[2];

	pair(sv);
	imsgbuf_init(&a, sv[0]);
	imsgbuf_init(&b, sv[1]);
	assert_int_equal(imsg_compose(&a, 7, 42, -1, "hello", 5), 0);
	assert_int_equal(imsg_compose(&a, 8, 43, -1, NULL, 0), 0);
	assert_int_equal(imsg_compose(&a, 9, 44, -1, "x", 1), 0);
	assert_int_equal(pump(&a, &b, got, 3), 3);
	assert_int_equal(got[0].hdr.type, 7);
	assert_int_equal(got[0].hdr.peerid, 42);
	assert_int_equal(got[0].len, 5);
	assert_memory_equal(got[0].data, "hello", 5);
	assert_int_equal(got[0].fd, -1);
	assert_int_equal(got[1].len, 0);
	assert_int_equal(got[2].hdr.type, 9);
	for (int i = 0; i < 3; i++)
		free((void *)got[i].data);
	imsgbuf_clear(&a);
	imsgbuf_clear(&b);
	close(sv[0]);
	close(sv[1]);
}

/* fds arrive with the message that carries them, in order, even when
 * messages without fds sit between them. */
static void
test_fd_passing(void **state)
{
	struct imsgbuf a, b;
	struct imsg got[5];
	char buf[16];
	int sv[2], i;

	pair(sv);
	imsgbuf_init(&a, sv[0]);
	imsgbuf_init(&b, sv[1]);
	imsg_compose(&a, 1, 0, tmpfile_with("first"), "a", 1);
	imsg_compose(&a, 2, 0, -1, "b", 1);
	imsg_compose(&a, 3, 0, tmpfile_with("second"), "c", 1);
	imsg_compose(&a, 4, 0, tmpfile_with("third"), "d", 1);
	imsg_compose(&a, 5, 0, -1, "e", 1);
	assert_int_equal(pump(&a, &b, got, 5), 5);
	assert_true(got[0].fd >= 0);
	assert_int_equal(got[1].fd, -1);
	assert_true(got[2].fd >= 0);
	assert_true(got[3].fd >= 0);
	assert_int_equal(got[4].fd, -1);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(pread(got[0].fd, buf, sizeof(buf) - 1, 0), 5);
	assert_string_equal(buf, "first");
	memset(buf, 0, sizeof(buf));
	assert_int_equal(pread(got[2].fd, buf, sizeof(buf) - 1, 0), 6);
	assert_string_equal(buf, "second");
	memset(buf, 0, sizeof(buf));
	assert_int_equal(pread(got[3].fd, buf, sizeof(buf) - 1, 0), 5);
	assert_string_equal(buf, "third");
	for (i = 0; i < 5; i++) {
		if (got[i].fd >= 0)
			close(got[i].fd);
		free((void *)got[i].data);
	}
	imsgbuf_clear(&a);
	imsgbuf_clear(&b);
	close(sv[0]);
	close(sv[1]);
}

/* Payloads much larger than one socket buffer and one read. */
/* A lent fd is sent like any other but stays open on the sender's side,
 * after the send and when the channel is cleared with it still queued. */
static void
test_fd_lent(void **state)
{
	struct imsgbuf a, b;
	struct imsg got[1];
	char buf[16];
	int sv[2], fd = tmpfile_with("kept");

	pair(sv);
	imsgbuf_init(&a, sv[0]);
	imsgbuf_init(&b, sv[1]);
	assert_int_equal(imsg_begin(&a, 1, 0, fd, 0), 0);
	imsg_lend_fd(&a);
	imsg_end(&a);
	assert_int_equal(pump(&a, &b, got, 1), 1);
	assert_true(got[0].fd >= 0 && got[0].fd != fd);
	assert_true(fcntl(fd, F_GETFD) != -1);		/* still ours */
	memset(buf, 0, sizeof(buf));
	assert_int_equal(pread(got[0].fd, buf, sizeof(buf) - 1, 0), 4);
	assert_string_equal(buf, "kept");
	close(got[0].fd);
	free((void *)got[0].data);
	assert_int_equal(imsg_begin(&a, 2, 0, fd, 0), 0);
	imsg_lend_fd(&a);
	imsg_end(&a);
	imsgbuf_clear(&a);			/* never sent */
	assert_true(fcntl(fd, F_GETFD) != -1);
	close(fd);
	imsgbuf_clear(&b);
	close(sv[0]);
	close(sv[1]);
}

static void
test_large(void **state)
{
	struct imsgbuf a, b;
	struct imsg got[4];
	size_t sz = IMSG_MAX_SIZE - IMSG_HDR_SIZE;
	char *big = malloc(sz);
	int sv[2], i;

	for (size_t k = 0; k < sz; k++)
		big[k] = (char)(k * 7);
	pair(sv);
	imsgbuf_init(&a, sv[0]);
	imsgbuf_init(&b, sv[1]);
	for (i = 0; i < 4; i++)
		assert_int_equal(imsg_compose(&a, 10 + i, i, -1, big, sz), 0);
	/* too large is refused */
	assert_int_equal(imsg_compose(&a, 99, 0, -1, big, sz + 1), -1);
	imsgbuf_clear(&a);	/* drop the half-built one */
	imsgbuf_init(&a, sv[0]);
	for (i = 0; i < 4; i++)
		assert_int_equal(imsg_compose(&a, 10 + i, i, -1, big, sz), 0);
	assert_int_equal(pump(&a, &b, got, 4), 4);
	for (i = 0; i < 4; i++) {
		assert_int_equal(got[i].hdr.type, 10 + i);
		assert_int_equal(got[i].len, sz);
		assert_memory_equal(got[i].data, big, sz);
		free((void *)got[i].data);
	}
	free(big);
	imsgbuf_clear(&a);
	imsgbuf_clear(&b);
	close(sv[0]);
	close(sv[1]);
}

/* A header announcing an impossible length, or an fd that never came,
 * is a protocol error, not a crash. */
static void
test_malformed(void **state)
{
	struct imsgbuf b;
	struct imsg m;
	struct imsg_hdr h = { 1, 8, 0, 0 };	/* len < header */
	int sv[2];

	pair(sv);
	imsgbuf_init(&b, sv[1]);
	assert_int_equal(write(sv[0], &h, sizeof(h)), (ssize_t)sizeof(h));
	assert_true(imsg_read(&b) > 0);
	assert_int_equal(imsg_get(&b, &m), -1);
	imsgbuf_clear(&b);

	imsgbuf_init(&b, sv[1]);
	h.len = IMSG_HDR_SIZE | IMSG_FD_FLAG;	/* fd flagged, none sent */
	assert_int_equal(write(sv[0], &h, sizeof(h)), (ssize_t)sizeof(h));
	assert_true(imsg_read(&b) > 0);
	assert_int_equal(imsg_get(&b, &m), -1);
	imsgbuf_clear(&b);

	imsgbuf_init(&b, sv[1]);
	h.len = IMSG_MAX_SIZE + 1;
	assert_int_equal(write(sv[0], &h, sizeof(h)), (ssize_t)sizeof(h));
	assert_true(imsg_read(&b) > 0);
	assert_int_equal(imsg_get(&b, &m), -1);
	imsgbuf_clear(&b);

	/* EOF reads as 0 */
	close(sv[0]);
	imsgbuf_init(&b, sv[1]);
	assert_int_equal(imsg_read(&b), 0);
	imsgbuf_clear(&b);
	close(sv[1]);
}

/* The typed builder and reader, through a real mproc on a loop. */
static struct imsg	 last;
static uint8_t		 lastbuf[IMSG_MAX_SIZE];
static int		 nrecv;

static void
on_msg(struct mproc *p, struct imsg *im)
{
	last = *im;
	memcpy(lastbuf, im->data, im->len);
	last.data = lastbuf;
	nrecv++;
	uv_stop(uv_default_loop());
}

static void
test_mproc_typed(void **state)
{
	struct mproc *a, *b;
	struct envelope e, got;
	struct rcpt r[2];
	struct msg m;
	const char *s;
	uint32_t u32;
	uint64_t u64;
	int64_t i64;
	int sv[2];

	pair(sv);
	a = mproc_new(uv_default_loop(), sv[0], 1, 0, on_msg, NULL, NULL);
	b = mproc_new(uv_default_loop(), sv[1], 2, 0, on_msg, NULL, NULL);
	m_create(a, 100, 5, -1);
	m_add_u32(a, 0xdeadbeef);
	m_add_u64(a, 1ULL << 40);
	m_add_i64(a, -12345);
	m_add_string(a, "text");
	m_add_string(a, NULL);
	m_close(a);
	uv_run(uv_default_loop(), UV_RUN_DEFAULT);
	assert_int_equal(nrecv, 1);
	m_msg(&m, &last);
	m_get_u32(&m, &u32);
	assert_int_equal(u32, 0xdeadbeef);
	m_get_u64(&m, &u64);
	assert_true(u64 == 1ULL << 40);
	m_get_i64(&m, &i64);
	assert_true(i64 == -12345);
	m_get_string(&m, &s);
	assert_string_equal(s, "text");
	m_get_string(&m, &s);
	assert_null(s);
	assert_true(m_is_eom(&m));

	memset(&e, 0, sizeof(e));
	strcpy(e.qid, "abcdefghijkl");
	e.sender = "";
	e.helo = "client.test";
	e.client = "127.0.0.1";
	e.envid = "env-1";
	e.size = 1234;
	e.queued = 1700000000;
	e.nrcpt = 2;
	memset(r, 0, sizeof(r));
	r[0].addr = "a@x.test";
	r[1].addr = "b@y.test";
	r[1].orcpt = "rfc822;b@y.test";
	r[1].index = 1;
	r[1].notify = NOTIFY_FAILURE;
	e.rcpts = r;
	m_create(b, 101, 0, -1);
	m_add_envelope(b, &e);
	m_close(b);
	uv_run(uv_default_loop(), UV_RUN_DEFAULT);
	assert_int_equal(nrecv, 2);
	m_msg(&m, &last);
	m_get_envelope(&m, &got);
	m_end(&m);
	assert_string_equal(got.qid, "abcdefghijkl");
	assert_string_equal(got.sender, "");
	assert_null(got.vmta);
	assert_int_equal(got.nrcpt, 2);
	assert_string_equal(got.rcpts[1].addr, "b@y.test");
	assert_string_equal(got.rcpts[1].orcpt, "rfc822;b@y.test");
	assert_int_equal(got.rcpts[1].notify, NOTIFY_FAILURE);
	assert_true(got.size == 1234);
	envelope_clear_view(&got);
	mproc_close(a);
	mproc_close(b);
	uv_run(uv_default_loop(), UV_RUN_NOWAIT);
}

static void
test_addr_qid(void **state)
{
	char buf[64], q1[QID_LEN + 1], q2[QID_LEN + 1];

	assert_string_equal(addr_domain("User@Example.COM", buf, sizeof(buf)),
	    "example.com");
	assert_string_equal(addr_domain("postmaster", buf, sizeof(buf)), "");
	assert_string_equal(addr_domain("a@b@c.test", buf, sizeof(buf)),
	    "c.test");
	qid_new(q1);
	qid_new(q2);
	assert_int_equal(strlen(q1), QID_LEN);
	assert_string_not_equal(q1, q2);
	for (int i = 0; i < QID_LEN; i++)
		assert_true((q1[i] >= 'a' && q1[i] <= 'v') ||
		    (q1[i] >= '0' && q1[i] <= '9'));
	assert_true(q1[0] >= 'a');
}

/* queue ids come from a pool of random bytes: a forked child must not
 * hand out the ids its parent will. */
static void
test_qid_after_fork(void **state)
{
	char q[QID_LEN + 1], c[QID_LEN + 1] = "";
	int fds[2], st;
	pid_t pid;

	qid_new(q);		/* the pool is filled */
	assert_int_equal(pipe(fds), 0);
	if ((pid = fork()) == 0) {
		qid_new(c);
		_exit(write(fds[1], c, QID_LEN) == QID_LEN ? 0 : 1);
	}
	assert_true(pid > 0);
	assert_int_equal(read(fds[0], c, QID_LEN), QID_LEN);
	c[QID_LEN] = '\0';
	assert_int_equal(waitpid(pid, &st, 0), pid);
	qid_new(q);
	assert_string_not_equal(q, c);
	close(fds[0]);
	close(fds[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_fd_passing),
		cmocka_unit_test(test_fd_lent),
		cmocka_unit_test(test_large),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_mproc_typed),
		cmocka_unit_test(test_addr_qid),
		cmocka_unit_test(test_qid_after_fork),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
