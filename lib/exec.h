/* SPDX-License-Identifier: Apache-2.0 */
/* Run helper programs (mkfs, iscsiadm, losetup...) with posix_spawn and an argv array,
 * never through a shell. */
#pragma once

/*
 * Run argv (argv[0] absolute, or searched in PATH) in its own process group with stdin
 * on /dev/null and stdout+stderr captured (at most 256 KiB kept). Waits at most
 * timeout_ms (<= 0: no limit), then kills the whole group and returns -ETIMEDOUT.
 * On 0, *ret_status is the exit status (128+signal if killed) and *ret_out (may be NULL)
 * the output, owned by the caller. May block; call from worker threads.
 */
int exec_run(char *const argv[], int timeout_ms, int *ret_status, char **ret_out);
