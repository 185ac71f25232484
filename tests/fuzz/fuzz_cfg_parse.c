/*
 * fuzz_cfg_parse.c - libFuzzer target for the configuration parser
 * (common/cfg_lex.c, cfg_parse.c, cfg_check.c, cfg_value.c) and the
 * lookups every daemon makes on the tree it gets.
 *
 * The input is a configuration file's text.  ternd parses a file it is
 * given by root, so the parser is not exposed to strangers; but a typo
 * or a truncated file must give FILE:LINE errors, never a crash, and
 * `tern check-config` runs it on whatever it is pointed at.
 *
 * `include` is refused here: it reads other files and expands globs,
 * which would make the fuzzer read the machine's disk.
 *
 * Seeds: tests/fuzz/corpus/cfg_parse/ (the configs in etc/, the test configs and
 * broken pieces).
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"

static void
walk(const struct cfg_node *n, int depth)
{
	const struct cfg_node *c;
	int i;

	if (depth > CFG_MAX_NESTING + 1)
		__builtin_trap();
	for (i = 0; i < n->argc; i++)
		(void)strlen(n->argv[i]);
	for (c = n->child; c != NULL; c = c->next) {
		if (c->parent != n)
			__builtin_trap();
		walk(c, depth + 1);
	}
}

/* What daemons ask of a tree. */
static void
lookups(const struct cfg *cfg)
{
	struct sockaddr_in sin;
	struct cfg_rate rate;
	int64_t list[CFG_MAX_RETRY];

	(void)cfg_str(cfg->root, "host-name", NULL);
	(void)cfg_int(cfg->root, "deliverd-processes", 0);
	(void)cfg_time(cfg->root, "dns-timeout", 0);
	(void)cfg_size(cfg->root, "max-message-size", 0);
	(void)cfg_bool(cfg->root, "sync", 0);
	(void)cfg_get_rate(cfg->root, "max-msg-rate", &rate);
	(void)cfg_timelist(cfg->root, "retry-after", list, CFG_MAX_RETRY);
	(void)cfg_vmta(cfg, "vmta1");
	(void)cfg_domain_setting(cfg, NULL, "example.test", "max-smtp-out");
	(void)cfg_domain_setting(cfg, "vmta1", "example.test", "route");
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(0x7f000001);
	(void)cfg_source_match(cfg, (struct sockaddr *)&sin);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg *cfg;
	char *text;
	FILE *null;
	int i;

	if (size > 256 * 1024)
		return 0;
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (strcasestr(text, "include") != NULL) {
		free(text);
		return 0;
	}
	cfg = cfg_load_string("fuzz.conf", text);
	free(text);
	if (cfg == NULL)
		return 0;
	/* every error is reported, as FILE:LINE: message */
	if (cfg->nerrors > cfg->nmsgs)
		__builtin_trap();
	for (i = 0; i < cfg->nmsgs; i++)
		if (strncmp(cfg->msgs[i], "fuzz.conf:", 10) != 0)
			__builtin_trap();
	walk(cfg->root, 0);
	if ((null = fopen("/dev/null", "w")) != NULL) {
		cfg_print_msgs(cfg, null);
		fclose(null);
	}
	lookups(cfg);
	cfg_free(cfg);
	return 0;
}
