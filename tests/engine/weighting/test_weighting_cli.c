/*
 * Tests of `commonground weight` as a program (CG_TEST_BIN): every reference case in
 * ../shared/data/weighting run with --case and its weights.csv and summary.json compared
 * with the README's tolerances; a refused input writes summary.json only (and removes a
 * stale weights.csv); the separate-flags form; the text report; margins-from-census
 * feeding the weighting; usage errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wt_test_util.h"

static char tmpdir[256];

static const char *bin(void) {
    const char *b = getenv("CG_TEST_BIN");
    if (!b || access(b, X_OK) != 0) return NULL;
    return b;
}

/* Runs a shell command; returns its exit status. Output goes to out_path when given. */
static int run(const char *cmd) {
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *read_all(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

static int setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cg_weight_cli_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return run(cmd) == 0 ? 0 : -1;
}

#define NEED_BIN()                                                                                 \
    const char *B = bin();                                                                         \
    if (!B) {                                                                                      \
        fprintf(stderr, "CG_TEST_BIN not set or not built: CLI test skipped\n");                   \
        skip();                                                                                    \
    }

static void compare_case_output(const char *refdir, const char *outdir, const char *name) {
    char rs[4600], os[4600], rw[4600], ow[4600];
    snprintf(rs, sizeof rs, "%s/summary.json", refdir);
    snprintf(os, sizeof os, "%s/summary.json", outdir);
    snprintf(rw, sizeof rw, "%s/weights.csv", refdir);
    snprintf(ow, sizeof ow, "%s/weights.csv", outdir);
    json_error_t je;
    json_t *ref = json_load_file(rs, 0, &je), *got = json_load_file(os, 0, &je);
    assert_non_null(ref);
    assert_non_null(got);
    char why[512] = "";
    int ok = wt_summary_matches(ref, got, why, sizeof why);
    if (!ok) fprintf(stderr, "case %s: %s\n", name, why);
    assert_true(ok);
    const char *status = json_string_value(json_object_get(ref, "status"));
    if (status && strcmp(status, "error") == 0) {
        assert_int_not_equal(access(ow, F_OK), 0); /* no weights written */
    } else {
        char **ri, **gi;
        double *rwv, *gwv;
        long rn = wt_read_weights(rw, &ri, &rwv), gn = wt_read_weights(ow, &gi, &gwv);
        assert_true(rn > 0);
        assert_int_equal(rn, gn);
        for (long i = 0; i < rn; i++) {
            assert_string_equal(ri[i], gi[i]);
            assert_true(wt_weight_ok(rwv[i], gwv[i]));
        }
        wt_free_weights(ri, rwv, rn);
        wt_free_weights(gi, gwv, gn);
    }
    json_decref(ref);
    json_decref(got);
}

static void reference_cases_through_cli(void **state) {
    (void)state;
    NEED_BIN();
    const char *dir = wt_data_dir();
    if (!dir) {
        fprintf(stderr, "shared data absent (set CG_SHARED_DATA): skipped\n");
        skip();
    }
    static char names[256][256];
    size_t n = wt_case_dirs(dir, names, 256);
    assert_true(n >= 2);
    for (size_t c = 0; c < n; c++) {
        char cmd[10000], out[4600], refdir[4600];
        snprintf(refdir, sizeof refdir, "%s/%s", dir, names[c]);
        snprintf(out, sizeof out, "%s/out_%s", tmpdir, names[c]);
        snprintf(cmd, sizeof cmd, "'%s' weight --case '%s' --out '%s' --format quiet 2>/dev/null",
                 B, refdir, out);
        int rc = run(cmd);
        assert_true(rc == 0 || rc == 1);
        compare_case_output(refdir, out, names[c]);
    }
}

static void refused_input_writes_no_weights(void **state) {
    (void)state;
    NEED_BIN();
    char cdir[512], out[512], path[600], cmd[2048];
    snprintf(cdir, sizeof cdir, "%s/badcase", tmpdir);
    snprintf(out, sizeof out, "%s/badout", tmpdir);
    assert_int_equal(mkdir(cdir, 0777), 0);
    assert_int_equal(mkdir(out, 0777), 0);
    snprintf(path, sizeof path, "%s/respondents.csv", cdir);
    write_file(
        path,
        "id,sex,age\nA1,F,young\nA2,Prefer not to say,old\nA3,M,young\nA4,Prefer not to say,old\n");
    snprintf(path, sizeof path, "%s/margins.csv", cdir);
    write_file(path, "variable,category,target\nsex,F,60\nsex,M,40\nage,young,50\nage,old,50\n");
    snprintf(path, sizeof path, "%s/params.json", cdir);
    write_file(path,
               "{\"case\": \"badcase\", \"maxit\": 100, \"epsilon\": 1e-10, \"tolerance\": 4e-10, "
               "\"population_total\": null, \"trim\": null}\n");
    snprintf(path, sizeof path, "%s/weights.csv", out);
    write_file(path, "id,weight\nstale,1\n");
    snprintf(cmd, sizeof cmd, "'%s' weight --case '%s' --out '%s' --format quiet 2>/dev/null", B,
             cdir, out);
    assert_int_equal(run(cmd), 1);
    assert_int_not_equal(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/summary.json", out);
    json_error_t je;
    json_t *s = json_load_file(path, 0, &je);
    assert_non_null(s);
    assert_string_equal(json_string_value(json_object_get(s, "status")), "error");
    json_t *e = json_object_get(s, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "unknown_category");
    assert_string_equal(json_string_value(json_object_get(e, "variable")), "sex");
    assert_string_equal(json_string_value(json_object_get(e, "category")), "Prefer not to say");
    json_t *ids = json_object_get(e, "ids");
    assert_int_equal(json_array_size(ids), 2);
    assert_string_equal(json_string_value(json_array_get(ids, 0)), "A2");
    assert_string_equal(json_string_value(json_array_get(ids, 1)), "A4");
    assert_string_equal(json_string_value(json_object_get(s, "case")), "badcase");
    json_decref(s);

    /* A params.json with a bad value is refused too. */
    snprintf(path, sizeof path, "%s/params.json", cdir);
    write_file(path, "{\"maxit\": \"many\"}\n");
    assert_int_equal(run(cmd), 1);
    snprintf(path, sizeof path, "%s/summary.json", out);
    s = json_load_file(path, 0, &je);
    assert_string_equal(json_string_value(json_object_get(json_object_get(s, "error"), "code")),
                        "bad_params");
    json_decref(s);
}

static void separate_flags_and_trimming(void **state) {
    (void)state;
    NEED_BIN();
    const char *dir = wt_data_dir();
    if (!dir) skip();
    /* The 20-respondent example predates the contract: rename its columns, rake, trim at
     * 2.5 x the mean (R's cap of 125) and compare with R's weight_trimmed. */
    char cmd[8192], rp[600], mp[600], out[600];
    snprintf(rp, sizeof rp, "%s/old_resp.csv", tmpdir);
    snprintf(mp, sizeof mp, "%s/old_marg.csv", tmpdir);
    snprintf(out, sizeof out, "%s/old_out", tmpdir);
    snprintf(cmd, sizeof cmd,
             "sed '1s/.*/id,sex,age,y/' '%s/rake_input.csv' > '%s' && "
             "sed '1s/.*/variable,category,target/' '%s/rake_margins.csv' > '%s'",
             dir, rp, dir, mp);
    assert_int_equal(run(cmd), 0);
    snprintf(cmd, sizeof cmd,
             "'%s' weight --respondents '%s' --margins '%s' --max-iter 100 "
             "--tolerance 2e-9 --trim-upper 2.5 --out '%s' --format text > '%s/report.txt'",
             B, rp, mp, out, tmpdir);
    assert_int_equal(run(cmd), 0);
    char wpath[700], refpath[700], rpt[700];
    snprintf(wpath, sizeof wpath, "%s/weights.csv", out);
    snprintf(refpath, sizeof refpath, "%s/rake_output.csv", dir);
    char **gi;
    double *gw;
    long gn = wt_read_weights(wpath, &gi, &gw);
    assert_int_equal(gn, 20);
    char err[256];
    csv_reader *r = csv_open_file(refpath, ',', err, sizeof err);
    assert_non_null(r);
    assert_int_equal(csv_next(r), 1);
    long i = 0;
    double cap = 125, maxw = 0;
    while (csv_next(r) == 1) {
        double want;
        assert_int_equal(parse_double(csv_field(r, 4), &want), 0);
        assert_string_equal(csv_field(r, 0), gi[i]);
        assert_true(fabs(gw[i] - want) < 1e-9 * want + 1e-9);
        if (gw[i] > maxw) maxw = gw[i];
        i++;
    }
    csv_free(r);
    assert_int_equal(i, 20);
    assert_true(maxw <= cap);
    wt_free_weights(gi, gw, gn);
    snprintf(rpt, sizeof rpt, "%s/report.txt", tmpdir);
    char *text = read_all(rpt);
    assert_non_null(text);
    assert_non_null(strstr(text, "over-represented by 1.8x")); /* 65+: 45% vs 25% */
    assert_non_null(strstr(text, "Diagnostics"));
    assert_non_null(strstr(text, "trimmed at 125"));
    assert_non_null(strstr(text, "margins are no longer met"));
    assert_null(strstr(text, "16-34                                        1")); /* suppressed */
    free(text);
}

static void census_margins_feed_the_weighting(void **state) {
    (void)state;
    NEED_BIN();
    const char *dir = wt_data_dir(), *cdir = wt_census_dir();
    if (!dir || !cdir) skip();
    char cmd[8192], mp[600], out[600];
    snprintf(mp, sizeof mp, "%s/census_margins.csv", tmpdir);
    snprintf(out, sizeof out, "%s/census_out", tmpdir);
    snprintf(cmd, sizeof cmd,
             "'%s' weight margins-from-census --census '%s' --area E07000223 "
             "--variables age6,sex,tenure --out '%s' 2>/dev/null",
             B, cdir, mp);
    assert_int_equal(run(cmd), 0);
    snprintf(cmd, sizeof cmd,
             "'%s' weight --respondents '%s/adur_age_sex_tenure/respondents.csv' "
             "--margins '%s' --params '%s/adur_age_sex_tenure/params.json' "
             "--out '%s' --format quiet",
             B, dir, mp, dir, out);
    assert_int_equal(run(cmd), 0);
    char refdir[4600];
    snprintf(refdir, sizeof refdir, "%s/adur_age_sex_tenure", dir);
    compare_case_output(refdir, out, "adur via margins-from-census");

    /* With all ages the under-16 band has no respondent: refused as empty_category. */
    snprintf(cmd, sizeof cmd,
             "'%s' weight margins-from-census --census '%s' --area Adur --ages all "
             "--out '%s' 2>/dev/null && '%s' weight --respondents "
             "'%s/adur_age_sex_tenure/respondents.csv' --margins '%s' --out '%s' "
             "--format quiet 2>/dev/null",
             B, cdir, mp, B, dir, mp, out);
    assert_int_equal(run(cmd), 1);
    char sp[700];
    snprintf(sp, sizeof sp, "%s/summary.json", out);
    json_error_t je;
    json_t *s = json_load_file(sp, 0, &je);
    json_t *e = json_object_get(s, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "empty_category");
    assert_string_equal(json_string_value(json_object_get(e, "category")),
                        "Aged 15 years and under");
    json_decref(s);
    snprintf(cmd, sizeof cmd,
             "'%s' weight margins-from-census --census '%s' --area Nowhere --out '%s' 2>/dev/null",
             B, cdir, mp);
    assert_int_equal(run(cmd), 1);
}

static void usage_errors(void **state) {
    (void)state;
    NEED_BIN();
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' weight --case /nonexistent >/dev/null 2>&1", B);
    assert_int_equal(run(cmd), 2); /* no --out */
    snprintf(cmd, sizeof cmd, "'%s' weight --bogus 1 --out /tmp >/dev/null 2>&1", B);
    assert_int_equal(run(cmd), 2);
    snprintf(cmd, sizeof cmd, "'%s' weight --help >/dev/null 2>&1", B);
    assert_int_equal(run(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reference_cases_through_cli),
        cmocka_unit_test(refused_input_writes_no_weights),
        cmocka_unit_test(separate_flags_and_trimming),
        cmocka_unit_test(census_margins_feed_the_weighting),
        cmocka_unit_test(usage_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
