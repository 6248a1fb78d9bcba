/*
 * router: a tree of path segments (see router.h and http.h).
 *
 * Each node is one segment of some pattern: literal text, a "{name}" parameter or a
 * trailing "{name...}" rest parameter. A node where a pattern ends holds one handler
 * per method. Matching walks the tree depth-first in priority order (literal, then
 * parameter, then rest) and takes the first node that accepts the method; the methods
 * of every node the path reaches make up the Allow header of a 405.
 *
 * The router is built at start-up on one thread and only read afterwards, so matching
 * needs no locks.
 */
#include "http/router.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xalloc.h"

enum { NODE_LIT, NODE_PARAM, NODE_REST };
enum { NMETHODS = 7 };

typedef struct rnode {
    int kind;
    char *text; /* literal text, or the parameter name */
    struct rnode **kids;
    size_t nkids;
    char *pattern; /* set where a pattern ends */
    http_handler handlers[NMETHODS];
    const void *data[NMETHODS];
} rnode;

struct http_router {
    rnode root;
};

http_router *http_router_new(void) {
    http_router *r = xcalloc(1, sizeof *r);
    r->root.kind = NODE_LIT;
    r->root.text = xstrdup("");
    return r;
}

static void node_free(rnode *n) {
    for (size_t i = 0; i < n->nkids; i++) {
        node_free(n->kids[i]);
        free(n->kids[i]);
    }
    free(n->kids);
    free(n->text);
    free(n->pattern);
}

void http_router_free(http_router *router) {
    if (!router) return;
    node_free(&router->root);
    free(router);
}

static int method_index(int method) {
    for (int i = 0; i < NMETHODS; i++) {
        if (method == (1 << i)) return i;
    }
    return -1;
}

static int methods_of(const rnode *n) {
    int m = 0;
    for (int i = 0; i < NMETHODS; i++) {
        if (n->handlers[i]) m |= 1 << i;
    }
    if (m & HTTP_GET) m |= HTTP_HEAD;
    return m;
}

static _Noreturn void bad_pattern(const char *pattern, const char *why) {
    log_error("http_route: pattern \"%s\": %s", pattern, why);
    abort();
}

static int name_ok(const char *s, size_t n) {
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_')) {
            return 0;
        }
    }
    return 1;
}

static rnode *child(rnode *n, int kind, const char *text, size_t len, const char *pattern) {
    for (size_t i = 0; i < n->nkids; i++) {
        rnode *k = n->kids[i];
        if (k->kind != kind) continue;
        if (kind == NODE_LIT) {
            if (strlen(k->text) == len && memcmp(k->text, text, len) == 0) return k;
        } else {
            /* One parameter child per level: two names for the same position would make
             * http_param depend on registration order. */
            if (strlen(k->text) != len || memcmp(k->text, text, len) != 0) {
                bad_pattern(pattern, "parameter name differs from an earlier route's at "
                                     "the same position");
            }
            return k;
        }
    }
    rnode *k = xcalloc(1, sizeof *k);
    k->kind = kind;
    k->text = xstrndup(text, len);
    n->kids = xreallocarray(n->kids, n->nkids + 1, sizeof *n->kids);
    n->kids[n->nkids++] = k;
    return k;
}

void http_route_ex(http_router *router, int methods, const char *pattern, http_handler handler,
                   const void *data) {
    if (!pattern || pattern[0] != '/') bad_pattern(pattern ? pattern : "", "must start with /");
    if (!handler) bad_pattern(pattern, "no handler");
    if (methods <= 0 || (methods & ~HTTP_ANY)) bad_pattern(pattern, "bad method flags");
    rnode *n = &router->root;
    const char *p = pattern + 1;
    if (*pattern == '/' && pattern[1] == '\0') p = NULL; /* "/" has no segments */
    while (p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len >= 2 && p[0] == '{' && p[len - 1] == '}') {
            const char *name = p + 1;
            size_t nlen = len - 2;
            if (nlen > 3 && memcmp(name + nlen - 3, "...", 3) == 0) {
                if (slash) bad_pattern(pattern, "{name...} must be the last segment");
                if (!name_ok(name, nlen - 3)) bad_pattern(pattern, "bad parameter name");
                n = child(n, NODE_REST, name, nlen - 3, pattern);
            } else {
                if (!name_ok(name, nlen)) bad_pattern(pattern, "bad parameter name");
                n = child(n, NODE_PARAM, name, nlen, pattern);
            }
        } else {
            if (memchr(p, '{', len) || memchr(p, '}', len)) {
                bad_pattern(pattern, "braces inside a literal segment");
            }
            n = child(n, NODE_LIT, p, len, pattern);
        }
        p = slash ? slash + 1 : NULL;
    }
    for (int i = 0; i < NMETHODS; i++) {
        if (!(methods & (1 << i))) continue;
        if (n->handlers[i]) bad_pattern(pattern, "method registered twice");
        n->handlers[i] = handler;
        n->data[i] = data;
    }
    if (!n->pattern) n->pattern = xstrdup(pattern);
}

void http_route(http_router *router, int methods, const char *pattern, http_handler handler) {
    http_route_ex(router, methods, pattern, handler, NULL);
}

/* Search state: the binding of each level (segment index where a parameter starts). */
typedef struct search {
    int method;
    char **segs;
    size_t nsegs;
    const rnode **bound; /* parameter nodes along the current path */
    size_t *bound_at;
    size_t nbound;
    int allowed;
    const rnode *found;
    const rnode *first_path; /* first node reached by the path at all, for 405 */
    /* bindings of the winner, copied when found */
    const rnode **win_bound;
    size_t *win_at;
    size_t win_n;
} search;

static http_handler handler_for(const rnode *n, int method, const void **data) {
    int i = method_index(method);
    if (i < 0) return NULL;
    if (n->handlers[i]) {
        *data = n->data[i];
        return n->handlers[i];
    }
    if (method == HTTP_HEAD && n->handlers[0]) {
        *data = n->data[0];
        return n->handlers[0];
    }
    return NULL;
}

static int visit(search *s, const rnode *n, size_t i) {
    if (i == s->nsegs) {
        int m = methods_of(n);
        if (!m) return 0;
        s->allowed |= m;
        if (!s->first_path) s->first_path = n;
        const void *data;
        if (handler_for(n, s->method, &data)) {
            s->found = n;
            memcpy(s->win_bound, s->bound, s->nbound * sizeof *s->bound);
            memcpy(s->win_at, s->bound_at, s->nbound * sizeof *s->bound_at);
            s->win_n = s->nbound;
            return 1;
        }
        return 0;
    }
    const char *seg = s->segs[i];
    for (int pass = NODE_LIT; pass <= NODE_REST; pass++) {
        for (size_t k = 0; k < n->nkids; k++) {
            const rnode *c = n->kids[k];
            if (c->kind != pass) continue;
            if (pass == NODE_LIT) {
                if (strcmp(c->text, seg) != 0) continue;
                if (visit(s, c, i + 1)) return 1;
            } else if (pass == NODE_PARAM) {
                if (!*seg) continue;
                s->bound[s->nbound] = c;
                s->bound_at[s->nbound++] = i;
                int r = visit(s, c, i + 1);
                s->nbound--;
                if (r) return 1;
            } else {
                if (!*seg && i + 1 == s->nsegs) continue;
                s->bound[s->nbound] = c;
                s->bound_at[s->nbound++] = i;
                int r = visit(s, c, s->nsegs);
                s->nbound--;
                if (r) return 1;
            }
        }
    }
    return 0;
}

int http_router_match(const http_router *router, arena *a, int method, char **segs, size_t nsegs,
                      http_route_match *m) {
    memset(m, 0, sizeof *m);
    search s = {0};
    s.method = method;
    s.segs = segs;
    s.nsegs = nsegs;
    s.bound = arena_alloc(a, (nsegs + 1) * sizeof *s.bound);
    s.bound_at = arena_alloc(a, (nsegs + 1) * sizeof *s.bound_at);
    s.win_bound = arena_alloc(a, (nsegs + 1) * sizeof *s.win_bound);
    s.win_at = arena_alloc(a, (nsegs + 1) * sizeof *s.win_at);
    visit(&s, &router->root, 0);
    m->allowed = s.allowed;
    if (!s.found) {
        if (s.first_path) {
            m->pattern = s.first_path->pattern;
            return 405;
        }
        return 404;
    }
    m->pattern = s.found->pattern;
    m->handler = handler_for(s.found, method, &m->data);
    for (size_t b = 0; b < s.win_n; b++) {
        const rnode *pn = s.win_bound[b];
        size_t at = s.win_at[b];
        if (pn->kind == NODE_PARAM) {
            http_field_list_add(a, &m->params, pn->text, segs[at], strlen(segs[at]));
        } else {
            /* rest: the remaining decoded segments joined with '/' */
            size_t total = 0;
            for (size_t j = at; j < nsegs; j++) total += strlen(segs[j]) + 1;
            char *v = arena_alloc(a, total + 1);
            size_t o = 0;
            for (size_t j = at; j < nsegs; j++) {
                if (j > at) v[o++] = '/';
                size_t l = strlen(segs[j]);
                memcpy(v + o, segs[j], l);
                o += l;
            }
            v[o] = '\0';
            http_field_list_add(a, &m->params, pn->text, v, o);
        }
    }
    return 200;
}

const char *http_allow_header(arena *a, int allowed) {
    static const char *names[NMETHODS] = {"GET",    "HEAD",  "POST",   "PUT",
                                          "DELETE", "PATCH", "OPTIONS"};
    char *out = arena_alloc(a, 64);
    out[0] = '\0';
    for (int i = 0; i < NMETHODS; i++) {
        if (!(allowed & (1 << i))) continue;
        if (out[0]) strcat(out, ", ");
        strcat(out, names[i]);
    }
    return out;
}
