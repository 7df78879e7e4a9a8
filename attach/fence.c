/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attach/fence.h"
#include "lib/macro.h"

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

/* With our key holding: the holding iSCSI registrant if it is another initiator. */
static const struct scsi_pr_registrant *shared_key_holder(const struct attach_fence_input *in)
{
	if (!in->full || !in->our_initiator || !in->our_initiator[0])
		return NULL;
	for (size_t i = 0; i < in->full->n; i++) {
		const struct scsi_pr_registrant *g = &in->full->reg[i];

		if (g->holder && g->key == in->our_key && g->protocol == 5 &&
		    strcmp(g->initiator, in->our_initiator) != 0)
			return g;
	}
	return NULL;
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
	if (in->mode == ATTACH_FENCING_OFF) {
		p.note = ATTACH_FENCE_NOTE_OFF;
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
					  "that does, or Create it with fencing: auto to "
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
	} else if (ours && shared_key_holder(in)) {
		char k[24];

		return errbuf_set(
		    e, -EEXIST,
		    "volume %s is reserved under this host's fencing key %s, but by "
		    "initiator %s, not by this host (%s): two hosts share one fencing "
		    "key (a cloned /etc/machine-id?); set a distinct fencing.key on "
		    "each host",
		    vol, attach_fence_key_str(in->our_key, k, sizeof(k)),
		    shared_key_holder(in)->initiator, in->our_initiator);
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

void attach_fence_state_done(struct attach_fence_state *st)
{
	if (st)
		scsi_pr_full_status_done(&st->full);
}

static uint32_t be32_at(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* One PERSISTENT RESERVE IN into a buffer that grows once when the target says its list
 * is longer than what we asked for (ALLOCATION LENGTH is 16 bits: 64 KiB at most). */
static int pr_in(const struct sys *s, const char *devnode, unsigned sa, int timeout_ms,
		 unsigned char **ret, size_t *ret_len)
{
	size_t len = 4096, got = 0;

	for (int round = 0; round < 2; round++) {
		_cleanup_free_ unsigned char *buf = calloc(1, len);
		size_t want;
		int r;

		if (!buf)
			return -ENOMEM;
		/* A unit attention (registrations preempted, reservations released, power on)
		 * is reported once per nexus: ask again. */
		for (int ua = 0; ua < 4; ua++) {
			r = s->ops->scsi_pr_in(s, devnode, sa, buf, len, timeout_ms, &got);
			if (r != -EAGAIN)
				break;
		}
		if (r < 0)
			return r == -EAGAIN ? -EIO : r;
		if (got > len)
			return -EBADMSG;
		want = got >= 8 ? (size_t)be32_at(buf + 4) + 8 : got;
		if (want <= got || got < len || round == 1 || want > 0xffff) {
			*ret = TAKE_PTR(buf);
			*ret_len = got;
			return 0;
		}
		len = want;
	}
	return -EBADMSG; /* not reached */
}

static const char *sa_name(unsigned sa)
{
	return sa == SYS_PR_IN_READ_KEYS	  ? "READ KEYS"
	       : sa == SYS_PR_IN_READ_RESERVATION ? "READ RESERVATION"
						  : "READ FULL STATUS";
}

int attach_fence_read(const struct sys *s, const char *devnode, int timeout_ms,
		      struct attach_fence_state *ret, struct errbuf *e)
{
	struct attach_fence_state st = {.supported = true};
	static const unsigned sas[] = {SYS_PR_IN_READ_KEYS, SYS_PR_IN_READ_RESERVATION,
				       SYS_PR_IN_READ_FULL_STATUS};

	if (!s->ops->scsi_pr_in) {
		*ret = (struct attach_fence_state){.supported = false};
		return 0;
	}
	for (size_t i = 0; i < ELEMENTSOF(sas); i++) {
		_cleanup_free_ unsigned char *buf = NULL;
		size_t len = 0;
		int r;

		r = pr_in(s, devnode, sas[i], timeout_ms, &buf, &len);
		if (r == -EOPNOTSUPP && sas[i] == SYS_PR_IN_READ_FULL_STATUS)
			break; /* optional: the holder is then named by its key */
		if (r == -EOPNOTSUPP) {
			scsi_pr_full_status_done(&st.full);
			*ret = (struct attach_fence_state){.supported = false};
			return 0;
		}
		if (r >= 0) {
			if (sas[i] == SYS_PR_IN_READ_KEYS)
				r = scsi_pr_decode_keys(buf, len, &st.keys);
			else if (sas[i] == SYS_PR_IN_READ_RESERVATION)
				r = scsi_pr_decode_reservation(buf, len, &st.resv);
			else {
				r = scsi_pr_decode_full_status(buf, len, &st.full);
				st.have_full = r >= 0;
			}
			if (r < 0)
				return errbuf_set(e, r,
						  "%s: PERSISTENT RESERVE IN %s: malformed answer "
						  "from the target (%zu bytes)",
						  devnode, sa_name(sas[i]), len);
		}
		if (r < 0) {
			scsi_pr_full_status_done(&st.full);
			return errbuf_set(e, r, "%s: PERSISTENT RESERVE IN %s: %s", devnode,
					  sa_name(sas[i]), strerror(-r));
		}
	}
	*ret = st;
	return 0;
}

static int step_err(struct errbuf *e, int r, const char *devnode, const char *what)
{
	return errbuf_set(e, r, "%s: PERSISTENT RESERVE OUT %s: %s", devnode, what,
			  r == -EBADE ? "reservation conflict" : strerror(-r));
}

/* Unregister our key (REGISTER with SERVICE ACTION RESERVATION KEY 0): a registrant
 * that holds the reservation releases it by unregistering too. */
static int unregister(const struct sys *s, const char *devnode, uint64_t key)
{
	return s->ops->pr_register(s, devnode, key, 0, true);
}

static bool ops_complete(const struct sys *s)
{
	return s->ops->pr_register && s->ops->pr_reserve && s->ops->pr_release &&
	       s->ops->pr_preempt && s->ops->scsi_pr_in;
}

int attach_fence_acquire(const struct sys *s, const char *devnode,
			 const struct attach_fence_input *in, int timeout_ms,
			 struct attach_fence_plan *ret, struct errbuf *e)
{
	bool registered = false;
	int r = -EBADE;

	if (!in)
		return -EINVAL;
	/* A race lost to a host that reserved between our read and our RESERVE: read again,
	 * which then refuses naming it (or preempts it on takeover). Bounded: each round
	 * needs another host to win a new race. */
	for (int round = 0; round < 3 && r == -EBADE; round++) {
		struct attach_fence_state st = {0};
		struct attach_fence_input x = *in;
		struct attach_fence_plan p;

		if (!ops_complete(s))
			st.supported = false;
		else if (in->readwrite) {
			r = attach_fence_read(s, devnode, timeout_ms, &st, e);
			if (r < 0)
				goto fail;
		}
		x.pr_supported = st.supported;
		x.keys = &st.keys;
		x.resv = &st.resv;
		x.full = st.have_full ? &st.full : NULL;
		r = attach_fence_decide(&x, &p, e);
		attach_fence_state_done(&st);
		if (r < 0)
			goto fail;
		if (p.action == ATTACH_FENCE_NONE || p.action == ATTACH_FENCE_UNFENCED) {
			*ret = p;
			return 0;
		}
		if (p.do_register) {
			r = s->ops->pr_register(s, devnode, 0, in->our_key, true);
			if (!registered &&
			    (r == -EOPNOTSUPP || (r == -EIO && in->mode == ATTACH_FENCING_AUTO))) {
				/* READ KEYS worked but REGISTER is refused (some arrays, a
				 * device without PR ops) or fails (LIO cannot store APTPL
				 * registrations): the same as no PR at all. */
				int r2 = r;

				x.pr_supported = false;
				r = attach_fence_decide(&x, &p, e);
				if (r < 0)
					return r;
				if (r2 == -EIO)
					snprintf(p.reason, sizeof(p.reason),
						 "PERSISTENT RESERVE OUT REGISTER failed: %s",
						 strerror(-r2));
				*ret = p;
				return 0;
			}
			if (r < 0) {
				step_err(e, r, devnode, "REGISTER");
				goto fail;
			}
			registered = true;
		}
		if (p.action == ATTACH_FENCE_RESERVE)
			r = s->ops->pr_reserve(s, devnode, in->our_key,
					       SYS_PR_WRITE_EXCLUSIVE_REG_ONLY);
		else if (p.action == ATTACH_FENCE_PREEMPT)
			r = s->ops->pr_preempt(s, devnode, p.preempt_key, in->our_key,
					       SYS_PR_WRITE_EXCLUSIVE_REG_ONLY, true);
		else {
			/* HELD from before a reboot or re-login: the reservation may sit on an
			 * I_T nexus of ours that is gone (iSCSI: a new session has a new
			 * ISID), which no RELEASE from here can drop. PREEMPT of our own key
			 * moves it to this nexus and removes the stale ones; REGISTER again
			 * then puts back the other paths of a multipath map (the preempt
			 * went down one path). Best effort: we hold it either way. */
			if (s->ops->pr_preempt(s, devnode, in->our_key, in->our_key,
					       SYS_PR_WRITE_EXCLUSIVE_REG_ONLY, false) == 0)
				(void)s->ops->pr_register(s, devnode, 0, in->our_key, true);
			r = 0;
		}
		if (r == -EBADE)
			continue;
		if (r < 0) {
			step_err(e, r, devnode,
				 p.action == ATTACH_FENCE_PREEMPT ? "PREEMPT AND ABORT"
								  : "RESERVE");
			goto fail;
		}
		for (size_t i = 0; i < p.n_evict; i++) {
			/* PREEMPT AND ABORT of a key that holds no reservation removes its
			 * registrations and aborts its queued commands. */
			r = s->ops->pr_preempt(s, devnode, p.evict[i], in->our_key,
					       SYS_PR_WRITE_EXCLUSIVE_REG_ONLY, true);
			if (r < 0) {
				char k[24];

				errbuf_set(e, r, "%s: removing the stale registration %s: %s",
					   devnode, attach_fence_key_str(p.evict[i], k, sizeof(k)),
					   r == -EBADE ? "reservation conflict" : strerror(-r));
				goto fail;
			}
		}
		*ret = p;
		return 0;
	}
	if (r == -EBADE)
		errbuf_set(e, r,
			   "%s: the reservation kept changing hands while attaching "
			   "volume %s; try again",
			   devnode, in->volume ? in->volume : "?");
fail:
	if (registered)
		(void)unregister(s, devnode, in->our_key);
	return r;
}

int attach_fence_release(const struct sys *s, const char *devnode, uint64_t key, int timeout_ms,
			 struct errbuf *e)
{
	struct attach_fence_state st = {0};
	bool mine, holder;
	int r;

	if (!ops_complete(s))
		return 0;
	r = attach_fence_read(s, devnode, timeout_ms, &st, e);
	if (r < 0)
		return r;
	mine = false;
	for (size_t i = 0; i < st.keys.n; i++)
		mine |= st.keys.keys[i] == key;
	holder = st.resv.held && st.resv.key == key;
	attach_fence_state_done(&st);
	if (!st.supported || (!mine && !holder))
		return 0;
	if (holder) {
		r = s->ops->pr_release(s, devnode, key, SYS_PR_WRITE_EXCLUSIVE_REG_ONLY);
		if (r < 0)
			return step_err(e, r, devnode, "RELEASE");
	}
	r = unregister(s, devnode, key);
	/* preempted meanwhile: nothing of ours is left, which is what we wanted */
	if (r == -EBADE)
		return 0;
	return r < 0 ? step_err(e, r, devnode, "REGISTER (unregister)") : 0;
}

int attach_fence_check(const struct sys *s, const char *devnode, uint64_t key, int timeout_ms,
		       struct errbuf *e)
{
	struct attach_fence_state st = {0};
	struct attach_fence_input x = {.our_key = key, .resv = &st.resv};
	char who[SCSI_PR_NAME_MAX + 40];
	int r;

	if (!ops_complete(s))
		return -EOPNOTSUPP;
	r = attach_fence_read(s, devnode, timeout_ms, &st, e);
	if (r < 0)
		return r;
	if (!st.supported) {
		r = -EOPNOTSUPP;
	} else if (st.resv.held && st.resv.key == key && !type_is_all_registrants(st.resv.type)) {
		r = 1;
	} else if (!st.resv.held) {
		errbuf_set(e, 0, "%s: this host no longer holds the reservation: nobody holds it",
			   devnode);
		r = 0;
	} else {
		x.full = st.have_full ? &st.full : NULL;
		describe_holder(&x, who, sizeof(who));
		errbuf_set(e, 0,
			   "%s: this host no longer holds the reservation: %s holds it "
			   "(the volume was taken over)",
			   devnode, who);
		r = 0;
	}
	attach_fence_state_done(&st);
	return r;
}
