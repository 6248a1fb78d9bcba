/*
 * leximin: the LEXIMIN distribution by column generation (Flanigan et al., Nature
 * 2021, Methods "Algorithm"), and sortition_run, the engine's entry point.
 *
 * Stage by stage, the master LP over the panels found so far maximises the smallest
 * probability z of the people not yet fixed; its duals y price a new panel, found by
 * local search over swaps when one improves the price and otherwise by the exact MIP
 * oracle; when even the oracle finds no panel worth more than the convexity dual, z is
 * optimal, and the people whose dual is positive are fixed at z (complementary
 * slackness: they are at z in every optimal distribution). All of this is done on types
 * of interchangeable people (internal.h), which is what makes pools of thousands fast.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "engine/sortition/internal.h"

/* A column generated is accepted when it beats the convexity dual by this much; the
 * stage's z is then within this of its optimum (the Lagrangian bound). */
#define PRICE_TOL 1e-9
/* A fixed-at-z type must have a dual above this fraction of the largest dual and be at
 * z in the current solution; the largest-dual type is always fixed, so every stage
 * makes progress however large the pool (the absolute-threshold stall). */
#define FIX_REL 1e-6
/* The stage's z is accepted when the MIP bound is within GAP_TOL (a probability, so
 * 1e-7 is far below the 1e-4 the reference data asks); the bound is computed at least
 * every GAP_EVERY pricing rounds. */
#define GAP_TOL 1e-7
#define GAP_EVERY 10 /* pools of at most 400 types; larger ones call the MIP every round */
#define FIX_SLACK 1e-7

void sortition_opts_init(sortition_opts *o) {
    memset(o, 0, sizeof *o);
    o->algorithm = SORTITION_LEXIMIN;
    o->solver = SORTITION_SOLVER_COIN;
    o->legacy_runs = 10000;
    o->use_heuristic = 1;
}

static int fail(char *err, size_t errlen, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return code;
}

static void progress(const sortition_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void progress(const sortition_opts *o, const char *fmt, ...) {
    if (!o->progress) return;
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    o->progress(o->progress_ctx, line);
}

static int stopped(const sortition_opts *o) { return o->stop && *o->stop; }

/* ---- column store --------------------------------------------------------------- */

/* Panels as sparse (type, count) lists; at most k entries each. */
typedef struct colstore {
    size_t n, cap, nnz, capnz;
    size_t *start; /* [n + 1] */
    int *type, *count;
    uint64_t *hash;
} colstore;

static uint64_t col_hash(const int *x, size_t T) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t t = 0; t < T; t++)
        if (x[t]) h = (h ^ (t * 1315423911u + (uint64_t)x[t])) * 1099511628211ULL;
    return h;
}

static int colstore_has(const colstore *cs, const int *x, size_t T, uint64_t h) {
    for (size_t j = 0; j < cs->n; j++) {
        if (cs->hash[j] != h) continue;
        size_t q = cs->start[j], e = cs->start[j + 1], cnt = 0;
        int same = 1;
        for (; q < e; q++, cnt++)
            if (x[cs->type[q]] != cs->count[q]) same = 0;
        size_t nz = 0;
        for (size_t t = 0; t < T; t++) nz += x[t] != 0;
        if (same && nz == cnt) return 1;
    }
    return 0;
}

static void colstore_add(colstore *cs, const int *x, size_t T, uint64_t h) {
    if (cs->n + 1 >= cs->cap) {
        cs->cap = cs->cap ? cs->cap * 2 : 256;
        cs->start = xreallocarray(cs->start, cs->cap + 1, sizeof(size_t));
        cs->hash = xreallocarray(cs->hash, cs->cap, sizeof(uint64_t));
    }
    if (cs->n == 0) cs->start[0] = 0;
    for (size_t t = 0; t < T; t++) {
        if (!x[t]) continue;
        if (cs->nnz == cs->capnz) {
            cs->capnz = cs->capnz ? cs->capnz * 2 : 4096;
            cs->type = xreallocarray(cs->type, cs->capnz, sizeof(int));
            cs->count = xreallocarray(cs->count, cs->capnz, sizeof(int));
        }
        cs->type[cs->nnz] = (int)t;
        cs->count[cs->nnz++] = x[t];
    }
    cs->hash[cs->n] = h;
    cs->start[++cs->n] = cs->nnz;
}

/* Keeps the panels j with !drop[j], in order. */
static void colstore_compact(colstore *cs, const unsigned char *drop) {
    size_t n = 0, nz = 0;
    for (size_t j = 0; j < cs->n; j++) {
        if (drop[j]) continue;
        size_t b = cs->start[j], e = cs->start[j + 1];
        memmove(cs->type + nz, cs->type + b, (e - b) * sizeof(int));
        memmove(cs->count + nz, cs->count + b, (e - b) * sizeof(int));
        cs->hash[n] = cs->hash[j];
        cs->start[n] = nz;
        nz += e - b;
        n++;
    }
    cs->start[n] = nz;
    cs->n = n;
    cs->nnz = nz;
}

static void colstore_free(colstore *cs) {
    free(cs->start);
    free(cs->type);
    free(cs->count);
    free(cs->hash);
}

/* ---- local search pricing -------------------------------------------------------- */

typedef struct search {
    const sortition_instance *inst;
    const srt_types *ty;
    int *x;       /* [T] current counts */
    int *fc;      /* [nfeat] feature counts */
    int *hused;   /* [nhouseholds] */
    int *order;   /* [T] types by weight, descending */
    int *inpanel; /* types with x > 0 */
} search;

static int cmp_weight_desc(const void *a, const void *b, void *ctx) {
    const double *w = ctx;
    double wa = w[*(const int *)a], wb = w[*(const int *)b];
    return wa < wb ? 1 : wa > wb ? -1 : *(const int *)a - *(const int *)b;
}

static void search_load(search *s, const colstore *cs, size_t j) {
    const sortition_instance *in = s->inst;
    memset(s->x, 0, s->ty->T * sizeof(int));
    memset(s->fc, 0, in->nfeat * sizeof(int));
    if (in->nhouseholds) memset(s->hused, 0, in->nhouseholds * sizeof(int));
    for (size_t q = cs->start[j]; q < cs->start[j + 1]; q++) {
        int t = cs->type[q], c = cs->count[q];
        s->x[t] = c;
        for (size_t cat = 0; cat < in->ncat; cat++) s->fc[s->ty->feat[(size_t)t * in->ncat + cat]] += c;
        if (s->ty->hh[t] >= 0) s->hused[s->ty->hh[t]] += c;
    }
}

/* Best-improvement swaps (one person of type a out, one of type b in) that keep every
 * quota and the household rule, until none improves. Returns the final value. */
static double search_improve(search *s, const double *w) {
    const sortition_instance *in = s->inst;
    const srt_types *ty = s->ty;
    size_t T = ty->T, nc = in->ncat;
    for (int iter = 0; iter < 10000; iter++) {
        size_t np = 0;
        for (size_t t = 0; t < T; t++)
            if (s->x[t]) s->inpanel[np++] = (int)t;
        double best_gain = 1e-15;
        int ba = -1, bb = -1;
        for (size_t i = 0; i < np; i++) {
            int a = s->inpanel[i];
            const int *fa = ty->feat + (size_t)a * nc;
            for (size_t r = 0; r < T; r++) {
                int b = s->order[r];
                double gain = w[b] - w[a];
                if (gain <= best_gain) break;
                if (b == a || s->x[b] >= ty->size[b]) continue;
                if (ty->hh[b] >= 0 && s->hused[ty->hh[b]] - (ty->hh[a] == ty->hh[b]) > 0) continue;
                const int *fb = ty->feat + (size_t)b * nc;
                int ok = 1;
                for (size_t c = 0; c < nc && ok; c++) {
                    if (fa[c] == fb[c]) continue;
                    if (s->fc[fa[c]] - 1 < in->feat_min[fa[c]] || s->fc[fb[c]] + 1 > in->feat_max[fb[c]]) ok = 0;
                }
                if (!ok) continue;
                best_gain = gain, ba = a, bb = b;
                break; /* later b have smaller weight */
            }
        }
        if (ba < 0) break;
        const int *fa = ty->feat + (size_t)ba * nc, *fb = ty->feat + (size_t)bb * nc;
        s->x[ba]--, s->x[bb]++;
        for (size_t c = 0; c < nc; c++) s->fc[fa[c]]--, s->fc[fb[c]]++;
        if (ty->hh[ba] >= 0) s->hused[ty->hh[ba]]--;
        if (ty->hh[bb] >= 0) s->hused[ty->hh[bb]]++;
    }
    double v = 0;
    for (size_t t = 0; t < T; t++) v += w[t] * s->x[t];
    return v;
}

/* ---- the algorithm --------------------------------------------------------------- */

typedef struct lex {
    const sortition_instance *inst;
    const sortition_opts *o;
    srt_types ty;
    srt_oracle *oracle;
    srt_master *master;
    colstore cols;
    search s;
    unsigned char *fixed;
    double *pi;
    int *uncoverable; /* [T] */
    long oracle_calls, heur_cols, lp_solves, stages, gap_stops;
    double t_oracle, t_lp, t_heur;
    double smooth; /* dual smoothing factor a */
    int starts; /* local searches per pricing round: more columns per LP solve (measured: 3 -> 30 starts cut LP solves 5x) */
    long gap_every; /* pricing rounds between MIP calls while local search finds panels */
    double t0, last_progress;
} lex;

static int add_column(lex *L, const int *x) {
    uint64_t h = col_hash(x, L->ty.T);
    if (colstore_has(&L->cols, x, L->ty.T, h)) return 0;
    colstore_add(&L->cols, x, L->ty.T, h);
    srt_master_add(L->master, x);
    return 1;
}

/* Finds panels until every type is in one or is shown to be in none (the MIP that
 * maximises the number of uncovered people finds none of them). */
static int cover(lex *L, char *err, size_t errlen) {
    size_t T = L->ty.T;
    double *w = xcalloc(T, sizeof(double));
    int *x = xcalloc(T, sizeof(int));
    unsigned char *covered = xcalloc(T, 1);
    int ret = 0;
    for (;;) {
        if (stopped(L->o)) {
            ret = fail(err, errlen, SORTITION_EINTERRUPTED, "interrupted");
            break;
        }
        size_t left = 0;
        for (size_t t = 0; t < T; t++) {
            w[t] = covered[t] ? 0 : 1;
            left += !covered[t];
        }
        if (!left) break;
        double v;
        L->oracle_calls++;
        int rc = srt_oracle_solve(L->oracle, w, x, &v);
        if (rc == 1) {
            ret = fail(err, errlen, SORTITION_EINFEASIBLE, "no panel meets the quotas");
            break;
        }
        if (rc < 0) {
            ret = fail(err, errlen, SORTITION_ESOLVER, "the MIP solver failed while covering the pool");
            break;
        }
        if (v < 0.5) {
            for (size_t t = 0; t < T; t++)
                if (!covered[t]) L->uncoverable[t] = 1;
            break;
        }
        for (size_t t = 0; t < T; t++)
            if (x[t]) covered[t] = 1;
        add_column(L, x);
    }
    free(w);
    free(x);
    free(covered);
    return ret;
}

/* Before the first LP, a diverse set of panels by multiplicative weights (as in the
 * paper's initial phase, but with local search instead of the MIP): each round finds a
 * panel good for the people selected least so far, then lowers their weights. The LP
 * then starts near the maximin distribution instead of tailing off toward it. */
static void warm_start(lex *L) {
    size_t T = L->ty.T;
    if (!L->o->use_heuristic || L->cols.n == 0) return;
    double *w = xcalloc(T, sizeof(double));
    double *cov = xcalloc(T, sizeof(double));
    size_t rounds = 3 * L->inst->n / (size_t)L->inst->k + 50;
    if (rounds > 3000) rounds = 3000;
    size_t from = 0;
    for (size_t r = 0; r < rounds && !stopped(L->o); r++) {
        double mx = 0;
        for (size_t t = 0; t < T; t++)
            if (cov[t] > mx) mx = cov[t];
        for (size_t t = 0; t < T; t++) w[t] = L->uncoverable[t] ? 0 : exp(-4.0 * (cov[t] / (mx > 0 ? mx : 1)));
        for (size_t t = 0; t < T; t++) L->s.order[t] = (int)t;
        qsort_r(L->s.order, T, sizeof(int), cmp_weight_desc, w);
        search_load(&L->s, &L->cols, from);
        search_improve(&L->s, w);
        for (size_t t = 0; t < T; t++) cov[t] += (double)L->s.x[t] / L->ty.size[t];
        if (add_column(L, L->s.x)) L->heur_cols++;
        from = L->cols.n - 1;
    }
    free(w);
    free(cov);
}

/* On success *final_p (caller frees) holds the final LP's value of every column. */
static int run_stages(lex *L, double **final_p, char *err, size_t errlen) {
    size_t T = L->ty.T;
    double *y = xcalloc(T, sizeof(double));
    double *w = xcalloc(T, sizeof(double));
    int *x = xcalloc(T, sizeof(int));
    double *colval = NULL;
    size_t colcap = 0;
    size_t nfixed = 0;
    int ret = 0;
    for (size_t t = 0; t < T; t++) {
        if (L->uncoverable[t]) {
            L->fixed[t] = 1, L->pi[t] = 0, nfixed++;
            srt_master_fix(L->master, t, 0);
        }
    }
    double *p = NULL;
    size_t pcap = 0;
    double *wsep = xcalloc(T, sizeof(double));
    while (nfixed < T) {
        L->stages++;
        int have_sep = 0;
        long rounds = 0;
        double z = 0, yhat = 0;
        for (;;) {
            if (stopped(L->o)) {
                ret = fail(err, errlen, SORTITION_EINTERRUPTED, "interrupted");
                goto done;
            }
            L->lp_solves++;
            double tl = srt_now();
            int lrc = srt_master_solve(L->master, &z, &yhat, y, NULL);
            L->t_lp += srt_now() - tl;
            if (lrc != 0) {
                ret = fail(err, errlen, SORTITION_ESOLVER, "the LP solver failed (stage %ld)", L->stages);
                goto done;
            }
            for (size_t t = 0; t < T; t++) w[t] = y[t] / L->ty.size[t];
            double now = srt_now();
            if (now - L->last_progress > 2.0) {
                L->last_progress = now;
                progress(L->o, "stage %ld: %zu of %zu types fixed, min probability %.6f, %zu panels, %ld MIP calls, %.1f s",
                         L->stages, nfixed, T, z, L->cols.n, L->oracle_calls, now - L->t0);
            }
            /* Cheap pricing first: improve the best few existing panels by swaps,
             * under smoothed duals (Neame: wsep = a * previous wsep + (1 - a) * w),
             * which damps the oscillation of the LP's extreme-point duals; a panel is
             * kept only if it prices out under the true duals. If smoothing finds
             * nothing, the true duals are tried, then the MIP. */
            int added = 0;
            double th = srt_now();
            if (L->o->use_heuristic) {
                if (!have_sep) memcpy(wsep, w, T * sizeof(double));
                else
                    for (size_t t = 0; t < T; t++) wsep[t] = L->smooth * wsep[t] + (1 - L->smooth) * w[t];
                have_sep = 1;
                for (int pass = 0; pass < 2 && !added; pass++) {
                    const double *wp = pass == 0 ? wsep : w;
                    if (pass == 1 && L->smooth == 0) break;
                    size_t nc = L->cols.n;
                    if (colcap < nc) {
                        colcap = nc * 2;
                        colval = xreallocarray(colval, colcap, sizeof(double));
                    }
                    for (size_t j = 0; j < nc; j++) {
                        double v = 0;
                        for (size_t q = L->cols.start[j]; q < L->cols.start[j + 1]; q++)
                            v += wp[L->cols.type[q]] * L->cols.count[q];
                        colval[j] = v;
                    }
                    for (size_t t = 0; t < T; t++) L->s.order[t] = (int)t;
                    qsort_r(L->s.order, T, sizeof(int), cmp_weight_desc, (void *)wp);
                    for (int tries = 0; tries < L->starts; tries++) {
                        size_t best = 0;
                        for (size_t j = 1; j < nc; j++)
                            if (colval[j] > colval[best]) best = j;
                        if (colval[best] < -1e300) break;
                        colval[best] = -1e301;
                        search_load(&L->s, &L->cols, best);
                        search_improve(&L->s, wp);
                        double v = 0;
                        for (size_t t = 0; t < T; t++) v += w[t] * L->s.x[t];
                        if (v > yhat + PRICE_TOL && add_column(L, L->s.x)) {
                            added++;
                            L->heur_cols++;
                        }
                    }
                    if (pass == 0 && !added) have_sep = 0; /* misprice: restart smoothing */
                }
            }
            L->t_heur += srt_now() - th;
            /* Every gap_every rounds the MIP bounds the stage anyway: z* <= z + (its
             * optimum - yhat). Once that gap is below GAP_TOL the stage is done, which
             * cuts the long tail of tiny improvements the heuristic keeps finding. */
            if (added && ++rounds % L->gap_every != 0) continue;
            double v;
            L->oracle_calls++;
            double to = srt_now();
            int rc = srt_oracle_solve(L->oracle, w, x, &v);
            L->t_oracle += srt_now() - to;
            if (rc != 0) {
                ret = fail(err, errlen, SORTITION_ESOLVER, "the MIP solver failed (stage %ld)", L->stages);
                goto done;
            }
            if (v - yhat <= GAP_TOL && v - yhat > PRICE_TOL) L->gap_stops++;
            if (v - yhat <= GAP_TOL) break; /* z is within GAP_TOL of the stage optimum */
            if (add_column(L, x) || added) continue;
            break;
        }
        /* Fix the types whose dual is positive and that sit at z. */
        size_t ncols = L->cols.n;
        if (pcap < ncols) {
            pcap = ncols * 2;
            p = xreallocarray(p, pcap, sizeof(double));
        }
        L->lp_solves++;
        if (srt_master_solve(L->master, &z, &yhat, y, p) != 0) {
            ret = fail(err, errlen, SORTITION_ESOLVER, "the LP solver failed (stage %ld)", L->stages);
            goto done;
        }
        double *marg = w; /* reuse */
        memset(marg, 0, T * sizeof(double));
        for (size_t j = 0; j < ncols; j++)
            for (size_t q = L->cols.start[j]; q < L->cols.start[j + 1]; q++)
                marg[L->cols.type[q]] += p[j] * L->cols.count[q];
        double ymax = 0;
        size_t tmax = T;
        for (size_t t = 0; t < T; t++) {
            marg[t] /= L->ty.size[t];
            if (!L->fixed[t] && (tmax == T || y[t] > ymax)) ymax = y[t], tmax = t;
        }
        if (z > 1) z = 1;
        if (z < 0) z = 0;
        size_t before = nfixed;
        for (size_t t = 0; t < T; t++) {
            if (L->fixed[t]) continue;
            if (t == tmax || (y[t] > FIX_REL * ymax && y[t] > 1e-12 && marg[t] <= z + FIX_SLACK)) {
                L->fixed[t] = 1;
                L->pi[t] = z;
                nfixed++;
                srt_master_fix(L->master, t, z);
            }
        }
        /* Large pools: drop the panels unused by this stage's solution, so later
         * stages start from a master LP of about T columns instead of thousands
         * (pricing finds any that are needed again). Measured: a gain on large pools
         * and with GLPK (80 s -> 15 s on syn_n239_k30_hh), a loss with CLP on that
         * 193-type instance (9.5 s -> 14.3 s), hence the condition. */
        if (ncols > 2 * T + 100 && nfixed < T && (T > 400 || L->o->solver == SORTITION_SOLVER_GLPK)) {
            unsigned char *drop = xcalloc(ncols, 1);
            for (size_t j = 0; j < ncols; j++) drop[j] = p[j] <= 1e-12;
            srt_master_delete(L->master, drop);
            colstore_compact(&L->cols, drop);
            free(drop);
        }
        progress(L->o, "stage %ld done: %zu more types fixed at %.6f (%zu of %zu), %zu panels, %.1f s", L->stages,
                 nfixed - before, z, nfixed, T, L->cols.n, srt_now() - L->t0);
    }
    /* The final LP: every type at least its fixed probability; its solution is the
     * distribution. */
    {
        size_t ncols = L->cols.n;
        if (pcap < ncols) {
            pcap = ncols;
            p = xreallocarray(p, pcap, sizeof(double));
        }
        double z, yhat;
        L->lp_solves++;
        if (srt_master_solve(L->master, &z, &yhat, y, p) != 0) {
            ret = fail(err, errlen, SORTITION_ESOLVER, "the final LP failed");
            goto done;
        }
        colval = xreallocarray(colval, ncols + 1, sizeof(double));
        memcpy(colval, p, ncols * sizeof(double));
    }
done:
    if (ret) {
        free(colval);
        colval = NULL;
    }
    free(y);
    free(w);
    free(x);
    free(p);
    free(wsep);
    *final_p = colval;
    return ret;
}

/* ---- results ---------------------------------------------------------------------- */

void sortition_result_free(sortition_result *r) {
    if (!r) return;
    free(r->probability);
    free(r->panel);
    free(r->panel_prob);
    free(r->uncoverable);
    free(r->column_prob);
    free(r->column_count);
    free(r->type_of);
    free(r);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Turns the type-level distribution into one over panels of people with exactly the
 * same marginals: on [0,1) each panel holds an interval as long as its probability;
 * for each type and each count c the type takes in some panel, the panels taking c
 * are laid end to end and cut into size_t equal pieces, piece r choosing the c people
 * r, r+1, ... (cyclically) of the type. Every person is then chosen with measure
 * sum_c c * q_c / size_t, the type's marginal. The pieces of all types cut [0,1) into
 * the people-level panels. */
static void expand(const sortition_instance *inst, const srt_types *ty, sortition_result *r) {
    size_t m = r->ncolumns, T = ty->T;
    int k = inst->k;
    double *P = xcalloc(m + 1, sizeof(double));
    for (size_t j = 0; j < m; j++) P[j + 1] = P[j] + r->column_prob[j];
    P[m] = 1;
    size_t ncut = 0, capcut = m + 16;
    double *cuts = xcalloc(capcut, sizeof(double));
    for (size_t j = 0; j <= m; j++) cuts[ncut++] = P[j];
    /* Axis positions: for type t and count c, panels with that count in order. */
    int *vals = xcalloc(m + 1, sizeof(int));
    double *axis = xcalloc(m + 1, sizeof(double)); /* start of panel j on its (t,c) axis */
    /* offset[j*T + t]: computed per elementary interval below from axis data. */
    double *ax_start = xcalloc(m * T + 1, sizeof(double));
    double *ax_len = xcalloc(m * T + 1, sizeof(double)); /* total q_c of (t, count in j) */
    for (size_t t = 0; t < T; t++) {
        int nt = ty->size[t];
        if (nt == 1) continue;
        for (size_t j = 0; j < m; j++) vals[j] = r->column_count[j * T + t];
        for (size_t j = 0; j < m; j++) {
            int c = vals[j];
            if (c == 0 || c == nt || vals[j] < 0) continue;
            /* first panel with this count not yet processed: build the axis for c */
            double pos = 0;
            for (size_t i = j; i < m; i++) {
                if (vals[i] != c) continue;
                axis[i] = pos;
                pos += r->column_prob[i];
            }
            double q = pos;
            for (size_t i = j; i < m; i++) {
                if (vals[i] != c) continue;
                ax_start[i * T + t] = axis[i];
                ax_len[i * T + t] = q;
                vals[i] = -1;
                /* cuts at q*s/nt that fall inside panel i */
                double a0 = axis[i], a1 = axis[i] + r->column_prob[i];
                long s0 = (long)floor(a0 * nt / q) + 1;
                for (long s = s0; s < nt && q * (double)s / nt < a1; s++) {
                    if (ncut == capcut) {
                        capcut *= 2;
                        cuts = xreallocarray(cuts, capcut, sizeof(double));
                    }
                    cuts[ncut++] = P[i] + (q * (double)s / nt - a0);
                }
            }
        }
    }
    qsort(cuts, ncut, sizeof(double), cmp_double);
    r->panel = xcalloc((ncut + 1) * (size_t)k, sizeof(int));
    r->panel_prob = xcalloc(ncut + 1, sizeof(double));
    r->npanels = 0;
    size_t j = 0;
    double total = 0;
    for (size_t e = 0; e + 1 < ncut; e++) {
        double a = cuts[e], b = cuts[e + 1];
        if (b - a < 1e-13) continue;
        double mid = 0.5 * (a + b);
        while (j + 1 < m && P[j + 1] <= mid) j++;
        int *out = r->panel + r->npanels * (size_t)k;
        int filled = 0;
        for (size_t t = 0; t < T; t++) {
            int c = r->column_count[j * T + t];
            if (!c) continue;
            int nt = ty->size[t];
            long off = 0;
            if (c < nt && nt > 1) {
                double q = ax_len[j * T + t];
                off = (long)floor((ax_start[j * T + t] + (mid - P[j])) * nt / q);
                if (off >= nt) off = nt - 1;
                if (off < 0) off = 0;
            }
            for (int i = 0; i < c && filled < k; i++) out[filled++] = ty->members[ty->start[t] + (off + i) % nt];
        }
        /* members ascending */
        for (int a1 = 1; a1 < filled; a1++) {
            int v = out[a1], b1 = a1 - 1;
            while (b1 >= 0 && out[b1] > v) out[b1 + 1] = out[b1], b1--;
            out[b1 + 1] = v;
        }
        r->panel_prob[r->npanels++] = b - a;
        total += b - a;
    }
    for (size_t q = 0; q < r->npanels; q++) r->panel_prob[q] /= total;
    free(P);
    free(cuts);
    free(vals);
    free(axis);
    free(ax_start);
    free(ax_len);
}

static int run_leximin(const sortition_instance *inst, const sortition_opts *o, sortition_result *r, char *err,
                       size_t errlen) {
    lex L;
    memset(&L, 0, sizeof L);
    L.inst = inst;
    L.o = o;
    L.t0 = srt_now();
    L.last_progress = L.t0;
    L.starts = 30;
    srt_types_build(inst, &L.ty);
    size_t T = L.ty.T;
    /* Dual smoothing off: measured on the 1,120-type pool, a = 0.7 reaches a given z
     * faster for the first minutes but then floods the LP with panels and ends slower;
     * on small pools it doubles the LP solves (docs/engines/sortition.md). */
    L.smooth = 0;
    /* Large pools: the MIP prices every round, beside the local search. Measured on
     * the 1,120-type pool (docs/benchmarks.md): stage 2 done at 159 s instead of 203 s
     * (every 10 rounds) or 197 s (MIP only, no local search); the MIP's panels are
     * worth far more than the local search's near-zero ones, and a call costs ~0.07 s
     * against seconds for an LP over 1,120 rows. Small pools keep every 10 rounds. */
    L.gap_every = T > 400 ? 1 : GAP_EVERY;
    L.oracle = srt_oracle_new(inst, &L.ty, o->solver);
    L.master = srt_master_new(T, L.ty.size, o->solver);
    L.fixed = xcalloc(T, 1);
    L.pi = xcalloc(T, sizeof(double));
    L.uncoverable = xcalloc(T, sizeof(int));
    L.s.inst = inst;
    L.s.ty = &L.ty;
    L.s.x = xcalloc(T, sizeof(int));
    L.s.fc = xcalloc(inst->nfeat + 1, sizeof(int));
    L.s.hused = xcalloc(inst->nhouseholds + 1, sizeof(int));
    L.s.order = xcalloc(T, sizeof(int));
    L.s.inpanel = xcalloc(T, sizeof(int));
    progress(o, "leximin: %zu people in %zu types, k = %d, %s", inst->n, T, inst->k,
             o->solver == SORTITION_SOLVER_GLPK ? "GLPK" : "CBC/CLP");
    int ret = cover(&L, err, errlen);
    double *p = NULL;
    if (!ret) {
        warm_start(&L);
        progress(o, "warm start: %zu panels, %.1f s", L.cols.n, srt_now() - L.t0);
        ret = run_stages(&L, &p, err, errlen);
    }
    progress(o, "time: MIP oracle %.2f s, master LP %.2f s, local search %.2f s; %ld stages ended by the gap bound",
             L.t_oracle, L.t_lp, L.t_heur, L.gap_stops);
    if (!ret) {
        /* Keep the panels with positive probability, renormalised. */
        size_t m = 0;
        double sum = 0;
        for (size_t j = 0; j < L.cols.n; j++)
            if (p[j] > 1e-11) m++, sum += p[j];
        r->ncolumns = m;
        r->column_prob = xcalloc(m + 1, sizeof(double));
        r->column_count = xcalloc(m * T + 1, sizeof(int));
        size_t q = 0;
        for (size_t j = 0; j < L.cols.n; j++) {
            if (p[j] <= 1e-11) continue;
            r->column_prob[q] = p[j] / sum;
            for (size_t e = L.cols.start[j]; e < L.cols.start[j + 1]; e++)
                r->column_count[q * T + (size_t)L.cols.type[e]] = L.cols.count[e];
            q++;
        }
        double *tm = xcalloc(T, sizeof(double));
        for (size_t j = 0; j < m; j++)
            for (size_t t = 0; t < T; t++) tm[t] += r->column_prob[j] * r->column_count[j * T + t];
        r->type_of = xcalloc(inst->n, sizeof(int));
        for (size_t i = 0; i < inst->n; i++) {
            int t = L.ty.type_of[i];
            r->type_of[i] = t;
            r->probability[i] = tm[t] / L.ty.size[t];
        }
        free(tm);
        size_t nu = 0;
        r->uncoverable = xcalloc(inst->n + 1, sizeof(int));
        for (size_t i = 0; i < inst->n; i++)
            if (L.uncoverable[L.ty.type_of[i]]) r->uncoverable[nu++] = (int)i;
        r->nuncoverable = nu;
        expand(inst, &L.ty, r);
    }
    free(p);
    free(L.s.inpanel);
    r->oracle_calls = L.oracle_calls;
    r->heuristic_columns = L.heur_cols;
    r->lp_solves = L.lp_solves;
    r->stages = L.stages;
    r->ntypes = T;
    srt_oracle_free(L.oracle);
    srt_master_free(L.master);
    colstore_free(&L.cols);
    free(L.fixed);
    free(L.pi);
    free(L.uncoverable);
    free(L.s.x);
    free(L.s.fc);
    free(L.s.hused);
    free(L.s.order);
    srt_types_free(&L.ty);
    return ret;
}

int sortition_run(const sortition_instance *inst, const sortition_opts *o, sortition_result **out, char *err,
                  size_t errlen) {
    *out = NULL;
    sortition_result *r = xcalloc(1, sizeof *r);
    r->algorithm = o->algorithm;
    r->n = inst->n;
    r->k = inst->k;
    r->probability = xcalloc(inst->n, sizeof(double));
    double t0 = srt_now();
    int ret;
    if (o->algorithm == SORTITION_LEGACY) {
        long failed = 0;
        ret = srt_legacy(inst, o, r->probability, &failed);
        if (ret == SORTITION_EINFEASIBLE)
            fail(err, errlen, ret, "LEGACY found no panel in %d attempts", o->legacy_runs > 0 ? o->legacy_runs : 10000);
        else if (ret == SORTITION_EINTERRUPTED)
            fail(err, errlen, ret, "interrupted");
    } else {
        ret = run_leximin(inst, o, r, err, errlen);
    }
    r->seconds = srt_now() - t0;
    if (ret) {
        sortition_result_free(r);
        return ret;
    }
    sortition_compute_stats(r->probability, r->n, &r->stats);
    *out = r;
    return SORTITION_OK;
}
