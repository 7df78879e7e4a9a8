/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTPS for the broker: Cloud Controller talks to service brokers over TLS. Loading and
 * checking the PEM files is a minimal copy of agent/http_tls.c (broker/ never includes
 * agent/; the two are to be merged into lib/ later): the key must not be readable by
 * group or others, the key must match the certificate, and with a CA file the client must
 * present a certificate signed by it (checked inside the handshake).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include "broker/http.h"
#include "lib/fileio.h"
#include "lib/macro.h"

#define TLS_FILE_MAX (1024 * 1024)

struct broker_tls *broker_tls_free(struct broker_tls *t)
{
	if (!t)
		return NULL;
	free(t->ca_pem);
	free(t->cert_pem);
	if (t->key_pem) {
		explicit_bzero(t->key_pem, strlen(t->key_pem));
		free(t->key_pem);
	}
	free(t);
	return NULL;
}

static int read_pem(const char *what, const char *path, int is_key, char **ret, struct errbuf *e)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int r;

	if (stat(path, &st) < 0)
		return errbuf_set(e, -errno, "%s: cannot read %s: %s", what, path, strerror(errno));
	if (is_key && (st.st_mode & 077))
		return errbuf_set(e, -EPERM,
				  "%s: %s has mode %04o: a private key must not be accessible by "
				  "group or others; run chmod 600 %s",
				  what, path, (unsigned)(st.st_mode & 07777), path);
	r = read_full_file(path, &buf, &len, TLS_FILE_MAX);
	if (r < 0)
		return errbuf_set(e, r, "%s: cannot read %s: %s", what, path, strerror(-r));
	if (len == 0 || strlen(buf) != len || !strstr(buf, "-----BEGIN ")) {
		explicit_bzero(buf, len);
		free(buf);
		return errbuf_set(e, -EINVAL, "%s: %s is not a PEM file", what, path);
	}
	*ret = buf;
	return 0;
}

int broker_tls_load(const char *ca_file, const char *cert_file, const char *key_file,
		    struct broker_tls **ret, struct errbuf *e)
{
	gnutls_certificate_credentials_t cred = NULL;
	struct broker_tls *t;
	int r;

	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return errbuf_set(e, -EOPNOTSUPP,
				  "tls: this libmicrohttpd has no TLS support (install Debian's "
				  "libmicrohttpd12, which is built with GnuTLS)");
	t = calloc(1, sizeof(*t));
	if (!t)
		return errbuf_set(e, -ENOMEM, "out of memory");
	r = read_pem("tls.cert_file", cert_file, 0, &t->cert_pem, e);
	if (r >= 0)
		r = read_pem("tls.key_file", key_file, 1, &t->key_pem, e);
	if (r >= 0 && ca_file && ca_file[0])
		r = read_pem("tls.ca_file", ca_file, 0, &t->ca_pem, e);
	if (r >= 0 && gnutls_certificate_allocate_credentials(&cred) < 0)
		r = errbuf_set(e, -ENOMEM, "out of memory");
	if (r >= 0) {
		gnutls_datum_t cert = {(unsigned char *)t->cert_pem, (unsigned)strlen(t->cert_pem)};
		gnutls_datum_t key = {(unsigned char *)t->key_pem, (unsigned)strlen(t->key_pem)};
		int k = gnutls_certificate_set_x509_key_mem2(cred, &cert, &key, GNUTLS_X509_FMT_PEM,
							     NULL, 0);

		if (k == GNUTLS_E_CERTIFICATE_KEY_MISMATCH)
			r = errbuf_set(e, -EINVAL,
				       "tls: the key in tls.key_file %s does not belong to the "
				       "certificate in tls.cert_file %s",
				       key_file, cert_file);
		else if (k < 0)
			r = errbuf_set(e, -EINVAL,
				       "tls: cannot use tls.cert_file %s with tls.key_file %s: %s "
				       "(both must be PEM; the key unencrypted)",
				       cert_file, key_file, gnutls_strerror(k));
		if (r >= 0 && t->ca_pem) {
			gnutls_datum_t ca = {(unsigned char *)t->ca_pem,
					     (unsigned)strlen(t->ca_pem)};

			k = gnutls_certificate_set_x509_trust_mem(cred, &ca, GNUTLS_X509_FMT_PEM);
			if (k <= 0)
				r = errbuf_set(e, -EINVAL,
					       "tls.ca_file: %s holds no usable PEM certificate",
					       ca_file);
		}
	}
	if (cred)
		gnutls_certificate_free_credentials(cred);
	if (r < 0) {
		broker_tls_free(t);
		return r;
	}
	*ret = t;
	return 0;
}

/* Inside the handshake: a client without a certificate signed by ca_file gets no
 * connection (libmicrohttpd with a trust list only asks for one). */
static int verify_client(gnutls_session_t session)
{
	unsigned status = 0, count = 0;

	if (!gnutls_certificate_get_peers(session, &count) || count == 0)
		return GNUTLS_E_CERTIFICATE_ERROR;
	if (gnutls_certificate_verify_peers2(session, &status) < 0 || status != 0)
		return GNUTLS_E_CERTIFICATE_ERROR;
	return 0;
}

void broker_tls_on_connection(const struct broker_tls *t, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci;

	if (!t || !t->ca_pem)
		return;
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci && ci->tls_session) {
		gnutls_certificate_server_set_request(ci->tls_session, GNUTLS_CERT_REQUIRE);
		gnutls_session_set_verify_function(ci->tls_session, verify_client);
	}
}
