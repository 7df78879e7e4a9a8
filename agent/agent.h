/* SPDX-License-Identifier: Apache-2.0 */
/*
 * attachd as an object: configuration, the pipeline environment, the volume registry, the
 * Volman HTTP server and the driver spec file. main() and the host tests both drive it
 * through this API; tests pass fake driver ops so the HTTP API runs end to end with no
 * kernel underneath.
 */
#pragma once

#include "agent/config.h"
#include "agent/volumes.h"
#include "attach/attach.h"
#include "lib/err.h"

struct agent;

/*
 * Build an agent from a validated config. ops: the pipeline (agent_driver_ops_real in
 * attachd; fakes in tests); borrowed, must outlive the agent. Nothing is bound or written
 * yet. Returns 0 and *ret, or a negative errno with e set.
 */
int agent_new(const struct agent_config *cfg, const struct agent_driver_ops *ops,
	      struct agent **ret, struct errbuf *e);

struct agent_test_settings;
/* Test-only settings (crash points, boot ID file; see agent/state.h), copied; call before
 * agent_start(). */
void agent_set_test_settings(struct agent *a, const struct agent_test_settings *t);

/* The pipeline environment (sys seam, host settings, mount root, deadlines). Tests may
 * change it before agent_start(). */
struct attach_env *agent_env(struct agent *a);
struct agent_volumes *agent_volumes(struct agent *a);

/*
 * Open the state directory (0700) and recover the volumes its records describe
 * (agent_volumes_recover), then listen on cfg->listen, then write <driver_dir>/<driver_name>.json
 * (atomically, 0644) and log attachd.driver-server.started with the address. On failure nothing is
 * left behind.
 */
int agent_start(struct agent *a, struct errbuf *e);
/* The port the Volman API listens on (after agent_start). */
unsigned agent_port(const struct agent *a);
/* The port the metrics endpoint listens on (after agent_start; 0: off or not started). */
unsigned agent_metrics_port(const struct agent *a);
/* Path of the spec file (valid after agent_new). */
const char *agent_spec_path(const struct agent *a);

/* Remove the spec file first (so Volman stops calling), then stop the server, waiting for
 * requests in flight. Idempotent. Volumes stay attached. */
void agent_stop(struct agent *a);
/* agent_stop() and free. NULL-safe; returns NULL. */
struct agent *agent_free(struct agent *a);

/*
 * The spec file's content: {"Name":..,"Addr":"http://<host>:<port>","TLSConfig":null,
 * "UniqueVolumeIds":true}; with tls (mutual TLS on), "Addr":"https://..." and
 * "TLSConfig":{"InsecureSkipVerify":false,"CAFile":ca_file,"CertFile":client_cert_file,
 * "KeyFile":client_key_file}. host "0.0.0.0"/"::" (any) is written as the loopback address
 * Volman on this host reaches. malloc'ed; NULL on ENOMEM. Pure.
 */
char *agent_spec_json(const char *driver_name, const char *listen_host, unsigned port,
		      const struct agent_tls_config *tls);
