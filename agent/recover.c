/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Start-up recovery: rebuild the registry from the records, make each record match the
 * kernel (agent_recovery_decide says how), then sweep attachd-owned dm devices nobody
 * claims. Runs before the Volman listener, so no request races it; locks are still taken
 * so the helpers' contracts hold.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/log.h"
#include "agent/state.h"
#include "agent/volumes_internal.h"
#include "dm/dmap.h"
#include "lib/macro.h"

static void log_problem(const char *msg, const char *key, const char *error)
{
	agent_log(AGENT_LOG_ERROR, msg,
		  json_pack("{s:s,s:o}", "volume", key, "error", agent_json_string(error)));
}

/* The record's container mounts into v (op lock held). */
static int load_mounts(struct agent_volume *v, const json_t *mounts, struct errbuf *e)
{
	size_t i, n = json_array_size(mounts);
	const json_t *m;

	if (mounts && !json_is_array(mounts))
		return errbuf_set(e, -EINVAL, "record: 'mounts' must be an array");
	v->mounts = n ? calloc(n, sizeof(*v->mounts)) : NULL;
	if (n && !v->mounts)
		return errbuf_set(e, -ENOMEM, "out of memory");
	json_array_foreach(mounts, i, m)
	{
		struct agent_mount *am = &v->mounts[v->n_mounts];
		const char *name = json_string_value(json_object_get(m, "name"));
		const char *container = json_string_value(json_object_get(m, "container"));
		const char *path = json_string_value(json_object_get(m, "path"));
		json_int_t count = json_integer_value(json_object_get(m, "count"));

		if (!name || !container || !path || count < 1 || count > 1000000 ||
		    strlen(name) >= sizeof(am->name) || !attach_key_is_valid(container) ||
		    strlen(path) >= AGENT_MOUNT_PATH_MAX)
			return errbuf_set(e, -EINVAL, "record: mount entry %zu is malformed", i);
		am->path = strdup(path);
		if (!am->path)
			return errbuf_set(e, -ENOMEM, "out of memory");
		snprintf(am->name, sizeof(am->name), "%s", name);
		snprintf(am->container, sizeof(am->container), "%s", container);
		am->count = (unsigned)count;
		v->n_mounts++;
	}
	return 0;
}

/* Drop the recorded mounts that are gone (op lock held): only live ones are adopted. */
static void keep_live_mounts(struct agent_volumes *r, struct agent_volume *v)
{
	size_t w = 0;

	for (size_t i = 0; i < v->n_mounts; i++) {
		if (attach_path_is_mounted(r->env, v->mounts[i].path) == 1) {
			v->mounts[w++] = v->mounts[i];
			continue;
		}
		agent_log(AGENT_LOG_INFO, "attachd.recover.mount-gone",
			  json_pack("{s:s,s:s,s:s}", "volume", v->key, "name", v->mounts[i].name,
				    "path", v->mounts[i].path));
		free(v->mounts[i].path);
	}
	pthread_mutex_lock(&v->data_lock);
	v->n_mounts = w;
	if (w == 0) {
		free(v->mounts);
		v->mounts = NULL;
	}
	pthread_mutex_unlock(&v->data_lock);
}

static unsigned count_live_mounts(struct agent_volumes *r, struct agent_volume *v)
{
	unsigned n = 0;

	for (size_t i = 0; i < v->n_mounts; i++)
		n += attach_path_is_mounted(r->env, v->mounts[i].path) == 1;
	return n;
}

static void set_attached(struct agent_volume *v, int attached)
{
	pthread_mutex_lock(&v->data_lock);
	v->attached = attached;
	pthread_mutex_unlock(&v->data_lock);
}

/* Unbind what the record lists (gone mounts: just their directories; after another boot,
 * whatever is still mounted there, lazily) and drop the entries. */
static void unbind_all(struct agent_volumes *r, struct agent_volume *v)
{
	for (size_t i = 0; i < v->n_mounts; i++) {
		struct errbuf e = {{0}};

		if (r->ops->unbind(r->env, &v->av, v->mounts[i].container, &e) < 0)
			log_problem("attachd.recover.unbind-failed", v->key, e.msg);
	}
	pthread_mutex_lock(&v->data_lock);
	while (v->n_mounts > 0)
		agent_volume_drop_mount(v, v->n_mounts - 1);
	pthread_mutex_unlock(&v->data_lock);
}

static void act(struct agent_volumes *r, struct agent_volume *v, enum agent_recovery a)
{
	struct errbuf e = {{0}};
	int rc;

	switch (a) {
	case AGENT_RECOVER_FORGET:
		agent_volume_forget(r, v);
		return;
	case AGENT_RECOVER_ADOPT:
		keep_live_mounts(r, v);
		set_attached(v, 1);
		agent_volume_save(r, v, NULL);
		agent_volume_fence_recheck(r, v);
		return;
	case AGENT_RECOVER_COMPLETE_UP:
		keep_live_mounts(r, v);
		rc = agent_volume_up(r, v, &e);
		set_attached(v, 1); /* containers stand on it whatever happened */
		if (rc < 0)
			log_problem("attachd.recover.complete-attach-failed", v->key, e.msg);
		else
			agent_volume_fence_recheck(r, v);
		return;
	case AGENT_RECOVER_ROLLBACK:
		unbind_all(r, v);
		v->op = AGENT_OP_DETACH;
		agent_volume_save(r, v, NULL);
		rc = r->ops->rollback ? r->ops->rollback(r->env, &v->av, &e)
				      : r->ops->down(r->env, &v->av, 0, &e);
		v->op = AGENT_OP_IDLE;
		if (rc == 0) {
			if (e.msg[0])
				log_problem("attachd.recover.left-alone", v->key, e.msg);
			agent_volume_forget(r, v);
			agent_volume_unclaim(r, v);
			return;
		}
		agent_volume_save(r, v, NULL);
		set_attached(v, 1); /* what is left stays visible to Remove, Mount, attachctl */
		log_problem("attachd.recover.rollback-failed", v->key, e.msg);
		return;
	case AGENT_RECOVER_DETACH:
	case AGENT_RECOVER_CLEANUP:
		unbind_all(r, v);
		rc = agent_volume_down(r, v, 0, &e);
		set_attached(v, rc < 0);
		if (rc < 0)
			log_problem("attachd.recover.detach-failed", v->key, e.msg);
		return;
	}
}

static void recover_one(struct agent_volumes *r, const char *key)
{
	struct agent_recovery_input in = {0};
	struct agent_volume *v = NULL;
	struct errbuf e = {{0}};
	enum agent_recovery a;
	const char *boot;
	json_t *rec = NULL;
	int rc;

	rc = agent_state_read(r->state, key, &rec, &e);
	if (rc < 0)
		goto bad;
	boot = json_string_value(json_object_get(rec, "boot_id"));
	if (json_integer_value(json_object_get(rec, "version")) != AGENT_RECORD_VERSION ||
	    !streq(json_string_value(json_object_get(rec, "key")), key) || !boot ||
	    agent_op_from_name(json_string_value(json_object_get(rec, "op")), &in.op) < 0) {
		rc = errbuf_set(&e, -EINVAL, "record %s: bad version, key, boot_id or op", key);
		goto bad;
	}
	rc = agent_volume_restore(r, key, json_object_get(rec, "opts"), &v, &e);
	if (rc < 0)
		goto bad;
	rc = attach_volume_from_json(json_object_get(rec, "volume"), &v->av, &e);
	if (rc >= 0)
		rc = load_mounts(v, json_object_get(rec, "mounts"), &e);
	if (rc < 0)
		goto bad;

	in.same_boot = streq(boot, agent_state_boot_id(r->state));
	/* Kernel numbers from an earlier boot name nothing (or somebody else) now. */
	if (in.same_boot)
		agent_volume_claim_restored(r, v);
	in.reached = v->av.reached;
	in.doing = v->av.doing;
	in.mounts_recorded = (unsigned)v->n_mounts;
	in.mounts_live = count_live_mounts(r, v);
	v->op = in.op;
	a = agent_recovery_decide(&in);
	agent_log(AGENT_LOG_INFO, "attachd.recover.volume",
		  json_pack("{s:s,s:s,s:b,s:s,s:s,s:s,s:i,s:i}", "volume", key, "action",
			    agent_recovery_name(a), "same_boot", in.same_boot, "op",
			    agent_op_name(in.op), "reached", attach_step_name(in.reached), "doing",
			    attach_step_name(in.doing), "mounts_recorded", (int)in.mounts_recorded,
			    "mounts_live", (int)in.mounts_live));
	act(r, v, a);
	json_decref(rec);
	agent_volume_unlock(r, v);
	return;
bad:
	/* Kept as is for a person to look at; its dm device is still claimed (not swept). */
	log_problem("attachd.recover.bad-record", key, e.msg[0] ? e.msg : strerror(-rc));
	json_decref(rec);
	if (v)
		agent_volume_unlock(r, v);
}

static int claimed(char **keys, const char *dm_name)
{
	for (size_t i = 0; keys && keys[i]; i++) {
		char name[160];

		if (dmap_name_for(keys[i], name, sizeof(name)) == 0 && streq(name, dm_name))
			return 1;
	}
	return 0;
}

/* attachd-owned dm devices without a record: a crash before the first record write, or
 * records lost. Removed when nothing holds them open (not mounted), else only logged. */
static void sweep_orphans(struct agent_volumes *r, char **keys)
{
	char **names = NULL;

	if (dmap_list_owned(&names) < 0)
		return; /* no device-mapper here: nothing of ours can exist */
	for (size_t i = 0; names[i]; i++) {
		struct dmap_info info;
		struct errbuf e = {{0}};
		int rc;

		if (claimed(keys, names[i]))
			continue;
		rc = dmap_get_info(names[i], &info);
		if (rc < 0 || !info.exists)
			continue;
		if (info.open_count > 0) {
			agent_log(AGENT_LOG_ERROR, "attachd.recover.orphan-in-use",
				  json_pack("{s:s,s:i}", "dm", names[i], "open_count",
					    info.open_count));
			continue;
		}
		rc = dmap_remove(names[i], r->env->device_timeout_ms, &e);
		agent_log(rc < 0 ? AGENT_LOG_ERROR : AGENT_LOG_INFO,
			  rc < 0 ? "attachd.recover.orphan-remove-failed"
				 : "attachd.recover.orphan-removed",
			  json_pack("{s:s,s:o}", "dm", names[i], "error",
				    agent_json_string(rc < 0 ? e.msg : "")));
	}
	for (size_t i = 0; names[i]; i++)
		free(names[i]);
	free(names);
}

int agent_volumes_recover(struct agent_volumes *r, int sweep_dm, struct errbuf *e)
{
	char **keys = NULL;
	int rc;

	if (!r->state)
		return 0;
	rc = agent_state_keys(r->state, &keys);
	if (rc < 0)
		return errbuf_set(e, rc, "cannot list the records in %s: %s",
				  agent_state_dir(r->state), strerror(-rc));
	agent_log(AGENT_LOG_INFO, "attachd.recover.start",
		  json_pack("{s:s,s:s}", "dir", agent_state_dir(r->state), "boot_id",
			    agent_state_boot_id(r->state)));
	for (size_t i = 0; keys[i]; i++)
		recover_one(r, keys[i]);
	if (sweep_dm) {
		char **left = NULL;

		/* Records that failed to recover still claim their devices. */
		if (agent_state_keys(r->state, &left) == 0) {
			sweep_orphans(r, left);
			agent_state_keys_free(left);
		}
	}
	agent_state_keys_free(keys);
	agent_log(AGENT_LOG_INFO, "attachd.recover.finish", NULL);
	return 0;
}
