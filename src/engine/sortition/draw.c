/*
 * draw: what happens after the distribution is known — statistics of the
 * probabilities, the seeded generator, drawing one panel, rounding to m equally likely
 * panels for a public lottery, and checking a panel against the quotas.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "engine/sortition/sortition.h"

static int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void sortition_compute_stats(const double *v, size_t n, sortition_stats *out) {
    memset(out, 0, sizeof *out);
    if (n == 0) return;
    double *s = xcalloc(n, sizeof(double));
    memcpy(s, v, n * sizeof(double));
    qsort(s, n, sizeof(double), cmp_dbl);
    out->min = s[0];
    out->max = s[n - 1];
    out->median = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    /* Gini = sum_i sum_j |v_i - v_j| / (2 n^2 mean); on sorted values the double sum
     * is sum_i (2i - n + 1) s_i (0-based). */
    double sum = 0, acc = 0, logs = 0;
    int zero = 0;
    for (size_t i = 0; i < n; i++) {
        sum += s[i];
        acc += (2.0 * (double)i - (double)n + 1.0) * s[i];
        if (s[i] <= 0) zero = 1;
        else logs += log(s[i]);
    }
    out->gini = sum > 0 ? acc / ((double)n * sum) : 0;
    out->geometric_mean = zero ? 0 : exp(logs / (double)n);
    free(s);
}

uint64_t sortition_rng_next(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

double sortition_rng_uniform(uint64_t *state) { return (double)(sortition_rng_next(state) >> 11) * 0x1.0p-53; }

int sortition_draw(const sortition_result *r, uint64_t seed, size_t *panel_index, double *u_out) {
    if (r->npanels == 0) return SORTITION_EINPUT;
    uint64_t st = seed;
    double u = sortition_rng_uniform(&st);
    double acc = 0;
    size_t j = 0;
    for (; j + 1 < r->npanels; j++) {
        acc += r->panel_prob[j];
        if (u < acc) break;
    }
    *panel_index = j;
    if (u_out) *u_out = u;
    return SORTITION_OK;
}

int sortition_round(const sortition_result *r, size_t m, sortition_lottery *out) {
    memset(out, 0, sizeof *out);
    if (r->ncolumns == 0 || m == 0) return SORTITION_EINPUT;
    size_t nc = r->ncolumns, n = r->n;
    int k = r->k;
    size_t T = 0;
    for (size_t i = 0; i < n; i++)
        if ((size_t)r->type_of[i] + 1 > T) T = (size_t)r->type_of[i] + 1;
    /* Largest remainders: floor(m p_j) copies each, then one more for the largest
     * fractional parts until there are m. */
    size_t *copies = xcalloc(nc, sizeof(size_t));
    double *frac = xcalloc(nc, sizeof(double));
    size_t total = 0;
    for (size_t j = 0; j < nc; j++) {
        double e = r->column_prob[j] * (double)m;
        copies[j] = (size_t)floor(e);
        frac[j] = e - floor(e);
        total += copies[j];
    }
    while (total < m) {
        size_t best = 0;
        for (size_t j = 1; j < nc; j++)
            if (frac[j] > frac[best]) best = j;
        copies[best]++;
        frac[best] = -1;
        total++;
    }
    while (total > m) { /* rounding noise only */
        size_t best = nc;
        for (size_t j = 0; j < nc; j++)
            if (copies[j] && (best == nc || frac[j] < frac[best])) best = j;
        copies[best]--;
        frac[best] = 2;
        total--;
    }
    /* People of each type in index order; each lottery panel takes the next c of
     * them cyclically. */
    int *tstart = xcalloc(T + 1, sizeof(int));
    int *members = xcalloc(n, sizeof(int));
    int *size = xcalloc(T, sizeof(int));
    for (size_t i = 0; i < n; i++) size[r->type_of[i]]++;
    for (size_t t = 0; t < T; t++) tstart[t + 1] = tstart[t] + size[t];
    int *fill = xcalloc(T, sizeof(int));
    for (size_t i = 0; i < n; i++) {
        int t = r->type_of[i];
        members[tstart[t] + fill[t]++] = (int)i;
    }
    long *ptr = xcalloc(T, sizeof(long));
    out->m = m;
    out->k = k;
    out->panel = xcalloc(m * (size_t)k, sizeof(int));
    out->source = xcalloc(m, sizeof(size_t));
    size_t q = 0;
    for (size_t j = 0; j < nc; j++) {
        for (size_t c = 0; c < copies[j]; c++, q++) {
            int *p = out->panel + q * (size_t)k;
            int filled = 0;
            for (size_t t = 0; t < T; t++) {
                int cnt = r->column_count[j * T + t];
                for (int a = 0; a < cnt && filled < k; a++) {
                    p[filled++] = members[tstart[t] + (int)((ptr[t] + a) % size[t])];
                }
                ptr[t] = (ptr[t] + cnt) % size[t];
            }
            for (int a1 = 1; a1 < filled; a1++) {
                int v = p[a1], b1 = a1 - 1;
                while (b1 >= 0 && p[b1] > v) p[b1 + 1] = p[b1], b1--;
                p[b1 + 1] = v;
            }
            out->source[q] = j;
        }
    }
    size_t *times = xcalloc(n, sizeof(size_t));
    for (size_t a = 0; a < m * (size_t)k; a++) times[out->panel[a]]++;
    double dev = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)times[i] / (double)m - r->probability[i]);
        if (d > dev) dev = d;
    }
    out->max_deviation = dev;
    free(times);
    free(copies);
    free(frac);
    free(tstart);
    free(members);
    free(size);
    free(fill);
    free(ptr);
    return SORTITION_OK;
}

void sortition_lottery_free(sortition_lottery *l) {
    free(l->panel);
    free(l->source);
    memset(l, 0, sizeof *l);
}

int sortition_panel_valid(const sortition_instance *inst, const int *members) {
    int *fc = xcalloc(inst->nfeat + 1, sizeof(int));
    int *hu = xcalloc(inst->nhouseholds + 1, sizeof(int));
    unsigned char *seen = xcalloc(inst->n, 1);
    int ok = 1;
    for (int a = 0; a < inst->k && ok; a++) {
        int i = members[a];
        if (i < 0 || (size_t)i >= inst->n || seen[i]) {
            ok = 0;
            break;
        }
        seen[i] = 1;
        for (size_t c = 0; c < inst->ncat; c++) fc[inst->person_feat[(size_t)i * inst->ncat + c]]++;
        if (inst->household[i] >= 0 && ++hu[inst->household[i]] > 1) ok = 0;
    }
    for (size_t f = 0; f < inst->nfeat && ok; f++)
        if (fc[f] < inst->feat_min[f] || fc[f] > inst->feat_max[f]) ok = 0;
    free(fc);
    free(hu);
    free(seen);
    return ok;
}
