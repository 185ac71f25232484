/*
 * envelope.c - (de)serialization of envelopes, results and accounting
 * records over imsg, and small address helpers.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "log.h"
#include "util.h"

void
m_add_envelope(struct mproc *p, const struct envelope *e)
{
	uint32_t i;

	m_add_string(p, e->qid);
	m_add_string(p, e->sender);
	m_add_string(p, e->helo);
	m_add_string(p, e->client);
	m_add_string(p, e->vmta);
	m_add_string(p, e->jobid);
	m_add_string(p, e->envid);
	m_add_string(p, e->authuser);
	m_add_u32(p, e->ret);
	m_add_u32(p, e->flags);
	m_add_i64(p, e->queued);
	m_add_u64(p, e->size);
	m_add_u64(p, e->off);
	m_add_u32(p, e->nrcpt);
	for (i = 0; i < e->nrcpt; i++) {
		m_add_string(p, e->rcpts[i].addr);
		m_add_string(p, e->rcpts[i].orcpt);
		m_add_u32(p, e->rcpts[i].notify);
		m_add_u32(p, e->rcpts[i].index);
	}
}

void
m_get_envelope(struct msg *m, struct envelope *e)
{
	const char *qid, *s;
	uint32_t i;

	memset(e, 0, sizeof(*e));
	m_get_string(m, &qid);
	if (qid == NULL || strlen(qid) != QID_LEN)
		fatalx("bad queue id in envelope");
	strlcpy(e->qid, qid, sizeof(e->qid));
#define GETS(f)	do { m_get_string(m, &s); e->f = (char *)s; } while (0)
	GETS(sender);
	GETS(helo);
	GETS(client);
	GETS(vmta);
	GETS(jobid);
	GETS(envid);
	GETS(authuser);
	m_get_u32(m, &e->ret);
	m_get_u32(m, &e->flags);
	m_get_i64(m, &e->queued);
	m_get_u64(m, &e->size);
	m_get_u64(m, &e->off);
	m_get_u32(m, &e->nrcpt);
	if (e->nrcpt > MAX_RCPT)
		fatalx("envelope: too many recipients");
	if ((e->rcpts = calloc(e->nrcpt ? e->nrcpt : 1, sizeof(*e->rcpts))) ==
	    NULL)
		fatal("m_get_envelope");
	for (i = 0; i < e->nrcpt; i++) {
		GETS(rcpts[i].addr);
		GETS(rcpts[i].orcpt);
		m_get_u32(m, &e->rcpts[i].notify);
		m_get_u32(m, &e->rcpts[i].index);
		if (e->rcpts[i].addr == NULL)
			fatalx("envelope: recipient without address");
	}
#undef GETS
	if (e->sender == NULL)
		fatalx("envelope: no sender");
}

void
envelope_clear_view(struct envelope *e)
{
	free(e->rcpts);
	e->rcpts = NULL;
	e->nrcpt = 0;
}

struct envelope *
envelope_dup(const struct envelope *src)
{
	struct envelope *e;
	uint32_t i;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		fatal("envelope_dup");
	*e = *src;
	e->sender = xstrdup(src->sender);
	e->helo = xstrdup(src->helo);
	e->client = xstrdup(src->client);
	e->vmta = xstrdup(src->vmta);
	e->jobid = xstrdup(src->jobid);
	e->envid = xstrdup(src->envid);
	e->authuser = xstrdup(src->authuser);
	if ((e->rcpts = calloc(src->nrcpt ? src->nrcpt : 1,
	    sizeof(*e->rcpts))) == NULL)
		fatal("envelope_dup");
	for (i = 0; i < src->nrcpt; i++) {
		e->rcpts[i] = src->rcpts[i];
		e->rcpts[i].addr = xstrdup(src->rcpts[i].addr);
		e->rcpts[i].orcpt = xstrdup(src->rcpts[i].orcpt);
	}
	return e;
}

void
envelope_free(struct envelope *e)
{
	uint32_t i;

	if (e == NULL)
		return;
	for (i = 0; i < e->nrcpt; i++) {
		free(e->rcpts[i].addr);
		free(e->rcpts[i].orcpt);
	}
	free(e->rcpts);
	free(e->sender);
	free(e->helo);
	free(e->client);
	free(e->vmta);
	free(e->jobid);
	free(e->envid);
	free(e->authuser);
	free(e);
}

void
m_add_result(struct mproc *p, const struct dlv_result *r)
{
	m_add_string(p, r->qid);
	m_add_u32(p, r->index);
	m_add_u32(p, r->status);
	m_add_u32(p, r->conn_level);
	m_add_string(p, r->dsn_status);
	m_add_string(p, r->diag);
	m_add_string(p, r->mta);
	m_add_string(p, r->src_ip);
	m_add_string(p, r->dst_ip);
	m_add_string(p, r->esmtp);
	m_add_string(p, r->tls_proto);
	m_add_string(p, r->tls_cipher);
	m_add_u64(p, r->size);
}

void
m_get_result(struct msg *m, struct dlv_result *r)
{
	memset(r, 0, sizeof(*r));
	m_get_string(m, &r->qid);
	m_get_u32(m, &r->index);
	m_get_u32(m, &r->status);
	m_get_u32(m, &r->conn_level);
	m_get_string(m, &r->dsn_status);
	m_get_string(m, &r->diag);
	m_get_string(m, &r->mta);
	m_get_string(m, &r->src_ip);
	m_get_string(m, &r->dst_ip);
	m_get_string(m, &r->esmtp);
	m_get_string(m, &r->tls_proto);
	m_get_string(m, &r->tls_cipher);
	m_get_u64(m, &r->size);
	if (r->qid == NULL || r->status < DLV_OK || r->status > DLV_PERMFAIL)
		fatalx("bad delivery result");
}

#define ACCT_STRINGS(X, a)						\
	X(a->type) X(a->qid) X(a->orig) X(a->rcpt) X(a->orcpt)		\
	X(a->dsn_action) X(a->dsn_status) X(a->dsn_diag) X(a->dsn_mta)	\
	X(a->src_type) X(a->src_mta) X(a->dlv_type) X(a->dlv_src_ip)	\
	X(a->dlv_dst_ip) X(a->dlv_esmtp) X(a->vmta) X(a->jobid)		\
	X(a->envid) X(a->queue) X(a->tls_proto) X(a->tls_cipher)	\
	X(a->auth_user) X(a->headers)

void
m_add_acct(struct mproc *p, const struct acct_record *a)
{
#define ADD(f)	m_add_string(p, f);
	ACCT_STRINGS(ADD, a)
#undef ADD
	m_add_i64(p, a->time_logged);
	m_add_i64(p, a->time_queued);
	m_add_u64(p, a->dlv_size);
}

void
m_get_acct(struct msg *m, struct acct_record *a)
{
	memset(a, 0, sizeof(*a));
#define GET(f)	m_get_string(m, &f);
	ACCT_STRINGS(GET, a)
#undef GET
	m_get_i64(m, &a->time_logged);
	m_get_i64(m, &a->time_queued);
	m_get_u64(m, &a->dlv_size);
	if (a->type == NULL)
		fatalx("accounting record without type");
}

struct acct_record *
acct_record_dup(const struct acct_record *src)
{
	struct acct_record *a;

	if ((a = malloc(sizeof(*a))) == NULL)
		fatal("acct_record_dup");
	*a = *src;
#define DUP(f)	f = xstrdup(f);
	ACCT_STRINGS(DUP, a)
#undef DUP
	return a;
}

void
acct_record_free(struct acct_record *a)
{
	if (a == NULL)
		return;
#define FREE(f)	free((char *)f);
	ACCT_STRINGS(FREE, a)
#undef FREE
	free(a);
}

const char *
addr_domain(const char *addr, char *buf, size_t bufsz)
{
	const char *at = strrchr(addr, '@');
	size_t i;

	if (bufsz == 0)
		return buf;
	buf[0] = '\0';
	if (at == NULL)
		return buf;
	for (i = 0; at[1 + i] != '\0' && i + 1 < bufsz; i++)
		buf[i] = tolower((unsigned char)at[1 + i]);
	buf[i] = '\0';
	return buf;
}

/*
 * Random bits for queue ids, taken 512 bytes at a time: libbsd's
 * arc4random_buf() makes a getpid() system call on every call (to see a
 * fork), which was one per message in queued.  A forked child empties
 * the pool, so that no two processes hand out the same ids.  Used from
 * one thread per process (the event loop).
 */
static uint8_t	qid_pool[512];
static size_t	qid_left;

static void
qid_pool_forget(void)
{
	qid_left = 0;
}

static uint64_t
qid_random(void)
{
	static int registered;
	uint64_t r;

	if (!registered) {
		if (pthread_atfork(NULL, NULL, qid_pool_forget) != 0) {
			arc4random_buf(&r, sizeof(r));
			return r;
		}
		registered = 1;
	}
	if (qid_left < sizeof(r)) {
		arc4random_buf(qid_pool, sizeof(qid_pool));
		qid_left = sizeof(qid_pool);
	}
	qid_left -= sizeof(r);
	memcpy(&r, qid_pool + qid_left, sizeof(r));
	return r;
}

void
qid_new(char *buf)
{
	static const char b32[] = "0123456789abcdefghijklmnopqrstuv";
	uint64_t r;
	int i;

	/* 60 random bits; the first char is a letter so ids never look
	 * like numbers to tools reading the accounting file. */
	r = qid_random();
	for (i = 0; i < QID_LEN; i++) {
		buf[i] = b32[r & 31];
		r >>= 5;
	}
	buf[0] = b32[10 + (buf[0] % 22)];
	buf[QID_LEN] = '\0';
}

const char *
envelope_src_type(const struct envelope *e)
{
	return (e->flags & ENV_HTTP) ? "http" : "smtp";
}
