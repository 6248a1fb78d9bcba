/*
 * internal: what the sortition engine's files share and nothing outside uses —
 * interchangeable-people types, the MIP oracle and the column-generation master LP,
 * each with a GLPK and a COIN-OR (CBC, CLP) implementation.
 */
#ifndef CG_ENGINE_SORTITION_INTERNAL_H
#define CG_ENGINE_SORTITION_INTERNAL_H

#include <stddef.h>

#include "engine/sortition/sortition.h"

/* The fixing rule of a LEXIMIN stage (the master LP's, and the relaxation's): a type
 * whose dual y is above SRT_FIX_REL of the largest dual ymax (and not zero) and whose
 * marginal marg sits at the stage's z is at z in every optimum (complementary
 * slackness). A relative threshold, so large pools, whose duals are all tiny, do not
 * stall; the caller always fixes the largest-dual type too. */
#define SRT_FIX_REL 1e-6
#define SRT_FIX_SLACK 1e-7
static inline int srt_fix_at_z(double y, double ymax, double marg, double z) {
    return y > SRT_FIX_REL * ymax && y > 1e-12 && marg <= z + SRT_FIX_SLACK;
}

/* People with the same feature in every category who share no household are
 * interchangeable: the LEXIMIN vector is unique, so they get equal probabilities, and
 * the oracle may choose how many of them to take instead of which. A person who shares
 * a household forms a type of their own. */
typedef struct srt_types {
    size_t T;
    int *size;      /* [T] people of the type */
    int *feat;      /* [T * ncat] the type's feature in each category */
    int *hh;        /* [T] household number (a type of one) or -1 */
    int *type_of;   /* [n] */
    int *start;     /* [T + 1] people of type t are members[start[t] .. start[t+1]) */
    int *members;   /* [n] person indices, ascending within a type */
} srt_types;

void srt_types_build(const sortition_instance *inst, srt_types *ty);
void srt_types_free(srt_types *ty);

/* The MIP oracle: max sum_t w[t] x[t] over integer 0 <= x[t] <= size[t] with
 * sum x = k, every quota, at most one per household. The model is built once and kept
 * in memory; each solve changes only the objective. */
typedef struct srt_oracle srt_oracle;
srt_oracle *srt_oracle_new(const sortition_instance *inst, const srt_types *ty, sortition_solver s);
/* Returns 0 and fills x[T] and *value; 1 when no panel exists; -1 on solver failure. */
int srt_oracle_solve(srt_oracle *o, const double *w, int *x, double *value);
void srt_oracle_free(srt_oracle *o);
/* The model's rows (the panel size, then one per feature, then one per household of two
 * or more): their number, and their bounds in *lo and *hi. */
size_t srt_oracle_rows(const srt_oracle *o, const double **lo, const double **hi);
/* out[r] = row r's activity at counts v[T] (v may be fractional). */
void srt_oracle_activity(const srt_oracle *o, const double *v, double *out);
/* A face of the quota polytope: bounds on each type's count (clo, chi [T]) and on each
 * row of the model (rlo, rhi, as srt_oracle_rows). */
typedef struct {
    const double *clo, *chi, *rlo, *rhi;
    double seconds; /* > 0: stop then, with the best panel found (not proven best) */
} srt_face;
/* As srt_oracle_solve, over the panels in the face (NULL: all panels); 2 when the time
 * limit came before any panel. */
int srt_oracle_solve_in(srt_oracle *o, const double *w, const srt_face *face, int *x, double *value);

/* The master LP over the panels found so far (columns p_C >= 0, sum p_C = 1):
 *   max z  s.t.  marg_t(p) >= z for unfixed t,  marg_t(p) >= pi_t for fixed t,
 * where marg_t(p) = sum_C p_C x_{C,t} / size_t. */
typedef struct srt_master srt_master;
srt_master *srt_master_new(size_t T, const int *size, sortition_solver s);
/* Adds a panel given as counts per type. */
void srt_master_add(srt_master *m, const int *x);
/* Fixes type t at probability pi (its row no longer involves z). */
void srt_master_fix(srt_master *m, size_t t, double pi);
/* Target mode: with pi, the row of each unfixed type t reads marg_t(p) >= pi_t z, so
 * z = 1 means the distribution meets the marginals pi exactly; NULL restores z = the
 * smallest unfixed marginal. */
void srt_master_target(srt_master *m, const double *pi);
/* Solves (warm-started). Returns 0 and z, the dual yhat of the convexity row, the duals
 * y[T] >= 0 of the type rows (sum over unfixed = 1 unless everyone is fixed) and the
 * column values p[ncols]; -1 on failure. */
int srt_master_solve(srt_master *m, double *z, double *yhat, double *y, double *p);
size_t srt_master_ncols(const srt_master *m);
/* Deletes the panels j with drop[j] != 0 (the others keep their order). */
void srt_master_delete(srt_master *m, const unsigned char *drop);
void srt_master_free(srt_master *m);

/* LEXIMIN over the LP relaxation of the panels' convex hull (expected counts that meet
 * the quotas, panel size and household rows; uncoverable types at 0): pi[T] per type.
 * An upper bound, in the leximin order, on what any distribution achieves, and the
 * answer whenever some distribution achieves it. Returns 0, or -1 on solver failure. */
int srt_relax_leximin(const sortition_instance *inst, const srt_types *ty, const int *uncoverable, double *pi,
                      long *lp_solves);

/* LEGACY: probabilities estimated by runs draws (seeded). Returns 0, or
 * SORTITION_EINFEASIBLE when no draw succeeds, SORTITION_EINTERRUPTED. */
int srt_legacy(const sortition_instance *inst, const sortition_opts *o, double *prob, long *draws_failed);

/* Elapsed seconds on a monotonic clock. */
double srt_now(void);

#endif
