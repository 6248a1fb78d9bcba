/*
 * cmd_weight: `commonground weight`, the command line of the weighting engine.
 *
 *   weight --case DIR --out DIR
 *   weight --respondents FILE --margins FILE [--params FILE] [--max-iter N]
 *          [--tolerance PEOPLE] [--epsilon E] [--population-total T] [--trim-upper RATIO]
 *          [--min-count N] --out DIR
 *   weight margins-from-census --census DIR --area LA [--ward WARD] [--variables LIST]
 *          [--ages 16+|all] --out FILE
 *
 * Reads the case files, runs the engine and writes weights.csv and summary.json in the
 * exact form of ../shared/data/weighting/README.md; --format text also prints a readable
 * report (representativeness, diagnostics, warnings). This file owns the file formats of
 * the outputs (JSON through jansson); the engine owns every figure.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "core/parse.h"
#include "core/xalloc.h"
#include "engine/weighting/census.h"
#include "engine/weighting/weighting.h"

static void usage(FILE *out) {
    fprintf(out, "usage: commonground weight --case DIR --out DIR [options]\n"
                 "       commonground weight --respondents FILE --margins FILE [--params FILE]\n"
                 "                           [options] --out DIR\n"
                 "       commonground weight margins-from-census --census DIR --area LA\n"
                 "                           [--ward WARD] [--variables LIST] [--ages 16+|all]\n"
                 "                           --out FILE\n"
                 "\n"
                 "Rakes respondent weights to population margins and reports how representative\n"
                 "the respondents are. Writes DIR/weights.csv (id,weight) and DIR/summary.json;\n"
                 "on refused input only summary.json (status \"error\"). Files: see\n"
                 "docs/engines/weighting.md.\n"
                 "\n"
                 "options (override params.json):\n"
                 "  --max-iter N           most raking sweeps (default 100)\n"
                 "  --tolerance PEOPLE     stop when no cell total moves by this many people\n"
                 "                         between sweeps (default 1e-10 x n)\n"
                 "  --epsilon E            as survey::rake: below 1 a fraction of n, else people\n"
                 "  --population-total T   rescale every margin to T (default: the first\n"
                 "                         variable's total)\n"
                 "  --trim-upper RATIO     after raking, cap weights at RATIO x the mean weight\n"
                 "  --min-count N          hide categories with fewer participants (default 5)\n"
                 "  --format text|json|quiet  text: readable report on stdout; json: summary.json\n"
                 "                         on stdout; default: one line\n"
                 "  --timing               print the time spent reading, weighting and writing\n"
                 "\n"
                 "exit status: 0 weights meet the margins, 1 input refused or not converged,\n"
                 "2 bad usage.\n");
}

/* --- JSON ------------------------------------------------------------------------------- */

/* Integral values print as integers (52959, not 52959.0), NaN as null. */
static json_t *jnum(double v) {
    if (isnan(v) || isinf(v)) return json_null();
    if (v == floor(v) && fabs(v) < 9007199254740992.0) return json_integer((json_int_t)v);
    return json_real(v);
}

static json_t *jstr(const char *s) { return s ? json_string(s) : json_null(); }

static void put_stats(json_t *o, const weighting_stats *s, bool with_y) {
    json_object_set_new(o, "max_abs_margin_error", jnum(s->max_abs_margin_error));
    json_object_set_new(o, "max_rel_margin_error", jnum(s->max_rel_margin_error));
    json_object_set_new(o, "sum_weights", jnum(s->sum_weights));
    json_object_set_new(o, "mean_weight", jnum(s->mean_weight));
    json_object_set_new(o, "min_weight", jnum(s->min_weight));
    json_object_set_new(o, "max_weight", jnum(s->max_weight));
    json_object_set_new(o, "weight_ratio", jnum(s->weight_ratio));
    json_object_set_new(o, "cv", jnum(s->cv));
    json_object_set_new(o, "kish_deff", jnum(s->kish_deff));
    json_object_set_new(o, "ess", jnum(s->ess));
    json_object_set_new(o, "efficiency", jnum(s->efficiency));
    (void)with_y;
}

static void put_y(json_t *o, const weighting_result *r, const weighting_stats *s) {
    json_object_set_new(o, "unweighted_mean_y", jnum(r->unweighted_mean_y));
    json_object_set_new(o, "weighted_mean_y", jnum(s->weighted_mean_y));
    json_object_set_new(o, "se_weighted_mean_y", jnum(s->se_weighted_mean_y));
    json_object_set_new(o, "se_weighted_mean_y_fixed_weights",
                        jnum(s->se_weighted_mean_y_fixed_weights));
    json_object_set_new(o, "se_unweighted_mean_y", jnum(r->se_unweighted_mean_y));
}

static json_t *error_json(const weighting_error *e) {
    json_t *o = json_object();
    json_object_set_new(o, "code", json_string(weighting_error_code_name(e->code)));
    json_object_set_new(o, "message", jstr(e->message));
    json_object_set_new(o, "variable", jstr(e->variable));
    json_object_set_new(o, "category", jstr(e->category));
    if (e->ids) {
        json_t *ids = json_array();
        for (size_t i = 0; i < e->nids; i++) json_array_append_new(ids, json_string(e->ids[i]));
        json_object_set_new(o, "ids", ids);
    } else {
        json_object_set_new(o, "ids", json_null());
    }
    return o;
}

typedef struct run_info {
    const char *case_name;
    double epsilon_in; /* as given in params.json (NaN when not given) */
    double tolerance_in;
    size_t min_count;
} run_info;

static json_t *summary_json(const weighting_result *r, const run_info *info) {
    bool ok = r->status != WEIGHTING_ERROR;
    json_t *o = json_object();
    json_object_set_new(o, "status", json_string(weighting_status_name(r->status)));
    json_object_set_new(o, "case", jstr(info->case_name));
    json_object_set_new(o, "n", json_integer((json_int_t)r->n));
    json_t *vars = json_array();
    for (size_t v = 0; v < r->nvars; v++) json_array_append_new(vars, json_string(r->variables[v]));
    json_object_set_new(o, "variables", vars);
    json_object_set_new(o, "population_total", jnum(r->population_total));
    json_object_set_new(o, "maxit", json_integer(r->maxit));
    json_object_set_new(o, "epsilon",
                        jnum(isnan(info->epsilon_in) ? r->epsilon : info->epsilon_in));
    json_object_set_new(o, "tolerance", jnum(r->tolerance));
    json_object_set_new(o, "iterations", ok ? json_integer(r->iterations) : json_null());
    json_object_set_new(o, "converged", ok ? json_boolean(r->converged) : json_null());
    weighting_stats none;
    memset(&none, 0, sizeof none);
    double *f = (double *)&none;
    for (size_t i = 0; i < sizeof none / sizeof(double); i++) f[i] = NAN;
    const weighting_stats *s = ok ? &r->stats : &none;
    put_stats(o, s, r->has_y);
    put_y(o, r, s);
    json_t *margins = json_array();
    for (size_t k = 0; k < r->nmargins; k++) {
        const weighting_margin *m = &r->margins[k];
        json_t *mo = json_object();
        json_object_set_new(mo, "variable", json_string(m->variable));
        json_object_set_new(mo, "category", json_string(m->category));
        json_object_set_new(mo, "target_input", jnum(m->target_input));
        json_object_set_new(mo, "target", jnum(m->target));
        json_object_set_new(mo, "achieved", ok ? jnum(m->achieved) : json_null());
        json_object_set_new(mo, "error", ok ? jnum(m->error) : json_null());
        json_object_set_new(mo, "n_respondents",
                            r->have_representativeness ? json_integer((json_int_t)m->n_respondents)
                                                       : json_null());
        json_array_append_new(margins, mo);
    }
    json_object_set_new(o, "margins", margins);
    if (ok && r->trimmed) {
        json_t *t = json_object();
        json_object_set_new(t, "upper_ratio", jnum(r->trim.upper_ratio));
        json_object_set_new(t, "strict", json_boolean(r->trim.strict));
        json_object_set_new(t, "cap", jnum(r->trim.cap));
        json_object_set_new(t, "rounds", json_integer(r->trim.rounds));
        json_object_set_new(t, "n_above_cap_before",
                            json_integer((json_int_t)r->trim.n_above_cap_before));
        json_object_set_new(t, "n_at_cap", json_integer((json_int_t)r->trim.n_at_cap));
        json_object_set_new(t, "max_after", jnum(r->trim.max_after));
        json_t *raked = json_object();
        put_stats(raked, &r->trim.raked, r->has_y);
        json_object_set_new(raked, "weighted_mean_y", jnum(r->trim.raked.weighted_mean_y));
        json_object_set_new(raked, "se_weighted_mean_y", jnum(r->trim.raked.se_weighted_mean_y));
        json_object_set_new(raked, "se_weighted_mean_y_fixed_weights",
                            jnum(r->trim.raked.se_weighted_mean_y_fixed_weights));
        json_object_set_new(t, "raked", raked);
        json_object_set_new(o, "trim", t);
    } else {
        json_object_set_new(o, "trim", json_null());
    }
    json_object_set_new(o, "error", r->nerrors ? error_json(&r->errors[0]) : json_null());

    /* Beyond the README's keys: every problem found, and the public representativeness
     * table (counts below min_count hidden). */
    json_t *errs = json_array();
    for (size_t i = 0; i < r->nerrors; i++) json_array_append_new(errs, error_json(&r->errors[i]));
    json_object_set_new(o, "errors", errs);
    json_object_set_new(o, "n_cells", ok ? json_integer((json_int_t)r->ncells) : json_null());
    json_t *totals = json_object();
    for (size_t v = 0; v < r->nvars; v++)
        json_object_set_new(totals, r->variables[v], jnum(r->variable_totals[v]));
    json_object_set_new(o, "variable_totals_input", totals);
    json_t *warns = json_array();
    for (size_t k = 0; k < r->nwarnings; k++)
        json_array_append_new(warns, json_string(r->warnings[k]));
    json_object_set_new(o, "warnings", warns);
    if (r->have_representativeness) {
        json_t *rep = json_array();
        for (size_t k = 0; k < r->nmargins; k++) {
            const weighting_margin *m = &r->margins[k];
            char verdict[256];
            json_t *ro = json_object();
            json_object_set_new(ro, "variable", json_string(m->variable));
            json_object_set_new(ro, "category", json_string(m->category));
            json_object_set_new(ro, "population_share", jnum(m->population_share));
            json_object_set_new(ro, "suppressed", json_boolean(m->suppressed));
            json_object_set_new(ro, "n_respondents",
                                m->suppressed ? json_null()
                                              : json_integer((json_int_t)m->n_respondents));
            json_object_set_new(ro, "participant_share",
                                m->suppressed ? json_null() : jnum(m->participant_share));
            json_object_set_new(ro, "ratio", m->suppressed ? json_null() : jnum(m->ratio));
            json_object_set_new(ro, "verdict",
                                json_string(weighting_verdict(m, verdict, sizeof verdict)));
            json_array_append_new(rep, ro);
        }
        json_object_set_new(o, "representativeness", rep);
        json_object_set_new(o, "min_count", json_integer((json_int_t)info->min_count));
    } else {
        json_object_set_new(o, "representativeness", json_null());
    }
    return o;
}

/* --- files --------------------------------------------------------------------------------- */

static int ensure_dir(const char *dir) {
    if (mkdir(dir, 0777) == 0 || errno == EEXIST) return 0;
    fprintf(stderr, "commonground weight: cannot create %s: %s\n", dir, strerror(errno));
    return -1;
}

static void csv_put(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* ",%.10f\n" of w, without printf's exact decimal expansion (a third of the time of writing
 * 200,000 weights). The integer and fractional parts are exact in double; the fraction
 * times 1e10 is rounded once, so the last digit can differ from printf's only when the
 * value lies within a rounding error of a tie: 1e-10, inside the README's tolerance. */
static const char *fixed10(double w, char *out, size_t outlen) {
    if (!(w >= 0 && w < 1e15)) {
        snprintf(out, outlen, ",%.10f\n", w);
        return out;
    }
    uint64_t ip = (uint64_t)w;
    uint64_t fr = (uint64_t)llround((w - (double)ip) * 1e10);
    if (fr >= 10000000000ull) {
        ip++;
        fr -= 10000000000ull;
    }
    char *q = out;
    *q++ = ',';
    char tmp[24];
    int k = 0;
    do {
        tmp[k++] = (char)('0' + ip % 10);
        ip /= 10;
    } while (ip);
    while (k) *q++ = tmp[--k];
    *q++ = '.';
    for (int d = 9; d >= 0; d--) {
        q[d] = (char)('0' + fr % 10);
        fr /= 10;
    }
    q += 10;
    *q++ = '\n';
    *q = '\0';
    return out;
}

static int write_weights(const char *path, const weighting_problem *p, const weighting_result *r) {
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "commonground weight: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    static char iobuf[1 << 16];
    setvbuf(f, iobuf, _IOFBF, sizeof iobuf);
    fputs("id,weight\n", f);
    char num[64];
    for (size_t i = 0; i < r->n; i++) {
        csv_put(f, weighting_problem_id(p, i));
        fputs(fixed10(r->weights[i], num, sizeof num), f);
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        fprintf(stderr, "commonground weight: error writing %s\n", path);
        return -1;
    }
    return 0;
}

/* Reads params.json into prm, recording bad values in p as bad_params. */
static void read_params(const char *path, weighting_problem *p, weighting_params *prm,
                        run_info *info, char **case_name) {
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    if (!j) {
        weighting_add_input_error(p, WEIGHTING_E_BAD_PARAMS, NULL, NULL, "%s: line %d: %s", path,
                                  jerr.line, jerr.text);
        return;
    }
    if (!json_is_object(j)) {
        weighting_add_input_error(p, WEIGHTING_E_BAD_PARAMS, NULL, NULL,
                                  "%s: expected a JSON object", path);
        json_decref(j);
        return;
    }
    json_t *v;
    if ((v = json_object_get(j, "case")) && json_is_string(v))
        *case_name = xstrdup(json_string_value(v));
    if ((v = json_object_get(j, "maxit")) && !json_is_null(v)) {
        if (json_is_integer(v))
            prm->maxit = (int)json_integer_value(v);
        else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)))
            prm->maxit = (int)json_real_value(v);
        else
            weighting_add_input_error(p, WEIGHTING_E_BAD_PARAMS, "maxit", NULL,
                                      "%s: maxit must be a whole number", path);
    }
    if ((v = json_object_get(j, "epsilon")) && !json_is_null(v)) {
        if (json_is_number(v))
            prm->epsilon = info->epsilon_in = json_number_value(v);
        else
            weighting_add_input_error(p, WEIGHTING_E_BAD_PARAMS, "epsilon", NULL,
                                      "%s: epsilon must be a number", path);
    }
    if ((v = json_object_get(j, "tolerance")) && !json_is_null(v)) {
        if (json_is_number(v) && json_number_value(v) > 0)
            prm->tolerance = info->tolerance_in = json_number_value(v);
        else
            weighting_add_input_error(p, WEIGHTING_E_BAD_PARAMS, "tolerance", NULL,
                                      "%s: tolerance must be a positive number", path);
    }
    if ((v = json_object_get(j, "population_total")) && !json_is_null(v)) {
        if (json_is_number(v)) {
            prm->has_population_total = true;
            prm->population_total = json_number_value(v);
        } else {
            weighting_add_input_error(p, WEIGHTING_E_BAD_PARAMS, "population_total", NULL,
                                      "%s: population_total must be a number or null", path);
        }
    }
    if ((v = json_object_get(j, "trim")) && !json_is_null(v)) {
        json_t *u = json_is_object(v) ? json_object_get(v, "upper_ratio") : NULL;
        json_t *st = json_is_object(v) ? json_object_get(v, "strict") : NULL;
        if (!u || !json_is_number(u) || (st && !json_is_boolean(st) && !json_is_null(st))) {
            weighting_add_input_error(p, WEIGHTING_E_BAD_PARAMS, "trim", NULL,
                                      "%s: trim must be null or {\"upper_ratio\": r, \"strict\": "
                                      "true}",
                                      path);
        } else {
            prm->trim_upper_ratio = json_number_value(u);
            prm->trim_strict = st && json_is_boolean(st) ? json_is_true(st) : true;
        }
    }
    json_decref(j);
}

static int parse_num_arg(const char *flag, const char *val, double *out) {
    if (!val || parse_double(val, out) != 0) {
        fprintf(stderr, "commonground weight: %s needs a number\n", flag);
        return -1;
    }
    return 0;
}

/* --- text report --------------------------------------------------------------------------- */

static void print_text(FILE *out, const weighting_result *r, const run_info *info,
                       const char *outdir) {
    fprintf(out, "Weighting%s%s: %s\n", info->case_name ? " " : "",
            info->case_name ? info->case_name : "", weighting_status_name(r->status));
    fprintf(out, "  %zu respondents, %zu variables", r->n, r->nvars);
    if (!isnan(r->population_total)) fprintf(out, ", population total %.0f", r->population_total);
    fprintf(out, "\n");
    if (r->have_representativeness) {
        fprintf(out,
                "\nWho took part, against the population (categories with fewer than %zu "
                "participants are not shown)\n",
                info->min_count);
        size_t prev = (size_t)-1;
        for (size_t k = 0; k < r->nmargins; k++) {
            const weighting_margin *m = &r->margins[k];
            if (m->var_index != prev) fprintf(out, "  %s\n", m->variable);
            prev = m->var_index;
            char verdict[256];
            fprintf(out, "    %-44s %s\n", m->category,
                    weighting_verdict(m, verdict, sizeof verdict));
        }
    }
    if (r->status == WEIGHTING_ERROR) {
        fprintf(out, "\nRefused (%zu problem%s; no weights written):\n", r->nerrors,
                r->nerrors == 1 ? "" : "s");
        for (size_t i = 0; i < r->nerrors && i < 20; i++)
            fprintf(out, "  %s: %s\n", weighting_error_code_name(r->errors[i].code),
                    r->errors[i].message);
        if (r->nerrors > 20) fprintf(out, "  ... and %zu more in summary.json\n", r->nerrors - 20);
        return;
    }
    const weighting_stats *s = &r->stats;
    fprintf(out, "\nDiagnostics\n");
    fprintf(out, "  raking: %s after %d sweep%s (tolerance %g people), %zu cells\n",
            r->converged          ? "converged"
            : r->stop_test_passed ? "settled without meeting the margins (no weights can)"
                                  : "did NOT converge",
            r->iterations, r->iterations == 1 ? "" : "s", r->tolerance, r->ncells);
    fprintf(out, "  largest margin error: %.3g people (%.3g%% of its target)\n",
            s->max_abs_margin_error, 100 * s->max_rel_margin_error);
    fprintf(out, "  weights: min %.4g, max %.4g, ratio %.3g, mean %.4g, sum %.10g\n", s->min_weight,
            s->max_weight, s->weight_ratio, s->mean_weight, s->sum_weights);
    fprintf(out,
            "  cv %.4f, Kish design effect %.4f, effective sample size %.1f of %zu "
            "(efficiency %.1f%%)\n",
            s->cv, s->kish_deff, s->ess, r->n, 100 * s->efficiency);
    if (r->trimmed)
        fprintf(out,
                "  trimmed at %.4g (%.3g x mean): %zu respondents above the cap before, "
                "%zu at the cap after, %d rounds\n",
                r->trim.cap, r->trim.upper_ratio, r->trim.n_above_cap_before, r->trim.n_at_cap,
                r->trim.rounds);
    if (r->has_y) {
        fprintf(out,
                "  y: unweighted mean %.4f (SE %.4f); weighted mean %.4f (SE %.4f, 95%% "
                "interval %.4f to %.4f)\n",
                r->unweighted_mean_y, r->se_unweighted_mean_y, s->weighted_mean_y,
                s->se_weighted_mean_y, s->weighted_mean_y - 1.96 * s->se_weighted_mean_y,
                s->weighted_mean_y + 1.96 * s->se_weighted_mean_y);
    }
    fprintf(out, "\nWarnings\n");
    for (size_t k = 0; k < r->nwarnings; k++) fprintf(out, "  - %s\n", r->warnings[k]);
    if (!r->nwarnings) fprintf(out, "  (none)\n");
    fprintf(out, "\nWrote %s/weights.csv and %s/summary.json\n", outdir, outdir);
}

/* --- the command ----------------------------------------------------------------------------- */

static double now(void) {
    struct timespec ts;
    clock_gettime(getenv("CG_TIMING_WALL") ? CLOCK_MONOTONIC : CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = xmalloc(n);
    snprintf(s, n, "%s/%s", dir, name);
    return s;
}

/* `weight margins-from-census`: writes margins.csv from the census extracts. */
static int margins_from_census(int argc, char **argv) {
    const char *dir = NULL, *area = NULL, *ward = NULL, *out = NULL, *ages = "16+";
    const char *vars_arg = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf("usage: commonground weight margins-from-census --census DIR --area LA\n"
                   "           [--ward WARD] [--variables LIST] [--ages 16+|all] --out FILE\n"
                   "\n"
                   "Writes margins.csv (variable,category,target) for one local authority\n"
                   "(code or name, e.g. E07000223 or Adur) or one of its wards, from the\n"
                   "Census 2021 extracts in DIR (../shared/data/census).\n"
                   "  --variables  comma-separated, in raking order (default age6,sex,tenure;\n"
                   "               by ward age6,tenure); known: %s\n"
                   "  --ages 16+   leave out 'Aged 15 years and under' (default), or all\n"
                   "  --out FILE   '-' for standard output\n",
                   weighting_census_variable_names());
            return 0;
        }
        if (!val) {
            fprintf(stderr, "commonground weight margins-from-census: %s needs a value\n", a);
            return 2;
        }
        if (strcmp(a, "--census") == 0)
            dir = val;
        else if (strcmp(a, "--area") == 0)
            area = val;
        else if (strcmp(a, "--ward") == 0)
            ward = val;
        else if (strcmp(a, "--variables") == 0)
            vars_arg = val;
        else if (strcmp(a, "--ages") == 0)
            ages = val;
        else if (strcmp(a, "--out") == 0)
            out = val;
        else {
            fprintf(stderr, "commonground weight margins-from-census: unknown option '%s'\n", a);
            return 2;
        }
        i++;
    }
    if (!dir || !area || !out || (strcmp(ages, "16+") != 0 && strcmp(ages, "all") != 0)) {
        fprintf(stderr, "commonground weight margins-from-census: give --census DIR, --area LA "
                        "and --out FILE (--ages is 16+ or all); see --help\n");
        return 2;
    }
    char *list = xstrdup(vars_arg ? vars_arg : ward ? "age6,tenure" : "age6,sex,tenure");
    const char *vars[32];
    size_t nvars = 0;
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (nvars == sizeof vars / sizeof vars[0]) break;
        vars[nvars++] = t;
    }
    weighting_census_margins m;
    char err[1024];
    int rc = 0;
    if (weighting_census_build(dir, area, ward, vars, nvars, strcmp(ages, "16+") == 0, &m, err,
                               sizeof err) != 0) {
        fprintf(stderr, "commonground weight margins-from-census: %s\n", err);
        free(list);
        return 1;
    }
    FILE *f = strcmp(out, "-") == 0 ? stdout : fopen(out, "w");
    if (!f) {
        fprintf(stderr, "commonground weight margins-from-census: cannot write %s: %s\n", out,
                strerror(errno));
        rc = 1;
        goto done;
    }
    fputs("variable,category,target\n", f);
    for (size_t i = 0; i < m.nrows; i++) {
        csv_put(f, m.rows[i].variable);
        fputc(',', f);
        csv_put(f, m.rows[i].category);
        fprintf(f, ",%.15g\n", m.rows[i].target);
    }
    if (f != stdout && fclose(f) != 0) {
        fprintf(stderr, "commonground weight margins-from-census: error writing %s\n", out);
        rc = 1;
    }
    fprintf(stderr,
            "margins for %s (%s)%s%s%s: %zu categories of %zu variables; totals differ "
            "between tables and are rescaled by `commonground weight`\n",
            m.area_name, m.area_code, m.ward_name ? ", ward " : "", m.ward_name ? m.ward_name : "",
            m.ward_name ? "" : "", m.nrows, nvars);
done:
    weighting_census_margins_free(&m);
    free(list);
    return rc;
}

int cmd_weight(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "margins-from-census") == 0)
        return margins_from_census(argc - 1, argv + 1);
    const char *case_dir = NULL, *resp = NULL, *marg = NULL, *params = NULL, *outdir = NULL;
    const char *format = "line";
    bool timing = false;
    weighting_params prm;
    weighting_params_init(&prm);
    struct {
        bool maxit, tol, eps, total, trim, minc;
        double maxit_v, tol_v, eps_v, total_v, trim_v, minc_v;
    } ov = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--timing") == 0) {
            timing = true;
            continue;
        }
        int takes = 1;
        if (strcmp(a, "--case") == 0)
            case_dir = val;
        else if (strcmp(a, "--respondents") == 0)
            resp = val;
        else if (strcmp(a, "--margins") == 0)
            marg = val;
        else if (strcmp(a, "--params") == 0)
            params = val;
        else if (strcmp(a, "--out") == 0)
            outdir = val;
        else if (strcmp(a, "--format") == 0)
            format = val;
        else if (strcmp(a, "--max-iter") == 0) {
            if (parse_num_arg(a, val, &ov.maxit_v)) return 2;
            ov.maxit = true;
        } else if (strcmp(a, "--tolerance") == 0) {
            if (parse_num_arg(a, val, &ov.tol_v)) return 2;
            ov.tol = true;
        } else if (strcmp(a, "--epsilon") == 0) {
            if (parse_num_arg(a, val, &ov.eps_v)) return 2;
            ov.eps = true;
        } else if (strcmp(a, "--population-total") == 0) {
            if (parse_num_arg(a, val, &ov.total_v)) return 2;
            ov.total = true;
        } else if (strcmp(a, "--trim-upper") == 0) {
            if (parse_num_arg(a, val, &ov.trim_v)) return 2;
            ov.trim = true;
        } else if (strcmp(a, "--min-count") == 0) {
            if (parse_num_arg(a, val, &ov.minc_v) || ov.minc_v < 0) return 2;
            ov.minc = true;
        } else {
            fprintf(stderr, "commonground weight: unknown option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
        if (!val) {
            fprintf(stderr, "commonground weight: %s needs a value\n", a);
            return 2;
        }
        i += takes;
    }
    if (!outdir || (!case_dir && (!resp || !marg)) || (case_dir && (resp || marg))) {
        fprintf(stderr, "commonground weight: give --case DIR, or --respondents and --margins; "
                        "and --out DIR\n\n");
        usage(stderr);
        return 2;
    }
    if (strcmp(format, "text") && strcmp(format, "json") && strcmp(format, "line") &&
        strcmp(format, "quiet")) {
        fprintf(stderr, "commonground weight: --format is text, json or quiet\n");
        return 2;
    }

    char *rp = NULL, *mp = NULL, *pp = NULL, *case_name = NULL;
    if (case_dir) {
        rp = path_join(case_dir, "respondents.csv");
        mp = path_join(case_dir, "margins.csv");
        pp = path_join(case_dir, "params.json");
        if (access(pp, F_OK) != 0) {
            free(pp);
            pp = NULL;
        }
    } else {
        rp = xstrdup(resp);
        mp = xstrdup(marg);
        pp = params ? xstrdup(params) : NULL;
    }
    run_info info = {.epsilon_in = NAN, .tolerance_in = NAN};
    weighting_problem *p = weighting_problem_new();
    if (pp) read_params(pp, p, &prm, &info, &case_name);
    if (ov.maxit) prm.maxit = ov.maxit_v >= 1 && ov.maxit_v <= 1e6 ? (int)ov.maxit_v : 0;
    if (ov.eps) {
        prm.epsilon = info.epsilon_in = ov.eps_v;
        prm.tolerance = 0;
    }
    if (ov.tol) {
        prm.tolerance = ov.tol_v;
        info.epsilon_in = NAN;
        if (!(ov.tol_v > 0))
            weighting_add_input_error(p, WEIGHTING_E_BAD_PARAMS, "tolerance", NULL,
                                      "--tolerance must be a positive number of people");
    }
    if (ov.total) {
        prm.has_population_total = true;
        prm.population_total = ov.total_v;
    }
    if (ov.trim) prm.trim_upper_ratio = ov.trim_v;
    if (ov.minc) prm.min_count = (size_t)ov.minc_v;
    info.min_count = prm.min_count;
    if (!case_name && case_dir) {
        const char *base = strrchr(case_dir, '/');
        while (base && base[1] == '\0' && base > case_dir) { /* trailing slash */
            const char *q = base - 1;
            while (q > case_dir && *q != '/') q--;
            base = q;
        }
        case_name = xstrdup(base ? base + (*base == '/') : case_dir);
        char *slash = strchr(case_name, '/');
        if (slash) *slash = '\0';
    }
    info.case_name = case_name;

    double t0 = now();
    weighting_load_files(p, rp, mp);
    double t1 = now();
    weighting_result *r;
    weighting_status st = weighting_run(p, &prm, &r);
    double t2 = now();

    int rc = 0;
    if (ensure_dir(outdir) != 0) {
        rc = 1;
        goto done;
    }
    char *wpath = path_join(outdir, "weights.csv");
    char *spath = path_join(outdir, "summary.json");
    if (st == WEIGHTING_ERROR) {
        /* A weights.csv left from an earlier run would look like this run's answer. */
        if (unlink(wpath) != 0 && errno != ENOENT)
            fprintf(stderr, "commonground weight: cannot remove stale %s\n", wpath);
    } else if (write_weights(wpath, p, r) != 0) {
        rc = 1;
    }
    json_t *sum = summary_json(r, &info);
    if (json_dump_file(sum, spath, JSON_INDENT(2) | JSON_REAL_PRECISION(16)) != 0) {
        fprintf(stderr, "commonground weight: cannot write %s\n", spath);
        rc = 1;
    }
    if (strcmp(format, "json") == 0) {
        json_dumpf(sum, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(16));
        fputc('\n', stdout);
    } else if (strcmp(format, "text") == 0) {
        print_text(stdout, r, &info, outdir);
    } else if (strcmp(format, "line") == 0) {
        if (st == WEIGHTING_ERROR)
            printf("error: %s: %s\n", weighting_error_code_name(r->errors[0].code),
                   r->errors[0].message);
        else
            printf("%s: %zu respondents, %d sweeps, ESS %.1f, weighted mean y %s; wrote %s\n",
                   weighting_status_name(st), r->n, r->iterations, r->stats.ess,
                   r->has_y ? "in summary.json" : "n/a", outdir);
    }
    json_decref(sum);
    if (timing)
        fprintf(stderr, "timing: reading %.3f s, weighting %.3f s, writing %.3f s\n", t1 - t0,
                t2 - t1, now() - t2);
    if (st == WEIGHTING_ERROR) {
        fprintf(stderr, "commonground weight: input refused: %s\n", r->errors[0].message);
        rc = 1;
    } else if (st == WEIGHTING_NOT_CONVERGED) {
        fprintf(stderr, "commonground weight: raking did not meet the margins; weights written "
                        "but not fit to publish\n");
        rc = 1;
    }
    free(wpath);
    free(spath);
done:
    weighting_result_free(r);
    weighting_problem_free(p);
    free(rp);
    free(mp);
    free(pp);
    free(case_name);
    return rc;
}
