/* SPDX-License-Identifier: Apache-2.0 */
/* Writing the registry's volumes to their records, and the pipeline's step hook. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "agent/log.h"
#include "agent/state.h"
#include "agent/volumes_internal.h"
#include "lib/macro.h"

static json_t *mount_json(const struct agent_mount *m)
{
	return json_pack("{s:s,s:s,s:s,s:i}", "name", m->name, "container", m->container, "path",
			 m->path, "count", (int)m->count);
}

/* Operation lock held (mounts and av are stable). */
static json_t *record_json(struct agent_volumes *r, struct agent_volume *v,
			   const struct agent_mount *pending)
{
	json_t *mounts = json_array(), *vol = attach_volume_to_json(&v->av), *rec;
	int pending_counted = 0;

	if (!mounts || !vol) {
		json_decref(mounts);
		json_decref(vol);
		return NULL;
	}
	for (size_t i = 0; i < v->n_mounts; i++) {
		struct agent_mount m = v->mounts[i];

		if (pending && streq(pending->name, m.name)) {
			m.count++;
			pending_counted = 1;
		}
		json_array_append_new(mounts, mount_json(&m));
	}
	if (pending && !pending_counted)
		json_array_append_new(mounts, mount_json(pending));
	rec = json_pack("{s:i,s:s,s:s,s:s,s:O,s:o,s:o}", "version", AGENT_RECORD_VERSION, "key",
			v->key, "boot_id", agent_state_boot_id(r->state), "op",
			agent_op_name(v->op), "opts", v->opts ? v->opts : json_null(), "mounts",
			mounts, "volume", vol);
	return rec;
}

int agent_volume_save(struct agent_volumes *r, struct agent_volume *v,
		      const struct agent_mount *pending)
{
	json_t *rec;
	int rc;

	if (!r->state)
		return 0;
	rec = record_json(r, v, pending);
	rc = rec ? agent_state_write(r->state, v->key, rec) : -ENOMEM;
	json_decref(rec);
	if (rc < 0)
		agent_log(AGENT_LOG_ERROR, "attachd.state.write-failed",
			  json_pack("{s:s,s:s,s:s}", "volume", v->key, "dir",
				    agent_state_dir(r->state), "error", strerror(-rc)));
	return rc;
}

int agent_volume_forget(struct agent_volumes *r, struct agent_volume *v)
{
	int rc;

	if (!r->state)
		return 0;
	rc = agent_state_remove(r->state, v->key);
	if (rc < 0)
		agent_log(AGENT_LOG_ERROR, "attachd.state.remove-failed",
			  json_pack("{s:s,s:s,s:s}", "volume", v->key, "dir",
				    agent_state_dir(r->state), "error", strerror(-rc)));
	return rc;
}

/* Steps after which the kernel (or the device's content) differs: those are recorded. */
static int step_changes_kernel(enum attach_step s)
{
	switch (s) {
	case STEP_CONNECT:
	case STEP_DM:
	case STEP_FENCE:
	case STEP_MKFS:
	case STEP_MOUNT:
	case STEP_UMOUNT:
	case STEP_UNFENCE:
	case STEP_DM_REMOVE:
	case STEP_DISCONNECT:
		return 1;
	default:
		return 0;
	}
}

static int step_hook(struct attach_env *env, struct attach_volume *av, enum attach_step step,
		     int done)
{
	struct agent_volumes *r = env->hook_userdata;
	/* The pipeline only ever runs on the attach_volume embedded in a registry entry. */
	struct agent_volume *v =
	    (struct agent_volume *)((char *)av - offsetof(struct agent_volume, av));
	int rc = 0;

	/* "after": the kernel work is done but the record does not say so yet, the worst
	 * moment for a kill -9. "before": the record says the step may have started. */
	if (!done)
		agent_volume_set_step(v, attach_step_name(step));
	if (done)
		agent_test_crash_point(r->test, step, 1);
	if (step_changes_kernel(step))
		rc = agent_volume_save(r, v, NULL);
	if (!done)
		agent_test_crash_point(r->test, step, 0);
	return rc;
}

/* A backend made a kernel object mid-step (see backend_ctx.checkpoint): record it now. */
static int checkpoint(struct attach_env *env, struct attach_volume *av)
{
	struct agent_volume *v =
	    (struct agent_volume *)((char *)av - offsetof(struct agent_volume, av));

	return agent_volume_save(env->hook_userdata, v, NULL);
}

void agent_volumes_set_state(struct agent_volumes *r, struct agent_state *st,
			     const struct agent_test_settings *t)
{
	r->state = st;
	r->test = t;
	/* Always: the hook also tells a waiting request which step is running. */
	r->env->step_hook = step_hook;
	r->env->checkpoint = checkpoint;
	r->env->hook_userdata = r;
}
