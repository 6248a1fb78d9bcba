/*
 * http: the web server layer — requests, responses, the router, the libmicrohttpd
 * server adapter and in-process dispatch for tests.
 *
 * A request arrives, is parsed completely (path, query, headers, cookies, body, form)
 * and validated before any application code runs: malformed percent-encoding, invalid
 * UTF-8 and bodies over the caps are answered by the server itself (400/413 through the
 * error hook). Then the router picks a handler, the application's `before` hook runs
 * (sessions, CSRF, language), and finally the handler fills in the response.
 *
 * Ownership, one rule for the whole API: everything reachable from an http_request or
 * http_response (strings, fields, uploads, headers, the body) lives in the request's
 * arena and is valid until the request completes; the server frees it in one place.
 * Handlers never free. Strings handed to response functions are copied, except where a
 * function says it takes ownership.
 *
 * Threads: handlers run on the server's thread pool, several at once; a request and its
 * response are only ever touched by one thread.
 */
#ifndef CG_HTTP_HTTP_H
#define CG_HTTP_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "core/buf.h"

/* Methods are bit flags so that a route can accept several. */
enum http_method {
    HTTP_GET = 1 << 0,
    HTTP_HEAD = 1 << 1,
    HTTP_POST = 1 << 2,
    HTTP_PUT = 1 << 3,
    HTTP_DELETE = 1 << 4,
    HTTP_PATCH = 1 << 5,
    HTTP_OPTIONS = 1 << 6,
    HTTP_ANY = (1 << 7) - 1
};

typedef struct http_request http_request;
typedef struct http_response http_response;
typedef struct http_router http_router;
typedef struct http_server http_server;
typedef struct http_request_priv http_request_priv;

/* A name/value pair: a query or form field, a cookie, a route parameter, a header.
 * value is NUL-terminated; len is its length in bytes. Text fields from outside are
 * valid UTF-8 without NUL bytes (the server checked). */
typedef struct http_field {
    const char *name;
    const char *value;
    size_t len;
} http_field;

/* A file part of a multipart/form-data body. data is NOT checked for UTF-8 (files are
 * bytes) but is NUL-terminated for convenience; filename is valid UTF-8 ("" when the
 * browser sent none); content_type is "application/octet-stream" when absent. */
typedef struct http_upload {
    const char *field;
    const char *filename;
    const char *content_type;
    const char *data;
    size_t len;
} http_upload;

/* What a handler reads. Fields marked "slot" are for the application to set. */
struct http_request {
    arena *arena;             /* request-scoped; freed by the server at completion */
    int method;               /* one HTTP_* flag */
    const char *method_name;  /* "GET", "POST", ... */
    const char *path;         /* percent-decoded, valid UTF-8, starts with "/" */
    const char *raw_target;   /* the request-target as received, e.g. "/a%20b?x=1" */
    const char *query_string; /* raw text after '?', "" when none */
    const char *remote_addr;  /* client IP address as text */
    const char *route;        /* pattern of the matched route, NULL when none matched */
    const void *route_data;   /* data given to http_route_ex, NULL otherwise */
    const char *body;         /* raw request body (NUL-terminated), "" when none */
    size_t body_len;
    void *app;               /* the application context from http_server_config */
    void *user;              /* slot: e.g. the signed-in session, set by `before` */
    const char *lang;        /* slot: the language chosen by `before`, e.g. "cy" */
    http_request_priv *priv; /* server-internal */
};

/* Handlers fill in resp; the server sends it when the handler returns. */
typedef void (*http_handler)(http_request *req, http_response *resp);

/* ---- Request lookups. Each returns NULL when absent. Names are case-sensitive except
 * header names. When a name occurs more than once, the first occurrence is returned;
 * the _count and _at functions iterate over all of them in order of arrival. */

const char *http_header(const http_request *req, const char *name);
const char *http_query(const http_request *req, const char *name);
/* Text fields of an application/x-www-form-urlencoded or multipart/form-data body. */
const char *http_form(const http_request *req, const char *name);
/* Route parameter {name} of the matched route. */
const char *http_param(const http_request *req, const char *name);
const char *http_cookie(const http_request *req, const char *name);

size_t http_query_count(const http_request *req);
const http_field *http_query_at(const http_request *req, size_t i);
size_t http_form_count(const http_request *req);
const http_field *http_form_at(const http_request *req, size_t i);
size_t http_header_count(const http_request *req);
const http_field *http_header_at(const http_request *req, size_t i);
size_t http_upload_count(const http_request *req);
const http_upload *http_upload_at(const http_request *req, size_t i);
/* The first file part sent under field name, or NULL. */
const http_upload *http_upload_find(const http_request *req, const char *field);

/* ---- Responses. A fresh response is 200, text/html; charset=utf-8, empty body. */

void http_status(http_response *resp, int code);
/* Appends a header. If a header of that name (case-insensitive) was set by default (the
 * security headers, Cache-Control), the handler's value replaces the default. */
void http_header_add(http_response *resp, const char *name, const char *value);
/* Replaces every header of that name (or adds it); value NULL removes the header,
 * including a default one (e.g. X-Frame-Options for an embeddable widget). */
void http_header_set(http_response *resp, const char *name, const char *value);

/* Cookie attributes. A zeroed struct (or NULL) gives the safe defaults: Path=/,
 * HttpOnly, SameSite=Lax, not Secure, a session cookie. */
typedef struct http_cookie_opts {
    long max_age;          /* seconds; 0 = session cookie (no Max-Age) */
    bool script_readable;  /* true drops HttpOnly (rarely right) */
    const char *same_site; /* "Lax" (default), "Strict" or "None" */
    bool secure;           /* add Secure (set this behind TLS) */
    const char *path;      /* default "/" */
} http_cookie_opts;

/* Adds a Set-Cookie header. name must be a cookie token and value must contain only
 * cookie-octets (RFC 6265: no space, quote, comma, semicolon, backslash or control
 * characters); anything else is a programmer error (assert). */
void http_cookie_set(http_response *resp, const char *name, const char *value,
                     const http_cookie_opts *opts);
/* Tells the browser to delete the cookie (Max-Age=0) at path (NULL = "/"). */
void http_cookie_clear(http_response *resp, const char *name, const char *path);

/* Sets the body, copying data[0..len) into the request arena. */
void http_body(http_response *resp, const char *content_type, const void *data, size_t len);
/* Sets the body to malloc'd data and takes ownership (freed with free() when sent). */
void http_body_take(http_response *resp, const char *content_type, char *data, size_t len);
/* Status + text/html body from a NUL-terminated string (copied). */
void http_html(http_response *resp, int status, const char *html);
/* Status + text/html body taken from a buffer (ownership moves; b is left empty). */
void http_html_buf(http_response *resp, int status, buf *b);
/* Status + application/json body. Takes ownership of json (decref'd here), serialised
 * compactly with jansson; NULL json gives "null". */
void http_json(http_response *resp, int status, json_t *json);
/* Status + text/plain; charset=utf-8 body (copied). */
void http_text(http_response *resp, int status, const char *text);
/* A redirect (301/302/303/307/308) to location with an empty body. */
void http_redirect(http_response *resp, int status, const char *location);
/* Renders an error page through the server's error hook (or the minimal built-in page)
 * — use it for 403/404 from inside handlers and the before hook so that every error
 * page looks the same. message is shown to the user. */
void http_error(http_request *req, http_response *resp, int status, const char *message);

/* Reading a response back (for tests and the access log). */
int http_response_status(const http_response *resp);
/* The first header of that name (case-insensitive), or NULL. */
const char *http_response_header(const http_response *resp, const char *name);
/* The n-th (0-based) header of that name, e.g. several Set-Cookie headers, or NULL. */
const char *http_response_header_nth(const http_response *resp, const char *name, size_t n);
const char *http_response_body(const http_response *resp, size_t *len);

/* ---- Router. Patterns are absolute paths whose segments are literal text or a
 * parameter "{name}" that matches one non-empty segment (percent-decoded, so it may
 * contain '/' if the client encoded it as %2F). A pattern may end in "{name...}" to
 * match the rest of the path (one or more segments). At each segment, a literal match
 * beats a parameter. No route for the path -> 404; a route for the path but not the
 * method -> 405 with an Allow header. GET routes also answer HEAD (body dropped). */

http_router *http_router_new(void);
void http_router_free(http_router *router);
/* Registers handler for methods (HTTP_* flags OR'ed) on pattern. A malformed pattern or
 * a method already registered for the same pattern is a programmer error: it logs and
 * aborts at start-up. The pattern string is copied. */
void http_route(http_router *router, int methods, const char *pattern, http_handler handler);
/* As http_route, with data the handler and `before` see as req->route_data (e.g. the
 * role a page requires). data is borrowed and must outlive the router. */
void http_route_ex(http_router *router, int methods, const char *pattern, http_handler handler,
                   const void *data);

/* ---- Server configuration (also the input of http_dispatch). Zero fields take the
 * defaults given. */
typedef struct http_server_config {
    const char *listen;  /* "host:port", "[v6]:port" or ":port" (all IPv4 addresses);
                            port 0 picks a free port. Default "127.0.0.1:8080". */
    unsigned threads;    /* MHD thread pool size; default 4 */
    http_router *router; /* borrowed; must outlive the server */
    void *app;           /* copied into every req->app */

    size_t max_body;       /* bytes; over it -> 413 and the connection closed. 1 MiB */
    size_t max_fields;     /* form + query fields per request; over -> 413. 256 */
    size_t max_field_size; /* bytes per text field (uploads are bounded by max_body);
                              over -> 413. 64 KiB */
    unsigned timeout;      /* idle connection timeout in seconds; default 10 */
    unsigned max_connections; /* open connections in all; default 1000 */
    unsigned per_ip_connections; /* open connections from one address; default 32;
                                    UINT_MAX = no limit (behind a proxy all
                                    connections come from the proxy) */

    const char *static_dir;    /* directory served under static_prefix, or NULL */
    const char *static_prefix; /* URL prefix ending in '/', default "/static/" */
    unsigned static_max_age;   /* Cache-Control max-age for static files; default 3600 */

    /* Runs after parsing and routing, before the handler, for every request that parsed
     * (also when no route matched: then req->route is NULL and the server renders 404
     * or 405 afterwards). Return non-zero when resp is already complete (e.g. a 403 for
     * a missing CSRF token); the handler is then skipped. Not run for static files or
     * for requests rejected by the parser (400/413). */
    int (*before)(http_request *req, http_response *resp);
    /* Renders an error page into resp for status 400/403/404/405/413/500. resp arrives
     * with the status already set. NULL: a minimal plain page. */
    void (*error)(http_request *req, http_response *resp, int status, const char *message);
    bool access_log; /* one log_info line per request */
    /* Behind a reverse proxy (nginx, a load balancer) every connection comes from the
     * proxy; set this to take req->remote_addr from the last address the proxy
     * appended to X-Forwarded-For (ignored when that is not an IP address). Leave it
     * off when clients connect directly, or they could pick their own address. */
    bool trust_forwarded;
} http_server_config;

/* Starts serving. Returns NULL and a message in err on failure (bad listen address,
 * port in use). cfg is copied; the router, app and static_dir strings are borrowed. */
http_server *http_server_start(const http_server_config *cfg, char *err, size_t errlen);
/* The port actually bound (useful with port 0). */
unsigned http_server_port(const http_server *s);
/* Stops accepting connections, waits (up to 10 s) for requests in flight to complete,
 * closes everything and frees s. Safe to call from the main thread after a signal. */
void http_server_stop(http_server *s);

/* ---- In-process dispatch (h2o style): runs a request through exactly the path a
 * socket request takes — parsing, caps, static files, routing, before hook, handler,
 * error hook, security headers — without a socket. For feature unit tests. */
typedef struct http_fake_request {
    int method;                 /* HTTP_* flag; 0 = GET */
    const char *path;           /* raw request-target as on the wire: percent-encoded,
                                   may include "?query" */
    const char *query;          /* optional raw query, appended as "?query" */
    const char *const *headers; /* NULL or a NULL-terminated list name, value, name, ... */
    const char *body;           /* NULL for none */
    size_t body_len;            /* 0 with a non-NULL body means strlen(body) */
    const char *remote_addr;    /* default "127.0.0.1" */
} http_fake_request;

/* Returns the response the server would send (for HEAD, with the body dropped). The
 * caller frees it with http_response_free, which also frees the request's arena. */
http_response *http_dispatch(const http_server_config *cfg, const http_fake_request *fr);
void http_response_free(http_response *resp);

/* "GET" for HTTP_GET etc.; HTTP_* for a method name, 0 for an unknown one. */
const char *http_method_name(int method);
int http_method_parse(const char *name);
/* The standard reason phrase for a status ("Not Found"), "" when unknown. */
const char *http_reason(int status);

#endif
