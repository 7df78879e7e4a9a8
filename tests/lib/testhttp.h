/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A raw-socket HTTP/1.1 client for tests that behaves like Volman's Go client: POST with
 * only Host, User-Agent, Content-Length and Accept-Encoding (no Content-Type, no Accept),
 * zero-length bodies for Activate and List, keep-alive connections reused across calls.
 * Also sends arbitrary raw bytes, for malformed-request tests.
 */
#pragma once

#include <jansson.h>
#include <stddef.h>

struct testhttp_response {
	int status;
	char content_type[128];
	int has_content_length;
	int conn_close; /* server said Connection: close */
	char *body;	/* NUL-terminated, malloc'ed */
	size_t len;
};

struct testhttp_conn;

/* Connect to 127.0.0.1:port (receive timeout 60 s so a hung server fails the test).
 * 0 or a negative errno. */
int testhttp_connect(unsigned port, struct testhttp_conn **ret);
void testhttp_close(struct testhttp_conn *c);

/* POST path with body (len bytes; NULL/0 = empty, Content-Length: 0) exactly as Volman
 * sends it, and read the response. 0 or a negative errno. */
int testhttp_post(struct testhttp_conn *c, const char *path, const char *body, size_t len,
		  struct testhttp_response *ret);
/* Send raw bytes as the request and read one response. */
int testhttp_raw(struct testhttp_conn *c, const char *req, size_t len,
		 struct testhttp_response *ret);
void testhttp_response_done(struct testhttp_response *r);

/* One call on a fresh connection: POST, check 200 + application/json, parse the body as a
 * JSON object. NULL on any failure (printed to stderr). body NULL = empty. */
json_t *testhttp_call(unsigned port, const char *path, const char *body);
/* Same on an existing connection. */
json_t *testhttp_call_on(struct testhttp_conn *c, const char *path, const char *body);
