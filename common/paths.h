/*
 * paths.h - where things are, as the config says, resolved the same way by
 * ternd, the daemons and the CLI: a relative path in the config is relative
 * to the directory of the main config file.
 */
#ifndef TERN_PATHS_H
#define TERN_PATHS_H

#include <stddef.h>

#include "cfg.h"

/* The build passes where `cmake --install` puts tern.conf
 * (SYSCONFDIR/tern/tern.conf: /etc/tern/tern.conf for the package). */
#ifdef TERN_CONFIG_FILE
#define TERN_DEFAULT_CONFIG	TERN_CONFIG_FILE
#else
#define TERN_DEFAULT_CONFIG	"/etc/tern/tern.conf"
#endif
#define TERN_DEFAULT_SPOOL	"/var/spool/tern"
#define TERN_DEFAULT_CONTROL	"/run/tern/control.sock"
#define TERN_DEFAULT_EMPTY	"/var/empty/tern"
/* Members of this group may use the control socket (root always may). */
#define TERN_CONTROL_GROUP	"tern"

/* path as written in cfg → absolute path in buf; returns buf. */
const char	*cfg_path_resolve(const struct cfg *, const char *path,
		    char *buf, size_t bufsz);
/* The spool directory (<spool DIR> or the old `spool DIR`), absolute. */
const char	*cfg_spool_dir(const struct cfg *, char *buf, size_t bufsz);
/* The CLI control socket (control-socket), absolute. */
const char	*cfg_control_socket(const struct cfg *, char *buf, size_t bufsz);

#endif
