/*
 * opinion/stats: Pol.is's comment statistics — the representative comments of a group
 * and the consensus comments — reproduced decision for decision from polismath
 * (math/src/polismath/math/repness.clj and stats.clj), so that with the same groups
 * the same comments come out in the same order with the same figures.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/xalloc.h"
#include "engine/opinion/internal.h"

#define Z90 1.2816 /* one-sided 90% critical value, as Pol.is writes it */

double op_prop_test(double succ, double n) {
    succ += 1;
    n += 1;
    return 2 * sqrt(n) * (succ / n - 0.5);
}

double op_two_prop_test(double succ_in, double succ_out, double n_in, double n_out) {
    succ_in += 1;
    succ_out += 1;
    n_in += 1;
    n_out += 1;
    double pi1 = succ_in / n_in, pi2 = succ_out / n_out;
    double pi_hat = (succ_in + succ_out) / (n_in + n_out);
    if (pi_hat == 1) return 0;
    return (pi1 - pi2) / sqrt(pi_hat * (1 - pi_hat) * (1 / n_in + 1 / n_out));
}

typedef struct cstat {
    int64_t tid;
    int na, nd, ns;
    double pa, pd, pat, pdt, ra, rd, rat, rdt;
} cstat;

/* Pol.is reports repness-test as a 32-bit float. */
static double as_float(double x) { return (double)(float)x; }

/* The float as Pol.is prints it: the shortest decimal that reads back as that float,
 * as a double (so JSON output and the library's figures equal Pol.is's JSON). */
static double float_decimal(double x) {
    float f = (float)x;
    char buf[32];
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        if (strtof(buf, NULL) == f) break;
    }
    return strtod(buf, NULL);
}

static opinion_rep finalize(const cstat *s) {
    opinion_rep r = {0};
    r.tid = s->tid;
    r.n_trials = s->ns;
    if (s->rat > s->rdt) {
        r.n_success = s->na;
        r.p_success = s->pa;
        r.p_test = s->pat;
        r.repness = s->ra;
        r.repness_test = as_float(s->rat);
        r.repful_for = 1;
    } else {
        r.n_success = s->nd;
        r.p_success = s->pd;
        r.p_test = s->pdt;
        r.repness = s->rd;
        r.repness_test = as_float(s->rdt);
        r.repful_for = -1;
    }
    return r;
}

static int passes_by_test(const cstat *s) {
    return (s->rat > Z90 && s->pat > Z90) || (s->rdt > Z90 && s->pdt > Z90);
}

static int beats_best_agree(const cstat *s, const cstat *best) {
    if (s->na == 0 && s->nd == 0) return 0;
    if (best && best->ra > 1.0)
        return s->ra * s->rat * s->pa * s->pat > best->ra * best->rat * best->pa * best->pat;
    if (best) return s->pa * s->pat > best->pa * best->pat;
    return s->pat > Z90 || (s->ra > 1.0 && s->pa > 0.5);
}

static double rep_metric(const opinion_rep *r) {
    return r->repness * r->repness_test * r->p_success * r->p_test;
}

/* Stable sort of reps by descending key (insertion sort; lists are short or nearly so). */
static void sort_desc(opinion_rep *v, double *key, size_t n) {
    for (size_t i = 1; i < n; i++) {
        opinion_rep rv = v[i];
        double kv = key[i];
        size_t j = i;
        while (j > 0 && key[j - 1] < kv) {
            v[j] = v[j - 1];
            key[j] = key[j - 1];
            j--;
        }
        v[j] = rv;
        key[j] = kv;
    }
}

size_t op_repness(size_t ncmt, const int64_t *tid, const int *use, const int *na, const int *nd,
                  const int *ns, const int *ra, const int *rd, const int *rs, opinion_rep out[5]) {
    opinion_rep *suff = xmalloc((ncmt + 1) * sizeof *suff);
    size_t nsuff = 0;
    opinion_rep best = {0};
    int have_best = 0, have_best_agree = 0;
    cstat best_agree = {0};
    for (size_t c = 0; c < ncmt; c++) {
        if (!use[c]) continue;
        cstat s = {.tid = tid[c], .na = na[c], .nd = nd[c], .ns = ns[c]};
        s.pa = (1.0 + s.na) / (2.0 + s.ns);
        s.pd = (1.0 + s.nd) / (2.0 + s.ns);
        s.pat = op_prop_test(s.na, s.ns);
        s.pdt = op_prop_test(s.nd, s.ns);
        s.ra = s.pa / ((1.0 + ra[c]) / (2.0 + rs[c]));
        s.rd = s.pd / ((1.0 + rd[c]) / (2.0 + rs[c]));
        s.rat = op_two_prop_test(s.na, ra[c], s.ns, rs[c]);
        s.rdt = op_two_prop_test(s.nd, rd[c], s.ns, rs[c]);
        if (passes_by_test(&s)) suff[nsuff++] = finalize(&s);
        /* Pol.is compares against the best's float-rounded repness-test here. */
        if (nsuff == 0 && (!have_best || fmax(s.rat, s.rdt) > best.repness_test)) {
            best = finalize(&s);
            have_best = 1;
        }
        if (beats_best_agree(&s, have_best_agree ? &best_agree : NULL)) {
            best_agree = s;
            have_best_agree = 1;
        }
    }
    size_t n = 0;
    opinion_rep ba = {0};
    if (have_best_agree) {
        ba = finalize(&best_agree);
        ba.n_agree = best_agree.na;
        ba.best_agree = 1;
    }
    if (nsuff == 0) {
        if (have_best_agree)
            out[n++] = ba;
        else if (have_best)
            out[n++] = best;
    } else {
        double *key = xmalloc(nsuff * sizeof *key);
        size_t m = 0;
        for (size_t i = 0; i < nsuff; i++) {
            if (have_best_agree && suff[i].tid == ba.tid) continue;
            suff[m] = suff[i];
            key[m] = rep_metric(&suff[i]);
            m++;
        }
        sort_desc(suff, key, m);
        free(key);
        opinion_rep top[5];
        size_t t = 0;
        if (have_best_agree) top[t++] = ba;
        for (size_t i = 0; i < m && t < 5; i++) top[t++] = suff[i];
        for (size_t i = 0; i < t; i++) /* agrees before disagrees, order kept */
            if (top[i].repful_for > 0) out[n++] = top[i];
        for (size_t i = 0; i < t; i++)
            if (top[i].repful_for < 0) out[n++] = top[i];
    }
    free(suff);
    for (size_t i = 0; i < n; i++) out[i].repness_test = float_decimal(out[i].repness_test);
    return n;
}

static size_t top5(size_t ncmt, const int64_t *tid, const int *use, const int *nsucc,
                   const int *ns, opinion_cons out[5]) {
    opinion_rep *cand = xmalloc((ncmt + 1) * sizeof *cand);
    double *key = xmalloc((ncmt + 1) * sizeof *key);
    size_t m = 0;
    for (size_t c = 0; c < ncmt; c++) {
        if (!use[c]) continue;
        double p = (1.0 + nsucc[c]) / (2.0 + ns[c]), z = op_prop_test(nsucc[c], ns[c]);
        if (!(p > 0.5 && z > Z90)) continue;
        cand[m] = (opinion_rep){.tid = tid[c], .n_success = nsucc[c], .n_trials = ns[c],
                                .p_success = p, .p_test = z};
        key[m] = p * z;
        m++;
    }
    sort_desc(cand, key, m);
    size_t n = m < 5 ? m : 5;
    for (size_t i = 0; i < n; i++)
        out[i] = (opinion_cons){cand[i].tid, cand[i].n_success, cand[i].n_trials,
                                cand[i].p_success, cand[i].p_test};
    free(cand);
    free(key);
    return n;
}

void op_consensus(size_t ncmt, const int64_t *tid, const int *use, const int *na, const int *nd,
                  const int *ns, opinion_cons agree[5], size_t *n_agree, opinion_cons disagree[5],
                  size_t *n_disagree) {
    *n_agree = top5(ncmt, tid, use, na, ns, agree);
    *n_disagree = top5(ncmt, tid, use, nd, ns, disagree);
}
