/*
 * tern.c - the `tern` command: PowerMTA's `pmta` verbs for Tern.
 *
 *	tern [-s SOCKET] [-f CONFIG] [--json] VERB ...
 *
 * Verbs that need the running daemons go to mgmtd over the control
 * socket (one request line, one JSON answer); `show version` and
 * `check-config` work without them.  Words may be shortened as long as
 * they stay unambiguous (`tern show q`, `tern sh ver`), as with pmta.
 *
 * Exit codes: 0 done, 1 failed (daemon not running, error answer,
 * invalid config), 2 usage.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "cli.h"
#include "ctl.h"

enum cli_cmd {
	CMD_STATUS, CMD_QUEUES, CMD_DOMAINS, CMD_VMTAS, CMD_JOBS, CMD_VERSION,
	CMD_SETTINGS, CMD_PAUSE, CMD_RESUME, CMD_SCHEDULE, CMD_DELETE,
	CMD_SETQUEUE, CMD_RESOLVE, CMD_TRACE, CMD_CHECK,
	CMD_RELOAD, CMD_SUPPRESSION, CMD_ROTATE
};

struct cli_verb {
	enum cli_cmd	 cmd;
	const char	*words[2];	/* the verb; words[1] may be NULL */
	int		 minargs;
	int		 maxargs;
	const char	*usage;
};

#define QOPTS	"[--domain=D] [--vmta=V] [--mode=M] [--errors] " \
		"[--maxitems=N] [DOMAIN[/VMTA]]"

/* One line per verb: other modules add theirs here. */
static const struct cli_verb cli_verbs[] = {
	{ CMD_STATUS, { "show", "status" }, 0, 1, "show status [--cluster]" },
	{ CMD_QUEUES, { "show", "queues" }, 0, 8, "show queues " QOPTS },
	{ CMD_QUEUES, { "show", "topqueues" }, 0, 8,
	    "show topqueues " QOPTS },
	{ CMD_DOMAINS, { "show", "domains" }, 0, 8, "show domains " QOPTS },
	{ CMD_DOMAINS, { "show", "topdomains" }, 0, 8,
	    "show topdomains " QOPTS },
	{ CMD_VMTAS, { "show", "vmtas" }, 0, 8, "show vmtas [--maxitems=N]" },
	{ CMD_JOBS, { "show", "jobs" }, 0, 0, "show jobs" },
	{ CMD_VERSION, { "show", "version" }, 0, 0, "show version" },
	{ CMD_SETTINGS, { "show", "settings" }, 0, 4,
	    "show settings [DOMAIN[/VMTA]] [--domain=D] [--vmta=V]" },
	{ CMD_PAUSE, { "pause", "queue" }, 1, 1, "pause queue DOMAIN[/VMTA]" },
	{ CMD_RESUME, { "resume", "queue" }, 1, 1,
	    "resume queue DOMAIN[/VMTA]" },
	{ CMD_SCHEDULE, { "schedule", NULL }, 1, 1, "schedule DOMAIN[/VMTA]" },
	{ CMD_DELETE, { "delete", NULL }, 1, 2,
	    "delete --queue=DOMAIN[/VMTA] | --jobId=ID" },
	{ CMD_SETQUEUE, { "set", "queue" }, 2, 3,
	    "set queue --mode=normal|backoff DOMAIN[/VMTA]" },
	{ CMD_RESOLVE, { "resolve", NULL }, 1, 1, "resolve DOMAIN" },
	{ CMD_TRACE, { "trace", NULL }, 0, 1, "trace [DOMAIN[/VMTA]]" },
	{ CMD_CHECK, { "check-config", NULL }, 0, 1, "check-config [FILE]" },
	/* ternd parses the config again; errors come back (exit 1). */
	{ CMD_RELOAD, { "reload", NULL }, 0, 0, "reload" },
	/* bounced's suppression list and accounting files */
	{ CMD_SUPPRESSION, { "suppression", "list" }, 0, 3,
	    "suppression list [--vmta=V] [ADDR]" },
	{ CMD_SUPPRESSION, { "suppression", "add" }, 1, 3,
	    "suppression add [--vmta=V] ADDR" },
	{ CMD_SUPPRESSION, { "suppression", "remove" }, 1, 3,
	    "suppression remove [--vmta=V] ADDR" },
	{ CMD_SUPPRESSION, { "show", "suppression" }, 0, 3,
	    "show suppression [--vmta=V] [ADDR]" },
	{ CMD_ROTATE, { "rotate", "acct" }, 0, 1, "rotate acct [FILE]" },
	{ CMD_ROTATE, { "rotate", "log" }, 0, 0, "rotate log" },
};
#define CLI_NVERBS	(sizeof(cli_verbs) / sizeof(cli_verbs[0]))

static int	cli_json;

static void __attribute__((noreturn))
usage(void)
{
	size_t i;

	fprintf(stderr, "usage: tern [-s socket] [-f config] [--json] "
	    "command ...\ncommands:\n");
	for (i = 0; i < CLI_NVERBS; i++)
		fprintf(stderr, "  %s\n", cli_verbs[i].usage);
	exit(CLI_USAGE);
}

/* word is an abbreviation of (or equal to) full. */
static int
cli_abbrev(const char *word, const char *full)
{
	return *word != '\0' && strncmp(word, full, strlen(word)) == 0;
}

/* The verb the words name: exact words win over abbreviations; an
 * ambiguous abbreviation is a usage error. */
static const struct cli_verb *
cli_find_verb(int argc, char **argv, int *nwords)
{
	const struct cli_verb *v, *found = NULL;
	int i, n, exact, best = -1, nfound = 0;

	for (i = 0; i < (int)CLI_NVERBS; i++) {
		v = &cli_verbs[i];
		n = v->words[1] ? 2 : 1;
		if (argc < n || !cli_abbrev(argv[0], v->words[0]) ||
		    (n == 2 && !cli_abbrev(argv[1], v->words[1])))
			continue;
		exact = strcmp(argv[0], v->words[0]) == 0;
		if (n == 2)
			exact += strcmp(argv[1], v->words[1]) == 0;
		if (exact > best) {
			best = exact;
			found = v;
			nfound = 1;
			*nwords = n;
		} else if (exact == best)
			nfound++;
	}
	if (nfound > 1) {
		fprintf(stderr, "tern: ambiguous command\n");
		usage();
	}
	return found;
}

static int
cli_version(void)
{
	json_t *j;

	if (cli_json) {
		j = json_pack("{s:s,s:s}", "product", "Tern", "version",
		    TERN_VERSION);
		cli_print_json(stdout, j);
		json_decref(j);
	} else
		printf("Tern v%s\n", TERN_VERSION);
	return CLI_OK;
}

static int
cli_check_config(const char *path)
{
	struct cfg *cfg;
	json_t *j, *msgs;
	int i, ok;

	if ((cfg = cfg_load(path)) == NULL) {
		fprintf(stderr, "tern: cannot load %s\n", path);
		return CLI_FAIL;
	}
	ok = cfg->nerrors == 0;
	if (cli_json) {
		msgs = json_array();
		for (i = 0; i < cfg->nmsgs; i++)
			json_array_append_new(msgs, json_string(cfg->msgs[i]));
		j = json_pack("{s:s,s:b,s:i,s:i,s:o}", "config", path, "ok",
		    ok, "errors", cfg->nerrors, "warnings", cfg->nwarnings,
		    "messages", msgs);
		cli_print_json(stdout, j);
		json_decref(j);
	} else {
		cfg_print_msgs(cfg, stdout);
		if (ok)
			printf("%s: configuration OK\n", path);
		else
			printf("%s: %d error%s\n", path, cfg->nerrors,
			    cfg->nerrors == 1 ? "" : "s");
	}
	cfg_free(cfg);
	return ok ? CLI_OK : CLI_FAIL;
}

/* The request line for mgmtd: canonical words, then the arguments. */
static void
cli_line(const struct cli_verb *v, int argc, char **argv, char *buf,
    size_t bufsz)
{
	int i;

	snprintf(buf, bufsz, "%s%s%s", v->words[0], v->words[1] ? " " : "",
	    v->words[1] ? v->words[1] : "");
	for (i = 0; i < argc; i++) {
		strlcat(buf, " ", bufsz);
		strlcat(buf, argv[i], bufsz);
	}
}

/* Print an answer of mgmtd; its error or failure is ours. */
static int
cli_answer(const struct cli_verb *v, json_t *j)
{
	json_t *err = json_object_get(j, "error");
	json_t *ok = json_object_get(j, "ok");
	const char *msg = json_string_value(json_object_get(j, "message"));

	if (cli_json) {
		cli_print_json(stdout, j);
		return err != NULL || json_is_false(ok) ? CLI_FAIL : CLI_OK;
	}
	if (err != NULL) {
		fprintf(stderr, "tern: %s\n", json_is_string(err) ?
		    json_string_value(err) : "error");
		return CLI_FAIL;
	}
	switch (v->cmd) {
	case CMD_STATUS:
		if (json_object_get(j, "status") == NULL)
			cli_print_cluster(stdout, j);	/* --cluster */
		else
			cli_print_status(stdout, j);
		break;
	case CMD_QUEUES:
		cli_print_queues(stdout, j);
		break;
	case CMD_DOMAINS:
		cli_print_domains(stdout, j);
		break;
	case CMD_VMTAS:
		cli_print_vmtas(stdout, j);
		break;
	case CMD_JOBS:
		cli_print_jobs(stdout, j);
		break;
	case CMD_SETTINGS:
		cli_print_settings(stdout, j);
		break;
	case CMD_RESOLVE:
		cli_print_resolve(stdout, j);
		return json_is_false(ok) ? CLI_FAIL : CLI_OK;
	case CMD_SUPPRESSION:
		if (json_is_array(j)) {
			cli_print_suppression(stdout, j);
			break;
		}
		/* FALLTHROUGH */
	default:
		if (json_is_false(ok)) {
			fprintf(stderr, "tern: %s\n", msg ? msg : "failed");
			return CLI_FAIL;
		}
		printf("%s\n", msg ? msg : "done");
	}
	return CLI_OK;
}

static int
cli_remote(const struct cli_verb *v, const char *sock, int argc,
    char **argv)
{
	char line[CTL_MAX_REQUEST];
	json_t *j;
	int rc;

	cli_line(v, argc, argv, line, sizeof(line));
	if (v->cmd == CMD_TRACE)
		return cli_trace(sock, line, cli_json);
	if ((j = cli_request(sock, line)) == NULL)
		return CLI_FAIL;
	rc = cli_answer(v, j);
	json_decref(j);
	return rc;
}

/* --json is accepted after the verb too (pmta takes it first only). */
static int
cli_strip_json(int argc, char **argv)
{
	int i, n = 0;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			cli_json = 1;
		else
			argv[n++] = argv[i];
	}
	return n;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cli_verb *v;
	const char *opt_socket = NULL, *opt_config = NULL, *config;
	char sock[1024];
	int ch, nwords;

	/* "+": options end at the verb, so queue names are never taken
	 * for options. */
	while ((ch = getopt_long(argc, argv, "+s:f:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 's': opt_socket = optarg; break;
		case 'f': opt_config = optarg; break;
		case 'j': cli_json = 1; break;
		default: usage();
		}
	}
	argc = cli_strip_json(argc - optind, argv + optind);
	argv += optind;
	if (argc == 0 || (v = cli_find_verb(argc, argv, &nwords)) == NULL)
		usage();
	argc -= nwords;
	argv += nwords;
	if (argc < v->minargs || argc > v->maxargs) {
		fprintf(stderr, "usage: tern %s\n", v->usage);
		return CLI_USAGE;
	}
	config = cli_config_path(opt_config);
	switch (v->cmd) {
	case CMD_VERSION:
		return cli_version();
	case CMD_CHECK:
		return cli_check_config(argc ? argv[0] : config);
	default:
		cli_socket_path(opt_socket, config, sock, sizeof(sock));
		return cli_remote(v, sock, argc, argv);
	}
}
