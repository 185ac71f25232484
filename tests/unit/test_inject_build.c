/*
 * test_inject_build.c - HTTP injection requests (mgmtd/inject_build.c):
 * which messages a request becomes, what their texts say after
 * substitution, and which field a bad request is told about.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "inject.h"

static int
known(const char *vmta)
{
	return strcmp(vmta, "vm1") == 0;
}

/* Build from JSON text; returns 0/-1, err filled. */
static int
build(const char *text, struct inject_batch *b, char *err, size_t errsz)
{
	json_error_t jerr;
	json_t *req = json_loads(text, 0, &jerr);
	int r;

	assert_non_null(req);
	err[0] = '\0';
	r = inject_build(req, known, b, err, errsz);
	json_decref(req);
	return r;
}

static void
test_grouping_and_substitution(void **state)
{
	struct inject_batch b;
	char err[256];

	(void)state;
	assert_int_equal(build("{\"envelope_sender\":\"s@x.test\","
	    "\"content\":\"Subject: {{ who }}\\n\\nHi {{who}} {{n}} {{none}}"
	    "{{bad name}}\\n\",\"substitutions\":{\"who\":\"all\"},"
	    "\"recipients\":[{\"email\":\"a@x.test\"},"
	    "{\"email\":\"b@x.test\",\"substitutions\":{\"who\":\"Bo\","
	    "\"n\":7}},{\"email\":\"c@x.test\"}],\"vmta\":\"vm1\","
	    "\"job_id\":\"j1\"}", &b, err, sizeof(err)), 0);
	assert_int_equal(b.nmsg, 2);
	assert_int_equal(b.nrcpt, 3);
	assert_string_equal(b.vmta, "vm1");
	assert_string_equal(b.jobid, "j1");
	/* b@ has its own message; a@ and c@ share one. */
	assert_int_equal(b.msgs[0].nrcpt, 1);
	assert_string_equal(b.msgs[0].rcpts[0], "b@x.test");
	assert_non_null(strstr(b.msgs[0].text,
	    "Subject: Bo\r\n\r\nHi Bo 7 {{bad name}}\r\n"));
	assert_int_equal(b.msgs[1].nrcpt, 2);
	assert_string_equal(b.msgs[1].rcpts[1], "c@x.test");
	assert_non_null(strstr(b.msgs[1].text, "Hi all  {{bad name}}\r\n"));
	/* A Date: is added when missing; a Message-ID: later (it names
	 * the queue id). */
	assert_memory_equal(b.msgs[1].text, "Date: ", 6);
	assert_int_equal(b.msgs[1].has_msgid, 0);
	inject_batch_free(&b);
}

static void
test_parts(void **state)
{
	struct inject_batch b;
	char err[256], *t, *hend;
	char req[4096];
	char longline[1200];

	(void)state;
	memset(longline, 'x', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	snprintf(req, sizeof(req), "{\"envelope_sender\":\"\","
	    "\"content\":{\"from\":\"f@x.test\",\"subject\":\"Caf\\u00e9 "
	    "{{n}}\",\"text\":\"plain {{n}}\\n\",\"html\":\"<p>%s</p>\","
	    "\"headers\":{\"X-Tag\":\"{{n}}\"}},\"recipients\":"
	    "[{\"email\":\"a@x.test\",\"substitutions\":{\"n\":\"1\\r\\n"
	    "Bcc: evil@x.test\"}}]}", longline);
	assert_int_equal(build(req, &b, err, sizeof(err)), 0);
	assert_int_equal(b.nmsg, 1);
	t = b.msgs[0].text;
	assert_string_equal(b.sender, "");
	assert_non_null(strstr(t, "\r\nTo: a@x.test\r\n"));
	assert_non_null(strstr(t, "\r\nSubject: =?UTF-8?B?"));
	/* A substituted line break never starts a header field. */
	hend = strstr(t, "\r\n\r\n");
	assert_non_null(hend);
	assert_true(strstr(t, "\r\nBcc:") == NULL || strstr(t, "\r\nBcc:") >
	    hend);
	assert_non_null(strstr(t, "\r\nX-Tag: 1  Bcc: evil@x.test\r\n"));
	assert_non_null(strstr(t, "multipart/alternative"));
	/* In a body a line break stays one. */
	assert_non_null(strstr(t, "\r\n\r\nplain 1\r\nBcc: evil@x.test\r\n"));
	/* The long HTML line goes quoted-printable, every line <= 76. */
	assert_non_null(strstr(t, "Content-Transfer-Encoding: "
	    "quoted-printable\r\n"));
	assert_null(strstr(t, longline));
	inject_batch_free(&b);
}

static void
test_errors_name_the_field(void **state)
{
	static const struct {
		const char *req, *err;
	} cases[] = {
		{ "{\"content\":\"x\",\"recipients\":[{\"email\":\"a@x\"}]}",
		  "envelope_sender: not an address" },
		{ "{\"envelope_sender\":\"s@x\",\"content\":\"x\","
		  "\"recipients\":[{\"email\":\"a@x\"},{\"email\":\"<b@x>\"}]}",
		  "recipients[1].email: not an address" },
		{ "{\"envelope_sender\":\"s@x\",\"content\":\"x\","
		  "\"recipients\":{}}", "recipients: not a non-empty array" },
		{ "{\"envelope_sender\":\"s@x\",\"content\":{\"from\":\"f\"},"
		  "\"recipients\":[{\"email\":\"a@x\"}]}",
		  "content: needs text or html" },
		{ "{\"envelope_sender\":\"s@x\",\"content\":\"x\",\"vmta\":"
		  "\"vm2\",\"recipients\":[{\"email\":\"a@x\"}]}",
		  "vmta: no <virtual-mta> or <virtual-mta-pool> named vm2" },
		{ "{\"envelope_sender\":\"s@x\",\"content\":\"x\",\"job_id\":"
		  "\"a b\",\"recipients\":[{\"email\":\"a@x\"}]}",
		  "job_id: only printable ASCII without spaces" },
		{ "{\"envelope_sender\":\"s@x\",\"content\":\"x\",\"extra\":1,"
		  "\"recipients\":[{\"email\":\"a@x\"}]}",
		  "extra: unknown field" },
	};
	struct inject_batch b;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(build(cases[i].req, &b, err, sizeof(err)), -1);
		assert_string_equal(err, cases[i].err);
		inject_batch_free(&b);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grouping_and_substitution),
		cmocka_unit_test(test_parts),
		cmocka_unit_test(test_errors_name_the_field),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
