/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Volman driver API (reference/volman-protocol.md §1, §3): routes, request decoding,
 * response shapes. Transport-free: agent/http.c hands each request here and sends back
 * the text returned, always with HTTP 200, whatever Err says (Volman reads only Err).
 */
#pragma once

#include <stddef.h>

#include "agent/volumes.h"

/* Routes Volman calls (POST). Bodies may be empty for Activate, List, Capabilities. */
#define AGENT_VOLMAN_ROUTES                                                                        \
	"/Plugin.Activate, /VolumeDriver.Create, /VolumeDriver.Mount, /VolumeDriver.Unmount, "     \
	"/VolumeDriver.List, /VolumeDriver.Get, /VolumeDriver.Path, /VolumeDriver.Remove, "        \
	"/VolumeDriver.Capabilities"

/*
 * Handle one request: method ("POST"), url path, body (len bytes, not NUL-terminated, may
 * be empty). Returns the JSON response text (malloc'ed, never NULL: on ENOMEM a static-
 * shaped error copy is attempted, and NULL only if even that fails). Always carries Err.
 * Blocks for as long as the operation does (attach, mkfs...). Thread-safe.
 */
char *agent_volman_handle(struct agent_volumes *r, const char *method, const char *url,
			  const char *body, size_t len);

/* Err text for an app-facing failure: the JSON string {"SafeDescription":"<msg>"}, which
 * Volman shows to the app developer (volman-protocol.md §1.2). malloc'ed; NULL on ENOMEM. */
char *agent_volman_safe_error(const char *msg);

/* A response with only Err (and the fields every response of that route carries):
 * for callers that must answer before a route handler runs (body too large). */
char *agent_volman_error_response(const char *err);
