/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <string.h>

#include "lib/macro.h"
#include "tools/attachctl.h"

static const struct {
	const char *name;
	int has_arg; /* 1: NAME/URL required, 2: NAME optional */
} commands[] = {
    {"ls", 0},	    {"show", 1},  {"detach", 1}, {"drain", 0},	   {"trace", 1},
    {"metrics", 0}, {"probe", 1}, {"doctor", 0}, {"preflight", 0}, {"ping", 0},
    {"identity", 0}, {"watch", 2}, {"expand", 1}, {"takeover", 1},
};

void ctl_usage(FILE *f)
{
	fprintf(f,
		"Usage: attachctl [--admin-socket PATH] [--json] COMMAND [ARGS]\n"
		"\n"
		"Commands (talk to attachd over its admin socket, as root):\n"
		"  ls                    volumes on this host: backend, state, device, dm, paths\n"
		"                        (active/total), mounts\n"
		"  show NAME             one volume in detail (NAME: volume id or Volman name),\n"
		"                        each path of a multipath volume with its checker result\n"
		"  detach NAME [--force] detach a volume; refused while containers have it\n"
		"                        mounted unless --force (lazy unmounts, dm error-swap)\n"
		"  drain                 remove the driver spec, detach every volume (BOSH drain)\n"
		"  takeover NAME         take a volume another host holds read-write: fence that\n"
		"                        host (PREEMPT AND ABORT: its writes fail from then on);\n"
		"                        on a volume attached here now, else at its next Mount\n"
		"  trace NAME            the last operation's steps with their durations\n"
		"  expand NAME           grow a volume online after the array grew it: rescan,\n"
		"                        dm map, filesystem (never shrinks); prints old and new\n"
		"                        device and filesystem sizes\n"
		"  metrics               attach/detach counters, per-step durations, path\n"
		"                        failures, reinstatements and failover times\n"
		"  doctor                check that each volume's kernel objects are live\n"
		"  ping                  is the agent answering\n"
		"  identity              this host's iSCSI IQN and iface, NVMe host NQN and ID,\n"
		"                        PowerFlex SDC GUID and fencing key, with their source\n"
		"                        (without an agent: read from this host's files)\n"
		"  watch [NAME] [--once] follow operations live: each step as it ends, the total;\n"
		"                        with NAME until its operation (running or next) ends;\n"
		"                        without, every volume until interrupted (--once: until\n"
		"                        none is in flight)\n"
		"  probe URL             ask the array about a volume: size, identity\n"
		"                        nvme://ADDR[:PORT]/SUBNQN[/NSID|UUID] (through the agent:\n"
		"                        connect, identify, disconnect; NSID 1 when omitted)\n"
		"                        scaleio://SYSTEM_ID/VOLUME_ID (the agent's gateway; also\n"
		"                        the volume's SDC mappings)\n"
		"Commands that need no agent:\n"
		"  probe iscsi://HOST[:PORT]/IQN/LUN\n"
		"                        ask an iSCSI target about a LUN: size and WWID (CHAP from\n"
		"                        ATTACHCTL_CHAP_USER and ATTACHCTL_CHAP_SECRET)\n"
		"  preflight             load kernel modules, check iscsid, udevd, dm, initiator\n"
		"\n"
		"Options:\n"
		"  --admin-socket PATH   default %s\n"
		"  --json                machine-readable output\n"
		"Exit status: 0 success, 1 failure, 2 usage error.\n",
		AGENT_DEFAULT_ADMIN_SOCKET);
}

int ctl_parse_args(int argc, char *argv[], struct ctl_args *ret, struct errbuf *e)
{
	struct ctl_args a = {.argv = argv};
	const char *pos[3];
	int npos = 0, cmd = -1;

	snprintf(a.socket, sizeof(a.socket), "%s", AGENT_DEFAULT_ADMIN_SOCKET);
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i], *val = NULL;

		if (streq(s, "--json"))
			a.json = 1;
		else if (streq(s, "--force"))
			a.force = 1;
		else if (streq(s, "--once"))
			a.once = 1;
		else if (streq(s, "-h") || streq(s, "--help"))
			a.help = 1;
		else if (streq(s, "--admin-socket") || startswith(s, "--admin-socket=")) {
			if (s[strlen("--admin-socket")] == '=')
				val = s + strlen("--admin-socket=");
			else if (i + 1 < argc)
				val = argv[++i];
			else
				return errbuf_set(e, -EINVAL, "--admin-socket needs a path");
			if (val[0] != '/' || strlen(val) > AGENT_SOCKET_PATH_MAX)
				return errbuf_set(
				    e, -EINVAL,
				    "--admin-socket: '%s' must be an absolute path of at "
				    "most %d bytes",
				    val, AGENT_SOCKET_PATH_MAX);
			snprintf(a.socket, sizeof(a.socket), "%s", val);
		} else if (streq(s, "--"))
			continue;
		else if (s[0] == '-' && s[1])
			return errbuf_set(e, -EINVAL, "unknown option '%s'", s);
		else if (npos < 3)
			pos[npos++] = s;
		else
			return errbuf_set(e, -EINVAL, "unexpected argument '%s'", s);
	}
	if (a.help) {
		*ret = a;
		return 0;
	}
	if (npos == 0)
		return errbuf_set(e, -EINVAL, "no command given");
	for (size_t i = 0; i < ELEMENTSOF(commands); i++)
		if (streq(pos[0], commands[i].name))
			cmd = (int)i;
	if (cmd < 0)
		return errbuf_set(e, -EINVAL, "unknown command '%s'", pos[0]);
	if (commands[cmd].has_arg == 1 && npos < 2)
		return errbuf_set(e, -EINVAL, "%s needs %s", pos[0],
				  streq(pos[0], "probe") ? "a URL" : "a volume NAME");
	if (npos > 1 + !!commands[cmd].has_arg)
		return errbuf_set(e, -EINVAL, "unexpected argument '%s'",
				  pos[1 + !!commands[cmd].has_arg]);
	if (a.force && !streq(pos[0], "detach"))
		return errbuf_set(e, -EINVAL, "--force only applies to detach");
	if (a.once && !streq(pos[0], "watch"))
		return errbuf_set(e, -EINVAL, "--once only applies to watch");
	a.cmd = pos[0];
	a.arg = commands[cmd].has_arg && npos > 1 ? pos[1] : NULL;
	*ret = a;
	return 0;
}
