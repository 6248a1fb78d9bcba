/*
 * rand: CSPRNG-backed identifiers (see rand.h).
 */
#include "core/rand.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

void rand_bytes(void *buf, size_t n) {
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            perror("commonground: getrandom");
            abort();
        }
        p += got;
        n -= (size_t)got;
    }
}

static const char hexdig[] = "0123456789abcdef";

void uuid_v4(char out[UUID_STR_LEN]) {
    unsigned char b[16];
    rand_bytes(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
        out[o++] = hexdig[b[i] >> 4];
        out[o++] = hexdig[b[i] & 0x0F];
    }
    out[o] = '\0';
}

int uuid_valid(const char *s) {
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') return 0;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return 0;
        }
    }
    return s[36] == '\0';
}

void rand_hex(char *out, size_t nbytes) {
    unsigned char b[64];
    size_t o = 0;
    while (nbytes > 0) {
        size_t n = nbytes < sizeof b ? nbytes : sizeof b;
        rand_bytes(b, n);
        for (size_t i = 0; i < n; i++) {
            out[o++] = hexdig[b[i] >> 4];
            out[o++] = hexdig[b[i] & 0x0F];
        }
        nbytes -= n;
    }
    out[o] = '\0';
}

uint64_t rand_u64(void) {
    uint64_t v;
    rand_bytes(&v, sizeof v);
    return v;
}
