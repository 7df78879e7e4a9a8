/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PowerFlex gateway client (libcurl, blocking, one easy handle per operation).
 *
 * Tokens: GET /api/login with Basic user:password answers a JSON string, the token; every
 * later call sends Basic user:token (3.x) or Bearer token (API version >= 4). Tokens expire
 * (8 h, or 10 min idle) and die with a gateway restart, so a 401 means "log in again once
 * and retry" (what goscaleio and os-brick do). Tokens are cached process-wide per
 * gateway+user so volumes do not log in for every call.
 *
 * Every operation has one deadline (ctx->timeout_ms): each request gets what is left of it
 * as libcurl's connect and total timeout, so a dead or slow gateway fails in bounded time.
 * The password is handed to libcurl for the login only and never formatted into a message.
 * libcurl is called through be_sio_curl (curlso.c: loaded at the first operation).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "lib/macro.h"

#define BODY_MAX (4u << 20)
#define CACHE_SLOTS 4

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Every exchange with a gateway (logins included), for the agent's metrics. */
static struct backend_request_stats gw_stats;

void be_sio_request_stats(struct backend_request_stats *ret)
{
	backend_request_read(&gw_stats, ret);
}

/* ---- process-wide token cache ---- */

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char key[1024 + 256 + 2]; /* gateway \n username */
	char token[512];
	char version[16];
	int bearer;
} cache[CACHE_SLOTS];
static unsigned cache_next;

static void cache_key(const struct backend_scaleio_host *h, char *buf, size_t n)
{
	snprintf(buf, n, "%s\n%s", h->gateway, h->username);
}

static void cache_get(struct be_sio_client *c)
{
	char key[sizeof(cache[0].key)];

	cache_key(c->host, key, sizeof(key));
	pthread_mutex_lock(&cache_lock);
	for (unsigned i = 0; i < CACHE_SLOTS; i++)
		if (cache[i].token[0] && streq(cache[i].key, key)) {
			memcpy(c->token, cache[i].token, sizeof(c->token));
			memcpy(c->version, cache[i].version, sizeof(c->version));
			c->bearer = cache[i].bearer;
			break;
		}
	pthread_mutex_unlock(&cache_lock);
}

static void cache_put(const struct be_sio_client *c)
{
	char key[sizeof(cache[0].key)];
	unsigned slot = CACHE_SLOTS;

	cache_key(c->host, key, sizeof(key));
	pthread_mutex_lock(&cache_lock);
	for (unsigned i = 0; i < CACHE_SLOTS; i++)
		if (streq(cache[i].key, key))
			slot = i;
	if (slot == CACHE_SLOTS)
		slot = cache_next++ % CACHE_SLOTS;
	memcpy(cache[slot].key, key, sizeof(key));
	memcpy(cache[slot].token, c->token, sizeof(c->token));
	memcpy(cache[slot].version, c->version, sizeof(c->version));
	cache[slot].bearer = c->bearer;
	pthread_mutex_unlock(&cache_lock);
}

void be_sio_token_cache_clear(void)
{
	pthread_mutex_lock(&cache_lock);
	explicit_bzero(cache, sizeof(cache));
	pthread_mutex_unlock(&cache_lock);
}

/* ---- transport ---- */

int be_sio_client_init(struct be_sio_client *c, const struct backend_scaleio_host *host,
		       int timeout_ms, struct errbuf *e)
{
	int r;

	memset(c, 0, sizeof(*c));
	if (!host || !host->gateway[0])
		return errbuf_set(e, -EINVAL,
				  "scaleio backend: no PowerFlex gateway configured (agent config "
				  "\"scaleio\": gateway, username, password_file)");
	if (!host->username[0] || !host->password[0])
		return errbuf_set(
		    e, -EINVAL,
		    "scaleio backend: the gateway username or password is not configured");
	r = be_sio_curl_load(e);
	if (r < 0)
		return r;
	c->host = host;
	c->deadline_ms = now_ms() + (timeout_ms > 0 ? timeout_ms : 30000);
	c->curl = be_sio_curl->easy_init();
	if (!c->curl)
		return errbuf_set(e, -ENOMEM, "scaleio backend: cannot create a libcurl handle");
	return 0;
}

void be_sio_client_done(struct be_sio_client *c)
{
	if (c->curl)
		be_sio_curl->easy_cleanup(c->curl);
	c->curl = NULL;
	explicit_bzero(c->token, sizeof(c->token));
}

struct sink {
	char *buf;
	size_t len;
	int overflow;
};

static size_t sink_write(char *data, size_t size, size_t nmemb, void *ud)
{
	struct sink *s = ud;
	size_t k = size * nmemb;
	char *nb;

	if (s->len + k > BODY_MAX) {
		s->overflow = 1;
		return 0;
	}
	nb = realloc(s->buf, s->len + k + 1);
	if (!nb)
		return 0;
	s->buf = nb;
	memcpy(s->buf + s->len, data, k);
	s->len += k;
	s->buf[s->len] = 0;
	return k;
}

static int curl_errno(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		return -EPROTO;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EINVAL;
	default:
		return -EIO;
	}
}

enum auth_kind { AUTH_PASSWORD, AUTH_TOKEN };

/* One HTTP exchange. Returns the status or a negative errno (e filled). */
static int perform(struct be_sio_client *c, const char *method, const char *path, const char *body,
		   enum auth_kind auth, char **ret_body, struct errbuf *e)
{
	const struct be_sio_curl *cu = be_sio_curl;
	const struct backend_scaleio_host *h = c->host;
	CURL *curl = c->curl;
	struct curl_slist *hdrs = NULL;
	struct sink sink = {0};
	char url[2048], accept[96], ctype[96], bearer[600], cerr[CURL_ERROR_SIZE] = "";
	int64_t left = c->deadline_ms - now_ms();
	long status = 0;
	int64_t started;
	CURLcode cc;
	int r;

	if (left <= 0)
		return errbuf_set(e, -ETIMEDOUT, "PowerFlex gateway %s: out of time before %s %s",
				  h->gateway, method, path);
	r = be_sio_url(h->gateway, path, url, sizeof(url));
	if (r < 0)
		return errbuf_set(e, r, "PowerFlex gateway URL too long");
	cu->easy_reset(curl);
	cu->easy_setopt(curl, CURLOPT_URL, url);
	cu->easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	cu->easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	cu->easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)left);
	cu->easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)left);
	cu->easy_setopt(curl, CURLOPT_ERRORBUFFER, cerr);
	cu->easy_setopt(curl, CURLOPT_WRITEFUNCTION, sink_write);
	cu->easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
	if (h->insecure_skip_verify) {
		cu->easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
		cu->easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
	} else {
		cu->easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
		cu->easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
		if (h->ca_file[0])
			cu->easy_setopt(curl, CURLOPT_CAINFO, h->ca_file);
	}
	snprintf(accept, sizeof(accept), "Accept: application/json%s%s",
		 c->version[0] ? ";version=" : "", c->version);
	snprintf(ctype, sizeof(ctype), "Content-Type: application/json%s%s",
		 c->version[0] ? ";version=" : "", c->version);
	hdrs = cu->slist_append(hdrs, accept);
	if (auth == AUTH_PASSWORD) {
		cu->easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		cu->easy_setopt(curl, CURLOPT_USERNAME, h->username);
		cu->easy_setopt(curl, CURLOPT_PASSWORD, h->password);
	} else if (c->bearer) {
		snprintf(bearer, sizeof(bearer), "Authorization: Bearer %s", c->token);
		hdrs = cu->slist_append(hdrs, bearer);
	} else {
		cu->easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		cu->easy_setopt(curl, CURLOPT_USERNAME, h->username);
		cu->easy_setopt(curl, CURLOPT_PASSWORD, c->token);
	}
	if (streq(method, "POST")) {
		hdrs = cu->slist_append(hdrs, ctype);
		cu->easy_setopt(curl, CURLOPT_POST, 1L);
		cu->easy_setopt(curl, CURLOPT_COPYPOSTFIELDS, body ? body : "{}");
	} else
		cu->easy_setopt(curl, CURLOPT_HTTPGET, 1L);
	cu->easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
	started = now_usec();
	cc = cu->easy_perform(curl);
	cu->easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	backend_request_record(&gw_stats, now_usec() - started,
			       cc == CURLE_OK ? (int)status : curl_errno(cc));
	/* Drop credentials from the handle before anything else can look at it. */
	cu->easy_setopt(curl, CURLOPT_PASSWORD, "");
	cu->easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
	cu->slist_free_all(hdrs);
	explicit_bzero(bearer, sizeof(bearer));
	if (cc != CURLE_OK) {
		int64_t budget = c->deadline_ms - now_ms() + left;

		free(sink.buf);
		r = curl_errno(cc);
		if (sink.overflow)
			return errbuf_set(e, -EBADMSG,
					  "PowerFlex gateway %s: answer to %s %s larger "
					  "than %u bytes",
					  h->gateway, method, path, BODY_MAX);
		if (r == -ETIMEDOUT)
			return errbuf_set(e, r,
					  "PowerFlex gateway %s did not answer %s %s in time "
					  "(%lld ms budget for this step): %s",
					  h->gateway, method, path, (long long)budget,
					  cerr[0] ? cerr : cu->easy_strerror(cc));
		if (r == -EPROTO)
			return errbuf_set(e, r,
					  "TLS with PowerFlex gateway %s failed: %s (set "
					  "scaleio.ca_file to the CA that signed its certificate)",
					  h->gateway, cerr[0] ? cerr : cu->easy_strerror(cc));
		return errbuf_set(e, r, "PowerFlex gateway %s unreachable: %s", h->gateway,
				  cerr[0] ? cerr : cu->easy_strerror(cc));
	}
	*ret_body = sink.buf ? sink.buf : strdup("");
	if (!*ret_body)
		return errbuf_set(e, -ENOMEM, "out of memory");
	return (int)status;
}

static int login(struct be_sio_client *c, struct errbuf *e)
{
	_cleanup_free_ char *body = NULL, *vbody = NULL;
	char v[32];
	int st;

	c->token[0] = 0;
	c->version[0] = 0;
	c->bearer = 0;
	st = perform(c, "GET", "/api/login", NULL, AUTH_PASSWORD, &body, e);
	if (st < 0)
		return errbuf_prefix(e, st, "login");
	c->logins++;
	if (st == 401 || st == 403)
		return errbuf_set(
		    e, -EACCES,
		    "PowerFlex gateway %s refused the login of user '%s' (HTTP %d): "
		    "check scaleio.username and the password in scaleio.password_file",
		    c->host->gateway, c->host->username, st);
	if (st != 200)
		return errbuf_set(e, -EIO, "PowerFlex gateway %s: login answered HTTP %d",
				  c->host->gateway, st);
	if (be_sio_json_string_body(body, c->token, sizeof(c->token)) < 0)
		return errbuf_set(e, -EBADMSG, "PowerFlex gateway %s: login answer is not a token",
				  c->host->gateway);
	/* The version header is optional (plain application/json works): a gateway that
	 * cannot say its version is still used. */
	st = perform(c, "GET", "/api/version", NULL, AUTH_TOKEN, &vbody, e);
	if (st == 401) {
		/* A 4.x gateway that wants Bearer even here. */
		free(vbody);
		vbody = NULL;
		c->bearer = 1;
		st = perform(c, "GET", "/api/version", NULL, AUTH_TOKEN, &vbody, e);
		if (st != 200)
			c->bearer = 0;
	}
	if (st == 200 && be_sio_json_string_body(vbody, v, sizeof(v)) == 0)
		(void)be_sio_version_parse(v, c->version, sizeof(c->version), &c->bearer);
	else if (st < 0 && (st == -ETIMEDOUT || st == -ECONNREFUSED))
		return errbuf_prefix(e, st, "login");
	errbuf_clear(e);
	cache_put(c);
	return 0;
}

int be_sio_call(struct be_sio_client *c, const char *method, const char *path, const char *body,
		char **ret_body, struct errbuf *e)
{
	char *out = NULL;
	int fresh = 0, st, r;

	if (!c->token[0])
		cache_get(c);
	if (!c->token[0]) {
		r = login(c, e);
		if (r < 0)
			return r;
		fresh = 1;
	}
	for (;;) {
		st = perform(c, method, path, body, AUTH_TOKEN, &out, e);
		if (st < 0)
			return st;
		if (st != 401 || fresh)
			break;
		/* Token expired, idle too long, or the gateway restarted: once more. */
		free(out);
		out = NULL;
		r = login(c, e);
		if (r < 0)
			return r;
		fresh = 1;
	}
	if (st == 401) {
		free(out);
		return errbuf_set(e, -EACCES,
				  "PowerFlex gateway %s refused a fresh token for %s %s",
				  c->host->gateway, method, path);
	}
	*ret_body = out;
	return st;
}

int be_sio_call_json(struct be_sio_client *c, const char *method, const char *path,
		     const char *body, json_t **ret, long *ret_code, struct errbuf *e)
{
	_cleanup_free_ char *out = NULL;
	struct be_sio_gwerr g;
	json_t *j;
	int st;

	if (ret_code)
		*ret_code = -1;
	st = be_sio_call(c, method, path, body, &out, e);
	if (st < 0)
		return st;
	if (st != 200) {
		be_sio_gwerr_parse(out, &g);
		if (ret_code)
			*ret_code = g.code;
		if (g.message[0])
			return errbuf_set(e, -EIO, "%s %s: gateway error %ld: %s", method, path,
					  g.code, g.message);
		return errbuf_set(e, -EIO, "%s %s: gateway answered HTTP %d", method, path, st);
	}
	if (!ret)
		return 0;
	j = out[0] ? json_loads(out, JSON_DECODE_ANY, NULL) : json_null();
	if (!j)
		return errbuf_set(e, -EBADMSG, "%s %s: gateway answer is not JSON", method, path);
	*ret = j;
	return 0;
}
