/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The admin calls around operations in flight and the arrays behind them (agent/admin.h):
 *   watch  {"name"?}      a stream of JSON lines (agent/http.h streaming): first {"Err":""}
 *                         (or {"Err":msg,"errno"} and the end), then agent/progress.h's
 *                         events for NAME's volume or every volume, until the client
 *                         closes the connection or the agent stops.
 *   probe  {"options"}    {"Err","probe":{...}}: what the array says about a volume given
 *                         as Create options; backend nvme (connect, identify, disconnect)
 *                         or scaleio (the agent's gateway: size, identity, mappings).
 * and the "progress" member that ls and show add to volumes with an operation in flight.
 */
#pragma once

#include <jansson.h>

#include "agent/admin.h"
#include "agent/http.h"
#include "lib/err.h"

/* agent_http_streamer for the admin socket: 0 when url is not a streaming call. */
int agent_admin_stream(const struct agent_admin_ctx *c, const char *method, const char *url,
		       const char *body, size_t len, struct agent_http_stream *st);
/* probe: 0 and *ret (new reference), or a negative errno with e. Blocks (up to the
 * connect and device deadlines). */
int agent_admin_probe(const struct agent_admin_ctx *c, const json_t *body, json_t **ret,
		      struct errbuf *e);
/* Add "progress" (agent_progress_get) to each volume object of an ls array or to one
 * show object that has an operation in flight. */
void agent_admin_add_progress(const struct agent_admin_ctx *c, json_t *volumes);
