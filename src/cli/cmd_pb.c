/*
 * cmd_pb: `commonground pb FILE.pb ...` — computes a participatory budgeting outcome
 * from a pabulib file with the pb engine and prints it as a table for a council officer
 * or as JSON (keys documented in docs/engines/pb.md). All computation is in
 * src/engine/pb; this file only reads options and formats results.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "core/parse.h"
#include "engine/pb/pb.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: commonground pb FILE.pb [--rule greedy|equal-shares]\n"
            "         [--completion none|add1|add1-greedy] [--increment N]\n"
            "         [--tie-break cost,votes,id|lottery:SEED] [--exact|--fast]\n"
            "         [--compare-greedy] [--format text|json]\n"
            "         [--greedy-variant skip|no-skip|threshold] [--threshold N] [--no-explain]\n"
            "\n"
            "Computes the outcome of a participatory budget from a pabulib .pb file.\n"
            "  --rule            greedy by support (default) or the Method of Equal Shares\n"
            "  --completion      equal shares only: none (default); add1 raises every\n"
            "                    voter's budget by --increment (default 1) from the whole-unit\n"
            "                    endowment until the next step would overspend; add1-greedy\n"
            "                    then fills what is left greedily\n"
            "  --tie-break       keys for exact ties (default cost,votes,id) or a seeded lottery\n"
            "  --exact / --fast  GMP rationals (default) or doubles\n"
            "  --compare-greedy  Wieliczka's step: voters preferring each outcome; the outcome\n"
            "                    more voters prefer is used\n"
            "  --greedy-variant  pabulib's greedy variants (default skip); threshold uses the\n"
            "                    file's min_project_score_threshold unless --threshold is given\n"
            "  --no-explain      skip what-it-would-take-to-win figures for losing projects\n"
            "  --timing          print reading and computing times (ms) to stderr\n");
}

static int opt_value(int argc, char **argv, int *i, const char *name, const char **val) {
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0) return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != '\0') return 0;
    if (*i + 1 >= argc) {
        *val = NULL;
        return 1;
    }
    *val = argv[++*i];
    return 1;
}

static const char *completion_name(pb_completion c) {
    return c == PB_COMPLETION_ADD1          ? "add1"
           : c == PB_COMPLETION_ADD1_GREEDY ? "add1-greedy"
                                            : "none";
}

static const char *variant_name(pb_greedy_variant v) {
    return v == PB_GREEDY_NO_SKIP ? "no-skip" : v == PB_GREEDY_THRESHOLD ? "threshold" : "skip";
}

static double clock_ms(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double round_to(double x, double unit) { return round(x / unit) * unit; }

static json_t *to_json(const pb_election *e, const pb_options *o, const pb_result *r) {
    char tb[64];
    pb_tie_break_format(&o->tie, tb, sizeof tb);
    json_t *j = json_object();
    json_object_set_new(j, "rule",
                        json_string(o->rule == PB_RULE_GREEDY ? "greedy" : "equal-shares"));
    if (o->rule == PB_RULE_GREEDY)
        json_object_set_new(j, "greedy_variant", json_string(variant_name(o->greedy_variant)));
    json_object_set_new(j, "completion", json_string(completion_name(o->completion)));
    json_object_set_new(j, "increment",
                        o->completion != PB_COMPLETION_NONE ? json_integer(o->increment)
                                                            : json_null());
    json_object_set_new(j, "tie_break", json_string(tb));
    json_object_set_new(j, "arithmetic",
                        json_string(o->arith == PB_ARITH_EXACT ? "exact" : "fast"));
    json_object_set_new(j, "vote_type", json_string(pb_vote_type_name(e->vote_type)));
    json_object_set_new(j, "voters", json_integer((json_int_t)e->nvoters));
    json_object_set_new(j, "budget", json_integer(e->budget));
    json_object_set_new(j, "spent", json_integer(r->spent));
    if (r->has_per_voter_budget) {
        json_object_set_new(j, "per_voter_budget", json_real(r->per_voter_budget));
        char frac[128];
        if (strcmp(r->per_voter_den, "1") == 0)
            snprintf(frac, sizeof frac, "%s", r->per_voter_num);
        else
            snprintf(frac, sizeof frac, "%s/%s", r->per_voter_num, r->per_voter_den);
        json_object_set_new(j, "per_voter_budget_exact", json_string(frac));
    } else {
        json_object_set_new(j, "per_voter_budget", json_null());
    }
    if (o->rule == PB_RULE_EQUAL_SHARES && o->arith == PB_ARITH_EXACT) {
        json_t *x = json_object();
        json_object_set_new(x, "runs_with_close_calls", json_integer((json_int_t)r->exact_replays));
        json_object_set_new(x, "runs_redone_in_rationals",
                            json_integer((json_int_t)r->exact_fallbacks));
        json_object_set_new(j, "exact_checks", x);
    }
    if (o->completion != PB_COMPLETION_NONE) {
        json_t *a = json_object();
        json_object_set_new(a, "skipped_all_projects_fit", json_boolean(r->add1_skipped));
        json_object_set_new(a, "start", json_integer(r->add1_start));
        json_object_set_new(a, "steps", json_integer(r->add1_steps));
        json_object_set_new(a, "runs", json_integer((json_int_t)r->add1_runs));
        json_object_set_new(a, "greedy_fill", json_integer((json_int_t)r->greedy_fill));
        json_object_set_new(j, "add1", a);
    }
    json_t *w = json_array();
    for (size_t i = 0; i < r->nwinners; i++)
        json_array_append_new(w, json_string(e->projects[r->winners[i]].id));
    json_object_set_new(j, "winners", w);
    json_t *ps = json_array();
    for (size_t p = 0; p < e->nprojects; p++) {
        const pb_project *pr = &e->projects[p];
        const pb_project_result *rr = &r->projects[p];
        json_t *x = json_object();
        json_object_set_new(x, "id", json_string(pr->id));
        json_object_set_new(x, "name", json_string(pr->name));
        json_object_set_new(x, "cost", json_integer(pr->cost));
        json_object_set_new(x, "supporters", json_integer(pr->supporters));
        if (e->uses_points) json_object_set_new(x, "points", json_integer(pr->score));
        json_object_set_new(x, "funded", json_boolean(rr->funded));
        json_object_set_new(x, "position",
                            rr->funded && rr->position ? json_integer((json_int_t)rr->position)
                                                       : json_null());
        json_object_set_new(x, "effective_support",
                            json_real(round_to(rr->effective_support, 0.01)));
        if (pr->withdrawn) json_object_set_new(x, "withdrawn", json_true());
        if (!rr->funded) {
            json_object_set_new(x, "cost_to_win",
                                rr->has_cost_to_win ? json_integer(rr->cost_to_win) : json_null());
            json_object_set_new(x, "cheaper_by",
                                rr->has_cost_to_win ? json_integer(pr->cost - rr->cost_to_win)
                                                    : json_null());
            json_object_set_new(x, "supporters_to_win",
                                rr->has_supporters_to_win ? json_integer(rr->supporters_to_win)
                                                          : json_null());
        }
        json_array_append_new(ps, x);
    }
    json_object_set_new(j, "projects", ps);
    json_t *ties = json_array();
    for (size_t i = 0; i < r->nties; i++) {
        json_t *t = json_object();
        json_object_set_new(t, "chosen", json_string(e->projects[r->ties[i].chosen].id));
        json_object_set_new(t, "over", json_string(e->projects[r->ties[i].other].id));
        json_object_set_new(t, "decided_by", json_string(pb_tie_key_name(r->ties[i].decided_by)));
        json_array_append_new(ties, t);
    }
    json_object_set_new(j, "ties", ties);
    if (r->has_comparison) {
        json_t *c = json_object();
        json_object_set_new(c, "prefer_equal_shares", json_integer(r->prefer_mes));
        json_object_set_new(c, "prefer_greedy", json_integer(r->prefer_greedy));
        json_object_set_new(c, "prefer_neither", json_integer(r->prefer_equal));
        json_object_set_new(c, "covered_equal_shares", json_real(round_to(r->covered_mes, 1e-6)));
        json_object_set_new(c, "covered_greedy", json_real(round_to(r->covered_greedy, 1e-6)));
        json_object_set_new(c, "outcome_used",
                            json_string(r->used_greedy ? "greedy" : "equal-shares"));
        json_t *gw = json_array();
        for (size_t i = 0; i < r->greedy_nwinners; i++)
            json_array_append_new(gw, json_string(e->projects[r->greedy_winners[i]].id));
        json_object_set_new(c, "greedy_winners", gw);
        json_object_set_new(j, "comparison", c);
    }
    return j;
}

static void print_text(const pb_election *e, const pb_options *o, const pb_result *r) {
    char tb[64];
    pb_tie_break_format(&o->tie, tb, sizeof tb);
    const char *cur = e->currency[0] ? e->currency : "";
    printf("%s\n", e->description[0] ? e->description : "Participatory budget");
    printf("rule: %s", o->rule == PB_RULE_GREEDY ? "greedy" : "equal shares");
    if (o->rule == PB_RULE_GREEDY) printf(" (%s)", variant_name(o->greedy_variant));
    if (o->completion != PB_COMPLETION_NONE)
        printf(", completion %s (increment %lld)", completion_name(o->completion),
               (long long)o->increment);
    printf("; tie-break %s; %s arithmetic\n", tb, o->arith == PB_ARITH_EXACT ? "exact" : "fast");
    printf("voters: %zu   budget: %lld %s   spent: %lld %s\n", e->nvoters, (long long)e->budget,
           cur, (long long)r->spent, cur);
    if (r->has_per_voter_budget) {
        printf("per-voter budget: %.6f", r->per_voter_budget);
        if (strcmp(r->per_voter_den, "1") != 0)
            printf(" (%s/%s)", r->per_voter_num, r->per_voter_den);
        printf("\n");
    }
    printf("\n%-4s %-14s %12s %10s %-8s %9s  %s\n", "#", "project", "cost", "supporters", "funded",
           "eff.supp%", "to win");
    /* Winners in selection order, then the rest in file order. */
    for (int pass = 0; pass < 2; pass++) {
        size_t cnt = pass == 0 ? r->nwinners : e->nprojects;
        for (size_t i = 0; i < cnt; i++) {
            uint32_t p = pass == 0 ? r->winners[i] : (uint32_t)i;
            const pb_project_result *rr = &r->projects[p];
            if (pass == 1 && rr->funded) continue;
            const pb_project *pr = &e->projects[p];
            char pos[24] = "", win[96] = "";
            if (pass == 0) snprintf(pos, sizeof pos, "%zu", i + 1);
            if (!rr->funded) {
                size_t k = 0;
                if (rr->has_cost_to_win)
                    k += (size_t)snprintf(win + k, sizeof win - k, "cost <= %lld",
                                          (long long)rr->cost_to_win);
                if (rr->has_supporters_to_win)
                    snprintf(win + k, sizeof win - k, "%s+%lld supporters", k ? " or " : "",
                             (long long)rr->supporters_to_win);
            }
            printf("%-4s %-14.14s %12lld %10lld %-8s %9.2f  %s\n", pos, pr->id, (long long)pr->cost,
                   (long long)(e->uses_points ? pr->score : pr->supporters),
                   rr->funded      ? "yes"
                   : pr->withdrawn ? "withdrawn"
                                   : "no",
                   rr->effective_support, win);
        }
    }
    if (r->nties) {
        printf("\nexact ties resolved:\n");
        for (size_t i = 0; i < r->nties; i++)
            printf("  %s over %s (by %s)\n", e->projects[r->ties[i].chosen].id,
                   e->projects[r->ties[i].other].id, pb_tie_key_name(r->ties[i].decided_by));
    }
    if (r->has_comparison) {
        printf(
            "\ncomparison with greedy: %lld voters prefer equal shares, %lld prefer greedy, %lld "
            "neither\n",
            (long long)r->prefer_mes, (long long)r->prefer_greedy, (long long)r->prefer_equal);
        printf("voters with at least one funded project: equal shares %.2f%%, greedy %.2f%%\n",
               100 * r->covered_mes, 100 * r->covered_greedy);
        printf("outcome used: %s\n", r->used_greedy ? "greedy" : "equal shares");
    }
}

int cmd_pb(int argc, char **argv) {
    pb_options o;
    pb_options_default(&o);
    const char *file = NULL, *format = "text";
    int timing = 0;
    char err[512];
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (opt_value(argc, argv, &i, "--rule", &v)) {
            if (v && strcmp(v, "greedy") == 0)
                o.rule = PB_RULE_GREEDY;
            else if (v && strcmp(v, "equal-shares") == 0)
                o.rule = PB_RULE_EQUAL_SHARES;
            else
                goto bad_value;
        } else if (opt_value(argc, argv, &i, "--completion", &v)) {
            if (v && strcmp(v, "none") == 0)
                o.completion = PB_COMPLETION_NONE;
            else if (v && strcmp(v, "add1") == 0)
                o.completion = PB_COMPLETION_ADD1;
            else if (v && strcmp(v, "add1-greedy") == 0)
                o.completion = PB_COMPLETION_ADD1_GREEDY;
            else
                goto bad_value;
        } else if (opt_value(argc, argv, &i, "--increment", &v)) {
            if (!v || parse_i64(v, &o.increment) || o.increment < 1) {
                fprintf(stderr,
                        "commonground pb: --increment needs a whole number of at least 1\n");
                return 2;
            }
        } else if (opt_value(argc, argv, &i, "--tie-break", &v)) {
            if (!v || pb_tie_break_parse(v, &o.tie, err, sizeof err)) {
                fprintf(stderr, "commonground pb: %s\n", v ? err : "--tie-break needs a value");
                return 2;
            }
        } else if (strcmp(argv[i], "--exact") == 0) {
            o.arith = PB_ARITH_EXACT;
        } else if (strcmp(argv[i], "--fast") == 0) {
            o.arith = PB_ARITH_FAST;
        } else if (strcmp(argv[i], "--compare-greedy") == 0) {
            o.compare_greedy = 1;
        } else if (strcmp(argv[i], "--no-explain") == 0) {
            o.explain = 0;
        } else if (strcmp(argv[i], "--timing") == 0) {
            timing = 1;
        } else if (opt_value(argc, argv, &i, "--format", &v)) {
            if (v && (strcmp(v, "text") == 0 || strcmp(v, "json") == 0))
                format = v;
            else
                goto bad_value;
        } else if (opt_value(argc, argv, &i, "--greedy-variant", &v)) {
            if (v && strcmp(v, "skip") == 0)
                o.greedy_variant = PB_GREEDY_SKIP;
            else if (v && strcmp(v, "no-skip") == 0)
                o.greedy_variant = PB_GREEDY_NO_SKIP;
            else if (v && strcmp(v, "threshold") == 0)
                o.greedy_variant = PB_GREEDY_THRESHOLD;
            else
                goto bad_value;
        } else if (opt_value(argc, argv, &i, "--threshold", &v)) {
            if (!v || parse_i64(v, &o.threshold) || o.threshold < 0) {
                fprintf(stderr, "commonground pb: --threshold needs a whole non-negative number\n");
                return 2;
            }
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "commonground pb: unknown option '%s'\n\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (!file) {
            file = argv[i];
        } else {
            fprintf(stderr, "commonground pb: only one FILE.pb, got '%s' and '%s'\n", file,
                    argv[i]);
            return 2;
        }
        continue;
    bad_value:
        fprintf(stderr, "commonground pb: bad or missing option value '%s' (see --help)\n",
                v ? v : "");
        return 2;
    }
    if (!file) {
        usage(stderr);
        return 2;
    }
    if (o.rule == PB_RULE_GREEDY && (o.completion != PB_COMPLETION_NONE || o.compare_greedy)) {
        fprintf(stderr,
                "commonground pb: --completion and --compare-greedy need --rule equal-shares\n");
        return 2;
    }
    pb_election e;
    double t0 = clock_ms(CLOCK_MONOTONIC), c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
    if (pb_election_load(file, &e, err, sizeof err)) {
        fprintf(stderr, "commonground pb: %s\n", err);
        return 1;
    }
    double t1 = clock_ms(CLOCK_MONOTONIC), c1 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
    pb_result r;
    if (pb_run(&e, &o, &r, err, sizeof err)) {
        fprintf(stderr, "commonground pb: %s\n", err);
        pb_election_free(&e);
        return 1;
    }
    double t2 = clock_ms(CLOCK_MONOTONIC), c2 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
    /* CPU time is what a shared, loaded machine still measures fairly. */
    if (timing)
        fprintf(stderr,
                "timing: read %.1f ms cpu (%.1f wall), compute %.1f ms cpu (%.1f wall); %zu "
                "voters, %zu projects\n",
                c1 - c0, t1 - t0, c2 - c1, t2 - t1, e.nvoters, e.nprojects);
    if (strcmp(format, "json") == 0) {
        json_t *j = to_json(&e, &o, &r);
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(12));
        fputc('\n', stdout);
        json_decref(j);
    } else {
        print_text(&e, &o, &r);
    }
    pb_result_free(&r);
    pb_election_free(&e);
    return 0;
}
