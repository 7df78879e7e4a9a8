/* SPDX-License-Identifier: Apache-2.0 */
/* The real pipeline behind the agent's ops table. In its own file so that test binaries,
 * which pass fakes, do not pull the pipeline (and its kernel libraries) in. */
#include "agent/volumes.h"

const struct agent_driver_ops agent_driver_ops_real = {
    .up = attach_volume_up,
    .down = attach_volume_down,
    .bind = attach_bind,
    .unbind = attach_unbind,
    .rollback = attach_volume_rollback,
    .check = attach_env_check,
    .expand = attach_volume_expand,
};
