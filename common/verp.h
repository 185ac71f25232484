/*
 * verp.h - the VERP address format, written by queued (queue_verp.c) and
 * read back by bounced (inbound.c): one place, so both agree.
 *
 *	sender news@client.example, recipient joe@isp.example,
 *	domain bounce.example
 *	=> news-joe=isp.example@bounce.example
 *
 * PowerMTA's form SENDERLOCAL-RCPTLOCAL=RCPTDOMAIN@DOMAIN.  The first
 * single '-' separates the two local parts, so a '-' inside the sender's
 * local part is doubled ("news-letter" -> "news--letter-joe=..."); a
 * sender without '-' gives exactly PowerMTA's address.  The recipient's
 * local part is kept as is: '-' and '=' in it are fine, as the separator
 * is the first single '-' and the recipient's domain follows the last '='
 * (a domain has no '=').  Only a recipient local part starting with '-'
 * cannot be told apart (its '-' would pair with the separator).
 */
#ifndef TERN_VERP_H
#define TERN_VERP_H

#include <stddef.h>

/* The VERP address, or NULL if it does not fit or an address has no '@'. */
const char	*verp_encode(const char *sender, const char *rcpt,
		    const char *domain /* NULL: the sender's */,
		    char *buf, size_t bufsz);
/* "news--letter-joe=isp.example@b.example" -> "joe@isp.example"; NULL if
 * addr is no VERP address. */
const char	*verp_decode(const char *addr, char *buf, size_t bufsz);

#endif
