/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent config loader: agent_config_load_file() (read, JSON, every key and section,
 * types, lengths) on a memfd holding the input, then agent_config_validate() on what was
 * loaded (paths, listen address, TLS rules, names), as `attachd --config` and
 * `attachd --check-config` do.
 *
 * Input: the config file's bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/config.h"
#include "tests/fuzz/fuzz.h"

static int memfd = -1;
static char memfd_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	memfd = memfd_create("config.json", MFD_CLOEXEC);
	if (memfd < 0)
		abort();
	snprintf(memfd_path, sizeof(memfd_path), "/proc/self/fd/%d", memfd);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_config *c = malloc(sizeof(*c));
	struct errlist el = {.n = 0};
	char host[256];
	unsigned port;

	if (!c)
		abort();
	if (ftruncate(memfd, 0) < 0 || pwrite(memfd, data, size, 0) != (ssize_t)size)
		abort();
	agent_config_init(c);
	if (agent_config_load_file(c, memfd_path, &el) < 0) {
		if (el.n == 0)
			abort(); /* a refusal must say why */
	} else if (agent_config_validate(c, &el) == 0) {
		if (agent_listen_parse(c->listen, host, sizeof(host), &port) < 0)
			abort(); /* validated, yet unusable */
		(void)agent_host_is_loopback(host);
	}
	free(c);
	return 0;
}
