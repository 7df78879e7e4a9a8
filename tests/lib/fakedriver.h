/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fake pipeline for agent tests: up/down make and remove <mount_root>/.staging/<key>,
 * bind/unbind make and remove <mount_root>/<key>/<container> (directories instead of
 * devices and mounts). Counts calls, can be told to fail or to take time, and records it
 * when two calls for one volume overlap (the agent must serialise them).
 */
#pragma once

#include "agent/volumes.h"

struct fakedriver_state {
	int up, down, bind, unbind; /* calls so far */
	int overlaps;		    /* calls for one volume that ran at the same time */
	int max_parallel;	    /* most calls in flight at once (any volumes) */
	int max_parallel_up;	    /* most up/down calls (pipelines) in flight at once */
	int fail_up, fail_bind, fail_unbind, fail_down; /* negative errno to return, 0 = work */
	int delay_ms;					/* every call sleeps this long */
};

extern const struct agent_driver_ops fakedriver_ops;

/* Zero the counters and failure switches. */
void fakedriver_reset(void);
/* A snapshot of the counters (taken under the fake's lock). */
struct fakedriver_state fakedriver_get(void);
/* Volumes key1 and key2 resolve to one (fake) kernel device; every other volume has its
 * own. The fake up claims its device through env->claim like the pipeline does. */
void fakedriver_same_device(const char *key1, const char *key2);
/* key1 and key2 get one device number but each its own WWID ("fake.KEY"): the kernel gave
 * the number of a disk key1's detach deleted to key2's new disk. */
void fakedriver_same_number(const char *key1, const char *key2);
/* Volume key's attach builds a dm-multipath map (attach_volume.multipath); NULL: none. */
void fakedriver_set_multipath(const char *key);
/* The check op (agent_driver_ops.check) fails with fail (negative errno), 0: passes. */
void fakedriver_set_check(int fail);
/* A failing up leaves the volume half attached (reached dm-map, as when its rollback failed
 * too) instead of rolled back. */
void fakedriver_set_leftovers(int on);
/* Set failures/delay (the counters are left alone). */
void fakedriver_set(int fail_up, int fail_bind, int fail_unbind, int fail_down, int delay_ms);
