/*
 * dkim.h - DKIM signing (RFC 6376 relaxed/relaxed, RSA-SHA256 and
 * Ed25519-SHA256 of RFC 8463).  dkim_canon.c is pure (unit tests and
 * the fuzzer use it); mta_dkim.c holds the keys ternd sends and signs.
 */
#ifndef TERN_DKIM_H
#define TERN_DKIM_H

#include <stddef.h>
#include <strings.h>

struct dkim_buf {
	char	*data;		/* NUL-terminated */
	size_t	 len, cap;
};
void		 dkim_buf_free(struct dkim_buf *);
void		 dkim_buf_printf(struct dkim_buf *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 dkim_canon_body(const char *, size_t, struct dkim_buf *);
void		 dkim_canon_header(const char *, size_t, int crlf,
		    struct dkim_buf *);
size_t		 dkim_header_end(const char *, size_t);
const char	*dkim_find_header(const char *, size_t, const char *name,
		    size_t *len);

#endif
