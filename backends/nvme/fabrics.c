/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NVMe-oF connect protocol, as libnvme's __nvmf_add_ctrl() speaks it: open
 * /dev/nvme-fabrics, write the whole option string in one write() (the kernel parses one
 * write as one request, nvmf_dev_write), read "instance=N,cntlid=M\n" from the same fd
 * (nvmf_dev_show). The write blocks for the whole TCP connect + NVMe Connect + Identify,
 * and fails with the errno of the first step that failed.
 *
 * Tunables: ctrl_loss_tmo is bounded (600 s, libnvme's NVMF_DEF_CTRL_LOSS_TMO) rather than
 * -1 so a target that is gone for good does not leave a controller reconnecting forever
 * (and a host that cannot reboot cleanly); fast_io_fail_tmo fails I/O after 30 s of lost
 * connection instead of queueing it for the whole ctrl_loss_tmo.
 *
 * Several ports of one subsystem (native multipath): the kernel's head disk sends I/O to
 * the live controllers only, and requeues what a dying one had in flight to another
 * (nvme_failover_req), so losing one port fails no I/O while another is live; the same
 * fast_io_fail_tmo then bounds how long I/O queues on the head when every port is down
 * (a controller whose fast_io_fail_tmo expired no longer counts as a path that may come
 * back: nvme_available_path), like attachd's no_path_queue_s for dm-multipath (30 s by
 * default). reconnect_delay is 2 s instead of 10 so a port that returns carries I/O again
 * within seconds (the kernel's TCP connect to a silent port gives up after one SYN retry,
 * about 3 s). ctrl_loss_tmo stays 600 s: a port gone longer loses its controller, and the
 * path checker's add_paths connects a new one when the port answers again.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <linux/nvme_ioctl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"
#include "lib/macro.h"

#define UUID_NQN_PREFIX "nqn.2014-08.org.nvmexpress:uuid:"

int be_nvme_fabrics_options(const char *subnqn, const char *traddr, unsigned trsvcid,
			    const char *hostnqn, const char *hostid, int multipath, char *buf,
			    size_t n)
{
	int r;

	/* libnvme's build_options() order: nqn first, then transport, address, host. */
	r = snprintf(buf, n,
		     "nqn=%s,transport=tcp,traddr=%s,trsvcid=%u,hostnqn=%s%s%s,"
		     "ctrl_loss_tmo=%d,reconnect_delay=%d,fast_io_fail_tmo=%d",
		     subnqn, traddr, trsvcid, hostnqn, hostid && *hostid ? ",hostid=" : "",
		     hostid && *hostid ? hostid : "", BE_NVME_CTRL_LOSS_TMO,
		     multipath ? BE_NVME_MP_RECONNECT_DELAY : BE_NVME_RECONNECT_DELAY,
		     BE_NVME_FAST_IO_FAIL_TMO);
	return r < 0 || (size_t)r >= n ? -ENOBUFS : 0;
}

int be_nvme_fabrics_reply_parse(const char *reply, unsigned *ret_instance)
{
	const char *p;
	char *end;
	unsigned long v;

	if (!reply)
		return -EBADMSG;
	/* Tokens are comma-separated; "instance=" is the one libnvme looks for. */
	for (p = reply; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
		if (!startswith(p, "instance="))
			continue;
		p += strlen("instance=");
		if (*p < '0' || *p > '9')
			return -EBADMSG;
		errno = 0;
		v = strtoul(p, &end, 10);
		if (errno || v > 0x7fffffff || (*end && *end != ',' && *end != '\n'))
			return -EBADMSG;
		*ret_instance = (unsigned)v;
		return 0;
	}
	return -EBADMSG;
}

static int real_add_ctrl(void *ud _unused_, const struct sys *s, const char *opts, char *reply,
			 size_t n)
{
	_cleanup_close_ int fd = -EBADF;
	char p[4096];
	size_t len = strlen(opts);
	ssize_t k;

	if (!sys_path(p, sizeof(p), s->dev_root, "/dev/nvme-fabrics"))
		return -ENAMETOOLONG;
	fd = open(p, O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	k = write(fd, opts, len);
	if (k < 0)
		return negative_errno();
	if ((size_t)k != len)
		return -EIO;
	k = read(fd, reply, n - 1);
	if (k < 0)
		return negative_errno();
	reply[k] = 0;
	return 0;
}

static int real_reach(void *ud _unused_, const char *addr, unsigned port, int timeout_ms)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	_cleanup_close_ int fd = -EBADF;
	struct pollfd pfd;
	char svc[8];
	int r, err = 0;
	socklen_t el = sizeof(err);

	snprintf(svc, sizeof(svc), "%u", port);
	if (getaddrinfo(addr, svc, &hints, &res) != 0 || !res)
		return -EINVAL;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		freeaddrinfo(res);
		return negative_errno();
	}
	r = connect(fd, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (r == 0)
		return 0;
	if (errno != EINPROGRESS)
		return negative_errno();
	pfd = (struct pollfd){.fd = fd, .events = POLLOUT};
	do
		r = poll(&pfd, 1, timeout_ms > 0 ? timeout_ms : 10000);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return negative_errno();
	if (r == 0)
		return -ETIMEDOUT;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
		return negative_errno();
	return err ? -err : 0;
}

static int real_identify(void *ud _unused_, const struct sys *s, unsigned instance, unsigned cns,
			 uint32_t nsid, void *buf, size_t len)
{
	_cleanup_close_ int fd = -EBADF;
	struct nvme_admin_cmd cmd = {
	    .opcode = 0x06, /* Identify */
	    .nsid = nsid,
	    .addr = (uint64_t)(uintptr_t)buf,
	    .data_len = (uint32_t)len,
	    .cdw10 = cns,
	    .timeout_ms = 10000,
	};
	char name[32], p[4096];
	int r;

	snprintf(name, sizeof(name), "/dev/nvme%u", instance);
	if (!sys_path(p, sizeof(p), s->dev_root, name))
		return -ENAMETOOLONG;
	fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	r = ioctl(fd, NVME_IOCTL_ADMIN_CMD, &cmd);
	if (r < 0)
		return negative_errno();
	return r > 0 ? -EIO : 0; /* r > 0: the NVMe status of a failed command */
}

const struct be_nvme_fabrics_ops be_nvme_fabrics_real = {
    .add_ctrl = real_add_ctrl,
    .reach = real_reach,
    .identify = real_identify,
    .watch_open = be_nvme_ctrl_watch_open,
    .watch_next = be_nvme_ctrl_watch_next,
    .watch_close = be_nvme_ctrl_watch_close,
};

#define IDENT_LEN 4096
#define CNS_ACTIVE_NS_LIST 0x02
#define CNS_NS_DESC_LIST 0x03
#define NIDT_NGUID 0x02
#define NIDT_UUID 0x03

static void hex_uuid(const uint8_t *b, char *out)
{
	static const char x[] = "0123456789abcdef";
	size_t k = 0;

	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[k++] = '-';
		out[k++] = x[b[i] >> 4];
		out[k++] = x[b[i] & 15];
	}
	out[k] = 0;
}

/* 1 if the descriptor list of one namespace has the uuid/nguid of c. */
static int desc_match(const struct be_nvme_cfg *c, const uint8_t *d, size_t len)
{
	for (size_t off = 0; off + 4 <= len;) {
		uint8_t type = d[off], l = d[off + 1];
		char u[BE_NVME_UUID_STR + 1];

		if (type == 0)
			break;
		if (off + 4 + l > len)
			break;
		/* The kernel's uuid attribute shows the NGUID when there is no UUID, so a
		 * "uuid" copied from sysfs may be an NGUID: accept both for uuid. */
		if (l == 16 && (type == NIDT_UUID || type == NIDT_NGUID)) {
			hex_uuid(d + off + 4, u);
			if (streq(u, c->id) &&
			    (type == NIDT_NGUID || c->id_kind == BE_NVME_ID_UUID))
				return 1;
		}
		off += 4 + l;
	}
	return 0;
}

int be_nvme_target_has_ns(const struct be_nvme_cfg *c, const struct sys *s, unsigned instance,
			  char *list, size_t n)
{
	_cleanup_free_ uint8_t *ids = calloc(1, IDENT_LEN);
	_cleanup_free_ uint8_t *desc = calloc(1, IDENT_LEN);
	size_t used = 0;
	int r, found = 0;

	if (!ids || !desc)
		return -ENOMEM;
	if (!c->fabrics->identify)
		return -EOPNOTSUPP;
	r = c->fabrics->identify(c->fabrics_ud, s, instance, CNS_ACTIVE_NS_LIST, 0, ids, IDENT_LEN);
	if (r < 0)
		return r;
	list[0] = 0;
	for (size_t i = 0; i + 4 <= IDENT_LEN; i += 4) {
		uint32_t nsid = (uint32_t)ids[i] | (uint32_t)ids[i + 1] << 8 |
				(uint32_t)ids[i + 2] << 16 | (uint32_t)ids[i + 3] << 24;
		int w;

		if (nsid == 0)
			break; /* the list is zero-terminated */
		w = snprintf(list + used, n - used, "%s%u", used ? ", " : "", nsid);
		if (w > 0 && (size_t)w < n - used)
			used += (size_t)w;
		if (found)
			continue;
		if (c->id_kind == BE_NVME_ID_NSID) {
			found = nsid == c->nsid;
			continue;
		}
		memset(desc, 0, IDENT_LEN);
		r = c->fabrics->identify(c->fabrics_ud, s, instance, CNS_NS_DESC_LIST, nsid, desc,
					 IDENT_LEN);
		if (r < 0)
			return r; /* no descriptor lists (NVMe < 1.3): cannot tell */
		found = desc_match(c, desc, IDENT_LEN);
	}
	if (!list[0])
		snprintf(list, n, "none");
	return found;
}

static int read_first_line(const struct sys *s, const char *path, char *buf, size_t n)
{
	_cleanup_free_ char *text = NULL;
	char full[4096];
	size_t l;
	int r;

	if (!sys_path(full, sizeof(full), s->etc_root, path))
		return -ENAMETOOLONG;
	r = s->ops->read_file(s, full, &text, 4096);
	if (r < 0)
		return r;
	l = strcspn(text, "\r\n");
	text[l] = 0;
	while (l > 0 && (text[l - 1] == ' ' || text[l - 1] == '\t'))
		text[--l] = 0;
	if (l == 0)
		return -ENODATA;
	if (l >= n)
		return -ENOBUFS;
	memcpy(buf, text, l + 1);
	return 0;
}

int be_nvme_host_identity(const struct backend_ctx *ctx, char *nqn, size_t nn, char *hostid,
			  size_t hn, struct errbuf *e)
{
	char file_nqn[BE_NVME_NQN_MAX + 1] = "", id[64] = "", u[BE_NVME_UUID_STR + 1];
	const char *conf = ctx->host ? ctx->host->nvme_hostnqn : "";
	int r, have_file;

	r = read_first_line(ctx->sys, "/etc/nvme/hostnqn", file_nqn, sizeof(file_nqn));
	have_file = r == 0;
	if (conf && *conf) {
		if (!be_nvme_nqn_is_valid(conf))
			return errbuf_set(e, -EINVAL,
					  "the agent's nvme hostnqn \"%.80s\" is not an NVMe "
					  "qualified name",
					  conf);
		snprintf(nqn, nn, "%s", conf);
	} else if (have_file) {
		if (!be_nvme_nqn_is_valid(file_nqn))
			return errbuf_set(e, -EINVAL,
					  "/etc/nvme/hostnqn holds \"%.80s\", which is not an NVMe "
					  "qualified name",
					  file_nqn);
		snprintf(nqn, nn, "%s", file_nqn);
	} else {
		return errbuf_set(
		    e, -ENOKEY,
		    "this host has no NVMe host NQN: set \"nvme\": {\"hostnqn\": ...} "
		    "in the agent config or create /etc/nvme/hostnqn (nvme "
		    "gen-hostnqn > /etc/nvme/hostnqn)");
	}
	/* The kernel refuses one host NQN with two host IDs (and one ID with two NQNs) on
	 * newer kernels, and nvme-cli pairs /etc/nvme/hostnqn with /etc/nvme/hostid: use that
	 * pair when our NQN is the file's, else the UUID inside a uuid-form NQN. */
	hostid[0] = 0;
	if (have_file && streq(nqn, file_nqn) &&
	    read_first_line(ctx->sys, "/etc/nvme/hostid", id, sizeof(id)) == 0 &&
	    be_nvme_uuid_normalize(id, 0, u, sizeof(u)) == 0)
		snprintf(hostid, hn, "%s", u);
	else if (startswith(nqn, UUID_NQN_PREFIX) &&
		 be_nvme_uuid_normalize(nqn + strlen(UUID_NQN_PREFIX), 0, u, sizeof(u)) == 0)
		snprintf(hostid, hn, "%s", u);
	return 0;
}

int be_nvme_connect_error(struct errbuf *e, int r, const struct be_nvme_cfg *c, const char *t,
			  const char *addr, const char *hostnqn)
{
	unsigned p = c->trsvcid;

	switch (r) {
	case -ECONNREFUSED:
		return errbuf_set(
		    e, r,
		    "nothing listening at %s port %u (connection refused): check "
		    "'traddr' and 'trsvcid' and that the target exports NVMe/TCP there",
		    t, p);
	case -ETIMEDOUT:
		return errbuf_set(e, r,
				  "no answer from %s port %u (connection timed out): check the "
				  "network path to the target",
				  t, p);
	case -EHOSTUNREACH:
	case -ENETUNREACH:
	case -EADDRNOTAVAIL:
		return errbuf_set(e, r, "cannot reach %s (%s) port %u: %s", t, addr, p,
				  strerror(-r));
	case -EIO:
	case -EINVAL:
	case -EPROTO:
		/* What nvmet answers a Connect for an NQN it does not export, or for a host
		 * not in its allowed_hosts: a Connect status with DNR, which nvme-tcp turns
		 * into -EIO (checked on 6.1 in tests/vm/scenarios/40-attachd-nvme.sh). */
		return errbuf_set(e, r,
				  "subsystem %s not offered by %s:%u (the target refused the NVMe "
				  "connect: no such subsystem there, or host %s is not allowed to "
				  "use it; kernel: %s)",
				  c->subnqn, t, p, hostnqn, strerror(-r));
	case -ENOENT:
	case -ENODEV:
		return errbuf_set(e, r,
				  "/dev/nvme-fabrics is missing: load the NVMe/TCP initiator "
				  "(modprobe nvme-tcp)");
	case -ENOKEY:
	case -EKEYREJECTED:
		return errbuf_set(e, r, "the target %s at %s:%u requires authentication (%s)",
				  c->subnqn, t, p, strerror(-r));
	default:
		return errbuf_set(e, r, "connecting to %s at %s:%u failed: %s", c->subnqn, t, p,
				  strerror(-r));
	}
}
