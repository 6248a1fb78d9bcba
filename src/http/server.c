/*
 * server: the adapter between GNU libmicrohttpd (0.9.75 API) and the request pipeline.
 *
 * libmicrohttpd owns the sockets and the thread pool; this file turns its callbacks
 * into one http_exchange per request:
 *   - the URI log callback sees the raw request-target first (before libmicrohttpd
 *     unescapes anything) and creates the exchange, so our own strict decoder decides
 *     what a valid path is;
 *   - the access handler collects headers, then the body into a capped buffer, and once
 *     the body is complete runs http_process and queues the response;
 *   - the completed callback writes the access log line and frees the exchange — the one
 *     place where request memory is released.
 * A body announced (Content-Length) over the cap is answered with 413 at once, before
 * it is read, with Connection: close; a chunked body that passes the cap is read and
 * dropped up to a limit, then answered the same way, or the connection is cut if the
 * client keeps sending far beyond it.
 */
#include <limits.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/parse.h"
#include "core/xalloc.h"
#include "http/internal.h"

/* A chunked body over the cap is drained (so the client can read the 413) up to this
 * many bytes past the cap; beyond that the connection is dropped. */
enum { DRAIN_LIMIT = 4 << 20 };
enum { CONNECTION_MEMORY = 64 << 10 }; /* request line + headers must fit */
enum { STOP_WAIT_MS = 10000 };

struct http_server {
    struct MHD_Daemon *d;
    http_server_config cfg;
    char listen[256];
    atomic_int active; /* requests between URI callback and completion */
    char last_error[256];
};

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    http_server *s = cls;
    char msg[256];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = '\0';
    if (s) snprintf(s->last_error, sizeof s->last_error, "%s", msg);
    log_warn("http: %s", msg);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn) {
    http_server *s = cls;
    atomic_fetch_add(&s->active, 1);
    return http_exchange_new(&s->cfg, uri);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe) {
    http_server *s = cls;
    http_exchange *ex = *req_cls;
    if (!ex) return;
    *req_cls = NULL;
    if (!ex->state) {
        /* Refused by libmicrohttpd itself (URL or headers too big, malformed request)
         * or abandoned by the client: there is no response of ours to log. */
        ex->priv.cfg = NULL;
    }
    http_exchange_free(ex);
    atomic_fetch_sub(&s->active, 1);
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value) {
    http_exchange_header(cls, key, value);
    return MHD_YES;
}

static void remote_addr(http_exchange *ex, struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char addr[INET6_ADDRSTRLEN] = "";
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET) {
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, addr,
                      sizeof addr);
        } else if (sa->sa_family == AF_INET6) {
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, addr,
                      sizeof addr);
        }
    }
    ex->req.remote_addr = arena_strdup(&ex->arena, addr);
}

static enum MHD_Result respond(struct MHD_Connection *conn, http_exchange *ex, const char *method) {
    http_process(ex, method);
    http_response *resp = &ex->resp;
    /* The body lives in the exchange until the completed callback, after sending. */
    struct MHD_Response *r =
        MHD_create_response_from_buffer(resp->len, (void *)resp->body, MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    for (size_t i = 0; i < resp->nheaders; i++) {
        if (MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value) != MHD_YES) {
            log_warn("http: header %s refused by libmicrohttpd", resp->headers[i].name);
        }
    }
    if (resp->close) MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    ex->state = 2;
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls) {
    http_server *s = cls;
    http_exchange *ex = *req_cls;
    if (!ex) {
        /* Not expected (the URI callback runs first), but never serve without one. */
        atomic_fetch_add(&s->active, 1);
        ex = http_exchange_new(&s->cfg, url);
        *req_cls = ex;
    }
    if (ex->state == 2) {
        /* A response is queued already (early 413); drop whatever still arrives. */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (ex->state == 0) {
        ex->state = 1;
        MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, ex);
        remote_addr(ex, conn);
        const char *cl = http_header(&ex->req, "Content-Length");
        int64_t n;
        if (cl && parse_i64(cl, &n) == 0 && n > 0 && (uint64_t)n > s->cfg.max_body) {
            ex->body_too_big = true;
            return respond(conn, ex, method);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (!ex->body_too_big && buf_append(&ex->body, upload_data, n) != BUF_OK) {
            ex->body_too_big = true;
            buf_free(&ex->body);
        }
        if (ex->body_too_big) {
            ex->discarded += n;
            if (ex->discarded > DRAIN_LIMIT) return MHD_NO;
        }
        return MHD_YES;
    }
    return respond(conn, ex, method);
}

/* Parses "host:port", "[v6]:port" or ":port" into a socket address. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, char *err, size_t errlen) {
    char host[256];
    const char *port;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':') goto bad;
        snprintf(host, sizeof host, "%.*s", (int)(close - listen - 1), listen + 1);
        port = close + 2;
    } else {
        const char *colon = strrchr(listen, ':');
        if (!colon) goto bad;
        snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
        port = colon + 1;
    }
    int64_t p;
    if (parse_i64(port, &p) != 0 || p < 0 || p > 65535) goto bad;
    if (!host[0]) snprintf(host, sizeof host, "0.0.0.0");
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errlen, "listen address %s: %s", listen, gai_strerror(rc));
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
bad:
    snprintf(err, errlen, "listen address \"%s\" is not host:port", listen);
    return -1;
}

http_server *http_server_start(const http_server_config *cfg, char *err, size_t errlen) {
    http_server *s = xcalloc(1, sizeof *s);
    http_config_normalise(cfg, &s->cfg);
    snprintf(s->listen, sizeof s->listen, "%s", s->cfg.listen);
    s->cfg.listen = s->listen;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (parse_listen(s->listen, &ss, err, errlen) != 0) {
        free(s);
        return NULL;
    }
    /* poll(), not epoll: libmicrohttpd 0.9.75 with a thread pool and epoll can abort in
     * MHD_quiesce_daemon ("Failed to remove listen FD from epoll set") when a worker has
     * already taken the listening socket out of its epoll set; seen in our shutdown
     * tests. poll() has no such state and serves our connection counts as well. */
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    uint16_t port = ss.ss_family == AF_INET6
                        ? ntohs(((struct sockaddr_in6 *)(void *)&ss)->sin6_port)
                        : ntohs(((struct sockaddr_in *)(void *)&ss)->sin_port);
    /* The logger must come first so that option errors reach our log too. */
    s->d = MHD_start_daemon(
        flags, port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)s->cfg.threads, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->cfg.timeout,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
        /* Half-sent requests hold a connection until the timeout: cap how many one
         * address (and everyone together) may hold, so one client cannot starve the
         * rest. */
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->cfg.max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)(s->cfg.per_ip_connections == UINT_MAX ? 0 : s->cfg.per_ip_connections),
        MHD_OPTION_URI_LOG_CALLBACK,
        on_uri, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    if (!s->d) {
        snprintf(err, errlen, "cannot listen on %s%s%s", s->listen, s->last_error[0] ? ": " : "",
                 s->last_error);
        free(s);
        return NULL;
    }
    log_info("http: listening on %s (port %u, %u threads)", s->listen, http_server_port(s),
             s->cfg.threads);
    return s;
}

unsigned http_server_port(const http_server *s) {
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    return di ? di->port : 0;
}

void http_server_stop(http_server *s) {
    if (!s) return;
    MHD_socket fd = MHD_quiesce_daemon(s->d);
    /* Let requests in flight finish; idle keep-alive connections are simply closed. */
    struct timespec tick = {0, 10 * 1000 * 1000};
    for (int waited = 0; atomic_load(&s->active) > 0 && waited < STOP_WAIT_MS; waited += 10) {
        nanosleep(&tick, NULL);
    }
    if (atomic_load(&s->active) > 0) {
        log_warn("http: stopping with %d requests unfinished", atomic_load(&s->active));
    }
    MHD_stop_daemon(s->d);
    if (fd != MHD_INVALID_SOCKET) close(fd);
    free(s);
}
