/*
 * Unit tests for src/web/i18n: .mo catalogues built with msgfmt (both byte orders),
 * lookups and plural forms, hostile and truncated files, language negotiation, the
 * shipped po/cy.po, and templates rendered in two languages at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/buf.h"
#include "web/i18n.h"
#include "web/tmpl.h"
#include "web/tv.h"

static const char test_po[] =
    "msgid \"\"\n"
    "msgstr \"\"\n"
    "\"Content-Type: text/plain; charset=UTF-8\\n\"\n"
    "\"Plural-Forms: nplurals=4; plural=(n==1) ? 0 : (n==2) ? 1 : (n != 8 && n != 11) ? "
    "2 : 3;\\n\"\n"
    "\n"
    "msgid \"Sign in\"\nmsgstr \"Mewngofnodi\"\n\n"
    "msgid \"Places\"\nmsgstr \"Lleoedd\"\n\n"
    "msgid \"Say \\\"<hi>\\\"\"\nmsgstr \"Dweud \\\"<helo>\\\"\"\n\n"
    "msgid \"Untranslated\"\nmsgstr \"\"\n\n"
    "msgid \"%d ward\"\nmsgid_plural \"%d wards\"\n"
    "msgstr[0] \"un\"\nmsgstr[1] \"dau\"\nmsgstr[2] \"rhai\"\nmsgstr[3] \"llawer\"\n";

static const char fr_po[] =
    "msgid \"\"\nmsgstr \"\"\n\"Content-Type: text/plain; charset=UTF-8\\n\"\n"
    "\"Plural-Forms: nplurals=2; plural=(n > 1);\\n\"\n\n"
    "msgid \"Sign in\"\nmsgstr \"Se connecter\"\n";

typedef struct fixture {
    char dir[64];
    char err[512];
} fixture;

static void write_file(const char *path, const void *data, size_t n) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    fclose(fp);
}

static char *read_all(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *d = malloc((size_t)len + 1);
    assert_int_equal(fread(d, 1, (size_t)len, fp), (size_t)len);
    fclose(fp);
    *n = (size_t)len;
    return d;
}

/* Compiles po text into dir/lang/commonground.mo with msgfmt; extra = msgfmt flags. */
static int build_mo(const char *dir, const char *lang, const char *po, const char *extra) {
    char path[256], cmd[512];
    snprintf(path, sizeof path, "%s/%s", dir, lang);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/%s.po", dir, lang);
    write_file(path, po, strlen(po));
    snprintf(cmd, sizeof cmd, "msgfmt %s -o '%s/%s/commonground.mo' '%s'", extra, dir, lang, path);
    return system(cmd);
}

static int setup(void **state) {
    if (system("command -v msgfmt >/dev/null 2>&1") != 0) return 0; /* tests skip */
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/cg_i18n_XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    if (build_mo(f->dir, "cy", test_po, "") != 0 || build_mo(f->dir, "fr", fr_po, "") != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    i18n_free();
    if (!f) return 0;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

#define NEED_MSGFMT(f)                                                                             \
    do {                                                                                           \
        if (!(f)) skip();                                                                          \
    } while (0)

static void lookups_and_plurals(void **state) {
    fixture *f = *state;
    NEED_MSGFMT(f);
    assert_int_equal(i18n_load(f->dir, f->err, sizeof f->err), 0);
    const char *const *langs = i18n_languages();
    assert_string_equal(langs[0], "en");
    assert_string_equal(langs[1], "cy");
    assert_string_equal(langs[2], "fr");
    assert_null(langs[3]);

    assert_string_equal(T("cy", "Sign in"), "Mewngofnodi");
    assert_string_equal(T("fr", "Sign in"), "Se connecter");
    assert_string_equal(T("cy", "Say \"<hi>\""), "Dweud \"<helo>\"");
    const char *id = "Sign in";
    assert_ptr_equal(T("en", id), id);
    assert_ptr_equal(T(NULL, id), id);
    assert_ptr_equal(T("de", id), id);
    const char *un = "Untranslated", *nope = "Not in catalogue";
    assert_ptr_equal(T("cy", un), un);
    assert_ptr_equal(T("cy", nope), nope);

    /* Welsh: 1 -> 0, 2 -> 1, 8 and 11 -> 3, others -> 2. */
    const char *want[] = {"rhai", "un",     "dau",  "rhai", "rhai",   "rhai", "rhai",
                          "rhai", "llawer", "rhai", "rhai", "llawer", "rhai"};
    for (unsigned long n = 0; n < sizeof want / sizeof want[0]; n++)
        assert_string_equal(NT("cy", "%d ward", "%d wards", n), want[n]);
    /* English rules without a catalogue; a missing plural entry too. */
    assert_string_equal(NT("en", "%d ward", "%d wards", 1), "%d ward");
    assert_string_equal(NT("en", "%d ward", "%d wards", 0), "%d wards");
    assert_string_equal(NT("fr", "%d ward", "%d wards", 2), "%d wards");

    /* A missing directory means English only, not an error. */
    assert_int_equal(i18n_load("/nonexistent/locale", f->err, sizeof f->err), 0);
    assert_null(i18n_languages()[1]);
    assert_string_equal(T("cy", "Sign in"), "Sign in");
}

static void big_endian_catalogue(void **state) {
    fixture *f = *state;
    NEED_MSGFMT(f);
    char dir[128];
    snprintf(dir, sizeof dir, "%s/be", f->dir);
    mkdir(dir, 0700);
    assert_int_equal(build_mo(dir, "cy", test_po, "--endianness=big"), 0);
    char path[256];
    snprintf(path, sizeof path, "%s/cy/commonground.mo", dir);
    assert_int_equal(i18n_load_file("cy", path, f->err, sizeof f->err), 0);
    assert_string_equal(T("cy", "Places"), "Lleoedd");
    assert_string_equal(NT("cy", "%d ward", "%d wards", 2), "dau");
}

/* Every truncation and every single-byte corruption of a valid file must be either
 * rejected or loaded, never read out of bounds (ASan watches). */
static void hostile_files_are_rejected_safely(void **state) {
    fixture *f = *state;
    NEED_MSGFMT(f);
    char good[256], bad[256];
    snprintf(good, sizeof good, "%s/cy/commonground.mo", f->dir);
    snprintf(bad, sizeof bad, "%s/bad.mo", f->dir);
    size_t n;
    char *d = read_all(good, &n);

    write_file(bad, "hello world, not a catalogue at all", 35);
    assert_int_equal(i18n_load_file("cy", bad, f->err, sizeof f->err), -1);
    assert_non_null(strstr(f->err, "bad magic"));
    write_file(bad, d, 20);
    assert_int_equal(i18n_load_file("cy", bad, f->err, sizeof f->err), -1);
    assert_non_null(strstr(f->err, "too short"));

    /* Original-strings table offset pointing past the end. */
    char *m = malloc(n);
    memcpy(m, d, n);
    m[12] = (char)0xf0, m[13] = (char)0xff, m[14] = (char)0xff, m[15] = 0x7f;
    write_file(bad, m, n);
    assert_int_equal(i18n_load_file("cy", bad, f->err, sizeof f->err), -1);
    assert_non_null(strstr(f->err, "outside the file"));

    int rejected = 0;
    for (size_t cut = 0; cut < n; cut++) {
        write_file(bad, d, cut);
        if (i18n_load_file("cy", bad, f->err, sizeof f->err) != 0) rejected++;
    }
    assert_true(rejected > 0);
    for (size_t i = 0; i < n; i++) {
        memcpy(m, d, n);
        m[i] = (char)(m[i] ^ 0xff);
        write_file(bad, m, n);
        if (i18n_load_file("cy", bad, f->err, sizeof f->err) == 0) {
            /* Loaded: lookups must still be safe. */
            (void)T("cy", "Sign in");
            (void)NT("cy", "%d ward", "%d wards", 3);
        }
    }
    i18n_free();
    assert_int_equal(i18n_load_file("cy", good, f->err, sizeof f->err), 0);
    assert_string_equal(T("cy", "Sign in"), "Mewngofnodi");
    assert_int_equal(i18n_load_file("../x", good, f->err, sizeof f->err), -1);
    free(m);
    free(d);

    /* A malformed Plural-Forms expression is rejected. */
    char dir[128];
    snprintf(dir, sizeof dir, "%s/pl", f->dir);
    mkdir(dir, 0700);
    assert_int_equal(
        build_mo(dir, "xx",
                 "msgid \"\"\nmsgstr \"\"\n\"Content-Type: text/plain; charset=UTF-8\\n\"\n"
                 "\"Plural-Forms: nplurals=2; "
                 "plural=(n > ;\\n\"\n\nmsgid \"a\"\nmsgstr \"b\"\n",
                 ""),
        0);
    snprintf(bad, sizeof bad, "%s/xx/commonground.mo", dir);
    assert_int_equal(i18n_load_file("xx", bad, f->err, sizeof f->err), -1);
    assert_non_null(strstr(f->err, "Plural-Forms"));
}

static void negotiation(void **state) {
    fixture *f = *state;
    NEED_MSGFMT(f);
    assert_int_equal(i18n_load(f->dir, f->err, sizeof f->err), 0);
    struct {
        const char *accept, *cookie, *want;
    } cases[] = {
        {NULL, NULL, "en"},
        {"", NULL, "en"},
        {"cy", NULL, "cy"},
        {"cy-GB,cy;q=0.9,en;q=0.8", NULL, "cy"},
        {"en-GB,en;q=0.9,cy;q=0.8", NULL, "en"},
        {"en;q=0.5, cy;q=0.7", NULL, "cy"},
        {"de-DE, cy;q=0.2", NULL, "cy"},
        {"de-DE, ja", NULL, "en"},
        {"cy;q=0, en;q=0.1", NULL, "en"},
        {"CY-gb", NULL, "cy"},
        {"fr;q=0.8, cy;q=0.8", NULL, "fr"}, /* a tie goes to the earlier entry */
        {"*", NULL, "en"},
        {"cy;q=abc, fr", NULL, "fr"}, /* a malformed q drops its entry */
        {"cy;q=1.5", NULL, "en"},
        {" cy ; q=0.9 , fr ; q=0.95", NULL, "fr"},
        {"en", "cy", "cy"}, /* the cookie overrides the header */
        {"cy", "en", "en"},
        {"cy", "de", "cy"}, /* an unsupported cookie is ignored */
        {"cy", "", "cy"},
        {",,,;;;q=,", NULL, "en"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = i18n_negotiate(cases[i].accept, cases[i].cookie);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("negotiate('%s', '%s') = '%s', want '%s'",
                     cases[i].accept ? cases[i].accept : "(null)",
                     cases[i].cookie ? cases[i].cookie : "(null)", got, cases[i].want);
    }
    assert_string_equal(i18n_supported("CY"), "cy");
    assert_null(i18n_supported("de"));
    assert_null(i18n_supported(NULL));
    /* A very long header is handled (bounded work, no crash). */
    char big[8192];
    size_t k = 0;
    while (k + 12 < sizeof big) {
        memcpy(big + k, "xx;q=0.001,", 11);
        k += 11;
    }
    strcpy(big + k, "cy");
    assert_string_equal(i18n_negotiate(big, NULL), "en"); /* cy is past the 64-entry limit */
}

/* The catalogue shipped in po/ compiles and loads, with Welsh plural forms. */
static void shipped_welsh_catalogue(void **state) {
    fixture *f = *state;
    NEED_MSGFMT(f);
    if (access("po/cy.po", R_OK) != 0)
        skip(); /* run from the repository root (tests/run.sh does) */
    char cmd[512], path[256];
    snprintf(path, sizeof path, "%s/shipped.mo", f->dir);
    snprintf(cmd, sizeof cmd, "msgfmt --check -o '%s' po/cy.po", path);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(i18n_load_file("cy", path, f->err, sizeof f->err), 0);
    assert_string_not_equal(T("cy", "Sign in"), "Sign in");
    assert_string_not_equal(T("cy", "Skip to main content"), "Skip to main content");
}

typedef struct job {
    const tmpl_set *set;
    const char *lang, *want;
    int ok;
} job;

static void *render_loop(void *p) {
    job *j = p;
    buf out;
    buf_init(&out, 4096);
    j->ok = 1;
    for (int i = 0; i < 500; i++) {
        buf_reset(&out);
        if (tmpl_render(j->set, "t.html", NULL, j->lang, &out) != TMPL_OK ||
            strcmp(buf_cstr(&out), j->want) != 0)
            j->ok = 0;
    }
    buf_free(&out);
    return NULL;
}

static void templates_in_two_languages_at_once(void **state) {
    fixture *f = *state;
    NEED_MSGFMT(f);
    assert_int_equal(i18n_load(f->dir, f->err, sizeof f->err), 0);
    char tdir[128], path[256];
    snprintf(tdir, sizeof tdir, "%s/templates", f->dir);
    mkdir(tdir, 0700);
    snprintf(path, sizeof path, "%s/t.html", tdir);
    const char *src = "<a>{{_ \"Sign in\"}}</a> {{_ \"Say \\\"<hi>\\\"\"}} {{_ \"Nope\"}}";
    write_file(path, src, strlen(src));
    tmpl_set *set = tmpl_load(tdir, NULL, f->err, sizeof f->err);
    assert_non_null(set);
    job jobs[4] = {
        {set, "cy", "<a>Mewngofnodi</a> Dweud &quot;&lt;helo&gt;&quot; Nope", 0},
        {set, "en", "<a>Sign in</a> Say &quot;&lt;hi&gt;&quot; Nope", 0},
        {set, "fr", "<a>Se connecter</a> Say &quot;&lt;hi&gt;&quot; Nope", 0},
        {set, NULL, "<a>Sign in</a> Say &quot;&lt;hi&gt;&quot; Nope", 0},
    };
    pthread_t th[4];
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, render_loop, &jobs[i]);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        if (!jobs[i].ok)
            fail_msg("rendering in '%s' gave wrong output", jobs[i].lang ? jobs[i].lang : "");
    }
    tmpl_free(set);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(lookups_and_plurals, setup, teardown),
        cmocka_unit_test_setup_teardown(big_endian_catalogue, setup, teardown),
        cmocka_unit_test_setup_teardown(hostile_files_are_rejected_safely, setup, teardown),
        cmocka_unit_test_setup_teardown(negotiation, setup, teardown),
        cmocka_unit_test_setup_teardown(shipped_welsh_catalogue, setup, teardown),
        cmocka_unit_test_setup_teardown(templates_in_two_languages_at_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
