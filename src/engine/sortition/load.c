/*
 * load: reading and checking the Sortition Foundation's CSV layout (see sortition.h).
 *
 * Everything a practitioner can get wrong in the two files is refused here with the
 * line and column, so the solvers only ever see a consistent instance: every person
 * has a listed feature in every category, ids are unique, quotas are ordered and the
 * panel size is within what the quotas allow.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/csv.h"
#include "core/parse.h"
#include "core/xalloc.h"
#include "engine/sortition/sortition.h"

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return SORTITION_EINPUT;
}

/* Trimmed copy of a field, heap-allocated. */
static char *trimmed(const char *s) {
    char *c = xstrdup(s);
    char *t = str_trim(c);
    memmove(c, t, strlen(t) + 1);
    return c;
}

/* Index of name among names[0..n) case-insensitively after trimming, or -1. */
static long find_name(char *const *names, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (str_ieq(names[i], name)) return (long)i;
    return -1;
}

/* Simple chained hash from strings to indices, for ids and household keys. */
typedef struct strmap {
    size_t cap;
    char **key;
    long *val;
} strmap;

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void strmap_init(strmap *m, size_t n) {
    m->cap = 16;
    while (m->cap < 2 * n + 16) m->cap *= 2;
    m->key = xcalloc(m->cap, sizeof *m->key);
    m->val = xcalloc(m->cap, sizeof *m->val);
}

/* Returns the stored value for key, or inserts val and returns -1. */
static long strmap_get_or_put(strmap *m, const char *key, long val) {
    size_t i = hash_str(key) & (m->cap - 1);
    while (m->key[i]) {
        if (strcmp(m->key[i], key) == 0) return m->val[i];
        i = (i + 1) & (m->cap - 1);
    }
    m->key[i] = xstrdup(key);
    m->val[i] = val;
    return -1;
}

static void strmap_free(strmap *m) {
    for (size_t i = 0; i < m->cap; i++) free(m->key[i]);
    free(m->key);
    free(m->val);
}

void sortition_instance_free(sortition_instance *inst) {
    if (!inst) return;
    for (size_t c = 0; c < inst->ncat; c++) free(inst->cat_name[c]);
    for (size_t f = 0; f < inst->nfeat; f++) free(inst->feat_name[f]);
    for (size_t i = 0; i < inst->n; i++) free(inst->id[i]);
    free(inst->cat_name);
    free(inst->cat_first);
    free(inst->cat_nfeat);
    free(inst->feat_name);
    free(inst->feat_cat);
    free(inst->feat_min);
    free(inst->feat_max);
    free(inst->feat_min_flex);
    free(inst->feat_max_flex);
    free(inst->id);
    free(inst->person_feat);
    free(inst->household);
    free(inst);
}

static int parse_count(const char *s, int *out) {
    int64_t v;
    double d;
    if (parse_i64(s, &v) == 0) {
        if (v < 0 || v > 1000000000) return -1;
        *out = (int)v;
        return 0;
    }
    /* Some spreadsheets write 12.0. */
    if (parse_double(s, &d) == 0 && d >= 0 && d <= 1e9 && d == (double)(int64_t)d) {
        *out = (int)d;
        return 0;
    }
    return -1;
}

/* Reads the categories file into inst (categories and features in file order; a
 * category's rows need not be contiguous). */
static int load_categories(csv_reader *r, const char *name, sortition_instance *inst, char *err,
                           size_t errlen) {
    int rc = csv_next(r);
    if (rc < 0) return fail(err, errlen, "%s: %s", name, csv_error(r));
    if (rc == 0) return fail(err, errlen, "%s: the file is empty", name);
    long col_cat = -1, col_feat = -1, col_min = -1, col_max = -1, col_minf = -1, col_maxf = -1;
    size_t nh = csv_nfields(r);
    char **hdr = xcalloc(nh, sizeof *hdr);
    for (size_t i = 0; i < nh; i++) hdr[i] = trimmed(csv_field(r, i));
    col_cat = find_name(hdr, nh, "category");
    if (col_cat >= 0) {
        col_feat = find_name(hdr, nh, "feature");
        if (col_feat < 0) col_feat = find_name(hdr, nh, "value");
    } else { /* the Foundation's own tool: feature,value,min,max */
        col_cat = find_name(hdr, nh, "feature");
        col_feat = find_name(hdr, nh, "value");
    }
    col_min = find_name(hdr, nh, "min");
    col_max = find_name(hdr, nh, "max");
    col_minf = find_name(hdr, nh, "min_flex");
    col_maxf = find_name(hdr, nh, "max_flex");
    for (size_t i = 0; i < nh; i++) free(hdr[i]);
    free(hdr);
    if (col_cat < 0 || col_feat < 0 || col_min < 0 || col_max < 0)
        return fail(err, errlen, "%s line 1: the header must name the columns category,feature,min,max", name);

    size_t capc = 8, capf = 32;
    inst->cat_name = xcalloc(capc, sizeof(char *));
    size_t *fcat = xcalloc(capf, sizeof(size_t));
    char **fname = xcalloc(capf, sizeof(char *));
    int *fmin = xcalloc(capf, sizeof(int)), *fmax = xcalloc(capf, sizeof(int));
    int *fminf = xcalloc(capf, sizeof(int)), *fmaxf = xcalloc(capf, sizeof(int));
    size_t nf = 0;
    int ret = SORTITION_OK;
    while ((rc = csv_next(r)) == 1) {
        if (csv_blank(r)) continue;
        long line = csv_line(r);
        char *cat = trimmed(csv_field(r, (size_t)col_cat));
        char *feat = trimmed(csv_field(r, (size_t)col_feat));
        int mn, mx, mnf = 0, mxf = -1;
        if (!*cat || !*feat) {
            ret = fail(err, errlen, "%s line %ld: empty %s", name, line, *cat ? "feature" : "category");
        } else if (parse_count(csv_field(r, (size_t)col_min), &mn) != 0) {
            ret = fail(err, errlen, "%s line %ld, column min: '%s' is not a whole number >= 0", name, line,
                       csv_field(r, (size_t)col_min));
        } else if (parse_count(csv_field(r, (size_t)col_max), &mx) != 0) {
            ret = fail(err, errlen, "%s line %ld, column max: '%s' is not a whole number >= 0", name, line,
                       csv_field(r, (size_t)col_max));
        } else if (mn > mx) {
            ret = fail(err, errlen, "%s line %ld: %s: %s minimum %d is above its maximum %d", name, line, cat,
                       feat, mn, mx);
        } else if (col_minf >= 0 && *csv_field(r, (size_t)col_minf) &&
                   parse_count(csv_field(r, (size_t)col_minf), &mnf) != 0) {
            ret = fail(err, errlen, "%s line %ld, column min_flex: '%s' is not a whole number >= 0", name,
                       line, csv_field(r, (size_t)col_minf));
        } else if (col_maxf >= 0 && *csv_field(r, (size_t)col_maxf) &&
                   parse_count(csv_field(r, (size_t)col_maxf), &mxf) != 0) {
            ret = fail(err, errlen, "%s line %ld, column max_flex: '%s' is not a whole number >= 0", name,
                       line, csv_field(r, (size_t)col_maxf));
        } else if (mnf > mn || (mxf >= 0 && mxf < mx)) {
            ret = fail(err, errlen, "%s line %ld: %s: %s: min_flex must be <= min and max_flex >= max", name,
                       line, cat, feat);
        }
        if (ret) {
            free(cat);
            free(feat);
            break;
        }
        long c = find_name(inst->cat_name, inst->ncat, cat);
        if (c < 0) {
            if (inst->ncat == capc) {
                capc *= 2;
                inst->cat_name = xreallocarray(inst->cat_name, capc, sizeof(char *));
            }
            c = (long)inst->ncat++;
            inst->cat_name[c] = xstrdup(cat);
        }
        for (size_t f = 0; f < nf; f++) {
            if (fcat[f] == (size_t)c && str_ieq(fname[f], feat)) {
                ret = fail(err, errlen, "%s line %ld: %s: %s is listed twice", name, line, cat, feat);
                break;
            }
        }
        free(cat);
        if (ret) {
            free(feat);
            break;
        }
        if (nf == capf) {
            capf *= 2;
            fcat = xreallocarray(fcat, capf, sizeof(size_t));
            fname = xreallocarray(fname, capf, sizeof(char *));
            fmin = xreallocarray(fmin, capf, sizeof(int));
            fmax = xreallocarray(fmax, capf, sizeof(int));
            fminf = xreallocarray(fminf, capf, sizeof(int));
            fmaxf = xreallocarray(fmaxf, capf, sizeof(int));
        }
        fcat[nf] = (size_t)c;
        fname[nf] = feat;
        fmin[nf] = mn;
        fmax[nf] = mx;
        fminf[nf] = mnf;
        fmaxf[nf] = mxf;
        nf++;
    }
    if (!ret && rc < 0) ret = fail(err, errlen, "%s: %s", name, csv_error(r));
    if (!ret && nf == 0) ret = fail(err, errlen, "%s: no categories", name);

    /* Order features by category so each category's features are contiguous. */
    inst->cat_first = xcalloc(inst->ncat + 1, sizeof(size_t));
    inst->cat_nfeat = xcalloc(inst->ncat + 1, sizeof(size_t));
    inst->feat_name = xcalloc(nf + 1, sizeof(char *));
    inst->feat_cat = xcalloc(nf + 1, sizeof(size_t));
    inst->feat_min = xcalloc(nf + 1, sizeof(int));
    inst->feat_max = xcalloc(nf + 1, sizeof(int));
    inst->feat_min_flex = xcalloc(nf + 1, sizeof(int));
    inst->feat_max_flex = xcalloc(nf + 1, sizeof(int));
    size_t pos = 0;
    for (size_t c = 0; c < inst->ncat; c++) {
        inst->cat_first[c] = pos;
        for (size_t f = 0; f < nf; f++) {
            if (fcat[f] != c) continue;
            inst->feat_name[pos] = fname[f];
            fname[f] = NULL;
            inst->feat_cat[pos] = c;
            inst->feat_min[pos] = fmin[f];
            inst->feat_max[pos] = fmax[f];
            inst->feat_min_flex[pos] = fminf[f];
            inst->feat_max_flex[pos] = fmaxf[f];
            pos++;
        }
        inst->cat_nfeat[c] = pos - inst->cat_first[c];
    }
    inst->nfeat = pos;
    for (size_t f = 0; f < nf; f++) free(fname[f]);
    free(fname);
    free(fcat);
    free(fmin);
    free(fmax);
    free(fminf);
    free(fmaxf);
    return ret;
}

static int load_people(csv_reader *r, sortition_instance *inst, const sortition_load_opts *o, char *err,
                       size_t errlen) {
    const char *name = o->people_name;
    int rc = csv_next(r);
    if (rc < 0) return fail(err, errlen, "%s: %s", name, csv_error(r));
    if (rc == 0) return fail(err, errlen, "%s: the file is empty", name);
    size_t nh = csv_nfields(r);
    char **hdr = xcalloc(nh, sizeof *hdr);
    for (size_t i = 0; i < nh; i++) hdr[i] = trimmed(csv_field(r, i));
    long *catcol = xcalloc(inst->ncat, sizeof(long));
    long *addrcol = xcalloc(o->naddress + 1, sizeof(long));
    long idcol = find_name(hdr, nh, "id");
    int ret = SORTITION_OK;
    for (size_t c = 0; c < inst->ncat && !ret; c++) {
        catcol[c] = find_name(hdr, nh, inst->cat_name[c]);
        if (catcol[c] < 0)
            ret = fail(err, errlen, "%s line 1: category '%s' (from %s) has no column in the people file", name,
                       inst->cat_name[c], o->categories_name ? o->categories_name : "the categories");
    }
    for (size_t a = 0; a < o->naddress && !ret; a++) {
        addrcol[a] = find_name(hdr, nh, o->address_columns[a]);
        if (addrcol[a] < 0)
            ret = fail(err, errlen, "%s line 1: address column '%s' is not in the header", name,
                       o->address_columns[a]);
    }
    for (size_t i = 0; i < nh; i++) free(hdr[i]);
    free(hdr);

    size_t cap = 256;
    inst->id = xcalloc(cap, sizeof(char *));
    inst->person_feat = xcalloc(cap * inst->ncat, sizeof(int));
    inst->household = xcalloc(cap, sizeof(int));
    strmap ids, homes;
    strmap_init(&ids, 1024);
    strmap_init(&homes, o->naddress ? 1024 : 0);
    long *home_first = xcalloc(cap, sizeof(long)); /* first person at each address key */
    size_t nhome = 0;
    buf key;
    buf_init(&key, (size_t)1 << 24);
    while (!ret && (rc = csv_next(r)) == 1) {
        if (csv_blank(r)) continue;
        long line = csv_line(r);
        size_t i = inst->n;
        if (i == cap) {
            cap *= 2;
            inst->id = xreallocarray(inst->id, cap, sizeof(char *));
            inst->person_feat = xreallocarray(inst->person_feat, cap * inst->ncat, sizeof(int));
            inst->household = xreallocarray(inst->household, cap, sizeof(int));
            home_first = xreallocarray(home_first, cap, sizeof(long));
        }
        char *id = idcol >= 0 ? trimmed(csv_field(r, (size_t)idcol)) : NULL;
        if (!id) {
            char tmp[32];
            snprintf(tmp, sizeof tmp, "%zu", i);
            id = xstrdup(tmp);
        } else if (!*id) {
            free(id);
            ret = fail(err, errlen, "%s line %ld, column id: empty id", name, line);
            break;
        }
        inst->id[i] = id;
        inst->n++;
        long prev = strmap_get_or_put(&ids, id, (long)i);
        if (prev >= 0) {
            ret = fail(err, errlen, "%s line %ld, column id: id '%s' is used twice (also data row %ld)", name, line,
                       id, prev);
            break;
        }
        for (size_t c = 0; c < inst->ncat; c++) {
            char *v = trimmed(csv_field(r, (size_t)catcol[c]));
            long f = -1;
            for (size_t j = 0; j < inst->cat_nfeat[c]; j++)
                if (str_ieq(inst->feat_name[inst->cat_first[c] + j], v)) f = (long)(inst->cat_first[c] + j);
            if (f < 0) {
                ret = fail(err, errlen, "%s line %ld, column '%s': '%s' is not a listed feature of category '%s'",
                           name, line, inst->cat_name[c], v, inst->cat_name[c]);
                free(v);
                break;
            }
            free(v);
            inst->person_feat[i * inst->ncat + c] = (int)f;
        }
        inst->household[i] = -1;
        if (ret || o->naddress == 0) continue;
        /* Household key: the address columns, trimmed and lower-cased, joined by a
         * separator that cannot appear in a field. All empty = no address given. */
        buf_reset(&key);
        int any = 0;
        for (size_t a = 0; a < o->naddress; a++) {
            char *v = trimmed(csv_field(r, (size_t)addrcol[a]));
            for (char *p = v; *p; p++) *p = (char)tolower((unsigned char)*p);
            if (*v) any = 1;
            buf_puts(&key, v);
            buf_putc(&key, '\x1f');
            free(v);
        }
        if (!any) continue;
        long h = strmap_get_or_put(&homes, buf_cstr(&key), (long)nhome);
        if (h < 0) {
            home_first[nhome++] = (long)i;
            inst->household[i] = -2; /* alone so far */
        } else {
            inst->household[i] = -3 - (int)h; /* shares address h */
        }
    }
    if (!ret && rc < 0) ret = fail(err, errlen, "%s: %s", name, csv_error(r));
    if (!ret && inst->n == 0) ret = fail(err, errlen, "%s: no people", name);
    if (!ret && o->naddress) {
        /* Number the households with two or more people; others become -1. */
        long *num = xcalloc(nhome + 1, sizeof(long));
        for (size_t h = 0; h < nhome; h++) num[h] = -1;
        for (size_t i = 0; i < inst->n; i++) {
            if (inst->household[i] <= -3) {
                long h = -3 - inst->household[i];
                if (num[h] < 0) num[h] = (long)inst->nhouseholds++;
            }
        }
        for (size_t h = 0; h < nhome; h++)
            if (num[h] >= 0) inst->household[home_first[h]] = (int)num[h];
        for (size_t i = 0; i < inst->n; i++) {
            if (inst->household[i] <= -3) inst->household[i] = (int)num[-3 - inst->household[i]];
            else if (inst->household[i] == -2) inst->household[i] = -1;
        }
        free(num);
    }
    buf_free(&key);
    free(home_first);
    strmap_free(&ids);
    strmap_free(&homes);
    free(catcol);
    free(addrcol);
    return ret;
}

/* Panel size against quotas: each category's minimums must fit in k, its maximums
 * must reach k, and k must fit in the pool. */
static int check_k(const sortition_instance *inst, char *err, size_t errlen) {
    if (inst->k <= 0) return fail(err, errlen, "panel size %d: must be at least 1", inst->k);
    if ((size_t)inst->k > inst->n)
        return fail(err, errlen, "panel size %d is larger than the pool (%zu people)", inst->k, inst->n);
    for (size_t c = 0; c < inst->ncat; c++) {
        long smin = 0, smax = 0;
        for (size_t j = 0; j < inst->cat_nfeat[c]; j++) {
            smin += inst->feat_min[inst->cat_first[c] + j];
            smax += inst->feat_max[inst->cat_first[c] + j];
        }
        if (smin > inst->k)
            return fail(err, errlen, "panel size %d is outside what the quotas allow: the minimums of '%s' add up to %ld",
                        inst->k, inst->cat_name[c], smin);
        if (smax < inst->k)
            return fail(err, errlen, "panel size %d is outside what the quotas allow: the maximums of '%s' add up to %ld",
                        inst->k, inst->cat_name[c], smax);
    }
    return SORTITION_OK;
}

int sortition_load(const char *categories_csv, size_t categories_len, const char *people_csv, size_t people_len,
                   const sortition_load_opts *o, sortition_instance **out, char *err, size_t errlen) {
    *out = NULL;
    sortition_instance *inst = xcalloc(1, sizeof *inst);
    inst->k = o->k;
    csv_reader *rc = csv_open_mem(categories_csv, categories_len, ',');
    csv_reader *rp = csv_open_mem(people_csv, people_len, ',');
    /* csv_open_mem names readers "<memory>"; messages use the caller's names. */
    sortition_load_opts named = *o;
    if (!named.categories_name) named.categories_name = "categories";
    if (!named.people_name) named.people_name = "people";
    int ret = load_categories(rc, named.categories_name, inst, err, errlen);
    if (!ret) ret = load_people(rp, inst, &named, err, errlen);
    csv_free(rc);
    csv_free(rp);
    if (!ret) {
        for (size_t f = 0; f < inst->nfeat; f++)
            if (inst->feat_max_flex[f] < 0) inst->feat_max_flex[f] = inst->k > inst->feat_max[f] ? inst->k : inst->feat_max[f];
        ret = check_k(inst, err, errlen);
    }
    if (ret) {
        sortition_instance_free(inst);
        return ret;
    }
    *out = inst;
    return SORTITION_OK;
}

static int read_file(const char *path, char **data, size_t *len, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) return fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    buf b;
    buf_init(&b, (size_t)1 << 30);
    char chunk[65536];
    size_t n;
    int ret = SORTITION_OK;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (buf_append(&b, chunk, n) != BUF_OK) {
            ret = fail(err, errlen, "%s: larger than 1 GiB", path);
            break;
        }
    }
    if (!ret && ferror(f)) ret = fail(err, errlen, "%s: read error", path);
    fclose(f);
    if (ret) {
        buf_free(&b);
        return ret;
    }
    *data = buf_detach(&b, len);
    if (!*data) *data = xstrdup("");
    return SORTITION_OK;
}

int sortition_load_files(const char *categories_path, const char *people_path, const char *const *address_columns,
                         size_t naddress, int k, sortition_instance **out, char *err, size_t errlen) {
    char *cd = NULL, *pd = NULL;
    size_t cl = 0, pl = 0;
    *out = NULL;
    int ret = read_file(categories_path, &cd, &cl, err, errlen);
    if (!ret) ret = read_file(people_path, &pd, &pl, err, errlen);
    if (!ret) {
        sortition_load_opts o = {categories_path, people_path, address_columns, naddress, k};
        ret = sortition_load(cd, cl, pd, pl, &o, out, err, errlen);
    }
    free(cd);
    free(pd);
    return ret;
}
