/*
 * static: files under the configured static directory (CSS, scripts, images, fonts).
 *
 * Only plain files directly reachable by name are served: every path segment must be a
 * non-empty name not starting with '.', so "..", hidden files and encoded slashes can
 * never leave the directory. Responses carry Cache-Control: public, max-age and an ETag
 * made of size and modification time; a matching If-None-Match gets 304 without a body.
 * A file "x.css.gz" beside "x.css" is sent instead, with Content-Encoding: gzip, to
 * clients whose Accept-Encoding takes gzip.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/internal.h"

enum { STATIC_MAX_FILE = 16 << 20 };

static const char *content_type_for(const char *name) {
    static const char *types[][2] = {
        {"css", "text/css; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"},
        {"map", "application/json"},
        {"json", "application/json"},
        {"svg", "image/svg+xml"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"webp", "image/webp"},
        {"ico", "image/x-icon"},
        {"woff2", "font/woff2"},
        {"woff", "font/woff"},
        {"txt", "text/plain; charset=utf-8"},
        {"html", "text/html; charset=utf-8"},
        {"webmanifest", "application/manifest+json"},
        {"pdf", "application/pdf"},
        {"csv", "text/csv; charset=utf-8"},
    };
    const char *dot = strrchr(name, '.');
    if (dot) {
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
            if (strcasecmp(dot + 1, types[i][0]) == 0) return types[i][1];
        }
    }
    return "application/octet-stream";
}

/* True when the If-None-Match header value lists etag (or is "*"). Weak comparison, as
 * RFC 9110 asks for If-None-Match. */
static bool etag_matches(const char *inm, const char *etag) {
    if (!inm) return false;
    const char *p = inm;
    size_t elen = strlen(etag);
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        if (*p == '*') return true;
        if (strncmp(p, "W/", 2) == 0) p += 2;
        if (strncmp(p, etag, elen) == 0) {
            char c = p[elen];
            if (c == '\0' || c == ',' || c == ' ' || c == '\t') return true;
        }
        while (*p && *p != ',') p++;
    }
    return false;
}

/* Opens path read-only when it is a regular file within the size limit; -1 otherwise. */
static int open_regular(const char *path, struct stat *st) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode) || st->st_size > STATIC_MAX_FILE) {
        close(fd);
        return -1;
    }
    return fd;
}

/* True when an Accept-Encoding value accepts gzip (named or "*", without q=0). */
static bool accepts_gzip(const char *ae) {
    if (!ae) return false;
    const char *p = ae;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        const char *tok = p;
        while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t') p++;
        size_t n = (size_t)(p - tok);
        bool named = (n == 4 && strncasecmp(tok, "gzip", 4) == 0) || (n == 1 && *tok == '*');
        bool zero = false;
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        const char *q = strstr(p, "q=");
        if (q && q < end) {
            double v = strtod(q + 2, NULL);
            zero = v <= 0.0;
        }
        if (named && !zero) return true;
        p = end;
    }
    return false;
}

void http_static_serve(http_request *req, http_response *resp, char **rest, size_t nrest) {
    const http_server_config *cfg = req->priv->cfg;
    arena *a = req->arena;
    size_t total = strlen(cfg->static_dir) + 1;
    for (size_t i = 0; i < nrest; i++) {
        const char *s = rest[i];
        if (!*s || s[0] == '.' || strpbrk(s, "/\\")) {
            http_error(req, resp, 404, "There is no file at this address.");
            return;
        }
        total += strlen(s) + 1;
    }
    char *path = arena_alloc(a, total + 1);
    size_t o = (size_t)sprintf(path, "%s", cfg->static_dir);
    for (size_t i = 0; i < nrest; i++) o += (size_t)sprintf(path + o, "/%s", rest[i]);

    struct stat st;
    int fd = open_regular(path, &st);
    if (fd < 0) {
        http_error(req, resp, 404, "There is no file at this address.");
        return;
    }
    /* A precompressed sibling (built next to the file) is sent to clients that take
     * gzip; its own size and time make its ETag differ from the plain file's. */
    http_header_set(resp, "Vary", "Accept-Encoding");
    if (accepts_gzip(http_header(req, "Accept-Encoding"))) {
        struct stat gst;
        int gfd = open_regular(arena_sprintf(a, "%s.gz", path), &gst);
        if (gfd >= 0) {
            close(fd);
            fd = gfd;
            st = gst;
            http_header_set(resp, "Content-Encoding", "gzip");
        }
    }
    char *etag = arena_sprintf(a, "\"%llx-%llx\"", (unsigned long long)st.st_size,
                               (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL +
                                   (unsigned long long)st.st_mtim.tv_nsec);
    http_header_set(resp, "ETag", etag);
    http_header_set(resp, "Cache-Control",
                    arena_sprintf(a, "public, max-age=%u", cfg->static_max_age));
    http_header_set(resp, "Content-Type", content_type_for(rest[nrest - 1]));
    if (etag_matches(http_header(req, "If-None-Match"), etag)) {
        close(fd);
        http_status(resp, 304);
        return;
    }
    size_t size = (size_t)st.st_size;
    char *data = arena_alloc(a, size + 1);
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, data + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    if (got != size) {
        http_header_set(resp, "Cache-Control", "no-store");
        http_header_set(resp, "ETag", NULL);
        http_header_set(resp, "Content-Encoding", NULL);
        http_error(req, resp, 500, "The file could not be read.");
        return;
    }
    data[size] = '\0';
    resp->body = data;
    resp->len = size;
    http_status(resp, 200);
}
