/*
 * cli_util: shared subcommand helpers (see cli_util.h).
 */
#include "cli/cli_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/rand.h"

const char *cli_db_path(const char *flag_value) {
    if (flag_value && *flag_value) return flag_value;
    const char *env = getenv("CG_DB");
    if (env && *env) return env;
    return "var/commonground.db";
}

store *cli_open_store(const char *cmd, const char *db) {
    if (strcmp(db, "var/commonground.db") == 0 && mkdir("var", 0750) != 0 && errno != EEXIST) {
        fprintf(stderr, "commonground %s: cannot create var/: %s\n", cmd, strerror(errno));
        return NULL;
    }
    store *s = NULL;
    char err[512];
    if (store_open(db, &s, err, sizeof err) != STORE_OK) {
        fprintf(stderr, "commonground %s: %s\n", cmd, err);
        return NULL;
    }
    return s;
}

void cli_random_password(char *out, size_t n) {
    static const char alphabet[] = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    const size_t m = sizeof alphabet - 1;
    for (size_t i = 0; i < n; i++) {
        /* Rejection sampling keeps every character equally likely. */
        unsigned char b;
        do rand_bytes(&b, 1);
        while (b >= 256 - 256 % m);
        out[i] = alphabet[b % m];
    }
    out[n] = '\0';
}
