/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test-only settings: crash points (kill -9 at a chosen step) and a fake boot ID. They are
 * honoured only when ATTACHD_TEST_FAULTS=1 is set as well, so a stray variable in a
 * production environment makes attachd refuse to start instead of crashing it later.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/log.h"
#include "agent/state.h"
#include "lib/macro.h"

int agent_test_settings_parse(const char *faults, const char *crash_at, const char *boot_id_file,
			      struct agent_test_settings *ret, struct errbuf *e)
{
	struct agent_test_settings t;
	int enabled = streq(faults, "1");

	memset(&t, 0, sizeof(t));
	if (faults && faults[0] && !enabled)
		return errbuf_set(e, -EINVAL, "ATTACHD_TEST_FAULTS must be 1 or unset, not '%.32s'",
				  faults);
	if ((crash_at && crash_at[0]) || (boot_id_file && boot_id_file[0])) {
		if (!enabled)
			return errbuf_set(e, -EPERM,
					  "ATTACHD_TEST_CRASH_AT and ATTACHD_TEST_BOOT_ID_FILE are "
					  "test-only settings and need ATTACHD_TEST_FAULTS=1; refusing "
					  "to start");
	}
	if (crash_at && crash_at[0]) {
		char step[64];
		const char *colon = strchr(crash_at, ':');
		size_t len = colon ? (size_t)(colon - crash_at) : strlen(crash_at);

		if (len >= sizeof(step))
			return errbuf_set(e, -EINVAL, "ATTACHD_TEST_CRASH_AT: '%.64s' is too long",
					  crash_at);
		memcpy(step, crash_at, len);
		step[len] = 0;
		if (attach_step_from_name(step, &t.crash_step) < 0 || t.crash_step == STEP_NONE)
			return errbuf_set(e, -EINVAL,
					  "ATTACHD_TEST_CRASH_AT: unknown step '%s' (one of plan, "
					  "connect, await-device, verify, dm-map, probe-fs, mkfs, mount, "
					  "bind, unbind, umount, dm-remove, disconnect)",
					  step);
		if (!colon || streq(colon + 1, "before"))
			t.crash_after = 0;
		else if (streq(colon + 1, "after"))
			t.crash_after = 1;
		else
			return errbuf_set(e, -EINVAL,
					  "ATTACHD_TEST_CRASH_AT: '%.32s' must be 'before' or 'after'",
					  colon + 1);
		t.crash_enabled = 1;
	}
	if (boot_id_file && boot_id_file[0]) {
		if (boot_id_file[0] != '/' || strlen(boot_id_file) >= sizeof(t.boot_id_file))
			return errbuf_set(e, -EINVAL,
					  "ATTACHD_TEST_BOOT_ID_FILE must be an absolute path");
		snprintf(t.boot_id_file, sizeof(t.boot_id_file), "%s", boot_id_file);
	}
	*ret = t;
	return 0;
}

void agent_test_crash_point(const struct agent_test_settings *t, enum attach_step step, int done)
{
	if (!t || !t->crash_enabled || t->crash_step != step || t->crash_after != done)
		return;
	agent_log(AGENT_LOG_FATAL, "attachd.test.crash",
		  json_pack("{s:s,s:s}", "step", attach_step_name(step), "when",
			    done ? "after" : "before"));
	/* Like kill -9: no atexit handlers, no stdio flush beyond the log line above. */
	_exit(137);
}
