/* SPDX-License-Identifier: Apache-2.0 */
/* Mutual TLS for the Volman listener: loading the files and verifying client certificates. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>

#include "agent/http_internal.h"
#include "lib/macro.h"

/* Certificates and keys are a few KiB; a bigger file is the wrong file. */
#define TLS_FILE_MAX (1024 * 1024)

int agent_http_tls_supported(void)
{
	return MHD_is_feature_supported(MHD_FEATURE_TLS) == MHD_YES;
}

static void wipe_free(char *p, size_t n)
{
	if (!p)
		return;
	explicit_bzero(p, n);
	free(p);
}

struct agent_http_tls *agent_http_tls_free(struct agent_http_tls *t)
{
	if (!t)
		return NULL;
	free(t->ca_pem);
	free(t->cert_pem);
	wipe_free(t->key_pem, t->key_len);
	free(t);
	return NULL;
}

/* Read a PEM file whole. For the private key (is_key) also refuse a file others could
 * read or change, the way ssh refuses an unprotected private key. */
static int read_pem(const char *what, const char *path, int is_key, char **ret, size_t *ret_len,
		    struct errbuf *e)
{
	_cleanup_close_ int fd = -EBADF;
	struct stat st;
	char *buf;
	size_t len = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errbuf_set(e, negative_errno(), "%s: cannot open %s: %s", what, path,
				  strerror(errno));
	if (fstat(fd, &st) < 0)
		return errbuf_set(e, negative_errno(), "%s: cannot stat %s: %s", what, path,
				  strerror(errno));
	if (!S_ISREG(st.st_mode))
		return errbuf_set(e, -EINVAL, "%s: %s is not a regular file", what, path);
	if (is_key && (st.st_mode & 077))
		return errbuf_set(e, -EPERM,
				  "%s: %s has mode %04o: a private key must not be accessible by "
				  "group or others; run chmod 600 %s",
				  what, path, (unsigned)(st.st_mode & 07777), path);
	if (is_key && st.st_uid != 0 && st.st_uid != geteuid())
		return errbuf_set(e, -EPERM,
				  "%s: %s is owned by uid %u: a private key must be owned by root "
				  "(or the user attachd runs as); run chown root %s",
				  what, path, (unsigned)st.st_uid, path);
	if (st.st_size > TLS_FILE_MAX)
		return errbuf_set(e, -EFBIG, "%s: %s is larger than %d bytes", what, path,
				  TLS_FILE_MAX);
	buf = calloc(1, (size_t)st.st_size + 1);
	if (!buf)
		return errbuf_set(e, -ENOMEM, "out of memory");
	while (len < (size_t)st.st_size) {
		ssize_t k = read(fd, buf + len, (size_t)st.st_size - len);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			int r = k < 0 ? negative_errno() : -EIO;

			wipe_free(buf, (size_t)st.st_size + 1);
			return errbuf_set(e, r, "%s: cannot read %s: %s", what, path,
					  k < 0 ? strerror(-r) : "file shrank while reading");
		}
		len += (size_t)k;
	}
	if (len == 0 || strlen(buf) != len) {
		wipe_free(buf, len + 1);
		return errbuf_set(e, -EINVAL, "%s: %s is %s, not PEM text", what, path,
				  len ? "binary" : "empty");
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

static void cred_freep(gnutls_certificate_credentials_t *c)
{
	if (*c)
		gnutls_certificate_free_credentials(*c);
}

/* What libmicrohttpd does with the same PEM texts at start, done here first so that a bad
 * file gets a message naming it instead of "cannot start the HTTP server". */
static int check_material(const struct agent_http_tls *t, const char *ca_file,
			  const char *cert_file, const char *key_file, struct errbuf *e)
{
	_cleanup_(cred_freep) gnutls_certificate_credentials_t cred = NULL;
	gnutls_datum_t cert = {(unsigned char *)t->cert_pem, (unsigned)strlen(t->cert_pem)};
	gnutls_datum_t key = {(unsigned char *)t->key_pem, (unsigned)t->key_len};
	gnutls_datum_t ca = {(unsigned char *)t->ca_pem, (unsigned)strlen(t->ca_pem)};
	gnutls_priority_t prio = NULL;
	const char *bad = NULL;
	int r;

	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		return errbuf_set(e, -ENOMEM, "out of memory");
	r = gnutls_certificate_set_x509_key_mem2(cred, &cert, &key, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (r == GNUTLS_E_CERTIFICATE_KEY_MISMATCH)
		return errbuf_set(e, -EINVAL,
				  "tls: the key in tls.key_file %s does not belong to the "
				  "certificate in tls.cert_file %s",
				  key_file, cert_file);
	if (r < 0)
		return errbuf_set(e, -EINVAL,
				  "tls: cannot use tls.cert_file %s with tls.key_file %s: %s "
				  "(both must be PEM; the key unencrypted)",
				  cert_file, key_file, gnutls_strerror(r));
	r = gnutls_certificate_set_x509_trust_mem(cred, &ca, GNUTLS_X509_FMT_PEM);
	if (r <= 0)
		return errbuf_set(e, -EINVAL, "tls.ca_file: %s holds no usable PEM certificate%s%s",
				  ca_file, r < 0 ? ": " : "", r < 0 ? gnutls_strerror(r) : "");
	r = gnutls_priority_init(&prio, AGENT_HTTP_TLS_PRIORITIES, &bad);
	if (r < 0)
		return errbuf_set(e, -EINVAL, "tls: this GnuTLS rejects the priorities at '%s': %s",
				  bad ? bad : "", gnutls_strerror(r));
	gnutls_priority_deinit(prio);
	return 0;
}

int agent_http_tls_load(const char *ca_file, const char *cert_file, const char *key_file,
			struct agent_http_tls **ret, struct errbuf *e)
{
	struct agent_http_tls *t;
	size_t n;
	int r;

	if (!agent_http_tls_supported())
		return errbuf_set(e, -EOPNOTSUPP,
				  "tls: this libmicrohttpd has no TLS support (install Debian's "
				  "libmicrohttpd12, which is built with GnuTLS)");
	t = calloc(1, sizeof(*t));
	if (!t)
		return errbuf_set(e, -ENOMEM, "out of memory");
	r = read_pem("tls.ca_file", ca_file, 0, &t->ca_pem, &n, e);
	if (r >= 0)
		r = read_pem("tls.cert_file", cert_file, 0, &t->cert_pem, &n, e);
	if (r >= 0)
		r = read_pem("tls.key_file", key_file, 1, &t->key_pem, &t->key_len, e);
	if (r >= 0)
		r = check_material(t, ca_file, cert_file, key_file, e);
	if (r < 0) {
		agent_http_tls_free(t);
		return r;
	}
	*ret = t;
	return 0;
}

int agent_http_tls_peer_verified(gnutls_session_t session, char *why, size_t n)
{
	gnutls_datum_t out = {NULL, 0};
	unsigned status = 0, count = 0;
	int r;

	if (!gnutls_certificate_get_peers(session, &count) || count == 0) {
		snprintf(why, n, "no client certificate");
		return -EACCES;
	}
	r = gnutls_certificate_verify_peers2(session, &status);
	if (r < 0) {
		snprintf(why, n, "cannot verify the client certificate: %s", gnutls_strerror(r));
		return -EACCES;
	}
	if (status == 0)
		return 0;
	if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) >= 0) {
		size_t l;

		snprintf(why, n, "client certificate: %s", (const char *)out.data);
		gnutls_free(out.data);
		l = strlen(why);
		while (l > 0 && why[l - 1] == ' ')
			why[--l] = 0;
	} else
		snprintf(why, n, "client certificate not trusted (status 0x%x)", status);
	return -EACCES;
}

static void trust_freep(gnutls_x509_trust_list_t *l)
{
	if (*l)
		gnutls_x509_trust_list_deinit(*l, 1);
}

int agent_http_tls_check_client(const struct agent_http_tls *t, const char *client_cert_file,
				const char *client_key_file, struct errbuf *e)
{
	_cleanup_(cred_freep) gnutls_certificate_credentials_t cred = NULL;
	_cleanup_(trust_freep) gnutls_x509_trust_list_t trust = NULL;
	gnutls_datum_t ca = {(unsigned char *)t->ca_pem, (unsigned)strlen(t->ca_pem)};
	gnutls_x509_crt_t *crts = NULL;
	unsigned n = 0, status = 0;
	gnutls_datum_t pem = {NULL, 0};
	int r;

	r = gnutls_load_file(client_cert_file, &pem);
	if (r < 0)
		return errbuf_set(e, -ENOENT,
				  "tls.client_cert_file: cannot read %s (Volman presents it; the "
				  "BOSH pre-start copies it into the driver directory): %s",
				  client_cert_file, gnutls_strerror(r));
	r = gnutls_x509_crt_list_import2(&crts, &n, &pem, GNUTLS_X509_FMT_PEM, 0);
	gnutls_free(pem.data);
	if (r < 0 || n == 0)
		return errbuf_set(
		    e, -EINVAL, "tls.client_cert_file: %s holds no PEM certificate%s%s",
		    client_cert_file, r < 0 ? ": " : "", r < 0 ? gnutls_strerror(r) : "");
	r = gnutls_x509_trust_list_init(&trust, 0);
	if (r >= 0)
		r = gnutls_x509_trust_list_add_trust_mem(trust, &ca, NULL, GNUTLS_X509_FMT_PEM, 0,
							 0);
	if (r >= 0)
		r = gnutls_x509_trust_list_verify_crt(trust, crts, n, 0, &status, NULL);
	for (unsigned i = 0; i < n; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
	if (r < 0)
		return errbuf_set(e, -EINVAL, "tls.client_cert_file: cannot verify %s: %s",
				  client_cert_file, gnutls_strerror(r));
	if (status) {
		gnutls_datum_t out = {NULL, 0};
		char why[256] = "";
		/* Only out of date: it used to work, and certificates expire in running
		 * deployments. Not worth refusing to start over (the admin API and drain must
		 * keep working), but worth saying loudly. */
		int dated = !(status & ~(unsigned)(GNUTLS_CERT_INVALID | GNUTLS_CERT_EXPIRED |
						   GNUTLS_CERT_NOT_ACTIVATED));

		if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out,
								 0) >= 0) {
			snprintf(why, sizeof(why), "%s", (const char *)out.data);
			gnutls_free(out.data);
		}
		errbuf_set(e, -EINVAL,
			   "tls.client_cert_file: %s would be refused: it does not verify against "
			   "tls.ca_file (%s)",
			   client_cert_file, why);
		if (!dated)
			return -EINVAL;
		r = 1;
	}
	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		return errbuf_set(e, -ENOMEM, "out of memory");
	r = gnutls_certificate_set_x509_key_file2(cred, client_cert_file, client_key_file,
						  GNUTLS_X509_FMT_PEM, NULL, 0);
	if (r == GNUTLS_E_CERTIFICATE_KEY_MISMATCH)
		return errbuf_set(e, -EINVAL,
				  "tls: the key in tls.client_key_file %s does not belong to the "
				  "certificate in tls.client_cert_file %s",
				  client_key_file, client_cert_file);
	if (r < 0)
		return errbuf_set(
		    e, -EINVAL,
		    "tls: cannot use tls.client_key_file %s with tls.client_cert_file "
		    "%s: %s (both must be PEM; the key unencrypted)",
		    client_key_file, client_cert_file, gnutls_strerror(r));
	return status ? 1 : 0;
}
