/*
 * wt_test_util: helpers shared by the weighting tests: where the reference data is, a
 * small deterministic random generator, and the README's comparison of summary.json and
 * weights.csv with a reference ("How results are compared with the reference").
 * Header-only (static functions) because each test program is one .c file.
 */
#ifndef CG_TESTS_WT_TEST_UTIL_H
#define CG_TESTS_WT_TEST_UTIL_H

#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/csv.h"
#include "core/parse.h"

/* The weighting reference folder, or NULL when the shared data is absent. */
static const char *wt_data_dir(void) {
    static char path[4096];
    const char *root = getenv("CG_SHARED_DATA");
    snprintf(path, sizeof path, "%s/weighting", root && *root ? root : "../shared/data");
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? path : NULL;
}

static const char *wt_census_dir(void) {
    static char path[4096];
    const char *root = getenv("CG_SHARED_DATA");
    snprintf(path, sizeof path, "%s/census", root && *root ? root : "../shared/data");
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? path : NULL;
}

/* Case folders (those holding summary.json), sorted; returns how many (max 256). */
static size_t wt_case_dirs(const char *dir, char names[][256], size_t max) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        if (e->d_name[0] == '.') continue;
        char p[4600];
        snprintf(p, sizeof p, "%s/%s/summary.json", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) != 0) continue;
        snprintf(names[n++], 256, "%s", e->d_name);
    }
    closedir(d);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char t[256];
            memcpy(t, names[j], 256);
            memcpy(names[j], names[j - 1], 256);
            memcpy(names[j - 1], t, 256);
        }
    return n;
}

/* splitmix64: reproducible inputs for the property tests. */
static uint64_t wt_rng_state;
__attribute__((unused)) static uint64_t wt_rand(void) {
    uint64_t z = (wt_rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
__attribute__((unused)) static double wt_unif(void) {
    return (double)(wt_rand() >> 11) / 9007199254740992.0;
}

static int wt_close(double ref, double got, double rel) {
    if (isnan(ref) || isnan(got)) return isnan(ref) && isnan(got);
    return fabs(got - ref) <= rel * fabs(ref) || got == ref;
}

/* A numeric JSON value, NaN for null or absent. */
static double wt_jnum(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return v && json_is_number(v) ? json_number_value(v) : NAN;
}

static int wt_jstr_eq(json_t *a, json_t *b) {
    if (!a || json_is_null(a)) return !b || json_is_null(b);
    if (!b || json_is_null(b)) return 0;
    return json_equal(a, b);
}

/* Compares a produced summary.json with the reference, as the README says. Writes the
 * first difference into why and returns 0 when they differ, 1 when they agree. */
static int wt_summary_matches(json_t *ref, json_t *got, char *why, size_t wl) {
    const char *status = json_string_value(json_object_get(ref, "status"));
    if (!wt_jstr_eq(json_object_get(ref, "status"), json_object_get(got, "status"))) {
        snprintf(why, wl, "status differs");
        return 0;
    }
    if (status && strcmp(status, "error") == 0) {
        json_t *re = json_object_get(ref, "error"), *ge = json_object_get(got, "error");
        if (!json_is_object(ge)) {
            snprintf(why, wl, "no error object");
            return 0;
        }
        static const char *const keys[] = {"code", "variable", "category", "ids"};
        for (size_t i = 0; i < 4; i++) {
            if (!wt_jstr_eq(json_object_get(re, keys[i]), json_object_get(ge, keys[i]))) {
                char *a = json_dumps(json_object_get(re, keys[i]), JSON_ENCODE_ANY);
                char *b = json_dumps(json_object_get(ge, keys[i]), JSON_ENCODE_ANY);
                snprintf(why, wl, "error.%s: reference %s, got %s", keys[i], a ? a : "null",
                         b ? b : "null");
                free(a);
                free(b);
                return 0;
            }
        }
        return 1;
    }
    static const char *const exact[] = {"converged", "iterations", "n"};
    for (size_t i = 0; i < 3; i++) {
        if (!wt_jstr_eq(json_object_get(ref, exact[i]), json_object_get(got, exact[i]))) {
            snprintf(why, wl, "%s differs", exact[i]);
            return 0;
        }
    }
    double T = wt_jnum(ref, "population_total");
    const char *key;
    json_t *rv;
    json_object_foreach(ref, key, rv) {
        if (!json_is_number(rv) || strcmp(key, "n") == 0 || strcmp(key, "iterations") == 0)
            continue;
        double r = json_number_value(rv), g = wt_jnum(got, key);
        if (strcmp(key, "max_abs_margin_error") == 0 && r < 1e-6 * T) {
            if (!(g < 1e-6 * T)) {
                snprintf(why, wl, "%s: reference %.17g, got %.17g", key, r, g);
                return 0;
            }
            continue;
        }
        if (strcmp(key, "max_rel_margin_error") == 0 && r < 1e-6) {
            if (!(g < 1e-6)) {
                snprintf(why, wl, "%s: reference %.17g, got %.17g", key, r, g);
                return 0;
            }
            continue;
        }
        if (!wt_close(r, g, 1e-6)) {
            snprintf(why, wl, "%s: reference %.17g, got %.17g", key, r, g);
            return 0;
        }
    }
    /* The y figures are null together. */
    static const char *const ykeys[] = {"weighted_mean_y", "se_weighted_mean_y"};
    for (size_t i = 0; i < 2; i++) {
        json_t *a = json_object_get(ref, ykeys[i]);
        if (a && json_is_null(a) && !json_is_null(json_object_get(got, ykeys[i]))) {
            snprintf(why, wl, "%s should be null", ykeys[i]);
            return 0;
        }
    }
    json_t *rm = json_object_get(ref, "margins"), *gm = json_object_get(got, "margins");
    if (json_is_array(rm)) {
        if (!json_is_array(gm) || json_array_size(rm) != json_array_size(gm)) {
            snprintf(why, wl, "margins: different number of entries");
            return 0;
        }
        for (size_t i = 0; i < json_array_size(rm); i++) {
            json_t *a = json_array_get(rm, i), *b = json_array_get(gm, i);
            if (!wt_jstr_eq(json_object_get(a, "variable"), json_object_get(b, "variable")) ||
                !wt_jstr_eq(json_object_get(a, "category"), json_object_get(b, "category")) ||
                !wt_jstr_eq(json_object_get(a, "n_respondents"),
                            json_object_get(b, "n_respondents"))) {
                snprintf(why, wl, "margins[%zu]: variable, category or count differs", i);
                return 0;
            }
            static const char *const mk[] = {"target_input", "target", "achieved"};
            for (size_t k = 0; k < 3; k++) {
                double r = wt_jnum(a, mk[k]), g = wt_jnum(b, mk[k]);
                if (!wt_close(r, g, 1e-6) && !(fabs(r - g) < 1e-6 * T)) {
                    snprintf(why, wl, "margins[%zu].%s: reference %.17g, got %.17g", i, mk[k], r,
                             g);
                    return 0;
                }
            }
        }
    }
    json_t *rt = json_object_get(ref, "trim"), *gt = json_object_get(got, "trim");
    if (json_is_object(rt)) {
        if (!json_is_object(gt)) {
            snprintf(why, wl, "trim missing");
            return 0;
        }
        if (!wt_close(wt_jnum(rt, "cap"), wt_jnum(gt, "cap"), 1e-9) ||
            wt_jnum(rt, "n_at_cap") != wt_jnum(gt, "n_at_cap") ||
            wt_jnum(rt, "n_above_cap_before") != wt_jnum(gt, "n_above_cap_before")) {
            snprintf(why, wl, "trim cap, n_at_cap or n_above_cap_before differs");
            return 0;
        }
        if (!wt_close(wt_jnum(rt, "max_after"), wt_jnum(gt, "max_after"), 1e-6)) {
            snprintf(why, wl, "trim.max_after differs");
            return 0;
        }
    } else if (json_is_object(gt)) {
        snprintf(why, wl, "trim should be null");
        return 0;
    }
    return 1;
}

/* Reads id,weight rows of a weights.csv; returns the count (-1 when unreadable). */
static long wt_read_weights(const char *path, char ***ids, double **w) {
    char err[512];
    csv_reader *r = csv_open_file(path, ',', err, sizeof err);
    if (!r) return -1;
    long n = 0, cap = 0;
    *ids = NULL;
    *w = NULL;
    if (csv_next(r) != 1) {
        csv_free(r);
        return -1;
    }
    while (csv_next(r) == 1) {
        if (csv_blank(r)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            *ids = realloc(*ids, (size_t)cap * sizeof **ids);
            *w = realloc(*w, (size_t)cap * sizeof **w);
        }
        (*ids)[n] = strdup(csv_field(r, 0));
        if (parse_double(csv_field(r, 1), &(*w)[n]) != 0) (*w)[n] = NAN;
        n++;
    }
    csv_free(r);
    return n;
}

static void wt_free_weights(char **ids, double *w, long n) {
    for (long i = 0; i < n; i++) free(ids[i]);
    free(ids);
    free(w);
}

/* Weight within 1e-7 x reference + 2e-10 (README). */
static int wt_weight_ok(double ref, double got) {
    return fabs(got - ref) <= 1e-7 * fabs(ref) + 2e-10;
}

#endif
