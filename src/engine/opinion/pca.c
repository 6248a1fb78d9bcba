/*
 * opinion/pca: the two principal components of the centred vote matrix.
 *
 * Pol.is finds them by power iteration on X^T X with deflation, 100 steps from a
 * random start. We compute the same fixed point (the top two eigenvectors of X^T X)
 * with Lanczos iteration, the Krylov-subspace form of power iteration: the same
 * matrix-vector products, but it extracts the best vectors from all the iterates
 * instead of the last, so it converges in tens of steps where power iteration can
 * need thousands when the top eigenvalues are close. Each product X^T (X q) is two
 * passes over the stored votes, since a missing vote filled by the comment's mean is
 * exactly zero once centred: cost proportional to votes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "engine/opinion/internal.h"

uint64_t op_mix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double op_unit(uint64_t *state) { return (double)(op_mix64(state) >> 11) * 0x1.0p-53; }

void op_jacobi_eig(double *a, size_t n, double *w, double *v) {
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) v[i * n + j] = i == j;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, diag = 0;
        for (size_t i = 0; i < n; i++) {
            diag += a[i * n + i] * a[i * n + i];
            for (size_t j = i + 1; j < n; j++) off += a[i * n + j] * a[i * n + j];
        }
        if (off <= 1e-30 * diag || off == 0) break;
        for (size_t p = 0; p < n; p++) {
            for (size_t q = p + 1; q < n; q++) {
                double apq = a[p * n + q];
                if (apq == 0) continue;
                double app = a[p * n + p], aqq = a[q * n + q];
                double theta = (aqq - app) / (2 * apq);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1));
                double cs = 1 / sqrt(t * t + 1), sn = t * cs;
                for (size_t k = 0; k < n; k++) { /* columns p, q */
                    double akp = a[k * n + p], akq = a[k * n + q];
                    a[k * n + p] = cs * akp - sn * akq;
                    a[k * n + q] = sn * akp + cs * akq;
                }
                for (size_t k = 0; k < n; k++) { /* rows p, q */
                    double apk = a[p * n + k], aqk = a[q * n + k];
                    a[p * n + k] = cs * apk - sn * aqk;
                    a[q * n + k] = sn * apk + cs * aqk;
                }
                for (size_t k = 0; k < n; k++) {
                    double vkp = v[k * n + p], vkq = v[k * n + q];
                    v[k * n + p] = cs * vkp - sn * vkq;
                    v[k * n + q] = sn * vkp + cs * vkq;
                }
            }
        }
    }
    /* Sort descending (selection sort: n is small), permuting eigenvector columns. */
    for (size_t i = 0; i < n; i++) w[i] = a[i * n + i];
    for (size_t i = 0; i < n; i++) {
        size_t best = i;
        for (size_t j = i + 1; j < n; j++)
            if (w[j] > w[best]) best = j;
        if (best != i) {
            double t = w[i];
            w[i] = w[best];
            w[best] = t;
            for (size_t k = 0; k < n; k++) {
                t = v[k * n + i];
                v[k * n + i] = v[k * n + best];
                v[k * n + best] = t;
            }
        }
    }
}

/* out = X^T X q = sum over rows r of x_r (x_r . q), in one pass over the stored votes.
 * A stored entry e = (comment << 2) | (vote + 1) indexes a table directly:
 * t[e] = (vote - c_comment) q_comment, so x_r . q is a sum of table lookups; and
 * instead of scattering x_r s into out, the pass adds s to acc[e], from which out is
 * assembled per comment afterwards. Comments left out have zeros in the table. */
static void gram_times(const op_mat *X, const double *q, double *out, double *t, double *acc) {
    static const double val[4] = {-1, 0, 1, 0};
    size_t n4 = 4 * X->nci;
    for (size_t i = 0; i < X->nci; i++) {
        int a = X->aidx[i];
        for (int v = 0; v < 4; v++) t[4 * i + v] = a >= 0 && v < 3 ? (val[v] - X->center[a]) * q[a] : 0;
    }
    memset(acc, 0, n4 * sizeof *acc);
    for (size_t r = 0; r < X->nrows; r++) {
        const uint32_t *e = X->rows[r]->e;
        uint32_t len = X->rows[r]->len;
        double s = 0;
        for (uint32_t k = 0; k < len; k++) s += t[e[k]];
        if (s == 0) continue;
        for (uint32_t k = 0; k < len; k++) acc[e[k]] += s;
    }
    for (size_t i = 0; i < X->nci; i++) {
        int a = X->aidx[i];
        if (a < 0) continue;
        double c = X->center[a];
        out[a] = (-1 - c) * acc[4 * i] + (0 - c) * acc[4 * i + 1] + (1 - c) * acc[4 * i + 2];
    }
}

static double dot(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Removes from w its components along the first m rows of Q (twice, which keeps the
 * basis orthogonal to working precision). */
static void reorthogonalise(double *w, const double *Q, size_t m, size_t n) {
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < m; i++) {
            double h = dot(Q + i * n, w, n);
            for (size_t k = 0; k < n; k++) w[k] -= h * Q[i * n + k];
        }
}

static void fix_sign(double *v, size_t n) {
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (fabs(v[i]) > fabs(v[best]) * (1 + 1e-12)) best = i;
    if (v[best] < 0)
        for (size_t i = 0; i < n; i++) v[i] = -v[i];
}

int op_pca(const op_mat *X, const double *start, double tol_rel, int max_steps, double *comp0,
           double *comp1, double eig[2], int *steps) {
    size_t n = X->ncols;
    memset(comp0, 0, n * sizeof *comp0);
    memset(comp1, 0, n * sizeof *comp1);
    eig[0] = eig[1] = 0;
    *steps = 0;
    if (n == 0 || X->nrows == 0) return 0;
    size_t mmax = n < 300 ? n : 300;
    if (max_steps >= 2 && (size_t)max_steps < mmax) mmax = (size_t)max_steps;
    double *Q = xmalloc(mmax * n * sizeof *Q);
    double *alpha = xcalloc(mmax, sizeof *alpha), *beta = xcalloc(mmax, sizeof *beta);
    double *w = xmalloc(n * sizeof *w);
    double *tab = xmalloc((4 * X->nci + 1) * sizeof *tab), *acc = xmalloc((4 * X->nci + 1) * sizeof *acc);
    double *T = xmalloc(mmax * mmax * sizeof *T), *V = xmalloc(mmax * mmax * sizeof *V);
    double *ev = xmalloc(mmax * sizeof *ev);
    uint64_t rng = 0x6f70696e696f6eULL; /* fixed seed: the result is a function of the votes */

    double nrm = 0;
    if (start) {
        memcpy(Q, start, n * sizeof *Q);
        nrm = sqrt(dot(Q, Q, n));
    }
    if (!(nrm > 0)) {
        for (size_t i = 0; i < n; i++) Q[i] = 1 + 0.5 * (op_unit(&rng) - 0.5);
        nrm = sqrt(dot(Q, Q, n));
    }
    for (size_t i = 0; i < n; i++) Q[i] /= nrm;

    size_t m = 0; /* basis vectors in Q */
    int ncomp = 0;
    double scale = 0;
    for (size_t j = 0; j < mmax; j++) {
        double *q = Q + j * n;
        gram_times(X, q, w, tab, acc);
        alpha[j] = dot(q, w, n);
        m = j + 1;
        reorthogonalise(w, Q, m, n);
        beta[j] = sqrt(dot(w, w, n));
        if (fabs(alpha[j]) > scale) scale = fabs(alpha[j]);
        /* Check convergence of the top two Ritz pairs every few steps. */
        int check = m >= 2 && (m < 30 || m % 3 == 0 || m == mmax || beta[j] <= 1e-12 * scale);
        if (check) {
            memset(T, 0, m * m * sizeof *T);
            for (size_t i = 0; i < m; i++) {
                T[i * m + i] = alpha[i];
                if (i + 1 < m) T[i * m + i + 1] = T[(i + 1) * m + i] = beta[i];
            }
            op_jacobi_eig(T, m, ev, V);
            double tol = tol_rel * (ev[0] > 0 ? ev[0] : 1);
            int conv = 1;
            for (size_t k = 0; k < 2 && k < m; k++)
                if (fabs(beta[j] * V[(m - 1) * m + k]) > tol) conv = 0;
            if (conv || m == mmax) break;
        }
        if (m == mmax) break;
        if (beta[j] <= 1e-12 * (scale > 0 ? scale : 1)) {
            /* Invariant subspace: continue from a fresh direction orthogonal to it. */
            for (size_t i = 0; i < n; i++) w[i] = op_unit(&rng) - 0.5;
            reorthogonalise(w, Q, m, n);
            double wn = sqrt(dot(w, w, n));
            if (wn < 1e-8) break; /* the space is exhausted */
            beta[j] = 0;
            for (size_t i = 0; i < n; i++) Q[m * n + i] = w[i] / wn;
        } else {
            for (size_t i = 0; i < n; i++) Q[m * n + i] = w[i] / beta[j];
        }
    }
    /* Final Ritz vectors from the m-dimensional basis. */
    memset(T, 0, m * m * sizeof *T);
    for (size_t i = 0; i < m; i++) {
        T[i * m + i] = alpha[i];
        if (i + 1 < m) T[i * m + i + 1] = T[(i + 1) * m + i] = beta[i];
    }
    op_jacobi_eig(T, m, ev, V);
    double *out[2] = {comp0, comp1};
    for (size_t k = 0; k < 2 && k < m; k++) {
        for (size_t i = 0; i < m; i++) {
            double c = V[i * m + k];
            for (size_t t = 0; t < n; t++) out[k][t] += c * Q[i * n + t];
        }
        double on = sqrt(dot(out[k], out[k], n));
        if (on > 0)
            for (size_t t = 0; t < n; t++) out[k][t] /= on;
        fix_sign(out[k], n);
        eig[k] = ev[k];
        ncomp++;
    }
    *steps = (int)m;
    free(Q);
    free(alpha);
    free(beta);
    free(w);
    free(tab);
    free(acc);
    free(T);
    free(V);
    free(ev);
    return ncomp;
}
