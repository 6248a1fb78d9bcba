/*
 * Unit tests for the store's background jobs (store_job_*) and whole-database copy
 * (store_copy), against SQLite files or, with CG_TEST_DB_URL=postgres://..., fresh
 * PostgreSQL databases (tests/pgtest.h), exactly like test_store.c.
 *
 * Jobs: claim order and kinds, leases and their expiry, completion and failure only by
 * the holder, retries, and many threads on two store handles (two servers) claiming
 * at once with every job done exactly once. Copy: a database with every kind of row
 * (including a place moved under a parent created after it) copied into the backend
 * under test and back into a new SQLite file, compared through the contract; a
 * non-empty destination is refused; ids keep counting after the copy. And, because it
 * is where the two backends' isolation differs most, the last-admin guard under
 * concurrency: two admins demoting each other at once from two handles.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/arena.h"
#include "pgtest.h"
#include "store/directory.h"
#include "store/store.h"

static const char *pg_url(void) {
    const char *u = getenv("CG_TEST_DB_URL");
    return pgtest_is_pg(u) ? u : NULL;
}

/* A fresh database of the backend under test: its URL in out (size 512). */
static void new_db(char *out, size_t outlen) {
    if (pg_url()) {
        if (pgtest_create(pg_url(), out, outlen) != 0) fail_msg("cannot create a database");
        return;
    }
    snprintf(out, outlen, "/tmp/cg_jobs_test_XXXXXX");
    int fd = mkstemp(out);
    assert_true(fd >= 0);
    close(fd);
}

static void new_sqlite(char *out, size_t outlen) {
    snprintf(out, outlen, "/tmp/cg_copy_test_XXXXXX");
    int fd = mkstemp(out);
    assert_true(fd >= 0);
    close(fd);
}

static void drop_db(const char *url) {
    if (pgtest_is_pg(url)) {
        pgtest_drop(pg_url(), url);
        return;
    }
    char p[600];
    unlink(url);
    snprintf(p, sizeof p, "%s-wal", url);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", url);
    unlink(p);
}

static store *open_db(const char *url) {
    store *s = NULL;
    char err[512];
    if (store_open(url, &s, err, sizeof err) != STORE_OK) fail_msg("store_open: %s", err);
    return s;
}

typedef struct fixture {
    char url[512];
    store *s;
    arena a;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    new_db(f->url, sizeof f->url);
    f->s = open_db(f->url);
    arena_init(&f->a, 0);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    store_close(f->s);
    drop_db(f->url);
    arena_free(&f->a);
    free(f);
    return 0;
}

/* ---- Jobs ----------------------------------------------------------------------- */

static void jobs_claim_complete_fail_and_retry(void **state) {
    fixture *f = *state;
    int64_t a_id = 0, b_id = 0;
    assert_int_equal(store_job_enqueue(f->s, "mail.send", "{\"to\":1}", 0, &a_id), STORE_OK);
    assert_int_equal(store_job_enqueue(f->s, "opinion.recompute", NULL, 0, &b_id), STORE_OK);
    int64_t now = (int64_t)time(NULL); /* after enqueueing: run_after 0 meant their now */
    assert_true(a_id > 0 && b_id > a_id);
    store_job j;
    /* By kind, then any: the oldest first. */
    assert_int_equal(store_job_claim(f->s, "opinion.recompute", "w1", now, 60, &f->a, &j),
                     STORE_OK);
    assert_int_equal(j.id, b_id);
    assert_string_equal(j.payload, "");
    assert_int_equal(j.attempts, 1);
    assert_int_equal(store_job_claim(f->s, NULL, "w1", now, 60, &f->a, &j), STORE_OK);
    assert_int_equal(j.id, a_id);
    assert_string_equal(j.kind, "mail.send");
    assert_string_equal(j.payload, "{\"to\":1}");
    assert_int_equal(store_job_claim(f->s, NULL, "w2", now, 60, &f->a, &j), STORE_NOT_FOUND);
    /* Only the holder finishes a job, and only once. */
    assert_int_equal(store_job_complete(f->s, a_id, "w2"), STORE_NOT_FOUND);
    assert_int_equal(store_job_complete(f->s, a_id, "w1"), STORE_OK);
    assert_int_equal(store_job_complete(f->s, a_id, "w1"), STORE_NOT_FOUND);
    assert_int_equal(store_job_fail(f->s, a_id, "w1", "late", 0), STORE_NOT_FOUND);
    /* A failure with a retry time queues it again from then. */
    assert_int_equal(store_job_fail(f->s, b_id, "w1", "map server down", now + 30), STORE_OK);
    assert_int_equal(store_job_claim(f->s, NULL, "w2", now + 29, 60, &f->a, &j), STORE_NOT_FOUND);
    assert_int_equal(store_job_claim(f->s, NULL, "w2", now + 30, 60, &f->a, &j), STORE_OK);
    assert_int_equal(j.id, b_id);
    assert_int_equal(j.attempts, 2);
    /* A failure without one ends it. */
    assert_int_equal(store_job_fail(f->s, b_id, "w2", "gave up", 0), STORE_OK);
    assert_int_equal(store_job_claim(f->s, NULL, "w3", now + 100000, 60, &f->a, &j),
                     STORE_NOT_FOUND);
}

static void jobs_wait_for_run_after_and_leases(void **state) {
    fixture *f = *state;
    int64_t now = (int64_t)time(NULL), id = 0;
    assert_int_equal(store_job_enqueue(f->s, "later", "x", now + 100, &id), STORE_OK);
    store_job j;
    assert_int_equal(store_job_claim(f->s, NULL, "w1", now, 10, &f->a, &j), STORE_NOT_FOUND);
    assert_int_equal(store_job_claim(f->s, NULL, "w1", now + 100, 10, &f->a, &j), STORE_OK);
    assert_int_equal(j.id, id);
    /* Held until the lease ends, then another worker may take it over ... */
    assert_int_equal(store_job_claim(f->s, NULL, "w2", now + 109, 10, &f->a, &j), STORE_NOT_FOUND);
    assert_int_equal(store_job_claim(f->s, NULL, "w2", now + 110, 10, &f->a, &j), STORE_OK);
    assert_int_equal(j.attempts, 2);
    /* ... and the first worker can no longer finish it. */
    assert_int_equal(store_job_complete(f->s, id, "w1"), STORE_NOT_FOUND);
    assert_int_equal(store_job_complete(f->s, id, "w2"), STORE_OK);
}

static void jobs_reject_bad_arguments(void **state) {
    fixture *f = *state;
    store_job j;
    assert_int_equal(store_job_enqueue(f->s, "", "x", 0, NULL), STORE_INVALID);
    assert_int_equal(store_job_enqueue(f->s, "k", "bad\x01text", 0, NULL), STORE_INVALID);
    assert_int_equal(store_job_enqueue(f->s, "k", "x", -5, NULL), STORE_INVALID);
    assert_int_equal(store_job_claim(f->s, NULL, "", 0, 10, &f->a, &j), STORE_INVALID);
    assert_int_equal(store_job_claim(f->s, NULL, "w", 0, 0, &f->a, &j), STORE_INVALID);
    assert_int_equal(store_job_complete(f->s, 0, "w"), STORE_NOT_FOUND);
    assert_int_equal(store_job_fail(f->s, 1, "w", "x", -1), STORE_INVALID);
}

#define JOBS 240
#define CLAIMERS 8

typedef struct claimer {
    store *s;
    char name[16];
    int done;
    int errors;
    unsigned char *seen; /* JOBS + 1 counters, shared; each slot written by its claimer */
    int64_t first_id;
    pthread_mutex_t *mu;
} claimer;

static void *claim_all(void *arg) {
    claimer *c = arg;
    arena a;
    arena_init(&a, 0);
    int retries = 0;
    for (;;) {
        store_job j;
        int rc = store_job_claim(c->s, "work", c->name, (int64_t)time(NULL), 300, &a, &j);
        if (rc == STORE_NOT_FOUND) break;
        if (rc == STORE_ERROR && ++retries < 50) {
            /* SQLite: the other handle held the file past the busy timeout (a loaded
             * machine); a worker would simply try again. Nothing was claimed. */
            usleep(10000);
            continue;
        }
        if (rc != STORE_OK) {
            c->errors++;
            break;
        }
        int64_t k = j.id - c->first_id;
        pthread_mutex_lock(c->mu);
        if (k >= 0 && k < JOBS)
            c->seen[k]++;
        else
            c->errors++;
        pthread_mutex_unlock(c->mu);
        if (store_job_complete(c->s, j.id, c->name) != STORE_OK) c->errors++;
        c->done++;
        arena_reset(&a);
    }
    arena_free(&a);
    return NULL;
}

/* Two handles stand for two servers; eight threads claim until the queue is empty. */
static void concurrent_claims_run_every_job_exactly_once(void **state) {
    fixture *f = *state;
    int64_t first = 0;
    for (int i = 0; i < JOBS; i++) {
        int64_t id;
        assert_int_equal(store_job_enqueue(f->s, "work", "", 0, &id), STORE_OK);
        if (i == 0) first = id;
        assert_int_equal(id, first + i);
    }
    store *second = open_db(f->url);
    unsigned char seen[JOBS] = {0};
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    claimer c[CLAIMERS];
    pthread_t th[CLAIMERS];
    for (int i = 0; i < CLAIMERS; i++) {
        c[i] = (claimer){i % 2 ? second : f->s, "", 0, 0, seen, first, &mu};
        snprintf(c[i].name, sizeof c[i].name, "w%d", i);
        assert_int_equal(pthread_create(&th[i], NULL, claim_all, &c[i]), 0);
    }
    int total = 0, busy = 0;
    for (int i = 0; i < CLAIMERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(c[i].errors, 0);
        total += c[i].done;
        busy += c[i].done > 0;
    }
    assert_int_equal(total, JOBS);
    for (int k = 0; k < JOBS; k++) assert_int_equal(seen[k], 1);
    assert_true(busy >= 2); /* the work really was shared */
    store_close(second);
}

/* ---- Role changes under concurrency --------------------------------------------- */

typedef struct demoter {
    store *s;
    int64_t actor, target;
    int rc;
    pthread_barrier_t *go;
} demoter;

static void *demote(void *arg) {
    demoter *d = arg;
    store_actor actor = {d->actor, "192.0.2.9"};
    pthread_barrier_wait(d->go);
    d->rc = store_user_set_role(d->s, &actor, d->target, STORE_ROLE_RESIDENT);
    return NULL;
}

static void two_admins_demoting_each_other_leave_one_admin(void **state) {
    fixture *f = *state;
    store *second = open_db(f->url);
    for (int round = 0; round < 5; round++) {
        store_user a, b;
        char ea[64], eb[64];
        snprintf(ea, sizeof ea, "a%d@example.org", round);
        snprintf(eb, sizeof eb, "b%d@example.org", round);
        assert_int_equal(store_user_create(f->s, NULL, ea, "A", "", STORE_ROLE_ADMIN, &f->a, &a),
                         STORE_OK);
        assert_int_equal(store_user_create(f->s, NULL, eb, "B", "", STORE_ROLE_ADMIN, &f->a, &b),
                         STORE_OK);
        /* Earlier rounds' admins: demote them (as the system) so A and B are the only two. */
        store_user_list all;
        assert_int_equal(store_user_list_page(f->s, 0, 100, &f->a, &all), STORE_OK);
        for (size_t i = 0; i < all.n; i++)
            if (all.items[i].id != a.id && all.items[i].id != b.id &&
                all.items[i].role == STORE_ROLE_ADMIN)
                assert_int_equal(
                    store_user_set_role(f->s, NULL, all.items[i].id, STORE_ROLE_RESIDENT),
                    STORE_OK);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, 2);
        demoter d[2] = {{f->s, a.id, b.id, -1, &go}, {second, b.id, a.id, -1, &go}};
        pthread_t th[2];
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_create(&th[i], NULL, demote, &d[i]), 0);
        for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
        pthread_barrier_destroy(&go);
        /* Exactly one wins; the loser is no longer an admin when its turn comes. */
        assert_true((d[0].rc == STORE_OK) != (d[1].rc == STORE_OK));
        int loser = d[0].rc == STORE_OK ? 1 : 0;
        assert_int_equal(d[loser].rc, STORE_INVALID);
        store_user x;
        assert_int_equal(store_user_by_id(f->s, d[loser].actor, &f->a, &x), STORE_OK);
        assert_int_equal(x.role, STORE_ROLE_RESIDENT);
        assert_int_equal(store_user_by_id(f->s, d[1 - loser].actor, &f->a, &x), STORE_OK);
        assert_int_equal(x.role, STORE_ROLE_ADMIN);
        /* And the last admin cannot be demoted, even by the system. */
        assert_int_equal(store_user_set_role(f->s, NULL, x.id, STORE_ROLE_OFFICER), STORE_CONFLICT);
    }
    store_close(second);
}

/* ---- Copy ----------------------------------------------------------------------- */

/* Fills s with one of everything the contract can store. */
static void fill(store *s, arena *a) {
    store_actor admin = {0, "192.0.2.1"};
    store_user u;
    assert_int_equal(store_user_create(s, &admin, "Admin@Example.org", "Ädmin «quoted» 'x'",
                                       "$argon2id$h", STORE_ROLE_ADMIN, a, &u),
                     STORE_OK);
    admin.user_id = u.id;
    int64_t uid2;
    assert_int_equal(store_user_create(s, &admin, "r@example.org", "Resident\ttab", "", 0, a, &u),
                     STORE_OK);
    uid2 = u.id;
    assert_int_equal(store_user_set_role(s, &admin, uid2, STORE_ROLE_ORGANISER), STORE_OK);
    assert_int_equal(store_session_create(s, &admin, "hash-1", uid2, "csrf-1", "cy", 2000000000),
                     STORE_OK);
    assert_int_equal(store_session_create(s, NULL, "hash-anon", 0, "csrf-2", "", 2000000000),
                     STORE_OK);
    int count;
    assert_int_equal(store_ratelimit_hit(s, "signin:ip:192.0.2.1", 1000, 60, &count), STORE_OK);
    store_place p;
    store_place_input child = {0, STORE_PLACE_WARD, "Child ward", "E05000001", "line 1\nline 2"};
    assert_int_equal(store_place_create(s, &admin, &child, a, &p), STORE_OK);
    int64_t child_id = p.id;
    store_place_input parent = {0, STORE_PLACE_COUNCIL_AREA, "Parent", NULL, NULL};
    assert_int_equal(store_place_create(s, &admin, &parent, a, &p), STORE_OK);
    /* The child now points at a row created after it. */
    child.parent_id = p.id;
    assert_int_equal(store_place_update(s, &admin, child_id, &child), STORE_OK);
    assert_int_equal(store_job_enqueue(s, "mail.send", "{\"n\":1}", 0, NULL), STORE_OK);
}

static void check_filled(store *s, arena *a) {
    store_user u;
    assert_int_equal(store_user_by_email(s, "admin@example.org", a, &u), STORE_OK);
    assert_string_equal(u.display_name, "Ädmin «quoted» 'x'");
    assert_int_equal(u.role, STORE_ROLE_ADMIN);
    assert_int_equal(store_user_by_email(s, "r@example.org", a, &u), STORE_OK);
    assert_int_equal(u.role, STORE_ROLE_ORGANISER);
    store_session se;
    assert_int_equal(store_session_get(s, "hash-1", 1000, a, &se), STORE_OK);
    assert_int_equal(se.user_id, u.id);
    assert_string_equal(se.lang, "cy");
    store_place p;
    assert_int_equal(store_place_by_gss(s, "E05000001", a, &p), STORE_OK);
    assert_string_equal(p.parent_name, "Parent");
    assert_string_equal(p.description, "line 1\nline 2");
    int64_t n = 0;
    assert_int_equal(store_audit_count(s, &n), STORE_OK);
    assert_int_equal(n, 7); /* 2 user.create, user.role, signin, 2 place.create, update */
    store_audit_list l;
    assert_int_equal(store_audit_list_page(s, 0, 1, a, &l), STORE_OK);
    assert_string_equal(l.items[0].action, "place.update");
    assert_string_equal(l.items[0].ip, "192.0.2.1");
    store_job j;
    assert_int_equal(store_job_claim(s, NULL, "w", (int64_t)time(NULL), 10, a, &j), STORE_OK);
    assert_string_equal(j.payload, "{\"n\":1}");
    int count = 0;
    assert_int_equal(store_ratelimit_hit(s, "signin:ip:192.0.2.1", 1001, 60, &count), STORE_OK);
    assert_int_equal(count, 2);
}

static int64_t rows_of(const store_copy_report *r, const char *table) {
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->tables[i].name, table) == 0) return r->tables[i].rows;
    return -1;
}

static size_t position_of(const store_copy_report *r, const char *table) {
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->tables[i].name, table) == 0) return i;
    return (size_t)-1;
}

static void copy_there_and_back_loses_nothing(void **state) {
    fixture *f = *state; /* the backend under test: the destination */
    char src[512], back[512];
    new_sqlite(src, sizeof src);
    new_sqlite(back, sizeof back);
    store *from = open_db(src);
    fill(from, &f->a);
    store_copy_report rep;
    char err[512];
    assert_int_equal(store_copy(from, f->s, &f->a, &rep, err, sizeof err), STORE_OK);
    assert_int_equal(rows_of(&rep, "users"), 2);
    assert_int_equal(rows_of(&rep, "places"), 2);
    assert_int_equal(rows_of(&rep, "sessions"), 2);
    assert_int_equal(rows_of(&rep, "audit_log"), 7);
    assert_int_equal(rows_of(&rep, "jobs"), 1);
    assert_int_equal(rows_of(&rep, "ratelimit_hits"), 1);
    assert_true(position_of(&rep, "users") < position_of(&rep, "sessions"));
    assert_true(position_of(&rep, "users") < position_of(&rep, "places"));
    assert_int_equal(rows_of(&rep, "schema_migrations"), -1);
    /* A second copy into the same database is refused and changes nothing. */
    assert_int_equal(store_copy(from, f->s, &f->a, &rep, err, sizeof err), STORE_INVALID);
    assert_non_null(strstr(err, "not empty"));
    /* And back into a new SQLite file. */
    store *to = open_db(back);
    assert_int_equal(store_copy(f->s, to, &f->a, &rep, err, sizeof err), STORE_OK);
    assert_int_equal(rows_of(&rep, "audit_log"), 7);
    check_filled(f->s, &f->a);
    check_filled(to, &f->a);
    /* Ids keep counting past the copied ones. */
    store_user u;
    assert_int_equal(store_user_create(f->s, NULL, "new@example.org", "New", "", 0, &f->a, &u),
                     STORE_OK);
    assert_int_equal(u.id, 3);
    store_close(to);
    store_close(from);
    drop_db(src);
    drop_db(back);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(jobs_claim_complete_fail_and_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(jobs_wait_for_run_after_and_leases, setup, teardown),
        cmocka_unit_test_setup_teardown(jobs_reject_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_claims_run_every_job_exactly_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(two_admins_demoting_each_other_leave_one_admin, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(copy_there_and_back_loses_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
