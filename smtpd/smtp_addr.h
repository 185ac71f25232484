/*
 * smtp_addr.h - address syntax of SMTP (RFC 5321 4.1.2, with the UTF-8 of
 * RFC 6531), shared by the command parser.  Pure code like smtp_cmd.c:
 * no I/O, no allocation, unit tested and fuzzed with it.
 */
#ifndef TERN_SMTP_ADDR_H
#define TERN_SMTP_ADDR_H

#include <stddef.h>

#include "smtp_cmd.h"

/* A view of the octets still to parse. */
struct span {
	const unsigned char	*p;
	const unsigned char	*end;
};

int	smtp_is_alpha(int);
int	smtp_is_digit(int);
int	smtp_is_atext(int);
/* Length of the well-formed UTF-8 sequence at p, or 0. */
size_t	smtp_utf8_len(const unsigned char *p, const unsigned char *end);
/* Step over one character of class ok() or one UTF-8 character (then
 * *utf8 = 1); 0 if the octet at s->p is neither. */
int	smtp_take_char(struct span *, int (*ok)(int), int *utf8);
/* "<path>" at s->p into out->addr (MAIL: <> allowed; RCPT:
 * <postmaster> sets is_postmaster).  0, or -1 on bad syntax. */
int	smtp_parse_path(struct span *, struct smtp_cmd *out, int mail);

#endif
