/* SPDX-License-Identifier: Apache-2.0 */
/*
 * attachd's configuration: defaults, the JSON config file (--config) and the flags, which
 * override the file. Everything here is pure (no I/O except reading the config file) so
 * every error path is unit-tested. Messages name the flag or key at fault.
 */
#pragma once

#include <jansson.h>
#include <stdio.h>

#include "lib/err.h"

#define AGENT_PATH_MAX 4096
/* sockaddr_un.sun_path is 108 bytes including the NUL. */
#define AGENT_SOCKET_PATH_MAX 107
#define AGENT_DRIVER_NAME_MAX 64
/* Config files are small; refuse anything bigger rather than parse a wrong file. */
#define AGENT_CONFIG_FILE_MAX (1024 * 1024)

#define AGENT_DEFAULT_LISTEN "127.0.0.1:7610"
#define AGENT_DEFAULT_ADMIN_SOCKET "/var/vcap/sys/run/attachd/attachd.sock"
#define AGENT_DEFAULT_STATE_DIR "/var/vcap/data/attachd/state"
#define AGENT_DEFAULT_MOUNT_ROOT "/var/vcap/data/volumes/attachd"
#define AGENT_DEFAULT_DRIVER_DIR "/var/vcap/data/voldrivers"
#define AGENT_DEFAULT_DRIVER_NAME "attachd"
#define AGENT_DEFAULT_ISCSI_IFACE "attachd"
/* open-iscsi iface names attachd accepts: [A-Za-z0-9._-], 1..63 characters */
#define AGENT_ISCSI_IFACE_MAX 63
#define AGENT_DEFAULT_DRV_CFG "/opt/emc/scaleio/sdc/bin/drv_cfg"

/* Mutual TLS on the Volman listener: server cert/key and the CA client certs must chain to;
 * client_cert_file/client_key_file are what Volman presents (written into the spec file's
 * TLSConfig; attachd does not read them). */
struct agent_tls_config {
	char ca_file[AGENT_PATH_MAX];
	char cert_file[AGENT_PATH_MAX];
	char key_file[AGENT_PATH_MAX];
	char client_cert_file[AGENT_PATH_MAX];
	char client_key_file[AGENT_PATH_MAX];
};

struct agent_scaleio_config {
	char gateway[1024]; /* https://gateway[:port] */
	char username[256];
	char password_file[AGENT_PATH_MAX];
	char ca_file[AGENT_PATH_MAX];
	int insecure_skip_verify;
	char sdc_guid[64]; /* "" = ask drv_cfg --query_guid */
	char drv_cfg[AGENT_PATH_MAX];
};

/* Bounded resources: pipelines running at once (the rest queue) and how long a request waits
 * for a volume's operation lock before it is answered "busy". */
#define AGENT_DEFAULT_MAX_PIPELINES 8
#define AGENT_DEFAULT_LOCK_WAIT_S 60
struct agent_limits_config {
	unsigned max_pipelines; /* 1..1024 */
	unsigned lock_wait_s;	/* 1..86400 */
};

/* attachd's own path checker for multipath volumes: a round every check_interval_s (and
 * on udev/session events); with no path left, I/O queues no_path_queue_s, then fails. */
#define AGENT_DEFAULT_CHECK_INTERVAL_S 5
#define AGENT_DEFAULT_NO_PATH_QUEUE_S 30
struct agent_multipath_config {
	unsigned check_interval_s; /* 1..60 */
	unsigned no_path_queue_s;  /* 0..3600 (0: fail at once when the last path fails) */
};

struct agent_config {
	char listen[256]; /* HOST:PORT, port 0 = any free port (tests) */
	char metrics_listen[256]; /* Prometheus /metrics HOST:PORT, "" = off */
	char admin_socket[AGENT_SOCKET_PATH_MAX + 1];
	char state_dir[AGENT_PATH_MAX];
	char mount_root[AGENT_PATH_MAX];
	char driver_dir[AGENT_PATH_MAX];
	char driver_name[AGENT_DRIVER_NAME_MAX + 1];
	struct agent_tls_config tls;
	char iscsi_initiator_name[224];		     /* "" = /etc/iscsi/initiatorname.iscsi */
	char iscsi_iface[AGENT_ISCSI_IFACE_MAX + 1]; /* our sessions' and records' iface */
	char nvme_hostnqn[224];			     /* "" = /etc/nvme/hostnqn */
	struct agent_scaleio_config scaleio;
	char file_dir[AGENT_PATH_MAX]; /* "" = the file backend's default */
	struct agent_limits_config limits;
	struct agent_multipath_config multipath;
	char fencing_key[17]; /* 16 hex digits, "" = derived from the host identity */
};

/* Fill c with the built-in defaults. */
void agent_config_init(struct agent_config *c);

/*
 * Apply one config object (the --config file's content) over c. Every problem (unknown
 * key, wrong type, value too long) is added to el, prefixed with origin (e.g. the file
 * name). Keys present are applied even when others are bad; the caller discards c then.
 * Returns 0 or -EINVAL.
 */
int agent_config_apply_json(struct agent_config *c, const json_t *root, const char *origin,
			    struct errlist *el);

/* Read path (at most AGENT_CONFIG_FILE_MAX bytes), parse it and apply it over c. Returns 0,
 * -EBADMSG when it cannot be read or is not JSON (c untouched) or -EINVAL when keys were
 * refused (the others applied); every problem in el. */
int agent_config_load_file(struct agent_config *c, const char *path, struct errlist *el);

/* Check the merged configuration as a whole (paths absolute, listen address, TLS rules,
 * names). Every problem goes to el. Returns 0 or -EINVAL. */
int agent_config_validate(const struct agent_config *c, struct errlist *el);

/*
 * Split "HOST:PORT" ("[v6]:PORT" for IPv6). Host without brackets into host (size n),
 * port 0-65535. Returns 0 or -EINVAL.
 */
int agent_listen_parse(const char *listen, char *host, size_t n, unsigned *ret_port);
/* 1 if host is a loopback literal (127.0.0.0/8, ::1) or "localhost", else 0. */
int agent_host_is_loopback(const char *host);
/* 1 if the TLS block is set at all (any of its files). */
int agent_config_has_tls(const struct agent_config *c);

#define AGENT_CONFIG_HELP 1
#define AGENT_CONFIG_CHECK 2
/*
 * Parse attachd's command line into *ret: defaults, then --config FILE, then the other
 * flags on top. Returns 0, AGENT_CONFIG_HELP (--help seen: print usage, exit 0),
 * AGENT_CONFIG_CHECK (--check-config FILE: the file and flags make a valid config, *ret
 * filled; print "config FILE: valid", exit 0) or -EINVAL with every problem in el (print
 * it, exit 2). With --check-config, every problem of the file and of validation is listed
 * (a start stops at the file's). Reads nothing but the config file. Uses getopt_long: not
 * thread-safe.
 */
int agent_config_parse_args(int argc, char *argv[], struct agent_config *ret, struct errlist *el);
/* After agent_config_parse_args: 1 when --check-config was given (*ret_file its path), else
 * 0. Tells main how to report a refusal. */
int agent_config_check_mode(const char **ret_file);
void agent_config_usage(FILE *f, const char *prog);
