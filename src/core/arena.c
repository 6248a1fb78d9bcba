/*
 * arena: region allocator (see arena.h). Blocks are chained newest first; a request
 * larger than the block size gets a block of its own so big uploads do not waste a
 * standard block's tail.
 */
#include "core/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

struct arena_block {
    arena_block *next;
    size_t cap;
    size_t used;
    alignas(max_align_t) unsigned char data[];
};

#define ALIGN_UP(n) (((n) + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1))

void arena_init(arena *a, size_t block_size) {
    a->head = NULL;
    a->block_size = block_size ? block_size : 8192;
    a->total = 0;
}

static arena_block *block_new(size_t cap) {
    arena_block *b = xmalloc(sizeof *b + cap);
    b->next = NULL;
    b->cap = cap;
    b->used = 0;
    return b;
}

void *arena_alloc(arena *a, size_t size) {
    if (size > SIZE_MAX - alignof(max_align_t)) abort();
    size_t need = ALIGN_UP(size ? size : 1);
    arena_block *b = a->head;
    if (!b || b->cap - b->used < need) {
        if (need > a->block_size / 2) {
            /* Large allocation: its own block, linked behind the current one so the
             * current block's free tail stays usable. */
            arena_block *big = block_new(need);
            big->used = need;
            if (b) {
                big->next = b->next;
                b->next = big;
            } else {
                a->head = big;
            }
            a->total += need;
            return big->data;
        }
        b = block_new(a->block_size);
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += need;
    a->total += need;
    return p;
}

void *arena_calloc(arena *a, size_t n, size_t size) {
    if (size && n > SIZE_MAX / size) abort();
    void *p = arena_alloc(a, n * size);
    memset(p, 0, n * size);
    return p;
}

char *arena_strndup(arena *a, const char *s, size_t n) {
    size_t len = strnlen(s, n);
    char *d = arena_alloc(a, len + 1);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *arena_strdup(arena *a, const char *s) { return arena_strndup(a, s, SIZE_MAX); }

char *arena_vsprintf(arena *a, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) abort();
    char *d = arena_alloc(a, (size_t)n + 1);
    vsnprintf(d, (size_t)n + 1, fmt, ap);
    return d;
}

char *arena_sprintf(arena *a, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *d = arena_vsprintf(a, fmt, ap);
    va_end(ap);
    return d;
}

void arena_reset(arena *a) {
    if (!a->head) return;
    /* Keep one standard-size block (the oldest standard one) for reuse. */
    arena_block *keep = NULL;
    arena_block *b = a->head;
    while (b) {
        arena_block *next = b->next;
        if (!keep && b->cap == a->block_size) {
            keep = b;
        } else {
            free(b);
        }
        b = next;
    }
    if (keep) {
        keep->next = NULL;
        keep->used = 0;
    }
    a->head = keep;
    a->total = 0;
}

void arena_free(arena *a) {
    arena_block *b = a->head;
    while (b) {
        arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->total = 0;
}
