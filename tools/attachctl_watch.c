/* SPDX-License-Identifier: Apache-2.0 */
/* attachctl watch: the agent's progress events (agent/progress.h) as they happen. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/macro.h"
#include "tools/attachctl.h"

static const char *ev_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static double ev_num(const json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

void ctl_watch_format(const json_t *ev, char *buf, size_t n)
{
	const char *what = ev_str(ev, "event"), *vol = ev_str(ev, "volume"), *op = ev_str(ev, "op");
	const char *res = ev_str(ev, "result");
	char t[32];

	buf[0] = 0;
	if (streq(what, "begin"))
		snprintf(buf, n, "%s: %s started", vol, op);
	else if (streq(what, "step-start"))
		snprintf(buf, n, "%s: %s: %s ...", vol, op, ev_str(ev, "step"));
	else if (streq(what, "step")) {
		ctl_fmt_ms(ev_num(ev, "ms"), t, sizeof(t));
		snprintf(buf, n, "%s: %s: %s %s %s", vol, op, ev_str(ev, "step"), t,
			 streq(res, "ok") ? "ok" : res);
	} else if (streq(what, "end")) {
		ctl_fmt_ms(ev_num(ev, "ms"), t, sizeof(t));
		if (streq(res, "ok"))
			snprintf(buf, n, "%s: %s ok, total %s%s%s", vol, op, t,
				 *ev_str(ev, "note") ? ": " : "", ev_str(ev, "note"));
		else
			snprintf(buf, n, "%s: %s FAILED (%s), total %s%s%s", vol, op, res, t,
				 *ev_str(ev, "error") ? ": " : "", ev_str(ev, "error"));
	} else if (streq(what, "in-flight")) {
		const json_t *steps = json_object_get(ev, "steps"), *s;
		char done[256] = "", now[96];
		size_t i, l = 0;

		json_array_foreach(steps, i, s)
		{
			int w = snprintf(done + l, sizeof(done) - l, "%s%s", i ? ", " : "",
					 ev_str(s, "step"));

			if (w < 0 || (size_t)w >= sizeof(done) - l)
				break;
			l += (size_t)w;
		}
		ctl_fmt_progress(ev, now, sizeof(now));
		ctl_fmt_elapsed(ev_num(ev, "op_ms"), t, sizeof(t));
		snprintf(buf, n, "%s: %s running for %s (%s; done: %s)", vol, op, t, now,
			 done[0] ? done : "nothing yet");
	} else if (streq(what, "overflow"))
		snprintf(buf, n, "attachctl: this watch fell behind; the agent dropped %lld events",
			 (long long)json_integer_value(json_object_get(ev, "lost")));
}

int ctl_cmd_watch(const struct ctl_args *a)
{
	struct errbuf e = {{0}};
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	json_t *body = a->arg ? json_pack("{s:s}", "name", a->arg) : json_object();
	int fd, first = 1, failed = 0, rc = CTL_EXIT_FAIL;
	FILE *f;

	fd = ctl_open_stream(a->socket, "watch", body, 60, &e);
	json_decref(body);
	if (fd < 0) {
		fprintf(stderr, "attachctl: watch: %s\n", e.msg);
		return CTL_EXIT_FAIL;
	}
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		fprintf(stderr, "attachctl: watch: %s\n", strerror(errno));
		return CTL_EXIT_FAIL;
	}
	/* Events are written as they arrive: a pipe must not hold them back. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (getline(&line, &cap, f) > 0) {
		_cleanup_(json_decrefp) json_t *ev = json_loads(line, 0, NULL);
		const char *what = ev_str(ev, "event");
		char out[1024];

		if (!json_is_object(ev)) {
			fprintf(stderr, "attachctl: watch: not a JSON object from attachd: %.80s\n",
				line);
			goto out;
		}
		if (first) {
			const char *err = json_string_value(json_object_get(ev, "Err"));

			first = 0;
			if (err && *err) {
				if (a->json)
					printf("%s%s", line,
					       line[strlen(line) - 1] == '\n' ? "" : "\n");
				fprintf(stderr, "attachctl: watch: %s\n", err);
				goto out;
			}
			continue;
		}
		if (a->json)
			printf("%s%s", line, line[strlen(line) - 1] == '\n' ? "" : "\n");
		else {
			ctl_watch_format(ev, out, sizeof(out));
			if (out[0])
				fprintf(streq(what, "overflow") ? stderr : stdout, "%s\n", out);
		}
		if (streq(what, "overflow"))
			goto out;
		if (streq(what, "watching")) {
			long long n =
			    (long long)json_integer_value(json_object_get(ev, "in_flight"));

			if (!a->json)
				fprintf(stderr, "watching %s: %lld operation%s in flight\n",
					a->arg ? a->arg : "every volume", n, n == 1 ? "" : "s");
			if (a->once && n == 0) {
				rc = CTL_EXIT_OK;
				goto out;
			}
			continue;
		}
		/* With NAME the agent sends only that volume's events. */
		if (!streq(what, "end"))
			continue;
		failed |= !streq(ev_str(ev, "result"), "ok");
		/* NAME: its operation ended. --once: nothing followed is in flight any more. */
		if (a->arg ||
		    (a->once && json_integer_value(json_object_get(ev, "in_flight")) == 0)) {
			rc = failed ? CTL_EXIT_FAIL : CTL_EXIT_OK;
			goto out;
		}
	}
	fprintf(stderr, "attachctl: watch: attachd ended the stream (stopping?)\n");
out:
	fclose(f);
	return rc;
}
