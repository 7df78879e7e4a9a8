/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Create options of every backend: attach_opts_parse() (generic keys, then the backend's
 * parse()), the redacted copy for logs, the backend's describe(), and each backend's
 * parse() on its own with the same object (a backend must cope with any object).
 *
 * Input: the Opts JSON text (any JSON value; Volman's Create carries an object or null).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/log.h"
#include "attach/attach.h"
#include "attach/internal.h"
#include "tests/fuzz/fuzz.h"

#define MAX_SECRETS 8

/* Move the string values of secret-named keys (any depth) out of j into secrets. */
static void take_secrets(json_t *j, const char **secrets, size_t *n)
{
	const char *key;
	json_t *v;
	void *tmp;
	size_t i;

	if (json_is_array(j))
		json_array_foreach(j, i, v) take_secrets(v, secrets, n);
	if (!json_is_object(j))
		return;
	json_object_foreach_safe(j, tmp, key, v)
	{
		if (!agent_log_key_is_secret(key)) {
			take_secrets(v, secrets, n);
			continue;
		}
		if (json_is_string(v) && *n < MAX_SECRETS)
			secrets[(*n)++] = strdup(json_string_value(v));
		json_object_del(j, key);
	}
}

/* Accepted options are stored and listed (attachctl ls/show) through their redacted copy:
 * no secret value may survive in it, unless the same text is also a public value. */
static void check_redaction(const json_t *opts, const json_t *red)
{
	const char *secrets[MAX_SECRETS];
	json_t *pub = json_deep_copy(opts);
	char *red_text = json_dumps(red, JSON_COMPACT), *pub_text;
	size_t n = 0;

	if (!pub || !red_text)
		abort();
	take_secrets(pub, secrets, &n);
	pub_text = json_dumps(pub, JSON_COMPACT);
	if (!pub_text)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (secrets[i] && strlen(secrets[i]) >= 4 && strstr(red_text, secrets[i]) &&
		    !strstr(pub_text, secrets[i]))
			abort(); /* a secret in the listing copy */
		free((char *)secrets[i]);
	}
	free(pub_text);
	free(red_text);
	json_decref(pub);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *opts = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	struct errlist el = {.n = 0};
	struct attach_opts o;
	int accepted = 0;
	json_t *red;

	if (!opts)
		return 0;
	if (attach_opts_parse(opts, &o, &el) == 0) {
		char desc[512], mdata[512];
		unsigned long flags;

		if (el.n)
			abort(); /* success with a problem listed */
		if (o.be && o.be->describe)
			(void)o.be->describe(o.be_cfg, desc, sizeof(desc));
		if (attach_mount_options_split(o.mount_options, &flags, mdata, sizeof(mdata)) < 0)
			abort(); /* validated lists must split */
		attach_opts_done(&o);
		accepted = 1;
	} else if (el.n == 0)
		abort(); /* a refusal must say why */
	red = attach_opts_redacted(opts);
	if (accepted && red)
		check_redaction(opts, red);
	json_decref(red);

	if (json_is_object(opts))
		for (size_t i = 0; backend_registry[i]; i++) {
			struct errlist el2 = {.n = 0};
			void *cfg = NULL;

			if (backend_registry[i]->parse(opts, &cfg, &el2) == 0 && cfg)
				backend_registry[i]->free_cfg(cfg);
		}
	json_decref(opts);
	return 0;
}
