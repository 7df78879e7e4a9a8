/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The controllers of a volume as its paths. The kernel multipaths NVMe itself (native
 * multipath: one head disk nvmeXnH over every controller of the subsystem, I/O sent to
 * the live ones and requeued from a dying one), so attachd's path checker only reports
 * them and connects the ones that are missing; it never fails or reinstates anything.
 *
 * A path is a controller of ours: recorded in a->objs and still the recorded one (target,
 * host NQN, controller ID, sysfs inode). Its state is the controller's sysfs `state`:
 * "live" is up; "connecting" (reconnecting every reconnect_delay after the transport
 * broke), "resetting" and "new" are down; "deleting" (ctrl_loss_tmo expired, or deleted)
 * and "dead" will not come back: gone, like a controller that is no longer there.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "lib/macro.h"

unsigned be_nvme_paths_configured(const void *cfg)
{
	const struct be_nvme_cfg *c = cfg;

	return c ? c->n_traddr : 0;
}

int be_nvme_find_paths(const struct backend_ctx *ctx, struct backend_attachment *a,
		       struct backend_path *ret, size_t max, size_t *ret_n, struct errbuf *e)
{
	const struct be_nvme_cfg *c = a->cfg;
	const struct sys *s = ctx->sys;
	const char *subnqn = json_string_value(json_object_get(a->objs, "subnqn"));
	size_t n = 0;

	for (size_t i = 0; subnqn && i < be_nvme_objs_n(a->objs) && n < max; i++) {
		const json_t *ent = be_nvme_objs_entry(a->objs, i);
		struct backend_path p = {0};
		const char *traddr;
		unsigned port, inst;
		char path[32];

		if (be_nvme_entry_target(ent, &traddr, &port) < 0 ||
		    !be_nvme_entry_is_ours(s, a->objs, ent, &inst))
			continue;
		snprintf(p.id, sizeof(p.id), "nvme%u", inst);
		snprintf(p.where, sizeof(p.where),
			 strchr(traddr, ':') ? "tcp [%s]:%u %s" : "tcp %s:%u %s", traddr, port,
			 subnqn);
		snprintf(p.dev.sysname, sizeof(p.dev.sysname), "nvme%u", inst);
		snprintf(path, sizeof(path), "/dev/nvme%u", inst);
		if (!sys_path(p.dev.devnode, sizeof(p.dev.devnode), s->dev_root, path))
			p.dev.devnode[0] = 0;
		(void)be_nvme_sysfs_ctrl_devnum(s, inst, &p.dev.major, &p.dev.minor);
		/* The namespace through this controller (none while it reconnects). */
		if (c)
			(void)be_nvme_sysfs_path_wwid(s, inst, c, p.wwid, sizeof(p.wwid));
		ret[n++] = p;
	}
	if (n == 0)
		return errbuf_set(e, -EAGAIN, "no controller of %s is connected yet",
				  subnqn ? subnqn
				  : c	 ? c->subnqn
					 : "the subsystem");
	*ret_n = n;
	return 0;
}

enum backend_path_transport be_nvme_path_transport(const struct backend_ctx *ctx,
						   struct backend_attachment *a,
						   const struct backend_path *p, char *detail,
						   size_t n)
{
	const struct sys *s = ctx->sys;
	char st[32] = "";
	unsigned inst;
	int ours = 0;

	for (size_t i = 0; i < be_nvme_objs_n(a->objs); i++) {
		const json_t *ent = be_nvme_objs_entry(a->objs, i);
		unsigned k;
		char id[32];

		if (be_nvme_entry_ctrl(ent, &k) < 0)
			continue;
		snprintf(id, sizeof(id), "nvme%u", k);
		if (streq(id, p->id)) {
			ours = be_nvme_entry_is_ours(s, a->objs, ent, &inst);
			break;
		}
	}
	if (!ours || be_nvme_sysfs_ctrl_state(s, inst, st, sizeof(st)) < 0) {
		if (detail)
			snprintf(detail, n, "%s gone", p->id);
		return BACKEND_PATH_GONE;
	}
	if (detail)
		snprintf(detail, n, "%s %s", p->id, st);
	if (streq(st, "live"))
		return BACKEND_PATH_UP;
	if (startswith(st, "deleting") || streq(st, "dead"))
		return BACKEND_PATH_GONE;
	return BACKEND_PATH_DOWN; /* connecting, resetting, new */
}

int be_nvme_add_paths(const struct backend_ctx *ctx, struct backend_attachment *a, struct errbuf *e)
{
	const struct be_nvme_cfg *c = a->cfg;
	char hostnqn[BE_NVME_NQN_MAX + 1], hostid[64], missing[ERRBUF_MAX] = "";
	size_t used = 0;
	int r, r_first = 0;

	if (!c)
		return errbuf_set(e, -EINVAL, "no options to connect the paths with");
	r = be_nvme_host_identity(ctx, hostnqn, sizeof(hostnqn), hostid, sizeof(hostid), e);
	if (r < 0)
		return r;
	r = be_nvme_objs_init(a, c, hostnqn, e);
	if (r < 0)
		return r;
	for (size_t i = 0; i < c->n_traddr; i++) {
		const json_t *ent = be_nvme_objs_entry(a->objs, i);
		struct errbuf e1 = {""};
		unsigned inst;
		int fatal, w;

		if (ent && be_nvme_entry_is_ours(ctx->sys, a->objs, ent, &inst))
			continue;
		r = be_nvme_connect_one(ctx, a, i, hostnqn, hostid, &fatal, &e1);
		if (r == 0)
			continue;
		if (fatal)
			return errbuf_set(e, r, "%s", e1.msg);
		if (!r_first)
			r_first = r;
		w = snprintf(missing + used, sizeof(missing) - used, "%s%s: %s", used ? "; " : "",
			     c->traddr[i], e1.msg);
		if (w > 0 && (size_t)w < sizeof(missing) - used)
			used += (size_t)w;
	}
	if (!r_first)
		return 0;
	return errbuf_set(e, -EHOSTDOWN, "not connected yet: %s", missing);
}
