/*
 * cfg_wire.c - send the parsed config tree to a daemon and rebuild it
 * there.  The tree goes depth first, one IMSG_CFG_NODE per node with its
 * depth, so the receiver re-creates it without any parsing: ternd already
 * validated every value.
 */
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "daemon.h"
#include "log.h"
#include "proto.h"

#define CFG_MAX_DEPTH	16

static void
cfg_wire_node(struct mproc *p, const struct cfg_node *n, uint32_t depth)
{
	const struct cfg_node *c;
	int i;

	m_create(p, IMSG_CFG_NODE, 0, -1);
	m_add_u32(p, depth);
	m_add_string(p, n->name);
	m_add_string(p, n->as_written);
	m_add_string(p, n->file);
	m_add_u32(p, n->line);
	m_add_u32(p, n->argc);
	for (i = 0; i < n->argc; i++)
		m_add_string(p, n->argv[i]);
	m_close(p);
	for (c = n->child; c != NULL; c = c->next)
		cfg_wire_node(p, c, depth + 1);
}

void
cfg_wire_send(struct mproc *p, const struct cfg *cfg, uint32_t gen)
{
	const struct cfg_node *c;

	m_create(p, IMSG_CFG_BEGIN, 0, -1);
	m_add_u32(p, gen);
	m_add_string(p, cfg->path);
	m_close(p);
	for (c = cfg->root->child; c != NULL; c = c->next)
		cfg_wire_node(p, c, 1);
	m_compose(p, IMSG_CFG_END, 0, -1, NULL, 0);
}

static struct cfg	*wire_cfg;
static struct cfg_node	*wire_stack[CFG_MAX_DEPTH + 1];

static void
cfg_wire_add(struct msg *m)
{
	const char *name, *as_written, *file, *argv[256];
	uint32_t depth, line, argc, i;

	m_get_u32(m, &depth);
	m_get_string(m, &name);
	m_get_string(m, &as_written);
	m_get_string(m, &file);
	m_get_u32(m, &line);
	m_get_u32(m, &argc);
	if (argc > 256 || depth < 1 || depth > CFG_MAX_DEPTH ||
	    wire_stack[depth - 1] == NULL || name == NULL)
		fatalx("bad config node");
	for (i = 0; i < argc; i++) {
		m_get_string(m, &argv[i]);
		if (argv[i] == NULL)
			fatalx("bad config node value");
	}
	m_end(m);
	wire_stack[depth] = cfg_node_add(wire_stack[depth - 1], name,
	    as_written, argc, (char **)argv, file, line);
	for (i = depth + 1; i <= CFG_MAX_DEPTH; i++)
		wire_stack[i] = NULL;
}

struct cfg *
cfg_wire_recv(struct imsg *imsg)
{
	struct msg m;
	struct cfg *done;
	const char *path;
	uint32_t gen;

	m_msg(&m, imsg);
	switch (imsg->hdr.type) {
	case IMSG_CFG_BEGIN:
		m_get_u32(&m, &gen);
		m_get_string(&m, &path);
		m_end(&m);
		if (wire_cfg != NULL)
			cfg_free(wire_cfg);
		wire_cfg = cfg_new();
		if (path != NULL && (wire_cfg->path = strdup(path)) == NULL)
			fatal("strdup");
		memset(wire_stack, 0, sizeof(wire_stack));
		wire_stack[0] = wire_cfg->root;
		return NULL;
	case IMSG_CFG_NODE:
		if (wire_cfg == NULL)
			fatalx("config node outside a tree");
		cfg_wire_add(&m);
		return NULL;
	case IMSG_CFG_END:
		if (wire_cfg == NULL)
			fatalx("config end outside a tree");
		done = wire_cfg;
		wire_cfg = NULL;
		return done;
	}
	return NULL;
}
