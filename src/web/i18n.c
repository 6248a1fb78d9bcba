/*
 * i18n: in-process reader of GNU gettext .mo catalogues and per-request language
 * choice (see i18n.h for why glibc's gettext is not used).
 *
 * A catalogue is the whole .mo file copied into memory plus an open-addressing hash
 * table from msgid to translation, both built once at load time and never modified
 * afterwards, so lookups from any number of threads need no locks. Every offset and
 * length in the file is checked against its size before it is used, and each string
 * must end with the NUL that msgfmt writes after it, so a truncated or hostile file is
 * rejected rather than read out of bounds.
 *
 * Plural forms: the Plural-Forms header's C expression ("nplurals=4; plural=(n==1) ?
 * 0 : ...") is parsed at load into a small expression tree and evaluated per lookup.
 */
#include "web/i18n.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/xalloc.h"

enum {
    I18N_MAX_LANGS = 16,
    I18N_MAX_CODE = 16,
    I18N_MAX_FILE = 16 << 20,
    PL_MAX_NODES = 64,
};

/* ---- plural expressions -------------------------------------------------------- */

typedef enum {
    PL_NUM,
    PL_N,
    PL_NOT,
    PL_MUL,
    PL_DIV,
    PL_MOD,
    PL_ADD,
    PL_SUB,
    PL_LT,
    PL_LE,
    PL_GT,
    PL_GE,
    PL_EQ,
    PL_NE,
    PL_AND,
    PL_OR,
    PL_COND
} pl_kind;

typedef struct pl_node {
    pl_kind kind;
    unsigned long num;
    int a, b, c; /* operand node indices */
} pl_node;

typedef struct plural {
    pl_node nodes[PL_MAX_NODES];
    int n, root;
    unsigned long nplurals;
} plural;

typedef struct pl_parser {
    const char *s;
    plural *p;
    int bad;
} pl_parser;

static void pl_ws(pl_parser *ps) {
    while (*ps->s == ' ' || *ps->s == '\t' || *ps->s == '\n') ps->s++;
}

static int pl_new(pl_parser *ps, pl_kind k, int a, int b, int c) {
    if (ps->p->n >= PL_MAX_NODES) {
        ps->bad = 1;
        return 0;
    }
    pl_node *nd = &ps->p->nodes[ps->p->n];
    nd->kind = k, nd->a = a, nd->b = b, nd->c = c, nd->num = 0;
    return ps->p->n++;
}

static int pl_cond(pl_parser *ps);

static int pl_primary(pl_parser *ps) {
    pl_ws(ps);
    if (*ps->s == '(') {
        ps->s++;
        int e = pl_cond(ps);
        pl_ws(ps);
        if (*ps->s != ')')
            ps->bad = 1;
        else
            ps->s++;
        return e;
    }
    if (*ps->s == '!') {
        ps->s++;
        int e = pl_primary(ps);
        return pl_new(ps, PL_NOT, e, 0, 0);
    }
    if (*ps->s == 'n') {
        ps->s++;
        return pl_new(ps, PL_N, 0, 0, 0);
    }
    if (isdigit((unsigned char)*ps->s)) {
        unsigned long v = 0;
        while (isdigit((unsigned char)*ps->s)) {
            if (v > 100000000UL) ps->bad = 1;
            v = v * 10 + (unsigned long)(*ps->s++ - '0');
        }
        int i = pl_new(ps, PL_NUM, 0, 0, 0);
        ps->p->nodes[i].num = v;
        return i;
    }
    ps->bad = 1;
    return 0;
}

/* Binary operators by precedence level, lowest first (after || and &&). */
static int pl_binary(pl_parser *ps, int level) {
    static const struct {
        const char *tok;
        pl_kind kind;
        int level;
    } ops[] = {
        {"||", PL_OR, 0}, {"&&", PL_AND, 1}, {"==", PL_EQ, 2}, {"!=", PL_NE, 2}, {"<=", PL_LE, 3},
        {">=", PL_GE, 3}, {"<", PL_LT, 3},   {">", PL_GT, 3},  {"+", PL_ADD, 4}, {"-", PL_SUB, 4},
        {"*", PL_MUL, 5}, {"/", PL_DIV, 5},  {"%", PL_MOD, 5},
    };
    if (level > 5) return pl_primary(ps);
    int left = pl_binary(ps, level + 1);
    for (;;) {
        pl_ws(ps);
        size_t i;
        for (i = 0; i < sizeof ops / sizeof ops[0]; i++)
            if (ops[i].level == level && strncmp(ps->s, ops[i].tok, strlen(ops[i].tok)) == 0) break;
        if (i == sizeof ops / sizeof ops[0] || ps->bad) return left;
        ps->s += strlen(ops[i].tok);
        int right = pl_binary(ps, level + 1);
        left = pl_new(ps, ops[i].kind, left, right, 0);
    }
}

static int pl_cond(pl_parser *ps) {
    int c = pl_binary(ps, 0);
    pl_ws(ps);
    if (*ps->s != '?' || ps->bad) return c;
    ps->s++;
    int a = pl_cond(ps);
    pl_ws(ps);
    if (*ps->s != ':') {
        ps->bad = 1;
        return c;
    }
    ps->s++;
    int b = pl_cond(ps);
    return pl_new(ps, PL_COND, c, a, b);
}

static unsigned long pl_eval(const plural *p, int i, unsigned long n) {
    const pl_node *nd = &p->nodes[i];
    unsigned long x, y;
    switch (nd->kind) {
    case PL_NUM:
        return nd->num;
    case PL_N:
        return n;
    case PL_NOT:
        return !pl_eval(p, nd->a, n);
    case PL_COND:
        return pl_eval(p, nd->a, n) ? pl_eval(p, nd->b, n) : pl_eval(p, nd->c, n);
    case PL_AND:
        return pl_eval(p, nd->a, n) && pl_eval(p, nd->b, n);
    case PL_OR:
        return pl_eval(p, nd->a, n) || pl_eval(p, nd->b, n);
    default:
        break;
    }
    x = pl_eval(p, nd->a, n);
    y = pl_eval(p, nd->b, n);
    switch (nd->kind) {
    case PL_MUL:
        return x * y;
    case PL_DIV:
        return y ? x / y : 0;
    case PL_MOD:
        return y ? x % y : 0;
    case PL_ADD:
        return x + y;
    case PL_SUB:
        return x - y;
    case PL_LT:
        return x < y;
    case PL_LE:
        return x <= y;
    case PL_GT:
        return x > y;
    case PL_GE:
        return x >= y;
    case PL_EQ:
        return x == y;
    case PL_NE:
        return x != y;
    default:
        return 0;
    }
}

/* Parses "nplurals=N; plural=EXPR;" out of a .mo header. Returns 0 (also when the
 * header has no Plural-Forms: English rules then), -1 when present but malformed. */
static int plural_parse(plural *p, const char *header) {
    p->n = 0;
    p->root = -1;
    p->nplurals = 2;
    const char *pf = strstr(header, "Plural-Forms:");
    if (!pf) return 0;
    const char *np = strstr(pf, "nplurals=");
    const char *ex = strstr(pf, "plural=");
    if (!np || !ex) return -1;
    p->nplurals = strtoul(np + 9, NULL, 10);
    if (p->nplurals < 1 || p->nplurals > 10) return -1;
    pl_parser ps = {ex + 7, p, 0};
    p->root = pl_cond(&ps);
    pl_ws(&ps);
    if (*ps.s == ';') ps.s++;
    pl_ws(&ps);
    if (ps.bad || (*ps.s != '\0' && *ps.s != '\n' && *ps.s != '\r')) return -1;
    return 0;
}

/* ---- catalogues ---------------------------------------------------------------- */

typedef struct entry {
    const char *msgid;
    const char *str;  /* forms separated by NUL */
    uint32_t str_len; /* bytes of str, all forms */
} entry;

typedef struct catalogue {
    char code[I18N_MAX_CODE];
    unsigned char *data; /* the file */
    entry *slots;        /* open addressing; msgid NULL = empty */
    size_t nslots;
    plural pl;
} catalogue;

static catalogue cats[I18N_MAX_LANGS];
static size_t ncats;
static const char *lang_list[I18N_MAX_LANGS + 2] = {"en", NULL};

static int set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int set_err(char *err, size_t errlen, const char *fmt, ...) {
    if (errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static void cat_free(catalogue *c) {
    free(c->data);
    free(c->slots);
    memset(c, 0, sizeof *c);
}

static uint32_t rd32(const unsigned char *p, int swap) {
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    if (swap) v = (v >> 24) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) | (v << 24);
    return v;
}

/* Validates string-table entry i of the table at off: its bytes and the NUL after
 * them must lie in the file. */
static int mo_string(const unsigned char *d, size_t size, uint32_t table, uint32_t i, int swap,
                     const char **s, uint32_t *len) {
    uint64_t at = (uint64_t)table + (uint64_t)i * 8;
    if (at + 8 > size) return -1;
    uint32_t l = rd32(d + at, swap), o = rd32(d + at + 4, swap);
    if ((uint64_t)o + l + 1 > size || d[o + l] != '\0') return -1;
    *s = (const char *)d + o;
    *len = l;
    return 0;
}

static int cat_parse(catalogue *c, size_t size, const char *path, char *err, size_t errlen) {
    const unsigned char *d = c->data;
    if (size < 28) return set_err(err, errlen, "%s: too short for a .mo file", path);
    int swap;
    if (rd32(d, 0) == 0x950412deU)
        swap = 0;
    else if (rd32(d, 1) == 0x950412deU)
        swap = 1;
    else
        return set_err(err, errlen, "%s: not a .mo file (bad magic)", path);
    uint32_t rev = rd32(d + 4, swap);
    if ((rev >> 16) > 1)
        return set_err(err, errlen, "%s: unsupported .mo revision %u", path, rev >> 16);
    uint32_t n = rd32(d + 8, swap), orig = rd32(d + 12, swap), trans = rd32(d + 16, swap);
    if ((uint64_t)orig + (uint64_t)n * 8 > size || (uint64_t)trans + (uint64_t)n * 8 > size)
        return set_err(err, errlen, "%s: string tables lie outside the file", path);
    size_t ns = 16;
    while (ns < (size_t)n * 2) ns *= 2;
    c->slots = xcalloc(ns, sizeof *c->slots);
    c->nslots = ns;
    const char *header = "";
    for (uint32_t i = 0; i < n; i++) {
        const char *id, *str;
        uint32_t idl, strl;
        if (mo_string(d, size, orig, i, swap, &id, &idl) != 0 ||
            mo_string(d, size, trans, i, swap, &str, &strl) != 0)
            return set_err(err, errlen, "%s: string %u lies outside the file", path, i);
        if (idl == 0) {
            header = str;
            continue;
        }
        if (strl == 0) continue;
        size_t h = hash_str(id) & (ns - 1);
        while (c->slots[h].msgid && strcmp(c->slots[h].msgid, id) != 0) h = (h + 1) & (ns - 1);
        c->slots[h].msgid = id;
        c->slots[h].str = str;
        c->slots[h].str_len = strl;
    }
    if (plural_parse(&c->pl, header) != 0)
        return set_err(err, errlen, "%s: malformed Plural-Forms header", path);
    return 0;
}

static int valid_code(const char *s) {
    size_t n = strlen(s);
    if (n < 2 || n > 8) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_') return 0;
    return 1;
}

static void rebuild_list(void) {
    size_t k = 0;
    lang_list[k++] = "en";
    for (size_t i = 0; i < ncats; i++) lang_list[k++] = cats[i].code;
    lang_list[k] = NULL;
}

static int cat_cmp(const void *x, const void *y) {
    return strcmp(((const catalogue *)x)->code, ((const catalogue *)y)->code);
}

int i18n_load_file(const char *lang, const char *path, char *err, size_t errlen) {
    if (errlen) err[0] = '\0';
    if (!valid_code(lang) || strcmp(lang, "en") == 0)
        return set_err(err, errlen, "%s: invalid language code '%s'", path, lang);
    if (ncats >= I18N_MAX_LANGS)
        return set_err(err, errlen, "%s: more than %d catalogues", path, I18N_MAX_LANGS);
    FILE *fp = fopen(path, "rb");
    if (!fp) return set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || st.st_size > I18N_MAX_FILE) {
        fclose(fp);
        return set_err(err, errlen, "%s: unreadable or too large", path);
    }
    catalogue c;
    memset(&c, 0, sizeof c);
    size_t size = (size_t)st.st_size;
    c.data = xmalloc(size + 1);
    size_t got = fread(c.data, 1, size, fp);
    fclose(fp);
    if (got != size) {
        cat_free(&c);
        return set_err(err, errlen, "%s: short read", path);
    }
    c.data[size] = '\0';
    if (cat_parse(&c, size, path, err, errlen) != 0) {
        cat_free(&c);
        return -1;
    }
    snprintf(c.code, sizeof c.code, "%s", lang);
    /* Replace a catalogue of the same language. */
    for (size_t i = 0; i < ncats; i++) {
        if (strcmp(cats[i].code, lang) == 0) {
            cat_free(&cats[i]);
            cats[i] = c;
            rebuild_list();
            return 0;
        }
    }
    cats[ncats++] = c;
    qsort(cats, ncats, sizeof cats[0], cat_cmp);
    rebuild_list();
    return 0;
}

void i18n_free(void) {
    for (size_t i = 0; i < ncats; i++) cat_free(&cats[i]);
    ncats = 0;
    rebuild_list();
}

int i18n_load(const char *dir, char *err, size_t errlen) {
    if (errlen) err[0] = '\0';
    i18n_free();
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, alphasort);
    if (n < 0) return errno == ENOENT ? 0 : set_err(err, errlen, "%s: %s", dir, strerror(errno));
    int rc = 0;
    for (int i = 0; i < n; i++) {
        const char *nm = ents[i]->d_name;
        if (rc == 0 && nm[0] != '.' && valid_code(nm) && strcmp(nm, "en") != 0) {
            char path[4096];
            struct stat st;
            snprintf(path, sizeof path, "%s/%s/commonground.mo", dir, nm);
            if (stat(path, &st) == 0) rc = i18n_load_file(nm, path, err, errlen);
        }
        free(ents[i]);
    }
    free(ents);
    if (rc != 0) i18n_free();
    return rc;
}

static const catalogue *find_cat(const char *lang) {
    if (!lang || (lang[0] == 'e' && lang[1] == 'n' && lang[2] == '\0')) return NULL;
    for (size_t i = 0; i < ncats; i++)
        if (strcmp(cats[i].code, lang) == 0) return &cats[i];
    return NULL;
}

static const entry *find_entry(const catalogue *c, const char *msgid) {
    size_t h = hash_str(msgid) & (c->nslots - 1);
    while (c->slots[h].msgid) {
        if (strcmp(c->slots[h].msgid, msgid) == 0) return &c->slots[h];
        h = (h + 1) & (c->nslots - 1);
    }
    return NULL;
}

const char *i18n_gettext(const char *lang, const char *msgid) {
    const catalogue *c = find_cat(lang);
    if (!c || !msgid) return msgid;
    const entry *e = find_entry(c, msgid);
    return e ? e->str : msgid;
}

const char *i18n_ngettext(const char *lang, const char *msgid, const char *msgid_plural,
                          unsigned long n) {
    const char *english = n == 1 ? msgid : msgid_plural;
    const catalogue *c = find_cat(lang);
    if (!c || !msgid) return english;
    const entry *e = find_entry(c, msgid);
    if (!e) return english;
    unsigned long form = c->pl.root >= 0 ? pl_eval(&c->pl, c->pl.root, n) : (n != 1);
    if (form >= c->pl.nplurals) form = 0;
    /* Walk to the form-th NUL-separated string, staying inside the entry. */
    const char *s = e->str, *end = e->str + e->str_len;
    for (unsigned long k = 0; k < form; k++) {
        s += strlen(s) + 1;
        if (s > end) return english;
    }
    return *s ? s : english;
}

/* ---- negotiation --------------------------------------------------------------- */

const char *i18n_supported(const char *lang) {
    if (!lang) return NULL;
    for (size_t i = 0; lang_list[i]; i++)
        if (strcasecmp(lang_list[i], lang) == 0) return lang_list[i];
    return NULL;
}

const char *const *i18n_languages(void) { return lang_list; }

/* Matches one language range ("cy", "cy-GB", "en_GB", "*") to a supported code. */
static const char *match_range(const char *r, size_t n) {
    char code[I18N_MAX_CODE];
    if (n == 1 && r[0] == '*') return "en";
    if (n == 0 || n >= sizeof code) return NULL;
    for (size_t i = 0; i < n; i++) code[i] = r[i] == '-' ? '_' : r[i];
    code[n] = '\0';
    const char *m = i18n_supported(code);
    if (m) return m;
    char *sep = strchr(code, '_'); /* fall back to the primary subtag */
    if (sep) {
        *sep = '\0';
        return i18n_supported(code);
    }
    return NULL;
}

/* Parses a q-value ("1", "0.8", "0.125") into thousandths; -1 when malformed. */
static int parse_q(const char *s, size_t n) {
    if (n == 0 || n > 5 || (s[0] != '0' && s[0] != '1')) return -1;
    int v = (s[0] - '0') * 1000;
    if (n == 1) return v;
    if (s[1] != '.') return -1;
    int scale = 100;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (!isdigit((unsigned char)s[i])) return -1;
        v += (s[i] - '0') * scale;
    }
    return v > 1000 ? -1 : v;
}

const char *i18n_negotiate(const char *accept_language, const char *cookie_lang) {
    const char *c = i18n_supported(cookie_lang);
    if (c) return c;
    if (!accept_language) return "en";
    const char *best = NULL;
    int best_q = 0;
    const char *p = accept_language;
    for (int items = 0; *p && items < 64; items++) {
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        /* range [; params] */
        const char *r = p;
        while (r < end && (*r == ' ' || *r == '\t')) r++;
        const char *re = r;
        while (re < end && *re != ';' && *re != ' ' && *re != '\t') re++;
        int q = 1000;
        const char *semi = memchr(re, ';', (size_t)(end - re));
        while (semi) {
            const char *k = semi + 1;
            while (k < end && (*k == ' ' || *k == '\t')) k++;
            size_t rem = k < end ? (size_t)(end - k) : 0;
            const char *ve = rem ? memchr(k, ';', rem) : NULL;
            const char *stop = ve ? ve : end;
            while (stop > k && (stop[-1] == ' ' || stop[-1] == '\t')) stop--;
            if (stop - k >= 2 && (k[0] == 'q' || k[0] == 'Q') && k[1] == '=')
                q = parse_q(k + 2, (size_t)(stop - k - 2));
            semi = ve;
        }
        const char *m = q > 0 ? match_range(r, (size_t)(re - r)) : NULL;
        if (m && q > best_q) {
            best = m;
            best_q = q;
        }
        p = *end ? end + 1 : end;
    }
    return best ? best : "en";
}
