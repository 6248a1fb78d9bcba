/*
 * pipeline: the path every request takes, whether it came from a socket (server.c) or
 * from http_dispatch — validate the target, parse query, cookies and body under the
 * caps, serve static files, route, run the before hook and the handler, render errors.
 *
 * Keeping one pipeline for both means the in-process tests exercise exactly the code
 * that serves real clients; the transport only collects the raw request and sends the
 * response.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/utf8.h"
#include "core/xalloc.h"
#include "http/internal.h"
#include "http/router.h"

void http_config_normalise(const http_server_config *cfg, http_server_config *out) {
    *out = *cfg;
    if (!out->listen) out->listen = "127.0.0.1:8080";
    if (!out->threads) out->threads = HTTP_DEFAULT_THREADS;
    if (!out->max_body) out->max_body = HTTP_DEFAULT_MAX_BODY;
    if (!out->max_fields) out->max_fields = HTTP_DEFAULT_MAX_FIELDS;
    if (!out->max_field_size) out->max_field_size = HTTP_DEFAULT_MAX_FIELD_SIZE;
    if (!out->timeout) out->timeout = HTTP_DEFAULT_TIMEOUT;
    if (!out->max_connections) out->max_connections = HTTP_DEFAULT_MAX_CONNECTIONS;
    if (!out->per_ip_connections) out->per_ip_connections = HTTP_DEFAULT_PER_IP_CONNECTIONS;
    if (!out->static_prefix) out->static_prefix = "/static/";
    if (!out->static_max_age) out->static_max_age = HTTP_DEFAULT_STATIC_MAX_AGE;
}

http_exchange *http_exchange_new(const http_server_config *cfg, const char *raw_target) {
    http_exchange *ex = xcalloc(1, sizeof *ex);
    clock_gettime(CLOCK_MONOTONIC, &ex->start);
    arena_init(&ex->arena, 8192);
    buf_init(&ex->body, cfg->max_body);
    ex->priv.cfg = cfg;

    http_request *req = &ex->req;
    req->arena = &ex->arena;
    req->priv = &ex->priv;
    req->app = cfg->app;
    req->raw_target = arena_strdup(&ex->arena, raw_target ? raw_target : "");
    req->path = "/";
    req->query_string = "";
    req->method_name = "";
    req->body = "";
    req->remote_addr = "";

    http_response *resp = &ex->resp;
    resp->arena = &ex->arena;
    resp->status = 200;
    resp->body = "";
    resp->cfg = cfg;
    http_response_defaults(resp);
    return ex;
}

void http_exchange_header(http_exchange *ex, const char *name, const char *value) {
    http_field_list_add(&ex->arena, &ex->priv.headers, arena_strdup(&ex->arena, name),
                        arena_strdup(&ex->arena, value ? value : ""), value ? strlen(value) : 0);
}

/* The path part of the raw target with anything unprintable replaced, for the log. Query
 * strings are left out on purpose: they can carry tokens (reset links). */
static const char *log_path(http_exchange *ex) {
    if (ex->priv.segs || strcmp(ex->req.path, "/") != 0) return ex->req.path;
    const char *raw = ex->req.raw_target;
    size_t n = strcspn(raw, "?");
    if (n > 200) n = 200;
    char *p = arena_strndup(&ex->arena, raw, n);
    for (char *c = p; *c; c++) {
        if ((unsigned char)*c < 0x21 || (unsigned char)*c > 0x7E) *c = '?';
    }
    return p;
}

void http_exchange_free(http_exchange *ex) {
    if (!ex) return;
    if (ex->priv.cfg && ex->priv.cfg->access_log) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long long us = (long long)(now.tv_sec - ex->start.tv_sec) * 1000000 +
                       (now.tv_nsec - ex->start.tv_nsec) / 1000;
        log_info("%s %s %d %zu %lldus", *ex->req.method_name ? ex->req.method_name : "-",
                 log_path(ex), ex->resp.status, ex->resp.len, us);
    }
    free(ex->resp.owned);
    buf_free(&ex->body);
    arena_free(&ex->arena);
    free(ex);
}

/* Splits the raw target into decoded path segments and the raw query. Returns 0 or 400
 * with a message. */
static int parse_target(http_exchange *ex, char *err, size_t errlen) {
    arena *a = &ex->arena;
    const char *t = ex->req.raw_target;
    if (t[0] != '/') {
        snprintf(err, errlen, "The request target must be a path starting with \"/\".");
        return 400;
    }
    const char *q = strchr(t, '?');
    size_t plen = q ? (size_t)(q - t) : strlen(t);
    if (q) ex->req.query_string = q + 1;
    if (memchr(t, '#', plen)) {
        snprintf(err, errlen, "The path contains a fragment (#).");
        return 400;
    }
    /* "/" has no segments; otherwise every '/' starts one (so "/a/" is "a", ""). */
    size_t nsegs = 0;
    if (plen > 1) {
        for (size_t i = 0; i < plen; i++) nsegs += t[i] == '/';
    }
    char **segs = arena_alloc(a, (nsegs + 1) * sizeof *segs);
    char *path = arena_alloc(a, plen + 1);
    size_t pl = 0;
    const char *p = t + 1;
    const char *end = t + plen;
    for (size_t s = 0; s < nsegs; s++) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        size_t len = slash ? (size_t)(slash - p) : (size_t)(end - p);
        size_t dlen;
        if (http_pct_decode(a, p, len, 0, &segs[s], &dlen)) {
            snprintf(err, errlen, "The path has malformed percent-encoding.");
            return 400;
        }
        if (!utf8_valid_text(segs[s], dlen) || strpbrk(segs[s], "\t\r\n")) {
            snprintf(err, errlen, "The path is not valid UTF-8 text.");
            return 400;
        }
        path[pl++] = '/';
        memcpy(path + pl, segs[s], dlen);
        pl += dlen;
        p = slash ? slash + 1 : end;
    }
    if (pl == 0) path[pl++] = '/';
    path[pl] = '\0';
    ex->req.path = path;
    ex->priv.segs = segs;
    ex->priv.nsegs = nsegs;
    return 0;
}

static bool mime_is(const char *ctype, const char *mime) {
    size_t n = strlen(mime);
    if (strncasecmp(ctype, mime, n) != 0) return false;
    char c = ctype[n];
    return c == '\0' || c == ';' || c == ' ' || c == '\t';
}

/* Parses the query, the cookies and a form body. Returns 0 or 400/413. */
static int parse_inputs(http_exchange *ex, char *err, size_t errlen) {
    arena *a = &ex->arena;
    http_request_priv *pv = &ex->priv;
    const http_server_config *cfg = pv->cfg;
    http_form_limits lim = {cfg->max_fields, cfg->max_field_size};
    const char *qs = ex->req.query_string;
    int rc = http_parse_urlencoded(a, qs, strlen(qs), &lim, "query", &pv->query, err, errlen);
    if (rc) return rc;

    for (size_t i = 0; i < pv->headers.n; i++) {
        if (strcasecmp(pv->headers.items[i].name, "Cookie") == 0) {
            http_parse_cookies(a, pv->headers.items[i].value, &pv->cookies);
        }
    }

    ex->req.body = buf_cstr(&ex->body);
    ex->req.body_len = buf_len(&ex->body);
    const char *ctype = http_header(&ex->req, "Content-Type");
    if (!ctype || ex->req.body_len == 0) return 0;
    lim.max_fields = cfg->max_fields - pv->query.n; /* one budget for query and form */
    if (mime_is(ctype, "application/x-www-form-urlencoded")) {
        return http_parse_urlencoded(a, ex->req.body, ex->req.body_len, &lim, "form", &pv->form,
                                     err, errlen);
    }
    if (mime_is(ctype, "multipart/form-data")) {
        return http_parse_multipart(a, ctype, ex->req.body, ex->req.body_len, &lim, &pv->form,
                                    &pv->uploads, err, errlen);
    }
    return 0;
}

/* When the path is under the static prefix, returns the number of prefix segments and
 * sets *ok; the prefix "/static/" covers "/static/x" but not "/static" itself. */
static size_t static_prefix_len(const http_exchange *ex, bool *ok) {
    *ok = false;
    const http_server_config *cfg = ex->priv.cfg;
    if (!cfg->static_dir) return 0;
    const char *pre = cfg->static_prefix;
    size_t n = 0, s = 0;
    const char *p = pre + 1;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (s >= ex->priv.nsegs) return 0;
        const char *seg = ex->priv.segs[s];
        if (strlen(seg) != len || memcmp(seg, p, len) != 0) return 0;
        s++;
        n++;
        if (!slash) break;
        p = slash + 1;
    }
    if (s >= ex->priv.nsegs) return 0;
    *ok = true;
    return n;
}

/* The last address in X-Forwarded-For (the one our proxy appended), if it is an IP. */
static void forwarded_addr(http_exchange *ex) {
    const char *xff = NULL;
    /* several headers count as one comma-separated list: take the last one */
    for (size_t i = 0; i < ex->priv.headers.n; i++) {
        if (strcasecmp(ex->priv.headers.items[i].name, "X-Forwarded-For") == 0) {
            xff = ex->priv.headers.items[i].value;
        }
    }
    if (!xff) return;
    const char *comma = strrchr(xff, ',');
    const char *p = comma ? comma + 1 : xff;
    while (*p == ' ' || *p == '\t') p++;
    size_t n = strcspn(p, " \t");
    char addr[INET6_ADDRSTRLEN + 1];
    if (n == 0 || n >= sizeof addr) return;
    memcpy(addr, p, n);
    addr[n] = '\0';
    unsigned char bin[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, addr, bin) == 1 || inet_pton(AF_INET6, addr, bin) == 1) {
        ex->req.remote_addr = arena_strdup(&ex->arena, addr);
    }
}

void http_process(http_exchange *ex, const char *method_name) {
    http_request *req = &ex->req;
    http_response *resp = &ex->resp;
    const http_server_config *cfg = ex->priv.cfg;
    char err[256];

    req->method_name = arena_strdup(&ex->arena, method_name);
    req->method = http_method_parse(method_name);
    if (cfg->trust_forwarded) forwarded_addr(ex);

    /* A body over the cap was not read to the end, so the connection cannot be reused
     * whatever the answer. */
    if (ex->body_too_big) resp->close = true;
    int rc = parse_target(ex, err, sizeof err);
    if (!rc && ex->body_too_big) {
        snprintf(err, sizeof err, "The request body is larger than the limit of %zu bytes.",
                 cfg->max_body);
        rc = 413;
    }
    if (!rc) rc = parse_inputs(ex, err, sizeof err);
    if (rc) {
        http_error(req, resp, rc, err);
        return;
    }

    bool is_static;
    size_t pre = static_prefix_len(ex, &is_static);
    if (is_static) {
        if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
            http_header_set(resp, "Allow", "GET, HEAD");
            http_error(req, resp, 405, "Static files can only be fetched.");
            return;
        }
        http_static_serve(req, resp, ex->priv.segs + pre, ex->priv.nsegs - pre);
        return;
    }

    http_route_match m;
    int status = 404;
    if (cfg->router) {
        status = http_router_match(cfg->router, &ex->arena, req->method, ex->priv.segs,
                                   ex->priv.nsegs, &m);
    } else {
        memset(&m, 0, sizeof m);
    }
    ex->priv.params = m.params;
    if (status == 200) {
        req->route = m.pattern;
        req->route_data = m.data;
    }
    if (cfg->before && cfg->before(req, resp)) return;
    if (status == 404) {
        http_error(req, resp, 404, "There is no page at this address.");
    } else if (status == 405) {
        http_header_set(resp, "Allow", http_allow_header(&ex->arena, m.allowed));
        http_error(req, resp, 405, "This page does not accept that method.");
    } else {
        m.handler(req, resp);
    }
}

http_response *http_dispatch(const http_server_config *cfg, const http_fake_request *fr) {
    http_server_config *norm = xmalloc(sizeof *norm);
    http_config_normalise(cfg, norm);
    const char *path = fr->path ? fr->path : "/";
    char *target = NULL;
    if (fr->query) {
        size_t n = strlen(path) + strlen(fr->query) + 2;
        target = xmalloc(n);
        snprintf(target, n, "%s?%s", path, fr->query);
    }
    http_exchange *ex = http_exchange_new(norm, target ? target : path);
    free(target);
    ex->own_cfg = norm;
    ex->req.remote_addr = arena_strdup(&ex->arena, fr->remote_addr ? fr->remote_addr : "127.0.0.1");
    if (fr->headers) {
        for (const char *const *h = fr->headers; h[0] && h[1]; h += 2) {
            http_exchange_header(ex, h[0], h[1]);
        }
    }
    if (fr->body) {
        size_t len = fr->body_len ? fr->body_len : strlen(fr->body);
        if (buf_append(&ex->body, fr->body, len)) ex->body_too_big = true;
    }
    int method = fr->method ? fr->method : HTTP_GET;
    http_process(ex, http_method_name(method));
    if (method == HTTP_HEAD) {
        /* As on the wire: headers of the GET response, no body. */
        free(ex->resp.owned);
        ex->resp.owned = NULL;
        ex->resp.body = "";
        ex->resp.len = 0;
    }
    return &ex->resp;
}

void http_response_free(http_response *resp) {
    if (!resp) return;
    http_exchange *ex = (http_exchange *)((char *)resp - offsetof(http_exchange, resp));
    http_server_config *own = ex->own_cfg;
    http_exchange_free(ex);
    free(own);
}
