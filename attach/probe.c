/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "attach/attach.h"
#include "attach/internal.h"
#include "lib/macro.h"

static struct backend_ctx ctx_of(const struct attach_env *env, int timeout_ms)
{
	return (struct backend_ctx){.sys = &env->sys, .host = &env->host, .timeout_ms = timeout_ms};
}

/* connect, await the device, identify: the pipeline's first steps without a record. */
static int connect_identify(struct attach_env *env, struct backend_attachment *att,
			    struct attach_probe_info *info, struct errbuf *e)
{
	const struct backend_ops *be = att->ops;
	struct backend_ctx ctx = ctx_of(env, env->connect_timeout_ms);
	struct attach_devwait *w = NULL;
	int r;

	/* Armed before the action, so the device's uevent cannot be missed. */
	if (attach_devwait_open(env, &w) < 0)
		w = NULL;
	r = be->connect(&ctx, att, e);
	if (r < 0)
		goto out;
	info->connected = 1;
	r = attach_devwait_device(env, w, be, &ctx, att, &info->dev, e);
	if (r < 0)
		goto out;
	r = be->identify(&ctx, att, &info->dev, &info->ident, e);
out:
	attach_devwait_free(w);
	return r;
}

int attach_probe(struct attach_env *env, const json_t *opts, struct attach_probe_info *ret,
		 struct errbuf *e)
{
	struct attach_probe_info info;
	struct backend_attachment att;
	struct errlist el = {.n = 0};
	struct attach_opts o;
	int r;

	memset(&info, 0, sizeof(info));
	if (attach_opts_parse(opts, &o, &el) < 0)
		return errbuf_set(e, -EINVAL, "%s", el.n ? el.msg : "invalid options");
	att = (struct backend_attachment){.ops = o.be, .cfg = o.be_cfg, .objs = json_object()};
	if (!att.objs) {
		attach_opts_done(&o);
		return errbuf_set(e, -ENOMEM, "out of memory");
	}
	if (o.be->probe) {
		struct backend_ctx ctx = ctx_of(env, env->connect_timeout_ms);

		r = o.be->probe(&ctx, &att, &info.ident, e);
	} else if (o.be->connect && o.be->find_device && o.be->identify && o.be->disconnect) {
		struct backend_ctx ctx = ctx_of(env, env->connect_timeout_ms);
		struct errbuf e2 = {{0}};
		int r2;

		r = connect_identify(env, &att, &info, e);
		/* Always: a connect that failed part way may have made a controller. */
		r2 = o.be->disconnect(&ctx, &att, &e2);
		if (r2 < 0 && r == 0)
			r = errbuf_set(e, r2, "probed, but disconnecting again failed: %s", e2.msg);
		else if (r2 < 0) {
			struct errbuf first = *e;

			errbuf_set(e, r, "%.500s (and disconnecting again failed: %.400s)",
				   first.msg, e2.msg);
		}
	} else
		r = errbuf_set(e, -EOPNOTSUPP, "the %s backend cannot be probed", o.be->name);
	json_decref(att.objs);
	attach_opts_done(&o);
	if (r < 0)
		return r;
	*ret = info;
	return 0;
}
