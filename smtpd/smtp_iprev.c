/*
 * smtp_iprev.c - the reverse DNS check of a client (RFC 8601 2.7.3
 * "iprev"), for `require-rdns` and `check-iprev-inbound`.
 *
 * The client's address is looked up as PTR; each name found (at most
 * SMTP_IPREV_NAMES) is looked up as A or AAAA, the client's family.  If
 * one of them gives the client's address back, the result is pass and the
 * name is the client's verified host name (shown in Received:).  The
 * other results, as RFC 8601 names them:
 *	permerror	no PTR record (NXDOMAIN or no data)
 *	fail		names found, none of them leads back to the address
 *	temperror	a lookup failed for a while (timeout, SERVFAIL), and
 *			no name led back
 *
 * The lookups run on the loop (common/resolver.c) while the session
 * waits: the greeting goes out once the result is known, so the
 * verdict is ready for MAIL, which is where a rejection is answered
 * (550 5.7.25, or 450 4.7.25 for temperror: RFC 7372).
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <udns.h>

#include "log.h"
#include "resolver.h"
#include "smtpd.h"
#include "util.h"

struct smtp_iprev_fwd {
	struct smtp_iprev	*r;
	struct dns_query	*q;		/* A or AAAA under way */
	char			*name;
};

struct smtp_iprev {
	struct smtp_session	*s;
	struct dns_query	*ptr;		/* PTR under way */
	struct smtp_iprev_fwd	 fwd[SMTP_IPREV_NAMES];
	int			 nnames;
	int			 pending;
	int			 temp;		/* a forward lookup failed */
	int			 match;		/* fwd[match] leads back, or -1 */
};

static void
smtp_iprev_free(struct smtp_iprev *r)
{
	int i;

	if (r->ptr != NULL)
		dns_cancel(NULL, r->ptr);
	for (i = 0; i < r->nnames; i++) {
		if (r->fwd[i].q != NULL)
			dns_cancel(NULL, r->fwd[i].q);
		free(r->fwd[i].name);
	}
	free(r);
}

/* The verdict is in: record it and let the session greet. */
static void
smtp_iprev_done(struct smtp_iprev *r, int result)
{
	struct smtp_session *s = r->s;

	s->iprev_result = result;
	if (result == SMTP_IPREV_PASS)
		s->iprev_name = xstrdup(r->fwd[r->match].name);
	s->iprev_req = NULL;
	smtp_iprev_free(r);
	log_debug("%08x: iprev %s for %s%s%s", s->id,
	    smtp_iprev_str(result), s->ip, s->iprev_name ? " = " : "",
	    s->iprev_name ? s->iprev_name : "");
	smtp_greet(s);
	smtp_flush(s);
	smtp_resume(s);
}

static int
smtp_iprev_same(const struct smtp_session *s, int family, const void *a)
{
	if (family == AF_INET)
		return s->ss.ss_family == AF_INET && memcmp(a,
		    &((const struct sockaddr_in *)&s->ss)->sin_addr, 4) == 0;
	return s->ss.ss_family == AF_INET6 && memcmp(a,
	    &((const struct sockaddr_in6 *)&s->ss)->sin6_addr, 16) == 0;
}

/* One forward lookup is back: n addresses of the family at a. */
static void
smtp_iprev_forward(struct smtp_iprev_fwd *f, int st, int family,
    const void *a, int n)
{
	struct smtp_iprev *r = f->r;
	size_t len = family == AF_INET ? 4 : 16;
	int i;

	f->q = NULL;
	if (st == DNS_E_TEMPFAIL || st == DNS_E_PROTOCOL || st == DNS_E_NOMEM)
		r->temp = 1;
	for (i = 0; i < n && r->match == -1; i++)
		if (smtp_iprev_same(r->s, family, (const char *)a + i * len))
			r->match = f - r->fwd;
	if (--r->pending > 0)
		return;
	if (r->match >= 0)
		smtp_iprev_done(r, SMTP_IPREV_PASS);
	else
		smtp_iprev_done(r, r->temp ? SMTP_IPREV_TEMPERROR :
		    SMTP_IPREV_FAIL);
}

static void
smtp_iprev_a4_cb(struct dns_ctx *ctx, struct dns_rr_a4 *rr, void *arg)
{
	smtp_iprev_forward(arg, rr ? 0 : dns_status(ctx), AF_INET,
	    rr ? (const void *)rr->dnsa4_addr : NULL, rr ? rr->dnsa4_nrr : 0);
	free(rr);
}

static void
smtp_iprev_a6_cb(struct dns_ctx *ctx, struct dns_rr_a6 *rr, void *arg)
{
	smtp_iprev_forward(arg, rr ? 0 : dns_status(ctx), AF_INET6,
	    rr ? (const void *)rr->dnsa6_addr : NULL, rr ? rr->dnsa6_nrr : 0);
	free(rr);
}

static void
smtp_iprev_ptr_cb(struct dns_ctx *ctx, struct dns_rr_ptr *rr, void *arg)
{
	struct smtp_iprev *r = arg;
	struct smtp_iprev_fwd *f;
	int i, st = rr ? 0 : dns_status(ctx);

	r->ptr = NULL;
	for (i = 0; rr != NULL && i < rr->dnsptr_nrr &&
	    r->nnames < SMTP_IPREV_NAMES; i++) {
		f = &r->fwd[r->nnames];
		f->r = r;
		f->name = xstrdup(rr->dnsptr_ptr[i]);
		f->q = r->s->ss.ss_family == AF_INET ?
		    dns_submit_a4(NULL, f->name, DNS_NOSRCH,
		    smtp_iprev_a4_cb, f) :
		    dns_submit_a6(NULL, f->name, DNS_NOSRCH,
		    smtp_iprev_a6_cb, f);
		r->nnames++;
		if (f->q == NULL)
			r->temp = 1;
		else
			r->pending++;
	}
	free(rr);
	if (r->pending > 0)
		return;
	if (r->nnames > 0)		/* names, but no lookup could start */
		smtp_iprev_done(r, SMTP_IPREV_TEMPERROR);
	else if (st == DNS_E_NXDOMAIN || st == DNS_E_NODATA || st == 0)
		smtp_iprev_done(r, SMTP_IPREV_PERMERROR);
	else
		smtp_iprev_done(r, SMTP_IPREV_TEMPERROR);
}

/* Start the check; the session is greeted when it is done.  0: under
 * way, -1: no check could start (the result is temperror already). */
int
smtp_iprev_start(struct smtp_session *s)
{
	struct smtp_iprev *r;
	const char *err;

	if (resolver_init(smtpd.cfg) == -1) {
		err = resolver_error();
		log_warnx("iprev of %s: %s", s->ip, err ? err : "no resolver");
		s->iprev_result = SMTP_IPREV_TEMPERROR;
		return -1;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		fatal("smtp_iprev_start");
	r->s = s;
	r->match = -1;
	if (s->ss.ss_family == AF_INET)
		r->ptr = dns_submit_a4ptr(NULL,
		    &((struct sockaddr_in *)&s->ss)->sin_addr,
		    smtp_iprev_ptr_cb, r);
	else if (s->ss.ss_family == AF_INET6)
		r->ptr = dns_submit_a6ptr(NULL,
		    &((struct sockaddr_in6 *)&s->ss)->sin6_addr,
		    smtp_iprev_ptr_cb, r);
	if (r->ptr == NULL) {
		free(r);
		s->iprev_result = SMTP_IPREV_TEMPERROR;
		return -1;
	}
	s->iprev_req = r;
	return 0;
}

/* The session ends while its lookups are under way. */
void
smtp_iprev_cancel(struct smtp_session *s)
{
	if (s->iprev_req != NULL)
		smtp_iprev_free(s->iprev_req);
	s->iprev_req = NULL;
	free(s->iprev_name);
	s->iprev_name = NULL;
}

/* At MAIL: the reply refusing this client, or NULL.  An authenticated
 * client is not checked (AUTH is the better proof). */
int
smtp_iprev_refuse(struct smtp_session *s)
{
	int r = s->iprev_result;

	if (s->authuser[0] != '\0')
		return 0;
	if ((r == SMTP_IPREV_FAIL && (s->iprev_reject & SMTP_IPREV_R_FAIL)) ||
	    (r == SMTP_IPREV_PERMERROR &&
	    (s->iprev_reject & SMTP_IPREV_R_PERM))) {
		smtp_error(s, r == SMTP_IPREV_FAIL ?
		    "550 5.7.25 the reverse DNS of your address does not "
		    "lead back to it (iprev=fail)" :
		    "550 5.7.25 your address has no reverse DNS "
		    "(iprev=permerror)");
		return 1;
	}
	if (r == SMTP_IPREV_TEMPERROR &&
	    (s->iprev_reject & SMTP_IPREV_R_TEMP)) {
		smtp_reply(s, "450 4.7.25 cannot check the reverse DNS of "
		    "your address now (iprev=temperror)");
		return 1;
	}
	return 0;
}
