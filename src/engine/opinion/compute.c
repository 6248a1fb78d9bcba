/*
 * opinion/compute: one full analysis of a conversation, in Pol.is's order — who is
 * in the analysis, PCA, participant projections, base clusters, opinion groups,
 * group vote counts, representative comments, consensus, group-aware consensus and
 * comment priorities — and the result it hands to the caller.
 *
 * Rows are taken in ascending participant id and columns in ascending comment id, so
 * the result does not depend on the order in which votes arrived (only on which vote
 * was last).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "engine/opinion/internal.h"

static int cmp_idpair(const void *a, const void *b) {
    const idpair *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

typedef struct centre {
    double x, y, w;
    size_t old;
} centre;

static int cmp_centre_xy(const void *a, const void *b) {
    const centre *p = a, *q = b;
    if (p->x != q->x) return p->x < q->x ? -1 : 1;
    if (p->y != q->y) return p->y < q->y ? -1 : 1;
    return (p->old > q->old) - (p->old < q->old);
}

static int cmp_centre_weight(const void *a, const void *b) {
    const centre *p = a, *q = b;
    if (p->w != q->w) return p->w > q->w ? -1 : 1;
    return cmp_centre_xy(a, b);
}

/* Base clustering of n points: k-means from the given (or k-means++) centres, then
 * clusters renumbered by centre position. Writes centres (at most k) and assignment;
 * returns the number of clusters. */
static size_t base_cluster(const double *px, const double *py, size_t n, size_t k,
                           const double *warm_x, const double *warm_y, size_t warm_n,
                           double *cx, double *cy, int *assign, uint64_t seed) {
    int max_iter = 100; /* Pol.is base-iters; the tail of Lloyd moves a few points a pass */
    if (n == 0) return 0;
    if (k > n) k = n;
    size_t got;
    if (warm_n > 0 && warm_n >= k) {
        got = warm_n < k ? warm_n : k;
        memcpy(cx, warm_x, got * sizeof *cx);
        memcpy(cy, warm_y, got * sizeof *cy);
        max_iter = 3; /* from the last centres: a few passes; later updates continue */
    } else {
        uint64_t rng = seed;
        got = op_kmeans_seed(px, py, NULL, n, k, cx, cy, &rng);
    }
    size_t nb = op_kmeans(px, py, NULL, n, cx, cy, got, assign, max_iter);
    centre *cs = xmalloc(nb * sizeof *cs);
    for (size_t b = 0; b < nb; b++) cs[b] = (centre){cx[b], cy[b], 0, b};
    qsort(cs, nb, sizeof *cs, cmp_centre_xy);
    int *map = xmalloc(nb * sizeof *map);
    for (size_t b = 0; b < nb; b++) {
        map[cs[b].old] = (int)b;
        cx[b] = cs[b].x;
        cy[b] = cs[b].y;
    }
    for (size_t i = 0; i < n; i++) assign[i] = map[assign[i]];
    free(map);
    free(cs);
    return nb;
}

/* How much better (in mean silhouette) a clustering with more groups must be than the
 * best with fewer before it is chosen. */
#define SIL_MARGIN 0.05

/* Opinion groups over nb weighted base centres: weighted k-means for k = 2..kmax
 * (best of several seeded restarts), k chosen by silhouette. Returns the number of
 * groups; gassign[b] is each base cluster's group. */
static size_t group_cluster(const double *bx, const double *by, const double *bw, size_t nb,
                            int max_k, double min_share, int *gassign, double sil[6]) {
    double total_w = 0;
    for (size_t b = 0; b < nb; b++) total_w += bw[b];
    if (nb < 2) {
        for (size_t b = 0; b < nb; b++) gassign[b] = 0;
        return nb;
    }
    size_t kmax = 2 + nb / 12; /* Pol.is max-k-fn */
    if (kmax > (size_t)max_k) kmax = (size_t)max_k;
    if (kmax > nb) kmax = nb;
    if (kmax < 2) kmax = 2;
    int *cur = xmalloc(nb * sizeof *cur), *best = xmalloc(nb * sizeof *best);
    double cx[8], cy[8];
    double best_sil = -2;
    size_t best_k = 0;
    for (size_t k = 2; k <= kmax && k <= 5; k++) {
        uint64_t rng = 0x67726f757073ULL + k; /* fixed seed per k */
        double best_cost = INFINITY;
        size_t got_k = 0;
        int *kbest = xmalloc(nb * sizeof *kbest);
        for (int rep = 0; rep < 24; rep++) {
            size_t s = op_kmeans_seed(bx, by, bw, nb, k, cx, cy, &rng);
            size_t m = op_kmeans(bx, by, bw, nb, cx, cy, s, cur, 500);
            double cost = op_kmeans_cost(bx, by, bw, nb, cx, cy, cur);
            /* A group must hold at least min_share of the participants: k-means
             * otherwise isolates a handful of outliers as a "group". */
            double gw[8] = {0}, smallest = INFINITY;
            for (size_t b = 0; b < nb; b++) gw[cur[b]] += bw[b];
            for (size_t g = 0; g < m; g++)
                if (gw[g] < smallest) smallest = gw[g];
            if (m == k && smallest >= min_share * total_w && cost < best_cost * (1 - 1e-12)) {
                best_cost = cost;
                got_k = m;
                memcpy(kbest, cur, nb * sizeof *cur);
            }
        }
        if (got_k == k) {
            double s = op_silhouette(bx, by, nb, kbest, k);
            sil[k] = s;
            /* Parsimony: more groups must beat the best fewer-group silhouette by a
             * clear margin (0.05); see docs/engines/opinion.md. */
            if (best_k == 0 || s > best_sil + SIL_MARGIN) {
                best_sil = s;
                best_k = k;
                memcpy(best, kbest, nb * sizeof *best);
            }
        }
        free(kbest);
    }
    if (best_k == 0) { /* fewer than two distinct points: one group */
        for (size_t b = 0; b < nb; b++) gassign[b] = 0;
        free(cur);
        free(best);
        return 1;
    }
    memcpy(gassign, best, nb * sizeof *best);
    free(cur);
    free(best);
    return best_k;
}

opinion_result *opinion_compute(opinion_conv *c, const opinion_opts *opts) {
    opinion_opts o;
    if (opts)
        o = *opts;
    else
        opinion_opts_default(&o);
    opinion_result *R = xcalloc(1, sizeof *R);
    size_t np = c->np, nc = c->nc;

    /* Participants in ascending id. */
    /* The sorted order is kept between computations; it changes only when someone
     * new votes. */
    if (c->sorted_n != np) {
        free(c->sorted);
        c->sorted = xmalloc((np + 1) * sizeof *c->sorted);
        for (size_t i = 0; i < np; i++) c->sorted[i] = (idpair){c->pids[i], i};
        qsort(c->sorted, np, sizeof *c->sorted, cmp_idpair);
        c->sorted_n = np;
    }
    const idpair *pp = c->sorted;
    /* Agrees, disagrees and votes per comment over everyone (one pass). */
    int *ca_ = xcalloc(nc + 1, sizeof *ca_), *cd_ = xcalloc(nc + 1, sizeof *cd_);
    int *cvotes = xcalloc(nc + 1, sizeof *cvotes);
    for (size_t i = 0; i < np; i++)
        for (uint32_t k = 0; k < c->rows[i].len; k++) {
            uint32_t e = c->rows[i].e[k];
            cvotes[e >> 2]++;
            ca_[e >> 2] += (e & 3) == 2;
            cd_[e >> 2] += (e & 3) == 0;
        }
    /* Comments that have votes, in ascending id. */
    idpair *cp = xmalloc((nc + 1) * sizeof *cp);
    size_t ncol = 0;
    for (size_t i = 0; i < nc; i++)
        if (cvotes[i] > 0) cp[ncol++] = (idpair){c->cmts[i].tid, i};
    qsort(cp, ncol, sizeof *cp, cmp_idpair);
    int *colof = xmalloc((nc + 1) * sizeof *colof);
    for (size_t i = 0; i < nc; i++) colof[i] = -1;
    for (size_t j = 0; j < ncol; j++) colof[cp[j].idx] = (int)j;

    R->n_ptpt = np;
    R->n_cmt = ncol;
    R->pid = xmalloc((np + 1) * sizeof *R->pid);
    R->x = xcalloc(np + 1, sizeof *R->x);
    R->y = xcalloc(np + 1, sizeof *R->y);
    R->n_votes = xmalloc((np + 1) * sizeof *R->n_votes);
    R->in_conv = xcalloc(np + 1, sizeof *R->in_conv);
    R->group = xmalloc((np + 1) * sizeof *R->group);
    R->base = xmalloc((np + 1) * sizeof *R->base);
    R->tid = xmalloc((ncol + 1) * sizeof *R->tid);
    R->mod_out = xmalloc((ncol + 1) * sizeof *R->mod_out);
    R->meta = xmalloc((ncol + 1) * sizeof *R->meta);
    R->active = xmalloc((ncol + 1) * sizeof *R->active);
    R->center = xcalloc(ncol + 1, sizeof *R->center);
    for (int k = 0; k < 2; k++) {
        R->comp[k] = xcalloc(ncol + 1, sizeof *R->comp[k]);
        R->cproj[k] = xcalloc(ncol + 1, sizeof *R->cproj[k]);
    }
    R->extremity = xcalloc(ncol + 1, sizeof *R->extremity);
    R->gac = xcalloc(ncol + 1, sizeof *R->gac);
    R->priority = xcalloc(ncol + 1, sizeof *R->priority);

    int *actof = xmalloc((ncol + 1) * sizeof *actof);
    size_t nact = 0;
    for (size_t j = 0; j < ncol; j++) {
        const op_comment *cm = &c->cmts[cp[j].idx];
        R->tid[j] = cm->tid;
        R->mod_out[j] = cm->moderated < 0;
        R->meta[j] = cm->meta;
        R->active[j] = !R->mod_out[j] && !R->meta[j];
    }
    /* PCA columns in comment-index order, the order of every stored row, so each row's
     * sums run in a fixed order whatever order the votes came in. */
    for (size_t i = 0; i < nc; i++) {
        int j = colof[i];
        if (j >= 0) actof[j] = R->active[j] ? (int)nact++ : -1;
    }
    R->n_active = nact;

    /* Who is in the analysis: at least min(7, comments) votes, topped up to 15 with
     * the most active voters (ties to the lower id). */
    size_t thresh = (size_t)o.min_votes < ncol ? (size_t)o.min_votes : ncol;
    size_t nin = 0;
    for (size_t r = 0; r < np; r++) {
        R->pid[r] = pp[r].id;
        R->n_votes[r] = (int)c->rows[pp[r].idx].len;
        R->group[r] = R->base[r] = -1;
        if ((size_t)R->n_votes[r] >= thresh && R->n_votes[r] > 0) {
            R->in_conv[r] = 1;
            nin++;
        }
    }
    while (nin < (size_t)o.greedy_n) {
        size_t best = np;
        for (size_t r = 0; r < np; r++)
            if (!R->in_conv[r] && R->n_votes[r] > 0 && (best == np || R->n_votes[r] > R->n_votes[best]))
                best = r;
        if (best == np) break;
        R->in_conv[best] = 1;
        nin++;
    }
    R->n_in_conv = nin;

    /* Column means over the votes cast (exact: integer counts). */
    double *acenter = xcalloc(nact + 1, sizeof *acenter);
    for (size_t i = 0; i < nc; i++)
        if (colof[i] >= 0 && actof[colof[i]] >= 0)
            acenter[actof[colof[i]]] = (double)(ca_[i] - cd_[i]) / (double)cvotes[i];
    int *aidx = xmalloc((nc + 1) * sizeof *aidx); /* comment index -> PCA column */
    for (size_t i = 0; i < nc; i++) aidx[i] = colof[i] >= 0 ? actof[colof[i]] : -1;
    const op_row **rowp = xmalloc((np + 1) * sizeof *rowp);
    for (size_t r = 0; r < np; r++) rowp[r] = &c->rows[pp[r].idx];
    op_mat X = {np, nact, rowp, nc, aidx, acenter};

    /* PCA, warm-started from the last components when there are any. */
    /* Warm start: the previous components' combination, so both lie in the first
     * Krylov vectors. The tolerance is looser than cold (eigenvector error about
     * 1e-6 of the eigenvalue gap: far below what the map or the groups can show), and
     * at most 4 steps are taken: one vote moves the components very little, and each
     * update refines them further. */
    double *start = NULL, tol = 1e-10;
    int max_steps = 0;
    if (c->warm && c->warm_comp[0]) {
        start = xcalloc(nact + 1, sizeof *start);
        for (size_t j = 0; j < ncol; j++) {
            if (actof[j] < 0) continue;
            size_t ci = cp[j].idx;
            start[actof[j]] = ci < c->warm_nc ? c->warm_comp[0][ci] + 0.5 * c->warm_comp[1][ci] : 1e-3;
        }
        tol = 1e-6;
        max_steps = 4;
    }
    double *ac0 = xcalloc(nact + 1, sizeof *ac0), *ac1 = xcalloc(nact + 1, sizeof *ac1);
    R->n_comps = op_pca(&X, start, tol, max_steps, ac0, ac1, R->eigenvalue, &R->pca_steps);
    free(start);
    for (size_t j = 0; j < ncol; j++) {
        int a = actof[j];
        if (a < 0) continue;
        R->center[j] = acenter[a];
        R->comp[0][j] = ac0[a];
        R->comp[1][j] = ac1[a];
        /* Projection of a lone agree vote (Pol.is pca-project-cmnts; its scale counts
         * every comment with votes). */
        double s = sqrt((double)ncol);
        R->cproj[0][j] = (1 - acenter[a]) * ac0[a] * s;
        R->cproj[1][j] = (1 - acenter[a]) * ac1[a] * s;
        R->extremity[j] = hypot(R->cproj[0][j], R->cproj[1][j]);
    }
    /* Clustering coordinates: the projection pushed out by (comments / votes cast) to
     * the power cluster_push / 2 (1 = Pol.is; see opinion_opts). */
    double *qx = xmalloc((np + 1) * sizeof *qx), *qy = xmalloc((np + 1) * sizeof *qy);
    /* Participant projections, pushed out by sqrt(comments / votes) so sparse voters
     * are not all drawn at the centre (Pol.is sparsity-aware-project-ptpt). The
     * "votes" are Pol.is's: it zeroes the column of every moderated-out or meta
     * comment for every participant (named-matrix zero-out-columns) before
     * projecting, and a zero counts as a vote there, so each participant's count is
     * their votes on active comments plus the number of inactive comments with
     * votes, whoever cast them. "Comments" counts every comment with votes. With
     * this count our coordinates equal Pol.is's base-cluster centres to 1e-10 on the
     * red-dwarf fixtures that have inactive comments (docs/engines/opinion.md). */
    const size_t ninact = ncol - nact;
    /* Tables indexed by the stored entry (comment << 2 | vote + 1): the entry's
     * contribution to each coordinate, zero for comments left out. */
    double *t0 = xcalloc(4 * nc + 1, sizeof *t0), *t1 = xcalloc(4 * nc + 1, sizeof *t1);
    for (size_t i = 0; i < nc; i++) {
        int a = aidx[i];
        if (a < 0) continue;
        for (int v = 0; v < 3; v++) {
            t0[4 * i + (size_t)v] = ((double)v - 1 - acenter[a]) * ac0[a];
            t1[4 * i + (size_t)v] = ((double)v - 1 - acenter[a]) * ac1[a];
        }
    }
    for (size_t r = 0; r < np; r++) {
        double p0 = 0, p1 = 0;
        const op_row *row = rowp[r];
        for (uint32_t k = 0; k < row->len; k++) {
            p0 += t0[row->e[k]];
            p1 += t1[row->e[k]];
        }
        size_t nv = ninact;
        for (uint32_t k = 0; k < row->len; k++) nv += aidx[row->e[k] >> 2] >= 0;
        double s = sqrt((double)ncol / (double)(nv > 0 ? nv : 1));
        R->x[r] = p0 * s;
        R->y[r] = p1 * s;
        double sc = o.cluster_push == 1 ? s : pow(s, o.cluster_push);
        qx[r] = p0 * sc;
        qy[r] = p1 * sc;
    }
    free(t0);
    free(t1);

    /* Base clusters and opinion groups. */
    size_t *members = xmalloc((np + 1) * sizeof *members); /* row indexes */
    double *px = xmalloc((np + 1) * sizeof *px), *py = xmalloc((np + 1) * sizeof *py);
    int *asg = xmalloc((np + 1) * sizeof *asg);
    size_t kcap = (size_t)(o.base_k > 0 ? o.base_k : 1) + 64;
    double *bx = NULL, *by = NULL, *bw = NULL;
    int *bgroup = NULL;      /* base cluster -> group index */
    size_t nb = 0, ng = 0;
    int *gid = NULL;         /* group index -> id */
    if (c->nfixed > 0) {
        /* Fixed groups: ids as given, base clusters found inside each group. */
        R->groups_fixed = 1;
        idpair *gp = xmalloc((np + 1) * sizeof *gp);
        size_t nf = 0;
        for (size_t r = 0; r < np; r++)
            if (c->fixed[pp[r].idx] >= 0) gp[nf++] = (idpair){c->fixed[pp[r].idx], r};
        qsort(gp, nf, sizeof *gp, cmp_idpair);
        /* qsort is not stable: restore row (participant id) order within each group. */
        for (size_t i = 0; i < nf;) {
            size_t j = i;
            while (j < nf && gp[j].id == gp[i].id) j++;
            for (size_t a = i + 1; a < j; a++) { /* insertion sort by row */
                idpair t = gp[a];
                size_t b = a;
                while (b > i && gp[b - 1].idx > t.idx) {
                    gp[b] = gp[b - 1];
                    b--;
                }
                gp[b] = t;
            }
            i = j;
        }
        gid = xmalloc((nf + 1) * sizeof *gid);
        bx = xmalloc((kcap + nf) * sizeof *bx);
        by = xmalloc((kcap + nf) * sizeof *by);
        bw = xmalloc((kcap + nf) * sizeof *bw);
        bgroup = xmalloc((kcap + nf) * sizeof *bgroup);
        for (size_t i = 0; i < nf;) {
            size_t j = i;
            while (j < nf && gp[j].id == gp[i].id) j++;
            size_t n = j - i;
            for (size_t a = 0; a < n; a++) {
                px[a] = qx[gp[i + a].idx];
                py[a] = qy[gp[i + a].idx];
            }
            size_t k = (size_t)lround((double)o.base_k * (double)n / (double)nf);
            if (k < 1) k = 1;
            size_t m = base_cluster(px, py, n, k, NULL, NULL, 0, bx + nb, by + nb, asg,
                                    0x62617365ULL + (uint64_t)gp[i].id);
            for (size_t b = 0; b < m; b++) {
                bw[nb + b] = 0;
                bgroup[nb + b] = (int)ng;
            }
            for (size_t a = 0; a < n; a++) {
                size_t r = gp[i + a].idx;
                R->base[r] = (int)nb + asg[a];
                R->group[r] = (int)ng;
                bw[nb + asg[a]] += 1;
            }
            gid[ng++] = (int)gp[i].id;
            nb += m;
            i = j;
        }
        free(gp);
    } else {
        size_t n = 0;
        for (size_t r = 0; r < np; r++)
            if (R->in_conv[r]) {
                members[n] = r;
                px[n] = qx[r];
                py[n] = qy[r];
                n++;
            }
        size_t k = (size_t)(o.base_k > 0 ? o.base_k : 1);
        bx = xmalloc((kcap + 1) * sizeof *bx);
        by = xmalloc((kcap + 1) * sizeof *by);
        bw = xcalloc(kcap + 1, sizeof *bw);
        bgroup = xmalloc((kcap + 1) * sizeof *bgroup);
        size_t want = k < n ? k : n;
        size_t wn = c->warm && c->warm_nbase >= want && c->warm_nbase <= kcap ? c->warm_nbase : 0;
        nb = base_cluster(px, py, n, k, c->warm_bx, c->warm_by, wn, bx, by, asg, 0x62617365ULL);
        for (size_t a = 0; a < n; a++) {
            R->base[members[a]] = asg[a];
            bw[asg[a]] += 1;
        }
        ng = group_cluster(bx, by, bw, nb, o.max_k, o.min_group_share, bgroup, R->silhouette);
        /* Group indexes by size, largest first. */
        centre *gs = xcalloc(ng + 1, sizeof *gs);
        for (size_t g = 0; g < ng; g++) gs[g].old = g;
        for (size_t b = 0; b < nb; b++) {
            gs[bgroup[b]].w += bw[b];
            gs[bgroup[b]].x += bw[b] * bx[b];
            gs[bgroup[b]].y += bw[b] * by[b];
        }
        int *gmap = xmalloc((ng + 1) * sizeof *gmap);
        qsort(gs, ng, sizeof *gs, cmp_centre_weight);
        for (size_t g = 0; g < ng; g++) gmap[gs[g].old] = (int)g;
        for (size_t b = 0; b < nb; b++) bgroup[b] = gmap[bgroup[b]];
        free(gmap);
        free(gs);
        gid = xmalloc((ng + 1) * sizeof *gid);
        for (size_t g = 0; g < ng; g++) gid[g] = (int)g;
        for (size_t a = 0; a < n; a++) R->group[members[a]] = bgroup[asg[a]];
        /* Remember the base centres for the next computation. */
        free(c->warm_bx);
        free(c->warm_by);
        c->warm_bx = xmalloc((nb + 1) * sizeof *c->warm_bx);
        c->warm_by = xmalloc((nb + 1) * sizeof *c->warm_by);
        memcpy(c->warm_bx, bx, nb * sizeof *bx);
        memcpy(c->warm_by, by, nb * sizeof *by);
        c->warm_nbase = nb;
    }

    /* Report base centres as the mean of their members' map positions (clustering may
     * have used damped coordinates). */
    if (o.cluster_push != 1) {
        double *sx = xcalloc(nb + 1, sizeof *sx), *sy = xcalloc(nb + 1, sizeof *sy);
        for (size_t r = 0; r < np; r++)
            if (R->base[r] >= 0) {
                sx[R->base[r]] += R->x[r];
                sy[R->base[r]] += R->y[r];
            }
        for (size_t b = 0; b < nb; b++)
            if (bw[b] > 0) {
                bx[b] = sx[b] / bw[b];
                by[b] = sy[b] / bw[b];
            }
        free(sx);
        free(sy);
    }
    /* Base clusters into the result. */
    R->n_base = nb;
    R->base_x = xmalloc((nb + 1) * sizeof *R->base_x);
    R->base_y = xmalloc((nb + 1) * sizeof *R->base_y);
    R->base_off = xcalloc(nb + 2, sizeof *R->base_off);
    memcpy(R->base_x, bx, nb * sizeof *bx);
    memcpy(R->base_y, by, nb * sizeof *by);
    for (size_t r = 0; r < np; r++)
        if (R->base[r] >= 0) R->base_off[R->base[r] + 1]++;
    for (size_t b = 0; b < nb; b++) R->base_off[b + 1] += R->base_off[b];
    R->base_member = xmalloc((R->base_off[nb] + 1) * sizeof *R->base_member);
    {
        size_t *fill = xmalloc((nb + 1) * sizeof *fill);
        memcpy(fill, R->base_off, nb * sizeof *fill);
        for (size_t r = 0; r < np; r++)
            if (R->base[r] >= 0) R->base_member[fill[R->base[r]]++] = R->pid[r];
        free(fill);
    }

    /* Vote counts per group and over everyone (all comments, as Pol.is's group-votes). */
    R->n_groups = ng;
    R->votes_a = xcalloc(ng * ncol + 1, sizeof(int));
    R->votes_d = xcalloc(ng * ncol + 1, sizeof(int));
    R->votes_s = xcalloc(ng * ncol + 1, sizeof(int));
    int *ta = xcalloc(ncol + 1, sizeof(int)), *td = xcalloc(ncol + 1, sizeof(int));
    int *ts = xcalloc(ncol + 1, sizeof(int));
    int *ga = xcalloc(ncol + 1, sizeof(int)), *gd = xcalloc(ncol + 1, sizeof(int));
    int *gs_ = xcalloc(ncol + 1, sizeof(int));
    for (size_t i = 0; i < nc; i++)
        if (colof[i] >= 0) {
            ta[colof[i]] = ca_[i];
            td[colof[i]] = cd_[i];
            ts[colof[i]] = cvotes[i];
        }
    /* Per group, count each stored entry value (comment, vote) in one increment a
     * vote, then read agrees, disagrees and votes off the counts. */
    int *ecount = xcalloc(ng * 4 * nc + 1, sizeof *ecount);
    for (size_t r = 0; r < np; r++) {
        int g = R->group[r];
        if (g < 0) continue;
        const op_row *row = &c->rows[pp[r].idx];
        int *eg = ecount + (size_t)g * 4 * nc;
        for (uint32_t k = 0; k < row->len; k++) eg[row->e[k]]++;
    }
    for (size_t g = 0; g < ng; g++)
        for (size_t i = 0; i < nc; i++) {
            int j = colof[i];
            if (j < 0) continue;
            const int *e = ecount + (g * nc + i) * 4;
            size_t at2 = g * ncol + (size_t)j;
            R->votes_a[at2] = e[2];
            R->votes_d[at2] = e[0];
            R->votes_s[at2] = e[0] + e[1] + e[2];
            ga[j] += e[2];
            gd[j] += e[0];
            gs_[j] += e[0] + e[1] + e[2];
        }
    free(ecount);

    /* Groups, representative comments. */
    R->groups = xcalloc(ng + 1, sizeof *R->groups);
    int *ra = xmalloc((ncol + 1) * sizeof(int)), *rd = xmalloc((ncol + 1) * sizeof(int));
    int *rs = xmalloc((ncol + 1) * sizeof(int));
    for (size_t g = 0; g < ng; g++) {
        opinion_group *G = &R->groups[g];
        G->id = gid[g];
        for (size_t r = 0; r < np; r++) G->n_members += R->group[r] == (int)g;
        G->members = xmalloc((G->n_members + 1) * sizeof *G->members);
        size_t m = 0;
        double wx = 0, wy = 0;
        for (size_t r = 0; r < np; r++)
            if (R->group[r] == (int)g) G->members[m++] = R->pid[r];
        for (size_t b = 0; b < nb; b++) G->n_base += bgroup[b] == (int)g;
        G->base_ids = xmalloc((G->n_base + 1) * sizeof *G->base_ids);
        m = 0;
        double tw = 0;
        for (size_t b = 0; b < nb; b++)
            if (bgroup[b] == (int)g) {
                G->base_ids[m++] = (int)b;
                wx += bw[b] * bx[b];
                wy += bw[b] * by[b];
                tw += bw[b];
            }
        G->center[0] = tw > 0 ? wx / tw : 0;
        G->center[1] = tw > 0 ? wy / tw : 0;
        const int *na = R->votes_a + g * ncol, *nd = R->votes_d + g * ncol;
        const int *ns = R->votes_s + g * ncol;
        for (size_t j = 0; j < ncol; j++) {
            ra[j] = ga[j] - na[j];
            rd[j] = gd[j] - nd[j];
            rs[j] = gs_[j] - ns[j];
        }
        G->n_reps = op_repness(ncol, R->tid, R->active, na, nd, ns, ra, rd, rs, G->reps);
    }
    op_consensus(ncol, R->tid, R->active, ta, td, ts, R->cons_agree, &R->n_cons_agree,
                 R->cons_disagree, &R->n_cons_disagree);

    /* Group-aware consensus and comment priorities (Pol.is conversation.clj). Pol.is
     * computes priorities from the previous update's group votes ((:group-votes conv)
     * in :comment-priorities, the conversation before this update), with the current
     * extremities; so do we when there was a previous computation (a comment new since
     * then has no counts: 0, 0, 0, as in Pol.is). A cold computation has no previous
     * update; it takes its own counts, which is what Pol.is's next update would use
     * when no votes arrive in between (docs/engines/opinion.md). */
    const int *pa_ = ga, *pd_ = gd, *ps_ = gs_;
    int *hist = NULL;
    if (c->prev_a) {
        hist = xcalloc(3 * ncol + 1, sizeof *hist);
        for (size_t j = 0; j < ncol; j++) {
            size_t ci = cp[j].idx;
            if (ci >= c->prev_nc) continue;
            hist[j] = c->prev_a[ci];
            hist[ncol + j] = c->prev_d[ci];
            hist[2 * ncol + j] = c->prev_s[ci];
        }
        pa_ = hist;
        pd_ = hist + ncol;
        ps_ = hist + 2 * ncol;
    }
    for (size_t j = 0; j < ncol; j++) {
        double prod = ng > 0 ? 1 : 0;
        for (size_t g = 0; g < ng; g++)
            prod *= (R->votes_a[g * ncol + j] + 1.0) / (R->votes_s[g * ncol + j] + 2.0);
        R->gac[j] = prod;
        if (R->meta[j]) {
            R->priority[j] = 49; /* meta-priority 7, squared */
            continue;
        }
        double A = pa_[j], S = ps_[j], P = S - pa_[j] - pd_[j];
        double imp = (1 - (P + 1) / (S + 2)) * (R->extremity[j] + 1) * ((A + 1) / (S + 2));
        double pr = imp * (1 + 8 * pow(2, S / -5));
        R->priority[j] = pr * pr;
    }
    free(hist);
    /* This computation's counts, by comment index, for the next one's priorities. */
    free(c->prev_a);
    free(c->prev_d);
    free(c->prev_s);
    c->prev_a = xcalloc(nc + 1, sizeof *c->prev_a);
    c->prev_d = xcalloc(nc + 1, sizeof *c->prev_d);
    c->prev_s = xcalloc(nc + 1, sizeof *c->prev_s);
    for (size_t j = 0; j < ncol; j++) {
        c->prev_a[cp[j].idx] = ga[j];
        c->prev_d[cp[j].idx] = gd[j];
        c->prev_s[cp[j].idx] = gs_[j];
    }
    c->prev_nc = nc;

    /* Keep the components for the next computation's warm start. */
    free(c->warm_comp[0]);
    free(c->warm_comp[1]);
    c->warm_comp[0] = xcalloc(nc + 1, sizeof(double));
    c->warm_comp[1] = xcalloc(nc + 1, sizeof(double));
    for (size_t j = 0; j < ncol; j++) {
        c->warm_comp[0][cp[j].idx] = R->comp[0][j];
        c->warm_comp[1][cp[j].idx] = R->comp[1][j];
    }
    c->warm_nc = nc;
    c->warm = 1;

    free(cvotes);
    free(ca_);
    free(cd_);
    free(cp);
    free(colof);
    free(actof);
    free(acenter);
    free(aidx);
    free(rowp);
    free(ac0);
    free(ac1);
    free(members);
    free(qx);
    free(qy);
    free(px);
    free(py);
    free(asg);
    free(bx);
    free(by);
    free(bw);
    free(bgroup);
    free(gid);
    free(ta);
    free(td);
    free(ts);
    free(ga);
    free(gd);
    free(gs_);
    free(ra);
    free(rd);
    free(rs);
    return R;
}

void opinion_result_free(opinion_result *R) {
    if (!R) return;
    free(R->pid);
    free(R->x);
    free(R->y);
    free(R->n_votes);
    free(R->in_conv);
    free(R->group);
    free(R->base);
    free(R->tid);
    free(R->mod_out);
    free(R->meta);
    free(R->active);
    free(R->center);
    for (int k = 0; k < 2; k++) {
        free(R->comp[k]);
        free(R->cproj[k]);
    }
    free(R->extremity);
    free(R->gac);
    free(R->priority);
    free(R->votes_a);
    free(R->votes_d);
    free(R->votes_s);
    free(R->base_x);
    free(R->base_y);
    free(R->base_off);
    free(R->base_member);
    for (size_t g = 0; g < R->n_groups; g++) {
        free(R->groups[g].members);
        free(R->groups[g].base_ids);
    }
    free(R->groups);
    free(R);
}
