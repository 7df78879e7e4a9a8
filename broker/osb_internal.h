/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared between osb.c (the requests) and async.c (asynchronous operations, their worker
 * threads and the recovery of what a stopped broker left).
 */
#pragma once

#include "broker/osb.h"

/* An instance's last asynchronous operation, as stored in its row (db.h: op). */
struct broker_op {
	char id[64];
	char kind[16];	/* "provision", "update", "deprovision" */
	char state[16]; /* "in progress", "succeeded", "failed" */
	char description[512];
	uint64_t size;			 /* update: the size asked for */
	char plan_id[BROKER_ID_MAX + 1]; /* update: the plan asked for */
};

/* Parse a stored op ("" -> -ENOENT, malformed -> -EINVAL). */
int broker_op_parse(const char *s, struct broker_op *ret);
/* Store o into inst->op (the description is cut to fit). */
void broker_op_store(struct broker_instance *inst, const struct broker_op *o);
/* A new operation "in progress" with a fresh id ("<kind>-<16 hex>"). */
void broker_op_begin(struct broker_instance *inst, const char *kind, uint64_t size,
		     const char *plan_id, const char *desc);
/* Mark inst's operation state ("succeeded"/"failed") with a description. */
void _printf_(3, 4)
    broker_op_finish(struct broker_instance *inst, const char *state, const char *fmt, ...);
/* Run osb_operation_run(b, id) in a detached worker thread (inline if none can be made). */
void broker_job_start(struct broker *b, const char *id);
/* Create the instance's volume, or find the one an earlier attempt created by its name;
 * inst->backend_ref gets its id. */
int broker_sio_create_or_find(const struct broker_config *c, const struct broker_plan *p,
			      struct broker_instance *inst, struct errbuf *e);
