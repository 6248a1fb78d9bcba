/*
 * weighting/rake: checking a built problem, rescaling its margins to one total, raking
 * cells to the margins with survey::rake's stop rule, trimming as survey::trimWeights
 * does, and the figures of summary.json (README, "The method" and "Outputs").
 *
 * Everything up to the standard error works on cells: respondents who share a category
 * on every raking variable start equal and receive the same factors, so they always share
 * a weight. A cell's total is its count times its weight. The standard error needs y, so
 * it is the one per-respondent loop (10 passes x variables x n).
 */
#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "engine/weighting/internal.h"

/* survey::svymean's raking adjustment makes exactly this many passes (README). */
enum { SE_PASSES = 10, TRIM_MAX_ROUNDS = 100000 };

/* The result and the arena that holds everything it points to. */
typedef struct result_box {
    weighting_result r;
    arena a;
    double *weights, *raked_weights; /* per respondent: too big for the arena's blocks */
} result_box;

void weighting_params_init(weighting_params *p) {
    memset(p, 0, sizeof *p);
    p->maxit = 100;
    p->epsilon = 1e-10;
    p->trim_strict = true;
    p->min_count = 5;
}

const char *weighting_status_name(weighting_status s) {
    switch (s) {
    case WEIGHTING_OK:
        return "ok";
    case WEIGHTING_NOT_CONVERGED:
        return "not_converged";
    case WEIGHTING_ERROR:
        return "error";
    }
    return "error";
}

void weighting_result_free(weighting_result *r) {
    if (!r) return;
    result_box *b = (result_box *)r;
    free(b->weights);
    free(b->raked_weights);
    arena_free(&b->a);
    free(b);
}

/* --- errors found at run time -------------------------------------------------------------- */

typedef struct err_list {
    wt_err *v;
    size_t n, cap;
    size_t seq;
} err_list;

static void run_error(err_list *l, arena *a, weighting_error_code code, int stage, size_t var,
                      size_t sub, const char *variable, const char *category, const char *fmt, ...)
    __attribute__((format(printf, 9, 10)));
static void run_error(err_list *l, arena *a, weighting_error_code code, int stage, size_t var,
                      size_t sub, const char *variable, const char *category, const char *fmt,
                      ...) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = xreallocarray(l->v, l->cap, sizeof *l->v);
    }
    wt_err *e = &l->v[l->n++];
    memset(e, 0, sizeof *e);
    va_list ap;
    va_start(ap, fmt);
    e->e.message = arena_vsprintf(a, fmt, ap);
    va_end(ap);
    e->e.code = code;
    e->e.variable = variable;
    e->e.category = category;
    e->stage = stage;
    e->var = var;
    e->seq = sub;
}

static int err_cmp(const void *pa, const void *pb) {
    const wt_err *a = pa, *b = pb;
    if (a->stage != b->stage) return a->stage < b->stage ? -1 : 1;
    if (a->var != b->var) return a->var < b->var ? -1 : 1;
    if (a->seq != b->seq) return a->seq < b->seq ? -1 : 1;
    return 0;
}

/* --- cells ----------------------------------------------------------------------------------- */

typedef struct cells {
    size_t n;       /* number of cells */
    int32_t *codes; /* n * nvars */
    double *count;  /* respondents per cell */
    int32_t *of;    /* cell of each respondent */
} cells;

static uint64_t hash_codes(const int32_t *c, size_t k) {
    uint64_t h = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < k; i++) {
        h ^= (uint32_t)c[i];
        h *= 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
    }
    return h;
}

static void build_cells(const weighting_problem *p, cells *c) {
    size_t V = p->nvars, cap = 1024;
    int32_t *slot = xmalloc(cap * sizeof *slot);
    memset(slot, 0xff, cap * sizeof *slot);
    size_t capc = 64;
    c->n = 0;
    c->codes = xmalloc(capc * V * sizeof *c->codes);
    c->count = xmalloc(capc * sizeof *c->count);
    c->of = wt_big_alloc((p->n ? p->n : 1) * sizeof *c->of, false);
    for (size_t i = 0; i < p->n; i++) {
        const int32_t *code = p->codes + i * V;
        size_t h = (size_t)hash_codes(code, V) & (cap - 1);
        for (;;) {
            int32_t s = slot[h];
            if (s < 0) {
                if (c->n == capc) {
                    capc *= 2;
                    c->codes = xreallocarray(c->codes, capc * V, sizeof *c->codes);
                    c->count = xreallocarray(c->count, capc, sizeof *c->count);
                }
                memcpy(c->codes + c->n * V, code, V * sizeof *code);
                c->count[c->n] = 0;
                slot[h] = (int32_t)c->n++;
                s = slot[h];
            } else if (memcmp(c->codes + (size_t)s * V, code, V * sizeof *code) != 0) {
                h = (h + 1) & (cap - 1);
                continue;
            }
            c->count[s] += 1;
            c->of[i] = s;
            break;
        }
        /* Keep the table at most half full: rehash the cells (not the people). */
        if (c->n * 2 > cap) {
            free(slot);
            cap *= 2;
            slot = xmalloc(cap * sizeof *slot);
            memset(slot, 0xff, cap * sizeof *slot);
            for (size_t k = 0; k < c->n; k++) {
                size_t hk = (size_t)hash_codes(c->codes + k * V, V) & (cap - 1);
                while (slot[hk] >= 0) hk = (hk + 1) & (cap - 1);
                slot[hk] = (int32_t)k;
            }
        }
    }
    free(slot);
}

static void free_cells(cells *c) {
    free(c->codes);
    free(c->count);
    free(c->of);
}

/* --- figures ---------------------------------------------------------------------------------- */

typedef struct ctx {
    const weighting_problem *p;
    cells c;
    size_t V;
    size_t *moff;    /* index in margins[] of each variable's first category */
    double **target; /* rescaled targets per variable */
    double T;
    weighting_result *r;
} ctx;

/* Weighted count of every category with cell weights w, into margins[].achieved, and the
 * largest absolute and relative gaps. */
static void margin_errors(ctx *x, const double *w, double *max_abs, double *max_rel) {
    weighting_margin *m = x->r->margins;
    for (size_t k = 0; k < x->r->nmargins; k++) m[k].achieved = 0;
    for (size_t c = 0; c < x->c.n; c++) {
        double t = x->c.count[c] * w[c];
        for (size_t v = 0; v < x->V; v++) m[x->moff[v] + x->c.codes[c * x->V + v]].achieved += t;
    }
    *max_abs = 0;
    *max_rel = 0;
    for (size_t k = 0; k < x->r->nmargins; k++) {
        m[k].error = m[k].achieved - m[k].target;
        double e = fabs(m[k].error);
        if (e > *max_abs) *max_abs = e;
        if (m[k].target > 0 && e / m[k].target > *max_rel) *max_rel = e / m[k].target;
    }
}

/* Every figure of one set of cell weights w; p = the raked (untrimmed) cell weights used
 * by the standard error's raking adjustment. */
static void compute_stats(ctx *x, const double *w, const double *p, weighting_stats *s) {
    const weighting_problem *pr = x->p;
    size_t n = pr->n;
    double sum = 0, sum2 = 0, mn = INFINITY, mx = -INFINITY;
    for (size_t c = 0; c < x->c.n; c++) {
        sum += x->c.count[c] * w[c];
        sum2 += x->c.count[c] * w[c] * w[c];
        if (w[c] < mn) mn = w[c];
        if (w[c] > mx) mx = w[c];
    }
    double mean = sum / (double)n;
    s->sum_weights = sum;
    s->mean_weight = mean;
    s->min_weight = mn;
    s->max_weight = mx;
    s->weight_ratio = mx / mn;
    /* Population variance (divisor n), so that kish_deff = 1 + cv^2 exactly. */
    double var = 0;
    for (size_t c = 0; c < x->c.n; c++) var += x->c.count[c] * (w[c] - mean) * (w[c] - mean);
    var /= (double)n;
    s->cv = sqrt(var) / mean;
    s->kish_deff = (double)n * sum2 / (sum * sum);
    s->ess = sum * sum / sum2;
    s->efficiency = s->ess / (double)n;
    margin_errors(x, w, &s->max_abs_margin_error, &s->max_rel_margin_error);
    s->weighted_mean_y = s->se_weighted_mean_y = s->se_weighted_mean_y_fixed_weights = NAN;
    if (pr->y_col < 0) return;

    /* Respondents of a cell share w, p and every category, so the raking adjustment
     * (README step 2) subtracts the same amount d_c from every z = x / p of cell c: it runs
     * on cell sums, and only the final variance needs each respondent's y. */
    const int32_t *of = x->c.of;
    size_t nc = x->c.n, V = x->V;
    double *ysum = xcalloc(nc, sizeof *ysum), *S = xcalloc(nc, sizeof *S);
    double *d = xcalloc(nc, sizeof *d);
    for (size_t i = 0; i < n; i++) ysum[of[i]] += pr->y[i];
    double wy = 0, W = 0;
    for (size_t c = 0; c < nc; c++) {
        wy += w[c] * ysum[c];
        W += w[c] * x->c.count[c];
    }
    double ybar = wy / W;
    s->weighted_mean_y = ybar;
    if (n < 2) goto out;
    for (size_t c = 0; c < nc; c++) {
        double r = p[c] > 0 ? w[c] / p[c] : 0;
        S[c] = r * (ysum[c] - x->c.count[c] * ybar) / W;
    }
    size_t maxc = 1;
    for (size_t v = 0; v < V; v++)
        if (pr->vars[v].ncats > maxc) maxc = pr->vars[v].ncats;
    double *acc = xmalloc(maxc * sizeof *acc);
    for (int pass = 0; pass < SE_PASSES; pass++) {
        for (size_t v = 0; v < V; v++) {
            const wt_var *wv = &pr->vars[v];
            memset(acc, 0, wv->ncats * sizeof *acc);
            for (size_t c = 0; c < nc; c++)
                acc[x->c.codes[c * V + v]] += S[c] - x->c.count[c] * d[c];
            for (size_t k = 0; k < wv->ncats; k++)
                acc[k] = wv->count[k] ? acc[k] / (double)wv->count[k] : 0;
            for (size_t c = 0; c < nc; c++) d[c] += acc[x->c.codes[c * V + v]];
        }
    }
    free(acc);
    /* x = p (z0 - d) with z0 = (w / p)(y - ybar) / W; fixed weights: x = w (y - ybar) / W. */
    double xs = 0, fs = 0;
    for (size_t i = 0; i < n; i++) {
        size_t c = (size_t)of[i];
        double e = (pr->y[i] - ybar) / W;
        double r = p[c] > 0 ? w[c] / p[c] : 0;
        xs += p[c] * (r * e - d[c]);
        fs += w[c] * e;
    }
    double xbar = xs / (double)n, fbar = fs / (double)n, xss = 0, fss = 0;
    for (size_t i = 0; i < n; i++) {
        size_t c = (size_t)of[i];
        double e = (pr->y[i] - ybar) / W;
        double r = p[c] > 0 ? w[c] / p[c] : 0;
        double xv = p[c] * (r * e - d[c]) - xbar, fv = w[c] * e - fbar;
        xss += xv * xv;
        fss += fv * fv;
    }
    s->se_weighted_mean_y = sqrt((double)n / (double)(n - 1) * xss);
    s->se_weighted_mean_y_fixed_weights = sqrt((double)n / (double)(n - 1) * fss);
out:
    free(ysum);
    free(S);
    free(d);
}

/* --- raking and trimming ---------------------------------------------------------------- */

/* Rakes cell weights w (in: all 1) in place. Returns the number of sweeps; *passed tells
 * whether the stop test passed. */
static int rake(ctx *x, double *w, int maxit, double tol, bool *passed) {
    const weighting_problem *p = x->p;
    size_t nc = x->c.n, V = x->V;
    double *old = xmalloc(nc * sizeof *old);
    size_t maxc = 1;
    for (size_t v = 0; v < V; v++)
        if (p->vars[v].ncats > maxc) maxc = p->vars[v].ncats;
    double *sum = xmalloc(maxc * sizeof *sum);
    for (size_t c = 0; c < nc; c++) old[c] = x->c.count[c] * w[c];
    *passed = false;
    int it;
    for (it = 1; it <= maxit; it++) {
        for (size_t v = 0; v < V; v++) {
            size_t K = p->vars[v].ncats;
            memset(sum, 0, K * sizeof *sum);
            for (size_t c = 0; c < nc; c++) sum[x->c.codes[c * V + v]] += x->c.count[c] * w[c];
            /* Only categories holding respondents occur in cells; for them sum > 0 unless
             * every weight underflowed, when the factor is left at 1. */
            for (size_t k = 0; k < K; k++) sum[k] = sum[k] > 0 ? x->target[v][k] / sum[k] : 1;
            for (size_t c = 0; c < nc; c++) w[c] *= sum[x->c.codes[c * V + v]];
        }
        double delta = 0;
        for (size_t c = 0; c < nc; c++) {
            double t = x->c.count[c] * w[c];
            double d = fabs(t - old[c]);
            if (d > delta || isnan(d)) delta = d;
            old[c] = t;
        }
        if (delta < tol) {
            *passed = true;
            break;
        }
    }
    free(old);
    free(sum);
    return it > maxit ? maxit : it;
}

/* survey::trimWeights(upper = cap, strict): rounds of capping and sharing the excess in
 * equal amounts among the respondents not above the cap, until none is above it. */
static void trim(ctx *x, double *w, double cap, bool strict, weighting_trim *t) {
    size_t nc = x->c.n;
    t->n_above_cap_before = 0;
    for (size_t c = 0; c < nc; c++)
        if (w[c] > cap) t->n_above_cap_before += (size_t)x->c.count[c];
    t->rounds = 0;
    for (;;) {
        double excess = 0, m = 0;
        bool any = false;
        for (size_t c = 0; c < nc; c++) {
            if (w[c] > cap) {
                excess += x->c.count[c] * (w[c] - cap);
                any = true;
            } else {
                m += x->c.count[c];
            }
        }
        if (!any || m == 0) break;
        double share = excess / m;
        for (size_t c = 0; c < nc; c++) w[c] = w[c] > cap ? cap : w[c] + share;
        t->rounds++;
        if (!strict || t->rounds >= TRIM_MAX_ROUNDS) break;
    }
    t->n_at_cap = 0;
    t->max_after = -INFINITY;
    for (size_t c = 0; c < nc; c++) {
        if (fabs(w[c] - cap) <= 1e-9 * cap) t->n_at_cap += (size_t)x->c.count[c];
        if (w[c] > t->max_after) t->max_after = w[c];
    }
}

/* --- the run ------------------------------------------------------------------------------- */

typedef struct warn_list {
    const char **v;
    size_t n, cap;
} warn_list;

static void warn(warn_list *w, arena *a, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warn(warn_list *w, arena *a, const char *fmt, ...) {
    if (w->n == w->cap) {
        size_t ncap = w->cap ? w->cap * 2 : 8;
        const char **nv = arena_alloc(a, ncap * sizeof *nv);
        if (w->n) memcpy(nv, w->v, w->n * sizeof *nv);
        w->v = nv;
        w->cap = ncap;
    }
    va_list ap;
    va_start(ap, fmt);
    w->v[w->n++] = arena_vsprintf(a, fmt, ap);
    va_end(ap);
}

static void make_warnings(weighting_result *r, const weighting_params *prm, arena *a) {
    warn_list w = {0};
    const weighting_stats *s = &r->stats;
    if (r->status != WEIGHTING_ERROR) {
        if (!r->converged)
            warn(&w, a,
                 "raking did not meet the margins (largest gap %.3g people after %d sweeps): "
                 "do not publish weighted results",
                 r->trimmed ? r->trim.raked.max_abs_margin_error : s->max_abs_margin_error,
                 r->iterations);
        if (s->ess < WEIGHTING_WARN_ESS || s->efficiency < WEIGHTING_WARN_EFFICIENCY)
            warn(&w, a,
                 "small effective sample: %zu responses are as informative as %.0f equally "
                 "weighted ones",
                 r->n, s->ess);
        if (!(s->weight_ratio <= WEIGHTING_WARN_RATIO))
            warn(&w, a,
                 "extreme weights: the largest is %.1f times the smallest; a few respondents "
                 "carry a whole group's voice",
                 s->weight_ratio);
        if (r->trimmed && s->max_abs_margin_error > 1e-6 * r->population_total)
            warn(&w, a, "after trimming the margins are no longer met (largest gap %.1f people)",
                 s->max_abs_margin_error);
    }
    if (r->have_representativeness) {
        for (size_t k = 0; k < r->nmargins; k++) {
            if (r->margins[k].suppressed) {
                warn(&w, a,
                     "categories with fewer than %zu participants are not shown, so nobody "
                     "can be singled out",
                     prm->min_count);
                break;
            }
        }
    }
    if (!isnan(r->population_total)) {
        for (size_t v = 0; v < r->nvars; v++) {
            double t = r->variable_totals[v];
            if (fabs(t - r->population_total) > 1e-9 * r->population_total)
                warn(&w, a, "the targets of '%s' add up to %.10g and were rescaled to %.10g",
                     r->variables[v], t, r->population_total);
        }
    }
    r->warnings = w.v;
    r->nwarnings = w.n;
}

static void check_params(const weighting_params *prm, err_list *el, arena *a) {
    if (prm->maxit < 1)
        run_error(el, a, WEIGHTING_E_BAD_PARAMS, 1, 0, 0, "maxit", NULL,
                  "maxit must be at least 1 (got %d)", prm->maxit);
    if (!(prm->tolerance > 0) && !(prm->epsilon > 0 && isfinite(prm->epsilon)))
        run_error(el, a, WEIGHTING_E_BAD_PARAMS, 1, 0, 1, "tolerance", NULL,
                  "the tolerance (or epsilon) must be a positive number");
    if (prm->has_population_total &&
        !(prm->population_total > 0 && isfinite(prm->population_total)))
        run_error(el, a, WEIGHTING_E_BAD_PARAMS, 1, 0, 2, "population_total", NULL,
                  "population_total must be a positive number (got %g)", prm->population_total);
    if (prm->trim_upper_ratio != 0 &&
        !(prm->trim_upper_ratio > 1 && isfinite(prm->trim_upper_ratio)))
        run_error(el, a, WEIGHTING_E_BAD_PARAMS, 1, 0, 3, "trim", NULL,
                  "trim upper_ratio must be above 1 (got %g): a cap at or below the mean weight "
                  "cannot be met",
                  prm->trim_upper_ratio);
}

weighting_status weighting_run(const weighting_problem *p, const weighting_params *prm,
                               weighting_result **out) {
    result_box *box = xcalloc(1, sizeof *box);
    arena_init(&box->a, 64 * 1024);
    arena *a = &box->a;
    weighting_result *r = &box->r;
    *out = r;
    size_t V = p->nvars, n = p->n;
    r->n = n;
    r->nvars = V;
    const char **vars = arena_calloc(a, V ? V : 1, sizeof *vars);
    for (size_t v = 0; v < V; v++) vars[v] = p->vars[v].name;
    r->variables = vars;
    r->maxit = prm->maxit;
    /* As survey::rake reads its epsilon: below 1 a fraction of the starting weights' sum
     * (n), otherwise people. */
    r->tolerance = prm->tolerance > 0 ? prm->tolerance
                   : prm->epsilon < 1 ? prm->epsilon * (double)n
                                      : prm->epsilon;
    r->epsilon =
        prm->tolerance > 0 ? (n ? prm->tolerance / (double)n : prm->tolerance) : prm->epsilon;
    r->stats.weighted_mean_y = r->stats.se_weighted_mean_y = NAN;
    r->stats.se_weighted_mean_y_fixed_weights = NAN;
    r->unweighted_mean_y = r->se_unweighted_mean_y = NAN;
    r->has_y = p->y_col >= 0;

    err_list el = {0};
    for (size_t i = 0; i < p->nerrs; i++) {
        if (el.n == el.cap) {
            el.cap = el.cap ? el.cap * 2 : 16;
            el.v = xreallocarray(el.v, el.cap, sizeof *el.v);
        }
        el.v[el.n++] = p->errs[i];
    }
    check_params(prm, &el, a);
    if (V == 0)
        run_error(&el, a, WEIGHTING_E_BAD_INPUT, 0, 0, 1000, NULL, NULL,
                  "margins: no margins were given");
    if (!p->columns_set)
        run_error(&el, a, WEIGHTING_E_BAD_INPUT, 0, 0, 1001, NULL, NULL,
                  "respondents: no respondents were given");
    else if (n == 0)
        run_error(&el, a, WEIGHTING_E_BAD_INPUT, 0, 0, 1002, NULL, NULL,
                  "respondents: the file holds no respondents");

    /* Rescaling: T and every variable's sum. */
    double *vsum = arena_calloc(a, V ? V : 1, sizeof *vsum);
    bool sums_ok = V > 0;
    for (size_t v = 0; v < V; v++) {
        const wt_var *var = &p->vars[v];
        for (size_t k = 0; k < var->ncats; k++) vsum[v] += var->target_in[k];
        if (!(vsum[v] > 0)) {
            sums_ok = false;
            run_error(&el, a, WEIGHTING_E_BAD_TARGET, 4, v, (size_t)1 << 40, var->name, NULL,
                      "margins: the targets of '%s' add up to 0", var->name);
        }
    }
    double T = NAN;
    if (sums_ok) T = prm->has_population_total ? prm->population_total : vsum[0];
    r->population_total = T;
    r->variable_totals = vsum;

    /* Margins and representativeness, when respondents could be classified. */
    bool classified = sums_ok && p->columns_set && n > 0;
    for (size_t v = 0; v < V; v++)
        if (p->vars[v].col < 0) classified = false;
    size_t *moff = arena_calloc(a, V ? V : 1, sizeof *moff);
    double **target = arena_calloc(a, V ? V : 1, sizeof *target);
    r->nmargins = 0;
    for (size_t v = 0; v < V; v++) {
        moff[v] = r->nmargins;
        r->nmargins += p->vars[v].ncats;
    }
    r->margins = arena_calloc(a, r->nmargins ? r->nmargins : 1, sizeof *r->margins);
    for (size_t v = 0; v < V; v++) {
        const wt_var *var = &p->vars[v];
        target[v] = arena_calloc(a, var->ncats ? var->ncats : 1, sizeof *target[v]);
        for (size_t k = 0; k < var->ncats; k++) {
            weighting_margin *m = &r->margins[moff[v] + k];
            m->variable = var->name;
            m->category = var->cats[k];
            m->var_index = v;
            m->target_input = var->target_in[k];
            /* When the variable already sums to T its targets are kept as given, exactly. */
            if (sums_ok)
                target[v][k] = vsum[v] == T ? var->target_in[k] : var->target_in[k] / vsum[v] * T;
            m->target = sums_ok ? target[v][k] : NAN;
            m->achieved = m->error = NAN;
            m->n_respondents = var->count ? var->count[k] : 0;
            m->population_share = sums_ok ? var->target_in[k] / vsum[v] : NAN;
            m->participant_share = n ? (double)m->n_respondents / (double)n : NAN;
            m->ratio = m->population_share > 0 ? m->participant_share / m->population_share : NAN;
            /* Zero singles nobody out, and "nobody" is the finding worth showing. */
            m->suppressed = m->n_respondents > 0 && m->n_respondents < prm->min_count;
            if (!classified || !var->count) continue;
            if (var->target_in[k] > 0 && var->count[k] == 0)
                run_error(&el, a, WEIGHTING_E_EMPTY_CATEGORY, 7, v, k, var->name, var->cats[k],
                          "'%s' = '%s' has a target of %g but no respondent, so no weight can "
                          "reach it; merge it with a neighbouring category or remove it from "
                          "margins.csv",
                          var->name, var->cats[k], var->target_in[k]);
            else if (var->target_in[k] == 0 && var->count[k] > 0)
                run_error(&el, a, WEIGHTING_E_ZERO_TARGET, 7, v, k, var->name, var->cats[k],
                          "'%s' = '%s' has a target of 0 but %zu respondents", var->name,
                          var->cats[k], var->count[k]);
        }
    }
    r->have_representativeness = classified;

    if (el.n > 0) {
        qsort(el.v, el.n, sizeof *el.v, err_cmp);
        weighting_error *errs = arena_calloc(a, el.n, sizeof *errs);
        for (size_t i = 0; i < el.n; i++) errs[i] = el.v[i].e;
        r->errors = errs;
        r->nerrors = el.n;
        free(el.v);
        r->status = WEIGHTING_ERROR;
        make_warnings(r, prm, a);
        return r->status;
    }
    free(el.v);

    ctx x = {.p = p, .V = V, .moff = moff, .target = target, .T = T, .r = r};
    build_cells(p, &x.c);
    r->ncells = x.c.n;
    double *w = xmalloc(x.c.n * sizeof *w);
    for (size_t c = 0; c < x.c.n; c++) w[c] = 1;
    bool passed;
    r->iterations = rake(&x, w, prm->maxit, r->tolerance, &passed);
    r->stop_test_passed = passed;

    double *raked = xmalloc(x.c.n * sizeof *raked);
    memcpy(raked, w, x.c.n * sizeof *w);
    weighting_stats rs;
    compute_stats(&x, raked, raked, &rs);
    r->converged = passed && rs.max_abs_margin_error <= 1e-6 * T;
    r->status = r->converged ? WEIGHTING_OK : WEIGHTING_NOT_CONVERGED;

    r->trimmed = prm->trim_upper_ratio > 0;
    if (r->trimmed) {
        r->trim.upper_ratio = prm->trim_upper_ratio;
        r->trim.strict = prm->trim_strict;
        r->trim.cap = prm->trim_upper_ratio * T / (double)n;
        r->trim.raked = rs;
        trim(&x, w, r->trim.cap, prm->trim_strict, &r->trim);
        compute_stats(&x, w, raked, &r->stats);
    } else {
        r->stats = rs;
    }

    box->weights = r->weights = wt_big_alloc(n * sizeof *r->weights, false);
    box->raked_weights = r->raked_weights = wt_big_alloc(n * sizeof *r->raked_weights, false);
    for (size_t i = 0; i < n; i++) {
        r->weights[i] = w[x.c.of[i]];
        r->raked_weights[i] = raked[x.c.of[i]];
    }
    if (p->y_col >= 0) {
        double s = 0;
        for (size_t i = 0; i < n; i++) s += p->y[i];
        r->unweighted_mean_y = s / (double)n;
        if (n > 1) {
            double ss = 0;
            for (size_t i = 0; i < n; i++)
                ss += (p->y[i] - r->unweighted_mean_y) * (p->y[i] - r->unweighted_mean_y);
            r->se_unweighted_mean_y = sqrt(ss / (double)(n - 1)) / sqrt((double)n);
        }
    }
    free(raked);
    free(w);
    free_cells(&x.c);
    make_warnings(r, prm, a);
    return r->status;
}

char *weighting_verdict(const weighting_margin *m, char *out, size_t outlen) {
    if (m->suppressed) {
        snprintf(out, outlen,
                 "fewer than the threshold of participants: not shown, %.1f%% of "
                 "residents",
                 100 * m->population_share);
        return out;
    }
    double ps = 100 * m->participant_share, pop = 100 * m->population_share;
    if (!(m->ratio > 0))
        snprintf(out, outlen, "%.1f%% of participants, %.1f%% of residents: %s", ps, pop,
                 m->n_respondents == 0 ? "missing" : "not in the population");
    else if (m->ratio < 0.8)
        snprintf(out, outlen,
                 "%.1f%% of participants, %.1f%% of residents: under-represented by "
                 "%.1fx",
                 ps, pop, 1 / m->ratio);
    else if (m->ratio > 1.25)
        snprintf(out, outlen,
                 "%.1f%% of participants, %.1f%% of residents: over-represented by "
                 "%.1fx",
                 ps, pop, m->ratio);
    else
        snprintf(out, outlen, "%.1f%% of participants, %.1f%% of residents: about right", ps, pop);
    return out;
}
