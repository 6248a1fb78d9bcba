/*
 * escape: the writers that make text safe for the place it is written to.
 *
 * Every byte of outside text that reaches an HTML page or a URL passes through one of
 * these functions; templates call them for every text value, so a handler never
 * escapes by hand. JSON is never built here: it comes from jansson.
 *
 * All writers append to a capped buf and return BUF_OK (0) or BUF_TOO_BIG when the
 * cap would be passed (the buffer then holds a truncated but still escaped prefix).
 * A NULL string is written as nothing.
 */
#ifndef CG_WEB_ESCAPE_H
#define CG_WEB_ESCAPE_H

#include <stddef.h>

#include "core/buf.h"

/* Appends s as HTML text: & < > " ' become &amp; &lt; &gt; &quot; &#39;. Safe both
 * between tags and inside a quoted attribute value. */
int html_escape(buf *out, const char *s);
/* As html_escape for the first n bytes of s (which may hold no NUL). */
int html_escape_n(buf *out, const char *s, size_t n);
/* Appends s for use inside a double- or single-quoted attribute value: as html_escape,
 * and additionally ` = and control characters are written as numeric references, so a
 * value stays inert even if a template forgets the quotes. */
int html_escape_attr(buf *out, const char *s);
/* Appends s percent-encoded for a URL query value or path segment: every byte except
 * the RFC 3986 unreserved set (A-Z a-z 0-9 - . _ ~) becomes %XX (upper-case hex). */
int url_encode(buf *out, const char *s);

#endif
