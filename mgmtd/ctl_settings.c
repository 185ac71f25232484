/*
 * ctl_settings.c - "show settings [DOMAIN[/VMTA]]": the effective values
 * of the running configuration, as PowerMTA's `show settings` lists them
 * (every directive by name, alphabetically, with its default when not
 * set).  Without a queue: the global directives.  "from" (and
 * "vmtaFrom") say where each value came from: "FILE:LINE", or "default"
 * (cfg_node_origin()).
 */
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "log.h"
#include "mgmtd.h"

/* The value of a node as one string (arg, else argv joined). */
static json_t *
ctl_node_value(const struct cfg_node *n)
{
	char buf[1024] = "";
	int i;

	if (n->arg != NULL)
		return json_string(n->arg);
	for (i = 0; i < n->argc; i++) {
		if (i > 0)
			strlcat(buf, " ", sizeof(buf));
		strlcat(buf, n->argv[i], sizeof(buf));
	}
	return json_string(buf);
}

static int
ctl_dir_cmp(const void *a, const void *b)
{
	const struct cfg_directive *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

/* The canonical, non-block directives valid in `scope`, sorted. */
static const struct cfg_directive **
ctl_directives(unsigned scope, size_t *np)
{
	const struct cfg_directive *tab, **v;
	size_t n, i, k = 0;

	tab = cfg_directive_table(&n);
	if ((v = calloc(n ? n : 1, sizeof(*v))) == NULL)
		fatal("ctl_directives");
	for (i = 0; i < n; i++)
		if (tab[i].alias_of == NULL && tab[i].type != CT_BLOCK &&
		    (tab[i].scopes & scope))
			v[k++] = &tab[i];
	qsort(v, k, sizeof(*v), ctl_dir_cmp);
	*np = k;
	return v;
}

/* Set values of `name` in scope: one string, or an array if repeated. */
static json_t *
ctl_scope_value(const struct cfg_node *scope, const char *name)
{
	const struct cfg_node *n, *next;
	json_t *arr;

	if ((n = cfg_child(scope, name)) == NULL)
		return NULL;
	if ((next = cfg_next_named(n, name)) == NULL)
		return ctl_node_value(n);
	arr = json_array();
	for (; n != NULL; n = cfg_next_named(n, name))
		json_array_append_new(arr, ctl_node_value(n));
	return arr;
}

/* from[name] = where the value shown came from (node NULL: default). */
static void
ctl_from(json_t *from, const char *name, const struct cfg_node *node)
{
	char buf[1200];

	json_object_set_new(from, name,
	    json_string(cfg_node_origin(node, buf, sizeof(buf))));
}

static json_t *
ctl_settings_global(const struct cfg *cfg)
{
	const struct cfg_directive **v;
	json_t *set = json_object(), *from = json_object(), *val;
	size_t n, i;

	v = ctl_directives(CFG_S_GLOBAL, &n);
	for (i = 0; i < n; i++) {
		if ((val = ctl_scope_value(cfg->root, v[i]->name)) == NULL &&
		    v[i]->defval != NULL)
			val = json_string(v[i]->defval);
		if (val != NULL) {
			json_object_set_new(set, v[i]->name, val);
			ctl_from(from, v[i]->name, cfg_child(cfg->root,
			    v[i]->name));
		}
	}
	free(v);
	return json_pack("{s:s?,s:o,s:o}", "config", cfg->path, "settings",
	    set, "from", from);
}

static json_t *
ctl_settings_vmta(const struct cfg *cfg, const struct cfg_node *vmta,
    json_t *from)
{
	const struct cfg_directive **v;
	const struct cfg_node *node;
	json_t *set = json_object(), *val;
	size_t n, i;

	v = ctl_directives(CFG_S_VMTA, &n);
	for (i = 0; i < n; i++) {
		node = vmta;
		if ((val = ctl_scope_value(vmta, v[i]->name)) == NULL &&
		    (v[i]->scopes & CFG_S_GLOBAL)) {
			node = cfg->root;
			val = ctl_scope_value(cfg->root, v[i]->name);
		}
		if (val == NULL && v[i]->defval != NULL)
			val = json_string(v[i]->defval);
		if (val != NULL) {
			json_object_set_new(set, v[i]->name, val);
			ctl_from(from, v[i]->name, cfg_child(node,
			    v[i]->name));
		}
	}
	free(v);
	return set;
}

static json_t *
ctl_settings_queue(const struct cfg *cfg, const char *domain,
    const char *vmta, json_t *from)
{
	const struct cfg_directive **v;
	const struct cfg_node *node;
	json_t *set = json_object(), *val;
	size_t n, i;

	v = ctl_directives(CFG_S_DOMAIN, &n);
	for (i = 0; i < n; i++) {
		val = NULL;
		if ((node = cfg_domain_setting(cfg, vmta, domain,
		    v[i]->name)) != NULL)
			val = ctl_node_value(node);
		else if (v[i]->defval != NULL)
			val = json_string(v[i]->defval);
		if (val != NULL) {
			json_object_set_new(set, v[i]->name, val);
			ctl_from(from, v[i]->name, node);
		}
	}
	free(v);
	return set;
}

json_t *
ctl_settings(const struct cfg *cfg, const char *queue, const char **err)
{
	const struct cfg_node *vnode = NULL;
	json_t *from, *vfrom;
	char domain[256];
	const char *slash, *vmta = NULL;
	size_t len;

	if (queue == NULL)
		return ctl_settings_global(cfg);
	from = json_object();
	vfrom = json_object();
	if ((slash = strchr(queue, '/')) != NULL) {
		vmta = slash + 1;
		len = slash - queue;
	} else
		len = strlen(queue);
	if (len == 0 || len >= sizeof(domain)) {
		*err = "bad queue name";
		json_decref(from);
		json_decref(vfrom);
		return NULL;
	}
	memcpy(domain, queue, len);
	domain[len] = '\0';
	if (vmta != NULL && (*vmta == '\0' || strcmp(vmta, "{default}") == 0))
		vmta = NULL;
	if (vmta != NULL && (vnode = cfg_vmta(cfg, vmta)) == NULL) {
		*err = "no such virtual-mta";
		json_decref(from);
		json_decref(vfrom);
		return NULL;
	}
	return json_pack("{s:s,s:s,s:s?,s:o,s:o,s:o,s:o}", "queue", queue,
	    "domain", domain, "vmta", vmta,
	    "vmtaSettings", vnode ? ctl_settings_vmta(cfg, vnode, vfrom) :
	    json_object(), "vmtaFrom", vfrom,
	    "settings", ctl_settings_queue(cfg, domain, vmta, from),
	    "from", from);
}
