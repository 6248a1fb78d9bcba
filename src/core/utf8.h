/*
 * utf8: validation of UTF-8 text arriving from outside (form fields, CSV files, paths).
 *
 * Everything stored or rendered is valid UTF-8; input that is not is rejected at the
 * boundary with a message naming the field, never silently repaired.
 */
#ifndef CG_CORE_UTF8_H
#define CG_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True when s[0..len) is well-formed UTF-8 (no overlongs, no surrogates, no code point
 * above U+10FFFF). NUL bytes are allowed by this function; callers that store C strings
 * should also reject them (utf8_valid_text). */
bool utf8_valid(const char *s, size_t len);
/* utf8_valid and free of NUL and of C0 control characters other than tab, LF and CR. */
bool utf8_valid_text(const char *s, size_t len);
/* Number of code points in valid UTF-8 s[0..len). */
size_t utf8_length(const char *s, size_t len);

#endif
