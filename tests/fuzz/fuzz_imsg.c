/*
 * fuzz_imsg.c - libFuzzer target for the imsg payload readers: the
 * framing (imsg_get) and what every daemon reads out of a message
 * (m_get_envelope, m_get_result, m_get_acct, the configuration over
 * imsg: cfg_wire_recv).
 *
 * The input is a byte stream as a peer would write it on a channel: it is
 * written into one end of a socketpair and read back with imsg_read() and
 * imsg_get(), as mproc.c does.  Each message is handed to a reader chosen
 * by its type (low bits), whatever the type really says, so that every
 * reader sees every kind of payload.
 *
 * A bad payload is a fatal protocol error in Tern: the reader calls
 * fatalx(), the daemon exits and ternd restarts it.  What must never
 * happen is a read outside the payload or a crash before that.  So this
 * target replaces exit(): inside a reader it jumps back here (and frees
 * what the reader had allocated), anywhere else it is the real exit().
 *
 * Seeds: tests/fuzz/corpus/imsg/ (made by tests/fuzz/make_imsg_seeds.py).
 */
#include <sys/socket.h>
#include <dlfcn.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "daemon.h"
#include "envelope.h"
#include "imsg.h"
#include "mproc.h"
#include "proto.h"

#define FUZZ_MAX_INPUT	(64 * 1024)	/* fits a socketpair's buffer */

static jmp_buf		 fuzz_jmp;
static volatile int	 fuzz_guarded;

/* Every exit() of the program comes here (this definition wins over
 * libc's at link time).  fatal()/fatalx() inside a reader return to the
 * harness; libFuzzer's own exit at the end is passed on. */
void
exit(int status)
{
	void (*real_exit)(int);

	if (fuzz_guarded) {
		fuzz_guarded = 0;
		longjmp(fuzz_jmp, 1);
	}
	real_exit = (void (*)(int))dlsym(RTLD_NEXT, "exit");
	if (real_exit != NULL)
		real_exit(status);
	_exit(status);
}

/* The reader's view of an envelope: its rcpts array is the only
 * allocation, freed whether the reader finished or gave up. */
static struct envelope	 fuzz_env;

static void
read_envelope(struct msg *m)
{
	m_get_envelope(m, &fuzz_env);
	if (fuzz_env.sender == NULL || strlen(fuzz_env.qid) != QID_LEN)
		__builtin_trap();
	if (!m_is_eom(m)) {
		const char *s;

		m_get_string(m, &s);	/* e.g. DLV_JOB: queue, domain */
	}
}

static void
read_result(struct msg *m)
{
	struct dlv_result r;

	m_get_result(m, &r);
	m_end(m);
}

static void
read_acct(struct msg *m)
{
	struct acct_record a, *copy;
	uint64_t seq;

	m_get_u64(m, &seq);		/* BNC_RECORD: seq, record */
	m_get_acct(m, &a);
	m_end(m);
	copy = acct_record_dup(&a);	/* what bounced keeps */
	acct_record_free(copy);
}

/* The configuration over imsg, as daemon.c feeds it: BEGIN, NODEs, END. */
static void
read_cfg(struct imsg *im, uint32_t kind)
{
	struct cfg *cfg;

	im->hdr.type = kind == 0 ? IMSG_CFG_BEGIN : kind == 1 ?
	    IMSG_CFG_NODE : IMSG_CFG_END;
	if ((cfg = cfg_wire_recv(im)) != NULL)
		cfg_free(cfg);
}

static void
dispatch(struct imsg *im)
{
	struct msg m;
	uint32_t kind = im->hdr.type % 6;

	m_msg(&m, im);
	switch (kind) {
	case 0:
	case 1:
	case 2:
		read_cfg(im, kind);
		break;
	case 3:
		read_envelope(&m);
		break;
	case 4:
		read_result(&m);
		break;
	default:
		read_acct(&m);
		break;
	}
}

/* Drop a tree the input left half-built (the reader keeps it in a static
 * between messages, as a daemon does): a valid BEGIN (generation 0, no
 * path: tags M_U32 = 1 and M_NULLSTR = 5 of common/mproc.c) frees it,
 * and the END that follows hands over the empty tree. */
static void
cfg_wire_reset(void)
{
	static const uint8_t begin[] = { 1, 0, 0, 0, 0, 5 };
	struct imsg im;
	struct cfg *cfg;

	memset(&im, 0, sizeof(im));
	im.fd = -1;
	im.hdr.type = IMSG_CFG_BEGIN;
	im.data = begin;
	im.len = sizeof(begin);
	if (cfg_wire_recv(&im) != NULL)
		__builtin_trap();
	im.hdr.type = IMSG_CFG_END;
	im.len = 0;
	if ((cfg = cfg_wire_recv(&im)) == NULL)
		__builtin_trap();
	cfg_free(cfg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imsgbuf ib;
	struct imsg im;
	int sp[2], r;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == -1)
		return 0;
	if (size > 0 && write(sp[1], data, size) != (ssize_t)size) {
		close(sp[0]);
		close(sp[1]);
		return 0;
	}
	close(sp[1]);
	imsgbuf_init(&ib, sp[0]);
	while (imsg_read(&ib) > 0) {
		while ((r = imsg_get(&ib, &im)) == 1) {
			if (im.len + IMSG_HDR_SIZE != im.hdr.len)
				__builtin_trap();
			memset(&fuzz_env, 0, sizeof(fuzz_env));
			if (setjmp(fuzz_jmp) == 0) {
				fuzz_guarded = 1;
				dispatch(&im);
			}
			fuzz_guarded = 0;
			envelope_clear_view(&fuzz_env);
			if (im.fd != -1)
				close(im.fd);
		}
		if (r == -1)
			break;
	}
	cfg_wire_reset();
	imsgbuf_clear(&ib);
	close(sp[0]);
	return 0;
}
