/*
 * suplist.c - the suppression list set and its file's lines (suplist.h).
 */
#include <sys/tree.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mproc.h"
#include "proto.h"
#include "suplist.h"
#include "util.h"

struct supent {
	RB_ENTRY(supent) entry;
	char		*vmta;		/* "" global */
	char		*addr;
};

static int
supent_cmp(struct supent *a, struct supent *b)
{
	int c;

	if ((c = strcmp(a->vmta, b->vmta)) != 0)
		return c;
	return strcmp(a->addr, b->addr);
}

RB_HEAD(suptree, supent);
RB_PROTOTYPE(suptree, supent, entry, supent_cmp);
RB_GENERATE(suptree, supent, entry, supent_cmp);

struct suplist {
	struct suptree	tree;
	size_t		count;
};

struct suplist *
suplist_new(void)
{
	struct suplist *l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		fatal("suplist_new");
	RB_INIT(&l->tree);
	return l;
}

static void
supent_free(struct supent *e)
{
	free(e->vmta);
	free(e->addr);
	free(e);
}

void
suplist_free(struct suplist *l)
{
	struct supent *e, *tmp;

	if (l == NULL)
		return;
	RB_FOREACH_SAFE(e, suptree, &l->tree, tmp) {
		RB_REMOVE(suptree, &l->tree, e);
		supent_free(e);
	}
	free(l);
}

const char *
suplist_norm(const char *addr, char *buf, size_t sz)
{
	size_t n = 0;

	if (addr == NULL)
		return NULL;
	while (*addr == '<' || isspace((unsigned char)*addr))
		addr++;
	for (; *addr != '\0' && *addr != '>'; addr++) {
		if (isspace((unsigned char)*addr) ||
		    iscntrl((unsigned char)*addr) || n + 1 >= sz)
			return NULL;
		buf[n++] = tolower((unsigned char)*addr);
	}
	buf[n] = '\0';
	if (n < 3 || strchr(buf, '@') == NULL || buf[0] == '@' ||
	    buf[n - 1] == '@' || buf[0] == '!' || buf[0] == '#')
		return NULL;
	return buf;
}

static const char *
sup_scope(const char *vmta)
{
	return vmta != NULL ? vmta : "";
}

int
suplist_add(struct suplist *l, const char *vmta, const char *addr)
{
	char a[SUPLIST_MAXLINE];
	struct supent *e;

	if (suplist_norm(addr, a, sizeof(a)) == NULL)
		return -1;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		fatal("suplist_add");
	e->vmta = xstrdup(sup_scope(vmta));
	e->addr = xstrdup(a);
	if (RB_INSERT(suptree, &l->tree, e) != NULL) {
		supent_free(e);
		return 0;
	}
	l->count++;
	return 1;
}

static struct supent *
sup_find(const struct suplist *l, const char *vmta, const char *addr)
{
	struct supent key;

	key.vmta = (char *)sup_scope(vmta);
	key.addr = (char *)addr;
	return RB_FIND(suptree, (struct suptree *)&l->tree, &key);
}

int
suplist_remove(struct suplist *l, const char *vmta, const char *addr)
{
	char a[SUPLIST_MAXLINE];
	struct supent *e;

	if (suplist_norm(addr, a, sizeof(a)) == NULL)
		return -1;
	if ((e = sup_find(l, vmta, a)) == NULL)
		return 0;
	RB_REMOVE(suptree, &l->tree, e);
	supent_free(e);
	l->count--;
	return 1;
}

const char *
suplist_match(const struct suplist *l, const char *vmta, const char *addr)
{
	char a[SUPLIST_MAXLINE];
	struct supent *e;

	if (l == NULL || l->count == 0 ||
	    suplist_norm(addr, a, sizeof(a)) == NULL)
		return NULL;
	if ((e = sup_find(l, "", a)) != NULL)
		return e->vmta;
	if (vmta != NULL && *vmta != '\0' &&
	    (e = sup_find(l, vmta, a)) != NULL)
		return e->vmta;
	return NULL;
}

size_t
suplist_count(const struct suplist *l)
{
	return l != NULL ? l->count : 0;
}

void
suplist_foreach(const struct suplist *l,
    void (*fn)(const char *, const char *, void *), void *arg)
{
	struct supent *e;

	RB_FOREACH(e, suptree, (struct suptree *)&l->tree)
		fn(e->vmta, e->addr, arg);
}

int
suplist_apply_line(struct suplist *l, const char *line)
{
	char buf[SUPLIST_MAXLINE], *p = buf, *addr, *vmta, *rest;
	int remove = 0, r;

	if (strlen(line) >= sizeof(buf))
		return -1;
	strlcpy(buf, line, sizeof(buf));
	buf[strcspn(buf, "\r\n")] = '\0';
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	if (*p == '!') {
		remove = 1;
		p++;
	}
	addr = strsep(&p, " \t");
	vmta = p != NULL ? strsep(&p, " \t") : NULL;
	rest = p;
	if (rest != NULL && rest[strspn(rest, " \t")] != '\0')
		return -1;
	if (vmta != NULL && *vmta == '\0')
		vmta = NULL;
	r = remove ? suplist_remove(l, vmta, addr) :
	    suplist_add(l, vmta, addr);
	return r;
}

int
suplist_format_line(char *buf, size_t sz, int add, const char *vmta,
    const char *addr)
{
	int n;

	n = snprintf(buf, sz, "%s%s%s%s\n", add ? "" : "!", addr,
	    vmta != NULL && *vmta != '\0' ? " " : "",
	    vmta != NULL ? vmta : "");
	return n > 0 && (size_t)n < sz ? n : -1;
}

void
suplist_send(struct mproc *p, int add, const char *vmta, const char *addr)
{
	if (p == NULL)
		return;
	m_create(p, BNC_SUPPRESS, 0, -1);
	m_add_u32(p, add);
	m_add_string(p, vmta != NULL && *vmta != '\0' ? vmta : NULL);
	m_add_string(p, addr);
	m_close(p);
}

int
suplist_recv(struct suplist **l, struct msg *m, uint32_t *add,
    const char **vmta, const char **addr)
{
	m_get_u32(m, add);
	m_get_string(m, vmta);
	m_get_string(m, addr);
	m_end(m);
	if (*l == NULL)
		*l = suplist_new();
	return (*add ? suplist_add(*l, *vmta, *addr) :
	    suplist_remove(*l, *vmta, *addr)) == 1;
}

static void
suplist_send_one(const char *vmta, const char *addr, void *arg)
{
	suplist_send(arg, 1, vmta, addr);
}

void
suplist_send_all(const struct suplist *l, struct mproc *p)
{
	if (l != NULL && p != NULL)
		suplist_foreach(l, suplist_send_one, p);
}
