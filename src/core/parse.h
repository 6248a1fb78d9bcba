/*
 * parse: strict conversions of text from outside into numbers.
 *
 * Unlike atoi/strtod, these reject empty strings, trailing garbage, overflow and
 * NaN/infinity, so "12abc" in a CSV cell is an error with a message, not 12.
 */
#ifndef CG_CORE_PARSE_H
#define CG_CORE_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Each returns 0 on success and stores the value; -1 when s is not entirely a number of
 * that kind (surrounding ASCII spaces are allowed). */
int parse_i64(const char *s, int64_t *out);
int parse_double(const char *s, double *out);

/* Copies s into out (at most outlen-1 bytes) without leading and trailing ASCII white
 * space; returns out. */
char *str_trim_copy(const char *s, char *out, size_t outlen);
/* Returns s advanced past leading white space, and writes a NUL over trailing white
 * space (modifies s). */
char *str_trim(char *s);
/* ASCII case-insensitive equality. */
int str_ieq(const char *a, const char *b);

#endif
