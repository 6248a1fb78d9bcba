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
/* The stage's z is accepted when the MIP bound is within GAP_TOL (a probability, so
 * 1e-7 is far below the 1e-4 the reference data asks); the bound is computed at least
 * every GAP_EVERY pricing rounds. */
#define GAP_TOL 1e-7
#define GAP_EVERY 10 /* pools of at most 400 types; larger ones call the MIP every round */
/* The relaxation's LEXIMIN counts as met when the distribution reaches this share of
 * it for everyone, and as out of reach once the MIP bound proves less than 1 minus
 * TARGET_GIVE_UP achievable. */
#define TARGET_TOL 1e-7
#define TARGET_GIVE_UP 1e-6

void sortition_opts_init(sortition_opts *o) {
    memset(o, 0, sizeof *o);
    o->algorithm = SORTITION_LEXIMIN;
    o->solver = SORTITION_SOLVER_COIN;
    o->legacy_runs = 10000;
    o->use_heuristic = 1;
    o->use_relaxation = 1;
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
    int relax;     /* try the relaxation's LEXIMIN first */
    int relax_met; /* 1 a distribution met it, 0 out of reach, -1 not tried */
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

/* One MIP oracle call (over face, or all panels when NULL), counted and timed. */
static int mip(lex *L, const double *w, const srt_face *face, int *x, double *v) {
    L->oracle_calls++;
    double to = srt_now();
    int rc = srt_oracle_solve_in(L->oracle, w, face, x, v);
    L->t_oracle += srt_now() - to;
    return rc;
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
        int rc = mip(L, w, NULL, x, &v);
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

/* The MIP oracle at weights w = y / size: its panel x, value v and the Lagrangian
 * bound ub = v - sum over fixed t of pi_t y_t on the stage's z (valid for any y >= 0
 * whose unfixed entries sum to 1). Returns srt_oracle_solve's code. */
static int oracle(lex *L, const double *w, const double *y, int *x, double *v, double *ub) {
    int rc = mip(L, w, NULL, x, v);
    if (rc != 0) return rc;
    double b = *v;
    for (size_t t = 0; t < L->ty.T; t++)
        if (L->fixed[t]) b -= L->pi[t] * y[t];
    *ub = b;
    return 0;
}

/* Column generation for one stage: re-solves the master LP and prices new panels
 * (local search, then the MIP) until no panel prices out, the Lagrangian bound puts z
 * within GAP_TOL of the stage optimum, z reaches goal, or the bound falls below
 * give_up (the goal is then out of reach). On return z, yhat, y are the last LP's and
 * *ub_best the best bound seen. colval/colcap: scratch of the local search. */
static int solve_stage(lex *L, size_t nfixed, double goal, double give_up, double *z, double *yhat, double *y,
                       double *w, int *x, double **colval, size_t *colcap, double *ub_best, char *err,
                       size_t errlen) {
    size_t T = L->ty.T;
    long rounds = 0;
    *ub_best = INFINITY; /* the stage optimum is at most this */
    for (;;) {
        if (stopped(L->o)) return fail(err, errlen, SORTITION_EINTERRUPTED, "interrupted");
        L->lp_solves++;
        double tl = srt_now();
        int lrc = srt_master_solve(L->master, z, yhat, y, NULL);
        L->t_lp += srt_now() - tl;
        if (lrc != 0) return fail(err, errlen, SORTITION_ESOLVER, "the LP solver failed (stage %ld)", L->stages);
        if (*z >= goal) return 0;
        for (size_t t = 0; t < T; t++) w[t] = y[t] / L->ty.size[t];
        double now = srt_now();
        if (now - L->last_progress > 2.0) {
            L->last_progress = now;
            progress(L->o, "stage %ld: %zu of %zu types fixed, %s %.6f, %zu panels, %ld MIP calls, %.1f s", L->stages,
                     nfixed, T, goal <= 1 ? "share of the target met" : "min probability", *z, L->cols.n,
                     L->oracle_calls, now - L->t0);
        }
        /* Cheap pricing first: improve the best few existing panels by swaps; every
         * distinct panel that prices out under the duals is added. */
        int added = 0;
        double th = srt_now();
        if (L->o->use_heuristic) {
            size_t nc = L->cols.n;
            if (*colcap < nc) {
                *colcap = nc * 2;
                *colval = xreallocarray(*colval, *colcap, sizeof(double));
            }
            double *cv = *colval;
            for (size_t j = 0; j < nc; j++) {
                double v = 0;
                for (size_t q = L->cols.start[j]; q < L->cols.start[j + 1]; q++)
                    v += w[L->cols.type[q]] * L->cols.count[q];
                cv[j] = v;
            }
            for (size_t t = 0; t < T; t++) L->s.order[t] = (int)t;
            qsort_r(L->s.order, T, sizeof(int), cmp_weight_desc, w);
            for (int tries = 0; tries < L->starts; tries++) {
                size_t best = 0;
                for (size_t j = 1; j < nc; j++)
                    if (cv[j] > cv[best]) best = j;
                if (cv[best] < -1e300) break;
                cv[best] = -1e301;
                search_load(&L->s, &L->cols, best);
                double v = search_improve(&L->s, w);
                if (v > *yhat + PRICE_TOL && add_column(L, L->s.x)) {
                    added++;
                    L->heur_cols++;
                }
            }
        }
        L->t_heur += srt_now() - th;
        /* Every gap_every rounds the MIP bounds the stage anyway: z* <= its optimum
         * minus sum over fixed t of pi_t y_t (the Lagrangian bound). Once that is
         * within GAP_TOL of z the stage is done, which cuts the long tail of tiny
         * improvements the heuristic keeps finding. */
        if (added && ++rounds % L->gap_every != 0) continue;
        double v, ub;
        int rc = oracle(L, w, y, x, &v, &ub);
        if (rc != 0) return fail(err, errlen, SORTITION_ESOLVER, "the MIP solver failed (stage %ld)", L->stages);
        if (ub < *ub_best) *ub_best = ub;
        if (v - *yhat <= PRICE_TOL) return 0; /* no panel prices out: z is the stage optimum */
        if (*ub_best - *z <= GAP_TOL) {
            L->gap_stops++;
            return 0; /* z is within GAP_TOL of the stage optimum */
        }
        if (*ub_best < give_up) return 0;
        if (!add_column(L, x) && !added) return 0;
    }
}

/* Looks for panels that achieve the expected counts m = target * size by walking
 * down the faces of the quota polytope (Caratheodory): a panel x inside the smallest
 * face that holds m (the MIP with every bound and quota that m meets exactly held
 * fixed), then m moves away from x, m + lambda (m - x), until one more bound or quota
 * is met; m is then a mix of x and the new point, which lies in a smaller face. At
 * most one step per dimension, so about T MIP calls; every panel found is a column of
 * the master LP, which then weighs them. Ends early (and the column generation goes
 * on from the panels found) when a face holds no panel: the target may still be met,
 * through panels outside this walk. Returns 0 or the engine's error code. */
#define FACE_EPS 1e-9
#define DECOMPOSE_RETRIES 8 /* other panels tried at one point before giving up */
/* A face MIP only needs a good panel, not the best: it stops after this long with the
 * best found (seen: one face MIP of a 503-type pool ran for 250 s). */
#define FACE_SECONDS 2.0
static int decompose(lex *L, const double *target, char *err, size_t errlen) {
    size_t T = L->ty.T;
    const double *lo, *hi; /* the rows' own bounds */
    size_t nr = srt_oracle_rows(L->oracle, &lo, &hi);
    double *m = xcalloc(T, sizeof(double)), *d = xcalloc(T, sizeof(double)), *w = xcalloc(T, sizeof(double));
    double *clo = xcalloc(T, sizeof(double)), *chi = xcalloc(T, sizeof(double));
    double *rlo = xcalloc(nr, sizeof(double)), *rhi = xcalloc(nr, sizeof(double));
    double *act = xcalloc(nr, sizeof(double)), *ad = xcalloc(nr, sizeof(double));
    double *mprev = xcalloc(T, sizeof(double));
    int *x = xcalloc(T, sizeof(int));
    const int *size = L->ty.size;
    int ret = 0, retries = 0, have_prev = 0, restored = 0;
    long backtracks = 0;
    const char *end = "step limit";
    uint64_t rng = 0x5eed;
    for (size_t t = 0; t < T; t++) m[t] = target[t] * size[t];
    for (size_t step = 0; step < 2 * T + 10; step++) {
        if (stopped(L->o)) {
            ret = fail(err, errlen, SORTITION_EINTERRUPTED, "interrupted");
            end = "interrupted";
            break;
        }
        int integral = 1;
        for (size_t t = 0; t < T; t++)
            if (fabs(m[t] - nearbyint(m[t])) > FACE_EPS) integral = 0;
        if (integral) { /* m is a panel itself */
            for (size_t t = 0; t < T; t++) x[t] = (int)lround(m[t]);
            add_column(L, x);
            end = "complete";
            break;
        }
        /* The smallest face holding m: every bound and row that m meets is held. */
        for (size_t t = 0; t < T; t++) {
            clo[t] = 0, chi[t] = size[t];
            if (m[t] <= FACE_EPS) chi[t] = 0;
            else if (m[t] >= size[t] - FACE_EPS) clo[t] = size[t];
            w[t] = m[t] / size[t];
            /* after a dead end, another panel of the same face: a perturbed objective */
            if (retries) w[t] *= 1 + 0.5 * (double)(sortition_rng_next(&rng) >> 11) / 9007199254740992.0;
        }
        srt_oracle_activity(L->oracle, m, act);
        for (size_t r = 0; r < nr; r++) {
            rlo[r] = lo[r], rhi[r] = hi[r];
            if (act[r] <= lo[r] + FACE_EPS) rhi[r] = lo[r];
            else if (act[r] >= hi[r] - FACE_EPS) rlo[r] = hi[r];
        }
        srt_face face = {clo, chi, rlo, rhi, FACE_SECONDS};
        double v;
        int rc = mip(L, w, &face, x, &v);
        if (rc < 0) {
            ret = fail(err, errlen, SORTITION_ESOLVER, "the MIP solver failed (decomposition)");
            break;
        }
        if (rc == 1 || rc == 2) {
            /* No panel in this face (or none found in FACE_SECONDS): the last step left
             * the panels' hull. Back to the point before it, to step away from another
             * panel of its face. */
            if (!have_prev || retries >= DECOMPOSE_RETRIES) {
                end = "a face without panels";
                break;
            }
            memcpy(m, mprev, T * sizeof(double));
            retries++, backtracks++, restored = 1;
            continue;
        }
        if (!restored) retries = 0; /* a new point whose face has panels: progress */
        restored = 0;
        add_column(L, x);
        /* The longest step m + lam (m - x) that stays within the bounds and the rows
         * the face does not hold (x meets those it holds, so they stay met). */
        for (size_t t = 0; t < T; t++) d[t] = m[t] - x[t];
        srt_oracle_activity(L->oracle, d, ad);
        double lam = INFINITY;
        for (size_t t = 0; t < T; t++) {
            if (d[t] < -FACE_EPS) lam = fmin(lam, m[t] / -d[t]);
            else if (d[t] > FACE_EPS) lam = fmin(lam, (size[t] - m[t]) / d[t]);
        }
        for (size_t r = 0; r < nr; r++) {
            if (rlo[r] == rhi[r]) continue;
            if (ad[r] < -FACE_EPS) lam = fmin(lam, (act[r] - lo[r]) / -ad[r]);
            else if (ad[r] > FACE_EPS) lam = fmin(lam, (hi[r] - act[r]) / ad[r]);
        }
        if (!(lam > 1e-12) || lam == INFINITY) { /* no room to move: numerical dead end */
            end = "no room to move";
            break;
        }
        memcpy(mprev, m, T * sizeof(double));
        have_prev = 1;
        for (size_t t = 0; t < T; t++) {
            m[t] += lam * d[t];
            if (m[t] < FACE_EPS) m[t] = 0;
            if (m[t] > size[t] - FACE_EPS) m[t] = size[t];
        }
        double now = srt_now();
        if (now - L->last_progress > 2.0) {
            L->last_progress = now;
            size_t zero = 0;
            for (size_t t = 0; t < T; t++) zero += m[t] == 0;
            progress(L->o, "decomposition: %zu steps, %ld back, %zu of %zu types left, %.1f s", step + 1, backtracks,
                     T - zero, T, now - L->t0);
        }
    }
    progress(L->o, "decomposition ended (%s): %zu panels, %ld steps back, %.1f s", end, L->cols.n, backtracks,
             srt_now() - L->t0);
    free(mprev);
    free(m);
    free(d);
    free(w);
    free(clo);
    free(chi);
    free(rlo);
    free(rhi);
    free(act);
    free(ad);
    free(x);
    return ret;
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
    /* The shortcut: the LEXIMIN of the LP relaxation (the quota polytope instead of
     * the panels' convex hull) is an upper bound on every distribution's in the leximin
     * order, so a distribution that meets it is the answer. One column-generation stage
     * with the rows marg_t >= target_t z looks for one; z = 1 is such a distribution.
     * Measured on the 1,120-type pool: the relaxation is tight, and this one stage
     * replaces the stages whose tail took most of the time. When the MIP bound shows
     * the target out of reach, the panels found so far seed the stages below. */
    if (L->relax && nfixed < T) {
        double *target = xcalloc(T, sizeof(double));
        double tr = srt_now();
        int rrc = srt_relax_leximin(L->inst, &L->ty, L->uncoverable, target, &L->lp_solves);
        L->t_lp += srt_now() - tr;
        if (rrc == 0) {
            progress(L->o, "relaxation: LEXIMIN of the LP relaxation in %.2f s; checking that panels achieve it",
                     srt_now() - tr);
            ret = decompose(L, target, err, errlen);
            if (ret) {
                free(target);
                goto done;
            }
            srt_master_target(L->master, target);
            L->stages++;
            double z = 0, yhat = 0, ub_best;
            ret = solve_stage(L, nfixed, 1 - TARGET_TOL, 1 - TARGET_GIVE_UP, &z, &yhat, y, w, x, &colval, &colcap,
                              &ub_best, err, errlen);
            if (ret) {
                free(target);
                goto done;
            }
            if (z >= 1 - TARGET_TOL) {
                for (size_t t = 0; t < T; t++)
                    if (!L->fixed[t]) L->fixed[t] = 1, L->pi[t] = target[t], nfixed++;
                L->relax_met = 1;
                progress(L->o, "relaxation met: %zu panels, %.1f s", L->cols.n, srt_now() - L->t0);
            } else {
                srt_master_target(L->master, NULL);
                L->relax_met = 0;
                progress(L->o, "relaxation out of reach (%.6f of it at most); stage by stage from %zu panels, %.1f s",
                         ub_best < z ? z : ub_best, L->cols.n, srt_now() - L->t0);
            }
        }
        free(target);
    }
    while (nfixed < T) {
        L->stages++;
        double z = 0, yhat = 0;
        double ub_best;
        ret = solve_stage(L, nfixed, INFINITY, -INFINITY, &z, &yhat, y, w, x, &colval, &colcap, &ub_best, err,
                          errlen);
        if (ret) goto done;
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
            if (t == tmax || srt_fix_at_z(y[t], ymax, marg[t], z)) {
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
    L.relax = o->use_relaxation;
    L.relax_met = -1;
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
    r->relaxation = L.relax_met;
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
