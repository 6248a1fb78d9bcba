/*
 * buf: capped growable buffer (see buf.h).
 */
#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

void buf_init(buf *b, size_t max) {
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

static int reserve(buf *b, size_t extra) {
    if (extra > b->max || b->len > b->max - extra) return BUF_TOO_BIG;
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return BUF_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
    if (cap > b->max + 1) cap = b->max + 1;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
    return BUF_OK;
}

int buf_append(buf *b, const void *data, size_t n) {
    if (reserve(b, n)) return BUF_TOO_BIG;
    if (n) memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return BUF_OK;
}

int buf_puts(buf *b, const char *s) { return buf_append(b, s, strlen(s)); }

int buf_putc(buf *b, char c) { return buf_append(b, &c, 1); }

int buf_vprintf(buf *b, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) abort();
    if (reserve(b, (size_t)n)) return BUF_TOO_BIG;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return BUF_OK;
}

int buf_printf(buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

const char *buf_cstr(const buf *b) { return b->data ? b->data : ""; }

size_t buf_len(const buf *b) { return b->len; }

void buf_reset(buf *b) {
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

char *buf_detach(buf *b, size_t *len_out) {
    char *d = b->data ? b->data : xstrdup("");
    if (len_out) *len_out = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

void buf_free(buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
