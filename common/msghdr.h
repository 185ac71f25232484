/*
 * msghdr.h - RFC 5322 header pieces that every way into the spool needs:
 * smtpd (mail over SMTP) and mgmtd (mail injected over HTTP) both add a
 * Received: line, a Message-ID: and a Date: when missing, and look at
 * the fields of a header section.  One implementation, so that a message
 * looks the same whichever way it came in.
 */
#ifndef TERN_MSGHDR_H
#define TERN_MSGHDR_H

#include <stddef.h>

/* The time now as RFC 5322 writes it ("Mon, 23 Nov 2026 22:51:00 +0000"). */
void	 msghdr_date(char *buf, size_t sz);
/* The Message-ID Tern adds: "<QID.UNIXTIME@HOST>" (with the brackets). */
void	 msghdr_message_id(char *buf, size_t sz, const char *qid,
	    const char *host);
/* host-name of the configuration's global scope, else the system's name,
 * else "localhost". */
struct cfg;
void	 msghdr_hostname(const struct cfg *, char *buf, size_t sz);

/* Where the field starting at p ends (after its last line's LF,
 * continuation lines included); n if it does not end in [p, p+n). */
size_t	 msghdr_field_len(const char *p, size_t n);
/* Is the field f (its name up to the colon, nl octets) called name? */
int	 msghdr_field_is(const char *f, size_t nl, const char *name);
/* A field's value, unfolded (CR/LF dropped, tabs as spaces) and trimmed,
 * in a new string. */
char	*msghdr_value(const char *v, size_t n);
/* Length of the header section of text (up to and including the empty
 * line, or all of it when there is none). */
size_t	 msghdr_section_len(const char *text, size_t n);
/* Is there a field called name in the header section hdr[0, n)? */
int	 msghdr_has(const char *hdr, size_t n, const char *name);

#endif
