/* SPDX-License-Identifier: Apache-2.0 */
/* A copy of the small part of attachd's logger the broker needs (agent/ is a sibling). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "broker/log.h"
#include "lib/macro.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = STDOUT_FILENO;

static const char *level_name(enum broker_log_level l)
{
	switch (l) {
	case BROKER_LOG_DEBUG:
		return "debug";
	case BROKER_LOG_INFO:
		return "info";
	case BROKER_LOG_ERROR:
		return "error";
	case BROKER_LOG_FATAL:
		return "fatal";
	}
	return "info";
}

void broker_log_set_fd(int fd)
{
	pthread_mutex_lock(&log_lock);
	log_fd = fd;
	pthread_mutex_unlock(&log_lock);
}

int broker_log_key_is_secret(const char *key)
{
	static const char *const words[] = {"password", "passwd", "secret", "token", "credential"};
	size_t klen;

	if (!key)
		return 0;
	klen = strlen(key);
	if (klen > 5 && !strcasecmp(key + klen - 5, "_file"))
		return 0;
	for (size_t i = 0; i < ELEMENTSOF(words); i++) {
		size_t wl = strlen(words[i]);

		for (size_t j = 0; j + wl <= klen; j++)
			if (!strncasecmp(key + j, words[i], wl))
				return 1;
	}
	return 0;
}

static json_t *redact(const json_t *v)
{
	json_t *copy, *child;
	const char *key;
	size_t i;

	if (json_is_object(v)) {
		copy = json_object();
		json_object_foreach((json_t *)v, key, child)
		{
			json_object_set_new(copy, key,
					    broker_log_key_is_secret(key) ? json_string("REDACTED")
									  : redact(child));
		}
		return copy;
	}
	if (json_is_array(v)) {
		copy = json_array();
		json_array_foreach(v, i, child) json_array_append_new(copy, redact(child));
		return copy;
	}
	return json_deep_copy(v);
}

char *broker_log_format(const struct timespec *ts, enum broker_log_level level, const char *message,
			const json_t *data)
{
	char stamp[64], *text, *out;
	struct tm tm;
	json_t *line, *d;
	size_t len;

	if (!gmtime_r(&ts->tv_sec, &tm))
		return NULL;
	len = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + len, sizeof(stamp) - len, ".%09ldZ", (long)ts->tv_nsec);
	d = data ? redact(data) : json_object();
	if (d && !json_is_object(d)) {
		json_t *w = json_object();

		json_object_set_new(w, "value", d);
		d = w;
	}
	line = json_pack("{s:s, s:s, s:s, s:s, s:o}", "timestamp", stamp, "source",
			 "attachd-broker", "message", message, "log_level", level_name(level),
			 "data", d ? d : json_object());
	if (!line)
		return NULL;
	text = json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(line);
	if (!text)
		return NULL;
	len = strlen(text);
	out = realloc(text, len + 2);
	if (!out) {
		free(text);
		return NULL;
	}
	out[len] = '\n';
	out[len + 1] = 0;
	return out;
}

void broker_log(enum broker_log_level level, const char *message, json_t *data)
{
	struct timespec ts;
	char *line;
	size_t len, off = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	line = broker_log_format(&ts, level, message, data);
	json_decref(data);
	if (!line)
		return;
	len = strlen(line);
	pthread_mutex_lock(&log_lock);
	while (off < len) {
		ssize_t k = write(log_fd, line + off, len - off);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		off += (size_t)k;
	}
	pthread_mutex_unlock(&log_lock);
	free(line);
}
