/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fake kernel of the nvme backend's unit tests (test_nvme_connect, test_nvme_paths): a
 * copy of the fixture tree (tests/fixtures/nvme/sysfs) that fake fabrics ops (the connect
 * write) and a fake sys_ops.write_file (delete_controller) change the way the kernel would,
 * through tests/fixtures/nvme/fake-kernel.sh. cmocka setup/teardown: fake_setup and
 * fake_teardown (state: struct fake *).
 */
#pragma once

#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "backends/nvme/internal.h"
#include "lib/macro.h"

#define HOSTNQN "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-4333-8444-555555555555"
#define HOSTID "11111111-2222-4333-8444-555555555555"
#define S1 "nqn.2024-01.io.example:s1"
#define S2 "nqn.2024-01.io.example:s2"
#define S3 "nqn.2024-01.io.example:s3"
#define S4 "nqn.2024-01.io.example:s4"
#define U1 "3b0c8d2e-6f4a-4c1e-9d7b-2a5e8f1c0d41"
#define N1 "0a1b2c3d4e5f60718293a4b5c6d7e8f9"

struct fake {
	char root[PATH_MAX];
	struct sys sys;
	struct backend_host_config host;
	struct backend_ctx ctx;
	char opts[16][1024]; /* option strings written to /dev/nvme-fabrics */
	unsigned n_add;
	char writes[4096]; /* sysfs writes "path=data" relative to the root */
	/* behaviour of the next connect write */
	int add_errno, reach_errno;
	unsigned reach_calls;
	unsigned new_instance;
	char new_ns[512];     /* fake-kernel.sh ns ... args to run when it succeeds */
	int make_on_ealready; /* on -EALREADY, create the controller first (a racing connect) */
	int delete_sticks;    /* delete_controller leaves the controller there */
	/* delete_late: delete_controller leaves the controller there until the watch's
	 * delete_late-th event (the kernel removing it a moment later); watch_errno: the
	 * uevent watch cannot be armed. watch_*: what the backend did with the watch. */
	unsigned delete_late, late_ctrl;
	int watch_errno;
	unsigned watch_open, watch_close, watch_events, watch_timeouts;
	int watch_armed_at_delete; /* a watch was open when delete_controller was written */
	/* auto_ctrl: each connect makes controller new_instance++ in subsystem new_subsys
	 * for the address it names (live); down: addresses that do not answer (reach) */
	int auto_ctrl;
	unsigned new_subsys;
	char down[4][64];
	/* what Identify returns: the target's namespaces (nsid, uuid, nguid; "" = none) */
	int identify_errno; /* default: -ENOTTY (cannot tell) */
	unsigned t_n, identify_calls;
	struct {
		uint32_t nsid;
		const char *uuid, *nguid;
	} t_ns[8];
	char bug[1024];
};

/* Run tests/fixtures/nvme/fake-kernel.sh ROOT ARGS (a failure is reported at teardown). */
void fake_sh(struct fake *f, const char *fmt, ...) _printf_(2, 3);
int fake_setup(void **state);
int fake_teardown(void **state);
/* An attachment for opts (JSON), with the fake fabrics ops. */
struct backend_attachment fake_att(struct fake *f, const char *json);
/* Disconnect (the backend keeps in-process users per target across tests) and free. */
void fake_att_done(struct fake *f, struct backend_attachment *a);
/* Key k of the record: top level (subnqn, hostnqn, boot), else of the first controller
 * entry (traddr, ctrl, created, owned, ...). */
json_t *fake_objs_get(struct backend_attachment *a, const char *k);
const char *fake_objs_str(struct backend_attachment *a, const char *k);

#define EXPECT_MSG(e, needle)                                                                      \
	do {                                                                                       \
		if (!strstr((e).msg, needle))                                                      \
			fail_msg("'%s' not in: %s", needle, (e).msg);                              \
	} while (0)

/* What a checkpoint saw: the objs at the moment the backend asked for them to be saved. */
struct cp_seen {
	unsigned calls;
	char ctrl[32];
	int owned;
	int fail;
	struct backend_attachment *a;
};
/* ctx->checkpoint that records what it saw (ctx->checkpoint_ud: struct cp_seen *). */
int fake_cp_record(const struct backend_ctx *ctx);
