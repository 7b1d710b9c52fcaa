/* Four-lane helpers for the hottest loops of the 3-body kernel.
 *
 * A cubic B-spline touches four coefficients per leg, so the natural SIMD
 * width is four doubles.  With GCC or Clang the lanes are written with
 * vector extensions: the compiler emits AVX2/FMA when the module is built
 * for such a CPU and pairs of SSE2 instructions otherwise.  Other compilers
 * get the same arithmetic in plain C.
 *
 * Basis tables handed to sus2c_basis4 are laid out [interval][power][k]
 * (k = the four non-zero functions), so that one Horner step is one vector
 * operation.
 */
#ifndef SUS2C_SIMD_H
#define SUS2C_SIMD_H

#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define SUS2C_VEC 1
typedef double sus2c_v4 __attribute__((vector_size(32)));

static inline sus2c_v4 sus2c_load4(const double* p) {
    sus2c_v4 v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static inline void sus2c_store4(double* p, sus2c_v4 v) { memcpy(p, &v, sizeof(v)); }

static inline double sus2c_hsum(sus2c_v4 v) { return (v[0] + v[1]) + (v[2] + v[3]); }
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

/* V = sum_lmn C[ma+l][mb+m][mc+n] A[l] B[m] G[n] and its derivatives along
 * the three legs (ij: A, ik: B, jk: G); s1, s2 are the strides of the ik and
 * jk axes.  The jk axis is contiguous: it is the vector lane. */
static inline double sus2c_triplet4(const double* C, long s1, long s2, int ma, int mb, int mc,
                                    const double* A, const double* dA, const double* B,
                                    const double* dB, const double* G, const double* dG,
                                    double* ga, double* gb, double* gc) {
#ifdef SUS2C_VEC
    sus2c_v4 t = {0.0, 0.0, 0.0, 0.0}, ta = t, tb = t;
    for (int l = 0; l < 4; ++l) {
        const double* row = C + ((long)(ma + l) * s1 + mb) * s2 + mc;
        sus2c_v4 r0 = sus2c_load4(row), r1 = sus2c_load4(row + s2);
        sus2c_v4 r2 = sus2c_load4(row + 2 * s2), r3 = sus2c_load4(row + 3 * s2);
        sus2c_v4 s = r0 * B[0] + r1 * B[1] + r2 * B[2] + r3 * B[3];
        sus2c_v4 sb = r0 * dB[0] + r1 * dB[1] + r2 * dB[2] + r3 * dB[3];
        t += s * A[l];
        ta += s * dA[l];
        tb += sb * A[l];
    }
    sus2c_v4 g = sus2c_load4(G), dg = sus2c_load4(dG);
    *ga = sus2c_hsum(ta * g);
    *gb = sus2c_hsum(tb * g);
    *gc = sus2c_hsum(t * dg);
    return sus2c_hsum(t * g);
#else
    double t[4] = {0, 0, 0, 0}, ta[4] = {0, 0, 0, 0}, tb[4] = {0, 0, 0, 0};
    for (int l = 0; l < 4; ++l) {
        const double* row = C + ((long)(ma + l) * s1 + mb) * s2 + mc;
        for (int n = 0; n < 4; ++n) {
            double s = row[n] * B[0] + row[s2 + n] * B[1] + row[2 * s2 + n] * B[2] + row[3 * s2 + n] * B[3];
            double sb = row[n] * dB[0] + row[s2 + n] * dB[1] + row[2 * s2 + n] * dB[2] + row[3 * s2 + n] * dB[3];
            t[n] += s * A[l];
            ta[n] += s * dA[l];
            tb[n] += sb * A[l];
        }
    }
    *ga = ta[0] * G[0] + ta[1] * G[1] + ta[2] * G[2] + ta[3] * G[3];
    *gb = tb[0] * G[0] + tb[1] * G[1] + tb[2] * G[2] + tb[3] * G[3];
    *gc = t[0] * dG[0] + t[1] * dG[1] + t[2] * dG[2] + t[3] * dG[3];
    return t[0] * G[0] + t[1] * G[1] + t[2] * G[2] + t[3] * G[3];
#endif
}

#endif /* SUS2C_SIMD_H */
