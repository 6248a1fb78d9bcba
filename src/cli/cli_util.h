/*
 * cli_util: what several subcommands share: where the database is, opening it with a
 * readable message, and generating passwords people can type.
 */
#ifndef CG_CLI_CLI_UTIL_H
#define CG_CLI_CLI_UTIL_H

#include <stddef.h>

#include "store/store.h"

/* The database named by --db, else $CG_DB, else "var/commonground.db". */
const char *cli_db_path(const char *flag_value);
/* Opens (and migrates) the database, creating var/ for the default path; on failure
 * prints "commonground <cmd>: <message>" to stderr and returns NULL. */
store *cli_open_store(const char *cmd, const char *db);
/* Writes a random password of n characters (no look-alike characters) plus NUL. */
void cli_random_password(char *out, size_t n);

#endif
