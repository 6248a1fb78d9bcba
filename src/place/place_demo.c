/*
 * place_demo: the demo places created by `commonground init --demo`: Adur and Worthing
 * (the two districts share one council), and their wards with ONS GSS codes (May 2024
 * ward boundaries; names and codes are public ONS facts, Open Government Licence v3.0).
 */
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "place/place.h"

static const struct {
    const char *district_code, *ward_code, *ward_name;
} wards[] = {
    {"E07000223", "E05007562", "Buckingham"},
    {"E07000223", "E05007563", "Churchill"},
    {"E07000223", "E05007564", "Cokeham"},
    {"E07000223", "E05007565", "Eastbrook"},
    {"E07000223", "E05007566", "Hillside"},
    {"E07000223", "E05007567", "Manor"},
    {"E07000223", "E05007568", "Marine"},
    {"E07000223", "E05007569", "Mash Barn"},
    {"E07000223", "E05007570", "Peverel"},
    {"E07000223", "E05007571", "St Mary's"},
    {"E07000223", "E05007572", "St Nicolas"},
    {"E07000223", "E05007573", "Southlands"},
    {"E07000223", "E05007574", "Southwick Green"},
    {"E07000223", "E05007575", "Widewater"},
    {"E07000229", "E05007694", "Broadwater"},
    {"E07000229", "E05007695", "Castle"},
    {"E07000229", "E05007696", "Central"},
    {"E07000229", "E05007697", "Durrington"},
    {"E07000229", "E05007698", "Gaisford"},
    {"E07000229", "E05007699", "Goring"},
    {"E07000229", "E05007700", "Heene"},
    {"E07000229", "E05007701", "Marine"},
    {"E07000229", "E05007702", "Northbrook"},
    {"E07000229", "E05007703", "Offington"},
    {"E07000229", "E05007704", "Salvington"},
    {"E07000229", "E05007705", "Selden"},
    {"E07000229", "E05007706", "Tarring"},
};

static const struct {
    const char *code, *name, *description;
} districts[] = {
    {"E07000223", "Adur", "District on the Sussex coast between Brighton and Worthing: Shoreham-by-Sea, Lancing, Sompting and Southwick."},
    {"E07000229", "Worthing", "Borough on the Sussex coast, from Goring-by-Sea to East Worthing."},
};

int place_seed_demo(store *s, const store_actor *actor, char *err, size_t errlen) {
    arena a;
    arena_init(&a, 0);
    store_place existing;
    if (store_place_by_gss(s, "E07000223", &a, &existing) == STORE_OK) {
        arena_free(&a);
        return 0;
    }
    store_place top;
    store_place_input in = {.kind = STORE_PLACE_COUNCIL_AREA, .name = "Adur and Worthing",
                            .description = "Adur and Worthing Councils serve the two districts together."};
    int rc = store_place_create(s, actor, &in, &a, &top);
    for (size_t d = 0; rc == STORE_OK && d < sizeof districts / sizeof districts[0]; d++) {
        store_place district;
        store_place_input din = {.parent_id = top.id, .kind = STORE_PLACE_COUNCIL_AREA,
                                 .name = districts[d].name, .gss_code = districts[d].code,
                                 .description = districts[d].description};
        rc = store_place_create(s, actor, &din, &a, &district);
        for (size_t w = 0; rc == STORE_OK && w < sizeof wards / sizeof wards[0]; w++) {
            if (strcmp(wards[w].district_code, districts[d].code) != 0) continue;
            store_place_input win = {.parent_id = district.id, .kind = STORE_PLACE_WARD,
                                     .name = wards[w].ward_name, .gss_code = wards[w].ward_code};
            rc = store_place_create(s, actor, &win, &a, NULL);
        }
    }
    arena_free(&a);
    if (rc != STORE_OK) {
        snprintf(err, errlen, "adding demo places failed: %s", store_strerror(rc));
        return -1;
    }
    return 0;
}
