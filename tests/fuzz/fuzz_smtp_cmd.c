/*
 * fuzz_smtp_cmd.c - libFuzzer target for smtpd's SMTP command parser.
 *
 *	clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *	    -Icommon -Ismtpd smtpd/smtp_cmd.c tests/fuzz/fuzz_smtp_cmd.c \
 *	    -o fuzz_smtp_cmd
 *	./fuzz_smtp_cmd -max_total_time=10 tests/fuzz/corpus/smtp_cmd
 *
 * The input is one command line as the session hands it over (CRLF
 * removed, NUL bytes possible).  Besides not crashing, the parser must
 * leave NUL-terminated, bounded strings and only valid addresses.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_cmd.h"

static void
check_str(const char *s, size_t cap)
{
	if (memchr(s, '\0', cap) == NULL)
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static struct smtp_cmd cmd;
	int r, utf8;

	r = smtp_cmd_parse_len((const char *)data, len, &cmd);
	if (r < SMTP_OK || r >= SMTP_ERR_MAX)
		__builtin_trap();
	(void)strlen(smtp_cmd_reply(r));
	check_str(cmd.arg, sizeof(cmd.arg));
	check_str(cmd.addr, sizeof(cmd.addr));
	check_str(cmd.envid, sizeof(cmd.envid));
	check_str(cmd.orcpt, sizeof(cmd.orcpt));
	check_str(cmd.auth_initial, sizeof(cmd.auth_initial));
	if (r != SMTP_OK)
		return 0;
	(void)strlen(smtp_cmd_name(cmd.verb));
	/* Whatever MAIL/RCPT accepted is a valid mailbox (or <>, postmaster). */
	if ((cmd.verb == SMTP_CMD_MAIL || cmd.verb == SMTP_CMD_RCPT) &&
	    cmd.addr[0] != '\0' && !cmd.is_postmaster &&
	    smtp_addr_valid(cmd.addr, strlen(cmd.addr), &utf8) != 0)
		__builtin_trap();
	if (cmd.verb == SMTP_CMD_RCPT && cmd.addr[0] == '\0')
		__builtin_trap();
	/* The address checker on its own, on raw input. */
	(void)smtp_addr_valid((const char *)data, len, &utf8);
	return 0;
}
