/*
 * util.c - small helpers every process uses.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

char *
xstrdup(const char *s)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		fatal("strdup");
	return d;
}
