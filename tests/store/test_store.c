/*
 * Unit tests for src/store: every contract function on a temporary database, migrations, constraint mapping, the audit trail and its
 * append-only guard, hostile text, concurrency from 8 threads, and backups.
 *
 * Each test gets a fresh file from mkstemp under /tmp and removes it (and its -wal and
 * -shm companions) afterwards. With CG_TEST_DB_URL set to a postgres:// URL (tests/run.sh
 * does so when scripts/pg-test.sh started a cluster) each test gets a fresh PostgreSQL
 * database instead (tests/pgtest.h), and the tests that inspect the SQLite file itself
 * skip. The raw sqlite3 API appears here only to play an
 * attacker or an inspector: checking what reached the file, or trying to rewrite the
 * audit log behind the store's back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/log.h"
#include "core/rand.h"
#include "pgtest.h"
#include "store/backend.h"
#include "store/store.h"

typedef struct fixture {
    char path[512]; /* a file, or a postgres:// URL */
    store *s;
    arena a;
} fixture;

static void remove_db(const char *path) {
    char p[128];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

/* The PostgreSQL server to test against, or NULL for SQLite files. */
static const char *pg_url(void) {
    const char *u = getenv("CG_TEST_DB_URL");
    return pgtest_is_pg(u) ? u : NULL;
}

/* For the tests that look inside the SQLite file. */
#define SQLITE_ONLY()                                                                    \
    do {                                                                                 \
        if (pg_url()) skip();                                                            \
    } while (0)

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    if (pg_url()) {
        if (pgtest_create(pg_url(), f->path, sizeof f->path) != 0) fail_msg("no database");
    } else {
        snprintf(f->path, sizeof f->path, "/tmp/cg_store_test_XXXXXX");
        int fd = mkstemp(f->path);
        assert_true(fd >= 0);
        close(fd);
    }
    char err[256];
    int rc = store_open(f->path, &f->s, err, sizeof err);
    if (rc != STORE_OK) fail_msg("store_open: %s", err);
    arena_init(&f->a, 0);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    store_close(f->s);
    if (pg_url()) pgtest_drop(pg_url(), f->path);
    else remove_db(f->path);
    arena_free(&f->a);
    free(f);
    return 0;
}

static const store_actor system_actor = {0, NULL};

static int64_t make_user(store *s, const char *email, store_role role) {
    arena a;
    arena_init(&a, 0);
    store_user u;
    assert_int_equal(store_user_create(s, &system_actor, email, "Someone", "hash", role, &a, &u),
                     STORE_OK);
    int64_t id = u.id;
    arena_free(&a);
    return id;
}

static int64_t audit_total(store *s) {
    int64_t n = -1;
    assert_int_equal(store_audit_count(s, &n), STORE_OK);
    return n;
}

/* The newest audit entry. */
static store_audit_entry newest_audit(store *s, arena *a) {
    store_audit_list l;
    assert_int_equal(store_audit_list_page(s, 0, 1, a, &l), STORE_OK);
    assert_int_equal(l.n, 1);
    return l.items[0];
}

/* ---- Lifecycle ------------------------------------------------------------------ */

static void open_rejects_postgres_and_bad_urls(void **state) {
    (void)state;
    store *s = NULL;
    char err[512];
    /* A PostgreSQL URL selects that backend; nobody listens on this socket. */
    assert_int_equal(store_open("postgres://u@/cg?host=/nonexistent-dir&connect_timeout=2", &s,
                                err, sizeof err),
                     STORE_ERROR);
    assert_non_null(strstr(err, "cannot connect to PostgreSQL"));
    assert_int_equal(store_open("postgresql://u@/cg?host=/nonexistent-dir", &s, err, sizeof err),
                     STORE_ERROR);
    assert_non_null(strstr(err, "cannot connect to PostgreSQL"));
    assert_int_equal(store_open("mysql://localhost/cg", &s, err, sizeof err), STORE_ERROR);
    assert_non_null(strstr(err, "unsupported"));
    assert_int_equal(store_open("/nonexistent-dir/x/y.db", &s, err, sizeof err), STORE_ERROR);
    assert_true(strlen(err) > 0);
    assert_null(s);
}

static void migrations_are_idempotent_on_reopen(void **state) {
    fixture *f = *state;
    int v = -1;
    assert_int_equal(store_schema_version(f->s, &v), STORE_OK);
    assert_int_equal(v, store_sqlite_migration_count);
    make_user(f->s, "keep@example.org", STORE_ROLE_ADMIN);
    for (int round = 0; round < 3; round++) {
        store_close(f->s);
        char err[256];
        assert_int_equal(store_open(f->path, &f->s, err, sizeof err), STORE_OK);
        assert_int_equal(store_schema_version(f->s, &v), STORE_OK);
        assert_int_equal(v, store_sqlite_migration_count);
    }
    int64_t n = 0;
    assert_int_equal(store_user_count(f->s, &n), STORE_OK);
    assert_int_equal(n, 1);
    if (pg_url()) return; /* below: inside the SQLite file */
    /* Exactly one row per migration: nothing was applied twice. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT COUNT(*), MIN(version), MAX(version) FROM "
                                        "schema_migrations",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), store_sqlite_migration_count);
    assert_int_equal(sqlite3_column_int(st, 1), 1);
    assert_int_equal(sqlite3_column_int(st, 2), store_sqlite_migration_count);
    sqlite3_finalize(st);
    /* The settings the contract promises. */
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void newer_schema_is_refused(void **state) {
    fixture *f = *state;
    if (pg_url()) {
        char q[128];
        snprintf(q, sizeof q, "INSERT INTO schema_migrations VALUES (%d, 0)",
                 store_sqlite_migration_count + 1);
        assert_int_equal(pgtest_exec(f->path, q), 0);
        store_close(f->s);
        f->s = NULL;
        char err[256];
        assert_int_equal(store_open(f->path, &f->s, err, sizeof err), STORE_ERROR);
        assert_non_null(strstr(err, "newer"));
        assert_null(f->s);
        return;
    }
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    char q[128];
    snprintf(q, sizeof q, "INSERT INTO schema_migrations VALUES (%d, 0)",
             store_sqlite_migration_count + 1);
    assert_int_equal(sqlite3_exec(db, q, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    store_close(f->s);
    f->s = NULL;
    char err[256];
    assert_int_equal(store_open(f->path, &f->s, err, sizeof err), STORE_ERROR);
    assert_non_null(strstr(err, "newer"));
    assert_null(f->s);
}

static void ping_answers(void **state) {
    fixture *f = *state;
    assert_int_equal(store_ping(f->s), STORE_OK);
}

/* ---- Users ---------------------------------------------------------------------- */

static void users_create_find_list_and_change(void **state) {
    fixture *f = *state;
    store_actor admin_actor = {0, "192.0.2.7"};
    store_user u;
    assert_int_equal(store_user_create(f->s, &admin_actor, "Ada.Lovelace@Example.ORG", "Ada",
                                       "$argon2id$v=19$x", STORE_ROLE_RESIDENT, &f->a, &u),
                     STORE_OK);
    assert_true(u.id > 0);
    assert_true(uuid_valid(u.uuid));
    assert_string_equal(u.email, "ada.lovelace@example.org");
    assert_int_equal(u.role, STORE_ROLE_RESIDENT);
    assert_true(llabs(u.created_at - (int64_t)time(NULL)) < 5);

    /* The same address in another case is the same account. */
    assert_int_equal(store_user_create(f->s, NULL, "ADA.LOVELACE@example.org", "Other", "h",
                                       STORE_ROLE_ADMIN, &f->a, NULL),
                     STORE_CONFLICT);

    store_user g;
    assert_int_equal(store_user_by_email(f->s, "ada.LOVELACE@example.org", &f->a, &g), STORE_OK);
    assert_int_equal(g.id, u.id);
    assert_string_equal(g.password_hash, "$argon2id$v=19$x");
    assert_int_equal(store_user_by_id(f->s, u.id, &f->a, &g), STORE_OK);
    assert_string_equal(g.uuid, u.uuid);
    assert_int_equal(store_user_by_uuid(f->s, u.uuid, &f->a, &g), STORE_OK);
    assert_string_equal(g.display_name, "Ada");
    assert_int_equal(store_user_by_email(f->s, "nobody@example.org", &f->a, &g), STORE_NOT_FOUND);
    assert_int_equal(store_user_by_id(f->s, u.id + 1000, &f->a, &g), STORE_NOT_FOUND);
    assert_int_equal(store_user_by_uuid(f->s, "00000000-0000-4000-8000-000000000000", &f->a, &g),
                     STORE_NOT_FOUND);

    assert_int_equal(store_user_set_role(f->s, &admin_actor, u.id, STORE_ROLE_OFFICER), STORE_OK);
    assert_int_equal(store_user_set_password(f->s, &admin_actor, u.id, "$argon2id$new"), STORE_OK);
    assert_int_equal(store_user_set_display_name(f->s, &admin_actor, u.id, "Ada L."), STORE_OK);
    assert_int_equal(store_user_by_id(f->s, u.id, &f->a, &g), STORE_OK);
    assert_int_equal(g.role, STORE_ROLE_OFFICER);
    assert_string_equal(g.password_hash, "$argon2id$new");
    assert_string_equal(g.display_name, "Ada L.");
    assert_false(g.must_change_password);
    assert_false(u.must_change_password);
    assert_int_equal(store_user_set_role(f->s, NULL, 99999, STORE_ROLE_ADMIN), STORE_NOT_FOUND);
    assert_int_equal(store_user_set_password(f->s, NULL, 99999, "x"), STORE_NOT_FOUND);
    assert_int_equal(store_user_set_role(f->s, NULL, u.id, (store_role)7), STORE_INVALID);

    /* Paging: 25 more users, pages of 10 in creation order, the total always 26. */
    for (int i = 0; i < 25; i++) {
        char email[64];
        snprintf(email, sizeof email, "user%02d@example.org", i);
        make_user(f->s, email, STORE_ROLE_RESIDENT);
    }
    int64_t n = 0;
    assert_int_equal(store_user_count(f->s, &n), STORE_OK);
    assert_int_equal(n, 26);
    store_user_list l;
    assert_int_equal(store_user_list_page(f->s, 0, 10, &f->a, &l), STORE_OK);
    assert_int_equal(l.n, 10);
    assert_int_equal(l.total, 26);
    assert_int_equal(l.items[0].id, u.id);
    assert_string_equal(l.items[1].email, "user00@example.org");
    assert_int_equal(store_user_list_page(f->s, 20, 10, &f->a, &l), STORE_OK);
    assert_int_equal(l.n, 6);
    assert_string_equal(l.items[5].email, "user24@example.org");
    assert_int_equal(store_user_list_page(f->s, 30, 10, &f->a, &l), STORE_OK);
    assert_int_equal(l.n, 0);
    assert_int_equal(l.total, 26);
    assert_int_equal(store_user_list_page(f->s, 0, 0, &f->a, &l), STORE_OK);
    assert_int_equal(l.n, 0);
    assert_int_equal(l.total, 26);
    assert_int_equal(store_user_list_page(f->s, -1, 5, &f->a, &l), STORE_INVALID);

    /* A printed (one-time) password must be replaced at the first sign-in; the user's
     * own password ends that. */
    store_user once;
    assert_int_equal(store_user_create_one_time(f->s, &admin_actor, "once@example.org", "Once",
                                                "$argon2id$once", STORE_ROLE_OFFICER, &f->a, &once),
                     STORE_OK);
    assert_true(once.must_change_password);
    assert_int_equal(store_user_by_email(f->s, "once@example.org", &f->a, &g), STORE_OK);
    assert_true(g.must_change_password);
    assert_string_equal(g.password_hash, "$argon2id$once");
    assert_int_equal(store_user_set_password(f->s, &admin_actor, once.id, "$argon2id$own"), STORE_OK);
    assert_int_equal(store_user_by_uuid(f->s, once.uuid, &f->a, &g), STORE_OK);
    assert_false(g.must_change_password);
}

static void users_reject_bad_input(void **state) {
    fixture *f = *state;
    store_user u;
    const char *bad_emails[] = {
        "", "no-at-sign", "@example.org", "someone@", "a\x01@b.c", "caf\xc3@x.org", NULL};
    for (int i = 0; bad_emails[i]; i++)
        assert_int_equal(store_user_create(f->s, NULL, bad_emails[i], "Name", "h",
                                           STORE_ROLE_RESIDENT, &f->a, &u),
                         STORE_INVALID);
    assert_int_equal(
        store_user_create(f->s, NULL, "a@b.org", "", "h", STORE_ROLE_RESIDENT, &f->a, &u),
        STORE_INVALID);
    assert_int_equal(
        store_user_create(f->s, NULL, "a@b.org", "  \t", "h", STORE_ROLE_RESIDENT, &f->a, &u),
        STORE_INVALID);
    assert_int_equal(
        store_user_create(f->s, NULL, "a@b.org", "Name", "h", (store_role)-1, &f->a, &u),
        STORE_INVALID);
    assert_int_equal(store_user_set_display_name(f->s, NULL, 1, ""), STORE_INVALID);
    int64_t n = -1;
    assert_int_equal(store_user_count(f->s, &n), STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(audit_total(f->s), 0);
}

static void role_and_kind_names_round_trip(void **state) {
    (void)state;
    for (int r = STORE_ROLE_RESIDENT; r <= STORE_ROLE_ADMIN; r++) {
        store_role back;
        assert_int_equal(store_role_parse(store_role_name((store_role)r), &back), 0);
        assert_int_equal(back, r);
    }
    store_role role;
    assert_int_equal(store_role_parse("Admin", &role), -1);
    assert_int_equal(store_role_parse("superuser", &role), -1);
    assert_string_equal(store_role_name((store_role)9), "unknown");
    assert_string_equal(store_role_name(STORE_ROLE_ORGANISER), "organiser");
    for (int k = STORE_PLACE_COUNCIL_AREA; k <= STORE_PLACE_NEIGHBOURHOOD; k++) {
        store_place_kind back;
        assert_int_equal(store_place_kind_parse(store_place_kind_name((store_place_kind)k), &back),
                         0);
        assert_int_equal(back, k);
    }
    store_place_kind kind;
    assert_int_equal(store_place_kind_parse("county", &kind), -1);
    assert_string_equal(store_place_kind_name(STORE_PLACE_COUNCIL_AREA), "council_area");
    assert_string_equal(store_strerror(STORE_CONFLICT), "conflict");
}

/* ---- Audit ---------------------------------------------------------------------- */

static void every_change_is_audited_with_actor_and_detail(void **state) {
    fixture *f = *state;
    store_user admin;
    assert_int_equal(store_user_create(f->s, NULL, "admin@example.org", "The Admin", "h",
                                       STORE_ROLE_ADMIN, &f->a, &admin),
                     STORE_OK);
    store_audit_entry e = newest_audit(f->s, &f->a);
    assert_string_equal(e.action, "user.create");
    assert_string_equal(e.entity_type, "user");
    assert_string_equal(e.entity_id, admin.uuid);
    assert_int_equal(e.user_id, 0);
    assert_null(e.actor_name);
    assert_null(e.ip);
    assert_true(llabs(e.at - (int64_t)time(NULL)) < 5);

    int64_t bob = make_user(f->s, "bob@example.org", STORE_ROLE_RESIDENT);
    store_actor by_admin = {admin.id, "2001:db8::1"};
    assert_int_equal(store_user_set_role(f->s, &by_admin, bob, STORE_ROLE_ORGANISER), STORE_OK);
    e = newest_audit(f->s, &f->a);
    assert_string_equal(e.action, "user.role");
    assert_int_equal(e.user_id, admin.id);
    assert_string_equal(e.actor_name, "The Admin");
    assert_string_equal(e.ip, "2001:db8::1");
    json_error_t jerr;
    json_t *d = json_loads(e.detail, 0, &jerr);
    assert_non_null(d);
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "role"), "from")),
                        "resident");
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "role"), "to")),
                        "organiser");
    json_decref(d);

    assert_int_equal(store_user_set_password(f->s, &by_admin, bob, "SECRET-HASH"), STORE_OK);
    e = newest_audit(f->s, &f->a);
    assert_string_equal(e.action, "user.password");
    assert_null(strstr(e.detail, "SECRET-HASH"));

    /* A refused change leaves no audit entry: the entry shares its transaction. */
    int64_t before = audit_total(f->s);
    assert_int_equal(store_user_create(f->s, &by_admin, "BOB@example.org", "Dup", "h",
                                       STORE_ROLE_RESIDENT, &f->a, NULL),
                     STORE_CONFLICT);
    assert_int_equal(store_user_set_role(f->s, &by_admin, 424242, STORE_ROLE_ADMIN),
                     STORE_NOT_FOUND);
    assert_int_equal(audit_total(f->s), before);

    /* Newest first, and paging over the whole log. */
    store_audit_list l;
    assert_int_equal(store_audit_list_page(f->s, 0, 100, &f->a, &l), STORE_OK);
    assert_int_equal((int64_t)l.n, l.total);
    assert_int_equal(l.total, 4);
    for (size_t i = 1; i < l.n; i++) assert_true(l.items[i - 1].id > l.items[i].id);
    assert_string_equal(l.items[3].action, "user.create");
    assert_int_equal(store_audit_list_page(f->s, 3, 100, &f->a, &l), STORE_OK);
    assert_int_equal(l.n, 1);
}

static void audit_log_refuses_update_and_delete(void **state) {
    fixture *f = *state;
    make_user(f->s, "x@example.org", STORE_ROLE_RESIDENT);
    int64_t before = audit_total(f->s);
    assert_true(before > 0);
    if (pg_url()) { /* the trigger function refuses each (its message goes to stderr) */
        assert_int_equal(pgtest_exec(f->path, "UPDATE audit_log SET action = 'forged'"), -1);
        assert_int_equal(pgtest_exec(f->path, "DELETE FROM audit_log"), -1);
        assert_int_equal(pgtest_exec(f->path, "TRUNCATE audit_log"), -1);
        assert_int_equal(audit_total(f->s), before);
        return;
    }
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    char *msg = NULL;
    assert_int_not_equal(
        sqlite3_exec(db, "UPDATE audit_log SET action = 'forged'", NULL, NULL, &msg), SQLITE_OK);
    assert_non_null(msg);
    assert_non_null(strstr(msg, "append-only"));
    sqlite3_free(msg);
    msg = NULL;
    assert_int_not_equal(sqlite3_exec(db, "DELETE FROM audit_log", NULL, NULL, &msg), SQLITE_OK);
    assert_non_null(strstr(msg, "append-only"));
    sqlite3_free(msg);
    sqlite3_close(db);
    assert_int_equal(audit_total(f->s), before);
    store_audit_entry e = newest_audit(f->s, &f->a);
    assert_string_equal(e.action, "user.create");
}

/* ---- Sessions ------------------------------------------------------------------- */

static void sessions_lifecycle(void **state) {
    fixture *f = *state;
    int64_t uid = make_user(f->s, "s@example.org", STORE_ROLE_RESIDENT);
    int64_t t0 = 1700000000;
    store_actor visitor = {0, "198.51.100.4"};
    int64_t audits = audit_total(f->s);

    /* An anonymous visitor's session: not audited. */
    assert_int_equal(store_session_create(f->s, &visitor, "hash-anon", 0, "csrf-1", "", t0 + 3600),
                     STORE_OK);
    assert_int_equal(audit_total(f->s), audits);
    store_session ss;
    assert_int_equal(store_session_get(f->s, "hash-anon", t0, &f->a, &ss), STORE_OK);
    assert_int_equal(ss.user_id, 0);
    assert_string_equal(ss.csrf_token, "csrf-1");
    assert_string_equal(ss.lang, "");
    assert_int_equal(ss.expires_at, t0 + 3600);
    assert_int_equal(store_session_set_lang(f->s, "hash-anon", "cy"), STORE_OK);
    assert_int_equal(store_session_get(f->s, "hash-anon", t0, &f->a, &ss), STORE_OK);
    assert_string_equal(ss.lang, "cy");

    /* Expiry: hidden at and after expires_at; extension brings it back. */
    assert_int_equal(store_session_get(f->s, "hash-anon", t0 + 3600, &f->a, &ss), STORE_NOT_FOUND);
    assert_int_equal(store_session_extend(f->s, "hash-anon", t0 + 7200), STORE_OK);
    assert_int_equal(store_session_get(f->s, "hash-anon", t0 + 3600, &f->a, &ss), STORE_OK);
    assert_int_equal(ss.expires_at, t0 + 7200);
    assert_int_equal(store_session_extend(f->s, "no-such", t0), STORE_NOT_FOUND);
    assert_int_equal(store_session_set_lang(f->s, "no-such", "en"), STORE_NOT_FOUND);

    /* Sign-in: a user session, audited. */
    assert_int_equal(
        store_session_create(f->s, &visitor, "hash-user", uid, "csrf-2", "en", t0 + 3600),
        STORE_OK);
    assert_int_equal(audit_total(f->s), audits + 1);
    store_audit_entry e = newest_audit(f->s, &f->a);
    assert_string_equal(e.action, "session.signin");
    assert_null(strstr(e.detail, "hash-user"));
    assert_int_equal(store_session_get(f->s, "hash-user", t0, &f->a, &ss), STORE_OK);
    assert_int_equal(ss.user_id, uid);
    assert_int_equal(store_session_create(f->s, &visitor, "hash-user", uid, "c", "en", t0),
                     STORE_CONFLICT);
    assert_int_equal(store_session_create(f->s, &visitor, "hash-ghost", 987654, "c", "en", t0),
                     STORE_INVALID);

    /* Sign-out. */
    store_actor me = {uid, "198.51.100.4"};
    assert_int_equal(store_session_delete(f->s, &me, "hash-user"), STORE_OK);
    assert_string_equal(newest_audit(f->s, &f->a).action, "session.signout");
    assert_int_equal(store_session_get(f->s, "hash-user", t0, &f->a, &ss), STORE_NOT_FOUND);
    assert_int_equal(store_session_delete(f->s, &me, "hash-user"), STORE_NOT_FOUND);
    audits = audit_total(f->s);
    assert_int_equal(store_session_delete(f->s, &visitor, "hash-anon"), STORE_OK);
    assert_int_equal(audit_total(f->s), audits); /* anonymous: not audited */

    /* Sign out everywhere. */
    assert_int_equal(store_session_create(f->s, &me, "h1", uid, "c", "en", t0 + 10), STORE_OK);
    assert_int_equal(store_session_create(f->s, &me, "h2", uid, "c", "en", t0 + 10), STORE_OK);
    assert_int_equal(store_session_create(f->s, &me, "h3", 0, "c", "en", t0 + 10), STORE_OK);
    assert_int_equal(store_session_delete_for_user(f->s, &me, uid), STORE_OK);
    e = newest_audit(f->s, &f->a);
    assert_string_equal(e.action, "session.revoke_all");
    assert_non_null(strstr(e.detail, "\"count\":2"));
    assert_int_equal(store_session_get(f->s, "h1", t0, &f->a, &ss), STORE_NOT_FOUND);
    assert_int_equal(store_session_get(f->s, "h2", t0, &f->a, &ss), STORE_NOT_FOUND);
    assert_int_equal(store_session_get(f->s, "h3", t0, &f->a, &ss), STORE_OK);
    assert_int_equal(store_session_delete_for_user(f->s, &me, 55555), STORE_NOT_FOUND);

    /* Purge. */
    assert_int_equal(store_session_create(f->s, NULL, "old1", 0, "c", "", t0 - 10), STORE_OK);
    assert_int_equal(store_session_create(f->s, NULL, "old2", 0, "c", "", t0), STORE_OK);
    int64_t deleted = -1;
    assert_int_equal(store_session_purge_expired(f->s, t0, &deleted), STORE_OK);
    assert_int_equal(deleted, 2);
    assert_int_equal(store_session_get(f->s, "h3", t0, &f->a, &ss), STORE_OK);
}

static void deleting_nothing_but_sessions_of_a_user(void **state) {
    fixture *f = *state;
    int64_t a = make_user(f->s, "a@example.org", STORE_ROLE_RESIDENT);
    int64_t b = make_user(f->s, "b@example.org", STORE_ROLE_RESIDENT);
    assert_int_equal(store_session_create(f->s, NULL, "ta", a, "c", "", INT64_MAX), STORE_OK);
    assert_int_equal(store_session_create(f->s, NULL, "tb", b, "c", "", INT64_MAX), STORE_OK);
    assert_int_equal(store_session_delete_for_user(f->s, NULL, a), STORE_OK);
    store_session ss;
    assert_int_equal(store_session_get(f->s, "ta", 0, &f->a, &ss), STORE_NOT_FOUND);
    assert_int_equal(store_session_get(f->s, "tb", 0, &f->a, &ss), STORE_OK);
    assert_int_equal(ss.user_id, b);
}

/* ---- Rate limits ---------------------------------------------------------------- */

static void ratelimit_counts_a_sliding_window(void **state) {
    fixture *f = *state;
    int n = 0;
    int64_t t = 1000000;
    for (int i = 1; i <= 5; i++) {
        assert_int_equal(store_ratelimit_hit(f->s, "signin:ip:192.0.2.1", t + i, 60, &n), STORE_OK);
        assert_int_equal(n, i);
    }
    /* Another key is counted apart. */
    assert_int_equal(store_ratelimit_hit(f->s, "signin:acct:a@b.org", t + 5, 60, &n), STORE_OK);
    assert_int_equal(n, 1);
    /* 60 s after the first hit it has left the window: 4 old + this one. */
    assert_int_equal(store_ratelimit_hit(f->s, "signin:ip:192.0.2.1", t + 61, 60, &n), STORE_OK);
    assert_int_equal(n, 5);
    /* Long after, only the new hit counts. */
    assert_int_equal(store_ratelimit_hit(f->s, "signin:ip:192.0.2.1", t + 1000, 60, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_ratelimit_clear(f->s, "signin:ip:192.0.2.1"), STORE_OK);
    assert_int_equal(store_ratelimit_hit(f->s, "signin:ip:192.0.2.1", t + 1001, 60, &n), STORE_OK);
    assert_int_equal(n, 1);
    int64_t deleted = -1;
    assert_int_equal(store_ratelimit_purge(f->s, t + 10, &deleted), STORE_OK);
    assert_int_equal(deleted, 1); /* the other key's hit at t+5 */
    assert_int_equal(store_ratelimit_hit(f->s, "signin:acct:a@b.org", t + 11, 60, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_ratelimit_hit(f->s, "k", t, 0, &n), STORE_INVALID);
    assert_int_equal(store_ratelimit_hit(f->s, "", t, 10, &n), STORE_INVALID);
    assert_int_equal(audit_total(f->s), 0); /* bookkeeping is not audited */
}

/* ---- Places --------------------------------------------------------------------- */

static int64_t make_place(store *s, const store_actor *who, int64_t parent, store_place_kind kind,
                          const char *name, const char *gss) {
    arena a;
    arena_init(&a, 0);
    store_place p;
    store_place_input in = {parent, kind, name, gss, NULL};
    int rc = store_place_create(s, who, &in, &a, &p);
    if (rc != STORE_OK) fail_msg("place_create(%s): %s", name, store_strerror(rc));
    int64_t id = p.id;
    arena_free(&a);
    return id;
}

static void places_hierarchy_lists_and_updates(void **state) {
    fixture *f = *state;
    store_user officer;
    assert_int_equal(store_user_create(f->s, NULL, "officer@adur-worthing.gov.uk", "Olu", "h",
                                       STORE_ROLE_OFFICER, &f->a, &officer),
                     STORE_OK);
    store_actor by = {officer.id, "203.0.113.9"};
    store_place adur;
    store_place_input in = {0, STORE_PLACE_COUNCIL_AREA, "Adur", "E07000223", "Coastal district"};
    assert_int_equal(store_place_create(f->s, &by, &in, &f->a, &adur), STORE_OK);
    assert_true(uuid_valid(adur.uuid));
    assert_int_equal(adur.parent_id, 0);
    assert_null(adur.parent_uuid);
    assert_string_equal(adur.gss_code, "E07000223");
    assert_string_equal(adur.description, "Coastal district");
    assert_int_equal(adur.updated_by, officer.id);
    assert_int_equal(adur.child_count, 0);
    int64_t worthing = make_place(f->s, &by, 0, STORE_PLACE_COUNCIL_AREA, "Worthing", "E07000229");
    int64_t w1 = make_place(f->s, &by, adur.id, STORE_PLACE_WARD, "Southwick Green", "E05007571");
    int64_t w2 = make_place(f->s, &by, adur.id, STORE_PLACE_WARD, "Buckingham", "E05007562");
    int64_t w3 = make_place(f->s, &by, worthing, STORE_PLACE_WARD, "Marine", "E05007699");
    int64_t nb = make_place(f->s, &by, w1, STORE_PLACE_NEIGHBOURHOOD, "Fishersgate", NULL);

    store_place p;
    assert_int_equal(store_place_by_id(f->s, nb, &f->a, &p), STORE_OK);
    assert_null(p.gss_code);
    assert_string_equal(p.description, "");
    assert_string_equal(p.parent_name, "Southwick Green");
    assert_int_equal(p.parent_id, w1);
    assert_int_equal(p.kind, STORE_PLACE_NEIGHBOURHOOD);
    assert_int_equal(store_place_by_gss(f->s, "E05007562", &f->a, &p), STORE_OK);
    assert_int_equal(p.id, w2);
    assert_string_equal(p.parent_uuid, adur.uuid);
    assert_int_equal(store_place_by_uuid(f->s, adur.uuid, &f->a, &p), STORE_OK);
    assert_int_equal(p.child_count, 2);
    assert_int_equal(store_place_by_gss(f->s, "E99999999", &f->a, &p), STORE_NOT_FOUND);

    /* GSS codes are unique when present; absent ones never collide. */
    store_place_input dup = {0, STORE_PLACE_COUNCIL_AREA, "Adur again", "E07000223", NULL};
    assert_int_equal(store_place_create(f->s, &by, &dup, &f->a, NULL), STORE_CONFLICT);
    make_place(f->s, &by, w1, STORE_PLACE_NEIGHBOURHOOD, "Southwick Square", "");
    store_place_input orphan = {987654, STORE_PLACE_WARD, "Nowhere", NULL, NULL};
    assert_int_equal(store_place_create(f->s, &by, &orphan, &f->a, NULL), STORE_INVALID);
    store_place_input unnamed = {0, STORE_PLACE_WARD, " ", NULL, NULL};
    assert_int_equal(store_place_create(f->s, &by, &unnamed, &f->a, NULL), STORE_INVALID);

    /* Lists: roots, children (by name), all. */
    store_place_list l;
    assert_int_equal(store_place_list_page(f->s, STORE_PLACES_ROOTS, 0, 50, &f->a, &l), STORE_OK);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].name, "Adur");
    assert_int_equal(l.items[0].child_count, 2);
    assert_string_equal(l.items[1].name, "Worthing");
    assert_int_equal(l.items[1].child_count, 1);
    assert_int_equal(store_place_list_page(f->s, adur.id, 0, 50, &f->a, &l), STORE_OK);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.total, 2);
    assert_string_equal(l.items[0].name, "Buckingham");
    assert_string_equal(l.items[1].name, "Southwick Green");
    assert_int_equal(l.items[1].child_count, 2);
    assert_int_equal(store_place_list_page(f->s, STORE_PLACES_ALL, 1, 3, &f->a, &l), STORE_OK);
    assert_int_equal(l.total, 7);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.items[0].name, "Buckingham");
    int64_t n = 0;
    assert_int_equal(store_place_count(f->s, &n), STORE_OK);
    assert_int_equal(n, 7);

    /* Update: move Marine under Adur, rename; the audit entry lists what changed. */
    store_place_input up = {adur.id, STORE_PLACE_WARD, "Marine (moved)", "E05007699", "now Adur"};
    assert_int_equal(store_place_update(f->s, &by, w3, &up), STORE_OK);
    assert_int_equal(store_place_by_id(f->s, w3, &f->a, &p), STORE_OK);
    assert_string_equal(p.name, "Marine (moved)");
    assert_int_equal(p.parent_id, adur.id);
    assert_string_equal(p.description, "now Adur");
    store_audit_entry e = newest_audit(f->s, &f->a);
    assert_string_equal(e.action, "place.update");
    assert_string_equal(e.entity_id, p.uuid);
    assert_string_equal(e.actor_name, "Olu");
    json_t *d = json_loads(e.detail, 0, NULL);
    assert_non_null(d);
    assert_non_null(json_object_get(d, "name"));
    assert_non_null(json_object_get(d, "parent"));
    assert_non_null(json_object_get(d, "description"));
    assert_null(json_object_get(d, "gss_code")); /* unchanged */
    assert_null(json_object_get(d, "kind"));
    json_decref(d);

    /* Cycles: a place cannot become its own parent or its descendant's child. */
    store_place_input self = {adur.id, STORE_PLACE_COUNCIL_AREA, "Adur", "E07000223", NULL};
    assert_int_equal(store_place_update(f->s, &by, adur.id, &self), STORE_INVALID);
    store_place_input under_grandchild = {nb, STORE_PLACE_COUNCIL_AREA, "Adur", "E07000223", NULL};
    assert_int_equal(store_place_update(f->s, &by, adur.id, &under_grandchild), STORE_INVALID);
    store_place_input to_missing = {424242, STORE_PLACE_WARD, "X", NULL, NULL};
    assert_int_equal(store_place_update(f->s, &by, w2, &to_missing), STORE_INVALID);
    store_place_input steal = {adur.id, STORE_PLACE_WARD, "Buckingham", "E05007571", NULL};
    assert_int_equal(store_place_update(f->s, &by, w2, &steal), STORE_CONFLICT);
    assert_int_equal(store_place_update(f->s, &by, 424242, &up), STORE_NOT_FOUND);
    /* A legal move further down: a neighbourhood to another ward. */
    store_place_input move = {w2, STORE_PLACE_NEIGHBOURHOOD, "Fishersgate", NULL, NULL};
    assert_int_equal(store_place_update(f->s, &by, nb, &move), STORE_OK);
    /* Detaching to the top level is allowed. */
    store_place_input top = {0, STORE_PLACE_NEIGHBOURHOOD, "Fishersgate", NULL, NULL};
    assert_int_equal(store_place_update(f->s, &by, nb, &top), STORE_OK);
    assert_int_equal(store_place_by_id(f->s, nb, &f->a, &p), STORE_OK);
    assert_int_equal(p.parent_id, 0);
    assert_null(p.parent_name);
}

/* ---- Hostile text --------------------------------------------------------------- */

static void hostile_strings_are_stored_byte_exact(void **state) {
    fixture *f = *state;
    static const char *const hostile[] = {
        "<script>alert(1)</script>",
        "Robert'); DROP TABLE users; --",
        "\"quoted\" and 'single' and `back`",
        "%s%n%x%p",
        "line one\nline two\r\n\ttabbed",
        "Llanfair\xc5\xb5ll \xe2\x80\x94 Ysbyty Ifan \xf0\x9f\x8f\xb4\xf3\xa0\x81\xa7", /* Welsh,
                                                                                           dash,
                                                                                           flag */
        "\xe2\x80\xae"
        "RTL override \xef\xbb\xbf BOM",
        "back\\slash and NUL-free \xc2\xa0 nbsp",
        "' OR '1'='1",
        "); DELETE FROM audit_log; --",
    };
    size_t n = sizeof hostile / sizeof hostile[0];
    for (size_t i = 0; i < n; i++) {
        char email[64];
        snprintf(email, sizeof email, "h%zu@example.org", i);
        store_user u, g;
        assert_int_equal(store_user_create(f->s, NULL, email, hostile[i], hostile[i],
                                           STORE_ROLE_RESIDENT, &f->a, &u),
                         STORE_OK);
        assert_int_equal(store_user_by_uuid(f->s, u.uuid, &f->a, &g), STORE_OK);
        assert_memory_equal(g.display_name, hostile[i], strlen(hostile[i]) + 1);
        assert_memory_equal(g.password_hash, hostile[i], strlen(hostile[i]) + 1);
        store_place_input in = {0, STORE_PLACE_WARD, hostile[i], hostile[i], hostile[i]};
        store_place p, q;
        assert_int_equal(store_place_create(f->s, NULL, &in, &f->a, &p), STORE_OK);
        assert_int_equal(store_place_by_uuid(f->s, p.uuid, &f->a, &q), STORE_OK);
        assert_memory_equal(q.name, hostile[i], strlen(hostile[i]) + 1);
        assert_memory_equal(q.gss_code, hostile[i], strlen(hostile[i]) + 1);
        assert_memory_equal(q.description, hostile[i], strlen(hostile[i]) + 1);
        assert_int_equal(
            store_session_create(f->s, NULL, hostile[i], 0, hostile[i], hostile[i], INT64_MAX),
            STORE_OK);
        store_session ss;
        assert_int_equal(store_session_get(f->s, hostile[i], 0, &f->a, &ss), STORE_OK);
        assert_string_equal(ss.csrf_token, hostile[i]);
        assert_string_equal(ss.lang, hostile[i]);
        /* The audit detail is valid JSON that carries the text exactly. */
        store_audit_entry e = newest_audit(f->s, &f->a);
        json_t *d = json_loads(e.detail, 0, NULL);
        assert_non_null(d);
        assert_string_equal(json_string_value(json_object_get(d, "name")), hostile[i]);
        json_decref(d);
    }
    int64_t count = 0;
    assert_int_equal(store_user_count(f->s, &count), STORE_OK);
    assert_int_equal(count, (int64_t)n);
    assert_int_equal(store_audit_count(f->s, &count), STORE_OK);
    assert_int_equal(count, (int64_t)(2 * n));
    /* A 64 KiB name survives too. */
    size_t big = 64 * 1024;
    char *s = malloc(big + 1);
    for (size_t i = 0; i < big; i++) s[i] = (char)('a' + i % 26);
    s[big] = '\0';
    store_place_input in = {0, STORE_PLACE_WARD, "Big", NULL, s};
    store_place p;
    assert_int_equal(store_place_create(f->s, NULL, &in, &f->a, &p), STORE_OK);
    assert_int_equal(strlen(p.description), big);
    assert_memory_equal(p.description, s, big);
    free(s);
}

static void invalid_text_is_refused_and_changes_nothing(void **state) {
    fixture *f = *state;
    const char *bad[] = {"caf\xc3", "\xc0\xaf", "\xed\xa0\x80 surrogate", "bell\x07", "esc\x1b[0m",
                         "\xff",    NULL};
    for (int i = 0; bad[i]; i++) {
        assert_int_equal(store_user_create(f->s, NULL, "ok@example.org", bad[i], "h",
                                           STORE_ROLE_RESIDENT, &f->a, NULL),
                         STORE_INVALID);
        store_place_input in = {0, STORE_PLACE_WARD, bad[i], NULL, NULL};
        assert_int_equal(store_place_create(f->s, NULL, &in, &f->a, NULL), STORE_INVALID);
        store_place_input in2 = {0, STORE_PLACE_WARD, "Fine", NULL, bad[i]};
        assert_int_equal(store_place_create(f->s, NULL, &in2, &f->a, NULL), STORE_INVALID);
        assert_int_equal(store_session_create(f->s, NULL, "t", 0, bad[i], "", 10), STORE_INVALID);
        store_user u;
        assert_int_equal(store_user_by_uuid(f->s, bad[i], &f->a, &u), STORE_NOT_FOUND);
    }
    int64_t n = -1;
    assert_int_equal(store_place_count(f->s, &n), STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(audit_total(f->s), 0);
}

/* ---- Concurrency ---------------------------------------------------------------- */

#define THREADS 8
#define PER_THREAD 25

typedef struct worker {
    store *s;
    int index;
    int64_t parent;
    int failures;
    int ops; /* 0 = PER_THREAD */
} worker;

static void *work(void *arg) {
    worker *w = arg;
    arena a;
    arena_init(&a, 0);
    int ops = w->ops ? w->ops : PER_THREAD;
    for (int i = 0; i < ops; i++) {
        char email[64], name[64];
        snprintf(email, sizeof email, "t%d-u%d@example.org", w->index, i);
        snprintf(name, sizeof name, "Place %d/%d", w->index, i);
        store_user u;
        store_actor me = {0, "127.0.0.1"};
        if (store_user_create(w->s, &me, email, name, "h", STORE_ROLE_RESIDENT, &a, &u) !=
            STORE_OK) {
            w->failures++;
            continue;
        }
        me.user_id = u.id;
        store_place_input in = {w->parent, STORE_PLACE_NEIGHBOURHOOD, name, NULL, NULL};
        store_place p;
        if (store_place_create(w->s, &me, &in, &a, &p) != STORE_OK) w->failures++;
        /* Reads interleave with the writes of the other threads. */
        store_user g;
        if (store_user_by_email(w->s, email, &a, &g) != STORE_OK || g.id != u.id) w->failures++;
        int count = 0;
        if (store_ratelimit_hit(w->s, "shared-key", 5000, 3600, &count) != STORE_OK || count < 1)
            w->failures++;
        arena_reset(&a);
    }
    arena_free(&a);
    return NULL;
}

static void eight_threads_write_at_once_and_nothing_is_lost(void **state) {
    fixture *f = *state;
    int64_t parent = make_place(f->s, NULL, 0, STORE_PLACE_WARD, "Shared parent", NULL);
    pthread_t th[THREADS];
    worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){f->s, i, parent, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    int64_t n = 0;
    assert_int_equal(store_user_count(f->s, &n), STORE_OK);
    assert_int_equal(n, THREADS * PER_THREAD);
    assert_int_equal(store_place_count(f->s, &n), STORE_OK);
    assert_int_equal(n, THREADS * PER_THREAD + 1);
    store_place p;
    assert_int_equal(store_place_by_id(f->s, parent, &f->a, &p), STORE_OK);
    assert_int_equal(p.child_count, THREADS * PER_THREAD);
    assert_int_equal(audit_total(f->s), 2 * THREADS * PER_THREAD + 1);
    int count = 0;
    assert_int_equal(store_ratelimit_hit(f->s, "shared-key", 5000, 3600, &count), STORE_OK);
    assert_int_equal(count, THREADS * PER_THREAD + 1);
    /* Every user's audit entry names the right entity. */
    store_user_list l;
    assert_int_equal(store_user_list_page(f->s, 0, THREADS * PER_THREAD, &f->a, &l), STORE_OK);
    assert_int_equal(l.n, THREADS * PER_THREAD);
}

/* ---- Backup --------------------------------------------------------------------- */

typedef struct writer {
    store *s;
    volatile int stop;
    int written;
} writer;

static void *keep_writing(void *arg) {
    writer *wr = arg;
    arena a;
    arena_init(&a, 0);
    while (!wr->stop && wr->written < 2000) {
        char name[32];
        snprintf(name, sizeof name, "W%d", wr->written);
        store_place_input in = {0, STORE_PLACE_WARD, name, NULL, NULL};
        if (store_place_create(wr->s, NULL, &in, &a, NULL) == STORE_OK) wr->written++;
        arena_reset(&a);
    }
    arena_free(&a);
    return NULL;
}

static void backup_makes_a_readable_consistent_copy(void **state) {
    fixture *f = *state;
    SQLITE_ONLY();
    make_user(f->s, "b1@example.org", STORE_ROLE_ADMIN);
    make_place(f->s, NULL, 0, STORE_PLACE_COUNCIL_AREA, "Adur", "E07000223");
    writer wr = {f->s, 0, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, keep_writing, &wr), 0);
    while (wr.written < 20) usleep(1000);

    char dest[600];
    snprintf(dest, sizeof dest, "%s.backup", f->path);
    char err[256];
    int rc = store_backup(f->s, dest, err, sizeof err);
    wr.stop = 1;
    pthread_join(th, NULL);
    if (rc != STORE_OK) fail_msg("backup: %s", err);

    store *b = NULL;
    assert_int_equal(store_open(dest, &b, err, sizeof err), STORE_OK);
    int64_t users = 0, places = 0, audits = 0;
    assert_int_equal(store_user_count(b, &users), STORE_OK);
    assert_int_equal(users, 1);
    assert_int_equal(store_place_count(b, &places), STORE_OK);
    assert_int_equal(store_audit_count(b, &audits), STORE_OK);
    /* Consistent snapshot: each place in the copy has its audit entry, no more, no less. */
    assert_true(places >= 21);
    assert_int_equal(audits, users + places);
    store_place p;
    assert_int_equal(store_place_by_gss(b, "E07000223", &f->a, &p), STORE_OK);
    store_close(b);
    remove_db(dest);

    assert_int_equal(store_backup(f->s, "/nonexistent-dir/x.db", err, sizeof err), STORE_ERROR);
    assert_true(strlen(err) > 0);
}

/* ---- Faults, crashes, several handles ------------------------------------------- */

/* Runs store_ping on a thread of its own, i.e. on a fresh connection. */
static void *ping_thread(void *arg) {
    static int rc;
    rc = store_ping(arg);
    return &rc;
}

static void ping_reports_a_lost_database(void **state) {
    fixture *f = *state;
    SQLITE_ONLY();
    assert_int_equal(store_ping(f->s), STORE_OK);
    /* The file disappears under the server: a new connection finds no schema. */
    remove_db(f->path);
    pthread_t th;
    void *res;
    assert_int_equal(pthread_create(&th, NULL, ping_thread, f->s), 0);
    pthread_join(th, &res);
    assert_int_equal(*(int *)res, STORE_ERROR);
    /* ... and did not leave an empty database in its place. */
    assert_int_not_equal(access(f->path, F_OK), 0);
}

static void a_file_that_is_not_a_database_is_refused(void **state) {
    (void)state;
    SQLITE_ONLY();
    char path[64] = "/tmp/cg_store_junk_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char junk[4096];
    memset(junk, 'x', sizeof junk);
    assert_int_equal(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
    close(fd);
    store *s = NULL;
    char err[256];
    assert_int_equal(store_open(path, &s, err, sizeof err), STORE_ERROR);
    assert_non_null(strstr(err, "not a database"));
    assert_null(s);
    remove_db(path);
}

/* A change whose audit entry cannot be written does not happen: fault injected with a
 * trigger that makes the audit insert of one action fail. */
static void failed_audit_write_rolls_the_change_back(void **state) {
    fixture *f = *state;
    if (pg_url()) {
        assert_int_equal(pgtest_exec(f->path,
                                     "CREATE FUNCTION inject() RETURNS trigger LANGUAGE plpgsql "
                                     "AS $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$;"
                                     "CREATE TRIGGER inject BEFORE INSERT ON audit_log FOR EACH "
                                     "ROW WHEN (NEW.action IN ('place.create', 'user.role')) "
                                     "EXECUTE FUNCTION inject()"),
                         0);
    } else {
        sqlite3 *db;
        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db,
                                      "CREATE TRIGGER inject BEFORE INSERT ON audit_log "
                                      "WHEN NEW.action IN ('place.create', 'user.role') "
                                      "BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(db);
    }
    store_place_input in = {0, STORE_PLACE_WARD, "Doomed", "E05000001", NULL};
    assert_int_equal(store_place_create(f->s, NULL, &in, &f->a, NULL), STORE_ERROR);
    int64_t n = -1;
    assert_int_equal(store_place_count(f->s, &n), STORE_OK);
    assert_int_equal(n, 0);
    store_place p;
    assert_int_equal(store_place_by_gss(f->s, "E05000001", &f->a, &p), STORE_NOT_FOUND);

    int64_t uid = make_user(f->s, "r@example.org", STORE_ROLE_RESIDENT); /* not injected */
    assert_int_equal(store_user_set_role(f->s, NULL, uid, STORE_ROLE_ADMIN), STORE_ERROR);
    store_user u;
    assert_int_equal(store_user_by_id(f->s, uid, &f->a, &u), STORE_OK);
    assert_int_equal(u.role, STORE_ROLE_RESIDENT);
    assert_int_equal(audit_total(f->s), 1);
    /* The connection is left usable: no transaction is left open. */
    assert_int_equal(store_user_set_password(f->s, NULL, uid, "h2"), STORE_OK);
    assert_int_equal(audit_total(f->s), 2);
}

static void acknowledged_writes_survive_a_killed_process(void **state) {
    fixture *f = *state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* The child opens its own store (as another server process would), writes,
         * and is killed without closing anything. */
        store *s;
        char err[256];
        if (store_open(f->path, &s, err, sizeof err) != STORE_OK) _exit(3);
        arena a;
        arena_init(&a, 0);
        for (int i = 0; i < 20; i++) {
            char email[64];
            snprintf(email, sizeof email, "child%d@example.org", i);
            if (store_user_create(s, NULL, email, "Child", "h", STORE_ROLE_RESIDENT, &a, NULL) !=
                STORE_OK)
                _exit(4);
        }
        kill(getpid(), SIGKILL);
        _exit(5);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    store_close(f->s);
    char err[256];
    assert_int_equal(store_open(f->path, &f->s, err, sizeof err), STORE_OK);
    int64_t n = 0;
    assert_int_equal(store_user_count(f->s, &n), STORE_OK);
    assert_int_equal(n, 20);
    assert_int_equal(audit_total(f->s), 20);
}

typedef struct opener {
    const char *path;
    int rc;
    int version;
} opener;

static void *open_and_close(void *arg) {
    opener *o = arg;
    store *s = NULL;
    char err[256];
    o->rc = store_open(o->path, &s, err, sizeof err);
    if (o->rc == STORE_OK) {
        store_schema_version(s, &o->version);
        store_close(s);
    }
    return NULL;
}

static void simultaneous_opens_migrate_once(void **state) {
    (void)state;
    SQLITE_ONLY(); /* PostgreSQL: two servers start together in tests/server/test_scaleout */
    char path[64] = "/tmp/cg_store_open_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    pthread_t th[4];
    opener o[4];
    for (int i = 0; i < 4; i++) {
        o[i] = (opener){path, -1, -1};
        assert_int_equal(pthread_create(&th[i], NULL, open_and_close, &o[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(o[i].rc, STORE_OK);
        assert_int_equal(o[i].version, store_sqlite_migration_count);
    }
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM schema_migrations", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), store_sqlite_migration_count);
    sqlite3_finalize(st);
    sqlite3_close(db);
    remove_db(path);
}

/* Two handles on one file stand for two server processes on one database: their
 * writers meet in SQLite's lock, not in a shared mutex. */
static void two_handles_on_one_file_lose_nothing(void **state) {
    fixture *f = *state;
    store *second;
    char err[256];
    assert_int_equal(store_open(f->path, &second, err, sizeof err), STORE_OK);
    int64_t parent = make_place(f->s, NULL, 0, STORE_PLACE_WARD, "Parent", NULL);
    pthread_t th[4];
    worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){i % 2 ? second : f->s, 100 + i, parent, 0, 10};
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    int64_t n = 0;
    assert_int_equal(store_user_count(second, &n), STORE_OK);
    assert_int_equal(n, 4 * 10);
    assert_int_equal(store_place_count(f->s, &n), STORE_OK);
    assert_int_equal(n, 4 * 10 + 1);
    store_close(second);
}

int main(void) {
    log_set_level(LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(open_rejects_postgres_and_bad_urls),
        cmocka_unit_test(role_and_kind_names_round_trip),
        cmocka_unit_test_setup_teardown(migrations_are_idempotent_on_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(newer_schema_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(ping_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(users_create_find_list_and_change, setup, teardown),
        cmocka_unit_test_setup_teardown(users_reject_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(every_change_is_audited_with_actor_and_detail, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(audit_log_refuses_update_and_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(sessions_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(deleting_nothing_but_sessions_of_a_user, setup, teardown),
        cmocka_unit_test_setup_teardown(ratelimit_counts_a_sliding_window, setup, teardown),
        cmocka_unit_test_setup_teardown(places_hierarchy_lists_and_updates, setup, teardown),
        cmocka_unit_test_setup_teardown(hostile_strings_are_stored_byte_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(invalid_text_is_refused_and_changes_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(eight_threads_write_at_once_and_nothing_is_lost, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(backup_makes_a_readable_consistent_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(ping_reports_a_lost_database, setup, teardown),
        cmocka_unit_test(a_file_that_is_not_a_database_is_refused),
        cmocka_unit_test_setup_teardown(failed_audit_write_rolls_the_change_back, setup, teardown),
        cmocka_unit_test_setup_teardown(acknowledged_writes_survive_a_killed_process, setup,
                                        teardown),
        cmocka_unit_test(simultaneous_opens_migrate_once),
        cmocka_unit_test_setup_teardown(two_handles_on_one_file_lose_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
