/*
 * router: matching a decoded request path against the registered route patterns (the
 * public registration API is in http.h; this is the lookup the server uses).
 *
 * Routes form a tree of path segments. At each level a literal child is tried before a
 * parameter child, and a trailing "{name...}" child last, with backtracking, so
 * "/places/new" beats "/places/{id}" whatever the order of registration.
 */
#ifndef CG_HTTP_ROUTER_H
#define CG_HTTP_ROUTER_H

#include <stddef.h>

#include "core/arena.h"
#include "http/form.h"
#include "http/http.h"

typedef struct http_route_match {
    http_handler handler;   /* NULL unless status is 200 */
    const char *pattern;    /* the matched pattern (also for 405) */
    const void *data;       /* route data from http_route_ex */
    int allowed;            /* methods the path accepts (HEAD included with GET) */
    http_field_list params; /* route parameters, values from segs */
} http_route_match;

/* Finds the route for method and the decoded segments segs[0..nsegs) of a path ("/"
 * has zero segments; a trailing slash gives a final empty segment). Returns 200 and
 * fills m when found; 405 when the path matches but not the method (m->allowed says
 * which); 404 when nothing matches. Parameter values point into segs. */
int http_router_match(const http_router *router, arena *a, int method, char **segs, size_t nsegs,
                      http_route_match *m);

/* Formats allowed methods as an Allow header value ("GET, HEAD, POST"). */
const char *http_allow_header(arena *a, int allowed);

#endif
