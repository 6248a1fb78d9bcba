/*
 * weighting/census: turns the Census 2021 extract files into margins rows (see census.h).
 * Each extract is a long table (area, [ward,] topic, category, value); a variable is one
 * topic of one area, with categories in a fixed order where the census has one (age) and
 * in file order otherwise.
 */
#include "engine/weighting/census.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/csv.h"
#include "core/parse.h"
#include "core/xalloc.h"

static const char *const AGE6[] = {"Aged 15 years and under", "Aged 16 to 24 years",
                                   "Aged 25 to 34 years",     "Aged 35 to 49 years",
                                   "Aged 50 to 64 years",     "Aged 65 years and over"};

/* tenure8 (TS054, 8 categories) to tenure (4), as in the adur_age_sex_tenure case. */
static const struct {
    const char *from, *to;
} TENURE4[] = {
    {"Owned: Owns outright", "Owned outright"},
    {"Owned: Owns with a mortgage or loan", "Owned with mortgage or shared ownership"},
    {"Shared ownership: Shared ownership", "Owned with mortgage or shared ownership"},
    {"Social rented: Rents from council or Local Authority", "Social rented"},
    {"Social rented: Other social rented", "Social rented"},
    {"Private rented: Private landlord or letting agency", "Private rented or lives rent free"},
    {"Private rented: Other private rented", "Private rented or lives rent free"},
    {"Lives rent free", "Private rented or lives rent free"},
};

const char *weighting_census_variable_names(void) {
    return "age6,sex,disability,ethnic_group5,ethnic_group19,tenure,tenure8,ward";
}

/* Categories and their summed values, in order of first appearance. */
typedef struct acc {
    char **cats;
    double *vals;
    size_t n, cap;
} acc;

static void acc_add(acc *a, const char *cat, double v) {
    for (size_t i = 0; i < a->n; i++) {
        if (strcmp(a->cats[i], cat) == 0) {
            a->vals[i] += v;
            return;
        }
    }
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 16;
        a->cats = xreallocarray(a->cats, a->cap, sizeof *a->cats);
        a->vals = xreallocarray(a->vals, a->cap, sizeof *a->vals);
    }
    a->cats[a->n] = xstrdup(cat);
    a->vals[a->n++] = v;
}

static void acc_free(acc *a) {
    for (size_t i = 0; i < a->n; i++) free(a->cats[i]);
    free(a->cats);
    free(a->vals);
    memset(a, 0, sizeof *a);
}

static int col(csv_reader *r, const char *a, const char *b) {
    for (size_t i = 0; i < csv_nfields(r); i++) {
        if (strcmp(csv_field(r, i), a) == 0 || (b && strcmp(csv_field(r, i), b) == 0))
            return (int)i;
    }
    return -1;
}

/* What to read from one extract file. */
typedef struct query {
    const char *file;
    const char *area, *ward; /* ward NULL: any ward (or a file without wards) */
    const char *topic;       /* rows of this topic (NULL: file without topics) */
    const char *measure;     /* rows with this measure (la_ethnicity19), or NULL */
    const char *cat_col;     /* the category column's name */
    bool by_ward;            /* category = ward name instead of cat_col */
    bool adults_only;        /* skip the 15-and-under age band */
} query;

static int read_extract(const char *dir, const query *q, acc *out, weighting_census_margins *m,
                        char *err, size_t errlen) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, q->file);
    csv_reader *r = csv_open_file(path, ',', err, errlen);
    if (!r) return -1;
    int rc = -1;
    if (csv_next(r) != 1) {
        snprintf(err, errlen, "%s: no header", path);
        goto out;
    }
    int c_code = col(r, "ltla_code", "ltla21_code"), c_name = col(r, "ltla_name", "ltla21_name");
    int c_wcode = col(r, "ward24_code", NULL), c_wname = col(r, "ward24_name", NULL);
    int c_topic = col(r, "topic", NULL), c_measure = col(r, "measure", NULL);
    int c_cat = col(r, q->cat_col, NULL), c_val = col(r, "value", NULL);
    if (c_code < 0 || c_name < 0 || c_cat < 0 || c_val < 0 || (q->topic && c_topic < 0) ||
        (q->measure && c_measure < 0) || ((q->ward || q->by_ward) && c_wname < 0)) {
        snprintf(err, errlen, "%s: not the expected columns", path);
        goto out;
    }
    bool area_seen = false, ward_seen = false;
    int st;
    while ((st = csv_next(r)) == 1) {
        if (csv_blank(r)) continue;
        const char *code = csv_field(r, (size_t)c_code), *name = csv_field(r, (size_t)c_name);
        if (!str_ieq(code, q->area) && !str_ieq(name, q->area)) continue;
        area_seen = true;
        free(m->area_code);
        free(m->area_name);
        m->area_code = xstrdup(code);
        m->area_name = xstrdup(name);
        if (q->ward) {
            const char *wc = csv_field(r, (size_t)c_wcode), *wn = csv_field(r, (size_t)c_wname);
            if (!str_ieq(wc, q->ward) && !str_ieq(wn, q->ward)) continue;
            ward_seen = true;
            free(m->ward_code);
            free(m->ward_name);
            m->ward_code = xstrdup(wc);
            m->ward_name = xstrdup(wn);
        }
        if (q->topic && strcmp(csv_field(r, (size_t)c_topic), q->topic) != 0) continue;
        if (q->measure && strcmp(csv_field(r, (size_t)c_measure), q->measure) != 0) continue;
        const char *cat = csv_field(r, (size_t)c_cat);
        if (q->adults_only && strcmp(cat, AGE6[0]) == 0) continue;
        double v;
        if (parse_double(csv_field(r, (size_t)c_val), &v) != 0 || v < 0) {
            snprintf(err, errlen, "%s: line %ld: value '%s' is not a count", path, csv_line(r),
                     csv_field(r, (size_t)c_val));
            goto out;
        }
        acc_add(out, q->by_ward ? csv_field(r, (size_t)c_wname) : cat, v);
    }
    if (st < 0) {
        snprintf(err, errlen, "%s: %s", path, csv_error(r));
        goto out;
    }
    if (!area_seen) {
        snprintf(err, errlen, "%s: no local authority with code or name '%s'", path, q->area);
        goto out;
    }
    if (q->ward && !ward_seen) {
        snprintf(err, errlen, "%s: %s has no ward with code or name '%s'", path, q->area, q->ward);
        goto out;
    }
    if (out->n == 0) {
        snprintf(err, errlen, "%s: no rows for %s", path, q->topic ? q->topic : q->cat_col);
        goto out;
    }
    rc = 0;
out:
    csv_free(r);
    return rc;
}

static void add_row(weighting_census_margins *m, const char *var, const char *cat, double v) {
    if (m->nrows == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 32;
        m->rows = xreallocarray(m->rows, m->cap, sizeof *m->rows);
    }
    m->rows[m->nrows].variable = xstrdup(var);
    m->rows[m->nrows].category = xstrdup(cat);
    m->rows[m->nrows].target = v;
    m->nrows++;
}

static int sex_margins(const char *dir, const char *area, weighting_census_margins *m, char *err,
                       size_t errlen) {
    char path[4096];
    snprintf(path, sizeof path, "%s/la_sex_2021.csv", dir);
    csv_reader *r = csv_open_file(path, ',', err, errlen);
    if (!r) return -1;
    int rc = -1;
    if (csv_next(r) != 1) {
        snprintf(err, errlen, "%s: no header", path);
        goto out;
    }
    int c_code = col(r, "ltla21_code", "ltla_code"), c_name = col(r, "ltla_name", "ltla21_name");
    int c_f = col(r, "total_females", NULL), c_m = col(r, "total_males", NULL);
    if (c_code < 0 || c_name < 0 || c_f < 0 || c_m < 0) {
        snprintf(err, errlen, "%s: not the expected columns", path);
        goto out;
    }
    while (csv_next(r) == 1) {
        if (!str_ieq(csv_field(r, (size_t)c_code), area) &&
            !str_ieq(csv_field(r, (size_t)c_name), area))
            continue;
        double f, ml;
        if (parse_double(csv_field(r, (size_t)c_f), &f) ||
            parse_double(csv_field(r, (size_t)c_m), &ml)) {
            snprintf(err, errlen, "%s: line %ld: counts are not numbers", path, csv_line(r));
            goto out;
        }
        add_row(m, "sex", "Female", f);
        add_row(m, "sex", "Male", ml);
        rc = 0;
        goto out;
    }
    snprintf(err, errlen, "%s: no local authority with code or name '%s'", path, area);
out:
    csv_free(r);
    return rc;
}

static int one_variable(const char *dir, const char *area, const char *ward, const char *var,
                        bool adults_only, weighting_census_margins *m, char *err, size_t errlen) {
    const char *topics =
        ward ? "adur_worthing_wards_bestfit_2021.csv" : "la_topics_from_lsoa_2021.csv";
    query q = {.file = topics, .area = area, .ward = ward, .cat_col = "category"};
    if (strcmp(var, "sex") == 0) {
        if (ward) {
            snprintf(err, errlen, "sex is not available by ward in the extracts");
            return -1;
        }
        return sex_margins(dir, area, m, err, errlen);
    }
    if (strcmp(var, "age6") == 0) {
        q.topic = "age6_usual_residents";
        q.adults_only = adults_only;
    } else if (strcmp(var, "disability") == 0) {
        q.topic = "disability_equality_act_usual_residents";
    } else if (strcmp(var, "ethnic_group5") == 0) {
        q.topic = "ethnic_group5_usual_residents";
    } else if (strcmp(var, "tenure") == 0 || strcmp(var, "tenure8") == 0) {
        q.topic = "tenure_households";
    } else if (strcmp(var, "ethnic_group19") == 0) {
        if (ward) {
            snprintf(err, errlen, "ethnic_group19 is not available by ward in the extracts");
            return -1;
        }
        q = (query){.file = "la_ethnicity19_2021.csv",
                    .area = area,
                    .measure = "number",
                    .cat_col = "ethnic_group"};
    } else if (strcmp(var, "ward") == 0) {
        if (ward) {
            snprintf(err, errlen, "the variable ward needs the whole authority, not --ward");
            return -1;
        }
        q = (query){.file = "adur_worthing_wards_bestfit_2021.csv",
                    .area = area,
                    .topic = "age6_usual_residents",
                    .cat_col = "category",
                    .by_ward = true,
                    .adults_only = adults_only};
    } else {
        snprintf(err, errlen, "unknown census variable '%s' (known: %s)", var,
                 weighting_census_variable_names());
        return -1;
    }
    acc a = {0};
    if (read_extract(dir, &q, &a, m, err, errlen) != 0) {
        acc_free(&a);
        return -1;
    }
    if (strcmp(var, "age6") == 0) {
        for (size_t k = 0; k < sizeof AGE6 / sizeof AGE6[0]; k++)
            for (size_t i = 0; i < a.n; i++)
                if (strcmp(a.cats[i], AGE6[k]) == 0) add_row(m, var, a.cats[i], a.vals[i]);
    } else if (strcmp(var, "tenure") == 0) {
        static const char *const order[] = {"Owned outright",
                                            "Owned with mortgage or shared ownership",
                                            "Social rented", "Private rented or lives rent free"};
        for (size_t k = 0; k < 4; k++) {
            double s = 0;
            for (size_t i = 0; i < a.n; i++)
                for (size_t t = 0; t < sizeof TENURE4 / sizeof TENURE4[0]; t++)
                    if (strcmp(a.cats[i], TENURE4[t].from) == 0 &&
                        strcmp(TENURE4[t].to, order[k]) == 0)
                        s += a.vals[i];
            add_row(m, var, order[k], s);
        }
        for (size_t i = 0; i < a.n; i++) {
            bool known = false;
            for (size_t t = 0; t < sizeof TENURE4 / sizeof TENURE4[0]; t++)
                if (strcmp(a.cats[i], TENURE4[t].from) == 0) known = true;
            if (!known) {
                snprintf(err, errlen, "tenure category '%s' has no place in the 4 tenure groups",
                         a.cats[i]);
                acc_free(&a);
                return -1;
            }
        }
    } else {
        for (size_t i = 0; i < a.n; i++) add_row(m, var, a.cats[i], a.vals[i]);
    }
    acc_free(&a);
    return 0;
}

int weighting_census_build(const char *census_dir, const char *area, const char *ward,
                           const char *const *vars, size_t nvars, bool adults_only,
                           weighting_census_margins *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    for (size_t v = 0; v < nvars; v++) {
        for (size_t u = 0; u < v; u++) {
            if (strcmp(vars[u], vars[v]) == 0) {
                snprintf(err, errlen, "variable '%s' is asked for twice", vars[v]);
                weighting_census_margins_free(out);
                return -1;
            }
        }
        if (one_variable(census_dir, area, ward, vars[v], adults_only, out, err, errlen) != 0) {
            weighting_census_margins_free(out);
            return -1;
        }
    }
    return 0;
}

void weighting_census_margins_free(weighting_census_margins *m) {
    for (size_t i = 0; i < m->nrows; i++) {
        free(m->rows[i].variable);
        free(m->rows[i].category);
    }
    free(m->rows);
    free(m->area_code);
    free(m->area_name);
    free(m->ward_code);
    free(m->ward_name);
    memset(m, 0, sizeof *m);
}
