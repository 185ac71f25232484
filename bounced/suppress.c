/*
 * suppress.c - the suppression list: addresses that are known dead or
 * that complained, so that Tern stops mailing them.
 *
 * An address is added when a `b` or `rb` row says bad-mailbox,
 * inactive-mailbox or bad-domain, and when a feedback report (`f` row)
 * names it.  The list is kept in bounced's directory (the accounting
 * directory) as "suppression.list", one address a line, appended as
 * addresses are added and read back at start; bounced pushes every
 * address to queued (BNC_SUPPRESS), which refuses to deliver to it: the
 * recipient gets a `b` row ("5.7.1 ... on the suppression list") instead
 * of a delivery attempt (queued/queue_suppress.c).
 */
#include <sys/tree.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "bounced.h"
#include "log.h"
#include "proto.h"

#define SUPPRESS_FILE	"suppression.list"

struct sup {
	RB_ENTRY(sup)	 entry;
	char		*addr;
};

static int
sup_cmp(struct sup *a, struct sup *b)
{
	return strcmp(a->addr, b->addr);
}

RB_HEAD(sup_tree, sup);
RB_PROTOTYPE(sup_tree, sup, entry, sup_cmp);
RB_GENERATE(sup_tree, sup, entry, sup_cmp);

static struct sup_tree	 sups = RB_INITIALIZER(&sups);
static int		 sup_fd = -1;
static size_t		 sup_count;
static struct mproc	*sup_q;		/* queued, when connected */

static char *
sup_norm(const char *addr)
{
	char *s, *p;

	while (*addr == '<' || isspace((unsigned char)*addr))
		addr++;
	if ((s = strdup(addr)) == NULL)
		fatal("sup_norm");
	s[strcspn(s, "> \t\r\n")] = '\0';
	for (p = s; *p; p++)
		*p = tolower((unsigned char)*p);
	return s;
}

static int
sup_insert(char *a)
{
	struct sup *s;

	if (*a == '\0' || strchr(a, '@') == NULL) {
		free(a);
		return 0;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("sup_insert");
	s->addr = a;
	if (RB_INSERT(sup_tree, &sups, s) != NULL) {
		free(a);
		free(s);
		return 0;
	}
	sup_count++;
	return 1;
}

static void
sup_push(struct mproc *q, const char *addr)
{
	if (q == NULL)
		return;
	m_create(q, BNC_SUPPRESS, 0, -1);
	m_add_string(q, addr);
	m_close(q);
}

/* ternd opened the list for us (we cannot create files in our chroot):
 * read what it holds, then append to it. */
void
suppress_file(int fd)
{
	char line[1024];
	FILE *fp;
	int dfd;

	if (sup_fd != -1)
		close(sup_fd);
	sup_fd = fd;
	if ((dfd = dup(fd)) == -1 || lseek(dfd, 0, SEEK_SET) == -1 ||
	    (fp = fdopen(dfd, "r")) == NULL) {
		log_warn("%s", SUPPRESS_FILE);
		if (dfd != -1)
			close(dfd);
		return;
	}
	while (fgets(line, sizeof(line), fp) != NULL)
		if (line[0] != '#')
			sup_insert(sup_norm(line));
	fclose(fp);
	log_debug("suppression list: %zu addresses", sup_count);
}

void
suppress_load(void)
{
	if (sup_fd == -1)
		log_warnx("no %s from ternd: suppressions are kept in memory "
		    "only", SUPPRESS_FILE);
}

int
suppress_add(const char *addr, const char *why)
{
	char *a, line[1100];
	int n;

	if (addr == NULL)
		return 0;
	a = sup_norm(addr);
	if (!sup_insert(a))
		return 0;
	n = snprintf(line, sizeof(line), "%s\n", a);
	if (sup_fd != -1 && (n <= 0 || write(sup_fd, line, n) != n))
		log_warn("%s", SUPPRESS_FILE);
	log_info("<%s> suppressed (%s)", a, why);
	sup_push(sup_q, a);
	return 1;
}

void
suppress_queued(struct mproc *q)
{
	struct sup *s;

	sup_q = q;
	RB_FOREACH(s, sup_tree, &sups)
		sup_push(q, s->addr);
}

size_t
suppress_count(void)
{
	return sup_count;
}

/* Whether a failure of this category means the address is dead. */
int
suppress_category(const char *cat)
{
	return cat != NULL && (strcmp(cat, "bad-mailbox") == 0 ||
	    strcmp(cat, "inactive-mailbox") == 0 ||
	    strcmp(cat, "bad-domain") == 0);
}
