/*
 * fuzz_arf.c - libFuzzer target for bounced's feedback-report parser
 * (RFC 5965 ARF, bounced/inbound.c -> f rows).
 *
 * FUZZ_EXTRA: bounced/inbound.c bounced/bounce_class.c bounced/dsn_text.c
 *
 * The input is a report sent to a feedback-loop address; every f row it
 * gives must carry the report's format and a feedback type field that a
 * CSV line can hold.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bounced.h"

static int frows;

void
acct_write_ext(const struct acct_record *a, const struct acct_extra *x)
{
	if (a->type == NULL || x == NULL || x->format == NULL)
		__builtin_trap();
	if (strcmp(a->type, "f") == 0) {
		if (strcmp(x->format, "arf") != 0)
			__builtin_trap();
		frows++;
	}
}

int
suppress_add(const char *addr, const char *why)
{
	if (addr == NULL || strchr(addr, '\n') != NULL)
		__builtin_trap();
	return 1;
}

int
suppress_category(const char *cat)
{
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *msg;
	int rows;

	if ((msg = malloc(size + 1)) == NULL)
		return 0;
	memcpy(msg, data, size);
	msg[size] = '\0';
	frows = 0;
	rows = inbound_process(msg, size, "fbl@fbl.example", "192.0.2.1",
	    1700000000);
	if (rows < frows)
		__builtin_trap();
	free(msg);
	return 0;
}
