/* SPDX-License-Identifier: Apache-2.0 */
/*
 * attachd's log: one JSON object per line on stdout, in the shape Cloud Foundry components
 * (lager) write, so the same tooling reads it:
 *   {"timestamp":"2026-11-25T15:16:07.123456789Z","source":"attachd",
 *    "message":"attachd.mount.start","log_level":"info","data":{...}}
 * Thread-safe: each line is written whole under a lock, so lines never interleave.
 * Values of keys that look like secrets (password, secret, token, ...) are written as
 * "REDACTED" at any depth of data.
 */
#pragma once

#include <jansson.h>
#include <time.h>

#include "lib/macro.h"

enum agent_log_level {
	AGENT_LOG_DEBUG,
	AGENT_LOG_INFO,
	AGENT_LOG_WARN, /* worth an operator's attention, not a failure (a takeover) */
	AGENT_LOG_ERROR,
	AGENT_LOG_FATAL,
};

/* "debug", "info", "warn", "error", "fatal". */
const char *agent_log_level_name(enum agent_log_level l);

/* Where lines go (default STDOUT_FILENO) and the lowest level written (default info).
 * Meant for start-up and tests. */
void agent_log_set_fd(int fd);
void agent_log_set_level(enum agent_log_level min);

/*
 * Log one line. message is the full dotted name ("attachd.mount.start"). data (may be
 * NULL) is an object whose reference is stolen; it is redacted before writing.
 */
void agent_log(enum agent_log_level level, const char *message, json_t *data);

/* The line agent_log would write (with its '\n'), as a malloc'ed string; NULL on ENOMEM.
 * Pure: for tests. data is not stolen. */
char *agent_log_format(const struct timespec *ts, enum agent_log_level level, const char *message,
		       const json_t *data);

/* 1 if a data key names a secret: contains password/passwd/secret/token/credential
 * (case-insensitive), e.g. chap_secret, password_file is NOT a secret (it is a path). */
int agent_log_key_is_secret(const char *key);
/* A deep copy of v with every secret-named key's value replaced by "REDACTED". */
json_t *agent_log_redact(const json_t *v);

/*
 * json_string() that never fails on bad UTF-8 (error details may carry truncated bytes
 * from the kernel or a helper's output): invalid bytes become '?'. NULL only on ENOMEM.
 */
json_t *agent_json_string(const char *s);
