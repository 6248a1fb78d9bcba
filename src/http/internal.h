/*
 * internal: what the files of src/http share but nothing outside may use — the
 * exchange (one request with its response and arena), the request pipeline that the
 * socket server and http_dispatch both run, and static file serving.
 */
#ifndef CG_HTTP_INTERNAL_H
#define CG_HTTP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core/arena.h"
#include "core/buf.h"
#include "http/form.h"
#include "http/http.h"

/* Defaults for zero fields of http_server_config. */
enum {
    HTTP_DEFAULT_THREADS = 4,
    HTTP_DEFAULT_MAX_BODY = 1 << 20,
    HTTP_DEFAULT_MAX_FIELDS = 256,
    HTTP_DEFAULT_MAX_FIELD_SIZE = 64 << 10,
    HTTP_DEFAULT_TIMEOUT = 10,
    HTTP_DEFAULT_MAX_CONNECTIONS = 1000,
    HTTP_DEFAULT_PER_IP_CONNECTIONS = 32,
    HTTP_DEFAULT_STATIC_MAX_AGE = 3600
};

typedef struct http_header_entry {
    const char *name;
    const char *value;
    bool dflt; /* a default the handler may replace */
} http_header_entry;

struct http_response {
    arena *arena;
    int status;
    http_header_entry *headers;
    size_t nheaders, capheaders;
    const char *body;
    size_t len;
    char *owned;   /* malloc'd body to free with the exchange */
    bool close;    /* ask the transport to close the connection */
    bool in_error; /* inside the error hook: no recursion */
    const http_server_config *cfg;
};

struct http_request_priv {
    const http_server_config *cfg;
    http_field_list headers, query, form, params, cookies;
    http_upload_list uploads;
    char **segs; /* decoded path segments */
    size_t nsegs;
};

/* One request/response pair and everything it owns, freed in one place. */
typedef struct http_exchange {
    arena arena;
    http_request req;
    http_request_priv priv;
    http_response resp;
    struct timespec start;
    /* filled by the transport before http_process */
    buf body;                    /* request body, capped at max_body */
    bool body_too_big;           /* the body passed max_body (what was read is discarded) */
    int state;                   /* transport-private progress */
    size_t discarded;            /* transport-private: bytes dropped after the cap */
    http_server_config *own_cfg; /* http_dispatch's normalised copy, freed with it */
} http_exchange;

/* Copies cfg into out with every zero field replaced by its default. */
void http_config_normalise(const http_server_config *cfg, http_server_config *out);

/* A new exchange for a request with this raw target; cfg must be normalised and must
 * outlive the exchange. */
http_exchange *http_exchange_new(const http_server_config *cfg, const char *raw_target);
/* Records a request header (copied). */
void http_exchange_header(http_exchange *ex, const char *name, const char *value);
/* Runs the whole pipeline on a received request (method name as sent, headers and body
 * already recorded) and leaves the response in ex->resp. */
void http_process(http_exchange *ex, const char *method_name);
/* Writes the access log line (when enabled) and frees the exchange and all it owns. */
void http_exchange_free(http_exchange *ex);

/* Serves a static file for a GET/HEAD under the static prefix; rest are the decoded
 * segments after the prefix. */
void http_static_serve(http_request *req, http_response *resp, char **rest, size_t nrest);

/* Adds the default security headers and Cache-Control: no-store to a fresh response. */
void http_response_defaults(http_response *resp);

/* A copy of s cut to at most max bytes at a UTF-8 character boundary, for messages. */
const char *http_clip(arena *a, const char *s, size_t max);

#endif
