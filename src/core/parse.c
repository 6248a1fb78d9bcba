/*
 * parse: strict number parsing and small string helpers (see parse.h).
 */
#include "core/parse.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

int parse_i64(const char *s, int64_t *out) {
    while (is_space(*s)) s++;
    if (!*s) return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s) return -1;
    while (is_space(*end)) end++;
    if (*end) return -1;
    *out = (int64_t)v;
    return 0;
}

int parse_double(const char *s, double *out) {
    while (is_space(*s)) s++;
    if (!*s) return -1;
    /* strtod accepts "nan", "inf" and hex; data files never mean those. */
    for (const char *p = s; *p && !is_space(*p); p++) {
        char c = *p;
        if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E'))
            return -1;
    }
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno == ERANGE || end == s || !isfinite(v)) return -1;
    while (is_space(*end)) end++;
    if (*end) return -1;
    *out = v;
    return 0;
}

char *str_trim(char *s) {
    while (is_space(*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && is_space(s[n - 1])) s[--n] = '\0';
    return s;
}

char *str_trim_copy(const char *s, char *out, size_t outlen) {
    while (is_space(*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && is_space(s[n - 1])) n--;
    if (outlen == 0) return out;
    if (n > outlen - 1) n = outlen - 1;
    memcpy(out, s, n);
    out[n] = '\0';
    return out;
}

int str_ieq(const char *a, const char *b) { return strcasecmp(a, b) == 0; }
