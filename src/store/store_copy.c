/*
 * store_copy: copying a whole database from one store to another (store.h,
 * store_copy; the engine of `commonground migrate`), independent of the backends.
 *
 * Driven by the schema, not by a list of columns: each backend lists its tables, their
 * foreign-key references and their columns from its own catalogue (backend.h copy_*),
 * so a table added by a later migration is copied without a change here. Tables are
 * copied parents first (a topological order of the references), in one transaction on
 * the destination.
 *
 * Checking. After the copy, each table is read again from both databases and reduced
 * to its row count and an order-independent digest: every row's values (as text, NULL
 * marked apart from "", floating point normalised to 17 significant digits) are hashed
 * (FNV-1a, then a 64-bit mixer), and the hashes summed and xored. Equal digests on both
 * sides mean the same multiset of rows with overwhelming probability; any lost,
 * duplicated or altered row shows.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "store/backend.h"

typedef struct copy_table {
    char *name;
    char **cols;
    size_t ncols;
    char **refs;
    size_t nrefs;
    int state; /* for the topological sort: 0 new, 1 visiting, 2 placed */
} copy_table;

static int has_name(char **names, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0) return 1;
    return 0;
}

static copy_table *find_table(copy_table *t, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0) return &t[i];
    return NULL;
}

/* Appends t after every table it refers to (depth first). A reference cycle between
 * different tables is not expected in our schema; it is broken arbitrarily, and the
 * deferred foreign-key check at commit still guards the result. */
static void place_table(copy_table *all, size_t n, copy_table *t, copy_table **order, size_t *k) {
    if (t->state) return;
    t->state = 1;
    for (size_t i = 0; i < t->nrefs; i++) {
        copy_table *r = find_table(all, n, t->refs[i]);
        if (r && r != t) place_table(all, n, r, order, k);
    }
    t->state = 2;
    order[(*k)++] = t;
}

/* ---- Digest --------------------------------------------------------------------- */

typedef struct digest {
    int64_t rows;
    uint64_t sum, xor;
} digest;

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static uint64_t mix(uint64_t x) { /* splitmix64's finaliser */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* A floating-point number written by either database, in one spelling. */
static const char *normalise(const char *v, char tmp[40]) {
    if (!strpbrk(v, ".eE")) return v;
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end) return v;
    snprintf(tmp, 40, "%.17g", d);
    return tmp;
}

typedef struct digest_ctx {
    digest d;
    size_t ncols;
} digest_ctx;

static int digest_row(void *ctx, const char *const *values) {
    digest_ctx *c = ctx;
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < c->ncols; i++) {
        char tmp[40];
        if (!values[i]) {
            h = fnv(h, "\x00N", 2);
            continue;
        }
        const char *v = normalise(values[i], tmp);
        h = fnv(h, v, strlen(v));
        h = fnv(h, "\x00V", 2);
    }
    h = mix(h);
    c->d.rows++;
    c->d.sum += h;
    c->d.xor ^= h;
    return 0;
}

static int table_digest(store *s, const copy_table *t, digest *out) {
    digest_ctx c = {{0, 0, 0}, t->ncols};
    int rc = store_backend_ops(s)->copy_scan(store_backend_impl(s), t->name, t->cols, t->ncols,
                                             digest_row, &c);
    if (rc == STORE_OK) *out = c.d;
    return rc;
}

/* ---- Copy ----------------------------------------------------------------------- */

static int stop_at_first(void *ctx, const char *const *values) {
    (void)values;
    *(int *)ctx = 1;
    return 1;
}

typedef struct load_ctx {
    store *to;
    const copy_table *t;
    int rc;
} load_ctx;

static int load_row(void *ctx, const char *const *values) {
    load_ctx *l = ctx;
    l->rc = store_backend_ops(l->to)->copy_load_row(store_backend_impl(l->to), l->t->name,
                                                    l->t->cols, l->t->ncols, values);
    return l->rc != STORE_OK;
}

int store_copy(store *from, store *to, arena *a, store_copy_report *report, char *err,
               size_t errlen) {
    const store_ops *fo = store_backend_ops(from), *to_ops = store_backend_ops(to);
    void *fi = store_backend_impl(from), *ti = store_backend_impl(to);
    if (err && errlen) err[0] = '\0';
    if (!fo->copy_tables || !to_ops->copy_tables) {
        snprintf(err, errlen, "this backend cannot copy databases");
        return STORE_ERROR;
    }
    int fv = -1, tv = -2;
    if (store_schema_version(from, &fv) != STORE_OK || store_schema_version(to, &tv) != STORE_OK) {
        snprintf(err, errlen, "cannot read the schema versions");
        return STORE_ERROR;
    }
    if (fv != tv) {
        snprintf(err, errlen, "schema versions differ: source %d, destination %d", fv, tv);
        return STORE_INVALID;
    }
    char **fnames, **tnames;
    size_t fn, tn;
    if (fo->copy_tables(fi, a, &fnames, &fn) != STORE_OK ||
        to_ops->copy_tables(ti, a, &tnames, &tn) != STORE_OK) {
        snprintf(err, errlen, "cannot list the tables");
        return STORE_ERROR;
    }
    for (size_t i = 0; i < fn; i++)
        if (!has_name(tnames, tn, fnames[i])) {
            snprintf(err, errlen, "table %s is missing from the destination", fnames[i]);
            return STORE_INVALID;
        }
    for (size_t i = 0; i < tn; i++)
        if (!has_name(fnames, fn, tnames[i])) {
            snprintf(err, errlen, "table %s is missing from the source", tnames[i]);
            return STORE_INVALID;
        }

    /* Columns: those of the destination, each of which the source must have too, and
     * every source column must arrive somewhere. */
    copy_table *tables = arena_calloc(a, fn ? fn : 1, sizeof *tables);
    for (size_t i = 0; i < fn; i++) {
        copy_table *t = &tables[i];
        t->name = fnames[i];
        char **fcols;
        size_t nf;
        if (fo->copy_columns(fi, t->name, a, &fcols, &nf) != STORE_OK ||
            to_ops->copy_columns(ti, t->name, a, &t->cols, &t->ncols) != STORE_OK ||
            fo->copy_references(fi, t->name, a, &t->refs, &t->nrefs) != STORE_OK) {
            snprintf(err, errlen, "cannot read the columns of %s", t->name);
            return STORE_ERROR;
        }
        for (size_t j = 0; j < nf; j++)
            if (!has_name(t->cols, t->ncols, fcols[j])) {
                snprintf(err, errlen, "column %s.%s is missing from the destination", t->name,
                         fcols[j]);
                return STORE_INVALID;
            }
        for (size_t j = 0; j < t->ncols; j++)
            if (!has_name(fcols, nf, t->cols[j])) {
                snprintf(err, errlen, "column %s.%s is missing from the source", t->name,
                         t->cols[j]);
                return STORE_INVALID;
            }
        int any = 0;
        if (to_ops->copy_scan(ti, t->name, t->cols, t->ncols, stop_at_first, &any) != STORE_OK) {
            snprintf(err, errlen, "cannot read table %s of the destination", t->name);
            return STORE_ERROR;
        }
        if (any) {
            snprintf(err, errlen, "the destination is not empty (table %s has rows)", t->name);
            return STORE_INVALID;
        }
    }
    copy_table **order = arena_calloc(a, fn ? fn : 1, sizeof *order);
    size_t k = 0;
    for (size_t i = 0; i < fn; i++) place_table(tables, fn, &tables[i], order, &k);

    /* The load: one transaction on the destination. */
    if (to_ops->copy_load_begin(ti) != STORE_OK) {
        snprintf(err, errlen, "cannot start the copy on the destination");
        return STORE_ERROR;
    }
    int rc = STORE_OK;
    for (size_t i = 0; i < k && rc == STORE_OK; i++) {
        load_ctx l = {to, order[i], STORE_OK};
        rc = fo->copy_scan(fi, order[i]->name, order[i]->cols, order[i]->ncols, load_row, &l);
        if (rc == STORE_OK) rc = l.rc;
        if (rc != STORE_OK) snprintf(err, errlen, "copying table %s failed", order[i]->name);
    }
    int end = to_ops->copy_load_end(ti, rc == STORE_OK);
    if (rc == STORE_OK && end != STORE_OK) {
        rc = end;
        snprintf(err, errlen, "the destination refused the copy at commit (see the log)");
    }
    if (rc != STORE_OK) return rc;

    /* The check: both sides, every table. */
    report->tables = arena_calloc(a, k ? k : 1, sizeof *report->tables);
    report->n = 0;
    for (size_t i = 0; i < k; i++) {
        digest df, dt;
        if (table_digest(from, order[i], &df) != STORE_OK ||
            table_digest(to, order[i], &dt) != STORE_OK) {
            snprintf(err, errlen, "cannot read table %s back", order[i]->name);
            return STORE_ERROR;
        }
        if (df.rows != dt.rows || df.sum != dt.sum || df.xor != dt.xor) {
            snprintf(err, errlen,
                     "table %s differs after the copy (%lld rows in the source, %lld in the "
                     "destination)",
                     order[i]->name, (long long)df.rows, (long long)dt.rows);
            return STORE_ERROR;
        }
        report->tables[report->n].name = order[i]->name;
        report->tables[report->n].rows = df.rows;
        report->n++;
    }
    return STORE_OK;
}
