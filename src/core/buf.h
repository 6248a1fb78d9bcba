/*
 * buf: a growable byte buffer with a hard size cap (after curl's dynbuf).
 *
 * Every buffer that can be filled from outside input (request bodies, rendered pages,
 * CSV fields) has a maximum, so hostile input can exhaust a cap but never memory. The
 * content is always NUL-terminated, so buf_cstr() can be passed to C string functions
 * (the content may itself hold NUL bytes; buf_len() is authoritative).
 *
 * Ownership: the buffer owns its storage; buf_free() releases it. buf_detach() hands
 * the storage to the caller, who frees it with free().
 */
#ifndef CG_CORE_BUF_H
#define CG_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max; /* largest len allowed */
} buf;

enum { BUF_OK = 0, BUF_TOO_BIG = 1 };

/* Prepares an empty buffer that may grow to max bytes. */
void buf_init(buf *b, size_t max);
/* Appends n bytes; BUF_TOO_BIG (and nothing appended) when the cap would be passed. */
int buf_append(buf *b, const void *data, size_t n);
int buf_puts(buf *b, const char *s);
int buf_putc(buf *b, char c);
int buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(buf *b, const char *fmt, va_list ap);
/* The content, NUL-terminated; "" for an empty buffer (never NULL). */
const char *buf_cstr(const buf *b);
size_t buf_len(const buf *b);
/* Empties the buffer, keeping its storage. */
void buf_reset(buf *b);
/* Returns the malloc'd content (caller frees) and leaves the buffer empty. */
char *buf_detach(buf *b, size_t *len_out);
void buf_free(buf *b);

#endif
