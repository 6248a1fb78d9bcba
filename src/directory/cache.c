/*
 * cache: the directory's response cache (see cache.h). A direct-mapped table: a key's
 * FNV-1a hash picks its slot, a newer entry simply replaces an older one. One
 * reader-writer lock guards the table; readers copy the bytes out under the read lock.
 */
#include "directory/cache.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/xalloc.h"

typedef struct slot {
    char *key;
    char *data;
    size_t len;
    uint64_t gen;
    int64_t expires_ms;
} slot;

static slot slots[DIR_CACHE_SLOTS];
static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static uint64_t generation; /* guarded by lock */

/* CG_DIR_CACHE=0 in the environment turns the cache off (every request rendered afresh):
 * how bench/directory.sh measures the uncached path. Read once, on first use. */
static pthread_once_t enabled_once = PTHREAD_ONCE_INIT;
static bool enabled = true;

static void read_enabled(void) {
    const char *v = getenv("CG_DIR_CACHE");
    enabled = !(v && strcmp(v, "0") == 0);
}

static bool cache_enabled(void) {
    pthread_once(&enabled_once, read_enabled);
    return enabled;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t slot_of(const char *key) {
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (size_t)(h % DIR_CACHE_SLOTS);
}

void dir_cache_bump(void) {
    pthread_rwlock_wrlock(&lock);
    generation++;
    pthread_rwlock_unlock(&lock);
}

bool dir_cache_get(const char *key, arena *a, char **data, size_t *len) {
    bool hit = false;
    if (!cache_enabled()) return false;
    slot *s = &slots[slot_of(key)];
    int64_t now = now_ms();
    pthread_rwlock_rdlock(&lock);
    if (s->key && s->gen == generation && s->expires_ms > now && strcmp(s->key, key) == 0) {
        *data = arena_alloc(a, s->len + 1);
        memcpy(*data, s->data, s->len);
        (*data)[s->len] = 0;
        *len = s->len;
        hit = true;
    }
    pthread_rwlock_unlock(&lock);
    return hit;
}

void dir_cache_put(const char *key, const char *data, size_t len) {
    if (len > DIR_CACHE_MAX_ENTRY || !cache_enabled()) return;
    char *k = xstrdup(key), *d = xmalloc(len ? len : 1);
    memcpy(d, data, len);
    slot *s = &slots[slot_of(key)];
    pthread_rwlock_wrlock(&lock);
    char *old_k = s->key, *old_d = s->data;
    s->key = k;
    s->data = d;
    s->len = len;
    s->gen = generation;
    s->expires_ms = now_ms() + DIR_CACHE_TTL_MS;
    pthread_rwlock_unlock(&lock);
    free(old_k);
    free(old_d);
}
