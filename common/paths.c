/*
 * paths.c - resolve the paths named in a config.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "paths.h"

const char *
cfg_path_resolve(const struct cfg *cfg, const char *path, char *buf,
    size_t bufsz)
{
	const char *slash;
	char cwd[PATH_MAX];

	if (path[0] == '/') {
		strlcpy(buf, path, bufsz);
		return buf;
	}
	/* Relative to the config file's directory; ternd makes cfg->path
	 * absolute, but a tree built by hand may still hold a bare name. */
	if (cfg->path != NULL && (slash = strrchr(cfg->path, '/')) != NULL)
		snprintf(buf, bufsz, "%.*s/%s", (int)(slash - cfg->path),
		    cfg->path, path);
	else if (getcwd(cwd, sizeof(cwd)) != NULL)
		snprintf(buf, bufsz, "%s/%s", cwd, path);
	else
		strlcpy(buf, path, bufsz);
	return buf;
}

const char *
cfg_spool_dir(const struct cfg *cfg, char *buf, size_t bufsz)
{
	const struct cfg_node *n = cfg_child(cfg->root, "spool");
	const char *dir = TERN_DEFAULT_SPOOL;

	if (n != NULL && n->argc > 0)
		dir = n->argv[0];
	else if (n != NULL && n->arg != NULL)
		dir = n->arg;
	return cfg_path_resolve(cfg, dir, buf, bufsz);
}

const char *
cfg_control_socket(const struct cfg *cfg, char *buf, size_t bufsz)
{
	return cfg_path_resolve(cfg, cfg_str(cfg->root, "control-socket",
	    TERN_DEFAULT_CONTROL), buf, bufsz);
}
