/*
 * ctl_resolve.c - `tern resolve DOMAIN`: deliverd's answer (CTL_RESOLVE,
 * see proto.h) as one JSON document.
 */
#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include "mgmtd.h"
#include "proto.h"

#define RESOLVE_MAX_ADDRS	64	/* per host: more is a broken reply */

int
ctl_resolve_valid(const char *d)
{
	size_t n = strlen(d);

	if (n == 0 || n > 253)
		return 0;
	for (; *d != '\0'; d++)
		if (!isalnum((unsigned char)*d) && strchr("-_.", *d) == NULL)
			return 0;
	return 1;
}

static json_t *
ctl_resolve_host(struct msg *m)
{
	const char *name, *addr, *err;
	uint32_t pref, n, i;
	json_t *h, *addrs = json_array();

	m_get_string(m, &name);
	m_get_u32(m, &pref);
	m_get_string(m, &err);
	m_get_u32(m, &n);
	for (i = 0; i < n && i < RESOLVE_MAX_ADDRS; i++) {
		m_get_string(m, &addr);
		json_array_append_new(addrs, json_string(addr ? addr : "?"));
	}
	h = json_pack("{s:s,s:o,s:o}", "host", name ? name : "",
	    "pref", pref == UINT32_MAX ? json_null() : json_integer(pref),
	    "addresses", addrs);
	if (err != NULL)
		json_object_set_new(h, "error", json_string(err));
	return h;
}

json_t *
ctl_resolve_json(const char *domain, struct msg *m)
{
	const char *err;
	uint32_t status, ttl, n, i;
	json_t *j, *mx = json_array();

	m_get_u32(m, &status);
	m_get_string(m, &err);
	m_get_u32(m, &ttl);
	m_get_u32(m, &n);
	for (i = 0; i < n; i++)
		json_array_append_new(mx, ctl_resolve_host(m));
	m_end(m);
	j = json_pack("{s:s,s:b,s:i,s:o}", "domain", domain, "ok",
	    status == 0, "ttl", (int)ttl, "mx", mx);
	if (status != 0)
		json_object_set_new(j, "error", json_string(err ? err :
		    "lookup failed"));
	return j;
}
