/*
 * weighting/internal: the problem's representation, shared by the files of the engine
 * (problem.c builds it, rake.c reads it). Not part of the contract; include weighting.h.
 */
#ifndef CG_ENGINE_WEIGHTING_INTERNAL_H
#define CG_ENGINE_WEIGHTING_INTERNAL_H

#include <stdint.h>

#include "core/arena.h"
#include "engine/weighting/weighting.h"

/* Open-addressing map from a string (owned elsewhere) to an int. */
typedef struct wt_map {
    const char **keys;
    int *vals;
    size_t cap, len;
} wt_map;

/* malloc for arrays of a few megabytes (one entry per respondent): aligned to and advised
 * as transparent huge pages where the kernel allows, because first-touch page faults on
 * 4 KiB pages cost about as much as raking 200,000 respondents. Free with free(). Aborts
 * on out-of-memory. zero: the memory is zero-filled. */
void *wt_big_alloc(size_t size, bool zero);

/* Releases the map's tables (not the keys) and leaves it empty. */
void wt_map_free(wt_map *m);
/* Value for key, or -1. */
int wt_map_get(const wt_map *m, const char *key);
/* Inserts key (which must outlive the map) unless present; returns the value now stored. */
int wt_map_put(wt_map *m, const char *key, int val);

/* The set of respondent ids seen: slots hold a hash and a row, so probing and growing
 * never touch the id strings (cache misses dominate with 200,000 ids). */
typedef struct wt_idset {
    uint64_t *slots; /* (hash high 32 bits) << 32 | (row + 1); 0 = empty */
    size_t cap, len;
} wt_idset;

typedef struct wt_var {
    char *name;
    char **cats;
    double *target_in;
    size_t ncats, capcats;
    wt_map catmap;
    size_t *catlen; /* strlen of each category, for the short scan in find_category */
    int col;        /* respondent column, -1 when missing */
    size_t *count;  /* respondents per category (sized when columns are set) */
    wt_map unknown; /* unknown value -> index into the problem's errors */
    bool bad_name;
} wt_var;

/* An error as recorded, with the key that orders reporting (README, "Errors"). */
typedef struct wt_err {
    weighting_error e;
    int stage;
    size_t var, seq;
    const char **ids;
    size_t capids;
} wt_err;

struct weighting_problem {
    arena a;
    wt_var *vars;
    size_t nvars, capvars;
    wt_map varmap;
    wt_err *errs;
    size_t nerrs, caperrs, seq;
    size_t per_code[WEIGHTING_E_BAD_Y + 1]; /* errors recorded by code, to cap floods */
    bool columns_set;
    size_t ncols;
    int id_col, y_col;
    const char **ids;
    size_t n, capn;
    wt_idset idset;
    int32_t *codes; /* n * nvars category indices; -1 for unknown */
    double *y;      /* n outcomes when y_col >= 0 */
    size_t nmargin_rows;
};

#endif
