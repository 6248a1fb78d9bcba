/*
 * Unit tests for src/web/tmpl and src/web/tv: every template construct, scoping,
 * partials, load-time errors with file:line, text vs trusted HTML, output caps, and a
 * render-speed sanity run (no timing assertion).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/buf.h"
#include "web/tmpl.h"
#include "web/tv.h"

/* ---- a scratch template directory per test ---- */

typedef struct fixture {
    char dir[64];
    arena a;
    buf out;
    char err[512];
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/cg_tmpl_XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    arena_init(&f->a, 0);
    buf_init(&f->out, 1 << 20);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0) return -1;
    arena_free(&f->a);
    buf_free(&f->out);
    free(f);
    return 0;
}

/* Writes dir/rel (creating subdirectories) with content. */
static void put(fixture *f, const char *rel, const char *content) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", f->dir, rel);
    for (char *p = path + strlen(f->dir) + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0700);
            *p = '/';
        }
    }
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(content, fp);
    fclose(fp);
}

/* Loads the directory; fails the test with the loader's message when it fails. */
static tmpl_set *load_ok(fixture *f, const tmpl_schema *schemas) {
    tmpl_set *set = tmpl_load(f->dir, schemas, f->err, sizeof f->err);
    if (!set) fail_msg("tmpl_load failed: %s", f->err);
    return set;
}

/* Expects the load to fail with a message ending in "<file>:<line>: ..." containing
 * want. */
static void load_fails(fixture *f, const tmpl_schema *schemas, const char *file, int line,
                       const char *want) {
    tmpl_set *set = tmpl_load(f->dir, schemas, f->err, sizeof f->err);
    if (set) {
        tmpl_free(set);
        fail_msg("tmpl_load succeeded, expected an error containing '%s'", want);
    }
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%s/%s:%d: ", f->dir, file, line);
    if (strncmp(f->err, prefix, strlen(prefix)) != 0)
        fail_msg("error '%s' does not start with '%s'", f->err, prefix);
    if (!strstr(f->err, want)) fail_msg("error '%s' does not contain '%s'", f->err, want);
}

static const char *render(fixture *f, const tmpl_set *set, const char *name, const tv *ctx) {
    buf_reset(&f->out);
    int rc = tmpl_render(set, name, ctx, "en", &f->out);
    assert_int_equal(rc, TMPL_OK);
    return buf_cstr(&f->out);
}

/* ---- tests ---- */

static void values_text_html_int_bool_missing(void **state) {
    fixture *f = *state;
    put(f, "p.html",
        "<p>{{name}}|{{ rich }}|{{n}}|{{neg}}|{{b}}|{{missing}}|{{a.b.c}}|{{min}}|{{zero}}</p>");
    static const char *const vars[] = {"name",    "rich",  "n",   "neg",  "b",
                                       "missing", "a.b.c", "min", "zero", NULL};
    const tmpl_schema schemas[] = {{"p.html", vars}, {NULL, NULL}};
    tmpl_set *set = load_ok(f, schemas);
    tv *ctx = tv_map(&f->a);
    tv_set_str(ctx, "name", "<script>alert(\"x\")</script> & 'co'");
    tv_set_html(ctx, "rich", "<em>ok</em>");
    tv_set_int(ctx, "n", 1234567890123LL);
    tv_set_int(ctx, "neg", -7);
    tv_set_int(ctx, "min", LLONG_MIN);
    tv_set_int(ctx, "zero", 0);
    tv_set_bool(ctx, "b", true);
    tv_set_str(tv_set_map(tv_set_map(ctx, "a"), "b"), "c", "deep");
    assert_string_equal(render(f, set, "p.html", ctx),
                        "<p>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; "
                        "&#39;co&#39;|<em>ok</em>|1234567890123|-7|true||deep|"
                        "-9223372036854775808|0</p>");
    /* Replacing a key replaces its value; a string stored is a copy. */
    char tmp[16] = "first";
    tv_set_str(ctx, "name", tmp);
    strcpy(tmp, "changed");
    tv_set_strf(ctx, "n", "%d-%s", 5, "x");
    assert_string_equal(render(f, set, "p.html", ctx),
                        "<p>first|<em>ok</em>|5-x|-7|true||deep|-9223372036854775808|0</p>");
    /* NULL context renders with no values. */
    assert_string_equal(render(f, set, "p.html", NULL), "<p>||||||||</p>");
    tmpl_free(set);
}

static void if_unless_else_truthiness(void **state) {
    fixture *f = *state;
    put(f, "t.html",
        "{{#if s}}S{{else}}s{{/if}}{{#if e}}E{{else}}e{{/if}}{{#if i}}I{{/if}}"
        "{{#if z}}Z{{else}}z{{/if}}{{#if t}}T{{/if}}{{#if fl}}F{{else}}f{{/if}}"
        "{{#if l}}L{{/if}}{{#if el}}X{{else}}x{{/if}}{{#if m}}M{{/if}}"
        "{{#if nope}}N{{else}}n{{/if}}{{#unless fl}}U{{else}}u{{/unless}}"
        "{{#unless s}}V{{/unless}}{{#if h}}H{{/if}}");
    static const char *const vars[] = {"s", "e",  "i",   "z",    "t", "fl",
                                       "l", "el", "m.x", "nope", "h", NULL};
    const tmpl_schema schemas[] = {{"t.html", vars}, {NULL, NULL}};
    tmpl_set *set = load_ok(f, schemas);
    tv *ctx = tv_map(&f->a);
    tv_set_str(ctx, "s", "x");
    tv_set_str(ctx, "e", "");
    tv_set_int(ctx, "i", 3);
    tv_set_int(ctx, "z", 0);
    tv_set_bool(ctx, "t", true);
    tv_set_bool(ctx, "fl", false);
    tv_push_str(tv_set_list(ctx, "l"), "one");
    tv_set_list(ctx, "el");
    tv_set_map(ctx, "m");
    tv_set_html(ctx, "h", "<b></b>");
    assert_string_equal(render(f, set, "t.html", ctx), "SeIzTfLxMnUH");
    tmpl_free(set);
}

static void each_scopes_index_and_else(void **state) {
    fixture *f = *state;
    put(f, "e.html",
        "{{#each wards}}{{@index}}/{{@number}}:{{name}}({{code}}) in {{council}}"
        "{{#each councillors}}[{{.}}@{{name}}#{{@index}}]{{/each}};{{/each}}"
        "{{#each tags}}<{{.}}>{{/each}}{{#each none}}x{{else}}empty{{/each}}"
        "{{#each wards}}{{#if @index}}, {{/if}}{{#unless @index}}first:{{/unless}}{{name}}"
        "{{/each}}");
    static const char *const vars[] = {
        "wards.name", "wards.code", "wards.councillors", "council", "tags", "none", NULL};
    const tmpl_schema schemas[] = {{"e.html", vars}, {NULL, NULL}};
    tmpl_set *set = load_ok(f, schemas);
    tv *ctx = tv_map(&f->a);
    tv_set_str(ctx, "council", "Adur");
    tv *wards = tv_set_list(ctx, "wards");
    tv *w = tv_push_map(wards);
    tv_set_str(w, "name", "Buckingham");
    tv_set_str(w, "code", "E05007562");
    tv *c = tv_set_list(w, "councillors");
    tv_push_str(c, "Ann");
    tv_push_str(c, "<Bob>");
    w = tv_push_map(wards);
    tv_set_str(w, "name", "Cokeham");
    /* item lacks "code": prints nothing; "council" resolves outward */
    tv *tags = tv_set_list(ctx, "tags");
    tv_push_str(tags, "a&b");
    assert_string_equal(render(f, set, "e.html", ctx),
                        "0/1:Buckingham(E05007562) in Adur[Ann@Buckingham#0]"
                        "[&lt;Bob&gt;@Buckingham#1];1/2:Cokeham() in Adur;<a&amp;b>empty"
                        "first:Buckingham, Cokeham");
    tmpl_free(set);
}

static void item_first_then_outward(void **state) {
    fixture *f = *state;
    put(f, "s.html", "{{#each items}}{{title}},{{/each}}");
    static const char *const vars[] = {"items.title", "title", NULL};
    const tmpl_schema schemas[] = {{"s.html", vars}, {NULL, NULL}};
    tmpl_set *set = load_ok(f, schemas);
    tv *ctx = tv_map(&f->a);
    tv_set_str(ctx, "title", "outer");
    tv *items = tv_set_list(ctx, "items");
    tv_set_str(tv_push_map(items), "title", "inner");
    tv_push_map(items); /* no title: falls back to the outer one */
    tv_push_str(items, "plain");
    assert_string_equal(render(f, set, "s.html", ctx), "inner,outer,outer,");
    tmpl_free(set);
}

static void partials_layout_globals_and_comments(void **state) {
    fixture *f = *state;
    put(f, "partials/card.html", "<li>{{name}} ({{site.name}})</li>");
    put(f, "partials/nav/links.html", "<a href=\"/\">{{site.name}}</a>{{! nav }}");
    put(f, "layout.html", "<html lang=\"{{lang}}\">{{> nav/links}}<main>{{content}}</main></html>");
    put(f, "places.html",
        "{{! a comment with {{ braces }}<ul>{{#each places}}{{> card}}{{/each}}</ul>");
    put(f, "admin/users.html", "{{user.name}}");
    static const char *const globals[] = {"site.*", "user.*", "lang", "content", NULL};
    static const char *const places_vars[] = {"places.name", NULL};
    const tmpl_schema schemas[] = {
        {TMPL_GLOBALS, globals}, {"places.html", places_vars}, {NULL, NULL}};
    tmpl_set *set = load_ok(f, schemas);
    assert_true(tmpl_has(set, "layout.html"));
    assert_true(tmpl_has(set, "admin/users.html"));
    assert_false(tmpl_has(set, "partials/card.html"));
    assert_false(tmpl_has(set, "nope.html"));

    tv *ctx = tv_map(&f->a);
    tv_set_str(tv_set_map(ctx, "site"), "name", "Common <Ground>");
    tv_set_str(ctx, "lang", "cy");
    tv *pl = tv_set_list(ctx, "places");
    tv_set_str(tv_push_map(pl), "name", "Adur");
    tv_set_str(tv_push_map(pl), "name", "Worthing");
    char *page = strdup(render(f, set, "places.html", ctx));
    assert_string_equal(page, "<ul><li>Adur (Common &lt;Ground&gt;)</li><li>Worthing "
                              "(Common &lt;Ground&gt;)</li></ul>");
    tv_set_html(ctx, "content", page);
    free(page);
    assert_string_equal(render(f, set, "layout.html", ctx),
                        "<html lang=\"cy\"><a href=\"/\">Common &lt;Ground&gt;</a><main><ul>"
                        "<li>Adur (Common &lt;Ground&gt;)</li><li>Worthing (Common "
                        "&lt;Ground&gt;)</li></ul></main></html>");
    tmpl_free(set);
}

static void unknown_template_and_cap(void **state) {
    fixture *f = *state;
    put(f, "big.html", "{{#each rows}}{{.}}{{/each}}");
    static const char *const vars[] = {"rows", NULL};
    const tmpl_schema schemas[] = {{"big.html", vars}, {NULL, NULL}};
    tmpl_set *set = load_ok(f, schemas);
    buf small;
    buf_init(&small, 100);
    assert_int_equal(tmpl_render(set, "missing.html", NULL, "en", &small), TMPL_UNKNOWN);
    assert_int_equal(buf_len(&small), 0);
    tv *ctx = tv_map(&f->a);
    tv *rows = tv_set_list(ctx, "rows");
    for (int i = 0; i < 50; i++) tv_push_str(rows, "<>"); /* 8 bytes each escaped: 400 > 100 */
    assert_int_equal(tmpl_render(set, "big.html", ctx, "en", &small), TMPL_TOO_BIG);
    assert_true(buf_len(&small) <= 100);
    buf_free(&small);
    /* Every cap below the page's size fails cleanly; the exact size succeeds. */
    for (size_t cap = 0; cap < 200; cap += 7) {
        buf b;
        buf_init(&b, cap);
        assert_int_equal(tmpl_render(set, "big.html", ctx, "en", &b), TMPL_TOO_BIG);
        assert_true(buf_len(&b) <= cap);
        buf_free(&b);
    }
    buf exact;
    buf_init(&exact, 400);
    assert_int_equal(tmpl_render(set, "big.html", ctx, "en", &exact), TMPL_OK);
    assert_int_equal(buf_len(&exact), 400);
    buf_free(&exact);
    tmpl_free(set);
}

static void unknown_variable_is_a_load_error(void **state) {
    fixture *f = *state;
    static const char *const globals[] = {"csrf", NULL};
    static const char *const vars[] = {"place.name", "wards.name", NULL};
    const tmpl_schema schemas[] = {{TMPL_GLOBALS, globals}, {"p.html", vars}, {NULL, NULL}};

    put(f, "p.html", "<h1>{{place.name}}</h1>\n{{csrf}}\n\n<p>{{place.nmae}}</p>");
    load_fails(f, schemas, "p.html", 4, "unknown variable 'place.nmae'");

    /* An item field used outside its #each is unknown. */
    put(f, "p.html", "{{#each wards}}{{name}}{{/each}}\n{{name}}");
    load_fails(f, schemas, "p.html", 2, "unknown variable 'name'");

    /* #if / #each on undeclared names, and in a partial: the partial's file and line. */
    put(f, "p.html", "{{#if place}}ok{{/if}}\n{{#each wardz}}{{/each}}");
    load_fails(f, schemas, "p.html", 2, "unknown variable 'wardz'");
    put(f, "partials/row.html", "\n\n{{title}}");
    put(f, "p.html", "{{#each wards}}{{> row}}{{/each}}");
    load_fails(f, schemas, "partials/row.html", 3, "included from p.html");
    char path[256];
    snprintf(path, sizeof path, "%s/partials/row.html", f->dir);
    unlink(path);

    /* A template without a schema may use only the globals. */
    put(f, "p.html", "{{place.name}}");
    put(f, "other.html", "{{csrf}} {{place.name}}");
    load_fails(f, schemas, "other.html", 1, "unknown variable 'place.name'");
    snprintf(path, sizeof path, "%s/other.html", f->dir);
    unlink(path);

    /* @index and {{.}} only inside #each. */
    put(f, "p.html", "{{@index}}");
    load_fails(f, schemas, "p.html", 1, "outside {{#each}}");
    put(f, "p.html", "x\n{{.}}");
    load_fails(f, schemas, "p.html", 2, "outside {{#each}}");
    put(f, "p.html", "x\n\n{{#if @number}}{{/if}}");
    load_fails(f, schemas, "p.html", 3, "outside {{#each}}");

    /* A schema naming a missing template is an error too. */
    put(f, "p.html", "{{place.name}}");
    const tmpl_schema bad[] = {{"p.html", vars}, {"gone.html", vars}, {NULL, NULL}};
    assert_null(tmpl_load(f->dir, bad, f->err, sizeof f->err));
    assert_non_null(strstr(f->err, "gone.html"));

    /* And the good version loads. */
    tmpl_free(load_ok(f, schemas));
}

static void syntax_errors_name_file_and_line(void **state) {
    fixture *f = *state;
    static const char *const vars[] = {"a", "b", "l", NULL};
    const tmpl_schema schemas[] = {{"s.html", vars}, {NULL, NULL}};
    struct {
        const char *src;
        int line;
        const char *want;
    } cases[] = {
        {"ok\n{{a", 2, "unclosed tag"},
        {"{{#if a}}\nx\n", 1, "unclosed '{{#if a}}'"},
        {"{{#if a}}\n{{#each l}}\n{{/if}}", 3, "mismatched '{{/if}}'"},
        {"\n{{/each}}", 2, "without an open block"},
        {"{{#if a}}{{else}}{{else}}{{/if}}", 1, "second '{{else}}'"},
        {"{{else}}", 1, "outside a block"},
        {"\n\n{{> nothere}}", 3, "unknown partial 'nothere'"},
        {"{{#with a}}{{/with}}", 1, "unknown block"},
        {"{{{a}}}", 1, "not supported"},
        {"{{a b}}", 1, "invalid tag"},
        {"{{_ \"open}}", 1, "unterminated string"},
        {"{{_ unquoted}}", 1, "expected a quoted string"},
        {"{{#if}}{{/if}}", 1, "needs a name"},
        {"{{> ../etc/passwd}}", 1, "invalid partial name"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        put(f, "s.html", cases[i].src);
        load_fails(f, schemas, "s.html", cases[i].line, cases[i].want);
    }
    /* Invalid UTF-8 and a missing directory are load errors naming the file. */
    put(f, "s.html", "caf\xc3");
    assert_null(tmpl_load(f->dir, schemas, f->err, sizeof f->err));
    assert_non_null(strstr(f->err, "s.html: not valid UTF-8"));
    assert_null(tmpl_load("/nonexistent/templates", schemas, f->err, sizeof f->err));
    assert_non_null(strstr(f->err, "/nonexistent/templates: cannot read directory"));
    /* A partial including itself. */
    put(f, "partials/loop.html", "x{{> loop}}");
    put(f, "s.html", "{{> loop}}");
    load_fails(f, schemas, "partials/loop.html", 1, "includes itself");
}

static void translations_in_templates(void **state) {
    fixture *f = *state;
    put(f, "t.html", "<a>{{_ \"Sign in\"}}</a>{{_ \"Say \\\"<hi>\\\"\"}}");
    tmpl_set *set = load_ok(f, NULL);
    /* No catalogue loaded: English source text, escaped. */
    assert_string_equal(render(f, set, "t.html", NULL), "<a>Sign in</a>Say &quot;&lt;hi&gt;&quot;");
    tmpl_free(set);
}

/* Random token soup: every input either loads or fails with "file:line: ...", and
 * whatever loads renders within its cap (ASan/UBSan watch for any misstep). */
static void random_templates_never_crash(void **state) {
    fixture *f = *state;
    static const char *const tokens[] = {
        "{{",          "}}",         "{{#if a}}",   "{{#if l}}",   "{{#unless a}}",  "{{#each l}}",
        "{{/if}}",     "{{/each}}",  "{{/unless}}", "{{else}}",    "{{a}}",          "{{.}}",
        "{{@index}}",  "{{b.c}}",    "{{> p}}",     "{{_ \"x\"}}", "{{! c }}",       "text",
        "\n",          "<p>",        "{",           "}",           "{{#if @index}}", "{{ a }}",
        "{{#each q}}", "{{unknown}}"};
    static const char *const vars[] = {"a", "b.c", "l.a", "l.b.c", "q", NULL};
    const tmpl_schema schemas[] = {{"r.html", vars}, {NULL, NULL}};
    put(f, "partials/p.html", "[{{a}}]");
    tv *ctx = tv_map(&f->a);
    tv_set_str(ctx, "a", "<A>");
    tv *l = tv_set_list(ctx, "l");
    tv_set_str(tv_push_map(l), "a", "x");
    tv_push_str(l, "y");
    tv_set_str(tv_set_map(ctx, "b"), "c", "bc");
    unsigned long long seed = 42;
    int loaded = 0, failed = 0;
    char src[1024], prefix[128];
    snprintf(prefix, sizeof prefix, "%s/", f->dir);
    for (int iter = 0; iter < 1000; iter++) {
        size_t len = 0;
        src[0] = '\0';
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        int n = 1 + (int)((seed >> 33) % 12);
        for (int k = 0; k < n; k++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            const char *t = tokens[(seed >> 33) % (sizeof tokens / sizeof tokens[0])];
            size_t tl = strlen(t);
            memcpy(src + len, t, tl + 1);
            len += tl;
        }
        put(f, "r.html", src);
        tmpl_set *set = tmpl_load(f->dir, schemas, f->err, sizeof f->err);
        if (!set) {
            failed++;
            if (strncmp(f->err, prefix, strlen(prefix)) != 0 || !strstr(f->err, ".html:"))
                fail_msg("error without file:line for '%s': %s", src, f->err);
            continue;
        }
        loaded++;
        buf out;
        buf_init(&out, 64);
        int rc = tmpl_render(set, "r.html", ctx, "en", &out);
        assert_true(rc == TMPL_OK || rc == TMPL_TOO_BIG);
        assert_true(buf_len(&out) <= 64);
        buf_free(&out);
        tmpl_free(set);
    }
    print_message("# random templates: %d loaded, %d rejected\n", loaded, failed);
    assert_true(loaded >= 50);
    assert_true(failed >= 50);
}

/* Several threads render the same set at once; each output must be exact. */
typedef struct job {
    const tmpl_set *set;
    const tv *ctx;
    const char *want;
    int ok;
} job;

static void *render_many(void *p) {
    job *j = p;
    buf out;
    buf_init(&out, 1 << 20);
    j->ok = 1;
    for (int i = 0; i < 300; i++) {
        buf_reset(&out);
        if (tmpl_render(j->set, "page.html", j->ctx, "en", &out) != TMPL_OK ||
            strcmp(buf_cstr(&out), j->want) != 0)
            j->ok = 0;
    }
    buf_free(&out);
    return NULL;
}

static void render_speed_and_threads(void **state) {
    fixture *f = *state;
    put(f, "partials/row.html",
        "<tr><td>{{@number}}</td><td><a href=\"/places/{{id}}\">{{name}}</a></td>"
        "<td>{{#if code}}{{code}}{{else}}-{{/if}}</td></tr>");
    put(f, "page.html",
        "<!doctype html><title>{{title}}</title><table>{{#each rows}}{{> row}}{{/each}}"
        "</table>");
    static const char *const vars[] = {"title", "rows.id", "rows.name", "rows.code", NULL};
    const tmpl_schema schemas[] = {{"page.html", vars}, {NULL, NULL}};
    tmpl_set *set = load_ok(f, schemas);
    tv *ctx = tv_map(&f->a);
    tv_set_str(ctx, "title", "Wards");
    tv *rows = tv_set_list(ctx, "rows");
    for (int i = 0; i < 40; i++) {
        tv *r = tv_push_map(rows);
        tv_set_int(r, "id", i);
        tv_set_strf(r, "name", "Ward & %d", i);
        if (i % 2) tv_set_strf(r, "code", "E0500%04d", i);
    }
    char *want = strdup(render(f, set, "page.html", ctx));
    assert_non_null(strstr(want, "<tr><td>2</td><td><a href=\"/places/1\">Ward &amp; 1</a>"
                                 "</td><td>E05000001</td></tr>"));
    assert_non_null(strstr(want, "<td>-</td>"));

    struct timespec t0, t1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0); /* CPU time: robust on a busy host */
    int n = 2000;
    for (int i = 0; i < n; i++) {
        buf_reset(&f->out);
        assert_int_equal(tmpl_render(set, "page.html", ctx, "en", &f->out), TMPL_OK);
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    print_message("# render: %d pages of %zu bytes in %.3f s CPU (%.1f us/page)\n", n, strlen(want),
                  s, s / n * 1e6);

    pthread_t th[4];
    job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (job){set, ctx, want, 0};
        pthread_create(&th[i], NULL, render_many, &jobs[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_true(jobs[i].ok);
    }
    free(want);
    tmpl_free(set);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(values_text_html_int_bool_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(if_unless_else_truthiness, setup, teardown),
        cmocka_unit_test_setup_teardown(each_scopes_index_and_else, setup, teardown),
        cmocka_unit_test_setup_teardown(item_first_then_outward, setup, teardown),
        cmocka_unit_test_setup_teardown(partials_layout_globals_and_comments, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_template_and_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_variable_is_a_load_error, setup, teardown),
        cmocka_unit_test_setup_teardown(syntax_errors_name_file_and_line, setup, teardown),
        cmocka_unit_test_setup_teardown(translations_in_templates, setup, teardown),
        cmocka_unit_test_setup_teardown(random_templates_never_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(render_speed_and_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
