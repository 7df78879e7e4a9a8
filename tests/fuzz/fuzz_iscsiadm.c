/* SPDX-License-Identifier: Apache-2.0 */
/*
 * iscsiadm's output and exit status as the iscsi backend reads them: iface set-up, login
 * and logout, each through a kernel seam whose run() answers from the input. (The node
 * records are files attachd writes itself: tests/unit/test_iscsi_noderec.c.)
 *
 * Input: one chunk per iscsiadm run, separated by NUL bytes: the first byte modulo 32 is
 * the exit status, the rest the combined output. Runs past the input exit 0, silently.
 */
#include "backends/iscsi/internal.h"
#include "tests/fuzz/fuzz.h"

#define IQN "iqn.2003-01.org.example:t1"
#define PORTAL "10.0.0.5:3260"

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
	(void)be_iscsi_node_login(&ctx, PORTAL, IQN, &e);
	(void)be_iscsi_node_logout(&ctx, PORTAL, IQN, &e);
	return 0;
}
