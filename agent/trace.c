/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "agent/log.h"
#include "agent/trace.h"

json_t *agent_trace_json(const struct attach_volume *v)
{
	json_t *steps = json_array(), *o;
	double total = 0;

	if (!steps)
		return NULL;
	for (unsigned i = 0; i < v->n_timings; i++) {
		const struct attach_timing *t = &v->timings[i];
		double ms = (double)t->usec / 1000.0;

		total += ms;
		json_array_append_new(steps,
				      json_pack("{s:s,s:f,s:o}", "step", attach_step_name(t->step),
						"ms", ms, "result",
						t->result == 0 ? json_string("ok")
							       : agent_json_string(strerrorname_np(-t->result)
										   ?: "error")));
	}
	o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:f,s:o}", "volume", v->key, "backend",
		      v->opts.be ? v->opts.be->name : "", "device", v->dev.devnode, "dm",
		      v->dm_devnode, "fs_found", v->fs_found, "formatted", v->formatted, "total_ms",
		      total, "steps", steps);
	return o;
}
