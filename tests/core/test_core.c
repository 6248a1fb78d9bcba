/*
 * Unit tests for src/core: arena, buf, csv, utf8, rand, parse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/csv.h"
#include "core/log.h"
#include "core/parse.h"
#include "core/rand.h"
#include "core/utf8.h"

static void arena_allocates_aligned_and_resets(void **state) {
    (void)state;
    arena a;
    arena_init(&a, 256);
    char *s = arena_sprintf(&a, "%s-%d", "ward", 42);
    assert_string_equal(s, "ward-42");
    for (int i = 0; i < 100; i++) {
        double *d = arena_alloc(&a, sizeof(double) * 3);
        assert_int_equal((uintptr_t)d % _Alignof(max_align_t), 0);
        d[2] = i;
    }
    char *big = arena_alloc(&a, 100000); /* larger than a block: its own block */
    memset(big, 'x', 100000);
    int *z = arena_calloc(&a, 10, sizeof(int));
    for (int i = 0; i < 10; i++) assert_int_equal(z[i], 0);
    assert_true(a.total >= 100000);
    arena_reset(&a);
    assert_int_equal(a.total, 0);
    assert_string_equal(arena_strndup(&a, "abcdef", 3), "abc");
    arena_free(&a);
}

static void buf_respects_cap(void **state) {
    (void)state;
    buf b;
    buf_init(&b, 10);
    assert_string_equal(buf_cstr(&b), "");
    assert_int_equal(buf_puts(&b, "hello"), BUF_OK);
    assert_int_equal(buf_printf(&b, "%d", 12345), BUF_OK);
    assert_int_equal(buf_len(&b), 10);
    assert_int_equal(buf_putc(&b, 'x'), BUF_TOO_BIG);
    assert_string_equal(buf_cstr(&b), "hello12345");
    buf_reset(&b);
    assert_int_equal(buf_printf(&b, "%s", "0123456789A"), BUF_TOO_BIG);
    assert_int_equal(buf_len(&b), 0);
    buf_free(&b);
}

static void csv_reads_quotes_crlf_and_missing_newline(void **state) {
    (void)state;
    const char *in = "\xEF\xBB\xBFid,name,note\r\n1,\"Smith, J\",\"said \"\"hi\"\"\"\r\n\r\n2,b,\"two\nlines\"";
    csv_reader *r = csv_open_mem(in, strlen(in), ',');
    assert_int_equal(csv_next(r), 1);
    assert_int_equal(csv_nfields(r), 3);
    assert_string_equal(csv_field(r, 0), "id");
    assert_int_equal(csv_next(r), 1);
    assert_int_equal(csv_line(r), 2);
    assert_string_equal(csv_field(r, 1), "Smith, J");
    assert_string_equal(csv_field(r, 2), "said \"hi\"");
    assert_int_equal(csv_next(r), 1);
    assert_true(csv_blank(r));
    assert_int_equal(csv_next(r), 1);
    assert_int_equal(csv_line(r), 4);
    assert_string_equal(csv_field(r, 2), "two\nlines");
    assert_string_equal(csv_field(r, 7), "");
    assert_int_equal(csv_next(r), 0);
    csv_free(r);
}

static void csv_semicolons_and_errors(void **state) {
    (void)state;
    const char *pb = "key;value\nbudget;4000.0\n";
    csv_reader *r = csv_open_mem(pb, strlen(pb), ';');
    assert_int_equal(csv_next(r), 1);
    assert_int_equal(csv_next(r), 1);
    assert_string_equal(csv_field(r, 1), "4000.0");
    csv_free(r);

    const char *bad = "a,b\n1,\"open\n";
    r = csv_open_mem(bad, strlen(bad), ',');
    assert_int_equal(csv_next(r), 1);
    assert_int_equal(csv_next(r), -1);
    assert_string_equal(csv_error(r), "line 2: unterminated quoted field");
    csv_free(r);

    const char *junk = "\"a\"x,b\n";
    r = csv_open_mem(junk, strlen(junk), ',');
    assert_int_equal(csv_next(r), -1);
    assert_non_null(strstr(csv_error(r), "after closing quote"));
    csv_free(r);

    const char *notutf = "ok,\xff\xfe\n";
    r = csv_open_mem(notutf, strlen(notutf), ',');
    assert_int_equal(csv_next(r), -1);
    assert_non_null(strstr(csv_error(r), "UTF-8"));
    csv_free(r);

    char err[256];
    assert_null(csv_open_file("/nonexistent/file.csv", ',', err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/file.csv"));
}

static void utf8_validation(void **state) {
    (void)state;
    assert_true(utf8_valid("Caerdydd ŵ ŷ", strlen("Caerdydd ŵ ŷ")));
    assert_false(utf8_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
    assert_false(utf8_valid("\xe2\x82", 2));         /* truncated */
    assert_true(utf8_valid_text("a\tb\n", 4));
    assert_false(utf8_valid_text("a\x01", 2));
    assert_int_equal(utf8_length("ŵŷa", strlen("ŵŷa")), 3);
}

static void rand_ids(void **state) {
    (void)state;
    char a[UUID_STR_LEN], b[UUID_STR_LEN];
    uuid_v4(a);
    uuid_v4(b);
    assert_true(uuid_valid(a));
    assert_string_not_equal(a, b);
    assert_int_equal(a[14], '4');
    assert_false(uuid_valid("not-a-uuid"));
    assert_false(uuid_valid("123e4567-e89b-12d3-a456-42661417400g"));
    char hex[65];
    rand_hex(hex, 32);
    assert_int_equal(strlen(hex), 64);
}

static void parse_is_strict(void **state) {
    (void)state;
    int64_t i;
    double d;
    assert_int_equal(parse_i64(" 42 ", &i), 0);
    assert_int_equal(i, 42);
    assert_int_equal(parse_i64("12abc", &i), -1);
    assert_int_equal(parse_i64("", &i), -1);
    assert_int_equal(parse_i64("99999999999999999999", &i), -1);
    assert_int_equal(parse_double("4000.0", &d), 0);
    assert_true(d == 4000.0);
    assert_int_equal(parse_double("1e3", &d), 0);
    assert_int_equal(parse_double("nan", &d), -1);
    assert_int_equal(parse_double("inf", &d), -1);
    assert_int_equal(parse_double("0x10", &d), -1);
    char s[] = "  padded \t";
    assert_string_equal(str_trim(s), "padded");
    char out[4];
    assert_string_equal(str_trim_copy("  abcdef ", out, sizeof out), "abc");
    assert_true(str_ieq("Female", "fEMALE"));
}

static void log_lines_cannot_be_forged(void **state) {
    (void)state;
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    int saved = dup(2);
    dup2(fd[1], 2);
    log_info("signin: %s", "victim@x.org\n2026-11-26T00:00:00Z info: admin signed in");
    dup2(saved, 2);
    close(saved);
    close(fd[1]);
    char out[512] = "";
    ssize_t n = read(fd[0], out, sizeof out - 1);
    close(fd[0]);
    assert_true(n > 0);
    out[n] = '\0';
    /* One line only: the newline inside the message was neutralised. */
    assert_non_null(strchr(out, '\n'));
    assert_ptr_equal(strchr(out, '\n'), out + n - 1);
    assert_non_null(strstr(out, "victim@x.org?2026"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(arena_allocates_aligned_and_resets),
        cmocka_unit_test(buf_respects_cap),
        cmocka_unit_test(csv_reads_quotes_crlf_and_missing_newline),
        cmocka_unit_test(csv_semicolons_and_errors),
        cmocka_unit_test(utf8_validation),
        cmocka_unit_test(rand_ids),
        cmocka_unit_test(parse_is_strict),
        cmocka_unit_test(log_lines_cannot_be_forged),
    };
    return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
