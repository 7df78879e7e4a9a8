/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fencing: one read-write host per volume through SCSI-3 persistent reservations (type
 * Write Exclusive - Registrants Only, SCSI 5h / IOC_PR SYS_PR_WRITE_EXCLUSIVE_REG_ONLY).
 * This part decides, from what the target reports, what an attach must do. Pure: no I/O,
 * tested on structs; the pipeline runs the plan through sys->ops->pr_*.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/scsi_pr.h"
#include "lib/sys.h"

/* Create option `fencing`. */
enum attach_fencing {
	ATTACH_FENCING_AUTO = 0, /* default: reserve when the target has PR, else unfenced */
	ATTACH_FENCING_REQUIRED, /* refuse a read-write attach the target cannot fence */
	ATTACH_FENCING_OFF,	 /* register nothing: the operator fences by other means */
};

/* The note shown by attachctl show and the attach log for an unfenced attach. */
#define ATTACH_FENCE_NOTE_UNSUPPORTED "fencing: unsupported by target"
#define ATTACH_FENCE_NOTE_OFF "fencing: off"

struct attach_fence_input {
	const char *volume; /* the volume's name, for the messages */
	uint64_t our_key;   /* this host's key (attach_fencing_key_derive or fencing.key) */
	bool readwrite;
	enum attach_fencing mode;
	bool takeover; /* Create option takeover, or attachctl takeover */
	/* This host's iSCSI initiator name, or NULL: when READ FULL STATUS shows our key
	 * held through another initiator, two hosts share one key (cloned machine-id) and
	 * the attach is refused rather than trusted. */
	const char *our_initiator;
	/* What the target said. pr_supported false: PERSISTENT RESERVE IN answered ILLEGAL
	 * REQUEST or the device has no PR ops (-EOPNOTSUPP); keys/resv are then unused. */
	bool pr_supported;
	const struct scsi_pr_keys *keys;
	const struct scsi_pr_reservation *resv;
	const struct scsi_pr_full_status *full; /* NULL when READ FULL STATUS is not available */
};

enum attach_fence_action {
	ATTACH_FENCE_NONE,     /* read-only, or fencing: off (note set): register nothing */
	ATTACH_FENCE_UNFENCED, /* no PR on the target, fencing: auto: attach with the note */
	ATTACH_FENCE_RESERVE,  /* nobody holds it: register, reserve */
	ATTACH_FENCE_HELD,     /* we hold it already (restart, reboot): register (new paths) */
	ATTACH_FENCE_PREEMPT,  /* takeover: register, PREEMPT AND ABORT the holder's key */
};

struct attach_fence_plan {
	enum attach_fence_action action;
	/* REGISTER AND IGNORE EXISTING KEY with our key before reserving: idempotent, and on
	 * a multipath map the kernel registers every path. */
	bool do_register;
	uint64_t preempt_key; /* PREEMPT: the holder's key (0 for an all-registrants type) */
	/* Other hosts' registrations that hold no reservation: with type 5h every registrant
	 * may write, so after we hold the reservation they are removed (PREEMPT of a
	 * non-holder key removes only its registrations). A host that registered and is
	 * about to reserve then gets RESERVATION CONFLICT and refuses its attach. */
	size_t n_evict;
	uint64_t evict[SCSI_PR_MAX_KEYS];
	/* PREEMPT: whom we took the volume from, "initiator iqn... (key 0x...)" or "key 0x...",
	 * for the loud log event. */
	char previous_holder[SCSI_PR_NAME_MAX + 40];
	const char *note; /* ATTACH_FENCE_NOTE_UNSUPPORTED, ATTACH_FENCE_NOTE_OFF or NULL */
	/* UNFENCED after the target failed REGISTER (fencing: auto): why, for people
	 * ("REGISTER failed: Input/output error"); "" otherwise. */
	char reason[160];
};

/*
 * Decide what a read-write (or read-only) attach does about reservations. 0 and *ret on
 * success. -EBUSY with e set when another host holds the volume and takeover is false:
 * the message names the holder (its initiator IQN from READ FULL STATUS, else its key)
 * and says how to take over. -EOPNOTSUPP with e set when the target cannot fence and
 * fencing is required. -EEXIST with e set when our key is held through another iSCSI
 * initiator (two hosts with the same key). -EINVAL for a missing input (programmer error) or
 * our_key 0.
 */
int attach_fence_decide(const struct attach_fence_input *in, struct attach_fence_plan *ret,
			struct errbuf *e);

/* "0x0123456789abcdef" into buf (at least 19 bytes). Returns buf. */
char *attach_fence_key_str(uint64_t key, char *buf, size_t n);

/*
 * Running it on a device (the volume's dm map or its single disk) through sys->ops->pr_*
 * and scsi_pr_in. Each call blocks for a few round trips to the target, each bounded by
 * timeout_ms. Not yet called by the pipeline (see issue 9).
 */

/* What the target reports, read with PERSISTENT RESERVE IN. */
struct attach_fence_state {
	bool supported; /* false: the target or the device has no persistent reservations */
	struct scsi_pr_keys keys;
	struct scsi_pr_reservation resv;
	bool have_full; /* READ FULL STATUS answered (it is optional for a target) */
	struct scsi_pr_full_status full; /* owned */
};

/* Read keys, reservation and (if the target has it) full status. 0 (supported or not),
 * or a negative errno with e set (transport, malformed answer). NULL ops: -EOPNOTSUPP. */
int attach_fence_read(const struct sys *s, const char *devnode, int timeout_ms,
		      struct attach_fence_state *ret, struct errbuf *e);
void attach_fence_state_done(struct attach_fence_state *st);

/*
 * Read, decide (attach_fence_decide with in's volume, our_key, readwrite, mode,
 * takeover; its state fields are ignored) and carry out: REGISTER AND IGNORE EXISTING
 * KEY, RESERVE or PREEMPT AND ABORT, then remove stale foreign registrations. A
 * target that answers PERSISTENT RESERVE IN but fails REGISTER (-EOPNOTSUPP; with
 * fencing: auto also -EIO, e.g. LIO without a writable db_root for APTPL) is treated as
 * one without PR: UNFENCED, with ret->reason saying so. When
 * another host reserved between our read and our RESERVE (RESERVATION CONFLICT), it
 * reads and decides again, so the loser of a race is refused naming the winner. On
 * failure after registering, our registration is removed again. 0 and *ret (what was
 * done: the plan) or a negative errno with e set (-EBUSY held elsewhere, -EOPNOTSUPP
 * fencing required but unsupported, transport errors).
 */
int attach_fence_acquire(const struct sys *s, const char *devnode,
			 const struct attach_fence_input *in, int timeout_ms,
			 struct attach_fence_plan *ret, struct errbuf *e);

/* Detach: RELEASE if we hold the reservation, then unregister our key. Idempotent: 0 when
 * nothing of ours is there or the target has no PR. Negative errno with e set. */
int attach_fence_release(const struct sys *s, const char *devnode, uint64_t key, int timeout_ms,
			 struct errbuf *e);

/* Recovery: 1 if our key still holds the reservation, 0 if it does not (e says who does,
 * or that nobody does), -EOPNOTSUPP without PR, other negative errno with e set. */
int attach_fence_check(const struct sys *s, const char *devnode, uint64_t key, int timeout_ms,
		       struct errbuf *e);
