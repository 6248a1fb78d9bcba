/*
 * tmpl: template loading, checking, compiling and rendering (see tmpl.h).
 *
 * Loading has two passes. Parsing turns every file into a tree of nodes (text, value,
 * block, partial, translation) and reports syntax errors with file and line. Compiling
 * walks each page template's tree with the stack of enclosing {{#each}} scopes, checks
 * every name against the declared schema, inlines partials (so a partial's names are
 * checked in the scope of each place it is included) and emits a flat op list with
 * jumps. Rendering is then a loop over ops with a fixed-size scope stack on the C
 * stack: no parsing, no allocation, no shared mutable state.
 *
 * Name binding: each {{#each}} opens a scope level; level 0 is the root map. A name is
 * checked at every level from the innermost outward, and the levels at which it is
 * declared are recorded in the op as a bit mask. At render time the value is looked up
 * at those levels in the same order and the first present value wins, which is "the
 * current item first, then outward" restricted to what the program declared.
 */
#include "web/tmpl.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/arena.h"
#include "core/utf8.h"
#include "core/xalloc.h"
#include "web/escape.h"
#include "web/i18n.h"

enum {
    TMPL_MAX_DEPTH = 12,     /* nested {{#each}} levels (bit mask in a uint16_t) */
    TMPL_MAX_INCLUDE = 16,   /* nested {{> partial}} */
    TMPL_MAX_KEYS = 16,      /* segments in a dotted name */
    TMPL_MAX_PATH = 512,     /* length of a full declared path */
    TMPL_MAX_FILE = 4 << 20, /* a template file's size */
};

/* ---- parse tree ---------------------------------------------------------------- */

typedef enum { N_TEXT, N_VAR, N_TRANS, N_IF, N_UNLESS, N_EACH, N_PARTIAL } node_kind;

typedef struct node node;
typedef struct node_list {
    node *v;
    size_t n, cap;
} node_list;

struct node {
    node_kind kind;
    int line;
    const char *s; /* text (N_TEXT), msgid (N_TRANS), name (others) */
    size_t len;    /* of s for N_TEXT */
    node_list body, alt;
    int has_else;
};

typedef struct tfile {
    char *name; /* relative to dir; partials: name without "partials/" and ".html" */
    char *path; /* dir-joined, for messages */
    node_list root;
} tfile;

/* ---- compiled form ------------------------------------------------------------- */

typedef enum {
    OP_TEXT,  /* append s[0..len) */
    OP_VAR,   /* write value */
    OP_TRANS, /* write translation of s */
    OP_INDEX, /* write @index (len 0) or @number (len 1) */
    OP_IF,    /* when (truthy ^ negate) is false, go to jump */
    OP_JUMP,  /* go to jump */
    OP_EACH,  /* empty/missing list: go to jump; else push scope */
    OP_NEXT,  /* next item: go to jump2 (body); done: pop scope, go to jump */
} op_kind;

typedef struct op {
    uint8_t kind;
    uint8_t negate;
    uint8_t nkeys;
    uint8_t counter; /* OP_IF on @index (1) or @number (2) */
    uint16_t levels; /* candidate scope levels, bit i = level i */
    uint32_t jump, jump2;
    const char *s;
    size_t len;
    const char *const *keys;
} op;

typedef struct tmpl {
    const char *name;
    op *ops;
    size_t nops;
} tmpl;

struct tmpl_set {
    arena a; /* every string, node and key array */
    tmpl *t; /* sorted by name */
    size_t nt;
};

/* ---- loader state -------------------------------------------------------------- */

typedef struct loader {
    tmpl_set *set;
    const char *dir;
    tfile *pages, *partials;
    size_t npages, npartials, cap_pages, cap_partials;
    const char *const *globals;
    char *err;
    size_t errlen;
    /* compile state */
    op *ops;
    size_t nops, cap_ops;
    const char *const *vars;                       /* schema of the page being compiled */
    const char *page;                              /* its name, for messages */
    char scope[TMPL_MAX_DEPTH + 1][TMPL_MAX_PATH]; /* declared path of each level */
    int depth;
    const tfile *include[TMPL_MAX_INCLUDE];
    int ninclude;
} loader;

static int fail(loader *L, const char *path, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(loader *L, const char *path, int line, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (L->errlen) {
        if (line > 0)
            snprintf(L->err, L->errlen, "%s:%d: %s", path, line, msg);
        else
            snprintf(L->err, L->errlen, "%s: %s", path, msg);
    }
    return -1;
}

static node *list_add(arena *a, node_list *l) {
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 8;
        node *v = arena_calloc(a, ncap, sizeof *v);
        if (l->n) memcpy(v, l->v, l->n * sizeof *v);
        l->v = v;
        l->cap = ncap;
    }
    node *nd = &l->v[l->n++];
    memset(nd, 0, sizeof *nd);
    return nd;
}

/* ---- parsing ------------------------------------------------------------------- */

static int count_lines(const char *s, size_t n) {
    int c = 0;
    for (size_t i = 0; i < n; i++) c += s[i] == '\n';
    return c;
}

/* A name is ".", "@index", "@number" or dot-separated segments of [A-Za-z0-9_-]. */
static int valid_name(const char *s) {
    if (strcmp(s, ".") == 0 || strcmp(s, "@index") == 0 || strcmp(s, "@number") == 0) return 1;
    size_t seg = 0;
    int nseg = 1;
    for (const char *p = s;; p++) {
        char c = *p;
        if (c == '.' || c == '\0') {
            if (seg == 0) return 0;
            if (c == '\0') break;
            seg = 0;
            if (++nseg > TMPL_MAX_KEYS) return 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
        seg++;
    }
    return 1;
}

/* A partial name: [A-Za-z0-9_-] segments separated by '/'. */
static int valid_partial(const char *s) {
    if (!*s) return 0;
    size_t seg = 0;
    for (const char *p = s;; p++) {
        char c = *p;
        if (c == '/' || c == '\0') {
            if (seg == 0) return 0;
            if (c == '\0') return 1;
            seg = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
        seg++;
    }
}

/* Parses the string literal of {{_ "..."}} starting at s (after "_"); stores the
 * unescaped text in *out. Returns 0 or -1 with a reason in *why. */
static int parse_trans(arena *a, const char *s, const char **out, const char **why) {
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    if (*s != '"') {
        *why = "expected a quoted string after {{_";
        return -1;
    }
    s++;
    size_t n = strlen(s);
    char *t = arena_alloc(a, n + 1), *w = t;
    for (;;) {
        if (*s == '\0') {
            *why = "unterminated string in {{_ \"...\"}}";
            return -1;
        }
        if (*s == '"') break;
        if (*s == '\\') {
            if (s[1] != '"' && s[1] != '\\') {
                *why = "only \\\" and \\\\ may be escaped in {{_ \"...\"}}";
                return -1;
            }
            s++;
        }
        *w++ = *s++;
    }
    *w = '\0';
    s++;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    if (*s) {
        *why = "unexpected text after the string in {{_ \"...\"}}";
        return -1;
    }
    if (!*t) {
        *why = "empty string in {{_ \"\"}}";
        return -1;
    }
    *out = t;
    return 0;
}

static const char *kind_word(node_kind k) {
    switch (k) {
    case N_IF:
        return "if";
    case N_UNLESS:
        return "unless";
    case N_EACH:
        return "each";
    default:
        return "?";
    }
}

static int parse_file(loader *L, tfile *f, const char *src, size_t len) {
    arena *a = &L->set->a;
    node_list *stack[TMPL_MAX_DEPTH * 4 + 2];
    node *open[TMPL_MAX_DEPTH * 4 + 2];
    int sp = 0;
    stack[0] = &f->root;
    open[0] = NULL;
    int line = 1;
    size_t pos = 0;

    while (pos < len) {
        const char *tag = memmem(src + pos, len - pos, "{{", 2);
        size_t tpos = tag ? (size_t)(tag - src) : len;
        if (tpos > pos) {
            node *nd = list_add(a, stack[sp]);
            nd->kind = N_TEXT;
            nd->line = line;
            nd->s = src + pos;
            nd->len = tpos - pos;
            line += count_lines(src + pos, tpos - pos);
        }
        if (!tag) break;
        const char *end = memmem(src + tpos + 2, len - tpos - 2, "}}", 2);
        if (!end) return fail(L, f->path, line, "unclosed tag '{{' (no matching '}}')");
        size_t cstart = tpos + 2, cend = (size_t)(end - src);
        int tag_line = line;
        line += count_lines(src + cstart, cend - cstart);
        pos = cend + 2;

        /* Trim the tag's content into a NUL-terminated arena copy. */
        while (cstart < cend && strchr(" \t\r\n", src[cstart])) cstart++;
        while (cend > cstart && strchr(" \t\r\n", src[cend - 1])) cend--;
        char *c = arena_strndup(a, src + cstart, cend - cstart);

        if (c[0] == '!') continue;
        if (c[0] == '{')
            return fail(L, f->path, tag_line,
                        "'{{{' is not supported: pass trusted HTML with tv_set_html and "
                        "write {{name}}");
        if (c[0] == '_' && (c[1] == ' ' || c[1] == '"' || c[1] == '\t')) {
            const char *why = NULL, *msgid = NULL;
            if (parse_trans(a, c + 1, &msgid, &why) != 0)
                return fail(L, f->path, tag_line, "%s", why);
            node *nd = list_add(a, stack[sp]);
            nd->kind = N_TRANS;
            nd->line = tag_line;
            nd->s = msgid;
            continue;
        }
        if (c[0] == '#') {
            char *kw = c + 1, *arg = kw;
            while (*arg && *arg != ' ' && *arg != '\t') arg++;
            if (*arg) *arg++ = '\0';
            while (*arg == ' ' || *arg == '\t') arg++;
            node_kind k;
            if (strcmp(kw, "if") == 0)
                k = N_IF;
            else if (strcmp(kw, "unless") == 0)
                k = N_UNLESS;
            else if (strcmp(kw, "each") == 0)
                k = N_EACH;
            else
                return fail(L, f->path, tag_line, "unknown block '{{#%s}}'", kw);
            if (!*arg) return fail(L, f->path, tag_line, "'{{#%s}}' needs a name", kw);
            if (!valid_name(arg) || (k == N_EACH && arg[0] == '@'))
                return fail(L, f->path, tag_line, "invalid name '%s' in {{#%s}}", arg, kw);
            if (k == N_EACH && strcmp(arg, ".") == 0)
                return fail(L, f->path, tag_line, "'{{#each .}}' is not supported");
            if (sp + 1 >= (int)(sizeof stack / sizeof stack[0]))
                return fail(L, f->path, tag_line, "blocks nested too deeply");
            node *nd = list_add(a, stack[sp]);
            nd->kind = k;
            nd->line = tag_line;
            nd->s = arg;
            sp++;
            stack[sp] = &nd->body;
            open[sp] = nd;
            continue;
        }
        if (c[0] == '/') {
            const char *kw = c + 1;
            if (sp == 0) return fail(L, f->path, tag_line, "'{{/%s}}' without an open block", kw);
            node *o = open[sp];
            if (strcmp(kw, kind_word(o->kind)) != 0)
                return fail(L, f->path, tag_line,
                            "mismatched '{{/%s}}': expected '{{/%s}}' to close the block "
                            "opened on line %d",
                            kw, kind_word(o->kind), o->line);
            sp--;
            continue;
        }
        if (strcmp(c, "else") == 0) {
            if (sp == 0) return fail(L, f->path, tag_line, "'{{else}}' outside a block");
            node *o = open[sp];
            if (o->has_else)
                return fail(L, f->path, tag_line,
                            "second '{{else}}' in the block opened on "
                            "line %d",
                            o->line);
            o->has_else = 1;
            stack[sp] = &o->alt;
            continue;
        }
        if (c[0] == '>') {
            char *name = c + 1;
            while (*name == ' ' || *name == '\t') name++;
            if (!valid_partial(name))
                return fail(L, f->path, tag_line, "invalid partial name '%s'", name);
            node *nd = list_add(a, stack[sp]);
            nd->kind = N_PARTIAL;
            nd->line = tag_line;
            nd->s = name;
            continue;
        }
        if (!valid_name(c)) return fail(L, f->path, tag_line, "invalid tag '{{%s}}'", c);
        node *nd = list_add(a, stack[sp]);
        nd->kind = N_VAR;
        nd->line = tag_line;
        nd->s = c;
    }
    if (sp > 0)
        return fail(L, f->path, open[sp]->line, "unclosed '{{#%s %s}}'", kind_word(open[sp]->kind),
                    open[sp]->s);
    return 0;
}

/* ---- declarations -------------------------------------------------------------- */

/* True when path is declared by one name in vars: exactly, as a prefix of a declared
 * name, or below a "x.*" wildcard. */
static int declared_in(const char *const *vars, const char *path) {
    if (!vars) return 0;
    size_t pl = strlen(path);
    for (; *vars; vars++) {
        const char *v = *vars;
        size_t vl = strlen(v);
        if (vl >= 2 && v[vl - 2] == '.' && v[vl - 1] == '*') {
            size_t bl = vl - 2;
            if (pl >= bl && memcmp(path, v, bl) == 0 && (pl == bl || path[bl] == '.')) return 1;
            /* the wildcard's own prefixes ("site" for "site.x.*") */
            if (bl > pl && memcmp(v, path, pl) == 0 && v[pl] == '.') return 1;
            continue;
        }
        if (vl == pl && memcmp(v, path, pl) == 0) return 1;
        if (vl > pl && memcmp(v, path, pl) == 0 && v[pl] == '.') return 1;
    }
    return 0;
}

static int declared(loader *L, const char *path) {
    return declared_in(L->vars, path) || declared_in(L->globals, path);
}

/* The full declared path of name at scope level lvl, into out. Returns 0, or -1 when
 * too long. */
static int full_path(loader *L, int lvl, const char *name, char *out, size_t outlen) {
    int n;
    if (lvl == 0)
        n = snprintf(out, outlen, "%s", name);
    else
        n = snprintf(out, outlen, "%s.%s", L->scope[lvl], name);
    return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
}

/* ---- compiling ----------------------------------------------------------------- */

static op *emit(loader *L, op_kind kind) {
    if (L->nops == L->cap_ops) {
        L->cap_ops = L->cap_ops ? L->cap_ops * 2 : 64;
        L->ops = xreallocarray(L->ops, L->cap_ops, sizeof *L->ops);
    }
    op *o = &L->ops[L->nops++];
    memset(o, 0, sizeof *o);
    o->kind = (uint8_t)kind;
    return o;
}

static const char *where_suffix(loader *L, char *dst, size_t len) {
    if (L->ninclude > 1)
        snprintf(dst, len, " (included from %s)", L->page);
    else
        dst[0] = '\0';
    return dst;
}

/* Binds name (not ".", "@...") to the levels where it is declared; fills o->keys,
 * o->nkeys, o->levels. For a list name (each), *each_path receives the declared path
 * at the innermost level. */
static int bind_name(loader *L, const tfile *f, const node *nd, op *o, char *each_path) {
    char path[TMPL_MAX_PATH], sfx[300];
    arena *a = &L->set->a;
    if (strcmp(nd->s, ".") == 0) {
        if (L->depth == 0)
            return fail(L, f->path, nd->line, "'{{.}}' outside {{#each}}%s",
                        where_suffix(L, sfx, sizeof sfx));
        o->levels = (uint16_t)(1u << L->depth);
        o->nkeys = 0;
        return 0;
    }
    int innermost = -1;
    for (int lvl = L->depth; lvl >= 0; lvl--) {
        if (full_path(L, lvl, nd->s, path, sizeof path) != 0)
            return fail(L, f->path, nd->line, "name too long");
        if (declared(L, path)) {
            o->levels |= (uint16_t)(1u << lvl);
            if (innermost < 0) {
                innermost = lvl;
                if (each_path) memcpy(each_path, path, strlen(path) + 1);
            }
        }
    }
    if (!o->levels) {
        if (L->depth > 0 && full_path(L, L->depth, nd->s, path, sizeof path) == 0)
            return fail(L, f->path, nd->line,
                        "unknown variable '%s' (neither '%s' nor '%s' is declared for %s)%s", nd->s,
                        path, nd->s, L->page, where_suffix(L, sfx, sizeof sfx));
        return fail(L, f->path, nd->line, "unknown variable '%s' (not declared for %s)%s", nd->s,
                    L->page, where_suffix(L, sfx, sizeof sfx));
    }
    /* Split into keys once, at load time. */
    const char *keys[TMPL_MAX_KEYS];
    size_t nk = 0;
    const char *p = nd->s;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        keys[nk++] = arena_strndup(a, p, l);
        p += l + (dot ? 1 : 0);
    }
    const char **kv = arena_alloc(a, nk * sizeof *kv);
    memcpy(kv, keys, nk * sizeof *kv);
    o->keys = kv;
    o->nkeys = (uint8_t)nk;
    return 0;
}

static const tfile *find_partial(loader *L, const char *name) {
    for (size_t i = 0; i < L->npartials; i++)
        if (strcmp(L->partials[i].name, name) == 0) return &L->partials[i];
    return NULL;
}

static int compile_list(loader *L, const tfile *f, const node_list *nl);

static int compile_node(loader *L, const tfile *f, const node *nd) {
    char sfx[300];
    switch (nd->kind) {
    case N_TEXT: {
        op *o = emit(L, OP_TEXT);
        o->s = nd->s;
        o->len = nd->len;
        return 0;
    }
    case N_TRANS: {
        op *o = emit(L, OP_TRANS);
        o->s = nd->s;
        return 0;
    }
    case N_VAR: {
        if (nd->s[0] == '@') {
            if (L->depth == 0)
                return fail(L, f->path, nd->line, "'{{%s}}' outside {{#each}}%s", nd->s,
                            where_suffix(L, sfx, sizeof sfx));
            op *o = emit(L, OP_INDEX);
            o->len = strcmp(nd->s, "@number") == 0;
            return 0;
        }
        op o;
        memset(&o, 0, sizeof o);
        if (bind_name(L, f, nd, &o, NULL) != 0) return -1;
        op *e = emit(L, OP_VAR);
        e->levels = o.levels;
        e->keys = o.keys;
        e->nkeys = o.nkeys;
        return 0;
    }
    case N_IF:
    case N_UNLESS: {
        op tmp;
        memset(&tmp, 0, sizeof tmp);
        if (nd->s[0] == '@') {
            if (L->depth == 0)
                return fail(L, f->path, nd->line, "'%s' outside {{#each}}%s", nd->s,
                            where_suffix(L, sfx, sizeof sfx));
            tmp.counter = strcmp(nd->s, "@number") == 0 ? 2 : 1;
        } else if (bind_name(L, f, nd, &tmp, NULL) != 0)
            return -1;
        size_t at = L->nops;
        op *o = emit(L, OP_IF);
        o->levels = tmp.levels;
        o->keys = tmp.keys;
        o->nkeys = tmp.nkeys;
        o->negate = nd->kind == N_UNLESS;
        o->counter = tmp.counter;
        if (compile_list(L, f, &nd->body) != 0) return -1;
        if (nd->has_else) {
            size_t j = L->nops;
            emit(L, OP_JUMP);
            L->ops[at].jump = (uint32_t)L->nops;
            if (compile_list(L, f, &nd->alt) != 0) return -1;
            L->ops[j].jump = (uint32_t)L->nops;
        } else {
            L->ops[at].jump = (uint32_t)L->nops;
        }
        return 0;
    }
    case N_EACH: {
        op tmp;
        memset(&tmp, 0, sizeof tmp);
        char path[TMPL_MAX_PATH];
        if (bind_name(L, f, nd, &tmp, path) != 0) return -1;
        if (L->depth + 1 > TMPL_MAX_DEPTH)
            return fail(L, f->path, nd->line, "{{#each}} nested more than %d deep", TMPL_MAX_DEPTH);
        size_t at = L->nops;
        op *o = emit(L, OP_EACH);
        o->levels = tmp.levels;
        o->keys = tmp.keys;
        o->nkeys = tmp.nkeys;
        L->depth++;
        memcpy(L->scope[L->depth], path, strlen(path) + 1);
        int rc = compile_list(L, f, &nd->body);
        L->depth--;
        if (rc != 0) return -1;
        size_t nx = L->nops;
        emit(L, OP_NEXT);
        L->ops[nx].jump2 = (uint32_t)(at + 1);
        L->ops[at].jump = (uint32_t)L->nops;
        if (nd->has_else && compile_list(L, f, &nd->alt) != 0) return -1;
        L->ops[nx].jump = (uint32_t)L->nops;
        return 0;
    }
    case N_PARTIAL: {
        const tfile *p = find_partial(L, nd->s);
        if (!p)
            return fail(L, f->path, nd->line, "unknown partial '%s' (no %s/partials/%s.html)",
                        nd->s, L->dir, nd->s);
        for (int i = 0; i < L->ninclude; i++)
            if (L->include[i] == p)
                return fail(L, f->path, nd->line, "partial '%s' includes itself", nd->s);
        if (L->ninclude >= TMPL_MAX_INCLUDE)
            return fail(L, f->path, nd->line, "partials nested more than %d deep",
                        TMPL_MAX_INCLUDE);
        L->include[L->ninclude++] = p;
        int rc = compile_list(L, p, &p->root);
        L->ninclude--;
        return rc;
    }
    }
    return 0;
}

static int compile_list(loader *L, const tfile *f, const node_list *nl) {
    for (size_t i = 0; i < nl->n; i++)
        if (compile_node(L, f, &nl->v[i]) != 0) return -1;
    return 0;
}

/* ---- files --------------------------------------------------------------------- */

static int has_suffix(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

static int read_file(loader *L, const char *path, char **out, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return fail(L, path, 0, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || st.st_size > TMPL_MAX_FILE) {
        fclose(fp);
        return fail(L, path, 0, "unreadable or larger than %d bytes", TMPL_MAX_FILE);
    }
    size_t n = (size_t)st.st_size;
    char *s = arena_alloc(&L->set->a, n + 1);
    size_t got = fread(s, 1, n, fp);
    fclose(fp);
    if (got != n) return fail(L, path, 0, "short read");
    s[n] = '\0';
    if (!utf8_valid_text(s, n)) return fail(L, path, 0, "not valid UTF-8 text");
    *out = s;
    *len = n;
    return 0;
}

static int add_file(loader *L, const char *rel, int is_partial) {
    arena *a = &L->set->a;
    tfile *f;
    if (is_partial) {
        if (L->npartials == L->cap_partials) {
            L->cap_partials = L->cap_partials ? L->cap_partials * 2 : 16;
            L->partials = xreallocarray(L->partials, L->cap_partials, sizeof *L->partials);
        }
        f = &L->partials[L->npartials++];
        /* "partials/x/y.html" -> "x/y" */
        size_t off = strlen("partials/");
        f->name = arena_strndup(a, rel + off, strlen(rel) - off - strlen(".html"));
    } else {
        if (L->npages == L->cap_pages) {
            L->cap_pages = L->cap_pages ? L->cap_pages * 2 : 16;
            L->pages = xreallocarray(L->pages, L->cap_pages, sizeof *L->pages);
        }
        f = &L->pages[L->npages++];
        f->name = arena_strdup(a, rel);
    }
    memset(&f->root, 0, sizeof f->root);
    f->path = arena_sprintf(a, "%s/%s", L->dir, rel);
    char *src = NULL;
    size_t len = 0;
    if (read_file(L, f->path, &src, &len) != 0) return -1;
    return parse_file(L, f, src, len);
}

/* Walks dir/rel recursively in name order, adding every *.html. */
static int walk(loader *L, const char *rel) {
    char path[4096];
    snprintf(path, sizeof path, "%s%s%s", L->dir, *rel ? "/" : "", rel);
    struct dirent **ents;
    int n = scandir(path, &ents, NULL, alphasort);
    if (n < 0) return fail(L, path, 0, "cannot read directory: %s", strerror(errno));
    int rc = 0;
    for (int i = 0; i < n; i++) {
        const char *nm = ents[i]->d_name;
        if (rc == 0 && nm[0] != '.') {
            char sub[4096], full[8192];
            snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", nm);
            snprintf(full, sizeof full, "%s/%s", L->dir, sub);
            struct stat st;
            if (stat(full, &st) != 0)
                rc = fail(L, full, 0, "cannot stat: %s", strerror(errno));
            else if (S_ISDIR(st.st_mode))
                rc = walk(L, sub);
            else if (S_ISREG(st.st_mode) && has_suffix(nm, ".html"))
                rc = add_file(L, sub, strncmp(sub, "partials/", 9) == 0);
        }
        free(ents[i]);
    }
    free(ents);
    return rc;
}

static int tmpl_cmp(const void *x, const void *y) {
    return strcmp(((const tmpl *)x)->name, ((const tmpl *)y)->name);
}

tmpl_set *tmpl_load(const char *dir, const tmpl_schema *schemas, char *err, size_t errlen) {
    loader L;
    memset(&L, 0, sizeof L);
    L.set = xcalloc(1, sizeof *L.set);
    arena_init(&L.set->a, 64 * 1024);
    L.dir = dir;
    L.err = err;
    L.errlen = errlen;
    if (errlen) err[0] = '\0';
    int rc = walk(&L, "");

    if (rc == 0 && schemas) {
        for (const tmpl_schema *s = schemas; s->name; s++) {
            if (strcmp(s->name, TMPL_GLOBALS) == 0) {
                L.globals = s->vars;
                continue;
            }
            size_t i;
            for (i = 0; i < L.npages; i++)
                if (strcmp(L.pages[i].name, s->name) == 0) break;
            if (i == L.npages) {
                rc = fail(&L, dir, 0, "schema names template '%s', which does not exist", s->name);
                break;
            }
        }
    }

    if (rc == 0) {
        L.set->t = xcalloc(L.npages ? L.npages : 1, sizeof *L.set->t);
        for (size_t i = 0; i < L.npages && rc == 0; i++) {
            const tfile *f = &L.pages[i];
            L.vars = NULL;
            for (const tmpl_schema *s = schemas; s && s->name; s++)
                if (strcmp(s->name, f->name) == 0) {
                    L.vars = s->vars;
                    break;
                }
            L.page = f->name;
            L.nops = L.cap_ops = 0;
            L.ops = NULL;
            L.depth = 0;
            L.include[0] = f;
            L.ninclude = 1;
            rc = compile_list(&L, f, &f->root);
            tmpl *t = &L.set->t[L.set->nt++];
            t->name = f->name;
            t->ops = L.ops;
            t->nops = L.nops;
        }
        qsort(L.set->t, L.set->nt, sizeof *L.set->t, tmpl_cmp);
    }
    free(L.pages);
    free(L.partials);
    if (rc != 0) {
        tmpl_free(L.set);
        return NULL;
    }
    return L.set;
}

void tmpl_free(tmpl_set *set) {
    if (!set) return;
    for (size_t i = 0; i < set->nt; i++) free(set->t[i].ops);
    free(set->t);
    arena_free(&set->a);
    free(set);
}

static const tmpl *find_tmpl(const tmpl_set *set, const char *name) {
    if (!set || !name) return NULL;
    tmpl key = {.name = name};
    return bsearch(&key, set->t, set->nt, sizeof *set->t, tmpl_cmp);
}

bool tmpl_has(const tmpl_set *set, const char *name) { return find_tmpl(set, name) != NULL; }

/* ---- rendering ----------------------------------------------------------------- */

typedef struct frame {
    const tv *item;
    const tv *list;
    size_t idx, n;
} frame;

static const tv *lookup(const op *o, const frame *fr, int depth) {
    for (int lvl = depth; lvl >= 0; lvl--) {
        if (!(o->levels & (1u << lvl))) continue;
        const tv *v = fr[lvl].item;
        for (size_t k = 0; v && k < o->nkeys; k++) v = tv_get(v, o->keys[k]);
        if (v) return v;
    }
    return NULL;
}

/* Appends v in decimal (snprintf is a measurable share of a table's render time). */
static int write_int(buf *out, long long v) {
    char num[24], *p = num + sizeof num;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) *--p = '-';
    return buf_append(out, p, (size_t)(num + sizeof num - p));
}

static int write_value(buf *out, const tv *v) {
    switch (tv_type_of(v)) {
    case TV_STR:
        return html_escape(out, tv_str(v));
    case TV_HTML:
        return buf_puts(out, tv_str(v));
    case TV_INT:
        return write_int(out, tv_int(v));
    case TV_BOOL:
        return buf_puts(out, tv_int(v) ? "true" : "false");
    case TV_LIST:
    case TV_MAP:
        return BUF_OK; /* containers have no text form */
    }
    return BUF_OK;
}

int tmpl_render(const tmpl_set *set, const char *name, const tv *ctx, const char *lang, buf *out) {
    const tmpl *t = find_tmpl(set, name);
    if (!t) return TMPL_UNKNOWN;
    frame fr[TMPL_MAX_DEPTH + 1];
    int depth = 0;
    fr[0].item = ctx;
    fr[0].list = NULL;
    fr[0].idx = fr[0].n = 0;
    const op *ops = t->ops;
    size_t pc = 0;
    while (pc < t->nops) {
        const op *o = &ops[pc];
        int rc = BUF_OK;
        switch ((op_kind)o->kind) {
        case OP_TEXT:
            rc = buf_append(out, o->s, o->len);
            break;
        case OP_VAR: {
            const tv *v = lookup(o, fr, depth);
            if (v) rc = write_value(out, v);
            break;
        }
        case OP_TRANS:
            rc = html_escape(out, i18n_gettext(lang, o->s));
            break;
        case OP_INDEX:
            rc = write_int(out, (long long)(fr[depth].idx + (o->len ? 1 : 0)));
            break;
        case OP_IF: {
            bool truth = o->counter ? fr[depth].idx + (o->counter == 2) != 0
                                    : tv_truthy(lookup(o, fr, depth));
            if (truth == (bool)o->negate) {
                pc = o->jump;
                continue;
            }
            break;
        }
        case OP_JUMP:
            pc = o->jump;
            continue;
        case OP_EACH: {
            const tv *l = lookup(o, fr, depth);
            size_t n = (l && tv_type_of(l) == TV_LIST) ? tv_len(l) : 0;
            if (n == 0) {
                pc = o->jump;
                continue;
            }
            assert(depth < TMPL_MAX_DEPTH);
            depth++;
            fr[depth].list = l;
            fr[depth].n = n;
            fr[depth].idx = 0;
            fr[depth].item = tv_at(l, 0);
            break;
        }
        case OP_NEXT:
            if (++fr[depth].idx < fr[depth].n) {
                fr[depth].item = tv_at(fr[depth].list, fr[depth].idx);
                pc = o->jump2;
            } else {
                depth--;
                pc = o->jump;
            }
            continue;
        }
        if (rc != BUF_OK) return TMPL_TOO_BIG;
        pc++;
    }
    return TMPL_OK;
}
