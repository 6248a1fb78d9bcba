/*
 * Store tests on real data: the Adur and Worthing council areas and their wards, with
 * their ONS GSS codes, read from the Census 2021 extract in the shared data folder
 * (census/adur_worthing_wards_bestfit_2021.csv, Open Government Licence v3.0) and
 * loaded through the store contract the way demo data is. Skipped when the data folder
 * is absent.
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
#include "core/csv.h"
#include "core/log.h"
#include "store/store.h"

static const char *data_dir(void) {
    const char *d = getenv("CG_SHARED_DATA");
    return d && *d ? d : "../shared/data";
}

static void remove_db(const char *path) {
    char p[128];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

/* Creates the place with this GSS code unless it exists; returns its id. Counts the
 * places created in *created. */
static int64_t ensure_place(store *s, int64_t parent, store_place_kind kind, const char *name,
                            const char *gss, int *created) {
    arena a;
    arena_init(&a, 0);
    store_place p;
    int rc = store_place_by_gss(s, gss, &a, &p);
    if (rc == STORE_NOT_FOUND) {
        store_place_input in = {parent, kind, name, gss, NULL};
        rc = store_place_create(s, NULL, &in, &a, &p);
        if (rc == STORE_OK) (*created)++;
    }
    if (rc != STORE_OK) fail_msg("place %s (%s): %s", name, gss, store_strerror(rc));
    int64_t id = p.id;
    arena_free(&a);
    return id;
}

/* Loads every council area and ward named in the census file; returns how many places
 * were created. */
static int load_wards(store *s, const char *csv_path) {
    char err[256];
    csv_reader *r = csv_open_file(csv_path, ',', err, sizeof err);
    if (!r) fail_msg("%s", err);
    assert_int_equal(csv_next(r), 1); /* header */
    assert_string_equal(csv_field(r, 0), "ltla_code");
    assert_string_equal(csv_field(r, 2), "ward24_code");
    int created = 0, rc;
    while ((rc = csv_next(r)) == 1) {
        if (csv_blank(r)) continue;
        int64_t council = ensure_place(s, 0, STORE_PLACE_COUNCIL_AREA, csv_field(r, 1),
                                       csv_field(r, 0), &created);
        ensure_place(s, council, STORE_PLACE_WARD, csv_field(r, 3), csv_field(r, 2), &created);
    }
    if (rc < 0) fail_msg("%s", csv_error(r));
    csv_free(r);
    return created;
}

static void adur_and_worthing_wards_load_once(void **state) {
    (void)state;
    char csv_path[1024];
    snprintf(csv_path, sizeof csv_path, "%s/census/adur_worthing_wards_bestfit_2021.csv",
             data_dir());
    if (access(csv_path, R_OK) != 0) {
        printf("# skipping: %s not found (set CG_SHARED_DATA)\n", csv_path);
        skip();
    }
    char path[64] = "/tmp/cg_store_data_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    store *s;
    char err[256];
    assert_int_equal(store_open(path, &s, err, sizeof err), STORE_OK);

    int created = load_wards(s, csv_path);
    /* 2 council areas; Adur has 14 wards and Worthing 13 (2024 boundaries). */
    assert_int_equal(created, 2 + 14 + 13);
    /* Loading again finds every place by its GSS code and creates nothing. */
    assert_int_equal(load_wards(s, csv_path), 0);
    int64_t n = 0;
    assert_int_equal(store_place_count(s, &n), STORE_OK);
    assert_int_equal(n, 29);
    assert_int_equal(store_audit_count(s, &n), STORE_OK);
    assert_int_equal(n, 29);

    arena a;
    arena_init(&a, 0);
    store_place adur, ward;
    assert_int_equal(store_place_by_gss(s, "E07000223", &a, &adur), STORE_OK);
    assert_string_equal(adur.name, "Adur");
    assert_int_equal(adur.kind, STORE_PLACE_COUNCIL_AREA);
    assert_int_equal(adur.child_count, 14);
    assert_int_equal(store_place_by_gss(s, "E05007562", &a, &ward), STORE_OK);
    assert_string_equal(ward.name, "Buckingham");
    assert_int_equal(ward.parent_id, adur.id);
    assert_string_equal(ward.parent_name, "Adur");

    store_place_list l;
    assert_int_equal(store_place_list_page(s, STORE_PLACES_ROOTS, 0, 10, &a, &l), STORE_OK);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].name, "Adur");
    assert_string_equal(l.items[1].name, "Worthing");
    assert_int_equal(l.items[1].child_count, 13);
    assert_int_equal(store_place_list_page(s, l.items[1].id, 0, 100, &a, &l), STORE_OK);
    assert_int_equal(l.n, 13);
    for (size_t i = 1; i < l.n; i++) {
        assert_true(strcmp(l.items[i - 1].name, l.items[i].name) <= 0);
        assert_string_equal(l.items[i].parent_name, "Worthing");
        assert_int_equal(l.items[i].kind, STORE_PLACE_WARD);
        assert_non_null(l.items[i].gss_code);
        assert_int_equal(strncmp(l.items[i].gss_code, "E05", 3), 0);
    }

    arena_free(&a);
    store_close(s);
    remove_db(path);
}

int main(void) {
    log_set_level(LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(adur_and_worthing_wards_load_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
