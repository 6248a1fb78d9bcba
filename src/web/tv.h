/*
 * tv: template values, the tree a handler fills for one page render.
 *
 * A handler builds a map of named values (strings, trusted HTML, integers, booleans,
 * nested maps and lists) and hands the root to tmpl_render(). Text is escaped when it
 * is written out; trusted HTML is a DISTINCT type that is written raw, and is only for
 * HTML the program built itself (a rendered partial page, an SVG chart from svg.h) —
 * never for anything that came from a user.
 *
 * Ownership: every node, key and string lives in the arena passed to tv_map()/tv_list()
 * (children use their parent's arena): strings handed to the setters are COPIED, so
 * the caller's storage may be reused at once. Nothing is freed individually; the tree
 * dies with the arena (normally the request's arena). A tree is not modified while it
 * is being rendered, and may be rendered by several threads at once.
 *
 * Setting a key that is already present replaces its value. Programmer errors (setting
 * on a non-map, pushing onto a non-list, NULL key) are asserts.
 */
#ifndef CG_WEB_TV_H
#define CG_WEB_TV_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"

typedef enum { TV_STR, TV_HTML, TV_INT, TV_BOOL, TV_LIST, TV_MAP } tv_type;

typedef struct tv tv;

/* New empty map / list allocated in a. */
tv *tv_map(arena *a);
tv *tv_list(arena *a);

/* Map setters. text/html NULL is stored as the empty string. */
void tv_set_str(tv *map, const char *key, const char *text);
void tv_set_strf(tv *map, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void tv_set_html(tv *map, const char *key, const char *trusted_html);
void tv_set_int(tv *map, const char *key, long long v);
void tv_set_bool(tv *map, const char *key, bool v);
/* Attaches child (a map or list built with tv_map/tv_list, or from another setter's
 * family) under key. child must live at least as long as map. */
void tv_set(tv *map, const char *key, tv *child);
/* Convenience: create an empty map / list in map's arena, attach it under key and
 * return it for filling. */
tv *tv_set_map(tv *map, const char *key);
tv *tv_set_list(tv *map, const char *key);

/* List appenders. */
void tv_push(tv *list, tv *item);
void tv_push_str(tv *list, const char *text);
/* Creates an empty map in list's arena, appends it and returns it for filling: the
 * usual way to build the rows of an {{#each}}. */
tv *tv_push_map(tv *list);

/* Readers (used by the renderer and by tests). tv_get returns NULL when map is not a
 * map or has no such key; dotted paths are NOT interpreted here. */
tv_type tv_type_of(const tv *v);
const tv *tv_get(const tv *map, const char *key);
/* Number of items in a list or entries in a map; 0 for scalars. */
size_t tv_len(const tv *v);
/* The i-th item of a list (NULL when out of range or not a list). */
const tv *tv_at(const tv *list, size_t i);
/* The string of a TV_STR or TV_HTML value, else NULL. */
const char *tv_str(const tv *v);
/* The integer of a TV_INT (a TV_BOOL gives 0 or 1), else 0. */
long long tv_int(const tv *v);
/* Template truthiness: non-empty string/html, non-zero int, true bool, non-empty
 * list, any map. NULL (missing) is false. */
bool tv_truthy(const tv *v);

#endif
