/*
 * cmd_serve: `commonground serve` runs the web application until SIGTERM or SIGINT,
 * then finishes the requests in flight and exits cleanly.
 *
 * Configuration comes from flags, else environment variables, else defaults:
 *   --db PATH          CG_DB          var/commonground.db
 *   --listen ADDR      CG_LISTEN      127.0.0.1:8080
 *   --base-url URL     CG_BASE_URL    http://localhost:<port>
 *   --threads N        CG_THREADS     4
 *   --log-level L      CG_LOG_LEVEL   info
 *   --site-name NAME   CG_SITE_NAME   Common Ground
 *   --templates DIR    CG_TEMPLATES   templates
 *   --static DIR       CG_STATIC      build/static
 *   --locale DIR       CG_LOCALE      build/locale
 *   --trust-proxy      CG_TRUST_PROXY off (1 = on)
 */
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/app.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/log.h"
#include "core/parse.h"
#include "web/i18n.h"

static const char *pick(const char *flag, const char *env, const char *dflt) {
    if (flag) return flag;
    const char *e = getenv(env);
    return e && *e ? e : dflt;
}

/* Housekeeping while serving: every ten minutes, forget expired sessions and old
 * rate-limit counters so the tables stay small. Stops when told through `stopping`. */
typedef struct housekeeper {
    store *s;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stopping;
} housekeeper;

static void *housekeeping(void *arg) {
    housekeeper *h = arg;
    pthread_mutex_lock(&h->lock);
    while (!h->stopping) {
        pthread_mutex_unlock(&h->lock);
        int64_t now = (int64_t)time(NULL), sessions = 0, attempts = 0;
        if (store_session_purge_expired(h->s, now, &sessions) == STORE_OK &&
            store_ratelimit_purge(h->s, now - 24 * 3600, &attempts) == STORE_OK) {
            if (sessions || attempts)
                log_info("housekeeping: removed %lld expired sessions, %lld old sign-in attempts",
                         (long long)sessions, (long long)attempts);
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 600;
        pthread_mutex_lock(&h->lock);
        while (!h->stopping && pthread_cond_timedwait(&h->wake, &h->lock, &until) == 0) {
        }
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: commonground serve [--db PATH] [--listen HOST:PORT] [--base-url URL]\n"
            "                          [--threads N] [--log-level error|warn|info|debug]\n"
            "                          [--site-name NAME] [--templates DIR] [--static DIR]\n"
            "                          [--locale DIR] [--no-access-log] [--trust-proxy]\n\n"
            "Each flag may also be given as an environment variable: CG_DB, CG_LISTEN,\n"
            "CG_BASE_URL, CG_THREADS, CG_LOG_LEVEL, CG_SITE_NAME, CG_TEMPLATES, CG_STATIC,\n"
            "CG_LOCALE, CG_TRUST_PROXY=1. Stops cleanly on SIGTERM or SIGINT.\n\n"
            "--trust-proxy: run behind a reverse proxy (nginx, HAProxy): take the client's\n"
            "address from X-Forwarded-For and lift the per-address connection limit.\n"
            "Never set it when clients connect directly.\n");
}

int cmd_serve(int argc, char **argv) {
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},        {"listen", required_argument, 0, 'l'},
        {"base-url", required_argument, 0, 'b'},  {"threads", required_argument, 0, 't'},
        {"log-level", required_argument, 0, 'L'}, {"site-name", required_argument, 0, 'n'},
        {"templates", required_argument, 0, 'T'}, {"static", required_argument, 0, 'S'},
        {"locale", required_argument, 0, 'C'},    {"no-access-log", no_argument, 0, 'q'},
        {"trust-proxy", no_argument, 0, 'P'},
        {"help", no_argument, 0, 'h'},            {0, 0, 0, 0}};
    const char *db = NULL, *listen = NULL, *base_url = NULL, *threads_s = NULL, *level_s = NULL,
               *site = NULL, *templates = NULL, *static_dir = NULL, *locale = NULL;
    int access_log = 1, trust_proxy = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'l': listen = optarg; break;
        case 'b': base_url = optarg; break;
        case 't': threads_s = optarg; break;
        case 'L': level_s = optarg; break;
        case 'n': site = optarg; break;
        case 'T': templates = optarg; break;
        case 'S': static_dir = optarg; break;
        case 'C': locale = optarg; break;
        case 'q': access_log = 0; break;
        case 'P': trust_proxy = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "commonground serve: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    db = cli_db_path(db);
    listen = pick(listen, "CG_LISTEN", "127.0.0.1:8080");
    base_url = pick(base_url, "CG_BASE_URL", NULL);
    threads_s = pick(threads_s, "CG_THREADS", "4");
    level_s = pick(level_s, "CG_LOG_LEVEL", "info");
    site = pick(site, "CG_SITE_NAME", "Common Ground");
    templates = pick(templates, "CG_TEMPLATES", "templates");
    static_dir = pick(static_dir, "CG_STATIC", "build/static");
    locale = pick(locale, "CG_LOCALE", "build/locale");
    if (!trust_proxy) trust_proxy = strcmp(pick(NULL, "CG_TRUST_PROXY", "0"), "1") == 0;

    log_level level;
    if (log_parse_level(level_s, &level) != 0) {
        fprintf(stderr, "commonground serve: --log-level: '%s' is not error, warn, info or debug\n", level_s);
        return 2;
    }
    log_set_level(level);
    int64_t threads;
    if (parse_i64(threads_s, &threads) != 0 || threads < 1 || threads > 256) {
        fprintf(stderr, "commonground serve: --threads: '%s' is not a number from 1 to 256\n", threads_s);
        return 2;
    }

    char err[1024];
    if (i18n_load(locale, err, sizeof err) != 0) {
        fprintf(stderr, "commonground serve: %s\n", err);
        return 1;
    }
    tmpl_set *tmpl = tmpl_load(templates, app_template_schemas, err, sizeof err);
    if (!tmpl) {
        fprintf(stderr, "commonground serve: templates: %s\n", err);
        i18n_free();
        return 1;
    }
    store *s = cli_open_store("serve", db);
    if (!s) {
        tmpl_free(tmpl);
        i18n_free();
        return 1;
    }

    app application = {.store = s, .tmpl = tmpl, .site_name = site, .base_url = base_url,
                       .secure_cookies = base_url && strncmp(base_url, "https://", 8) == 0,
                       /* Leave one request thread free of password hashing. */
                       .hash_limiter = app_limiter_new(threads > 1 ? (unsigned)threads - 1 : 1, 2000)};
    http_router *router = http_router_new();
    app_routes(router);

    /* Block the stop signals before the server's threads start, so only sigwait below
     * receives them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    http_server_config cfg = {.listen = listen, .threads = (unsigned)threads, .router = router,
                              .app = &application, .static_dir = static_dir,
                              .static_prefix = "/static/", .static_max_age = 86400,
                              .before = app_before, .error = app_error_page,
                              .access_log = access_log != 0, .trust_forwarded = trust_proxy != 0,
                              .per_ip_connections = trust_proxy ? UINT_MAX : 0};
    http_server *server = http_server_start(&cfg, err, sizeof err);
    int status = 0;
    if (!server) {
        fprintf(stderr, "commonground serve: %s\n", err);
        status = 1;
    } else {
        /* The host to print: the one given, or localhost for loopback/any. */
        char host[256];
        const char *colon = strrchr(listen, ':');
        size_t hl = colon ? (size_t)(colon - listen) : strlen(listen);
        snprintf(host, sizeof host, "%.*s", (int)hl, listen);
        if (!*host || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "127.0.0.1") == 0 ||
            strcmp(host, "[::]") == 0 || strcmp(host, "[::1]") == 0)
            snprintf(host, sizeof host, "localhost");
        printf("Common Ground is serving \"%s\" on http://%s:%u/ (database %s)\n", site, host,
               http_server_port(server), db);
        fflush(stdout);
        housekeeper hk = {.s = s, .lock = PTHREAD_MUTEX_INITIALIZER,
                          .wake = PTHREAD_COND_INITIALIZER};
        pthread_t hk_thread;
        int hk_started = pthread_create(&hk_thread, NULL, housekeeping, &hk) == 0;
        int sig = 0;
        sigwait(&stop, &sig);
        log_info("received %s: finishing requests in flight", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        http_server_stop(server);
        if (hk_started) {
            pthread_mutex_lock(&hk.lock);
            hk.stopping = 1;
            pthread_cond_signal(&hk.wake);
            pthread_mutex_unlock(&hk.lock);
            pthread_join(hk_thread, NULL);
        }
        log_info("stopped");
    }
    http_router_free(router);
    app_limiter_free(application.hash_limiter);
    store_close(s);
    tmpl_free(tmpl);
    i18n_free();
    return status;
}
