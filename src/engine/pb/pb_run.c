/*
 * pb_run: the rules as cities run them — greedy by support (and pabulib's no-skip and
 * threshold variants), the Method of Equal Shares with Add1 completion (optionally
 * followed by a greedy fill), Wieliczka's comparison against greedy, tie-breaking, and
 * the per-project explanations. The Equal Shares arithmetic itself is in pb_mes.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "engine/pb/pb.h"
#include "engine/pb/pb_internal.h"

void pb_options_default(pb_options *o) {
    memset(o, 0, sizeof *o);
    o->rule = PB_RULE_GREEDY;
    o->greedy_variant = PB_GREEDY_SKIP;
    o->threshold = -1;
    o->completion = PB_COMPLETION_NONE;
    o->increment = 1;
    o->tie.nkeys = 3;
    o->tie.keys[0] = PB_TIE_COST;
    o->tie.keys[1] = PB_TIE_VOTES;
    o->tie.keys[2] = PB_TIE_ID;
    o->arith = PB_ARITH_EXACT;
    o->explain = 1;
}

const char *pb_tie_key_name(pb_tie_key k) {
    switch (k) {
    case PB_TIE_COST:
        return "cost";
    case PB_TIE_VOTES:
        return "votes";
    case PB_TIE_ID:
        return "id";
    case PB_TIE_LOTTERY:
        return "lottery";
    }
    return "?";
}

int pb_tie_break_parse(const char *s, pb_tie_break *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (strncmp(s, "lottery:", 8) == 0) {
        const char *d = s + 8;
        char *end;
        if (!*d || *d == '-') goto bad_seed;
        unsigned long long v = strtoull(d, &end, 10);
        if (*end) goto bad_seed;
        out->lottery = 1;
        out->seed = (uint64_t)v;
        return 0;
    bad_seed:
        snprintf(err, errlen, "--tie-break lottery:SEED needs a whole non-negative SEED, got '%s'",
                 d);
        return -1;
    }
    const char *p = s;
    while (*p) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        pb_tie_key k;
        if (n == 4 && strncmp(p, "cost", 4) == 0)
            k = PB_TIE_COST;
        else if (n == 5 && strncmp(p, "votes", 5) == 0)
            k = PB_TIE_VOTES;
        else if (n == 2 && strncmp(p, "id", 2) == 0)
            k = PB_TIE_ID;
        else {
            snprintf(err, errlen,
                     "--tie-break: '%.*s' is not cost, votes or id (or use lottery:SEED)", (int)n,
                     p);
            return -1;
        }
        for (int i = 0; i < out->nkeys; i++)
            if (out->keys[i] == k) {
                snprintf(err, errlen, "--tie-break names '%s' twice", pb_tie_key_name(k));
                return -1;
            }
        out->keys[out->nkeys++] = k;
        if (!c) break;
        p = c + 1;
        if (!*p) {
            snprintf(err, errlen, "--tie-break ends with a comma");
            return -1;
        }
    }
    if (out->nkeys == 0) {
        snprintf(err, errlen, "--tie-break is empty");
        return -1;
    }
    return 0;
}

void pb_tie_break_format(const pb_tie_break *t, char *out, size_t outlen) {
    if (t->lottery) {
        snprintf(out, outlen, "lottery:%llu", (unsigned long long)t->seed);
        return;
    }
    size_t n = 0;
    out[0] = '\0';
    for (int i = 0; i < t->nkeys && n < outlen; i++)
        n += (size_t)snprintf(out + n, outlen - n, "%s%s", i ? "," : "",
                              pb_tie_key_name(t->keys[i]));
}

/* ---- tie ranks ---- */

typedef struct {
    const pb_election *e;
    const pb_tie_break *t;
} rank_ctx;

static int tie_cmp(const pb_election *e, const pb_tie_break *t, uint32_t a, uint32_t b,
                   pb_tie_key *by) {
    const pb_project *x = &e->projects[a], *y = &e->projects[b];
    for (int i = 0; i < t->nkeys; i++) {
        int c = 0;
        switch (t->keys[i]) {
        case PB_TIE_COST:
            c = x->cost < y->cost ? -1 : x->cost > y->cost;
            break;
        case PB_TIE_VOTES:
            c = x->score > y->score ? -1 : x->score < y->score;
            break;
        case PB_TIE_ID:
            c = strcmp(x->id, y->id);
            break;
        case PB_TIE_LOTTERY:
            break;
        }
        if (c) {
            if (by) *by = t->keys[i];
            return c;
        }
    }
    if (by) *by = PB_TIE_ID;
    return strcmp(x->id, y->id);
}

static int rank_cmp(const void *a, const void *b, void *ctx) {
    const rank_ctx *rc = ctx;
    return tie_cmp(rc->e, rc->t, *(const uint32_t *)a, *(const uint32_t *)b, NULL);
}

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

void pb_tie_ranks(const pb_election *e, const pb_tie_break *t, uint32_t *rank) {
    size_t m = e->nprojects;
    uint32_t *ord = xmalloc((m ? m : 1) * sizeof *ord);
    for (size_t i = 0; i < m; i++) ord[i] = (uint32_t)i;
    if (t->lottery) {
        /* Fisher-Yates over the projects in file order, driven by splitmix64(seed);
         * the bound is applied by rejection so every order is equally likely. */
        uint64_t s = t->seed;
        for (size_t i = m; i > 1; i--) {
            uint64_t lim = UINT64_MAX - UINT64_MAX % i, r;
            do r = splitmix64(&s);
            while (r >= lim);
            size_t j = (size_t)(r % i);
            uint32_t tmp = ord[i - 1];
            ord[i - 1] = ord[j];
            ord[j] = tmp;
        }
    } else {
        rank_ctx rc = {e, t};
        qsort_r(ord, m, sizeof *ord, rank_cmp, &rc);
    }
    for (size_t i = 0; i < m; i++) rank[ord[i]] = (uint32_t)i;
    free(ord);
}

pb_tie_key pb_tie_decider(const pb_election *e, const pb_tie_break *t, uint32_t a, uint32_t b) {
    if (t->lottery) return PB_TIE_LOTTERY;
    pb_tie_key by;
    tie_cmp(e, t, a, b, &by);
    return by;
}

/* ---- greedy ---- */

typedef struct {
    const pb_election *e;
    const uint32_t *rank;
} gctx;

static int greedy_cmp(const void *a, const void *b, void *ctx) {
    const gctx *g = ctx;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    int64_t sx = g->e->projects[x].score, sy = g->e->projects[y].score;
    if (sx != sy) return sx > sy ? -1 : 1;
    return g->rank[x] < g->rank[y] ? -1 : g->rank[x] > g->rank[y];
}

/* Projects in greedy order: score (supporters or points) descending, then tie rank. */
static void greedy_order(const pb_election *e, const uint32_t *rank, uint32_t *order) {
    for (size_t i = 0; i < e->nprojects; i++) order[i] = (uint32_t)i;
    gctx g = {e, rank};
    qsort_r(order, e->nprojects, sizeof *order, greedy_cmp, &g);
}

typedef struct greedy_spec {
    pb_greedy_variant variant;
    int64_t threshold;
    int64_t budget;
} greedy_spec;

/* Walks order once. With hyp < nprojects, project hyp is taken to have cost hcost and
 * score hscore (it is moved to its place in the order); returns whether hyp is funded.
 * Fills win/nwin when win is not NULL. */
static int greedy_walk(const pb_election *e, const uint32_t *order, const uint32_t *rank,
                       const greedy_spec *gs, size_t hyp, int64_t hcost, int64_t hscore,
                       uint32_t *win, size_t *nwin, int64_t *spent) {
    int64_t left = gs->budget;
    size_t nw = 0;
    int hyp_won = 0, hyp_done = hyp >= e->nprojects;
    int stopped = 0;
    for (size_t i = 0; i <= e->nprojects && !stopped; i++) {
        uint32_t p;
        int64_t cost, score;
        if (!hyp_done) {
            int before = i == e->nprojects;
            if (!before) {
                uint32_t q = order[i];
                int64_t sq = e->projects[q].score;
                before = q != hyp && (hscore > sq || (hscore == sq && rank[hyp] < rank[q]));
            }
            if (before) {
                hyp_done = 1;
                p = (uint32_t)hyp;
                cost = hcost;
                score = hscore;
                i--; /* revisit order[i] next */
                goto consider;
            }
        }
        if (i == e->nprojects) break;
        p = order[i];
        if (p == hyp) continue;
        cost = e->projects[p].cost;
        score = e->projects[p].score;
    consider:
        if (e->projects[p].withdrawn) continue;
        if (gs->variant == PB_GREEDY_THRESHOLD && score < gs->threshold) continue;
        if (cost <= left) {
            left -= cost;
            if (win) win[nw] = p;
            nw++;
            if (p == hyp) hyp_won = 1;
        } else if (gs->variant == PB_GREEDY_NO_SKIP) {
            stopped = 1;
        }
    }
    if (nwin) *nwin = nw;
    if (spent) *spent = gs->budget - left;
    return hyp_won;
}

static int64_t ceil_div(int64_t a, int64_t b) { return a / b + (a % b != 0 && (a > 0) == (b > 0)); }

static void greedy_explain(const pb_election *e, const uint32_t *order, const uint32_t *rank,
                           const greedy_spec *gs, size_t u, pb_project_result *r) {
    const pb_project *p = &e->projects[u];
    r->has_cost_to_win = r->has_supporters_to_win = 0;
    if (p->withdrawn) return;
    /* Funded at cost c is monotone in c (a cheaper project only moves earlier among
     * equal scores, and the money left falls along the walk): binary search. */
    if (greedy_walk(e, order, rank, gs, u, 0, p->score, NULL, NULL, NULL)) {
        int64_t lo = 0, hi = p->cost - 1;
        while (lo < hi) {
            int64_t mid = lo + (hi - lo + 1) / 2;
            if (greedy_walk(e, order, rank, gs, u, mid, p->score, NULL, NULL, NULL))
                lo = mid;
            else
                hi = mid - 1;
        }
        if (lo >= 1) {
            r->has_cost_to_win = 1;
            r->cost_to_win = lo;
        }
    }
    int64_t per = e->uses_points && p->supporters ? ceil_div(p->score, p->supporters) : 1;
    int64_t maxd = (int64_t)e->nvoters - p->supporters;
    if (maxd >= 1 &&
        greedy_walk(e, order, rank, gs, u, p->cost, p->score + maxd * per, NULL, NULL, NULL)) {
        int64_t lo = 1, hi = maxd;
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (greedy_walk(e, order, rank, gs, u, p->cost, p->score + mid * per, NULL, NULL, NULL))
                hi = mid;
            else
                lo = mid + 1;
        }
        r->has_supporters_to_win = 1;
        r->supporters_to_win = lo;
    }
}

/* ---- equal shares ---- */

typedef struct mes_engine {
    pb_arith arith;
    pb_mes_ws_exact *x;
    pb_mes_ws_fast *f;
    uint32_t *trace;
    size_t accepted, replays, fallbacks;
} mes_engine;

/* Exact mode runs in doubles first, then re-decides every winner and every close call
 * (prices within 1e-9) in rationals; only if rationals disagree does it redo the whole
 * run in rationals. Either way every decision of the result is exact. */
static void mes_run(mes_engine *me, const pb_mes_params *prm, pb_mes_out *out) {
    if (me->arith == PB_ARITH_FAST) {
        pb_mes_run_fast(me->f, prm, out);
        return;
    }
    pb_mes_params p2 = *prm;
    p2.trace = me->trace;
    pb_mes_run_fast(me->f, &p2, out);
    /* No close call anywhere: every decision had a margin of 1e-9, far above the
     * rounding error; nothing to re-decide. */
    size_t close = 0;
    for (size_t i = 0; i + 1 < out->trace_len; i += 2 + me->trace[i + 1]) close += me->trace[i + 1];
    if (close == 0) {
        me->accepted++;
        return;
    }
    me->replays++;
    if (pb_mes_replay_exact(me->x, prm, me->trace, out->trace_len, out) == 0) return;
    me->fallbacks++;
    pb_mes_run_exact(me->x, prm, out);
}

static int64_t gcd64(int64_t a, int64_t b) {
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static void set_endowment(pb_result *r, int64_t num, int64_t den) {
    int64_t g = gcd64(num, den);
    if (g > 1) {
        num /= g;
        den /= g;
    }
    r->has_per_voter_budget = 1;
    snprintf(r->per_voter_num, sizeof r->per_voter_num, "%lld", (long long)num);
    snprintf(r->per_voter_den, sizeof r->per_voter_den, "%lld", (long long)den);
    r->per_voter_budget = (double)num / (double)den;
}

int pb_run(const pb_election *e, const pb_options *o, pb_result *r, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    if (!e->finished) {
        snprintf(err, errlen, "election is not finished (pb_election_finish)");
        return -1;
    }
    if (o->increment < 1) {
        snprintf(err, errlen, "--increment must be a whole number of at least 1");
        return -1;
    }
    if (o->rule == PB_RULE_GREEDY && o->completion != PB_COMPLETION_NONE) {
        snprintf(err, errlen, "--completion applies to --rule equal-shares only");
        return -1;
    }
    if (o->rule == PB_RULE_GREEDY && o->compare_greedy) {
        snprintf(err, errlen, "--compare-greedy applies to --rule equal-shares only");
        return -1;
    }
    if (o->rule == PB_RULE_EQUAL_SHARES && e->nvoters == 0) {
        snprintf(err, errlen, "the election has no voters: equal shares needs at least one");
        return -1;
    }
    int64_t threshold = o->threshold >= 0 ? o->threshold : e->threshold;
    if (o->rule == PB_RULE_GREEDY && o->greedy_variant == PB_GREEDY_THRESHOLD && threshold < 0) {
        snprintf(err, errlen,
                 "greedy-threshold needs a threshold: the file has no "
                 "min_project_score_threshold and none was given");
        return -1;
    }
    size_t m = e->nprojects, m1 = m ? m : 1;
    r->rule = o->rule;
    r->completion = o->completion;
    r->arith = o->arith;
    r->winners = xcalloc(m1, sizeof *r->winners);
    r->projects = xcalloc(m1, sizeof *r->projects);
    r->ties = xcalloc(m1, sizeof *r->ties);
    uint32_t *rank = xmalloc(m1 * sizeof *rank);
    uint32_t *order = xmalloc(m1 * sizeof *order);
    pb_tie_ranks(e, &o->tie, rank);
    greedy_order(e, rank, order);
    greedy_spec gs = {o->rule == PB_RULE_GREEDY ? o->greedy_variant : PB_GREEDY_SKIP, threshold,
                      e->budget};

    if (o->rule == PB_RULE_GREEDY) {
        greedy_walk(e, order, rank, &gs, m, 0, 0, r->winners, &r->nwinners, &r->spent);
        for (size_t i = 0; i < r->nwinners; i++) {
            r->projects[r->winners[i]].funded = 1;
            r->projects[r->winners[i]].position = i + 1;
        }
        for (size_t p = 0; p < m; p++) {
            pb_project_result *pr = &r->projects[p];
            pr->effective_support =
                e->nvoters ? 100.0 * (double)e->projects[p].supporters / (double)e->nvoters : 0;
            if (!pr->funded && o->explain) greedy_explain(e, order, rank, &gs, p, pr);
        }
        /* Ties that decided something: equal scores next to each other in the walk. */
        for (size_t i = 0; i + 1 < m; i++) {
            uint32_t a = order[i], b = order[i + 1];
            if (e->projects[a].score != e->projects[b].score) continue;
            if (!r->projects[a].funded && !r->projects[b].funded) continue;
            r->ties[r->nties].chosen = a;
            r->ties[r->nties].other = b;
            r->ties[r->nties].decided_by = pb_tie_decider(e, &o->tie, a, b);
            r->nties++;
        }
        free(rank);
        free(order);
        return 0;
    }

    uint8_t *cand = xmalloc(m1);
    int64_t total = 0;
    for (size_t p = 0; p < m; p++) {
        cand[p] = !e->projects[p].withdrawn && e->projects[p].cost > 0;
        if (!e->projects[p].withdrawn) total += e->projects[p].cost;
    }
    mes_engine me = {o->arith, NULL, NULL, NULL, 0, 0, 0};
    me.f = pb_mes_ws_new_fast(e);
    if (o->arith == PB_ARITH_EXACT) {
        me.x = pb_mes_ws_new_exact(e);
        me.trace = xmalloc((m + 2) * (m + 1) * sizeof *me.trace);
    }
    pb_mes_params prm = {0};
    prm.candidate = cand;
    prm.rank = rank;
    prm.tie = &o->tie;
    prm.increment = o->increment;
    pb_mes_out out = {0};
    out.win = r->winners;

    int64_t n = (int64_t)e->nvoters;
    int64_t fin_num = e->budget, fin_den = n;
    if (o->completion != PB_COMPLETION_NONE) {
        if (total <= e->budget) {
            /* Everything fits: the reference tool does not run Add1 (see docs). */
            r->add1_skipped = 1;
        } else {
            int64_t e0 = e->budget / n;
            r->add1_start = e0;
            prm.slopes = 1;
            prm.resume = 1;
            prm.endow_num = e0;
            prm.endow_den = 1;
            mes_run(&me, &prm, &out);
            r->add1_runs = 1;
            uint64_t k = 0, s = out.next_steps;
            for (;;) {
                if (s == UINT64_MAX) break; /* the outcome never changes again */
                uint64_t k2 = k + s;
                if (k2 < k || k2 > (uint64_t)(INT64_MAX - e0) / (uint64_t)o->increment) break;
                prm.endow_num = e0 + (int64_t)k2 * o->increment;
                mes_run(&me, &prm, &out);
                r->add1_runs++;
                if (out.spent > e->budget) {
                    k = k2 - 1;
                    break;
                }
                k = k2;
                s = out.next_steps;
            }
            r->add1_steps = (int64_t)k;
            fin_num = e0 + (int64_t)k * o->increment;
            fin_den = 1;
        }
    }
    /* The reported run: plain, at the final endowment, with explanations. */
    prm.slopes = 0;
    prm.resume = 0;
    prm.endow_num = fin_num;
    prm.endow_den = fin_den;
    prm.explain = 0;
    out.proj = r->projects;
    out.ties = r->ties;
    uint8_t *mask = NULL;
    if (o->explain) {
        /* First pass finds the losers; the second explains only them. */
        mes_run(&me, &prm, &out);
        mask = xcalloc(m1, 1);
        for (size_t p = 0; p < m; p++) mask[p] = !r->projects[p].funded;
        prm.explain = 1;
        prm.explain_mask = mask;
    }
    mes_run(&me, &prm, &out);
    r->nwinners = out.nwin;
    r->spent = out.spent;
    r->nties = out.nties;
    set_endowment(r, fin_num, fin_den);

    if (o->completion == PB_COMPLETION_ADD1_GREEDY) {
        for (size_t i = 0; i < m; i++) {
            uint32_t p = order[i];
            if (r->projects[p].funded || e->projects[p].withdrawn) continue;
            if (e->projects[p].cost <= e->budget - r->spent) {
                r->spent += e->projects[p].cost;
                r->winners[r->nwinners++] = p;
                r->projects[p].funded = 1;
                r->projects[p].position = r->nwinners;
                r->projects[p].has_cost_to_win = r->projects[p].has_supporters_to_win = 0;
                r->greedy_fill++;
            }
        }
    }

    if (o->compare_greedy) {
        r->has_comparison = 1;
        r->greedy_winners = xcalloc(m1, sizeof *r->greedy_winners);
        int64_t gspent;
        greedy_spec plain = {PB_GREEDY_SKIP, -1, e->budget};
        greedy_walk(e, order, rank, &plain, m, 0, 0, r->greedy_winners, &r->greedy_nwinners,
                    &gspent);
        uint8_t *in_g = xcalloc(m1, 1);
        for (size_t i = 0; i < r->greedy_nwinners; i++) in_g[r->greedy_winners[i]] = 1;
        int64_t cov_m = 0, cov_g = 0;
        for (size_t v = 0; v < e->nvoters; v++) {
            int64_t um = 0, ug = 0;
            for (uint32_t k = e->ballot_start[v]; k < e->ballot_start[v + 1]; k++) {
                uint32_t p = e->ballot_project[k];
                if (r->projects[p].funded) um += e->ballot_points[k];
                if (in_g[p]) ug += e->ballot_points[k];
            }
            if (um > ug)
                r->prefer_mes++;
            else if (ug > um)
                r->prefer_greedy++;
            else
                r->prefer_equal++;
            cov_m += um > 0;
            cov_g += ug > 0;
        }
        r->covered_mes = n ? (double)cov_m / (double)n : 0;
        r->covered_greedy = n ? (double)cov_g / (double)n : 0;
        if (r->prefer_greedy > r->prefer_mes) {
            /* The city's rule: the outcome more voters prefer is the one used. */
            r->used_greedy = 1;
            memcpy(r->winners, r->greedy_winners, r->greedy_nwinners * sizeof *r->winners);
            r->nwinners = r->greedy_nwinners;
            r->spent = gspent;
            for (size_t p = 0; p < m; p++) {
                r->projects[p].funded = in_g[p];
                r->projects[p].position = 0;
            }
            for (size_t i = 0; i < r->nwinners; i++) r->projects[r->winners[i]].position = i + 1;
        }
        free(in_g);
    }

    r->exact_fallbacks = me.fallbacks;
    r->exact_replays = me.replays;
    free(mask);
    free(me.trace);
    if (me.x) pb_mes_ws_free_exact(me.x);
    if (me.f) pb_mes_ws_free_fast(me.f);
    free(cand);
    free(rank);
    free(order);
    return 0;
}

void pb_result_free(pb_result *r) {
    if (!r) return;
    free(r->winners);
    free(r->projects);
    free(r->ties);
    free(r->greedy_winners);
    memset(r, 0, sizeof *r);
}
