/*
 * api: internal interface between the directory's files: the Open Referral UK routes
 * (api.c) and the page routes (pages.c), registered together by directory_routes().
 */
#ifndef CG_DIRECTORY_API_H
#define CG_DIRECTORY_API_H

#include <stdint.h>

#include "http/http.h"

/* Registers GET /openreferral/ and everything below it. */
void directory_api_routes(http_router *router);
/* Registers the HTML pages under /directory. */
void directory_page_routes(http_router *router);

/* An ISO 8601 date ("2025-01-31") or date-time ("2025-01-31T09:00:00Z", with optional
 * fraction and +hh:mm offset) as epoch seconds; 0, or -1 when malformed. */
int directory_parse_time(const char *s, int64_t *out);

#endif
