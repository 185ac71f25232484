/*
 * util.h - small helpers every process uses.
 */
#ifndef TERN_UTIL_H
#define TERN_UTIL_H

/* strdup that never returns NULL for a string (fatal when out of memory)
 * and passes NULL through, for optional fields. */
char	*xstrdup(const char *);

#endif
