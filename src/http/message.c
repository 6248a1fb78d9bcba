/*
 * message: reading requests and building responses (see http.h) — the lookups a
 * handler makes, the response setters, the default security headers, cookies, and the
 * error page path shared by the server, the router and handlers.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "http/internal.h"

/* ---- request lookups ---- */

const char *http_header(const http_request *req, const char *name) {
    const http_field_list *l = &req->priv->headers;
    for (size_t i = 0; i < l->n; i++) {
        if (strcasecmp(l->items[i].name, name) == 0) return l->items[i].value;
    }
    return NULL;
}

static const char *find_value(const http_field_list *l, const char *name) {
    const http_field *f = http_field_list_find(l, name);
    return f ? f->value : NULL;
}

const char *http_query(const http_request *req, const char *name) {
    return find_value(&req->priv->query, name);
}
const char *http_form(const http_request *req, const char *name) {
    return find_value(&req->priv->form, name);
}
const char *http_param(const http_request *req, const char *name) {
    return find_value(&req->priv->params, name);
}
const char *http_cookie(const http_request *req, const char *name) {
    return find_value(&req->priv->cookies, name);
}

static const http_field *at(const http_field_list *l, size_t i) {
    return i < l->n ? &l->items[i] : NULL;
}

size_t http_query_count(const http_request *req) { return req->priv->query.n; }
const http_field *http_query_at(const http_request *req, size_t i) {
    return at(&req->priv->query, i);
}
size_t http_form_count(const http_request *req) { return req->priv->form.n; }
const http_field *http_form_at(const http_request *req, size_t i) {
    return at(&req->priv->form, i);
}
size_t http_header_count(const http_request *req) { return req->priv->headers.n; }
const http_field *http_header_at(const http_request *req, size_t i) {
    return at(&req->priv->headers, i);
}
size_t http_upload_count(const http_request *req) { return req->priv->uploads.n; }
const http_upload *http_upload_at(const http_request *req, size_t i) {
    const http_upload_list *l = &req->priv->uploads;
    return i < l->n ? &l->items[i] : NULL;
}
const http_upload *http_upload_find(const http_request *req, const char *field) {
    const http_upload_list *l = &req->priv->uploads;
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->items[i].field, field) == 0) return &l->items[i];
    }
    return NULL;
}

/* ---- response headers ---- */

static void header_remove(http_response *resp, const char *name, bool only_defaults) {
    size_t j = 0;
    for (size_t i = 0; i < resp->nheaders; i++) {
        http_header_entry *h = &resp->headers[i];
        if (strcasecmp(h->name, name) == 0 && (!only_defaults || h->dflt)) continue;
        resp->headers[j++] = *h;
    }
    resp->nheaders = j;
}

static void header_push(http_response *resp, const char *name, const char *value, bool dflt) {
    /* Names come from code. Values may carry user input (a redirect target from a
     * query); a CR or LF there would let a client inject headers, so control characters
     * are replaced rather than trusted to every caller's validation. */
    assert(*name && !strpbrk(name, "\r\n: "));
    char *v = arena_strdup(resp->arena, value);
    bool replaced = false;
    for (char *c = v; *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7F) {
            *c = ' ';
            replaced = true;
        }
    }
    if (replaced) log_warn("http: control characters replaced in response header %s", name);
    if (resp->nheaders == resp->capheaders) {
        size_t cap = resp->capheaders ? resp->capheaders * 2 : 16;
        http_header_entry *h = arena_alloc(resp->arena, cap * sizeof *h);
        if (resp->nheaders) memcpy(h, resp->headers, resp->nheaders * sizeof *h);
        resp->headers = h;
        resp->capheaders = cap;
    }
    resp->headers[resp->nheaders++] = (http_header_entry){arena_strdup(resp->arena, name), v, dflt};
}

void http_header_add(http_response *resp, const char *name, const char *value) {
    header_remove(resp, name, true);
    header_push(resp, name, value, false);
}

void http_header_set(http_response *resp, const char *name, const char *value) {
    header_remove(resp, name, false);
    if (value) header_push(resp, name, value, false);
}

void http_response_defaults(http_response *resp) {
    static const char *defaults[][2] = {
        {"Content-Type", "text/html; charset=utf-8"},
        {"Content-Security-Policy",
         "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
         "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"},
        {"X-Content-Type-Options", "nosniff"},
        {"Referrer-Policy", "same-origin"},
        {"X-Frame-Options", "DENY"},
        {"Permissions-Policy", "camera=(), microphone=(), geolocation=()"},
        {"Cache-Control", "no-store"},
    };
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
        header_push(resp, defaults[i][0], defaults[i][1], true);
    }
}

/* ---- status and body ---- */

void http_status(http_response *resp, int code) {
    assert(code >= 100 && code <= 599);
    resp->status = code;
}

static void body_set(http_response *resp, const char *ctype, const char *data, size_t len,
                     char *owned) {
    free(resp->owned);
    resp->owned = owned;
    resp->body = data;
    resp->len = len;
    if (ctype) http_header_set(resp, "Content-Type", ctype);
}

void http_body(http_response *resp, const char *content_type, const void *data, size_t len) {
    char *copy = arena_alloc(resp->arena, len + 1);
    if (len) memcpy(copy, data, len);
    copy[len] = '\0';
    body_set(resp, content_type, copy, len, NULL);
}

void http_body_take(http_response *resp, const char *content_type, char *data, size_t len) {
    body_set(resp, content_type, data, len, data);
}

void http_html(http_response *resp, int status, const char *html) {
    http_status(resp, status);
    http_body(resp, "text/html; charset=utf-8", html, strlen(html));
}

void http_html_buf(http_response *resp, int status, buf *b) {
    http_status(resp, status);
    size_t len;
    char *data = buf_detach(b, &len);
    http_body_take(resp, "text/html; charset=utf-8", data, len);
}

void http_json(http_response *resp, int status, json_t *json) {
    http_status(resp, status);
    char *s = json ? json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (json) json_decref(json);
    if (!s) s = xstrdup("null");
    http_body_take(resp, "application/json", s, strlen(s));
}

void http_text(http_response *resp, int status, const char *text) {
    http_status(resp, status);
    http_body(resp, "text/plain; charset=utf-8", text, strlen(text));
}

void http_redirect(http_response *resp, int status, const char *location) {
    assert(status == 301 || status == 302 || status == 303 || status == 307 || status == 308);
    http_status(resp, status);
    http_header_set(resp, "Location", location);
    body_set(resp, NULL, "", 0, NULL);
}

void http_error(http_request *req, http_response *resp, int status, const char *message) {
    http_status(resp, status);
    body_set(resp, NULL, "", 0, NULL);
    const http_server_config *cfg = req->priv->cfg;
    if (cfg && cfg->error && !resp->in_error) {
        resp->in_error = true;
        cfg->error(req, resp, status, message ? message : "");
        resp->in_error = false;
        return;
    }
    /* The built-in page is plain text so that nothing in message needs escaping. */
    char *page = arena_sprintf(resp->arena, "%d %s\n\n%s\n", status, http_reason(status),
                               message ? message : "");
    http_body(resp, "text/plain; charset=utf-8", page, strlen(page));
}

/* ---- cookies ---- */

static bool cookie_octets(const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p <= 0x20 || *p >= 0x7F || *p == '"' || *p == ',' || *p == ';' || *p == '\\') {
            return false;
        }
    }
    return true;
}

void http_cookie_set(http_response *resp, const char *name, const char *value,
                     const http_cookie_opts *opts) {
    static const http_cookie_opts zero;
    if (!opts) opts = &zero;
    assert(*name && cookie_octets(name) && !strchr(name, '='));
    assert(cookie_octets(value));
    const char *same = opts->same_site ? opts->same_site : "Lax";
    assert(strcmp(same, "Lax") == 0 || strcmp(same, "Strict") == 0 || strcmp(same, "None") == 0);
    char age[48] = "";
    if (opts->max_age > 0)
        snprintf(age, sizeof age, "; Max-Age=%ld", opts->max_age);
    else if (opts->max_age < 0)
        snprintf(age, sizeof age, "; Max-Age=0");
    const char *v =
        arena_sprintf(resp->arena, "%s=%s; Path=%s%s%s; SameSite=%s%s", name, value,
                      opts->path ? opts->path : "/", age, opts->script_readable ? "" : "; HttpOnly",
                      same, opts->secure || strcmp(same, "None") == 0 ? "; Secure" : "");
    header_push(resp, "Set-Cookie", v, false);
}

void http_cookie_clear(http_response *resp, const char *name, const char *path) {
    http_cookie_opts o = {.max_age = -1, .path = path};
    http_cookie_set(resp, name, "", &o);
}

/* ---- reading responses back ---- */

int http_response_status(const http_response *resp) { return resp->status; }

const char *http_response_header_nth(const http_response *resp, const char *name, size_t n) {
    for (size_t i = 0; i < resp->nheaders; i++) {
        if (strcasecmp(resp->headers[i].name, name) == 0 && n-- == 0) {
            return resp->headers[i].value;
        }
    }
    return NULL;
}

const char *http_response_header(const http_response *resp, const char *name) {
    return http_response_header_nth(resp, name, 0);
}

const char *http_response_body(const http_response *resp, size_t *len) {
    if (len) *len = resp->len;
    return resp->body ? resp->body : "";
}

/* ---- names ---- */

static const char *method_names[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};

const char *http_method_name(int method) {
    for (int i = 0; i < 7; i++) {
        if (method == (1 << i)) return method_names[i];
    }
    return "?";
}

int http_method_parse(const char *name) {
    for (int i = 0; i < 7; i++) {
        if (strcmp(name, method_names[i]) == 0) return 1 << i;
    }
    return 0;
}

const char *http_reason(int status) {
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    default:
        return "";
    }
}
