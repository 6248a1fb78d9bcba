/*
 * Scale-out tests: two `commonground serve` processes on one PostgreSQL database, as
 * behind a load balancer. A visitor who signs up on the first server signs in on the
 * second; a form whose CSRF token came from one server is accepted by the other; the
 * session's state (language) changed through one is seen by the other. Background
 * jobs enqueued by one process are done exactly once when two processes (each with
 * several threads) claim them at once. `commonground migrate` round-trips the demo
 * database SQLite -> PostgreSQL -> SQLite with every table checked, and the directory's
 * full-text search finds the same services on both backends with the same best match
 * (FTS5's bm25 there, ts_rank over tsvector here; lower places may differ).
 *
 * Needs CG_TEST_PG_URL (tests/run.sh sets it when scripts/pg-test.sh could start a
 * cluster); without it every test skips and says why. Links the store (Makefile) only
 * to play the second and third process of the jobs test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pgtest.h"
#include "server/harness.h"
#include "store/store.h"

static char db[600];
static cg_server one, two;
static int ready;

static const char *pg(void) {
    const char *u = getenv("CG_TEST_PG_URL");
    return pgtest_is_pg(u) ? u : NULL;
}

#define NEED_PG()                                                                                  \
    do {                                                                                           \
        if (!ready) {                                                                              \
            print_message("PostgreSQL unavailable (CG_TEST_PG_URL unset): skipped\n");             \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static int group_setup(void **state) {
    (void)state;
    if (!pg()) return 0;
    if (pgtest_create(pg(), db, sizeof db) != 0) return -1;
    if (cg_server_start_db(&one, db, 1, 1) != 0) return -1;
    if (cg_server_start_db(&two, db, 0, 0) != 0) return -1;
    ready = 1;
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    if (!ready) return 0;
    cg_server_stop(&two);
    cg_server_stop(&one);
    pgtest_drop(pg(), db);
    return 0;
}

static int contains(const cg_resp *r, const char *s) {
    return strstr(buf_cstr(&r->body), s) != NULL;
}

static void signup_on_one_signin_on_the_other(void **state) {
    (void)state;
    NEED_PG();
    assert_int_not_equal(one.port, two.port);
    cg_client *x = cg_client_new(&one);
    assert_int_equal(cg_signup(x, "Ada Lovelace", "ada@example.org", "analytical engine 1843"),
                     303);
    cg_client *y = cg_client_new(&two);
    assert_int_equal(cg_signin(y, "ada@example.org", "wrong password here"), 401);
    assert_int_equal(cg_signin(y, "ada@example.org", "analytical engine 1843"), 303);
    cg_resp r;
    assert_int_equal(cg_get(y, "/account", &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(contains(&r, "Ada Lovelace"));
    cg_resp_free(&r);
    /* The session made on the second server is good on the first. */
    cg_client_use(y, &one);
    assert_int_equal(cg_get(y, "/account", &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(contains(&r, "ada@example.org"));
    cg_resp_free(&r);
    /* The sign-up on the first server is refused again on the second. */
    cg_client *z = cg_client_new(&two);
    assert_int_equal(cg_signup(z, "Impostor", "ada@example.org", "another long password"), 409);
    cg_client_free(x);
    cg_client_free(y);
    cg_client_free(z);
}

static void csrf_token_from_one_server_is_good_on_the_other(void **state) {
    (void)state;
    NEED_PG();
    cg_client *c = cg_client_new(&one);
    assert_int_equal(cg_signup(c, "Grace", "grace@example.org", "compilers all the way"), 303);
    char csrf[65];
    assert_non_null(cg_csrf_from(c, "/account", csrf));
    cg_client_use(c, &two);
    cg_resp r;
    /* A forged token is refused by the second server ... */
    assert_int_equal(cg_post_form(c, "/lang", &r, "csrf_token", "0000forged0000", "lang", "cy",
                                  "return_to", "/account", NULL),
                     0);
    assert_int_equal(r.status, 403);
    cg_resp_free(&r);
    /* ... the first server's token is accepted. */
    assert_int_equal(cg_post_form(c, "/lang", &r, "csrf_token", csrf, "lang", "cy", "return_to",
                                  "/account", NULL),
                     0);
    assert_int_equal(r.status, 303);
    cg_resp_free(&r);
    /* The change lives in the database: both servers show it. */
    assert_int_equal(cg_get(c, "/account", &r), 0);
    assert_true(contains(&r, "<html lang=\"cy\""));
    cg_resp_free(&r);
    cg_client_use(c, &one);
    assert_int_equal(cg_get(c, "/account", &r), 0);
    assert_true(contains(&r, "<html lang=\"cy\""));
    cg_resp_free(&r);
    /* Signing out through the first server ends the session on the second. */
    assert_int_equal(cg_post_form(c, "/signout", &r, "csrf_token", csrf, NULL), 0);
    assert_int_equal(r.status, 303);
    cg_resp_free(&r);
    cg_client_use(c, &two);
    assert_int_equal(cg_get(c, "/account", &r), 0);
    assert_int_equal(r.status, 303);
    cg_resp_free(&r);
    cg_client_free(c);
}

/* ---- Jobs across processes ------------------------------------------------------ */

#define JOBS 200
#define THREADS 4

typedef struct worker {
    store *s;
    char name[48];
    int fd; /* claimed ids are written here */
    int errors;
} worker;

static void *work(void *arg) {
    worker *w = arg;
    arena a;
    arena_init(&a, 0);
    for (;;) {
        store_job j;
        int rc = store_job_claim(w->s, "scaleout.test", w->name, (int64_t)time(NULL), 300, &a, &j);
        if (rc == STORE_NOT_FOUND) break;
        if (rc != STORE_OK || store_job_complete(w->s, j.id, w->name) != STORE_OK) {
            w->errors++;
            break;
        }
        if (write(w->fd, &j.id, sizeof j.id) != (ssize_t)sizeof j.id) w->errors++;
        arena_reset(&a);
    }
    arena_free(&a);
    return NULL;
}

/* A child process: its own store (as a server would have), THREADS claimers. */
static void child(int id, int fd, int go_fd) {
    char c;
    if (read(go_fd, &c, 1) != 1) _exit(5); /* start together */
    store *s = NULL;
    char err[512];
    if (store_open(db, &s, err, sizeof err) != STORE_OK) _exit(3);
    worker w[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){s, "", fd, 0};
        snprintf(w[i].name, sizeof w[i].name, "proc%d:thread%d", id, i);
        pthread_create(&th[i], NULL, work, &w[i]);
    }
    int errors = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        errors += w[i].errors;
    }
    store_close(s);
    _exit(errors ? 4 : 0);
}

static void job_enqueued_once_is_done_once_by_two_processes(void **state) {
    (void)state;
    NEED_PG();
    store *s = NULL;
    char err[512];
    assert_int_equal(store_open(db, &s, err, sizeof err), STORE_OK);
    int64_t first = 0;
    for (int i = 0; i < JOBS; i++) {
        int64_t id;
        assert_int_equal(store_job_enqueue(s, "scaleout.test", "{}", 0, &id), STORE_OK);
        if (i == 0) first = id;
    }
    store_close(s);
    int ids[2], go[2];
    assert_int_equal(pipe(ids), 0);
    assert_int_equal(pipe(go), 0);
    fflush(NULL);
    pid_t pid[2];
    for (int p = 0; p < 2; p++) {
        pid[p] = fork();
        assert_true(pid[p] >= 0);
        if (pid[p] == 0) {
            close(ids[0]);
            close(go[1]);
            child(p, ids[1], go[0]);
        }
    }
    close(ids[1]);
    close(go[0]);
    assert_int_equal(write(go[1], "GG", 2), 2);
    close(go[1]);
    int seen[JOBS] = {0}, total = 0;
    int64_t id;
    while (read(ids[0], &id, sizeof id) == (ssize_t)sizeof id) {
        assert_true(id >= first && id < first + JOBS);
        seen[id - first]++;
        total++;
    }
    close(ids[0]);
    for (int p = 0; p < 2; p++) {
        int st = 0;
        assert_int_equal(waitpid(pid[p], &st, 0), pid[p]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    assert_int_equal(total, JOBS);
    for (int k = 0; k < JOBS; k++) assert_int_equal(seen[k], 1);
}

/* ---- migrate -------------------------------------------------------------------- */

/* GET path on s as JSON (NULL on failure). */
static json_t *get_json(const cg_server *s, const char *path) {
    cg_client *c = cg_client_new(s);
    cg_resp r;
    json_t *j = NULL;
    if (cg_get(c, path, &r) == 0) {
        if (r.status == 200) j = json_loads(buf_cstr(&r.body), 0, NULL);
        cg_resp_free(&r);
    }
    cg_client_free(c);
    return j;
}

static int by_string(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The same services, and the same best match, for each search on the two servers. */
static void searches_agree(const cg_server *sq, const cg_server *pgs) {
    static const char *const queries[] = {"food",
                                          "food%20bank",
                                          "lunch",
                                          "youth",
                                          "advice",
                                          "help",
                                          "community",
                                          "club",
                                          "sport",
                                          "meals",
                                          "community%20lunch",
                                          "zzzz"};
    int nonempty = 0;
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "/openreferral/services?per_page=50&search=%s", queries[i]);
        json_t *a = get_json(sq, path), *b = get_json(pgs, path);
        assert_non_null(a);
        assert_non_null(b);
        json_t *ca = json_object_get(a, "contents"), *cb = json_object_get(b, "contents");
        size_t n = json_array_size(ca);
        assert_int_equal(json_integer_value(json_object_get(a, "total_items")),
                         json_integer_value(json_object_get(b, "total_items")));
        assert_int_equal(n, json_array_size(cb));
        const char *na[64], *nb[64];
        assert_true(n <= 64);
        for (size_t k = 0; k < n; k++) {
            na[k] = json_string_value(json_object_get(json_array_get(ca, k), "name"));
            nb[k] = json_string_value(json_object_get(json_array_get(cb, k), "name"));
            assert_non_null(na[k]);
            assert_non_null(nb[k]);
        }
        if (n) {
            nonempty++;
            if (strcmp(na[0], nb[0]) != 0)
                fail_msg("'%s': best match '%s' on SQLite, '%s' on PostgreSQL", queries[i], na[0],
                         nb[0]);
        }
        qsort(na, n, sizeof na[0], by_string);
        qsort(nb, n, sizeof nb[0], by_string);
        for (size_t k = 0; k < n; k++) assert_string_equal(na[k], nb[k]);
        json_decref(a);
        json_decref(b);
    }
    assert_true(nonempty >= 8); /* the demo data really answered */
}

/* The "N rows" figure of table in migrate's output, or -1. */
static long rows_in(const char *out, const char *table) {
    size_t n = strlen(table);
    for (const char *line = out; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, table, n) == 0 && line[n] == ' ') return strtol(line + n, NULL, 10);
    return -1;
}

static void migrate_round_trips_the_demo_database(void **state) {
    (void)state;
    NEED_PG();
    char dir[] = "/tmp/cg-migrate-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char a[64], b[64], mid[600];
    snprintf(a, sizeof a, "%s/a.db", dir);
    snprintf(b, sizeof b, "%s/b.db", dir);
    assert_int_equal(pgtest_create(pg(), mid, sizeof mid), 0);
    buf out;
    buf_init(&out, 1 << 20);
    const char *init[] = {"init", "--db", a, "--demo", NULL};
    assert_int_equal(cg_run(init, &out), 0);
    buf_reset(&out);
    const char *there[] = {"migrate", "--from", a, "--to", mid, NULL};
    assert_int_equal(cg_run(there, &out), 0);
    assert_non_null(strstr(buf_cstr(&out), "every table has the same rows"));
    long places = rows_in(buf_cstr(&out), "places"), audit = rows_in(buf_cstr(&out), "audit_log");
    assert_true(places > 0);
    assert_true(audit > places);
    buf_reset(&out);
    const char *back[] = {"migrate", "--from", mid, "--to", b, NULL};
    assert_int_equal(cg_run(back, &out), 0);
    assert_non_null(strstr(buf_cstr(&out), "every table has the same rows"));
    assert_int_equal(rows_in(buf_cstr(&out), "places"), places);
    assert_int_equal(rows_in(buf_cstr(&out), "audit_log"), audit);
    /* `backup` is SQLite's; on PostgreSQL it says to use pg_dump. */
    buf_reset(&out);
    char dump[96];
    snprintf(dump, sizeof dump, "%s/x.db", dir);
    const char *backup[] = {"backup", "--db", mid, dump, NULL};
    assert_int_equal(cg_run(backup, &out), 1);
    assert_non_null(strstr(buf_cstr(&out), "pg_dump"));
    assert_int_not_equal(access(dump, F_OK), 0);
    /* Into a database that has rows: refused, nothing changed. */
    buf_reset(&out);
    assert_int_equal(cg_run(there, &out), 1);
    assert_non_null(strstr(buf_cstr(&out), "not empty"));
    buf_free(&out);
    /* Full-text search on the copy, against the original. */
    cg_server sq, pgs;
    assert_int_equal(cg_server_start_db(&sq, a, 0, 0), 0);
    assert_int_equal(cg_server_start_db(&pgs, mid, 0, 0), 0);
    searches_agree(&sq, &pgs);
    cg_server_stop(&pgs);
    cg_server_stop(&sq);
    pgtest_drop(pg(), mid);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(signup_on_one_signin_on_the_other),
        cmocka_unit_test(csrf_token_from_one_server_is_good_on_the_other),
        cmocka_unit_test(job_enqueued_once_is_done_once_by_two_processes),
        cmocka_unit_test(migrate_round_trips_the_demo_database),
    };
    return cmocka_run_group_tests_name("scaleout", tests, group_setup, group_teardown);
}
