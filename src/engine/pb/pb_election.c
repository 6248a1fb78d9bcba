/*
 * pb_election: holds one participatory budgeting election in memory and builds it,
 * either from structs (the web layer) or from pabulib `.pb` text (pb_parse.c uses the
 * same builder). Ballots are stored once, in compressed rows, plus a per-project copy
 * made by pb_election_finish(), so no computation allocates per vote.
 */
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "engine/pb/pb.h"
#include "engine/pb/pb_internal.h"

typedef struct pb_index {
    uint32_t *slots; /* project index + 1; 0 = empty */
    size_t *idlen;   /* per project: strlen(id), so lookups compare with memcmp */
    size_t mask;
    uint32_t *seen; /* per project: 1 + the last voter that named it (duplicate check) */
    size_t seen_cap;
} pb_index;

const char *pb_vote_type_name(pb_vote_type t) {
    switch (t) {
    case PB_VOTE_APPROVAL:
        return "approval";
    case PB_VOTE_CHOOSE1:
        return "choose-1";
    case PB_VOTE_CUMULATIVE:
        return "cumulative";
    case PB_VOTE_SCORING:
        return "scoring";
    case PB_VOTE_ORDINAL:
        return "ordinal";
    }
    return "?";
}

uint64_t pb_hash_bytes(const char *s, size_t n) {
    uint64_t h = UINT64_C(1469598103934665603);
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

void pb_election_init(pb_election *e, pb_vote_type type, int64_t budget) {
    memset(e, 0, sizeof *e);
    arena_init(&e->mem, 0);
    e->vote_type = type;
    e->uses_points = (type == PB_VOTE_CUMULATIVE || type == PB_VOTE_SCORING);
    e->budget = budget;
    e->threshold = -1;
    e->description = "";
    e->currency = "";
    pb_index *ix = xcalloc(1, sizeof *ix);
    ix->mask = 63;
    ix->slots = xcalloc(ix->mask + 1, sizeof *ix->slots);
    e->index = ix;
    e->cap_voters = 64;
    e->ballot_start = xcalloc(e->cap_voters + 1, sizeof *e->ballot_start);
}

int64_t pb_election_find_n(const pb_election *e, const char *id, size_t n) {
    const pb_index *ix = e->index;
    size_t h = (size_t)pb_hash_bytes(id, n) & ix->mask;
    for (;;) {
        uint32_t s = ix->slots[h];
        if (s == 0) return -1;
        if (ix->idlen[s - 1] == n && memcmp(e->projects[s - 1].id, id, n) == 0)
            return (int64_t)s - 1;
        h = (h + 1) & ix->mask;
    }
}

int64_t pb_election_find(const pb_election *e, const char *id) {
    return pb_election_find_n(e, id, strlen(id));
}

static void index_insert(pb_election *e, uint32_t p) {
    pb_index *ix = e->index;
    if ((e->nprojects + 1) * 2 > ix->mask + 1) {
        size_t nmask = ix->mask * 2 + 1;
        uint32_t *ns = xcalloc(nmask + 1, sizeof *ns);
        for (size_t i = 0; i <= ix->mask; i++) {
            uint32_t s = ix->slots[i];
            if (!s) continue;
            const char *id = e->projects[s - 1].id;
            size_t h = (size_t)pb_hash_bytes(id, strlen(id)) & nmask;
            while (ns[h]) h = (h + 1) & nmask;
            ns[h] = s;
        }
        free(ix->slots);
        ix->slots = ns;
        ix->mask = nmask;
    }
    const char *id = e->projects[p].id;
    size_t h = (size_t)pb_hash_bytes(id, strlen(id)) & ix->mask;
    while (ix->slots[h]) h = (h + 1) & ix->mask;
    ix->slots[h] = p + 1;
}

int64_t pb_election_add_project(pb_election *e, const char *id, const char *name, int64_t cost) {
    if (e->finished || cost < 0 || pb_election_find(e, id) >= 0) return -1;
    if (e->nprojects == e->cap_projects) {
        e->cap_projects = e->cap_projects ? e->cap_projects * 2 : 32;
        e->projects = xreallocarray(e->projects, e->cap_projects, sizeof *e->projects);
        pb_index *ix = e->index;
        ix->idlen = xreallocarray(ix->idlen, e->cap_projects, sizeof *ix->idlen);
    }
    pb_project *p = &e->projects[e->nprojects];
    memset(p, 0, sizeof *p);
    p->id = arena_strdup(&e->mem, id);
    p->name = arena_strdup(&e->mem, name ? name : "");
    p->cost = cost;
    p->withdrawn = (cost == PB_WITHDRAWN_COST);
    ((pb_index *)e->index)->idlen[e->nprojects] = strlen(id);
    /* The project must be in the array before index_insert reads its id. */
    e->nprojects++;
    index_insert(e, (uint32_t)(e->nprojects - 1));
    return (int64_t)e->nprojects - 1;
}

int pb_election_add_ballot(pb_election *e, size_t n, const uint32_t *projects,
                           const uint32_t *points) {
    if (e->finished) return -1;
    pb_index *ix = e->index;
    if (ix->seen_cap < e->nprojects) {
        ix->seen = xreallocarray(ix->seen, e->nprojects, sizeof *ix->seen);
        memset(ix->seen + ix->seen_cap, 0, (e->nprojects - ix->seen_cap) * sizeof *ix->seen);
        ix->seen_cap = e->nprojects;
    }
    uint32_t v = (uint32_t)e->nvoters;
    for (size_t i = 0; i < n; i++) {
        if (projects[i] >= e->nprojects) return -1;
        if (ix->seen[projects[i]] == v + 1) return -1;
        ix->seen[projects[i]] = v + 1;
    }
    if (e->nvoters == e->cap_voters) {
        e->cap_voters *= 2;
        e->ballot_start =
            xreallocarray(e->ballot_start, e->cap_voters + 1, sizeof *e->ballot_start);
    }
    size_t base = e->ballot_start[e->nvoters];
    if (base + n > e->cap_entries) {
        size_t nc = e->cap_entries ? e->cap_entries : 1024;
        while (nc < base + n) nc *= 2;
        e->ballot_project = xreallocarray(e->ballot_project, nc, sizeof *e->ballot_project);
        e->ballot_points = xreallocarray(e->ballot_points, nc, sizeof *e->ballot_points);
        e->cap_entries = nc;
    }
    size_t k = base;
    for (size_t i = 0; i < n; i++) {
        uint32_t w = points ? points[i] : 1;
        if (w == 0) continue;
        e->ballot_project[k] = projects[i];
        e->ballot_points[k] = e->uses_points ? w : 1;
        k++;
    }
    e->nvoters++;
    e->ballot_start[e->nvoters] = (uint32_t)k;
    return 0;
}

void pb_election_finish(pb_election *e) {
    if (e->finished) return;
    e->finished = 1;
    size_t m = e->nprojects, total = e->nvoters ? e->ballot_start[e->nvoters] : 0;
    e->by_start = xcalloc(m + 1, sizeof *e->by_start);
    e->by_voter = xmalloc((total ? total : 1) * sizeof *e->by_voter);
    e->by_points = xmalloc((total ? total : 1) * sizeof *e->by_points);
    if (!e->ballot_project) {
        e->ballot_project = xmalloc(sizeof *e->ballot_project);
        e->ballot_points = xmalloc(sizeof *e->ballot_points);
    }
    for (size_t k = 0; k < total; k++) e->by_start[e->ballot_project[k] + 1]++;
    for (size_t p = 0; p < m; p++) e->by_start[p + 1] += e->by_start[p];
    uint32_t *fill = xmalloc((m ? m : 1) * sizeof *fill);
    memcpy(fill, e->by_start, m * sizeof *fill);
    /* Locals, so the compiler need not reload through e on every store. */
    const uint32_t *bs = e->ballot_start, *bp = e->ballot_project, *bw = e->ballot_points;
    uint32_t *byv = e->by_voter, *byp = e->by_points;
    int64_t *score = xcalloc(m ? m : 1, sizeof *score);
    size_t nv = e->nvoters;
    for (size_t v = 0; v < nv; v++) {
        for (uint32_t k = bs[v]; k < bs[v + 1]; k++) {
            uint32_t p = bp[k], at = fill[p]++;
            byv[at] = (uint32_t)v;
            byp[at] = bw[k];
            score[p] += bw[k];
        }
    }
    for (size_t p = 0; p < m; p++) {
        e->projects[p].supporters = e->by_start[p + 1] - e->by_start[p];
        e->projects[p].score = score[p];
    }
    free(score);
    free(fill);
    pb_index *ix = e->index;
    free(ix->seen);
    ix->seen = NULL;
    ix->seen_cap = 0;
}

void pb_election_free(pb_election *e) {
    if (!e) return;
    pb_index *ix = e->index;
    if (ix) {
        free(ix->slots);
        free(ix->idlen);
        free(ix->seen);
        free(ix);
    }
    free(e->projects);
    free(e->ballot_start);
    free(e->ballot_project);
    free(e->ballot_points);
    free(e->by_start);
    free(e->by_voter);
    free(e->by_points);
    arena_free(&e->mem);
    memset(e, 0, sizeof *e);
}
