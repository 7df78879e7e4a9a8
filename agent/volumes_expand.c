/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Online expand, the agent's part: `attachctl expand NAME` and the check at every Mount
 * (a device larger than its filesystem is grown before the bind, the way Kubernetes expands
 * on the node). Both run under the volume's operation lock, like every other operation on
 * it; the pipeline's attach_volume_expand does the work, this file logs it and keeps the
 * record in step (the dm map's size is part of it).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/log.h"
#include "agent/volumes_admin.h"
#include "agent/volumes_internal.h"
#include "lib/macro.h"

/* How long `attachctl expand` waits for a rescan that completes later (NVMe namespace
 * scan); a Mount does not wait (an NVMe target announces a resize itself). */
#define EXPAND_RESCAN_WAIT_MS 5000

static json_t *result_json(const struct agent_volume *v, const struct attach_expand_result *res)
{
	return json_pack("{s:s,s:s,s:b,s:b,s:b,s:I,s:I,s:I,s:I,s:I}", "volume", v->key, "fs",
			 v->av.opts.fs, "grew", res->grew_dm || res->grew_fs, "grew_dm",
			 res->grew_dm, "grew_fs", res->grew_fs, "device_bytes",
			 (json_int_t)res->device, "map_before", (json_int_t)res->map_before,
			 "map_after", (json_int_t)res->map_after, "fs_before",
			 (json_int_t)res->fs_before, "fs_after", (json_int_t)res->fs_after);
}

/* Operation lock held, v attached. Logs the outcome (a grow, or a failure with why); an
 * expand that found nothing to do is logged only when asked by an admin (quiet Mounts). */
static int expand_locked(struct agent_volumes *r, struct agent_volume *v, const char *trigger,
			 int wait_ms, struct attach_expand_result *res, struct errbuf *e)
{
	int rc;

	agent_volume_set_step(v, "expand");
	rc = r->ops->expand(r->env, &v->av, wait_ms, res, e);
	if (rc == -EOPNOTSUPP && !streq(trigger, "attachctl"))
		return rc;
	/* The map's new size is in the record: a restarted agent (and the path checker's
	 * table reloads) must build the map at that size. */
	if (res->grew_dm)
		agent_volume_save(r, v, NULL);
	if (rc < 0 || res->grew_dm || res->grew_fs || streq(trigger, "attachctl")) {
		json_t *d = result_json(v, res);

		if (d) {
			json_object_set_new(d, "trigger", json_string(trigger));
			if (rc < 0)
				json_object_set_new(d, "error", agent_json_string(e->msg));
		}
		agent_log(rc < 0 ? AGENT_LOG_ERROR : AGENT_LOG_INFO,
			  rc < 0 ? "attachd.expand.failed" : "attachd.expand.done", d);
	}
	return rc;
}

void agent_volume_expand_at_mount(struct agent_volumes *r, struct agent_volume *v)
{
	struct attach_expand_result res;
	struct errbuf e = {{0}};

	if (!r->ops->expand || !v->attached)
		return;
	/* Never fails the Mount: the volume works at its old size, and the log says why it
	 * did not grow. */
	(void)expand_locked(r, v, "mount", 0, &res, &e);
}

int agent_volumes_admin_expand(struct agent_volumes *r, const char *name, json_t **ret,
			       struct errbuf *e)
{
	struct attach_expand_result res;
	struct agent_volume *v;
	json_t *o;
	int rc;

	rc = agent_volumes_lock_name(r, name, &v, e);
	if (rc < 0)
		return rc;
	if (!v->attached) {
		rc = errbuf_set(e, -ENOTCONN,
				"volume '%s' is not attached on this host: it grows when it is "
				"next mounted",
				v->key);
		goto out;
	}
	if (!r->ops->expand) {
		rc = errbuf_set(e, -EOPNOTSUPP, "this agent's driver cannot grow volumes");
		goto out;
	}
	/* The trace shows this operation alone, as after an attach or a detach. */
	v->av.n_timings = 0;
	memset(&res, 0, sizeof(res));
	rc = expand_locked(r, v, "attachctl", EXPAND_RESCAN_WAIT_MS, &res, e);
	if (rc < 0) {
		errbuf_prefix(e, rc, "growing volume '%s' failed", v->key);
		goto out;
	}
	o = result_json(v, &res);
	if (!o) {
		rc = errbuf_set(e, -ENOMEM, "out of memory");
		goto out;
	}
	*ret = o;
	rc = 0;
out:
	agent_volume_unlock(r, v);
	return rc;
}
