/* SPDX-License-Identifier: Apache-2.0 */
/* attachctl: the SRE's tool for attachd's admin socket. Only the usage text exists yet;
 * the admin API it talks to is a later step. */
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f, "Usage: attachctl [--admin-socket PATH] [--json] COMMAND\n"
		   "Commands: ls, show NAME, detach NAME [--force], drain, probe URL, doctor,\n"
		   "          preflight, metrics, trace NAME\n"
		   "(not implemented yet in this build)\n");
}

int main(int argc, char *argv[])
{
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
