/*
 * Unit tests for the directory contract (src/store/directory.h) on a temporary
 * database: organisations, taxonomy rules, services with every child, full-text
 * search ranking, the filters (category tree, place overlap, postcode, proximity,
 * modified_after), paging totals, membership, the audit trail of every change, and
 * all-or-nothing imports that change nothing the second time.
 *
 * With CG_TEST_DB_URL set to a postgres:// URL the same tests run against PostgreSQL
 * (tests/pgtest.h), so a second backend is held to the same contract.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/rand.h"
#include "pgtest.h"
#include "store/directory.h"
#include "store/store.h"

typedef struct fixture {
    char path[512];
    store *s;
    arena a;
    int64_t county, adur, ward_a, ward_b, worthing, ward_w; /* place ids */
    char tax[UUID_STR_LEN], food[UUID_STR_LEN], foodbank[UUID_STR_LEN], sport[UUID_STR_LEN];
    int64_t org1;
    char org1_uuid[UUID_STR_LEN];
} fixture;

static const char *pg_url(void) {
    const char *u = getenv("CG_TEST_DB_URL");
    return pgtest_is_pg(u) ? u : NULL;
}

static int64_t add_place(fixture *f, int64_t parent, store_place_kind kind, const char *name,
                         const char *gss) {
    store_place_input in = {.parent_id = parent, .kind = kind, .name = name, .gss_code = gss};
    store_place p;
    assert_int_equal(store_place_create(f->s, NULL, &in, &f->a, &p), STORE_OK);
    return p.id;
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    if (pg_url()) {
        if (pgtest_create(pg_url(), f->path, sizeof f->path) != 0) fail_msg("no database");
    } else {
        snprintf(f->path, sizeof f->path, "/tmp/cg_dir_test_XXXXXX");
        int fd = mkstemp(f->path);
        assert_true(fd >= 0);
        close(fd);
    }
    char err[256];
    if (store_open(f->path, &f->s, err, sizeof err) != STORE_OK) fail_msg("store_open: %s", err);
    arena_init(&f->a, 0);
    f->county = add_place(f, 0, STORE_PLACE_COUNCIL_AREA, "County", NULL);
    f->adur = add_place(f, f->county, STORE_PLACE_COUNCIL_AREA, "Adur", "E07000223");
    f->ward_a = add_place(f, f->adur, STORE_PLACE_WARD, "Marine", "E05007568");
    f->ward_b = add_place(f, f->adur, STORE_PLACE_WARD, "Manor", "E05007567");
    f->worthing = add_place(f, f->county, STORE_PLACE_COUNCIL_AREA, "Worthing", "E07000229");
    f->ward_w = add_place(f, f->worthing, STORE_PLACE_WARD, "Central", "E05007696");
    store_dir_taxonomy tax = {.name = "Test taxonomy"}, tout;
    assert_int_equal(store_dir_taxonomy_save(f->s, NULL, &tax, &f->a, &tout), STORE_OK);
    strcpy(f->tax, tout.uuid);
    store_dir_term t = {.taxonomy_uuid = f->tax, .code = "food", .name = "Food"}, out;
    assert_int_equal(store_dir_term_save(f->s, NULL, &t, &f->a, &out), STORE_OK);
    strcpy(f->food, out.uuid);
    store_dir_term fb = {
        .taxonomy_uuid = f->tax, .parent_uuid = f->food, .code = "food-bank", .name = "Food bank"};
    assert_int_equal(store_dir_term_save(f->s, NULL, &fb, &f->a, &out), STORE_OK);
    strcpy(f->foodbank, out.uuid);
    store_dir_term sp = {.taxonomy_uuid = f->tax, .code = "sport", .name = "Sport"};
    assert_int_equal(store_dir_term_save(f->s, NULL, &sp, &f->a, &out), STORE_OK);
    strcpy(f->sport, out.uuid);
    store_dir_org o = {.name = "Food Aid", .website = "https://x.example.org"}, oo;
    assert_int_equal(store_dir_org_save(f->s, NULL, &o, &f->a, &oo), STORE_OK);
    f->org1 = oo.id;
    strcpy(f->org1_uuid, oo.uuid);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    store_close(f->s);
    if (pg_url()) {
        pgtest_drop(pg_url(), f->path);
    } else {
        char p[600];
        unlink(f->path);
        snprintf(p, sizeof p, "%s-wal", f->path);
        unlink(p);
        snprintf(p, sizeof p, "%s-shm", f->path);
        unlink(p);
    }
    arena_free(&f->a);
    free(f);
    return 0;
}

static int64_t audit_count(fixture *f) {
    int64_t n = 0;
    assert_int_equal(store_audit_count(f->s, &n), STORE_OK);
    return n;
}

/* A service in org1 with one term, one area, one location and one schedule. */
static int add_service(fixture *f, const char *name, const char *desc, const char *term,
                       int64_t place, const char *postcode, double lat, double lon,
                       store_dir_service *out) {
    store_dir_term_ref tr = {.uuid = term};
    store_dir_area ar = {.place_id = place};
    store_dir_location loc = {.name = "Hall",
                              .address_1 = "1 High St",
                              .city = "Town",
                              .postcode = postcode,
                              .has_coords = 1,
                              .latitude = lat,
                              .longitude = lon};
    store_dir_schedule h = {
        .freq = "WEEKLY", .byday = "TU", .opens_at = "10:00", .closes_at = "12:00"};
    store_dir_service s = {.org_id = f->org1,
                           .name = name,
                           .description = desc,
                           .status = STORE_DIR_ACTIVE,
                           .terms = &tr,
                           .n_terms = term ? 1 : 0,
                           .areas = &ar,
                           .n_areas = place ? 1 : 0,
                           .locations = &loc,
                           .n_locations = 1,
                           .schedules = &h,
                           .n_schedules = 1};
    return store_dir_service_save(f->s, NULL, &s, &f->a, out);
}

static void organisations_are_saved_updated_and_audited(void **state) {
    fixture *f = *state;
    int64_t before = audit_count(f);
    store_dir_org o = {.name = "Runners",
                       .email = "run@example.org",
                       .identifier = "123",
                       .identifier_type = "charity_number"},
                  out, again;
    assert_int_equal(store_dir_org_save(f->s, NULL, &o, &f->a, &out), STORE_OK);
    assert_true(uuid_valid(out.uuid));
    assert_string_equal(out.identifier, "123");
    assert_int_equal(audit_count(f), before + 1);
    /* the same content again changes nothing and is not audited */
    o.uuid = out.uuid;
    assert_int_equal(store_dir_org_save(f->s, NULL, &o, &f->a, &again), STORE_OK);
    assert_int_equal(audit_count(f), before + 1);
    assert_int_equal(again.updated_at, out.updated_at);
    /* a change is */
    o.name = "Seafront Runners";
    assert_int_equal(store_dir_org_save(f->s, NULL, &o, &f->a, &again), STORE_OK);
    assert_string_equal(again.name, "Seafront Runners");
    assert_int_equal(audit_count(f), before + 2);
    store_audit_list al;
    assert_int_equal(store_audit_list_page(f->s, 0, 1, &f->a, &al), STORE_OK);
    assert_string_equal(al.items[0].action, "directory.organization.update");
    assert_string_equal(al.items[0].entity_id, out.uuid);
    assert_non_null(strstr(al.items[0].detail, "Seafront Runners"));
    /* bad input changes nothing */
    store_dir_org bad = {.name = "  "};
    assert_int_equal(store_dir_org_save(f->s, NULL, &bad, &f->a, NULL), STORE_INVALID);
    store_dir_org ctrl = {.name = "Bad\001name"};
    assert_int_equal(store_dir_org_save(f->s, NULL, &ctrl, &f->a, NULL), STORE_INVALID);
    assert_int_equal(audit_count(f), before + 2);
    store_dir_org_list list;
    assert_int_equal(store_dir_org_list_page(f->s, 0, 10, &f->a, &list), STORE_OK);
    assert_int_equal(list.total, 2);
    assert_string_equal(list.items[0].name, "Food Aid"); /* by name */
    assert_int_equal(store_dir_org_by_uuid(f->s, "not-a-uuid", &f->a, &out), STORE_NOT_FOUND);
}

static void term_parents_must_be_in_the_taxonomy_and_acyclic(void **state) {
    fixture *f = *state;
    /* food is the parent of food-bank: making food a child of food-bank is a cycle */
    store_dir_term t = {.uuid = f->food,
                        .taxonomy_uuid = f->tax,
                        .parent_uuid = f->foodbank,
                        .code = "food",
                        .name = "Food"};
    assert_int_equal(store_dir_term_save(f->s, NULL, &t, &f->a, NULL), STORE_INVALID);
    store_dir_taxonomy other = {.name = "Other"}, oout;
    assert_int_equal(store_dir_taxonomy_save(f->s, NULL, &other, &f->a, &oout), STORE_OK);
    store_dir_term x = {.taxonomy_uuid = oout.uuid, .parent_uuid = f->food, .name = "X"};
    assert_int_equal(store_dir_term_save(f->s, NULL, &x, &f->a, NULL), STORE_INVALID);
    store_dir_term y = {.taxonomy_uuid = "00000000-0000-4000-8000-000000000000", .name = "Y"};
    assert_int_equal(store_dir_term_save(f->s, NULL, &y, &f->a, NULL), STORE_INVALID);
    store_dir_term_list terms;
    assert_int_equal(store_dir_terms(f->s, f->tax, &f->a, &terms), STORE_OK);
    assert_int_equal(terms.n, 3);
    store_dir_term got;
    assert_int_equal(store_dir_term_by_uuid(f->s, f->foodbank, &f->a, &got), STORE_OK);
    assert_string_equal(got.parent_uuid, f->food);
    assert_string_equal(got.taxonomy_uuid, f->tax);
}

static void a_service_round_trips_with_every_child(void **state) {
    fixture *f = *state;
    store_dir_term_ref tr[2] = {{.uuid = f->foodbank}, {.uuid = f->sport}};
    store_dir_area ar[2] = {{.place_id = f->ward_a}, {.place_id = f->worthing}};
    store_dir_location loc = {.name = "Hall",
                              .address_1 = "1 High St",
                              .city = "Shoreham",
                              .postcode = "BN43 5WU",
                              .has_coords = 1,
                              .latitude = 50.83,
                              .longitude = -0.27,
                              .accessibility = "Step-free"};
    store_dir_schedule h[2] = {{.freq = "WEEKLY",
                                .byday = "TU,FR",
                                .opens_at = "10:00",
                                .closes_at = "12:00",
                                .interval = 1},
                               {.freq = "MONTHLY", .byday = "1SA", .opens_at = "09:00"}};
    store_dir_contact c = {
        .name = "Sam", .title = "Coordinator", .email = "sam@example.org", .phone = "01903 000000"};
    store_dir_language l = {.name = "Cymraeg", .code = "cy"};
    store_dir_service s = {.org_uuid = f->org1_uuid,
                           .name = "Pantry",
                           .description = "Low cost food",
                           .status = STORE_DIR_TEMPORARILY_CLOSED,
                           .eligibility = "Residents",
                           .fees = "£5",
                           .terms = tr,
                           .n_terms = 2,
                           .areas = ar,
                           .n_areas = 2,
                           .locations = &loc,
                           .n_locations = 1,
                           .schedules = h,
                           .n_schedules = 2,
                           .contacts = &c,
                           .n_contacts = 1,
                           .languages = &l,
                           .n_languages = 1};
    int64_t before = audit_count(f);
    store_dir_service out, got;
    assert_int_equal(store_dir_service_save(f->s, NULL, &s, &f->a, &out), STORE_OK);
    assert_int_equal(audit_count(f), before + 1);
    assert_int_equal(store_dir_service_by_uuid(f->s, out.uuid, &f->a, &got), STORE_OK);
    assert_string_equal(got.name, "Pantry");
    assert_string_equal(got.org_name, "Food Aid");
    assert_int_equal(got.status, STORE_DIR_TEMPORARILY_CLOSED);
    assert_int_equal(got.n_terms, 2);
    assert_int_equal(got.n_areas, 2);
    assert_int_equal(got.n_locations, 1);
    assert_string_equal(got.locations[0].postcode, "BN43 5WU");
    assert_true(got.locations[0].has_coords);
    assert_true(got.locations[0].latitude > 50.82 && got.locations[0].latitude < 50.84);
    assert_string_equal(got.locations[0].accessibility, "Step-free");
    assert_int_equal(got.n_schedules, 2);
    assert_string_equal(got.schedules[0].byday, "TU,FR");
    assert_string_equal(got.schedules[1].freq, "MONTHLY");
    assert_int_equal(got.n_contacts, 1);
    assert_string_equal(got.contacts[0].phone, "01903 000000");
    assert_string_equal(got.languages[0].code, "cy");
    for (size_t i = 0; i < got.n_terms; i++) assert_true(uuid_valid(got.terms[i].attr_uuid));
    /* updating replaces the children and keeps ids given again */
    store_dir_service upd = got;
    upd.n_schedules = 1;
    upd.n_terms = 1;
    upd.name = "Community pantry";
    assert_int_equal(store_dir_service_save(f->s, NULL, &upd, &f->a, &out), STORE_OK);
    assert_int_equal(store_dir_service_by_uuid(f->s, got.uuid, &f->a, &got), STORE_OK);
    assert_int_equal(got.n_schedules, 1);
    assert_int_equal(got.n_terms, 1);
    assert_string_equal(got.schedules[0].uuid, upd.schedules[0].uuid);
    assert_int_equal(audit_count(f), before + 2);
    /* an unknown term refuses the whole save */
    store_dir_term_ref bad = {.uuid = "00000000-0000-4000-8000-000000000001"};
    upd.terms = &bad;
    upd.name = "Renamed";
    assert_int_equal(store_dir_service_save(f->s, NULL, &upd, &f->a, NULL), STORE_INVALID);
    assert_int_equal(store_dir_service_by_uuid(f->s, got.uuid, &f->a, &got), STORE_OK);
    assert_string_equal(got.name, "Community pantry");
    assert_int_equal(audit_count(f), before + 2);
    /* an unknown organisation too */
    store_dir_service orphan = {.org_uuid = "00000000-0000-4000-8000-000000000002", .name = "X"};
    assert_int_equal(store_dir_service_save(f->s, NULL, &orphan, &f->a, NULL), STORE_INVALID);
}

static void search_ranks_and_filters(void **state) {
    fixture *f = *state;
    store_dir_service a, b, c, d;
    assert_int_equal(add_service(f, "Food bank", "Emergency parcels", f->foodbank, f->ward_a,
                                 "BN43 5WU", 50.832, -0.274, &a),
                     STORE_OK);
    assert_int_equal(add_service(f, "Lunch club", "A hot meal; no food bank here", f->food,
                                 f->worthing, "BN11 1HA", 50.814, -0.371, &b),
                     STORE_OK);
    assert_int_equal(add_service(f, "Running club", "Saturday runs", f->sport, f->ward_w,
                                 "BN11 3PX", 50.809, -0.370, &c),
                     STORE_OK);
    assert_int_equal(add_service(f, "Everywhere walk", "Walks", f->sport, f->county, "BN15 8AJ",
                                 50.829, -0.324, &d),
                     STORE_OK);
    store_dir_service_list l;
    store_dir_query q = {.text = "food bank", .limit = 10};
    assert_int_equal(store_dir_service_search(f->s, &q, &f->a, &l), STORE_OK);
    assert_int_equal(l.total, 2);
    assert_string_equal(l.items[0].uuid, a.uuid);       /* name match ranks above description */
    q = (store_dir_query){.text = "runn", .limit = 10}; /* prefix match */
    assert_int_equal(store_dir_service_search(f->s, &q, &f->a, &l), STORE_OK);
    assert_int_equal(l.total, 1);
    q = (store_dir_query){.text = "\"); DROP TABLE x; --", .limit = 10};
    assert_int_equal(store_dir_service_search(f->s, &q, &f->a, &l), STORE_OK);
    assert_int_equal(l.total, 0);
    /* category: food includes its child food-bank */
    q = (store_dir_query){.term_uuid = f->food, .limit = 10};
    assert_int_equal(store_dir_service_search(f->s, &q, &f->a, &l), STORE_OK);
    assert_int_equal(l.total, 2);
    /* categories are searchable text too */
    q = (store_dir_query){.text = "sport", .limit = 10};
    assert_int_equal(store_dir_service_search(f->s, &q, &f->a, &l), STORE_OK);
    assert_int_equal(l.total, 2);
    /* place overlap: Adur finds its ward's service and the county-wide one */
    q = (store_dir_query){.place_id = f->adur, .limit = 10};
    assert_int_equal(store_dir_service_search(f->s, &q, &f->a, &l), STORE_OK);
    assert_int_equal(l.total, 2);
    q = (store_dir_query){.place_id = f->ward_w, .limit = 10};
    assert_int_equal(store_dir_service_search(f->s, &q, &f->a, &l), STORE_OK);
    assert_int_equal(l.total, 3); /* ward itself, Worthing above it, county above that */
    /* postcode prefix, case and spaces ignored */
    q = (store_dir_query){.postcode = "bn11", .limit = 10};
    assert_int_equal(store_dir_service_search(f->s, &q, &f->a, &l), STORE_OK);
    assert_int_equal(l.total, 2);
    q = (store_dir_query){.postcode = "BN111HA", .limit = 10};
    assert_int_equal(store_dir_service_search(f->s, &q, &f->a, &l), STORE_OK);
    assert_int_equal(l.total, 1);
    /* proximity: within 1 km of central Worthing */
    q = (store_dir_query){.near = 1, .lat = 50.812, .lon = -0.371, .radius_m = 1000, .limit = 10};
    assert_int_equal(store_dir_service_search(f->s, &q, &f->a, &l), STORE_OK);
    assert_int_equal(l.total, 2);
    double lat, lon;
    assert_int_equal(store_dir_postcode_centre(f->s, "BN11", &lat, &lon), STORE_OK);
    assert_true(lat > 50.80 && lat < 50.82);
    assert_int_equal(store_dir_postcode_centre(f->s, "ZZ9", &lat, &lon), STORE_NOT_FOUND);
    /* modified_after */
    q = (store_dir_query){.modified_after = a.updated_at - 1, .limit = 10};
    assert_int_equal(store_dir_service_search(f->s, &q, &f->a, &l), STORE_OK);
    assert_int_equal(l.total, 4);
    q = (store_dir_query){.modified_after = d.updated_at + 10, .limit = 10};
    assert_int_equal(store_dir_service_search(f->s, &q, &f->a, &l), STORE_OK);
    assert_int_equal(l.total, 0);
    /* organisation and paging: total counts every match, pages are disjoint */
    q = (store_dir_query){.org_uuid = f->org1_uuid, .limit = 3};
    assert_int_equal(store_dir_service_search(f->s, &q, &f->a, &l), STORE_OK);
    assert_int_equal(l.total, 4);
    assert_int_equal(l.n, 3);
    const char *first = l.items[0].uuid;
    q.offset = 3;
    assert_int_equal(store_dir_service_search(f->s, &q, &f->a, &l), STORE_OK);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.total, 4);
    assert_string_not_equal(l.items[0].uuid, first);
    /* related: food bank's relatives share food terms, not sport */
    assert_int_equal(store_dir_service_related(f->s, a.id, 10, &f->a, &l), STORE_OK);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].uuid, b.uuid);
}

static void membership_is_checked_and_audited(void **state) {
    fixture *f = *state;
    store_user u;
    assert_int_equal(store_user_create(f->s, NULL, "org@example.org", "Org", "",
                                       STORE_ROLE_ORGANISER, &f->a, &u),
                     STORE_OK);
    assert_int_equal(store_dir_member_check(f->s, f->org1, u.id), STORE_NOT_FOUND);
    int64_t before = audit_count(f);
    assert_int_equal(store_dir_member_add(f->s, NULL, f->org1, u.id), STORE_OK);
    assert_int_equal(store_dir_member_add(f->s, NULL, f->org1, u.id), STORE_OK); /* idempotent */
    assert_int_equal(audit_count(f), before + 1);
    assert_int_equal(store_dir_member_check(f->s, f->org1, u.id), STORE_OK);
    store_user_list m;
    assert_int_equal(store_dir_members(f->s, f->org1, &f->a, &m), STORE_OK);
    assert_int_equal(m.n, 1);
    assert_string_equal(m.items[0].email, "org@example.org");
    store_dir_org_list mine;
    assert_int_equal(store_dir_orgs_of_user(f->s, u.id, &f->a, &mine), STORE_OK);
    assert_int_equal(mine.n, 1);
    assert_int_equal(store_dir_member_add(f->s, NULL, f->org1, 999999), STORE_NOT_FOUND);
    assert_int_equal(store_dir_member_remove(f->s, NULL, f->org1, u.id), STORE_OK);
    assert_int_equal(store_dir_member_remove(f->s, NULL, f->org1, u.id), STORE_NOT_FOUND);
    assert_int_equal(audit_count(f), before + 2);
}

static void imports_are_all_or_nothing_and_idempotent(void **state) {
    fixture *f = *state;
    store_dir_org orgs[1] = {
        {.uuid = "11111111-1111-4111-8111-111111111111", .name = "Imported org"}};
    store_dir_term_ref tr = {.uuid = f->sport};
    store_dir_service svcs[2] = {{.uuid = "22222222-2222-4222-8222-222222222221",
                                  .org_uuid = "11111111-1111-4111-8111-111111111111",
                                  .name = "One",
                                  .terms = &tr,
                                  .n_terms = 1},
                                 {.uuid = "22222222-2222-4222-8222-222222222222",
                                  .org_uuid = "11111111-1111-4111-8111-111111111111",
                                  .name = "Two"}};
    store_dir_feed feed = {
        .orgs = orgs, .n_orgs = 1, .services = svcs, .n_services = 2, .source = "test.json"};
    /* a bad second service: nothing at all is saved */
    store_dir_term_ref bad = {.uuid = "00000000-0000-4000-8000-000000000009"};
    svcs[1].terms = &bad;
    svcs[1].n_terms = 1;
    int64_t before = audit_count(f);
    store_dir_import_result res;
    assert_int_equal(store_dir_import(f->s, NULL, &feed, &res), STORE_INVALID);
    assert_int_equal(res.bad_index, 1);
    assert_int_equal(audit_count(f), before);
    store_dir_org o;
    assert_int_equal(store_dir_org_by_uuid(f->s, orgs[0].uuid, &f->a, &o), STORE_NOT_FOUND);
    /* fixed, it imports; again, nothing changes */
    svcs[1].n_terms = 0;
    assert_int_equal(store_dir_import(f->s, NULL, &feed, &res), STORE_OK);
    assert_int_equal(res.created, 3);
    assert_int_equal(audit_count(f), before + 4); /* 3 rows + the import itself */
    assert_int_equal(store_dir_import(f->s, NULL, &feed, &res), STORE_OK);
    assert_int_equal(res.created, 0);
    assert_int_equal(res.updated, 0);
    assert_int_equal(res.unchanged, 3);
    store_dir_query q = {.limit = 10};
    store_dir_service_list l;
    assert_int_equal(store_dir_service_search(f->s, &q, &f->a, &l), STORE_OK);
    assert_int_equal(l.total, 2);
    /* a changed row is an update */
    svcs[0].description = "Now with a description";
    assert_int_equal(store_dir_import(f->s, NULL, &feed, &res), STORE_OK);
    assert_int_equal(res.updated, 1);
    assert_int_equal(res.unchanged, 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(organisations_are_saved_updated_and_audited, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(term_parents_must_be_in_the_taxonomy_and_acyclic, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_service_round_trips_with_every_child, setup, teardown),
        cmocka_unit_test_setup_teardown(search_ranks_and_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(membership_is_checked_and_audited, setup, teardown),
        cmocka_unit_test_setup_teardown(imports_are_all_or_nothing_and_idempotent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
