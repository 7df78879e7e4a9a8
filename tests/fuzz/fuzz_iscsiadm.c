/* SPDX-License-Identifier: Apache-2.0 */
/*
 * iscsiadm's output and exit status as the iscsi backend reads them: iface set-up, node
 * lookup, creation, the settings update (with a CHAP secret, which must never reach an
 * error message even when iscsiadm echoes it), login, logout and deletion, each through a
 * kernel seam whose run() answers from the input.
 *
 * Input: one chunk per iscsiadm run, separated by NUL bytes: the first byte modulo 32 is
 * the exit status, the rest the combined output. Runs past the input exit 0, silently.
 */
#include <stdlib.h>
#include <string.h>

#include "backends/iscsi/internal.h"
#include "tests/fuzz/fuzz.h"

#define SECRET "s3cret-CHAP-pw"
#define IQN "iqn.2003-01.org.example:t1"
#define PORTAL "10.0.0.5:3260"

static struct be_iscsi_cfg cfg = {
    .n_portals = 1,
    .iqn = IQN,
    .lun = 1,
    .chap_user = "user1",
    .chap_secret = SECRET,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct backend_host_config host = {.iscsi_initiator_name = "iqn.1993-08.org.debian:01:a"};
	struct fuzz_seam f;
	struct sys s;
	struct backend_ctx ctx = {.sys = &s, .host = &host, .timeout_ms = 30000};
	struct errbuf e = {{0}};

	fuzz_sys_init(&s, &f, data, size);
	f.status_in_chunk = 1;
	(void)be_iscsi_iface_ensure(&ctx, &e);
	(void)be_iscsi_node_exists(&ctx, PORTAL, IQN, &e);
	(void)be_iscsi_node_create(&ctx, PORTAL, IQN, &e);
	e = (struct errbuf){{0}};
	(void)be_iscsi_node_configure(&ctx, PORTAL, &cfg, &e);
	if (strstr(e.msg, SECRET))
		abort(); /* the CHAP secret leaked into an error message */
	(void)be_iscsi_node_login(&ctx, PORTAL, IQN, &e);
	(void)be_iscsi_node_logout(&ctx, PORTAL, IQN, &e);
	(void)be_iscsi_node_delete(&ctx, PORTAL, IQN, &e);
	return 0;
}
