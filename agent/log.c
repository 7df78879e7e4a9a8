/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "agent/log.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = STDOUT_FILENO;
static enum agent_log_level log_min = AGENT_LOG_INFO;

const char *agent_log_level_name(enum agent_log_level l)
{
	switch (l) {
	case AGENT_LOG_DEBUG:
		return "debug";
	case AGENT_LOG_INFO:
		return "info";
	case AGENT_LOG_WARN:
		return "warn";
	case AGENT_LOG_ERROR:
		return "error";
	case AGENT_LOG_FATAL:
		return "fatal";
	}
	return "info";
}

void agent_log_set_fd(int fd)
{
	pthread_mutex_lock(&log_lock);
	log_fd = fd;
	pthread_mutex_unlock(&log_lock);
}

void agent_log_set_level(enum agent_log_level min)
{
	__atomic_store_n(&log_min, min, __ATOMIC_RELAXED);
}

int agent_log_key_is_secret(const char *key)
{
	static const char *const words[] = {"password", "passwd", "secret", "token", "credential"};
	size_t klen;

	if (!key)
		return 0;
	klen = strlen(key);
	/* *_file keys hold a path to the secret, which operators need to see. */
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

json_t *agent_log_redact(const json_t *v)
{
	json_t *copy;

	if (!v)
		return NULL;
	if (json_is_object(v)) {
		const char *key;
		json_t *child;

		copy = json_object();
		if (!copy)
			return NULL;
		json_object_foreach((json_t *)v, key, child)
		{
			json_t *c = agent_log_key_is_secret(key) ? json_string("REDACTED")
								 : agent_log_redact(child);

			if (!c || json_object_set_new(copy, key, c) < 0) {
				json_decref(copy);
				return NULL;
			}
		}
		return copy;
	}
	if (json_is_array(v)) {
		size_t i;
		json_t *child;

		copy = json_array();
		if (!copy)
			return NULL;
		json_array_foreach(v, i, child)
		{
			if (json_array_append_new(copy, agent_log_redact(child)) < 0) {
				json_decref(copy);
				return NULL;
			}
		}
		return copy;
	}
	return json_deep_copy(v);
}

/* Length of the valid UTF-8 sequence at s, 0 if invalid. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

json_t *agent_json_string(const char *s)
{
	json_t *j;
	char *copy;
	size_t i = 0;

	if (!s)
		s = "";
	j = json_string(s);
	if (j)
		return j;
	copy = strdup(s);
	if (!copy)
		return NULL;
	while (copy[i]) {
		size_t n = utf8_len((const unsigned char *)copy + i);

		if (n == 0) {
			copy[i++] = '?';
			continue;
		}
		/* jansson also refuses overlong/surrogate forms; be blunt and keep ASCII only
		 * for anything that is still refused below. */
		i += n;
	}
	j = json_string(copy);
	if (!j) {
		for (i = 0; copy[i]; i++)
			if ((unsigned char)copy[i] >= 0x80)
				copy[i] = '?';
		j = json_string(copy);
	}
	free(copy);
	return j;
}

char *agent_log_format(const struct timespec *ts, enum agent_log_level level, const char *message,
		       const json_t *data)
{
	char stamp[64];
	struct tm tm;
	json_t *line, *d;
	char *text, *out;
	size_t len;

	if (!gmtime_r(&ts->tv_sec, &tm))
		return NULL;
	/* RFC 3339 with nanoseconds, UTC: what lager's rfc3339 time format writes. */
	len = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + len, sizeof(stamp) - len, ".%09ldZ", (long)ts->tv_nsec);

	d = data ? agent_log_redact(data) : json_object();
	if (!d)
		return NULL;
	if (!json_is_object(d)) {
		/* lager's data is always an object: wrap anything else. */
		json_t *w = json_object();

		if (!w || json_object_set_new(w, "value", d) < 0) {
			json_decref(w);
			return NULL;
		}
		d = w;
	}
	line = json_object();
	if (!line)
		goto oom;
	if (json_object_set_new(line, "timestamp", json_string(stamp)) < 0 ||
	    json_object_set_new(line, "source", json_string("attachd")) < 0 ||
	    json_object_set_new(line, "message", agent_json_string(message)) < 0 ||
	    json_object_set_new(line, "log_level", json_string(agent_log_level_name(level))) < 0 ||
	    json_object_set(line, "data", d) < 0)
		goto oom;
	json_decref(d);
	d = NULL;
	text = json_dumps(line, JSON_COMPACT);
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
oom:
	json_decref(d);
	json_decref(line);
	return NULL;
}

void agent_log(enum agent_log_level level, const char *message, json_t *data)
{
	struct timespec ts;
	char *line;
	size_t len, off = 0;

	if (level < __atomic_load_n(&log_min, __ATOMIC_RELAXED)) {
		json_decref(data);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	line = agent_log_format(&ts, level, message, data);
	json_decref(data);
	if (!line)
		return;
	len = strlen(line);
	/* One write() per line normally; the lock keeps lines whole when a pipe takes
	 * a long line in pieces. */
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
