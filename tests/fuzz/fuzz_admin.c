/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The admin API without the socket: agent_admin_handle() (path routing, body decoding,
 * argument checks) and the admin volume calls behind it (ls, show, detach, drain, trace),
 * on a registry that holds an attached volume with two container mounts, a created-only
 * volume and nothing else, with a pipeline that changes nothing.
 *
 * Input: up to 8 requests separated by NUL bytes, each "[METHOD ]URL\nBODY" (METHOD
 * defaults to POST). Every answer must be a JSON object carrying a string Err.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/admin.h"
#include "agent/volman.h"
#include "tests/fuzz/fuzz.h"

#define MAX_REQUESTS 8
#define SECRET "s3cret-s3cret"

static struct attach_env env;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_logs();
	attach_env_init(&env, "/var/vcap/data/volumes/attachd");
	return 0;
}

static json_t *parse_answer(char *text)
{
	json_t *j;

	if (!text)
		abort();
	j = json_loads(text, 0, NULL);
	if (!json_is_object(j) || !json_is_string(json_object_get(j, "Err")))
		abort();
	free(text);
	return j;
}

static void volman(struct agent_volumes *r, const char *url, const char *body)
{
	json_t *j = parse_answer(agent_volman_handle(r, "POST", url, body, strlen(body)));

	if (strcmp(json_string_value(json_object_get(j, "Err")), "") != 0)
		abort(); /* the set-up itself failed */
	json_decref(j);
}

static int draining;

static int drain_begin(void *ud, struct errbuf *e)
{
	draining = 1;
	return 1;
}

static int is_draining(void *ud)
{
	return draining;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_volumes *r = agent_volumes_new(&env, &fuzz_driver_ops);
	struct agent_admin_ctx c = {.vols = r,
				    .driver_name = "attachd",
				    .drain_begin = drain_begin,
				    .is_draining = is_draining};
	struct fuzz_seam f = {.data = data, .size = size};
	char *req;

	if (!r)
		abort();
	draining = 0;
	volman(r, "/VolumeDriver.Create",
	       "{\"Name\":\"vol=1_app-1\",\"Opts\":{\"backend\":\"file\",\"size\":\"16M\"}}");
	volman(r, "/VolumeDriver.Mount", "{\"Name\":\"vol=1_app-1\"}");
	volman(r, "/VolumeDriver.Mount", "{\"Name\":\"vol=1_app-2\"}");
	volman(r, "/VolumeDriver.Create",
	       "{\"Name\":\"vol2\",\"Opts\":{\"backend\":\"iscsi\",\"portal\":\"10.0.0.5\","
	       "\"iqn\":\"iqn.2026-01.test:t1\",\"lun\":1,\"chap_user\":\"u\","
	       "\"chap_secret\":\"" SECRET "\"}}");

	for (int i = 0; i < MAX_REQUESTS && (req = fuzz_next_chunk(&f)); i++) {
		const char *nl = strchr(req, '\n'), *sp;
		char method[16] = "POST", *url;
		size_t ulen = nl ? (size_t)(nl - req) : strlen(req);
		const char *body = nl ? nl + 1 : "", *u = req;
		json_t *j;

		sp = memchr(req, ' ', ulen);
		if (sp && (size_t)(sp - req) < sizeof(method)) {
			memcpy(method, req, (size_t)(sp - req));
			method[sp - req] = 0;
			ulen -= (size_t)(sp - req) + 1;
			u = sp + 1;
		}
		url = strndup(u, ulen);
		if (!url)
			abort();
		j = parse_answer(agent_admin_handle(&c, method, url, body, strlen(body)));
		/* Secrets never leave the agent through the admin API (unless the request
		 * itself carried them: errors may quote it). */
		if (!strstr(req, SECRET)) {
			char *dump = json_dumps(j, JSON_COMPACT);

			if (dump && strstr(dump, SECRET))
				abort();
			free(dump);
		}
		json_decref(j);
		free(url);
		free(req);
	}
	agent_volumes_free(r);
	return 0;
}
