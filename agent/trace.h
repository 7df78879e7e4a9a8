/* SPDX-License-Identifier: Apache-2.0 */
/* The last operation's steps of a volume, as JSON: for logs and attachctl trace. */
#pragma once

#include <jansson.h>

#include "attach/attach.h"

/*
 * {"volume","backend","device","dm","fs_found","formatted","total_ms",
 *  "steps":[{"step":"connect","ms":12.3,"result":"ok"|"<errno name>"}...]}
 * New reference, NULL on ENOMEM.
 */
json_t *agent_trace_json(const struct attach_volume *v);
