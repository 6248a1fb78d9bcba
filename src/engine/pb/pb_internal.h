/*
 * pb_internal: what the files of the pb engine share and nobody else sees — the id
 * index, tie ranks, and the Method of Equal Shares core in its two arithmetics.
 */
#ifndef CG_ENGINE_PB_INTERNAL_H
#define CG_ENGINE_PB_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/pb/pb.h"

/* FNV-1a over n bytes (the project id index). */
uint64_t pb_hash_bytes(const char *s, size_t n);
/* pb_election_find for an id that is not NUL-terminated. */
int64_t pb_election_find_n(const pb_election *e, const char *id, size_t n);

/* Fills rank[p] (0 = preferred) for every project: the total order in which exact ties
 * are broken under t (its keys then id; or the seeded lottery). */
void pb_tie_ranks(const pb_election *e, const pb_tie_break *t, uint32_t *rank);
/* Which key of t separates projects a and b (the first that differs). */
pb_tie_key pb_tie_decider(const pb_election *e, const pb_tie_break *t, uint32_t a, uint32_t b);

/* One Method of Equal Shares run (cost utilities; points-proportional for points
 * ballots) at a per-voter endowment of endow_num / endow_den. */
typedef struct pb_mes_params {
    const uint8_t *candidate; /* per project: may be funded (not withdrawn, cost > 0) */
    const uint32_t *rank;     /* tie order from pb_tie_ranks */
    const pb_tie_break *tie;
    int64_t endow_num, endow_den;
    /* Add1: also find how many increments of `increment` the endowment can grow before
     * the outcome can change (next_steps; UINT64_MAX = never). */
    int slopes;
    int64_t increment;
    /* Add1: the workspace's last run was a slopes run at a lower whole endowment;
     * keep its rounds that stay valid instead of starting over. */
    int resume;
    /* Explanations (effective support for all; cost_to_win / supporters_to_win for
     * projects with explain_mask[p] set) into out->proj. */
    int explain;
    const uint8_t *explain_mask;
    /* When not NULL (capacity (nprojects + 2) * (nprojects + 1)): the run writes, per
     * round, the winner, the count of close calls and the projects involved (prices
     * within a relative 1e-9 of the winner's, or money within 1e-9 of the cost), and
     * UINT32_MAX then the close calls of the final round. pb_mes_replay_exact checks
     * exactly that trace. */
    uint32_t *trace;
} pb_mes_params;

typedef struct pb_mes_out {
    size_t nwin;
    uint32_t *win; /* caller's array of nprojects */
    int64_t spent;
    uint64_t next_steps;
    pb_project_result *proj; /* caller's array of nprojects, or NULL */
    pb_tie *ties;            /* caller's array of nprojects entries, or NULL */
    size_t nties;
    size_t trace_len;
} pb_mes_out;

typedef struct pb_mes_ws_exact pb_mes_ws_exact;
typedef struct pb_mes_ws_fast pb_mes_ws_fast;

/* A workspace holds every buffer one run needs, so repeated runs (Add1) allocate
 * nothing. The election must outlive it. */
pb_mes_ws_exact *pb_mes_ws_new_exact(const pb_election *e);
void pb_mes_ws_free_exact(pb_mes_ws_exact *ws);
void pb_mes_run_exact(pb_mes_ws_exact *ws, const pb_mes_params *prm, pb_mes_out *out);

/* Replays a trace written by a fast run with exact rationals: every winner and every
 * close call is re-decided exactly. Returns 0 when each winner is confirmed (out->ties
 * then holds the exact ties), -1 when exact arithmetic decides differently. */
int pb_mes_replay_exact(pb_mes_ws_exact *ws, const pb_mes_params *prm, const uint32_t *trace,
                        size_t len, pb_mes_out *out);

pb_mes_ws_fast *pb_mes_ws_new_fast(const pb_election *e);
void pb_mes_ws_free_fast(pb_mes_ws_fast *ws);
void pb_mes_run_fast(pb_mes_ws_fast *ws, const pb_mes_params *prm, pb_mes_out *out);
int pb_mes_replay_fast(pb_mes_ws_fast *ws, const pb_mes_params *prm, const uint32_t *trace,
                       size_t len, pb_mes_out *out);

#endif
