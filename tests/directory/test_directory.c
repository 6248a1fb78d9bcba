/*
 * Unit tests for src/directory's model: the checks of typed values (postcode, URL,
 * email, times, days), opening times in words in English and Welsh, the iCalendar file
 * (CRLF, folding at 75 octets without splitting UTF-8, escaping, recurrence rules,
 * first occurrence), the similarity score and duplicate clusters, and import parsing of
 * HSDS/ORUK JSON and the CSV template (every problem reported, nothing saved, re-import
 * unchanged, JSON export read back identically), including the Open Referral UK
 * validator's own fixtures when the shared data is present.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/buf.h"
#include "directory/cache.h"
#include "directory/directory.h"
#include "place/place.h"
#include "store/directory.h"

/* ---- Checks --------------------------------------------------------------------- */

static void postcodes(void **state) {
    (void)state;
    char out[16];
    const char *good[] = {"BN11 1HA", "bn111ha", "W1A 1AA", "M1 1AE",
                          "EC1A 1BB", "B33 8TH", "CR2 6XH"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_null(directory_postcode_problem(good[i]));
    assert_string_equal(directory_postcode_format("bn111ha", out, sizeof out), "BN11 1HA");
    assert_string_equal(directory_postcode_format(" ec1a 1bb ", out, sizeof out), "EC1A 1BB");
    const char *bad[] = {"BN11", "ABC 1234", "11 1HA", "BN11 HA1", "BN11-1HA", "BN111 1HAA", "Q"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_non_null(directory_postcode_problem(bad[i]));
    assert_null(directory_postcode_problem("")); /* optional */
}

static void urls_emails_times_days(void **state) {
    (void)state;
    assert_null(directory_url_problem("https://example.org/a?b=c"));
    assert_null(directory_url_problem("http://localhost:8080/"));
    assert_non_null(directory_url_problem("example.org"));
    assert_non_null(directory_url_problem("javascript:alert(1)"));
    assert_non_null(directory_url_problem("https://"));
    assert_non_null(directory_url_problem("https://exa mple.org"));
    assert_non_null(directory_url_problem("https://nodot/"));
    assert_null(directory_email_problem("a.b@example.org"));
    assert_non_null(directory_email_problem("a@b"));
    assert_non_null(directory_email_problem("@example.org"));
    assert_non_null(directory_email_problem("a@@example.org"));
    assert_non_null(directory_email_problem("a b@example.org"));
    assert_null(directory_time_problem("09:30"));
    assert_null(directory_time_problem("23:59:00"));
    assert_non_null(directory_time_problem("24:00"));
    assert_non_null(directory_time_problem("9:30"));
    assert_non_null(directory_time_problem("09:60"));
    assert_null(directory_byday_problem("MO,TU"));
    assert_null(directory_byday_problem("1TU,-1FR"));
    assert_non_null(directory_byday_problem("MON"));
    assert_non_null(directory_byday_problem("MO,"));
    assert_non_null(directory_byday_problem("6MO"));
}

/* ---- Opening times in words ----------------------------------------------------- */

static const char *words(const char *freq, int64_t interval, const char *byday, const char *opens,
                         const char *closes, const char *lang, arena *a) {
    store_dir_schedule h = {.freq = freq,
                            .interval = interval,
                            .byday = byday,
                            .bymonthday = "",
                            .opens_at = opens,
                            .closes_at = closes,
                            .description = ""};
    return directory_schedule_words(&h, lang, a);
}

static void schedule_words(void **state) {
    (void)state;
    arena a;
    arena_init(&a, 0);
    assert_string_equal(words("WEEKLY", 1, "TU", "10:00", "12:00", "en", &a),
                        "Tuesdays 10:00-12:00");
    assert_string_equal(words("WEEKLY", 0, "MO,TH", "09:30:00", "11:30:00", "en", &a),
                        "Mondays and Thursdays 09:30-11:30");
    assert_string_equal(words("WEEKLY", 1, "FR,MO,WE", "", "", "en", &a),
                        "Mondays, Wednesdays and Fridays");
    assert_string_equal(words("WEEKLY", 1, "MO,TU,WE,TH,FR", "10:00", "16:00", "en", &a),
                        "Weekdays 10:00-16:00");
    assert_string_equal(words("WEEKLY", 1, "MO,TU,WE,TH,FR,SA,SU", "", "", "en", &a), "Every day");
    assert_string_equal(words("WEEKLY", 2, "SA", "10:00", "13:00", "en", &a),
                        "Every 2 weeks on Saturdays 10:00-13:00");
    assert_string_equal(words("MONTHLY", 1, "1TU", "19:00", "21:00", "en", &a),
                        "First Tuesday of the month 19:00-21:00");
    assert_string_equal(words("MONTHLY", 1, "1SA,3SA", "10:00", "", "en", &a),
                        "First Saturday and third Saturday of the month from 10:00");
    assert_string_equal(words("MONTHLY", 1, "-1FR", "", "", "en", &a), "Last Friday of the month");
    assert_string_equal(words("WEEKLY", 1, "TU", "10:00", "12:00", "cy", &a),
                        "Bob dydd Mawrth 10:00-12:00");
    assert_string_equal(words("MONTHLY", 1, "1TU", "", "", "cy", &a), "Dydd Mawrth cyntaf y mis");
    arena_free(&a);
}

/* ---- iCalendar ------------------------------------------------------------------ */

/* Every line ends CRLF, is at most 75 octets, and no line starts inside a UTF-8
 * sequence; returns the text unfolded (continuations joined) in a. */
static char *check_and_unfold(const char *ics, arena *a) {
    size_t n = strlen(ics);
    char *out = arena_alloc(a, n + 1), *o = out;
    const char *p = ics;
    while (*p) {
        const char *eol = strstr(p, "\r\n");
        assert_non_null(eol);
        assert_true(eol - p <= 75);
        for (const char *q = p; q < eol; q++) assert_true(*q != '\n' && *q != '\r');
        if (*p == ' ') {
            assert_true(((unsigned char)p[1] & 0xC0) != 0x80);
            memcpy(o, p + 1, (size_t)(eol - p - 1));
            o += eol - p - 1;
        } else {
            if (o != out) *o++ = '\n';
            assert_true(((unsigned char)p[0] & 0xC0) != 0x80);
            memcpy(o, p, (size_t)(eol - p));
            o += eol - p;
        }
        p = eol + 2;
    }
    *o = 0;
    return out;
}

static void ical_lines_fold_and_escape(void **state) {
    (void)state;
    arena a;
    arena_init(&a, 0);
    buf b;
    buf_init(&b, 1 << 16);
    /* 200 two-byte characters: the fold must fall between characters */
    char value[512] = "";
    for (int i = 0; i < 100; i++) strcat(value, "é;");
    assert_int_equal(directory_ical_line(&b, "SUMMARY", value, 1), BUF_OK);
    char *text = check_and_unfold(buf_cstr(&b), &a);
    assert_int_equal(strncmp(text, "SUMMARY:é\\;é\\;", strlen("SUMMARY:é\\;é\\;")), 0);
    assert_int_equal(strlen(text), strlen("SUMMARY:") + 100 * (2 + 2));
    buf_reset(&b);
    assert_int_equal(directory_ical_line(&b, "DESCRIPTION", "a,b\\c\nd", 1), BUF_OK);
    assert_string_equal(buf_cstr(&b), "DESCRIPTION:a\\,b\\\\c\\nd\r\n");
    buf_free(&b);
    arena_free(&a);
}

static void ical_file_has_events_and_rules(void **state) {
    (void)state;
    arena a;
    arena_init(&a, 0);
    store_dir_schedule h[3] = {{.uuid = "u1",
                                .freq = "WEEKLY",
                                .interval = 2,
                                .byday = "TU,TH",
                                .bymonthday = "",
                                .opens_at = "10:00",
                                .closes_at = "12:00",
                                .valid_from = "2025-01-01",
                                .valid_to = "2025-12-31",
                                .dtstart = "",
                                .description = "Bring a cup"},
                               {.uuid = "u2",
                                .freq = "MONTHLY",
                                .interval = 0,
                                .byday = "-1FR",
                                .bymonthday = "",
                                .opens_at = "19:00",
                                .closes_at = "21:30",
                                .valid_from = "",
                                .valid_to = "",
                                .dtstart = "",
                                .description = ""},
                               {.uuid = "u3",
                                .freq = "WEEKLY",
                                .byday = "MO",
                                .bymonthday = "",
                                .opens_at = "",
                                .closes_at = "",
                                .valid_from = "",
                                .valid_to = "",
                                .dtstart = "",
                                .description = ""}};
    store_dir_location loc = {.name = "Hall, the big one",
                              .address_1 = "1 High St",
                              .city = "Worthing",
                              .postcode = "BN11 1HA"};
    store_dir_service s = {.name = "Knit; natter",
                           .org_name = "Crafters",
                           .schedules = h,
                           .n_schedules = 3,
                           .locations = &loc,
                           .n_locations = 1};
    buf b;
    buf_init(&b, 1 << 16);
    /* 2025-01-01 is a Wednesday; "today" = 2025-03-01 (a Saturday) */
    assert_int_equal(directory_ical(&b, &s, "example.org", 1740787200), BUF_OK);
    char *t = check_and_unfold(buf_cstr(&b), &a);
    assert_int_equal(strncmp(t, "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:", 35), 0);
    assert_non_null(strstr(t, "END:VCALENDAR"));
    assert_non_null(strstr(t, "BEGIN:VTIMEZONE\nTZID:Europe/London"));
    /* two events: the third schedule has no time */
    const char *e1 = strstr(t, "BEGIN:VEVENT"), *e2 = e1 ? strstr(e1 + 1, "BEGIN:VEVENT") : NULL;
    assert_non_null(e2);
    assert_null(strstr(e2 + 1, "BEGIN:VEVENT"));
    assert_non_null(strstr(t, "UID:u1@example.org"));
    assert_non_null(strstr(t, "DTSTAMP:20250301T000000Z"));
    /* first Tuesday or Thursday on or after 2025-01-01 is Thursday 2 January */
    assert_non_null(strstr(t, "DTSTART;TZID=Europe/London:20250102T100000"));
    assert_non_null(strstr(t, "DTEND;TZID=Europe/London:20250102T120000"));
    assert_non_null(strstr(t, "RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;UNTIL=20251231T235959Z"));
    /* last Friday of March 2025 is the 28th */
    assert_non_null(strstr(t, "DTSTART;TZID=Europe/London:20250328T190000"));
    assert_non_null(strstr(t, "RRULE:FREQ=MONTHLY;BYDAY=-1FR"));
    assert_non_null(strstr(t, "SUMMARY:Knit\\; natter"));
    assert_non_null(strstr(t, "LOCATION:Hall\\, the big one\\, 1 High St\\, Worthing\\, BN11 1HA"));
    assert_non_null(strstr(t, "DESCRIPTION:Crafters\\nBring a cup"));
    /* the raw text has CRLF everywhere and no bare LF */
    const char *raw = buf_cstr(&b);
    for (size_t i = 0; raw[i]; i++)
        if (raw[i] == '\n') assert_true(i > 0 && raw[i - 1] == '\r');
    buf_free(&b);
    arena_free(&a);
}

/* ---- Similarity ----------------------------------------------------------------- */

static store_dir_service svc(const char *name, const char *desc, store_dir_term_ref *terms,
                             size_t nt, store_dir_location *loc) {
    store_dir_service s = {.name = name,
                           .description = desc,
                           .terms = terms,
                           .n_terms = nt,
                           .locations = loc,
                           .n_locations = loc ? 1 : 0};
    return s;
}

static void similarity_parts(void **state) {
    (void)state;
    store_dir_term_ref food = {.uuid = "t-food"}, fb = {.uuid = "t-fb", .parent_uuid = "t-food"},
                       meals = {.uuid = "t-meals", .parent_uuid = "t-food"},
                       sport = {.uuid = "t-sport"};
    store_dir_location here = {.has_coords = 1, .latitude = 50.8137, .longitude = -0.3714},
                       near = {.has_coords = 1, .latitude = 50.8150, .longitude = -0.3700},
                       far = {.has_coords = 1, .latitude = 51.5072, .longitude = -0.1276};
    store_dir_service a = svc("Worthing food bank", "Emergency food parcels", &fb, 1, &here);
    store_dir_service b = svc("Food bank Worthing", "Food parcels in an emergency", &fb, 1, &near);
    store_dir_service c = svc("Community lunch", "Hot meals", &meals, 1, &near);
    store_dir_service d = svc("Running club", "Saturday runs", &sport, 1, &far);
    double cat, text, nearv;
    double ab = directory_similarity(&a, &b, &cat, &text, &nearv);
    assert_true(cat == 1.0);
    assert_true(text > 0.5);
    assert_true(nearv > 0.9);
    double ac = directory_similarity(&a, &c, &cat, NULL, NULL);
    assert_true(cat == 0.25); /* siblings under food: half a shared term of two */
    double ad = directory_similarity(&a, &d, &cat, &text, &nearv);
    assert_true(cat == 0 && text == 0 && nearv < 0.001);
    assert_true(ab > ac && ac > ad);
    /* symmetric */
    assert_true(fabs(directory_similarity(&b, &a, NULL, NULL, NULL) - ab) < 1e-12);
    /* the distance itself: Worthing to London is about 80 km */
    double dist = directory_distance_m(50.8137, -0.3714, 51.5072, -0.1276);
    assert_true(dist > 75000 && dist < 82000);
    /* no coordinates: nearness is neutral */
    store_dir_service e = svc("Food bank", "", &food, 1, NULL);
    directory_similarity(&a, &e, NULL, NULL, &nearv);
    assert_true(nearv == 0.5);
    store_dir_service all[4] = {a, b, c, d};
    int cluster[4];
    size_t n = directory_clusters(all, 4, 0.6, cluster);
    assert_int_equal(n, 1);
    assert_int_equal(cluster[0], cluster[1]);
    assert_int_equal(cluster[2], -1);
    assert_int_equal(cluster[3], -1);
    (void)food;
}

/* ---- Import parsing (needs a store) --------------------------------------------- */

typedef struct fx {
    char path[128];
    store *s;
    arena a;
} fx;

static int setup(void **state) {
    fx *f = calloc(1, sizeof *f);
    snprintf(f->path, sizeof f->path, "/tmp/cg_dirunit_XXXXXX");
    int fd = mkstemp(f->path);
    assert_true(fd >= 0);
    close(fd);
    char err[256];
    if (store_open(f->path, &f->s, err, sizeof err) != STORE_OK) fail_msg("%s", err);
    arena_init(&f->a, 0);
    if (place_seed_demo(f->s, NULL, err, sizeof err) != 0) fail_msg("%s", err);
    if (directory_seed_demo(f->s, NULL, err, sizeof err) != 0) fail_msg("%s", err);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx *f = *state;
    store_close(f->s);
    char p[160];
    unlink(f->path);
    snprintf(p, sizeof p, "%s-wal", f->path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", f->path);
    unlink(p);
    arena_free(&f->a);
    free(f);
    return 0;
}

static int64_t service_total(fx *f) {
    store_dir_query q = {.limit = 0};
    store_dir_service_list l;
    assert_int_equal(store_dir_service_search(f->s, &q, &f->a, &l), STORE_OK);
    return l.total;
}

static int has_problem(const directory_import_report *r, const char *where, const char *needle) {
    for (size_t i = 0; i < r->n_problems; i++)
        if (strstr(r->problems[i].where, where) && strstr(r->problems[i].why, needle)) return 1;
    return 0;
}

static int has_note(const directory_import_report *r, const char *where, const char *needle) {
    for (size_t i = 0; i < r->n_notes; i++)
        if (strstr(r->notes[i].where, where) && strstr(r->notes[i].why, needle)) return 1;
    return 0;
}

static void csv_template_imports_and_reports(void **state) {
    fx *f = *state;
    int64_t before = service_total(f);
    const char *good =
        "organization_name,service_name,service_description,categories,postcode,days,opens_at,"
        "closes_at,areas,latitude,longitude,languages\r\n"
        "Lancing Repair Café,Repair café,\"Fix toasters, bikes and "
        "clothes\",environment;volunteering,"
        "bn15 8aj,SA,10:00,13:00,E05007567,50.829,-0.324,en;cy\r\n"
        "Lancing Repair Café,Sewing circle,Mend and make,arts,,TH,14:00,16:00,Manor,,,\r\n";
    directory_import_report rep;
    assert_int_equal(directory_import(f->s, NULL, good, strlen(good), "t.csv", &f->a, &rep), 0);
    assert_int_equal(rep.result.created, 3); /* one organisation, two services */
    assert_int_equal(service_total(f), before + 2);
    store_dir_query q = {.text = "toasters", .limit = 5, .with_children = 1};
    store_dir_service_list l;
    assert_int_equal(store_dir_service_search(f->s, &q, &f->a, &l), STORE_OK);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].locations[0].postcode, "BN15 8AJ");
    assert_int_equal(l.items[0].n_terms, 2);
    assert_int_equal(l.items[0].n_languages, 2);
    assert_string_equal(l.items[0].schedules[0].byday, "SA");
    /* the same file again: ids derived from names, so nothing new */
    assert_int_equal(directory_import(f->s, NULL, good, strlen(good), "t.csv", &f->a, &rep), 0);
    assert_int_equal(rep.result.created, 0);
    assert_int_equal(rep.result.unchanged, 3);
    /* a file with problems: every one reported, nothing saved */
    const char *bad = "organization_name,service_name,email,url,postcode,opens_at,closes_at,"
                      "categories,areas,days\r\n"
                      "Group A,Good row,,,,,,,,\r\n"
                      ",Nameless org,,,,,,,,\r\n"
                      "Group B,,,,,,,,,\r\n"
                      "Group C,Bad email,not-an-email,,,,,,,\r\n"
                      "Group D,Bad url,,example.org,,,,,,\r\n"
                      "Group E,Bad postcode,,,XYZ,,,,,\r\n"
                      "Group F,Backwards,,,,12:00,10:00,,,MO\r\n"
                      "Group G,Unknown category,,,,,,underwater-basket,,\r\n"
                      "Group H,Unknown area,,,,,,,Atlantis,\r\n";
    int64_t mid = service_total(f);
    assert_int_equal(directory_import(f->s, NULL, bad, strlen(bad), "bad.csv", &f->a, &rep), -1);
    assert_int_equal(service_total(f), mid);
    assert_true(has_problem(&rep, "line 3", "organization_name"));
    assert_true(has_problem(&rep, "line 4", "service_name"));
    assert_true(has_problem(&rep, "line 5", "email"));
    assert_true(has_problem(&rep, "line 6", "url"));
    assert_true(has_problem(&rep, "line 7", "postcode"));
    assert_true(has_problem(&rep, "line 8", "closing time must be after"));
    assert_true(has_problem(&rep, "line 9", "underwater-basket"));
    assert_true(has_problem(&rep, "line 10", "Atlantis"));
    assert_false(has_problem(&rep, "line 2", ""));
    const char *unknown_col = "organization_name,service_name,colour\r\nA,B,red\r\n";
    assert_int_equal(
        directory_import(f->s, NULL, unknown_col, strlen(unknown_col), "c.csv", &f->a, &rep), -1);
    assert_true(has_problem(&rep, "line 1", "colour"));
}

static void json_feed_imports_and_reports(void **state) {
    fx *f = *state;
    const char *feed =
        "{\"id\":\"a1b2c3d4-0000-4000-8000-000000000001\",\"name\":\"Chess "
        "club\",\"status\":\"active\","
        "\"description\":\"Chess for "
        "all\",\"organization\":{\"id\":\"a1b2c3d4-0000-4000-8000-0000000000aa\","
        "\"name\":\"Chess people\",\"description\":\"\"},"
        "\"schedules\":[{\"id\":\"a1b2c3d4-0000-4000-8000-000000000002\",\"freq\":\"WEEKLY\","
        "\"byday\":\"WE\","
        "\"opens_at\":\"19:00:00\",\"closes_at\":\"21:00:00\"}],"
        "\"attributes\":[{\"id\":\"a1b2c3d4-0000-4000-8000-000000000003\",\"taxonomy_term\":"
        "{\"id\":\"a1b2c3d4-0000-4000-8000-000000000004\",\"name\":\"Board "
        "games\",\"description\":\"\"}}]}";
    directory_import_report rep;
    int64_t before = service_total(f);
    assert_int_equal(directory_import(f->s, NULL, feed, strlen(feed), "one.json", &f->a, &rep), 0);
    assert_int_equal(service_total(f), before + 1);
    store_dir_service s;
    assert_int_equal(
        store_dir_service_by_uuid(f->s, "a1b2c3d4-0000-4000-8000-000000000001", &f->a, &s),
        STORE_OK);
    assert_string_equal(s.org_name, "Chess people");
    assert_int_equal(s.n_terms, 1);
    assert_string_equal(s.terms[0].name, "Board games");
    assert_string_equal(s.schedules[0].opens_at, "19:00:00");
    assert_int_equal(directory_import(f->s, NULL, feed, strlen(feed), "one.json", &f->a, &rep), 0);
    assert_int_equal(rep.result.created + rep.result.updated, 0);
    assert_int_equal(rep.n_notes, 0);
    /* Coordinates off the globe: the service and its location are kept, without the
     * coordinates, and the report says where and why. */
    const char *offglobe =
        "[{\"id\":\"a1b2c3d4-0000-4000-8000-000000000010\",\"name\":\"Sea swim\",\"status\":\"active\","
        "\"organization\":{\"id\":\"a1b2c3d4-0000-4000-8000-0000000000aa\",\"name\":\"Chess people\"},"
        "\"service_at_locations\":[{\"id\":\"a1b2c3d4-0000-4000-8000-000000000011\",\"location\":"
        "{\"id\":\"a1b2c3d4-0000-4000-8000-000000000012\",\"name\":\"Beach\",\"latitude\":100,"
        "\"longitude\":-0.3}},{\"id\":\"a1b2c3d4-0000-4000-8000-000000000013\",\"location\":"
        "{\"id\":\"a1b2c3d4-0000-4000-8000-000000000014\",\"name\":\"Pier\",\"latitude\":\"50.8\"}}]}]";
    assert_int_equal(directory_import(f->s, NULL, offglobe, strlen(offglobe), "sea.json", &f->a, &rep), 0);
    assert_int_equal(rep.n_notes, 2);
    assert_true(has_note(&rep, "[0].service_at_locations[0].location", "latitude 100, longitude -0.3 is off the globe"));
    assert_true(has_note(&rep, "[0].service_at_locations[1].location", "must both be numbers"));
    assert_int_equal(
        store_dir_service_by_uuid(f->s, "a1b2c3d4-0000-4000-8000-000000000010", &f->a, &s), STORE_OK);
    assert_int_equal(s.n_locations, 2);
    assert_false(s.locations[0].has_coords);
    assert_false(s.locations[1].has_coords);
    const char *bad = "[{\"id\":\"x\",\"name\":\"\",\"status\":\"open\",\"organization_id\":"
                      "\"a1b2c3d4-0000-4000-8000-0000000000ab\","
                      "\"email\":\"nope\",\"schedules\":[{\"freq\":\"DAILY\",\"opens_at\":\"10:"
                      "00\",\"closes_at\":\"09:00\"}]}]";
    assert_int_equal(directory_import(f->s, NULL, bad, strlen(bad), "bad.json", &f->a, &rep), -1);
    assert_true(has_problem(&rep, "[0]", "id: must be a UUID"));
    assert_true(has_problem(&rep, "[0]", "name: missing"));
    assert_true(has_problem(&rep, "[0]", "status"));
    assert_true(has_problem(&rep, "[0]", "organization_id"));
    assert_true(has_problem(&rep, "[0]", "email"));
    assert_true(has_problem(&rep, "[0].schedules[0]", "freq"));
    assert_true(has_problem(&rep, "[0].schedules[0]", "closing time"));
    const char *broken = "{\"contents\": [";
    assert_int_equal(directory_import(f->s, NULL, broken, strlen(broken), "b.json", &f->a, &rep),
                     -1);
    assert_true(has_problem(&rep, "line", "invalid JSON"));
}

/* Export -> import into a fresh database -> export: the same document. */
static void json_export_round_trips(void **state) {
    fx *f = *state;
    json_t *first;
    assert_int_equal(directory_export_json(f->s, "", &f->a, &first), 0);
    char *text = json_dumps(first, JSON_COMPACT);
    fx *g;
    setup((void **)&g);
    /* the second database has its own demo data: import into an empty directory */
    store_close(g->s);
    unlink(g->path);
    char err[256];
    assert_int_equal(store_open(g->path, &g->s, err, sizeof err), STORE_OK);
    assert_int_equal(place_seed_demo(g->s, NULL, err, sizeof err), 0);
    directory_import_report rep;
    assert_int_equal(directory_import(g->s, NULL, text, strlen(text), "export.json", &g->a, &rep),
                     0);
    json_t *second;
    assert_int_equal(directory_export_json(g->s, "", &g->a, &second), 0);
    /* last_modified is the time of saving, and area URIs name each database's places */
    size_t i;
    json_t *x;
    json_t *lists[2] = {json_object_get(first, "services"), json_object_get(second, "services")};
    for (int k = 0; k < 2; k++) json_array_foreach(lists[k], i, x) {
            json_object_del(x, "last_modified");
            json_t *areas = json_object_get(x, "service_areas"), *ar;
            size_t j;
            json_array_foreach(areas, j, ar) json_object_del(ar, "uri");
        }
    assert_int_equal(json_array_size(lists[0]), 14);
    assert_true(json_equal(first, second));
    json_decref(first);
    json_decref(second);
    free(text);
    teardown((void **)&g);
}

/* directory_service_write / directory_page_write: byte for byte what json_dumps
 * (JSON_COMPACT) writes for the jansson tree of the same service or page. */
static void expect_same_service(const store_dir_service *s, const char *base_url) {
    json_t *j = directory_service_json(s, base_url);
    char *want = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    buf b;
    buf_init(&b, 1 << 24);
    directory_service_write(&b, s, base_url);
    assert_string_equal(buf_cstr(&b), want);
    buf_free(&b);
    free(want);
}

static void service_writer_matches_jansson(void **state) {
    fx *f = *state;
    /* every demo service, fully nested */
    store_dir_query q = {0};
    q.limit = 500;
    q.with_children = 1;
    store_dir_service_list list;
    assert_int_equal(store_dir_service_search(f->s, &q, &f->a, &list), STORE_OK);
    assert_true(list.n >= 10);
    for (size_t i = 0; i < list.n; i++) expect_same_service(&list.items[i], "http://x.test");
    /* the page object, with and without contents */
    for (int64_t page = 1; page <= 3; page++) {
        json_t *contents = json_array();
        for (size_t i = 0; i < list.n; i++)
            json_array_append_new(contents, directory_service_json(&list.items[i], ""));
        json_t *pj = directory_page_json(list.total, page, 5, page == 3 ? json_array() : contents);
        if (page == 3) json_decref(contents);
        char *want = json_dumps(pj, JSON_COMPACT);
        json_decref(pj);
        buf b;
        buf_init(&b, 1 << 24);
        directory_page_write(&b, list.total, page, 5, list.items, page == 3 ? 0 : list.n, "");
        assert_string_equal(buf_cstr(&b), want);
        buf_free(&b);
        free(want);
    }
    /* awkward text: quotes, backslashes, control characters, non-ASCII, slashes, text
     * that is not UTF-8 (jansson leaves such a key out), NULLs and empty strings, reals */
    store_dir_schedule h = {.uuid = "h1",
                            .freq = "WEEKLY",
                            .interval = 2,
                            .byday = "MO",
                            .opens_at = "09:00",
                            .description = "tab\there \"q\" \\ \x01\x1f\x7f"};
    store_dir_area r = {.uuid = "r1", .place_uuid = "p/1", .name = NULL, .gss_code = "E0\n"};
    store_dir_location l[2] = {{.uuid = "l1",
                                .sal_uuid = "sl1",
                                .name = "Caf\xc3\xa9 / hall",
                                .has_coords = 1,
                                .latitude = 50.812345678901234,
                                .longitude = -1e-7,
                                .postcode = "BN11 1HA",
                                .accessibility = "step\rfree\b\f"},
                               {.uuid = "l2",
                                .sal_uuid = "sl2",
                                .has_coords = 1,
                                .latitude = 0,
                                .longitude = 123456789.0,
                                .address_1 = "\xff bad"}};
    store_dir_contact c = {.uuid = "c1", .name = "A", .phone = "01903 000000", .email = ""};
    store_dir_language g = {.uuid = "g1", .name = "Cymraeg", .code = "cy"};
    store_dir_term_ref t = {.uuid = "t1", .code = "x", .name = "\xe2\x80\xa8 sep"};
    store_dir_service s = {.uuid = "s1",
                           .org_uuid = "o1",
                           .org_name = "O \"1\"",
                           .name = "Name \xf0\x9f\x8d\x8e",
                           .description = NULL,
                           .url = "",
                           .email = "bad \xc3",
                           .fees = "\xc0\xaf",
                           .eligibility = "all",
                           .updated_at = 1700000000,
                           .schedules = &h,
                           .n_schedules = 1,
                           .areas = &r,
                           .n_areas = 1,
                           .locations = l,
                           .n_locations = 2,
                           .contacts = &c,
                           .n_contacts = 1,
                           .languages = &g,
                           .n_languages = 1,
                           .terms = &t,
                           .n_terms = 1};
    expect_same_service(&s, NULL);
    store_dir_service empty = {.uuid = "s2", .org_uuid = "o2"};
    expect_same_service(&empty, "");
}

/* The Open Referral UK validator's passing fixture imports; its list fixture too. */
static void oruk_validator_fixtures_import(void **state) {
    fx *f = *state;
    const char *root = getenv("CG_SHARED_DATA");
    char path[512];
    snprintf(path, sizeof path,
             "%s/standards/hsds/oruk-validator-mocks/V3.0-UK-Default/service_full.json",
             root ? root : "../shared/data");
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        print_message("skipping: %s not found (set CG_SHARED_DATA)\n", path);
        skip();
    }
    char *data = malloc(1 << 20);
    size_t n = fread(data, 1, (1 << 20) - 1, fp);
    fclose(fp);
    data[n] = 0;
    directory_import_report rep;
    int rc = directory_import(f->s, NULL, data, n, path, &f->a, &rep);
    free(data);
    for (size_t i = 0; i < rep.n_problems; i++)
        print_message("%s: %s\n", rep.problems[i].where, rep.problems[i].why);
    assert_int_equal(rc, 0);
    store_dir_service s;
    assert_int_equal(
        store_dir_service_by_uuid(f->s, "ac148810-d857-441c-9679-408f346de14b", &f->a, &s),
        STORE_OK);
    assert_string_equal(s.name, "Community Counselling");
    assert_true(s.n_schedules >= 1);
    assert_true(s.n_locations >= 1);
    assert_false(s.locations[0].has_coords); /* latitude 100 in the fixture is left out */
}

/* ---- The response cache --------------------------------------------------------- */

static void cache_hits_until_a_write(void **state) {
    (void)state;
    arena a;
    arena_init(&a, 0);
    char *data;
    size_t len;
    dir_cache_put("k1", "hello", 5);
    assert_true(dir_cache_get("k1", &a, &data, &len));
    assert_int_equal(len, 5);
    assert_string_equal(data, "hello");
    assert_false(dir_cache_get("k2", &a, &data, &len));
    dir_cache_put("k1", "world!", 6); /* replaced */
    assert_true(dir_cache_get("k1", &a, &data, &len));
    assert_string_equal(data, "world!");
    dir_cache_bump(); /* a write: everything is stale */
    assert_false(dir_cache_get("k1", &a, &data, &len));
    dir_cache_put("k1", "again", 5);
    assert_true(dir_cache_get("k1", &a, &data, &len));
    /* too big to keep */
    size_t big = DIR_CACHE_MAX_ENTRY + 1;
    char *huge = calloc(1, big);
    dir_cache_put("huge", huge, big);
    free(huge);
    assert_false(dir_cache_get("huge", &a, &data, &len));
    arena_free(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(postcodes),
        cmocka_unit_test(urls_emails_times_days),
        cmocka_unit_test(schedule_words),
        cmocka_unit_test(ical_lines_fold_and_escape),
        cmocka_unit_test(ical_file_has_events_and_rules),
        cmocka_unit_test(similarity_parts),
        cmocka_unit_test(cache_hits_until_a_write),
        cmocka_unit_test_setup_teardown(csv_template_imports_and_reports, setup, teardown),
        cmocka_unit_test_setup_teardown(json_feed_imports_and_reports, setup, teardown),
        cmocka_unit_test_setup_teardown(json_export_round_trips, setup, teardown),
        cmocka_unit_test_setup_teardown(service_writer_matches_jansson, setup, teardown),
        cmocka_unit_test_setup_teardown(oruk_validator_fixtures_import, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
