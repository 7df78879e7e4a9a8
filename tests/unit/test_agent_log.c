/* SPDX-License-Identifier: Apache-2.0 */
/* agent/log.c: line shape, timestamp, levels, redaction, whole lines under concurrency. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/log.h"

static json_t *parse_line(const char *line)
{
	json_error_t jerr;
	size_t len = strlen(line);
	json_t *j;

	assert_true(len > 0);
	assert_int_equal(line[len - 1], '\n');
	assert_null(memchr(line, '\n', len - 1)); /* exactly one line */
	j = json_loadb(line, len, 0, &jerr);
	if (!j)
		fail_msg("not JSON: %s (%s)", line, jerr.text);
	return j;
}

static void test_shape(void **state)
{
	struct timespec ts = {.tv_sec = 1795792567, .tv_nsec = 123456789};
	json_t *data = json_pack("{s:s,s:i}", "volume", "v1", "n", 3);
	char *line = agent_log_format(&ts, AGENT_LOG_INFO, "attachd.mount.start", data);
	json_t *j = parse_line(line);

	assert_int_equal(json_object_size(j), 5);
	assert_string_equal(json_string_value(json_object_get(j, "timestamp")),
			    "2026-11-27T15:16:07.123456789Z");
	assert_string_equal(json_string_value(json_object_get(j, "source")), "attachd");
	assert_string_equal(json_string_value(json_object_get(j, "message")),
			    "attachd.mount.start");
	assert_string_equal(json_string_value(json_object_get(j, "log_level")), "info");
	assert_true(json_equal(json_object_get(j, "data"), data));
	/* Key order as CF components write it. */
	assert_true(strncmp(line, "{\"timestamp\":", 13) == 0);
	json_decref(j);
	json_decref(data);
	free(line);

	/* No data: an empty object; nanoseconds zero-padded. */
	ts.tv_nsec = 5;
	line = agent_log_format(&ts, AGENT_LOG_ERROR, "attachd.x", NULL);
	j = parse_line(line);
	assert_true(json_is_object(json_object_get(j, "data")));
	assert_int_equal(json_object_size(json_object_get(j, "data")), 0);
	assert_string_equal(json_string_value(json_object_get(j, "timestamp")),
			    "2026-11-27T15:16:07.000000005Z");
	assert_string_equal(json_string_value(json_object_get(j, "log_level")), "error");
	json_decref(j);
	free(line);
}

static void test_levels(void **state)
{
	assert_string_equal(agent_log_level_name(AGENT_LOG_DEBUG), "debug");
	assert_string_equal(agent_log_level_name(AGENT_LOG_INFO), "info");
	assert_string_equal(agent_log_level_name(AGENT_LOG_WARN), "warn");
	assert_string_equal(agent_log_level_name(AGENT_LOG_ERROR), "error");
	assert_string_equal(agent_log_level_name(AGENT_LOG_FATAL), "fatal");
}

static void test_secret_keys(void **state)
{
	assert_true(agent_log_key_is_secret("chap_secret"));
	assert_true(agent_log_key_is_secret("password"));
	assert_true(agent_log_key_is_secret("Password"));
	assert_true(agent_log_key_is_secret("db_passwd"));
	assert_true(agent_log_key_is_secret("token"));
	assert_true(agent_log_key_is_secret("auth_token"));
	assert_true(agent_log_key_is_secret("SECRET"));
	assert_true(agent_log_key_is_secret("credentials"));
	assert_false(agent_log_key_is_secret("password_file")); /* a path, not the secret */
	assert_false(agent_log_key_is_secret("chap_user"));
	assert_false(agent_log_key_is_secret("volume"));
	assert_false(agent_log_key_is_secret(NULL));
}

static void test_redaction(void **state)
{
	struct timespec ts = {.tv_sec = 0};
	json_t *data =
	    json_pack("{s:s,s:{s:s,s:s,s:[{s:s}]},s:i}", "volume", "v1", "opts", "chap_user", "u",
		      "chap_secret", "hunter2", "list", "token", "abc123", "password", 42);
	char *line = agent_log_format(&ts, AGENT_LOG_INFO, "attachd.create.start", data);
	json_t *j = parse_line(line), *d = json_object_get(j, "data");

	assert_null(strstr(line, "hunter2"));
	assert_null(strstr(line, "abc123"));
	assert_string_equal(json_string_value(json_object_get(d, "password")), "REDACTED");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(d, "opts"), "chap_secret")),
	    "REDACTED");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(d, "opts"), "chap_user")), "u");
	assert_string_equal(
	    json_string_value(json_object_get(
		json_array_get(json_object_get(json_object_get(d, "opts"), "list"), 0), "token")),
	    "REDACTED");
	/* The caller's object is not modified. */
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(data, "opts"), "chap_secret")),
	    "hunter2");
	json_decref(j);
	json_decref(data);
	free(line);
}

static void test_bad_utf8(void **state)
{
	json_t *s = agent_json_string("ok \xff\xfe tail \xc3");

	assert_non_null(s);
	assert_string_equal(json_string_value(s), "ok ?? tail ?");
	json_decref(s);
	s = agent_json_string("caf\xc3\xa9");
	assert_string_equal(json_string_value(s), "caf\xc3\xa9");
	json_decref(s);
	s = agent_json_string(NULL);
	assert_string_equal(json_string_value(s), "");
	json_decref(s);
}

static int pipe_fds[2];

static void *writer(void *arg)
{
	for (int i = 0; i < 200; i++)
		agent_log(
		    AGENT_LOG_INFO, "attachd.test.line",
		    json_pack("{s:i,s:i,s:s}", "thread", (int)(intptr_t)arg, "i", i, "pad",
			      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"));
	return NULL;
}

static void *reader(void *arg)
{
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap);
	ssize_t k;

	while ((k = read(pipe_fds[0], buf + len, cap - len - 1)) > 0) {
		len += (size_t)k;
		if (len + 1 >= cap) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
	}
	buf[len] = 0;
	return buf;
}

static void test_concurrent_lines(void **state)
{
	pthread_t w[4], r;
	char *out, *line, *save = NULL;
	int n = 0;

	assert_int_equal(pipe(pipe_fds), 0);
	pthread_create(&r, NULL, reader, NULL);
	agent_log_set_fd(pipe_fds[1]);
	for (intptr_t i = 0; i < 4; i++)
		pthread_create(&w[i], NULL, writer, (void *)i);
	for (int i = 0; i < 4; i++)
		pthread_join(w[i], NULL);
	/* Below the threshold: not written. */
	agent_log(AGENT_LOG_DEBUG, "attachd.test.debug", NULL);
	agent_log_set_fd(STDOUT_FILENO);
	close(pipe_fds[1]);
	pthread_join(r, (void **)&out);
	close(pipe_fds[0]);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_error_t jerr;
		json_t *j = json_loads(line, 0, &jerr);

		if (!j)
			fail_msg("interleaved or broken line: %s", line);
		assert_string_equal(json_string_value(json_object_get(j, "message")),
				    "attachd.test.line");
		json_decref(j);
		n++;
	}
	assert_int_equal(n, 800);
	free(out);
}

static void test_debug_level(void **state)
{
	char buf[4096];
	ssize_t k;

	assert_int_equal(pipe(pipe_fds), 0);
	agent_log_set_fd(pipe_fds[1]);
	agent_log_set_level(AGENT_LOG_DEBUG);
	agent_log(AGENT_LOG_DEBUG, "attachd.test.debug", json_pack("{s:s}", "secret", "s3"));
	agent_log_set_level(AGENT_LOG_INFO);
	agent_log_set_fd(STDOUT_FILENO);
	close(pipe_fds[1]);
	k = read(pipe_fds[0], buf, sizeof(buf) - 1);
	close(pipe_fds[0]);
	assert_true(k > 0);
	buf[k] = 0;
	assert_non_null(strstr(buf, "\"log_level\":\"debug\""));
	assert_non_null(strstr(buf, "\"secret\":\"REDACTED\""));
	assert_null(strstr(buf, "s3"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shape),	cmocka_unit_test(test_levels),
	    cmocka_unit_test(test_secret_keys), cmocka_unit_test(test_redaction),
	    cmocka_unit_test(test_bad_utf8),	cmocka_unit_test(test_concurrent_lines),
	    cmocka_unit_test(test_debug_level),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
