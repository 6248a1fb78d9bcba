/*
 * form: strict parsers for the parts of a request that come from outside — percent-
 * encoding, query strings and urlencoded bodies, multipart/form-data bodies, the Cookie
 * header.
 *
 * The server runs them on a fully buffered request before any application code, so a
 * handler only ever sees valid UTF-8 text without NUL bytes. Each parser returns 0 on
 * success or the HTTP status to answer (400 malformed, 413 over a cap) with a message
 * in err that names the field and the problem. Everything they produce is allocated
 * from the arena given (see http.h for the ownership rule).
 */
#ifndef CG_HTTP_FORM_H
#define CG_HTTP_FORM_H

#include <stddef.h>

#include "core/arena.h"
#include "http/http.h"

typedef struct http_form_limits {
    size_t max_fields;     /* fields in this parse plus `used` below must not pass it */
    size_t max_field_size; /* bytes of one decoded text value */
} http_form_limits;

/* A growing array of fields in an arena. */
typedef struct http_field_list {
    http_field *items;
    size_t n, cap;
} http_field_list;

typedef struct http_upload_list {
    http_upload *items;
    size_t n, cap;
} http_upload_list;

void http_field_list_add(arena *a, http_field_list *l, const char *name, const char *value,
                         size_t len);
/* First field called name, or NULL. */
const http_field *http_field_list_find(const http_field_list *l, const char *name);

/* Decodes s[0..len) ("%41" -> "A"; with plus_space, '+' -> ' ') into a new
 * NUL-terminated arena string. Returns 0, or -1 on a '%' not followed by two hex
 * digits. Does not check UTF-8 (callers do, with the context to name the field). */
int http_pct_decode(arena *a, const char *s, size_t len, int plus_space, char **out,
                    size_t *outlen);

/* Parses "a=1&b=x+y" (a query string or an application/x-www-form-urlencoded body)
 * into out, appending. Empty pairs ("a=1&&b=2") are skipped; a pair without '=' is a
 * field with an empty value. what names the source in messages ("query", "form").
 * Rejects bad percent-encoding, invalid UTF-8 or control characters in a name or value
 * (400), more than max_fields fields in out or a value over max_field_size (413). */
int http_parse_urlencoded(arena *a, const char *s, size_t len, const http_form_limits *lim,
                          const char *what, http_field_list *out, char *err, size_t errlen);

/* Parses a multipart/form-data body. content_type is the request's Content-Type header
 * (its boundary parameter is required). Parts with a filename parameter go to uploads,
 * the others to fields (text: UTF-8 checked, max_field_size applies). Every part counts
 * against max_fields. Malformed framing, a missing boundary or a part without a
 * Content-Disposition name -> 400. */
int http_parse_multipart(arena *a, const char *content_type, const char *body, size_t len,
                         const http_form_limits *lim, http_field_list *fields,
                         http_upload_list *uploads, char *err, size_t errlen);

/* Parses a Cookie header ("a=1; b=2") into out. Lenient in the way browsers need:
 * malformed pairs are skipped rather than failing the request, values in double quotes
 * are unquoted, and values that are not valid UTF-8 are dropped. */
void http_parse_cookies(arena *a, const char *header, http_field_list *out);

/* The value of parameter param in a header like Content-Type
 * ("multipart/form-data; boundary=xyz"), unquoted, or NULL. */
char *http_header_param(arena *a, const char *header, const char *param);

#endif
