/* SPDX-License-Identifier: Apache-2.0 */
/* agent/http.c and agent/http_tls.c only. */
#pragma once

#include <gnutls/gnutls.h>
#include <stddef.h>

#include "agent/http.h"

/* TLS 1.2 and 1.3 only, AEAD ciphers with ECDHE: what Volman's client offers
 * (tlsconfig.WithInternalServiceDefaults: TLS 1.2+, ECDHE-RSA-AES-GCM for 1.2). */
#define AGENT_HTTP_TLS_PRIORITIES                                                                  \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"        \
	"+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-RSA:+ECDHE-ECDSA"

/* PEM texts, NUL-terminated, as libmicrohttpd takes them. */
struct agent_http_tls {
	char *ca_pem;
	char *cert_pem;
	char *key_pem;
	size_t key_len;
};

/* After the handshake: 0 if the peer presented a certificate that verifies against the
 * trusted CAs now, else -EACCES with why (a sentence). */
int agent_http_tls_peer_verified(gnutls_session_t session, char *why, size_t n);
