/*
 * cli.h - the `tern` command.
 *
 *	tern.c		command line, verbs, exit codes
 *	cli_conn.c	finding the control socket, one request/answer
 *	cli_format.c	JSON answers as aligned human tables
 *	cli_rows.c	domains, VMTAs, jobs and resolve as tables
 *	cli_stream.c	trace: lines as they come, until Ctrl-C
 */
#ifndef TERN_CLI_H
#define TERN_CLI_H

#include <stddef.h>
#include <stdio.h>
#include <jansson.h>

/* Exit codes. */
#define CLI_OK		0
#define CLI_FAIL	1
#define CLI_USAGE	2

/* cli_conn.c */
/* The control socket: -s, $TERN_CONTROL, control-socket of the config
 * file, else the default.  Returns buf. */
const char	*cli_socket_path(const char *opt_socket, const char *config,
		    char *buf, size_t bufsz);
/* The config file: -f, $TERN_CONFIG, else the default. */
const char	*cli_config_path(const char *opt_config);
/* Send one request line, return the parsed answer or NULL (an error
 * was printed). */
json_t		*cli_request(const char *socket, const char *line);
/* A connected control socket, or -1 (an error was printed). */
int		 cli_connect(const char *socket);

/* cli_stream.c: `tern trace`, one JSON document per line until EOF or
 * Ctrl-C; returns the exit code. */
int		 cli_trace(const char *socket, const char *line, int json);

/* cli_format.c */
void	cli_print_json(FILE *, const json_t *);
void	cli_print_status(FILE *, const json_t *);
void	cli_print_cluster(FILE *, const json_t *);	/* --cluster */
void	cli_print_queues(FILE *, const json_t *);
void	cli_print_settings(FILE *, const json_t *);
/* A JSON scalar as table text (yes/no, "-" for none). */
const char *cli_cell(const json_t *, char *buf, size_t bufsz);

/* cli_rows.c */
void	cli_print_domains(FILE *, const json_t *);
void	cli_print_vmtas(FILE *, const json_t *);
void	cli_print_jobs(FILE *, const json_t *);
void	cli_print_suppression(FILE *, const json_t *);
void	cli_print_resolve(FILE *, const json_t *);

/* Seconds as "1d2h", "5m30s", "0s". */
const char *cli_duration(long long secs, char *buf, size_t bufsz);

#endif
