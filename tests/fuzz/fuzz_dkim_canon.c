/*
 * fuzz_dkim_canon.c - libFuzzer target for deliverd's DKIM relaxed
 * canonicalization and header lookup, which read messages as submitted
 * by clients (untrusted).
 *
 * FUZZ_EXTRA: deliverd/dkim_canon.c
 *
 * Checks: the canonical body never has trailing blank lines and ends
 * with CRLF when not empty; a canonical header has no CR or LF but its
 * final CRLF; canonicalizing twice changes nothing.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dkim.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dkim_buf b = { 0 }, b2 = { 0 }, h = { 0 };
	const char *p = (const char *)data, *f;
	size_t hend, len;

	hend = dkim_header_end(p, size);
	if (hend > size)
		__builtin_trap();
	dkim_canon_body(p + hend, size - hend, &b);
	if (b.len > 0) {
		if (b.len < 2 || memcmp(b.data + b.len - 2, "\r\n", 2) != 0)
			__builtin_trap();
		if (b.len >= 4 && memcmp(b.data + b.len - 4, "\r\n\r\n", 4) == 0)
			__builtin_trap();
		dkim_canon_body(b.data, b.len, &b2);
		if (b2.len != b.len || memcmp(b2.data, b.data, b.len) != 0)
			__builtin_trap();
	}
	if ((f = dkim_find_header(p, hend, "from", &len)) != NULL) {
		if (f < p || f + len > p + hend)
			__builtin_trap();
		dkim_canon_header(f, len, 1, &h);
		if (memchr(h.data, '\n', h.len - 1) != NULL)
			__builtin_trap();
	}
	dkim_buf_free(&b);
	dkim_buf_free(&b2);
	dkim_buf_free(&h);
	return 0;
}
