/*
 * ctl.c - helpers of the control protocol (ctl.h).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "proto.h"

int
ctl_split(char *line, char **words, int max)
{
	char *p = line, *w;
	int n = 0;

	while ((w = strsep(&p, " \t\r\n")) != NULL) {
		if (*w == '\0')
			continue;
		if (n == max)
			return -1;
		words[n++] = w;
	}
	return n;
}

int
ctl_qop(const char *verb)
{
	if (strcmp(verb, "pause") == 0)
		return QOP_PAUSE;
	if (strcmp(verb, "resume") == 0)
		return QOP_RESUME;
	if (strcmp(verb, "schedule") == 0)
		return QOP_SCHEDULE;
	return 0;
}

/* Rewrite an absolute path without "." / ".." / "//" into out. */
static void
ctl_path_clean(const char *path, char *out)
{
	const char *seg, *p = path;
	char *o = out;
	size_t len;

	*o++ = '/';
	while (*p != '\0') {
		seg = p + strspn(p, "/");
		len = strcspn(seg, "/");
		p = seg + len;
		if (len == 0 || (len == 1 && seg[0] == '.'))
			continue;
		if (len == 2 && seg[0] == '.' && seg[1] == '.') {
			/* Back to the previous "/", never above the root. */
			if (o > out + 1) {
				o--;
				while (o > out + 1 && o[-1] != '/')
					o--;
			}
			continue;
		}
		memcpy(o, seg, len);
		o += len;
		*o++ = '/';
	}
	if (o > out + 1)
		o--;
	*o = '\0';
}

char *
ctl_path_resolve(const char *cfgpath, const char *path, char *out,
    size_t outsz)
{
	char buf[PATH_MAX], clean[PATH_MAX], cwd[PATH_MAX];
	const char *slash;
	int n, dirlen = 0;

	if (path[0] == '|') {
		if (strlcpy(out, path, outsz) >= outsz)
			return NULL;
		return out;
	}
	if (path[0] == '/')
		n = snprintf(buf, sizeof(buf), "%s", path);
	else {
		if (cfgpath != NULL && (slash = strrchr(cfgpath, '/')) != NULL)
			dirlen = slash - cfgpath;
		if (cfgpath != NULL && cfgpath[0] == '/')
			n = snprintf(buf, sizeof(buf), "%.*s/%s", dirlen,
			    cfgpath, path);
		else {
			/* A relative config path: the daemons and ternd
			 * share the working directory they were started
			 * in, so make it absolute from there. */
			if (getcwd(cwd, sizeof(cwd)) == NULL)
				strlcpy(cwd, "/", sizeof(cwd));
			n = snprintf(buf, sizeof(buf), "%s/%.*s%s%s", cwd,
			    dirlen, dirlen ? cfgpath : "", dirlen ? "/" : "",
			    path);
		}
	}
	if (n < 0 || (size_t)n >= sizeof(buf))
		return NULL;
	ctl_path_clean(buf, clean);
	if (strlcpy(out, clean, outsz) >= outsz)
		return NULL;
	return out;
}
