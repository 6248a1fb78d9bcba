/*
 * opinion/internal: what the opinion engine's files share and nobody else sees — the
 * conversation's storage layout, the sparse centred vote matrix, and the numerical
 * kernels (Lanczos PCA, k-means, silhouette, Pol.is statistics).
 */
#ifndef CG_ENGINE_OPINION_INTERNAL_H
#define CG_ENGINE_OPINION_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/opinion/opinion.h"

/* An open-addressing map from a non-negative 64-bit id to a dense index. */
typedef struct op_idmap {
    int64_t *keys; /* -1 = empty */
    uint32_t *vals;
    size_t cap, n; /* cap is a power of two */
} op_idmap;

void op_idmap_init(op_idmap *m);
void op_idmap_free(op_idmap *m);
/* Index of key, or -1. */
long op_idmap_get(const op_idmap *m, int64_t key);
void op_idmap_put(op_idmap *m, int64_t key, uint32_t val);

typedef struct op_comment {
    int64_t tid;
    int moderated;
    int meta;
} op_comment;

/* A participant's votes: entries (comment index << 2) | (vote + 1), ascending by
 * comment index. */
typedef struct op_row {
    uint32_t *e;
    uint32_t len, cap;
} op_row;

/* An id with its dense index, for sorting. */
typedef struct idpair {
    int64_t id;
    size_t idx;
} idpair;

struct opinion_conv {
    op_idmap pmap, cmap;
    int64_t *pids;
    op_row *rows;
    size_t np, pcap;
    op_comment *cmts;
    size_t nc, ccap;
    size_t nvotes;
    idpair *sorted;  /* participants by ascending id, valid while sorted_n == np */
    size_t sorted_n;
    int *fixed;    /* per participant: fixed group or -1 */
    size_t nfixed;
    /* Warm start from the last computation: components per comment index, base
     * cluster centres. */
    int warm;
    size_t warm_nc;
    double *warm_comp[2];
    size_t warm_nbase;
    double *warm_bx, *warm_by;
    /* The last computation's group vote counts per comment index, summed over the
     * groups (agrees, disagrees, votes): Pol.is computes comment priorities from the
     * previous update's group votes. NULL when there was none. */
    int *prev_a, *prev_d, *prev_s;
    size_t prev_nc;
};

/* The centred vote matrix, read straight from the stored rows (no copy): entry
 * (r, aidx[comment]) = vote - center[aidx[comment]]; comments with aidx -1 are left
 * out. A missing vote filled by the comment's mean is exactly zero once centred, so
 * the matrix is as sparse as the votes. Rows are taken in the order given. */
typedef struct op_mat {
    size_t nrows, ncols;
    const op_row *const *rows;
    size_t nci;       /* comment indexes: aidx has nci entries */
    const int *aidx;
    const double *center;
} op_mat;

/* Top two principal directions of X (eigenvectors of X^T X) by Lanczos iteration with
 * full reorthogonalisation, from start (ncols entries; NULL = a fixed deterministic
 * vector) until the Ritz residuals fall below tol times the top eigenvalue or after
 * max_steps Lanczos steps (0: no cap beyond the basis size). comp[k]
 * receive unit vectors, sign fixed so the largest entry is positive (first such entry
 * on ties). Returns the number of components found (0..2). */
int op_pca(const op_mat *X, const double *start, double tol, int max_steps, double *comp0,
           double *comp1, double eig[2], int *steps);

/* Eigen-decomposition of the symmetric n x n matrix a (row-major; destroyed) by
 * cyclic Jacobi rotations: w receives eigenvalues in descending order, v (n x n,
 * row-major) the matching eigenvectors as columns. */
void op_jacobi_eig(double *a, size_t n, double *w, double *v);

/* splitmix64: the engine's only randomness, always from fixed seeds. */
uint64_t op_mix64(uint64_t *state);
double op_unit(uint64_t *state); /* uniform in [0, 1) */

/* Weighted k-means++ seeding of k centres among n 2-D points (weights w may be NULL);
 * stops early when every point coincides with a centre. Returns centres chosen. */
size_t op_kmeans_seed(const double *px, const double *py, const double *w, size_t n,
                      size_t k, double *cx, double *cy, uint64_t *rng);
/* Lloyd iterations from the given k centres until no point changes cluster (or
 * max_iter passes); assign[i] receives each point's cluster. Empty clusters are
 * dropped and the rest renumbered; returns the number left. */
size_t op_kmeans(const double *px, const double *py, const double *w, size_t n,
                 double *cx, double *cy, size_t k, int *assign, int max_iter);
/* Weighted within-cluster sum of squares. */
double op_kmeans_cost(const double *px, const double *py, const double *w, size_t n,
                      const double *cx, const double *cy, const int *assign);
/* Mean silhouette of a clustering of n points (unweighted, Pol.is's definition:
 * a point alone in its cluster scores 0). */
double op_silhouette(const double *px, const double *py, size_t n, const int *assign,
                     size_t k);

/* Pol.is's tests (polismath stats.clj). */
double op_prop_test(double succ, double n);
double op_two_prop_test(double succ_in, double succ_out, double n_in, double n_out);

/* Representative comments of group g from per-comment counts (in the group and in all
 * other groups), considering comments where use[c] is set; Pol.is select-rep-comments.
 * Fills out (at most 5) and returns the count. */
size_t op_repness(size_t ncmt, const int64_t *tid, const int *use, const int *na,
                  const int *nd, const int *ns, const int *ra, const int *rd,
                  const int *rs, opinion_rep out[5]);
/* Consensus comments over all participants; Pol.is select-consensus-comments. */
void op_consensus(size_t ncmt, const int64_t *tid, const int *use, const int *na,
                  const int *nd, const int *ns, opinion_cons agree[5], size_t *n_agree,
                  opinion_cons disagree[5], size_t *n_disagree);

#endif
