/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One writer per volume, the PowerFlex way (pure). PowerFlex fences by mapping: a host whose
 * SDC has no mapping of the volume cannot reach it. So a read-write attach insists that no
 * other SDC has the volume mapped, and a takeover unmaps the other SDCs first (what RexRay's
 * "preempt" does, per SDC rather than allSdcs so that nothing but the holders is touched).
 * A read-only attach shares the volume with whoever has it (allowMultipleMappings).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "lib/macro.h"

/* The SDC of mapping i for people: from the SDC list when it knows it, else from what the
 * volume's mappedSdcInfo says. */
static void name_mapping(const struct be_sio_volume *vol, unsigned i, const json_t *sdcs, char *buf,
			 size_t n)
{
	struct be_sio_sdc s = {0};

	if (!sdcs || be_sio_sdc_find_id(sdcs, vol->mapped[i].sdc_id, &s) < 0) {
		memset(&s, 0, sizeof(s));
		snprintf(s.id, sizeof(s.id), "%s", vol->mapped[i].sdc_id);
		snprintf(s.name, sizeof(s.name), "%s", vol->mapped[i].sdc_name);
		snprintf(s.ip, sizeof(s.ip), "%s", vol->mapped[i].sdc_ip);
	}
	snprintf(buf, n, "SDC ");
	be_sio_sdc_format(&s, buf + strlen(buf), n - strlen(buf));
}

int be_sio_exclusive_plan(const struct be_sio_volume *vol, const char *own_id, const json_t *sdcs,
			  int readonly, int takeover, struct be_sio_excl *ret, struct errbuf *e)
{
	struct be_sio_excl p = {0};
	size_t k = 0;

	if (readonly) {
		*ret = p;
		return 0;
	}
	if (vol->all_sdcs)
		return errbuf_set(
		    e, -EBUSY,
		    "PowerFlex volume %s is mapped to all SDCs of the system "
		    "(mappingToAllSdcsEnabled), so every host can write it; refusing a read-write "
		    "attach%s (mappings left untouched). Remove that mapping at the gateway "
		    "(removeMappedSdc allSdcs) and attach again, or attach read-only",
		    vol->id,
		    takeover ? " even with takeover: taking it over would cut off every host of "
			       "the system, not one holder"
			     : "");
	for (unsigned i = 0; i < vol->n_mapped; i++) {
		char who[256];

		if (!strcasecmp(vol->mapped[i].sdc_id, own_id))
			continue;
		name_mapping(vol, i, sdcs, who, sizeof(who));
		snprintf(p.evict[p.n_evict], sizeof(p.evict[0]), "%s", vol->mapped[i].sdc_id);
		p.n_evict++;
		if (k < sizeof(p.who))
			k += (size_t)snprintf(p.who + k, sizeof(p.who) - k, "%s%s", k ? ", " : "",
					      who);
	}
	if (p.n_evict && !takeover)
		return errbuf_set(
		    e, -EBUSY,
		    "PowerFlex volume %s is already mapped to %s%s; refusing a read-write attach "
		    "to this host's SDC %s (mappings left untouched). Detach it there, or take it "
		    "over, which unmaps it from that SDC and so cuts that host off: attachctl "
		    "takeover <volume name>, or Create with the option takeover: true; a "
		    "read-only attach works meanwhile",
		    vol->id, p.n_evict > 1 ? "other SDCs: " : "another SDC, ", p.who, own_id);
	*ret = p;
	return 0;
}
