/*
 * test_cfg_table.c - the directive table: consistent entries and
 * defaults, used_by honest, the seed and reference names all there.
 *
 * Runs in tests/unit (ctest WORKING_DIRECTORY); cfg_test.h has the
 * helpers the test_cfg_* programs share.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cfg.h"
#include "cfg_test.h"

/*
 * The directive table itself.
 */

static int
is_tag(const struct cfg_directive *d)
{
	return d->type == CT_BLOCK && d->alias_of == NULL;
}

static int
is_line(const struct cfg_directive *d)
{
	return !is_tag(d) || d->inline_ok;
}

static void
test_table_consistent(void **state)
{
	const struct cfg_directive *t, *d, *e;
	const char *err;
	size_t n, i, j;
	int64_t iv, tl[CFG_MAX_RETRY];
	uint64_t uv;
	struct cfg_rate r;
	int b, k;

	t = cfg_directive_table(&n);
	assert_true(n > 300);
	for (i = 0; i < n; i++) {
		d = &t[i];
		assert_non_null(d->name);
		assert_non_null(d->help);
		assert_true(d->scopes != 0);
		if (d->alias_of != NULL) {
			e = cfg_directive_canon(d);
			if (e == d || e->alias_of != NULL)
				fail_msg("%s: bad alias", d->name);
			continue;
		}
		if (d->type == CT_BLOCK && d->block_scope == 0)
			fail_msg("%s: block without scope", d->name);
		if (d->type == CT_ENUM && d->enums == NULL)
			fail_msg("%s: enum without words", d->name);
		/* No two entries a lookup could confuse: in one scope a
		 * name has at most one tag form and one line form. */
		for (j = 0; j < n; j++) {
			e = &t[j];
			if (i == j || strcmp(d->name, e->name) != 0 ||
			    (d->scopes & e->scopes) == 0)
				continue;
			if ((is_tag(d) && is_tag(e)) ||
			    (is_line(d) && is_line(e)))
				fail_msg("%s: ambiguous entries", d->name);
		}
		/* Defaults are valid values of their own type. */
		if (d->defval == NULL || (d->enums != NULL &&
		    strstr(d->enums, d->defval) != NULL))
			continue;
		switch (d->type) {
		case CT_BOOL:
			k = cfg_parse_bool(d->defval, &b, &err);
			break;
		case CT_INT:
			k = cfg_parse_int(d->defval, &iv, &err);
			break;
		case CT_TIME:
			k = cfg_parse_time(d->defval, &iv, &err);
			break;
		case CT_TIMELIST:
			k = cfg_parse_timelist(d->defval, tl, CFG_MAX_RETRY,
			    &b, &err);
			break;
		case CT_SIZE:
			k = cfg_parse_size(d->defval, &uv, &err);
			break;
		case CT_RATE:
			k = cfg_parse_rate(d->defval, &r, &err);
			break;
		case CT_ENUM:
			k = -1;
			break;
		default:
			k = 0;
		}
		if (k != 0)
			fail_msg("%s: bad default \"%s\"", d->name, d->defval);
	}
}

static void
test_table_used_by(void **state)
{
	/* The honesty rule: only what a daemon acts on is "used" (grep
	 * each daemon for the directive names it reads). */
	static const char *used[] = {
		"smtp-listener", "smtp-port", "spool", "acct-file",
		"accounting-log", "records", "domain", "route", "smtp-hosts",
		"retry-after", "bounce-after", "virtual-mta", "host-name",
		"virtual-mta-pool", "source-pool", "domain-key-list",
		"max-smtp-out", "max-msg-per-connection", "include",
		"deliverd-processes", "max-message-size", "control-socket",
		"run-as-user", "queue-user", "chroot-dir",
		/* smtpd */
		"source", "accepted-connect", "smtp-service",
		"always-allow-relaying", "allow-submission",
		"total-max-smtp-in", "smtp-command-timeout",
		"smtp-data-timeout", "smtp-server-tls-certificate",
		"smtp-server-tls-ciphers", "auth-plain", "require-auth",
		"allow-auth", "allow-unencrypted-plain-auth", "allow-starttls",
		"allow-chunking", "smtp-user", "password",
		"authentication-method", "max-smtp-in", "source-group",
		"process-x-virtual-mta", "process-x-job", "process-x-envid",
		"add-message-id-header", "add-date-header",
		"default-virtual-mta", "reject-invalid-virtual-mta",
		"smtp-max-auth-failure-rate", "suppression-action",
		"refuse-connect-when-spool-full",
		"require-rdns", "check-iprev-inbound",
		"reject-iprev-check-fail", "reject-iprev-check-permerror",
		"reject-iprev-check-temperror", "smtp-server-tls-allow-tlsv1.2",
		"smtp-server-tls-allow-tlsv1.3", "tls-certificate",
		"tls-allow-tlsv1.2", "tls-allow-tlsv1.3", "tls-ciphers",
		"process-x-remote-mta-ip", "relay-domain",
		/* queued */
		"min-free-space", "spool-max-recipients", "spool-segment-size", "max-queue-size",
		/* bounced */
		"sync", "bounce-category-patterns", "pattern",
		"record-fields", "user-string", "iso-times", "queue-filter",
		"bounce-domain", "verp-default", "bounce-processor",
		"feedback-loop-processor", "move-to", "move-interval",
		"max-size", "delete-after", "log-format-extended",
		"bounce-log", "bounce-category-log", "log-domain",
		"log-entries", "map-header-to-field",
		"notify-of-delay-every", "log-file", "log-rotate",
		/* bounced: event shipping (ternd resolves and reads secrets) */
		"acct-amqp", "acct-webhook", "url", "credentials-file", "ca-file",
		"exchange", "routing-key-prefix", "batch-size", "timeout",
		"min-retry-interval", "max-retry-interval", "buffer-max-size",
		/* deliverd */
		"smtp-source-host", "default-smtp-port", "name-server",
		"smtp-pattern-list", "adaptive-max-smtp-out",
		"adaptive-soft-bounce-limit", "adaptive-backoff-interval",
		"backoff-max-smtp-out", "backoff-max-msg-rate",
		"backoff-to-normal-after", "reply",
		"max-delivery-attempts", "dkim-sign", "domain-key",
		"use-starttls", "require-starttls", "tls", "dns-timeout",
		"resolve-to", "max-rcpt-per-message",
		"max-rcpt-per-transaction", "max-msg-rate",
		"max-connect-rate", "delivery-interval", "random-ip",
		"total-max-smtp-out", "source-ip-max-smtp-out",
		"connect-timeout", "smtp-greeting-timeout",
		"data-send-timeout", "smtp-data-termination-timeout",
		"smtp-multiple-line-response-timeout",
		"smtp-pipeline-depth", "ignore-8bitmime", "ignore-pipelining",
		"ignore-chunking",
		"type", "command", "pipe-user", "local", "mailbox-command",
		"dkim-headers", "smtp-tls-ca-file", "reenable-source-ip-after",
		"always-use-mx", "queue-interval", "dns-rotate",
		"mx-rollup-list", "mx", "disable-mx-rollup",
		/* mgmtd (ternd opens the port and reads the htpasswd) */
		"http-mgmt-port", "http-mgmt-interface", "http-mgmt-auth",
		"http-access", "http-mgmt-tls-certificate", "http-inject",
		/* the SNMP agent (ternd binds the port) */
		"snmp-port", "snmp-interface", "snmp-community",
		/* <cluster>: queued (ternd reads the password file) */
		"cluster", "redis", "node-name", "redis-password-file",
		"key-prefix", "lease-time", "heartbeat-interval",
		"redis-timeout", NULL,
	};
	const struct cfg_directive *t, *d;
	size_t n, i, k;
	int listed;

	t = cfg_directive_table(&n);
	for (i = 0; i < n; i++) {
		d = &t[i];
		if (d->alias_of != NULL)
			continue;
		for (listed = 0, k = 0; used[k] != NULL; k++)
			if (strcmp(used[k], d->name) == 0)
				listed = 1;
		/* domain, source: only the block is used, not the line of
		 * the same name (an address-list entry; a named source in
		 * <smtp-user> or <smtp-listener>).  The other lines that
		 * share a block's name are acted on: virtual-mta (a
		 * <source>'s VMTA, a pool member), source-pool,
		 * source-group and smtp-pattern-list (which block
		 * applies). */
		if (d->type != CT_BLOCK && (strcmp(d->name, "domain") == 0 ||
		    strcmp(d->name, "source") == 0))
			listed = 0;
		if ((d->used_by != 0) != listed)
			fail_msg("%s: used_by %#x", d->name, d->used_by);
	}
}

static void
test_table_has_seed_and_reference_names(void **state)
{
	static const char *names[] = {
		/* Seeds. */
		"bind-to-source-ip", "max-smtp-out-per-ip", "smtp-pipeline-depth",
		"delivery-interval", "resolve-to", "require-rdns", "tls",
		"spf-identity", "bounce-domain", "local", "mailbox-command",
		"log-domain", "log-entries", "accounting-log",
		"log-format-extended", "bounce-log", "bounce-category-log",
		"permanent-bounce-after", "queue-shards", "memory-pool-max",
		"spool-buffer-size", "adaptive-max-smtp-out",
		"adaptive-soft-bounce-limit", "adaptive-backoff-interval",
		"source-pool", "random-ip", "dns-rotate", "accepted-connect",
		"allow-submission", "require-auth", "auth-plain", "max-smtp-in",
		"queue-interval", "max-delivery-attempts", "max-queue-size",
		"snmp-port", "snmp-community", "smtp-port", "source",
		"dns-timeout", "http-mgmt-port", "http-mgmt-interface",
		"http-mgmt-auth", "dkim-sign", "domain-key", "use-starttls",
		"virtual-mta", "max-conn-rate", "expire-after",
		"process-x-remote-mta-ip", "always-use-mx",
		/* §2.14 names. */
		"mx-rollup", "accounting-log-file", "smtp-source-ip",
		"max-message-rate", "enable-starttls", "dkim-key", "run-as-user",
		"run-as-group", "http-listener", "max-rcpt-rate", "require-tls",
		"smtp-auth-username", "process-x-sender", "retry-errors",
		"max-retries", "pid-file", "remove-received-headers",
		"sync-msg-create", "sync-msg-update", "dk-sign", "log-messages",
		"mx-connection-attempts", "smtp-multiple-line-response-timeout",
		"smtp-client-certificate", "retry-after-dns-error",
		"smtp-proxy-source-host",
		/* A sample of the reference tables. */
		"total-max-smtp-out", "smtp-server-tls-allow-tlsv1.2",
		"http-strict-transport-security-max-age", "smtp-service",
		"check-iprev-inbound", "authentication-method", "reserved-smtp-in",
		"immediate-tls", "source-ip-max-data-volume-rate",
		"max-cold-virtual-mta-msg", "bounce-upon-pix-transfer-failure",
		"backoff-reroute-to-virtual-mta", "http-delivery-extra-headers",
		"second-dkim-query-method", "max-smtp-data-volume-rate",
		"cold-virtual-mta", "map-header-to-field", "count-moved-records",
		"delete-file-holders", "body-pattern-file", "precached-max-domains",
		"process-x-sp-subaccount-id", "sender-or-from",
		"transmissions-api-listener", "signals-filter", "mx-rollup-list",
		"bounce-category-patterns", "smtp-pattern-list", "pattern-list",
		"domain-key-list", "feedback-loop-processor", "rewrite-list",
		NULL,
	};
	size_t i;

	for (i = 0; names[i] != NULL; i++)
		if (cfg_directive_find(names[i]) == NULL)
			fail_msg("missing %s", names[i]);
	assert_string_equal(cfg_directive_canon(
	    cfg_directive_find("max-conn-rate"))->name, "max-connect-rate");
	assert_string_equal(cfg_directive_canon(cfg_directive_lookup("source",
	    CFG_S_VMTA, 0))->name, "smtp-source-host");
	assert_string_equal(cfg_directive_lookup("source", CFG_S_LISTENER,
	    0)->name, "source");
	assert_int_equal(cfg_directive_lookup("source", CFG_S_GLOBAL, 1)->type,
	    CT_BLOCK);
	assert_null(cfg_directive_lookup("source", CFG_S_GLOBAL, 0));
	assert_null(cfg_directive_lookup("records", CFG_S_GLOBAL, -1));
	assert_string_equal(cfg_type_name(CT_RATE), "rate");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_consistent),
		cmocka_unit_test(test_table_used_by),
		cmocka_unit_test(test_table_has_seed_and_reference_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
