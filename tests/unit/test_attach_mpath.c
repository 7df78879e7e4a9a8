/* SPDX-License-Identifier: Apache-2.0 */
/* Multipath in the pipeline, pure parts: when a volume gets a multipath map, ALUA groups,
 * and the record of a multipath volume (round trip, old records, damaged ones). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "attach/internal.h"

static void init_volume(struct attach_volume *v, const char *key, const char *json)
{
	json_t *opts = json_loads(json, 0, NULL);
	struct attach_opts o;
	struct errlist el = {.n = 0};

	assert_non_null(opts);
	if (attach_opts_parse(opts, &o, &el) < 0)
		fail_msg("bad test options: %s", el.msg);
	assert_int_equal(attach_volume_init(v, key, &o), 0);
	attach_opts_done(&o);
	json_decref(opts);
}

#define ISCSI_ONE                                                                                  \
	"{\"backend\":\"iscsi\",\"portal\":\"10.0.0.5\",\"iqn\":\"iqn.2003-01.org.e:t\",\"lun\":"  \
	"1}"
#define ISCSI_TWO                                                                                  \
	"{\"backend\":\"iscsi\",\"portals\":[\"10.0.0.5\",\"10.0.0.6\"],\"iqn\":\"iqn.2003-01."    \
	"org.e:t\","                                                                               \
	"\"lun\":1}"
#define ISCSI_TARGETS                                                                              \
	"{\"backend\":\"iscsi\",\"targets\":[{\"portal\":\"10.0.0.5\",\"iqn\":\"iqn.2003-01.org."  \
	"e:a\"},"                                                                                  \
	"{\"portal\":\"10.0.0.6\",\"iqn\":\"iqn.2003-01.org.e:b\"}],\"lun\":1}"

static void test_wanted(void **state)
{
	struct attach_volume v;

	(void)state;
	/* one configured path: linear, exactly as before */
	init_volume(&v, "one", ISCSI_ONE);
	assert_false(attach_mpath_wanted(&v));
	attach_volume_done(&v);
	init_volume(&v, "two", ISCSI_TWO);
	assert_true(attach_mpath_wanted(&v));
	attach_volume_done(&v);
	init_volume(&v, "tgts", ISCSI_TARGETS);
	assert_true(attach_mpath_wanted(&v));
	attach_volume_done(&v);
	/* a backend without paths */
	init_volume(&v, "f", "{\"backend\":\"file\",\"size\":\"64M\"}");
	assert_false(attach_mpath_wanted(&v));
	attach_volume_done(&v);
}

static void test_alua_group(void **state)
{
	(void)state;
	assert_int_equal(attach_mpath_alua_group("active/optimized"), 0);
	assert_int_equal(attach_mpath_alua_group("active/non-optimized"), 1);
	assert_int_equal(attach_mpath_alua_group("standby"), 2);
	assert_int_equal(attach_mpath_alua_group("unavailable"), 3);
	assert_int_equal(attach_mpath_alua_group("transitioning"), 3);
	assert_int_equal(attach_mpath_alua_group(""), -1);
	assert_int_equal(attach_mpath_alua_group(NULL), -1);
}

static void set_path(struct attach_path *p, const char *id, const char *sd, unsigned minor,
		     const char *where)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->bp.id, sizeof(p->bp.id), "%s", id);
	snprintf(p->bp.dev.sysname, sizeof(p->bp.dev.sysname), "%s", sd);
	snprintf(p->bp.dev.devnode, sizeof(p->bp.dev.devnode), "/dev/%s", sd);
	p->bp.dev.major = 8;
	p->bp.dev.minor = minor;
	snprintf(p->bp.where, sizeof(p->bp.where), "%s", where);
	snprintf(p->bp.wwid, sizeof(p->bp.wwid), "naa.6001405aaaaaaaaaaaaaaaaaaaaaaaaa");
}

static void test_record_round_trip(void **state)
{
	struct attach_volume a, b;
	struct errbuf e = {{0}};
	json_t *j, *paths;

	(void)state;
	init_volume(&a, "mp", ISCSI_TWO);
	a.reached = STEP_MOUNT;
	a.multipath = 1;
	a.queueing = 1;
	set_path(&a.paths[0], "3:0:0:1", "sdb", 16, "10.0.0.5:3260 iqn.2003-01.org.e:t");
	set_path(&a.paths[1], "4:0:0:1", "sdc", 32, "10.0.0.6:3260 iqn.2003-01.org.e:t");
	a.paths[1].failed = 1;
	a.paths[1].group = 1;
	a.n_paths = 2;
	j = attach_volume_to_json(&a);
	assert_non_null(j);
	assert_true(json_is_true(json_object_get(j, "multipath")));
	assert_true(json_is_true(json_object_get(j, "queueing")));
	paths = json_object_get(j, "paths");
	assert_int_equal(json_array_size(paths), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(paths, 1), "devno")),
			    "8:32");

	init_volume(&b, "mp", ISCSI_TWO);
	assert_int_equal(attach_volume_from_json(j, &b, &e), 0);
	assert_int_equal(b.multipath, 1);
	assert_int_equal(b.queueing, 1);
	assert_int_equal(b.n_paths, 2);
	assert_string_equal(b.paths[0].bp.id, "3:0:0:1");
	assert_string_equal(b.paths[0].bp.dev.sysname, "sdb");
	assert_string_equal(b.paths[0].bp.dev.devnode, "/dev/sdb");
	assert_int_equal(b.paths[0].bp.dev.major, 8);
	assert_int_equal(b.paths[0].bp.dev.minor, 16);
	assert_string_equal(b.paths[1].bp.where, "10.0.0.6:3260 iqn.2003-01.org.e:t");
	assert_string_equal(b.paths[1].bp.wwid, a.paths[1].bp.wwid);
	assert_int_equal(b.paths[1].failed, 1);
	assert_int_equal(b.paths[0].failed, 0);
	assert_int_equal(b.paths[1].group, 1);

	/* a record from before multipath: no such keys, a linear volume */
	json_object_del(j, "paths");
	json_object_del(j, "multipath");
	json_object_del(j, "queueing");
	assert_int_equal(attach_volume_from_json(j, &b, &e), 0);
	assert_int_equal(b.multipath, 0);
	assert_int_equal(b.n_paths, 0);
	json_decref(j);

	/* a linear volume writes none of them */
	a.multipath = 0;
	a.n_paths = 0;
	j = attach_volume_to_json(&a);
	assert_null(json_object_get(j, "paths"));
	assert_null(json_object_get(j, "multipath"));
	json_decref(j);
	attach_volume_done(&a);
	attach_volume_done(&b);
}

static void test_record_rejects_bad_paths(void **state)
{
	static const char *const bad[] = {
	    "{\"dm_name\":\"attachd-mp\",\"paths\":{}}",
	    "{\"dm_name\":\"attachd-mp\",\"paths\":[1]}",
	    "{\"dm_name\":\"attachd-mp\",\"paths\":[{\"devno\":\"8:16\"}]}",
	    "{\"dm_name\":\"attachd-mp\",\"paths\":[{\"id\":\"3:0:0:1\",\"devno\":\"sdb\"}]}",
	    "{\"dm_name\":\"attachd-mp\",\"paths\":[{\"id\":\"3:0:0:1\",\"devno\":\"0:16\"}]}",
	    "{\"dm_name\":\"attachd-mp\",\"paths\":[{\"id\":\"3:0:0:1\",\"devno\":\"8:16\","
	    "\"group\":-1}]}",
	    "{\"dm_name\":\"attachd-mp\",\"paths\":[{},{},{},{},{},{},{},{},{}]}",
	};
	struct attach_volume v;

	(void)state;
	init_volume(&v, "mp", ISCSI_TWO);
	v.multipath = 1;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct errbuf e = {{0}};
		json_t *j = json_loads(bad[i], 0, NULL);

		assert_non_null(j);
		assert_int_equal(attach_volume_from_json(j, &v, &e), -EINVAL);
		assert_non_null(strstr(e.msg, "record:"));
		assert_int_equal(v.multipath, 1); /* untouched */
		json_decref(j);
	}
	attach_volume_done(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_wanted),
	    cmocka_unit_test(test_alua_group),
	    cmocka_unit_test(test_record_round_trip),
	    cmocka_unit_test(test_record_rejects_bad_paths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
