/*
 * acct_paths.h - every file the configuration asks bounced to write,
 * found one way for ternd (which opens them: bounced is chrooted) and
 * bounced (which decides what goes into each).
 *
 *	<acct-file PATH|"|COMMAND">		CSV, its block says what
 *	accounting-log PATH			CSV of d and b (seeds)
 *	bounce-log PATH				CSV of b and rb
 *	bounce-category-log PATH		CSV: who bounced, in which category
 *	log-format-extended PATH "FORMAT"	text lines (bounced/acct_text.c)
 *	log-domain PATH-with-%d + log-entries yes in <domain NAME>
 *						text lines about NAME
 *
 * The line forms count where they stand: inside <domain NAME> only
 * records for NAME, inside <virtual-mta NAME> only records of NAME.
 */
#ifndef TERN_ACCT_PATHS_H
#define TERN_ACCT_PATHS_H

#include <limits.h>

#include "cfg.h"

enum acct_src {
	ACCT_SRC_FILE = 1, ACCT_SRC_ACCLOG, ACCT_SRC_BOUNCELOG,
	ACCT_SRC_BCATLOG, ACCT_SRC_LOGFMT, ACCT_SRC_LOGDOMAIN
};

struct acct_path {
	int			 kind;		/* ACCT_SRC_* */
	const char		*written;	/* as in the config ('|' pipes);
						 * log-domain: %d expanded */
	const struct cfg_node	*node;		/* the block or the line */
	const char		*domain;	/* <domain NAME>, or NULL */
	const char		*vmta;		/* <virtual-mta NAME>, or NULL */
	const char		*format;	/* log-format-extended's */
};

/* Call fn for every file, in config order. */
void	acct_paths(const struct cfg *,
	    void (*fn)(const struct acct_path *, void *), void *arg);

#endif
