/*
 * cmd_sortition: `commonground sortition` — select a citizens' assembly panel by fair
 * lottery from a pool and quota files in the Sortition Foundation's CSV layout.
 *
 * This file only reads options, calls the engine (src/engine/sortition) and formats
 * the result as text or JSON (docs/engines/sortition.md documents every key). Ctrl-C
 * raises the engine's stop flag so a long run ends cleanly; progress goes to stderr.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "core/buf.h"
#include "core/parse.h"
#include "core/rand.h"
#include "core/xalloc.h"
#include "engine/sortition/sortition.h"

static volatile sig_atomic_t sortition_stop_flag;

static void on_sigint(int sig) {
    (void)sig;
    sortition_stop_flag = 1;
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: commonground sortition --people FILE --categories FILE --panel K\n"
            "         [--algorithm leximin|legacy] [--address-columns a,b] [--seed N]\n"
            "         [--panels M] [--format text|json] [--solver coin|glpk] [--no-relaxation]\n"
            "         [--quiet]\n"
            "\n"
            "Selects a panel of K people from the pool by fair lottery. LEXIMIN makes the\n"
            "smallest selection probability as large as possible, then the next, and so on;\n"
            "LEGACY is the greedy draw used before (probabilities estimated from 10000 draws).\n"
            "\n"
            "  --people FILE         one row per volunteer: one column per category, optional\n"
            "                        id column (else the row index from 0), address columns\n"
            "  --categories FILE     category,feature,min,max[,min_flex,max_flex]\n"
            "  --panel K             panel size\n"
            "  --address-columns a,b at most one person per household (same values in all)\n"
            "  --seed N              seed of the draw (default: random, and printed)\n"
            "  --panels M            draw from M equally likely panels (a public lottery:\n"
            "                        the drawn number is 1 + seed-derived index); without it\n"
            "                        the panel is sampled from the exact distribution\n"
            "  --format text|json    output (default text)\n"
            "  --solver coin|glpk    LP/MIP library: CLP+CBC (default) or GLPK\n"
            "  --no-relaxation       LEXIMIN stage by stage only, without first trying the LP\n"
            "                        relaxation's LEXIMIN (same answer; to cross-check)\n"
            "  --quiet               no progress on stderr\n");
}

/* What the LP relaxation's LEXIMIN came to (sortition_result.relaxation). */
static const char *relaxation_word(int r) { return r > 0 ? "met" : r == 0 ? "out of reach" : "not tried"; }

static void progress_cb(void *ctx, const char *line) {
    (void)ctx;
    fprintf(stderr, "sortition: %s\n", line);
}

/* Splits "a,b" into trimmed names (caller frees the array and the copy). */
static size_t split_columns(char *s, char ***out) {
    size_t n = 1;
    for (char *p = s; *p; p++) n += *p == ',';
    char **v = xcalloc(n, sizeof(char *));
    size_t k = 0;
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
        char *t = str_trim(tok);
        if (*t) v[k++] = t;
    }
    *out = v;
    return k;
}

static json_t *id_array(const sortition_instance *inst, const int *members, int k) {
    json_t *a = json_array();
    for (int i = 0; i < k; i++) json_array_append_new(a, json_string(inst->id[members[i]]));
    return a;
}

/* SHA-256 of the lottery list, one line per panel of ids separated by commas, so the
 * list can be published before the number is drawn. */
static void lottery_hash(const sortition_instance *inst, const sortition_lottery *l, char hex[65]) {
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    for (size_t q = 0; q < l->m; q++) {
        for (int a = 0; a < l->k; a++) {
            const char *id = inst->id[l->panel[q * (size_t)l->k + (size_t)a]];
            if (a) crypto_hash_sha256_update(&st, (const unsigned char *)",", 1);
            crypto_hash_sha256_update(&st, (const unsigned char *)id, strlen(id));
        }
        crypto_hash_sha256_update(&st, (const unsigned char *)"\n", 1);
    }
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&st, h);
    sodium_bin2hex(hex, 65, h, sizeof h);
}

int cmd_sortition(int argc, char **argv) {
    const char *people = NULL, *categories = NULL, *format = "text", *algorithm = "leximin", *solver = "coin";
    char *address = NULL;
    int k = 0, have_seed = 0, quiet = 0, relaxation = 1;
    uint64_t seed = 0;
    long long panels = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_value = i + 1 < argc;
        int64_t v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (!strcmp(a, "--no-relaxation")) {
            relaxation = 0;
        } else if (!has_value) {
            fprintf(stderr, "sortition: %s needs a value (or is unknown)\n\n", a);
            usage(stderr);
            return 2;
        } else if (!strcmp(a, "--people")) {
            people = argv[++i];
        } else if (!strcmp(a, "--categories")) {
            categories = argv[++i];
        } else if (!strcmp(a, "--panel")) {
            if (parse_i64(argv[++i], &v) != 0 || v < 1 || v > 1000000) {
                fprintf(stderr, "sortition: --panel: '%s' is not a panel size\n", argv[i]);
                return 2;
            }
            k = (int)v;
        } else if (!strcmp(a, "--algorithm")) {
            algorithm = argv[++i];
            if (strcmp(algorithm, "leximin") && strcmp(algorithm, "legacy")) {
                fprintf(stderr, "sortition: --algorithm must be leximin or legacy\n");
                return 2;
            }
        } else if (!strcmp(a, "--address-columns")) {
            address = argv[++i];
        } else if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            const char *s = argv[++i];
            unsigned long long u = strtoull(s, &end, 10);
            if (errno || end == s || *end || *s == '-') {
                fprintf(stderr, "sortition: --seed: '%s' is not a number from 0 to 2^64-1\n", s);
                return 2;
            }
            seed = u;
            have_seed = 1;
        } else if (!strcmp(a, "--panels")) {
            if (parse_i64(argv[++i], &v) != 0 || v < 1 || v > 10000000) {
                fprintf(stderr, "sortition: --panels: '%s' is not a number of panels\n", argv[i]);
                return 2;
            }
            panels = v;
        } else if (!strcmp(a, "--format")) {
            format = argv[++i];
            if (strcmp(format, "text") && strcmp(format, "json")) {
                fprintf(stderr, "sortition: --format must be text or json\n");
                return 2;
            }
        } else if (!strcmp(a, "--solver")) {
            solver = argv[++i];
            if (strcmp(solver, "coin") && strcmp(solver, "glpk")) {
                fprintf(stderr, "sortition: --solver must be coin or glpk\n");
                return 2;
            }
        } else {
            fprintf(stderr, "sortition: unknown option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!people || !categories || !k) {
        fprintf(stderr, "sortition: --people, --categories and --panel are required\n\n");
        usage(stderr);
        return 2;
    }
    char *addr_copy = address ? xstrdup(address) : NULL;
    char **cols = NULL;
    size_t ncols = addr_copy ? split_columns(addr_copy, &cols) : 0;
    char err[1024];
    sortition_instance *inst = NULL;
    int rc = sortition_load_files(categories, people, (const char *const *)cols, ncols, k, &inst, err, sizeof err);
    free(cols);
    free(addr_copy);
    if (rc) {
        fprintf(stderr, "sortition: %s\n", err);
        return 1;
    }
    if (!have_seed) seed = rand_u64();

    sortition_opts o;
    sortition_opts_init(&o);
    o.algorithm = strcmp(algorithm, "legacy") ? SORTITION_LEXIMIN : SORTITION_LEGACY;
    o.solver = strcmp(solver, "glpk") ? SORTITION_SOLVER_COIN : SORTITION_SOLVER_GLPK;
    o.seed = seed;
    o.use_relaxation = relaxation;
    if (!quiet) o.progress = progress_cb;
    sortition_stop_flag = 0;
    o.stop = &sortition_stop_flag;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);

    sortition_result *r = NULL;
    rc = sortition_run(inst, &o, &r, err, sizeof err);
    sigaction(SIGINT, &old, NULL);
    if (rc == SORTITION_EINFEASIBLE) {
        char msg[8192];
        fprintf(stderr, "sortition: %s\n", err);
        if (sortition_diagnose(inst, msg, sizeof msg) != 0) fprintf(stderr, "%s", msg);
        sortition_instance_free(inst);
        return 1;
    }
    if (rc) {
        fprintf(stderr, "sortition: %s\n", err);
        sortition_instance_free(inst);
        return rc == SORTITION_EINTERRUPTED ? 130 : 1;
    }

    /* The draw. */
    const int *selected = NULL;
    size_t panel_index = 0;
    double u = 0;
    sortition_lottery lot;
    memset(&lot, 0, sizeof lot);
    char hash[65] = "";
    size_t drawn = 0;
    if (o.algorithm == SORTITION_LEXIMIN) {
        if (panels > 0) {
            sortition_round(r, (size_t)panels, &lot);
            uint64_t st = seed;
            drawn = (size_t)(sortition_rng_uniform(&st) * (double)lot.m);
            if (drawn >= lot.m) drawn = lot.m - 1;
            selected = lot.panel + drawn * (size_t)lot.k;
            lottery_hash(inst, &lot, hash);
        } else {
            sortition_draw(r, seed, &panel_index, &u);
            selected = r->panel + panel_index * (size_t)r->k;
        }
    }

    const char *alg = o.algorithm == SORTITION_LEXIMIN ? "leximin" : "legacy";
    if (!strcmp(format, "json")) {
        json_t *root = json_object();
        json_object_set_new(root, "algorithm", json_string(alg));
        json_object_set_new(root, "n", json_integer((json_int_t)inst->n));
        json_object_set_new(root, "k", json_integer(inst->k));
        json_t *probs = json_array();
        for (size_t i = 0; i < inst->n; i++) {
            json_t *p = json_object();
            json_object_set_new(p, "id", json_string(inst->id[i]));
            json_object_set_new(p, "probability", json_real(r->probability[i]));
            json_array_append_new(probs, p);
        }
        json_object_set_new(root, "probabilities", probs);
        json_t *st = json_object();
        json_object_set_new(st, "min", json_real(r->stats.min));
        json_object_set_new(st, "median", json_real(r->stats.median));
        json_object_set_new(st, "max", json_real(r->stats.max));
        json_object_set_new(st, "gini", json_real(r->stats.gini));
        json_object_set_new(st, "geometric_mean", json_real(r->stats.geometric_mean));
        json_object_set_new(root, "stats", st);
        json_t *dist = json_array();
        for (size_t j = 0; j < r->npanels; j++) {
            json_t *p = json_object();
            json_object_set_new(p, "probability", json_real(r->panel_prob[j]));
            json_object_set_new(p, "members", id_array(inst, r->panel + j * (size_t)r->k, r->k));
            json_array_append_new(dist, p);
        }
        json_object_set_new(root, "distribution", dist);
        json_object_set_new(root, "selected", selected ? id_array(inst, selected, inst->k) : json_null());
        char seedbuf[32];
        snprintf(seedbuf, sizeof seedbuf, "%" PRIu64, seed);
        /* As a string: a 64-bit seed does not survive a JSON reader's doubles. */
        json_object_set_new(root, "seed", json_string(seedbuf));
        json_t *draw = json_object();
        if (o.algorithm == SORTITION_LEXIMIN && panels > 0) {
            json_object_set_new(draw, "method", json_string("lottery"));
            json_object_set_new(draw, "panels", json_integer((json_int_t)lot.m));
            json_object_set_new(draw, "drawn_number", json_integer((json_int_t)drawn + 1));
            json_object_set_new(draw, "sha256", json_string(hash));
            json_object_set_new(draw, "max_deviation", json_real(lot.max_deviation));
            json_t *lp = json_array();
            for (size_t q = 0; q < lot.m; q++) json_array_append_new(lp, id_array(inst, lot.panel + q * (size_t)lot.k, lot.k));
            json_object_set_new(draw, "lottery", lp);
        } else if (o.algorithm == SORTITION_LEXIMIN) {
            json_object_set_new(draw, "method", json_string("distribution"));
            json_object_set_new(draw, "uniform", json_real(u));
            json_object_set_new(draw, "panel_index", json_integer((json_int_t)panel_index));
        } else {
            json_object_set_new(draw, "method", json_string("none"));
        }
        json_object_set_new(root, "draw", draw);
        json_t *unc = json_array();
        for (size_t q = 0; q < r->nuncoverable; q++) json_array_append_new(unc, json_string(inst->id[r->uncoverable[q]]));
        json_object_set_new(root, "uncoverable", unc);
        json_t *sv = json_object();
        json_object_set_new(sv, "name", json_string(o.algorithm == SORTITION_LEGACY ? "none" : o.solver == SORTITION_SOLVER_GLPK ? "glpk" : "cbc/clp"));
        json_object_set_new(sv, "oracle_calls", json_integer(r->oracle_calls));
        json_object_set_new(sv, "heuristic_columns", json_integer(r->heuristic_columns));
        json_object_set_new(sv, "lp_solves", json_integer(r->lp_solves));
        json_object_set_new(sv, "stages", json_integer(r->stages));
        if (o.algorithm == SORTITION_LEXIMIN)
            json_object_set_new(sv, "relaxation", json_string(relaxation_word(r->relaxation)));
        json_object_set_new(sv, "types", json_integer((json_int_t)r->ntypes));
        json_object_set_new(sv, "seconds", json_real(r->seconds));
        json_object_set_new(root, "solver", sv);
        json_dumpf(root, stdout, JSON_INDENT(1) | JSON_REAL_PRECISION(12));
        fputc('\n', stdout);
        json_decref(root);
    } else {
        printf("algorithm:              %s\n", alg);
        printf("pool size n:            %zu\n", inst->n);
        printf("panel size k:           %d\n", inst->k);
        printf("mean probability k/n:   %.4f\n", (double)inst->k / (double)inst->n);
        printf("minimum probability:    %.6f\n", r->stats.min);
        printf("median probability:     %.6f\n", r->stats.median);
        printf("maximum probability:    %.6f\n", r->stats.max);
        printf("gini coefficient:       %.4f\n", r->stats.gini);
        printf("geometric mean:         %.6f\n", r->stats.geometric_mean);
        if (o.algorithm == SORTITION_LEXIMIN) {
            printf("panels in distribution: %zu\n", r->npanels);
            printf("relaxation:             %s\n", relaxation_word(r->relaxation));
            printf("solver:                 %s, %ld MIP calls, %ld heuristic columns, %ld LP solves, %ld stages, %zu types, %.2f s\n",
                   o.solver == SORTITION_SOLVER_GLPK ? "glpk" : "cbc/clp", r->oracle_calls, r->heuristic_columns,
                   r->lp_solves, r->stages, r->ntypes, r->seconds);
        } else {
            printf("estimated from:         %d draws, %.2f s\n", o.legacy_runs, r->seconds);
        }
        for (size_t q = 0; q < r->nuncoverable; q++) printf("in no feasible panel:   %s\n", inst->id[r->uncoverable[q]]);
        printf("seed:                   %" PRIu64 "\n", seed);
        if (selected) {
            if (panels > 0)
                printf("draw:                   number %zu of %zu equally likely panels (list sha256 %s; largest deviation from the probabilities %.4f)\n",
                       drawn + 1, lot.m, hash, lot.max_deviation);
            else
                printf("draw:                   uniform %.12f selects panel %zu of %zu\n", u, panel_index + 1, r->npanels);
            printf("selected:");
            for (int a = 0; a < inst->k; a++) printf(" %s", inst->id[selected[a]]);
            printf("\n");
        }
        printf("\nid,probability\n");
        for (size_t i = 0; i < inst->n; i++) printf("%s,%.9f\n", inst->id[i], r->probability[i]);
    }
    sortition_lottery_free(&lot);
    sortition_result_free(r);
    sortition_instance_free(inst);
    return 0;
}
