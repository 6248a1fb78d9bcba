/*
 * weighting: representativeness of respondents against population margins, and survey
 * weights by raking (iterative proportional fitting), with trimming, diagnostics and the
 * standard error of a weighted mean as R's survey package reports it for a raked design.
 *
 * The file contract and every rule implemented here (rescaling of margins to one total,
 * the stop rule of survey::rake, the trimming rule of survey::trimWeights, the
 * standard-error recipe, the error codes and the order in which they are reported) is
 * ../shared/data/weighting/README.md; docs/engines/weighting.md explains the choices.
 *
 * Use: build a problem (margins first, then the respondent columns, then respondents;
 * from structs with the weighting_add_* calls or from CSV with the loaders), then
 * weighting_run() with parameters. Input problems (bad targets, unknown categories, ...)
 * are recorded as the problem is built and never stop the building; weighting_run()
 * reports them in the result (status WEIGHTING_ERROR, no weights) instead of raking.
 *
 * The engine rakes cells (respondents sharing every category), not people: respondents
 * of one cell always share one weight, and there are at most a few hundred cells.
 *
 * Ownership: a weighting_problem owns copies of every string given to it; a
 * weighting_result owns its arrays and figures, but its strings (variable and category
 * names, error messages, ids) point into the problem, so the problem must outlive the
 * result. Neither holds global state; different problems may be used from different
 * threads.
 */
#ifndef CG_ENGINE_WEIGHTING_H
#define CG_ENGINE_WEIGHTING_H

#include <stdbool.h>
#include <stddef.h>

#include "core/csv.h"

typedef struct weighting_problem weighting_problem;

/* Error codes, in the README's order of reporting. WEIGHTING_E_BAD_INPUT (unreadable or
 * malformed file, wrong number of fields) and WEIGHTING_E_BAD_PARAMS are ours and come
 * first. */
typedef enum weighting_error_code {
    WEIGHTING_E_NONE = 0,
    WEIGHTING_E_BAD_INPUT,
    WEIGHTING_E_BAD_PARAMS,
    WEIGHTING_E_BAD_VARIABLE_NAME,
    WEIGHTING_E_DUPLICATE_CATEGORY,
    WEIGHTING_E_BAD_TARGET,
    WEIGHTING_E_BAD_ID,
    WEIGHTING_E_MISSING_COLUMN,
    WEIGHTING_E_UNKNOWN_CATEGORY,
    WEIGHTING_E_EMPTY_CATEGORY,
    WEIGHTING_E_ZERO_TARGET,
    WEIGHTING_E_BAD_Y,
} weighting_error_code;

/* The code as written in summary.json ("unknown_category", ...). */
const char *weighting_error_code_name(weighting_error_code code);

/* One refused input. variable and category are NULL when they do not apply (both NULL
 * for bad_id; variable "y" for bad_y). ids lists every respondent holding an unknown
 * category, and is NULL for every other code (the message names the id instead). */
typedef struct weighting_error {
    weighting_error_code code;
    const char *message;
    const char *variable;
    const char *category;
    const char *const *ids;
    size_t nids;
} weighting_error;

/* --- Building a problem ------------------------------------------------------------- */

/* A new, empty problem; free with weighting_problem_free (NULL is ignored). */
weighting_problem *weighting_problem_new(void);
void weighting_problem_free(weighting_problem *p);

/* Adds one margin row. The order in which variables first appear is the raking order.
 * Records bad_variable_name, duplicate_category or bad_target (negative) in p. Must be
 * called before weighting_set_columns. */
void weighting_add_margin(weighting_problem *p, const char *variable, const char *category,
                          double target);
/* As weighting_add_margin with the target as text (as read from a file): a number, or a
 * number followed by '%'. Anything else records bad_target. */
void weighting_add_margin_text(weighting_problem *p, const char *variable, const char *category,
                               const char *target);

/* Declares the respondent columns (the header of respondents.csv), once, after all
 * margins: "id" is required, "y" is the optional outcome, a column named after a margin
 * variable holds its categories, others are ignored. Records missing_column (a margin
 * variable, or "id", absent) and bad_input (a column named twice). */
void weighting_set_columns(weighting_problem *p, size_t ncols, const char *const *names);

/* Adds one respondent: fields[i] is the value of column i of weighting_set_columns. Values
 * are compared with margin categories byte for byte. Records bad_id, unknown_category and
 * bad_y. */
void weighting_add_respondent(weighting_problem *p, const char *const *fields, size_t nfields);

/* Records an input problem found outside the calls above (a file that cannot be read, a
 * malformed record). */
void weighting_add_input_error(weighting_problem *p, weighting_error_code code,
                               const char *variable, const char *category, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Makes room for about n respondents in advance (a hint: more are still accepted).
 * Growing by doubling touches every page twice, which costs more than the raking on
 * 200,000 respondents. */
void weighting_reserve(weighting_problem *p, size_t n);

/* Number of respondents added, and the id of respondent i (in order of addition). */
size_t weighting_problem_n(const weighting_problem *p);
const char *weighting_problem_id(const weighting_problem *p, size_t i);

/* --- Loading from CSV (RFC 4180; see the README for the columns) ----------------------
 * Each reads r to its end into p, recording problems in p (a malformed record becomes
 * bad_input naming the file and line). Load margins before respondents. r stays owned by
 * the caller. */
void weighting_load_margins(weighting_problem *p, csv_reader *r);
void weighting_load_respondents(weighting_problem *p, csv_reader *r);
/* Opens and loads both files; a file that cannot be opened is recorded as bad_input. */
void weighting_load_files(weighting_problem *p, const char *respondents_path,
                          const char *margins_path);

/* --- Parameters ------------------------------------------------------------------------ */

typedef struct weighting_params {
    int maxit; /* most sweeps (default 100) */
    /* Stop threshold as survey::rake reads it: below 1 a fraction of n, else people
     * (default 1e-10). */
    double epsilon;
    double tolerance; /* absolute stop threshold in people; > 0 overrides epsilon */
    bool has_population_total;
    double population_total; /* T when has_population_total; else the first variable's sum */
    double trim_upper_ratio; /* > 0: cap weights at this times T/n after raking (must be > 1) */
    bool trim_strict;        /* repeat trimming rounds until no weight exceeds the cap */
    size_t min_count;        /* categories with fewer respondents are suppressed (default 5) */
} weighting_params;

/* Fills p with the defaults above (no trimming, strict when trimming). */
void weighting_params_init(weighting_params *p);

/* --- Results --------------------------------------------------------------------------- */

typedef enum weighting_status {
    WEIGHTING_OK = 0,            /* converged and the margins are met */
    WEIGHTING_NOT_CONVERGED = 1, /* weights computed, but they do not meet the margins */
    WEIGHTING_ERROR = 2,         /* input refused; no weights */
} weighting_status;

/* "ok", "not_converged", "error". */
const char *weighting_status_name(weighting_status s);

/* Figures of one set of weights (README, summary.json). The y figures are NaN without y. */
typedef struct weighting_stats {
    double sum_weights, mean_weight, min_weight, max_weight, weight_ratio;
    double cv, kish_deff, ess, efficiency;
    double max_abs_margin_error, max_rel_margin_error;
    double weighted_mean_y, se_weighted_mean_y, se_weighted_mean_y_fixed_weights;
} weighting_stats;

/* One category of one variable: the margin and how the respondents compare with it. */
typedef struct weighting_margin {
    const char *variable, *category;
    size_t var_index;
    double target_input; /* as given */
    double target;       /* rescaled to T */
    double achieved;     /* weighted count with the final weights */
    double error;        /* achieved - target */
    size_t n_respondents;
    double population_share;  /* target / T */
    double participant_share; /* n_respondents / n */
    double ratio;             /* participant_share / population_share (NaN when share 0) */
    bool suppressed;          /* n_respondents < min_count: not for public display */
} weighting_margin;

typedef struct weighting_trim {
    double upper_ratio, cap, max_after;
    bool strict;
    int rounds;
    size_t n_above_cap_before, n_at_cap;
    weighting_stats raked; /* the figures before trimming */
} weighting_trim;

typedef struct weighting_result {
    weighting_status status;
    size_t n, nvars;
    const char *const *variables; /* raking order */
    double population_total;      /* T */
    int maxit;
    double epsilon, tolerance;
    int iterations; /* sweeps performed, counting the one that passed */
    bool converged; /* stop test passed and raked margins within 1e-6 T */
    bool stop_test_passed;
    size_t ncells;
    weighting_stats stats; /* final weights (after trimming, if any) */
    bool has_y;
    double unweighted_mean_y, se_unweighted_mean_y;
    weighting_margin *margins; /* every margin row, in file order grouped by variable */
    size_t nmargins;
    bool trimmed;
    weighting_trim trim;
    double *weights;               /* n final weights, respondent order; NULL on error */
    double *raked_weights;         /* n weights before trimming; NULL on error */
    const weighting_error *errors; /* every problem found, the one to report first */
    size_t nerrors;
    bool have_representativeness; /* margins[] shares valid (also on some errors) */
    double *variable_totals;      /* nvars sums of the targets as given, before rescaling */
    const char *const *warnings;  /* plain-language cautions for whoever reads the figures */
    size_t nwarnings;
} weighting_result;

/* Checks the problem, rescales the margins, rakes, trims when asked and computes every
 * figure. Always returns a result (caller frees with weighting_result_free); its status is
 * also the return value. On WEIGHTING_ERROR, errors[0] is the problem the README says to
 * report, weights is NULL, and margins[] still holds the representativeness figures when
 * the respondents could be classified (have_representativeness). p is not modified. */
weighting_status weighting_run(const weighting_problem *p, const weighting_params *params,
                               weighting_result **out);
void weighting_result_free(weighting_result *r);

/* Warnings (weighting_result.warnings) are given when: raking did not meet the margins;
 * the effective sample is small (ESS below WEIGHTING_WARN_ESS or efficiency below
 * WEIGHTING_WARN_EFFICIENCY); the weights are extreme (ratio above
 * WEIGHTING_WARN_RATIO); trimming left margins unmet; some categories are suppressed;
 * totals were rescaled. */
#define WEIGHTING_WARN_ESS 100.0
#define WEIGHTING_WARN_EFFICIENCY 0.5
#define WEIGHTING_WARN_RATIO 10.0

/* A plain-language verdict for one margin, e.g. "4.0% of participants, 11.0% of
 * residents: under-represented by 2.8x", written into out (always NUL-terminated). A
 * suppressed category says so without its count. Returns out. */
char *weighting_verdict(const weighting_margin *m, char *out, size_t outlen);

#endif
