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
struct MHD_Connection;

/* tls.c: the PEM texts libmicrohttpd serves HTTPS with (ca_pem NULL: no client
 * certificates asked for). */
struct broker_tls {
	char *cert_pem;
	char *key_pem;
	char *ca_pem;
};
/* TLS 1.2 and 1.3, AEAD ciphers with ECDHE (what Cloud Controller's client offers). */
#define BROKER_TLS_PRIORITIES                                                                      \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"        \
	"+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-RSA:+ECDHE-ECDSA"
/* Read and check the files (key mode, key/cert match, CA parses); ca_file may be "" or
 * NULL. e names the file and what to do. */
int broker_tls_load(const char *ca_file, const char *cert_file, const char *key_file,
		    struct broker_tls **ret, struct errbuf *e);
struct broker_tls *broker_tls_free(struct broker_tls *t);
/* For a new connection: with a CA, require a client certificate signed by it. */
void broker_tls_on_connection(const struct broker_tls *t, struct MHD_Connection *c);

/* "host:port" (port 0: any free one) -> ret; -EINVAL with e naming the problem. */
int broker_http_listen_parse(const char *listen_on, struct hostport *ret, struct errbuf *e);

/* Listen on listen ("host:port"; port 0 picks one) and serve b until broker_http_stop,
 * over HTTPS when tls is non-NULL (borrowed; it must outlive the server). *ret_port gets
 * the port listened on. */
int broker_http_start(struct broker *b, const char *listen, const struct broker_tls *tls,
		      struct broker_http **ret, unsigned *ret_port, struct errbuf *e);
void broker_http_stop(struct broker_http *h);
