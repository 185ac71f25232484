/*
 * cfg_directives.c - the directive table.
 *
 * Every PowerMTA v5 directive (shared/reference/powermta.md §2), every
 * directive the seed guides use, and Tern's own.  Seed names that mean
 * the same as a real directive are aliases: the tree stores the real
 * (canonical) name and remembers the one written, so code asking for
 * "bounce-after" also sees "permanent-bounce-after 7d".  Aliases are
 * validated with their canonical entry, whose syntax therefore accepts
 * both forms (e.g. smtp-source-host takes "IP [HOSTNAME]").
 *
 * used_by says which daemon acts on a directive today.  It is 0 for most
 * of them: they are accepted so that a PowerMTA config loads, and the
 * parser warns that they are not acted on yet.  Keep it honest.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfg.h"

/* Scopes. */
#define G	CFG_S_GLOBAL
#define SRC	CFG_S_SOURCE
#define DOM	CFG_S_DOMAIN
#define VM	CFG_S_VMTA
#define PL	CFG_S_POOL
#define ACCT	CFG_S_ACCT
#define SPL	CFG_S_SPOOL
#define LSN	CFG_S_LISTENER
#define PAT	CFG_S_PATTERNS
#define USR	CFG_S_SMTPUSER
#define SP	CFG_S_SRCPOOL
#define OTH	CFG_S_OTHER
#define MXR	CFG_S_MXROLLUP
#define GRP	CFG_S_SRCGROUP
#define EVT	CFG_S_EVENTS
/* Queue (domain) settings: in <domain> blocks, and as defaults directly
 * in a VMTA, a pool or at global level (see cfg_domain_setting()). */
#define Q	(G | DOM | VM | PL)
/* TLS settings of listeners and the HTTPS listener of the API. */
#define TLS	(LSN | USR | OTH)

/* Daemons. */
#define TERND	CFG_USE_TERND
#define SMTPD	CFG_USE_SMTPD
#define QUEUED	CFG_USE_QUEUED
#define DLVD	CFG_USE_DELIVERD
#define BNCD	CFG_USE_BOUNCED
#define MGMTD	CFG_USE_MGMTD

/* Entry builders (designated initializers, so fields may be added). */
#define D(n, t, s, u, d, h) \
	.name = (n), .type = (t), .scopes = (s), .used_by = (u), \
	.defval = (d), .help = (h)
#define R			.repeatable = 1
#define EN(e)			.enums = (e)
#define A(n, of, s) \
	.name = (n), .alias_of = (of), .type = CT_ANY, .scopes = (s), \
	.help = "alias of " of
#define B(n, s, bs, u, at, h) \
	.name = (n), .type = CT_BLOCK, .scopes = (s), .block_scope = (bs), \
	.used_by = (u), .arg_type = (at), .help = (h)
#define NEEDARG			.needs_arg = 1
#define NOARG			.noarg = 1
#define MAXA(n)			.maxargs = (n)
/* Accepted in these scopes too, but acted on only in the others. */
#define IDLE(s, why)		.idle_scopes = (s), .idle_why = (why)
#define BOOLWORDS		"yes|no|true|false|on|off"

static const struct cfg_directive cfg_directives[] = {
	/*
	 * Blocks.
	 */
	{ B("source", G, SRC, SMTPD, CT_ANY,
	    "<source CIDR|NAME>: inbound policy for matching clients"), NEEDARG, R },
	{ B("accepted-connect", G, SRC, SMTPD, CT_CIDR,
	    "<accepted-connect CIDR>: seed name for an IP-matched <source>"), NEEDARG, R },
	{ B("smtp-user", G, USR, SMTPD, CT_STRING,
	    "<smtp-user NAME>: an account for inbound SMTP AUTH"), NEEDARG, R },
	{ B("source-group", G, GRP, SMTPD, CT_STRING,
	    "<source-group NAME>: shared inbound limits"), NEEDARG, R },
	{ B("smtp-listener", G, LSN, TERND, CT_LISTEN,
	    "IP:PORT [source=NAME]: an inbound SMTP listener (line or block)"),
	    NEEDARG, R, .inline_ok = 1, MAXA(2) },
	{ B("domain", G | VM | PL, DOM, QUEUED | DLVD, CT_STRING,
	    "<domain PATTERN>: queue and delivery settings for recipient domains"),
	    NEEDARG, R },
	{ B("virtual-mta", G, VM, QUEUED | DLVD, CT_STRING,
	    "<virtual-mta NAME>: a sending identity (source IPs, host name)"),
	    NEEDARG, R },
	{ B("virtual-mta-pool", G, PL, SMTPD | QUEUED | DLVD | MGMTD, CT_STRING,
	    "<virtual-mta-pool NAME>: VMTAs used round robin"), NEEDARG, R },
	{ B("acct-file", G, ACCT, BNCD, CT_STRING,
	    "<acct-file PATH|\"|COMMAND\">: an accounting CSV file or pipe"),
	    NEEDARG, R },
	{ B("acct-amqp", G, EVT, TERND | BNCD, CT_STRING,
	    "<acct-amqp NAME>: accounting records to a RabbitMQ exchange"),
	    NEEDARG, R },
	{ B("acct-webhook", G, EVT, TERND | BNCD, CT_STRING,
	    "<acct-webhook NAME>: accounting records as batched JSON POSTs"),
	    NEEDARG, R },
	{ B("spool", G, SPL, TERND | QUEUED, CT_DIR,
	    "DIR: a spool directory (line or block)"),
	    NEEDARG, R, .inline_ok = 1, MAXA(1) },
	{ B("pattern-list", G | PAT, PAT, 0, CT_STRING,
	    "<pattern-list NAME>: VMTA and priority selection rules"), R },
	{ B("smtp-pattern-list", G, PAT, DLVD, CT_STRING,
	    "<smtp-pattern-list NAME>: actions on remote replies (backoff mode)"),
	    NEEDARG, R },
	{ B("bounce-category-patterns", G, PAT, BNCD, CT_STRING,
	    "<bounce-category-patterns>: /REGEX/ CATEGORY lines"), NOARG },
	{ B("mx-rollup-list", G, MXR, DLVD, CT_STRING,
	    "<mx-rollup-list>: group queues by MX host"), R },
	{ B("source-pool", G, SP, QUEUED | DLVD, CT_CIDR,
	    "<source-pool CIDR>: seed name for a range of source IPs"), NEEDARG, R },
	{ B("bounce-processor", G, OTH, QUEUED, CT_STRING,
	    "<bounce-processor>: recognise inbound bounces"), NOARG },
	{ B("feedback-loop-processor", G, OTH, QUEUED, CT_STRING,
	    "<feedback-loop-processor>: parse ARF/JMRP reports"), NOARG },
	{ B("address-list", G | OTH, OTH, 0, CT_STRING,
	    "<address-list [NAME]>: addresses, domains and patterns"), R },
	{ B("email-patterns", OTH, OTH, 0, CT_STRING,
	    "<email-patterns>: patterns for non-standard reports"), R },
	{ B("aliases", G, OTH, 0, CT_STRING,
	    "<aliases>: address forwarding"), NOARG },
	{ B("rewrite-list", G, OTH, 0, CT_STRING,
	    "<rewrite-list NAME>: envelope sender and From: domain rewriting"),
	    NEEDARG, R },
	{ B("domain-key-list", G, OTH, TERND | DLVD, CT_STRING,
	    "<domain-key-list NAME>: a named set of DKIM keys"), NEEDARG, R },
	{ B("dns", G, OTH, 0, CT_STRING,
	    "<dns>: DNS precaching"), NOARG },
	{ B("proxy", G, OTH, 0, CT_STRING,
	    "<proxy NAME>: an outbound HAProxy-protocol proxy"), NEEDARG, R },
	{ B("transmissions-api", G, OTH, 0, CT_STRING,
	    "<transmissions-api>: the HTTP injection API"), NOARG },
	{ B("transmissions-api-listener", G, OTH, 0, CT_LISTEN,
	    "<transmissions-api-listener IP:PORT>: HTTPS listener of the API"),
	    NEEDARG, R },
	{ B("signals", G, OTH, 0, CT_STRING,
	    "<signals>: SparkPost Signals upload"), NOARG },
	{ B("sparkpost-analytics", G, OTH, 0, CT_STRING,
	    "old name of <signals>"), NOARG },
	{ B("signals-filter", G, OTH, 0, CT_STRING,
	    "<signals-filter NAME>: Signals per sending domain"), NEEDARG, R },
	{ B("cluster", G, CFG_S_CLUSTER, QUEUED | BNCD, CT_STRING,
	    "<cluster>: shared limits across nodes, in Redis"), NOARG },

	/*
	 * Tern's own.
	 */
	{ D("deliverd-processes", CT_INT, G, TERND, "0",
	    "number of deliverd workers, 0 = one per CPU") },
	{ D("control-socket", CT_STRING, G, TERND | MGMTD, "control.sock",
	    "path of the control socket of the tern command") },
	{ D("run-as-user", CT_STRING, G, TERND, "_tern",
	    "unprivileged user of smtpd, deliverd, bounced and mgmtd") },
	{ D("queue-user", CT_STRING, G, TERND, "_ternq",
	    "unprivileged user of queued (owns the spool)") },
	{ D("chroot-dir", CT_STRING, G, TERND, "/var/empty/tern",
	    "empty directory the unprivileged daemons chroot into") },

	/*
	 * Global (§2.2).
	 */
	{ D("postmaster", CT_EMAIL, G, 0, NULL,
	    "administrator address"), R },
	{ D("host-name", CT_STRING, G | VM | PL | SP, SMTPD | DLVD | MGMTD, NULL,
	    "local host name, used in the greeting and EHLO"), R },
	{ D("host-id", CT_INT, G, 0, "0", "number mixed into Message-IDs") },
	{ D("domain-suffix", CT_STRING, G, 0, NULL,
	    "domain appended to unqualified addresses") },
	{ D("name-server", CT_HOSTPORT, G, DLVD | SMTPD, NULL,
	    "recursive DNS server (several: round robin)"), R },
	{ D("smtp-ip", CT_STRING, G, 0, NULL, "old listener form (deprecated)") },
	{ D("smtp-port", CT_INT, Q, TERND | DLVD, NULL,
	    "global: port of the implicit listener; in <domain>: destination port") },
	{ D("smtp-source-host", CT_ANY, G | VM | PL | SP, DLVD, NULL,
	    "IP|CIDR [HOSTNAME]: outbound source address and EHLO name"), R, MAXA(2) },
	{ D("total-max-smtp-out", CT_INT, G, QUEUED, "1200",
	    "global outbound connection ceiling") },
	{ D("total-max-smtp-in", CT_INT, G, SMTPD, "100",
	    "global inbound connection ceiling") },
	{ D("smtp-await-slot", CT_BOOL, G, 0, "false",
	    "wait for a free inbound slot instead of answering 421") },
	{ D("spool-delete-corrupted", CT_BOOL, G, 0, "false",
	    "delete corrupt spool files") },
	{ D("spool-min-free-space", CT_INT, G, 0, "0",
	    "stop accepting below N MB free (deprecated)") },
	{ D("spool-segment-size", CT_SIZE, G, QUEUED, "64M",
	    "start a new spool log segment past this size (Tern)") },
	{ D("spool-max-recipients", CT_INT, G, QUEUED, "auto",
	    "cap on queued recipients, N or auto"), EN("auto") },
	{ D("refuse-connect-when-spool-full", CT_BOOL, G | SRC, SMTPD, "false",
	    "greet with 421 4.3.2 while the spool is full (Tern)") },
	{ D("run-as-root", CT_BOOL, G, 0, "true", "run as root (PowerMTA)") },
	{ D("alias", CT_ANY, G | OTH, 0, NULL,
	    "SOURCE TARGET[,TARGET]: forward mail for an address"), R },
	{ D("custom-dsn-from-header", CT_STRING, G, 0, NULL,
	    "From: header of generated DSNs") },
	{ D("smtp-server-tls-certificate", CT_PATH, G, TERND | SMTPD, NULL,
	    "FILE [PASSWORD]: certificate and key for inbound STARTTLS"), MAXA(2) },
	{ D("smtp-server-tls-ca-file", CT_PATH, G, 0, NULL,
	    "CA bundle to verify client certificates") },
	{ D("smtp-server-tls-allow-sslv3", CT_BOOL, G, 0, "false", "inbound SSLv3") },
	{ D("smtp-server-tls-allow-tlsv1", CT_BOOL, G, 0, "false", "inbound TLS 1.0") },
	{ D("smtp-server-tls-allow-tlsv1.1", CT_BOOL, G, 0, "true", "inbound TLS 1.1") },
	{ D("smtp-server-tls-allow-tlsv1.2", CT_BOOL, G, SMTPD, "true",
	    "inbound TLS 1.2") },
	{ D("smtp-server-tls-allow-tlsv1.3", CT_BOOL, G, SMTPD, "true",
	    "inbound TLS 1.3 (Tern)") },
	{ D("smtp-server-tls-ciphers", CT_STRING, G, SMTPD,
	    "HIGH:!ADH:@STRENGTH",
	    "inbound OpenSSL cipher list") },
	{ D("thread-min-priority", CT_INT, G, 0, "15", "thread nice range") },
	{ D("thread-max-priority", CT_INT, G, 0, "0", "thread nice range") },
	{ D("thread-reuse", CT_BOOL, G, 0, "true", "keep idle threads") },
	{ D("mailmerge-expands-undefined-variables", CT_BOOL, G, 0, "true",
	    "undefined [var] expands to nothing") },
	{ D("pmc-acct-min-free-space", CT_SIZE, G, 0, "unlimited",
	    "disk floor for Management Console buffers") },
	{ D("include", CT_STRING, G | SRC | DOM | VM | PL | PAT, TERND, NULL,
	    "read another file (glob pattern, relative to this file)"), R },
	{ D("always-allow-relaying", CT_BOOL, G | SRC, SMTPD, "false",
	    "accept mail for any domain from this source") },
	{ D("relay-domain", CT_STRING, G, SMTPD, NULL,
	    "accept mail for this domain pattern from anyone"), R },
	{ D("relay-address", CT_STRING, G, 0, NULL,
	    "accept mail for this address or /regex/ from anyone"), R },
	{ D("relay-debug", CT_BOOL, G, 0, "false",
	    "reject unauthorized relaying with 4xx") },
	{ D("domain-key", CT_ANY, G | VM | PL | OTH, TERND | DLVD, NULL,
	    "SELECTOR,DOMAIN|*,FILE: a DKIM signing key"), R },
	{ D("invalid-virtual-mta-fallback", CT_STRING, G, 0, NULL,
	    "VMTA used when an unknown one is selected") },
	{ D("include-headers-from", CT_PATH, G | VM | PL, 0, NULL,
	    "file of headers to insert") },
	{ D("domain-macro", CT_ANY, G, 0, NULL,
	    "NAME LIST: defines $NAME for <domain> patterns"), R },
	{ D("pickup", CT_ANY, G, 0, NULL, "PICKUP-DIR BADMAIL-DIR"), MAXA(2) },
	{ D("pickup-retry-interval", CT_ANY, G, 0, NULL, "deprecated") },
	{ D("pickup-remove-dot", CT_BOOL, G, 0, "false",
	    "undo dot-stuffing in pickup files") },
	{ D("dummy-smtp-ip", CT_STRING, G, 0, NULL, "blackhole SMTP server address") },
	{ D("dummy-smtp-port", CT_INT, G, 0, "0", "blackhole SMTP server port") },
	{ D("dummy-smtp-await-slot", CT_BOOL, G, 0, "false", "blackhole server") },
	{ D("dummy-smtp-has-chunking", CT_BOOL, G, 0, "false", "blackhole server") },
	{ D("dummy-smtp-has-pipelining", CT_BOOL, G, 0, "false", "blackhole server") },
	{ D("dummy-smtp-has-verp", CT_BOOL, G, 0, "false", "blackhole server") },
	{ D("dummy-smtp-latency", CT_INT, G, 0, "0", "blackhole latency (ms)") },
	{ D("dummy-smtp-update-stats", CT_BOOL, G, 0, "true",
	    "count blackhole traffic") },
	{ D("http-mgmt-port", CT_INT, G, TERND | MGMTD, "8080",
	    "port of the HTTP management interface (off unless set; 0 = off)") },
	{ D("http-mgmt-interface", CT_STRING, G, TERND | MGMTD, "127.0.0.1",
	    "address the HTTP management interface listens on") },
	{ D("http-mgmt-auth", CT_PATH, G, TERND | MGMTD, NULL,
	    "htpasswd file for the HTTP management interface") },
	{ D("http-mgmt-tls-certificate", CT_PATH, G, TERND | MGMTD, NULL,
	    "PEM certificate chain and key: HTTPS on http-mgmt-port "
	    "(not a PowerMTA directive; pmta uses webmon.pem)") },
	{ D("http-redirect-to-https", CT_BOOL, G, 0, "true", "force HTTPS") },
	{ D("http-inject", CT_BOOL, G, MGMTD, "false",
	    "POST /api/v1/inject queues mail over HTTP (operator access; "
	    "Tern's own)") },
	{ D("http-access", CT_ANY, G, MGMTD, NULL,
	    "CIDR LEVEL: web monitor access (monitor, operator, admin, none)"), R },
	{ D("http-csrf-protection", CT_BOOL, G, 0, "true", "CSRF protection") },
	{ D("http-api-key", CT_STRING, G, 0, NULL, "API key with admin access"), R },
	{ D("http-strict-transport-security-max-age", CT_INT, G, 0, "0",
	    "HSTS max-age") },
	{ D("http-mgmt-source", CT_ANY, G, 0, NULL, "old ACL (deprecated)"), R },
	{ D("no-http-mgmt-source", CT_ANY, G, 0, NULL, "old ACL (deprecated)"), R },
	{ D("http-tls-allow-sslv3", CT_BOOL, G, 0, "false", "monitor SSLv3") },
	{ D("http-tls-allow-tlsv1", CT_BOOL, G, 0, "false", "monitor TLS 1.0") },
	{ D("http-tls-allow-tlsv1.1", CT_BOOL, G, 0, "true", "monitor TLS 1.1") },
	{ D("http-tls-allow-tlsv1.2", CT_BOOL, G, 0, "true", "monitor TLS 1.2") },
	{ D("http-tls-ciphers", CT_STRING, G, 0, "HIGH:!ADH:@STRENGTH",
	    "monitor ciphers") },
	{ D("http-tls-ca-file", CT_PATH, G, 0, NULL, "monitor CA bundle") },
	{ D("http-log-tls", CT_BOOL, G, 0, "false", "monitor logging") },
	{ D("http-log-data", CT_BOOL, G, 0, "false", "monitor logging") },
	{ D("http-log-requests", CT_BOOL, G, 0, "false", "monitor logging") },
	{ D("http-default-max-items", CT_INT, G, 0, "10", "rows in Top pages") },
	{ D("http-default-sort-order", CT_ENUM, G, 0, "rcpt",
	    "sorting of Top pages"), EN("rcpt|name|size") },
	{ D("log-file", CT_STRING, G, TERND, NULL,
	    "every daemon's log lines (else syslog, or stderr with -d)") },
	{ D("log-rotate", CT_INT, G, TERND, "8",
	    "log files kept by tern rotate log") },
	{ D("log-auto-rotation", CT_BOOL, G, 0, "true", "rotate at midnight") },
	{ D("log-file-world-readable", CT_BOOL, G, 0, "false", "log permissions") },
	{ D("mx-connection-limit", CT_ANY, G, 0, NULL,
	    "MX-PATTERN N: connections per MX host"), R, MAXA(2) },
	{ D("ip-connection-limit", CT_ANY, G, 0, NULL,
	    "CIDR N: connections per destination IP"), R, MAXA(2) },
	{ D("use-proxy", CT_STRING, G | VM | PL, 0, NULL,
	    "PROXY[,PROXY]: outbound HAProxy-protocol proxies") },
	{ D("enable-signals", CT_STRING, G | VM | PL, 0, NULL,
	    "SparkPost Signals upload") },
	{ D("sync-msg-create", CT_BOOL, G, 0, "false", "fsync new spool files") },
	{ D("sync-msg-update", CT_BOOL, G, 0, "false", "fsync spool updates") },
	{ D("pid-file", CT_STRING, G, 0, NULL, "pid file (unverified PowerMTA)") },
	{ D("smtp-proxy-source-host", CT_ANY, G | VM | PL, 0, NULL,
	    "source host through a proxy"), R },

	/*
	 * Seed directives with no PowerMTA equivalent to alias to (§2.14).
	 */
	{ D("queue-shards", CT_INT, G, 0, NULL, "spool shards") },
	{ D("memory-pool-max", CT_SIZE, G, 0, NULL, "memory pool ceiling") },
	{ D("spool-buffer-size", CT_SIZE, G, 0, NULL, "spool write buffer") },
	{ D("snmp-port", CT_INT, G, TERND, NULL,
	    "UDP port of the SNMP agent (v2c, read only); off unless set") },
	{ D("snmp-interface", CT_STRING, G, TERND, "127.0.0.1",
	    "address the SNMP agent listens on") },
	{ D("snmp-community", CT_STRING, G, MGMTD, NULL,
	    "a community the SNMP agent answers (repeat for more); "
	    "without one it answers nobody"), R },
	{ D("max-smtp-in", CT_INT, G | GRP | SRC, SMTPD, "unlimited",
	    "inbound connections (global: per client IP; group; source)"),
	    EN("unlimited") },
	{ D("queue-interval", CT_TIME, Q, QUEUED, NULL,
	    "floor of the retry-after times (seed)") },
	{ D("max-delivery-attempts", CT_INT, Q, QUEUED, NULL,
	    "bounce after this many attempts") },
	{ D("max-queue-size", CT_INT, G, QUEUED, "unlimited",
	    "queued messages before submissions get 452"), EN("unlimited") },
	{ D("dns-timeout", CT_TIME, Q, DLVD | SMTPD, NULL, "DNS query timeout") },
	{ D("dns-rotate", CT_BOOL, G | VM | PL, DLVD, "false",
	    "spread DNS queries over the name servers") },
	{ D("adaptive-max-smtp-out", CT_BOOL, Q, DLVD, "false",
	    "fewer connections while soft bounces come in") },
	{ D("adaptive-soft-bounce-limit", CT_INT, Q, DLVD, NULL,
	    "soft bounces per minute that trigger adaptive backoff") },
	{ D("adaptive-backoff-interval", CT_TIME, Q, DLVD, NULL,
	    "how long adaptive backoff lasts") },
	{ D("source-pool", CT_CIDR, VM | PL, DLVD, NULL,
	    "CIDR: send from the addresses of a <source-pool>") },
	{ D("random-ip", CT_BOOL, SP | VM | PL, DLVD, "false",
	    "pick a random source address") },
	{ D("log-format-extended", CT_ANY, G | VM | PL, BNCD, NULL,
	    "FILE FORMAT: a delivery log with % fields"), R, MAXA(2) },
	{ D("bounce-log", CT_STRING, Q, BNCD, NULL, "bounce log file") },
	{ D("bounce-category-log", CT_STRING, Q, BNCD, NULL,
	    "bounce category log file") },
	{ D("accounting-log", CT_STRING, Q, BNCD, NULL,
	    "accounting CSV file (simple form of <acct-file>)") },
	{ D("log-domain", CT_STRING, G | SRC | DOM | VM | PL, BNCD, NULL,
	    "per-domain log file, %d = domain") },
	{ D("log-entries", CT_BOOL, Q, BNCD, "false", "log entries for the domain") },
	{ D("local", CT_BOOL, DOM, DLVD, "false", "deliver locally") },
	{ D("mailbox-command", CT_STRING, DOM, DLVD, NULL,
	    "program for local delivery") },
	{ D("bounce-domain", CT_STRING, Q, SMTPD | QUEUED, NULL,
	    "domain of VERP bounces") },
	{ D("spf-identity", CT_ENUM, Q, 0, NULL, "identity checked by SPF"),
	    EN("mfrom|helo|pra") },
	{ D("tls", CT_ENUM, Q, DLVD, NULL, "TLS policy: required, if-available, no"),
	    EN("required|if-available|optional|" BOOLWORDS) },
	{ D("resolve-to", CT_HOSTPORT, Q, DLVD, NULL,
	    "deliver to this host instead of the MX") },
	{ D("require-rdns", CT_BOOL, Q | SRC, SMTPD, "false",
	    "require reverse DNS of inbound clients") },
	{ D("smtp-pipeline-depth", CT_INT, Q, DLVD, NULL,
	    "commands in flight when pipelining") },
	{ D("delivery-interval", CT_TIME, Q, DLVD, NULL,
	    "minimum time between connection attempts") },
	{ D("allow-submission", CT_BOOL, SRC, SMTPD, "false",
	    "accept messages from this source") },
	{ D("auth-plain", CT_PATH, SRC, TERND | SMTPD, NULL,
	    "password file (htpasswd, crypt hashes) for SMTP AUTH") },
	{ D("process-x-remote-mta-ip", CT_BOOL, SRC, SMTPD, "false",
	    "X-Remote-MTA-IP: the client address recorded (seed)") },
	{ D("always-use-mx", CT_BOOL, SRC | Q, DLVD, "false",
	    "always route by MX (seed)"),
	    IDLE(SRC, "mail is routed per queue (recipient domain and "
	    "virtual-mta), whichever source sent it: put it in <domain> or "
	    "<virtual-mta>") },
	{ D("mx-rollup", CT_ANY, Q, 0, NULL,
	    "not a PowerMTA directive; see <mx-rollup-list>") },
	{ D("dkim-key", CT_ANY, Q, 0, NULL,
	    "not a PowerMTA directive; see domain-key"), R },
	{ D("run-as-group", CT_STRING, G, 0, NULL, "not a PowerMTA directive") },
	{ D("http-listener", CT_HOSTPORT, G, 0, NULL,
	    "not a PowerMTA directive; see http-mgmt-port") },
	{ D("process-x-sender", CT_BOOL, SRC, 0, "false",
	    "not a PowerMTA directive") },
	{ D("retry-errors", CT_ANY, Q, 0, NULL, "not a PowerMTA directive") },

	/* Seed and invented names with a real equivalent. */
	{ A("bind-to-source-ip", "smtp-source-host", G | VM | PL | SP), R },
	{ A("smtp-source-ip", "smtp-source-host", G | VM | PL), R },
	{ A("source", "smtp-source-host", VM | PL | SP), R },
	{ A("max-smtp-out-per-ip", "source-ip-max-smtp-out", Q), R },
	{ A("max-smtp-out-per-source-ip", "source-ip-max-smtp-out", Q), R },
	{ A("permanent-bounce-after", "bounce-after", Q) },
	{ A("expire-after", "bounce-after", Q) },
	{ A("max-conn-rate", "max-connect-rate", Q) },
	{ A("max-message-rate", "max-msg-rate", Q) },
	{ A("max-rcpt-rate", "max-msg-rate", Q) },
	{ A("enable-starttls", "use-starttls", Q | SRC) },
	{ A("require-tls", "require-starttls", Q) },
	{ A("smtp-auth-username", "auth-username", Q) },
	{ A("max-retries", "max-delivery-attempts", Q) },
	{ A("accounting-log-file", "accounting-log", Q) },
	{ A("delivery-priority", "queue-priority", Q) },

	/*
	 * <source> (§2.3).
	 */
	{ D("smtp-service", CT_BOOL, SRC, SMTPD, "true", "accept SMTP from this source") },
	{ D("always-allow-api-submission", CT_BOOL, SRC, 0, "false",
	    "allow the submission API extensions") },
	{ D("allow-mailmerge", CT_BOOL, SRC, 0, "false", "permit XMRG/XDFN/XPRT") },
	{ D("require-auth", CT_BOOL, SRC, SMTPD, "false", "require SMTP AUTH") },
	{ D("allow-auth", CT_BOOL, SRC, SMTPD, "true", "offer SMTP AUTH") },
	{ D("allow-unencrypted-plain-auth", CT_BOOL, SRC, SMTPD, "false",
	    "PLAIN/LOGIN without TLS") },
	{ D("allow-starttls", CT_BOOL, SRC, SMTPD, "true",
	    "offer STARTTLS (when smtp-server-tls-certificate is set)") },
	{ D("require-starttls-before-auth", CT_BOOL, SRC, 0, "false",
	    "AUTH only after STARTTLS") },
	{ D("smtp-max-auth-failure-rate", CT_RATE, SRC, SMTPD, "unlimited",
	    "lock out after failed AUTHs") },
	{ D("broken-auth-clients", CT_ANY, SRC, 0, NULL, "deprecated") },
	{ D("allow-chunking", CT_BOOL, SRC, SMTPD, "true", "offer CHUNKING") },
	{ D("allow-smtputf8", CT_BOOL, SRC, 0, "true", "offer SMTPUTF8") },
	{ D("max-message-size", CT_SIZE, Q | SRC, SMTPD | DLVD, "unlimited",
	    "largest message accepted (0 or unlimited: no limit)") },
	{ D("max-message-hops", CT_INT, SRC, 0, "100", "max Received: headers") },
	{ D("max-rcpt-per-message", CT_INT, SRC | Q, DLVD, "0",
	    "recipients per message, 0 or unlimited = no limit"), EN("unlimited") },
	{ D("too-many-rcpts-fails-message", CT_BOOL, SRC, 0, "false",
	    "fail DATA instead of RCPTs") },
	{ D("accept-invalid-recipients", CT_BOOL, SRC, 0, "false",
	    "accept and bounce later") },
	{ D("suppression-lists", CT_STRING, SRC, 0, NULL, "LIST[,LIST]") },
	{ D("suppression-action", CT_ENUM, SRC, SMTPD, "bounce",
	    "suppressed recipient: b row (bounce) or 550 at RCPT (reject)"),
	    EN("bounce|reject") },
	{ D("pattern-list", CT_STRING, SRC, 0, NULL, "<pattern-list> to apply") },
	{ D("default-virtual-mta", CT_STRING, SRC, SMTPD, NULL,
	    "VMTA or pool when nothing else selects one") },
	{ D("virtual-mta", CT_STRING, SRC | PL, SMTPD | QUEUED, NULL,
	    "in <source>: VMTA for its mail; in a pool: a member"), R },
	{ D("reject-invalid-virtual-mta", CT_BOOL, SRC, SMTPD, "true",
	    "reject an unknown VMTA") },
	{ D("allow-empty-x-virtual-mta", CT_BOOL, SRC, 0, "false", "X-Virtual-MTA") },
	{ D("process-x-virtual-mta", CT_BOOL, SRC, SMTPD, "false", "X-Virtual-MTA") },
	{ D("retain-x-virtual-mta", CT_BOOL, SRC, 0, "false", "X-Virtual-MTA") },
	{ D("add-x-virtual-mta-header", CT_BOOL, SRC, 0, "false", "X-Virtual-MTA") },
	{ D("process-x-job", CT_BOOL, SRC, SMTPD, "false", "X-Job") },
	{ D("retain-x-job", CT_BOOL, SRC, 0, "false", "X-Job") },
	{ D("jobid-header", CT_STRING, SRC, 0, NULL, "header with the job id") },
	{ D("jobid-prefix", CT_STRING, SRC, 0, NULL, "prefix of job ids") },
	{ D("process-x-envid", CT_BOOL, SRC, SMTPD, "false", "X-EnvId") },
	{ D("process-x-dkim-options", CT_BOOL, SRC, 0, "false", "X-DKIM-Options") },
	{ D("retain-x-dkim-options", CT_BOOL, SRC, 0, "false", "X-DKIM-Options") },
	{ D("process-x-dkim-key", CT_BOOL, SRC, 0, "false", "X-DKIM-Key") },
	{ D("retain-x-dkim-key", CT_BOOL, SRC, 0, "false", "X-DKIM-Key") },
	{ D("process-x-schedule", CT_BOOL, SRC, 0, "false", "X-Schedule") },
	{ D("retain-x-schedule", CT_BOOL, SRC, 0, "false", "X-Schedule") },
	{ D("verp-default", CT_BOOL, SRC, QUEUED, "no", "VERP every message") },
	{ D("dsn-return-default", CT_ENUM, SRC, 0, "system", "default DSN RET"),
	    EN("headers|full|system") },
	{ D("suppress-local-dsn", CT_BOOL, SRC, 0, "false", "no DSN mails") },
	{ D("add-received-header", CT_BOOL, SRC, 0, "true", "add Received:") },
	{ D("hide-message-source", CT_BOOL, SRC, 0, "false",
	    "omit the client in Received:") },
	{ D("add-date-header", CT_ENUM, SRC, SMTPD, "no", "add Date:"),
	    EN("no|yes|override") },
	{ D("date-header-time", CT_ENUM, SRC, 0, "reception", "time of Date:"),
	    EN("reception|delivery") },
	{ D("add-message-id-header", CT_BOOL, SRC, SMTPD, "false", "add Message-ID:") },
	{ D("remove-header", CT_STRING, SRC | Q, 0, NULL, "H1,H2: strip headers") },
	{ D("bcc", CT_EMAIL, SRC, 0, NULL, "BCC every message") },
	{ D("auto-qualify-domain", CT_BOOL, SRC, 0, "true",
	    "append domain-suffix") },
	{ D("disconnect-on-transient-error", CT_BOOL, SRC, 0, "false",
	    "drop the connection instead of 4xx") },
	{ D("smtp-data-timeout", CT_TIME, SRC, SMTPD, "10m", "inbound data timeout") },
	{ D("smtp-command-timeout", CT_TIME, SRC, SMTPD, "10m",
	    "inbound command timeout") },
	{ D("source-group", CT_STRING, SRC, SMTPD, NULL, "join a <source-group>") },
	{ D("log-connections", CT_BOOL, SRC | Q, 0, "false", "log connections") },
	{ D("log-commands", CT_BOOL, SRC | Q, 0, "false", "log SMTP dialogue") },
	{ D("log-data", CT_BOOL, SRC | Q | OTH, 0, "false", "log every byte") },
	{ D("log-tls", CT_BOOL, SRC | Q | OTH, 0, "false", "log TLS") },
	{ D("check-spf-inbound", CT_BOOL, SRC, 0, "false", "SPF-check clients") },
	{ D("check-spf-inbound-max-void-lookups", CT_INT, SRC, 0, "2",
	    "SPF void lookups") },
	{ D("check-spf-inbound-best-guess", CT_ANY, SRC, 0, NULL, "deprecated") },
	{ D("reject-spf-check-temperror", CT_BOOL, SRC, 0, "true", "SPF") },
	{ D("reject-spf-check-permerror", CT_BOOL, SRC, 0, "true", "SPF") },
	{ D("reject-spf-check-fail", CT_BOOL, SRC, 0, "true", "SPF") },
	{ D("trace-spf-check", CT_BOOL, SRC, 0, "false", "SPF trace") },
	{ D("check-dkim-inbound", CT_BOOL, SRC, 0, "false", "verify DKIM") },
	{ D("trace-dkim-check", CT_BOOL, SRC, 0, "false", "DKIM trace") },
	{ D("check-iprev-inbound", CT_BOOL, SRC, SMTPD, "false", "iprev check") },
	{ D("trace-iprev-check", CT_BOOL, SRC, 0, "false", "iprev trace") },
	{ D("reject-iprev-check-temperror", CT_BOOL, SRC, SMTPD, "false",
	    "iprev: 450 4.7.25 on a DNS failure") },
	{ D("reject-iprev-check-permerror", CT_BOOL, SRC, SMTPD, "false",
	    "iprev: 550 5.7.25 on a broken answer") },
	{ D("reject-iprev-check-fail", CT_BOOL, SRC, SMTPD, "false",
	    "iprev: 550 5.7.25 without forward-confirmed rDNS") },
	{ D("rewrite-list", CT_STRING, SRC | VM | PL, 0, NULL,
	    "apply a <rewrite-list>") },
	{ D("remove-received-headers", CT_BOOL, SRC | G, 0, "false",
	    "strip existing Received: headers") },

	/*
	 * <smtp-user>, <source-group>, <smtp-listener> (§2.4).
	 */
	{ D("password", CT_STRING, USR, SMTPD, NULL, "plaintext password") },
	{ D("authentication-method", CT_ENUM, USR, SMTPD, "password",
	    "how the user authenticates"), EN("password|system|certificate") },
	{ D("tls-certificate", CT_PATH, TLS, TERND | SMTPD, NULL,
	    "FILE [PASSWORD]: certificate (acted on in <smtp-listener>)"),
	    MAXA(2) },
	{ D("source", CT_STRING, USR | LSN, 0, NULL,
	    "named <source> applied to the session") },
	{ D("reserved-smtp-in", CT_INT, GRP, 0, NULL, "reserved inbound slots") },
	{ D("await-slot", CT_BOOL, LSN, 0, "false", "wait for a free slot") },
	{ D("immediate-tls", CT_BOOL, LSN, 0, "false", "implicit TLS (SMTPS)") },
	{ D("tls-allow-tlsv1.2", CT_BOOL, TLS, SMTPD, "true",
	    "TLS 1.2 (acted on in <smtp-listener>)") },
	{ D("tls-allow-tlsv1.3", CT_BOOL, TLS, SMTPD, "true",
	    "TLS 1.3 (Tern; acted on in <smtp-listener>)") },
	{ D("tls-allow-tlsv1.1", CT_BOOL, TLS, 0, "true", "TLS 1.1") },
	{ D("tls-allow-tlsv1", CT_BOOL, TLS, 0, "false", "TLS 1.0") },
	{ D("tls-allow-sslv3", CT_BOOL, TLS, 0, "false", "SSLv3") },
	{ D("tls-ciphers", CT_STRING, TLS, SMTPD, "HIGH:!ADH:@STRENGTH",
	    "TLS 1.2 ciphers (acted on in <smtp-listener>)") },
	{ D("tls-ca-file", CT_PATH, TLS, 0, NULL, "CA bundle") },

	/*
	 * <domain> (§2.5): concurrency, rates, connection reuse.
	 */
	{ D("max-smtp-out", CT_INT, Q | SRC | SP, QUEUED | DLVD, "20",
	    "simultaneous outbound connections") },
	{ D("backoff-max-smtp-out", CT_INT, Q, DLVD, "20", "the same in backoff") },
	{ D("source-ip-max-smtp-out", CT_ANY, Q, DLVD, NULL,
	    "[CIDR] N: connections per local IP"), R, MAXA(2) },
	{ D("max-connect-rate", CT_RATE, Q, DLVD, "unlimited",
	    "new connections per window") },
	{ D("backoff-max-connect-rate", CT_RATE, Q, 0, NULL, "in backoff") },
	{ D("source-ip-max-connect-rate", CT_ANY, Q, 0, NULL,
	    "CIDR RATE: per local IP"), R, MAXA(2) },
	{ D("max-msg-rate", CT_RATE, Q, DLVD, "unlimited",
	    "attempted recipients per window") },
	{ D("backoff-max-msg-rate", CT_RATE, Q, DLVD, NULL, "in backoff") },
	{ D("source-ip-max-msg-rate", CT_ANY, Q, 0, NULL,
	    "CIDR RATE: per local IP"), R, MAXA(2) },
	{ D("max-msg-per-hour", CT_INT, Q, 0, NULL, "deprecated") },
	{ D("backoff-max-msg-per-hour", CT_INT, Q, 0, NULL, "deprecated") },
	{ D("max-data-volume-rate", CT_STRING, Q, 0, "unlimited",
	    "bytes per window, e.g. 10g/2h") },
	{ D("backoff-max-data-volume-rate", CT_STRING, Q, 0, NULL, "in backoff") },
	{ D("source-ip-max-data-volume-rate", CT_ANY, Q, 0, NULL,
	    "CIDR DATA-RATE: per local IP"), R, MAXA(2) },
	{ D("max-msg-per-connection", CT_INT, Q, DLVD, "0",
	    "messages per connection, 0 = no limit") },
	{ D("max-rcpt-per-transaction", CT_INT, Q, DLVD, "1000",
	    "recipients per SMTP transaction") },
	{ D("max-errors-per-connection", CT_INT, Q, 0, "unlimited",
	    "recipient errors before disconnecting"), EN("unlimited") },
	{ D("smtp-out-rampup-interval", CT_TIME, Q, 0, "0",
	    "gap before another connection") },
	{ D("connection-idle-timeout", CT_TIME, Q, 0, "0",
	    "keep idle connections open") },
	{ D("queue-priority", CT_INT, Q, 0, "50", "0-100") },
	{ D("allow-priority-interruption", CT_BOOL, Q, 0, "yes",
	    "may be interrupted") },
	{ D("allow-priority-interruption-during-transfer", CT_BOOL, Q, 0, "no",
	    "even mid-transfer") },
	{ D("max-cold-virtual-mta-msg", CT_STRING, Q, 0, "0/d",
	    "N/day[,N/day]: warm-up diversion") },

	/* Retry, expiry, backoff, IP disabling. */
	{ D("retry-after", CT_TIMELIST, Q, QUEUED, "10m",
	    "retry schedule, last value repeats") },
	{ D("backoff-retry-after", CT_TIMELIST, Q, 0, "1h", "in backoff") },
	{ D("retry-recipients-after", CT_TIME, Q, 0, "10m",
	    "wait after a 4xx at RCPT") },
	{ D("retry-upon-new-mail", CT_BOOL, Q, 0, "false", "retry on new mail") },
	{ D("bounce-after", CT_TIME, Q, QUEUED, "4d12h",
	    "give up (message-expired) after this age") },
	{ D("notify-of-delay-every", CT_TIME, Q, QUEUED, "4h",
	    "delay DSN interval or never"), EN("never") },
	{ D("bounce-upon-no-mx", CT_TIME, Q, 0, "false",
	    "true, false, TIME or never"), EN("never|" BOOLWORDS) },
	{ D("bounce-upon-5xx-greeting", CT_BOOL, Q, 0, "true", "5xx banner") },
	{ D("bounce-upon-transfer-failure", CT_BOOL, Q, 0, "false",
	    "bounce if DATA breaks") },
	{ D("bounce-upon-pix-transfer-failure", CT_BOOL, Q, 0, "false", "PIX") },
	{ D("pix-bug-workaround", CT_BOOL, Q, 0, "true", "PIX") },
	{ D("assume-delivery-upon-data-termination-timeout", CT_BOOL, Q, 0,
	    "false", "timeout after . = delivered") },
	{ D("smtp-553-means-invalid-mailbox", CT_BOOL, Q, 0, "yes", "553") },
	{ D("smtp-421-means-mx-unavailable", CT_BOOL, Q, 0, "no", "421") },
	{ D("replace-smtp-421-service-response", CT_BOOL, Q, 0, "false", "421") },
	{ D("smtp-pattern-list", CT_STRING, DOM | VM | PL, DLVD, NULL,
	    "reply pattern list of the queue") },
	{ D("backoff-notify", CT_STRING, Q, 0, NULL, "mail on backoff changes") },
	{ D("backoff-to-normal-after", CT_TIME, Q, DLVD, "never",
	    "leave backoff after"), EN("never") },
	{ D("backoff-to-normal-after-delivery", CT_BOOL, Q, 0, "false",
	    "leave backoff on delivery") },
	{ D("backoff-upon-all-sources-disabled", CT_BOOL, Q, 0, "false",
	    "backoff when all IPs disabled") },
	{ D("backoff-reroute-to-virtual-mta", CT_STRING, Q, 0, NULL,
	    "reroute in backoff") },
	{ D("reroute-to-virtual-mta", CT_STRING, Q, 0, NULL, "always reroute") },
	{ D("reenable-source-ip-after", CT_TIME, Q, DLVD, "never",
	    "re-enable disabled IPs"), EN("never") },
	{ D("disabled-source-ip-notify", CT_STRING, Q, 0, NULL,
	    "mail on IP disable") },
	{ D("retry-after-dns-error", CT_TIME, Q, 0, "1m", "after DNS errors") },

	/* Routing. */
	{ D("smtp-hosts", CT_STRING, Q, DLVD, NULL,
	    "h1, h2; [10.1.1.1]:2525 or lookup-mx:DOMAIN: static routing") },
	{ D("route", CT_HOSTPORT, Q, DLVD, NULL,
	    "host[:port]: deliver through this host (old form of smtp-hosts)") },
	{ D("default-smtp-port", CT_INT, Q, DLVD, "25", "destination port") },
	{ D("queue-to", CT_STRING, Q, 0, NULL, "put mail into another queue") },
	{ D("disable-mx-rollup", CT_BOOL, Q, DLVD, "false", "no MX rollup") },
	{ D("type", CT_ENUM, Q, DLVD, "smtp", "delivery method"),
	    EN("smtp|pipe|file|discard|http-delivery") },
	{ D("command", CT_STRING, Q, DLVD, NULL, "pipe program") },
	{ D("pipe-user", CT_STRING, Q, DLVD, NULL,
	    "user the pipe command runs as (default run-as-user); "
	    "not a PowerMTA directive") },
	{ D("macro-variables-preserve-case", CT_BOOL, Q, 0, "false", "$to case") },
	{ D("file-format", CT_ENUM, Q, 0, "newfile-plain", "file delivery"),
	    EN("newfile-plain|newfile-pickup|append-mbox") },
	{ D("file-destination", CT_STRING, Q, 0, NULL, "file delivery target") },
	{ D("discard-as-bounce", CT_BOOL, Q, 0, "false", "record b") },
	{ D("http-delivery-url", CT_STRING, Q, 0, NULL, "webhook target") },
	{ D("http-delivery-extra-headers", CT_PATH, Q, 0, NULL, "webhook headers") },
	{ D("add-x-msys-api-header", CT_BOOL, Q, 0, NULL, "X-MSYS-API") },
	{ D("sparkpost-sandbox", CT_BOOL, Q, 0, "false", "SparkPost relay") },
	{ D("sparkpost-ip-pool", CT_STRING, Q, 0, NULL, "SparkPost relay") },
	{ D("mx-connection-attempts", CT_INT, Q, 0, "10", "MX attempts") },

	/* SMTP protocol, timeouts, TLS, AUTH. */
	{ D("connect-timeout", CT_TIME, Q, DLVD, "2m", "TCP connect timeout") },
	{ D("smtp-greeting-timeout", CT_TIME, Q, DLVD, "5m",
	    "wait for the 220 banner, EHLO and STARTTLS replies") },
	{ D("data-send-timeout", CT_TIME, Q, DLVD, "3m",
	    "wait for each chunk of the body to be taken") },
	{ D("smtp-data-termination-timeout", CT_TIME, Q, DLVD, "10m",
	    "reply to final dot") },
	{ D("smtp-multiple-line-response-timeout", CT_TIME, Q, DLVD, "5m",
	    "wait for the reply to MAIL, RCPT, DATA, RSET") },
	{ D("ignore-8bitmime", CT_BOOL, Q, DLVD, "false", "ignore 8BITMIME") },
	{ D("ignore-chunking", CT_BOOL, Q, DLVD, "false",
	    "do not send BDAT even if the server offers CHUNKING") },
	{ D("ignore-pipelining", CT_BOOL, Q, DLVD, "false", "ignore PIPELINING") },
	{ D("ignore-dsn", CT_BOOL, Q, 0, "false", "ignore DSN") },
	{ D("use-starttls", CT_ENUM, Q | SRC, DLVD, "yes",
	    "opportunistic STARTTLS: yes, no or if-available"),
	    EN("if-available|" BOOLWORDS) },
	{ D("require-starttls", CT_BOOL, Q, DLVD, "false", "abort without TLS") },
	{ D("use-dane", CT_BOOL, Q, 0, "true", "DANE") },
	{ D("reuse-ssl-session", CT_BOOL, Q, 0, "false", "TLS resumption") },
	{ D("smtp-tls-allow-tlsv1", CT_BOOL, Q, 0, "false", "outbound TLS 1.0") },
	{ D("smtp-tls-allow-tlsv1.1", CT_BOOL, Q, 0, "true", "outbound TLS 1.1") },
	{ D("smtp-tls-allow-tlsv1.2", CT_BOOL, Q, 0, "true", "outbound TLS 1.2") },
	{ D("smtp-tls-allow-sslv3", CT_BOOL, Q, 0, "false", "outbound SSLv3") },
	{ D("smtp-tls-ca-file", CT_PATH, Q, TERND | DLVD, NULL,
	    "verify remote certs") },
	{ D("smtp-tls-ciphers", CT_STRING, Q, 0, "HIGH:!ADH:@STRENGTH",
	    "outbound ciphers") },
	{ D("smtp-client-certificate", CT_STRING, Q, 0, NULL, "client cert") },
	{ D("auth-username", CT_STRING, Q, 0, NULL, "outbound AUTH user") },
	{ D("auth-password", CT_STRING, Q, 0, NULL, "outbound AUTH password") },
	{ D("use-unencrypted-plain-auth", CT_BOOL, Q, 0, "false",
	    "PLAIN/LOGIN without TLS") },
	{ D("check-spf-outbound", CT_BOOL, Q, 0, "false", "SPF-check own mail") },

	/* DKIM. */
	{ D("dkim-sign", CT_ENUM, Q, DLVD, "no", "DKIM-sign mail to this domain"),
	    EN("if-x-dkim-options-present|" BOOLWORDS) },
	{ D("dkim-identity", CT_STRING, Q, 0, "sender-or-from", "i= identity") },
	{ D("dkim-identity-fallback", CT_STRING, Q, 0, NULL, "fallback identity") },
	{ D("dkim-algorithm", CT_ENUM, Q, 0, "rsa-sha256", "a="),
	    EN("rsa-sha1|rsa-sha256|ed25519-sha256") },
	{ D("dkim-body-canon", CT_ENUM, Q, 0, "relaxed", "c= body"),
	    EN("simple|relaxed") },
	{ D("dkim-headers-canon", CT_ENUM, Q, 0, "relaxed", "c= headers"),
	    EN("simple|relaxed") },
	{ D("dkim-headers", CT_STRING, Q, DLVD, NULL, "extra headers to sign") },
	{ D("dkim-disallow-adding-headers", CT_STRING, Q, 0, NULL, "oversign") },
	{ D("dkim-add-body-limit", CT_BOOL, Q, 0, "false", "l= tag") },
	{ D("dkim-add-timestamp", CT_BOOL, Q, 0, "false", "t= tag") },
	{ D("dkim-expire-after", CT_TIME, Q, 0, "never", "x= tag"), EN("never") },
	{ D("dkim-query-method", CT_STRING, Q, 0, NULL, "q= tag") },
	{ D("second-dkim-sign", CT_ENUM, Q, 0, "no", "second signature"),
	    EN("if-x-dkim-options-present|" BOOLWORDS) },
	{ D("second-dkim-identity", CT_STRING, Q, 0, NULL, "second signature") },
	{ D("second-dkim-identity-fallback", CT_STRING, Q, 0, NULL,
	    "second signature") },
	{ D("second-dkim-algorithm", CT_ENUM, Q, 0, "rsa-sha256",
	    "second signature"), EN("rsa-sha1|rsa-sha256|ed25519-sha256") },
	{ D("second-dkim-body-canon", CT_ENUM, Q, 0, "relaxed",
	    "second signature"), EN("simple|relaxed") },
	{ D("second-dkim-headers", CT_STRING, Q, 0, NULL, "second signature") },
	{ D("second-dkim-headers-canon", CT_ENUM, Q, 0, "relaxed",
	    "second signature"), EN("simple|relaxed") },
	{ D("second-dkim-disallow-adding-headers", CT_STRING, Q, 0, NULL,
	    "second signature") },
	{ D("second-dkim-add-body-limit", CT_BOOL, Q, 0, "false",
	    "second signature") },
	{ D("second-dkim-add-timestamp", CT_BOOL, Q, 0, "false",
	    "second signature") },
	{ D("second-dkim-expire-after", CT_TIME, Q, 0, "never",
	    "second signature"), EN("never") },
	{ D("second-dkim-query-method", CT_STRING, Q, 0, NULL,
	    "second signature") },
	{ D("dk-sign", CT_BOOL, Q, 0, "false", "DomainKeys signing") },

	/* Logging, accounting, misc per queue. */
	{ D("log-resolution", CT_BOOL, Q, 0, "false", "log DNS lookups") },
	{ D("log-transfer-failures", CT_BOOL, Q, 0, "false",
	    "log broken transfers") },
	{ D("log-disabled-ips", CT_BOOL, Q, 0, "false", "log IP disabling") },
	{ D("log-messages", CT_BOOL, Q, 0, "false", "log filtered bounces") },
	{ D("max-events-recorded", CT_INT, Q, 0, "10", "error events kept") },
	{ D("track-recipient-events", CT_BOOL, Q, 0, "false",
	    "keep recent recipient events") },
	{ D("disable-acct-records", CT_STRING, Q, 0, NULL, "d,b,t,tq subset") },
	{ D("deliver-local-dsn", CT_BOOL, Q, 0, "true", "deprecated") },
	{ D("dsn-format", CT_ENUM, Q, 0, "standard", "DSN body format"),
	    EN("standard|plain-text") },
	{ D("bcc-upon-delivery", CT_EMAIL, Q, 0, NULL, "BCC delivered copies") },
	{ D("allow-cancel-during-transfer", CT_BOOL, Q, 0, "true",
	    "shutdown may cut DATA") },

	/*
	 * <virtual-mta>, <virtual-mta-pool> (§2.6).
	 */
	{ D("max-smtp-msg-rate", CT_RATE, VM | PL, 0, "unlimited",
	    "recipients per window across the VMTA") },
	{ D("max-smtp-data-volume-rate", CT_STRING, VM | PL, 0, "unlimited",
	    "bytes per window across the VMTA") },
	{ D("cold-virtual-mta", CT_STRING, VM | PL, 0, NULL,
	    "warm-up target"), R },
	{ D("auto-cold-virtual-mta", CT_ANY, VM | PL, 0, NULL, "removed in 4.5") },

	/*
	 * Pattern lists (§2.7-2.9).
	 */
	{ D("reply", CT_ANY, PAT, DLVD, NULL, "/REGEX/ ACTION[,ACTION]"), R },
	{ D("header", CT_ANY, PAT, 0, NULL, "NAME /REGEX/ RESULT"), R },
	{ D("mail-from", CT_ANY, PAT | OTH, 0, NULL,
	    "/REGEX/ RESULT, or SOURCE TARGET in <rewrite-list>"), R },
	{ D("rcpt-to", CT_ANY, PAT, 0, NULL, "/REGEX/ RESULT"), R },
	{ D("*", CT_ANY, PAT, 0, NULL, "catch-all RESULT"), R },
	{ D("pattern", CT_ANY, PAT, BNCD, NULL,
	    "/REGEX/ CATEGORY (written without the name)"), R, MAXA(2) },

	/*
	 * <mx-rollup-list> (§2.10).
	 */
	{ D("mx", CT_ANY, MXR, DLVD, NULL, "MX QUEUE.rollup [rollup-by-ip]"),
	    R, MAXA(3) },

	/*
	 * <cluster> (Tern: docs/cluster.md).
	 */
#define CL	CFG_S_CLUSTER
	{ D("redis", CT_HOSTPORT, CL, QUEUED | BNCD, NULL,
	    "IP[:PORT] of Redis, or of a seed node of a Redis Cluster"), R },
	{ D("node-name", CT_STRING, CL, QUEUED, NULL,
	    "this node's name in the cluster (default: the host name)") },
	{ D("redis-password-file", CT_PATH, CL, TERND | QUEUED | BNCD, NULL,
	    "file holding the Redis password (AUTH), read by ternd") },
	{ D("key-prefix", CT_STRING, CL, QUEUED | BNCD, "tern:",
	    "prefix of every Redis key Tern uses") },
	{ D("lease-time", CT_TIME, CL, QUEUED, "15s",
	    "connection leases of a node that stops renewing expire after") },
	{ D("heartbeat-interval", CT_TIME, CL, QUEUED, "3s",
	    "how often a node renews its heartbeat and leases") },
	{ D("redis-timeout", CT_TIME, CL, QUEUED | BNCD, "2s",
	    "a Redis command unanswered for this long means degraded mode") },
#undef CL

	/*
	 * <acct-file> (§2.11).
	 */
	{ D("records", CT_STRING, ACCT | EVT, BNCD, "d,b",
	    "record types: d,b,t,tq,r,f,rb,rs") },
	{ D("record-fields", CT_ANY, ACCT, BNCD, "*", "TYPE FIELD-LIST"), R },
	{ D("map-header-to-field", CT_ANY, ACCT, BNCD | QUEUED, NULL,
	    "TYPE header_NAME FIELD"), R },
	{ D("move-to", CT_DIR, ACCT, TERND, NULL, "where rotated files go") },
	{ D("move-interval", CT_TIME, ACCT, BNCD, "1d", "rotation period") },
	{ D("max-size", CT_SIZE, ACCT, BNCD, "250M", "rotate when larger") },
	{ D("delete-after", CT_TIME, ACCT, TERND, "8d", "delete old files"),
	    EN("never") },
	{ D("queue-filter", CT_STRING, ACCT, BNCD, NULL, "[!]queue,...") },
	{ D("iso-times", CT_BOOL, ACCT, BNCD, "yes", "ISO timestamps") },
	{ D("user-string", CT_STRING, ACCT, BNCD, NULL, "userString column") },
	{ D("retry-interval", CT_TIME, ACCT, 0, "5m", "pipe restart interval") },
	{ D("write-timeout", CT_TIME, ACCT, 0, "1m", "pipe write timeout") },
	{ D("world-readable", CT_BOOL, ACCT, 0, "no", "file mode") },
	{ D("count-moved-records", CT_BOOL, ACCT, 0, "false", "log counts") },
	{ D("sync", CT_BOOL, ACCT, BNCD, "false", "fsync regularly") },
	{ D("privacy-policy", CT_ANY, ACCT | OTH, 0, "retain",
	    "retain, redact, siphash KEY, hmac-sha256 KEY ...") },

	/*
	 * <acct-amqp NAME>, <acct-webhook NAME>: event shipping (Tern's own;
	 * docs/events.md).  `records` is shared with <acct-file>.
	 */
	{ D("url", CT_STRING, EVT, TERND | BNCD, NULL,
	    "amqp://HOST[:PORT][/VHOST] or http://HOST[:PORT]/PATH") },
	{ D("credentials-file", CT_PATH, EVT, TERND, NULL,
	    "USER:PASSWORD, read by ternd (AMQP login, HTTP basic auth)") },
	{ D("ca-file", CT_PATH, EVT, TERND | BNCD,
	    "/etc/ssl/certs/ca-certificates.crt",
	    "the CAs an https:// webhook's certificate must chain to") },
	{ D("exchange", CT_STRING, EVT, BNCD, "tern",
	    "AMQP exchange (a durable topic exchange, declared)") },
	{ D("routing-key-prefix", CT_STRING, EVT, BNCD, NULL,
	    "AMQP routing key = PREFIX + record type (d, b, t, ...)") },
	{ D("batch-size", CT_INT, EVT, BNCD, "100",
	    "records per POST, or per batch of confirmed publishes") },
	{ D("timeout", CT_TIME, EVT, BNCD, "10s",
	    "connect, send and wait for the confirm or the reply") },
	{ D("min-retry-interval", CT_TIME, EVT, BNCD, "1s",
	    "first wait after a failure (doubles each time)") },
	{ D("max-retry-interval", CT_TIME, EVT, BNCD, "1m",
	    "longest wait between tries") },
	{ D("buffer-max-size", CT_SIZE, EVT, BNCD, "100M",
	    "on-disk buffer (spool/events/NAME); records past it are counted "
	    "and reported, not buffered") },

	/*
	 * <spool> (§2.12).
	 */
	{ D("priority", CT_INT, SPL, 0, "1", "1-100, higher first") },
	{ D("min-free-space", CT_SIZE, SPL | OTH, QUEUED, "0", "free space floor") },
	{ D("deliver-only", CT_BOOL, SPL, 0, "false", "drain only") },
	{ D("delete-file-holders", CT_BOOL, SPL, 0, "false",
	    "delete file holders") },

	/*
	 * Inbound processing blocks (§2.13).
	 */
	{ D("deliver-unmatched-email", CT_BOOL, OTH, 0, "true",
	    "deliver non-bounces") },
	{ D("deliver-matched-email", CT_BOOL, OTH, 0, "false",
	    "deliver bounces too") },
	{ D("forward-unmatched-to", CT_EMAIL, OTH, 0, NULL, "forward"), R },
	{ D("forward-errors-to", CT_EMAIL, OTH, 0, NULL, "forward"), R },
	{ D("deliver-email", CT_ANY, OTH, 0, NULL, "deprecated") },
	{ D("body-pattern-file", CT_PATH, OTH, 0, NULL, "pattern file"), R },
	{ D("log-match-info", CT_BOOL, OTH, 0, "false", "log matches") },
	{ D("address", CT_ANY, OTH, 0, NULL, "EMAIL, /REGEX/ or localpart"), R },
	{ D("address-file", CT_PATH, OTH, 0, NULL, "file of addresses"), R },
	{ D("domain", CT_STRING, OTH, 0, NULL, "a domain of the list"), R },
	{ D("from-domain", CT_ANY, OTH, 0, NULL, "DOMAIN-PATTERN DOMAIN"), R },
	{ D("precached-domains-file", CT_PATH, OTH, 0, NULL,
	    "domains kept cached") },
	{ D("precached-refresh-interval", CT_TIME, OTH, 0, "5m", "refresh") },
	{ D("precached-max-domains", CT_INT, OTH, 0, "500", "max domains") },
	{ D("server", CT_HOSTPORT, OTH, 0, NULL, "proxy server") },
	{ D("client", CT_ANY, OTH, 0, NULL, "IP[:port] HOSTNAME"), R },
	{ D("api-key", CT_STRING, OTH, 0, NULL, "API key"), R },
	{ D("log-requests", CT_BOOL, OTH, 0, "false", "log requests") },
	{ D("upload-url", CT_STRING, OTH, 0, NULL, "Signals upload URL") },
	{ D("engagement-tracking", CT_BOOL, OTH, 0, "false", "Signals") },
	{ D("custom-message-id-header", CT_STRING, OTH, 0, NULL, "Signals") },
	{ D("process-x-sp-subaccount-id", CT_BOOL, OTH, 0, "false", "Signals") },
	{ D("retain-x-sp-subaccount-id", CT_BOOL, OTH, 0, "false", "Signals") },
	{ D("log-verbose", CT_BOOL, OTH, 0, "false", "Signals") },
	{ D("sender-or-from", CT_ANY, OTH, 0, NULL,
	    "DOMAIN-PATTERN enable-signals|disable-signals"), R },
};

#define NDIRECTIVES	(sizeof(cfg_directives) / sizeof(cfg_directives[0]))

const struct cfg_directive *
cfg_directive_table(size_t *n)
{
	*n = NDIRECTIVES;
	return cfg_directives;
}

static int
cfg_is_block(const struct cfg_directive *d)
{
	return d->type == CT_BLOCK && d->alias_of == NULL;
}

/*
 * Daemons look names up on hot paths (every cfg_child() resolves
 * aliases), so the table gets a sorted index, built once.  Entries of
 * the same name keep their table order: the first valid one wins.
 */
static const struct cfg_directive *cfg_index[NDIRECTIVES];
static pthread_once_t cfg_index_once = PTHREAD_ONCE_INIT;

static int
cfg_index_cmp(const void *a, const void *b)
{
	const struct cfg_directive *da = *(const struct cfg_directive **)a;
	const struct cfg_directive *db = *(const struct cfg_directive **)b;
	int c;

	if ((c = strcasecmp(da->name, db->name)) != 0)
		return c;
	return da < db ? -1 : da > db;
}

static void
cfg_index_build(void)
{
	size_t i;

	for (i = 0; i < NDIRECTIVES; i++)
		cfg_index[i] = &cfg_directives[i];
	qsort(cfg_index, NDIRECTIVES, sizeof(cfg_index[0]), cfg_index_cmp);
}

/* Position of the first entry named `name` in the index, or NDIRECTIVES. */
static size_t
cfg_index_first(const char *name)
{
	size_t lo = 0, hi = NDIRECTIVES, mid;

	pthread_once(&cfg_index_once, cfg_index_build);
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (strcasecmp(cfg_index[mid]->name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < NDIRECTIVES && strcasecmp(cfg_index[lo]->name, name) == 0)
		return lo;
	return NDIRECTIVES;
}

const struct cfg_directive *
cfg_directive_find(const char *name)
{
	size_t i;

	if ((i = cfg_index_first(name)) == NDIRECTIVES)
		return NULL;
	return cfg_index[i];
}

const struct cfg_directive *
cfg_directive_lookup(const char *name, unsigned scope, int block)
{
	const struct cfg_directive *d;
	size_t i;

	for (i = cfg_index_first(name); i < NDIRECTIVES; i++) {
		d = cfg_index[i];
		if (strcasecmp(d->name, name) != 0)
			break;
		if ((d->scopes & scope) == 0)
			continue;
		if (block == 1 && !cfg_is_block(d))
			continue;
		if (block == 0 && cfg_is_block(d) && !d->inline_ok)
			continue;
		return d;
	}
	return NULL;
}

const struct cfg_directive *
cfg_directive_canon(const struct cfg_directive *d)
{
	size_t i;

	if (d == NULL || d->alias_of == NULL)
		return d;
	/* The canonical entry is the first non-alias of that name. */
	for (i = 0; i < NDIRECTIVES; i++)
		if (cfg_directives[i].alias_of == NULL &&
		    strcmp(cfg_directives[i].name, d->alias_of) == 0)
			return &cfg_directives[i];
	return d;
}

const char *
cfg_type_name(enum cfg_type t)
{
	static const char *names[] = {
		[CT_BLOCK] = "block",
		[CT_STRING] = "string",
		[CT_BOOL] = "boolean",
		[CT_INT] = "integer",
		[CT_TIME] = "time",
		[CT_TIMELIST] = "time list",
		[CT_SIZE] = "size",
		[CT_RATE] = "rate",
		[CT_CIDR] = "CIDR",
		[CT_HOSTPORT] = "host[:port]",
		[CT_LISTEN] = "listen address",
		[CT_PATH] = "file",
		[CT_DIR] = "directory",
		[CT_ENUM] = "value",
		[CT_EMAIL] = "e-mail address",
		[CT_ANY] = "value",
	};

	if ((size_t)t >= sizeof(names) / sizeof(names[0]) || names[t] == NULL)
		return "value";
	return names[t];
}
