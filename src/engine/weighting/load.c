/*
 * weighting/load: reading margins.csv and respondents.csv (README, "Inputs") into a
 * problem. Values are taken byte for byte after CSV unquoting: no trimming, case
 * sensitive, because a label that differs by a space is a different category.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/xalloc.h"
#include "engine/weighting/internal.h"

static int find_col(csv_reader *r, const char *name) {
    for (size_t i = 0; i < csv_nfields(r); i++)
        if (strcmp(csv_field(r, i), name) == 0) return (int)i;
    return -1;
}

void weighting_load_margins(weighting_problem *p, csv_reader *r) {
    int st = csv_next(r);
    while (st == 1 && csv_blank(r)) st = csv_next(r);
    if (st < 0) {
        weighting_add_input_error(p, WEIGHTING_E_BAD_INPUT, NULL, NULL, "%s: %s", csv_name(r),
                                  csv_error(r));
        return;
    }
    if (st == 0) {
        weighting_add_input_error(p, WEIGHTING_E_BAD_INPUT, NULL, NULL, "%s: the file is empty",
                                  csv_name(r));
        return;
    }
    int cv = find_col(r, "variable"), cc = find_col(r, "category"), ct = find_col(r, "target");
    if (cv < 0 || cc < 0 || ct < 0) {
        weighting_add_input_error(p, WEIGHTING_E_BAD_INPUT, NULL, NULL,
                                  "%s: the header must name the columns variable, category and "
                                  "target",
                                  csv_name(r));
        return;
    }
    size_t ncols = csv_nfields(r);
    while ((st = csv_next(r)) == 1) {
        if (csv_blank(r)) continue;
        if (csv_nfields(r) != ncols) {
            weighting_add_input_error(p, WEIGHTING_E_BAD_INPUT, NULL, NULL,
                                      "%s: line %ld has %zu fields, the header has %zu",
                                      csv_name(r), csv_line(r), csv_nfields(r), ncols);
            return;
        }
        weighting_add_margin_text(p, csv_field(r, (size_t)cv), csv_field(r, (size_t)cc),
                                  csv_field(r, (size_t)ct));
    }
    if (st < 0)
        weighting_add_input_error(p, WEIGHTING_E_BAD_INPUT, NULL, NULL, "%s: %s", csv_name(r),
                                  csv_error(r));
}

static void load_respondents(weighting_problem *p, csv_reader *r, size_t rows_hint) {
    int st = csv_next(r);
    while (st == 1 && csv_blank(r)) st = csv_next(r);
    if (st <= 0) {
        weighting_add_input_error(p, WEIGHTING_E_BAD_INPUT, NULL, NULL, "%s: %s", csv_name(r),
                                  st < 0 ? csv_error(r) : "the file is empty");
        return;
    }
    size_t ncols = csv_nfields(r);
    /* The reader's fields die at the next record, so the header is copied. */
    char **names = xcalloc(ncols, sizeof *names);
    for (size_t i = 0; i < ncols; i++) names[i] = xstrdup(csv_field(r, i));
    weighting_set_columns(p, ncols, (const char *const *)names);
    if (rows_hint) weighting_reserve(p, rows_hint);
    const char **fields = xcalloc(ncols, sizeof *fields);
    while ((st = csv_next(r)) == 1) {
        if (csv_blank(r) && ncols > 1) continue;
        if (csv_nfields(r) != ncols) {
            weighting_add_input_error(p, WEIGHTING_E_BAD_INPUT, NULL, NULL,
                                      "%s: line %ld has %zu fields, the header has %zu",
                                      csv_name(r), csv_line(r), csv_nfields(r), ncols);
            break;
        }
        for (size_t i = 0; i < ncols; i++) fields[i] = csv_field(r, i);
        weighting_add_respondent(p, fields, ncols);
    }
    if (st < 0)
        weighting_add_input_error(p, WEIGHTING_E_BAD_INPUT, NULL, NULL, "%s: %s", csv_name(r),
                                  csv_error(r));
    free(fields);
    for (size_t i = 0; i < ncols; i++) free(names[i]);
    free(names);
}

void weighting_load_respondents(weighting_problem *p, csv_reader *r) { load_respondents(p, r, 0); }

/* About how many lines the file holds: its size over the mean length of the lines in
 * its first 64 KiB. 0 when unknown. */
static size_t estimate_lines(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t est = 0;
    struct stat st;
    enum { SAMPLE = 65536 };
    char *sample = xmalloc(SAMPLE); /* not static: the engine keeps no global state */
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        size_t got = fread(sample, 1, SAMPLE, f), lines = 0;
        for (size_t i = 0; i < got; i++) lines += sample[i] == '\n';
        if (got == (size_t)st.st_size)
            est = lines + 1;
        else if (lines > 0)
            est = (size_t)((double)st.st_size / ((double)got / (double)lines) * 1.05) + 16;
    }
    free(sample);
    fclose(f);
    return est;
}

void weighting_load_files(weighting_problem *p, const char *respondents_path,
                          const char *margins_path) {
    char err[512];
    csv_reader *r = csv_open_file(margins_path, ',', err, sizeof err);
    if (!r) {
        weighting_add_input_error(p, WEIGHTING_E_BAD_INPUT, NULL, NULL, "%s", err);
    } else {
        weighting_load_margins(p, r);
        csv_free(r);
    }
    r = csv_open_file(respondents_path, ',', err, sizeof err);
    if (!r) {
        weighting_add_input_error(p, WEIGHTING_E_BAD_INPUT, NULL, NULL, "%s", err);
        return;
    }
    load_respondents(p, r, estimate_lines(respondents_path));
    csv_free(r);
}
