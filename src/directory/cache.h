/*
 * cache: a small in-process cache of rendered directory responses (ORUK JSON pages,
 * the browse and search page body), so that a busy public API or search page costs a
 * hash look-up and a copy instead of queries, JSON building and rendering.
 *
 * Freshness. Every change made through this process (forms, the import page) calls
 * dir_cache_bump(), which invalidates everything at once. Changes made by another
 * process on the same database (the `directory import` command, a second server) are
 * seen when entries expire, DIR_CACHE_TTL_MS after they were made. Only successful (200)
 * responses are cached.
 *
 * CG_DIR_CACHE=0 in the environment disables the cache (for measuring the uncached path).
 *
 * Threads: safe to call from any server thread. Memory: at most DIR_CACHE_SLOTS entries
 * of at most DIR_CACHE_MAX_ENTRY bytes each; the cache owns its copies.
 */
#ifndef CG_DIRECTORY_CACHE_H
#define CG_DIRECTORY_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"

#define DIR_CACHE_SLOTS 256
#define DIR_CACHE_TTL_MS 2000
#define DIR_CACHE_MAX_ENTRY ((size_t)1 << 20)

/* Everything cached so far is stale (a write happened in this process). */
void dir_cache_bump(void);
/* The cached bytes for key, copied into a (NUL-terminated), or false. */
bool dir_cache_get(const char *key, arena *a, char **data, size_t *len);
/* Stores a copy of data[0..len) under key (replacing what shared its slot). Entries over
 * DIR_CACHE_MAX_ENTRY are not kept. */
void dir_cache_put(const char *key, const char *data, size_t len);

#endif
