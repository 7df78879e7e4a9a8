/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pipeline's fence steps: after the dm map is built (so that on a multipath map the
 * kernel registers every path) and before anything reads or writes the filesystem, a
 * read-write attach of a backend that fences by persistent reservations registers this
 * host's key and reserves (Write Exclusive - Registrants Only), or is refused naming the
 * holder. Detach releases and unregisters once the unmount has flushed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "attach/fence.h"
#include "attach/internal.h"

const char *attach_fence_status_name(enum attach_fence_status s)
{
	switch (s) {
	case ATTACH_FENCE_ST_HELD:
		return "held";
	case ATTACH_FENCE_ST_UNSUPPORTED:
		return "unsupported by target";
	case ATTACH_FENCE_ST_OFF:
		return "off";
	case ATTACH_FENCE_ST_READONLY:
		return "read-only";
	case ATTACH_FENCE_ST_LOST:
		return "lost";
	default:
		return "";
	}
}

int attach_fence_applies(const struct attach_volume *v)
{
	return v->opts.be && v->opts.be->fence_by_reservation;
}

static void fence_input(const struct attach_env *env, const struct attach_volume *v, bool takeover,
			struct attach_fence_input *in)
{
	const char *ini = env->host.iscsi_initiator_name;

	*in = (struct attach_fence_input){
	    .volume = v->key,
	    .our_key = env->fencing_key,
	    .readwrite = !v->opts.readonly,
	    .mode = (enum attach_fencing)v->opts.fencing,
	    .takeover = takeover,
	    .our_initiator = v->opts.be == &be_iscsi_ops && ini[0] ? ini : NULL,
	};
}

/* What was done, into v (status, key, whom we took it from). */
static void fence_apply(const struct attach_env *env, struct attach_volume *v,
			const struct attach_fence_plan *p)
{
	v->fence_detail[0] = 0;
	switch (p->action) {
	case ATTACH_FENCE_NONE:
		v->fence_status = v->opts.readonly ? ATTACH_FENCE_ST_READONLY : ATTACH_FENCE_ST_OFF;
		break;
	case ATTACH_FENCE_UNFENCED:
		v->fence_status = ATTACH_FENCE_ST_UNSUPPORTED;
		snprintf(v->fence_detail, sizeof(v->fence_detail), "%s", p->reason);
		break;
	case ATTACH_FENCE_PREEMPT:
		snprintf(v->took_over_from, sizeof(v->took_over_from), "%s", p->previous_holder);
		snprintf(v->fence_detail, sizeof(v->fence_detail), "taken over from %s",
			 p->previous_holder);
		/* fall through */
	case ATTACH_FENCE_RESERVE:
	case ATTACH_FENCE_HELD:
		v->fence_status = ATTACH_FENCE_ST_HELD;
		v->fence_key = env->fencing_key;
		break;
	}
}

int attach_fence_up(struct attach_env *env, struct attach_volume *v, char *note, size_t note_n,
		    struct errbuf *e)
{
	struct attach_fence_input in;
	struct attach_fence_plan p;
	int r;

	if (!attach_fence_applies(v)) {
		v->fence_status = ATTACH_FENCE_ST_NONE;
		return 0;
	}
	fence_input(env, v, v->opts.takeover || v->takeover_once, &in);
	r = attach_fence_acquire(&env->sys, v->dm_devnode, &in, env->connect_timeout_ms, &p, e);
	if (r < 0)
		return r;
	fence_apply(env, v, &p);
	if (p.note && !v->opts.readonly) {
		size_t l = strlen(note);

		snprintf(note + l, note_n - l, "%s%s%s%s%s", l ? "; " : "", p.note,
			 p.reason[0] ? " (" : "", p.reason, p.reason[0] ? ")" : "");
	}
	return 0;
}

int attach_fence_down(struct attach_env *env, struct attach_volume *v, struct errbuf *e)
{
	char k[24];
	int r;

	/* Only what this host registered: with a key shared by mistake, a RELEASE would
	 * drop the other host's reservation. */
	if (!attach_fence_applies(v) ||
	    (v->fence_status != ATTACH_FENCE_ST_HELD && v->fence_status != ATTACH_FENCE_ST_LOST)) {
		v->fence_status = ATTACH_FENCE_ST_NONE;
		return 0;
	}
	r = attach_fence_release(&env->sys, v->dm_devnode, v->fence_key, env->connect_timeout_ms,
				 e);
	/* Never hold a detach back: the unmount has flushed, the device is about to go, and
	 * a registration left behind is what the next attach refreshes (HELD) or another
	 * host's takeover removes. Say so, once. */
	if (r < 0 && r != -ENXIO) {
		char why[ERRBUF_MAX / 2];

		snprintf(why, sizeof(why), "%s", e->msg);
		errbuf_set(e, 0,
			   "releasing the reservation of key %s failed (%s): it may stay "
			   "registered on the target until this host attaches the volume again "
			   "or another host takes it over",
			   attach_fence_key_str(v->fence_key, k, sizeof(k)), why);
	} else if (r == -ENXIO)
		errbuf_clear(e);
	v->fence_status = ATTACH_FENCE_ST_NONE;
	v->fence_detail[0] = 0;
	return 0;
}

int attach_volume_fence_check(struct attach_env *env, struct attach_volume *v, struct errbuf *e)
{
	int r;

	if (!attach_fence_applies(v) || v->fence_status != ATTACH_FENCE_ST_HELD ||
	    v->reached < STEP_FENCE)
		return 1;
	r = attach_fence_check(&env->sys, v->dm_devnode, v->fence_key, env->connect_timeout_ms, e);
	if (r == 0) {
		v->fence_status = ATTACH_FENCE_ST_LOST;
		snprintf(v->fence_detail, sizeof(v->fence_detail), "%s", e->msg);
		return 0;
	}
	if (r == -EOPNOTSUPP)
		return errbuf_set(e, r,
				  "%s: the device no longer answers persistent reservation "
				  "commands",
				  v->dm_devnode);
	return r;
}

int attach_volume_fence_takeover(struct attach_env *env, struct attach_volume *v, struct errbuf *e)
{
	struct attach_fence_input in;
	struct attach_fence_plan p;
	int r;

	v->took_over_from[0] = 0;
	if (!attach_fence_applies(v))
		return errbuf_set(e, -EOPNOTSUPP,
				  "volume %s: the %s backend does not fence by persistent "
				  "reservations",
				  v->key, v->opts.be ? v->opts.be->name : "?");
	if (v->opts.readonly)
		return errbuf_set(e, -EINVAL,
				  "volume %s is attached read-only here: a takeover is for a "
				  "read-write attach",
				  v->key);
	fence_input(env, v, true, &in);
	if (in.mode == ATTACH_FENCING_OFF)
		in.mode = ATTACH_FENCING_AUTO; /* an explicit takeover asks for the fence */
	r = attach_fence_acquire(&env->sys, v->dm_devnode, &in, env->connect_timeout_ms, &p, e);
	if (r < 0)
		return r;
	if (p.action == ATTACH_FENCE_UNFENCED)
		return errbuf_set(e, -EOPNOTSUPP,
				  "volume %s: the target does not support persistent "
				  "reservations, so there is nothing to take over",
				  v->key);
	fence_apply(env, v, &p);
	return 0;
}
