/*
 * pb_mes: instantiates the Method of Equal Shares core (pb_mes_impl.h) twice — exact,
 * with GMP rationals (mpq_t), and fast, with doubles. Both run the same algorithm step
 * for step; only the number type differs. In fast mode two prices within a relative
 * 1e-10 of each other count as a tie (so the tie-break, not rounding noise, decides,
 * as it does in exact mode).
 */
#include <assert.h>
#include <gmp.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "engine/pb/pb_internal.h"

/* ---- exact: GMP rationals ---- */

static inline void q_set_frac(mpq_ptr r, int64_t num, int64_t den) {
    mpz_set_si(mpq_numref(r), num);
    mpz_set_si(mpq_denref(r), den);
    mpq_canonicalize(r);
}
static inline void q_mul_si(mpq_ptr r, mpq_srcptr a, int64_t i) {
    if (i == 1) {
        if (r != a) mpq_set(r, a);
        return;
    }
    mpz_mul_si(mpq_numref(r), mpq_numref(a), i);
    if (r != a) mpz_set(mpq_denref(r), mpq_denref(a));
    mpq_canonicalize(r);
}
static inline void q_div_si(mpq_ptr r, mpq_srcptr a, int64_t i) {
    if (i == 1) {
        if (r != a) mpq_set(r, a);
        return;
    }
    if (r != a) mpz_set(mpq_numref(r), mpq_numref(a));
    mpz_mul_si(mpq_denref(r), mpq_denref(a), i);
    mpq_canonicalize(r);
}
/* Smallest k >= 1 with k * inc >= delta. */
static uint64_t q_steps(mpq_srcptr delta, int64_t inc) {
    mpz_t d, q;
    mpz_init(d);
    mpz_init(q);
    mpz_mul_si(d, mpq_denref(delta), inc);
    mpz_cdiv_q(q, mpq_numref(delta), d);
    uint64_t k = UINT64_MAX;
    if (mpz_fits_ulong_p(q)) k = mpz_get_ui(q);
    mpz_clear(d);
    mpz_clear(q);
    return k < 1 ? 1 : k;
}

/* alpha_a * cb vs alpha_b * ca by cross-multiplying numerators and denominators in
 * integers (no gcd); s1 and s2 are scratch, left holding 0. */
static int q_cmp_rho(mpq_ptr s1, mpq_ptr s2, mpq_srcptr a, int64_t ca, mpq_srcptr b, int64_t cb) {
    mpz_ptr n1 = mpq_numref(s1), n2 = mpq_numref(s2);
    mpz_mul(n1, mpq_numref(a), mpq_denref(b));
    mpz_mul_si(n1, n1, cb);
    mpz_mul(n2, mpq_numref(b), mpq_denref(a));
    mpz_mul_si(n2, n2, ca);
    int c = mpz_cmp(n1, n2);
    mpq_set_ui(s1, 0, 1);
    mpq_set_ui(s2, 0, 1);
    return c < 0 ? -1 : c > 0;
}

#define N_T mpq_t
#define N_INIT(x) mpq_init(x)
#define N_CLEAR(x) mpq_clear(x)
#define N_SET(r, a) mpq_set(r, a)
#define N_SET_SI(r, i) mpq_set_si(r, (long)(i), 1)
#define N_SET_FRAC(r, n, d) q_set_frac(r, n, d)
#define N_ADD(r, a, b) mpq_add(r, a, b)
#define N_SUB(r, a, b) mpq_sub(r, a, b)
#define N_DIV(r, a, b) mpq_div(r, a, b)
#define N_NEG(r, a) mpq_neg(r, a)
#define N_MUL_SI(r, a, i) q_mul_si(r, a, i)
#define N_DIV_SI(r, a, i) q_div_si(r, a, i)
#define N_CMP(a, b) mpq_cmp(a, b)
#define N_SGN(a) mpq_sgn(a)
#define N_GET_D(a) mpq_get_d(a)
#define N_SET_D(r, d) mpq_set_d(r, d)
#define MES_TRACK 0
#define N_IS_DOUBLE 0
#define TOL_CMP(a, b) mpq_cmp(a, b)
#define STEPS_OF(d, inc) q_steps(d, inc)
#define RHO_CMP(s1, s2, a, ca, b, cb) q_cmp_rho(s1, s2, a, ca, b, cb)
#define RHO_FAR(s1, s2, a, ca, b, cb) (q_cmp_rho(s1, s2, a, ca, b, cb) > 0)
#define RHO_NEAR(s1, s2, a, ca, b, cb) (q_cmp_rho(s1, s2, a, ca, b, cb) == 0)
#define WS_TAG pb_mes_ws_exact
#define MES(name) name##_exact
#include "engine/pb/pb_mes_impl.h"
#undef N_T
#undef N_INIT
#undef N_CLEAR
#undef N_SET
#undef N_SET_SI
#undef N_SET_FRAC
#undef N_ADD
#undef N_SUB
#undef N_DIV
#undef N_NEG
#undef N_MUL_SI
#undef N_DIV_SI
#undef N_CMP
#undef N_SGN
#undef N_GET_D
#undef N_SET_D
#undef MES_TRACK
#undef N_IS_DOUBLE
#undef TOL_CMP
#undef STEPS_OF
#undef RHO_CMP
#undef RHO_FAR
#undef RHO_NEAR
#undef WS_TAG
#undef MES

/* ---- fast: doubles ---- */

typedef double dnum[1];
#define PB_REL_TOL 1e-10

static inline int d_cmp(const double *a, const double *b) { return *a < *b ? -1 : *a > *b; }
static inline int d_tol_cmp(const double *a, const double *b) {
    double x = *a, y = *b, scale = fabs(x) > fabs(y) ? fabs(x) : fabs(y);
    if (fabs(x - y) <= PB_REL_TOL * scale) return 0;
    return x < y ? -1 : 1;
}
static inline int d_sgn(const double *a) { return *a < 0 ? -1 : *a > 0; }
static inline int d_cmp_rho(const double *a, int64_t ca, const double *b, int64_t cb) {
    double x = *a * (double)cb, y = *b * (double)ca;
    return d_tol_cmp(&x, &y);
}
/* Prices further apart than this relative margin are never close calls: rounding in
 * a run stays many orders of magnitude below it. */
#define PB_CLOSE 1e-9
static inline int d_rho_far(const double *a, int64_t ca, const double *b, int64_t cb) {
    double x = *a * (double)cb, y = *b * (double)ca;
    return x > y * (1 + PB_CLOSE);
}
static inline int d_rho_near(const double *a, int64_t ca, const double *b, int64_t cb) {
    double x = *a * (double)cb, y = *b * (double)ca, scale = fabs(x) > fabs(y) ? fabs(x) : fabs(y);
    return fabs(x - y) <= PB_CLOSE * scale;
}
static uint64_t d_steps(const double *delta, int64_t inc) {
    double k = ceil(*delta / (double)inc - 1e-6);
    if (!(k < 1.8e19)) return UINT64_MAX;
    return k < 1 ? 1 : (uint64_t)k;
}

#define N_T dnum
#define N_INIT(x) ((x)[0] = 0)
#define N_CLEAR(x) ((void)(x))
#define N_SET(r, a) ((r)[0] = (a)[0])
#define N_SET_SI(r, i) ((r)[0] = (double)(i))
#define N_SET_FRAC(r, n, d) ((r)[0] = (double)(n) / (double)(d))
#define N_ADD(r, a, b) ((r)[0] = (a)[0] + (b)[0])
#define N_SUB(r, a, b) ((r)[0] = (a)[0] - (b)[0])
#define N_DIV(r, a, b) ((r)[0] = (a)[0] / (b)[0])
#define N_NEG(r, a) ((r)[0] = -(a)[0])
#define N_MUL_SI(r, a, i) ((r)[0] = (a)[0] * (double)(i))
#define N_DIV_SI(r, a, i) ((r)[0] = (a)[0] / (double)(i))
#define N_CMP(a, b) d_cmp(a, b)
#define N_SGN(a) d_sgn(a)
#define N_GET_D(a) ((a)[0])
#define N_SET_D(r, d) ((r)[0] = (d))
#define MES_TRACK 1
#define N_IS_DOUBLE 1
#define TOL_CMP(a, b) d_tol_cmp(a, b)
#define STEPS_OF(d, inc) d_steps(d, inc)
#define RHO_CMP(s1, s2, a, ca, b, cb) d_cmp_rho(a, ca, b, cb)
#define RHO_FAR(s1, s2, a, ca, b, cb) d_rho_far(a, ca, b, cb)
#define RHO_NEAR(s1, s2, a, ca, b, cb) d_rho_near(a, ca, b, cb)
#define WS_TAG pb_mes_ws_fast
#define MES(name) name##_fast
#include "engine/pb/pb_mes_impl.h"
