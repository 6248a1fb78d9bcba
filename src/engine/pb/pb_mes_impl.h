/*
 * pb_mes_impl: the Method of Equal Shares core, written once and compiled twice by
 * pb_mes.c — with GMP rationals (exact) and with doubles (fast). Not a public header:
 * pb_mes.c defines N_T (a one-element array type, so both arithmetics pass numbers by
 * pointer), the N_* operations, TOL_CMP, STEPS_OF, WS_TAG and MES() before including it.
 *
 * Why it is fast:
 * - Voters with the same remaining budget share a "class"; a voter's budget is the
 *   class's number, so evaluating a project sums a handful of class budgets instead of
 *   one number per supporter, and exact mode does a handful of rational operations.
 *   Funding a project moves its supporters to new classes (or the class of empty
 *   purses); classes are never modified, only created.
 * - A project's price per unit of utility (rho) only grows as voters spend, so the
 *   price from an earlier round is a lower bound: a project whose bound is already
 *   worse than the best price found this round is not re-evaluated (lazy evaluation).
 * - For Add1, every number is also carried as an affine function of the endowment x
 *   (value and slope at the current endowment). Every comparison the run made becomes
 *   an affine inequality in x; the smallest x at which one of them could flip is the
 *   next endowment at which the outcome can change, so Add1 jumps straight there.
 *   A project's price computed with its current split into "pays all it has" and
 *   "pays the cap" is a lower bound on its true price for every x (each term of
 *   sum min(b_i, a*pts_i) is at most the term used), which is why losers need no
 *   condition on their own split, only the winner does.
 * - Add1 resumes each run from the first round whose conditions fail, and carries
 *   the last few runs' evaluations over as lower bounds: the purses can have moved
 *   from those runs' affine forms by at most a tracked amount dev (summed over all
 *   voters), which lowers a bound by at most dev / (its paying points). Most
 *   projects are then skipped instead of re-evaluated; the previous winner is
 *   evaluated first, and the best project's groups are set aside for its payment.
 */

#define WS_T struct WS_TAG

#ifndef PB_MES_FRAME
#define PB_MES_FRAME
/* Add1 tracking: what an earlier run did from round `from` on (its winners, each
 * winner's alpha value and slope, the regime conditions of the winner's groups that
 * can fail, its evaluations; values at that run's endowment, dx below the current
 * one), and dev, a bound on sum_i |b_i - a_i| over all voters between the current
 * purses b and that run's affine purses a at the current round. */
typedef struct pb_trk_frame {
    int valid, on;
    size_t from, nrounds, elen, pos;
    double dx, dev;
    uint32_t *ev_r, *ev_p, *win;
    double *ev_v, *ev_d, *rw_v, *rw_d, *rc_v, *rc_d;
    int64_t *ev_P;
    uint64_t *rc_n;
    size_t *rnd_rc;
} pb_trk_frame;
/* How many earlier runs are kept: a bound from k runs back lets k runs in a row skip
 * an evaluation. */
#define PB_NFR 4
#endif

#ifndef PB_MES_STATES
#define PB_MES_STATES
enum { ST_NONE = 0, ST_ACTIVE, ST_FUNDED, ST_DROPPED };
#endif
#define CHUNK_BITS 10
#define CHUNK (1u << CHUNK_BITS)
#define NOGROUP UINT32_MAX

struct WS_TAG {
    const pb_election *e;
    size_t n, m;
    uint32_t *cls;  /* voter -> class */
    N_T **cv, **cd; /* class budget value and slope, in chunks (never moved) */
    size_t ncls, nchunks;
    /* per class: last stamp (high 32 bits) and group index (low), in one word so the
     * group builder touches one cache line per supporter */
    uint64_t *cslot;
    size_t ccap;
    uint32_t stamp;
    /* groups of the project being evaluated: supporters with the same class (and
     * points) */
    size_t gcap, ngrp;
    uint32_t *g_cls, *g_pts, *g_ord, *g_new;
    uint64_t *g_cnt;
    uint8_t *g_poor;
    N_T *g_key;
    double *g_dkey, *g_db, *g_dd;
    uint32_t *sg;   /* supporter (position in by_voter) -> group */
    uint64_t *pkey; /* points ballots: (class, points, position) sort keys */
    /* per project */
    N_T *lb_v, *lb_d;
    uint8_t *state, *has_lb;
    uint32_t *list, *evald, *dclose;
    double *lb_approx;
    double *ex_cmax;
    int64_t *ex_dmin;
    const uint32_t *rank;
    /* results of evaluate() */
    N_T sum_v, sum_d, al_v, al_d;
    N_T w_v, w_d; /* best / winner's alpha */
    N_T delta;
    N_T t1, t2, t3, t4, t5;
    double e0;
    int slopes;
    int64_t last_eval; /* project whose groups are in g_* (-1: none) */
    /* The groups of this round's best so far, set aside (pointer swap) so that paying
     * it needs no second evaluation. */
    uint32_t *s_cls, *s_pts, *s_sg;
    uint64_t *s_cnt;
    uint8_t *s_poor;
    size_t s_ngrp;
    int64_t s_for;
    /* When tracing: per project at its last evaluation, whether every supporter could
     * certainly pay an equal share (then rho = 1/points exactly, no rounding can
     * matter) and the points; whether the money was within 1e-9 of the cost. */
    int tracing;
    uint8_t *allrich, *aff_close;
    int64_t *prich;
    /* Resuming (Add1): per round, the classes, undo-log and trace positions at its
     * start and the nearest breakpoint of its own conditions (relative to base); per
     * project, the round of its lower bound and of its funding or dropping. */
    size_t cur_round, nrounds;
    size_t *rnd_ncls, *rnd_log, *rnd_trace;
    N_T *rd;
    uint8_t *rhas;
    uint32_t *lb_round, *st_round, *own_win;
    uint32_t *log_v, *log_c;
    size_t loglen;
    int can_resume;
    int64_t base;
    /* Tracking (Add1, doubles only): the current run's log of evaluations (round,
     * project, alpha value and slope, paying points), each round's winner alpha and
     * the regime conditions of its groups that can fail (value, slope, voters); and
     * the same for the previous run's rounds from the resume point on, with the bound
     * dev on how far the true purses have moved from the previous run's affine
     * forms (sum over all voters). */
    uint8_t *lb_robust, *rrob;
    int allow_robust;
    size_t elen, rclen, rccap;
    uint32_t *ev_r, *ev_p;
    double *ev_v, *ev_d;
    int64_t *ev_P;
    size_t *rnd_ev, *rnd_rc;
    double *rw_v, *rw_d, *rc_v, *rc_d;
    uint64_t *rc_n;
    /* fr[0]: the run just before; fr[1]: the one before it, and so on (older runs'
     * bounds cover the projects a newer run skipped on bounds it could not log) */
    pb_trk_frame fr[PB_NFR];
    int trk;
    int64_t last_P;
};

#define CV(ws, c) ((ws)->cv[(c) >> CHUNK_BITS][(c) & (CHUNK - 1)])
#define CD(ws, c) ((ws)->cd[(c) >> CHUNK_BITS][(c) & (CHUNK - 1)])

static uint32_t MES(new_class)(WS_T *ws) {
    if (ws->ncls == ws->nchunks * CHUNK) {
        ws->cv = xreallocarray(ws->cv, ws->nchunks + 1, sizeof *ws->cv);
        ws->cd = xreallocarray(ws->cd, ws->nchunks + 1, sizeof *ws->cd);
        ws->cv[ws->nchunks] = xmalloc(CHUNK * sizeof(N_T));
        ws->cd[ws->nchunks] = xmalloc(CHUNK * sizeof(N_T));
        for (size_t i = 0; i < CHUNK; i++) {
            N_INIT(ws->cv[ws->nchunks][i]);
            N_INIT(ws->cd[ws->nchunks][i]);
        }
        ws->nchunks++;
    }
    if (ws->ncls >= ws->ccap) {
        size_t nc = ws->ccap ? ws->ccap * 2 : 1024;
        ws->cslot = xreallocarray(ws->cslot, nc, sizeof *ws->cslot);
        memset(ws->cslot + ws->ccap, 0, (nc - ws->ccap) * sizeof *ws->cslot);
        ws->ccap = nc;
    }
    return (uint32_t)ws->ncls++;
}

WS_T *MES(pb_mes_ws_new)(const pb_election *e) {
    WS_T *ws = xcalloc(1, sizeof *ws);
    ws->e = e;
    ws->n = e->nvoters;
    ws->m = e->nprojects;
    ws->cls = xmalloc((ws->n ? ws->n : 1) * sizeof *ws->cls);
    size_t maxs = 1;
    for (size_t p = 0; p < ws->m; p++) {
        size_t s = e->by_start[p + 1] - e->by_start[p];
        if (s > maxs) maxs = s;
    }
    ws->gcap = maxs;
    ws->g_cls = xmalloc(maxs * sizeof *ws->g_cls);
    ws->g_pts = xmalloc(maxs * sizeof *ws->g_pts);
    ws->g_ord = xmalloc(maxs * sizeof *ws->g_ord);
    ws->g_new = xmalloc(maxs * sizeof *ws->g_new);
    ws->g_cnt = xmalloc(maxs * sizeof *ws->g_cnt);
    ws->g_poor = xmalloc(maxs * sizeof *ws->g_poor);
    ws->g_dkey = xmalloc(maxs * sizeof *ws->g_dkey);
    ws->g_db = xmalloc(maxs * sizeof *ws->g_db);
    ws->g_dd = xmalloc(maxs * sizeof *ws->g_dd);
    ws->g_key = xmalloc(maxs * sizeof(N_T));
    for (size_t i = 0; i < maxs; i++) N_INIT(ws->g_key[i]);
    ws->sg = xmalloc(maxs * sizeof *ws->sg);
    ws->s_cls = xmalloc(maxs * sizeof *ws->s_cls);
    ws->s_pts = xmalloc(maxs * sizeof *ws->s_pts);
    ws->s_sg = xmalloc(maxs * sizeof *ws->s_sg);
    ws->s_cnt = xmalloc(maxs * sizeof *ws->s_cnt);
    ws->s_poor = xmalloc(maxs * sizeof *ws->s_poor);
    ws->pkey = e->uses_points ? xmalloc(maxs * sizeof *ws->pkey) : NULL;
    size_t m1 = ws->m ? ws->m : 1;
    ws->lb_v = xmalloc(m1 * sizeof(N_T));
    ws->lb_d = xmalloc(m1 * sizeof(N_T));
    for (size_t p = 0; p < m1; p++) {
        N_INIT(ws->lb_v[p]);
        N_INIT(ws->lb_d[p]);
    }
    ws->state = xcalloc(m1, 1);
    ws->has_lb = xcalloc(m1, 1);
    ws->list = xmalloc(m1 * sizeof *ws->list);
    ws->evald = xmalloc(m1 * sizeof *ws->evald);
    ws->dclose = xmalloc(m1 * sizeof *ws->dclose);
    ws->allrich = xcalloc(m1, 1);
    ws->aff_close = xcalloc(m1, 1);
    ws->prich = xcalloc(m1, sizeof *ws->prich);
    ws->rnd_ncls = xmalloc((m1 + 1) * sizeof *ws->rnd_ncls);
    ws->rnd_log = xmalloc((m1 + 1) * sizeof *ws->rnd_log);
    ws->rnd_trace = xmalloc((m1 + 1) * sizeof *ws->rnd_trace);
    ws->rhas = xcalloc(m1 + 1, 1);
    ws->rd = xmalloc((m1 + 1) * sizeof(N_T));
    for (size_t r = 0; r <= m1; r++) N_INIT(ws->rd[r]);
    ws->lb_round = xcalloc(m1, sizeof *ws->lb_round);
    ws->st_round = xcalloc(m1, sizeof *ws->st_round);
    ws->own_win = xcalloc(m1 + 1, sizeof *ws->own_win);
    ws->rrob = xcalloc(m1 + 1, 1);
    size_t tot = e->nvoters ? e->ballot_start[e->nvoters] : 0;
    ws->log_v = xmalloc((tot + 1) * sizeof *ws->log_v);
    ws->log_c = xmalloc((tot + 1) * sizeof *ws->log_c);
    ws->lb_approx = xmalloc(m1 * sizeof *ws->lb_approx);
    ws->ex_cmax = xmalloc(m1 * sizeof *ws->ex_cmax);
    ws->ex_dmin = xmalloc(m1 * sizeof *ws->ex_dmin);
    N_INIT(ws->sum_v);
    N_INIT(ws->sum_d);
    N_INIT(ws->al_v);
    N_INIT(ws->al_d);
    N_INIT(ws->w_v);
    N_INIT(ws->w_d);
    N_INIT(ws->delta);
    N_INIT(ws->t1);
    N_INIT(ws->t2);
    N_INIT(ws->t3);
    N_INIT(ws->t4);
    N_INIT(ws->t5);
    return ws;
}

void MES(pb_mes_ws_free)(WS_T *ws) {
    if (!ws) return;
    for (size_t c = 0; c < ws->nchunks; c++) {
        for (size_t i = 0; i < CHUNK; i++) {
            N_CLEAR(ws->cv[c][i]);
            N_CLEAR(ws->cd[c][i]);
        }
        free(ws->cv[c]);
        free(ws->cd[c]);
    }
    free(ws->cv);
    free(ws->cd);
    for (size_t i = 0; i < ws->gcap; i++) N_CLEAR(ws->g_key[i]);
    size_t m1 = ws->m ? ws->m : 1;
    for (size_t p = 0; p < m1; p++) {
        N_CLEAR(ws->lb_v[p]);
        N_CLEAR(ws->lb_d[p]);
    }
    N_CLEAR(ws->sum_v);
    N_CLEAR(ws->sum_d);
    N_CLEAR(ws->al_v);
    N_CLEAR(ws->al_d);
    N_CLEAR(ws->w_v);
    N_CLEAR(ws->w_d);
    N_CLEAR(ws->delta);
    N_CLEAR(ws->t1);
    N_CLEAR(ws->t2);
    N_CLEAR(ws->t3);
    N_CLEAR(ws->t4);
    N_CLEAR(ws->t5);
    free(ws->cls);
    free(ws->cslot);
    free(ws->g_cls);
    free(ws->g_pts);
    free(ws->g_ord);
    free(ws->g_new);
    free(ws->g_cnt);
    free(ws->g_poor);
    free(ws->g_dkey);
    free(ws->g_db);
    free(ws->g_dd);
    free(ws->g_key);
    free(ws->sg);
    free(ws->s_cls);
    free(ws->s_pts);
    free(ws->s_sg);
    free(ws->s_cnt);
    free(ws->s_poor);
    free(ws->pkey);
    free(ws->lb_v);
    free(ws->lb_d);
    free(ws->state);
    free(ws->has_lb);
    free(ws->list);
    free(ws->evald);
    free(ws->dclose);
    free(ws->allrich);
    free(ws->aff_close);
    free(ws->prich);
    for (size_t r = 0; r <= m1; r++) N_CLEAR(ws->rd[r]);
    free(ws->rd);
    free(ws->rhas);
    free(ws->rnd_ncls);
    free(ws->rnd_log);
    free(ws->rnd_trace);
    free(ws->lb_round);
    free(ws->st_round);
    free(ws->own_win);
    free(ws->rrob);
    free(ws->log_v);
    free(ws->log_c);
    free(ws->lb_approx);
    free(ws->ex_cmax);
    free(ws->ex_dmin);
    free(ws->lb_robust);
    free(ws->ev_r);
    free(ws->ev_p);
    free(ws->ev_v);
    free(ws->ev_d);
    free(ws->ev_P);
    free(ws->rnd_ev);
    free(ws->rnd_rc);
    free(ws->rw_v);
    free(ws->rw_d);
    free(ws->rc_v);
    free(ws->rc_d);
    free(ws->rc_n);
    for (int k = 0; k < PB_NFR; k++) {
        pb_trk_frame *f = &ws->fr[k];
        free(f->ev_r);
        free(f->ev_p);
        free(f->win);
        free(f->ev_v);
        free(f->ev_d);
        free(f->rw_v);
        free(f->rw_d);
        free(f->rc_v);
        free(f->rc_d);
        free(f->ev_P);
        free(f->rc_n);
        free(f->rnd_rc);
    }
    free(ws);
}

/* Tracking buffers, on the first Add1 run: at most one evaluation per project per
 * round, and at most one regime condition per supporter of a funded project. */
static void MES(track_alloc)(WS_T *ws) {
    if (ws->ev_r) return;
    size_t m1 = ws->m ? ws->m : 1, ecap = (m1 + 1) * m1;
    size_t tot = ws->e->nvoters ? ws->e->ballot_start[ws->e->nvoters] : 0;
    ws->rccap = tot + 1;
    ws->lb_robust = xcalloc(m1, 1);
    ws->ev_r = xmalloc(ecap * sizeof *ws->ev_r);
    ws->ev_p = xmalloc(ecap * sizeof *ws->ev_p);
    ws->ev_v = xmalloc(ecap * sizeof *ws->ev_v);
    ws->ev_d = xmalloc(ecap * sizeof *ws->ev_d);
    ws->ev_P = xmalloc(ecap * sizeof *ws->ev_P);
    for (int k = 0; k < PB_NFR; k++) {
        pb_trk_frame *f = &ws->fr[k];
        f->ev_r = xmalloc(ecap * sizeof *f->ev_r);
        f->ev_p = xmalloc(ecap * sizeof *f->ev_p);
        f->ev_v = xmalloc(ecap * sizeof *f->ev_v);
        f->ev_d = xmalloc(ecap * sizeof *f->ev_d);
        f->ev_P = xmalloc(ecap * sizeof *f->ev_P);
        f->rnd_rc = xmalloc((m1 + 1) * sizeof *f->rnd_rc);
        f->rw_v = xmalloc((m1 + 1) * sizeof *f->rw_v);
        f->rw_d = xmalloc((m1 + 1) * sizeof *f->rw_d);
        f->win = xmalloc((m1 + 1) * sizeof *f->win);
        f->rc_v = xmalloc(ws->rccap * sizeof *f->rc_v);
        f->rc_d = xmalloc(ws->rccap * sizeof *f->rc_d);
        f->rc_n = xmalloc(ws->rccap * sizeof *f->rc_n);
    }
    ws->rnd_ev = xmalloc((m1 + 1) * sizeof *ws->rnd_ev);
    ws->rnd_rc = xmalloc((m1 + 1) * sizeof *ws->rnd_rc);
    ws->rw_v = xmalloc((m1 + 1) * sizeof *ws->rw_v);
    ws->rw_d = xmalloc((m1 + 1) * sizeof *ws->rw_d);
    ws->rc_v = xmalloc(ws->rccap * sizeof *ws->rc_v);
    ws->rc_d = xmalloc(ws->rccap * sizeof *ws->rc_d);
    ws->rc_n = xmalloc(ws->rccap * sizeof *ws->rc_n);
}

static int MES(cmp_u64)(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Groups project p's supporters by class (and points); fills sg, g_*. Supporters with
 * an empty purse (class 0) are left out: they can pay nothing. */
static void MES(build_groups)(WS_T *ws, uint32_t p) {
    const pb_election *e = ws->e;
    uint32_t k0 = e->by_start[p], k1 = e->by_start[p + 1];
    ws->ngrp = 0;
    if (!e->uses_points) {
        if (++ws->stamp == 0) {
            memset(ws->cslot, 0, ws->ccap * sizeof *ws->cslot);
            ws->stamp = 1;
        }
        uint64_t st = (uint64_t)ws->stamp << 32;
        const uint32_t *byv = e->by_voter;
        const uint32_t *cls = ws->cls;
        uint64_t *slot = ws->cslot;
        size_t ng = 0;
        for (uint32_t k = k0; k < k1; k++) {
            uint32_t c = cls[byv[k]];
            if (c == 0) {
                ws->sg[k - k0] = NOGROUP;
                continue;
            }
            uint64_t sl = slot[c];
            uint32_t g;
            if ((sl & ~UINT64_C(0xffffffff)) != st) {
                g = (uint32_t)ng++;
                slot[c] = st | g;
                ws->g_cls[g] = c;
                ws->g_pts[g] = 1;
                ws->g_cnt[g] = 0;
            } else {
                g = (uint32_t)sl;
            }
            ws->g_cnt[g]++;
            ws->sg[k - k0] = g;
        }
        ws->ngrp = ng;
        return;
    }
    /* Points ballots: sort (class, points, position) and cut runs. Classes and points
     * fit 24 bits each here or the key falls back to a slower exact comparison. */
    size_t np = 0;
    for (uint32_t k = k0; k < k1; k++) {
        uint32_t c = ws->cls[e->by_voter[k]];
        if (c == 0) {
            ws->sg[k - k0] = NOGROUP;
            continue;
        }
        uint64_t pts = e->by_points[k];
        assert(c < (1u << 22) && pts < (1u << 20) && k - k0 < (1u << 22));
        ws->pkey[np++] = ((uint64_t)c << 42) | (pts << 22) | (uint64_t)(k - k0);
    }
    qsort(ws->pkey, np, sizeof *ws->pkey, MES(cmp_u64));
    uint64_t prev = UINT64_MAX;
    for (size_t i = 0; i < np; i++) {
        uint64_t key = ws->pkey[i] >> 22;
        if (key != prev) {
            prev = key;
            ws->g_cls[ws->ngrp] = (uint32_t)(key >> 20);
            ws->g_pts[ws->ngrp] = (uint32_t)(key & ((1u << 20) - 1));
            ws->g_cnt[ws->ngrp] = 0;
            ws->ngrp++;
        }
        ws->g_cnt[ws->ngrp - 1]++;
        ws->sg[ws->pkey[i] & ((1u << 22) - 1)] = (uint32_t)(ws->ngrp - 1);
    }
}

/* Records the condition f(x) = fv + fd * (x - e) >= 0 that the current outcome relies
 * on: if it decreases, the outcome may change where it reaches 0. */
static void MES(cond)(WS_T *ws, N_T fv, N_T fd) {
    if (N_SGN(fd) >= 0) return;
    N_NEG(ws->t5, fd);
    N_DIV(ws->t4, fv, ws->t5);
    if (N_SGN(ws->t4) < 0) N_SET_SI(ws->t4, 0);
    size_t r = ws->cur_round;
    if (!ws->rhas[r] || N_CMP(ws->t4, ws->rd[r]) < 0) {
        N_SET(ws->rd[r], ws->t4);
        ws->rhas[r] = 1;
    }
}

/* Evaluates project p with the current purses: sum_v/sum_d = the supporters' money; if
 * they can afford p, al_v/al_d = the payment per point alpha (rho = alpha / cost) and
 * g_poor marks the groups that pay all they have. Returns 1 if affordable. */
static int MES(evaluate)(WS_T *ws, uint32_t p) {
    const pb_election *e = ws->e;
    int64_t cost = e->projects[p].cost;
    ws->last_eval = -1;
    MES(build_groups)(ws, p);
    int64_t P = 0;
    uint32_t lastpoor = NOGROUP;
#if N_IS_DOUBLE
    {
        /* Doubles: the same operations in the same order, on contiguous copies of
         * the groups' purses (no chunked class lookups in the passes). */
        const size_t ng = ws->ngrp;
        const uint32_t *gp = ws->g_pts;
        const uint64_t *gn = ws->g_cnt;
        double *gv = ws->g_db, *gd = ws->g_dd, *key = ws->g_dkey;
        uint32_t *ord = ws->g_ord;
        uint8_t *poor = ws->g_poor;
        double sv = 0, sd = 0;
        for (size_t g = 0; g < ng; g++) {
            uint32_t c = ws->g_cls[g];
            double cn = (double)gn[g];
            gv[g] = N_GET_D(CV(ws, c));
            gd[g] = N_GET_D(CD(ws, c));
            sv = sv + gv[g] * cn;
            if (ws->slopes) sd = sd + gd[g] * cn;
            P += (int64_t)gn[g] * gp[g];
        }
        N_SET_D(ws->sum_v, sv);
        N_SET_D(ws->sum_d, sd);
        N_SET_SI(ws->t1, cost);
        if (ng == 0 || TOL_CMP(ws->sum_v, ws->t1) < 0) return 0;
        for (size_t g = 0; g < ng; g++) {
            ord[g] = (uint32_t)g;
            poor[g] = 0;
            if (gp[g] != 1) {
                key[g] = gv[g] / (double)gp[g];
                N_SET_D(ws->g_key[g], key[g]);
            } else {
                key[g] = gv[g];
            }
        }
        double R = (double)cost, Rd = 0;
        size_t nrich = ng;
        for (;;) {
            if (P <= 0) break;
            double share = R / (double)P;
            size_t j = 0;
            int changed = 0;
            for (size_t i = 0; i < nrich; i++) {
                uint32_t g = ord[i];
                if (!(key[g] < share)) {
                    ord[j++] = g;
                    continue;
                }
                poor[g] = 1;
                lastpoor = g;
                changed = 1;
                double cn = (double)gn[g];
                R = R - gv[g] * cn;
                if (ws->slopes) Rd = Rd - gd[g] * cn;
                P -= (int64_t)gn[g] * gp[g];
            }
            nrich = j;
            if (!changed) break;
        }
        N_SET_D(ws->t2, R);
        N_SET_D(ws->t3, Rd);
    }
#else
    N_SET_SI(ws->sum_v, 0);
    N_SET_SI(ws->sum_d, 0);
    for (size_t g = 0; g < ws->ngrp; g++) {
        uint32_t c = ws->g_cls[g];
        N_MUL_SI(ws->t1, CV(ws, c), (int64_t)ws->g_cnt[g]);
        N_ADD(ws->sum_v, ws->sum_v, ws->t1);
        if (ws->slopes) {
            N_MUL_SI(ws->t1, CD(ws, c), (int64_t)ws->g_cnt[g]);
            N_ADD(ws->sum_d, ws->sum_d, ws->t1);
        }
        P += (int64_t)ws->g_cnt[g] * ws->g_pts[g];
    }
    N_SET_SI(ws->t1, cost);
    if (ws->ngrp == 0 || TOL_CMP(ws->sum_v, ws->t1) < 0) return 0;
    /* Whoever cannot pay an equal share of what is still unpaid pays everything they
     * have. Water-filling without sorting: every group below the current share is
     * poor at the final cap too (the share only rises as poor groups leave), so mark
     * them in passes until none is added; the survivors pay the cap. */
    for (size_t g = 0; g < ws->ngrp; g++) {
        ws->g_ord[g] = (uint32_t)g;
        ws->g_poor[g] = 0;
        if (ws->g_pts[g] != 1) N_DIV_SI(ws->g_key[g], CV(ws, ws->g_cls[g]), ws->g_pts[g]);
    }
    N_SET_SI(ws->t2, cost); /* R: still unpaid */
    N_SET_SI(ws->t3, 0);    /* its slope */
    size_t nrich = ws->ngrp;
    for (;;) {
        if (P <= 0) break;
        N_DIV_SI(ws->t1, ws->t2, P); /* the equal share per point */
        size_t j = 0;
        int changed = 0;
        for (size_t i = 0; i < nrich; i++) {
            uint32_t g = ws->g_ord[i];
            uint32_t c = ws->g_cls[g];
            if (N_CMP(ws->g_pts[g] == 1 ? CV(ws, c) : ws->g_key[g], ws->t1) >= 0) {
                ws->g_ord[j++] = g;
                continue;
            }
            ws->g_poor[g] = 1;
            lastpoor = g;
            changed = 1;
            N_MUL_SI(ws->t4, CV(ws, c), (int64_t)ws->g_cnt[g]);
            N_SUB(ws->t2, ws->t2, ws->t4);
            if (ws->slopes) {
                N_MUL_SI(ws->t4, CD(ws, c), (int64_t)ws->g_cnt[g]);
                N_SUB(ws->t3, ws->t3, ws->t4);
            }
            P -= (int64_t)ws->g_cnt[g] * ws->g_pts[g];
        }
        nrich = j;
        if (!changed) break;
    }
#endif
    if (ws->tracing) {
        double share = (double)cost / (double)P, mink = INFINITY;
        int ok = lastpoor == NOGROUP && P > 0;
        for (size_t g = 0; ok && g < ws->ngrp; g++) {
            double k = N_GET_D(CV(ws, ws->g_cls[g])) / ws->g_pts[g];
            if (k < mink) mink = k;
        }
        ws->allrich[p] = ok && mink >= share * (1 + 1e-9);
        ws->prich[p] = P;
        ws->aff_close[p] = N_GET_D(ws->sum_v) < (double)cost * (1 + 1e-9);
    }
    ws->last_P = P;
    if (P > 0) {
        N_DIV_SI(ws->al_v, ws->t2, P);
        N_DIV_SI(ws->al_d, ws->t3, P);
    } else {
        /* Only reachable through rounding in fast mode: everyone pays all. */
        uint32_t g = lastpoor;
        ws->g_poor[g] = 0;
        if (ws->g_pts[g] == 1)
            N_SET(ws->al_v, CV(ws, ws->g_cls[g]));
        else
            N_SET(ws->al_v, ws->g_key[g]);
        N_DIV_SI(ws->al_d, CD(ws, ws->g_cls[g]), ws->g_pts[g]);
    }
    ws->last_eval = p;
    return 1;
}

/* rho_a vs rho_b with rho = alpha / cost: alpha_a * cost_b vs alpha_b * cost_a. */
static int MES(cmp_rho)(WS_T *ws, N_T aa, int64_t ca, N_T ab, int64_t cb) {
    return RHO_CMP(ws->t1, ws->t2, aa, ca, ab, cb);
}

/* Explanations for a project u that has not won, against this round's winner price
 * kappa (rho) with the current purses; in doubles. Keeps the largest cost at which u
 * would have won (ex_cmax) and the fewest extra supporters (ex_dmin). kappa < 0 means
 * the final state (nothing else affordable). */
static void MES(explain_round)(WS_T *ws, uint32_t u, double kappa) {
    const pb_election *e = ws->e;
    ws->last_eval = -1;
    const pb_project *pr = &e->projects[u];
    /* One entry per supporter with money (no grouping: doubles are cheap here). */
    double sum = 0;
    int64_t P = 0;
    ws->ngrp = 0;
    for (uint32_t k = e->by_start[u]; k < e->by_start[u + 1]; k++) {
        uint32_t c = ws->cls[e->by_voter[k]];
        if (c == 0) continue;
        size_t g = ws->ngrp++;
        ws->g_db[g] = N_GET_D(CV(ws, c));
        ws->g_pts[g] = e->by_points[k];
        ws->g_cnt[g] = 1;
        sum += ws->g_db[g];
        P += ws->g_pts[g];
    }
    double pbar = 1;
    if (e->uses_points && pr->supporters > 0)
        pbar = (double)((pr->score + pr->supporters - 1) / pr->supporters);
    double cost = (double)pr->cost, c, d;
    if (kappa < 0) {
        c = sum;
        double need = cost - sum;
        d = need <= 0 ? 0 : ceil(need / (ws->e0 * pbar) - 1e-9);
        int64_t ci = (int64_t)floor(c + 1e-7);
        if ((double)ci > ws->ex_cmax[u]) ws->ex_cmax[u] = (double)ci;
    } else {
        double inv = 1.0 / kappa;
        /* cost c wins iff alpha(c)/c < kappa; G(a) = sum min(b, a*pts) is concave, so
         * G(a)/a falls and there is one crossing G(a) = a/kappa. */
        /* Fixed point a = kappa * G(a), from above: with the groups below a paying all
         * they have and the rest a per point, the line's root is a new upper bound
         * (G lies below each such line); the split only shrinks, so this ends. */
        for (size_t g = 0; g < ws->ngrp; g++) ws->g_dkey[g] = ws->g_db[g] / ws->g_pts[g];
        double a = kappa * sum;
        for (int it = 0; it < 1000; it++) {
            double S = 0, Pr = 0;
            for (size_t g = 0; g < ws->ngrp; g++) {
                if (ws->g_dkey[g] < a)
                    S += ws->g_db[g] * (double)ws->g_cnt[g];
                else
                    Pr += (double)ws->g_cnt[g] * ws->g_pts[g];
            }
            if (kappa * Pr >= 1) break;
            double an = kappa * S / (1 - kappa * Pr);
            if (an >= a * (1 - 1e-15)) {
                if (an < a) a = an;
                break;
            }
            a = an;
        }
        c = a * inv;
        int64_t ci = (int64_t)ceil(c - 1e-7) - 1;
        if ((double)ci > ws->ex_cmax[u]) ws->ex_cmax[u] = (double)ci;
        double at = kappa * cost, G = 0;
        for (size_t g = 0; g < ws->ngrp; g++) {
            double pay = at * ws->g_pts[g];
            G += (double)ws->g_cnt[g] * (ws->g_db[g] < pay ? ws->g_db[g] : pay);
        }
        double need = cost - G, mm = at * pbar < ws->e0 ? at * pbar : ws->e0;
        d = need < 0 ? 0 : floor(need / mm) + 1;
    }
    if (d < 9e18 && (int64_t)d < ws->ex_dmin[u]) ws->ex_dmin[u] = (int64_t)d;
}

static int MES(cmp_lb)(const void *a, const void *b, void *ctx) {
    WS_T *ws = ctx;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if (ws->lb_approx[x] != ws->lb_approx[y]) return ws->lb_approx[x] < ws->lb_approx[y] ? -1 : 1;
    return ws->rank[x] < ws->rank[y] ? -1 : ws->rank[x] > ws->rank[y];
}

/* Charges project w's supporters with the groups and cap of the last evaluate(w). */
static void MES(pay)(WS_T *ws, uint32_t w) {
    const pb_election *e = ws->e;
    /* Pay: the poor give all they have; the rest pay alpha per point. */
    for (size_t g = 0; g < ws->ngrp; g++) {
        uint32_t c = ws->g_cls[g];
        int64_t pts = ws->g_pts[g];
        N_MUL_SI(ws->t1, ws->al_v, pts);
        N_SUB(ws->t1, CV(ws, c), ws->t1); /* b - alpha*pts: >= 0 for the rich */
        if (ws->slopes) {
            N_MUL_SI(ws->t2, ws->al_d, pts);
            N_SUB(ws->t2, CD(ws, c), ws->t2);
            if (ws->g_poor[g]) {
                N_NEG(ws->t1, ws->t1);
                N_NEG(ws->t2, ws->t2);
            }
            N_SET(ws->t3, ws->t1);
            MES(cond)(ws, ws->t3, ws->t2);
            if (MES_TRACK && ws->rc_v && N_SGN(ws->t2) < 0) {
                assert(ws->rclen < ws->rccap);
                ws->rc_v[ws->rclen] = N_GET_D(ws->t1);
                ws->rc_d[ws->rclen] = N_GET_D(ws->t2);
                ws->rc_n[ws->rclen] = ws->g_cnt[g];
                ws->rclen++;
            }
            if (ws->g_poor[g]) {
                N_NEG(ws->t1, ws->t1);
                N_NEG(ws->t2, ws->t2);
            }
        }
        /* An emptied purse joins class 0 unless, under Add1, it would refill as the
         * endowment grows (its slope is positive). */
        if (ws->g_poor[g] || (N_SGN(ws->t1) <= 0 && (!ws->slopes || N_SGN(ws->t2) <= 0))) {
            ws->g_new[g] = 0;
            continue;
        }
        uint32_t nc = MES(new_class)(ws);
        if (N_SGN(ws->t1) < 0) N_SET_SI(ws->t1, 0);
        N_SET(CV(ws, nc), ws->t1);
        if (ws->slopes)
            N_SET(CD(ws, nc), ws->t2);
        else
            N_SET_SI(CD(ws, nc), 0);
        ws->g_new[g] = nc;
    }
    uint32_t k0 = e->by_start[w], k1 = e->by_start[w + 1];
    for (uint32_t k = k0; k < k1; k++) {
        uint32_t g = ws->sg[k - k0];
        if (g == NOGROUP) continue;
        uint32_t v = e->by_voter[k];
        if (ws->slopes) { /* undo log for resuming */
            ws->log_v[ws->loglen] = v;
            ws->log_c[ws->loglen] = ws->cls[v];
            ws->loglen++;
        }
        ws->cls[v] = ws->g_new[g];
    }
}

static void MES(track_start)(WS_T *ws, size_t r);
static void MES(track_dev)(WS_T *ws, size_t r, uint32_t w, int64_t score);

/* Add1: moves a finished slopes run at endowment base to base + dx without redoing
 * the rounds whose conditions all hold beyond dx. Returns 0, or -1 when nothing can
 * be kept. */
static int MES(rewind)(WS_T *ws, const pb_mes_params *prm, pb_mes_out *out, int64_t dx) {
    const pb_election *e = ws->e;
    N_SET_SI(ws->t1, dx);
    size_t rs = 0;
    while (rs <= ws->nrounds && !ws->rrob[rs] && !(ws->rhas[rs] && N_CMP(ws->rd[rs], ws->t1) <= 0))
        rs++;
    if (rs == 0 || rs > ws->nrounds) return -1;
    ws->trk = 0;
    if (MES_TRACK && ws->rc_v) {
        /* A new frame for the run being rewound; older ones move down (the oldest
         * is dropped). Before a frame's start, its run's rounds are those of the
         * next newer frame's run. */
        pb_trk_frame tmp = ws->fr[PB_NFR - 1];
        memmove(ws->fr + 1, ws->fr, (PB_NFR - 1) * sizeof *ws->fr);
        ws->fr[0] = tmp;
        pb_trk_frame *f = &ws->fr[0];
        size_t r0 = rs;
        for (int k = 1; k < PB_NFR; k++) {
            pb_trk_frame *g = &ws->fr[k];
            g->on = g->valid;
            g->dx += (double)dx;
            g->pos = 0;
            g->dev = 0;
            if (g->on && g->from < r0) r0 = g->from;
        }
        /* Keep what the run being rewound did from round rs on. */
        f->valid = f->on = 1;
        f->from = rs;
        f->nrounds = ws->nrounds;
        f->dx = (double)dx;
        f->dev = 0;
        f->pos = 0;
        for (size_t r = rs; r < ws->nrounds; r++) {
            f->win[r] = ws->own_win[r];
            f->rw_v[r] = ws->rw_v[r];
            f->rw_d[r] = ws->rw_d[r];
        }
        size_t rc0 = ws->rnd_rc[rs];
        for (size_t r = rs; r <= ws->nrounds; r++) f->rnd_rc[r] = ws->rnd_rc[r] - rc0;
        for (size_t i = rc0; i < ws->rclen; i++) {
            f->rc_v[i - rc0] = ws->rc_v[i];
            f->rc_d[i - rc0] = ws->rc_d[i];
            f->rc_n[i - rc0] = ws->rc_n[i];
        }
        ws->rclen = rc0;
        size_t e0 = ws->rnd_ev[rs];
        f->elen = ws->elen - e0;
        for (size_t i = e0; i < ws->elen; i++) {
            f->ev_r[i - e0] = ws->ev_r[i];
            f->ev_p[i - e0] = ws->ev_p[i];
            f->ev_v[i - e0] = ws->ev_v[i];
            f->ev_d[i - e0] = ws->ev_d[i];
            f->ev_P[i - e0] = ws->ev_P[i];
        }
        ws->elen = e0;
        for (size_t i = 0; i < e0; i++) ws->ev_v[i] += ws->ev_d[i] * (double)dx;
        for (size_t r = 0; r < rs; r++) ws->rw_v[r] += ws->rw_d[r] * (double)dx;
        /* The rounds kept (before rs) are exact here: carry the older frames' drift
         * through those of them that their runs redid. */
        for (size_t r = r0; r < rs; r++) {
            MES(track_start)(ws, r);
            MES(track_dev)(ws, r, ws->own_win[r], e->projects[ws->own_win[r]].score);
        }
        ws->trk = 1;
        for (size_t p = 0; p < ws->m; p++)
            if (ws->lb_robust[p]) ws->has_lb[p] = ws->lb_robust[p] = 0;
    }
    while (ws->loglen > ws->rnd_log[rs]) {
        ws->loglen--;
        ws->cls[ws->log_v[ws->loglen]] = ws->log_c[ws->loglen];
    }
    ws->ncls = ws->rnd_ncls[rs];
    for (uint32_t c = 1; c < ws->ncls; c++) {
        N_MUL_SI(ws->t2, CD(ws, c), dx);
        N_ADD(CV(ws, c), CV(ws, c), ws->t2);
    }
    for (size_t p = 0; p < ws->m; p++) {
        if ((ws->state[p] == ST_FUNDED || ws->state[p] == ST_DROPPED) && ws->st_round[p] >= rs)
            ws->state[p] = ST_ACTIVE;
        if (ws->has_lb[p]) {
            if (ws->lb_round[p] >= rs) {
                ws->has_lb[p] = 0;
            } else {
                N_MUL_SI(ws->t2, ws->lb_d[p], dx);
                N_ADD(ws->lb_v[p], ws->lb_v[p], ws->t2);
            }
        }
    }
    for (size_t r = 0; r < rs; r++)
        if (ws->rhas[r]) N_SUB(ws->rd[r], ws->rd[r], ws->t1);
    if (ws->trk) {
        /* A project last evaluated at round rs or later falls back to its latest
         * evaluation before rs (not to none). */
        for (size_t i = 0; i < ws->elen; i++) {
            uint32_t q = ws->ev_p[i];
            if (ws->ev_P[i] < 0) continue; /* a drop, not a bound */
            if (ws->has_lb[q] && N_GET_D(ws->lb_v[q]) >= ws->ev_v[i]) continue;
            N_SET_D(ws->lb_v[q], ws->ev_v[i]);
            N_SET_D(ws->lb_d[q], ws->ev_d[i]);
            ws->has_lb[q] = 1;
            ws->lb_round[q] = ws->ev_r[i];
        }
    }
    out->nwin = rs;
    out->spent = 0;
    for (size_t i = 0; i < rs; i++) {
        /* this workspace's own winners: in exact mode the caller's array may hold
         * another workspace's run */
        out->win[i] = ws->own_win[i];
        out->spent += e->projects[out->win[i]].cost;
    }
    out->trace_len = prm->trace ? ws->rnd_trace[rs] : 0;
    out->nties = 0;
    ws->e0 = (double)(ws->base + dx);
    ws->base += dx;
    return 0;
}

/* Swaps the groups in g_* with those set aside (for project q). */
static void MES(set_aside)(WS_T *ws, uint32_t q) {
    uint32_t *t;
    t = ws->g_cls, ws->g_cls = ws->s_cls, ws->s_cls = t;
    t = ws->g_pts, ws->g_pts = ws->s_pts, ws->s_pts = t;
    t = ws->sg, ws->sg = ws->s_sg, ws->s_sg = t;
    uint64_t *u = ws->g_cnt;
    ws->g_cnt = ws->s_cnt, ws->s_cnt = u;
    uint8_t *b = ws->g_poor;
    ws->g_poor = ws->s_poor, ws->s_poor = b;
    size_t n = ws->ngrp;
    ws->ngrp = ws->s_ngrp, ws->s_ngrp = n;
    ws->s_for = ws->s_for == (int64_t)q ? -1 : (int64_t)q;
    ws->last_eval = -1;
}

/* Appends an evaluation (a lower bound from round r) to the tracking log. */
static void MES(track_log)(WS_T *ws, uint32_t r, uint32_t q, double v, double d, int64_t P) {
    size_t m1 = ws->m ? ws->m : 1;
    /* Full (carried bounds can repeat): leaving an entry out only loses a bound. */
    if (ws->elen >= (m1 + 1) * m1) return;
    ws->ev_r[ws->elen] = r;
    ws->ev_p[ws->elen] = q;
    ws->ev_v[ws->elen] = v;
    ws->ev_d[ws->elen] = d;
    ws->ev_P[ws->elen] = P;
    ws->elen++;
}

/* Start of round r while every earlier round has chosen what an earlier run chose:
 * that run's evaluations in round r become lower bounds here. With the true purses
 * b_i and that run's affine purses a_i (at this endowment) within dev = sum |b_i - a_i|
 * of each other, sum min(b_i, alpha*pts_i) <= (its split's linear formula in the a_i)
 * + dev, so alpha >= (that formula's alpha) - dev / (paying points); and a project it
 * dropped has at most (its money then) + dev. At the resume round itself the purses
 * are the previous run's exactly, and its evaluations stay affine bounds. */
static void MES(track_frame_round)(WS_T *ws, pb_trk_frame *f, size_t r, int exact) {
    double dx = f->dx;
    while (f->pos < f->elen && f->ev_r[f->pos] < r) f->pos++;
    for (; f->pos < f->elen && f->ev_r[f->pos] == r; f->pos++) {
        size_t i = f->pos;
        uint32_t q = f->ev_p[i];
        if (ws->state[q] != ST_ACTIVE || f->ev_P[i] == 0) continue;
        double a = f->ev_v[i] + f->ev_d[i] * dx;
#ifdef CG_TESTING
        {
            /* Test builds check every bound against the truth. */
            double lim = f->ev_P[i] < 0 ? a + (exact ? 0 : f->dev)
                                        : a - (exact ? 0 : f->dev / (double)f->ev_P[i]);
            double tol = 1e-9 * fabs(lim) + 1e-9;
            int ok = MES(evaluate)(ws, q);
            if (f->ev_P[i] < 0)
                assert(N_GET_D(ws->sum_v) <= lim + tol);
            else if (ok)
                assert(N_GET_D(ws->al_v) >= lim - tol);
            ws->last_eval = -1;
        }
#endif
        if (f->ev_P[i] < 0) {
            /* Dropped there. Clearly short of the cost (not a close call): dropped
             * here without evaluating. */
            double cost = (double)ws->e->projects[q].cost;
            double money = exact ? a : a + f->dev;
            if (!(money < cost * (1 - 1e-9))) continue;
            ws->state[q] = ST_DROPPED;
            ws->st_round[q] = (uint32_t)r;
            if (exact) {
                N_SET_D(ws->t3, cost - a);
                N_SET_D(ws->t2, -f->ev_d[i]);
                MES(cond)(ws, ws->t3, ws->t2);
                MES(track_log)(ws, (uint32_t)r, q, a, f->ev_d[i], -1);
            } else { /* holds at this endowment only: redo this round next time */
                ws->rrob[r] = 1;
            }
            continue;
        }
        if (exact) {
            if (ws->has_lb[q] && N_GET_D(ws->lb_v[q]) >= a) continue;
            N_SET_D(ws->lb_v[q], a);
            N_SET_D(ws->lb_d[q], f->ev_d[i]);
            ws->has_lb[q] = 1;
            ws->lb_robust[q] = 0;
            ws->lb_round[q] = (uint32_t)r;
            MES(track_log)(ws, (uint32_t)r, q, a, f->ev_d[i], f->ev_P[i]);
            continue;
        }
        a -= f->dev / (double)f->ev_P[i];
        if (ws->has_lb[q] && N_GET_D(ws->lb_v[q]) >= a) continue;
        N_SET_D(ws->lb_v[q], a);
        N_SET_SI(ws->lb_d[q], 0);
        ws->has_lb[q] = 1;
        ws->lb_robust[q] = 1;
        ws->lb_round[q] = (uint32_t)r;
    }
}

/* Up to its own start an older frame's run is the next newer frame's run (which may
 * itself still be the next one's): the same drift. The newest frame, before its
 * start, is the current run itself: drift 0. */
static void MES(track_start)(WS_T *ws, size_t r) {
    for (int k = 1; k < PB_NFR; k++) {
        pb_trk_frame *g = &ws->fr[k];
        if (g->on && r <= g->from) g->dev = ws->fr[k - 1].dev;
    }
}

static void MES(track_round)(WS_T *ws, size_t r) {
    pb_trk_frame *f = &ws->fr[0];
    MES(track_start)(ws, r);
    if (f->on && r == f->from) MES(track_frame_round)(ws, f, r, 1);
    if (!ws->allow_robust) return;
    if (f->on && r > f->from) MES(track_frame_round)(ws, f, r, 0);
    for (int k = 1; k < PB_NFR; k++) {
        pb_trk_frame *g = &ws->fr[k];
        if (g->on && r >= g->from) MES(track_frame_round)(ws, g, r, 0);
    }
}

/* The winner an earlier run chose in round r, or UINT32_MAX. */
static uint32_t MES(track_guess)(WS_T *ws, size_t r) {
    for (int k = 0; k < PB_NFR; k++) {
        pb_trk_frame *f = &ws->fr[k];
        if (f->on && r >= f->from && r < f->nrounds) return f->win[r];
    }
    return UINT32_MAX;
}

/* After round r chose w: frames that chose otherwise say nothing more; for the
 * others, how far the purses can now be from their affine ones. A supporter of the
 * winner paid min(b, alpha*pts) here and max(0, .) keeps differences from growing, so
 * each moves by at most pts * |alpha - alpha_then| more, plus, where that run's split
 * no longer holds at this endowment (a regime condition below zero), by that amount. */
static void MES(track_dev)(WS_T *ws, size_t r, uint32_t w, int64_t score) {
    double alpha = ws->rw_v[r];
    int any = 0;
    for (int k = 0; k < PB_NFR; k++) {
        pb_trk_frame *f = &ws->fr[k];
        if (!f->on) continue;
        if (r < f->from) { /* still the next newer frame's rounds (or, for the newest,
                              the current run's own) */
            if (k > 0) f->on = ws->fr[k - 1].on;
            any |= f->on;
            continue;
        }
        if (r >= f->nrounds || f->win[r] != w) {
            f->on = 0;
            continue;
        }
        double dx = f->dx;
        double d = fabs(alpha - (f->rw_v[r] + f->rw_d[r] * dx)) * (double)score;
        for (size_t i = f->rnd_rc[r]; i < f->rnd_rc[r + 1]; i++) {
            double v = f->rc_v[i] + f->rc_d[i] * dx;
            if (v < 0) d -= v * (double)f->rc_n[i];
        }
        f->dev += d;
        any = 1;
    }
    ws->trk = any;
}

/* Every voter back to the endowment; every eligible project active. */
static void MES(reset)(WS_T *ws, const pb_mes_params *prm, pb_mes_out *out) {
    const pb_election *e = ws->e;
    ws->slopes = prm->slopes;
    ws->rank = prm->rank;
    ws->ncls = 0;
    ws->last_eval = -1;
    ws->can_resume = 0;
    uint32_t c0 = MES(new_class)(ws), c1 = MES(new_class)(ws);
    N_SET_SI(CV(ws, c0), 0);
    N_SET_SI(CD(ws, c0), 0);
    N_SET_FRAC(CV(ws, c1), prm->endow_num, prm->endow_den);
    N_SET_SI(CD(ws, c1), prm->slopes ? 1 : 0);
    ws->e0 = (double)prm->endow_num / (double)prm->endow_den;
    for (size_t v = 0; v < ws->n; v++) ws->cls[v] = c1;
    for (size_t p = 0; p < ws->m; p++) {
        const pb_project *pr = &e->projects[p];
        ws->state[p] =
            (prm->candidate[p] && pr->cost > 0 && pr->supporters > 0) ? ST_ACTIVE : ST_NONE;
        ws->has_lb[p] = 0;
        ws->ex_cmax[p] = 0;
        ws->ex_dmin[p] = INT64_MAX;
        if (out->proj) {
            out->proj[p].effective_support = 0;
            out->proj[p].funded = 0;
            out->proj[p].position = 0;
        }
    }
}

void MES(pb_mes_run)(WS_T *ws, const pb_mes_params *prm, pb_mes_out *out) {
    const pb_election *e = ws->e;
    int resumed = 0;
    ws->trk = 0;
    if (MES_TRACK && prm->slopes) MES(track_alloc)(ws);
    if (prm->resume && prm->slopes && ws->can_resume && prm->endow_den == 1 &&
        prm->endow_num > ws->base && !prm->explain && !out->proj && !out->ties)
        resumed = MES(rewind)(ws, prm, out, prm->endow_num - ws->base) == 0;
    if (!resumed) {
        MES(reset)(ws, prm, out);
        ws->loglen = 0;
        ws->base = prm->endow_num;
        out->trace_len = 0;
        out->nwin = 0;
        out->spent = 0;
        out->nties = 0;
        ws->elen = ws->rclen = 0;
        if (ws->lb_robust) memset(ws->lb_robust, 0, ws->m);
        for (int k = 0; k < PB_NFR; k++) ws->fr[k].valid = ws->fr[k].on = 0;
    }
    ws->slopes = prm->slopes;
    int track = MES_TRACK && ws->slopes && ws->rc_v;
    ws->tracing = prm->trace != NULL;
    ws->can_resume = 0;
    for (;;) {
        ws->cur_round = out->nwin;
        ws->rnd_ncls[out->nwin] = ws->ncls;
        ws->rnd_log[out->nwin] = ws->loglen;
        ws->rnd_trace[out->nwin] = out->trace_len;
        ws->rhas[out->nwin] = 0;
        ws->rrob[out->nwin] = 0;
        if (track) {
            ws->rnd_ev[out->nwin] = ws->elen;
            ws->rnd_rc[out->nwin] = ws->rclen;
        }
        if (ws->trk) MES(track_round)(ws, out->nwin);
        size_t nl = 0;
        for (size_t p = 0; p < ws->m; p++) {
            if (ws->state[p] != ST_ACTIVE) continue;
            ws->list[nl++] = (uint32_t)p;
            ws->lb_approx[p] =
                ws->has_lb[p] ? N_GET_D(ws->lb_v[p]) / (double)e->projects[p].cost : -1.0;
        }
        if (nl > 1) qsort_r(ws->list, nl, sizeof *ws->list, MES(cmp_lb), ws);
        uint32_t guess = ws->trk ? MES(track_guess)(ws, out->nwin) : UINT32_MAX;
        if (guess != UINT32_MAX) {
            /* The earlier run's winner first: its price is then the bar every other
             * bound is compared with. (Only the order of evaluation changes.) */
            for (size_t i = 1; i < nl; i++) {
                if (ws->list[i] != guess) continue;
                memmove(ws->list + 1, ws->list, i * sizeof *ws->list);
                ws->list[0] = guess;
                break;
            }
        }
        int64_t best = -1;
        size_t nev = 0, ndc = 0;
        ws->s_for = -1;
        for (size_t i = 0; i < nl; i++) {
            uint32_t q = ws->list[i];
            int64_t cq = e->projects[q].cost;
            if (best >= 0 && ws->has_lb[q] &&
                RHO_FAR(ws->t1, ws->t2, ws->lb_v[q], cq, ws->w_v, e->projects[best].cost))
                continue;
            if (!MES(evaluate)(ws, q)) {
                ws->state[q] = ST_DROPPED;
                ws->st_round[q] = (uint32_t)out->nwin;
                if (prm->trace && N_GET_D(ws->sum_v) >= (double)cq * (1 - 1e-9))
                    ws->dclose[ndc++] = q;
                if (track) /* a drop: P = -1, the money's value and slope */
                    MES(track_log)
                (ws, (uint32_t)out->nwin, q, N_GET_D(ws->sum_v), N_GET_D(ws->sum_d), -1);
                if (ws->slopes) { /* stays unaffordable while cost - money > 0 */
                    N_SET_SI(ws->t1, cq);
                    N_SUB(ws->t1, ws->t1, ws->sum_v);
                    N_NEG(ws->t2, ws->sum_d);
                    N_SET(ws->t3, ws->t1);
                    MES(cond)(ws, ws->t3, ws->t2);
                }
                continue;
            }
            N_SET(ws->lb_v[q], ws->al_v);
            N_SET(ws->lb_d[q], ws->al_d);
            ws->has_lb[q] = 1;
            ws->lb_round[q] = (uint32_t)out->nwin;
            if (track) {
                ws->lb_robust[q] = 0;
                MES(track_log)
                (ws, (uint32_t)out->nwin, q, N_GET_D(ws->al_v), N_GET_D(ws->al_d), ws->last_P);
            }
            ws->evald[nev++] = q;
            int take = best < 0;
            if (!take) {
                int c = MES(cmp_rho)(ws, ws->al_v, cq, ws->w_v, e->projects[best].cost);
                take = c < 0 || (c == 0 && ws->rank[q] < ws->rank[best]);
            }
            if (take) {
                best = q;
                N_SET(ws->w_v, ws->al_v);
                N_SET(ws->w_d, ws->al_d);
                if (!prm->explain) MES(set_aside)(ws, q);
            }
        }
        if (best < 0) {
            if (prm->trace) { /* the stop: who was nearly affordable */
                prm->trace[out->trace_len++] = UINT32_MAX;
                prm->trace[out->trace_len++] = (uint32_t)ndc;
                for (size_t i = 0; i < ndc; i++) prm->trace[out->trace_len++] = ws->dclose[i];
            }
            break;
        }
        uint32_t w = (uint32_t)best;
        int64_t cw = e->projects[w].cost;
        if (prm->trace) { /* the winner and every decision that was close */
            prm->trace[out->trace_len++] = w;
            size_t at = out->trace_len++, nc = 0;
            if (ws->aff_close[w]) {
                prm->trace[out->trace_len++] = w;
                nc++;
            }
            for (size_t i = 0; i < nev; i++) {
                uint32_t q = ws->evald[i];
                /* Both with every supporter paying an equal share: rho = 1/points on
                 * both sides, an integer comparison the doubles already got right. */
                if (ws->allrich[q] && ws->allrich[w]) continue;
                if (q != w &&
                    RHO_NEAR(ws->t1, ws->t2, ws->lb_v[q], e->projects[q].cost, ws->w_v, cw)) {
                    prm->trace[out->trace_len++] = q;
                    nc++;
                }
            }
            for (size_t i = 0; i < ndc; i++) {
                prm->trace[out->trace_len++] = ws->dclose[i];
                nc++;
            }
            prm->trace[at] = (uint32_t)nc;
        }
        if (out->ties) {
            for (size_t i = 0; i < nev; i++) {
                uint32_t q = ws->evald[i];
                if (q == w || MES(cmp_rho)(ws, ws->lb_v[q], e->projects[q].cost, ws->w_v, cw) != 0)
                    continue;
                if (out->nties < ws->m) {
                    out->ties[out->nties].chosen = w;
                    out->ties[out->nties].other = q;
                    out->ties[out->nties].decided_by = pb_tie_decider(e, prm->tie, w, q);
                    out->nties++;
                }
            }
        }
        if (ws->slopes) { /* every other project keeps a price no better than w's */
            for (size_t p = 0; p < ws->m; p++) {
                if (ws->state[p] != ST_ACTIVE || p == w) continue;
                if (track && ws->lb_robust[p]) {
                    /* a bound that holds at this endowment only: redo this round */
                    ws->rrob[ws->cur_round] = 1;
                    continue;
                }
                int64_t cp = e->projects[p].cost;
                N_MUL_SI(ws->t1, ws->lb_v[p], cw);
                N_MUL_SI(ws->t2, ws->w_v, cp);
                N_SUB(ws->t1, ws->t1, ws->t2);
                N_MUL_SI(ws->t2, ws->lb_d[p], cw);
                N_MUL_SI(ws->t3, ws->w_d, cp);
                N_SUB(ws->t2, ws->t2, ws->t3);
                N_SET(ws->t3, ws->t1);
                MES(cond)(ws, ws->t3, ws->t2);
            }
        }
        if (prm->explain && prm->explain_mask) {
            double kappa = N_GET_D(ws->w_v) / (double)cw, inv = 1.0 / kappa;
            for (size_t p = 0; p < ws->m; p++) {
                if (p == w || !prm->explain_mask[p] ||
                    (ws->state[p] != ST_ACTIVE && ws->state[p] != ST_DROPPED))
                    continue;
                /* To win this round a project needs more than 1/kappa points paying at
                 * most alpha each: with no more points than that it cannot win at any
                 * cost, and needs more than (1/kappa - points)/pbar new supporters. */
                const pb_project *pr = &e->projects[p];
                double sc = (double)pr->score;
                if (sc <= inv) {
                    double pbar = e->uses_points && pr->supporters
                                      ? (double)((pr->score + pr->supporters - 1) / pr->supporters)
                                      : 1.0;
                    if ((double)ws->ex_dmin[p] <= (inv - sc) / pbar) continue;
                }
                MES(explain_round)(ws, (uint32_t)p, kappa);
            }
        }
        /* The winner's groups are still in place when it was evaluated last. */
        if (!prm->explain && ws->s_for == (int64_t)w) {
            MES(set_aside)(ws, w); /* swap back */
            ws->last_eval = w;
            N_SET(ws->al_v, ws->w_v);
            N_SET(ws->al_d, ws->w_d);
        } else if (ws->last_eval != (int64_t)w || (prm->explain && prm->explain_mask)) {
            int ok = MES(evaluate)(ws, w);
            assert(ok);
            (void)ok;
        }
        if (out->proj) {
            double a = N_GET_D(ws->al_v), sc = (double)e->projects[w].score;
            double es = a > 0 && sc > 0 ? 100.0 * (double)cw / (a * sc) : 100.0;
            out->proj[w].effective_support = es > 100.0 ? 100.0 : es;
        }
        MES(pay)(ws, w);
        if (track) {
            size_t r = out->nwin;
            ws->rw_v[r] = N_GET_D(ws->al_v);
            ws->rw_d[r] = N_GET_D(ws->al_d);
            if (ws->trk) MES(track_dev)(ws, r, w, e->projects[w].score);
        }
        ws->state[w] = ST_FUNDED;
        ws->st_round[w] = (uint32_t)out->nwin;
        ws->own_win[out->nwin] = w;
        out->win[out->nwin++] = w;
        out->spent += cw;
        if (out->proj) {
            out->proj[w].funded = 1;
            out->proj[w].position = out->nwin;
        }
    }
    /* Losers: effective support = share of the cost their supporters could still pay. */
    for (size_t p = 0; p < ws->m; p++) {
        if (ws->state[p] == ST_FUNDED) continue;
        if (out->proj) {
            const pb_project *pr = &e->projects[p];
            if (pr->cost > 0 && pr->supporters > 0) {
                MES(build_groups)(ws, (uint32_t)p);
                double s = 0;
                for (size_t g = 0; g < ws->ngrp; g++)
                    s += N_GET_D(CV(ws, ws->g_cls[g])) * (double)ws->g_cnt[g];
                double es = 100.0 * s / (double)pr->cost;
                out->proj[p].effective_support = es > 100.0 ? 100.0 : es;
            }
        }
        if (prm->explain && prm->explain_mask && prm->explain_mask[p] && ws->state[p] != ST_NONE)
            MES(explain_round)(ws, (uint32_t)p, -1.0);
    }
    if (prm->explain && out->proj) {
        for (size_t p = 0; p < ws->m; p++) {
            pb_project_result *r = &out->proj[p];
            r->has_cost_to_win = 0;
            r->has_supporters_to_win = 0;
            if (ws->state[p] == ST_FUNDED || ws->state[p] == ST_NONE || !prm->explain_mask ||
                !prm->explain_mask[p])
                continue;
            if (ws->ex_cmax[p] >= 1) {
                r->has_cost_to_win = 1;
                r->cost_to_win = (int64_t)ws->ex_cmax[p];
                if (r->cost_to_win >= e->projects[p].cost) r->cost_to_win = e->projects[p].cost - 1;
            }
            if (ws->ex_dmin[p] != INT64_MAX) {
                r->has_supporters_to_win = 1;
                r->supporters_to_win = ws->ex_dmin[p] < 1 ? 1 : ws->ex_dmin[p];
            }
        }
    }
    out->next_steps = UINT64_MAX;
    if (ws->slopes) {
        int have = 0;
        for (size_t r = 0; r <= out->nwin; r++) {
            if (!ws->rhas[r]) continue;
            if (!have || N_CMP(ws->rd[r], ws->delta) < 0) N_SET(ws->delta, ws->rd[r]);
            have = 1;
        }
        if (have) out->next_steps = STEPS_OF(ws->delta, prm->increment);
        /* Bounds from earlier runs hold at one endowment only, so a round that used
         * one makes the next run come one step later. Worth it only when the other
         * conditions say so anyway (the outcome may change at the next step);
         * otherwise the next run goes without them and can jump. */
        int rob = 0;
        for (size_t r = 0; r <= out->nwin; r++) rob |= ws->rrob[r];
        ws->allow_robust = out->next_steps <= 1;
        if (rob) out->next_steps = 1;
        ws->nrounds = out->nwin;
        ws->can_resume = 1;
    }
}

int MES(pb_mes_replay)(WS_T *ws, const pb_mes_params *prm, const uint32_t *trace, size_t len,
                       pb_mes_out *out) {
    const pb_election *e = ws->e;
    pb_mes_params plain = *prm;
    plain.slopes = 0;
    plain.explain = 0;
    pb_mes_out tmp = *out;
    tmp.proj = NULL;
    plain.trace = NULL;
    MES(reset)(ws, &plain, &tmp);
    ws->tracing = 0;
    size_t pos = 0, nties = 0;
    while (pos + 2 <= len) {
        uint32_t w = trace[pos++];
        size_t nc = trace[pos++];
        const uint32_t *close = trace + pos;
        pos += nc;
        if (w == UINT32_MAX) {
            for (size_t i = 0; i < nc; i++)
                if (MES(evaluate)(ws, close[i])) return -1;
            break;
        }
        int64_t cw = e->projects[w].cost;
        if (!MES(evaluate)(ws, w)) return -1;
        N_SET(ws->w_v, ws->al_v);
        for (size_t i = 0; i < nc; i++) {
            uint32_t q = close[i];
            if (q == w || !MES(evaluate)(ws, q)) continue;
            int c = MES(cmp_rho)(ws, ws->al_v, e->projects[q].cost, ws->w_v, cw);
            if (c < 0 || (c == 0 && ws->rank[q] < ws->rank[w])) return -1;
            if (c == 0 && out->ties && nties < ws->m) {
                out->ties[nties].chosen = w;
                out->ties[nties].other = q;
                out->ties[nties].decided_by = pb_tie_decider(e, prm->tie, w, q);
                nties++;
            }
        }
        MES(evaluate)(ws, w);
        MES(pay)(ws, w);
    }
    out->nties = nties;
    return 0;
}

#undef WS_T
#undef CV
#undef CD
#undef CHUNK_BITS
#undef CHUNK
#undef NOGROUP
