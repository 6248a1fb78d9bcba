/*
 * xalloc: heap allocation that never returns NULL.
 *
 * Common Ground follows Redis here: running out of memory is not a condition a request
 * handler can recover from, so these wrappers log and abort instead of spreading NULL
 * checks through every caller. Memory returned is owned by the caller and released with
 * free().
 */
#ifndef CG_CORE_XALLOC_H
#define CG_CORE_XALLOC_H

#include <stddef.h>

/* malloc/calloc/realloc/strdup that abort on failure. xcalloc and xreallocarray check
 * n * size for overflow. */
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
