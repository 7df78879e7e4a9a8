/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/macro.h"
#include "tools/attachctl.h"

void ctl_table_init(struct ctl_table *t, const char *const *head)
{
	memset(t, 0, sizeof(*t));
	while (head[t->ncols] && t->ncols < CTL_TABLE_MAX_COLS) {
		t->head[t->ncols] = strdup(head[t->ncols]);
		t->ncols++;
	}
}

int ctl_table_add(struct ctl_table *t, const char *const *cells)
{
	char **nc = t->cells;

	if (t->nrows == t->cap_rows) {
		size_t cap = t->cap_rows ? t->cap_rows * 2 : 16;

		nc = realloc(t->cells, cap * t->ncols * sizeof(*nc));
		if (!nc)
			return -ENOMEM;
		t->cells = nc;
		t->cap_rows = cap;
	}
	for (unsigned c = 0; c < t->ncols; c++) {
		const char *s = cells[c] && cells[c][0] ? cells[c] : "-";

		nc[t->nrows * t->ncols + c] = strdup(s);
	}
	t->nrows++;
	return 0;
}

static const char *cell(const struct ctl_table *t, size_t row, unsigned col)
{
	const char *s = t->cells[row * t->ncols + col];

	return s ? s : "?";
}

void ctl_table_print(const struct ctl_table *t, FILE *f)
{
	size_t w[CTL_TABLE_MAX_COLS] = {0}, len, line_max = 0;
	char *line;

	for (unsigned c = 0; c < t->ncols; c++) {
		w[c] = strlen(t->head[c] ? t->head[c] : "");
		for (size_t r = 0; r < t->nrows; r++)
			if ((len = strlen(cell(t, r, c))) > w[c])
				w[c] = len;
		line_max += w[c] + 2;
	}
	/* One line at a time into a buffer: hundreds of rows, one fprintf per cell, cost
	 * attachctl ls more than parsing the agent's answer. */
	line = malloc(line_max + 2);
	for (size_t r = 0; r <= t->nrows; r++) {
		char *p = line;

		for (unsigned c = 0; c < t->ncols; c++) {
			const char *s = r == 0 ? (t->head[c] ? t->head[c] : "") : cell(t, r - 1, c);

			len = strlen(s);
			if (!line) { /* out of memory: the slow way */
				if (c + 1 == t->ncols)
					fprintf(f, "%s\n", s);
				else
					fprintf(f, "%-*s  ", (int)w[c], s);
				continue;
			}
			memcpy(p, s, len);
			p += len;
			if (c + 1 < t->ncols) {
				memset(p, ' ', w[c] - len + 2);
				p += w[c] - len + 2;
			}
		}
		if (line) {
			*p++ = '\n';
			fwrite(line, 1, (size_t)(p - line), f);
		}
	}
	free(line);
}

void ctl_table_done(struct ctl_table *t)
{
	for (unsigned c = 0; c < t->ncols; c++)
		free(t->head[c]);
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

void ctl_fmt_ms(double ms, char *buf, size_t n)
{
	if (ms >= 1000.0)
		snprintf(buf, n, "%.2f s", ms / 1000.0);
	else
		snprintf(buf, n, "%.1f ms", ms);
}

void ctl_fmt_bytes(unsigned long long b, char *buf, size_t n)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)b;
	size_t u = 0;

	while (v >= 1024.0 && u + 1 < ELEMENTSOF(units)) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, n, "%llu B", b);
	else
		snprintf(buf, n, "%.1f %s", v, units[u]);
}

static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

/* "1.2 ms", "12.4 s": one decimal, as people read a running clock. */
void ctl_fmt_elapsed(double ms, char *buf, size_t n)
{
	if (ms >= 1000.0)
		snprintf(buf, n, "%.1f s", ms / 1000.0);
	else
		snprintf(buf, n, "%.1f ms", ms);
}

void ctl_fmt_progress(const json_t *p, char *buf, size_t n)
{
	const char *op = str(p, "op"), *step = str(p, "step");
	char t[32], ing[24];

	buf[0] = 0;
	if (!json_is_object(p) || !*op)
		return;
	/* attach -> attaching, detach -> detaching, bind -> binding */
	if (streq(op, "rollback"))
		snprintf(ing, sizeof(ing), "rolling back");
	else if (strlen(op) > 1 && op[strlen(op) - 1] == 'e')
		snprintf(ing, sizeof(ing), "%.*sing", (int)strlen(op) - 1, op);
	else
		snprintf(ing, sizeof(ing), "%sing", op);
	if (*step) {
		ctl_fmt_elapsed(json_number_value(json_object_get(p, "step_ms")), t, sizeof(t));
		snprintf(buf, n, "%s: %s %s", ing, step, t);
	} else {
		ctl_fmt_elapsed(json_number_value(json_object_get(p, "op_ms")), t, sizeof(t));
		snprintf(buf, n, "%s %s", ing, t);
	}
}

static void state_of(const json_t *v, char *buf, size_t n)
{
	ctl_fmt_progress(json_object_get(v, "progress"), buf, n);
	if (buf[0])
		return;
	snprintf(buf, n, "%s%s", str(v, "state"),
		 json_is_true(json_object_get(v, "busy")) ? " (busy)" : "");
}

/* "2/2": active/total paths of a multipath volume; "" (printed "-") otherwise. */
static void paths_of(const json_t *v, char *buf, size_t n)
{
	const json_t *paths = json_object_get(v, "paths"), *p;
	size_t i, up = 0;

	buf[0] = 0;
	if (!json_is_array(paths))
		return;
	json_array_foreach(paths, i, p) up += streq(str(p, "state"), "active");
	snprintf(buf, n, "%zu/%zu", up, json_array_size(paths));
}

/* "2026-12-03T10:20:03.123Z" -> "2026-12-03 10:20:03Z"; "" for null. */
static void when_of(const json_t *t, char *buf, size_t n)
{
	const char *s = json_string_value(t);

	buf[0] = 0;
	if (!s)
		return;
	snprintf(buf, n, "%.10s %.8sZ", s, strlen(s) > 11 ? s + 11 : "");
}

/* A volume of ls: an object (the full answer, or an older agent's) or, in the brief answer
 * attachctl asks for, an array of these columns (agent/volumes_admin.h). */
enum {
	LS_VOLUME,
	LS_BACKEND,
	LS_STATE,
	LS_BUSY,
	LS_FS,
	LS_DEVICE,
	LS_DM,
	LS_N_MOUNTS,
	LS_PATHS,
	LS_PROGRESS
};
static const char *const ls_keys[] = {"volume", "backend", "state",    "busy",	"fs",
				      "device", "dm",	   "n_mounts", "paths", "progress"};

static const json_t *ls_col(const json_t *v, int c)
{
	return json_is_array(v) ? json_array_get(v, (size_t)c) : json_object_get(v, ls_keys[c]);
}

static const char *ls_str(const json_t *v, int c)
{
	const char *s = json_string_value(ls_col(v, c));

	return s ? s : "";
}

void ctl_print_ls(const json_t *volumes, FILE *f)
{
	static const char *const head[] = {"VOLUME", "BACKEND", "STATE",  "FS",	    "DEVICE",
					   "DM",     "PATHS",	"MOUNTS", NULL};
	struct ctl_table t;
	size_t i;
	json_t *v;

	ctl_table_init(&t, head);
	json_array_foreach(volumes, i, v)
	{
		const json_t *paths = ls_col(v, LS_PATHS), *p, *nm = ls_col(v, LS_N_MOUNTS);
		char state[96], mounts[24], pcount[24] = "";
		size_t j, up = 0;

		ctl_fmt_progress(ls_col(v, LS_PROGRESS), state, sizeof(state));
		if (!state[0])
			snprintf(state, sizeof(state), "%s%s", ls_str(v, LS_STATE),
				 json_is_true(ls_col(v, LS_BUSY)) ? " (busy)" : "");
		/* "2/2": active/total paths of a multipath volume */
		if (json_is_array(paths)) {
			json_array_foreach(paths, j, p) up += streq(
			    json_is_string(p) ? json_string_value(p) : str(p, "state"), "active");
			snprintf(pcount, sizeof(pcount), "%zu/%zu", up, json_array_size(paths));
		}
		if (json_is_integer(nm))
			snprintf(mounts, sizeof(mounts), "%lld", (long long)json_integer_value(nm));
		else
			snprintf(mounts, sizeof(mounts), "%zu",
				 json_array_size(json_object_get(v, "mounts")));
		ctl_table_add(&t,
			      (const char *const[]){ls_str(v, LS_VOLUME), ls_str(v, LS_BACKEND),
						    state, ls_str(v, LS_FS), ls_str(v, LS_DEVICE),
						    ls_str(v, LS_DM), pcount, mounts});
	}
	if (t.nrows == 0)
		fprintf(f, "no volumes\n");
	else
		ctl_table_print(&t, f);
	ctl_table_done(&t);
}

void ctl_print_trace(const json_t *trace, FILE *f)
{
	static const char *const head[] = {"STEP", "DURATION", "RESULT", NULL};
	const json_t *steps = json_object_get(trace, "steps");
	struct ctl_table t;
	char total[32];
	size_t i;
	json_t *s;

	ctl_fmt_ms(json_number_value(json_object_get(trace, "total_ms")), total, sizeof(total));
	fprintf(f, "volume %s (%s)", str(trace, "volume"), str(trace, "backend"));
	if (*str(trace, "dm"))
		fprintf(f, ", %s on %s", str(trace, "dm"), str(trace, "device"));
	fprintf(f, "\n");
	if (json_array_size(steps) == 0) {
		fprintf(f, "no operation recorded yet\n");
		return;
	}
	ctl_table_init(&t, head);
	json_array_foreach(steps, i, s)
	{
		char d[32];

		ctl_fmt_ms(json_number_value(json_object_get(s, "ms")), d, sizeof(d));
		ctl_table_add(&t, (const char *const[]){str(s, "step"), d, str(s, "result")});
	}
	ctl_table_add(&t, (const char *const[]){"total", total, ""});
	ctl_table_print(&t, f);
	ctl_table_done(&t);
	if (*str(trace, "fs_found") || json_is_true(json_object_get(trace, "formatted")))
		fprintf(f, "filesystem: %s%s\n",
			*str(trace, "fs_found") ? str(trace, "fs_found") : "none found",
			json_is_true(json_object_get(trace, "formatted")) ? " (formatted now)"
									  : "");
}

void ctl_print_paths(const json_t *v, FILE *f)
{
	static const char *const head[] = {"PATH",	 "DEVICE", "WHERE", "STATE",
					   "LAST CHECK", "RESULT", "SINCE", NULL};
	const json_t *paths = json_object_get(v, "paths"), *p;
	struct ctl_table t;
	char n[24];
	size_t i;

	paths_of(v, n, sizeof(n));
	fprintf(f, "paths:      %s active, I/O %s when none is left\n", n,
		json_is_true(json_object_get(v, "queueing")) ? "queues" : "fails");
	if (json_array_size(paths) == 0)
		return;
	ctl_table_init(&t, head);
	json_array_foreach(paths, i, p)
	{
		char dev[48], checked[32], changed[32];

		snprintf(dev, sizeof(dev), "%s (%s)", str(p, "device"), str(p, "devno"));
		when_of(json_object_get(p, "last_check"), checked, sizeof(checked));
		when_of(json_object_get(p, "changed"), changed, sizeof(changed));
		ctl_table_add(&t, (const char *const[]){str(p, "id"), dev, str(p, "where"),
							str(p, "state"), checked,
							str(p, "last_result"), changed});
	}
	ctl_table_print(&t, f);
	ctl_table_done(&t);
}

void ctl_fmt_fencing(const json_t *fe, char *buf, size_t n)
{
	const char *st = str(fe, "status"), *detail = str(fe, "detail");

	if (streq(st, "held"))
		snprintf(buf, n, "held with key %s%s%s", str(fe, "key"), *detail ? "; " : "",
			 detail);
	else if (streq(st, "lost"))
		snprintf(buf, n, "LOST (key %s): %s", str(fe, "key"),
			 *detail ? detail : "another host holds the reservation");
	else if (streq(st, "unsupported by target"))
		snprintf(buf, n, "unsupported by target (attached unfenced%s%s)", *detail ? ": " : "",
			 detail);
	else if (streq(st, "off"))
		snprintf(buf, n, "off (Create option fencing: off; attached unfenced)");
	else
		snprintf(buf, n, "%s", st);
}

void ctl_print_takeover(const json_t *t, FILE *f)
{
	const char *res = str(t, "result");

	if (streq(res, "taken-over"))
		fprintf(f, "volume %s: taken over%s%s; held with key %s\n", str(t, "volume"),
			*str(t, "previous_holder") ? " from " : "", str(t, "previous_holder"),
			str(t, "key"));
	else if (streq(res, "already-held"))
		fprintf(f, "volume %s: this host already holds it (key %s)\n", str(t, "volume"),
			str(t, "key"));
	else
		fprintf(f, "volume %s: takeover armed: %s\n", str(t, "volume"), str(t, "message"));
}

void ctl_print_show(const json_t *v, FILE *f)
{
	static const char *const head[] = {"NAME", "CONTAINER", "COUNT", "PATH", NULL};
	const json_t *mounts = json_object_get(v, "mounts"), *m;
	char state[96], *opts;
	struct ctl_table t;
	size_t i;

	state_of(v, state, sizeof(state));
	fprintf(f, "volume:     %s\n", str(v, "volume"));
	fprintf(f, "backend:    %s\n", str(v, "backend"));
	fprintf(f, "state:      %s\n", state);
	fprintf(f, "identity:   %s\n", *str(v, "identity") ? str(v, "identity") : "-");
	fprintf(f, "fs:         %s%s\n", str(v, "fs"),
		json_is_true(json_object_get(v, "readonly")) ? " (read-only)" : "");
	fprintf(f, "device:     %s\n", *str(v, "device") ? str(v, "device") : "-");
	fprintf(f, "dm:         %s%s%s\n", *str(v, "dm") ? str(v, "dm") : "-",
		*str(v, "dm_devnode") ? " " : "", str(v, "dm_devnode"));
	fprintf(f, "staging:    %s\n", *str(v, "staging") ? str(v, "staging") : "-");
	if (json_is_object(json_object_get(v, "fencing"))) {
		char line[700];

		ctl_fmt_fencing(json_object_get(v, "fencing"), line, sizeof(line));
		fprintf(f, "fencing:    %s\n", line);
	}
	if (json_is_array(json_object_get(v, "paths")))
		ctl_print_paths(v, f);
	opts = json_dumps(json_object_get(v, "options"), JSON_COMPACT | JSON_SORT_KEYS);
	fprintf(f, "options:    %s\n", opts ? opts : "-");
	free(opts);
	fprintf(f, "mounts:     %zu\n", json_array_size(mounts));
	if (json_array_size(mounts)) {
		ctl_table_init(&t, head);
		json_array_foreach(mounts, i, m)
		{
			char count[16];

			snprintf(count, sizeof(count), "%lld",
				 (long long)json_integer_value(json_object_get(m, "count")));
			ctl_table_add(&t, (const char *const[]){str(m, "name"), str(m, "container"),
								count, str(m, "path")});
		}
		ctl_table_print(&t, f);
		ctl_table_done(&t);
	}
	if (json_object_get(v, "trace")) {
		fprintf(f, "last operation:\n");
		ctl_print_trace(json_object_get(v, "trace"), f);
	}
}

void ctl_print_metrics(const json_t *m, FILE *f)
{
	static const char *const ops[][2] = {{"attaches", "attach_failures"},
					     {"detaches", "detach_failures"},
					     {"binds", "bind_failures"},
					     {"unbinds", "unbind_failures"},
					     {"expands", "expand_failures"}};
	static const char *const head[] = {"STEP", "COUNT", "FAILURES", "TOTAL", "AVERAGE", NULL};
	const json_t *steps = json_object_get(m, "steps"), *s;
	struct ctl_table t;
	const char *k;

	for (size_t i = 0; i < ELEMENTSOF(ops); i++)
		fprintf(f, "%-9s %lld (%lld failed)\n", ops[i][0],
			(long long)json_integer_value(json_object_get(m, ops[i][0])),
			(long long)json_integer_value(json_object_get(m, ops[i][1])));
	if (json_is_object(json_object_get(m, "paths"))) {
		const json_t *p = json_object_get(m, "paths");
		const json_t *d = json_object_get(p, "failover_detect_ms");
		const json_t *dn = json_object_get(p, "path_down_ms");
#define I(o, k) ((long long)json_integer_value(json_object_get((o), (k))))
		fprintf(f,
			"paths     %lld failed, %lld reinstated, %lld added, %lld removed; "
			"all down %lld times (I/O failed after the bound %lld times)\n",
			I(p, "failures"), I(p, "reinstatements"), I(p, "added"), I(p, "removed"),
			I(p, "all_down"), I(p, "queueing_off"));
		if (I(p, "failures") || I(p, "reinstatements"))
			fprintf(f,
				"failover  last good check to failed: avg %lld ms, max %lld ms; "
				"down until reinstated: avg %lld ms, max %lld ms\n",
				I(d, "avg"), I(d, "max"), I(dn, "avg"), I(dn, "max"));
#undef I
	}
	if (json_is_object(json_object_get(m, "fencing"))) {
		const json_t *fe = json_object_get(m, "fencing");
#define I(k) ((long long)json_integer_value(json_object_get(fe, (k))))
		fprintf(f,
			"fencing   %lld reserved, %lld taken over, %lld refused (held elsewhere), "
			"%lld unfenced (no reservations on the target), %lld lost\n",
			I("reserved"), I("takeover"), I("refused"), I("unsupported"), I("lost"));
#undef I
	}
	if (json_object_size(steps) == 0)
		return;
	fprintf(f, "\n");
	ctl_table_init(&t, head);
	json_object_foreach((json_t *)steps, k, s)
	{
		long long n = (long long)json_integer_value(json_object_get(s, "count"));
		double tot = json_number_value(json_object_get(s, "total_ms"));
		char cnt[24], fails[24], total[32], avg[32];

		snprintf(cnt, sizeof(cnt), "%lld", n);
		snprintf(fails, sizeof(fails), "%lld",
			 (long long)json_integer_value(json_object_get(s, "failures")));
		ctl_fmt_ms(tot, total, sizeof(total));
		ctl_fmt_ms(n ? tot / (double)n : 0, avg, sizeof(avg));
		ctl_table_add(&t, (const char *const[]){k, cnt, fails, total, avg});
	}
	ctl_table_print(&t, f);
	ctl_table_done(&t);
}

void ctl_print_drain(const json_t *answer, FILE *f)
{
	static const char *const head[] = {"VOLUME", "RESULT", "ERROR", NULL};
	const json_t *res = json_object_get(answer, "results"), *r;
	struct ctl_table t;
	size_t i;

	fprintf(f, "driver spec: %s\n",
		json_is_true(json_object_get(answer, "spec_removed")) ? "removed" : "already gone");
	if (json_array_size(res) == 0) {
		fprintf(f, "no volumes\n");
		return;
	}
	ctl_table_init(&t, head);
	json_array_foreach(res, i, r) ctl_table_add(
	    &t, (const char *const[]){str(r, "volume"), str(r, "result"), str(r, "error")});
	ctl_table_print(&t, f);
	ctl_table_done(&t);
}
