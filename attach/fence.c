/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "attach/fence.h"

char *attach_fence_key_str(uint64_t key, char *buf, size_t n)
{
	snprintf(buf, n, "0x%016" PRIx64, key);
	return buf;
}

/* The all-registrants types (SCSI 7h, 8h): every registrant holds the reservation and
 * the RESERVATION KEY field is 0. */
static bool type_is_all_registrants(unsigned scsi_type)
{
	return scsi_type == 0x7 || scsi_type == 0x8;
}

/* Who holds the reservation, for people: the holding registrant's initiator from READ FULL
 * STATUS (one that is not us: with an all-registrants type we may be one of them), else
 * the key. */
static void describe_holder(const struct attach_fence_input *in, char *buf, size_t n)
{
	const struct scsi_pr_registrant *h = NULL;
	char k[24];

	for (size_t i = 0; in->full && i < in->full->n; i++) {
		const struct scsi_pr_registrant *g = &in->full->reg[i];

		if (g->holder && g->key != in->our_key && g->initiator[0]) {
			h = g;
			break;
		}
	}
	if (h)
		snprintf(buf, n, "initiator %s (key %s)", h->initiator,
			 attach_fence_key_str(h->key, k, sizeof(k)));
	else
		snprintf(buf, n, "key %s", attach_fence_key_str(in->resv->key, k, sizeof(k)));
}

static bool key_listed(const uint64_t *keys, size_t n, uint64_t key)
{
	for (size_t i = 0; i < n; i++)
		if (keys[i] == key)
			return true;
	return false;
}

/* Foreign registrations (deduplicated: a host registers once per path) other than skip. */
static void collect_evict(const struct attach_fence_input *in, uint64_t skip,
			  struct attach_fence_plan *p)
{
	for (size_t i = 0; i < in->keys->n; i++) {
		uint64_t k = in->keys->keys[i];

		if (k == in->our_key || k == skip || key_listed(p->evict, p->n_evict, k))
			continue;
		p->evict[p->n_evict++] = k;
	}
}

int attach_fence_decide(const struct attach_fence_input *in, struct attach_fence_plan *ret,
			struct errbuf *e)
{
	struct attach_fence_plan p = {.action = ATTACH_FENCE_NONE};
	const char *vol;
	bool ours;

	if (!in || !ret)
		return -EINVAL;
	vol = in->volume ? in->volume : "?";
	if (!in->readwrite) {
		/* Readers never register: a registrant may write under type 5h. */
		*ret = p;
		return 0;
	}
	if (in->our_key == 0)
		return errbuf_set(e, -EINVAL,
				  "volume %s: the fencing key is 0 (set fencing.key "
				  "to 16 hex digits, not all zero)",
				  vol);
	if (!in->pr_supported) {
		if (in->mode == ATTACH_FENCING_REQUIRED)
			return errbuf_set(e, -EOPNOTSUPP,
					  "volume %s: fencing is required but the target does not "
					  "support SCSI-3 persistent reservations; use a target "
					  "that does, or Create it with fencing: best-effort to "
					  "attach it unfenced",
					  vol);
		p.action = ATTACH_FENCE_UNFENCED;
		p.note = ATTACH_FENCE_NOTE_UNSUPPORTED;
		*ret = p;
		return 0;
	}
	if (!in->keys || !in->resv)
		return -EINVAL;
	p.do_register = true;
	ours = in->resv->held && in->resv->key == in->our_key &&
	       !type_is_all_registrants(in->resv->type);
	if (!in->resv->held) {
		p.action = ATTACH_FENCE_RESERVE;
		collect_evict(in, 0, &p);
	} else if (ours) {
		/* Ours from before a restart or reboot: a stale registration of our own key is
		 * what REGISTER AND IGNORE EXISTING KEY refreshes. */
		p.action = ATTACH_FENCE_HELD;
		collect_evict(in, 0, &p);
	} else {
		char who[sizeof(p.previous_holder)];

		describe_holder(in, who, sizeof(who));
		if (!in->takeover)
			return errbuf_set(
			    e, -EBUSY,
			    "volume %s is attached read-write on another host (%s "
			    "holds its reservation); detach it there, or take it "
			    "over, fencing that host's writes: attachctl takeover %s, "
			    "or Create with the option takeover: true; a read-only "
			    "attach works meanwhile",
			    vol, who, vol);
		p.action = ATTACH_FENCE_PREEMPT;
		p.preempt_key = in->resv->key;
		snprintf(p.previous_holder, sizeof(p.previous_holder), "%s", who);
		collect_evict(in, p.preempt_key, &p);
	}
	*ret = p;
	return 0;
}
