/*
 * harness: starts the real `commonground` binary on a free port with a fresh database
 * and drives it over HTTP with libcurl, for the HTTP tests in tests/server.
 *
 * Ownership: a cg_server and a cg_client own their resources until _stop/_free. A
 * cg_resp owns its buffers until cg_resp_free.
 */
#ifndef CG_TESTS_SERVER_HARNESS_H
#define CG_TESTS_SERVER_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

#include "core/buf.h"

typedef struct cg_server {
    pid_t pid;
    unsigned port;
    char dir[256];        /* temporary directory holding the database (SQLite) and log */
    char db[600];         /* a file, or a postgres:// URL */
    int drop_db;          /* the harness created db on PostgreSQL and drops it at stop */
    char admin_email[64];
    char admin_password[96]; /* the admin's own password, set at the first sign-in */
    char admin_once[80];     /* the one-time password `init` printed (no longer valid) */
    char base[64];        /* "http://127.0.0.1:PORT" */
    int exit_status;      /* set by cg_server_stop */
} cg_server;

/* Initialises a fresh database (with --demo when demo != 0), starts `serve` on port 0
 * and reads the port from its first line; then signs in once as the first admin with
 * the one-time password `init` printed and replaces it (admin_password), as an
 * operator does. Returns 0, or -1 with a message on stderr.
 * The database is a file in a temporary directory, or, when CG_TEST_DB_URL is a
 * postgres:// URL (tests/run.sh sets it for the PostgreSQL run), a new database on that
 * server, dropped by cg_server_stop. */
int cg_server_start(cg_server *s, int demo);
/* Starts a server on the existing database db (file or URL), after `init` (setting
 * admin_email and admin_password) when init != 0. cg_server_stop leaves db in place:
 * this is how two servers share one database. */
int cg_server_start_db(cg_server *s, const char *db, int init, int demo);
/* Sends SIGTERM and waits for the process; exit_status is its exit code (or 128+signal).
 * Removes the temporary directory. */
void cg_server_stop(cg_server *s);
/* Runs the binary with args (NULL-terminated, after the program name) and captures
 * stdout+stderr into out; returns the exit status. */
int cg_run(const char *const *args, buf *out);

typedef struct cg_client cg_client;
typedef struct cg_resp {
    long status;
    buf headers; /* raw response header lines */
    buf body;
} cg_resp;

/* A client with its own cookie jar (like one browser). */
cg_client *cg_client_new(const cg_server *s);
void cg_client_free(cg_client *c);
/* Points the client at another server, keeping its cookies (a load balancer sending
 * the same browser to a different server process). */
void cg_client_use(cg_client *c, const cg_server *s);
/* Adds one request header for every later request ("Accept-Language: cy"); NULL clears. */
void cg_client_header(cg_client *c, const char *header);

/* Requests; redirects are NOT followed. Return 0 when a response arrived. */
int cg_get(cg_client *c, const char *path, cg_resp *r);
int cg_head(cg_client *c, const char *path, cg_resp *r);
int cg_request(cg_client *c, const char *method, const char *path, const char *content_type,
               const char *body, size_t len, cg_resp *r);
/* POSTs an urlencoded form built from NULL-terminated name, value pairs (values are
 * encoded here). */
int cg_post_form(cg_client *c, const char *path, cg_resp *r, ...);
void cg_resp_free(cg_resp *r);

/* The value of a response header (case-insensitive name), copied into out; NULL when
 * absent. */
const char *cg_resp_header(const cg_resp *r, const char *name, char *out, size_t outlen);
/* The CSRF token in the first csrf_token hidden field of the body, copied into out (65
 * bytes); NULL when absent. */
const char *cg_csrf(const cg_resp *r, char out[65]);
/* GETs path and returns its CSRF token (for posting the form on it). */
const char *cg_csrf_from(cg_client *c, const char *path, char out[65]);

/* Signs up (display name, email, password) and returns the final status of the POST. */
long cg_signup(cg_client *c, const char *name, const char *email, const char *password);
long cg_signin(cg_client *c, const char *email, const char *password);
/* Changes the signed-in user's password on /account/password; returns the POST's status
 * (303 on success). */
long cg_change_password(cg_client *c, const char *current, const char *password);

#endif
