/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The nvme backend: NVMe/TCP through the kernel's fabrics driver, no nvme-cli. One
 * controller per (subsystem, address, port, host NQN) is shared by every namespace behind
 * it: connect reuses a controller the kernel already has, else creates one through
 * /dev/nvme-fabrics; the namespace is found by uuid, nguid or nsid among the subsystem's
 * disks (native multipath: the head disk nvmeXnH); disconnect deletes the controller when
 * nothing else uses it (no other volume of this agent connected through it, no namespace
 * of its subsystem held by a dm device or mounted).
 *
 * Several traddrs (ports of one subsystem): one controller per port, all under the one
 * head disk of the kernel's native multipath (nvme_core.multipath=Y, checked first), which
 * is the device; a port that does not answer at attach time does not fail the attach
 * while another connects, and add_paths (paths.c) connects it later.
 *
 * a->objs, written as connect goes (so disconnect works after a crash or a failure part
 * way):
 *   { "subnqn": "nqn...", "hostnqn": "nqn...", "boot": "<boot id>",
 *     "ctrls": [ one entry per configured traddr, in the options' order:
 *       { "traddr": "10.0.0.5" (numeric), "trsvcid": 4420, "ctrl": "nvme3" | null,
 *         "created": bool, "owned": bool, "cntlid": N, "ctrl_ino": N } ] }
 * Records written before multipath have one entry's keys at the top level instead of
 * "ctrls": read as a one-entry list.
 * created: this volume's connect made the controller. owned: attachd made it (this
 * volume, or another one this process knew about). Ownership: disconnect deletes a
 * controller only when it is provably attachd's: the record is from this boot, says owned
 * (or the process learnt so from another volume's record), and the controller still is
 * the recorded one (same target, host NQN, controller ID and sysfs inode: instance
 * numbers are reused at once). A controller the admin connected (nvme connect) and
 * attachd reused is never deleted by attachd; nor is one found without a record of its
 * making. A controller connect makes is recorded at once (ctx->checkpoint), so only a crash
 * in the instant between the connect write and that save leaves one behind: a leak for the
 * admin to see rather than a wrong delete. After a reboot nothing of a record
 * names a live kernel object: disconnect deletes nothing.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "internal.h"
#include "lib/macro.h"

static const char *const nvme_keys[] = {
    "traddr", "trsvcid", "subnqn", "uuid", "nguid", "nsid", NULL,
};
static const char *const nvme_secret_keys[] = {NULL};

/* Numeric address of traddr: the kernel's nvme-tcp only takes addresses, sysfs shows them,
 * and a record keyed by the address needs no DNS when a restarted agent detaches. */
int be_nvme_resolve(const char *host, char *buf, size_t n, struct errbuf *e)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST};
	struct addrinfo *res = NULL;
	int r;

	r = getaddrinfo(host, NULL, &hints, &res);
	if (r != 0) {
		hints.ai_flags = AI_ADDRCONFIG;
		r = getaddrinfo(host, NULL, &hints, &res);
	}
	if (r != 0 || !res)
		return errbuf_set(e, -EHOSTUNREACH,
				  "cannot resolve traddr %s (%s): use an IP address or fix DNS",
				  host, gai_strerror(r));
	r = getnameinfo(res->ai_addr, res->ai_addrlen, buf, n, NULL, 0, NI_NUMERICHOST);
	freeaddrinfo(res);
	if (r != 0)
		return errbuf_set(e, -EHOSTUNREACH, "cannot resolve traddr %s", host);
	return 0;
}

static int ctrl_parse(const char *name, unsigned *ret)
{
	char *end;
	unsigned long v;

	if (!startswith(name, "nvme") || name[4] < '0' || name[4] > '9')
		return -EINVAL;
	v = strtoul(name + 4, &end, 10);
	if (*end || v > 0x7fffffff)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

size_t be_nvme_objs_n(const json_t *objs)
{
	const json_t *l = json_object_get(objs, "ctrls");

	if (json_is_array(l))
		return json_array_size(l);
	return json_is_string(json_object_get(objs, "traddr")) ? 1 : 0;
}

json_t *be_nvme_objs_entry(const json_t *objs, size_t i)
{
	json_t *l = json_object_get(objs, "ctrls");

	if (json_is_array(l))
		return json_is_object(json_array_get(l, i)) ? json_array_get(l, i) : NULL;
	return i == 0 && json_is_string(json_object_get(objs, "traddr")) ? (json_t *)objs : NULL;
}

int be_nvme_entry_target(const json_t *ent, const char **ret_traddr, unsigned *ret_trsvcid)
{
	const char *t = json_string_value(json_object_get(ent, "traddr"));
	const json_t *port = json_object_get(ent, "trsvcid");

	if (!t || !json_is_integer(port) || json_integer_value(port) < 1 ||
	    json_integer_value(port) > 65535)
		return -ENOENT;
	*ret_traddr = t;
	*ret_trsvcid = (unsigned)json_integer_value(port);
	return 0;
}

int be_nvme_entry_ctrl(const json_t *ent, unsigned *ret)
{
	const char *s = json_string_value(json_object_get(ent, "ctrl"));

	return s ? ctrl_parse(s, ret) : -ENOENT;
}

/* Does the record say attachd made controller inst, and is inst still that controller
 * (same boot, controller ID and sysfs inode)? */
static int record_proves_owned(const json_t *objs, const json_t *ent, unsigned inst,
			       const struct be_nvme_ctrl_ident *id, const char *boot)
{
	const char *rboot = json_string_value(json_object_get(objs, "boot"));
	const json_t *cntlid = json_object_get(ent, "cntlid"),
		     *ino = json_object_get(ent, "ctrl_ino");
	unsigned rinst;

	return json_is_true(json_object_get(ent, "owned")) && rboot && boot[0] &&
	       streq(rboot, boot) && be_nvme_entry_ctrl(ent, &rinst) == 0 && rinst == inst &&
	       json_is_integer(cntlid) && json_is_integer(ino) && id->ino != 0 &&
	       (unsigned long)json_integer_value(cntlid) == id->cntlid &&
	       (uint64_t)json_integer_value(ino) == id->ino;
}

int be_nvme_entry_is_ours(const struct sys *s, const json_t *objs, const json_t *ent,
			  unsigned *ret_inst)
{
	const char *subnqn = json_string_value(json_object_get(objs, "subnqn"));
	const char *hostnqn = json_string_value(json_object_get(objs, "hostnqn"));
	const json_t *cntlid = json_object_get(ent, "cntlid"),
		     *ino = json_object_get(ent, "ctrl_ino");
	struct be_nvme_ctrl_ident id;
	const char *traddr;
	unsigned trsvcid, inst;

	if (!subnqn || be_nvme_entry_target(ent, &traddr, &trsvcid) < 0 ||
	    be_nvme_entry_ctrl(ent, &inst) < 0 || !json_is_integer(cntlid) || !json_is_integer(ino))
		return 0;
	if (be_nvme_sysfs_ctrl_ident(s, inst, subnqn, traddr, trsvcid, hostnqn, &id) < 0)
		return 0;
	if ((unsigned long)json_integer_value(cntlid) != id.cntlid ||
	    (uint64_t)json_integer_value(ino) != id.ino)
		return 0;
	*ret_inst = inst;
	return 1;
}

static void who_of(const struct backend_attachment *a, char *buf, size_t n)
{
	buf[0] = 0;
	if (a->cfg && be_nvme_describe(a->cfg, buf, n) < 0)
		buf[0] = 0;
}

/* The controller is another volume's (one namespace named two ways): only stop counting
 * this attachment among its users, so the owner's detach can delete it. */
static void be_nvme_release(const struct backend_ctx *ctx _unused_, struct backend_attachment *a)
{
	const char *subnqn = json_string_value(json_object_get(a->objs, "subnqn"));
	char who[BE_NVME_NQN_MAX + 48];

	if (!subnqn)
		return;
	who_of(a, who, sizeof(who));
	for (size_t i = 0; i < be_nvme_objs_n(a->objs); i++) {
		const char *traddr;
		unsigned port;
		struct be_nvme_target_lock *lk;

		if (be_nvme_entry_target(be_nvme_objs_entry(a->objs, i), &traddr, &port) < 0)
			continue;
		lk = be_nvme_target_lock(subnqn, traddr, port);
		be_nvme_target_user_del(lk, who);
		be_nvme_target_unlock(lk);
	}
}

int be_nvme_multipath_check(const struct sys *s, unsigned n_traddr, struct errbuf *e)
{
	char v[16];
	int r;

	if (n_traddr <= 1)
		return 0;
	r = sys_read_attr(s, "/sys/module/nvme_core/parameters/multipath", v, sizeof(v));
	if (r == -ENOENT)
		return errbuf_set(
		    e, -EOPNOTSUPP,
		    "%u traddrs need the kernel's native NVMe multipath, and this "
		    "kernel shows none (no /sys/module/nvme_core/parameters/multipath: "
		    "load nvme-tcp, or the kernel lacks CONFIG_NVME_MULTIPATH); or "
		    "give one traddr",
		    n_traddr);
	if (r < 0)
		return errbuf_set(e, r,
				  "reading /sys/module/nvme_core/parameters/multipath failed: %s",
				  strerror(-r));
	if (!streq(v, "Y") && !streq(v, "y") && !streq(v, "1"))
		return errbuf_set(
		    e, -EOPNOTSUPP,
		    "%u traddrs need the kernel's native NVMe multipath, which is "
		    "off (nvme_core.multipath=%s): enable it with nvme_core.multipath=Y "
		    "on the kernel command line (or as an nvme_core module option), "
		    "or give one traddr",
		    n_traddr, v);
	return 0;
}

/* Entry i of a->objs' "ctrls" (created, and the list padded, as needed). */
static json_t *entry_get_or_add(struct backend_attachment *a, size_t i)
{
	json_t *l = json_object_get(a->objs, "ctrls");

	if (!json_is_array(l)) {
		if (json_object_set_new(a->objs, "ctrls", json_array()) < 0)
			return NULL;
		l = json_object_get(a->objs, "ctrls");
	}
	while (json_array_size(l) <= i)
		if (json_array_append_new(l, json_object()) < 0)
			return NULL;
	return json_array_get(l, i);
}

int be_nvme_objs_init(struct backend_attachment *a, const struct be_nvme_cfg *c,
		      const char *hostnqn, struct errbuf *e)
{
	static const char *const ent_keys[] = {"traddr", "trsvcid", "ctrl",	"created",
					       "owned",	 "cntlid",  "ctrl_ino", NULL};

	if (!a->objs && !(a->objs = json_object()))
		return errbuf_set(e, -ENOMEM, "out of memory");
	/* A record from before multipath: its one controller becomes entry 0. */
	if (!json_is_array(json_object_get(a->objs, "ctrls")) &&
	    json_is_string(json_object_get(a->objs, "traddr"))) {
		json_t *ent = json_object(), *l = json_array();

		if (!ent || !l || json_array_append(l, ent) < 0) {
			json_decref(ent);
			json_decref(l);
			return errbuf_set(e, -ENOMEM, "out of memory");
		}
		for (size_t k = 0; ent_keys[k]; k++) {
			json_t *v = json_object_get(a->objs, ent_keys[k]);

			if (v)
				json_object_set(ent, ent_keys[k], v);
			json_object_del(a->objs, ent_keys[k]);
		}
		json_decref(ent);
		json_object_set_new(a->objs, "ctrls", l);
	}
	if (json_object_set_new(a->objs, "subnqn", json_string(c->subnqn)) < 0 ||
	    json_object_set_new(a->objs, "hostnqn", json_string(hostnqn)) < 0)
		return errbuf_set(e, -ENOMEM, "out of memory");
	return 0;
}

int be_nvme_connect_one(const struct backend_ctx *ctx, struct backend_attachment *a, size_t i,
			const char *hostnqn, const char *hostid, int *ret_fatal, struct errbuf *e)
{
	const struct be_nvme_cfg *c = a->cfg;
	const struct sys *s = ctx->sys;
	char addr[BE_NVME_HOST_MAX + 1], opts[1024], reply[128], name[32];
	char who[BE_NVME_NQN_MAX + 48];
	struct be_nvme_target_lock *lk;
	json_t *ent;
	unsigned inst;
	int r, created = 0;

	*ret_fatal = 0;
	r = be_nvme_resolve(c->traddr[i], addr, sizeof(addr), e);
	if (r < 0)
		return r;
	ent = entry_get_or_add(a, i);
	if (!ent || json_object_set_new(ent, "traddr", json_string(addr)) < 0 ||
	    json_object_set_new(ent, "trsvcid", json_integer(c->trsvcid)) < 0) {
		*ret_fatal = 1;
		return errbuf_set(e, -ENOMEM, "out of memory");
	}
	if (!json_object_get(ent, "ctrl"))
		json_object_set_new(ent, "ctrl", json_null());
	if (!json_object_get(ent, "created"))
		json_object_set_new(ent, "created", json_false());
	who_of(a, who, sizeof(who));

	lk = be_nvme_target_lock(c->subnqn, addr, c->trsvcid);
	r = be_nvme_sysfs_find_ctrl(s, c->subnqn, addr, c->trsvcid, hostnqn, &inst);
	if (r == -ENOENT) {
		/* A plain TCP connect first: bounded by our budget, where the kernel's connect
		 * to a silent address would wait for the TCP SYN retries (minutes). */
		r = c->fabrics->reach(c->fabrics_ud, addr, c->trsvcid, ctx->timeout_ms);
		if (r < 0) {
			be_nvme_connect_error(e, r, c, c->traddr[i], addr, hostnqn);
			goto out;
		}
		r = be_nvme_fabrics_options(c->subnqn, addr, c->trsvcid, hostnqn, hostid,
					    c->n_traddr > 1, opts, sizeof(opts));
		if (r < 0) {
			errbuf_set(e, r, "the NVMe connect options do not fit in %zu bytes",
				   sizeof(opts));
			goto out;
		}
		r = c->fabrics->add_ctrl(c->fabrics_ud, s, opts, reply, sizeof(reply));
		if (r == -EALREADY) {
			/* Someone else (nvme-cli, another agent) connected in between: share it. */
			r = be_nvme_sysfs_find_ctrl(s, c->subnqn, addr, c->trsvcid, hostnqn, &inst);
			if (r < 0) {
				errbuf_set(e, -EALREADY,
					   "the kernel says %s at %s:%u is already connected but "
					   "shows no such controller in /sys/class/nvme",
					   c->subnqn, addr, c->trsvcid);
				r = -EALREADY;
				goto out;
			}
		} else if (r < 0) {
			be_nvme_connect_error(e, r, c, c->traddr[i], addr, hostnqn);
			goto out;
		} else {
			r = be_nvme_fabrics_reply_parse(reply, &inst);
			if (r < 0) {
				errbuf_set(e, r,
					   "/dev/nvme-fabrics answered \"%.60s\" without an "
					   "instance number",
					   reply);
				goto out;
			}
			created = 1;
		}
	} else if (r < 0) {
		errbuf_set(e, r, "reading NVMe controllers from sysfs failed: %s", strerror(-r));
		goto out;
	}
	{
		struct be_nvme_ctrl_ident id = {0};
		char boot[64];
		int owned = 0;

		be_nvme_boot_id(s, boot, sizeof(boot));
		if (be_nvme_sysfs_ctrl_ident(s, inst, c->subnqn, addr, c->trsvcid, hostnqn, &id) ==
		    0) {
			if (created)
				be_nvme_target_owned_set(lk, inst, &id);
			/* Reused: attachd's only if this process knows it made it, or this very
			 * record says so for this very controller (a re-connect after a crash). */
			owned = created || be_nvme_target_owned_is(lk, inst, &id) ||
				record_proves_owned(a->objs, ent, inst, &id, boot);
		}
		snprintf(name, sizeof(name), "nvme%u", inst);
		if (json_object_set_new(ent, "ctrl", json_string(name)) < 0 ||
		    json_object_set_new(ent, "created", json_boolean(created)) < 0 ||
		    json_object_set_new(ent, "owned", json_boolean(owned)) < 0 ||
		    json_object_set_new(ent, "cntlid", json_integer((json_int_t)id.cntlid)) < 0 ||
		    json_object_set_new(ent, "ctrl_ino", json_integer((json_int_t)id.ino)) < 0 ||
		    json_object_set_new(a->objs, "boot", json_string(boot)) < 0) {
			*ret_fatal = 1;
			r = errbuf_set(e, -ENOMEM, "out of memory");
			goto out;
		}
	}
	/* The proof that attachd made this controller must outlive a crash right here:
	 * without it a restarted agent can only leave the controller behind. */
	if (created && ctx->checkpoint) {
		r = ctx->checkpoint(ctx);
		if (r < 0) {
			*ret_fatal = 1;
			errbuf_set(e, r, "cannot record the new NVMe controller nvme%u: %s", inst,
				   strerror(-r));
			goto out;
		}
	}
	be_nvme_target_user_add(lk, who);
	r = 0;
out:
	be_nvme_target_unlock(lk);
	return r;
}

int be_nvme_connect(const struct backend_ctx *ctx, struct backend_attachment *a, struct errbuf *e)
{
	const struct be_nvme_cfg *c = a->cfg;
	char hostnqn[BE_NVME_NQN_MAX + 1], hostid[64];
	struct errbuf first = {""};
	char all[ERRBUF_MAX] = "";
	int r, r_first = 0;
	unsigned ok = 0;
	size_t used = 0;

	r = be_nvme_multipath_check(ctx->sys, c->n_traddr, e);
	if (r < 0)
		return r;
	r = be_nvme_host_identity(ctx, hostnqn, sizeof(hostnqn), hostid, sizeof(hostid), e);
	if (r < 0)
		return r;
	r = be_nvme_objs_init(a, c, hostnqn, e);
	if (r < 0)
		return r;
	/* Every port: one that does not answer now is left to add_paths (the path checker),
	 * as long as another one connects. */
	for (size_t i = 0; i < c->n_traddr; i++) {
		struct errbuf e1 = {""};
		int fatal, w;

		r = be_nvme_connect_one(ctx, a, i, hostnqn, hostid, &fatal, &e1);
		if (r == 0) {
			ok++;
			continue;
		}
		if (fatal)
			return errbuf_set(e, r, "%s", e1.msg);
		if (!r_first) {
			r_first = r;
			first = e1;
		}
		w = snprintf(all + used, sizeof(all) - used, "%s%s: %s", used ? "; " : "",
			     c->traddr[i], e1.msg);
		if (w > 0 && (size_t)w < sizeof(all) - used)
			used += (size_t)w;
	}
	if (ok > 0)
		return 0;
	if (c->n_traddr == 1)
		return errbuf_set(e, r_first, "%s", first.msg);
	return errbuf_set(e, r_first, "no port of %s could be connected (%s)", c->subnqn, all);
}

int be_nvme_find_device(const struct backend_ctx *ctx, struct backend_attachment *a,
			struct backend_device *ret, struct errbuf *e)
{
	const struct be_nvme_cfg *c = a->cfg;
	const struct sys *s = ctx->sys;
	struct backend_device dev = {0};
	char state[32] = "", path[sizeof(dev.devnode)], nqn[BE_NVME_NQN_MAX + 2];
	char p[64], where[BE_NVME_HOST_MAX + 16] = "";
	unsigned inst = 0, any = 0;
	int r, found = 0;

	/* Any controller of ours leads to the namespace (with several, the head disk is the
	 * subsystem's, one for all of them): the first live one, else the first there. */
	for (size_t i = 0; i < be_nvme_objs_n(a->objs); i++) {
		const json_t *ent = be_nvme_objs_entry(a->objs, i);
		const char *traddr;
		unsigned k, port;
		char st[32] = "";

		if (be_nvme_entry_ctrl(ent, &k) < 0)
			continue;
		any++;
		snprintf(p, sizeof(p), "/sys/class/nvme/nvme%u/subsysnqn", k);
		r = sys_read_attr(s, p, nqn, sizeof(nqn));
		if (r == -ENOENT) {
			if (!where[0] && be_nvme_entry_target(ent, &traddr, &port) == 0)
				snprintf(where, sizeof(where), "nvme%u at %s:%u", k,
					 i < c->n_traddr ? c->traddr[i] : traddr, port);
			continue;
		}
		if (r < 0)
			return errbuf_set(e, r, "reading %s failed: %s", p, strerror(-r));
		if (!streq(nqn, c->subnqn))
			return errbuf_set(
			    e, -ENODEV,
			    "NVMe controller nvme%u now belongs to %s, not %s (it was "
			    "deleted and its number reused)",
			    k, nqn, c->subnqn);
		(void)be_nvme_sysfs_ctrl_state(s, k, st, sizeof(st));
		if (!found || (streq(st, "live") && !streq(state, "live"))) {
			found = 1;
			inst = k;
			snprintf(state, sizeof(state), "%s", st);
		}
	}
	if (!any)
		return errbuf_set(e, -ENODEV, "%s is not connected (no controller recorded)",
				  c->subnqn);
	if (!found)
		return errbuf_set(e, -ENODEV,
				  "NVMe controller %s (%s) is gone (the target dropped the "
				  "connection or it was deleted)",
				  where[0] ? where : "?", c->subnqn);
	r = be_nvme_sysfs_find_ns(s, inst, c, dev.sysname, sizeof(dev.sysname));
	if (r == -ENOENT) {
		/* Not there yet, or never coming? Ask the target once the controller is live
		 * (the kernel scans namespaces asynchronously after the connect), so a wrong
		 * id fails now with what the target has instead of at the device timeout. */
		if (streq(state, "live") && !json_is_true(json_object_get(a->objs, "ns_offered"))) {
			char list[256];
			const char *traddr = "?";
			unsigned port = c->trsvcid;

			for (size_t i = 0; i < be_nvme_objs_n(a->objs); i++) {
				const json_t *ent = be_nvme_objs_entry(a->objs, i);
				unsigned k;

				if (be_nvme_entry_ctrl(ent, &k) == 0 && k == inst) {
					if (i < c->n_traddr)
						traddr = c->traddr[i];
					else
						(void)be_nvme_entry_target(ent, &traddr, &port);
					break;
				}
			}
			r = be_nvme_target_has_ns(c, s, inst, list, sizeof(list));
			if (r == 0)
				return errbuf_set(e, -ENXIO,
						  "subsystem %s at %s:%u has no namespace with %s "
						  "%s (it offers namespace IDs: %s)",
						  c->subnqn, traddr, port,
						  be_nvme_id_kind_name(c->id_kind), c->id, list);
			if (r > 0)
				json_object_set_new(a->objs, "ns_offered", json_true());
		}
		return errbuf_set(e, -EAGAIN,
				  "waiting for the namespace with %s %s of %s on nvme%u (%s)",
				  be_nvme_id_kind_name(c->id_kind), c->id, c->subnqn, inst,
				  state[0] ? state : "state unknown");
	}
	if (r == -ENODEV)
		return errbuf_set(e, r, "NVMe controller nvme%u (%s) is gone", inst, c->subnqn);
	if (r < 0)
		return errbuf_set(e, r, "looking up the namespaces of nvme%u failed: %s", inst,
				  strerror(-r));
	r = be_nvme_sysfs_block_devnum(s, dev.sysname, &dev.major, &dev.minor);
	if (r == -ENOENT)
		return errbuf_set(e, -EAGAIN, "waiting for %s to be registered", dev.sysname);
	if (r < 0)
		return errbuf_set(e, r, "reading /sys/block/%s/dev failed: %s", dev.sysname,
				  strerror(-r));
	snprintf(path, sizeof(path), "/dev/%s", dev.sysname);
	if (!sys_path(dev.devnode, sizeof(dev.devnode), s->dev_root, path))
		return errbuf_set(e, -ENAMETOOLONG, "device path too long");
	*ret = dev;
	return 0;
}

int be_nvme_identify(const struct backend_ctx *ctx, struct backend_attachment *a,
		     const struct backend_device *dev, struct backend_identity *ret,
		     struct errbuf *e)
{
	struct backend_identity id;
	int r;

	r = be_nvme_sysfs_block_identity(ctx->sys, dev->sysname, &id);
	if (r < 0)
		return errbuf_set(e, r, "reading the identity of %s from sysfs failed: %s",
				  dev->sysname, strerror(-r));
	*ret = id;
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Delete controller nvmeN and wait (bounded) until the kernel has removed it: the write
 * returns once the kernel has torn the controller down (nvme_delete_ctrl_sync), but its
 * sysfs directory can outlive it by a moment; its "remove" uevent says when it went. */
static int delete_ctrl(const struct backend_ctx *ctx, const struct be_nvme_cfg *c, unsigned inst,
		       const char *subnqn, struct errbuf *e)
{
	const struct sys *s = ctx->sys;
	const struct be_nvme_fabrics_ops *f = c ? c->fabrics : &be_nvme_fabrics_real;
	void *ud = c ? c->fabrics_ud : NULL, *w = NULL;
	int tmo = ctx->timeout_ms > 0 ? ctx->timeout_ms : 30000;
	int64_t deadline = now_ms() + tmo;
	char p[64];
	int r, wr;

	wr = f->watch_open(ud, s, &w);
	snprintf(p, sizeof(p), "/sys/class/nvme/nvme%u/delete_controller", inst);
	r = sys_write_sysfs(s, p, "1");
	if (r < 0 && r != -ENOENT) {
		r = errbuf_set(e, r, "deleting NVMe controller nvme%u (%s) failed: %s", inst,
			       subnqn, strerror(-r));
		goto out;
	}
	r = 0;
	while (be_nvme_sysfs_ctrl_exists(s, inst) > 0) {
		if (wr < 0) {
			/* Nothing to wait on: the detach is idempotent, its retry finishes it. */
			r = errbuf_set(
			    e, -EAGAIN,
			    "NVMe controller nvme%u (%s) is still there after "
			    "delete_controller and its removal cannot be awaited (kernel "
			    "uevents: %s): detach again",
			    inst, subnqn, strerror(-wr));
			break;
		}
		r = f->watch_next(ud, w, deadline);
		if (r == -ETIMEDOUT && be_nvme_sysfs_ctrl_exists(s, inst) > 0) {
			r = errbuf_set(e, -ETIMEDOUT,
				       "NVMe controller nvme%u (%s) is still there %d s after "
				       "delete_controller",
				       inst, subnqn, tmo / 1000);
			break;
		}
		if (r == -ETIMEDOUT) {
			r = 0;
			break;
		}
		if (r < 0) {
			r = errbuf_set(e, r,
				       "waiting for NVMe controller nvme%u (%s) to go failed: %s",
				       inst, subnqn, strerror(-r));
			break;
		}
	}
out:
	if (wr >= 0)
		f->watch_close(ud, w);
	return r;
}

/* Undo one controller entry of the record (the target lock serialises it with other
 * volumes' connects). */
static int disconnect_one(const struct backend_ctx *ctx, struct backend_attachment *a,
			  const struct be_nvme_cfg *c, const json_t *ent, const char *subnqn,
			  const char *traddr, unsigned trsvcid, const char *hostnqn,
			  const char *who, struct errbuf *e)
{
	const struct sys *s = ctx->sys;
	char held[64], boot[64];
	struct be_nvme_ctrl_ident id = {0};
	struct be_nvme_target_lock *lk;
	unsigned inst;
	int r = 0;

	lk = be_nvme_target_lock(subnqn, traddr, trsvcid);
	be_nvme_target_user_del(lk, who);
	/* No controller recorded: nothing proves the one the target has now is attachd's
	 * (an admin may have connected it): left alone. */
	if (!ent || be_nvme_entry_ctrl(ent, &inst) < 0)
		goto out;
	/* Still the recorded controller? Numbers are reused once a controller goes. */
	r = be_nvme_sysfs_ctrl_ident(s, inst, subnqn, traddr, trsvcid, hostnqn, &id);
	if (r == -ENODEV || r == -ENOENT) {
		r = 0;
		goto out; /* gone, or now another target's */
	}
	if (r < 0) {
		errbuf_set(e, r, "reading NVMe controller nvme%u from sysfs failed: %s", inst,
			   strerror(-r));
		goto out;
	}
	be_nvme_boot_id(s, boot, sizeof(boot));
	if (record_proves_owned(a->objs, ent, inst, &id, boot))
		be_nvme_target_owned_set(lk, inst, &id); /* teach the volumes that reused it */
	else if (!be_nvme_target_owned_is(lk, inst, &id))
		goto out; /* not attachd's (the admin's, or unprovable): never deleted */
	if (be_nvme_target_users_other(lk, who) > 0)
		goto out; /* another volume connected through it and is on its way up */
	r = be_nvme_sysfs_ns_in_use(s, inst, held, sizeof(held));
	if (r < 0) {
		errbuf_set(e, r, "checking the namespaces of nvme%u failed: %s", inst,
			   strerror(-r));
		goto out;
	}
	if (r > 0) {
		r = 0; /* another namespace of the subsystem is in use: keep the controller */
		goto out;
	}
	r = delete_ctrl(ctx, c, inst, subnqn, e);
out:
	be_nvme_target_unlock(lk);
	return r;
}

int be_nvme_disconnect(const struct backend_ctx *ctx, struct backend_attachment *a,
		       struct errbuf *e)
{
	const struct be_nvme_cfg *c = a->cfg;
	const char *subnqn = json_string_value(json_object_get(a->objs, "subnqn"));
	const char *hostnqn = json_string_value(json_object_get(a->objs, "hostnqn"));
	char who[BE_NVME_NQN_MAX + 48];
	size_t n = be_nvme_objs_n(a->objs), done = 0;
	int r = 0;

	who_of(a, who, sizeof(who));
	/* Every controller of the record; the first error is returned, the others are
	 * still undone (each step is idempotent: a replay finishes the rest). */
	for (size_t i = 0; subnqn && i < n; i++) {
		const json_t *ent = be_nvme_objs_entry(a->objs, i);
		struct errbuf e1 = {""};
		const char *traddr;
		unsigned port;
		int k;

		if (be_nvme_entry_target(ent, &traddr, &port) < 0)
			continue;
		done++;
		k = disconnect_one(ctx, a, c, ent, subnqn, traddr, port, hostnqn, who, &e1);
		if (k < 0 && r == 0) {
			r = k;
			*e = e1;
		}
	}
	if (done || !c)
		return r;
	/* Nothing recorded: the agent may have died after the kernel connect and before it
	 * saved objs. Only drop this volume from the targets' users: nothing proves the
	 * controllers there attachd's. */
	for (size_t i = 0; i < c->n_traddr; i++) {
		char addr[BE_NVME_HOST_MAX + 1];
		struct errbuf ignore;
		struct be_nvme_target_lock *lk;

		if (be_nvme_resolve(c->traddr[i], addr, sizeof(addr), &ignore) < 0)
			continue;
		lk = be_nvme_target_lock(c->subnqn, addr, c->trsvcid);
		be_nvme_target_user_del(lk, who);
		be_nvme_target_unlock(lk);
	}
	return 0;
}

const struct backend_ops be_nvme_ops = {
    .name = "nvme",
    .keys = nvme_keys,
    .secret_keys = nvme_secret_keys,
    .parse = be_nvme_parse,
    .free_cfg = be_nvme_free_cfg,
    .describe = be_nvme_describe,
    .connect = be_nvme_connect,
    .release = be_nvme_release,
    .find_device = be_nvme_find_device,
    .identify = be_nvme_identify,
    .disconnect = be_nvme_disconnect,
    .rescan = be_nvme_rescan,
    .fence_by_reservation = 1,
    .native_multipath = 1,
    .paths_configured = be_nvme_paths_configured,
    .find_paths = be_nvme_find_paths,
    .path_transport = be_nvme_path_transport,
    .add_paths = be_nvme_add_paths,
};
