/* Four-lane helpers for the hottest loops: the 3-body contraction and the
 * 2-body bond loop.
 *
 * A cubic B-spline touches four coefficients per leg, so the natural SIMD
 * width is four doubles.  With GCC or Clang the lanes are written with
 * vector extensions: the compiler emits AVX2/FMA when the module is built
 * for such a CPU and pairs of SSE2 instructions otherwise.  Other compilers
 * get the same arithmetic in plain C.
 *
 * Basis tables handed to sus2c_basis4 are laid out [interval][power][k]
 * (k = the four non-zero functions), so that one Horner step is one vector
 * operation.  Define SUS2C_NO_VEC to build (and test) the plain C code.
 */
#ifndef SUS2C_SIMD_H
#define SUS2C_SIMD_H

#include <string.h>

#if (defined(__GNUC__) || defined(__clang__)) && !defined(SUS2C_NO_VEC)
#define SUS2C_VEC 1
typedef double sus2c_v4 __attribute__((vector_size(32)));

static inline sus2c_v4 sus2c_load4(const double* p) {
    sus2c_v4 v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static inline void sus2c_store4(double* p, sus2c_v4 v) { memcpy(p, &v, sizeof(v)); }

static inline double sus2c_hsum(sus2c_v4 v) { return (v[0] + v[1]) + (v[2] + v[3]); }

/* The lanes (a, b, c, d) of v.  GCC before 12 has no __builtin_shufflevector
 * (Ubuntu 22.04 ships GCC 11): it gets the same permutation from
 * __builtin_shuffle with an index vector. */
#if defined(__clang__) || __GNUC__ >= 12
#define SUS2C_PERM4(v, a, b, c, d) __builtin_shufflevector((v), (v), a, b, c, d)
#else
typedef long long sus2c_i4 __attribute__((vector_size(32)));
#define SUS2C_PERM4(v, a, b, c, d) __builtin_shuffle((v), ((sus2c_i4){a, b, c, d}))
#endif
#endif

/* Values B[0..3] and r-derivatives dB[0..3] of the non-zero basis functions
 * of a 3-body leg at r (< hi); returns the index of the first one.  Below lo
 * the leg is eased (sus2c/bspline.py): B(lo) + B'(lo) (t + t^2/2) with
 * t = max(u, -1), u = (r - lo)/h, so value and slope are continuous at lo
 * and the leg is constant from one interval below lo down. */
static inline int sus2c_basis4(double r, double lo, double inv_h, int n, const double* tab,
                               double* B, double* dB) {
    double u = (r - lo) * inv_h;
    int mu;
    const double* T;
    if (u < 0.0) {
        double t = u < -1.0 ? -1.0 : u;
        double e = t + 0.5 * t * t, de = u < -1.0 ? 0.0 : (1.0 + t) * inv_h;
        for (int k = 0; k < 4; ++k) {
            B[k] = tab[k] + e * tab[4 + k];
            dB[k] = de * tab[4 + k];
        }
        return 0;
    }
    mu = (int)u;
    if (mu >= n) mu = n - 1;
    u -= mu;
    T = tab + 16 * mu;
#ifdef SUS2C_VEC
    {
        sus2c_v4 t0 = sus2c_load4(T), t1 = sus2c_load4(T + 4);
        sus2c_v4 t2 = sus2c_load4(T + 8), t3 = sus2c_load4(T + 12);
        sus2c_store4(B, t0 + u * (t1 + u * (t2 + u * t3)));
        sus2c_store4(dB, (t1 + u * (2.0 * t2 + (3.0 * u) * t3)) * inv_h);
    }
#else
    for (int k = 0; k < 4; ++k) {
        B[k] = T[k] + u * (T[4 + k] + u * (T[8 + k] + u * T[12 + k]));
        dB[k] = (T[4 + k] + u * (2.0 * T[8 + k] + 3.0 * u * T[12 + k])) * inv_h;
    }
#endif
    return mu;
}

/* As sus2c_basis4, plus second r-derivatives d2B[0..3]. */
static inline int sus2c_basis4_d2(double r, double lo, double inv_h, int n, const double* tab,
                                  double* B, double* dB, double* d2B) {
    int mu = sus2c_basis4(r, lo, inv_h, n, tab, B, dB);
    double u = (r - lo) * inv_h;
    const double* T = tab + 16 * mu;
    if (u < 0.0) {
        for (int k = 0; k < 4; ++k)
            d2B[k] = u < -1.0 ? 0.0 : tab[4 + k] * inv_h * inv_h;
        return mu;
    }
    u -= mu;
    for (int k = 0; k < 4; ++k)
        d2B[k] = (2.0 * T[8 + k] + 6.0 * u * T[12 + k]) * inv_h * inv_h;
    return mu;
}

/* ------------------------------------------------------------------------
 * The 3-body contraction, shared by the energy and design kernels.
 *
 * A centre's triplets are walked block by block (_common.pxd): one 3-body
 * part, a list of J neighbours (leg ij) and a list of K neighbours (leg ik).
 * The bases of the ij and ik legs are computed once per neighbour and block
 * (sus2c_leg4) and reused by every triplet of the block; only the jk leg's
 * basis is computed per triplet, without branches (sus2c_jk4).  The inner
 * loop has one branch, almost never taken: the "rare" triplets (a leg below
 * its first knot or past its end, two neighbours on one spot) go through
 * the exact bookkeeping of the scalar code.
 * ------------------------------------------------------------------------ */

#include <stddef.h>
#include <math.h>

#define SUS2C_LEG_BELOW 1   /* r < lo: the eased continuation; flagged */
#define SUS2C_LEG_BEYOND 2  /* r >= hi: the leg's basis is zero */

/* A branch the kernels almost never take (the compiler keeps the hot path's
 * values in registers and moves the rare code out of the loop). */
#if defined(__GNUC__) || defined(__clang__)
#define sus2c_unlikely(x) __builtin_expect(!!(x), 0)
#else
#define sus2c_unlikely(x) (x)
#endif

/* A helper the compiler must inline (its loop set-up folds into the caller's). */
#if defined(__GNUC__) || defined(__clang__)
#define SUS2C_ALWAYS_INLINE __attribute__((always_inline))
#elif defined(_MSC_VER)
#define SUS2C_ALWAYS_INLINE __forceinline
#else
#define SUS2C_ALWAYS_INLINE
#endif

/* The basis of one leg at r: first index *m, values AB[0..3] and
 * r-derivatives AB[4..7]; zero (and *m = 0) at or past hi. */
static inline int sus2c_leg4(double r, double lo, double hi, double inv_h, int n, const double* tab,
                             int* m, double* AB) {
    if (!(r < hi)) {
        *m = 0;
        for (int k = 0; k < 8; ++k) AB[k] = 0.0;
        return SUS2C_LEG_BEYOND;
    }
    *m = sus2c_basis4(r, lo, inv_h, n, tab, AB, AB + 4);
    return r < lo ? SUS2C_LEG_BELOW : 0;
}

/* ------------------------------------------------------------------------
 * The 2-body bonds of one centre, after the walk gathered them.
 *
 * The walk and the bonds used to share one loop; with the walk's pointers,
 * the table lookups and ten running sums live at once, the compiler kept
 * the sums in memory (16 vector registers).  Here the bond loop is on its
 * own and the sums are three vectors: the centre's force, and the virial as
 * (xx, yy, zz, -) and (yz, xz, xy, -).
 * ------------------------------------------------------------------------ */

/* One 2-body part: a clamped cubic spline on [lo, hi] with n intervals as
 * one cubic per interval (poly: [interval][power]); below lo its cubic
 * continuation plus a wall, -wall u^3. */
typedef struct {
    double lo;
    double inv_h;
    double hi;
    double wall;
    const double* poly;
    int n;
} sus2c_part2;

/* phi(r) and dphi/dr of one part (caller checks r < hi); *below = 1 below lo. */
static inline double sus2c_pair2(double r, const sus2c_part2* P, double* dphi, int* below) {
    double u = (r - P->lo) * P->inv_h;
    const double* c = P->poly;
    if (sus2c_unlikely(u < 0.0)) {
        *below = 1;
        *dphi = (c[1] + 2.0 * u * c[2] - 3.0 * P->wall * u * u) * P->inv_h;
        return c[0] + u * (c[1] + u * c[2]) - P->wall * u * u * u;
    }
    int mu = (int)u;
    if (mu >= P->n) mu = P->n - 1;
    u -= mu;
    c += 4 * mu;
    *dphi = (c[1] + u * (2.0 * c[2] + 3.0 * u * c[3])) * P->inv_h;
    return c[0] + u * (c[1] + u * (c[2] + u * c[3]));
}

/* Centre i's nb bonds: bd[4 k .. 4 k + 3] the bond vector and length of bond
 * k, jb[k] its neighbour, pb[k] its element pair, whose parts are
 * parts[start[p] .. start[p + 1] - 1].  Adds the forces to f (N x 3), the
 * energy and virial to acc (energy, virial[6]), per-atom halves to eat and
 * vat (N x 6) when eat != NULL, and flags both atoms of a bond below a
 * part's first knot in below.  one: every pair has exactly one part. */
static inline SUS2C_ALWAYS_INLINE void sus2c_pairs2_body(
    const sus2c_part2* parts, const int* start, ptrdiff_t nb, const double* bd, const ptrdiff_t* jb,
    const int* pb, ptrdiff_t i, double* f, signed char* below, double* eat, double* vat, double* acc,
    const int per_atom, const int one) {
    double en = 0.0;
#ifdef SUS2C_VEC
    sus2c_v4 fi = {0.0, 0.0, 0.0, 0.0}, w = fi, wx = fi;
#else
    double fi[3] = {0.0, 0.0, 0.0}, w[3] = {0.0, 0.0, 0.0}, wx[3] = {0.0, 0.0, 0.0};
#endif
    for (ptrdiff_t k = 0; k < nb; ++k) {
        const double* q = bd + 4 * k;
        const double r = q[3];
        const ptrdiff_t j = jb[k];
        const int p = pb[k];
        double phi = 0.0, g = 0.0, ga;
        int flag = 0;
        if (one) { /* every pair has one part: no loop (its set-up cost more than the part) */
            const sus2c_part2* P = parts + start[p];
            if (r < P->hi)
                phi = sus2c_pair2(r, P, &g, &flag);
        } else {
            for (int s = start[p]; s < start[p + 1]; ++s) {
                if (r < parts[s].hi) {
                    phi += sus2c_pair2(r, parts + s, &ga, &flag);
                    g += ga;
                }
            }
        }
        if (sus2c_unlikely(flag)) {
            below[i] = 1;
            below[j] = 1;
        }
        en += phi;
        const double sg = g / r;
#ifdef SUS2C_VEC
        const sus2c_v4 d = sus2c_load4(q); /* (x, y, z, r) */
        const sus2c_v4 fv = d * sg;        /* the force on the centre (lane 3 unused) */
        const sus2c_v4 v = fv * d;
        const sus2c_v4 vx = SUS2C_PERM4(fv, 1, 0, 0, 3) * SUS2C_PERM4(d, 2, 2, 1, 3);
        fi += fv;
        w += v;
        wx += vx;
        f[3 * j] -= fv[0];
        f[3 * j + 1] -= fv[1];
        f[3 * j + 2] -= fv[2];
#else
        const double fv[3] = {sg * q[0], sg * q[1], sg * q[2]};
        const double v[3] = {fv[0] * q[0], fv[1] * q[1], fv[2] * q[2]};
        const double vx[3] = {fv[1] * q[2], fv[0] * q[2], fv[0] * q[1]};
        for (int x = 0; x < 3; ++x) {
            fi[x] += fv[x];
            w[x] += v[x];
            wx[x] += vx[x];
            f[3 * j + x] -= fv[x];
        }
#endif
        if (per_atom) {
            eat[i] += 0.5 * phi;
            eat[j] += 0.5 * phi;
            for (int x = 0; x < 3; ++x) {
                vat[6 * i + x] += 0.5 * v[x];
                vat[6 * i + 3 + x] += 0.5 * vx[x];
                vat[6 * j + x] += 0.5 * v[x];
                vat[6 * j + 3 + x] += 0.5 * vx[x];
            }
        }
    }
    for (int x = 0; x < 3; ++x) {
        f[3 * i + x] += fi[x];
        acc[1 + x] += w[x];
        acc[4 + x] += wx[x];
    }
    acc[0] += en;
}

/* Not inlined: on its own the loop gets the registers to itself (inlined
 * into the kernel's parallel region it was allocated as part of that). */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noinline))
#endif
static void sus2c_pairs2(const sus2c_part2* parts, const int* start, ptrdiff_t nb, const double* bd,
                                const ptrdiff_t* jb, const int* pb, ptrdiff_t i, double* f, signed char* below,
                                double* eat, double* vat, double* acc, int one) {
    if (eat != NULL)
        sus2c_pairs2_body(parts, start, nb, bd, jb, pb, i, f, below, eat, vat, acc, 1, 0);
    else if (one)
        sus2c_pairs2_body(parts, start, nb, bd, jb, pb, i, f, below, NULL, NULL, acc, 0, 1);
    else
        sus2c_pairs2_body(parts, start, nb, bd, jb, pb, i, f, below, NULL, NULL, acc, 0, 0);
}

#ifdef SUS2C_VEC
typedef sus2c_v4 sus2c_w4;
#define SUS2C_SPLAT(x) ((sus2c_v4){(x), (x), (x), (x)})
#else
typedef struct { double v[4]; } sus2c_w4;
#endif

/* The jk leg's basis at r (< hi, checked by the caller) without branches:
 * the clamped interval and the eased continuation below lo are selects. */
#ifdef SUS2C_VEC
static inline int sus2c_jk4(double r, double lo, double inv_h, int n, const double* tab, sus2c_v4* G,
                            sus2c_v4* dG) {
    double u = (r - lo) * inv_h;
    double uc = u > 0.0 ? u : 0.0;
    int mu = (int)uc;
    mu = mu < n - 1 ? mu : n - 1;
    double f = uc - mu;
    double t = u > -1.0 ? u : -1.0;
    t = t < 0.0 ? t : 0.0;          /* min(max(u, -1), 0) */
    double e = t + 0.5 * t * t;     /* below lo: B(lo) + B'(lo) (t + t^2/2); 0 above */
    double s = 1.0 + t;             /* and its slope factor (0 below lo - h; 1 above lo) */
    const double* T = tab + 16 * mu;
    sus2c_v4 t0 = sus2c_load4(T), t1 = sus2c_load4(T + 4);
    sus2c_v4 t2 = sus2c_load4(T + 8), t3 = sus2c_load4(T + 12);
    *G = t0 + f * (t1 + f * (t2 + f * t3)) + e * t1;
    *dG = (t1 + f * (2.0 * t2 + (3.0 * f) * t3)) * (inv_h * s);
    return mu;
}

/* Four horizontal sums at once: (sum a, sum b, sum c, sum d). */
static inline sus2c_v4 sus2c_hsum4(sus2c_v4 a, sus2c_v4 b, sus2c_v4 c, sus2c_v4 d) {
#if defined(__clang__) || __GNUC__ >= 12
    sus2c_v4 x = __builtin_shufflevector(a, b, 0, 4, 2, 6) + __builtin_shufflevector(a, b, 1, 5, 3, 7);
    sus2c_v4 y = __builtin_shufflevector(c, d, 0, 4, 2, 6) + __builtin_shufflevector(c, d, 1, 5, 3, 7);
    return __builtin_shufflevector(x, y, 0, 1, 4, 5) + __builtin_shufflevector(x, y, 2, 3, 6, 7);
#else
    sus2c_v4 o = {sus2c_hsum(a), sus2c_hsum(b), sus2c_hsum(c), sus2c_hsum(d)};
    return o;
#endif
}
#endif

/* V and its derivatives along the legs (ij, ik, jk) of one triplet: the
 * 4x4x4 block of coefficients at row = &C[ma][mb][mc] (strides s1 * s2,
 * s2, 1) contracted with A (l), B (m), G (n); out = (V, dV/dr_ij, dV/dr_ik,
 * dV/dr_jk). */
#ifdef SUS2C_VEC
static inline sus2c_v4 sus2c_contract4(const double* row, ptrdiff_t sl, ptrdiff_t s2, const sus2c_v4* Av,
                                       const sus2c_v4* dAv, const double* B, sus2c_v4 G, sus2c_v4 dG) {
    sus2c_v4 t = SUS2C_SPLAT(0.0), ta = t, tb = t;
    sus2c_v4 b0 = SUS2C_SPLAT(B[0]), b1 = SUS2C_SPLAT(B[1]), b2 = SUS2C_SPLAT(B[2]), b3 = SUS2C_SPLAT(B[3]);
    sus2c_v4 d0 = SUS2C_SPLAT(B[4]), d1 = SUS2C_SPLAT(B[5]), d2 = SUS2C_SPLAT(B[6]), d3 = SUS2C_SPLAT(B[7]);
    for (int l = 0; l < 4; ++l, row += sl) {
        sus2c_v4 r0 = sus2c_load4(row), r1 = sus2c_load4(row + s2);
        sus2c_v4 r2 = sus2c_load4(row + 2 * s2), r3 = sus2c_load4(row + 3 * s2);
        sus2c_v4 s = r0 * b0 + r1 * b1 + r2 * b2 + r3 * b3;
        sus2c_v4 sb = r0 * d0 + r1 * d1 + r2 * d2 + r3 * d3;
        t += s * Av[l];
        ta += s * dAv[l];
        tb += sb * Av[l];
    }
    return sus2c_hsum4(t * G, ta * G, tb * G, t * dG);
}
#endif

/* One block's triplets for the energy kernel.
 *
 * C: the part's coefficients [n_ij+3][n_ik+3][n_jk+3] (strides s1 * s2,
 * s2); lo, hi, inv_h, n, tab: its jk leg; d4, ir: the gathered neighbours'
 * bond vectors and lengths (x, y, z, r: four per neighbour) and 1/r;
 * jl[0..nj): the J neighbours with their ij-leg bases (mJ, bJ: 8 per
 * neighbour, fJ: SUS2C_LEG_* flags); kl, mK, bK, fK the same for K and the
 * ik leg; tri: jl == kl, pairs a < b only.
 * Adds to acc (energy, virial[6]), f3 (per neighbour, four apart: forces of
 * the jk legs), gs (per neighbour: sum of dV/dr / r of its centre leg), vn
 * (per neighbour: halves of the jk legs' virials, or NULL), fl (per
 * neighbour: in a triplet with a leg below its first knot); bad[0..1]: two
 * neighbours on one spot; wk (16 per K neighbour), iw (2 per K neighbour):
 * scratch.  Returns 1 if a triplet had a leg below its first knot.
 *
 * Per J, the jk legs of all its triplets are computed first (geometry,
 * sqrt, 1/r, basis: short independent iterations whose latencies overlap),
 * then the contractions and forces. */
#ifdef SUS2C_VEC
static inline SUS2C_ALWAYS_INLINE int sus2c_energy3_body(
    const double* C, ptrdiff_t s1, ptrdiff_t s2, double lo, double hi, double inv_h, int n, const double* tab,
    const double* d4, const double* ir, const ptrdiff_t* jl, ptrdiff_t nj, const int* mJ, const double* bJ,
    const int* fJ, const ptrdiff_t* kl, ptrdiff_t nk, const int* mK, const double* bK, const int* fK, int tri,
    double* acc, double* f3, double* gs, double* vn, int* fl, ptrdiff_t* bad, double* wk, int* iw,
    const int per_atom) {
    int below = 0;
    const double lo8 = lo > 1e-8 ? lo : 1e-8; /* below: rare (a leg below its first knot, or coincident) */
    const sus2c_v4 xyz = {1.0, 1.0, 1.0, 0.0};
    const ptrdiff_t sl = s1 * s2;
    sus2c_v4 w = SUS2C_SPLAT(0.0), wx = w; /* virial: (xx, yy, zz, -), (yz, xz, xy, -) */
    double e = 0.0;
    for (ptrdiff_t a = 0; a < nj; ++a) {
        const ptrdiff_t J = jl[a];
        const int fj = fJ[J];
        if (fj & SUS2C_LEG_BEYOND)
            continue;
        const ptrdiff_t b0 = tri ? a + 1 : 0;
        const sus2c_v4 dj = sus2c_load4(d4 + 4 * J);
        /* pass 1: the jk legs of J's triplets (independent of each other, so
         * their sqrt/divide/table latencies overlap) */
        for (ptrdiff_t b = b0; b < nk; ++b) {
            const ptrdiff_t K = kl[b];
            double* q = wk + 16 * b;
            const sus2c_v4 d = (sus2c_load4(d4 + 4 * K) - dj) * xyz;
            const sus2c_v4 dd = d * d;
            const double r = sqrt(dd[0] + dd[1] + dd[2]);
            sus2c_v4 G, dG;
            iw[2 * b] = sus2c_jk4(r, lo, inv_h, n, tab, &G, &dG);
            iw[2 * b + 1] = fj | fK[K] | (r < lo8) | (r >= hi);
            sus2c_store4(q, G);
            sus2c_store4(q + 4, dG);
            sus2c_store4(q + 8, d);
            q[12] = r;
            q[13] = 1.0 / r;
        }
        /* pass 2: the contractions and the forces */
        const double* CJ = C + (ptrdiff_t)mJ[J] * sl;
        const double irj = ir[J];
        sus2c_v4 Av[4], dAv[4], fjv = SUS2C_SPLAT(0.0);
        double gj = 0.0;
        for (int l = 0; l < 4; ++l) {
            Av[l] = SUS2C_SPLAT(bJ[8 * J + l]);
            dAv[l] = SUS2C_SPLAT(bJ[8 * J + 4 + l]);
        }
        for (ptrdiff_t b = b0; b < nk; ++b) {
            const ptrdiff_t K = kl[b];
            const double* q = wk + 16 * b;
            const sus2c_v4 o = sus2c_contract4(CJ + (ptrdiff_t)mK[K] * s2 + iw[2 * b], sl, s2, Av, dAv, bK + 8 * K,
                                               sus2c_load4(q), sus2c_load4(q + 4));
            if (iw[2 * b + 1]) {
                /* the rare triplets, as the scalar code had them */
                const double r = q[12];
                if ((fK[K] & SUS2C_LEG_BEYOND) || !(r < hi))
                    continue;
                if (r < 1e-8) {
                    bad[0] = J;
                    bad[1] = K;
                    continue;
                }
                if (o[0] != 0.0 || o[1] != 0.0 || o[2] != 0.0 || o[3] != 0.0) {
                    below = 1;
                    fl[J] = 1;
                    fl[K] = 1;
                }
            }
            const sus2c_v4 d = sus2c_load4(q + 8);
            e += o[0];
            gj += o[1] * irj;
            gs[K] += o[2] * ir[K];
            const sus2c_v4 f = d * (o[3] * q[13]);
            fjv += f;
            sus2c_store4(f3 + 4 * K, sus2c_load4(f3 + 4 * K) - f);
            const sus2c_v4 v = f * d;
            const sus2c_v4 vx = SUS2C_PERM4(f, 1, 0, 0, 3) * SUS2C_PERM4(d, 2, 2, 1, 3);
            w += v;
            wx += vx;
            if (per_atom) {
                double* p = vn + 6 * J;
                double* p2 = vn + 6 * K;
                for (int k = 0; k < 3; ++k) {
                    p[k] += 0.5 * v[k];
                    p2[k] += 0.5 * v[k];
                    p[3 + k] += 0.5 * vx[k];
                    p2[3 + k] += 0.5 * vx[k];
                }
            }
        }
        gs[J] += gj;
        sus2c_store4(f3 + 4 * J, sus2c_load4(f3 + 4 * J) + fjv);
    }
    acc[0] += e;
    for (int k = 0; k < 3; ++k) {
        acc[1 + k] += w[k];
        acc[4 + k] += wx[k];
    }
    return below;
}
#endif

/* Inlined into the kernel (when GCC was left to choose, an unrelated change
 * to the kernel made it a call: 1 % more instructions). */
SUS2C_ALWAYS_INLINE
static inline int sus2c_energy3(const double* C, ptrdiff_t s1, ptrdiff_t s2, double lo, double hi, double inv_h,
                                int n, const double* tab, const double* d4, const double* ir, const ptrdiff_t* jl,
                                ptrdiff_t nj, const int* mJ, const double* bJ, const int* fJ, const ptrdiff_t* kl,
                                ptrdiff_t nk, const int* mK, const double* bK, const int* fK, int tri,
                                double* acc, double* f3, double* gs, double* vn, int* fl, ptrdiff_t* bad,
                                double* wk, int* iw) {
#ifdef SUS2C_VEC
    if (vn != NULL)
        return sus2c_energy3_body(C, s1, s2, lo, hi, inv_h, n, tab, d4, ir, jl, nj, mJ, bJ, fJ, kl, nk, mK, bK, fK,
                                  tri, acc, f3, gs, vn, fl, bad, wk, iw, 1);
    return sus2c_energy3_body(C, s1, s2, lo, hi, inv_h, n, tab, d4, ir, jl, nj, mJ, bJ, fJ, kl, nk, mK, bK, fK,
                              tri, acc, f3, gs, NULL, fl, bad, wk, iw, 0);
#else
    (void)wk;
    (void)iw;
    int below = 0;
    for (ptrdiff_t a = 0; a < nj; ++a) {
        const ptrdiff_t J = jl[a];
        const int fj = fJ[J];
        if (fj & SUS2C_LEG_BEYOND)
            continue;
        const double* A = bJ + 8 * J;
        for (ptrdiff_t b = tri ? a + 1 : 0; b < nk; ++b) {
            const ptrdiff_t K = kl[b];
            const double* B = bK + 8 * K;
            const double dx = d4[4 * K] - d4[4 * J], dy = d4[4 * K + 1] - d4[4 * J + 1];
            const double dz = d4[4 * K + 2] - d4[4 * J + 2];
            const double r = sqrt(dx * dx + dy * dy + dz * dz);
            if ((fK[K] & SUS2C_LEG_BEYOND) || !(r < hi))
                continue;
            if (r < 1e-8) {
                bad[0] = J;
                bad[1] = K;
                continue;
            }
            double G[4], dG[4];
            const int mc = sus2c_basis4(r, lo, inv_h, n, tab, G, dG);
            double t[4] = {0, 0, 0, 0}, ta[4] = {0, 0, 0, 0}, tb[4] = {0, 0, 0, 0};
            for (int l = 0; l < 4; ++l) {
                const double* row = C + ((ptrdiff_t)(mJ[J] + l) * s1 + mK[K]) * s2 + mc;
                for (int k = 0; k < 4; ++k) {
                    double s = row[k] * B[0] + row[s2 + k] * B[1] + row[2 * s2 + k] * B[2] + row[3 * s2 + k] * B[3];
                    double sb = row[k] * B[4] + row[s2 + k] * B[5] + row[2 * s2 + k] * B[6] + row[3 * s2 + k] * B[7];
                    t[k] += s * A[l];
                    ta[k] += s * A[4 + l];
                    tb[k] += sb * A[l];
                }
            }
            const double v = t[0] * G[0] + t[1] * G[1] + t[2] * G[2] + t[3] * G[3];
            const double ga = ta[0] * G[0] + ta[1] * G[1] + ta[2] * G[2] + ta[3] * G[3];
            const double gb = tb[0] * G[0] + tb[1] * G[1] + tb[2] * G[2] + tb[3] * G[3];
            const double gc = t[0] * dG[0] + t[1] * dG[1] + t[2] * dG[2] + t[3] * dG[3];
            if ((fj | fK[K] | (r < lo)) && (v != 0.0 || ga != 0.0 || gb != 0.0 || gc != 0.0)) {
                below = 1;
                fl[J] = 1;
                fl[K] = 1;
            }
            acc[0] += v;
            gs[J] += ga * ir[J];
            gs[K] += gb * ir[K];
            const double sc = gc / r;
            const double fx = sc * dx, fy = sc * dy, fz = sc * dz;
            const double w[6] = {fx * dx, fy * dy, fz * dz, fy * dz, fx * dz, fx * dy};
            f3[4 * J] += fx;
            f3[4 * J + 1] += fy;
            f3[4 * J + 2] += fz;
            f3[4 * K] -= fx;
            f3[4 * K + 1] -= fy;
            f3[4 * K + 2] -= fz;
            for (int k = 0; k < 6; ++k) {
                acc[1 + k] += w[k];
                if (vn != NULL) {
                    vn[6 * J + k] += 0.5 * w[k];
                    vn[6 * K + k] += 0.5 * w[k];
                }
            }
        }
    }
    return below;
#endif
}

/* One block's triplets for the design kernel: X[row, col] += d(target row)/d(coefficient col).
 *
 * cols: the part's column numbers + 1 (0: not free) laid out as C above, sc
 * its scale; lo ... tab: its jk leg; d3, r3, ir: the gathered neighbours'
 * bond vectors, lengths and 1/r, fr[k]: the first force row of neighbour k's
 * atom; jl ... tri as in sus2c_energy3; erow: the energy row, fi: the
 * centre's first force row, srow: the first stress row (-1: none), inv_v
 * 1/volume.  A row of four coefficients along the jk axis with consecutive
 * columns (every row, unless trimmed) is written with vector operations.
 * Returns the number of triplets with a leg below its first knot. */
static inline ptrdiff_t sus2c_design3(const double* cols, ptrdiff_t s1, ptrdiff_t s2, double sc, double lo,
                                      double hi, double inv_h, int n, const double* tab, const double* d3,
                                      const double* r3, const double* ir, const ptrdiff_t* fr, const ptrdiff_t* jl,
                                      ptrdiff_t nj, const int* mJ, const double* bJ, const int* fJ,
                                      const ptrdiff_t* kl, ptrdiff_t nk, const int* mK, const double* bK,
                                      const int* fK, int tri, double* X, ptrdiff_t ld, ptrdiff_t erow,
                                      ptrdiff_t fi, ptrdiff_t srow, double inv_v) {
    ptrdiff_t nbelow = 0;
    const int nrows = srow >= 0 ? 15 : 9;
    double cf[15][3];   /* per force/stress row: factors of the ij, ik, jk leg derivatives */
    ptrdiff_t off[15];  /* and its offset in X */
    for (ptrdiff_t a = 0; a < nj; ++a) {
        const ptrdiff_t J = jl[a];
        const int fj = fJ[J];
        if (fj & SUS2C_LEG_BEYOND)
            continue;
        const double* A = bJ + 8 * J;
        const double ua[3] = {d3[3 * J] * ir[J], d3[3 * J + 1] * ir[J], d3[3 * J + 2] * ir[J]};
        for (ptrdiff_t b = tri ? a + 1 : 0; b < nk; ++b) {
            const ptrdiff_t K = kl[b];
            const double dx = d3[3 * K] - d3[3 * J], dy = d3[3 * K + 1] - d3[3 * J + 1];
            const double dz = d3[3 * K + 2] - d3[3 * J + 2];
            const double r = sqrt(dx * dx + dy * dy + dz * dz);
            if (fj | fK[K] | (r < lo) | !(r < hi) | (r < 1e-8)) {
                if ((fK[K] & SUS2C_LEG_BEYOND) || !(r < hi) || r < 1e-8)
                    continue;
                nbelow += 1;
            }
            const double* B = bK + 8 * K;
            double G[4], dG[4];
            const int mc = sus2c_basis4(r, lo, inv_h, n, tab, G, dG);
            const double ub[3] = {d3[3 * K] * ir[K], d3[3 * K + 1] * ir[K], d3[3 * K + 2] * ir[K]};
            const double uc[3] = {dx / r, dy / r, dz / r};
            const ptrdiff_t fj_ = fr[J], fk_ = fr[K];
            for (int x = 0; x < 3; ++x) {
                off[x] = (fi + x) * ld;
                cf[x][0] = ua[x];
                cf[x][1] = ub[x];
                cf[x][2] = 0.0;
                off[3 + x] = (fj_ + x) * ld;
                cf[3 + x][0] = -ua[x];
                cf[3 + x][1] = 0.0;
                cf[3 + x][2] = uc[x];
                off[6 + x] = (fk_ + x) * ld;
                cf[6 + x][0] = 0.0;
                cf[6 + x][1] = -ub[x];
                cf[6 + x][2] = -uc[x];
            }
            if (srow >= 0) {
                static const int va[6] = {0, 1, 2, 1, 0, 0}, vb[6] = {0, 1, 2, 2, 2, 1};
                const double sa = r3[J] * inv_v, sb = r3[K] * inv_v, sg = r * inv_v;
                for (int x = 0; x < 6; ++x) {
                    off[9 + x] = (srow + x) * ld;
                    cf[9 + x][0] = sa * ua[va[x]] * ua[vb[x]];
                    cf[9 + x][1] = sb * ub[va[x]] * ub[vb[x]];
                    cf[9 + x][2] = sg * uc[va[x]] * uc[vb[x]];
                }
            }
            const ptrdiff_t e0 = erow * ld;
            for (int l = 0; l < 4; ++l) {
                for (int m = 0; m < 4; ++m) {
                    const double* c = cols + ((ptrdiff_t)(mJ[J] + l) * s1 + mK[K] + m) * s2 + mc;
                    const double ab = sc * A[l] * B[m], dab = sc * A[4 + l] * B[m], adb = sc * A[l] * B[4 + m];
                    const ptrdiff_t c0 = (ptrdiff_t)c[0] - 1;
#ifdef SUS2C_VEC
                    if (c0 >= 0 && c[1] == c[0] + 1.0 && c[2] == c[0] + 2.0 && c[3] == c[0] + 3.0) {
                        const sus2c_v4 g = sus2c_load4(G), dg = sus2c_load4(dG);
                        const sus2c_v4 VA = dab * g, VB = adb * g, VC = ab * dg;
                        double* x = X + c0;
                        sus2c_store4(x + e0, sus2c_load4(x + e0) + ab * g);
                        for (int k = 0; k < nrows; ++k)
                            sus2c_store4(x + off[k], sus2c_load4(x + off[k]) + cf[k][0] * VA + cf[k][1] * VB +
                                                         cf[k][2] * VC);
                        continue;
                    }
#endif
                    for (int q = 0; q < 4; ++q) {
                        const ptrdiff_t col = (ptrdiff_t)c[q] - 1;
                        if (col < 0)
                            continue;
                        const double gA = dab * G[q], gB = adb * G[q], gC = ab * dG[q];
                        double* x = X + col;
                        x[e0] += ab * G[q];
                        for (int k = 0; k < nrows; ++k)
                            x[off[k]] += cf[k][0] * gA + cf[k][1] * gB + cf[k][2] * gC;
                    }
                }
            }
        }
    }
    return nbelow;
}

#endif /* SUS2C_SIMD_H */
