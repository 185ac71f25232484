/*
 * fuzz_dsn.c - libFuzzer target for bounced's DSN handling: the parser
 * of RFC 3464 reports that come back by mail (bounced/inbound.c, rb/rs
 * rows) and the builder of the DSNs bounced sends (bounced/dsn.c), which
 * quotes the header of an original message the sender wrote.
 *
 * FUZZ_EXTRA: bounced/inbound.c bounced/dsn.c bounced/bounce_class.c
 * FUZZ_EXTRA: bounced/dsn_text.c bounced/acct_csv.c
 *
 * The input is the whole inbound message; the VERP address it is sent to
 * and the original the DSN quotes are taken from it too, so one input
 * drives both.  Each row written is checked for what a CSV line needs.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bounced.h"

/* bounced.c / acct.c / suppress.c are not linked: rows are checked. */
void
acct_write_ext(const struct acct_record *a, const struct acct_extra *x)
{
	if (a->type == NULL || (a->rcpt != NULL && strlen(a->rcpt) > 4096) ||
	    (x != NULL && x->format == NULL))
		__builtin_trap();
}

int
suppress_add(const char *addr, const char *why)
{
	if (addr == NULL || why == NULL)
		__builtin_trap();
	return 0;
}

int
suppress_category(const char *cat)
{
	return cat != NULL && strcmp(cat, "bad-mailbox") == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dsn_req r;
	char *msg, *text, to[128];
	size_t tl;

	if ((msg = malloc(size + 1)) == NULL)
		return 0;
	memcpy(msg, data, size);
	msg[size] = '\0';
	/* The first line (up to 100 bytes) is also the address it came to. */
	tl = strcspn(msg, "\n");
	if (tl > 100)
		tl = 100;
	memcpy(to, msg, tl);
	to[tl] = '\0';
	(void)inbound_process(msg, size, to, "192.0.2.1", 1700000000);

	memset(&r, 0, sizeof(r));
	r.qid = "Q1";
	r.sender = to;
	r.envid = to;
	r.ret = size & 1 ? RET_FULL : RET_HDRS;
	r.size = size;
	r.rcpt = "joe@isp.example";
	r.orcpt = to;
	r.dsn_status = "5.1.1";
	r.diag = to;
	r.mta = "mx.isp.example (192.0.2.2)";
	(void)dsn_wanted(&r);
	text = dsn_build(&r, "tern.example", msg, size, 1700000000, 1);
	if (text == NULL || strncmp(text, "From:", 5) != 0)
		__builtin_trap();
	free(text);
	free(msg);
	return 0;
}
