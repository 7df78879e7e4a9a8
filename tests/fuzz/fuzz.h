/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the libFuzzer targets in tests/fuzz/ (see README.md there): a
 * NUL-terminated copy of the input, splitting it into chunks, a kernel seam whose file reads
 * are served from the input, and a fake pipeline that touches nothing.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "agent/volumes.h"
#include "lib/sys.h"

/* libFuzzer's entry points. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A malloc'ed NUL-terminated copy of data (an embedded NUL ends the string early, as it
 * would for the parser reading the same bytes from a file). Never NULL (aborts on ENOMEM). */
char *fuzz_strndup(const uint8_t *data, size_t size);

/* Call once at start: agent logs (debug included, so its code paths run) go nowhere, or to
 * stdout when ATTACHD_FUZZ_LOG is set (to see what an input does). */
void fuzz_quiet_logs(void);

/* A pipeline for the agent's registry that changes nothing: up "stages" the volume at
 * <mount_root>/.staging/<key> in memory only, bind reports <mount_root>/<key>/<container>. */
extern const struct agent_driver_ops fuzz_driver_ops;

/*
 * A kernel seam whose read_file serves the input: the input is split at NUL bytes into
 * chunks; the i-th read_file call returns chunk i ("\x7f" alone: -ENOENT; an empty chunk:
 * the real file under the roots), reads past the last chunk read the real file. Writes,
 * mounts and mkdirs succeed without doing anything; run returns the next chunk as the
 * helper's output with exit status run_status (status_in_chunk: the chunk's first byte
 * modulo 32 is the status, the rest the output). Roots are set by the caller.
 */
struct fuzz_seam {
	const uint8_t *data;
	size_t size, pos; /* next chunk starts at pos */
	unsigned reads, runs;
	int run_status;
	int status_in_chunk;
};
void fuzz_sys_init(struct sys *s, struct fuzz_seam *f, const uint8_t *data, size_t size);
/* Next chunk as a malloc'ed string, or NULL when the input is used up. */
char *fuzz_next_chunk(struct fuzz_seam *f);

/* A private scratch directory (made once, removed with its content at exit; under /dev/shm
 * when it exists: fsync is free there). */
const char *fuzz_scratch_dir(void);
/* Remove every entry of a directory (not recursive). */
void fuzz_clear_dir(const char *dir);
