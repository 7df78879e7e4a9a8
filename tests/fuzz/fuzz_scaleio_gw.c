/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PowerFlex gateway replies as the scaleio backend decodes them: error bodies, string
 * bodies (login token, version), the version string, SDC lists (/Sdc/instances) searched
 * by GUID and by id, Volume objects with their mappings, and drv_cfg --query_guid output.
 * The gateway is across the network: nothing it sends is trusted.
 *
 * Input: one reply body; every decoder gets the same bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "backends/scaleio/internal.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body = fuzz_strndup(data, size), buf[512], ver[16];
	struct be_sio_gwerr ge;
	struct be_sio_sdc sdc;
	struct be_sio_volume *vol = malloc(sizeof(*vol));
	json_t *j;
	int bearer;

	if (!vol)
		abort();
	be_sio_gwerr_parse(body, &ge);
	if (strlen(ge.message) >= sizeof(ge.message))
		abort();
	(void)be_sio_json_string_body(body, buf, sizeof(buf));
	(void)be_sio_json_string_body(body, ver, sizeof(ver));
	(void)be_sio_version_parse(body, ver, sizeof(ver), &bearer);
	(void)be_sio_drv_cfg_guid_parse(body, buf, sizeof(buf));
	(void)be_sio_drv_cfg_guid_parse(body, ver, sizeof(ver));

	j = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	if (be_sio_sdc_find_guid(j, "6A5A3D9B-4C6E-4F5A-9C2B-3F1D2E4A5B6C", &sdc) == 0 ||
	    be_sio_sdc_find_id(j, "d0f055a700000000", &sdc) == 0)
		be_sio_sdc_format(&sdc, buf, sizeof(buf));
	if (be_sio_volume_parse(j, vol) == 0) {
		(void)be_sio_volume_is_mapped_to(vol, "d0f055a700000000");
		(void)be_sio_volume_other_mapping(vol, "d0f055a700000000");
	}
	/* A list of volumes (GET /api/types/Volume/instances). */
	if (json_is_array(j)) {
		size_t i;
		json_t *v;

		json_array_foreach(j, i, v)(void) be_sio_volume_parse(v, vol);
	}
	json_decref(j);
	free(vol);
	free(body);
	return 0;
}
