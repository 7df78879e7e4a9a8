/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The broker's HTTP server (libmicrohttpd, a thread per connection: operations block on
 * the gateway and the database). Before a request reaches osb_handle it must carry the
 * broker's basic-auth credentials (401) and X-Broker-API-Version 2.13 or later (412).
 * Every request is logged with the X-Broker-API-Originating-Identity (platform and the
 * decoded value) and X-Broker-API-Request-Identity headers.
 */
#pragma once

#include "broker/osb.h"
#include "lib/err.h"
#include "lib/hostport.h"

struct broker_http;

/* "host:port" (port 0: any free one) -> ret; -EINVAL with e naming the problem. */
int broker_http_listen_parse(const char *listen_on, struct hostport *ret, struct errbuf *e);

/* Listen on listen ("host:port"; port 0 picks one) and serve b until broker_http_stop.
 * *ret_port gets the port listened on. */
int broker_http_start(struct broker *b, const char *listen, struct broker_http **ret,
		      unsigned *ret_port, struct errbuf *e);
void broker_http_stop(struct broker_http *h);
