/*
 * arena: a region allocator for data that lives exactly as long as one unit of work.
 *
 * Each HTTP request gets one arena; everything the request allocates (parsed form
 * fields, rendered strings, query results) comes from it and is released in one place
 * when the request completes, so handlers never call free(). Engines use arenas for
 * scratch data of one computation. Allocation aborts on out-of-memory (xalloc).
 *
 * Ownership: the arena owns every block it hands out. Pointers into an arena are valid
 * until arena_reset() or arena_free() on it.
 */
#ifndef CG_CORE_ARENA_H
#define CG_CORE_ARENA_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

typedef struct arena_block arena_block;

typedef struct arena {
    arena_block *head;    /* current block; older blocks chained behind it */
    size_t block_size;    /* default size of a new block */
    size_t total;         /* bytes handed out since init/reset, for caps and stats */
} arena;

/* Prepares caller storage; block_size 0 chooses 8 KiB. No memory is taken until the
 * first allocation. */
void arena_init(arena *a, size_t block_size);

/* Returns size bytes aligned for any type (max_align_t), uninitialised. */
void *arena_alloc(arena *a, size_t size);
/* As arena_alloc, zero-filled; n * size checked for overflow. */
void *arena_calloc(arena *a, size_t n, size_t size);
/* Copies of strings into the arena (NUL-terminated). arena_strndup copies at most n
 * bytes. */
char *arena_strdup(arena *a, const char *s);
char *arena_strndup(arena *a, const char *s, size_t n);
/* printf into the arena. */
char *arena_sprintf(arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *arena_vsprintf(arena *a, const char *fmt, va_list ap);

/* Makes room for one more element in the arena array arr, which holds n of cap: when
 * full, a block of twice the capacity (at least 8) is taken from a and the elements
 * copied (the old block stays in the arena until it is reset). */
#define ARENA_GROW(arr, n, cap, a)                                                             \
    do {                                                                                       \
        if ((n) == (cap)) {                                                                    \
            size_t nc_ = (cap) ? (cap)*2 : 8;                                                  \
            void *b_ = arena_calloc((a), nc_, sizeof *(arr));                                  \
            if (n) memcpy(b_, (arr), (n) * sizeof *(arr));                                     \
            (arr) = b_;                                                                        \
            (cap) = nc_;                                                                       \
        }                                                                                      \
    } while (0)

/* Releases everything but the first block, which is kept for reuse. */
void arena_reset(arena *a);
/* Releases all memory; the arena may be initialised again. */
void arena_free(arena *a);

#endif
