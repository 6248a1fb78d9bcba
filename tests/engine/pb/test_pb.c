/*
 * Unit tests for src/engine/pb: the pabulib parser and its error messages, the builder
 * API, greedy and Equal Shares against independent textbook implementations on
 * generated elections (budget never exceeded, priceability, exact and fast agree, Add1
 * with change-point jumps equals the step-by-step loop), and every row of the
 * reference outcomes in ../shared/data/pb/expected.tsv plus the Wieliczka 2023 report.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <gmp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/pb/pb.h"
#include "engine/pb/pb_internal.h"

static const char *data_dir(void) {
    const char *d = getenv("CG_SHARED_DATA");
    return d && *d ? d : "../shared/data";
}

static int pb_data_path(char *out, size_t n, const char *file) {
    snprintf(out, n, "%s/pb/%s", data_dir(), file);
    struct stat st;
    return stat(out, &st) == 0;
}

static int parse_str(const char *text, pb_election *e, char *err, size_t errlen) {
    return pb_election_parse(text, strlen(text), "t.pb", e, err, errlen);
}

static char *winners_str(const pb_election *e, const pb_result *r, char *out, size_t n) {
    size_t k = 0;
    out[0] = '\0';
    for (size_t i = 0; i < r->nwinners && k < n; i++)
        k += (size_t)snprintf(out + k, n - k, "%s%s", i ? "," : "", e->projects[r->winners[i]].id);
    return out;
}

static const char *EXAMPLE =
    "META\r\nkey;value\r\ndescription;ex\r\nnum_projects;5\r\nnum_votes;11\r\nbudget;1100.0\r\n"
    "vote_type;approval\r\nPROJECTS\r\nproject_id;cost;name\r\nbike;700.0;bike path\r\n"
    "gym;400;\"outdoor; gym\"\r\npark;250;new park\r\nplayground;200;p\r\nlibrary;100;l\r\n"
    "VOTES\r\nvoter_id;vote\r\n1;bike,gym\r\n2;bike,gym,park\r\n3;bike,gym\r\n4;bike,gym,park\r\n"
    "5;bike,gym,park\r\n6;bike,gym\r\n7;park,playground,library\r\n8;playground\r\n"
    "9;playground,library\r\n10;park,playground,library\r\n11;bike";

static void parses_crlf_floats_quotes_and_missing_newline(void **state) {
    (void)state;
    pb_election e;
    char err[512];
    assert_int_equal(parse_str(EXAMPLE, &e, err, sizeof err), 0);
    assert_int_equal(e.budget, 1100);
    assert_int_equal(e.nprojects, 5);
    assert_int_equal(e.nvoters, 11);
    assert_int_equal(e.projects[0].cost, 700);
    assert_string_equal(e.projects[1].name, "outdoor; gym");
    assert_int_equal(e.projects[0].supporters, 7);
    assert_int_equal(e.projects[4].supporters, 3);
    assert_int_equal(pb_election_find(&e, "park"), 2);
    assert_int_equal(pb_election_find(&e, "nope"), -1);
    pb_election_free(&e);

    /* LF, "key; value" with spaces, a withdrawn project, cumulative points */
    const char *t = "META\nkey; value\nbudget; 10\nvote_type; cumulative\nPROJECTS\n"
                    "project_id; cost\na; 4\nb; 999999999\nc; 6\nVOTES\nvoter_id;vote;points\n"
                    "1; a, c ; 2,1\n2;b;3\n3;c,a;0,5\n";
    assert_int_equal(parse_str(t, &e, err, sizeof err), 0);
    assert_true(e.uses_points);
    assert_true(e.projects[1].withdrawn);
    assert_int_equal(e.projects[0].score, 7);
    assert_int_equal(e.projects[2].score, 1); /* the 0-point entry is no support */
    assert_int_equal(e.projects[2].supporters, 1);
    pb_options o;
    pb_options_default(&o);
    pb_result r;
    assert_int_equal(pb_run(&e, &o, &r, err, sizeof err), 0);
    char w[256];
    assert_string_equal(winners_str(&e, &r, w, sizeof w), "a,c"); /* b withdrawn: never */
    pb_result_free(&r);
    pb_election_free(&e);
}

static void expect_error(const char *text, const char *fragment) {
    pb_election e;
    char err[512] = "";
    assert_int_equal(parse_str(text, &e, err, sizeof err), -1);
    if (!strstr(err, fragment)) fail_msg("error '%s' lacks '%s'", err, fragment);
}

static void rejects_bad_files_with_line_numbers(void **state) {
    (void)state;
    const char *head =
        "META\nkey;value\nbudget;100\nvote_type;approval\nPROJECTS\nproject_id;cost\n"
        "A;10\nB;20\nVOTES\nvoter_id;vote\n";
    char buf[1024];
    snprintf(buf, sizeof buf, "%s1;A\n2;X12\n", head);
    expect_error(buf, "line 12: vote names project 'X12' that PROJECTS does not list");
    snprintf(buf, sizeof buf, "%s1;A,B,A\n", head);
    expect_error(buf, "line 11: ballot names project 'A' twice");
    snprintf(buf, sizeof buf, "%s1;A,,B\n", head);
    expect_error(buf, "empty project id");
    expect_error("META\nkey;value\nvote_type;approval\nPROJECTS\nproject_id;cost\nA;1\n",
                 "line 4: META has no 'budget'");
    expect_error("META\nkey;value\nbudget;1.5\n", "line 3: budget '1.5' is not a whole");
    expect_error("META\nkey;value\nbudget;10\nvote_type;approval\nPROJECTS\nproject_id;cost\nA;x\n",
                 "line 7: cost 'x' of project 'A'");
    expect_error(
        "META\nkey;value\nbudget;10\nvote_type;approval\nPROJECTS\nproject_id;cost\nA;1\nA;2\n",
        "line 8: project 'A' is listed twice");
    expect_error("META\nkey;value\nbudget;10\nvote_type;approval\nPROJECTS\nproject_id;cost\nA;1\n",
                 "no VOTES section");
    expect_error("META\nkey;value\nbudget;10\nvote_type;weird\n", "vote_type 'weird'");
    expect_error(
        "META\nkey;value\nbudget;10\nvote_type;cumulative\nPROJECTS\nproject_id;cost\nA;1\n"
        "VOTES\nvoter_id;vote;points\n1;A;1,2\n",
        "line 10: ballot names 1 projects but gives 2 points");
    expect_error(
        "META\nkey;value\nbudget;10\nvote_type;cumulative\nPROJECTS\nproject_id;cost\nA;1\n"
        "VOTES\nvoter_id;vote\n",
        "needs a 'points' column");
    expect_error("META\nkey;value\nbudget;10\nvote_type;approval\nPROJECTS\nproject_id;cost\nA;1\n"
                 "VOTES\nvoter_id;vote\n1;\"A\n",
                 "unterminated quoted field");
    expect_error("PROJECTS\n", "line 1: PROJECTS must follow META");
    expect_error("hello\n", "line 1: expected the section name META");
}

static void tie_break_parsing(void **state) {
    (void)state;
    pb_tie_break t;
    char err[256], s[64];
    assert_int_equal(pb_tie_break_parse("votes,cost", &t, err, sizeof err), 0);
    assert_int_equal(t.nkeys, 2);
    pb_tie_break_format(&t, s, sizeof s);
    assert_string_equal(s, "votes,cost");
    assert_int_equal(pb_tie_break_parse("lottery:42", &t, err, sizeof err), 0);
    assert_true(t.lottery);
    assert_int_equal(t.seed, 42);
    assert_int_equal(pb_tie_break_parse("cost,cost", &t, err, sizeof err), -1);
    assert_int_equal(pb_tie_break_parse("price", &t, err, sizeof err), -1);
    assert_int_equal(pb_tie_break_parse("lottery:", &t, err, sizeof err), -1);
    assert_int_equal(pb_tie_break_parse("cost,", &t, err, sizeof err), -1);
}

static void run_rule(const pb_election *e, pb_rule rule, pb_completion c, pb_arith a,
                     pb_result *r) {
    pb_options o;
    pb_options_default(&o);
    o.rule = rule;
    o.completion = c;
    o.arith = a;
    char err[256];
    assert_int_equal(pb_run(e, &o, r, err, sizeof err), 0);
}

static void equalshares_net_example(void **state) {
    (void)state;
    pb_election e;
    char err[512], w[256];
    assert_int_equal(parse_str(EXAMPLE, &e, err, sizeof err), 0);
    for (int a = 0; a < 2; a++) {
        pb_result r;
        run_rule(&e, PB_RULE_GREEDY, PB_COMPLETION_NONE, (pb_arith)a, &r);
        assert_string_equal(winners_str(&e, &r, w, sizeof w), "bike,gym");
        pb_result_free(&r);
        run_rule(&e, PB_RULE_EQUAL_SHARES, PB_COMPLETION_NONE, (pb_arith)a, &r);
        assert_string_equal(winners_str(&e, &r, w, sizeof w), "bike,playground,library");
        assert_string_equal(r.per_voter_num, "100");
        assert_string_equal(r.per_voter_den, "1");
        assert_int_equal(r.spent, 1000);
        /* park lost: its 5 supporters hold 2*100 + 3*0 ... it could win cheaper */
        assert_false(r.projects[2].funded);
        pb_result_free(&r);
        run_rule(&e, PB_RULE_EQUAL_SHARES, PB_COMPLETION_ADD1, (pb_arith)a, &r);
        assert_string_equal(winners_str(&e, &r, w, sizeof w), "bike,playground,library");
        assert_string_equal(r.per_voter_num, "129");
        pb_result_free(&r);
    }
    pb_election_free(&e);
}

static void builder_api_matches_parser(void **state) {
    (void)state;
    pb_election a, b;
    char err[512];
    assert_int_equal(parse_str(EXAMPLE, &a, err, sizeof err), 0);
    pb_election_init(&b, PB_VOTE_APPROVAL, 1100);
    for (size_t p = 0; p < a.nprojects; p++)
        assert_int_equal(
            pb_election_add_project(&b, a.projects[p].id, a.projects[p].name, a.projects[p].cost),
            (int64_t)p);
    assert_int_equal(pb_election_add_project(&b, "bike", "", 5), -1); /* duplicate id */
    for (size_t v = 0; v < a.nvoters; v++)
        assert_int_equal(pb_election_add_ballot(&b, a.ballot_start[v + 1] - a.ballot_start[v],
                                                a.ballot_project + a.ballot_start[v], NULL),
                         0);
    uint32_t twice[2] = {0, 0}, out_of_range[1] = {99};
    assert_int_equal(pb_election_add_ballot(&b, 2, twice, NULL), -1);
    assert_int_equal(pb_election_add_ballot(&b, 1, out_of_range, NULL), -1);
    pb_election_finish(&b);
    pb_result ra, rb;
    run_rule(&a, PB_RULE_EQUAL_SHARES, PB_COMPLETION_ADD1, PB_ARITH_EXACT, &ra);
    run_rule(&b, PB_RULE_EQUAL_SHARES, PB_COMPLETION_ADD1, PB_ARITH_EXACT, &rb);
    assert_int_equal(ra.nwinners, rb.nwinners);
    assert_memory_equal(ra.winners, rb.winners, ra.nwinners * sizeof *ra.winners);
    assert_string_equal(ra.per_voter_num, rb.per_voter_num);
    pb_result_free(&ra);
    pb_result_free(&rb);
    pb_election_free(&a);
    pb_election_free(&b);
}

/* ---- independent textbook implementations, for generated elections ---- */

typedef struct gen {
    size_t m, n;
    int64_t budget;
    int64_t cost[12];
    int points;
    uint32_t pts[40][12]; /* 0 = no support */
} gen;

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void gen_make(gen *g, uint64_t seed, pb_election *e) {
    uint64_t s = seed * 2654435761u + 1;
    memset(g, 0, sizeof *g);
    g->m = 2 + rng_next(&s) % 9;
    g->n = 3 + rng_next(&s) % 35;
    g->points = rng_next(&s) % 3 == 0;
    int64_t total = 0;
    for (size_t p = 0; p < g->m; p++) {
        /* few distinct costs, so exact ties happen */
        g->cost[p] = 10 * (int64_t)(1 + rng_next(&s) % 8);
        total += g->cost[p];
    }
    g->budget = total / 2 + (int64_t)(rng_next(&s) % 40);
    for (size_t v = 0; v < g->n; v++)
        for (size_t p = 0; p < g->m; p++)
            if (rng_next(&s) % 3 == 0) g->pts[v][p] = g->points ? 1 + rng_next(&s) % 4 : 1;
    pb_election_init(e, g->points ? PB_VOTE_CUMULATIVE : PB_VOTE_APPROVAL, g->budget);
    for (size_t p = 0; p < g->m; p++) {
        char id[32];
        snprintf(id, sizeof id, "p%zu", p);
        pb_election_add_project(e, id, "", g->cost[p]);
    }
    for (size_t v = 0; v < g->n; v++) {
        uint32_t pr[12], pt[12];
        size_t k = 0;
        for (size_t p = 0; p < g->m; p++)
            if (g->pts[v][p]) {
                pr[k] = (uint32_t)p;
                pt[k++] = g->pts[v][p];
            }
        assert_int_equal(pb_election_add_ballot(e, k, pr, pt), 0);
    }
    pb_election_finish(e);
}

static int64_t g_score(const gen *g, size_t p) {
    int64_t s = 0;
    for (size_t v = 0; v < g->n; v++) s += g->pts[v][p];
    return s;
}

/* Tie order cost asc, score desc, id (p0 < p1 < ... < p9 < p10 as strings). */
static int g_tie_before(const gen *g, size_t a, size_t b) {
    if (g->cost[a] != g->cost[b]) return g->cost[a] < g->cost[b];
    if (g_score(g, a) != g_score(g, b)) return g_score(g, a) > g_score(g, b);
    char x[32], y[32];
    snprintf(x, sizeof x, "p%zu", a);
    snprintf(y, sizeof y, "p%zu", b);
    return strcmp(x, y) < 0;
}

/* Textbook greedy: sort by score desc then tie order, add what fits. */
static size_t ref_greedy(const gen *g, uint32_t *win) {
    size_t ord[12], nw = 0;
    for (size_t i = 0; i < g->m; i++) ord[i] = i;
    for (size_t i = 0; i < g->m; i++)
        for (size_t j = i + 1; j < g->m; j++) {
            size_t a = ord[i], b = ord[j];
            int64_t sa = g_score(g, a), sb = g_score(g, b);
            if (sb > sa || (sb == sa && g_tie_before(g, b, a))) {
                ord[i] = b;
                ord[j] = a;
            }
        }
    int64_t left = g->budget;
    for (size_t i = 0; i < g->m; i++)
        if (g->cost[ord[i]] <= left) {
            left -= g->cost[ord[i]];
            win[nw++] = (uint32_t)ord[i];
        }
    return nw;
}

/* Textbook MES with cost utilities in rationals, one voter at a time: each round,
 * among projects whose supporters hold at least the cost, the one with the smallest
 * payment per point alpha / cost; supporters pay min(budget, alpha * points). Leaves
 * the final budgets in b. */
static size_t ref_mes(const gen *g, mpq_t endow, uint32_t *win, mpq_t *b, int64_t *spent) {
    size_t nw = 0;
    int funded[12] = {0};
    for (size_t v = 0; v < g->n; v++) mpq_set(b[v], endow);
    mpq_t sum, alpha, best, x, y, r;
    mpq_inits(sum, alpha, best, x, y, r, NULL);
    *spent = 0;
    for (;;) {
        int64_t bp = -1;
        for (size_t p = 0; p < g->m; p++) {
            if (funded[p]) continue;
            mpq_set_ui(sum, 0, 1);
            for (size_t v = 0; v < g->n; v++)
                if (g->pts[v][p]) mpq_add(sum, sum, b[v]);
            mpq_set_si(x, g->cost[p], 1);
            if (g_score(g, p) == 0 || mpq_cmp(sum, x) < 0) continue;
            /* alpha by bisection-free exact search: try each voter's b/pts as the cap
             * boundary, from the poorest up */
            size_t ord[40], k = 0;
            for (size_t v = 0; v < g->n; v++)
                if (g->pts[v][p] && mpq_sgn(b[v]) > 0) ord[k++] = v;
            for (size_t i = 0; i < k; i++)
                for (size_t j = i + 1; j < k; j++) {
                    mpq_set_ui(x, g->pts[ord[j]][p], 1);
                    mpq_div(x, b[ord[j]], x);
                    mpq_set_ui(y, g->pts[ord[i]][p], 1);
                    mpq_div(y, b[ord[i]], y);
                    if (mpq_cmp(x, y) < 0) {
                        size_t t = ord[i];
                        ord[i] = ord[j];
                        ord[j] = t;
                    }
                }
            mpq_set_si(r, g->cost[p], 1);
            int64_t P = 0;
            for (size_t i = 0; i < k; i++) P += g->pts[ord[i]][p];
            size_t i = 0;
            for (; i < k; i++) {
                size_t v = ord[i];
                mpq_set_si(x, P, 1);
                mpq_div(x, r, x); /* equal share per point */
                mpq_set_ui(y, g->pts[v][p], 1);
                mpq_div(y, b[v], y);
                if (mpq_cmp(y, x) >= 0) break;
                mpq_sub(r, r, b[v]);
                P -= g->pts[v][p];
            }
            mpq_set_si(x, P, 1);
            mpq_div(alpha, r, x);
            mpq_set_si(x, g->cost[p], 1);
            mpq_div(alpha, alpha, x); /* rho */
            int take = bp < 0;
            if (!take) {
                int c = mpq_cmp(alpha, best);
                take = c < 0 || (c == 0 && g_tie_before(g, (size_t)p, (size_t)bp));
            }
            if (take) {
                bp = (int64_t)p;
                mpq_set(best, alpha);
            }
        }
        if (bp < 0) break;
        mpq_set_si(x, g->cost[bp], 1);
        mpq_mul(alpha, best, x);
        for (size_t v = 0; v < g->n; v++) {
            if (!g->pts[v][bp]) continue;
            mpq_set_ui(x, g->pts[v][bp], 1);
            mpq_mul(x, alpha, x);
            if (mpq_cmp(x, b[v]) >= 0)
                mpq_set_ui(b[v], 0, 1);
            else
                mpq_sub(b[v], b[v], x);
        }
        funded[bp] = 1;
        win[nw++] = (uint32_t)bp;
        *spent += g->cost[bp];
    }
    mpq_clears(sum, alpha, best, x, y, r, NULL);
    return nw;
}

static void generated_elections_match_textbook_rules(void **state) {
    (void)state;
    mpq_t b[40], endow;
    for (int i = 0; i < 40; i++) mpq_init(b[i]);
    mpq_init(endow);
    mpq_t sum, c;
    mpq_inits(sum, c, NULL);
    size_t replays = 0;
    for (uint64_t seed = 1; seed <= 300; seed++) {
        gen g;
        pb_election e;
        gen_make(&g, seed, &e);
        uint32_t rw[12];
        pb_result r;

        /* greedy equals the textbook definition */
        size_t nr = ref_greedy(&g, rw);
        run_rule(&e, PB_RULE_GREEDY, PB_COMPLETION_NONE, PB_ARITH_EXACT, &r);
        assert_int_equal(r.nwinners, nr);
        assert_memory_equal(r.winners, rw, nr * sizeof *rw);
        assert_true(r.spent <= g.budget);
        pb_result_free(&r);

        /* MES equals the textbook rule, in both arithmetics, and is priceable */
        mpq_set_si(endow, g.budget, (unsigned long)g.n);
        mpq_canonicalize(endow);
        int64_t rspent;
        nr = ref_mes(&g, endow, rw, b, &rspent);
        for (int a = 0; a < 2; a++) {
            run_rule(&e, PB_RULE_EQUAL_SHARES, PB_COMPLETION_NONE, (pb_arith)a, &r);
            if (r.nwinners != nr || memcmp(r.winners, rw, nr * sizeof *rw) != 0)
                fail_msg("seed %llu arith %d: MES differs from the textbook rule",
                         (unsigned long long)seed, a);
            replays += r.exact_replays;
            assert_true(r.spent <= g.budget);
            pb_result_free(&r);
        }
        {
            /* the all-rational core on its own (used when doubles and rationals
             * disagree) */
            pb_tie_break tb;
            char terr[64];
            assert_int_equal(pb_tie_break_parse("cost,votes,id", &tb, terr, sizeof terr), 0);
            uint32_t rank[12], win[12];
            uint8_t cand[12];
            pb_tie_ranks(&e, &tb, rank);
            for (size_t p = 0; p < g.m; p++) cand[p] = 1;
            pb_mes_params prm = {0};
            prm.candidate = cand;
            prm.rank = rank;
            prm.tie = &tb;
            prm.endow_num = g.budget;
            prm.endow_den = (int64_t)g.n;
            prm.increment = 1;
            pb_mes_out out = {0};
            out.win = win;
            pb_mes_ws_exact *ws = pb_mes_ws_new_exact(&e);
            pb_mes_run_exact(ws, &prm, &out);
            pb_mes_ws_free_exact(ws);
            assert_int_equal(out.nwin, nr);
            assert_memory_equal(win, rw, nr * sizeof *rw);
        }
        int funded[12] = {0};
        for (size_t i = 0; i < nr; i++) funded[rw[i]] = 1;
        for (size_t p = 0; p < g.m; p++) {
            if (funded[p]) continue;
            /* no group of supporters can still afford an unfunded project */
            mpq_set_ui(sum, 0, 1);
            for (size_t v = 0; v < g.n; v++)
                if (g.pts[v][p]) mpq_add(sum, sum, b[v]);
            mpq_set_si(c, g.cost[p], 1);
            if (g_score(&g, p) > 0) assert_true(mpq_cmp(sum, c) < 0);
        }

        /* Add1: the jumps give exactly the step-by-step loop's outcome */
        int64_t total = 0;
        for (size_t p = 0; p < g.m; p++) total += g.cost[p];
        int64_t inc = 1 + (int64_t)(seed % 3);
        int64_t ee = g.budget / (int64_t)g.n, last_ok = ee;
        uint32_t last_w[12];
        mpq_set_si(endow, ee, 1);
        size_t last_n = ref_mes(&g, endow, last_w, b, &rspent);
        for (int guard = 0; guard < 100000 && total > g.budget; guard++) {
            uint32_t w2[12];
            mpq_set_si(endow, ee + inc, 1);
            size_t n2 = ref_mes(&g, endow, w2, b, &rspent);
            if (rspent > g.budget) break;
            ee += inc;
            last_ok = ee;
            last_n = n2;
            memcpy(last_w, w2, sizeof w2);
            if (ee > 100000) break;
        }
        if (total > g.budget && last_ok <= 100000) {
            for (int a = 0; a < 2; a++) {
                pb_options o;
                pb_options_default(&o);
                o.rule = PB_RULE_EQUAL_SHARES;
                o.completion = PB_COMPLETION_ADD1;
                o.increment = inc;
                o.arith = (pb_arith)a;
                char err[256];
                assert_int_equal(pb_run(&e, &o, &r, err, sizeof err), 0);
                char want[32];
                snprintf(want, sizeof want, "%lld", (long long)last_ok);
                if (strcmp(r.per_voter_num, want) != 0 || r.nwinners != last_n ||
                    memcmp(r.winners, last_w, last_n * sizeof *rw) != 0)
                    fail_msg("seed %llu arith %d: add1 ended at %s, the loop at %s",
                             (unsigned long long)seed, a, r.per_voter_num, want);
                assert_true(r.spent <= g.budget);
                pb_result_free(&r);
                o.completion = PB_COMPLETION_ADD1_GREEDY;
                assert_int_equal(pb_run(&e, &o, &r, err, sizeof err), 0);
                assert_true(r.spent <= g.budget);
                assert_true(r.nwinners >= last_n);
                pb_result_free(&r);
            }
        }
        pb_election_free(&e);
    }
    for (int i = 0; i < 40; i++) mpq_clear(b[i]);
    mpq_clears(endow, sum, c, NULL);
    /* the rational re-decision path was exercised, not only the doubles */
    assert_true(replays > 0);
}

static void lottery_is_seeded_and_stated(void **state) {
    (void)state;
    /* four equal projects, budget for two: the lottery picks, the seed repeats it */
    const char *t = "META\nkey;value\nbudget;20\nvote_type;approval\nPROJECTS\nproject_id;cost\n"
                    "a;10\nb;10\nc;10\nd;10\nVOTES\nvoter_id;vote\n1;a,b,c,d\n2;a,b,c,d\n";
    pb_election e;
    char err[256], w1[64], w2[64];
    assert_int_equal(parse_str(t, &e, err, sizeof err), 0);
    pb_options o;
    pb_options_default(&o);
    pb_result r;
    assert_int_equal(pb_run(&e, &o, &r, err, sizeof err), 0);
    assert_string_equal(winners_str(&e, &r, w1, sizeof w1), "a,b");
    assert_true(r.nties > 0);
    assert_int_equal(r.ties[0].decided_by, PB_TIE_ID);
    pb_result_free(&r);
    int differs = 0;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        assert_int_equal(pb_tie_break_parse("lottery:1", &o.tie, err, sizeof err), 0);
        o.tie.seed = seed;
        o.rule = PB_RULE_EQUAL_SHARES;
        assert_int_equal(pb_run(&e, &o, &r, err, sizeof err), 0);
        winners_str(&e, &r, w1, sizeof w1);
        assert_int_equal(r.nwinners, 2);
        pb_result_free(&r);
        assert_int_equal(pb_run(&e, &o, &r, err, sizeof err), 0);
        assert_string_equal(winners_str(&e, &r, w2, sizeof w2), w1);
        assert_int_equal(r.ties[0].decided_by, PB_TIE_LOTTERY);
        pb_result_free(&r);
        differs |= strcmp(w1, "a,b") != 0;
    }
    assert_true(differs);
    pb_election_free(&e);
}

/* ---- the reference data ---- */

static char *next_tab(char **p) {
    char *s = *p, *t = strchr(s, '\t');
    if (t) {
        *t = '\0';
        *p = t + 1;
    } else {
        char *nl = strchr(s, '\n');
        if (nl) *nl = '\0';
        *p = s + strlen(s);
    }
    return s;
}

static void expected_tsv_rows_reproduced(void **state) {
    (void)state;
    char path[1024];
    if (!pb_data_path(path, sizeof path, "expected.tsv")) {
        fprintf(stderr, "shared data absent (set CG_SHARED_DATA): expected.tsv rows skipped\n");
        skip();
    }
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[8192], cur[256] = "", w[8192];
    pb_election e;
    int have = 0, rows = 0;
    assert_non_null(fgets(line, sizeof line, f)); /* header */
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        char *file = next_tab(&p), *rule = next_tab(&p), *inc = next_tab(&p);
        next_tab(&p);
        char *winners = next_tab(&p), *total = next_tab(&p), *pvb = next_tab(&p);
        if (strcmp(file, cur) != 0) {
            if (have) pb_election_free(&e);
            char fp[1024], err[512];
            pb_data_path(fp, sizeof fp, file);
            if (pb_election_load(fp, &e, err, sizeof err)) fail_msg("%s", err);
            have = 1;
            snprintf(cur, sizeof cur, "%s", file);
        }
        int is_add1 = strcmp(rule, "mes-add1") == 0;
        /* Exact arithmetic everywhere except the three 1-unit Add1 rows on big Warsaw
         * files (bench/pb.sh runs those in both modes); fast everywhere. */
        int heavy =
            is_add1 && strcmp(inc, "1") == 0 &&
            (strstr(file, "Mokotow") || strstr(file, "Ursynow") || strstr(file, "Warszawa_2026"));
        for (int a = heavy ? 1 : 0; a < 2; a++) {
            pb_options o;
            pb_options_default(&o);
            o.arith = (pb_arith)a;
            o.explain = 0;
            if (strcmp(rule, "greedy") != 0) o.rule = PB_RULE_EQUAL_SHARES;
            if (is_add1) {
                o.completion = PB_COMPLETION_ADD1;
                o.increment = atoll(inc);
            }
            pb_result r;
            char err[256];
            assert_int_equal(pb_run(&e, &o, &r, err, sizeof err), 0);
            winners_str(&e, &r, w, sizeof w);
            if (strcmp(w, winners) != 0)
                fail_msg("%s %s inc %s arith %d:\n got  %s\n want %s", file, rule, inc, a, w,
                         winners);
            assert_int_equal(r.spent, atoll(total));
            if (strcmp(pvb, "NA") != 0) {
                /* the file prints B/n to 6 decimals and Add1 endowments as integers */
                double want = atof(pvb);
                if (fabs(r.per_voter_budget - want) > 5e-7 ||
                    (is_add1 && strcmp(r.per_voter_den, "1") != 0))
                    fail_msg("%s %s: per-voter budget %.7f, want %s", file, rule,
                             r.per_voter_budget, pvb);
            } else {
                assert_false(r.has_per_voter_budget);
            }
            pb_result_free(&r);
        }
        rows++;
    }
    if (have) pb_election_free(&e);
    fclose(f);
    assert_int_equal(rows, 43);
}

static void wieliczka_official_report(void **state) {
    (void)state;
    char path[1024], rep[1024];
    if (!pb_data_path(path, sizeof path, "Poland_Wieliczka_2023_Green_Budget.pb") ||
        !pb_data_path(rep, sizeof rep, "wieliczka_official_report_excerpt.txt")) {
        fprintf(stderr, "shared data absent (set CG_SHARED_DATA): Wieliczka skipped\n");
        skip();
    }
    /* The report's outcome A (Equal Shares) and B (greedy), wrapped over two lines. */
    FILE *f = fopen(rep, "r");
    assert_non_null(f);
    char line[4096], a[4096] = "", b[4096] = "";
    char *target = NULL;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        const char *s;
        if ((s = strstr(line, "Outcome A (of the Method of Equal Shares):"))) {
            target = a;
            a[0] = '\0'; /* the last, complete occurrence counts */
        } else if ((s = strstr(line, "Outcome B (of the majoritarian method):"))) {
            target = b;
            b[0] = '\0';
        } else if (target && line[0] && strspn(line, "0123456789, ") == strlen(line)) {
            s = line; /* continuation of a wrapped list */
        } else {
            target = NULL;
            continue;
        }
        if (s != line) s = strchr(s, ':') + 1;
        for (; *s; s++)
            if (*s != ' ') strncat(target, s, 1);
        if (!target[0] || target[strlen(target) - 1] != ',') target = NULL;
    }
    fclose(f);
    assert_true(strlen(a) > 10 && strlen(b) > 10);
    pb_election e;
    char err[512], w[4096];
    assert_int_equal(pb_election_load(path, &e, err, sizeof err), 0);
    pb_options o;
    pb_options_default(&o);
    o.rule = PB_RULE_EQUAL_SHARES;
    o.completion = PB_COMPLETION_ADD1;
    o.compare_greedy = 1;
    pb_result r;
    assert_int_equal(pb_run(&e, &o, &r, err, sizeof err), 0);
    assert_string_equal(winners_str(&e, &r, w, sizeof w), a);
    assert_int_equal(r.spent, 995079);
    assert_int_equal(r.prefer_mes, 1615);
    assert_int_equal(r.prefer_greedy, 873);
    assert_int_equal(r.prefer_equal, 4098);
    assert_false(r.used_greedy);
    char gw[4096];
    size_t k = 0;
    gw[0] = '\0';
    for (size_t i = 0; i < r.greedy_nwinners; i++)
        k += (size_t)snprintf(gw + k, sizeof gw - k, "%s%s", i ? "," : "",
                              e.projects[r.greedy_winners[i]].id);
    assert_string_equal(gw, b);
    assert_true(r.covered_mes > 0 && r.covered_mes <= 1);
    pb_result_free(&r);
    pb_election_free(&e);
}

static void explanations_are_consistent(void **state) {
    (void)state;
    /* A loser's cost_to_win really wins when the cost is lowered to it, and one unit
     * more does not. */
    pb_election e;
    char err[512];
    assert_int_equal(parse_str(EXAMPLE, &e, err, sizeof err), 0);
    for (int rule = 0; rule < 2; rule++) {
        pb_options o;
        pb_options_default(&o);
        o.rule = (pb_rule)rule;
        pb_result r;
        assert_int_equal(pb_run(&e, &o, &r, err, sizeof err), 0);
        for (size_t p = 0; p < e.nprojects; p++) {
            if (r.projects[p].funded || !r.projects[p].has_cost_to_win) continue;
            int64_t keep = e.projects[p].cost;
            for (int d = 0; d < 2; d++) {
                e.projects[p].cost = r.projects[p].cost_to_win + d;
                pb_result r2;
                o.explain = 0;
                assert_int_equal(pb_run(&e, &o, &r2, err, sizeof err), 0);
                if (d == 0)
                    assert_true(r2.projects[p].funded);
                else if (rule == 0)
                    assert_false(r2.projects[p].funded);
                pb_result_free(&r2);
                o.explain = 1;
            }
            e.projects[p].cost = keep;
        }
        pb_result_free(&r);
    }
    pb_election_free(&e);
}

static void survives_mutated_files(void **state) {
    (void)state;
    /* Never a crash, never an accepted file that cannot be run. */
    size_t len = strlen(EXAMPLE);
    char *buf = malloc(len + 1);
    uint64_t s = 12345;
    const char alphabet[] = ";,\n\r\"x9 -.0";
    int accepted = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(buf, EXAMPLE, len + 1);
        size_t n = len;
        int edits = 1 + (int)(rng_next(&s) % 4);
        for (int k = 0; k < edits && n > 0; k++) {
            size_t at = (size_t)(rng_next(&s) % n);
            switch (rng_next(&s) % 3) {
            case 0:
                buf[at] = alphabet[rng_next(&s) % (sizeof alphabet - 1)];
                break;
            case 1:
                memmove(buf + at, buf + at + 1, n - at);
                n--;
                break;
            default:
                n = at;
                buf[n] = '\0';
                break;
            }
        }
        pb_election e;
        char err[512];
        if (pb_election_parse(buf, n, "m.pb", &e, err, sizeof err) == 0) {
            accepted++;
            pb_options o;
            pb_options_default(&o);
            o.rule = PB_RULE_EQUAL_SHARES;
            o.completion = PB_COMPLETION_ADD1_GREEDY;
            pb_result r;
            if (pb_run(&e, &o, &r, err, sizeof err) == 0) {
                assert_true(r.spent <= e.budget);
                pb_result_free(&r);
            }
            pb_election_free(&e);
        } else {
            assert_non_null(strstr(err, "m.pb"));
        }
    }
    assert_true(accepted > 0);
    free(buf);
}

static void edge_cases(void **state) {
    (void)state;
    pb_election e;
    char err[512], w[256];
    pb_options o;
    pb_result r;
    /* no voters: greedy funds nothing chosen by votes but still runs; MES refuses */
    assert_int_equal(parse_str("META\nkey;value\nbudget;10\nvote_type;approval\nPROJECTS\n"
                               "project_id;cost\nA;5\nVOTES\nvoter_id;vote\n",
                               &e, err, sizeof err),
                     0);
    pb_options_default(&o);
    assert_int_equal(pb_run(&e, &o, &r, err, sizeof err), 0);
    pb_result_free(&r);
    o.rule = PB_RULE_EQUAL_SHARES;
    assert_int_equal(pb_run(&e, &o, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "no voters"));
    pb_election_free(&e);
    /* everything fits: Add1 is not run (as the reference tool), add1-greedy fills */
    assert_int_equal(parse_str("META\nkey;value\nbudget;100\nvote_type;approval\nPROJECTS\n"
                               "project_id;cost\nA;30\nB;30\nVOTES\nvoter_id;vote\n1;A\n2;A\n3;B\n",
                               &e, err, sizeof err),
                     0);
    o.completion = PB_COMPLETION_ADD1;
    assert_int_equal(pb_run(&e, &o, &r, err, sizeof err), 0);
    assert_true(r.add1_skipped);
    assert_string_equal(r.per_voter_num, "100");
    assert_string_equal(r.per_voter_den, "3");
    pb_result_free(&r);
    o.completion = PB_COMPLETION_ADD1_GREEDY;
    assert_int_equal(pb_run(&e, &o, &r, err, sizeof err), 0);
    assert_string_equal(winners_str(&e, &r, w, sizeof w), "A,B");
    pb_result_free(&r);
    /* bad options are refused with a message */
    o.increment = 0;
    assert_int_equal(pb_run(&e, &o, &r, err, sizeof err), -1);
    pb_options_default(&o);
    o.greedy_variant = PB_GREEDY_THRESHOLD;
    assert_int_equal(pb_run(&e, &o, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "threshold"));
    o.threshold = 2;
    assert_int_equal(pb_run(&e, &o, &r, err, sizeof err), 0);
    assert_string_equal(winners_str(&e, &r, w, sizeof w), "A"); /* B has 1 vote */
    pb_result_free(&r);
    pb_election_free(&e);
    /* no-skip stops at the first project that does not fit */
    assert_int_equal(
        parse_str("META\nkey;value\nbudget;50\nvote_type;approval\nPROJECTS\n"
                  "project_id;cost\nA;40\nB;20\nC;10\nVOTES\nvoter_id;vote\n1;A,B,C\n2;A,B\n3;A\n",
                  &e, err, sizeof err),
        0);
    pb_options_default(&o);
    assert_int_equal(pb_run(&e, &o, &r, err, sizeof err), 0);
    assert_string_equal(winners_str(&e, &r, w, sizeof w), "A,C");
    pb_result_free(&r);
    o.greedy_variant = PB_GREEDY_NO_SKIP;
    assert_int_equal(pb_run(&e, &o, &r, err, sizeof err), 0);
    assert_string_equal(winners_str(&e, &r, w, sizeof w), "A");
    pb_result_free(&r);
    pb_election_free(&e);
}

/* Add1's resumed runs (each restarting from the previous run's rounds, with bounds
 * carried over from it) give, at every endowment, exactly what a fresh run gives.
 * Larger elections than above, with costs in the hundreds and one-unit steps, so that
 * many runs resume and carry bounds over rounds whose payments moved. */
static void add1_resumed_runs_equal_fresh_runs(void **state) {
    (void)state;
    size_t checked = 0;
    for (uint64_t seed = 1; seed <= 120; seed++) {
        uint64_t s = seed * 11400714819323198485u + 7;
        size_t m = 4 + rng_next(&s) % 14, n = 20 + rng_next(&s) % 70;
        int points = rng_next(&s) % 4 == 0;
        int64_t total = 0, cost[20];
        for (size_t p = 0; p < m; p++) {
            cost[p] = 100 * (int64_t)(1 + rng_next(&s) % 40) + (int64_t)(rng_next(&s) % 3) * 7;
            total += cost[p];
        }
        pb_election e;
        pb_election_init(&e, points ? PB_VOTE_CUMULATIVE : PB_VOTE_APPROVAL, total / 3);
        for (size_t p = 0; p < m; p++) {
            char id[32];
            snprintf(id, sizeof id, "p%zu", p);
            pb_election_add_project(&e, id, "", cost[p]);
        }
        for (size_t v = 0; v < n; v++) {
            uint32_t pr[20], pt[20];
            size_t k = 0;
            uint64_t like = 2 + rng_next(&s) % 4;
            for (size_t p = 0; p < m; p++)
                if (rng_next(&s) % like == 0) {
                    pr[k] = (uint32_t)p;
                    pt[k++] = points ? 1 + (uint32_t)(rng_next(&s) % 5) : 1;
                }
            assert_int_equal(pb_election_add_ballot(&e, k, pr, pt), 0);
        }
        pb_election_finish(&e);
        pb_tie_break tb;
        char terr[64];
        assert_int_equal(pb_tie_break_parse("cost,votes,id", &tb, terr, sizeof terr), 0);
        uint32_t rank[20], w1[20], w2[20], w3[20];
        uint8_t cand[20];
        pb_tie_ranks(&e, &tb, rank);
        for (size_t p = 0; p < m; p++) cand[p] = 1;
        pb_mes_ws_fast *tf = pb_mes_ws_new_fast(&e), *ff = pb_mes_ws_new_fast(&e);
        pb_mes_ws_exact *tx = pb_mes_ws_new_exact(&e);
        pb_mes_params prm = {0};
        prm.candidate = cand;
        prm.rank = rank;
        prm.tie = &tb;
        prm.endow_den = 1;
        prm.increment = 1;
        int64_t e0 = e.budget / (int64_t)n;
        for (int64_t x = e0; x < e0 + 400; x++) {
            pb_mes_out o1 = {0}, o2 = {0}, o3 = {0};
            o1.win = w1;
            o2.win = w2;
            o3.win = w3;
            prm.endow_num = x;
            prm.slopes = 1;
            prm.resume = 1;
            pb_mes_run_fast(tf, &prm, &o1);
            pb_mes_run_exact(tx, &prm, &o3);
            prm.slopes = 0;
            prm.resume = 0;
            pb_mes_run_fast(ff, &prm, &o2);
            if (o1.nwin != o2.nwin || memcmp(w1, w2, o1.nwin * sizeof *w1) != 0 ||
                o3.nwin != o2.nwin || memcmp(w3, w2, o3.nwin * sizeof *w3) != 0)
                fail_msg("seed %llu endowment %lld: resumed run differs from a fresh run",
                         (unsigned long long)seed, (long long)x);
            assert_int_equal(o1.spent, o2.spent);
            checked++;
            if (o2.spent > e.budget) break;
        }
        pb_mes_ws_free_fast(tf);
        pb_mes_ws_free_fast(ff);
        pb_mes_ws_free_exact(tx);
        pb_election_free(&e);
    }
    assert_true(checked > 1000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_crlf_floats_quotes_and_missing_newline),
        cmocka_unit_test(rejects_bad_files_with_line_numbers),
        cmocka_unit_test(tie_break_parsing),
        cmocka_unit_test(equalshares_net_example),
        cmocka_unit_test(builder_api_matches_parser),
        cmocka_unit_test(generated_elections_match_textbook_rules),
        cmocka_unit_test(add1_resumed_runs_equal_fresh_runs),
        cmocka_unit_test(lottery_is_seeded_and_stated),
        cmocka_unit_test(explanations_are_consistent),
        cmocka_unit_test(survives_mutated_files),
        cmocka_unit_test(edge_cases),
        cmocka_unit_test(expected_tsv_rows_reproduced),
        cmocka_unit_test(wieliczka_official_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
