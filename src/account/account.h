/*
 * account: who someone is. Passwords (Argon2id via libsodium), browser sessions
 * (random tokens whose hash is stored), sign-up, sign-in with rate limits, sign-out,
 * the account page, the language switch and the admin pages for users, roles and the
 * audit log.
 */
#ifndef CG_ACCOUNT_ACCOUNT_H
#define CG_ACCOUNT_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>

#include "app/app.h"

/* Argon2id hash string of a password (libsodium crypto_pwhash_str, interactive limits);
 * writes at most ACCOUNT_HASH_MAX bytes with the NUL. Returns 0, or -1 when the system
 * cannot provide the memory. */
#define ACCOUNT_HASH_MAX 128
int account_password_hash(const char *password, char out[ACCOUNT_HASH_MAX]);
/* True when password matches hash (constant-time in libsodium). */
bool account_password_verify(const char *hash, const char *password);

/* Checks a new password: NULL when acceptable, else the problem (English msgid, to be
 * translated with T()). */
const char *account_password_problem(const char *password);
/* Checks an email address's shape: NULL when acceptable, else the problem. */
const char *account_email_problem(const char *email);

/* Fills ctx from the request's session cookie when it names a live session of an
 * existing user (signed_in, user, session_hash, csrf). Quietly does nothing otherwise.
 * When the session's expiry slides forward, the cookie's lifetime is renewed in resp. */
void account_session_load(app *a, http_request *req, http_response *resp, app_ctx *ctx);

/* Hex SHA-256 of a session token (what the store keeps). out has 65 bytes. */
void account_token_hash(const char *token, char out[65]);

/* The English label (msgid) of a role, e.g. "Council officer". */
const char *account_role_label(store_role role);

/* Registers the account routes: /signin, /signup, /signout, /account, /lang,
 * /admin/users, /admin/users/{id}/role, /admin/audit. */
void account_routes(http_router *router);

#endif
