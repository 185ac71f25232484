/*
 * ternd.h - the supervisor.
 *
 * ternd is the only process that reads configuration files and the only
 * one that keeps root.  It opens what needs privilege (listening ports,
 * log and accounting files, the spool's directories), starts each daemon
 * (super.c), wires them to each other with socketpairs, and restarts any
 * that dies.
 */
#ifndef TERND_H
#define TERND_H

#include <sys/types.h>
#include <uv.h>

#include "cfg.h"
#include "mproc.h"

#define TERND_MAX_CHILDREN	64
#define TERND_MAX_LISTENERS	32
#define TERND_MAX_FILES		32

struct child {
	int		 proc;		/* PROC_* */
	int		 instance;	/* deliverd: 1..N; others 0 */
	pid_t		 pid;		/* 0: not running */
	struct mproc	*mp;		/* channel, NULL when gone */
	int		 restarts;
	int		 backoff;	/* seconds before the next start */
	time_t		 started;
	uv_timer_t	 timer;		/* pending restart */
};

struct listener {
	int		 kind;		/* LISTEN_* */
	char		 name[128];	/* "127.0.0.1:2525" or a path */
	int		 fd;
};

struct openfile {
	int		 kind;		/* FILE_* */
	char		 path[1024];
	int		 fd;
};

struct ternd {
	uv_loop_t	*loop;
	struct cfg	*cfg;
	uint32_t	 cfg_gen;
	int		 foreground;
	int		 verbose;
	int		 privileged;	/* root: users and chroots */
	int		 stopping;
	char		 libexec[1024];
	int		 buildtree;	/* libexec is the build directory */
	char		 spool[1024];
	char		 empty[1024];	/* chroot for smtpd, deliverd, mgmtd */
	char		 logdir[1024];	/* chroot for bounced */
	char		 user[64];	/* run-as-user */
	char		 quser[64];	/* queue-user */
	struct child	 children[TERND_MAX_CHILDREN];
	int		 nchildren;
	struct listener	 listeners[TERND_MAX_LISTENERS];
	int		 nlisteners;
	struct openfile	 files[TERND_MAX_FILES];
	int		 nfiles;
	int		 failed;	/* setup_files(): a file did not open */
	char		 logfile[1024];	/* log-file, resolved */
	int		 logfd;		/* -1: no log-file */
};

extern struct ternd	*env;

/* setup.c: what needs privilege, done once before the children start */
int	setup_paths(struct ternd *);
int	setup_listeners(struct ternd *);
int	setup_files(struct ternd *);
void	setup_suppress_file(struct ternd *);	/* setup_bounced.c */
int	setup_tcp_listener(struct ternd *, int kind, const char *spec);
int	setup_udp_socket(struct ternd *, int kind, const char *spec);

/* logfile.c: log-file and `tern rotate log` */
void	logfile_open(struct ternd *);
void	logfile_rotate_ctl(struct ternd *, struct mproc *, struct imsg *);

/* acct_files.c: piped accounting and rotation of accounting files */
/* `|COMMAND`: start it; the pipe's write end, or -1. */
int	acct_pipe_open(struct ternd *, const char *written);
/* BNC_ROTATE from bounced: rename aside, reopen, answer BNC_ROTATED. */
void	acct_rotate_msg(struct ternd *, struct mproc *, struct imsg *);

/* setup_http.c: mgmtd's HTTP listener and htpasswd content, its SNMP
 * socket */
int	setup_http(struct ternd *);

/* readfile.c: a small file read as root, NUL-terminated, or NULL (logged,
 * prefixed with `what` when given): certificates, keys, password files. */
char	*ternd_read_file(const char *path, size_t max, const char *what);

/* super.c: children */
void	super_init(struct ternd *);
void	super_start_all(struct ternd *);
void	super_reap(struct ternd *);
void	super_stop_all(struct ternd *);
struct child *super_child(int proc, int instance);
char	*super_procs_json(struct ternd *);

/* keys.c: DKIM keys for deliverd, read as root */
void	keys_send(struct ternd *, struct child *);
/* cafile.c: smtp-tls-ca-file bundles for deliverd */
void	cafile_send(struct ternd *, struct child *);
/* resolv.c: the host's name servers for deliverd */
void	resolv_send(struct ternd *, struct child *);

/* local.c: pipe delivery for deliverd (DLV_PIPE_REQ), run as root's
 * child as the pipe user; local_exited() is 1 when it reaped one. */
void	local_request(struct child *, struct imsg *);
int	local_exited(pid_t, int status);

/* secrets.c: TLS keys and password files for smtpd, read as root */
void	secrets_send(struct ternd *, struct child *);

/* setup_events.c: event shipping (bounced): its buffer directory, and
 * per sink the resolved host and the credentials (BNC_EVENT_SINK) */
void	setup_events_dir(struct ternd *);
void	events_send(struct ternd *, struct child *);

#endif
