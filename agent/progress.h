/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Live progress of the operations in flight (attachctl ls and attachctl watch).
 *
 * The pipeline reports each step's start and end through env->progress (attach/attach.h);
 * the agent brackets each operation (attach, detach, bind, unbind, rollback) with
 * agent_progress_op_begin/_end. The hub keeps, per volume with an operation in flight, the
 * operation, its start, the step running and since when, and the steps done, in memory
 * only; and it broadcasts every change to watchers as JSON lines:
 *
 *   {"event":"in-flight","volume","op","op_ms","step","step_ms","steps":[...]}  (on watch)
 *   {"event":"watching","volume":K|null,"in_flight":N}                          (on watch)
 *   {"event":"begin","volume","op"}
 *   {"event":"step-start","volume","op","step"}
 *   {"event":"step","volume","op","step","ms","result":"ok"|"<errno name>"}
 *   {"event":"end","volume","op","ms","result":"ok"|"<errno name>","error"?|"note"?,
 *    "in_flight":N}
 *   {"event":"overflow","lost":N}   (a watcher that did not read; its stream then ends)
 *
 * in_flight counts the operations in flight that the watcher follows (its volume, or all)
 * once this one ended. "step" in in-flight is null between steps. Durations are ms
 * (doubles); clocks are CLOCK_MONOTONIC.
 *
 * Thread-safety: every function may be called from any thread; one short lock guards the
 * hub, never held across a write to a socket (watchers drain their own queue). Nothing here
 * blocks.
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "attach/attach.h"

#define AGENT_PROGRESS_QUEUE_MAX 1024 /* lines queued for one watcher before it overflows */

struct agent_progress;
struct agent_progress_watcher;

/* NULL on ENOMEM. now_ms: test seam (NULL: CLOCK_MONOTONIC). */
struct agent_progress *agent_progress_new(int64_t (*now_ms)(void));
/* No watcher may be left. NULL-safe; NULL. */
struct agent_progress *agent_progress_free(struct agent_progress *p);

/* Every function below is a no-op on a NULL hub. */
/* An operation on volume key begins: op is "mount", "attach", "detach", ... One begun while
 * another is in flight for key is part of it (a Mount's attach and bind): it reports no
 * begin or end of its own, its steps are the outer operation's. */
void agent_progress_op_begin(struct agent_progress *p, const char *key, const char *op);
/* It ended: result 0 or a negative errno; error (may be NULL or "") says why. A step still
 * running is reported ended with the operation's result. No-op when none is in flight. */
void agent_progress_op_end(struct agent_progress *p, const char *key, int result,
			   const char *error);
/* A step of key began (t NULL) or ended (t its timing). A step without an operation in
 * flight opens one named after the step, which its end closes. */
void agent_progress_step(struct agent_progress *p, const char *key, enum attach_step step,
			 const struct attach_timing *t);
/* The env->progress hook: env->progress_userdata is the hub. */
void agent_progress_hook(struct attach_env *env, const struct attach_volume *v,
			 enum attach_step step, const struct attach_timing *t);

/* key's operation in flight as {"op","op_ms","step","step_ms","steps":[{"step","ms",
 * "result"}]} ("step" null between steps), or NULL when none (or ENOMEM). */
json_t *agent_progress_get(struct agent_progress *p, const char *key);

/* Follow key's operations (NULL: every volume's). The watcher's queue starts with an
 * in-flight line per operation running now and a watching line. 0, or -ENOMEM / -EMFILE. */
int agent_progress_watch(struct agent_progress *p, const char *key,
			 struct agent_progress_watcher **ret);
/* Stop following and free w. NULL-safe. */
void agent_progress_unwatch(struct agent_progress *p, struct agent_progress_watcher *w);
/* The next queued line (malloc'ed JSON text, no newline) or NULL when the queue is empty.
 * *ret_last is set to 1 with the overflow line: the caller ends the stream after it. */
char *agent_progress_watcher_next(struct agent_progress *p, struct agent_progress_watcher *w,
				  int *ret_last);
/* A file descriptor that is readable while lines are queued (poll it; reading it is done
 * by agent_progress_watcher_next). */
int agent_progress_watcher_fd(const struct agent_progress_watcher *w);
