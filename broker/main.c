/* SPDX-License-Identifier: Apache-2.0 */
/*
 * attachd-broker [--listen HOST:PORT] --config FILE        serve the OSB API
 * attachd-broker --check-config FILE                        validate, exit 0/2
 * attachd-broker pool list --config FILE                    pool items and their state
 * attachd-broker pool clean KEY --config FILE               released -> free
 * Exit codes: 0 done, 1 failed at run time, 2 bad usage or config.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "broker/db.h"
#include "broker/http.h"
#include "broker/log.h"
#include "broker/osb.h"
#include "lib/macro.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: attachd-broker [--listen HOST:PORT] --config FILE\n"
		   "       attachd-broker --check-config FILE\n"
		   "       attachd-broker pool list --config FILE\n"
		   "       attachd-broker pool clean KEY --config FILE\n");
}

/* errlist entries one per line on stderr. */
static int config_report(const char *file, const struct errlist *el)
{
	const char *p = el->msg;

	while (*p) {
		const char *end = strstr(p, "; ");
		size_t len = end ? (size_t)(end - p) : strlen(p);

		fprintf(stderr, "config %s: %.*s\n", file, (int)len, p);
		p += len;
		if (end)
			p += 2;
	}
	fprintf(stderr, "config %s: invalid (%u problem%s)\n", file, el->n, el->n == 1 ? "" : "s");
	return 2;
}

static int open_db(struct broker *b, struct errbuf *e)
{
	b->dbo = broker_db_find(b->cfg->database);
	if (!b->dbo)
		return errbuf_set(e, -EINVAL, "database %s: unsupported", b->cfg->database);
	return b->dbo->open(b->cfg->database,
			    b->cfg->database_password[0] ? b->cfg->database_password : NULL, &b->db,
			    e);
}

static int sync_pools(struct broker *b, struct errbuf *e)
{
	for (size_t i = 0; i < b->cfg->n_plans; i++)
		if (broker_backend_is_pool(b->cfg->plans[i].backend)) {
			int r = b->dbo->pool_sync(b->db, &b->cfg->plans[i], e);

			if (r < 0)
				return r;
		}
	return 0;
}

static int print_item(const struct broker_pool_item *it, void *ud)
{
	const struct broker_config *c = ud;
	const struct broker_plan *p = broker_config_plan(c, it->plan_id);

	printf("%-40s %-24s %-9s %s\n", it->key, p ? p->name : it->plan_id, it->state,
	       it->instance_id);
	return 0;
}

static int pool_cmd(struct broker *b, int argc, char **argv)
{
	struct errbuf e = {{0}};
	int r;

	if (argc < 1 || (!streq(argv[0], "list") && !streq(argv[0], "clean")) ||
	    (streq(argv[0], "clean") && argc != 2) || (streq(argv[0], "list") && argc != 1)) {
		usage(stderr);
		return 2;
	}
	r = open_db(b, &e);
	if (r == 0)
		r = sync_pools(b, &e);
	if (r < 0) {
		fprintf(stderr, "attachd-broker: %s\n", e.msg);
		return 1;
	}
	if (streq(argv[0], "list")) {
		printf("%-40s %-24s %-9s %s\n", "ITEM", "PLAN", "STATE", "INSTANCE");
		r = b->dbo->pool_list(b->db, print_item, (void *)b->cfg, &e);
	} else {
		r = b->dbo->pool_clean(b->db, argv[1], &e);
		if (r == 0)
			printf("%s: clean, handed out again from now on\n", argv[1]);
	}
	b->dbo->close(b->db);
	if (r < 0) {
		fprintf(stderr, "attachd-broker: %s\n", e.msg[0] ? e.msg : strerror(-r));
		return r == -EALREADY ? 0 : 1;
	}
	return 0;
}

/* The janitor: undoes dead brokers' intents (osb_recover) every recover_after_s / 2. */
struct janitor {
	struct broker *b;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop;
};

static void *janitor_run(void *arg)
{
	struct janitor *j = arg;
	int interval = j->b->cfg->recover_after_s / 2 > 0 ? j->b->cfg->recover_after_s / 2 : 1;

	pthread_mutex_lock(&j->lock);
	while (!j->stop) {
		struct timespec until;
		struct errbuf e = {{0}};

		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += interval;
		while (!j->stop && pthread_cond_timedwait(&j->cond, &j->lock, &until) != ETIMEDOUT)
			;
		if (j->stop)
			break;
		pthread_mutex_unlock(&j->lock);
		if (osb_recover(j->b, &e) < 0)
			broker_log(BROKER_LOG_ERROR, "attachd-broker.recover.failed",
				   json_pack("{s:s}", "error", e.msg));
		pthread_mutex_lock(&j->lock);
	}
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

static int janitor_start(struct janitor *j, struct broker *b)
{
	pthread_condattr_t ca;
	int r;

	j->b = b;
	pthread_mutex_init(&j->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->cond, &ca);
	pthread_condattr_destroy(&ca);
	r = -pthread_create(&j->thread, NULL, janitor_run, j);
	return r;
}

static void janitor_stop(struct janitor *j)
{
	pthread_mutex_lock(&j->lock);
	j->stop = 1;
	pthread_cond_signal(&j->cond);
	pthread_mutex_unlock(&j->lock);
	pthread_join(j->thread, NULL);
	pthread_cond_destroy(&j->cond);
	pthread_mutex_destroy(&j->lock);
}

static void broker_tls_freep(struct broker_tls **t)
{
	broker_tls_free(*t);
}

static int serve(struct broker *b, const char *listen_on)
{
	struct janitor jan = {0};
	struct broker_http *h = NULL;
	_cleanup_(broker_tls_freep) struct broker_tls *tls = NULL;
	struct errbuf e = {{0}};
	unsigned port = 0;
	sigset_t set;
	int r, sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	r = open_db(b, &e);
	if (r == 0)
		r = sync_pools(b, &e);
	if (r < 0) {
		broker_log(BROKER_LOG_FATAL, "attachd-broker.database.failed",
			   json_pack("{s:s, s:s}", "database", b->cfg->database, "error", e.msg));
		return 1;
	}
	r = osb_recover(b, &e);
	if (r < 0)
		/* Keep serving: what failed stays recorded and is retried at the next start;
		 * its instance answers ConcurrencyError meanwhile. */
		broker_log(BROKER_LOG_ERROR, "attachd-broker.recover.failed",
			   json_pack("{s:s}", "error", e.msg));
	if (b->cfg->tls_cert_file[0]) {
		r = broker_tls_load(b->cfg->tls_ca_file, b->cfg->tls_cert_file,
				    b->cfg->tls_key_file, &tls, &e);
		if (r < 0) {
			broker_log(BROKER_LOG_FATAL, "attachd-broker.tls.failed",
				   json_pack("{s:s}", "error", e.msg));
			b->dbo->close(b->db);
			return 1;
		}
	}
	r = broker_http_start(b, listen_on, tls, &h, &port, &e);
	if (r < 0) {
		broker_log(BROKER_LOG_FATAL, "attachd-broker.listen.failed",
			   json_pack("{s:s, s:s}", "listen", listen_on, "error", e.msg));
		b->dbo->close(b->db);
		return 1;
	}
	r = janitor_start(&jan, b);
	if (r < 0) {
		broker_log(BROKER_LOG_FATAL, "attachd-broker.janitor.failed",
			   json_pack("{s:s}", "error", strerror(-r)));
		broker_http_stop(h);
		b->dbo->close(b->db);
		return 1;
	}
	broker_log(BROKER_LOG_INFO, "attachd-broker.started",
		   json_pack("{s:s, s:i, s:s, s:i, s:i, s:s}", "listen", listen_on, "port",
			     (int)port, "database", b->cfg->database, "services",
			     (int)b->cfg->n_services, "plans", (int)b->cfg->n_plans, "scheme",
			     !tls	   ? "http"
			     : tls->ca_pem ? "https (client certificates)"
					   : "https"));
	sigwait(&set, &sig);
	broker_log(BROKER_LOG_INFO, "attachd-broker.stopping",
		   json_pack("{s:s}", "signal", strsignal(sig)));
	janitor_stop(&jan);
	broker_http_stop(h);
	/* Operations in flight finish (each bounded by the gateway timeout); one killed
	 * instead is resumed by the next broker (osb_recover). */
	osb_jobs_wait();
	b->dbo->close(b->db);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"config", required_argument, NULL, 'c'},
	    {"check-config", required_argument, NULL, 'k'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *listen_on = NULL, *config = NULL, *check = NULL;
	struct broker_config cfg;
	struct errlist el = {.n = 0};
	struct broker b = {.cfg = &cfg};
	int c, r;

	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			listen_on = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 'k':
			check = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	/* "pool ... --config F": options may follow the subcommand too. */
	if (optind < argc && streq(argv[optind], "pool")) {
		char *rest[4];
		int n = 0;

		/* "pool clean KEY --config F": --config may come after the subcommand. */
		for (int i = optind + 1; i < argc; i++) {
			if (streq(argv[i], "--config") && i + 1 < argc)
				config = argv[++i];
			else if (startswith(argv[i], "--config="))
				config = argv[i] + strlen("--config=");
			else if (argv[i][0] == '-' || n == (int)ELEMENTSOF(rest)) {
				usage(stderr);
				return 2;
			} else
				rest[n++] = argv[i];
		}
		if (!config) {
			fprintf(stderr, "attachd-broker pool: --config FILE is required\n");
			return 2;
		}
		if (broker_config_load(config, &cfg, &el) < 0)
			return config_report(config, &el);
		r = pool_cmd(&b, n, rest);
		broker_config_done(&cfg);
		return r;
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (check) {
		if (broker_config_load(check, &cfg, &el) < 0)
			return config_report(check, &el);
		/* The TLS files as the broker will use them (read only: no side effects). */
		if (cfg.tls_cert_file[0]) {
			struct broker_tls *t = NULL;
			struct errbuf e = {{0}};

			if (broker_tls_load(cfg.tls_ca_file, cfg.tls_cert_file, cfg.tls_key_file,
					    &t, &e) < 0) {
				fprintf(stderr, "config %s: %s\n", check, e.msg);
				broker_config_done(&cfg);
				return 2;
			}
			broker_tls_free(t);
		}
		printf("config %s: valid\n", check);
		broker_config_done(&cfg);
		return 0;
	}
	if (!config) {
		fprintf(stderr, "attachd-broker: --config FILE is required\n");
		usage(stderr);
		return 2;
	}
	if (broker_config_load(config, &cfg, &el) < 0)
		return config_report(config, &el);
	if (!listen_on)
		listen_on = cfg.listen;
	{
		struct hostport hp;
		struct errbuf e = {{0}};

		if (broker_http_listen_parse(listen_on, &hp, &e) < 0) {
			fprintf(stderr, "attachd-broker: %s\n", e.msg);
			broker_config_done(&cfg);
			return 2;
		}
	}
	r = serve(&b, listen_on);
	broker_config_done(&cfg);
	return r;
}
