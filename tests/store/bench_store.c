/*
 * bench_store: throughput of the store's hot paths on the SQLite backend, for
 * docs/store.md and the speed figures. Not part of the test suite (its name
 * does not start with test_). Build against the release objects and run:
 *
 *   make build/commonground
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Isrc tests/store/bench_store.c \
 *      $(ls build/release/obj/core/[a-z]*.o build/release/obj/store/[a-z]*.o) \
 *      -lsqlite3 -ljansson -lpthread -o build/bench_store
 *   build/bench_store [DIR]      (DIR for the temporary database, default /tmp)
 *
 * It prints, per measurement, operations per second, wall and CPU microseconds per call:
 * the home page's read (all places, with child counts), a signed-in request's reads
 * (session + user), and writes with the audit entry from 1 and 8 threads.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/log.h"
#include "store/store.h"

static store *S;

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wall-clock throughput, plus CPU time per operation: on a shared, loaded machine the
 * latter is the steadier figure. */
static void report(const char *what, int threads, long ops, double secs, double cpu) {
    printf("%-44s threads=%d ops=%-7ld %9.0f ops/s %9.1f us/op wall %7.1f us/op cpu\n", what,
           threads, ops, (double)ops / secs, secs * 1e6 / (double)ops * threads,
           cpu * 1e6 / (double)ops);
}

typedef struct job {
    int kind; /* 0 place list, 1 session+user, 2 user create */
    int index;
    long ops;
} job;

static int64_t user_id;

static void *run(void *arg) {
    job *j = arg;
    arena a;
    arena_init(&a, 0);
    for (long i = 0; i < j->ops; i++) {
        int rc = STORE_OK;
        if (j->kind == 0) {
            store_place_list l;
            rc = store_place_list_page(S, STORE_PLACES_ALL, 0, 200, &a, &l);
        } else if (j->kind == 1) {
            store_session ss;
            store_user u;
            rc = store_session_get(S, "bench-session", 1, &a, &ss);
            if (rc == STORE_OK) rc = store_user_by_id(S, ss.user_id, &a, &u);
        } else {
            char email[64];
            snprintf(email, sizeof email, "w%d-%ld-%d@example.org", j->index, i, rand());
            store_actor who = {user_id, "127.0.0.1"};
            rc = store_user_create(S, &who, email, "Bench", "h", STORE_ROLE_RESIDENT, &a, NULL);
        }
        if (rc != STORE_OK) {
            fprintf(stderr, "bench: operation failed: %s\n", store_strerror(rc));
            exit(1);
        }
        arena_reset(&a);
    }
    arena_free(&a);
    return NULL;
}

static void measure(const char *what, int kind, int threads, long ops_per_thread) {
    pthread_t th[16];
    job jobs[16];
    double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    for (int i = 0; i < threads; i++) {
        jobs[i] = (job){kind, i, ops_per_thread};
        pthread_create(&th[i], NULL, run, &jobs[i]);
    }
    for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
    report(what, threads, ops_per_thread * threads, clock_s(CLOCK_MONOTONIC) - t0,
           clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0);
}

int main(int argc, char **argv) {
    log_set_level(LOG_WARN);
    char path[512];
    snprintf(path, sizeof path, "%s/cg_bench_store_XXXXXX", argc > 1 ? argv[1] : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("mkstemp");
        return 1;
    }
    close(fd);
    char err[256];
    if (store_open(path, &S, err, sizeof err) != STORE_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    /* A demo-sized hierarchy: 2 council areas with 14 and 13 wards. */
    arena a;
    arena_init(&a, 0);
    for (int c = 0; c < 2; c++) {
        store_place council;
        char name[32];
        snprintf(name, sizeof name, "Council %d", c);
        store_place_input in = {0, STORE_PLACE_COUNCIL_AREA, name, NULL, "A council area"};
        store_place_create(S, NULL, &in, &a, &council);
        for (int w = 0; w < 14 - c; w++) {
            snprintf(name, sizeof name, "Ward %d-%d", c, w);
            store_place_input wi = {council.id, STORE_PLACE_WARD, name, NULL, "A ward"};
            store_place_create(S, NULL, &wi, &a, NULL);
        }
    }
    store_user u;
    store_user_create(S, NULL, "bench@example.org", "Bench", "h", STORE_ROLE_ADMIN, &a, &u);
    user_id = u.id;
    store_session_create(S, NULL, "bench-session", u.id, "csrf", "en", INT64_MAX);
    arena_free(&a);

    measure("read: all places with child counts (home)", 0, 1, 20000);
    measure("read: all places with child counts (home)", 0, 2, 20000);
    measure("read: session + user (signed-in request)", 1, 1, 100000);
    measure("read: session + user (signed-in request)", 1, 2, 100000);
    measure("write: user create + audit entry", 2, 1, 500);
    measure("write: user create + audit entry", 2, 8, 200);

    store_close(S);
    unlink(path);
    char side[600];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    return 0;
}
