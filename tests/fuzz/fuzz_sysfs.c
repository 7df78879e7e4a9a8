/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sysfs, /proc and /etc as the iscsi and nvme backends read them: sessions, connections,
 * SCSI hosts and devices, block device numbers, sizes and WWIDs, NVMe controllers
 * (address, state, subsystem and host NQNs), namespaces (uuid, nguid, nsid), holders and
 * mountinfo, the initiator name and host NQN/ID files, and the /dev/nvme-fabrics reply.
 * Directory walks use the fixture trees in tests/fixtures/{iscsi,nvme}/sysfs; every file
 * read is served from the input (see fuzz.h: chunk i answers the i-th read, an empty chunk
 * reads the fixture's file), so an empty input reads the fixtures as they are.
 *
 * udev properties: attach/devwait.c only asks libudev (udev_device_get_is_initialized) and
 * parses nothing itself, so there is no udev property parser to fuzz.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/iscsi/internal.h"
#include "backends/nvme/internal.h"
#include "tests/fuzz/fuzz.h"

#ifndef FUZZ_FIXTURES
#define FUZZ_FIXTURES "tests/fixtures"
#endif

static char iscsi_root[4096], nvme_root[4096];
static void *nvme_cfg[3]; /* by uuid, nguid, nsid */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const opts[] = {
	    "{\"traddr\":\"10.0.0.5\",\"subnqn\":\"nqn.2024-01.io.example:s1\","
	    "\"uuid\":\"3b0c8d2e-6f4a-4c1e-9d7b-2a5e8f1c0d41\"}",
	    "{\"traddr\":\"10.0.0.5\",\"subnqn\":\"nqn.2024-01.io.example:s1\","
	    "\"nguid\":\"0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9\"}",
	    "{\"traddr\":\"10.0.0.5\",\"subnqn\":\"nqn.2024-01.io.example:s1\",\"nsid\":2}",
	};
	const char *fix = getenv("ATTACHD_FUZZ_FIXTURES");

	if (!fix)
		fix = FUZZ_FIXTURES;
	snprintf(iscsi_root, sizeof(iscsi_root), "%s/iscsi/sysfs", fix);
	snprintf(nvme_root, sizeof(nvme_root), "%s/nvme/sysfs", fix);
	for (int i = 0; i < 3; i++) {
		json_t *j = json_loads(opts[i], 0, NULL);
		struct errlist el = {.n = 0};

		if (!j || be_nvme_parse(j, &nvme_cfg[i], &el) < 0)
			abort();
		json_decref(j);
	}
	return 0;
}

static void iscsi(struct sys *s)
{
	struct backend_host_config host = {.iscsi_initiator_name = ""};
	struct backend_ctx ctx = {.sys = s, .host = &host, .timeout_ms = 1000};
	struct backend_identity id;
	struct errbuf e = {{0}};
	unsigned sess = 1, h, t, n, ma, mi;
	char buf[256];

	char hctl[64];
	unsigned hh, cc, tt, ll;

	(void)be_iscsi_sysfs_find_session(s, "iqn.2003-01.org.example:t1", "10.0.0.5", 3260,
					  "attachd", &sess);
	(void)be_iscsi_sysfs_find_session(s, "iqn.2003-01.org.example:t2", "fd00::5", 3260,
					  "default", &t);
	(void)be_iscsi_sysfs_session_host(s, sess, &h);
	(void)be_iscsi_sysfs_session_target_id(s, sess, &t);
	(void)be_iscsi_sysfs_session_state(s, sess, buf, sizeof(buf));
	(void)be_iscsi_sysfs_session_count_devices(s, sess, &n);
	if (be_iscsi_sysfs_session_lun(s, sess, 1, hctl, sizeof(hctl)) == 0) {
		(void)be_iscsi_hctl_parse(hctl, &hh, &cc, &tt, &ll);
		(void)be_iscsi_sysfs_session_lun_wwid(s, sess, hctl, buf, sizeof(buf));
	}
	if (be_iscsi_sysfs_hctl_block(s, "2:0:0:1", buf, sizeof(buf)) == 0)
		(void)be_iscsi_sysfs_block_devnum(s, buf, &ma, &mi);
	(void)be_iscsi_sysfs_block_identity(s, "sdb", &id);
	(void)be_iscsi_sysfs_block_identity(s, "sdc", &id);
	(void)be_iscsi_initiator_name(&ctx, buf, sizeof(buf), &e);
}

static void nvme(struct sys *s, struct fuzz_seam *f)
{
	struct backend_host_config host = {.iscsi_initiator_name = ""};
	struct backend_ctx ctx = {.sys = s, .host = &host, .timeout_ms = 1000};
	struct backend_identity id;
	struct errbuf e = {{0}};
	unsigned inst = 0, ma, mi;
	char buf[256], nqn[256], hostid[64], *reply;

	(void)be_nvme_sysfs_find_ctrl(s, "nqn.2024-01.io.example:s1", "10.0.0.5", 4420,
				      "nqn.2014-08.org.nvmexpress:uuid:"
				      "11111111-2222-4333-8444-555555555555",
				      &inst);
	(void)be_nvme_sysfs_ctrl_exists(s, inst);
	(void)be_nvme_sysfs_ctrl_state(s, inst, buf, sizeof(buf));
	for (int i = 0; i < 3; i++)
		if (be_nvme_sysfs_find_ns(s, inst, nvme_cfg[i], buf, sizeof(buf)) == 0) {
			(void)be_nvme_sysfs_block_devnum(s, buf, &ma, &mi);
			(void)be_nvme_sysfs_block_identity(s, buf, &id);
		}
	(void)be_nvme_sysfs_ns_in_use(s, 0, buf, sizeof(buf));
	(void)be_nvme_sysfs_block_identity(s, "nvme0n1", &id);
	(void)be_nvme_host_identity(&ctx, nqn, sizeof(nqn), hostid, sizeof(hostid), &e);
	reply = fuzz_next_chunk(f);
	if (reply) {
		char addr[64];

		(void)be_nvme_fabrics_reply_parse(reply, &inst);
		(void)be_nvme_address_get(reply, "traddr", addr, sizeof(addr));
		(void)be_nvme_addr_equal(reply, "10.0.0.5");
		free(reply);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_seam f;
	struct sys s;

	fuzz_sys_init(&s, &f, data, size);
	s.sysfs_root = s.etc_root = s.proc_root = s.dev_root = iscsi_root;
	iscsi(&s);
	s.sysfs_root = s.etc_root = s.proc_root = s.dev_root = nvme_root;
	nvme(&s, &f);
	return 0;
}
