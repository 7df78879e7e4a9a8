/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Admin-facing volume operations (attachctl through the admin socket), built on the
 * registry's internals: detailed listings, one volume's details, forced or refused detach,
 * drain and the last operation's trace.
 *
 * NAME arguments are a volume key ("vol_1") or a wire name as Volman sends it
 * ("vol=1_app-1"): an exact key match wins, else the name is decoded.
 *
 * Listings never wait for an operation in flight: a volume whose operation lock is held
 * shows state "busy" with what is known without it. detach, drain and trace wait for it.
 */
#pragma once

#include <jansson.h>

#include "agent/volumes.h"
#include "lib/err.h"

/*
 * Every known volume, sorted by key, each as
 *   {"volume","backend","state","fs","readonly","identity","device","dm","dm_devnode",
 *    "staging","mounts":[{"name","container","path","count"}],"options":{...}}
 * state: "attached", "detached", "attaching" or "busy" (another operation running).
 * options are the Create options with secrets replaced by "REDACTED". New reference, NULL
 * on ENOMEM. Never blocks on an operation.
 */
json_t *agent_volumes_admin_list(struct agent_volumes *r);

/*
 * attachctl ls's table, written as JSON text (jansson's trees made 256 volumes cost ~8 M
 * instructions here and as many again in attachctl to parse, tens of ms under emulation):
 * an array with one array per known volume, sorted by key, holding the columns
 * AGENT_LS_BRIEF_COLUMNS in that order; the last two only when there is something to show:
 * the active/failed state of each path of an attached multipath volume (else null), then
 * extra(key) when it gives an object (the operation in flight; extra is called outside the
 * registry lock and its reference is dropped). malloc'ed; NULL on ENOMEM. Never blocks on
 * an operation.
 */
#define AGENT_LS_BRIEF_COLUMNS                                                                   \
	"[\"volume\",\"backend\",\"state\",\"busy\",\"fs\",\"device\",\"dm\",\"n_mounts\","        \
	"\"paths\",\"progress\"]"
char *agent_volumes_admin_list_brief(struct agent_volumes *r,
				     json_t *(*extra)(void *userdata, const char *key),
				     void *userdata);

/* NAME -> the key of a volume this agent knows: 0, or -ENOENT ("no volume 'x' on this
 * host") / -EINVAL with e set. */
int agent_volumes_admin_resolve(struct agent_volumes *r, const char *name, char *ret, size_t n,
				struct errbuf *e);

/* One volume, same shape as a list element plus "trace" when it is not busy. -ENOENT
 * (e: "no volume 'x'") if unknown. */
int agent_volumes_admin_show(struct agent_volumes *r, const char *name, json_t **ret,
			     struct errbuf *e);

/* The last attach/detach's steps (agent/trace.h's JSON). Waits for an operation in flight. */
int agent_volumes_admin_trace(struct agent_volumes *r, const char *name, json_t **ret,
			      struct errbuf *e);

/*
 * Detach a volume. While container mounts remain: -EBUSY naming them, unless force, which
 * unbinds every container (lazily when busy), forgets the names and detaches with
 * force=1 (lazy staging unmount, dm error-swap). Returns 1 if the volume was detached now,
 * 0 if it was not attached, or a negative errno with e set. Blocks for the detach.
 */
int agent_volumes_admin_detach(struct agent_volumes *r, const char *name, int force,
			       struct errbuf *e);

/*
 * Expand (attachctl expand NAME): grow an attached volume online, after the array grew it
 * (agent_driver_ops.expand: rescan, dm map, filesystem). Waits for an operation in flight.
 * *ret: {"volume","fs","grew":bool,"device_bytes","map_before","map_after","fs_before",
 * "fs_after"} (bytes). -ENOENT unknown, -ENOTCONN not attached, -ERANGE the device shrank
 * (nothing changed), other negative errno with e when a step failed (the volume stays
 * mounted; e says why).
 */
int agent_volumes_admin_expand(struct agent_volumes *r, const char *name, json_t **ret,
			       struct errbuf *e);

/*
 * Drain: for every volume, unbind every container mount (drain runs when the cell's
 * containers are gone), then detach; a detach that fails cleanly is retried with force.
 * Returns a JSON array of {"volume","result":"detached"|"forced"|"not-attached"|"failed",
 * "error"?} (NULL on ENOMEM) and *ret_failed, how many failed. Blocks.
 */
json_t *agent_volumes_admin_drain(struct agent_volumes *r, unsigned *ret_failed);

/*
 * attachctl takeover NAME: on a volume attached read-write here whose reservation another
 * host holds (lost), PREEMPT AND ABORT that host now and hold it ("taken-over", with
 * "previous_holder"; "already-held" when it is ours); on a volume Created here but not
 * attached (its Mount was refused), arm a one-shot takeover for its next Mount ("armed").
 * *ret {"volume","result",...}. Negative errno with e set (-ENOENT unknown, -EOPNOTSUPP
 * the backend/target cannot fence, -EBUSY another operation runs). Blocks.
 */
int agent_volumes_admin_takeover(struct agent_volumes *r, const char *name, json_t **ret,
				 struct errbuf *e);
