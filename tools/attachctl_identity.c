/* SPDX-License-Identifier: Apache-2.0 */
/* attachctl identity: what an array admin needs to put this host in a host group. Asks the
 * agent (it knows its config); when no agent answers, this host's files are read by
 * attachctl's helper (the fencing key's SHA-256 needs gnutls, which attachctl does not load). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/macro.h"
#include "tools/attachctl.h"

#define CTL_IDENTITY_TIMEOUT_S 60

/* attach_identity_collect()'s entries, in the order shown. */
static const char *const entries[] = {
    "iscsi_initiator_name", "iscsi_iface",    "nvme_hostnqn", "nvme_hostid",
    "scaleio_sdc_guid",	    "scaleio_sdc_id", "fencing_key",
};

static const char *entry_str(const json_t *e, const char *key)
{
	const char *s = json_string_value(json_object_get(e, key));

	return s ? s : "";
}

void ctl_print_identity(const json_t *identity, FILE *f)
{
	static const char *const head[] = {"FIELD", "VALUE", "SOURCE", NULL};
	struct ctl_table t;

	ctl_table_init(&t, head);
	for (size_t i = 0; i < ELEMENTSOF(entries); i++) {
		const json_t *e = json_object_get(identity, entries[i]);
		const char *row[] = {entries[i], entry_str(e, "value"),
				     e ? entry_str(e, "source") : "missing"};

		ctl_table_add(&t, row);
	}
	ctl_table_print(&t, f);
	ctl_table_done(&t);
}

/* Every entry's error on stderr; the number of them. */
static int report_errors(const json_t *identity)
{
	int n = 0;

	for (size_t i = 0; i < ELEMENTSOF(entries); i++) {
		const json_t *e = json_object_get(identity, entries[i]);
		const char *err = entry_str(e, "error");

		if (!e) {
			fprintf(stderr, "attachctl: identity: %s: not in the agent's answer\n",
				entries[i]);
			n++;
		} else if (*err) {
			fprintf(stderr, "attachctl: identity: %s: %s\n", entries[i], err);
			n++;
		}
	}
	return n;
}

int ctl_cmd_identity(const struct ctl_args *a, ctl_identity_local_fn local)
{
	struct errbuf e = {{0}};
	json_t *o = NULL, *id = NULL;
	int r, from_agent = 1, errors;
	const char *err;

	r = ctl_call(a->socket, "identity", NULL, CTL_IDENTITY_TIMEOUT_S, &o, &e);
	if (r == -ENOENT || r == -ECONNREFUSED || r == -EACCES || r == -EPERM) {
		if (!local)
			return ctl_exec_helper(a); /* which asks again, then reads the files */
		fprintf(stderr,
			"attachctl: note: %s; showing this host's files (the agent's config, when "
			"it runs, may set other values)\n",
			e.msg);
		from_agent = 0;
		r = local(&id);
		if (r < 0) {
			fprintf(stderr, "attachctl: identity: %s\n", strerror(-r));
			return CTL_EXIT_FAIL;
		}
	} else if (r < 0) {
		fprintf(stderr, "attachctl: %s\n", e.msg);
		return CTL_EXIT_FAIL;
	} else {
		id = json_incref(json_object_get(o, "identity"));
		err = entry_str(o, "Err");
		if (!id) {
			fprintf(stderr, "attachctl: identity: %s\n",
				*err ? err : "the agent's answer has no identity");
			json_decref(o);
			return CTL_EXIT_FAIL;
		}
	}
	json_decref(o);
	errors = report_errors(id);
	if (a->json) {
		json_t *j =
		    json_pack("{s:O,s:b,s:s}", "identity", id, "agent", from_agent, "Err",
			      errors ? "some of this host's identity could not be read" : "");
		char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;

		if (text)
			printf("%s\n", text);
		free(text);
		json_decref(j);
	} else {
		ctl_print_identity(id, stdout);
	}
	json_decref(id);
	return errors ? CTL_EXIT_FAIL : CTL_EXIT_OK;
}
