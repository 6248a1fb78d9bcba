/*
 * sortition: selection of a citizens' assembly panel by fair lottery.
 *
 * Given a pool of n volunteers, each with one feature per category (gender: female,
 * age: 30-44, ...), quotas (min, max) per feature, a panel size k and optionally a
 * household per person (at most one person per household on a panel), the engine
 * computes a probability distribution over feasible panels:
 *
 *   - LEXIMIN (Flanigan, Goelz, Gupta, Hennig, Procaccia, Nature 596, 2021): the
 *     smallest selection probability is as large as possible, then the second
 *     smallest, and so on. Column generation with a MIP oracle (docs/engines/
 *     sortition.md has every formula and design choice).
 *   - LEGACY: the greedy draw used by practitioners before, estimated by repeated draws.
 *
 * and then draws one panel, either from the exact distribution with a seed or from m
 * equally likely panels (a public lottery that anyone can audit).
 *
 * The engine is pure computation: no I/O besides what the loaders are given, no global
 * state. The CLI (src/cli/cmd_sortition.c) formats results as text or JSON.
 *
 * Ownership: sortition_instance and sortition_result are heap objects owned by the
 * caller and released with their _free function; every pointer inside them belongs to
 * them. Strings passed in are copied.
 *
 * Errors: functions returning int return SORTITION_OK (0) or one of the codes below and
 * write a one-line message naming the file, line and column into err.
 */
#ifndef CG_ENGINE_SORTITION_H
#define CG_ENGINE_SORTITION_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

enum {
    SORTITION_OK = 0,
    SORTITION_EINPUT = 1,      /* malformed or inconsistent input files */
    SORTITION_EINFEASIBLE = 2, /* no panel meets the quotas; see sortition_diagnose */
    SORTITION_ESOLVER = 3,     /* an LP/MIP solver failed */
    SORTITION_EINTERRUPTED = 4 /* the stop flag was raised */
};

typedef struct sortition_instance {
    int k; /* panel size */

    size_t ncat;
    char **cat_name;     /* [ncat] */
    size_t *cat_first;   /* [ncat] first feature index of the category */
    size_t *cat_nfeat;   /* [ncat] number of features of the category */

    size_t nfeat;
    char **feat_name;    /* [nfeat] */
    size_t *feat_cat;    /* [nfeat] category of the feature */
    int *feat_min;       /* [nfeat] quota bounds, min <= max */
    int *feat_max;
    int *feat_min_flex;  /* [nfeat] how far a relaxation may go (default 0 and k) */
    int *feat_max_flex;

    size_t n;
    char **id;           /* [n] person ids */
    int *person_feat;    /* [n * ncat] feature index of person i in category c */
    int *household;      /* [n] household number, or -1 when alone at the address */
    size_t nhouseholds;  /* households with two or more people */
} sortition_instance;

typedef struct sortition_load_opts {
    const char *categories_name; /* names used in messages, e.g. the paths */
    const char *people_name;
    const char *const *address_columns; /* NULL or naddress column names */
    size_t naddress;
    int k;
} sortition_load_opts;

/* Parses the Sortition Foundation's CSV layout from memory: categories
 * (category,feature,min,max[,min_flex,max_flex]; the header feature,value,... of the
 * Foundation's own tool is also accepted) and people (one column per category, an
 * optional id column, the address columns named in opts). Values are trimmed and
 * matched case-insensitively. Checks every rule of the input contract (unknown value,
 * duplicate id, missing category column, min above max, k outside what the quotas
 * allow) and returns SORTITION_EINPUT with a message naming line and column. On
 * success *out is a new instance the caller frees with sortition_instance_free. */
int sortition_load(const char *categories_csv, size_t categories_len, const char *people_csv,
                   size_t people_len, const sortition_load_opts *opts, sortition_instance **out,
                   char *err, size_t errlen);
/* As sortition_load, reading the two files (names in messages are the paths). */
int sortition_load_files(const char *categories_path, const char *people_path,
                         const char *const *address_columns, size_t naddress, int k,
                         sortition_instance **out, char *err, size_t errlen);
void sortition_instance_free(sortition_instance *inst);

typedef enum { SORTITION_LEXIMIN = 0, SORTITION_LEGACY = 1 } sortition_algorithm;
typedef enum { SORTITION_SOLVER_GLPK = 0, SORTITION_SOLVER_COIN = 1 } sortition_solver;

typedef struct sortition_opts {
    sortition_algorithm algorithm;
    sortition_solver solver;   /* LP and MIP library (CLP + CBC, or GLPK) */
    uint64_t seed;             /* LEGACY's draws */
    int legacy_runs;           /* LEGACY draws to estimate probabilities (0 = 10000) */
    int use_heuristic;         /* price columns by local search before the MIP (default 1) */
    int use_relaxation;        /* LEXIMIN: try the LP relaxation's LEXIMIN first (default 1) */
    /* Called with one line of progress text for long runs (may be NULL). */
    void (*progress)(void *ctx, const char *line);
    void *progress_ctx;
    /* When non-NULL and set non-zero (e.g. by a SIGINT handler), the computation stops
     * at the next safe point and returns SORTITION_EINTERRUPTED. */
    volatile sig_atomic_t *stop;
} sortition_opts;

/* Sets the defaults: LEXIMIN, COIN solvers, seed 0, 10000 LEGACY runs, heuristic and
 * relaxation on. */
void sortition_opts_init(sortition_opts *o);

typedef struct sortition_stats {
    double min, median, max, gini, geometric_mean;
} sortition_stats;

typedef struct sortition_result {
    sortition_algorithm algorithm;
    size_t n;
    int k;
    double *probability;   /* [n] selection probability of each person */
    sortition_stats stats;

    /* The distribution: npanels panels of k person indices with their probabilities
     * (LEXIMIN only; LEGACY has none). */
    size_t npanels;
    int *panel;            /* [npanels * k], members of each panel in ascending order */
    double *panel_prob;    /* [npanels] */

    int *uncoverable;      /* people in no feasible panel (probability 0) */
    size_t nuncoverable;

    /* The distribution before people of one type (same features, no shared household)
     * were told apart: ncolumns panels as counts per type, and each person's type.
     * sortition_round works from these. */
    size_t ncolumns;
    double *column_prob;   /* [ncolumns] */
    int *column_count;     /* [ncolumns * ntypes] */
    int *type_of;          /* [n] */

    /* Solver figures. */
    long oracle_calls;     /* MIP solves */
    long heuristic_columns; /* columns found by local search instead of the MIP */
    long lp_solves;
    long stages;           /* LEXIMIN stages (people fixed stage by stage) */
    int relaxation;        /* LEXIMIN: 1 the LP relaxation's LEXIMIN was met by panels (one
                            * stage); 0 it was out of reach (stage by stage); -1 not tried */
    size_t ntypes;         /* classes of interchangeable people */
    double seconds;
} sortition_result;

/* Computes the selection probabilities (and, for LEXIMIN, the distribution) of inst
 * under o. On success *out is a new result (sortition_result_free). Returns
 * SORTITION_EINFEASIBLE when no panel meets the quotas, SORTITION_EINTERRUPTED when
 * o->stop was raised, SORTITION_ESOLVER on a solver failure; err says which. */
int sortition_run(const sortition_instance *inst, const sortition_opts *o, sortition_result **out,
                  char *err, size_t errlen);
void sortition_result_free(sortition_result *r);

/* Statistics of v[0..n): min, median, max, Gini coefficient (mean absolute difference
 * over twice the mean) and geometric mean (0 when some value is 0). */
void sortition_compute_stats(const double *v, size_t n, sortition_stats *out);

/* A deterministic 64-bit generator (splitmix64) so draws are reproducible from a
 * seed on every platform; state is the caller's. */
uint64_t sortition_rng_next(uint64_t *state);
/* Uniform double in [0,1) from the generator. */
double sortition_rng_uniform(uint64_t *state);

/* Draws one panel of r's distribution with a seeded uniform number u: the panel whose
 * cumulative-probability interval contains u. Writes the panel's index, and u. */
int sortition_draw(const sortition_result *r, uint64_t seed, size_t *panel_index, double *u_out);

/* m equally likely panels approximating r's distribution (a public lottery). Each
 * panel of the type-level distribution is taken floor or ceil of m * probability times
 * (largest remainders); within a type, people take turns in a fixed cyclic order, so
 * people of one type appear within one panel of each other. max_deviation reports the
 * largest |share among the m panels - probability| over people. */
typedef struct sortition_lottery {
    size_t m;
    int k;
    int *panel;          /* [m * k] */
    size_t *source;      /* [m] the distribution panel each lottery panel came from */
    double max_deviation; /* max over people of |share among m panels - probability| */
} sortition_lottery;
int sortition_round(const sortition_result *r, size_t m, sortition_lottery *out);
void sortition_lottery_free(sortition_lottery *l);

/* Diagnosis of infeasible quotas. First cheap checks, each with its own message; then,
 * if those pass and the MIP is still infeasible, the smallest change to the quotas
 * (lowering a small minimum costs more than lowering a large one) that makes a panel
 * possible, one line per change ("gender: female minimum 12 -> 10"). Writes lines
 * separated by '\n' into msg. Returns 0 when quotas are feasible, 1 when infeasible
 * (msg explains), SORTITION_ESOLVER on failure. */
int sortition_diagnose(const sortition_instance *inst, char *msg, size_t msglen);

/* True (1) when panel members[0..k) meets every quota and the household rule. */
int sortition_panel_valid(const sortition_instance *inst, const int *members);

#endif
