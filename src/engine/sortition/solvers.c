/*
 * solvers: the MIP oracle and the master LP of LEXIMIN column generation, each over
 * GLPK or over COIN-OR (CBC for the MIP, CLP for the LP), behind one interface
 * (internal.h) so the two can be measured against each other on the same runs.
 *
 * Both solvers keep their model in memory across calls: the oracle changes only its
 * objective, the master only gains columns or changes a row, and each re-solve starts
 * from the previous basis.
 */
#include <coin/Cbc_C_Interface.h>
#include <coin/Clp_C_Interface.h>
#include <glpk.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/xalloc.h"
#include "engine/sortition/internal.h"

double srt_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- types ---------------------------------------------------------------------- */

static int cmp_person(const void *a, const void *b, void *ctx) {
    int i = *(const int *)a, j = *(const int *)b;
    const sortition_instance *in = ctx;
    int hi = in->household[i] >= 0, hj = in->household[j] >= 0;
    if (hi != hj) return hi - hj;
    if (hi) return i - j; /* household members each form their own type */
    int c = memcmp(in->person_feat + (size_t)i * in->ncat, in->person_feat + (size_t)j * in->ncat,
                   in->ncat * sizeof(int));
    return c ? c : i - j;
}

void srt_types_build(const sortition_instance *inst, srt_types *ty) {
    size_t n = inst->n, nc = inst->ncat;
    int *order = xcalloc(n, sizeof(int));
    for (size_t i = 0; i < n; i++) order[i] = (int)i;
    qsort_r(order, n, sizeof(int), cmp_person, (void *)inst);
    ty->T = 0;
    ty->size = xcalloc(n, sizeof(int));
    ty->feat = xcalloc(n * nc + 1, sizeof(int));
    ty->hh = xcalloc(n, sizeof(int));
    ty->type_of = xcalloc(n, sizeof(int));
    ty->start = xcalloc(n + 1, sizeof(int));
    ty->members = xcalloc(n, sizeof(int));
    for (size_t a = 0; a < n; a++) {
        int i = order[a];
        int same = 0;
        if (a > 0 && inst->household[i] < 0) {
            int j = order[a - 1];
            same = inst->household[j] < 0 &&
                   memcmp(inst->person_feat + (size_t)i * nc, inst->person_feat + (size_t)j * nc, nc * sizeof(int)) == 0;
        }
        if (!same) {
            size_t t = ty->T++;
            ty->start[t] = (int)a;
            memcpy(ty->feat + t * nc, inst->person_feat + (size_t)i * nc, nc * sizeof(int));
            ty->hh[t] = inst->household[i];
        }
        ty->size[ty->T - 1]++;
        ty->members[a] = i;
        ty->type_of[i] = (int)ty->T - 1;
    }
    ty->start[ty->T] = (int)n;
    free(order);
}

void srt_types_free(srt_types *ty) {
    free(ty->size);
    free(ty->feat);
    free(ty->hh);
    free(ty->type_of);
    free(ty->start);
    free(ty->members);
    memset(ty, 0, sizeof *ty);
}

/* ---- oracle --------------------------------------------------------------------- */

/* The constraint matrix in row form: row 0 is the panel size, then one row per
 * feature, then one per household of two or more. */
typedef struct {
    size_t nrows;
    double *lo, *hi;
    int *start; /* [nrows + 1] */
    int *col;
    double *val;
} rowmat;

struct srt_oracle {
    sortition_solver solver;
    size_t T;
    int k;
    rowmat rows; /* the model's rows: their own bounds are put back after a face solve */
    const int *size;   /* [T] */
    glp_prob *glp;
    Cbc_Model *cbc;
    double *sol;
};


static void build_rows(const sortition_instance *inst, const srt_types *ty, rowmat *m) {
    size_t T = ty->T, nc = inst->ncat, nf = inst->nfeat;
    m->nrows = 1 + nf + inst->nhouseholds;
    m->lo = xcalloc(m->nrows, sizeof(double));
    m->hi = xcalloc(m->nrows, sizeof(double));
    m->start = xcalloc(m->nrows + 1, sizeof(int));
    size_t nnz = T + T * nc + T;
    m->col = xcalloc(nnz, sizeof(int));
    m->val = xcalloc(nnz, sizeof(double));
    size_t p = 0;
    m->lo[0] = m->hi[0] = inst->k;
    for (size_t t = 0; t < T; t++) m->col[p] = (int)t, m->val[p++] = 1;
    for (size_t f = 0; f < nf; f++) {
        m->start[1 + f] = (int)p;
        m->lo[1 + f] = inst->feat_min[f];
        m->hi[1 + f] = inst->feat_max[f];
        size_t c = inst->feat_cat[f];
        for (size_t t = 0; t < T; t++)
            if ((size_t)ty->feat[t * nc + c] == f) m->col[p] = (int)t, m->val[p++] = 1;
    }
    for (size_t h = 0; h < inst->nhouseholds; h++) {
        size_t r = 1 + nf + h;
        m->start[r] = (int)p;
        m->lo[r] = 0;
        m->hi[r] = 1;
        for (size_t t = 0; t < T; t++)
            if (ty->hh[t] == (int)h) m->col[p] = (int)t, m->val[p++] = 1;
    }
    m->start[m->nrows] = (int)p;
}

static void free_rows(rowmat *m) {
    free(m->lo);
    free(m->hi);
    free(m->start);
    free(m->col);
    free(m->val);
}

srt_oracle *srt_oracle_new(const sortition_instance *inst, const srt_types *ty, sortition_solver s) {
    srt_oracle *o = xcalloc(1, sizeof *o);
    o->solver = s;
    o->T = ty->T;
    o->k = inst->k;
    o->sol = xcalloc(ty->T + 1, sizeof(double));
    build_rows(inst, ty, &o->rows);
    const rowmat m = o->rows;
    o->size = ty->size;
    if (s == SORTITION_SOLVER_GLPK) {
        glp_prob *g = glp_create_prob();
        glp_set_obj_dir(g, GLP_MAX);
        glp_add_cols(g, (int)ty->T);
        for (size_t t = 0; t < ty->T; t++) {
            if (ty->size[t] == 1) glp_set_col_kind(g, (int)t + 1, GLP_BV);
            else {
                glp_set_col_kind(g, (int)t + 1, GLP_IV);
                glp_set_col_bnds(g, (int)t + 1, GLP_DB, 0, ty->size[t]);
            }
        }
        glp_add_rows(g, (int)m.nrows);
        int *ind = xcalloc(ty->T + 1, sizeof(int));
        double *val = xcalloc(ty->T + 1, sizeof(double));
        for (size_t r = 0; r < m.nrows; r++) {
            int len = m.start[r + 1] - m.start[r];
            for (int j = 0; j < len; j++) {
                ind[j + 1] = m.col[m.start[r] + j] + 1;
                val[j + 1] = m.val[m.start[r] + j];
            }
            glp_set_mat_row(g, (int)r + 1, len, ind, val);
            glp_set_row_bnds(g, (int)r + 1, m.lo[r] == m.hi[r] ? GLP_FX : GLP_DB, m.lo[r], m.hi[r]);
        }
        free(ind);
        free(val);
        o->glp = g;
    } else {
        Cbc_Model *c = Cbc_newModel();
        /* Cbc_loadProblem takes column form; transpose the rows. */
        size_t nnz = (size_t)m.start[m.nrows];
        int *cstart = xcalloc(ty->T + 1, sizeof(int));
        int *rowidx = xcalloc(nnz + 1, sizeof(int));
        double *cval = xcalloc(nnz + 1, sizeof(double));
        for (size_t q = 0; q < nnz; q++) cstart[m.col[q] + 1]++;
        for (size_t t = 0; t < ty->T; t++) cstart[t + 1] += cstart[t];
        int *fill = xcalloc(ty->T + 1, sizeof(int));
        memcpy(fill, cstart, ty->T * sizeof(int));
        for (size_t r = 0; r < m.nrows; r++)
            for (int q = m.start[r]; q < m.start[r + 1]; q++) {
                int pos = fill[m.col[q]]++;
                rowidx[pos] = (int)r;
                cval[pos] = m.val[q];
            }
        double *clo = xcalloc(ty->T + 1, sizeof(double)), *chi = xcalloc(ty->T + 1, sizeof(double));
        double *obj = xcalloc(ty->T + 1, sizeof(double));
        for (size_t t = 0; t < ty->T; t++) chi[t] = ty->size[t];
        Cbc_loadProblem(c, (int)ty->T, (int)m.nrows, cstart, rowidx, cval, clo, chi, obj, m.lo, m.hi);
        for (size_t t = 0; t < ty->T; t++) Cbc_setInteger(c, (int)t);
        Cbc_setObjSense(c, -1);
        Cbc_setLogLevel(c, 0);
        free(cstart);
        free(rowidx);
        free(cval);
        free(fill);
        free(clo);
        free(chi);
        free(obj);
        o->cbc = c;
    }
    return o;
}

static int glp_face_solve(srt_oracle *o, const double *w, double seconds, int *x, double *value);
static int cbc_solve(Cbc_Model *c, srt_oracle *o, const double *w, double seconds, int *x, double *value);

int srt_oracle_solve(srt_oracle *o, const double *w, int *x, double *value) {
    return srt_oracle_solve_in(o, w, NULL, x, value);
}

/* GLPK keeps one model: a face's bounds are set before the solve and put back after. */
static void glp_face_bounds(srt_oracle *o, const srt_face *f) {
    glp_prob *g = o->glp;
    for (size_t t = 0; t < o->T; t++) {
        double lo = f ? f->clo[t] : 0, hi = f ? f->chi[t] : o->size[t];
        glp_set_col_bnds(g, (int)t + 1, lo == hi ? GLP_FX : GLP_DB, lo, hi);
    }
    for (size_t r = 0; r < o->rows.nrows; r++) {
        double lo = f ? f->rlo[r] : o->rows.lo[r], hi = f ? f->rhi[r] : o->rows.hi[r];
        glp_set_row_bnds(g, (int)r + 1, lo == hi ? GLP_FX : GLP_DB, lo, hi);
    }
}

int srt_oracle_solve_in(srt_oracle *o, const double *w, const srt_face *face, int *x, double *value) {
    if (o->solver == SORTITION_SOLVER_GLPK) {
        if (face) glp_face_bounds(o, face);
        int fr = glp_face_solve(o, w, face ? face->seconds : 0, x, value);
        if (face) glp_face_bounds(o, NULL);
        return fr;
    }
    Cbc_Model *c = Cbc_clone(o->cbc);
    for (size_t t = 0; t < o->T; t++) Cbc_setObjCoeff(c, (int)t, w[t]);
    if (face) {
        for (size_t t = 0; t < o->T; t++) {
            Cbc_setColLower(c, (int)t, face->clo[t]);
            Cbc_setColUpper(c, (int)t, face->chi[t]);
        }
        for (size_t r = 0; r < o->rows.nrows; r++) {
            Cbc_setRowLower(c, (int)r, face->rlo[r]);
            Cbc_setRowUpper(c, (int)r, face->rhi[r]);
        }
    }
    return cbc_solve(c, o, w, face ? face->seconds : 0, x, value);
}

/* seconds > 0: a time limit, after which the best panel found so far is taken (2 when
 * there is none). */
static int glp_face_solve(srt_oracle *o, const double *w, double seconds, int *x, double *value) {
    glp_prob *g = o->glp;
    for (size_t t = 0; t < o->T; t++) glp_set_obj_coef(g, (int)t + 1, w[t]);
    glp_smcp sp;
    glp_init_smcp(&sp);
    sp.msg_lev = GLP_MSG_OFF;
    sp.presolve = GLP_OFF;
    int rc = glp_simplex(g, &sp);
    if (rc != 0 && rc != GLP_ENOPFS) {
        /* A stale basis can be singular after many objective changes: restart. */
        glp_std_basis(g);
        rc = glp_simplex(g, &sp);
    }
    if (rc == GLP_ENOPFS || glp_get_status(g) == GLP_NOFEAS) return 1;
    if (rc != 0) return -1;
    glp_iocp ip;
    glp_init_iocp(&ip);
    ip.msg_lev = GLP_MSG_OFF;
    ip.presolve = GLP_OFF;
    ip.mip_gap = 0;
    if (seconds > 0) ip.tm_lim = (int)(seconds * 1000);
    rc = glp_intopt(g, &ip);
    int st = glp_mip_status(g);
    if (st == GLP_NOFEAS) return 1;
    if (seconds > 0 && rc == GLP_ETMLIM) {
        if (st != GLP_FEAS) return 2;
        rc = 0, st = GLP_OPT; /* a panel, not proven best: enough for a face */
    }
    if (rc != 0 || st != GLP_OPT) return -1;
    *value = 0;
    for (size_t t = 0; t < o->T; t++) {
        x[t] = (int)lround(glp_mip_col_val(g, (int)t + 1));
        *value += w[t] * x[t];
    }
    return 0;
}

/* Solves the CBC model c (a clone, deleted here). seconds > 0: a time limit, after which
 * the best panel found so far is taken (2 when there is none). */
static int cbc_solve(Cbc_Model *c, srt_oracle *o, const double *w, double seconds, int *x, double *value) {
    Cbc_setLogLevel(c, 0);
    if (seconds > 0) Cbc_setMaximumSeconds(c, seconds);
    Cbc_setAllowableGap(c, 1e-10);
    Cbc_setAllowableFractionGap(c, 1e-10);
    /* No cut generation: these MIPs are small (a knapsack row and the quota rows over
     * T integer columns) and cuts cost more than they save. Measured (release build,
     * one run each): the 1,120-type pool 15.3 s -> 12.5 s, syn_n239_k30_hh 2.6 s ->
     * 0.8 s, a 358-type generated pool 19.7 s -> 3.4 s; the answers are unchanged
     * (the gap stays 1e-10). */
    Cbc_setParameter(c, "cuts", "off");
    /* CLP, inside CBC's root LP, installs a SIGINT handler of its own for the length
     * of that LP: a Ctrl-C that lands there is taken by CLP and never reaches the
     * engine's stop flag (about 1 in 60 signals on a busy oracle; seen as a run that
     * ignored Ctrl-C). SIGINT is held back for the solve, so it reaches the caller's
     * handler as soon as the solve ends; the disposition is saved and put back too, in
     * case a CBC build leaves its own handler installed. */
    struct sigaction saved;
    sigset_t intr, oldmask;
    sigemptyset(&intr);
    sigaddset(&intr, SIGINT);
    pthread_sigmask(SIG_BLOCK, &intr, &oldmask);
    sigaction(SIGINT, NULL, &saved);
    Cbc_solve(c);
    sigaction(SIGINT, &saved, NULL);
    pthread_sigmask(SIG_SETMASK, &oldmask, NULL);
    int ret = 0;
    const double *sol = NULL;
    if (Cbc_isProvenInfeasible(c)) ret = 1;
    else if (Cbc_isProvenOptimal(c)) sol = Cbc_getColSolution(c);
    else if (seconds > 0 && Cbc_isSecondsLimitReached(c)) {
        sol = Cbc_bestSolution(c);
        if (!sol) ret = 2;
    } else
        ret = -1;
    if (sol) {
        *value = 0;
        for (size_t t = 0; t < o->T; t++) {
            x[t] = (int)lround(sol[t]);
            *value += w[t] * x[t];
        }
    }
    Cbc_deleteModel(c);
    return ret;
}

void srt_oracle_free(srt_oracle *o) {
    if (!o) return;
    if (o->glp) glp_delete_prob(o->glp);
    if (o->cbc) Cbc_deleteModel(o->cbc);
    free(o->sol);
    free_rows(&o->rows);
    free(o);
}

size_t srt_oracle_rows(const srt_oracle *o, const double **lo, const double **hi) {
    *lo = o->rows.lo;
    *hi = o->rows.hi;
    return o->rows.nrows;
}

void srt_oracle_activity(const srt_oracle *o, const double *v, double *out) {
    for (size_t r = 0; r < o->rows.nrows; r++) {
        double sum = 0;
        for (int q = o->rows.start[r]; q < o->rows.start[r + 1]; q++) sum += o->rows.val[q] * v[o->rows.col[q]];
        out[r] = sum;
    }
}

/* ---- master LP ------------------------------------------------------------------ */

struct srt_master {
    sortition_solver solver;
    size_t T;
    const int *size;
    size_t ncols;     /* panels */
    int nfixed;
    unsigned char *fixed;
    glp_prob *glp;
    Clp_Simplex *clp;
    int *ind;
    double *val;
};

/* Rows: 0 = convexity (sum p = 1), 1 + t = type t. Column 0 = z, then panels. */
srt_master *srt_master_new(size_t T, const int *size, sortition_solver s) {
    srt_master *m = xcalloc(1, sizeof *m);
    m->solver = s;
    m->T = T;
    m->size = size;
    m->fixed = xcalloc(T + 1, 1);
    m->ind = xcalloc(T + 2, sizeof(int));
    m->val = xcalloc(T + 2, sizeof(double));
    if (s == SORTITION_SOLVER_GLPK) {
        glp_prob *g = glp_create_prob();
        glp_set_obj_dir(g, GLP_MAX);
        glp_add_rows(g, (int)T + 1);
        glp_set_row_bnds(g, 1, GLP_FX, 1, 1);
        for (size_t t = 0; t < T; t++) glp_set_row_bnds(g, (int)t + 2, GLP_LO, 0, 0);
        glp_add_cols(g, 1);
        glp_set_col_bnds(g, 1, GLP_FR, 0, 0);
        glp_set_obj_coef(g, 1, 1);
        for (size_t t = 0; t < T; t++) m->ind[t + 1] = (int)t + 2, m->val[t + 1] = -1;
        glp_set_mat_col(g, 1, (int)T, m->ind, m->val);
        m->glp = g;
    } else {
        Clp_Simplex *c = Clp_newModel();
        Clp_setLogLevel(c, 0);
        int *start = xcalloc(2, sizeof(int));
        int *rows = xcalloc(T + 1, sizeof(int));
        double *vals = xcalloc(T + 1, sizeof(double));
        for (size_t t = 0; t < T; t++) rows[t] = (int)t + 1, vals[t] = -1;
        start[1] = (int)T;
        double clo = -1e30, chi = 1e30, obj = 1;
        double *rlo = xcalloc(T + 1, sizeof(double)), *rhi = xcalloc(T + 1, sizeof(double));
        rlo[0] = rhi[0] = 1;
        for (size_t t = 0; t < T; t++) rhi[t + 1] = 1e30;
        Clp_loadProblem(c, 1, (int)T + 1, start, rows, vals, &clo, &chi, &obj, rlo, rhi);
        Clp_setObjSense(c, -1);
        Clp_setPrimalTolerance(c, 1e-9);
        Clp_setDualTolerance(c, 1e-9);
        free(start);
        free(rows);
        free(vals);
        free(rlo);
        free(rhi);
        m->clp = c;
    }
    return m;
}

void srt_master_add(srt_master *m, const int *x) {
    int len = 0;
    m->ind[len + 1] = 1; /* convexity row */
    m->val[len + 1] = 1;
    len++;
    for (size_t t = 0; t < m->T; t++) {
        if (!x[t]) continue;
        m->ind[len + 1] = (int)t + 2;
        m->val[len + 1] = (double)x[t] / m->size[t];
        len++;
    }
    if (m->solver == SORTITION_SOLVER_GLPK) {
        int j = glp_add_cols(m->glp, 1);
        glp_set_col_bnds(m->glp, j, GLP_LO, 0, 0);
        glp_set_mat_col(m->glp, j, len, m->ind, m->val);
    } else {
        int start[2] = {0, len};
        int *rows = xcalloc((size_t)len, sizeof(int));
        for (int q = 0; q < len; q++) rows[q] = m->ind[q + 1] - 1;
        double lo = 0, hi = 1e30, obj = 0;
        Clp_addColumns(m->clp, 1, &lo, &hi, &obj, start, rows, m->val + 1);
        free(rows);
    }
    m->ncols++;
}

void srt_master_fix(srt_master *m, size_t t, double pi) {
    if (m->fixed[t]) return;
    m->fixed[t] = 1;
    m->nfixed++;
    int all = (size_t)m->nfixed == m->T;
    if (m->solver == SORTITION_SOLVER_GLPK) {
        glp_set_row_bnds(m->glp, (int)t + 2, GLP_LO, pi, 0);
        int len = 0;
        for (size_t u = 0; u < m->T; u++)
            if (!m->fixed[u]) m->ind[++len] = (int)u + 2, m->val[len] = -1;
        glp_set_mat_col(m->glp, 1, len, m->ind, m->val);
        /* With everyone fixed z has no row: pin it so the LP stays bounded. */
        if (all) glp_set_col_bnds(m->glp, 1, GLP_FX, 0, 0);
    } else {
        Clp_modifyCoefficient(m->clp, (int)t + 1, 0, 0.0, 0);
        int nr = Clp_numberRows(m->clp), nc = Clp_numberColumns(m->clp);
        double *lo = xcalloc((size_t)nr, sizeof(double));
        memcpy(lo, Clp_getRowLower(m->clp), (size_t)nr * sizeof(double));
        lo[t + 1] = pi;
        Clp_chgRowLower(m->clp, lo);
        free(lo);
        if (all) {
            double *cl = xcalloc((size_t)nc, sizeof(double)), *cu = xcalloc((size_t)nc, sizeof(double));
            memcpy(cl, Clp_getColLower(m->clp), (size_t)nc * sizeof(double));
            memcpy(cu, Clp_getColUpper(m->clp), (size_t)nc * sizeof(double));
            cl[0] = cu[0] = 0;
            Clp_chgColumnLower(m->clp, cl);
            Clp_chgColumnUpper(m->clp, cu);
            free(cl);
            free(cu);
        }
    }
}

void srt_master_target(srt_master *m, const double *pi) {
    /* The z column holds -c_t in the row of every unfixed type t (c_t = 1, or pi_t). */
    if (m->solver == SORTITION_SOLVER_GLPK) {
        int len = 0;
        for (size_t u = 0; u < m->T; u++)
            if (!m->fixed[u]) m->ind[++len] = (int)u + 2, m->val[len] = pi ? -pi[u] : -1;
        glp_set_mat_col(m->glp, 1, len, m->ind, m->val);
    } else {
        for (size_t u = 0; u < m->T; u++)
            if (!m->fixed[u]) Clp_modifyCoefficient(m->clp, (int)u + 1, 0, pi ? -pi[u] : -1.0, 0);
    }
}

int srt_master_solve(srt_master *m, double *z, double *yhat, double *y, double *p) {
    if (m->solver == SORTITION_SOLVER_GLPK) {
        glp_prob *g = m->glp;
        glp_smcp sp;
        glp_init_smcp(&sp);
        sp.msg_lev = GLP_MSG_OFF;
        sp.it_lim = 200000; /* GLPK can cycle on this degenerate LP: bounded, then retried */
        int rc = glp_simplex(g, &sp);
        if (rc != 0 || glp_get_status(g) != GLP_OPT) {
            glp_std_basis(g);
            sp.meth = GLP_DUALP;
            rc = glp_simplex(g, &sp);
        }
        if (rc != 0 || glp_get_status(g) != GLP_OPT) return -1;
        *z = glp_get_col_prim(g, 1);
        *yhat = glp_get_row_dual(g, 1);
        for (size_t t = 0; t < m->T; t++) {
            double d = -glp_get_row_dual(g, (int)t + 2);
            y[t] = d > 0 ? d : 0;
        }
        if (p)
            for (size_t j = 0; j < m->ncols; j++) p[j] = glp_get_col_prim(g, (int)j + 2);
        return 0;
    }
    Clp_Simplex *c = m->clp;
    int rc = Clp_primal(c, 0);
    if (rc != 0 || Clp_status(c) != 0) {
        rc = Clp_dual(c, 0);
        if (rc != 0 || Clp_status(c) != 0) return -1;
    }
    const double *col = Clp_getColSolution(c);
    const double *dual = Clp_getRowPrice(c);
    *z = col[0];
    /* CLP reports duals of the maximisation with the same sign convention as GLPK
     * once the objective sense is -1; the sum-to-one check in leximin.c guards it. */
    *yhat = dual[0];
    for (size_t t = 0; t < m->T; t++) {
        double d = -dual[t + 1];
        y[t] = d > 0 ? d : 0;
    }
    if (p)
        for (size_t j = 0; j < m->ncols; j++) p[j] = col[j + 1];
    return 0;
}

size_t srt_master_ncols(const srt_master *m) { return m->ncols; }

void srt_master_delete(srt_master *m, const unsigned char *drop) {
    int *list = xcalloc(m->ncols + 1, sizeof(int));
    int n = 0;
    for (size_t j = 0; j < m->ncols; j++) {
        if (!drop[j]) continue;
        /* GLPK numbers columns from 1 and z is column 1; CLP from 0 with z at 0. */
        list[m->solver == SORTITION_SOLVER_GLPK ? n + 1 : n] = (int)j + (m->solver == SORTITION_SOLVER_GLPK ? 2 : 1);
        n++;
    }
    if (n) {
        if (m->solver == SORTITION_SOLVER_GLPK) glp_del_cols(m->glp, n, list);
        else Clp_deleteColumns(m->clp, n, list);
        m->ncols -= (size_t)n;
    }
    free(list);
}

void srt_master_free(srt_master *m) {
    if (!m) return;
    if (m->glp) glp_delete_prob(m->glp);
    if (m->clp) Clp_deleteModel(m->clp);
    free(m->fixed);
    free(m->ind);
    free(m->val);
    free(m);
}

/* ---- LEXIMIN over the LP relaxation ------------------------------------------------ */

/* The relaxation replaces the panels' convex hull by the polytope of expected counts
 * m_t in [0, size_t] that meet the quota, panel-size and household rows. Stage by stage,
 * max z s.t. m_t >= size_t z for every unfixed type; the types with a positive dual
 * (complementary slackness: at z in every optimum) are fixed, with m_t >= size_t z as
 * a column bound, and the next stage raises the rest. GLPK on a compact LP of T + 1
 * columns: milliseconds per stage. */
int srt_relax_leximin(const sortition_instance *inst, const srt_types *ty, const int *uncoverable, double *pi,
                      long *lp_solves) {
    size_t T = ty->T;
    rowmat m;
    build_rows(inst, ty, &m);
    glp_prob *g = glp_create_prob();
    glp_set_obj_dir(g, GLP_MAX);
    glp_add_cols(g, (int)T + 1);
    for (size_t t = 0; t < T; t++) {
        if (uncoverable[t]) glp_set_col_bnds(g, (int)t + 1, GLP_FX, 0, 0);
        else glp_set_col_bnds(g, (int)t + 1, GLP_DB, 0, ty->size[t]);
    }
    int zc = (int)T + 1;
    glp_set_col_bnds(g, zc, GLP_FR, 0, 0);
    glp_set_obj_coef(g, zc, 1);
    glp_add_rows(g, (int)(m.nrows + T));
    int *ind = xcalloc(T + 2, sizeof(int));
    double *val = xcalloc(T + 2, sizeof(double));
    for (size_t r = 0; r < m.nrows; r++) {
        int len = m.start[r + 1] - m.start[r];
        for (int j = 0; j < len; j++) ind[j + 1] = m.col[m.start[r] + j] + 1, val[j + 1] = m.val[m.start[r] + j];
        glp_set_mat_row(g, (int)r + 1, len, ind, val);
        glp_set_row_bnds(g, (int)r + 1, m.lo[r] == m.hi[r] ? GLP_FX : GLP_DB, m.lo[r], m.hi[r]);
    }
    unsigned char *fixed = xcalloc(T, 1);
    size_t nfixed = 0;
    for (size_t t = 0; t < T; t++) {
        int row = (int)(m.nrows + t) + 1;
        ind[1] = (int)t + 1, val[1] = 1;
        ind[2] = zc, val[2] = -ty->size[t];
        glp_set_mat_row(g, row, 2, ind, val);
        if (uncoverable[t]) {
            glp_set_row_bnds(g, row, GLP_FR, 0, 0);
            fixed[t] = 1, pi[t] = 0, nfixed++;
        } else {
            glp_set_row_bnds(g, row, GLP_LO, 0, 0);
        }
    }
    glp_smcp sp;
    glp_init_smcp(&sp);
    sp.msg_lev = GLP_MSG_OFF;
    sp.tol_bnd = 1e-9;
    sp.tol_dj = 1e-9;
    int ret = 0;
    while (nfixed < T) {
        if (lp_solves) (*lp_solves)++;
        if (glp_simplex(g, &sp) != 0 || glp_get_status(g) != GLP_OPT) {
            ret = -1;
            break;
        }
        double z = glp_get_col_prim(g, zc), ymax = 0;
        size_t tmax = T;
        for (size_t t = 0; t < T; t++) {
            if (fixed[t]) continue;
            double y = -glp_get_row_dual(g, (int)(m.nrows + t) + 1);
            if (tmax == T || y > ymax) ymax = y, tmax = t;
        }
        if (z > 1) z = 1;
        for (size_t t = 0; t < T; t++) {
            if (fixed[t]) continue;
            int row = (int)(m.nrows + t) + 1;
            double y = -glp_get_row_dual(g, row);
            double mt = glp_get_col_prim(g, (int)t + 1) / ty->size[t];
            if (t == tmax || srt_fix_at_z(y, ymax, mt, z)) {
                fixed[t] = 1, pi[t] = z, nfixed++;
                glp_set_row_bnds(g, row, GLP_FR, 0, 0);
                glp_set_col_bnds(g, (int)t + 1, z * ty->size[t] < ty->size[t] ? GLP_DB : GLP_FX, z * ty->size[t],
                                 ty->size[t]);
            }
        }
    }
    free(fixed);
    free(ind);
    free(val);
    free_rows(&m);
    glp_delete_prob(g);
    return ret;
}
