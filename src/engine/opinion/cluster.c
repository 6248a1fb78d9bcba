/*
 * opinion/cluster: k-means on points of the opinion map, the silhouette used to choose
 * the number of groups, and the adjusted Rand index used to compare groupings.
 *
 * Pol.is seeds k-means with the first k distinct points (or the last clustering) and
 * stops after 20 passes; we seed with k-means++ from a fixed seed (Arthur &
 * Vassilvitskii 2007), keep several restarts for the small group step, and iterate
 * to convergence, so the result depends on the votes alone.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "engine/opinion/internal.h"

size_t op_kmeans_seed(const double *px, const double *py, const double *w, size_t n, size_t k,
                      double *cx, double *cy, uint64_t *rng) {
    if (n == 0 || k == 0) return 0;
    double *d2 = xmalloc(n * sizeof *d2);
    /* First centre: drawn in proportion to weight. */
    double tw = 0;
    for (size_t i = 0; i < n; i++) tw += w ? w[i] : 1;
    double r = op_unit(rng) * tw;
    size_t first = n - 1;
    for (size_t i = 0; i < n; i++) {
        r -= w ? w[i] : 1;
        if (r < 0) {
            first = i;
            break;
        }
    }
    cx[0] = px[first];
    cy[0] = py[first];
    size_t got = 1;
    for (size_t i = 0; i < n; i++) {
        double dx = px[i] - cx[0], dy = py[i] - cy[0];
        d2[i] = dx * dx + dy * dy;
    }
    while (got < k) {
        double tot = 0;
        for (size_t i = 0; i < n; i++) tot += (w ? w[i] : 1) * d2[i];
        if (!(tot > 0)) break; /* every point sits on a centre */
        r = op_unit(rng) * tot;
        size_t pick = n;
        for (size_t i = 0; i < n; i++) {
            double p = (w ? w[i] : 1) * d2[i];
            if (p <= 0) continue;
            pick = i;
            r -= p;
            if (r < 0) break;
        }
        cx[got] = px[pick];
        cy[got] = py[pick];
        for (size_t i = 0; i < n; i++) {
            double dx = px[i] - cx[got], dy = py[i] - cy[got];
            double d = dx * dx + dy * dy;
            if (d < d2[i]) d2[i] = d;
        }
        got++;
    }
    free(d2);
    return got;
}

/* Centres sorted by x, so a nearest-centre search can stop once the x distance alone
 * exceeds the best distance found (exact: same answer as trying every centre, ties
 * to the lowest index). */
typedef struct xsorted {
    double x;
    int idx;
} xsorted;

static int cmp_xsorted(const void *a, const void *b) {
    const xsorted *p = a, *q = b;
    if (p->x != q->x) return p->x < q->x ? -1 : 1;
    return p->idx - q->idx;
}

static int nearest(double x, double y, const double *cx, const double *cy, const xsorted *xs, size_t k,
                   int hint) {
    int best = hint >= 0 ? hint : xs[0].idx;
    double dx0 = x - cx[best], dy0 = y - cy[best], bd = dx0 * dx0 + dy0 * dy0;
    size_t lo = 0, hi = k; /* first centre with xs.x >= x */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (xs[mid].x < x) lo = mid + 1;
        else hi = mid;
    }
    for (size_t j = lo; j < k; j++) { /* rightwards */
        double dx = xs[j].x - x;
        if (dx * dx > bd) break;
        int c = xs[j].idx;
        double dy = y - cy[c], d = dx * dx + dy * dy;
        if (d < bd || (d == bd && c < best)) {
            bd = d;
            best = c;
        }
    }
    for (size_t j = lo; j-- > 0;) { /* leftwards */
        double dx = x - xs[j].x;
        if (dx * dx > bd) break;
        int c = xs[j].idx;
        double dy = y - cy[c], d = dx * dx + dy * dy;
        if (d < bd || (d == bd && c < best)) {
            bd = d;
            best = c;
        }
    }
    return best;
}

size_t op_kmeans(const double *px, const double *py, const double *w, size_t n, double *cx,
                 double *cy, size_t k, int *assign, int max_iter) {
    if (k == 0) return 0;
    double *sx = xmalloc(k * sizeof *sx), *sy = xmalloc(k * sizeof *sy);
    double *sw = xmalloc(k * sizeof *sw);
    xsorted *xs = xmalloc(k * sizeof *xs);
    for (size_t i = 0; i < n; i++) assign[i] = -1;
    for (int it = 0; it < max_iter; it++) {
        int changed = 0;
        for (size_t j = 0; j < k; j++) xs[j] = (xsorted){cx[j], (int)j};
        qsort(xs, k, sizeof *xs, cmp_xsorted);
        for (size_t i = 0; i < n; i++) {
            int a = nearest(px[i], py[i], cx, cy, xs, k, assign[i]);
            if (a != assign[i]) {
                assign[i] = a;
                changed = 1;
            }
        }
        if (!changed) break;
        memset(sx, 0, k * sizeof *sx);
        memset(sy, 0, k * sizeof *sy);
        memset(sw, 0, k * sizeof *sw);
        for (size_t i = 0; i < n; i++) {
            double wi = w ? w[i] : 1;
            sx[assign[i]] += wi * px[i];
            sy[assign[i]] += wi * py[i];
            sw[assign[i]] += wi;
        }
        for (size_t j = 0; j < k; j++)
            if (sw[j] > 0) { /* an empty cluster keeps its centre and may win points back */
                cx[j] = sx[j] / sw[j];
                cy[j] = sy[j] / sw[j];
            }
    }
    free(xs);
    /* Drop empty clusters, renumbering the rest in order. */
    int *map = xmalloc(k * sizeof *map);
    size_t *cnt = xcalloc(k, sizeof *cnt);
    for (size_t i = 0; i < n; i++) cnt[assign[i]]++;
    size_t m = 0;
    for (size_t j = 0; j < k; j++) {
        if (cnt[j] == 0) {
            map[j] = -1;
            continue;
        }
        map[j] = (int)m;
        cx[m] = cx[j];
        cy[m] = cy[j];
        m++;
    }
    for (size_t i = 0; i < n; i++) assign[i] = map[assign[i]];
    free(map);
    free(cnt);
    free(sx);
    free(sy);
    free(sw);
    return m;
}

double op_kmeans_cost(const double *px, const double *py, const double *w, size_t n,
                      const double *cx, const double *cy, const int *assign) {
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double dx = px[i] - cx[assign[i]], dy = py[i] - cy[assign[i]];
        s += (w ? w[i] : 1) * (dx * dx + dy * dy);
    }
    return s;
}

double op_silhouette(const double *px, const double *py, size_t n, const int *assign, size_t k) {
    if (n == 0) return 0;
    double *sum = xmalloc(k * sizeof *sum);
    size_t *cnt = xcalloc(k, sizeof *cnt);
    for (size_t i = 0; i < n; i++) cnt[assign[i]]++;
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        int own = assign[i];
        if (cnt[own] <= 1) continue; /* alone in its cluster: scores 0 */
        memset(sum, 0, k * sizeof *sum);
        for (size_t j = 0; j < n; j++) {
            if (j == i) continue;
            sum[assign[j]] += hypot(px[i] - px[j], py[i] - py[j]);
        }
        double a = sum[own] / (double)(cnt[own] - 1), b = -1;
        for (size_t c = 0; c < k; c++) {
            if ((int)c == own || cnt[c] == 0) continue;
            double m = sum[c] / (double)cnt[c];
            if (b < 0 || m < b) b = m;
        }
        if (b < 0) continue;
        double mx = a > b ? a : b;
        if (mx > 0) total += (b - a) / mx;
    }
    free(sum);
    free(cnt);
    return total / (double)n;
}

double opinion_ari(const int *a, const int *b, size_t n) {
    int ma = -1, mb = -1;
    for (size_t i = 0; i < n; i++) {
        if (a[i] < 0 || b[i] < 0) continue;
        if (a[i] > ma) ma = a[i];
        if (b[i] > mb) mb = b[i];
    }
    if (ma < 0 || mb < 0) return 1;
    size_t ka = (size_t)ma + 1, kb = (size_t)mb + 1;
    double *t = xcalloc(ka * kb, sizeof *t), *ra = xcalloc(ka, sizeof *ra);
    double *rb = xcalloc(kb, sizeof *rb);
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        if (a[i] < 0 || b[i] < 0) continue;
        t[(size_t)a[i] * kb + (size_t)b[i]] += 1;
        ra[a[i]] += 1;
        rb[b[i]] += 1;
        m += 1;
    }
    double sij = 0, sa = 0, sb = 0;
    for (size_t i = 0; i < ka * kb; i++) sij += t[i] * (t[i] - 1) / 2;
    for (size_t i = 0; i < ka; i++) sa += ra[i] * (ra[i] - 1) / 2;
    for (size_t i = 0; i < kb; i++) sb += rb[i] * (rb[i] - 1) / 2;
    free(t);
    free(ra);
    free(rb);
    double pairs = m * (m - 1) / 2;
    if (pairs <= 0) return 1;
    double expected = sa * sb / pairs, maxi = (sa + sb) / 2;
    if (maxi == expected) return 1; /* both trivial: identical by convention */
    return (sij - expected) / (maxi - expected);
}
