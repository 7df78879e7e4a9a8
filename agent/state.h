/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Durable state: one record per volume, <state_dir>/<key>.json, mode 0600 in a 0700
 * directory (the record holds the Create options, CHAP secret included, so a restarted agent
 * can replay a connect and answer Volman's next identical Create), written atomically (temp,
 * fsync, rename, fsync dir) before each pipeline step that changes the kernel is attempted,
 * after it completes, and whenever the container mounts change; removed when the volume is
 * fully detached. A record:
 *   {"version":1, "key":"vol1", "boot_id":"...", "op":"idle"|"attach"|"detach",
 *    "opts":{...as created...},
 *    "mounts":[{"name":"vol1_c1","container":"c1","path":"/mnt/vol1/c1","count":1}],
 *    "volume":{ attach_volume_to_json(): reached, doing, objs, dm, device, staging, fs }}
 *
 * Recovery (recover.c) runs once at start, before the Volman listener serves: the decision
 * for each record is a pure function of the record and what the kernel shows.
 *
 * Test-only settings (faults.c): crash points and a boot ID file, honoured only with
 * ATTACHD_TEST_FAULTS=1 in the environment.
 */
#pragma once

#include <jansson.h>

#include "attach/attach.h"
#include "lib/err.h"

#define AGENT_RECORD_VERSION 1
#define AGENT_RECORD_MAX (1 << 20)
#define AGENT_BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"

enum agent_op {
	AGENT_OP_IDLE = 0, /* no operation in flight */
	AGENT_OP_ATTACH,
	AGENT_OP_DETACH,
};
const char *agent_op_name(enum agent_op op);
int agent_op_from_name(const char *name, enum agent_op *ret);

struct agent_state;

/* Open (mkdir -p, then chmod 0700) dir and read the boot ID (from boot_id_file when not
 * NULL — tests — else /proc through s). *ret owned by the caller. */
int agent_state_open(const char *dir, const struct sys *s, const char *boot_id_file,
		     struct agent_state **ret, struct errbuf *e);
struct agent_state *agent_state_free(struct agent_state *st);
const char *agent_state_boot_id(const struct agent_state *st);
const char *agent_state_dir(const struct agent_state *st);

/* Write rec as key's record (atomically, 0600). */
int agent_state_write(struct agent_state *st, const char *key, const json_t *rec);
/* Remove key's record; 0 if there is none. */
int agent_state_remove(struct agent_state *st, const char *key);
/* Keys that have a record, sorted; *ret NULL-terminated, free with agent_state_keys_free. */
int agent_state_keys(struct agent_state *st, char ***ret);
char **agent_state_keys_free(char **keys);
/* Read and parse key's record. -ENOENT when absent; -EINVAL with e set when not JSON. */
int agent_state_read(struct agent_state *st, const char *key, json_t **ret, struct errbuf *e);

/* --- recovery decision (pure) --- */
enum agent_recovery {
	AGENT_RECOVER_FORGET,	    /* nothing was made: drop the record */
	AGENT_RECOVER_ADOPT,	    /* fully up with live container mounts: keep as is */
	AGENT_RECOVER_COMPLETE_UP,  /* attach interrupted under live container mounts: finish */
	AGENT_RECOVER_ROLLBACK,	    /* attach interrupted, no container: undo, forget */
	AGENT_RECOVER_DETACH,	    /* detach interrupted, or up with no container left: detach */
	AGENT_RECOVER_CLEANUP,	    /* another boot: undo every leftover, forget */
};
const char *agent_recovery_name(enum agent_recovery a);

struct agent_recovery_input {
	int same_boot;
	enum agent_op op;
	enum attach_step reached, doing;
	unsigned mounts_recorded; /* container mount entries in the record */
	unsigned mounts_live;	  /* of those, mounted now */
};
enum agent_recovery agent_recovery_decide(const struct agent_recovery_input *in);

/* --- test-only settings (faults.c) --- */
struct agent_test_settings {
	int crash_enabled;
	enum attach_step crash_step;
	int crash_after; /* 0: before the step (its "started" record written), 1: after it
			  * completed, before the record says so */
	char boot_id_file[4096]; /* "" = the kernel's */
};
/*
 * From the environment's values (NULL = unset): faults = ATTACHD_TEST_FAULTS, crash_at =
 * ATTACHD_TEST_CRASH_AT ("STEP[:before|:after]", STEP one of the attach_step names:
 * connect, await-device, verify, dm-map, probe-fs, mkfs, mount, bind, unbind, umount,
 * dm-remove, disconnect, plan), boot_id_file = ATTACHD_TEST_BOOT_ID_FILE. Any test setting
 * without faults == "1" is refused (-EPERM, e says why). Pure.
 */
int agent_test_settings_parse(const char *faults, const char *crash_at, const char *boot_id_file,
			      struct agent_test_settings *ret, struct errbuf *e);
/* If t's crash point is (step, done): log it and _exit(137), like kill -9 would. */
void agent_test_crash_point(const struct agent_test_settings *t, enum attach_step step, int done);
