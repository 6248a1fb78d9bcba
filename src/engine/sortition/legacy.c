/*
 * legacy: the greedy draw practitioners used before LEXIMIN (the Sortition
 * Foundation's original algorithm as described in Flanigan et al. 2021, Methods), for
 * comparison. Its selection probabilities have no closed form, so they are estimated
 * as frequencies over many seeded draws.
 *
 * One draw: while the panel is not full, take the feature with the largest ratio
 * (min - selected) / (eligible people having it) among features still below their
 * maximum, and select a uniformly random eligible person having it; then make
 * ineligible the people of every feature that reached its maximum and the selected
 * person's household. A draw fails (and is retried) when no one is eligible before the
 * panel is full or when the panel misses a minimum.
 */
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "engine/sortition/internal.h"

typedef struct draw_state {
    unsigned char *eligible;
    int *sel;    /* selected per feature */
    int *avail;  /* eligible people per feature */
    int *panel;
    int *cand;
} draw_state;

static void make_ineligible(const sortition_instance *in, draw_state *d, size_t i) {
    if (!d->eligible[i]) return;
    d->eligible[i] = 0;
    for (size_t c = 0; c < in->ncat; c++) d->avail[in->person_feat[i * in->ncat + c]]--;
}

/* Returns 1 when a valid panel was drawn into d->panel. */
static int draw_once(const sortition_instance *in, draw_state *d, uint64_t *rng) {
    size_t n = in->n, nc = in->ncat;
    memset(d->eligible, 1, n);
    memset(d->sel, 0, in->nfeat * sizeof(int));
    memset(d->avail, 0, in->nfeat * sizeof(int));
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < nc; c++) d->avail[in->person_feat[i * nc + c]]++;
    /* people with a feature whose maximum is 0 can never be selected */
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < nc; c++)
            if (in->feat_max[in->person_feat[i * nc + c]] == 0) make_ineligible(in, d, i);
    for (int got = 0; got < in->k; got++) {
        long best = -1;
        double bratio = 0;
        for (size_t f = 0; f < in->nfeat; f++) {
            if (d->avail[f] <= 0 || d->sel[f] >= in->feat_max[f]) continue;
            double ratio = (double)(in->feat_min[f] - d->sel[f]) / d->avail[f];
            if (best < 0 || ratio > bratio) best = (long)f, bratio = ratio;
        }
        if (best < 0) return 0;
        size_t nc_f = in->feat_cat[best], ncand = 0;
        for (size_t i = 0; i < n; i++)
            if (d->eligible[i] && in->person_feat[i * nc + nc_f] == (int)best) d->cand[ncand++] = (int)i;
        if (!ncand) return 0;
        size_t i = (size_t)d->cand[sortition_rng_next(rng) % ncand];
        d->panel[got] = (int)i;
        make_ineligible(in, d, i);
        for (size_t c = 0; c < nc; c++) {
            int f = in->person_feat[i * nc + c];
            if (++d->sel[f] >= in->feat_max[f]) {
                for (size_t j = 0; j < n; j++)
                    if (d->eligible[j] && in->person_feat[j * nc + c] == f) make_ineligible(in, d, j);
            }
        }
        if (in->household[i] >= 0)
            for (size_t j = 0; j < n; j++)
                if (in->household[j] == in->household[i]) make_ineligible(in, d, j);
    }
    for (size_t f = 0; f < in->nfeat; f++)
        if (d->sel[f] < in->feat_min[f] || d->sel[f] > in->feat_max[f]) return 0;
    return 1;
}

int srt_legacy(const sortition_instance *inst, const sortition_opts *o, double *prob, long *draws_failed) {
    int runs = o->legacy_runs > 0 ? o->legacy_runs : 10000;
    draw_state d;
    d.eligible = xcalloc(inst->n, 1);
    d.sel = xcalloc(inst->nfeat + 1, sizeof(int));
    d.avail = xcalloc(inst->nfeat + 1, sizeof(int));
    d.panel = xcalloc((size_t)inst->k, sizeof(int));
    d.cand = xcalloc(inst->n, sizeof(int));
    long *count = xcalloc(inst->n, sizeof(long));
    uint64_t rng = o->seed;
    int ok = 0, ret = SORTITION_OK;
    long failed = 0;
    while (ok < runs) {
        if (o->stop && *o->stop) {
            ret = SORTITION_EINTERRUPTED;
            break;
        }
        if (draw_once(inst, &d, &rng)) {
            for (int a = 0; a < inst->k; a++) count[d.panel[a]]++;
            ok++;
        } else if (++failed > 100L * runs) {
            if (!ok) ret = SORTITION_EINFEASIBLE;
            break; /* estimate from the draws that succeeded */
        }
    }
    for (size_t i = 0; i < inst->n; i++) prob[i] = ok ? (double)count[i] / ok : 0;
    *draws_failed = failed;
    free(d.eligible);
    free(d.sel);
    free(d.avail);
    free(d.panel);
    free(d.cand);
    free(count);
    return ret;
}
