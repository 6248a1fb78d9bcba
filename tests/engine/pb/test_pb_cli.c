/*
 * Tests of `commonground pb` as a program (CG_TEST_BIN): the JSON keys the issue fixes
 * as a contract, the text table, exit statuses and error messages for bad input.
 * Skipped when CG_TEST_BIN is not set (tests/run.sh sets it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *EXAMPLE =
    "META\nkey;value\nbudget;1100\nvote_type;approval\nPROJECTS\nproject_id;cost;name\n"
    "bike;700;bike path\ngym;400;outdoor gym\npark;250;new park\nplayground;200;new playground\n"
    "library;100;library for kids\nVOTES\nvoter_id;vote\n1;bike,gym\n2;bike,gym,park\n3;bike,gym\n"
    "4;bike,gym,park\n5;bike,gym,park\n6;bike,gym\n7;park,playground,library\n8;playground\n"
    "9;playground,library\n10;park,playground,library\n11;bike\n";

static char tmpdir[64];

static const char *bin(void) {
    const char *b = getenv("CG_TEST_BIN");
    if (!b || access(b, X_OK) != 0) {
        fprintf(stderr, "CG_TEST_BIN not set or not executable: CLI tests skipped\n");
        return NULL;
    }
    return b;
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Runs the binary with args (a shell fragment); returns the exit status and the
 * captured stdout (and stderr when err is set) in out. */
static int run(const char *args, char *out, size_t outlen, int with_stderr) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s pb %s %s", bin(), args, with_stderr ? "2>&1" : "2>/dev/null");
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cg-pb-cli-XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    char p[128];
    snprintf(p, sizeof p, "%s/ex.pb", tmpdir);
    write_file(p, EXAMPLE);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void json_output_has_the_contract_keys(void **state) {
    (void)state;
    if (!bin()) skip();
    static char out[65536];
    char args[256];
    snprintf(args, sizeof args,
             "%s/ex.pb --rule equal-shares --completion add1 --format json --compare-greedy",
             tmpdir);
    assert_int_equal(run(args, out, sizeof out, 0), 0);
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "rule")), "equal-shares");
    assert_string_equal(json_string_value(json_object_get(j, "completion")), "add1");
    assert_int_equal(json_integer_value(json_object_get(j, "increment")), 1);
    assert_string_equal(json_string_value(json_object_get(j, "tie_break")), "cost,votes,id");
    assert_string_equal(json_string_value(json_object_get(j, "arithmetic")), "exact");
    assert_int_equal(json_integer_value(json_object_get(j, "budget")), 1100);
    assert_true(json_real_value(json_object_get(j, "per_voter_budget")) == 129.0);
    /* Six voters get two projects from greedy (bike, gym) and one from equal shares;
     * four get more from equal shares; one is indifferent. The city's rule then uses
     * the outcome more voters prefer: greedy. */
    assert_int_equal(json_integer_value(json_object_get(j, "spent")), 1100);
    json_t *w = json_object_get(j, "winners");
    assert_int_equal(json_array_size(w), 2);
    assert_string_equal(json_string_value(json_array_get(w, 1)), "gym");
    json_t *ps = json_object_get(j, "projects");
    assert_int_equal(json_array_size(ps), 5);
    size_t i;
    json_t *p;
    int losers = 0;
    json_array_foreach(ps, i, p) {
        const char *keys[] = {"id", "name", "cost", "supporters", "funded", "effective_support"};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            assert_non_null(json_object_get(p, keys[k]));
        if (!json_is_true(json_object_get(p, "funded"))) {
            losers++;
            assert_non_null(json_object_get(p, "cost_to_win"));
            assert_non_null(json_object_get(p, "supporters_to_win"));
        }
    }
    assert_int_equal(losers, 3);
    json_t *c = json_object_get(j, "comparison");
    assert_non_null(c);
    int64_t a = json_integer_value(json_object_get(c, "prefer_equal_shares"));
    int64_t b = json_integer_value(json_object_get(c, "prefer_greedy"));
    int64_t n = json_integer_value(json_object_get(c, "prefer_neither"));
    assert_int_equal(a, 4);
    assert_int_equal(b, 6);
    assert_int_equal(n, 1);
    assert_string_equal(json_string_value(json_object_get(c, "outcome_used")), "greedy");
    assert_non_null(json_object_get(c, "covered_equal_shares"));
    assert_non_null(json_object_get(c, "covered_greedy"));
    json_decref(j);

    snprintf(args, sizeof args, "%s/ex.pb --fast --format=json --tie-break lottery:7", tmpdir);
    assert_int_equal(run(args, out, sizeof out, 0), 0);
    j = json_loads(out, 0, &je);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "rule")), "greedy");
    assert_string_equal(json_string_value(json_object_get(j, "arithmetic")), "fast");
    assert_string_equal(json_string_value(json_object_get(j, "tie_break")), "lottery:7");
    assert_true(json_is_null(json_object_get(j, "per_voter_budget")));
    json_decref(j);
}

static void text_table_for_an_officer(void **state) {
    (void)state;
    if (!bin()) skip();
    static char out[65536];
    char args[256];
    snprintf(args, sizeof args, "%s/ex.pb --rule equal-shares", tmpdir);
    assert_int_equal(run(args, out, sizeof out, 0), 0);
    assert_non_null(strstr(out, "project"));
    assert_non_null(strstr(out, "eff.supp%"));
    assert_non_null(strstr(out, "playground"));
    assert_non_null(strstr(out, "exact arithmetic"));
    assert_non_null(strstr(out, "tie-break cost,votes,id"));
}

static void bad_input_and_usage(void **state) {
    (void)state;
    if (!bin()) skip();
    static char out[8192];
    char path[128], args[256];
    snprintf(path, sizeof path, "%s/bad.pb", tmpdir);
    write_file(path,
               "META\nkey;value\nbudget;10\nvote_type;approval\nPROJECTS\nproject_id;cost\nA;1\n"
               "VOTES\nvoter_id;vote\n1;A\n2;X12\n");
    snprintf(args, sizeof args, "%s", path);
    assert_int_equal(run(args, out, sizeof out, 1), 1);
    assert_non_null(strstr(out, "line 11: vote names project 'X12' that PROJECTS does not list"));
    snprintf(args, sizeof args, "%s/missing.pb", tmpdir);
    assert_int_equal(run(args, out, sizeof out, 1), 1);
    assert_non_null(strstr(out, "cannot open"));
    snprintf(args, sizeof args, "%s/ex.pb --rule nope", tmpdir);
    assert_int_equal(run(args, out, sizeof out, 1), 2);
    snprintf(args, sizeof args, "%s/ex.pb --increment 0 --rule equal-shares --completion add1",
             tmpdir);
    assert_int_equal(run(args, out, sizeof out, 1), 2);
    snprintf(args, sizeof args, "%s/ex.pb --completion add1", tmpdir);
    assert_int_equal(run(args, out, sizeof out, 1), 2);
    assert_int_equal(run("--help", out, sizeof out, 0), 0);
    assert_non_null(strstr(out, "--compare-greedy"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_output_has_the_contract_keys),
        cmocka_unit_test(text_table_for_an_officer),
        cmocka_unit_test(bad_input_and_usage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
