/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Volman API without HTTP: agent_volman_handle() (routing by URL, body decoding, name
 * decoding, Create options, the registry's refcounting) on a pipeline that changes nothing.
 *
 * Input: up to 16 requests separated by NUL bytes, each "[METHOD ]URL\nBODY" (METHOD
 * defaults to POST), run in order against one fresh registry, so sequences such as
 * Create, Mount, Mount, Unmount, Remove are reachable. Every answer must be a JSON object
 * carrying a string Err.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/volman.h"
#include "tests/fuzz/fuzz.h"

#define MAX_REQUESTS 16

static struct attach_env env;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_logs();
	attach_env_init(&env, "/var/vcap/data/volumes/attachd");
	return 0;
}

static void check_answer(const char *text)
{
	json_t *j;

	if (!text)
		abort();
	j = json_loads(text, 0, NULL);
	if (!json_is_object(j) || !json_is_string(json_object_get(j, "Err")))
		abort(); /* Volman reads Err from every answer */
	json_decref(j);
}

static void one_request(struct agent_volumes *r, const char *req)
{
	const char *nl = strchr(req, '\n'), *sp;
	char method[16] = "POST";
	char *url, *text;
	size_t ulen = nl ? (size_t)(nl - req) : strlen(req);
	const char *body = nl ? nl + 1 : "";

	sp = memchr(req, ' ', ulen);
	if (sp && (size_t)(sp - req) < sizeof(method)) {
		memcpy(method, req, (size_t)(sp - req));
		method[sp - req] = 0;
		ulen -= (size_t)(sp - req) + 1;
		req = sp + 1;
	}
	url = strndup(req, ulen);
	if (!url)
		abort();
	text = agent_volman_handle(r, method, url, body, strlen(body));
	check_answer(text);
	free(text);
	free(url);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_volumes *r = agent_volumes_new(&env, &fuzz_driver_ops);
	struct fuzz_seam f = {.data = data, .size = size};
	char *req;

	if (!r)
		abort();
	for (int i = 0; i < MAX_REQUESTS && (req = fuzz_next_chunk(&f)); i++) {
		one_request(r, req);
		free(req);
	}
	agent_volumes_free(r);
	return 0;
}
