/*
 * bench_http: the HTTP layer alone, for finding what bounds the application's figures.
 * Serves a fixed 6 KB HTML page at "/" and "ok" at "/healthz" with no database or
 * templates, so wrk against it measures libmicrohttpd + the pipeline + security
 * headers only. Not part of `make test` (its name does not start with test_).
 *
 *   make build/commonground
 *   cc -std=c11 -D_GNU_SOURCE -O2 -Isrc -o build/bench_http tests/http/bench_http.c \
 *      $(find build/release/obj/core build/release/obj/http -name '*.o') \
 *      -lmicrohttpd -ljansson -lpthread
 *   build/bench_http 4 &      # argument: thread pool size; listens on 127.0.0.1:18089
 *   wrk -t2 -c64 -d10s --latency http://127.0.0.1:18089/
 *   kill %1
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

static char page[6000];

static void h_home(http_request *req, http_response *resp) { http_html(resp, 200, page); }
static void h_health(http_request *req, http_response *resp) { http_text(resp, 200, "ok"); }

int main(int argc, char **argv) {
    memset(page, 'x', sizeof page - 1);
    http_router *r = http_router_new();
    http_route(r, HTTP_GET, "/", h_home);
    http_route(r, HTTP_GET, "/healthz", h_health);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    http_server_config cfg = {.listen = "127.0.0.1:18089",
                              .threads = argc > 1 ? (unsigned)atoi(argv[1]) : 4,
                              .router = r};
    char err[256];
    http_server *s = http_server_start(&cfg, err, sizeof err);
    if (!s) {
        fprintf(stderr, "bench_http: %s\n", err);
        return 1;
    }
    int sig;
    sigwait(&stop, &sig);
    http_server_stop(s);
    http_router_free(r);
    return 0;
}
