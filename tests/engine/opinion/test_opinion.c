/*
 * Unit, property and reference tests for src/engine/opinion: Pol.is's statistics on
 * the red-dwarf fixtures (exact), PCA against a dense reference, groups on planted
 * data and on real conversations (adjusted Rand index), determinism, warm-started
 * updates, bad input, and the `opinion` command.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/xalloc.h"
#include "engine/opinion/internal.h"
#include "engine/opinion/opinion.h"

static const char *data_dir(void) {
    const char *d = getenv("CG_SHARED_DATA");
    return d && *d ? d : "../shared/data";
}

static int dir_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A small deterministic generator for test data. */
static uint64_t rng_state;
static double urand(void) { return op_unit(&rng_state); }

/* ---- statistics ---------------------------------------------------------------- */

static void prop_tests_follow_the_formulas(void **state) {
    (void)state;
    for (int s = 0; s <= 20; s += 3)
        for (int n = s; n <= 25; n += 4) {
            double succ = s + 1, trials = n + 1;
            assert_true(fabs(op_prop_test(s, n) - 2 * sqrt(trials) * (succ / trials - 0.5)) < 1e-12);
        }
    /* Two-proportion z: symmetric, zero for equal proportions, 0 when pi_hat = 1. */
    assert_true(fabs(op_two_prop_test(5, 5, 10, 10)) < 1e-12);
    assert_true(fabs(op_two_prop_test(8, 2, 10, 10) + op_two_prop_test(2, 8, 10, 10)) < 1e-12);
    assert_true(op_two_prop_test(8, 2, 10, 10) > 0);
    assert_true(op_two_prop_test(3, 5, 3, 5) == 0); /* everyone succeeded: pi_hat = 1 */
    double p1 = 9.0 / 11, p2 = 3.0 / 11, ph = 12.0 / 22;
    assert_true(fabs(op_two_prop_test(8, 2, 10, 10) - (p1 - p2) / sqrt(ph * (1 - ph) * (2.0 / 11))) < 1e-12);
}

static void ari_matches_hand_computed_cases(void **state) {
    (void)state;
    int a[] = {0, 0, 1, 1}, b[] = {0, 1, 0, 1}, c[] = {1, 1, 0, 0}, d[] = {0, 0, 1, -1};
    assert_true(fabs(opinion_ari(a, a, 4) - 1) < 1e-12);
    assert_true(fabs(opinion_ari(a, c, 4) - 1) < 1e-12); /* labels renamed */
    assert_true(fabs(opinion_ari(a, b, 4) + 0.5) < 1e-12);
    assert_true(fabs(opinion_ari(a, d, 4) - 1) < 1e-12); /* item 3 left out */
}

static void jacobi_diagonalises(void **state) {
    (void)state;
    rng_state = 7;
    size_t n = 6;
    double A[36], B[36], w[6], V[36];
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j <= i; j++) A[i * n + j] = A[j * n + i] = urand() - 0.5;
    memcpy(B, A, sizeof A);
    op_jacobi_eig(B, n, w, V);
    for (size_t k = 0; k < n; k++) {
        if (k) assert_true(w[k - 1] >= w[k]);
        for (size_t i = 0; i < n; i++) { /* A v = w v */
            double s = 0;
            for (size_t j = 0; j < n; j++) s += A[i * n + j] * V[j * n + k];
            assert_true(fabs(s - w[k] * V[i * n + k]) < 1e-9);
        }
    }
}

/* ---- conversation storage and bad votes ----------------------------------------- */

static void last_vote_counts_and_unknown_comments_are_rejected(void **state) {
    (void)state;
    opinion_conv *c = opinion_conv_new();
    assert_int_equal(opinion_comment(c, 1, 0, 0), OPINION_OK);
    assert_int_equal(opinion_comment(c, -1, 0, 0), OPINION_EINVAL);
    assert_int_equal(opinion_vote(c, 10, 2, 1), OPINION_EUNKNOWN);
    assert_int_equal(opinion_vote(c, 10, 1, 2), OPINION_EINVAL);
    assert_int_equal(opinion_vote(c, 10, 1, 1), OPINION_OK);
    assert_int_equal(opinion_vote(c, 10, 1, -1), OPINION_OK);
    assert_int_equal(opinion_n_votes(c), 1);
    assert_int_equal(opinion_fix_group(c, 99, 0), OPINION_EUNKNOWN);
    opinion_result *R = opinion_compute(c, NULL);
    assert_int_equal(R->n_ptpt, 1);
    assert_int_equal(R->n_cmt, 1);
    assert_true(R->center[0] == -1); /* the later disagree replaced the agree */
    opinion_result_free(R);
    opinion_conv_free(c);
}

/* ---- generated conversations --------------------------------------------------- */

/* ngroups planted opinion groups: each group agrees with a comment with its own
 * probability; each participant sees a random share of the comments. */
static opinion_conv *planted(size_t np, size_t nc, int ngroups, double seen, uint64_t seed, int *truth) {
    rng_state = seed;
    opinion_conv *c = opinion_conv_new();
    double *pa = xmalloc(nc * ngroups * sizeof *pa);
    for (size_t t = 0; t < nc; t++) {
        opinion_comment(c, (int64_t)t * 3 + 1, 0, 0);
        for (int g = 0; g < ngroups; g++) pa[t * ngroups + g] = urand() < 0.5 ? 0.85 : 0.15;
    }
    for (size_t p = 0; p < np; p++) {
        int g = (int)(p % (size_t)ngroups);
        if (truth) truth[p] = g;
        for (size_t t = 0; t < nc; t++) {
            if (urand() > seen) continue;
            double u = urand();
            int v = u < 0.1 ? 0 : (urand() < pa[t * ngroups + g] ? 1 : -1);
            opinion_vote(c, (int64_t)p * 7 + 5, (int64_t)t * 3 + 1, v);
        }
    }
    free(pa);
    return c;
}

/* Dense reference: top two eigenvectors of X^T X by long power iteration. */
static void dense_top2(const op_mat *X, double *v1, double *v2) {
    size_t n = X->ncols;
    double *G = xcalloc(n * n, sizeof *G), *w = xmalloc(n * sizeof *w), *row = xmalloc(n * sizeof *row);
    for (size_t r = 0; r < X->nrows; r++) {
        memset(row, 0, n * sizeof *row);
        for (uint32_t k = 0; k < X->rows[r]->len; k++) {
            int a = X->aidx[X->rows[r]->e[k] >> 2];
            if (a >= 0) row[a] = (double)(int)(X->rows[r]->e[k] & 3) - 1 - X->center[a];
        }
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++) G[i * n + j] += row[i] * row[j];
    }
    double *vs[2] = {v1, v2};
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < n; i++) vs[k][i] = 1 + 0.01 * (double)i;
        for (int it = 0; it < 20000; it++) {
            for (size_t i = 0; i < n; i++) {
                double s = 0;
                for (size_t j = 0; j < n; j++) s += G[i * n + j] * vs[k][j];
                w[i] = s;
            }
            if (k == 1) {
                double d = 0;
                for (size_t i = 0; i < n; i++) d += w[i] * v1[i];
                for (size_t i = 0; i < n; i++) w[i] -= d * v1[i];
            }
            double nn = 0;
            for (size_t i = 0; i < n; i++) nn += w[i] * w[i];
            nn = sqrt(nn);
            for (size_t i = 0; i < n; i++) vs[k][i] = w[i] / nn;
        }
    }
    free(G);
    free(w);
    free(row);
}

static void lanczos_pca_matches_dense_power_iteration(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        /* Two planted opinion axes plus noise; every third comment left out. */
        opinion_conv *c = opinion_conv_new();
        rng_state = seed * 1000;
        size_t nc = 30, np = 150;
        for (size_t t = 0; t < nc; t++) opinion_comment(c, (int64_t)t, 0, 0);
        for (size_t p = 0; p < np; p++) {
            double f1 = urand() - 0.5, f2 = urand() - 0.5;
            for (size_t t = 0; t < nc; t++) {
                if (urand() < 0.4) continue;
                double z = 3 * f1 * sin((double)t) + 1.5 * f2 * cos(2.0 * (double)t) + 0.4 * (urand() - 0.5);
                opinion_vote(c, (int64_t)p, (int64_t)t, z > 0.3 ? 1 : z < -0.3 ? -1 : 0);
            }
        }
        int aidx[30];
        double center[30], sum[30] = {0}, cnt[30] = {0};
        size_t ncols = 0;
        for (size_t t = 0; t < nc; t++) aidx[t] = t % 3 == 2 ? -1 : (int)ncols++;
        const op_row *rows[150];
        for (size_t p = 0; p < np; p++) {
            rows[p] = &c->rows[p];
            for (uint32_t k = 0; k < rows[p]->len; k++) {
                int a = aidx[rows[p]->e[k] >> 2];
                if (a < 0) continue;
                sum[a] += (double)(int)(rows[p]->e[k] & 3) - 1;
                cnt[a] += 1;
            }
        }
        for (size_t a = 0; a < ncols; a++) center[a] = cnt[a] > 0 ? sum[a] / cnt[a] : 0;
        op_mat X = {np, ncols, rows, nc, aidx, center};
        double c0[30], c1[30], r0[30], r1[30], eig[2];
        int steps;
        assert_int_equal(op_pca(&X, NULL, 1e-10, 0, c0, c1, eig, &steps), 2);
        dense_top2(&X, r0, r1);
        double d0 = 0, d1 = 0;
        for (size_t i = 0; i < ncols; i++) {
            d0 += c0[i] * r0[i];
            d1 += c1[i] * r1[i];
        }
        assert_true(fabs(fabs(d0) - 1) < 1e-8);
        assert_true(fabs(fabs(d1) - 1) < 1e-6);
        assert_true(eig[0] >= eig[1]);
        opinion_conv_free(c);
    }
}

static double ari_vs_truth(const opinion_result *R, const int *truth) {
    int *a = xmalloc(R->n_ptpt * sizeof *a), *b = xmalloc(R->n_ptpt * sizeof *b);
    for (size_t r = 0; r < R->n_ptpt; r++) {
        a[r] = truth[(R->pid[r] - 5) / 7];
        b[r] = R->group[r];
    }
    double v = opinion_ari(a, b, R->n_ptpt);
    free(a);
    free(b);
    return v;
}

static void planted_groups_are_found(void **state) {
    (void)state;
    for (int k = 2; k <= 3; k++) {
        int truth[600];
        opinion_conv *c = planted(600, 40, k, 0.6, 40 + (uint64_t)k, truth);
        opinion_result *R = opinion_compute(c, NULL);
        assert_int_equal(R->n_groups, (size_t)k);
        assert_true(ari_vs_truth(R, truth) > 0.9);
        /* Each group's first representative comment is one its members mostly agree
         * or disagree with, more than the others do. */
        for (size_t g = 0; g < R->n_groups; g++) {
            assert_true(R->groups[g].n_reps >= 1);
            assert_true(R->groups[g].reps[0].p_success > 0.5);
        }
        opinion_result_free(R);
        opinion_conv_free(c);
    }
}

static void a_few_outliers_are_not_an_opinion_group(void **state) {
    (void)state;
    /* 300 participants of one mind, 3 who disagree with everything. */
    int truth[303];
    opinion_conv *c = planted(300, 30, 1, 0.7, 3, truth);
    for (int p = 300; p < 303; p++)
        for (int t = 0; t < 30; t++) opinion_vote(c, (int64_t)p * 7 + 5, (int64_t)t * 3 + 1, t % 2 ? 1 : -1);
    opinion_result *R = opinion_compute(c, NULL);
    for (size_t g = 0; g < R->n_groups; g++) assert_true(R->groups[g].n_members >= 0.02 * R->n_in_conv);
    opinion_result_free(R);
    opinion_conv_free(c);
}

static void results_do_not_depend_on_vote_order(void **state) {
    (void)state;
    opinion_conv *a = planted(200, 30, 3, 0.5, 99, NULL);
    /* Same comments; the same votes inserted in reverse participant and comment order,
     * after earlier votes that the last ones replace. */
    opinion_conv *b = opinion_conv_new();
    for (size_t t = 0; t < a->nc; t++) opinion_comment(b, a->cmts[t].tid, 0, 0);
    for (size_t p = a->np; p-- > 0;)
        for (uint32_t k = a->rows[p].len; k-- > 0;) {
            int64_t tid = a->cmts[a->rows[p].e[k] >> 2].tid;
            opinion_vote(b, a->pids[p], tid, 0);
            opinion_vote(b, a->pids[p], tid, (int)(a->rows[p].e[k] & 3) - 1);
        }
    opinion_result *ra = opinion_compute(a, NULL), *rb = opinion_compute(b, NULL);
    assert_int_equal(ra->n_ptpt, rb->n_ptpt);
    assert_memory_equal(ra->x, rb->x, ra->n_ptpt * sizeof(double));
    assert_memory_equal(ra->y, rb->y, ra->n_ptpt * sizeof(double));
    assert_memory_equal(ra->group, rb->group, ra->n_ptpt * sizeof(int));
    assert_memory_equal(ra->gac, rb->gac, ra->n_cmt * sizeof(double));
    assert_memory_equal(ra->priority, rb->priority, ra->n_cmt * sizeof(double));
    opinion_result_free(ra);
    opinion_result_free(rb);
    opinion_conv_free(a);
    opinion_conv_free(b);
}

static void warm_update_agrees_with_cold_recompute(void **state) {
    (void)state;
    int truth[800];
    opinion_conv *warm = planted(800, 50, 3, 0.5, 7, truth);
    opinion_result *R0 = opinion_compute(warm, NULL);
    opinion_result_free(R0);
    /* New votes, one at a time, each followed by a warm-started update. */
    rng_state = 555;
    opinion_result *W = NULL;
    for (int i = 0; i < 20; i++) {
        int64_t pid = (int64_t)(urand() * 800) * 7 + 5, tid = (int64_t)(urand() * 50) * 3 + 1;
        int v = (int)(urand() * 3) - 1;
        assert_int_equal(opinion_vote(warm, pid, tid, v), OPINION_OK);
        opinion_result_free(W);
        W = opinion_compute(warm, NULL);
    }
    opinion_forget_warm_start(warm);
    opinion_result *C = opinion_compute(warm, NULL);
    assert_int_equal(W->n_ptpt, C->n_ptpt);
    for (int k = 0; k < 2; k++) {
        double d = 0;
        for (size_t j = 0; j < C->n_cmt; j++) d += W->comp[k][j] * C->comp[k][j];
        assert_true(fabs(d) > 1 - 1e-9);
    }
    assert_true(opinion_ari(W->group, C->group, C->n_ptpt) > 0.95);
    assert_true(ari_vs_truth(W, truth) > 0.9);
    /* Consensus does not depend on the groups: identical. */
    assert_int_equal(W->n_cons_agree, C->n_cons_agree);
    for (size_t i = 0; i < C->n_cons_agree; i++) assert_int_equal(W->cons_agree[i].tid, C->cons_agree[i].tid);
    opinion_result_free(W);
    opinion_result_free(C);
    opinion_conv_free(warm);
}

/* Pol.is's priority of comment j of R from agrees, disagrees, votes summed over the
 * groups (conversation.clj importance-metric, priority-metric). */
static double polis_priority(const opinion_result *R, size_t j, double A, double D, double S) {
    if (R->meta[j]) return 49;
    double P = S - A - D;
    double imp = (1 - (P + 1) / (S + 2)) * (R->extremity[j] + 1) * ((A + 1) / (S + 2));
    double pr = imp * (1 + 8 * pow(2, S / -5));
    return pr * pr;
}

/* Group totals of comment tid in R (0, 0, 0 when R has no such comment). */
static void group_totals(const opinion_result *R, int64_t tid, double *A, double *D, double *S) {
    *A = *D = *S = 0;
    for (size_t j = 0; j < R->n_cmt; j++) {
        if (R->tid[j] != tid) continue;
        for (size_t g = 0; g < R->n_groups; g++) {
            *A += R->votes_a[g * R->n_cmt + j];
            *D += R->votes_d[g * R->n_cmt + j];
            *S += R->votes_s[g * R->n_cmt + j];
        }
    }
}

static void priorities_use_previous_update_group_votes(void **state) {
    (void)state;
    opinion_conv *c = planted(300, 30, 2, 0.6, 11, NULL);
    opinion_result *R1 = opinion_compute(c, NULL);
    /* Cold: the computation's own group votes. */
    double A, D, S;
    for (size_t j = 0; j < R1->n_cmt; j++) {
        group_totals(R1, R1->tid[j], &A, &D, &S);
        assert_true(fabs(R1->priority[j] - polis_priority(R1, j, A, D, S)) <= 1e-12 * (1 + R1->priority[j]));
    }
    /* A new comment and new votes: the next computation uses R1's counts (the new
     * comment has none) with its own extremities. */
    assert_int_equal(opinion_comment(c, 1000, 0, 0), OPINION_OK);
    for (int64_t p = 0; p < 40; p++) {
        assert_int_equal(opinion_vote(c, p * 7 + 5, 1000, 1), OPINION_OK);
        assert_int_equal(opinion_vote(c, p * 7 + 5, 1, -1), OPINION_OK);
    }
    opinion_result *R2 = opinion_compute(c, NULL);
    int differs = 0;
    for (size_t j = 0; j < R2->n_cmt; j++) {
        group_totals(R1, R2->tid[j], &A, &D, &S);
        double want = polis_priority(R2, j, A, D, S);
        assert_true(fabs(R2->priority[j] - want) <= 1e-12 * (1 + want));
        double A2, D2, S2;
        group_totals(R2, R2->tid[j], &A2, &D2, &S2);
        if (fabs(polis_priority(R2, j, A2, D2, S2) - want) > 1e-6 * (1 + want)) differs = 1;
    }
    assert_true(differs); /* the new votes changed some comment's counts */
    /* Forgetting the warm start forgets the counts too: cold again. */
    opinion_forget_warm_start(c);
    opinion_result *R3 = opinion_compute(c, NULL);
    for (size_t j = 0; j < R3->n_cmt; j++) {
        group_totals(R3, R3->tid[j], &A, &D, &S);
        assert_true(fabs(R3->priority[j] - polis_priority(R3, j, A, D, S)) <= 1e-12 * (1 + R3->priority[j]));
    }
    opinion_result_free(R1);
    opinion_result_free(R2);
    opinion_result_free(R3);
    opinion_conv_free(c);
}

static void tiny_and_degenerate_conversations_work(void **state) {
    (void)state;
    /* Everyone votes the same: no variance, one comment, a single participant. */
    opinion_conv *c = opinion_conv_new();
    opinion_comment(c, 0, 0, 0);
    opinion_comment(c, 1, -1, 0); /* moderated out */
    opinion_comment(c, 2, 0, 1);  /* meta */
    for (int p = 0; p < 30; p++) {
        opinion_vote(c, p, 0, 1);
        opinion_vote(c, p, 1, p % 2 ? 1 : -1);
        opinion_vote(c, p, 2, -1);
    }
    opinion_result *R = opinion_compute(c, NULL);
    assert_int_equal(R->n_active, 1);
    assert_true(R->n_groups <= 1);
    for (size_t r = 0; r < R->n_ptpt; r++) assert_true(R->x[r] == 0 && R->y[r] == 0);
    assert_true(R->priority[2] == 49); /* meta */
    assert_int_equal(R->n_cons_agree, 1); /* comment 0 only: 1 is out, 2 is meta */
    assert_int_equal(R->cons_agree[0].tid, 0);
    opinion_result_free(R);
    opinion_conv_free(c);
}

/* ---- Pol.is's own output: the red-dwarf fixtures -------------------------------- */

static double jnum(json_t *v) { return json_is_integer(v) ? (double)json_integer_value(v) : json_real_value(v); }

static int close9(double a, double b) { return fabs(a - b) <= 1e-9 * (1 + fabs(b)); }

static void check_fixture(const char *name) {
    char dir[1024], path[1100], err[512];
    snprintf(dir, sizeof dir, "%s/polis/reddwarf-fixtures/%s", data_dir(), name);
    snprintf(path, sizeof path, "%s/math-pca2.json", dir);
    json_error_t je;
    json_t *m = json_load_file(path, 0, &je);
    assert_non_null(m);
    opinion_conv *c = opinion_conv_new();
    if (opinion_load_dir(c, dir, NULL, NULL, NULL, err, sizeof err) != 0) fail_msg("%s", err);
    /* Pol.is's groups: group-clusters hold base cluster ids; base-clusters hold pids. */
    json_t *bc = json_object_get(m, "base-clusters"), *gcs = json_object_get(m, "group-clusters");
    size_t gi;
    json_t *gc;
    json_array_foreach(gcs, gi, gc) {
        int gid = (int)json_integer_value(json_object_get(gc, "id"));
        size_t bi;
        json_t *b;
        json_array_foreach(json_object_get(gc, "members"), bi, b) {
            json_int_t want = json_integer_value(b);
            size_t k;
            json_t *id;
            json_array_foreach(json_object_get(bc, "id"), k, id) {
                if (json_integer_value(id) != want) continue;
                size_t q;
                json_t *pid;
                json_array_foreach(json_array_get(json_object_get(bc, "members"), k), q, pid)
                    assert_int_equal(opinion_fix_group(c, json_integer_value(pid), gid), OPINION_OK);
            }
        }
    }
    opinion_result *R = opinion_compute(c, NULL);
    /* Representative comments: same ids, same order, same figures. */
    json_t *rep = json_object_get(m, "repness");
    assert_int_equal(json_object_size(rep), R->n_groups);
    for (size_t g = 0; g < R->n_groups; g++) {
        char key[16];
        snprintf(key, sizeof key, "%d", R->groups[g].id);
        json_t *list = json_object_get(rep, key);
        assert_non_null(list);
        assert_int_equal(json_array_size(list), R->groups[g].n_reps);
        for (size_t i = 0; i < R->groups[g].n_reps; i++) {
            json_t *e = json_array_get(list, i);
            const opinion_rep *r = &R->groups[g].reps[i];
            assert_int_equal(json_integer_value(json_object_get(e, "tid")), r->tid);
            assert_int_equal(json_integer_value(json_object_get(e, "n-success")), r->n_success);
            assert_int_equal(json_integer_value(json_object_get(e, "n-trials")), r->n_trials);
            assert_true(close9(r->p_success, jnum(json_object_get(e, "p-success"))));
            assert_true(close9(r->p_test, jnum(json_object_get(e, "p-test"))));
            assert_true(close9(r->repness, jnum(json_object_get(e, "repness"))));
            assert_true(close9(r->repness_test, jnum(json_object_get(e, "repness-test"))));
            assert_string_equal(json_string_value(json_object_get(e, "repful-for")),
                                r->repful_for > 0 ? "agree" : "disagree");
            assert_int_equal(json_is_true(json_object_get(e, "best-agree")), r->best_agree);
            if (r->best_agree) assert_int_equal(json_integer_value(json_object_get(e, "n-agree")), r->n_agree);
        }
    }
    /* Consensus. */
    const char *side[2] = {"agree", "disagree"};
    const opinion_cons *ours[2] = {R->cons_agree, R->cons_disagree};
    size_t nours[2] = {R->n_cons_agree, R->n_cons_disagree};
    for (int s = 0; s < 2; s++) {
        json_t *list = json_object_get(json_object_get(m, "consensus"), side[s]);
        assert_int_equal(json_array_size(list), nours[s]);
        for (size_t i = 0; i < nours[s]; i++) {
            json_t *e = json_array_get(list, i);
            assert_int_equal(json_integer_value(json_object_get(e, "tid")), ours[s][i].tid);
            assert_int_equal(json_integer_value(json_object_get(e, "n-success")), ours[s][i].n_success);
            assert_int_equal(json_integer_value(json_object_get(e, "n-trials")), ours[s][i].n_trials);
            assert_true(close9(ours[s][i].p_success, jnum(json_object_get(e, "p-success"))));
            assert_true(close9(ours[s][i].p_test, jnum(json_object_get(e, "p-test"))));
        }
    }
    /* Group-aware consensus for every comment. */
    json_t *gac = json_object_get(m, "group-aware-consensus");
    assert_int_equal(json_object_size(gac), R->n_cmt);
    for (size_t j = 0; j < R->n_cmt; j++) {
        char key[32];
        snprintf(key, sizeof key, "%lld", (long long)R->tid[j]);
        json_t *v = json_object_get(gac, key);
        assert_non_null(v);
        assert_true(close9(R->gac[j], jnum(v)));
    }
    /* PCA: the same components (up to sign) and centre (Pol.is's internal signs are
     * flipped: agree is -1 there). */
    json_t *pca = json_object_get(m, "pca");
    for (int k = 0; k < 2; k++) {
        json_t *comp = json_array_get(json_object_get(pca, "comps"), (size_t)k);
        double d = 0, n1 = 0;
        for (size_t j = 0; j < R->n_cmt; j++) {
            double v = jnum(json_array_get(comp, j));
            d += v * R->comp[k][j];
            n1 += v * v;
        }
        assert_true(fabs(fabs(d) / sqrt(n1)) > 0.99);
    }
    /* Participant projections: where Pol.is's base cluster is a single participant,
     * its centre is that participant's position (checked where Pol.is's PCA had
     * converged: the fixture where every such point agrees). */
    if (strcmp(name, "25ptpt-3gp-no-strict-with-meta") == 0) {
        size_t k, checked = 0;
        json_t *mem;
        json_array_foreach(json_object_get(bc, "members"), k, mem) {
            if (json_array_size(mem) != 1) continue;
            int64_t pid = json_integer_value(json_array_get(mem, 0));
            double x = jnum(json_array_get(json_object_get(bc, "x"), k));
            double y = jnum(json_array_get(json_object_get(bc, "y"), k));
            for (size_t r = 0; r < R->n_ptpt; r++)
                if (R->pid[r] == pid) {
                    assert_true(fabs(fabs(R->x[r]) - fabs(x)) < 1e-6);
                    assert_true(fabs(fabs(R->y[r]) - fabs(y)) < 1e-6);
                    checked++;
                }
        }
        assert_true(checked >= 10);
    }
    opinion_result_free(R);
    opinion_conv_free(c);
    json_decref(m);
}

static void polis_statistics_equal_math_pca2(void **state) {
    (void)state;
    char p[1024];
    snprintf(p, sizeof p, "%s/polis/reddwarf-fixtures", data_dir());
    if (!dir_exists(p)) skip();
    const char *names[] = {"below-100-ptpts", "25ptpt-3gp-no-strict-with-meta", "50ptpt-3gp-strict-no-meta",
                           "above-100-ptpts"};
    for (size_t i = 0; i < 4; i++) check_fixture(names[i]);
}

/* Our map positions are Pol.is's: the mean of our coordinates over the members of each
 * of Pol.is's base clusters equals that cluster's x, y in math-pca2.json (each axis up
 * to sign, as Pol.is's components may point the other way). The fixtures with
 * moderated-out or meta comments that have votes check that the projection counts them
 * as Pol.is's zeroed columns do. */
static double fixture_map_error(const char *name) {
    char dir[1024], path[1100], err[512];
    snprintf(dir, sizeof dir, "%s/polis/reddwarf-fixtures/%s", data_dir(), name);
    snprintf(path, sizeof path, "%s/math-pca2.json", dir);
    json_error_t je;
    json_t *m = json_load_file(path, 0, &je);
    assert_non_null(m);
    opinion_conv *c = opinion_conv_new();
    if (opinion_load_dir(c, dir, NULL, NULL, NULL, err, sizeof err) != 0) fail_msg("%s", err);
    opinion_result *R = opinion_compute(c, NULL);
    json_t *bc = json_object_get(m, "base-clusters");
    json_t *mem = json_object_get(bc, "members"), *bx = json_object_get(bc, "x"), *by = json_object_get(bc, "y");
    assert_true(json_array_size(mem) > 0);
    double best = INFINITY;
    for (int sx = -1; sx <= 1; sx += 2)
        for (int sy = -1; sy <= 1; sy += 2) {
            double worst = 0;
            size_t k;
            json_t *ms;
            json_array_foreach(mem, k, ms) {
                double mx = 0, my = 0;
                size_t q, found = 0;
                json_t *pid;
                json_array_foreach(ms, q, pid) {
                    for (size_t r = 0; r < R->n_ptpt; r++)
                        if (R->pid[r] == json_integer_value(pid)) {
                            mx += R->x[r];
                            my += R->y[r];
                            found++;
                        }
                }
                assert_int_equal(found, json_array_size(ms));
                mx /= (double)found;
                my /= (double)found;
                double ex = fabs(sx * mx - json_number_value(json_array_get(bx, k)));
                double ey = fabs(sy * my - json_number_value(json_array_get(by, k)));
                if (ex > worst) worst = ex;
                if (ey > worst) worst = ey;
            }
            if (worst < best) best = worst;
        }
    opinion_result_free(R);
    opinion_conv_free(c);
    json_decref(m);
    return best;
}

static void map_positions_equal_polis(void **state) {
    (void)state;
    char p[1024];
    snprintf(p, sizeof p, "%s/polis/reddwarf-fixtures", data_dir());
    if (!dir_exists(p)) skip();
    /* 50ptpt-3gp-strict-no-meta is left out: under strict moderation Pol.is's map
     * differs from ours by up to 0.09 (see docs/engines/opinion.md). */
    const char *names[] = {"below-100-ptpts", "25ptpt-3gp-no-strict-with-meta", "above-100-ptpts"};
    for (size_t i = 0; i < 3; i++) {
        double e = fixture_map_error(names[i]);
        print_message("# %s: largest base-cluster centre difference %.2g\n", names[i], e);
        assert_true(e < 1e-8);
    }
}

/* ---- real conversations: groups against Pol.is's ----------------------------------- */

static double conversation_ari(const char *name, size_t *ngroups) {
    char dir[1024], err[512];
    snprintf(dir, sizeof dir, "%s/polis/%s", data_dir(), name);
    opinion_conv *c = opinion_conv_new();
    int64_t *rp;
    int *rg;
    size_t rn;
    if (opinion_load_dir(c, dir, &rp, &rg, &rn, err, sizeof err) != 0) fail_msg("%s", err);
    opinion_result *R = opinion_compute(c, NULL);
    int *a = xmalloc(rn * sizeof *a), *b = xmalloc(rn * sizeof *b);
    size_t m = 0;
    for (size_t i = 0; i < rn; i++) {
        if (rg[i] < 0) continue;
        for (size_t r = 0; r < R->n_ptpt; r++)
            if (R->pid[r] == rp[i] && R->group[r] >= 0) {
                a[m] = rg[i];
                b[m++] = R->group[r];
            }
    }
    double v = opinion_ari(a, b, m);
    *ngroups = R->n_groups;
    free(a);
    free(b);
    free(rp);
    free(rg);
    opinion_result_free(R);
    opinion_conv_free(c);
    return v;
}

static void clearly_split_conversations_match_polis_groups(void **state) {
    (void)state;
    char p[1024];
    snprintf(p, sizeof p, "%s/polis/brexit-consensus", data_dir());
    if (!dir_exists(p)) skip();
    /* Conversations whose two Pol.is groups are clearly split on the final votes
     * (plain k-means with Pol.is's own k reproduces them); the table for all of them is
     * in docs/engines/opinion.md. */
    const char *names[] = {"15-per-hour-seattle", "brexit-consensus", "scoop-hivemind.biodiversity",
                           "austria-climate.5twd2jsnkf.2022-08-08"};
    for (size_t i = 0; i < 4; i++) {
        size_t k;
        double v = conversation_ari(names[i], &k);
        print_message("# %s: adjusted Rand index %.3f (%zu groups)\n", names[i], v, k);
        assert_true(v >= 0.8);
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The target: a median adjusted Rand index of at least 0.8 against Pol.is's
 * group-id over the conversations present (every folder of polis/ with a
 * participants-votes.csv). The table and the reasons for the low ones are in
 * docs/engines/opinion.md. */
static void median_ari_over_conversations(void **state) {
    (void)state;
    char p[1024];
    snprintf(p, sizeof p, "%s/polis", data_dir());
    DIR *d = opendir(p);
    if (!d) skip();
    char names[64][256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 64) {
        if (e->d_name[0] == '.') continue;
        char f[1400];
        snprintf(f, sizeof f, "%s/%s/participants-votes.csv", p, e->d_name);
        if (access(f, R_OK) != 0) continue;
        snprintf(names[n++], sizeof names[0], "%s", e->d_name);
    }
    closedir(d);
    if (n == 0) skip();
    double v[64];
    for (size_t i = 0; i < n; i++) {
        size_t k;
        v[i] = conversation_ari(names[i], &k);
        print_message("# %s: adjusted Rand index %.3f (%zu groups)\n", names[i], v[i], k);
    }
    qsort(v, n, sizeof v[0], cmp_double);
    double med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    print_message("# median over %zu conversations: %.3f\n", n, med);
    assert_true(med >= 0.8);
}

/* ---- bad input --------------------------------------------------------------------- */

static void write_file(const char *dir, const char *name, const char *text) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void expect_load_error(const char *votes, const char *want1, const char *want2) {
    char dir[] = "/tmp/cg-opinion-XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_file(dir, "comments.csv", "timestamp,datetime,comment-id,author-id,agrees,disagrees,moderated,comment-body\n"
                                    "1,x,0,0,0,0,1,first\n2,x,1,0,0,0,-1,second\n");
    write_file(dir, "votes.csv", votes);
    opinion_conv *c = opinion_conv_new();
    char err[512] = "";
    assert_int_not_equal(opinion_load_dir(c, dir, NULL, NULL, NULL, err, sizeof err), 0);
    if (!strstr(err, want1) || !strstr(err, want2)) fail_msg("message '%s' lacks '%s' / '%s'", err, want1, want2);
    assert_non_null(strstr(err, "votes.csv"));
    opinion_conv_free(c);
    char p[1100];
    snprintf(p, sizeof p, "%s/comments.csv", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/votes.csv", dir);
    unlink(p);
    rmdir(dir);
}

static void bad_input_names_file_line_and_reason(void **state) {
    (void)state;
    const char *h = "timestamp,datetime,comment-id,voter-id,vote\n";
    char buf[512];
    snprintf(buf, sizeof buf, "%s5,x,0,1,1\n6,x,7,1,1\n", h);
    expect_load_error(buf, "line 3", "unknown comment 7");
    snprintf(buf, sizeof buf, "%s5,x,0,1,1\n6,x,1,abc,1\n", h);
    expect_load_error(buf, "line 3", "voter-id");
    snprintf(buf, sizeof buf, "%s5,x,0,1,2\n", h);
    expect_load_error(buf, "line 2", "vote must be");
    expect_load_error(h, "empty conversation", "no votes");
    expect_load_error("when,who\n1,2\n", "line 1", "timestamp");
}

static void participants_votes_and_groups_files_are_checked(void **state) {
    (void)state;
    char dir[] = "/tmp/cg-opinion-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char err[512], p[1100];
    /* A good matrix, then a bad cell, then a short row. */
    const char *good = "participant,group-id,n-comments,n-votes,n-agree,n-disagree,0,1\n"
                       "0,0,0,2,1,1,1,-1\n1,,0,1,0,0,,0\n";
    write_file(dir, "participants-votes.csv", good);
    opinion_conv *c = opinion_conv_new();
    int64_t *rp;
    int *rg;
    size_t rn;
    assert_int_equal(opinion_load_dir(c, dir, &rp, &rg, &rn, err, sizeof err), 0);
    assert_int_equal(opinion_n_votes(c), 3);
    assert_int_equal(rn, 2);
    assert_int_equal(rg[0], 0);
    assert_int_equal(rg[1], -1); /* blank group-id */
    free(rp);
    free(rg);
    /* --groups: a participant who never voted is named. */
    write_file(dir, "groups.csv", "participant,group\n0,1\n7,2\n");
    snprintf(p, sizeof p, "%s/groups.csv", dir);
    assert_int_not_equal(opinion_load_groups(c, p, err, sizeof err), 0);
    assert_non_null(strstr(err, "line 3"));
    assert_non_null(strstr(err, "participant 7"));
    opinion_conv_free(c);
    write_file(dir, "participants-votes.csv",
               "participant,group-id,n-comments,n-votes,n-agree,n-disagree,0,1\n0,0,0,2,1,1,1,2\n");
    c = opinion_conv_new();
    assert_int_not_equal(opinion_load_dir(c, dir, NULL, NULL, NULL, err, sizeof err), 0);
    assert_non_null(strstr(err, "participants-votes.csv: line 2"));
    opinion_conv_free(c);
    write_file(dir, "participants-votes.csv",
               "participant,group-id,n-comments,n-votes,n-agree,n-disagree,0,1\n0,0,0,2,1,1,1\n");
    c = opinion_conv_new();
    assert_int_not_equal(opinion_load_dir(c, dir, NULL, NULL, NULL, err, sizeof err), 0);
    assert_non_null(strstr(err, "line 2"));
    assert_non_null(strstr(err, "fields"));
    opinion_conv_free(c);
    snprintf(p, sizeof p, "%s/participants-votes.csv", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/groups.csv", dir);
    unlink(p);
    rmdir(dir);
}

/* ---- the command line -------------------------------------------------------------- */

static char *run(const char *cmd, int *status) {
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t cap = 1 << 16, n = 0;
    char *out = xmalloc(cap);
    size_t k;
    while ((k = fread(out + n, 1, cap - n - 1, f)) > 0) {
        n += k;
        if (n + 1 == cap) out = xrealloc(out, cap *= 2);
    }
    out[n] = 0;
    *status = pclose(f);
    return out;
}

static void cli_json_is_deterministic_and_groups_file_is_used(void **state) {
    (void)state;
    const char *bin = getenv("CG_TEST_BIN");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/polis/reddwarf-fixtures/below-100-ptpts", data_dir());
    if (!bin || access(bin, X_OK) != 0 || !dir_exists(dir)) skip();
    char cmd[4096];
    int st1, st2, st3;
    snprintf(cmd, sizeof cmd, "%s opinion %s --format json --svg /tmp/cg-opinion-test.svg", bin, dir);
    char *a = run(cmd, &st1), *b = run(cmd, &st2);
    assert_int_equal(st1, 0);
    assert_int_equal(st2, 0);
    assert_string_equal(a, b); /* byte for byte */
    json_error_t je;
    json_t *j = json_loads(a, 0, &je);
    assert_non_null(j);
    const char *keys[] = {"in-conv", "pca", "base-clusters", "group-clusters", "repness", "consensus",
                          "group-aware-consensus", "comment-priorities", "groups", "participants"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) assert_non_null(json_object_get(j, keys[i]));
    json_decref(j);
    int st;
    char *svg = run("cat /tmp/cg-opinion-test.svg", &st);
    assert_non_null(strstr(svg, "<svg"));
    assert_non_null(strstr(svg, "role=\"img\""));
    assert_non_null(strstr(svg, "<title"));
    unlink("/tmp/cg-opinion-test.svg");
    /* --groups: everyone listed lands in the named group. */
    FILE *g = fopen("/tmp/cg-opinion-groups.csv", "w");
    fputs("participant,group\n0,4\n1,4\n2,9\n3,9\n", g);
    fclose(g);
    snprintf(cmd, sizeof cmd, "%s opinion %s --format json --groups /tmp/cg-opinion-groups.csv", bin, dir);
    char *c = run(cmd, &st3);
    assert_int_equal(st3, 0);
    j = json_loads(c, 0, &je);
    assert_non_null(j);
    json_t *groups = json_object_get(j, "groups");
    assert_int_equal(json_array_size(groups), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(groups, 0), "id")), 4);
    assert_int_equal(json_array_size(json_object_get(json_array_get(groups, 1), "members")), 2);
    json_decref(j);
    unlink("/tmp/cg-opinion-groups.csv");
    /* Bad usage and bad files fail with a message. */
    snprintf(cmd, sizeof cmd, "%s opinion /nonexistent-dir 2>&1", bin);
    char *e = run(cmd, &st);
    assert_int_not_equal(st, 0);
    assert_non_null(strstr(e, "/nonexistent-dir"));
    free(a);
    free(b);
    free(c);
    free(e);
    free(svg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(prop_tests_follow_the_formulas),
        cmocka_unit_test(ari_matches_hand_computed_cases),
        cmocka_unit_test(jacobi_diagonalises),
        cmocka_unit_test(last_vote_counts_and_unknown_comments_are_rejected),
        cmocka_unit_test(lanczos_pca_matches_dense_power_iteration),
        cmocka_unit_test(planted_groups_are_found),
        cmocka_unit_test(a_few_outliers_are_not_an_opinion_group),
        cmocka_unit_test(results_do_not_depend_on_vote_order),
        cmocka_unit_test(warm_update_agrees_with_cold_recompute),
        cmocka_unit_test(tiny_and_degenerate_conversations_work),
        cmocka_unit_test(polis_statistics_equal_math_pca2),
        cmocka_unit_test(clearly_split_conversations_match_polis_groups),
        cmocka_unit_test(priorities_use_previous_update_group_votes),
        cmocka_unit_test(map_positions_equal_polis),
        cmocka_unit_test(median_ari_over_conversations),
        cmocka_unit_test(bad_input_names_file_line_and_reason),
        cmocka_unit_test(participants_votes_and_groups_files_are_checked),
        cmocka_unit_test(cli_json_is_deterministic_and_groups_file_is_used),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
