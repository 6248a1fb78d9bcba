/*
 * bench_writes: concurrent writes per second through the store, on either backend, for
 * bench/postgres.sh (not part of the test suite: its name does not start with test_).
 * Each client is a thread with its own connection, as a server thread has, and each
 * write is a sign-up at the store level: store_user_create, i.e. one INSERT into users
 * and its audit entry in one committed transaction (the password hash is a fixed
 * string: Argon2id's deliberate cost is the HTTP sign-up's, not the database's).
 *
 *   bench_writes DB CLIENTS SECONDS      DB = a SQLite file or a postgres:// URL
 *
 * Prints one line: clients, writes, seconds, writes per second, mean latency.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/arena.h"
#include "store/store.h"

static store *S;
static double deadline;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct client {
    int index;
    long writes, errors;
} client;

static void *run(void *arg) {
    client *c = arg;
    arena a;
    arena_init(&a, 0);
    char email[96];
    for (long i = 0; now_s() < deadline; i++) {
        snprintf(email, sizeof email, "bench-%ld-%d-%ld@example.org", (long)getpid(), c->index, i);
        if (store_user_create(S, NULL, email, "Bench", "$argon2id$fixed", STORE_ROLE_RESIDENT, &a,
                              NULL) == STORE_OK)
            c->writes++;
        else
            c->errors++;
        arena_reset(&a);
    }
    arena_free(&a);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: bench_writes DB CLIENTS SECONDS\n");
        return 2;
    }
    int n = atoi(argv[2]);
    double secs = atof(argv[3]);
    if (n < 1 || n > 1024 || secs <= 0) return 2;
    char err[512];
    if (store_open(argv[1], &S, err, sizeof err) != STORE_OK) {
        fprintf(stderr, "bench_writes: %s\n", err);
        return 1;
    }
    client *c = calloc((size_t)n, sizeof *c);
    pthread_t *th = calloc((size_t)n, sizeof *th);
    double start = now_s();
    deadline = start + secs;
    for (int i = 0; i < n; i++) {
        c[i].index = i;
        pthread_create(&th[i], NULL, run, &c[i]);
    }
    long writes = 0, errors = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        writes += c[i].writes;
        errors += c[i].errors;
    }
    double took = now_s() - start;
    printf("clients=%d writes=%ld errors=%ld seconds=%.1f writes/s=%.0f mean_latency_ms=%.1f\n", n,
           writes, errors, took, (double)writes / took,
           writes ? took * 1000.0 * n / (double)writes : 0.0);
    store_close(S);
    free(c);
    free(th);
    return errors ? 1 : 0;
}
