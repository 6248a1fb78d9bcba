/*
 * weighting/problem: building a weighting problem (margins, respondent columns,
 * respondents) and recording what is wrong with the input as it arrives, so that one pass
 * over a 200,000-row file both classifies every respondent and finds every refusal.
 *
 * Respondents are stored as category indices per variable (not strings): the raking and
 * the standard error only ever need the index, and it keeps 200,000 respondents in a few
 * megabytes.
 */
#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/parse.h"
#include "core/xalloc.h"
#include "engine/weighting/internal.h"

/* Beyond this many errors of one code the rest add nothing a person can act on. */
enum { ERRORS_PER_CODE = 100, UNKNOWN_VALUES_MAX = 10000 };

/* --- large arrays ---------------------------------------------------------------------- */

enum { HUGE_PAGE = 1 << 21 };

void *wt_big_alloc(size_t size, bool zero) {
    if (size < HUGE_PAGE) return zero ? xcalloc(1, size ? size : 1) : xmalloc(size ? size : 1);
    void *ptr = NULL;
    size_t rounded = (size + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1);
    if (posix_memalign(&ptr, HUGE_PAGE, rounded) != 0) abort();
    (void)madvise(ptr, rounded, MADV_HUGEPAGE); /* advice only: fine if refused */
    if (zero) memset(ptr, 0, size);
    return ptr;
}

/* --- string map ------------------------------------------------------------------------ */

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

void wt_map_free(wt_map *m) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

int wt_map_get(const wt_map *m, const char *key) {
    if (m->cap == 0) return -1;
    size_t i = (size_t)hash_str(key) & (m->cap - 1);
    while (m->keys[i]) {
        if (strcmp(m->keys[i], key) == 0) return m->vals[i];
        i = (i + 1) & (m->cap - 1);
    }
    return -1;
}

static void map_grow(wt_map *m) {
    size_t ncap = m->cap ? m->cap * 2 : 16;
    const char **nk = xcalloc(ncap, sizeof *nk);
    int *nv = xcalloc(ncap, sizeof *nv);
    for (size_t j = 0; j < m->cap; j++) {
        if (!m->keys[j]) continue;
        size_t i = (size_t)hash_str(m->keys[j]) & (ncap - 1);
        while (nk[i]) i = (i + 1) & (ncap - 1);
        nk[i] = m->keys[j];
        nv[i] = m->vals[j];
    }
    free(m->keys);
    free(m->vals);
    m->keys = nk;
    m->vals = nv;
    m->cap = ncap;
}

int wt_map_put(wt_map *m, const char *key, int val) {
    if ((m->len + 1) * 2 > m->cap) map_grow(m);
    size_t i = (size_t)hash_str(key) & (m->cap - 1);
    while (m->keys[i]) {
        if (strcmp(m->keys[i], key) == 0) return m->vals[i];
        i = (i + 1) & (m->cap - 1);
    }
    m->keys[i] = key;
    m->vals[i] = val;
    m->len++;
    return val;
}

/* Adds row (whose id is ids[row]) unless an earlier row has the same id; returns the
 * earlier row, or -1. */
static void idset_rehash(wt_idset *s, size_t ncap) {
    uint64_t *ns = wt_big_alloc(ncap * sizeof *ns, true);
    for (size_t j = 0; j < s->cap; j++) {
        uint64_t e = s->slots[j];
        if (!e) continue;
        /* The slot index comes from the hash's high half, which the slot stores. */
        size_t i = (size_t)(e >> 32) & (ncap - 1);
        while (ns[i]) i = (i + 1) & (ncap - 1);
        ns[i] = e;
    }
    free(s->slots);
    s->slots = ns;
    s->cap = ncap;
}

/* Room for n ids at most half full. */
static void idset_reserve(wt_idset *s, size_t n) {
    size_t cap = s->cap ? s->cap : 1024;
    while (cap < 2 * n) cap *= 2;
    if (cap > s->cap) idset_rehash(s, cap);
}

static long idset_put(wt_idset *s, const char **ids, size_t row) {
    if ((s->len + 1) * 2 > s->cap) idset_rehash(s, s->cap ? s->cap * 2 : 1024);
    uint64_t h = hash_str(ids[row]);
    uint32_t hi = (uint32_t)(h >> 32);
    size_t i = hi & (s->cap - 1);
    while (s->slots[i]) {
        uint64_t e = s->slots[i];
        if ((uint32_t)(e >> 32) == hi) {
            size_t other = (size_t)(uint32_t)e - 1;
            if (strcmp(ids[other], ids[row]) == 0) return (long)other;
        }
        i = (i + 1) & (s->cap - 1);
    }
    s->slots[i] = (uint64_t)hi << 32 | (uint64_t)(row + 1);
    s->len++;
    return -1;
}

/* --- errors ------------------------------------------------------------------------------ */

const char *weighting_error_code_name(weighting_error_code code) {
    switch (code) {
    case WEIGHTING_E_NONE:
        return "none";
    case WEIGHTING_E_BAD_INPUT:
        return "bad_input";
    case WEIGHTING_E_BAD_PARAMS:
        return "bad_params";
    case WEIGHTING_E_BAD_VARIABLE_NAME:
        return "bad_variable_name";
    case WEIGHTING_E_DUPLICATE_CATEGORY:
        return "duplicate_category";
    case WEIGHTING_E_BAD_TARGET:
        return "bad_target";
    case WEIGHTING_E_BAD_ID:
        return "bad_id";
    case WEIGHTING_E_MISSING_COLUMN:
        return "missing_column";
    case WEIGHTING_E_UNKNOWN_CATEGORY:
        return "unknown_category";
    case WEIGHTING_E_EMPTY_CATEGORY:
        return "empty_category";
    case WEIGHTING_E_ZERO_TARGET:
        return "zero_target";
    case WEIGHTING_E_BAD_Y:
        return "bad_y";
    }
    return "unknown";
}

/* The README's reporting order: input and parameters, variable names, duplicate
 * categories, targets, ids; then per variable a missing column and unknown categories;
 * then per variable empty categories and zero targets; then y. */
static int stage_of(weighting_error_code code, const char *variable) {
    switch (code) {
    case WEIGHTING_E_NONE:
    case WEIGHTING_E_BAD_INPUT:
        return 0;
    case WEIGHTING_E_BAD_PARAMS:
        return 1;
    case WEIGHTING_E_BAD_VARIABLE_NAME:
        return 2;
    case WEIGHTING_E_DUPLICATE_CATEGORY:
        return 3;
    case WEIGHTING_E_BAD_TARGET:
        return 4;
    case WEIGHTING_E_BAD_ID:
        return 5;
    case WEIGHTING_E_MISSING_COLUMN:
        return variable && strcmp(variable, "id") == 0 ? 5 : 6;
    case WEIGHTING_E_UNKNOWN_CATEGORY:
        return 6;
    case WEIGHTING_E_EMPTY_CATEGORY:
    case WEIGHTING_E_ZERO_TARGET:
        return 7;
    case WEIGHTING_E_BAD_Y:
        return 8;
    }
    return 0;
}

static wt_err *record(weighting_problem *p, weighting_error_code code, size_t var,
                      const char *variable, const char *category, const char *fmt, va_list ap) {
    if (p->per_code[code] >=
        (code == WEIGHTING_E_UNKNOWN_CATEGORY ? UNKNOWN_VALUES_MAX : ERRORS_PER_CODE))
        return NULL;
    p->per_code[code]++;
    if (p->nerrs == p->caperrs) {
        p->caperrs = p->caperrs ? p->caperrs * 2 : 8;
        p->errs = xreallocarray(p->errs, p->caperrs, sizeof *p->errs);
    }
    wt_err *e = &p->errs[p->nerrs++];
    memset(e, 0, sizeof *e);
    e->e.code = code;
    e->e.message = arena_vsprintf(&p->a, fmt, ap);
    e->e.variable = variable ? arena_strdup(&p->a, variable) : NULL;
    e->e.category = category ? arena_strdup(&p->a, category) : NULL;
    e->stage = stage_of(code, variable);
    e->var = var;
    e->seq = p->seq++;
    return e;
}

static wt_err *add_error(weighting_problem *p, weighting_error_code code, size_t var,
                         const char *variable, const char *category, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static wt_err *add_error(weighting_problem *p, weighting_error_code code, size_t var,
                         const char *variable, const char *category, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    wt_err *e = record(p, code, var, variable, category, fmt, ap);
    va_end(ap);
    return e;
}

void weighting_add_input_error(weighting_problem *p, weighting_error_code code,
                               const char *variable, const char *category, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    record(p, code, 0, variable, category, fmt, ap);
    va_end(ap);
}

static void err_add_id(wt_err *e, const char *id) {
    if (e->e.nids == e->capids) {
        e->capids = e->capids ? e->capids * 2 : 4;
        e->ids = xreallocarray(e->ids, e->capids, sizeof *e->ids);
    }
    e->ids[e->e.nids++] = id;
    e->e.ids = e->ids;
}

/* --- building ---------------------------------------------------------------------------- */

weighting_problem *weighting_problem_new(void) {
    weighting_problem *p = xcalloc(1, sizeof *p);
    arena_init(&p->a, 64 * 1024);
    p->id_col = -1;
    p->y_col = -1;
    return p;
}

void weighting_problem_free(weighting_problem *p) {
    if (!p) return;
    for (size_t v = 0; v < p->nvars; v++) {
        wt_var *var = &p->vars[v];
        free(var->cats);
        free(var->target_in);
        free(var->catlen);
        free(var->count);
        wt_map_free(&var->catmap);
        wt_map_free(&var->unknown);
    }
    free(p->vars);
    wt_map_free(&p->varmap);
    for (size_t i = 0; i < p->nerrs; i++) free(p->errs[i].ids);
    free(p->errs);
    free(p->ids);
    free(p->idset.slots);
    free(p->codes);
    free(p->y);
    arena_free(&p->a);
    free(p);
}

static bool valid_variable_name(const char *s) {
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z'))) return false;
    for (s++; *s; s++) {
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    }
    return true;
}

static void add_margin_row(weighting_problem *p, const char *variable, const char *category,
                           double target, const char *bad_target_text) {
    assert(!p->columns_set && "margins must be added before the respondent columns");
    p->nmargin_rows++;
    int vi = wt_map_get(&p->varmap, variable);
    if (vi < 0) {
        if (p->nvars == p->capvars) {
            p->capvars = p->capvars ? p->capvars * 2 : 8;
            p->vars = xreallocarray(p->vars, p->capvars, sizeof *p->vars);
        }
        vi = (int)p->nvars++;
        wt_var *nv = &p->vars[vi];
        memset(nv, 0, sizeof *nv);
        nv->name = arena_strdup(&p->a, variable);
        nv->col = -1;
        wt_map_put(&p->varmap, nv->name, vi);
        if (!valid_variable_name(variable)) {
            nv->bad_name = true;
            add_error(p, WEIGHTING_E_BAD_VARIABLE_NAME, (size_t)vi, variable, NULL,
                      "margins: variable name '%s' is not allowed: it must start with a letter "
                      "and hold only letters, digits and '_'",
                      variable);
        }
    }
    wt_var *var = &p->vars[vi];
    if (wt_map_get(&var->catmap, category) >= 0) {
        add_error(p, WEIGHTING_E_DUPLICATE_CATEGORY, (size_t)vi, variable, category,
                  "margins: variable '%s' lists category '%s' twice", variable, category);
        return;
    }
    if (bad_target_text) {
        add_error(p, WEIGHTING_E_BAD_TARGET, (size_t)vi, variable, category,
                  "margins: target '%s' of %s = '%s' is not a number", bad_target_text, variable,
                  category);
        target = 0;
    } else if (!(target >= 0) || !isfinite(target)) {
        add_error(p, WEIGHTING_E_BAD_TARGET, (size_t)vi, variable, category,
                  "margins: target %g of %s = '%s' is negative or not finite", target, variable,
                  category);
        target = 0;
    }
    if (var->ncats == var->capcats) {
        var->capcats = var->capcats ? var->capcats * 2 : 8;
        var->cats = xreallocarray(var->cats, var->capcats, sizeof *var->cats);
        var->target_in = xreallocarray(var->target_in, var->capcats, sizeof *var->target_in);
        var->catlen = xreallocarray(var->catlen, var->capcats, sizeof *var->catlen);
    }
    var->catlen[var->ncats] = strlen(category);
    var->cats[var->ncats] = arena_strdup(&p->a, category);
    var->target_in[var->ncats] = target;
    wt_map_put(&var->catmap, var->cats[var->ncats], (int)var->ncats);
    var->ncats++;
}

void weighting_add_margin(weighting_problem *p, const char *variable, const char *category,
                          double target) {
    add_margin_row(p, variable, category, target, NULL);
}

void weighting_add_margin_text(weighting_problem *p, const char *variable, const char *category,
                               const char *target) {
    char tmp[128];
    size_t len = strlen(target);
    double v = 0;
    int ok = 0;
    if (len < sizeof tmp) {
        memcpy(tmp, target, len + 1);
        /* A share may be written "12.5%": only proportions matter, so the sign is dropped. */
        char *t = str_trim(tmp);
        size_t tl = strlen(t);
        if (tl > 1 && t[tl - 1] == '%') t[tl - 1] = '\0';
        ok = parse_double(t, &v) == 0;
    }
    add_margin_row(p, variable, category, v, ok ? NULL : target);
}

void weighting_set_columns(weighting_problem *p, size_t ncols, const char *const *names) {
    assert(!p->columns_set && "respondent columns are declared once");
    p->columns_set = true;
    p->ncols = ncols;
    wt_map cols = {0};
    for (size_t i = 0; i < ncols; i++) {
        if (wt_map_get(&cols, names[i]) >= 0) {
            add_error(p, WEIGHTING_E_BAD_INPUT, 0, names[i], NULL,
                      "respondents: column '%s' appears twice in the header", names[i]);
            continue;
        }
        wt_map_put(&cols, names[i], (int)i);
    }
    p->id_col = wt_map_get(&cols, "id");
    p->y_col = wt_map_get(&cols, "y");
    if (p->id_col < 0)
        add_error(p, WEIGHTING_E_MISSING_COLUMN, 0, "id", NULL,
                  "respondents: there is no 'id' column");
    for (size_t v = 0; v < p->nvars; v++) {
        wt_var *var = &p->vars[v];
        var->col = wt_map_get(&cols, var->name);
        var->count = xcalloc(var->ncats ? var->ncats : 1, sizeof *var->count);
        if (var->col < 0)
            add_error(p, WEIGHTING_E_MISSING_COLUMN, v, var->name, NULL,
                      "respondents: margins.csv weights on '%s' but respondents.csv has no "
                      "column of that name",
                      var->name);
    }
    wt_map_free(&cols);
}

/* The index of value among var's categories, or -1. A handful of categories is scanned
 * (lengths first, which rules out most): cheaper than hashing a 35-byte census label for
 * each of a million fields. */
static int find_category(const wt_var *var, const char *value) {
    if (var->ncats > 16) return wt_map_get(&var->catmap, value);
    size_t len = strlen(value);
    for (size_t k = 0; k < var->ncats; k++)
        if (var->catlen[k] == len && memcmp(var->cats[k], value, len) == 0) return (int)k;
    return -1;
}

/* y as a number: the common 0/1 answers directly, anything else through parse_double. */
static int parse_y(const char *s, double *out) {
    if (s[0] >= '0' && s[0] <= '9' && s[1] == '\0') {
        *out = s[0] - '0';
        return 0;
    }
    return parse_double(s, out);
}

static void grow_rows(weighting_problem *p, size_t cap) {
    size_t V = p->nvars ? p->nvars : 1;
    if (p->capn == 0 && cap > 1024) { /* reserved: one allocation each */
        p->capn = cap;
        p->ids = wt_big_alloc(cap * sizeof *p->ids, false);
        p->codes = wt_big_alloc(cap * V * sizeof *p->codes, false);
        if (p->y_col >= 0) p->y = wt_big_alloc(cap * sizeof *p->y, false);
        return;
    }
    p->capn = cap;
    p->ids = xreallocarray(p->ids, p->capn, sizeof *p->ids);
    p->codes = xreallocarray(p->codes, p->capn, V * sizeof *p->codes);
    if (p->y_col >= 0) p->y = xreallocarray(p->y, p->capn, sizeof *p->y);
}

void weighting_reserve(weighting_problem *p, size_t n) {
    assert(p->columns_set && "reserve after weighting_set_columns");
    if (n > p->capn) grow_rows(p, n);
    idset_reserve(&p->idset, n);
}

void weighting_add_respondent(weighting_problem *p, const char *const *fields, size_t nfields) {
    assert(p->columns_set && nfields == p->ncols);
    if (p->n == p->capn) grow_rows(p, p->capn ? p->capn * 2 : 1024);
    size_t row = p->n++;
    const char *id = p->id_col >= 0 ? arena_strdup(&p->a, fields[p->id_col]) : "";
    p->ids[row] = id;
    if (p->id_col >= 0) {
        if (!*id) {
            add_error(p, WEIGHTING_E_BAD_ID, 0, NULL, NULL,
                      "respondents: respondent %zu has an empty id", row + 1);
        } else if (idset_put(&p->idset, p->ids, row) >= 0) {
            add_error(p, WEIGHTING_E_BAD_ID, 0, NULL, NULL,
                      "respondents: id '%s' is used by more than one respondent (again at "
                      "respondent %zu)",
                      id, row + 1);
        }
    }
    int32_t *codes = p->codes + row * p->nvars;
    for (size_t v = 0; v < p->nvars; v++) {
        wt_var *var = &p->vars[v];
        codes[v] = -1;
        if (var->col < 0) continue;
        const char *value = fields[var->col];
        int k = find_category(var, value);
        if (k >= 0) {
            codes[v] = k;
            var->count[k]++;
            continue;
        }
        int u = wt_map_get(&var->unknown, value);
        if (u < 0) {
            wt_err *e = add_error(p, WEIGHTING_E_UNKNOWN_CATEGORY, v, var->name, value,
                                  "respondents: '%s' is not a category of '%s' in margins.csv "
                                  "(first at id '%s'); list it in the margins, or recode or "
                                  "drop those respondents before weighting",
                                  value, var->name, id);
            if (!e) continue;
            u = (int)(e - p->errs);
            wt_map_put(&var->unknown, e->e.category, u);
        }
        err_add_id(&p->errs[u], id);
    }
    if (p->y_col >= 0) {
        double y = NAN;
        if (parse_y(fields[p->y_col], &y) != 0) {
            add_error(p, WEIGHTING_E_BAD_Y, 0, "y", NULL,
                      "respondents: y '%s' of id '%s' (respondent %zu) is not a number",
                      fields[p->y_col], id, row + 1);
            y = NAN;
        }
        p->y[row] = y;
    }
}

size_t weighting_problem_n(const weighting_problem *p) { return p->n; }

const char *weighting_problem_id(const weighting_problem *p, size_t i) {
    assert(i < p->n);
    return p->ids[i];
}
