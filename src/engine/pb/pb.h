/*
 * pb: the participatory budgeting engine — greedy by support and the Method of Equal
 * Shares (with Add1 completion as cities ran it) on pabulib elections.
 *
 * The engine is pure computation: an election is either parsed from pabulib `.pb` text
 * (pb_election_parse / pb_election_load) or built from structs by the caller
 * (pb_election_init, pb_election_add_project, pb_election_add_ballot,
 * pb_election_finish), then pb_run() computes one outcome into a pb_result. Nothing
 * here prints, touches the network or a database, or keeps global state; the CLI
 * (src/cli/cmd_pb.c) formats results as text or JSON. docs/engines/pb.md gives every
 * formula and its source.
 *
 * Ownership: a pb_election owns every string and array reachable from it until
 * pb_election_free(); a pb_result owns its arrays until pb_result_free(). Project
 * indices in results refer to election->projects.
 */
#ifndef CG_ENGINE_PB_H
#define CG_ENGINE_PB_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"

typedef enum {
    PB_VOTE_APPROVAL = 0,
    PB_VOTE_CHOOSE1,
    PB_VOTE_CUMULATIVE,
    PB_VOTE_SCORING,
    PB_VOTE_ORDINAL
} pb_vote_type;

/* The pabulib name of a vote type ("approval", "choose-1", ...). */
const char *pb_vote_type_name(pb_vote_type t);

/* pabulib marks a withdrawn project with this cost; such a project is never funded. */
#define PB_WITHDRAWN_COST INT64_C(999999999)

typedef struct pb_project {
    const char *id;     /* as written in the file; compared as byte strings */
    const char *name;   /* "" when the file has no name column */
    int64_t cost;       /* whole currency units */
    int withdrawn;      /* cost was PB_WITHDRAWN_COST */
    int64_t supporters; /* ballots that name the project with positive weight */
    int64_t score;      /* supporters, or the sum of points for points ballots */
} pb_project;

typedef struct pb_election {
    arena mem; /* owns the strings */
    pb_vote_type vote_type;
    int uses_points;         /* cumulative or scoring: ballots carry points */
    int64_t budget;          /* whole currency units */
    int64_t threshold;       /* META min_project_score_threshold, or -1 */
    const char *description; /* META description, or "" */
    const char *currency;    /* META currency, or "" */
    size_t nprojects;
    pb_project *projects;
    size_t nvoters;
    /* Ballots in compressed rows: voter v names projects ballot_project[k] with weight
     * ballot_points[k] for k in [ballot_start[v], ballot_start[v+1]). Weights are 1
     * unless uses_points. */
    uint32_t *ballot_start;
    uint32_t *ballot_project;
    uint32_t *ballot_points;
    /* The same relation by project (filled by pb_election_finish): project p's
     * supporters are by_voter[k] with weight by_points[k], k in [by_start[p],
     * by_start[p+1]). */
    uint32_t *by_start;
    uint32_t *by_voter;
    uint32_t *by_points;
    /* private to the builder */
    size_t cap_projects, cap_entries, cap_voters;
    void *index;
    int finished;
} pb_election;

/* Parses pabulib text data[0..len); name labels messages (usually the path). Returns 0
 * and fills *out (caller frees with pb_election_free), or -1 with a message such as
 * "file.pb: line 57: vote names project 'X12' that PROJECTS does not list" in err and
 * *out left empty (no free needed). */
int pb_election_parse(const char *data, size_t len, const char *name, pb_election *out, char *err,
                      size_t errlen);
/* Reads and parses a file; as pb_election_parse. */
int pb_election_load(const char *path, pb_election *out, char *err, size_t errlen);

/* Building an election from structs (the web layer's entry point). init prepares an
 * empty election; add_project returns the new project's index (ids must be unique:
 * -1 when id is taken or cost is negative); add_ballot appends one voter naming n
 * projects by index with weights points[i] (points may be NULL: all 1; entries with
 * weight 0 are dropped; returns -1 on an index out of range or a project named twice);
 * finish builds the per-project view and counts supporters. Once finished, no more
 * projects or ballots may be added. */
void pb_election_init(pb_election *e, pb_vote_type type, int64_t budget);
int64_t pb_election_add_project(pb_election *e, const char *id, const char *name, int64_t cost);
int pb_election_add_ballot(pb_election *e, size_t n, const uint32_t *projects,
                           const uint32_t *points);
void pb_election_finish(pb_election *e);
/* Index of the project with this id, or -1. */
int64_t pb_election_find(const pb_election *e, const char *id);
void pb_election_free(pb_election *e);

typedef enum { PB_RULE_GREEDY = 0, PB_RULE_EQUAL_SHARES } pb_rule;
/* pabulib's greedy variants: skip what does not fit and go on; stop at the first
 * project that does not fit; skip projects scoring below a threshold. */
typedef enum { PB_GREEDY_SKIP = 0, PB_GREEDY_NO_SKIP, PB_GREEDY_THRESHOLD } pb_greedy_variant;
typedef enum {
    PB_COMPLETION_NONE = 0,
    PB_COMPLETION_ADD1,
    PB_COMPLETION_ADD1_GREEDY
} pb_completion;
typedef enum { PB_ARITH_EXACT = 0, PB_ARITH_FAST } pb_arith;
typedef enum { PB_TIE_COST = 0, PB_TIE_VOTES, PB_TIE_ID, PB_TIE_LOTTERY } pb_tie_key;

/* How exact ties are broken: keys in order (cost = lower cost first, votes = more
 * supporters / points first, id = smaller id first; id is always the last resort), or
 * a lottery: a uniformly random order of the projects drawn from seed. */
typedef struct pb_tie_break {
    int lottery;
    uint64_t seed;
    int nkeys;
    pb_tie_key keys[3];
} pb_tie_break;

/* Parses "cost,votes,id" (any order, any non-empty subset) or "lottery:SEED". Returns
 * 0, or -1 with a message in err. */
int pb_tie_break_parse(const char *s, pb_tie_break *out, char *err, size_t errlen);
/* Writes the canonical spelling ("cost,votes,id", "lottery:7") into out. */
void pb_tie_break_format(const pb_tie_break *t, char *out, size_t outlen);
const char *pb_tie_key_name(pb_tie_key k);

typedef struct pb_options {
    pb_rule rule;
    pb_greedy_variant greedy_variant;
    int64_t threshold; /* for PB_GREEDY_THRESHOLD; -1 = the file's */
    pb_completion completion;
    int64_t increment; /* Add1 step per voter, whole currency units, >= 1 */
    pb_tie_break tie;
    pb_arith arith;
    int compare_greedy; /* Wieliczka's comparison step (equal-shares only) */
    int explain;        /* compute cost_to_win / supporters_to_win for losers */
} pb_options;

/* Defaults: greedy-skip, no completion, increment 1, tie-break cost,votes,id, exact
 * arithmetic, no comparison, explanations on. */
void pb_options_default(pb_options *o);

typedef struct pb_project_result {
    int funded;
    size_t position;          /* 1-based selection position when funded, else 0 */
    double effective_support; /* percent; see docs/engines/pb.md */
    int has_cost_to_win;      /* a loser that would win at a lower cost */
    int64_t cost_to_win;      /* largest whole cost at which it would have won */
    int has_supporters_to_win;
    int64_t supporters_to_win; /* fewest extra supporters with which it would have won */
} pb_project_result;

/* An exact tie that actually happened and how it was resolved. */
typedef struct pb_tie {
    uint32_t chosen, other;
    pb_tie_key decided_by;
} pb_tie;

typedef struct pb_result {
    pb_rule rule;
    pb_completion completion;
    pb_arith arith;
    size_t nwinners;
    uint32_t *winners; /* project indices in selection order */
    int64_t spent;
    /* Final per-voter endowment (equal shares only): the fraction num/den in lowest
     * terms (decimal strings, exact in both modes) and its double value. */
    int has_per_voter_budget;
    char per_voter_num[64], per_voter_den[32];
    double per_voter_budget;
    pb_project_result *projects; /* one per election project */
    size_t nties;
    pb_tie *ties;
    /* Add1: the endowment it started from, MES runs actually computed, and the number
     * of increments it went through. */
    int64_t add1_start;
    size_t add1_runs;
    int64_t add1_steps;
    int add1_skipped;   /* all projects fit in the budget: plain MES at B/n was used */
    size_t greedy_fill; /* winners added by the add1-greedy fill */
    /* Exact mode: runs whose double pass rationals contradicted (then redone in
     * rationals from the start). */
    size_t exact_fallbacks;
    size_t exact_replays; /* runs that had close calls re-decided in rationals */
    /* --compare-greedy */
    int has_comparison;
    int64_t prefer_mes, prefer_greedy, prefer_equal;
    double covered_mes, covered_greedy; /* share of voters with >= 1 funded project */
    int used_greedy;                    /* greedy was preferred and replaced the outcome */
    size_t greedy_nwinners;
    uint32_t *greedy_winners;
} pb_result;

/* Computes one outcome of e (which must be finished) under o. Returns 0 and fills *r
 * (caller frees with pb_result_free), or -1 with a message in err (bad options). */
int pb_run(const pb_election *e, const pb_options *o, pb_result *r, char *err, size_t errlen);
void pb_result_free(pb_result *r);

#endif
