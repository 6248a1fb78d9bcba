/*
 * Unit tests for src/http/form.c: percent-decoding, urlencoded and multipart parsing
 * with their caps, header parameters and the Cookie header.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/utf8.h"
#include "http/form.h"

static const http_form_limits LIM = {16, 1024};

static void pct_decode_edge_cases(void **state) {
    (void)state;
    arena a;
    arena_init(&a, 0);
    char *out;
    size_t n;
    assert_int_equal(http_pct_decode(&a, "%41%62c%2f", 10, 0, &out, &n), 0);
    assert_string_equal(out, "Abc/");
    assert_int_equal(n, 4);
    assert_int_equal(http_pct_decode(&a, "a+b", 3, 1, &out, NULL), 0);
    assert_string_equal(out, "a b");
    assert_int_equal(http_pct_decode(&a, "a+b", 3, 0, &out, NULL), 0);
    assert_string_equal(out, "a+b");
    assert_int_equal(http_pct_decode(&a, "%00", 3, 0, &out, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(out[0], '\0');
    /* truncated and non-hex escapes */
    assert_int_equal(http_pct_decode(&a, "%", 1, 0, &out, NULL), -1);
    assert_int_equal(http_pct_decode(&a, "ab%4", 4, 0, &out, NULL), -1);
    assert_int_equal(http_pct_decode(&a, "%zz", 3, 0, &out, NULL), -1);
    assert_int_equal(http_pct_decode(&a, "%4g", 3, 0, &out, NULL), -1);
    /* the length bounds the input: "%41" cut to "%4" is malformed */
    assert_int_equal(http_pct_decode(&a, "%41", 2, 0, &out, NULL), -1);
    arena_free(&a);
}

static int urlenc(arena *a, const char *s, const http_form_limits *lim, http_field_list *l,
                  char *err) {
    memset(l, 0, sizeof *l);
    return http_parse_urlencoded(a, s, strlen(s), lim, "form", l, err, 256);
}

static void urlencoded_fields(void **state) {
    (void)state;
    arena a;
    arena_init(&a, 0);
    http_field_list l;
    char err[256];
    assert_int_equal(
        urlenc(&a, "a=1&b=x+y&&c=%C3%A9t%C3%A9&d&e=&a=2&note=two%0D%0Alines", &LIM, &l, err), 0);
    assert_int_equal(l.n, 7);
    assert_string_equal(http_field_list_find(&l, "a")->value, "1"); /* first wins */
    assert_string_equal(l.items[5].value, "2");
    assert_string_equal(http_field_list_find(&l, "b")->value, "x y");
    assert_string_equal(http_field_list_find(&l, "c")->value, "\xC3\xA9t\xC3\xA9");
    assert_int_equal(http_field_list_find(&l, "c")->len, 5);
    assert_string_equal(http_field_list_find(&l, "d")->value, "");
    assert_string_equal(http_field_list_find(&l, "e")->value, "");
    assert_string_equal(http_field_list_find(&l, "note")->value, "two\r\nlines");
    assert_null(http_field_list_find(&l, "zz"));
    assert_int_equal(urlenc(&a, "", &LIM, &l, err), 0);
    assert_int_equal(l.n, 0);
    arena_free(&a);
}

static void urlencoded_rejects_bad_input(void **state) {
    (void)state;
    arena a;
    arena_init(&a, 0);
    http_field_list l;
    char err[256];
    assert_int_equal(urlenc(&a, "name=%zz", &LIM, &l, err), 400);
    assert_non_null(strstr(err, "percent"));
    assert_non_null(strstr(err, "\"name\""));
    assert_int_equal(urlenc(&a, "n%G1=1", &LIM, &l, err), 400);
    assert_int_equal(urlenc(&a, "title=%FF%FE", &LIM, &l, err), 400);
    assert_non_null(strstr(err, "UTF-8"));
    assert_non_null(strstr(err, "title"));
    assert_int_equal(urlenc(&a, "t=%C0%AF", &LIM, &l, err), 400);    /* overlong '/' */
    assert_int_equal(urlenc(&a, "t=%ED%A0%80", &LIM, &l, err), 400); /* surrogate */
    assert_int_equal(urlenc(&a, "t=a%00b", &LIM, &l, err), 400);     /* NUL */
    assert_int_equal(urlenc(&a, "t=%1B[31m", &LIM, &l, err), 400);   /* escape */
    assert_int_equal(urlenc(&a, "%FF=1", &LIM, &l, err), 400);       /* bad name */
    arena_free(&a);
}

static void urlencoded_caps(void **state) {
    (void)state;
    arena a;
    arena_init(&a, 0);
    http_field_list l;
    char err[256];
    http_form_limits lim = {3, 5};
    assert_int_equal(urlenc(&a, "a=1&b=2&c=3", &lim, &l, err), 0);
    assert_int_equal(urlenc(&a, "a=1&b=2&c=3&d=4", &lim, &l, err), 413);
    assert_non_null(strstr(err, "too many fields"));
    assert_int_equal(urlenc(&a, "a=12345", &lim, &l, err), 0);
    assert_int_equal(urlenc(&a, "bio=123456", &lim, &l, err), 413);
    assert_non_null(strstr(err, "\"bio\""));
    /* the cap is on decoded bytes: %41 counts as one */
    assert_int_equal(urlenc(&a, "a=%41%41%41%41%41", &lim, &l, err), 0);
    /* a long field name in a message is clipped at a character boundary */
    char big[400];
    memset(big, 0, sizeof big);
    for (int i = 0; i < 60; i++) strcat(big, "%C3%A9");
    strcat(big, "=%FF");
    http_form_limits wide = {3, 1000};
    assert_int_equal(urlenc(&a, big, &wide, &l, err), 400);
    assert_non_null(strstr(err, "\xC3\xA9..."));
    arena_free(&a);
}

static int multipart(arena *a, const char *body, const http_form_limits *lim, http_field_list *f,
                     http_upload_list *u, char *err) {
    memset(f, 0, sizeof *f);
    memset(u, 0, sizeof *u);
    return http_parse_multipart(a, "multipart/form-data; boundary=\"XyZ\"", body, strlen(body), lim,
                                f, u, err, 256);
}

static void multipart_fields_and_uploads(void **state) {
    (void)state;
    arena a;
    arena_init(&a, 0);
    http_field_list f;
    http_upload_list u;
    char err[256];
    const char *body = "preamble to ignore\r\n"
                       "--XyZ\r\n"
                       "Content-Disposition: form-data; name=\"title\"\r\n"
                       "\r\n"
                       "Caf\xC3\xA9 on the green\r\n"
                       "--XyZ\r\n"
                       "content-disposition: form-data; name=\"photo\"; "
                       "filename=\"C:\\\\Users\\\\me\\\\pic.png\"\r\n"
                       "Content-Type: image/png\r\n"
                       "\r\n"
                       "\x89PNG\r\n\x1a\n\xff\x00\r\n--Xy not a boundary\r\n"
                       "--XyZ\r\n"
                       "Content-Disposition: form-data; name=\"empty\"; filename=\"\"\r\n"
                       "\r\n"
                       "\r\n"
                       "--XyZ\r\n"
                       "Content-Disposition: form-data; name=\"multi\"\r\n"
                       "\r\n"
                       "line1\r\nline2\r\n"
                       "--XyZ--\r\n"
                       "epilogue";
    /* strlen stops at the NUL in the PNG bytes, so pass the real length */
    size_t len = 0;
    while (strncmp(body + len, "epilogue", 8) != 0) len++;
    len += 8;
    memset(&f, 0, sizeof f);
    memset(&u, 0, sizeof u);
    int rc = http_parse_multipart(&a, "multipart/form-data; boundary=XyZ", body, len, &LIM, &f, &u,
                                  err, sizeof err);
    assert_int_equal(rc, 0);
    assert_int_equal(f.n, 2);
    assert_string_equal(http_field_list_find(&f, "title")->value, "Caf\xC3\xA9 on the green");
    assert_string_equal(http_field_list_find(&f, "multi")->value, "line1\r\nline2");
    assert_int_equal(u.n, 2);
    assert_string_equal(u.items[0].field, "photo");
    assert_string_equal(u.items[0].filename, "pic.png");
    assert_string_equal(u.items[0].content_type, "image/png");
    assert_int_equal(u.items[0].len, 31);
    assert_memory_equal(u.items[0].data, "\x89PNG\r\n\x1a\n\xff\x00", 10);
    assert_string_equal(u.items[1].filename, "");
    assert_string_equal(u.items[1].content_type, "application/octet-stream");
    assert_int_equal(u.items[1].len, 0);
    arena_free(&a);
}

static void multipart_rejects_malformed(void **state) {
    (void)state;
    arena a;
    arena_init(&a, 0);
    http_field_list f;
    http_upload_list u;
    char err[256];
    const char *ok = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--XyZ--\r\n";
    assert_int_equal(multipart(&a, ok, &LIM, &f, &u, err), 0);
    assert_string_equal(http_field_list_find(&f, "a")->value, "v");
    /* no boundary parameter */
    assert_int_equal(http_parse_multipart(&a, "multipart/form-data", ok, strlen(ok), &LIM, &f, &u,
                                          err, sizeof err),
                     400);
    assert_non_null(strstr(err, "boundary"));
    /* never terminated */
    assert_int_equal(multipart(&a, "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv",
                               &LIM, &f, &u, err),
                     400);
    /* headers never end */
    assert_int_equal(multipart(&a, "--XyZ\r\nContent-Disposition: form-data", &LIM, &f, &u, err),
                     400);
    /* a part without a name */
    assert_int_equal(multipart(&a, "--XyZ\r\nContent-Disposition: form-data\r\n\r\nv\r\n--XyZ--",
                               &LIM, &f, &u, err),
                     400);
    assert_non_null(strstr(err, "name"));
    /* "filename" must not be taken for "name" */
    assert_int_equal(multipart(&a,
                               "--XyZ\r\nContent-Disposition: form-data; filename=\"x\"\r\n\r\n"
                               "v\r\n--XyZ--",
                               &LIM, &f, &u, err),
                     400);
    /* garbage after a boundary */
    assert_int_equal(multipart(&a, "--XyZjunk\r\n\r\n", &LIM, &f, &u, err), 400);
    /* no boundary line at all */
    assert_int_equal(multipart(&a, "hello", &LIM, &f, &u, err), 400);
    /* invalid UTF-8 in a text field names the field */
    assert_int_equal(
        multipart(&a,
                  "--XyZ\r\nContent-Disposition: form-data; name=\"bio\"\r\n\r\n\xff\r\n--XyZ--",
                  &LIM, &f, &u, err),
        400);
    assert_non_null(strstr(err, "bio"));
    arena_free(&a);
}

static void multipart_caps(void **state) {
    (void)state;
    arena a;
    arena_init(&a, 0);
    http_field_list f;
    http_upload_list u;
    char err[256];
    http_form_limits lim = {2, 4};
    const char *three = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n"
                        "--XyZ\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\n2\r\n"
                        "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n"
                        "\r\n3\r\n--XyZ--";
    assert_int_equal(multipart(&a, three, &lim, &f, &u, err), 413);
    assert_non_null(strstr(err, "too many"));
    const char *big =
        "--XyZ\r\nContent-Disposition: form-data; name=\"bio\"\r\n\r\n12345\r\n--XyZ--";
    assert_int_equal(multipart(&a, big, &lim, &f, &u, err), 413);
    assert_non_null(strstr(err, "bio"));
    /* files are not bound by the text field cap (the body cap bounds them) */
    const char *file = "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.bin\"\r\n"
                       "\r\n123456789\r\n--XyZ--";
    assert_int_equal(multipart(&a, file, &lim, &f, &u, err), 0);
    assert_int_equal(u.n, 1);
    assert_int_equal(u.items[0].len, 9);
    arena_free(&a);
}

static void header_params(void **state) {
    (void)state;
    arena a;
    arena_init(&a, 0);
    const char *cd = "form-data; name=\"field\"; filename=\"a \\\"quoted\\\" name;.txt\"";
    assert_string_equal(http_header_param(&a, cd, "name"), "field");
    assert_string_equal(http_header_param(&a, cd, "filename"), "a \"quoted\" name;.txt");
    assert_null(http_header_param(&a, cd, "size"));
    assert_string_equal(http_header_param(&a, "text/html; Charset=UTF-8", "charset"), "UTF-8");
    assert_null(http_header_param(&a, "text/html", "charset"));
    assert_null(http_header_param(&a, NULL, "charset"));
    arena_free(&a);
}

static void cookies(void **state) {
    (void)state;
    arena a;
    arena_init(&a, 0);
    http_field_list l;
    memset(&l, 0, sizeof l);
    http_parse_cookies(&a,
                       "sid=abc123; theme=\"dark\";lang=cy;  empty=; =orphan; "
                       "bad name=1; noeq; raw=\xff\xfe; last=x y",
                       &l);
    assert_string_equal(http_field_list_find(&l, "sid")->value, "abc123");
    assert_string_equal(http_field_list_find(&l, "theme")->value, "dark");
    assert_string_equal(http_field_list_find(&l, "lang")->value, "cy");
    assert_string_equal(http_field_list_find(&l, "empty")->value, "");
    assert_null(http_field_list_find(&l, ""));
    assert_null(http_field_list_find(&l, "bad name"));
    assert_null(http_field_list_find(&l, "noeq"));
    assert_null(http_field_list_find(&l, "raw"));
    assert_string_equal(http_field_list_find(&l, "last")->value, "x y");
    assert_int_equal(l.n, 5);
    http_parse_cookies(&a, NULL, &l);
    http_parse_cookies(&a, "", &l);
    http_parse_cookies(&a, ";;;", &l);
    assert_int_equal(l.n, 5);
    arena_free(&a);
}

/* ---- randomised robustness: hostile input never crashes and never yields fields that
 * break the contract (text fields are valid UTF-8 text, len matches). Deterministic
 * seed so a failure reproduces. ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* hostile: also raw high bytes and control characters, which make most inputs fail */
static size_t random_text(char *out, size_t max, bool hostile) {
    static const char alphabet[] = "%%%+&&==;;\"\\\r\n-- aZ09fF\t";
    size_t n = rng() % max;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rng() % (hostile ? 10 : 8);
        if (!hostile && r == 7) r = 8;
        if (r < 6)
            out[i] = alphabet[rng() % (sizeof alphabet - 1)];
        else if (r < 8)
            out[i] = (char)(0x80 + rng() % 0x80);
        else if (r < 9)
            out[i] = "0123456789abcdefABCDEF"[rng() % 22];
        else
            out[i] = (char)(rng() % 0x20);
    }
    return n;
}

static void check_fields(const http_field_list *l) {
    for (size_t i = 0; i < l->n; i++) {
        assert_true(utf8_valid_text(l->items[i].name, strlen(l->items[i].name)));
        assert_true(utf8_valid_text(l->items[i].value, l->items[i].len));
        assert_int_equal(strlen(l->items[i].value), l->items[i].len);
    }
}

static void random_input_never_breaks_parsers(void **state) {
    (void)state;
    char in[512];
    http_form_limits lim = {20, 64};
    const char *valid = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n"
                        "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n"
                        "Content-Type: text/plain\r\n\r\nfile\r\n--XyZ--\r\n";
    size_t vlen = strlen(valid);
    int ok_urlenc = 0, ok_multi = 0;
    for (int iter = 0; iter < 20000; iter++) {
        arena a;
        arena_init(&a, 0);
        char err[256];
        size_t n = random_text(in, iter % 2 ? sizeof in : 48, iter % 2);
        http_field_list l = {0};
        int rc = http_parse_urlencoded(&a, in, n, &lim, "form", &l, err, sizeof err);
        assert_true(rc == 0 || rc == 400 || rc == 413);
        if (rc == 0) {
            check_fields(&l);
            ok_urlenc++;
        } else {
            assert_true(utf8_valid(err, strlen(err)));
        }

        /* a valid multipart body with a few random bytes changed, cut or repeated */
        memcpy(in, valid, vlen);
        size_t m = vlen;
        int edits = (int)(rng() % 4);
        for (int e = 0; e < edits; e++) {
            size_t at = rng() % m;
            switch (rng() % 3) {
            case 0:
                in[at] = (char)rng();
                break;
            case 1:
                m = at;
                break;
            default:
                if (m + 8 < sizeof in) {
                    memmove(in + at + 8, in + at, m - at);
                    m += 8;
                }
            }
            if (m == 0) break;
        }
        http_field_list f = {0};
        http_upload_list u = {0};
        rc = http_parse_multipart(&a, "multipart/form-data; boundary=XyZ", in, m, &lim, &f, &u, err,
                                  sizeof err);
        assert_true(rc == 0 || rc == 400 || rc == 413);
        if (rc == 0) {
            check_fields(&f);
            for (size_t i = 0; i < u.n; i++) {
                assert_int_equal(u.items[i].data[u.items[i].len], '\0');
                assert_true(utf8_valid_text(u.items[i].filename, strlen(u.items[i].filename)));
            }
            ok_multi++;
        }

        http_field_list c = {0};
        in[n] = '\0';
        http_parse_cookies(&a, in, &c);
        for (size_t i = 0; i < c.n; i++) {
            assert_true(utf8_valid_text(c.items[i].value, c.items[i].len));
            assert_null(strchr(c.items[i].value, ';'));
        }
        arena_free(&a);
    }
    /* the generators must reach the accepting paths too, or the test proves little */
    assert_true(ok_urlenc > 100);
    assert_true(ok_multi > 100);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pct_decode_edge_cases),
        cmocka_unit_test(urlencoded_fields),
        cmocka_unit_test(urlencoded_rejects_bad_input),
        cmocka_unit_test(urlencoded_caps),
        cmocka_unit_test(multipart_fields_and_uploads),
        cmocka_unit_test(multipart_rejects_malformed),
        cmocka_unit_test(multipart_caps),
        cmocka_unit_test(header_params),
        cmocka_unit_test(cookies),
        cmocka_unit_test(random_input_never_breaks_parsers),
    };
    return cmocka_run_group_tests_name("http/form", tests, NULL, NULL);
}
