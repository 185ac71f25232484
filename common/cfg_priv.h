/*
 * cfg_priv.h - what the parts of the configuration parser share
 * (cfg_parse.c, cfg_node.c, cfg_check.c); not for daemons.
 */
#ifndef TERN_CFG_PRIV_H
#define TERN_CFG_PRIV_H

#include "cfg.h"

struct cfg_msgs {
	char		**v;
	int		 n;
};

struct cfg_parser {
	struct cfg	*cfg;
	struct cfg_msgs	 errs;
	struct cfg_msgs	 warns;
	char		*files[CFG_MAX_INCLUDE + 1];	/* being read, realpath */
	int		 nfiles;
};

/* cfg_parse.c: messages */
void	cfg_error(struct cfg_parser *, const char *file, int line,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* cfg_sinks.c: <acct-amqp>, <acct-webhook> (whole tree) */
void	cfg_check_sinks(struct cfg_parser *);

/* cfg_node.c */
char	*cfg_join(int argc, char **argv);
void	 cfg_node_free(struct cfg_node *);
struct cfg_node *cfg_node_new(const struct cfg_directive *, const char *name,
	    const char *as_written, int argc, char **argv, const char *file,
	    int line);
void	 cfg_node_append(struct cfg_node *parent, struct cfg_node *);

/* cfg_check.c */
const char *cfg_where(const struct cfg_node *container, char *buf, size_t sz);
int	 cfg_in_list(const char *words, const char *w);
int	 cfg_is_regex(const char *);
int	 cfg_check_hostname(const char *);
char	*cfg_abspath(const char *file, const char *path);
char	*cfg_resolve(const char *file, const char *path);
int	 cfg_check_value(struct cfg_parser *, const char *file, int line,
	    const char *name, const struct cfg_directive *, enum cfg_type,
	    char **v);
int	 cfg_check_values(struct cfg_parser *, const char *file, int line,
	    const char *name, const struct cfg_directive *, int *argc,
	    char **argv);

#endif
