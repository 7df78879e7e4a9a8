/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "backend.h"

const struct backend_ops *const backend_registry[] = {
	&be_file_ops,
	&be_iscsi_ops,
	&be_nvme_ops,
	&be_scaleio_ops,
	NULL,
};

const struct backend_ops *backend_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; backend_registry[i]; i++)
		if (strcmp(backend_registry[i]->name, name) == 0)
			return backend_registry[i];
	return NULL;
}
