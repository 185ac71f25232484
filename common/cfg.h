/*
 * cfg.h - the configuration model shared by every Tern process.
 *
 * Only ternd reads configuration files.  It lexes and parses them into a
 * tree of cfg_node (blocks and directives, each remembering FILE:LINE),
 * validates every directive against the directive table, and then sends
 * the tree to each daemon (cfg_wire.c).  Daemons never see a file; they
 * query the tree through the typed accessors and the lookup layer below
 * (most-specific-wins domain, VMTA and source resolution).
 */
#ifndef TERN_CFG_H
#define TERN_CFG_H

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>

/* Value types of directives (the guide's types plus a few of ours). */
enum cfg_type {
	CT_BLOCK,	/* <name arg> ... </name> */
	CT_STRING,	/* free text, one or more tokens joined by one space */
	CT_BOOL,	/* yes|no|true|false|on|off */
	CT_INT,		/* non-negative integer */
	CT_TIME,	/* 1w2d12h, 300s, 10m, bare number = seconds */
	CT_TIMELIST,	/* comma separated TIME list (retry-after) */
	CT_SIZE,	/* 50M, 512k, 1g, bare = bytes; "unlimited" */
	CT_RATE,	/* 100/h, 100/15m, 83/5s, unlimited, 0 */
	CT_CIDR,	/* 10/8, 1.2.3.4, ::1/128, 0/0 */
	CT_HOSTPORT,	/* host[:port] or [v6]:port */
	CT_LISTEN,	/* IP:PORT [source=NAME] (smtp-listener) */
	CT_PATH,	/* a file that must exist when the config is loaded;
			 * stored absolute (relative = to the naming file) */
	CT_DIR,		/* a directory path (created by ternd when needed) */
	CT_ENUM,	/* one of the words listed in cfg_directive.enums */
	CT_EMAIL,	/* local@domain */
	CT_ANY,		/* any token list, validated by the consumer */
};

/* Which daemons act on a directive (bit set); 0 = parsed, not yet used. */
#define CFG_USE_TERND		0x01
#define CFG_USE_SMTPD		0x02
#define CFG_USE_QUEUED		0x04
#define CFG_USE_DELIVERD	0x08
#define CFG_USE_BOUNCED		0x10
#define CFG_USE_MGMTD		0x20

/* Scopes a directive may appear in (bit set). */
#define CFG_S_GLOBAL		0x0001
#define CFG_S_SOURCE		0x0002	/* <source> and <accepted-connect> */
#define CFG_S_DOMAIN		0x0004	/* <domain> (global, in vmta, in pool) */
#define CFG_S_VMTA		0x0008	/* <virtual-mta> */
#define CFG_S_POOL		0x0010	/* <virtual-mta-pool> */
#define CFG_S_ACCT		0x0020	/* <acct-file> */
#define CFG_S_SPOOL		0x0040	/* <spool> */
#define CFG_S_LISTENER		0x0080	/* <smtp-listener> */
#define CFG_S_PATTERNS		0x0100	/* <smtp-pattern-list>, <pattern-list>, <bounce-category-patterns> */
#define CFG_S_SMTPUSER		0x0200	/* <smtp-user> */
#define CFG_S_SRCPOOL		0x0400	/* seeds' <source-pool> */
#define CFG_S_OTHER		0x0800	/* any other block (processors, lists, ...) */
#define CFG_S_MXROLLUP		0x1000	/* <mx-rollup-list> */
#define CFG_S_SRCGROUP		0x2000	/* <source-group> */
#define CFG_S_CLUSTER		0x4000	/* <cluster> */
#define CFG_S_EVENTS		0x8000	/* <acct-amqp>, <acct-webhook> */

struct cfg_directive {
	const char	*name;		/* canonical name */
	const char	*alias_of;	/* non-NULL: this name maps to that one */
	enum cfg_type	 type;
	unsigned	 scopes;	/* where it may appear (CFG_S_*) */
	unsigned	 block_scope;	/* for CT_BLOCK: the scope it opens */
	unsigned	 used_by;	/* CFG_USE_*; 0 = accepted, not acted on */
	const char	*defval;	/* default as text, NULL = none */
	const char	*enums;		/* CT_ENUM: "yes|no|if-available" */
	int		 repeatable;	/* may appear several times in a scope */
	int		 needs_arg;	/* CT_BLOCK: argument required */
	const char	*help;		/* one line, for tern.conf(5) */
	/* Added after the first version of this header. */
	enum cfg_type	 arg_type;	/* CT_BLOCK: type of its argument */
	int		 inline_ok;	/* CT_BLOCK that may also be written as
					 * a one-line directive ("spool DIR") */
	int		 maxargs;	/* value tokens allowed, 0 = by type */
	int		 noarg;		/* CT_BLOCK: takes no argument */
	unsigned	 idle_scopes;	/* CFG_S_* where it is accepted but
					 * nothing acts on it (a warning) */
	const char	*idle_why;	/* what the warning says instead */
};

struct cfg_node {
	const struct cfg_directive *def;	/* NULL only for the root */
	char		*name;		/* canonical name (def->name) */
	char		*as_written;	/* the name used in the file */
	char		*arg;		/* block argument, or the value joined */
	int		 argc;		/* value tokens (quotes removed) */
	char		**argv;
	char		*file;
	int		 line;
	struct cfg_node	*parent;
	struct cfg_node	*child;		/* first child */
	struct cfg_node	*next;		/* next sibling */
	struct cfg_node	*last;		/* last child, for O(1) append */
};

struct cfg {
	struct cfg_node	*root;
	char		*path;		/* main file */
	int		 nerrors;
	int		 nwarnings;
	char		**msgs;		/* "FILE:LINE: message", errors first */
	int		 nmsgs;
};

/* Bounds on input.  cfg_wire.c relies on CFG_MAX_NESTING (its stack is
 * 16 deep) and CFG_MAX_ARGS (it takes at most 256 values). */
#define CFG_MAX_LINE		65536	/* bytes per line */
#define CFG_MAX_FILE		(16 * 1024 * 1024) /* bytes per file */
#define CFG_MAX_INCLUDE		16	/* include nesting */
#define CFG_MAX_NESTING		10	/* block nesting (tree depth <= 11) */
#define CFG_MAX_ARGS		256	/* value tokens per directive */
#define CFG_MAX_RETRY		30	/* entries in a time list */

/* Parsing.  cfg_load() always returns a tree (possibly partial) and
 * records every error and warning in cfg->msgs; nerrors == 0 means valid.
 * cfg_load_string() parses text as if it came from `name`. */
struct cfg	*cfg_load(const char *path);
struct cfg	*cfg_load_string(const char *name, const char *text);
void		 cfg_free(struct cfg *);
void		 cfg_print_msgs(const struct cfg *, FILE *);

/* Directive table. */
const struct cfg_directive *cfg_directive_find(const char *name);
const struct cfg_directive *cfg_directive_table(size_t *n);
/* The entry for `name` valid in `scope` (one CFG_S_* bit); block: 1 only
 * blocks, 0 only directives (inline_ok blocks included), -1 either.  An
 * alias is returned as is (check alias_of).  NULL if none is valid there;
 * cfg_directive_find() then tells "unknown" from "wrong scope". */
const struct cfg_directive *cfg_directive_lookup(const char *name,
		    unsigned scope, int block);
/* The canonical entry of an alias (or the entry itself). */
const struct cfg_directive *cfg_directive_canon(const struct cfg_directive *);
const char	*cfg_type_name(enum cfg_type);
/* The scope a node opens: CFG_S_GLOBAL for the root. */
unsigned	 cfg_node_scope(const struct cfg_node *);

/* Building trees by hand (cfg_wire.c rebuilds the tree in daemons). */
struct cfg	*cfg_new(void);
struct cfg_node	*cfg_node_add(struct cfg_node *parent, const char *name,
		    const char *as_written, int argc, char **argv,
		    const char *file, int line);

/* Navigation.  "name" is a canonical name or an alias. */
struct cfg_node	*cfg_child(const struct cfg_node *scope, const char *name);
struct cfg_node	*cfg_next_named(const struct cfg_node *after, const char *name);
const char	*cfg_str(const struct cfg_node *scope, const char *name,
		    const char *dflt);
/* Typed getters: the directive's value in `scope` only, else its table
 * default, else dflt. */
int		 cfg_bool(const struct cfg_node *scope, const char *name, int dflt);
int64_t		 cfg_int(const struct cfg_node *scope, const char *name, int64_t dflt);
int64_t		 cfg_time(const struct cfg_node *scope, const char *name, int64_t dflt);
uint64_t	 cfg_size(const struct cfg_node *scope, const char *name, uint64_t dflt);
/* cfg_time(): "never" is INT64_MAX; a time list gives its first entry.
 * cfg_int(): "unlimited" is INT64_MAX.  cfg_get_rate() fills *out and
 * returns 0, or -1 when neither set nor defaulted.  cfg_timelist()
 * returns the number of entries stored in out[max], 0 if unset. */
struct cfg_rate;
int		 cfg_get_rate(const struct cfg_node *scope, const char *name,
		    struct cfg_rate *out);
int		 cfg_timelist(const struct cfg_node *scope, const char *name,
		    int64_t *out, int max);

/* Value types.  Each returns 0 on success, -1 with *err set to a static
 * message otherwise. */
struct cfg_rate {
	uint64_t	 count;		/* 0 with unlimited=1: no limit */
	uint64_t	 per_secs;
	int		 unlimited;
};
struct cfg_cidr {
	int		 af;		/* AF_INET or AF_INET6 */
	uint8_t		 addr[16];
	int		 bits;
};
int	cfg_parse_bool(const char *, int *, const char **err);
int	cfg_parse_int(const char *, int64_t *, const char **err);
int	cfg_parse_time(const char *, int64_t *secs, const char **err);
int	cfg_parse_timelist(const char *, int64_t *out, int max, int *n,
	    const char **err);
int	cfg_parse_size(const char *, uint64_t *bytes, const char **err);
int	cfg_parse_rate(const char *, struct cfg_rate *, const char **err);
int	cfg_parse_cidr(const char *, struct cfg_cidr *, const char **err);
int	cfg_cidr_match(const struct cfg_cidr *, const struct sockaddr *);
int	cfg_parse_hostport(const char *, char *host, size_t hostsz, int *port,
	    int defport, const char **err);
/* smtp-listener address: CIDR:PORT or [IPv6]:PORT, the port required. */
int	cfg_parse_listen(const char *, struct cfg_cidr *, int *port,
	    const char **err);

/* Semantics (most specific wins, cfg_lookup.c). */
/* The <virtual-mta NAME> block, or NULL. */
struct cfg_node	*cfg_vmta(const struct cfg *, const char *name);
/* The value node of `directive` for recipient `domain` sent through VMTA
 * `vmta` (NULL = default): VMTA <domain> blocks, then pool, then global
 * <domain> blocks (exact, *.suffix, *), then the VMTA itself, then global.
 * NULL when set nowhere. */
struct cfg_node	*cfg_domain_setting(const struct cfg *, const char *vmta,
		    const char *domain, const char *directive);
/* The most specific <source> block matching the address, or NULL. */
struct cfg_node	*cfg_source_match(const struct cfg *, const struct sockaddr *);
/* The <virtual-mta-pool NAME> block, or NULL. */
struct cfg_node	*cfg_pool(const struct cfg *, const char *name);
/* How well a <domain> pattern matches a recipient domain: 0 = not at all,
 * higher = more specific (longer suffix; exact > *.d > [*.]d; explicit
 * names beat $macro expansions; "*" = 1).  cfg may be NULL (no macros). */
int		 cfg_domain_match(const struct cfg *, const char *pattern,
		    const char *domain);
/* Whether n is a <domain> block. */
int		 cfg_is_domain_block(const struct cfg_node *);
/* The blocks whose settings and <domain> blocks apply to mail of vmta,
 * after its own and before the global ones (cfg_domain_setting): *v its
 * <virtual-mta> and *pool the first pool listing it, or *v NULL and
 * *pool the pool of that name; NULL when none. */
void		 cfg_vmta_scopes(const struct cfg *, const char *vmta,
		    struct cfg_node **v, struct cfg_node **pool);
/* The most specific <domain> block directly in `container` (root, a
 * VMTA or a pool) matching `domain`, or NULL. */
struct cfg_node	*cfg_domain_block(const struct cfg *,
		    const struct cfg_node *container, const char *domain);
/* Whether mail to rcpt is for bounced: the bounce domain, the address
 * lists of bounce and feedback-loop processors (cfg_inbound.c). */
int		 cfg_inbound_addr(const struct cfg *, const char *rcpt);
/* Whether any recipient can be (bounce-domain or a processor is set):
 * else cfg_inbound_addr() says no to all. */
int		 cfg_inbound_any(const struct cfg *);
/* "FILE:LINE" of a setting's node, "default" for NULL; returns buf. */
const char	*cfg_node_origin(const struct cfg_node *, char *buf,
		    size_t bufsz);

/* Lexer (cfg_lex.c): turns text into directive lines and block tags.
 * A line may hold several items ("<domain *> max-smtp-out 5 </domain>").
 * cfg_lex_next() hands over an item (the caller clears it) and returns
 * its kind; CFG_LEX_EOF at the end. */
enum cfg_lex_kind {
	CFG_LEX_EOF,
	CFG_LEX_DIRECTIVE,	/* argv[0] is the name, then the values */
	CFG_LEX_OPEN,		/* <name args>: argv[0] name, then the args */
	CFG_LEX_CLOSE,		/* </name [args]> */
	CFG_LEX_ERROR,		/* err says what; the rest of the line is skipped */
};
struct cfg_lex_item {
	enum cfg_lex_kind kind;
	int		 line;
	int		 argc;
	char		**argv;
	const char	*err;
};
struct cfg_lex {
	const char	*buf;
	size_t		 len;
	size_t		 pos;
	int		 line;		/* last physical line read */
	struct cfg_lex_item *items;	/* items of that line not yet handed out */
	int		 nitems;
	int		 cur;
};
void	cfg_lex_init(struct cfg_lex *, const char *buf, size_t len);
enum cfg_lex_kind cfg_lex_next(struct cfg_lex *, struct cfg_lex_item *);
void	cfg_lex_item_clear(struct cfg_lex_item *);
void	cfg_lex_done(struct cfg_lex *);

#endif
