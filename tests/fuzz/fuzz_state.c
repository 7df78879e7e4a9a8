/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The state record loader: records as a crash, a full disk or a person may have left
 * them, read back at start by agent_volumes_recover() (agent_state_read, the record's
 * version/key/boot_id/op, the recorded Create options, attach_volume_from_json for the
 * pipeline state, the container mounts), then the recovery decision and its action, on a
 * pipeline that changes nothing. The fixture /proc says boot "boot-A" and shows the
 * staging mount of vol1 and the bind mounts of containers app-1 of vol1 and vol2.
 *
 * Input: up to 3 records separated by NUL bytes, stored as vol1.json, vol2.json, vol3.json.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/state.h"
#include "agent/volumes.h"
#include "lib/fileio.h"
#include "tests/fuzz/fuzz.h"

#define ROOT "/var/vcap/data/volumes/attachd"

static struct attach_env env;
static char statedir[512], proc[512];

static void put(const char *path, const char *text)
{
	if (write_file_atomic(path, text, strlen(text), 0600) < 0)
		abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char p[600];

	fuzz_quiet_logs();
	snprintf(statedir, sizeof(statedir), "%s/state", fuzz_scratch_dir());
	snprintf(proc, sizeof(proc), "%s/fix", fuzz_scratch_dir());
	snprintf(p, sizeof(p), "%s/proc/self", proc);
	if (mkdir_p(p, 0700) < 0)
		abort();
	snprintf(p, sizeof(p), "%s/proc/sys/kernel/random", proc);
	if (mkdir_p(p, 0700) < 0)
		abort();
	snprintf(p, sizeof(p), "%s/proc/sys/kernel/random/boot_id", proc);
	put(p, "boot-A\n");
	snprintf(p, sizeof(p), "%s/proc/self/mountinfo", proc);
	put(p, "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
	       "100 22 253:0 / " ROOT "/.staging/vol1 rw,nosuid,nodev - ext4 "
	       "/dev/mapper/attachd-vol1 rw\n"
	       "101 22 253:0 / " ROOT "/vol1/app-1 rw,nosuid,nodev - ext4 "
	       "/dev/mapper/attachd-vol1 rw\n"
	       "102 22 253:1 / " ROOT "/vol2/app-1 ro,nosuid,nodev - xfs "
	       "/dev/mapper/attachd-vol2 rw\n");
	attach_env_init(&env, ROOT);
	env.sys.proc_root = proc;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_seam f = {.data = data, .size = size};
	struct agent_state *st = NULL;
	struct agent_volumes *r;
	struct errbuf e = {{0}};
	char *rec;

	for (int i = 1; i <= 3 && (rec = fuzz_next_chunk(&f)); i++) {
		char p[600];

		snprintf(p, sizeof(p), "%s/vol%d.json", statedir, i);
		if (mkdir_p(statedir, 0700) < 0)
			abort();
		put(p, rec);
		free(rec);
	}
	if (agent_state_open(statedir, &env.sys, NULL, &st, &e) < 0)
		abort();
	r = agent_volumes_new(&env, &fuzz_driver_ops);
	if (!r)
		abort();
	agent_volumes_set_state(r, st, NULL);
	if (agent_volumes_recover(r, 0, &e) < 0)
		abort(); /* only an unreadable state directory may fail recovery */
	agent_volumes_free(r);
	agent_state_free(st);
	fuzz_clear_dir(statedir);
	return 0;
}
