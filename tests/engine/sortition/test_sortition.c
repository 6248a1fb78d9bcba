/*
 * Unit tests for src/engine/sortition: loading and its refusals, LEXIMIN on cases with
 * known answers, the reference data sets (CG_SHARED_DATA; skipped when absent),
 * invariants on generated pools checked against an independent brute-force maximin LP,
 * LEGACY against LEXIMIN, the draw and the lottery, infeasibility diagnosis, the stop
 * flag, and the command line (CG_TEST_BIN).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <glpk.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/wait.h>

#include "core/buf.h"
#include "core/xalloc.h"
#include "engine/sortition/internal.h"
#include "engine/sortition/sortition.h"

/* ---- helpers ---------------------------------------------------------------------- */

static int load_mem(const char *cats, const char *people, int k, const char *const *addr, size_t naddr,
                    sortition_instance **out, char *err, size_t errlen) {
    sortition_load_opts o = {"cats.csv", "people.csv", addr, naddr, k};
    return sortition_load(cats, strlen(cats), people, strlen(people), &o, out, err, errlen);
}

static sortition_result *run_ok(const sortition_instance *inst, sortition_solver s) {
    sortition_opts o;
    sortition_opts_init(&o);
    o.solver = s;
    sortition_result *r = NULL;
    char err[512] = "";
    int rc = sortition_run(inst, &o, &r, err, sizeof err);
    if (rc) fprintf(stderr, "run failed: %s\n", err);
    assert_int_equal(rc, SORTITION_OK);
    return r;
}

static long find_id(const sortition_instance *inst, const char *id) {
    for (size_t i = 0; i < inst->n; i++)
        if (strcmp(inst->id[i], id) == 0) return (long)i;
    return -1;
}

/* Checks everything a result must satisfy whatever the instance: probabilities in
 * [0,1] summing to k, every panel of the distribution valid, the panel probabilities
 * summing to 1 and their marginals equal to the reported probabilities. */
static void check_result_invariants(const sortition_instance *inst, const sortition_result *r) {
    double sum = 0;
    for (size_t i = 0; i < inst->n; i++) {
        assert_true(r->probability[i] >= -1e-9 && r->probability[i] <= 1 + 1e-9);
        sum += r->probability[i];
    }
    assert_true(fabs(sum - inst->k) < 1e-6);
    assert_true(r->npanels > 0);
    double *marg = xcalloc(inst->n, sizeof(double));
    double psum = 0;
    for (size_t j = 0; j < r->npanels; j++) {
        const int *p = r->panel + j * (size_t)inst->k;
        assert_true(sortition_panel_valid(inst, p));
        psum += r->panel_prob[j];
        for (int a = 0; a < inst->k; a++) marg[p[a]] += r->panel_prob[j];
    }
    assert_true(fabs(psum - 1) < 1e-9);
    for (size_t i = 0; i < inst->n; i++) assert_true(fabs(marg[i] - r->probability[i]) < 1e-7);
    free(marg);
}

static const char *data_dir(void) {
    static char path[1024];
    const char *d = getenv("CG_SHARED_DATA");
    snprintf(path, sizeof path, "%s/sortition", d ? d : "../shared/data");
    struct stat st;
    return stat(path, &st) == 0 ? path : NULL;
}

static int load_data(const char *name, const char *const *addr, size_t naddr, int k, sortition_instance **inst) {
    const char *d = data_dir();
    if (!d) return -1;
    char c[1200], p[1200], err[1024];
    snprintf(c, sizeof c, "%s/%s/categories.csv", d, name);
    snprintf(p, sizeof p, "%s/%s/respondents.csv", d, name);
    int rc = sortition_load_files(c, p, addr, naddr, k, inst, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, SORTITION_OK);
    return 0;
}

/* ---- loading ----------------------------------------------------------------------- */

static const char *CATS = "category,feature,min,max\n"
                          "gender,female,1,1\n"
                          "gender,male,1,1\n";

static void load_trims_and_matches_case_insensitively(void **state) {
    (void)state;
    sortition_instance *inst;
    char err[512];
    const char *people = "id , Gender\n a1 , FEMALE \nb2,Female\nc3,  male\n";
    assert_int_equal(load_mem(CATS, people, 2, NULL, 0, &inst, err, sizeof err), SORTITION_OK);
    assert_int_equal(inst->n, 3);
    assert_string_equal(inst->id[0], "a1");
    assert_int_equal(inst->person_feat[0], 0);
    assert_int_equal(inst->person_feat[2], 1);
    sortition_instance_free(inst);
    /* Without an id column a person's id is the data row's index from 0. */
    assert_int_equal(load_mem(CATS, "gender\nfemale\nmale\n", 2, NULL, 0, &inst, err, sizeof err), SORTITION_OK);
    assert_string_equal(inst->id[1], "1");
    sortition_instance_free(inst);
    /* The Foundation's own header feature,value,min,max,min_flex,max_flex. */
    const char *sf = "feature,value,min,max,min_flex,max_flex\ngender,female,1,1,0,2\ngender,male,1,1,0,2\n";
    assert_int_equal(load_mem(sf, "gender\nfemale\nmale\n", 2, NULL, 0, &inst, err, sizeof err), SORTITION_OK);
    assert_int_equal(inst->feat_max_flex[0], 2);
    sortition_instance_free(inst);
}

static void load_refuses_bad_input_naming_row_and_column(void **state) {
    (void)state;
    sortition_instance *inst;
    char err[512];
    assert_int_equal(load_mem(CATS, "id,gender\n1,female\n2,mael\n", 2, NULL, 0, &inst, err, sizeof err),
                     SORTITION_EINPUT);
    assert_non_null(strstr(err, "line 3"));
    assert_non_null(strstr(err, "'gender'"));
    assert_non_null(strstr(err, "mael"));
    assert_null(inst);
    assert_int_equal(load_mem(CATS, "id,gender\n1,female\n1,male\n", 2, NULL, 0, &inst, err, sizeof err),
                     SORTITION_EINPUT);
    assert_non_null(strstr(err, "used twice"));
    assert_non_null(strstr(err, "line 3"));
    assert_int_equal(load_mem(CATS, "id,sex\n1,female\n", 2, NULL, 0, &inst, err, sizeof err), SORTITION_EINPUT);
    assert_non_null(strstr(err, "category 'gender'"));
    assert_int_equal(load_mem("category,feature,min,max\ngender,female,3,1\n", "gender\nfemale\n", 1, NULL, 0, &inst,
                              err, sizeof err),
                     SORTITION_EINPUT);
    assert_non_null(strstr(err, "above its maximum"));
    assert_non_null(strstr(err, "line 2"));
    assert_int_equal(load_mem(CATS, "gender\nfemale\nmale\nmale\n", 3, NULL, 0, &inst, err, sizeof err),
                     SORTITION_EINPUT);
    assert_non_null(strstr(err, "outside what the quotas allow"));
    assert_int_equal(load_mem("category,feature,min,max\ngender,female,x,1\n", "gender\nfemale\n", 1, NULL, 0, &inst,
                              err, sizeof err),
                     SORTITION_EINPUT);
    assert_non_null(strstr(err, "column min"));
    const char *addr[] = {"street"};
    assert_int_equal(load_mem(CATS, "gender\nfemale\nmale\n", 2, addr, 1, &inst, err, sizeof err), SORTITION_EINPUT);
    assert_non_null(strstr(err, "street"));
}

static void load_builds_households_from_all_address_columns(void **state) {
    (void)state;
    const char *cats = "category,feature,min,max\ng,a,0,2\ng,b,0,2\n";
    const char *people = "id,g,street,postcode\n"
                         "p1,a,1 High St,AB1\n"
                         "p2,b, 1 high st ,ab1\n" /* same household as p1 */
                         "p3,a,1 High St,AB2\n"   /* same street, other postcode */
                         "p4,b,,\n";              /* no address: alone */
    const char *addr[] = {"street", "postcode"};
    sortition_instance *inst;
    char err[512];
    assert_int_equal(load_mem(cats, people, 2, addr, 2, &inst, err, sizeof err), SORTITION_OK);
    assert_int_equal(inst->nhouseholds, 1);
    assert_true(inst->household[0] >= 0);
    assert_int_equal(inst->household[0], inst->household[1]);
    assert_int_equal(inst->household[2], -1);
    assert_int_equal(inst->household[3], -1);
    int bad[2] = {0, 1}, good[2] = {0, 3};
    assert_false(sortition_panel_valid(inst, bad));
    assert_true(sortition_panel_valid(inst, good));
    sortition_result *r = run_ok(inst, SORTITION_SOLVER_COIN);
    check_result_invariants(inst, r);
    /* Panels of two with at most one of p1, p2: the LEXIMIN gives everyone 1/2. */
    for (size_t i = 0; i < 4; i++) assert_true(fabs(r->probability[i] - 0.5) < 1e-6);
    sortition_result_free(r);
    sortition_instance_free(inst);
}

/* ---- LEXIMIN with known answers ------------------------------------------------------ */

static void leximin_known_small_answer(void **state) {
    (void)state;
    /* Three women and one man, one of each: the man is always selected, each woman
     * one time in three. */
    sortition_instance *inst;
    char err[512];
    assert_int_equal(load_mem(CATS, "id,gender\nw1,female\nw2,female\nm,male\nw3,female\n", 2, NULL, 0, &inst, err,
                              sizeof err),
                     SORTITION_OK);
    for (int s = 0; s < 2; s++) {
        sortition_result *r = run_ok(inst, s ? SORTITION_SOLVER_GLPK : SORTITION_SOLVER_COIN);
        check_result_invariants(inst, r);
        assert_true(fabs(r->probability[find_id(inst, "m")] - 1) < 1e-9);
        assert_true(fabs(r->probability[find_id(inst, "w1")] - 1.0 / 3) < 1e-9);
        assert_true(fabs(r->stats.min - 1.0 / 3) < 1e-9);
        assert_true(fabs(r->stats.max - 1) < 1e-9);
        sortition_result_free(r);
    }
    sortition_instance_free(inst);
}

static void leximin_names_people_in_no_feasible_panel(void **state) {
    (void)state;
    const char *cats = "category,feature,min,max\nage,young,0,2\nage,old,0,2\nage,child,0,0\n";
    sortition_instance *inst;
    char err[512];
    assert_int_equal(load_mem(cats, "id,age\na,young\nb,old\nc,child\nd,old\n", 2, NULL, 0, &inst, err, sizeof err),
                     SORTITION_OK);
    sortition_result *r = run_ok(inst, SORTITION_SOLVER_COIN);
    assert_int_equal(r->nuncoverable, 1);
    assert_int_equal(r->uncoverable[0], find_id(inst, "c"));
    assert_true(r->probability[find_id(inst, "c")] < 1e-12);
    assert_true(fabs(r->probability[find_id(inst, "a")] - 2.0 / 3) < 1e-7);
    check_result_invariants(inst, r);
    sortition_result_free(r);
    sortition_instance_free(inst);
}

/* ---- reference data ------------------------------------------------------------------ */

static void example_instances_give_everyone_k_over_n(void **state) {
    (void)state;
    const char *names[] = {"example_small_20", "example_large_200"};
    int ks[] = {20, 200};
    for (int e = 0; e < 2; e++) {
        sortition_instance *inst;
        if (load_data(names[e], NULL, 0, ks[e], &inst) != 0) skip();
        sortition_result *r = run_ok(inst, SORTITION_SOLVER_COIN);
        double want = (double)ks[e] / (double)inst->n;
        for (size_t i = 0; i < inst->n; i++) assert_true(fabs(r->probability[i] - want) < 1e-6);
        check_result_invariants(inst, r);
        sortition_result_free(r);
        sortition_instance_free(inst);
    }
}

static void sa_fixture_sums_to_k_with_minimum_one_eleventh(void **state) {
    (void)state;
    const char *addr[] = {"address"};
    sortition_instance *inst;
    if (load_data("sa_fixture_22", addr, 1, 22, &inst) != 0) skip();
    sortition_result *r = run_ok(inst, SORTITION_SOLVER_COIN);
    check_result_invariants(inst, r);
    assert_true(fabs(r->stats.min - 0.0909) < 1e-3);
    sortition_result_free(r);
    sortition_instance_free(inst);
}

/* Compares with expected_leximin.csv within 1e-4 per person. */
/* A synthetic instance through the relaxation's LEXIMIN (the default) and, when stages
 * is set, stage by stage too; each within 1e-4 of the independent reference. */
static void check_synthetic(const char *name, int k, const char *const *addr, size_t naddr, sortition_solver s,
                            int stages) {
    sortition_instance *inst;
    char sub[256];
    snprintf(sub, sizeof sub, "synthetic/%s", name);
    if (load_data(sub, addr, naddr, k, &inst) != 0) skip();
    for (int relax = 1; relax >= (stages ? 0 : 1); relax--) {
        sortition_opts o;
        sortition_opts_init(&o);
        o.solver = s;
        o.use_relaxation = relax;
        sortition_result *r = NULL;
        char err[512] = "";
        assert_int_equal(sortition_run(inst, &o, &r, err, sizeof err), SORTITION_OK);
        check_result_invariants(inst, r);
        char path[1200];
        snprintf(path, sizeof path, "%s/synthetic/%s/expected_leximin.csv", data_dir(), name);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        char line[256];
        size_t seen = 0;
        double worst = 0;
        assert_non_null(fgets(line, sizeof line, f));
        while (fgets(line, sizeof line, f)) {
            char *comma = strchr(line, ',');
            assert_non_null(comma);
            *comma = 0;
            long i = find_id(inst, line);
            assert_true(i >= 0);
            double d = fabs(r->probability[i] - strtod(comma + 1, NULL));
            if (d > worst) worst = d;
            seen++;
        }
        fclose(f);
        assert_int_equal(seen, inst->n);
        assert_true(worst < 1e-4);
        sortition_result_free(r);
    }
    sortition_instance_free(inst);
}

static void synthetic_n70_matches_reference(void **state) {
    (void)state;
    check_synthetic("syn_n70_k24", 24, NULL, 0, SORTITION_SOLVER_COIN, 1);
    check_synthetic("syn_n70_k24", 24, NULL, 0, SORTITION_SOLVER_GLPK, 1);
}

/* The larger synthetic instances, through the relaxation with both solvers; stage by
 * stage (tens of seconds under the sanitizers) only when CG_SLOW_TESTS is set, and
 * always in bench/sortition.sh. */
static void synthetic_larger_match_reference(void **state) {
    (void)state;
    int slow = getenv("CG_SLOW_TESTS") != NULL;
    const char *addr[] = {"address_line_1", "postcode"};
    for (int g = 0; g < 2; g++) {
        sortition_solver s = g ? SORTITION_SOLVER_GLPK : SORTITION_SOLVER_COIN;
        check_synthetic("syn_n250_k20", 20, NULL, 0, s, slow && !g);
        check_synthetic("syn_n239_k30_hh", 30, addr, 2, s, slow && !g);
    }
}

/* ---- generated pools ----------------------------------------------------------------- */

/* A random pool of n people in 2-3 categories with quotas around the pool's shares
 * (always feasible: the quotas are built around one random panel). */
static sortition_instance *gen_pool(uint64_t *rng, int n, int k, int ncat, int households) {
    buf cats, people;
    buf_init(&cats, 1 << 20);
    buf_init(&people, 1 << 20);
    buf_puts(&cats, "category,feature,min,max\n");
    int nf[3], *val = xcalloc((size_t)n * 3, sizeof(int));
    for (int c = 0; c < ncat; c++) nf[c] = 2 + (int)(sortition_rng_next(rng) % 2);
    for (int i = 0; i < n; i++)
        for (int c = 0; c < ncat; c++) {
            /* skewed: feature 0 is more common */
            int f = (int)(sortition_rng_next(rng) % (uint64_t)(nf[c] + 1));
            val[i * 3 + c] = f >= nf[c] ? 0 : f;
        }
    /* reference panel: the first k people (the pool order is random anyway) */
    for (int c = 0; c < ncat; c++)
        for (int f = 0; f < nf[c]; f++) {
            int cnt = 0;
            for (int i = 0; i < k; i++) cnt += val[i * 3 + c] == f;
            int lo = cnt - (int)(sortition_rng_next(rng) % 2), hi = cnt + (int)(sortition_rng_next(rng) % 2);
            buf_printf(&cats, "c%d,f%d,%d,%d\n", c, f, lo < 0 ? 0 : lo, hi);
        }
    buf_puts(&people, "id");
    for (int c = 0; c < ncat; c++) buf_printf(&people, ",c%d", c);
    buf_puts(&people, ",home\n");
    for (int i = 0; i < n; i++) {
        buf_printf(&people, "p%d", i);
        for (int c = 0; c < ncat; c++) buf_printf(&people, ",f%d", val[i * 3 + c]);
        /* households: people after the panel share homes in pairs sometimes */
        if (households && i >= k && sortition_rng_next(rng) % 3 == 0) buf_printf(&people, ",h%d\n", i / 2);
        else buf_printf(&people, ",own%d\n", i);
    }
    const char *addr[] = {"home"};
    sortition_instance *inst = NULL;
    char err[512];
    int rc = load_mem(buf_cstr(&cats), buf_cstr(&people), k, addr, 1, &inst, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, SORTITION_OK);
    buf_free(&cats);
    buf_free(&people);
    free(val);
    return inst;
}

/* Independent maximin optimum: enumerate every feasible panel and solve
 * max z s.t. sum_P p_P = 1, sum_{P ∋ i} p_P >= z for people in some panel. */
static double brute_maximin(const sortition_instance *inst, unsigned char *covered) {
    int n = (int)inst->n, k = inst->k;
    int *idx = xcalloc((size_t)k, sizeof(int));
    for (int a = 0; a < k; a++) idx[a] = a;
    size_t cap = 1024, np = 0;
    int *panels = xcalloc(cap * (size_t)k, sizeof(int));
    for (;;) {
        if (sortition_panel_valid(inst, idx)) {
            if (np == cap) {
                cap *= 2;
                panels = xreallocarray(panels, cap * (size_t)k, sizeof(int));
            }
            memcpy(panels + np * (size_t)k, idx, (size_t)k * sizeof(int));
            np++;
        }
        int a = k - 1;
        while (a >= 0 && idx[a] == n - k + a) a--;
        if (a < 0) break;
        idx[a]++;
        for (int b = a + 1; b < k; b++) idx[b] = idx[b - 1] + 1;
    }
    assert_true(np > 0);
    unsigned char *cov = xcalloc((size_t)n, 1);
    for (size_t q = 0; q < np * (size_t)k; q++) cov[panels[q]] = 1;
    memcpy(covered, cov, (size_t)n);
    glp_prob *g = glp_create_prob();
    glp_set_obj_dir(g, GLP_MAX);
    glp_add_rows(g, n + 1);
    glp_set_row_bnds(g, 1, GLP_FX, 1, 1);
    for (int i = 0; i < n; i++) glp_set_row_bnds(g, i + 2, cov[i] ? GLP_LO : GLP_FR, 0, 0);
    glp_add_cols(g, (int)np + 1);
    glp_set_col_bnds(g, 1, GLP_FR, 0, 0);
    glp_set_obj_coef(g, 1, 1);
    int *ind = xcalloc((size_t)n + 2, sizeof(int));
    double *v = xcalloc((size_t)n + 2, sizeof(double));
    int len = 0;
    for (int i = 0; i < n; i++)
        if (cov[i]) ind[++len] = i + 2, v[len] = -1;
    glp_set_mat_col(g, 1, len, ind, v);
    for (size_t p = 0; p < np; p++) {
        ind[1] = 1, v[1] = 1;
        for (int a = 0; a < k; a++) ind[a + 2] = panels[p * (size_t)k + (size_t)a] + 2, v[a + 2] = 1;
        glp_set_col_bnds(g, (int)p + 2, GLP_LO, 0, 0);
        glp_set_mat_col(g, (int)p + 2, k + 1, ind, v);
    }
    glp_smcp sp;
    glp_init_smcp(&sp);
    sp.msg_lev = GLP_MSG_OFF;
    assert_int_equal(glp_simplex(g, &sp), 0);
    double z = glp_get_obj_val(g);
    glp_delete_prob(g);
    free(ind);
    free(v);
    free(cov);
    free(panels);
    free(idx);
    return z;
}

static void generated_pools_keep_invariants(void **state) {
    (void)state;
    uint64_t rng = 20240607;
    for (int trial = 0; trial < 12; trial++) {
        int n = 9 + (int)(sortition_rng_next(&rng) % 5), k = 3 + (int)(sortition_rng_next(&rng) % 2);
        sortition_instance *inst = gen_pool(&rng, n, k, 2 + trial % 2, trial % 3 == 0);
        sortition_result *r = run_ok(inst, trial % 2 ? SORTITION_SOLVER_GLPK : SORTITION_SOLVER_COIN);
        check_result_invariants(inst, r);
        /* the smallest probability among people in some panel is the maximin optimum */
        double mn = 2;
        for (size_t i = 0; i < inst->n; i++) {
            int unc = 0;
            for (size_t q = 0; q < r->nuncoverable; q++) unc |= r->uncoverable[q] == (int)i;
            if (!unc && r->probability[i] < mn) mn = r->probability[i];
        }
        unsigned char *cov = xcalloc(inst->n, 1);
        double z = brute_maximin(inst, cov);
        /* the people named as in no feasible panel are exactly those */
        size_t nunc = 0;
        for (size_t i = 0; i < inst->n; i++) nunc += !cov[i];
        assert_int_equal(nunc, r->nuncoverable);
        for (size_t q = 0; q < r->nuncoverable; q++) assert_false(cov[r->uncoverable[q]]);
        free(cov);
        assert_true(fabs(mn - z) < 1e-6);
        /* LEGACY never beats LEXIMIN's minimum (up to sampling noise) */
        sortition_opts o;
        sortition_opts_init(&o);
        o.algorithm = SORTITION_LEGACY;
        o.legacy_runs = 20000;
        o.seed = (uint64_t)trial;
        sortition_result *lg = NULL;
        char err[256];
        if (sortition_run(inst, &o, &lg, err, sizeof err) == SORTITION_OK) {
            /* 4 standard deviations of a frequency over 20000 draws */
            if (lg->stats.min > r->stats.min + 0.015)
                fprintf(stderr, "trial %d: legacy min %g leximin min %g\n", trial, lg->stats.min, r->stats.min);
            assert_true(lg->stats.min <= r->stats.min + 0.015);
            double s = 0;
            for (size_t i = 0; i < inst->n; i++) s += lg->probability[i];
            assert_true(fabs(s - inst->k) < 1e-9);
            sortition_result_free(lg);
        }
        sortition_result_free(r);
        sortition_instance_free(inst);
    }
}

/* The shortcut through the LP relaxation's LEXIMIN (met in one stage) and the stage-by-
 * stage computation give the same vector (it is unique). */
static void relaxation_shortcut_agrees_with_stages(void **state) {
    (void)state;
    uint64_t rng = 31337;
    int met = 0, out = 0;
    for (int trial = 0; trial < 40; trial++) {
        int n = 12 + (int)(sortition_rng_next(&rng) % 30), k = 3 + (int)(sortition_rng_next(&rng) % 6);
        sortition_instance *inst = gen_pool(&rng, n, k, 3, trial % 4 == 0);
        sortition_opts o;
        sortition_opts_init(&o);
        o.solver = trial % 3 == 2 ? SORTITION_SOLVER_GLPK : SORTITION_SOLVER_COIN;
        sortition_result *a = NULL, *b = NULL;
        char err[256];
        assert_int_equal(sortition_run(inst, &o, &a, err, sizeof err), SORTITION_OK);
        o.use_relaxation = 0;
        assert_int_equal(sortition_run(inst, &o, &b, err, sizeof err), SORTITION_OK);
        assert_int_equal(b->relaxation, -1);
        assert_true(a->relaxation == 0 || a->relaxation == 1);
        met += a->relaxation == 1;
        out += a->relaxation == 0;
        check_result_invariants(inst, a);
        for (size_t i = 0; i < inst->n; i++) assert_true(fabs(a->probability[i] - b->probability[i]) < 1e-6);
        sortition_result_free(a);
        sortition_result_free(b);
        sortition_instance_free(inst);
    }
    assert_int_equal(met + out, 40);
    assert_true(met > 0);
}

/* A pool where the relaxation's LEXIMIN is out of reach (the quota polytope has a
 * fractional corner that no mix of panels reaches): the stages take over and give the
 * answer worked out by hand. The feasible panels are {0,1,2,3}, {0,1,2,4}, {0,1,2,6},
 * {0,2,5,7} and {1,2,5,7}: people 3, 4 and 6 are in one panel each and 5 and 7 share
 * the last two, so the smallest probability is 1/4 (each of the first three panels
 * 1/4, the last two 1/8 each); then 0 and 1 get 7/8 and 2 is on every panel. */
static void relaxation_out_of_reach_falls_back_to_stages(void **state) {
    (void)state;
    const char *cats = "category,feature,min,max\n"
                       "c0,f0,0,1\nc0,f1,2,3\nc0,f2,1,2\n"
                       "c1,f0,1,1\nc1,f1,3,3\n"
                       "c2,f0,2,4\nc2,f1,1,1\n";
    const char *people = "c0,c1,c2\n"
                         "f1,f1,f0\nf1,f1,f0\nf2,f1,f0\nf2,f0,f1\n"
                         "f1,f0,f1\nf0,f0,f0\nf0,f0,f1\nf1,f1,f1\n";
    const double want[] = {0.875, 0.875, 1, 0.25, 0.25, 0.25, 0.25, 0.25};
    sortition_instance *inst = NULL;
    char err[256];
    assert_int_equal(load_mem(cats, people, 4, NULL, 0, &inst, err, sizeof err), SORTITION_OK);
    for (int s = 0; s < 2; s++) {
        sortition_result *r = run_ok(inst, s ? SORTITION_SOLVER_GLPK : SORTITION_SOLVER_COIN);
        assert_int_equal(r->relaxation, 0);
        check_result_invariants(inst, r);
        for (size_t i = 0; i < 8; i++) assert_true(fabs(r->probability[i] - want[i]) < 1e-7);
        sortition_result_free(r);
    }
    sortition_instance_free(inst);
}

static void larger_generated_pool_with_households(void **state) {
    (void)state;
    uint64_t rng = 77;
    sortition_instance *inst = gen_pool(&rng, 120, 15, 3, 1);
    assert_true(inst->nhouseholds > 0);
    sortition_result *r = run_ok(inst, SORTITION_SOLVER_COIN);
    check_result_invariants(inst, r);
    sortition_result *g = run_ok(inst, SORTITION_SOLVER_GLPK);
    /* the LEXIMIN vector is unique: both solvers agree */
    for (size_t i = 0; i < inst->n; i++) assert_true(fabs(r->probability[i] - g->probability[i]) < 1e-5);
    sortition_result_free(g);
    sortition_result_free(r);
    sortition_instance_free(inst);
}

/* ---- draw and lottery ---------------------------------------------------------------- */

static void draw_and_lottery_are_reproducible_and_valid(void **state) {
    (void)state;
    uint64_t rng = 5;
    sortition_instance *inst = gen_pool(&rng, 40, 8, 3, 1);
    sortition_result *r = run_ok(inst, SORTITION_SOLVER_COIN);
    size_t j1, j2;
    double u1, u2;
    assert_int_equal(sortition_draw(r, 42, &j1, &u1), SORTITION_OK);
    assert_int_equal(sortition_draw(r, 42, &j2, &u2), SORTITION_OK);
    assert_int_equal(j1, j2);
    assert_true(u1 == u2 && u1 >= 0 && u1 < 1);
    /* the panel drawn is the one whose cumulative interval holds u */
    double acc = 0;
    for (size_t j = 0; j < j1; j++) acc += r->panel_prob[j];
    assert_true(acc <= u1 + 1e-12 && u1 < acc + r->panel_prob[j1] + 1e-12);
    /* draws follow the distribution: frequencies over many seeds */
    double *freq = xcalloc(inst->n, sizeof(double));
    int draws = 4000;
    for (int s = 0; s < draws; s++) {
        size_t j;
        sortition_draw(r, (uint64_t)s * 7919 + 1, &j, NULL);
        for (int a = 0; a < inst->k; a++) freq[r->panel[j * (size_t)inst->k + (size_t)a]] += 1.0 / draws;
    }
    for (size_t i = 0; i < inst->n; i++) assert_true(fabs(freq[i] - r->probability[i]) < 0.05);
    free(freq);

    sortition_lottery l;
    assert_int_equal(sortition_round(r, 1000, &l), SORTITION_OK);
    assert_int_equal(l.m, 1000);
    double *share = xcalloc(inst->n, sizeof(double));
    for (size_t q = 0; q < l.m; q++) {
        assert_true(sortition_panel_valid(inst, l.panel + q * (size_t)l.k));
        for (int a = 0; a < l.k; a++) share[l.panel[q * (size_t)l.k + (size_t)a]] += 1.0 / 1000;
    }
    double dev = 0;
    for (size_t i = 0; i < inst->n; i++)
        if (fabs(share[i] - r->probability[i]) > dev) dev = fabs(share[i] - r->probability[i]);
    assert_true(fabs(dev - l.max_deviation) < 1e-12);
    assert_true(dev < 0.05);
    free(share);
    sortition_lottery_free(&l);
    sortition_result_free(r);
    sortition_instance_free(inst);
}

static void stats_are_the_documented_formulas(void **state) {
    (void)state;
    double v[4] = {0.1, 0.2, 0.3, 0.4};
    sortition_stats s;
    sortition_compute_stats(v, 4, &s);
    assert_true(fabs(s.min - 0.1) < 1e-15 && fabs(s.max - 0.4) < 1e-15);
    assert_true(fabs(s.median - 0.25) < 1e-15);
    /* mean absolute difference over all ordered pairs = 0.125, mean 0.25 */
    assert_true(fabs(s.gini - 0.125 / (2 * 0.25)) < 1e-12);
    assert_true(fabs(s.geometric_mean - pow(0.1 * 0.2 * 0.3 * 0.4, 0.25)) < 1e-12);
    double z[2] = {0, 1};
    sortition_compute_stats(z, 2, &s);
    assert_true(s.geometric_mean == 0);
}

/* ---- infeasible quotas --------------------------------------------------------------- */

static void diagnosis_cheap_checks_and_relaxation(void **state) {
    (void)state;
    sortition_instance *inst;
    char err[512], msg[4096];
    /* a feature with fewer volunteers than its minimum */
    const char *cats1 = "category,feature,min,max\ngender,female,3,3\ngender,male,0,3\n";
    assert_int_equal(load_mem(cats1, "gender\nfemale\nfemale\nmale\nmale\n", 3, NULL, 0, &inst, err, sizeof err),
                     SORTITION_OK);
    sortition_opts o;
    sortition_opts_init(&o);
    sortition_result *r = NULL;
    assert_int_equal(sortition_run(inst, &o, &r, err, sizeof err), SORTITION_EINFEASIBLE);
    assert_int_equal(sortition_diagnose(inst, msg, sizeof msg), 1);
    assert_non_null(strstr(msg, "gender: female minimum 3, but only 2 volunteers have it"));
    sortition_instance_free(inst);
    /* quotas that interact: women are all old, men all young; two women and two young
     * people in a panel of two cannot both hold. */
    const char *cats2 = "category,feature,min,max\n"
                        "gender,female,2,2\ngender,male,0,2\n"
                        "age,young,1,2\nage,old,0,2\n";
    const char *people2 = "gender,age\nfemale,old\nfemale,old\nfemale,old\nmale,young\nmale,young\n";
    assert_int_equal(load_mem(cats2, people2, 2, NULL, 0, &inst, err, sizeof err), SORTITION_OK);
    assert_int_equal(sortition_diagnose(inst, msg, sizeof msg), 1);
    /* lowering the minimum of 2 women to 1 (cost 1/2) is cheaper than lowering the
     * young minimum of 1 to 0 (cost 1) */
    assert_non_null(strstr(msg, "gender: female minimum 2 \xe2\x86\x92 1"));
    assert_null(strstr(msg, "age: young minimum"));
    sortition_instance_free(inst);
    /* feasible quotas: nothing to report */
    assert_int_equal(load_mem(CATS, "gender\nfemale\nmale\n", 2, NULL, 0, &inst, err, sizeof err), SORTITION_OK);
    assert_int_equal(sortition_diagnose(inst, msg, sizeof msg), 0);
    sortition_instance_free(inst);
}

static void stop_flag_interrupts_cleanly(void **state) {
    (void)state;
    uint64_t rng = 9;
    sortition_instance *inst = gen_pool(&rng, 30, 6, 2, 0);
    volatile sig_atomic_t stop = 1;
    sortition_opts o;
    sortition_opts_init(&o);
    o.stop = &stop;
    sortition_result *r = NULL;
    char err[256];
    assert_int_equal(sortition_run(inst, &o, &r, err, sizeof err), SORTITION_EINTERRUPTED);
    assert_null(r);
    o.algorithm = SORTITION_LEGACY;
    assert_int_equal(sortition_run(inst, &o, &r, err, sizeof err), SORTITION_EINTERRUPTED);
    sortition_instance_free(inst);
}

/* A Ctrl-C that arrives while the MIP oracle is solving must reach the caller's SIGINT
 * handler (the engine's stop flag) and must not disturb the solve: CLP, inside CBC's
 * root LP, installs a SIGINT handler of its own for the length of that LP, and a
 * signal taken there never reaches the caller. A second thread sends SIGINT to the
 * solving thread at random moments, each time waiting until the caller's handler has
 * seen it; none may be lost, and every solve must still give the value found without
 * signals. */
static volatile sig_atomic_t sigints_seen;
static void count_sigint(int sig) {
    (void)sig;
    sigints_seen++;
}
struct pelter {
    pthread_t target;
    uint64_t rng;
    volatile int done;
    int sent, lost;
};
static void *pelt(void *arg) {
    struct pelter *pl = arg;
    for (pl->sent = 0; pl->sent < 600; pl->sent++) {
        struct timespec t = {0, (long)(sortition_rng_next(&pl->rng) % 400) * 1000};
        nanosleep(&t, NULL);
        sig_atomic_t before = sigints_seen;
        pthread_kill(pl->target, SIGINT);
        int waited = 0; /* up to 1 s: a held-back signal is delivered when the solve ends */
        while (sigints_seen == before && waited < 50000) {
            struct timespec tick = {0, 20 * 1000};
            nanosleep(&tick, NULL);
            waited++;
        }
        if (sigints_seen == before) pl->lost++;
    }
    pl->done = 1;
    return NULL;
}
static void oracle_keeps_ctrl_c_for_the_caller(void **state) {
    (void)state;
    uint64_t rng = 77;
    sortition_instance *inst = gen_pool(&rng, 400, 40, 3, 1);
    srt_types ty;
    srt_types_build(inst, &ty);
    srt_oracle *o = srt_oracle_new(inst, &ty, SORTITION_SOLVER_COIN);
    assert_non_null(o);
    enum { W = 16 };
    double *w = xcalloc(ty.T * W, sizeof(double)), quiet[W];
    int *x = xcalloc(ty.T, sizeof(int));
    for (size_t i = 0; i < ty.T * W; i++) w[i] = (double)(sortition_rng_next(&rng) % 1000) / 1000.0;
    for (int s = 0; s < W; s++) assert_int_equal(srt_oracle_solve(o, w + (size_t)s * ty.T, x, &quiet[s]), 0);
    struct sigaction sa, old, now;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = count_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    struct pelter pl = {.target = pthread_self(), .rng = 5};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, pelt, &pl), 0);
    int wrong = 0, solves = 0;
    for (; !pl.done; solves++) {
        double v = 0;
        int s = solves % W;
        if (srt_oracle_solve(o, w + (size_t)s * ty.T, x, &v) != 0 || fabs(v - quiet[s]) > 1e-6 * (1 + fabs(v))) wrong++;
    }
    pthread_join(th, NULL);
    sigaction(SIGINT, NULL, &now);
    sigaction(SIGINT, &old, NULL);
    assert_int_equal(wrong, 0);
    assert_int_equal(pl.lost, 0);
    assert_ptr_equal((void *)now.sa_handler, (void *)count_sigint);
    free(w);
    free(x);
    srt_oracle_free(o);
    srt_types_free(&ty);
    sortition_instance_free(inst);
}

/* The oracle over a face: the panel respects the face's bounds; with a time limit it
 * answers with a panel of the face or "none found yet" (2), never a failure. */
static void oracle_face_bounds_and_time_limit(void **state) {
    (void)state;
    uint64_t rng = 4242;
    sortition_instance *inst = gen_pool(&rng, 200, 20, 3, 0);
    srt_types ty;
    srt_types_build(inst, &ty);
    double *clo = xcalloc(ty.T, sizeof(double)), *chi = xcalloc(ty.T, sizeof(double));
    double *w = xcalloc(ty.T, sizeof(double));
    int *x = xcalloc(ty.T, sizeof(int));
    for (int s = 0; s < 2; s++) {
        srt_oracle *o = srt_oracle_new(inst, &ty, s ? SORTITION_SOLVER_GLPK : SORTITION_SOLVER_COIN);
        /* an unrestricted panel first; then the face that keeps its first member's type
         * in and the next type that it leaves out, out */
        for (size_t t = 0; t < ty.T; t++) w[t] = 1 + (double)(t % 7);
        double v;
        assert_int_equal(srt_oracle_solve(o, w, x, &v), 0);
        size_t in = ty.T, out = ty.T;
        for (size_t t = 0; t < ty.T; t++) {
            if (x[t] && in == ty.T) in = t;
            if (!x[t] && out == ty.T) out = t;
        }
        assert_true(in < ty.T && out < ty.T);
        for (size_t t = 0; t < ty.T; t++) clo[t] = 0, chi[t] = ty.size[t];
        clo[in] = chi[in] = x[in];
        chi[out] = 0;
        w[out] = 1000; /* the face must win over the objective */
        const double *rlo, *rhi; /* the rows as they are */
        assert_int_equal(srt_oracle_rows(o, &rlo, &rhi), 1 + inst->nfeat + inst->nhouseholds);
        assert_true(rlo[0] == inst->k && rhi[0] == inst->k);
        int want_in = x[in];
        for (int limited = 0; limited < 2; limited++) {
            srt_face face = {clo, chi, rlo, rhi, limited ? 1e-9 : 0};
            int rc = srt_oracle_solve_in(o, w, &face, x, &v);
            if (limited) assert_true(rc == 0 || rc == 2);
            else assert_int_equal(rc, 0);
            if (rc == 0) {
                assert_int_equal(x[in], want_in);
                assert_int_equal(x[out], 0);
                /* every row of the model holds at the panel */
                double xd[ty.T], act[1 + inst->nfeat + inst->nhouseholds];
                for (size_t t = 0; t < ty.T; t++) xd[t] = x[t];
                srt_oracle_activity(o, xd, act);
                for (size_t r = 0; r < 1 + inst->nfeat + inst->nhouseholds; r++)
                    assert_true(act[r] >= rlo[r] - 1e-9 && act[r] <= rhi[r] + 1e-9);
            }
        }
        /* the oracle's own bounds are back: the unrestricted optimum takes `out` again */
        assert_int_equal(srt_oracle_solve(o, w, x, &v), 0);
        assert_true(x[out] > 0);
        srt_oracle_free(o);
        w[out] = 1 + (double)(out % 7);
    }
    free(clo);
    free(chi);
    free(w);
    free(x);
    srt_types_free(&ty);
    sortition_instance_free(inst);
}

/* ---- command line -------------------------------------------------------------------- */

static int run_cli(const char *args, char **out) {
    const char *bin = getenv("CG_TEST_BIN");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s sortition --quiet %s 2>&1", bin, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    buf b;
    buf_init(&b, 1 << 28);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, p)) > 0) buf_append(&b, chunk, n);
    int st = pclose(p);
    *out = buf_detach(&b, NULL);
    if (!*out) *out = xstrdup("");
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void cli_json_has_documented_keys(void **state) {
    (void)state;
    const char *d = data_dir();
    if (!getenv("CG_TEST_BIN") || !d) skip();
    char args[2048], *out;
    snprintf(args, sizeof args,
             "--people %s/example_small_20/respondents.csv --categories %s/example_small_20/categories.csv --panel 20 "
             "--seed 7 --panels 100 --format json",
             d, d);
    assert_int_equal(run_cli(args, &out), 0);
    json_error_t je;
    json_t *root = json_loads(out, 0, &je);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "algorithm")), "leximin");
    assert_int_equal(json_integer_value(json_object_get(root, "n")), 200);
    assert_int_equal(json_integer_value(json_object_get(root, "k")), 20);
    json_t *probs = json_object_get(root, "probabilities");
    assert_int_equal(json_array_size(probs), 200);
    assert_true(fabs(json_real_value(json_object_get(json_array_get(probs, 5), "probability")) - 0.1) < 1e-6);
    json_t *st = json_object_get(root, "stats");
    const char *keys[] = {"min", "median", "max", "gini", "geometric_mean"};
    for (int i = 0; i < 5; i++) assert_non_null(json_object_get(st, keys[i]));
    assert_true(json_array_size(json_object_get(root, "distribution")) > 0);
    assert_int_equal(json_array_size(json_object_get(root, "selected")), 20);
    assert_string_equal(json_string_value(json_object_get(root, "seed")), "7");
    json_t *draw = json_object_get(root, "draw");
    assert_string_equal(json_string_value(json_object_get(draw, "method")), "lottery");
    assert_int_equal(json_array_size(json_object_get(draw, "lottery")), 100);
    assert_int_equal(strlen(json_string_value(json_object_get(draw, "sha256"))), 64);
    json_t *sv = json_object_get(root, "solver");
    assert_non_null(json_object_get(sv, "oracle_calls"));
    assert_non_null(json_object_get(sv, "lp_solves"));
    assert_non_null(json_object_get(sv, "seconds"));
    /* the same seed draws the same panel */
    char *out2;
    assert_int_equal(run_cli(args, &out2), 0);
    json_t *root2 = json_loads(out2, 0, &je);
    assert_true(json_equal(json_object_get(root, "selected"), json_object_get(root2, "selected")));
    assert_string_equal(json_string_value(json_object_get(sv, "relaxation")), "met");
    /* --no-relaxation: stage by stage, the same probabilities */
    char *out3;
    strncat(args, " --no-relaxation", sizeof args - strlen(args) - 1);
    assert_int_equal(run_cli(args, &out3), 0);
    json_t *root3 = json_loads(out3, 0, &je);
    assert_non_null(root3);
    assert_string_equal(json_string_value(json_object_get(json_object_get(root3, "solver"), "relaxation")),
                        "not tried");
    json_t *probs3 = json_object_get(root3, "probabilities");
    assert_int_equal(json_array_size(probs3), 200);
    for (size_t i = 0; i < 200; i++)
        assert_true(fabs(json_real_value(json_object_get(json_array_get(probs, i), "probability")) -
                         json_real_value(json_object_get(json_array_get(probs3, i), "probability"))) < 1e-9);
    json_decref(root);
    json_decref(root2);
    json_decref(root3);
    free(out);
    free(out2);
    free(out3);
}

static void cli_refuses_bad_input_with_a_message(void **state) {
    (void)state;
    const char *d = data_dir();
    if (!getenv("CG_TEST_BIN") || !d) skip();
    char args[2048], *out;
    snprintf(args, sizeof args,
             "--people %s/example_small_20/respondents.csv --categories %s/example_small_20/categories.csv --panel 500",
             d, d);
    assert_int_equal(run_cli(args, &out), 1);
    assert_non_null(strstr(out, "panel size 500"));
    free(out);
    assert_int_equal(run_cli("--panel 3", &out), 2);
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(load_trims_and_matches_case_insensitively),
        cmocka_unit_test(load_refuses_bad_input_naming_row_and_column),
        cmocka_unit_test(load_builds_households_from_all_address_columns),
        cmocka_unit_test(leximin_known_small_answer),
        cmocka_unit_test(leximin_names_people_in_no_feasible_panel),
        cmocka_unit_test(example_instances_give_everyone_k_over_n),
        cmocka_unit_test(sa_fixture_sums_to_k_with_minimum_one_eleventh),
        cmocka_unit_test(synthetic_n70_matches_reference),
        cmocka_unit_test(synthetic_larger_match_reference),
        cmocka_unit_test(generated_pools_keep_invariants),
        cmocka_unit_test(relaxation_shortcut_agrees_with_stages),
        cmocka_unit_test(relaxation_out_of_reach_falls_back_to_stages),
        cmocka_unit_test(larger_generated_pool_with_households),
        cmocka_unit_test(draw_and_lottery_are_reproducible_and_valid),
        cmocka_unit_test(stats_are_the_documented_formulas),
        cmocka_unit_test(diagnosis_cheap_checks_and_relaxation),
        cmocka_unit_test(stop_flag_interrupts_cleanly),
        cmocka_unit_test(oracle_keeps_ctrl_c_for_the_caller),
        cmocka_unit_test(oracle_face_bounds_and_time_limit),
        cmocka_unit_test(cli_json_has_documented_keys),
        cmocka_unit_test(cli_refuses_bad_input_with_a_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
