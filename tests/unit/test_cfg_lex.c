/*
 * test_cfg_lex.c - the lexer: lines, comments, quotes, tags, regexes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cfg.h"

/* Lex `text` into a printable trace: one item per line, as
 * "LINE KIND arg|arg|...".  Kinds: D directive, O open, C close, E error. */
static char *
trace(const char *text)
{
	static const char kinds[] = { '.', 'D', 'O', 'C', 'E' };
	struct cfg_lex lx;
	struct cfg_lex_item it;
	size_t cap = 8192, len = 0;
	char *out;
	int i;

	out = calloc(1, cap);
	assert_non_null(out);
	cfg_lex_init(&lx, text, strlen(text));
	while (cfg_lex_next(&lx, &it) != CFG_LEX_EOF) {
		len += (size_t)snprintf(out + len, cap - len, "%d %c ", it.line,
		    kinds[it.kind]);
		if (it.kind == CFG_LEX_ERROR)
			len += (size_t)snprintf(out + len, cap - len, "%s",
			    it.err);
		for (i = 0; i < it.argc; i++)
			len += (size_t)snprintf(out + len, cap - len, "%s%s",
			    i ? "|" : "", it.argv[i]);
		len += (size_t)snprintf(out + len, cap - len, "\n");
		assert_true(len < cap);
		cfg_lex_item_clear(&it);
	}
	cfg_lex_done(&lx);
	return out;
}

#define LEX(text, expect) do {						\
	char *t_ = trace(text);						\
	assert_string_equal(t_, expect);				\
	free(t_);							\
} while (0)

static void
test_lines_and_comments(void **state)
{
	LEX("", "");
	LEX("\n\n   \n# only a comment\n", "");
	LEX("max-smtp-out 20\n", "1 D max-smtp-out|20\n");
	LEX("max-smtp-out 20", "1 D max-smtp-out|20\n");	/* no final \n */
	LEX("  max-smtp-out\t 2 # total connections\n",
	    "1 D max-smtp-out|2\n");
	LEX("a 1\n\nb 2#c\r\nc\n", "1 D a|1\n3 D b|2\n4 D c\n");
	LEX("smtp-hosts h1, h2; [10.1.1.1]:2525\n",
	    "1 D smtp-hosts|h1,|h2;|[10.1.1.1]:2525\n");
}

static void
test_quotes(void **state)
{
	LEX("log-format-extended \"mail.log\" \"%ts %d %r\"\n",
	    "1 D log-format-extended|mail.log|%ts %d %r\n");
	LEX("command \"a \\\"b\\\" c\\\\d\"\n", "1 D command|a \"b\" c\\d\n");
	/* Other escapes are kept as written (regexes need them). */
	LEX("x \"\\x23\\d\"\n", "1 D x|\\x23\\d\n");
	LEX("x \"# not a comment\" # a comment\n", "1 D x|# not a comment\n");
	LEX("x \"\"\n", "1 D x|\n");
	LEX("bounce-log \"/var/log/b.log\"# c\n", "1 D bounce-log|/var/log/b.log\n");
	LEX("x a\"b c\"d\n", "1 D x|ab cd\n");
	LEX("x \"open\ny 1\n",
	    "1 E unterminated quoted string\n2 D y|1\n");
}

static void
test_tags(void **state)
{
	LEX("<domain example.com>\nmax-smtp-out 10\n</domain>\n",
	    "1 O domain|example.com\n2 D max-smtp-out|10\n3 C domain\n");
	LEX("< domain  *.example.com >\n", "1 O domain|*.example.com\n");
	LEX("</domain-key-list keylist-customer-one>\n",
	    "1 C domain-key-list|keylist-customer-one\n");
	LEX("<bounce-category-patterns>\n", "1 O bounce-category-patterns\n");
	LEX("<acct-file \"/var/log/my acct.csv\">\n",
	    "1 O acct-file|/var/log/my acct.csv\n");
	LEX("<acct-file |/usr/bin/prog -a>\n", "1 O acct-file||/usr/bin/prog|-a\n");
	LEX("<domain *> # default\n", "1 O domain|*\n");
	LEX("<domain example.com\n", "1 E unterminated tag (missing '>')\n");
	LEX("<>\n", "1 E empty tag\n");
	LEX("<domain # x>\n", "1 E unterminated tag (missing '>')\n");
}

static void
test_blocks_on_one_line(void **state)
{
	/* As the seed guides write them. */
	LEX("<domain *> max-smtp-out 5 max-msg-rate 100/h </domain>\n",
	    "1 O domain|*\n1 D max-smtp-out|5\n1 D max-msg-rate|100/h\n"
	    "1 C domain\n");
	LEX("<accepted-connect 10.0.0.0/8> allow-submission yes require-auth "
	    "yes auth-plain /etc/powermta/passwd </accepted-connect>\n",
	    "1 O accepted-connect|10.0.0.0/8\n1 D allow-submission|yes\n"
	    "1 D require-auth|yes\n1 D auth-plain|/etc/powermta/passwd\n"
	    "1 C accepted-connect\n");
	/* Without a tag on the line a value may be a directive name. */
	LEX("virtual-mta source\n", "1 D virtual-mta|source\n");
	LEX("<virtual-mta m> dns-timeout 60 <domain gmail.com> max-smtp-out 20"
	    "</domain></virtual-mta>\n",
	    "1 O virtual-mta|m\n1 D dns-timeout|60\n1 O domain|gmail.com\n"
	    "1 D max-smtp-out|20\n1 C domain\n1 C virtual-mta\n");
	/* "<>" and "<addr>" in values are not tags. */
	LEX("mail-from <> bounces@example.com\n",
	    "1 D mail-from|<>|bounces@example.com\n");
	LEX("x <a@b.com> y\n", "1 D x|<a@b.com>|y\n");
}

static void
test_regex(void **state)
{
	LEX("reply /user unknown/ mode=backoff,skip-mx\n",
	    "1 D reply|/user unknown/|mode=backoff,skip-mx\n");
	LEX("/spam detected/ spam-related\n",
	    "1 D /spam detected/|spam-related\n");
	LEX("// other\n", "1 D //|other\n");
	LEX("reply /a\\/b c/ x\n", "1 D reply|/a\\/b c/|x\n");
	LEX("header Subject /free money/ virtual-mta=spam\n",
	    "1 D header|Subject|/free money/|virtual-mta=spam\n");
	/* Not a regex directive: a path is a path. */
	LEX("mailbox-command /usr/bin/procmail -a /tmp/x/ y\n",
	    "1 D mailbox-command|/usr/bin/procmail|-a|/tmp/x/|y\n");
	/* '#' ends a regex too: PowerMTA wants \x23 there. */
	LEX("reply /a #b/ x\n", "1 D reply|/a\n");
}

static void
test_line_numbers(void **state)
{
	LEX("a 1\n# c\n\n<x>\n  b 2\n</x>\n",
	    "1 D a|1\n4 O x\n5 D b|2\n6 C x\n");
}

static void
test_limits(void **state)
{
	size_t n = CFG_MAX_LINE + 10;
	char *big, *t;

	big = malloc(n + 16);
	assert_non_null(big);
	memset(big, 'a', n);
	memcpy(big + n, "\nok 1\n", 7);
	t = trace(big);
	assert_string_equal(t, "1 E line too long (max 65536 bytes)\n"
	    "2 D ok|1\n");
	free(t);
	free(big);

	/* 256 values are fine, 257 are not. */
	big = malloc(257 * 2 + 16);
	assert_non_null(big);
	strcpy(big, "x");
	for (n = 0; n < 257; n++)
		strcat(big, " v");
	t = trace(big);
	assert_string_equal(t, "1 E too many values (max 256)\n");
	free(t);
	big[strlen(big) - 2] = '\0';
	t = trace(big);
	assert_true(strncmp(t, "1 D x|v|v", 9) == 0);
	free(t);
	free(big);
}

static void
test_nul_byte(void **state)
{
	static const char text[] = "a 1\nb \0 2\nc 3\n";
	struct cfg_lex lx;
	struct cfg_lex_item it;

	cfg_lex_init(&lx, text, sizeof(text) - 1);
	assert_int_equal(cfg_lex_next(&lx, &it), CFG_LEX_DIRECTIVE);
	cfg_lex_item_clear(&it);
	assert_int_equal(cfg_lex_next(&lx, &it), CFG_LEX_ERROR);
	assert_string_equal(it.err, "NUL byte in line");
	assert_int_equal(it.line, 2);
	cfg_lex_item_clear(&it);
	assert_int_equal(cfg_lex_next(&lx, &it), CFG_LEX_DIRECTIVE);
	assert_int_equal(it.line, 3);
	cfg_lex_item_clear(&it);
	assert_int_equal(cfg_lex_next(&lx, &it), CFG_LEX_EOF);
	cfg_lex_done(&lx);
}

static void
test_abandoned(void **state)
{
	/* Stopping halfway frees what the lexer still holds. */
	static const char text[] = "<a> b 1 </a>\n";
	struct cfg_lex lx;
	struct cfg_lex_item it;

	cfg_lex_init(&lx, text, sizeof(text) - 1);
	assert_int_equal(cfg_lex_next(&lx, &it), CFG_LEX_OPEN);
	cfg_lex_item_clear(&it);
	cfg_lex_done(&lx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_and_comments),
		cmocka_unit_test(test_quotes),
		cmocka_unit_test(test_tags),
		cmocka_unit_test(test_blocks_on_one_line),
		cmocka_unit_test(test_regex),
		cmocka_unit_test(test_line_numbers),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_abandoned),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
