/* SPDX-License-Identifier: Apache-2.0 */
/* Small jansson helpers shared by the layers that validate JSON input. */
#pragma once

#include <jansson.h>

/* "an object", "an array", "a string", "a number", "a boolean" or "null": for messages
 * such as "'lun' must be a number, not a string". */
const char *jsonx_type_name(const json_t *v);
