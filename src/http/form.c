/*
 * form: strict parsers for percent-encoding, urlencoded data, multipart/form-data and
 * cookies (see form.h). All of them work on complete buffers: the server reads the
 * whole body under its cap first, which keeps these parsers simple enough to trust.
 */
#include "http/form.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/utf8.h"
#include "http/internal.h"

void http_field_list_add(arena *a, http_field_list *l, const char *name, const char *value,
                         size_t len) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        http_field *items = arena_alloc(a, cap * sizeof *items);
        if (l->n) memcpy(items, l->items, l->n * sizeof *items);
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = (http_field){name, value, len};
}

const http_field *http_field_list_find(const http_field_list *l, const char *name) {
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->items[i].name, name) == 0) return &l->items[i];
    }
    return NULL;
}

static void upload_list_add(arena *a, http_upload_list *l, http_upload up) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        http_upload *items = arena_alloc(a, cap * sizeof *items);
        if (l->n) memcpy(items, l->items, l->n * sizeof *items);
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = up;
}

const char *http_clip(arena *a, const char *s, size_t max) {
    size_t n = strlen(s);
    if (n <= max) return arena_strdup(a, s);
    /* Step back over continuation bytes so the cut never splits a character. */
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80) max--;
    return arena_sprintf(a, "%.*s...", (int)max, s);
}

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int http_pct_decode(arena *a, const char *s, size_t len, int plus_space, char **out,
                    size_t *outlen) {
    char *d = arena_alloc(a, len + 1);
    size_t j = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (len - i < 3) return -1;
            int hi = hexval((unsigned char)s[i + 1]), lo = hexval((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0) return -1;
            d[j++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_space) {
            d[j++] = ' ';
        } else {
            d[j++] = (char)c;
        }
    }
    d[j] = '\0';
    *out = d;
    if (outlen) *outlen = j;
    return 0;
}

static int fail(char *err, size_t errlen, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int status, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return status;
}

/* Checks a decoded text value; returns 0 or 400 with a message. */
static int check_text(arena *a, const char *what, const char *kind, const char *name, const char *v,
                      size_t len, char *err, size_t errlen) {
    if (utf8_valid_text(v, len)) return 0;
    if (!name) return fail(err, errlen, 400, "%s: %s is not valid UTF-8 text", what, kind);
    return fail(err, errlen, 400, "%s: %s of field \"%s\" is not valid UTF-8 text", what, kind,
                http_clip(a, name, 40));
}

int http_parse_urlencoded(arena *a, const char *s, size_t len, const http_form_limits *lim,
                          const char *what, http_field_list *out, char *err, size_t errlen) {
    size_t i = 0;
    while (i < len) {
        const char *amp = memchr(s + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - s) : len;
        size_t plen = end - i;
        if (plen > 0) {
            const char *pair = s + i;
            const char *eq = memchr(pair, '=', plen);
            size_t nlen = eq ? (size_t)(eq - pair) : plen;
            char *name, *value;
            size_t dnlen, vlen;
            if (out->n >= lim->max_fields) {
                return fail(err, errlen, 413, "%s: too many fields (the limit is %zu)", what,
                            lim->max_fields);
            }
            if (http_pct_decode(a, pair, nlen, 1, &name, &dnlen)) {
                return fail(err, errlen, 400, "%s: malformed percent-encoding in a field name",
                            what);
            }
            int rc = check_text(a, what, "the name", NULL, name, dnlen, err, errlen);
            if (rc) return rc;
            if (dnlen > lim->max_field_size) {
                return fail(err, errlen, 413, "%s: a field name is too long", what);
            }
            const char *vs = eq ? eq + 1 : pair + plen;
            size_t vslen = eq ? plen - nlen - 1 : 0;
            if (http_pct_decode(a, vs, vslen, 1, &value, &vlen)) {
                return fail(err, errlen, 400, "%s: malformed percent-encoding in field \"%s\"",
                            what, http_clip(a, name, 40));
            }
            if (vlen > lim->max_field_size) {
                return fail(err, errlen, 413,
                            "%s: field \"%s\" is too large (the limit is %zu bytes)", what,
                            http_clip(a, name, 40), lim->max_field_size);
            }
            rc = check_text(a, what, "the value", name, value, vlen, err, errlen);
            if (rc) return rc;
            http_field_list_add(a, out, name, value, vlen);
        }
        i = end + 1;
    }
    return 0;
}

/* ---- header parameters ---- */

static int is_ws(char c) { return c == ' ' || c == '\t'; }

char *http_header_param(arena *a, const char *header, const char *param) {
    if (!header) return NULL;
    size_t plen = strlen(param);
    const char *p = strchr(header, ';');
    while (p) {
        p++;
        while (is_ws(*p)) p++;
        const char *name = p;
        while (*p && *p != '=' && *p != ';' && !is_ws(*p)) p++;
        size_t nlen = (size_t)(p - name);
        while (is_ws(*p)) p++;
        if (*p != '=') {
            p = strchr(p, ';');
            continue;
        }
        p++;
        while (is_ws(*p)) p++;
        char *value;
        if (*p == '"') {
            /* quoted-string with backslash escapes */
            p++;
            size_t cap = strlen(p);
            value = arena_alloc(a, cap + 1);
            size_t j = 0;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1]) p++;
                value[j++] = *p++;
            }
            value[j] = '\0';
            if (*p == '"') p++;
        } else {
            const char *v = p;
            while (*p && *p != ';' && !is_ws(*p)) p++;
            value = arena_strndup(a, v, (size_t)(p - v));
        }
        if (nlen == plen && strncasecmp(name, param, plen) == 0) return value;
        p = strchr(p, ';');
    }
    return NULL;
}

/* ---- multipart/form-data ---- */

static const char *find_mem(const char *hay, size_t hlen, const char *needle, size_t nlen) {
    return memmem(hay, hlen, needle, nlen);
}

/* Parses one part's header block hdr[0..len) (lines separated by CRLF). */
static int part_headers(arena *a, const char *hdr, size_t len, char **disposition, char **ctype,
                        char *err, size_t errlen) {
    *disposition = NULL;
    *ctype = NULL;
    size_t i = 0;
    while (i < len) {
        const char *eol = find_mem(hdr + i, len - i, "\r\n", 2);
        size_t end = eol ? (size_t)(eol - hdr) : len;
        const char *line = hdr + i;
        size_t llen = end - i;
        const char *colon = memchr(line, ':', llen);
        if (!colon) return fail(err, errlen, 400, "form: malformed header in a multipart part");
        size_t nlen = (size_t)(colon - line);
        const char *v = colon + 1;
        size_t vlen = llen - nlen - 1;
        while (vlen && is_ws(*v)) v++, vlen--;
        if (!utf8_valid_text(v, vlen)) {
            return fail(err, errlen, 400, "form: a multipart part header is not valid UTF-8");
        }
        if (nlen == 19 && strncasecmp(line, "Content-Disposition", 19) == 0) {
            *disposition = arena_strndup(a, v, vlen);
        } else if (nlen == 12 && strncasecmp(line, "Content-Type", 12) == 0) {
            *ctype = arena_strndup(a, v, vlen);
        }
        i = end + 2;
    }
    return 0;
}

int http_parse_multipart(arena *a, const char *content_type, const char *body, size_t len,
                         const http_form_limits *lim, http_field_list *fields,
                         http_upload_list *uploads, char *err, size_t errlen) {
    char *boundary = http_header_param(a, content_type, "boundary");
    if (!boundary || !*boundary || strlen(boundary) > 200) {
        return fail(err, errlen, 400, "form: multipart body without a valid boundary");
    }
    /* delim = "\r\n--boundary"; the first delimiter may omit the leading CRLF. */
    char *delim = arena_sprintf(a, "\r\n--%s", boundary);
    size_t dlen = strlen(delim);
    size_t pos;
    if (len >= dlen - 2 && memcmp(body, delim + 2, dlen - 2) == 0) {
        pos = dlen - 2;
    } else {
        const char *d = find_mem(body, len, delim, dlen);
        if (!d) return fail(err, errlen, 400, "form: multipart body without a boundary line");
        pos = (size_t)(d - body) + dlen;
    }
    size_t count = 0;
    for (;;) {
        /* After a delimiter: "--" ends the body, otherwise optional white space + CRLF. */
        if (len - pos >= 2 && body[pos] == '-' && body[pos + 1] == '-') return 0;
        while (pos < len && is_ws(body[pos])) pos++;
        if (len - pos < 2 || body[pos] != '\r' || body[pos + 1] != '\n') {
            return fail(err, errlen, 400, "form: malformed multipart boundary line");
        }
        pos += 2;
        const char *hend = find_mem(body + pos, len - pos, "\r\n\r\n", 4);
        size_t hlen;
        size_t cstart;
        if (len - pos >= 2 && body[pos] == '\r' && body[pos + 1] == '\n') {
            hlen = 0; /* a part without headers */
            cstart = pos + 2;
        } else if (!hend) {
            return fail(err, errlen, 400, "form: multipart part headers are not terminated");
        } else {
            hlen = (size_t)(hend - (body + pos));
            cstart = pos + hlen + 4;
        }
        const char *next = find_mem(body + cstart, len - cstart, delim, dlen);
        if (!next) return fail(err, errlen, 400, "form: multipart body is not terminated");
        size_t clen = (size_t)(next - (body + cstart));

        char *disp, *ctype;
        int rc = part_headers(a, body + pos, hlen, &disp, &ctype, err, errlen);
        if (rc) return rc;
        char *name = http_header_param(a, disp, "name");
        if (!disp || strncasecmp(disp, "form-data", 9) != 0 || !name || !*name) {
            return fail(err, errlen, 400, "form: a multipart part has no field name");
        }
        if (++count > lim->max_fields || fields->n >= lim->max_fields) {
            return fail(err, errlen, 413, "form: too many fields (the limit is %zu)",
                        lim->max_fields);
        }
        char *filename = http_header_param(a, disp, "filename");
        char *data = arena_alloc(a, clen + 1);
        memcpy(data, body + cstart, clen);
        data[clen] = '\0';
        if (filename) {
            /* Old browsers send a full client path; keep only the last component. */
            char *base = filename;
            for (char *c = filename; *c; c++) {
                if (*c == '/' || *c == '\\') base = c + 1;
            }
            if (!utf8_valid_text(base, strlen(base))) {
                return fail(err, errlen, 400,
                            "form: the file name in field \"%s\" is not valid UTF-8 text",
                            http_clip(a, name, 40));
            }
            upload_list_add(a, uploads,
                            (http_upload){name, base,
                                          ctype && *ctype ? ctype : "application/octet-stream",
                                          data, clen});
        } else {
            if (clen > lim->max_field_size) {
                return fail(err, errlen, 413,
                            "form: field \"%s\" is too large (the limit is %zu bytes)",
                            http_clip(a, name, 40), lim->max_field_size);
            }
            rc = check_text(a, "form", "the value", name, data, clen, err, errlen);
            if (rc) return rc;
            http_field_list_add(a, fields, name, data, clen);
        }
        pos = (size_t)(next - body) + dlen;
    }
}

/* ---- cookies ---- */

static int cookie_name_char(unsigned char c) {
    /* RFC 7230 token characters */
    return c > 0x20 && c < 0x7F && !strchr("()<>@,;:\\\"/[]?={}", c);
}

void http_parse_cookies(arena *a, const char *header, http_field_list *out) {
    if (!header) return;
    const char *p = header;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ';') p++;
        if (!*p) break;
        const char *start = p;
        const char *semi = strchr(p, ';');
        const char *end = semi ? semi : p + strlen(p);
        p = end;
        const char *eq = memchr(start, '=', (size_t)(end - start));
        if (!eq || eq == start) continue;
        bool ok = true;
        for (const char *c = start; c < eq; c++) ok = ok && cookie_name_char((unsigned char)*c);
        if (!ok) continue;
        const char *v = eq + 1;
        const char *ve = end;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
        if (ve - v >= 2 && *v == '"' && ve[-1] == '"') v++, ve--;
        size_t vlen = (size_t)(ve - v);
        if (!utf8_valid_text(v, vlen) || memchr(v, '\n', vlen) || memchr(v, '\r', vlen) ||
            memchr(v, '\t', vlen)) {
            continue;
        }
        http_field_list_add(a, out, arena_strndup(a, start, (size_t)(eq - start)),
                            arena_strndup(a, v, vlen), vlen);
    }
}
