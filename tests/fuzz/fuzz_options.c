/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Create options of every backend: attach_opts_parse() (generic keys, then the backend's
 * parse()), the redacted copy for logs, the backend's describe(), and each backend's
 * parse() on its own with the same object (a backend must cope with any object).
 *
 * Input: the Opts JSON text (any JSON value; Volman's Create carries an object or null).
 */
#include <stdlib.h>

#include <jansson.h>

#include "attach/attach.h"
#include "attach/internal.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *opts = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	struct errlist el = {.n = 0};
	struct attach_opts o;
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
	} else if (el.n == 0)
		abort(); /* a refusal must say why */
	red = attach_opts_redacted(opts);
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
