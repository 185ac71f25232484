/*
 * test_verp.c - the VERP address format (common/verp.c): what queued
 * writes, bounced reads back to the same recipient, whatever '-' and '='
 * the sender's and recipient's local parts hold.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "verp.h"

static void
test_verp_powermta_form(void **state)
{
	char buf[256];

	(void)state;
	assert_string_equal(verp_encode("news@client.example",
	    "joe@isp.example", "bounce.example", buf, sizeof(buf)),
	    "news-joe=isp.example@bounce.example");
	assert_string_equal(verp_encode("news@client.example",
	    "joe@isp.example", NULL, buf, sizeof(buf)),
	    "news-joe=isp.example@client.example");
	assert_string_equal(verp_decode("news-joe=isp.example@b.example",
	    buf, sizeof(buf)), "joe@isp.example");
	assert_null(verp_decode("plain@b.example", buf, sizeof(buf)));
	assert_null(verp_decode("n-x@b.example", buf, sizeof(buf)));
	assert_null(verp_decode("n-=d@b.example", buf, sizeof(buf)));
	assert_null(verp_encode("nodomain", "joe@isp.example", NULL, buf,
	    sizeof(buf)));
	assert_null(verp_encode("news@c.example", "joe@isp.example", NULL,
	    buf, 10));
}

/* The bug: "news-letter" as sender decoded to "letter-joe@...". */
static void
test_verp_dash_in_sender(void **state)
{
	static const char *senders[] = { "news-letter@c.example",
	    "a--b@c.example", "x-@c.example", "plain@c.example",
	    "a-b-c-d@c.example" };
	static const char *rcpts[] = { "joe@isp.example",
	    "jean-luc@isp.example", "a=b@isp.example", "x-y=z-@d.example",
	    "j--k@isp.example" };
	char enc[512], dec[256];
	size_t i, j;

	(void)state;
	assert_string_equal(verp_encode("news-letter@c.example",
	    "joe@isp.example", "b.example", enc, sizeof(enc)),
	    "news--letter-joe=isp.example@b.example");
	for (i = 0; i < sizeof(senders) / sizeof(senders[0]); i++)
		for (j = 0; j < sizeof(rcpts) / sizeof(rcpts[0]); j++) {
			assert_non_null(verp_encode(senders[i], rcpts[j],
			    "b.example", enc, sizeof(enc)));
			assert_non_null(verp_decode(enc, dec, sizeof(dec)));
			assert_string_equal(dec, rcpts[j]);
		}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verp_powermta_form),
		cmocka_unit_test(test_verp_dash_in_sender),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
