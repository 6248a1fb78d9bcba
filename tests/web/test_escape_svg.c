/*
 * Unit tests for src/web/escape and src/web/svg: hostile strings in text, attributes
 * and URLs; caps; SVG output that is well-formed XML, accessible and escaped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "web/escape.h"
#include "web/svg.h"

static const char *hostile = "<script>alert(1)</script>\"' onload=`x` &amp; \x01";

static void html_escaping(void **state) {
    (void)state;
    buf b;
    buf_init(&b, 1024);
    assert_int_equal(html_escape(&b, hostile), BUF_OK);
    assert_string_equal(buf_cstr(&b), "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39; "
                                      "onload=`x` &amp;amp; \x01");
    buf_reset(&b);
    assert_int_equal(html_escape(&b, NULL), BUF_OK);
    assert_int_equal(html_escape(&b, ""), BUF_OK);
    assert_int_equal(html_escape(&b, "plain Caf\xc3\xa9 text"), BUF_OK);
    assert_string_equal(buf_cstr(&b), "plain Caf\xc3\xa9 text");
    buf_reset(&b);
    assert_int_equal(html_escape_n(&b, "a<b>c", 3), BUF_OK);
    assert_string_equal(buf_cstr(&b), "a&lt;b");

    /* Attribute values: quotes of both kinds, backtick, =, control bytes. */
    buf_reset(&b);
    assert_int_equal(html_escape_attr(&b, hostile), BUF_OK);
    assert_string_equal(buf_cstr(&b), "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39; "
                                      "onload&#x3D;&#x60;x&#x60; &amp;amp; &#x01;");
    /* The escaped value can never close a quoted attribute. */
    assert_null(strchr(buf_cstr(&b), '"'));
    assert_null(strchr(buf_cstr(&b), '\''));
    assert_null(strchr(buf_cstr(&b), '<'));
    buf_free(&b);
}

static void url_encoding(void **state) {
    (void)state;
    buf b;
    buf_init(&b, 1024);
    assert_int_equal(url_encode(&b, "a b&c=d/e?f#g%h~i.j_k-l"), BUF_OK);
    assert_string_equal(buf_cstr(&b), "a%20b%26c%3Dd%2Fe%3Ff%23g%25h~i.j_k-l");
    buf_reset(&b);
    assert_int_equal(url_encode(&b, "Caf\xc3\xa9\"<>"), BUF_OK);
    assert_string_equal(buf_cstr(&b), "Caf%C3%A9%22%3C%3E");
    buf_free(&b);
}

static void escaping_respects_caps(void **state) {
    (void)state;
    buf b;
    buf_init(&b, 10);
    assert_int_equal(html_escape(&b, "<<<<<<"), BUF_TOO_BIG);
    assert_true(buf_len(&b) <= 10);
    /* What was written is a complete prefix of escapes, never half an entity. */
    assert_string_equal(buf_cstr(&b), "&lt;&lt;");
    buf_reset(&b);
    assert_int_equal(url_encode(&b, "        "), BUF_TOO_BIG);
    buf_reset(&b);
    assert_int_equal(html_escape_attr(&b, "abcdefghijk"), BUF_TOO_BIG);
    buf_free(&b);
}

/* ---- a small XML well-formedness checker for the SVG output ---- */

/* Returns NULL when s is well-formed (balanced elements, quoted attributes without
 * '<', entities of the form &name; or &#...;, no raw '<' in text), else a reason. */
static const char *xml_check(const char *s, int *elements) {
    const char *stack[64];
    size_t lens[64];
    int sp = 0;
    *elements = 0;
    while (*s) {
        if (*s == '&') {
            s++;
            if (*s == '#') s++;
            const char *st = s;
            while (isalnum((unsigned char)*s)) s++;
            if (s == st || *s != ';') return "bad entity";
            s++;
            continue;
        }
        if (*s != '<') {
            if (*s == '>') return "raw '>' in text";
            s++;
            continue;
        }
        s++;
        if (*s == '/') {
            s++;
            const char *n = s;
            while (isalnum((unsigned char)*s)) s++;
            if (sp == 0 || (size_t)(s - n) != lens[sp - 1] ||
                strncmp(n, stack[sp - 1], lens[sp - 1]) != 0)
                return "mismatched end tag";
            sp--;
            if (*s++ != '>') return "bad end tag";
            continue;
        }
        const char *n = s;
        while (isalnum((unsigned char)*s)) s++;
        if (s == n) return "bad tag name";
        (*elements)++;
        size_t nl = (size_t)(s - n);
        for (;;) {
            while (*s == ' ') s++;
            if (*s == '/' && s[1] == '>') {
                s += 2;
                break;
            }
            if (*s == '>') {
                if (sp == 64) return "too deep";
                stack[sp] = n, lens[sp] = nl, sp++;
                s++;
                break;
            }
            const char *an = s;
            while (isalnum((unsigned char)*s) || *s == '-' || *s == ':') s++;
            if (s == an || *s != '=' || s[1] != '"') return "bad attribute";
            s += 2;
            while (*s && *s != '"') {
                if (*s == '<') return "'<' in attribute";
                s++;
            }
            if (*s++ != '"') return "unterminated attribute";
        }
    }
    return sp ? "unclosed element" : NULL;
}

static void assert_well_formed(const char *svg) {
    int elements;
    const char *why = xml_check(svg, &elements);
    if (why) fail_msg("not well-formed (%s): %s", why, svg);
    assert_true(elements > 0);
    /* Cross-check with xmllint when installed. */
    if (system("command -v xmllint >/dev/null 2>&1") == 0) {
        FILE *p = popen("xmllint --noout - 2>/dev/null", "w");
        assert_non_null(p);
        fputs(svg, p);
        assert_int_equal(pclose(p), 0);
    }
}

static void svg_primitives(void **state) {
    (void)state;
    buf b;
    buf_init(&b, 1 << 16);
    assert_int_equal(svg_begin(&b, "map\"1", 200, 100.5, "Title <b>", "Desc & \"more\""), BUF_OK);
    assert_int_equal(svg_group_begin(&b, "layer", "Wards <x>"), BUF_OK);
    assert_int_equal(svg_rect(&b, 1, 2.5, 3.333, -4, "a\" onclick=\"x"), BUF_OK);
    assert_int_equal(svg_circle(&b, 10, 10, 5, NULL), BUF_OK);
    assert_int_equal(svg_line(&b, 0, 0, NAN, INFINITY, "axis"), BUF_OK);
    assert_int_equal(svg_text(&b, 5, 6, "middle", "t", "</text><script>x</script>"), BUF_OK);
    assert_int_equal(svg_text(&b, 5, 6, "bogus\" x=\"", NULL, "a"), BUF_OK);
    double xs[] = {0, 1.005, 2}, ys[] = {3, -0.001, 5};
    assert_int_equal(svg_polyline(&b, xs, ys, 3, "line"), BUF_OK);
    assert_int_equal(svg_polyline(&b, xs, ys, 0, "line"), BUF_OK);
    assert_int_equal(svg_group_end(&b), BUF_OK);
    assert_int_equal(svg_end(&b), BUF_OK);
    const char *s = buf_cstr(&b);
    assert_well_formed(s);
    assert_non_null(strstr(s, "role=\"img\""));
    assert_non_null(strstr(s, "aria-labelledby=\"map&quot;1-title map&quot;1-desc\""));
    assert_non_null(strstr(s, "<title id=\"map&quot;1-title\">Title &lt;b&gt;</title>"));
    assert_non_null(strstr(s, "<desc id=\"map&quot;1-desc\">Desc &amp; &quot;more&quot;"));
    assert_non_null(strstr(s, "viewBox=\"0 0 200 100.5\""));
    assert_non_null(strstr(s, "width=\"3.33\" height=\"0\""));
    assert_non_null(strstr(s, "class=\"a&quot; onclick&#x3D;&quot;x\""));
    assert_non_null(strstr(s, "x2=\"0\" y2=\"0\"")); /* non-finite written as 0 */
    assert_non_null(strstr(s, "&lt;/text&gt;&lt;script&gt;"));
    assert_null(strstr(s, "<script"));
    assert_null(strstr(s, "bogus"));
    /* two decimals at most, "-0" written as "0"; n == 0 wrote nothing */
    assert_non_null(strstr(s, "<polyline points=\"0,3 1,0 2,5\" class=\"line\"/>"));
    assert_null(strstr(strstr(s, "<polyline") + 1, "<polyline"));
    assert_non_null(strstr(s, "role=\"group\" aria-label=\"Wards &lt;x&gt;\""));

    /* No description: aria-labelledby names only the title. */
    buf_reset(&b);
    assert_int_equal(svg_begin(&b, "c", 10, 10, "T", NULL), BUF_OK);
    assert_int_equal(svg_end(&b), BUF_OK);
    assert_well_formed(buf_cstr(&b));
    assert_non_null(strstr(buf_cstr(&b), "aria-labelledby=\"c-title\""));
    assert_null(strstr(buf_cstr(&b), "<desc"));
    buf_free(&b);
}

static void bar_chart_reads_without_colour(void **state) {
    (void)state;
    buf b;
    buf_init(&b, 1 << 16);
    const char *labels[] = {"Buckingham", "<script>alert(1)</script>", "Marine", "Empty"};
    double values[] = {12.5, 50, -3, 0};
    assert_int_equal(svg_bar_chart(&b, "turnout", "Turnout by ward", labels, values, 4, "%"),
                     BUF_OK);
    const char *s = buf_cstr(&b);
    assert_well_formed(s);
    assert_null(strstr(s, "<script"));
    assert_non_null(strstr(s, "<title id=\"turnout-title\">Turnout by ward</title>"));
    /* The description lists every value. */
    assert_non_null(strstr(s, "Buckingham: 12.5%; &lt;script&gt;alert(1)&lt;/script&gt;: "
                              "50%; Marine: -3%; Empty: 0%</desc>"));
    /* Every label and value is drawn as text. */
    assert_non_null(strstr(s, ">Buckingham</text>"));
    assert_non_null(strstr(s, ">12.5%</text>"));
    assert_non_null(strstr(s, ">50%</text>"));
    assert_non_null(strstr(s, ">-3%</text>"));
    /* Bars scale to the largest value: 50 -> the full 300 units, 12.5 -> 75. */
    assert_non_null(strstr(s, "width=\"300\" height=\"18\" class=\"cg-chart__bar\""));
    assert_non_null(strstr(s, "width=\"75\" height=\"18\" class=\"cg-chart__bar\""));
    /* A negative value draws no bar. */
    int zero_bars = 0;
    for (const char *p = s; (p = strstr(p, "width=\"0\" height=\"18\"")); p++) zero_bars++;
    assert_int_equal(zero_bars, 2);

    /* Empty chart and a unit with markup. */
    buf_reset(&b);
    assert_int_equal(svg_bar_chart(&b, "e", "Nothing", NULL, NULL, 0, NULL), BUF_OK);
    assert_well_formed(buf_cstr(&b));
    buf_reset(&b);
    const char *one[] = {"A"};
    double v1[] = {1};
    assert_int_equal(svg_bar_chart(&b, "u", "U", one, v1, 1, " <votes>"), BUF_OK);
    assert_well_formed(buf_cstr(&b));
    assert_non_null(strstr(buf_cstr(&b), ">1 &lt;votes&gt;</text>"));
    buf_free(&b);

    /* A cap too small is reported. */
    buf small;
    buf_init(&small, 200);
    assert_int_equal(svg_bar_chart(&small, "t", "T", labels, values, 4, "%"), BUF_TOO_BIG);
    buf_free(&small);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(html_escaping),
        cmocka_unit_test(url_encoding),
        cmocka_unit_test(escaping_respects_caps),
        cmocka_unit_test(svg_primitives),
        cmocka_unit_test(bar_chart_reads_without_colour),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
