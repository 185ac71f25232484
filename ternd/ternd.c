/*
 * ternd.c - command line, config check, signals.
 */
#include <sys/stat.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "paths.h"
#include "proto.h"
#include "reload.h"
#include "ternd.h"

struct ternd	*env;

static uv_signal_t	 sig_term, sig_int, sig_chld, sig_hup;

static void
usage(void)
{
	fprintf(stderr, "usage: ternd [-dnv] [-f file]\n"
	    "  -d       stay in the foreground, log to stderr\n"
	    "  -n       check the configuration and exit\n"
	    "  -f file  configuration file (default %s)\n"
	    "  -v       verbose logging\n", TERN_DEFAULT_CONFIG);
	exit(2);
}

static void
ternd_signal(uv_signal_t *h, int sig)
{
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		if (env->stopping)
			return;
		log_info("received %s, stopping", sig == SIGTERM ?
		    "SIGTERM" : "SIGINT");
		env->stopping = 1;
		super_stop_all(env);
		break;
	case SIGCHLD:
		super_reap(env);
		break;
	case SIGHUP:
		/* reload.c logs what it did and every error. */
		if (!env->stopping) {
			char *report;

			reload_config(env, &report);
			free(report);
		}
		break;
	}
}

static void
ternd_signals(uv_loop_t *loop)
{
	uv_signal_init(loop, &sig_term);
	uv_signal_start(&sig_term, ternd_signal, SIGTERM);
	uv_signal_init(loop, &sig_int);
	uv_signal_start(&sig_int, ternd_signal, SIGINT);
	uv_signal_init(loop, &sig_chld);
	uv_signal_start(&sig_chld, ternd_signal, SIGCHLD);
	uv_signal_init(loop, &sig_hup);
	uv_signal_start(&sig_hup, ternd_signal, SIGHUP);
	signal(SIGPIPE, SIG_IGN);
}

static struct cfg *
ternd_load(const char *path, int check_only)
{
	char abs[PATH_MAX];
	struct cfg *cfg;

	/* Relative paths in the config are relative to its directory,
	 * whatever our working directory becomes (daemon(3) chdirs). */
	if (!check_only && realpath(path, abs) != NULL)
		path = abs;
	cfg = cfg_load(path);

	if (cfg == NULL) {
		fprintf(stderr, "%s: cannot load configuration\n", path);
		exit(1);
	}
	cfg_print_msgs(cfg, stderr);
	if (cfg->nerrors > 0) {
		fprintf(stderr, "%s: %d error%s\n", path, cfg->nerrors,
		    cfg->nerrors == 1 ? "" : "s");
		exit(1);
	}
	if (check_only) {
		fprintf(stderr, "%s: configuration OK\n", path);
		exit(0);
	}
	return cfg;
}

int
main(int argc, char **argv)
{
	const char *conf = TERN_DEFAULT_CONFIG;
	int ch, check = 0;
	static struct ternd ternd;

	env = &ternd;
	while ((ch = getopt(argc, argv, "dnf:v")) != -1) {
		switch (ch) {
		case 'd': env->foreground = 1; break;
		case 'n': check = 1; break;
		case 'f': conf = optarg; break;
		case 'v': env->verbose++; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();

	env->cfg = ternd_load(conf, check);
	log_init(env->foreground, "ternd");
	log_setverbose(env->verbose);
	env->privileged = geteuid() == 0;
	if (!env->foreground && daemon(0, 0) == -1)
		fatal("daemon");
	logfile_open(env);		/* log-file: our stderr, and theirs */

	if (setup_paths(env) == -1 || setup_listeners(env) == -1 ||
	    setup_files(env) == -1 || setup_http(env) == -1)
		fatalx("cannot start");

	env->loop = uv_default_loop();
	ternd_signals(env->loop);
	super_init(env);
	super_start_all(env);
	log_info("Tern %s started (config %s, spool %s%s)", TERN_VERSION,
	    env->cfg->path ? env->cfg->path : conf, env->spool,
	    env->privileged ? "" : ", unprivileged");
	uv_run(env->loop, UV_RUN_DEFAULT);
	log_info("stopped");
	return 0;
}
