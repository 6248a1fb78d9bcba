/*
 * weighting/census: population margins from the Census 2021 extracts in
 * ../shared/data/census (see its README) for one local authority or one ward, in the rows
 * of margins.csv (variable, category, target).
 *
 * Variables offered (name in margins.csv: source):
 *   age6           age in 6 bands, usual residents (la_topics / wards file); with
 *                  adults_only the band "Aged 15 years and under" is left out, because a
 *                  consultation of people aged 16+ has nobody in it (an empty_category)
 *   sex            Female / Male, usual residents (la_sex_2021; not by ward)
 *   disability     Equality Act disabled / not disabled, usual residents
 *   ethnic_group5  5 broad ethnic groups, usual residents
 *   ethnic_group19 19 detailed ethnic groups, usual residents (la_ethnicity19; not by ward)
 *   tenure         4 tenure groups, households: Owned outright; Owned with mortgage or
 *                  shared ownership; Social rented; Private rented or lives rent free (the
 *                  8 census categories collapsed, as in the adur_age_sex_tenure case)
 *   tenure8        the 8 census tenure categories, households
 *   ward           one category per ward of the authority, target = its residents (the
 *                  sum of its age6 bands, 16+ with adults_only); Adur and Worthing only
 * Census tables disagree slightly on totals and cover different bases (households for
 * tenure); the weighting engine rescales every variable to one total.
 *
 * Ownership: the rows and their strings belong to the weighting_census_margins value and
 * are released by weighting_census_margins_free.
 */
#ifndef CG_ENGINE_WEIGHTING_CENSUS_H
#define CG_ENGINE_WEIGHTING_CENSUS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct weighting_census_row {
    char *variable, *category;
    double target;
} weighting_census_row;

typedef struct weighting_census_margins {
    weighting_census_row *rows;
    size_t nrows, cap;
    char *area_code, *area_name; /* the authority matched */
    char *ward_code, *ward_name; /* the ward matched, or NULL */
} weighting_census_margins;

/* Builds the margins of variables vars[0..nvars) (in that order, which becomes the raking
 * order) for the authority whose code or name is area (ASCII case-insensitive), or for
 * its ward whose code or name is ward when ward is not NULL. census_dir holds the
 * extract files. Returns 0 and fills *out (free with weighting_census_margins_free), or
 * -1 with a message in err naming the file, area or variable at fault. */
int weighting_census_build(const char *census_dir, const char *area, const char *ward,
                           const char *const *vars, size_t nvars, bool adults_only,
                           weighting_census_margins *out, char *err, size_t errlen);
void weighting_census_margins_free(weighting_census_margins *m);

/* The variable names weighting_census_build accepts, comma-separated. */
const char *weighting_census_variable_names(void);

#endif
