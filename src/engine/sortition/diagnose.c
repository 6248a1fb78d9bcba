/*
 * diagnose: explaining infeasible quotas to the organiser.
 *
 * Cheap counting checks come first, each with its own message, because they name the
 * cause exactly. When they all pass and still no panel exists (the quotas interact), a
 * MIP finds the cheapest change to the quotas that allows a panel: lowering minimum m_f
 * by one costs 1/m_f and raising maximum M_f by one costs 1/(M_f + 1), so a small
 * quota (where one person is a large share) is changed last; min_flex and max_flex
 * bound how far each may move.
 */
#include <glpk.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/xalloc.h"
#include "engine/sortition/internal.h"

static void line(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
    buf_putc(b, '\n');
}

static int cheap_checks(const sortition_instance *in, buf *b) {
    size_t before = buf_len(b);
    int *have = xcalloc(in->nfeat + 1, sizeof(int));
    int *homes = xcalloc(in->nfeat + 1, sizeof(int));
    /* distinct households per feature: people alone count one each, a shared household
     * counts once per feature */
    unsigned char *seen = xcalloc((in->nhouseholds + 1) * (in->nfeat + 1), 1);
    for (size_t i = 0; i < in->n; i++) {
        for (size_t c = 0; c < in->ncat; c++) {
            int f = in->person_feat[i * in->ncat + c];
            have[f]++;
            int h = in->household[i];
            if (h < 0) homes[f]++;
            else if (!seen[(size_t)h * in->nfeat + (size_t)f]) {
                seen[(size_t)h * in->nfeat + (size_t)f] = 1;
                homes[f]++;
            }
        }
    }
    for (size_t f = 0; f < in->nfeat; f++) {
        const char *cat = in->cat_name[in->feat_cat[f]];
        if (have[f] < in->feat_min[f])
            line(b, "%s: %s minimum %d, but only %d volunteers have it", cat, in->feat_name[f], in->feat_min[f],
                 have[f]);
        else if (homes[f] < in->feat_min[f])
            line(b, "%s: %s minimum %d, but its %d volunteers live in only %d households", cat, in->feat_name[f],
                 in->feat_min[f], have[f], homes[f]);
    }
    for (size_t c = 0; c < in->ncat; c++) {
        long smin = 0, smax = 0;
        for (size_t j = 0; j < in->cat_nfeat[c]; j++) {
            size_t f = in->cat_first[c] + j;
            smin += in->feat_min[f];
            smax += (in->feat_max[f] < have[f] ? in->feat_max[f] : have[f]);
        }
        if (smin > in->k) line(b, "%s: the minimums add up to %ld, more than the panel size %d", in->cat_name[c], smin, in->k);
        if (smax < in->k)
            line(b, "%s: at most %ld people can be selected (maximums, capped by volunteers), fewer than the panel size %d",
                 in->cat_name[c], smax, in->k);
    }
    size_t nhomes = in->nhouseholds;
    for (size_t i = 0; i < in->n; i++) nhomes += in->household[i] < 0;
    if (nhomes < (size_t)in->k)
        line(b, "only %zu households in the pool, fewer than the panel size %d (one person per household)", nhomes, in->k);
    free(have);
    free(homes);
    free(seen);
    return buf_len(b) > before;
}

/* The relaxation MIP on types; writes the changes. Returns 0 when it found one, 1 when
 * no change within the flex bounds helps, -1 on solver failure. */
static int relax(const sortition_instance *in, buf *b) {
    srt_types ty;
    srt_types_build(in, &ty);
    size_t T = ty.T, nf = in->nfeat;
    glp_prob *g = glp_create_prob();
    glp_set_obj_dir(g, GLP_MIN);
    /* columns: x_t (1..T), lower_f (T+1..T+nf), raise_f (T+nf+1..T+2nf) */
    glp_add_cols(g, (int)(T + 2 * nf));
    for (size_t t = 0; t < T; t++) {
        glp_set_col_kind(g, (int)t + 1, GLP_IV);
        glp_set_col_bnds(g, (int)t + 1, ty.size[t] > 0 ? GLP_DB : GLP_FX, 0, ty.size[t]);
    }
    for (size_t f = 0; f < nf; f++) {
        int lo = (int)(T + f + 1), hi = (int)(T + nf + f + 1);
        double dl = in->feat_min[f] - in->feat_min_flex[f];
        double dh = in->feat_max_flex[f] - in->feat_max[f];
        glp_set_col_kind(g, lo, GLP_IV);
        glp_set_col_kind(g, hi, GLP_IV);
        glp_set_col_bnds(g, lo, dl > 0 ? GLP_DB : GLP_FX, 0, dl > 0 ? dl : 0);
        glp_set_col_bnds(g, hi, dh > 0 ? GLP_DB : GLP_FX, 0, dh > 0 ? dh : 0);
        glp_set_obj_coef(g, lo, 1.0 / (in->feat_min[f] > 0 ? in->feat_min[f] : 1));
        glp_set_obj_coef(g, hi, 1.0 / (in->feat_max[f] + 1));
    }
    size_t nrows = 1 + 2 * nf + in->nhouseholds;
    glp_add_rows(g, (int)nrows);
    int *ind = xcalloc(T + 3, sizeof(int));
    double *val = xcalloc(T + 3, sizeof(double));
    for (size_t t = 0; t < T; t++) ind[t + 1] = (int)t + 1, val[t + 1] = 1;
    glp_set_mat_row(g, 1, (int)T, ind, val);
    glp_set_row_bnds(g, 1, GLP_FX, in->k, in->k);
    for (size_t f = 0; f < nf; f++) {
        size_t c = in->feat_cat[f];
        int len = 0;
        for (size_t t = 0; t < T; t++)
            if ((size_t)ty.feat[t * in->ncat + c] == f) ind[++len] = (int)t + 1, val[len] = 1;
        /* sum x + lower_f >= min_f */
        ind[len + 1] = (int)(T + f + 1), val[len + 1] = 1;
        glp_set_mat_row(g, (int)(2 + 2 * f), len + 1, ind, val);
        glp_set_row_bnds(g, (int)(2 + 2 * f), GLP_LO, in->feat_min[f], 0);
        /* sum x - raise_f <= max_f */
        ind[len + 1] = (int)(T + nf + f + 1), val[len + 1] = -1;
        glp_set_mat_row(g, (int)(3 + 2 * f), len + 1, ind, val);
        glp_set_row_bnds(g, (int)(3 + 2 * f), GLP_UP, 0, in->feat_max[f]);
    }
    for (size_t h = 0; h < in->nhouseholds; h++) {
        int len = 0;
        for (size_t t = 0; t < T; t++)
            if (ty.hh[t] == (int)h) ind[++len] = (int)t + 1, val[len] = 1;
        glp_set_mat_row(g, (int)(2 + 2 * nf + h), len, ind, val);
        glp_set_row_bnds(g, (int)(2 + 2 * nf + h), GLP_UP, 0, 1);
    }
    glp_iocp ip;
    glp_init_iocp(&ip);
    ip.msg_lev = GLP_MSG_OFF;
    ip.presolve = GLP_ON;
    int rc = glp_intopt(g, &ip);
    int ret;
    if (rc == 0 && glp_mip_status(g) == GLP_OPT) {
        ret = 0;
        for (size_t f = 0; f < nf; f++) {
            long lo = lround(glp_mip_col_val(g, (int)(T + f + 1)));
            long hi = lround(glp_mip_col_val(g, (int)(T + nf + f + 1)));
            const char *cat = in->cat_name[in->feat_cat[f]];
            if (lo > 0)
                line(b, "%s: %s minimum %d \xe2\x86\x92 %ld", cat, in->feat_name[f], in->feat_min[f],
                     in->feat_min[f] - lo);
            if (hi > 0)
                line(b, "%s: %s maximum %d \xe2\x86\x92 %ld", cat, in->feat_name[f], in->feat_max[f],
                     in->feat_max[f] + hi);
        }
    } else if (rc == GLP_ENOPFS || rc == 0) {
        ret = 1;
    } else {
        ret = -1;
    }
    free(ind);
    free(val);
    glp_delete_prob(g);
    srt_types_free(&ty);
    return ret;
}

int sortition_diagnose(const sortition_instance *inst, char *msg, size_t msglen) {
    buf b;
    buf_init(&b, 1 << 20);
    int ret;
    if (cheap_checks(inst, &b)) {
        ret = 1;
    } else {
        srt_types ty;
        srt_types_build(inst, &ty);
        srt_oracle *o = srt_oracle_new(inst, &ty, SORTITION_SOLVER_GLPK);
        double *w = xcalloc(ty.T, sizeof(double));
        int *x = xcalloc(ty.T, sizeof(int));
        double v;
        int rc = srt_oracle_solve(o, w, x, &v);
        free(w);
        free(x);
        srt_oracle_free(o);
        srt_types_free(&ty);
        if (rc == 0) {
            ret = 0;
        } else if (rc < 0) {
            ret = SORTITION_ESOLVER;
            line(&b, "the MIP solver failed");
        } else {
            ret = 1;
            line(&b, "no panel meets all the quotas together; the smallest change that allows one:");
            int r2 = relax(inst, &b);
            if (r2 == 1) line(&b, "no change within min_flex and max_flex allows a panel");
            else if (r2 < 0) line(&b, "(the relaxation could not be solved)");
        }
    }
    snprintf(msg, msglen, "%s", buf_cstr(&b));
    buf_free(&b);
    return ret;
}
