/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scaleio backend: map the volume to this host's SDC through the PowerFlex gateway,
 * then the SDC (kernel side, pushed by the MDM) presents the disk and its udev rule makes
 * /dev/disk/by-id/emc-vol-<systemId>-<volumeId>; unmap on detach and wait for that link to
 * go. The backend never talks to the SDC driver itself except to learn its GUID.
 *
 * a->objs, written by connect before it asks the gateway anything that changes state:
 *   { "system_id": "...", "volume_id": "...", "sdc_id": "...", "mapped_by_us": bool,
 *     "device": "scinia" (find_device) }
 * mapped_by_us is true from the moment addMappedSdc is sent (the answer may be lost) until
 * disconnect has unmapped and seen the device go; false when the volume was already mapped
 * to this SDC by someone else (then detach leaves that mapping alone).
 *
 * One writer per volume (takeover.c): a read-write attach of a volume another SDC has mapped
 * is refused, or with a->takeover that SDC is unmapped first (the holder's host loses the
 * disk: PowerFlex fences by mapping) and a->took_over_from names it.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "lib/macro.h"

#define DRV_CFG_TIMEOUT_MS 10000
#define GONE_POLL_MS 100

static const char *const sio_keys[] = {"system_id", "volume_id", NULL};
static const char *const sio_secret_keys[] = {NULL};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *objs_str(const json_t *objs, const char *key)
{
	return objs ? json_string_value(json_object_get(objs, key)) : NULL;
}

/* This host's SDC GUID: configured, else what drv_cfg says. */
static int own_guid(const struct backend_ctx *ctx, char *buf, size_t n, struct errbuf *e)
{
	const struct backend_scaleio_host *h = &ctx->host->scaleio;
	const char *drv = h->drv_cfg[0] ? h->drv_cfg : "/opt/emc/scaleio/sdc/bin/drv_cfg";
	char *argv[] = {(char *)drv, (char *)"--query_guid", NULL};
	_cleanup_free_ char *out = NULL;
	int r;

	if (h->sdc_guid[0]) {
		if (!be_sio_guid_is_valid(h->sdc_guid))
			return errbuf_set(e, -EINVAL, "scaleio.sdc_guid '%.63s' is not a GUID",
					  h->sdc_guid);
		snprintf(buf, n, "%s", h->sdc_guid);
		return 0;
	}
	r = sys_run(ctx->sys, argv, DRV_CFG_TIMEOUT_MS, &out);
	if (r < 0)
		return errbuf_set(e, r == -ENOENT ? -ENODEV : r,
				  "cannot run %s --query_guid: %s (is the PowerFlex SDC installed? "
				  "else set scaleio.sdc_guid)",
				  drv, strerror(-r));
	if (r != 0)
		return errbuf_set(e, -ENODEV, "%s --query_guid exited %d: %.200s", drv, r,
				  out ? out : "");
	if (be_sio_drv_cfg_guid_parse(out, buf, n) < 0)
		return errbuf_set(e, -ENODEV, "%s --query_guid printed no GUID: %.200s", drv,
				  out ? out : "");
	return 0;
}

/* This host's SDC on system_id; the SDC list in *ret_list when asked (caller decrefs). */
static int own_sdc(const struct backend_ctx *ctx, struct be_sio_client *c, const char *system_id,
		   struct be_sio_sdc *ret, json_t **ret_list, struct errbuf *e)
{
	char guid[64], path[128];
	json_t *list = NULL;
	int r;

	r = own_guid(ctx, guid, sizeof(guid), e);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "/api/instances/System::%s/relationships/Sdc", system_id);
	r = be_sio_call_json(c, "GET", path, NULL, &list, NULL, e);
	if (r < 0)
		return errbuf_prefix(e, r, "listing the SDCs of PowerFlex system %s", system_id);
	r = be_sio_sdc_find_guid(list, guid, ret);
	if (r < 0) {
		json_decref(list);
		return errbuf_set(
		    e, -ENODEV,
		    "this host's SDC (GUID %s) is not known to PowerFlex system %s: is "
		    "the SDC installed and connected to that system's MDMs?",
		    guid, system_id);
	}
	if (ret->connected == 0) {
		json_decref(list);
		return errbuf_set(e, -ENOLINK,
				  "this host's SDC %s is Disconnected from the MDMs "
				  "of PowerFlex system %s",
				  ret->id, system_id);
	}
	if (ret->approved == 0) {
		json_decref(list);
		return errbuf_set(e, -EACCES,
				  "this host's SDC %s is not approved on PowerFlex "
				  "system %s (restricted SDC mode)",
				  ret->id, system_id);
	}
	if (ret_list)
		*ret_list = list;
	else
		json_decref(list);
	return 0;
}

static int get_volume(struct be_sio_client *c, const char *volume_id, struct be_sio_volume *ret,
		      struct errbuf *e)
{
	char path[96];
	json_t *j = NULL;
	long code;
	int r;

	snprintf(path, sizeof(path), "/api/instances/Volume::%s", volume_id);
	r = be_sio_call_json(c, "GET", path, NULL, &j, &code, e);
	if (r < 0 && code == BE_SIO_E_VOL_NOT_FOUND)
		return errbuf_set(e, -ENOENT, "PowerFlex volume %s does not exist", volume_id);
	if (r < 0)
		return r;
	r = be_sio_volume_parse(j, ret);
	json_decref(j);
	if (r < 0)
		return errbuf_set(e, -EBADMSG, "%s: the gateway's answer is not a volume", path);
	return 0;
}

/* Everything probe and connect both need: the volume, our SDC, the one-writer decision
 * (refused, or with takeover the SDCs to unmap, in *ret_plan; see takeover.c). */
static int look(const struct backend_ctx *ctx, struct be_sio_client *c,
		const struct be_sio_cfg *cfg, int takeover, struct be_sio_volume *vol,
		struct be_sio_sdc *own, struct be_sio_excl *ret_plan, struct errbuf *e)
{
	json_t *sdcs = NULL;
	int r;

	r = get_volume(c, cfg->volume_id, vol, e);
	if (r < 0)
		return r;
	r = own_sdc(ctx, c, cfg->system_id, own, &sdcs, e);
	if (r < 0)
		return r;
	r = be_sio_exclusive_plan(vol, own->id, sdcs, cfg->readonly, takeover, ret_plan, e);
	json_decref(sdcs);
	return r;
}

/*
 * Takeover: unmap the volume from every other SDC, then read it again. Nothing is mapped
 * to us here, so a failure leaves this host without the volume and e says which SDC the
 * gateway would not unmap, with its answer. The re-read catches a third host that mapped
 * the volume while we unmapped the holder: then we refuse rather than unmap it too (two
 * takeovers must not chase each other). *vol is the volume as it is now.
 */
static int evict(struct be_sio_client *c, const struct be_sio_cfg *cfg,
		 const struct be_sio_excl *plan, const struct be_sio_sdc *own,
		 struct be_sio_volume *vol, struct errbuf *e)
{
	struct be_sio_excl again;
	char path[128], done[320] = "";
	size_t k = 0;
	long code;
	int r;

	snprintf(path, sizeof(path), "/api/instances/Volume::%s/action/removeMappedSdc",
		 cfg->volume_id);
	for (unsigned i = 0; i < plan->n_evict; i++) {
		_cleanup_free_ char *body = be_sio_body_unmap(plan->evict[i]);

		if (!body)
			return -ENOMEM;
		r = be_sio_call_json(c, "POST", path, body, NULL, &code, e);
		if (r < 0 && be_sio_code_is_not_mapped(code)) {
			/* Gone already (that host detached meanwhile): just as good. */
			errbuf_clear(e);
			r = 0;
		}
		/* code < 0: no answer (timeout, connection lost): that unmap may have
		 * happened or not, a re-read would tell; the gateway's own errors change
		 * nothing. */
		if (r < 0)
			return errbuf_prefix(e, r,
					     "taking over PowerFlex volume %s: the gateway did not "
					     "unmap it from SDC %s (%s%s%s); nothing was mapped to "
					     "this host's SDC %s",
					     cfg->volume_id, plan->evict[i],
					     code < 0 ? "that unmap may or may not have happened"
						      : "that SDC keeps it",
					     done[0] ? "; already unmapped from " : "", done,
					     own->id);
		if (k < sizeof(done))
			k += (size_t)snprintf(done + k, sizeof(done) - k, "%sSDC %s", k ? ", " : "",
					      plan->evict[i]);
	}
	r = get_volume(c, cfg->volume_id, vol, e);
	if (r < 0)
		return errbuf_prefix(e, r,
				     "taking over PowerFlex volume %s: unmapped from %s, then "
				     "could not read it again; nothing was mapped to this host's "
				     "SDC %s",
				     cfg->volume_id, done, own->id);
	r = be_sio_exclusive_plan(vol, own->id, NULL, 0, 1, &again, e);
	if (r < 0)
		return errbuf_prefix(e, r,
				     "taking over PowerFlex volume %s: unmapped from %s, then",
				     cfg->volume_id, done);
	if (again.n_evict)
		return errbuf_set(e, -EBUSY,
				  "taking over PowerFlex volume %s: unmapped it from %s, but "
				  "meanwhile another host mapped it, %s; not unmapping that one "
				  "too, and nothing was mapped to this host's SDC %s (take it over "
				  "again once it is clear which host should have it)",
				  cfg->volume_id, done, again.who, own->id);
	return 0;
}

static int sio_probe(const struct backend_ctx *ctx, struct backend_attachment *a,
		     struct backend_identity *ret, struct errbuf *e)
{
	const struct be_sio_cfg *cfg = a->cfg;
	struct backend_identity id = {0};
	struct be_sio_client c;
	struct be_sio_volume vol;
	struct be_sio_excl plan;
	struct be_sio_sdc own;
	int r;

	/* With takeover nothing is refused here: connect does the unmapping. */
	r = be_sio_client_init(&c, &ctx->host->scaleio, ctx->timeout_ms, e);
	if (r == 0)
		r = look(ctx, &c, cfg, a->takeover, &vol, &own, &plan, e);
	be_sio_client_done(&c);
	if (r < 0)
		return r;
	be_sio_describe(cfg, id.wwid, sizeof(id.wwid));
	id.size_bytes = vol.size_bytes;
	*ret = id;
	return 0;
}

static int objs_set_str(json_t *objs, const char *key, const char *v)
{
	return json_object_set_new(objs, key, json_string(v)) == 0 ? 0 : -ENOMEM;
}

static int sio_connect(const struct backend_ctx *ctx, struct backend_attachment *a,
		       struct errbuf *e)
{
	const struct be_sio_cfg *cfg = a->cfg;
	_cleanup_free_ char *body = NULL;
	struct be_sio_client c;
	struct be_sio_volume vol;
	struct be_sio_excl plan;
	struct be_sio_sdc own;
	char path[128];
	long code;
	int r;

	if (!a->objs && !(a->objs = json_object()))
		return -ENOMEM;
	a->took_over_from[0] = 0;
	r = be_sio_client_init(&c, &ctx->host->scaleio, ctx->timeout_ms, e);
	if (r == 0)
		r = look(ctx, &c, cfg, a->takeover, &vol, &own, &plan, e);
	if (r == 0 && plan.n_evict) {
		r = evict(&c, cfg, &plan, &own, &vol, e);
		if (r == 0)
			snprintf(a->took_over_from, sizeof(a->took_over_from), "%s", plan.who);
	}
	if (r < 0)
		goto out;
	if (objs_set_str(a->objs, "system_id", cfg->system_id) < 0 ||
	    objs_set_str(a->objs, "volume_id", cfg->volume_id) < 0 ||
	    objs_set_str(a->objs, "sdc_id", own.id) < 0) {
		r = -ENOMEM;
		goto out;
	}
	if (be_sio_volume_is_mapped_to(&vol, own.id)) {
		/* Already there (an earlier attach whose record says mapped_by_us keeps it). */
		if (!json_is_true(json_object_get(a->objs, "mapped_by_us")))
			json_object_set_new(a->objs, "mapped_by_us", json_false());
		goto out;
	}
	/* Intent first: if the answer is lost, disconnect still unmaps ("not mapped" is
	 * fine there). */
	json_object_set_new(a->objs, "mapped_by_us", json_true());
	body = be_sio_body_map(own.id, cfg->readonly);
	if (!body) {
		r = -ENOMEM;
		goto out;
	}
	snprintf(path, sizeof(path), "/api/instances/Volume::%s/action/addMappedSdc", vol.id);
	r = be_sio_call_json(&c, "POST", path, body, NULL, &code, e);
	if (r < 0 && be_sio_code_is_already_mapped(code)) {
		/* Mapped between our look and our call: by whom we cannot tell; keep it ours
		 * only if we asked for it (we did), which is what the intent says. */
		errbuf_clear(e);
		r = 0;
	} else if (r < 0 && code >= 0) {
		/* The gateway said no: nothing was mapped. */
		json_object_set_new(a->objs, "mapped_by_us", json_false());
		if (code == BE_SIO_E_MAPPED_ELSEWHERE)
			errbuf_prefix(e, -EBUSY, "volume %s was mapped to another SDC meanwhile",
				      vol.id);
		r = code == BE_SIO_E_MAPPED_ELSEWHERE ? -EBUSY : r;
	}
	if (r < 0 && a->took_over_from[0]) {
		struct errbuf first = *e;

		/* Half a takeover: say that the holder lost the volume all the same. */
		errbuf_set(e, r, "%.700s (the takeover had already unmapped it from %.250s)",
			   first.msg, a->took_over_from);
		a->took_over_from[0] = 0;
	}
	if (r < 0)
		errbuf_prefix(e, r, "mapping PowerFlex volume %s to SDC %s", vol.id, own.id);
out:
	be_sio_client_done(&c);
	return r;
}

static int link_path(const struct backend_ctx *ctx, const struct backend_attachment *a, char *buf,
		     size_t n)
{
	const struct be_sio_cfg *cfg = a->cfg;
	const char *sys = objs_str(a->objs, "system_id"), *vol = objs_str(a->objs, "volume_id");
	char rel[128];

	if (!sys || !vol) {
		if (!cfg)
			return -ENODEV;
		sys = cfg->system_id;
		vol = cfg->volume_id;
	}
	if (!be_sio_id_is_valid(sys) || !be_sio_id_is_valid(vol))
		return -EINVAL;
	snprintf(rel, sizeof(rel), BE_SIO_BY_ID_DIR "/emc-vol-%s-%s", sys, vol);
	return sys_path(buf, n, ctx->sys->dev_root, rel) ? 0 : -ENAMETOOLONG;
}

static int sio_find_device(const struct backend_ctx *ctx, struct backend_attachment *a,
			   struct backend_device *ret, struct errbuf *e)
{
	struct backend_device d = {0};
	char link[PATH_MAX], devdir[PATH_MAX], attr[128], dev[32], tail;
	_cleanup_free_ char *real = NULL;
	const char *name;
	unsigned ma, mi;
	struct stat st;
	int r;

	r = link_path(ctx, a, link, sizeof(link));
	if (r < 0)
		return errbuf_set(e, r, "scaleio backend: no volume recorded");
	if (lstat(link, &st) < 0)
		return errno == ENOENT ? -EAGAIN
				       : errbuf_set(e, negative_errno(), "cannot stat %s", link);
	real = realpath(link, NULL);
	if (!real)
		/* A dangling link: udev is about to replace or remove it. */
		return errno == ENOENT ? -EAGAIN
				       : errbuf_set(e, negative_errno(), "cannot resolve %s", link);
	if (!sys_path(devdir, sizeof(devdir), ctx->sys->dev_root, "/dev/"))
		return -ENAMETOOLONG;
	if (!startswith(real, devdir) || strchr(real + strlen(devdir), '/'))
		return errbuf_set(e, -EINVAL, "%s points to %s, not to a device in /dev", link,
				  real);
	name = real + strlen(devdir);
	snprintf(attr, sizeof(attr), "/sys/class/block/%s/dev", name);
	r = sys_read_attr(ctx->sys, attr, dev, sizeof(dev));
	if (r == -ENOENT)
		return -EAGAIN;
	if (r < 0)
		return errbuf_set(e, r, "cannot read %s: %s", attr, strerror(-r));
	if (sscanf(dev, "%u:%u%c", &ma, &mi, &tail) != 2)
		return errbuf_set(e, -EIO, "%s: unexpected '%s'", attr, dev);
	snprintf(d.sysname, sizeof(d.sysname), "%s", name);
	snprintf(d.devnode, sizeof(d.devnode), "%s", real);
	d.major = ma;
	d.minor = mi;
	/* For wait_gone: once the link names another disk, ours is gone. */
	if (a->objs && objs_set_str(a->objs, "device", name) < 0)
		return -ENOMEM;
	*ret = d;
	return 0;
}

static int sio_identify(const struct backend_ctx *ctx, struct backend_attachment *a,
			const struct backend_device *dev, struct backend_identity *ret,
			struct errbuf *e)
{
	struct backend_identity id = {0};
	const char *sys = objs_str(a->objs, "system_id"), *vol = objs_str(a->objs, "volume_id");
	char attr[128], val[32], *end;
	unsigned long long sectors;
	int r;

	if (!sys || !vol)
		return errbuf_set(e, -ENODEV, "scaleio backend: not connected");
	snprintf(attr, sizeof(attr), "/sys/class/block/%s/size", dev->sysname);
	r = sys_read_attr(ctx->sys, attr, val, sizeof(val));
	if (r < 0)
		return errbuf_set(e, r, "cannot read %s: %s", attr, strerror(-r));
	errno = 0;
	sectors = strtoull(val, &end, 10);
	if (errno || end == val || *end || sectors > UINT64_MAX / 512)
		return errbuf_set(e, -EIO, "%s: unexpected '%s'", attr, val);
	id.size_bytes = (uint64_t)sectors * 512;
	snprintf(id.wwid, sizeof(id.wwid), "scaleio:%s-%s", sys, vol);
	*ret = id;
	return 0;
}

/* 1 if link resolves to a disk other than ours (recorded by find_device): the volume was
 * mapped to this SDC again by someone else, and our disk is gone all the same. */
static int link_is_other_disk(const struct backend_attachment *a, const char *link)
{
	const char *ours = objs_str(a->objs, "device");
	_cleanup_free_ char *real = NULL;
	const char *base;

	if (!ours || !*ours)
		return 0;
	real = realpath(link, NULL);
	if (!real)
		return 0;
	base = strrchr(real, '/');
	return !streq(base ? base + 1 : real, ours);
}

/* Wait (bounded) for the SDC to remove the device once unmapped. */
static int wait_gone(const struct backend_ctx *ctx, const struct backend_attachment *a,
		     int64_t deadline, struct errbuf *e)
{
	char link[PATH_MAX];
	struct stat st;
	int r;

	r = link_path(ctx, a, link, sizeof(link));
	if (r < 0)
		return 0;
	for (;;) {
		if (lstat(link, &st) < 0 && errno == ENOENT)
			return 0;
		if (link_is_other_disk(a, link))
			return 0;
		if (now_ms() >= deadline)
			return errbuf_set(e, -ETIMEDOUT,
					  "unmapped at the gateway, but %s is still there: the SDC "
					  "has not removed the device",
					  link);
		(void)poll(NULL, 0, GONE_POLL_MS);
	}
}

static int sio_disconnect(const struct backend_ctx *ctx, struct backend_attachment *a,
			  struct errbuf *e)
{
	const char *vol = objs_str(a->objs, "volume_id"), *sdc = objs_str(a->objs, "sdc_id");
	_cleanup_free_ char *body = NULL;
	struct be_sio_client c;
	char path[128];
	int64_t deadline;
	long code;
	int r;

	if (!vol || !sdc || !json_is_true(json_object_get(a->objs, "mapped_by_us")))
		return 0; /* nothing we mapped */
	if (!be_sio_id_is_valid(vol) || !be_sio_id_is_valid(sdc))
		return errbuf_set(e, -EINVAL, "scaleio backend: bad ids in the record");
	r = be_sio_client_init(&c, &ctx->host->scaleio, ctx->timeout_ms, e);
	if (r < 0)
		return r;
	deadline = c.deadline_ms;
	body = be_sio_body_unmap(sdc);
	if (!body) {
		be_sio_client_done(&c);
		return -ENOMEM;
	}
	snprintf(path, sizeof(path), "/api/instances/Volume::%s/action/removeMappedSdc", vol);
	r = be_sio_call_json(&c, "POST", path, body, NULL, &code, e);
	be_sio_client_done(&c);
	if (r < 0 && (be_sio_code_is_not_mapped(code) || code == BE_SIO_E_VOL_NOT_FOUND)) {
		errbuf_clear(e);
		r = 0;
	}
	if (r < 0)
		return errbuf_prefix(e, r, "unmapping PowerFlex volume %s from SDC %s", vol, sdc);
	r = wait_gone(ctx, a, deadline, e);
	if (r < 0)
		return r;
	json_object_set_new(a->objs, "mapped_by_us", json_false());
	return 0;
}

const struct backend_ops be_scaleio_ops = {
    .name = "scaleio",
    .keys = sio_keys,
    .secret_keys = sio_secret_keys,
    .parse = be_sio_parse,
    .free_cfg = be_sio_free_cfg,
    .describe = be_sio_describe,
    .probe = sio_probe,
    .connect = sio_connect,
    .find_device = sio_find_device,
    .identify = sio_identify,
    .disconnect = sio_disconnect,
    .request_stats = be_sio_request_stats,
    .rescan = be_sio_rescan,
};
