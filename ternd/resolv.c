/*
 * resolv.c - the host's name servers, for deliverd and smtpd.
 *
 * They resolve with udns inside an empty chroot, where there is no
 * /etc/resolv.conf to read.  When the config has no `name-server` lines,
 * ternd reads the "nameserver" lines of /etc/resolv.conf (or of the file
 * named by TERN_RESOLV_CONF, which the tests use) whenever it starts one
 * of them, and sends them down before IMSG_START (common/resolver.c).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "proto.h"
#include "ternd.h"

#define RESOLV_MAX	8	/* name servers passed on */

void
resolv_send(struct ternd *t, struct child *c)
{
	char line[512], *p, *addr[RESOLV_MAX];
	const char *path;
	FILE *f;
	int i, n = 0;

	if ((c->proc != PROC_DELIVERD && c->proc != PROC_SMTPD) ||
	    t->cfg == NULL ||
	    cfg_child(t->cfg->root, "name-server") != NULL)
		return;
	if ((path = getenv("TERN_RESOLV_CONF")) == NULL || *path == '\0')
		path = "/etc/resolv.conf";
	if ((f = fopen(path, "re")) == NULL) {
		log_warn("%s (%s will have no name server)", path,
		    proc_name(c->proc));
		return;
	}
	while (n < RESOLV_MAX && fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "nameserver", 10) != 0 ||
		    !isspace((unsigned char)line[10]))
			continue;
		p = line + 10;
		p += strspn(p, " \t");
		p[strcspn(p, " \t\r\n#;")] = '\0';
		if (*p != '\0' && (addr[n] = strdup(p)) != NULL)
			n++;
	}
	fclose(f);
	m_create(c->mp, DLV_NAMESERVERS, 0, -1);
	m_add_u32(c->mp, n);
	for (i = 0; i < n; i++) {
		m_add_string(c->mp, addr[i]);
		free(addr[i]);
	}
	m_close(c->mp);
}
