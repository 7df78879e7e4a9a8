/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libcurl, loaded on first use. Only the scaleio gateway client speaks HTTP to the outside,
 * and libcurl brings ~20 libraries with it (OpenSSL, krb5, LDAP, nghttp2, libssh2, ...):
 * ~3 MiB of mapped pages in the RSS of every agent, most of which never see a PowerFlex
 * gateway. So attachd does not link it; the first gateway operation dlopen()s it, and a
 * host without it gets an error naming the library instead of an agent that cannot start.
 * curl/curl.h is used for the types and constants only.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>

#include "internal.h"

const struct be_sio_curl *be_sio_curl;

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static struct be_sio_curl api;

static const struct {
	const char *name;
	size_t off;
} syms[] = {
#define SYM(f) {"curl_" #f, offsetof(struct be_sio_curl, f)}
    SYM(global_init),	  SYM(easy_init),    SYM(easy_cleanup),	   SYM(easy_reset),
    SYM(easy_setopt),	  SYM(easy_perform), SYM(easy_getinfo),	   SYM(easy_strerror),
    SYM(slist_append), SYM(slist_free_all),
#undef SYM
};

int be_sio_curl_load_from(const char *soname, struct be_sio_curl *ret, struct errbuf *e)
{
	struct be_sio_curl c = {0};
	const char *err;
	void *h;

	(void)dlerror();
	/* RTLD_LOCAL: nothing else in the process resolves against it by accident. Never
	 * dlclose()d: OpenSSL and friends do not unload cleanly. */
	h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		err = dlerror();
		return errbuf_set(e, -ELIBACC,
				  "scaleio backend: cannot load %s, the HTTP client the PowerFlex "
				  "gateway is reached with (%s): install libcurl (Debian/Ubuntu: "
				  "apt-get install libcurl4)",
				  soname, err ? err : "not found");
	}
	for (size_t i = 0; i < ELEMENTSOF(syms); i++) {
		void *f = dlsym(h, syms[i].name);

		if (!f)
			return errbuf_set(e, -ELIBBAD,
					  "scaleio backend: %s has no %s: install libcurl 7.85 "
					  "or later",
					  soname, syms[i].name);
		*(void **)((char *)&c + syms[i].off) = f;
	}
	*ret = c;
	return 0;
}

int be_sio_curl_load(struct errbuf *e)
{
	int r = 0;

	pthread_mutex_lock(&load_lock);
	if (!be_sio_curl) {
		/* Not cached on failure: installing libcurl fixes a running agent. */
		r = be_sio_curl_load_from(BE_SIO_CURL_SONAME, &api, e);
		if (r >= 0) {
			/* Before any handle, once per process, while no other thread uses
			 * libcurl (not thread-safe in older libcurl). */
			if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
				r = errbuf_set(e, -EIO,
					       "scaleio backend: libcurl failed to initialise");
			else
				be_sio_curl = &api;
		}
	}
	pthread_mutex_unlock(&load_lock);
	return r;
}
