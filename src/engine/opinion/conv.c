/*
 * opinion/conv: a conversation's storage — comments, participants and each
 * participant's latest vote per comment, in sparse rows so memory follows the number
 * of votes. Also the id maps that turn Pol.is ids into dense indexes.
 */
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "engine/opinion/internal.h"

static uint64_t hash64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

void op_idmap_init(op_idmap *m) {
    m->cap = 64;
    m->n = 0;
    m->keys = xmalloc(m->cap * sizeof *m->keys);
    m->vals = xmalloc(m->cap * sizeof *m->vals);
    for (size_t i = 0; i < m->cap; i++) m->keys[i] = -1;
}

void op_idmap_free(op_idmap *m) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

long op_idmap_get(const op_idmap *m, int64_t key) {
    size_t mask = m->cap - 1;
    for (size_t i = hash64((uint64_t)key) & mask;; i = (i + 1) & mask) {
        if (m->keys[i] == key) return (long)m->vals[i];
        if (m->keys[i] < 0) return -1;
    }
}

static void idmap_insert(op_idmap *m, int64_t key, uint32_t val) {
    size_t mask = m->cap - 1;
    size_t i = hash64((uint64_t)key) & mask;
    while (m->keys[i] >= 0 && m->keys[i] != key) i = (i + 1) & mask;
    if (m->keys[i] < 0) m->n++;
    m->keys[i] = key;
    m->vals[i] = val;
}

void op_idmap_put(op_idmap *m, int64_t key, uint32_t val) {
    if ((m->n + 1) * 2 > m->cap) { /* keep the load under a half */
        op_idmap old = *m;
        m->cap *= 2;
        m->n = 0;
        m->keys = xmalloc(m->cap * sizeof *m->keys);
        m->vals = xmalloc(m->cap * sizeof *m->vals);
        for (size_t i = 0; i < m->cap; i++) m->keys[i] = -1;
        for (size_t i = 0; i < old.cap; i++)
            if (old.keys[i] >= 0) idmap_insert(m, old.keys[i], old.vals[i]);
        op_idmap_free(&old);
    }
    idmap_insert(m, key, val);
}

void opinion_opts_default(opinion_opts *o) {
    o->base_k = 100;
    o->max_k = 5;
    o->min_votes = 7;
    o->greedy_n = 15;
    o->cluster_push = 1;
    o->min_group_share = 0.02;
}

opinion_conv *opinion_conv_new(void) {
    opinion_conv *c = xcalloc(1, sizeof *c);
    op_idmap_init(&c->pmap);
    op_idmap_init(&c->cmap);
    return c;
}

void opinion_forget_warm_start(opinion_conv *c) {
    free(c->warm_comp[0]);
    free(c->warm_comp[1]);
    free(c->warm_bx);
    free(c->warm_by);
    c->warm_comp[0] = c->warm_comp[1] = c->warm_bx = c->warm_by = NULL;
    c->warm = 0;
    c->warm_nc = c->warm_nbase = 0;
    free(c->prev_a);
    free(c->prev_d);
    free(c->prev_s);
    c->prev_a = c->prev_d = c->prev_s = NULL;
    c->prev_nc = 0;
}

void opinion_conv_free(opinion_conv *c) {
    if (!c) return;
    for (size_t i = 0; i < c->np; i++) free(c->rows[i].e);
    free(c->rows);
    free(c->pids);
    free(c->fixed);
    free(c->sorted);
    free(c->cmts);
    op_idmap_free(&c->pmap);
    op_idmap_free(&c->cmap);
    opinion_forget_warm_start(c);
    free(c);
}

int opinion_comment(opinion_conv *c, int64_t tid, int moderated, int is_meta) {
    if (tid < 0 || tid > INT64_MAX / 2 || moderated < -1 || moderated > 1) return OPINION_EINVAL;
    long i = op_idmap_get(&c->cmap, tid);
    if (i < 0) {
        if (c->nc == c->ccap) {
            c->ccap = c->ccap ? 2 * c->ccap : 64;
            c->cmts = xreallocarray(c->cmts, c->ccap, sizeof *c->cmts);
        }
        i = (long)c->nc++;
        op_idmap_put(&c->cmap, tid, (uint32_t)i);
        c->cmts[i].tid = tid;
    }
    c->cmts[i].moderated = moderated;
    c->cmts[i].meta = is_meta != 0;
    return OPINION_OK;
}

static uint32_t participant(opinion_conv *c, int64_t pid) {
    long i = op_idmap_get(&c->pmap, pid);
    if (i >= 0) return (uint32_t)i;
    if (c->np == c->pcap) {
        c->pcap = c->pcap ? 2 * c->pcap : 256;
        c->pids = xreallocarray(c->pids, c->pcap, sizeof *c->pids);
        c->rows = xreallocarray(c->rows, c->pcap, sizeof *c->rows);
        c->fixed = xreallocarray(c->fixed, c->pcap, sizeof *c->fixed);
    }
    i = (long)c->np++;
    op_idmap_put(&c->pmap, pid, (uint32_t)i);
    c->pids[i] = pid;
    c->rows[i] = (op_row){0};
    c->fixed[i] = -1;
    return (uint32_t)i;
}

int opinion_vote(opinion_conv *c, int64_t pid, int64_t tid, int vote) {
    if (pid < 0 || pid > INT64_MAX / 2 || tid < 0 || vote < -1 || vote > 1) return OPINION_EINVAL;
    long ci = op_idmap_get(&c->cmap, tid);
    if (ci < 0) return OPINION_EUNKNOWN;
    uint32_t pi = participant(c, pid); /* may move c->rows */
    op_row *r = &c->rows[pi];
    uint32_t key = (uint32_t)ci << 2;
    uint32_t e = key | (uint32_t)(vote + 1);
    /* Rows stay sorted by comment index, so sums over a row do not depend on the
     * order in which votes arrived. */
    uint32_t lo = 0, hi = r->len;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if ((r->e[mid] & ~3u) < key) lo = mid + 1;
        else hi = mid;
    }
    if (lo < r->len && (r->e[lo] & ~3u) == key) {
        r->e[lo] = e;
        return OPINION_OK;
    }
    if (r->len == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 8;
        r->e = xreallocarray(r->e, r->cap, sizeof *r->e);
    }
    memmove(r->e + lo + 1, r->e + lo, (r->len - lo) * sizeof *r->e);
    r->e[lo] = e;
    r->len++;
    c->nvotes++;
    return OPINION_OK;
}

int opinion_fix_group(opinion_conv *c, int64_t pid, int gid) {
    if (gid < 0 || pid < 0) return OPINION_EINVAL;
    long i = op_idmap_get(&c->pmap, pid);
    if (i < 0) return OPINION_EUNKNOWN;
    if (c->fixed[i] < 0) c->nfixed++;
    c->fixed[i] = gid;
    return OPINION_OK;
}

void opinion_unfix_groups(opinion_conv *c) {
    for (size_t i = 0; i < c->np; i++) c->fixed[i] = -1;
    c->nfixed = 0;
}

size_t opinion_n_participants(const opinion_conv *c) { return c->np; }
size_t opinion_n_comments(const opinion_conv *c) { return c->nc; }
size_t opinion_n_votes(const opinion_conv *c) { return c->nvotes; }
