/*
 * tv: template value trees in an arena (see tv.h).
 *
 * Maps are small arrays of (key, value) searched linearly: a page's maps hold a
 * handful of keys, where a scan of short strings beats hashing. Lists and maps grow by
 * doubling inside the arena; the abandoned smaller array stays in the arena until the
 * request ends, which is cheap for the sizes pages use.
 */
#include "web/tv.h"

#include <assert.h>
#include <stdarg.h>
#include <string.h>

typedef struct tv_entry {
    const char *key;
    tv *val;
} tv_entry;

struct tv {
    tv_type type;
    arena *a;
    union {
        const char *s;
        long long i;
        bool b;
        struct {
            tv_entry *ent;
            size_t n, cap;
        } map;
        struct {
            tv **item;
            size_t n, cap;
        } list;
    } u;
};

static tv *tv_new(arena *a, tv_type type) {
    tv *v = arena_calloc(a, 1, sizeof *v);
    v->type = type;
    v->a = a;
    return v;
}

tv *tv_map(arena *a) { return tv_new(a, TV_MAP); }
tv *tv_list(arena *a) { return tv_new(a, TV_LIST); }

/* Grows an arena array of elem-sized items from *cap to at least n+1 items. */
static void *tv_grow(arena *a, void *old, size_t n, size_t *cap, size_t elem) {
    if (n < *cap) return old;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *p = arena_calloc(a, ncap, elem);
    if (n) memcpy(p, old, n * elem);
    *cap = ncap;
    return p;
}

void tv_set(tv *map, const char *key, tv *child) {
    assert(map && map->type == TV_MAP && key && child);
    for (size_t i = 0; i < map->u.map.n; i++) {
        if (strcmp(map->u.map.ent[i].key, key) == 0) {
            map->u.map.ent[i].val = child;
            return;
        }
    }
    map->u.map.ent =
        tv_grow(map->a, map->u.map.ent, map->u.map.n, &map->u.map.cap, sizeof(tv_entry));
    map->u.map.ent[map->u.map.n].key = arena_strdup(map->a, key);
    map->u.map.ent[map->u.map.n].val = child;
    map->u.map.n++;
}

static tv *tv_new_str(arena *a, tv_type type, const char *s) {
    tv *v = tv_new(a, type);
    v->u.s = arena_strdup(a, s ? s : "");
    return v;
}

void tv_set_str(tv *map, const char *key, const char *text) {
    assert(map && map->type == TV_MAP);
    tv_set(map, key, tv_new_str(map->a, TV_STR, text));
}

void tv_set_strf(tv *map, const char *key, const char *fmt, ...) {
    assert(map && map->type == TV_MAP);
    va_list ap;
    va_start(ap, fmt);
    tv *v = tv_new(map->a, TV_STR);
    v->u.s = arena_vsprintf(map->a, fmt, ap);
    va_end(ap);
    tv_set(map, key, v);
}

void tv_set_html(tv *map, const char *key, const char *trusted_html) {
    assert(map && map->type == TV_MAP);
    tv_set(map, key, tv_new_str(map->a, TV_HTML, trusted_html));
}

void tv_set_int(tv *map, const char *key, long long v) {
    assert(map && map->type == TV_MAP);
    tv *n = tv_new(map->a, TV_INT);
    n->u.i = v;
    tv_set(map, key, n);
}

void tv_set_bool(tv *map, const char *key, bool v) {
    assert(map && map->type == TV_MAP);
    tv *n = tv_new(map->a, TV_BOOL);
    n->u.b = v;
    tv_set(map, key, n);
}

tv *tv_set_map(tv *map, const char *key) {
    assert(map && map->type == TV_MAP);
    tv *child = tv_map(map->a);
    tv_set(map, key, child);
    return child;
}

tv *tv_set_list(tv *map, const char *key) {
    assert(map && map->type == TV_MAP);
    tv *child = tv_list(map->a);
    tv_set(map, key, child);
    return child;
}

void tv_push(tv *list, tv *item) {
    assert(list && list->type == TV_LIST && item);
    list->u.list.item =
        tv_grow(list->a, list->u.list.item, list->u.list.n, &list->u.list.cap, sizeof(tv *));
    list->u.list.item[list->u.list.n++] = item;
}

void tv_push_str(tv *list, const char *text) {
    assert(list && list->type == TV_LIST);
    tv_push(list, tv_new_str(list->a, TV_STR, text));
}

tv *tv_push_map(tv *list) {
    assert(list && list->type == TV_LIST);
    tv *m = tv_map(list->a);
    tv_push(list, m);
    return m;
}

tv_type tv_type_of(const tv *v) {
    assert(v);
    return v->type;
}

const tv *tv_get(const tv *map, const char *key) {
    if (!map || map->type != TV_MAP) return NULL;
    for (size_t i = 0; i < map->u.map.n; i++)
        if (strcmp(map->u.map.ent[i].key, key) == 0) return map->u.map.ent[i].val;
    return NULL;
}

size_t tv_len(const tv *v) {
    if (!v) return 0;
    if (v->type == TV_LIST) return v->u.list.n;
    if (v->type == TV_MAP) return v->u.map.n;
    return 0;
}

const tv *tv_at(const tv *list, size_t i) {
    if (!list || list->type != TV_LIST || i >= list->u.list.n) return NULL;
    return list->u.list.item[i];
}

const char *tv_str(const tv *v) {
    if (v && (v->type == TV_STR || v->type == TV_HTML)) return v->u.s;
    return NULL;
}

long long tv_int(const tv *v) {
    if (!v) return 0;
    if (v->type == TV_INT) return v->u.i;
    if (v->type == TV_BOOL) return v->u.b;
    return 0;
}

bool tv_truthy(const tv *v) {
    if (!v) return false;
    switch (v->type) {
    case TV_STR:
    case TV_HTML:
        return v->u.s[0] != '\0';
    case TV_INT:
        return v->u.i != 0;
    case TV_BOOL:
        return v->u.b;
    case TV_LIST:
        return v->u.list.n > 0;
    case TV_MAP:
        return true;
    }
    return false;
}
