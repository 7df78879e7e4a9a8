/* SPDX-License-Identifier: Apache-2.0 */
/*
 * attachd-broker's log: one JSON object per line on stdout in lager's shape, like attachd's
 *   {"timestamp":"2026-12-03T10:16:07.123456789Z","source":"attachd-broker",
 *    "message":"attachd-broker.provision.done","log_level":"info","data":{...}}
 * Thread-safe (each line written whole under a lock). Values of keys that name a secret
 * (password, secret, token, credential; not *_file paths) are written as "REDACTED".
 */
#pragma once

#include <jansson.h>
#include <time.h>

enum broker_log_level {
	BROKER_LOG_DEBUG,
	BROKER_LOG_INFO,
	BROKER_LOG_ERROR,
	BROKER_LOG_FATAL,
};

void broker_log_set_fd(int fd);
/* Log one line; message is the full dotted name; data (may be NULL) is stolen. */
void broker_log(enum broker_log_level level, const char *message, json_t *data);
/* The line broker_log would write (with '\n'), malloc'ed; NULL on ENOMEM. Pure. */
char *broker_log_format(const struct timespec *ts, enum broker_log_level level, const char *message,
			const json_t *data);
/* 1 if a data key names a secret. */
int broker_log_key_is_secret(const char *key);
