/*
 * place: the places a programme works in — council areas, wards, neighbourhoods —
 * with their ONS GSS codes. Public pages list and show them; officers create and edit.
 */
#ifndef CG_PLACE_PLACE_H
#define CG_PLACE_PLACE_H

#include <stddef.h>

#include "http/http.h"
#include "store/store.h"

/* Registers /places, /places/new, /places/{id}, /places/{id}/edit. */
void place_routes(http_router *router);

/* Checks the shape of an ONS GSS code (a letter, two digits, six digits: E05007562).
 * Returns NULL when acceptable, else the problem (English msgid). */
const char *place_gss_problem(const char *code);

/* Adds the demo places (Adur and Worthing, their two districts and 27 wards with ONS
 * codes) unless a place with the Adur code exists. Returns 0, or -1 with err. */
int place_seed_demo(store *s, const store_actor *actor, char *err, size_t errlen);

#endif
