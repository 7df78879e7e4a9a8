/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Volume names as Volman sends them. With "UniqueVolumeIds":true in our spec file, Name is
 * "<volume_id>_<container_guid>" with every '_' inside a part written as '='
 * (dockerdriver/utils/volume_id.go); without it, Name is the plain volume id and several
 * containers share it. Both parts become directory names (and the key a dm name), so they
 * are checked strictly here, before anything else sees them.
 */
#pragma once

#include "attach/attach.h"
#include "lib/err.h"

/* Container of a plain (shared) name: every Mount of that name gets this one bind mount;
 * the name's mount count decides when it goes. */
#define AGENT_SHARED_CONTAINER "shared"
/* Longest wire name: two parts and the separator. */
#define AGENT_NAME_MAX (2 * ATTACH_KEY_MAX + 1)

struct agent_name {
	char key[ATTACH_KEY_MAX + 1];	    /* decoded volume id: the volume key */
	char container[ATTACH_KEY_MAX + 1]; /* decoded container guid, or AGENT_SHARED_CONTAINER */
	int unique;			    /* 1 if name carried a container part */
};

/*
 * Decode and check a wire name. Each part: 1..ATTACH_KEY_MAX characters of
 * [A-Za-z0-9._=-], no "..", not starting with '.' (the mount root keeps ".staging" for
 * itself); '/' and '\' are refused by name. At most one '_'. Returns 0 and fills *ret, or
 * -EINVAL with the reason in e ("invalid volume name '...': ...").
 */
int agent_name_decode(const char *name, struct agent_name *ret, struct errbuf *e);
