/*
 * tmpl: HTML templates compiled once at start-up and rendered many times.
 *
 * The language (mustache-like; docs/templates.md is the reference):
 *   {{name}} {{a.b.c}}          a value: text is HTML-escaped, TV_HTML is written raw,
 *                               ints in decimal, bools as "true"/"false"; missing: nothing
 *   {{#if x}}..{{else}}..{{/if}}  truthiness as tv_truthy()
 *   {{#unless x}}..{{else}}..{{/unless}}
 *   {{#each list}}..{{else}}..{{/each}}  the else part renders when the list is empty or
 *                               missing; inside, names resolve against the current item
 *                               first, then outward; {{.}} is the item itself;
 *                               {{@index}} is 0-based, {{@number}} 1-based; both
 *                               may be tested: {{#if @index}}, {{#unless @index}}
 *   {{> name}}                  includes partials/name.html (same rules, same scope)
 *   {{_ "Text"}}                Text translated to the render language (i18n.h),
 *                               escaped; \" and \\ may appear inside the quotes
 *   {{! comment }}              nothing
 *
 * Safety by construction: a template may only use the names the program declared for
 * it. tmpl_load() reads every *.html below dir (templates in partials/ are only
 * reachable through {{> }}), checks them against the declared schemas and compiles
 * them to op lists; a syntax error (unclosed tag or block, mismatched {{/if}}, unknown
 * partial, partial recursion) or a use of an undeclared name fails the load with
 * "file:line: message", so a typo stops the server instead of breaking a page.
 *
 * Declaring names: per template, a NULL-terminated array of dotted paths.
 *   "place.name"       allows {{place.name}} (and its prefix {{#if place}}).
 *   "wards.name"       inside {{#each wards}} allows {{name}} (an item field);
 *                      {{.}} needs no declaration; "wards" alone allows
 *                      {{#each wards}} over plain strings.
 *   "user.*"           allows any path below user.
 * The entry named TMPL_GLOBALS declares the names every template may use (site, user,
 * csrf, lang, content, flash, ...). A template with no schema entry may use only the
 * globals; a schema entry naming a template that does not exist is a load error. The
 * table ends with {NULL, NULL}:
 *
 *   static const char *const globals[] = {"site.*", "user.*", "csrf", "lang",
 *                                         "content", "flash", NULL};
 *   static const char *const place_vars[] = {"place.name", "wards.name", NULL};
 *   static const tmpl_schema schemas[] = {
 *       {TMPL_GLOBALS, globals}, {"place.html", place_vars}, {NULL, NULL}};
 *
 * A layout is an ordinary template: render the page into a buffer, set it as the
 * TV_HTML "content" and render "layout.html".
 *
 * Ownership and threads: the set owns all compiled templates; after tmpl_load() it is
 * read-only, so any number of threads may call tmpl_render() on it at once. Rendering
 * allocates nothing but the growth of the output buffer.
 */
#ifndef CG_WEB_TMPL_H
#define CG_WEB_TMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "web/tv.h"

/* The schema-table name under which the globals are declared. */
#define TMPL_GLOBALS "*"

typedef struct tmpl_schema {
    const char *name;        /* template path relative to dir, e.g. "place.html" */
    const char *const *vars; /* NULL-terminated dotted names */
} tmpl_schema;

typedef struct tmpl_set tmpl_set;

/* Render results. */
enum { TMPL_OK = 0, TMPL_TOO_BIG = 1, TMPL_UNKNOWN = 2 };

/* Loads and compiles every template below dir against schemas (which may be NULL:
 * then no names at all are allowed). Returns the set (caller frees with tmpl_free),
 * or NULL with a one-line "file:line: message" (or "dir: message") in err. */
tmpl_set *tmpl_load(const char *dir, const tmpl_schema *schemas, char *err, size_t errlen);
void tmpl_free(tmpl_set *set);

/* True when the set holds a template of that name (e.g. "place.html"). */
bool tmpl_has(const tmpl_set *set, const char *name);

/* Renders template name with root values ctx (a TV_MAP; NULL renders with no values)
 * in language lang ("en", "cy"; NULL = "en") by appending to out. Returns TMPL_OK,
 * TMPL_TOO_BIG when out's cap was reached (out then holds a truncated page: discard
 * it) or TMPL_UNKNOWN when there is no such template (nothing appended). */
int tmpl_render(const tmpl_set *set, const char *name, const tv *ctx, const char *lang, buf *out);

#endif
