/*
 * escape: HTML text/attribute escaping and URL percent-encoding (see escape.h).
 *
 * Each writer copies runs of harmless bytes in one buf_append and writes a
 * replacement for each dangerous byte, so ordinary text costs one append per run.
 */
#include "web/escape.h"

#include <string.h>

/* Replacement for byte c in HTML text, or NULL when c is written as is. */
static const char *html_entity(unsigned char c) {
    switch (c) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return "&quot;";
    case '\'':
        return "&#39;";
    default:
        return NULL;
    }
}

int html_escape_n(buf *out, const char *s, size_t n) {
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        const char *ent = html_entity((unsigned char)s[i]);
        if (!ent) continue;
        if (i > run && buf_append(out, s + run, i - run) != BUF_OK) return BUF_TOO_BIG;
        if (buf_puts(out, ent) != BUF_OK) return BUF_TOO_BIG;
        run = i + 1;
    }
    if (n > run) return buf_append(out, s + run, n - run);
    return BUF_OK;
}

int html_escape(buf *out, const char *s) {
    if (!s) return BUF_OK;
    return html_escape_n(out, s, strlen(s));
}

int html_escape_attr(buf *out, const char *s) {
    if (!s) return BUF_OK;
    size_t n = strlen(s), run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *ent = html_entity(c);
        char num[8];
        if (!ent && (c == '`' || c == '=' || c < 0x20 || c == 0x7f)) {
            /* Unquoted-attribute breakers and control bytes become numeric refs. */
            static const char hex[] = "0123456789ABCDEF";
            num[0] = '&', num[1] = '#', num[2] = 'x', num[3] = hex[c >> 4];
            num[4] = hex[c & 15], num[5] = ';', num[6] = '\0';
            ent = num;
        }
        if (!ent) continue;
        if (i > run && buf_append(out, s + run, i - run) != BUF_OK) return BUF_TOO_BIG;
        if (buf_puts(out, ent) != BUF_OK) return BUF_TOO_BIG;
        run = i + 1;
    }
    if (n > run) return buf_append(out, s + run, n - run);
    return BUF_OK;
}

static int url_unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

int url_encode(buf *out, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    if (!s) return BUF_OK;
    size_t n = strlen(s), run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (url_unreserved(c)) continue;
        char pct[3] = {'%', hex[c >> 4], hex[c & 15]};
        if (i > run && buf_append(out, s + run, i - run) != BUF_OK) return BUF_TOO_BIG;
        if (buf_append(out, pct, 3) != BUF_OK) return BUF_TOO_BIG;
        run = i + 1;
    }
    if (n > run) return buf_append(out, s + run, n - run);
    return BUF_OK;
}
