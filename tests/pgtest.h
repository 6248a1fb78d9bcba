/*
 * pgtest: throwaway PostgreSQL databases for tests (header only, static inline).
 *
 * scripts/pg-test.sh starts a private cluster and tests/run.sh passes its URL on
 * (CG_TEST_PG_URL; CG_TEST_DB_URL when a suite runs against PostgreSQL). A test that
 * needs an empty database calls pgtest_create, which makes a new database beside the
 * one the URL names and returns that database's URL; pgtest_drop removes it. Tests use
 * libpq here only to create and drop databases: everything else goes through the
 * program or the store.
 */
#ifndef CG_TESTS_PGTEST_H
#define CG_TESTS_PGTEST_H

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* True when url selects the PostgreSQL backend. */
static inline int pgtest_is_pg(const char *url) {
    return url && (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0);
}

/* Writes into out the URL base with its database name replaced by name; -1 when the
 * URL has no database part or out is too small. */
static inline int pgtest_url_with_db(const char *base, const char *name, char *out, size_t outlen) {
    const char *scheme = strstr(base, "://");
    if (!scheme) return -1;
    const char *slash = strchr(scheme + 3, '/');
    if (!slash) return -1;
    const char *rest = strchr(slash, '?');
    if (!rest) rest = slash + strlen(slash);
    int n = snprintf(out, outlen, "%.*s/%s%s", (int)(slash - base), base, name, rest);
    return n > 0 && (size_t)n < outlen ? 0 : -1;
}

/* Runs one statement on the database base names; 0 or -1 (message on stderr). */
static inline int pgtest_exec(const char *base, const char *sql) {
    PGconn *db = PQconnectdb(base);
    int rc = -1;
    if (PQstatus(db) != CONNECTION_OK) {
        fprintf(stderr, "pgtest: cannot connect: %s", PQerrorMessage(db));
    } else {
        PGresult *r = PQexec(db, sql);
        if (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK)
            rc = 0;
        else
            fprintf(stderr, "pgtest: %s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
    }
    PQfinish(db);
    return rc;
}

/* Creates an empty database on the server base names and writes its URL into out.
 * 0, or -1 (message on stderr). */
static inline int pgtest_create(const char *base, char *out, size_t outlen) {
    static unsigned counter;
    char name[64], sql[128];
    snprintf(name, sizeof name, "cgt_%ld_%u", (long)getpid(), counter++);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    if (pgtest_url_with_db(base, name, out, outlen) != 0) {
        fprintf(stderr, "pgtest: cannot derive a URL from %s\n", base);
        return -1;
    }
    return pgtest_exec(base, sql);
}

/* Drops the database url names (created by pgtest_create), disconnecting anyone still
 * on it. base is any other database on the same server. */
static inline void pgtest_drop(const char *base, const char *url) {
    const char *q = strchr(url, '?');
    const char *end = q ? q : url + strlen(url);
    const char *start = end;
    while (start > url && start[-1] != '/') start--;
    char sql[160];
    snprintf(sql, sizeof sql, "DROP DATABASE %.*s WITH (FORCE)", (int)(end - start), start);
    pgtest_exec(base, sql);
}

#endif
