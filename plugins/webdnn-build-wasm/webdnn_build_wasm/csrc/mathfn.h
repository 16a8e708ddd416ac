/* webdnn-build wasm kernels: accurate float32 math for wasm32-freestanding (no libm).
 *
 * All functions are `static inline`, f32x4 (`_v`) with scalar wrappers (`_s`) that run the same
 * vector code on lane 0, so a value gets bit-identical results whether it is processed in a
 * vector body or a scalar tail (results never depend on how work is split).
 *
 *   wdn_math_exp_v      exp(x)      rel err <= ~1.2e-7 (Cephes expf polynomial), exact inf/0/NaN,
 *                                   gradual underflow to subnormals down to x = -103.97
 *   wdn_math_log_v      log(x)      rel err <= ~1.2e-7; log(0) = -inf, log(<0) = NaN, subnormals ok
 *   wdn_math_tanh_v     tanh(x)     rel err <= ~2e-7 (odd polynomial for |x| < 0.625)
 *   wdn_math_exp_nonpos_v  exp(x) for x <= 0 (softmax, sigmoid): rel err <= ~3e-7 + 6e-8 |x|, results
 *                                   below 2^-126 (x < -87.33) flush to 0, NaN stays NaN. About 3x the speed
 *                                   of wdn_math_exp_v: 2^f by a degree-5 Estrin polynomial (a short dependency
 *                                   chain: V8 does not interleave iterations, so latency, not op count, decides)
 *   wdn_math_sigmoid_v  1/(1+e^-x)  through wdn_math_exp_nonpos_v(-|x|): rel err <= ~1e-6 for |x| <= 20, outputs
 *                                   below 2^-126 flush to 0
 *   wdn_math_tanh_v / erf_v use wdn_math_exp_nonpos_v for their exp(-|.|) parts.
 *   wdn_math_erf_v      erf(x)      rel err <= ~3e-7 (odd polynomial for |x| < 0.6, else
 *                                   1 - exp(-x^2) R(1/(1+|x|)), coefficients fitted for this file)
 *   wdn_math_gelu_v     0.5 x (1 + erf(x / sqrt 2)), computed through erfc for x < 0 with an exact
 *                                   split of x^2, rel err <= ~1e-6 for x > -5, growing as 3e-8 x^2 below
 *                                   (exp_nonpos of -x^2/2; |gelu| < 1e-6 there), down to 2^-126
 *   wdn_math_pow_s      powf with C99/numpy special cases, computed in double (correctly rounded
 *                                   in practice)
 */
#ifndef WEBDNN_MATHFN_H
#define WEBDNN_MATHFN_H

#include <stdint.h>
#include <wasm_simd128.h>

#define WDN_MATH_INLINE static inline __attribute__((always_inline))
#define WDN_F(c) wasm_f32x4_splat(c)

/* Horner step: p * x + c */
#define WDN_MADD(p, x, c) wasm_f32x4_add(wasm_f32x4_mul((p), (x)), WDN_F(c))

WDN_MATH_INLINE v128_t wdn_math_exp_v(v128_t x) {
  const v128_t hi = WDN_F(88.72283935546875f);  /* largest x with finite expf (rounded down) */
  v128_t over = wasm_f32x4_gt(x, hi);
  v128_t xc = wasm_f32x4_max(wasm_f32x4_min(x, hi), WDN_F(-104.0f)); /* NaN stays NaN */
  v128_t n = wasm_f32x4_nearest(wasm_f32x4_mul(xc, WDN_F(1.44269504088896341f)));
  v128_t r = wasm_f32x4_sub(xc, wasm_f32x4_mul(n, WDN_F(0.693359375f)));
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(n, WDN_F(-2.12194440e-4f)));
  v128_t p = WDN_F(1.9875691500e-4f);
  p = WDN_MADD(p, r, 1.3981999507e-3f);
  p = WDN_MADD(p, r, 8.3334519073e-3f);
  p = WDN_MADD(p, r, 4.1665795894e-2f);
  p = WDN_MADD(p, r, 1.6666665459e-1f);
  p = WDN_MADD(p, r, 5.0000001201e-1f);
  p = wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(p, r), r), wasm_f32x4_add(r, WDN_F(1.0f)));
  /* 2^n in two factors (n in [-150, 128]) so that subnormal results round once */
  v128_t ni = wasm_i32x4_trunc_sat_f32x4(n);
  v128_t n1 = wasm_i32x4_shr(ni, 1);
  v128_t n2 = wasm_i32x4_sub(ni, n1);
  v128_t s1 = wasm_i32x4_shl(wasm_i32x4_add(n1, wasm_i32x4_splat(127)), 23);
  v128_t s2 = wasm_i32x4_shl(wasm_i32x4_add(n2, wasm_i32x4_splat(127)), 23);
  v128_t y = wasm_f32x4_mul(wasm_f32x4_mul(p, s1), s2);
  return wasm_v128_bitselect(WDN_F(__builtin_inff()), y, over);
}

WDN_MATH_INLINE v128_t wdn_math_log_v(v128_t x) {
  /* subnormal inputs: scale by 2^23 first */
  v128_t sub = wasm_f32x4_lt(x, WDN_F(1.17549435e-38f));
  v128_t xs = wasm_v128_bitselect(wasm_f32x4_mul(x, WDN_F(8388608.0f)), x, sub);
  v128_t eadj = wasm_v128_and(sub, WDN_F(23.0f));
  v128_t bits = xs;
  v128_t e = wasm_i32x4_sub(wasm_u32x4_shr(bits, 23), wasm_i32x4_splat(126));
  v128_t m = wasm_v128_or(wasm_v128_and(bits, wasm_i32x4_splat(0x007fffff)), wasm_i32x4_splat(0x3f000000));
  v128_t ef = wasm_f32x4_sub(wasm_f32x4_convert_i32x4(e), eadj);
  v128_t lo = wasm_f32x4_lt(m, WDN_F(0.707106781186547524f));
  ef = wasm_f32x4_sub(ef, wasm_v128_and(lo, WDN_F(1.0f)));
  m = wasm_f32x4_add(m, wasm_v128_and(lo, m));
  v128_t z = wasm_f32x4_sub(m, WDN_F(1.0f));
  v128_t p = WDN_F(7.0376836292e-2f);
  p = WDN_MADD(p, z, -1.1514610310e-1f);
  p = WDN_MADD(p, z, 1.1676998740e-1f);
  p = WDN_MADD(p, z, -1.2420140846e-1f);
  p = WDN_MADD(p, z, 1.4249322787e-1f);
  p = WDN_MADD(p, z, -1.6668057665e-1f);
  p = WDN_MADD(p, z, 2.0000714765e-1f);
  p = WDN_MADD(p, z, -2.4999993993e-1f);
  p = WDN_MADD(p, z, 3.3333331174e-1f);
  v128_t zz = wasm_f32x4_mul(z, z);
  v128_t y = wasm_f32x4_mul(wasm_f32x4_mul(p, z), zz);
  y = wasm_f32x4_add(y, wasm_f32x4_mul(ef, WDN_F(-2.12194440e-4f)));
  y = wasm_f32x4_sub(y, wasm_f32x4_mul(zz, WDN_F(0.5f)));
  y = wasm_f32x4_add(z, y);
  y = wasm_f32x4_add(y, wasm_f32x4_mul(ef, WDN_F(0.693359375f)));
  /* specials: x < 0 or NaN -> NaN, 0 -> -inf, +inf -> +inf */
  y = wasm_v128_bitselect(y, WDN_F(__builtin_nanf("")), wasm_f32x4_gt(x, WDN_F(0.0f)));
  y = wasm_v128_bitselect(WDN_F(-__builtin_inff()), y, wasm_f32x4_eq(x, WDN_F(0.0f)));
  y = wasm_v128_bitselect(WDN_F(__builtin_inff()), y, wasm_f32x4_eq(x, WDN_F(__builtin_inff())));
  return y;
}

/* exp(x), x <= 0: x log2(e) = n + f (n integer, |f| <= 1/2), 2^f by a minimax-fitted degree-5 polynomial
 * evaluated Estrin-style, 2^n by building the exponent bits from the magic-number rounding (x >= -87.33, so n
 * >= -126 and 2^n is normal). pmax is used for the clamp: f32x4.max's NaN/-0 rules cost V8 ~6 extra ops. */
WDN_MATH_INLINE v128_t wdn_math_exp_nonpos_v(v128_t x) {
  const v128_t lo = WDN_F(-87.33654f);
  v128_t tiny = wasm_f32x4_lt(x, lo);
  v128_t z = wasm_f32x4_mul(wasm_f32x4_pmax(x, lo), WDN_F(1.44269504088896341f));
  v128_t t = wasm_f32x4_add(z, WDN_F(12582912.0f)); /* 1.5 * 2^23: the low mantissa bits hold round(z) */
  v128_t f = wasm_f32x4_sub(z, wasm_f32x4_sub(t, WDN_F(12582912.0f)));
  v128_t f2 = wasm_f32x4_mul(f, f);
  v128_t a = WDN_MADD(f, WDN_F(0.6931469440460205f), 1.0000001192092896f);
  v128_t b = WDN_MADD(f, WDN_F(0.05550713092088699f), 0.24022120237350464f);
  v128_t c = WDN_MADD(f, WDN_F(0.001327647129073739f), 0.009675541892647743f);
  v128_t p = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_mul(b, f2), a), wasm_f32x4_mul(c, wasm_f32x4_mul(f2, f2)));
  v128_t scale = wasm_i32x4_add(wasm_i32x4_shl(t, 23), wasm_i32x4_splat(127 << 23));
  return wasm_v128_andnot(wasm_f32x4_mul(p, scale), tiny);
}

WDN_MATH_INLINE v128_t wdn_math_copysign_v(v128_t mag, v128_t sgn) {
  v128_t sm = wasm_i32x4_splat((int32_t)0x80000000);
  return wasm_v128_or(wasm_v128_andnot(mag, sm), wasm_v128_and(sgn, sm));
}

WDN_MATH_INLINE v128_t wdn_math_tanh_v(v128_t x) {
  v128_t a = wasm_f32x4_abs(x);
  v128_t z = wasm_f32x4_mul(x, x);
  v128_t p = WDN_F(-5.70498872745e-3f);
  p = WDN_MADD(p, z, 2.06390887954e-2f);
  p = WDN_MADD(p, z, -5.37397155531e-2f);
  p = WDN_MADD(p, z, 1.33314422036e-1f);
  p = WDN_MADD(p, z, -3.33332819422e-1f);
  v128_t small = wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(p, z), x), x);
  v128_t e = wdn_math_exp_nonpos_v(wasm_f32x4_mul(a, WDN_F(-2.0f))); /* exp(-2|x|): 0 for |x| > 43.7 */
  v128_t big = wasm_f32x4_div(wasm_f32x4_sub(WDN_F(1.0f), e), wasm_f32x4_add(WDN_F(1.0f), e));
  big = wdn_math_copysign_v(big, x);
  return wasm_v128_bitselect(small, big, wasm_f32x4_lt(a, WDN_F(0.625f)));
}

WDN_MATH_INLINE v128_t wdn_math_sigmoid_v(v128_t x) {
  /* e = exp(-|x|) (-|x| by setting the sign bit); x >= 0: 1 / (1 + e), else e / (1 + e). The sign test is an
   * integer compare so that NaN (positive bits) takes the first branch and stays NaN. */
  v128_t e = wdn_math_exp_nonpos_v(wasm_v128_or(x, wasm_i32x4_splat((int32_t)0x80000000)));
  v128_t s = wasm_f32x4_div(WDN_F(1.0f), wasm_f32x4_add(WDN_F(1.0f), e));
  return wasm_v128_bitselect(s, wasm_f32x4_mul(e, s), wasm_i32x4_gt(x, wasm_i32x4_splat(-1)));
}

/* Polynomials below are evaluated Estrin-style (pairs, then powers of the variable): the dependency chain is
 * about half of Horner's, and latency is what bounds these loops in V8 (see wdn_math_exp_nonpos_v). */
#define WDN_PAIR(lo, hi, x) WDN_MADD(WDN_F(hi), (x), lo) /* lo + hi x */

/* erf(t)/t = P(t^2) for |t| < 0.6 */
WDN_MATH_INLINE v128_t wdn_math_erf_small_v(v128_t t) {
  v128_t z = wasm_f32x4_mul(t, t), z2 = wasm_f32x4_mul(z, z);
  v128_t p01 = WDN_PAIR(1.128379226e+00f, -3.761263788e-01f, z);
  v128_t p23 = WDN_PAIR(1.128371730e-01f, -2.685736865e-02f, z);
  v128_t p45 = WDN_PAIR(5.176421255e-03f, -7.345753838e-04f, z);
  v128_t p = wasm_f32x4_add(wasm_f32x4_add(p01, wasm_f32x4_mul(z2, p23)), wasm_f32x4_mul(wasm_f32x4_mul(z2, z2), p45));
  return wasm_f32x4_mul(t, p);
}
/* R(t) = erfc(t) exp(t^2) for t >= 0.6, as a polynomial in v = 1 / (1 + t) */
WDN_MATH_INLINE v128_t wdn_math_erfcx_v(v128_t t) {
  v128_t v = wasm_f32x4_div(WDN_F(1.0f), wasm_f32x4_add(WDN_F(1.0f), t));
  v128_t v2 = wasm_f32x4_mul(v, v), v4 = wasm_f32x4_mul(v2, v2), v8 = wasm_f32x4_mul(v4, v4);
  v128_t p01 = WDN_PAIR(6.977993962e-06f, 5.638767481e-01f, v);
  v128_t p23 = WDN_PAIR(5.701344013e-01f, 2.194315940e-01f, v);
  v128_t p45 = WDN_PAIR(1.190953329e-01f, -2.294340849e+00f, v);
  v128_t p67 = WDN_PAIR(3.539125204e+00f, -2.128297567e+00f, v);
  v128_t p89 = WDN_PAIR(2.259986103e-01f, 1.925378293e-01f, v);
  v128_t lo = wasm_f32x4_add(p01, wasm_f32x4_mul(v2, p23));
  v128_t hi = wasm_f32x4_add(p45, wasm_f32x4_mul(v2, p67));
  return wasm_f32x4_add(wasm_f32x4_add(lo, wasm_f32x4_mul(v4, hi)), wasm_f32x4_mul(v8, p89));
}

WDN_MATH_INLINE v128_t wdn_math_erf_v(v128_t x) {
  v128_t a = wasm_f32x4_abs(x);
  v128_t small = wdn_math_erf_small_v(x);
  v128_t erfc = wasm_f32x4_mul(wdn_math_exp_nonpos_v(wasm_f32x4_neg(wasm_f32x4_mul(a, a))), wdn_math_erfcx_v(a));
  v128_t big = wdn_math_copysign_v(wasm_f32x4_sub(WDN_F(1.0f), erfc), x);
  return wasm_v128_bitselect(small, big, wasm_f32x4_lt(a, WDN_F(0.6f)));
}

/* exp(-x^2 / 2), accurate for large |x|: x = xh + xl with xh^2 exact */
WDN_MATH_INLINE v128_t wdn_math_exp_mhalfsq_v(v128_t a) {
  v128_t xh = wasm_v128_and(a, wasm_i32x4_splat((int32_t)0xfffff000));
  v128_t xl = wasm_f32x4_sub(a, xh);
  v128_t hi = wasm_f32x4_mul(wasm_f32x4_mul(xh, xh), WDN_F(0.5f));
  v128_t c = wasm_f32x4_neg(wasm_f32x4_mul(wasm_f32x4_mul(xl, wasm_f32x4_add(a, xh)), WDN_F(0.5f)));
  /* exp(c), |c| <= ~0.05: Taylor to degree 5 */
  v128_t q = WDN_F(1.0f / 120.0f);
  q = WDN_MADD(q, c, 1.0f / 24.0f);
  q = WDN_MADD(q, c, 1.0f / 6.0f);
  q = WDN_MADD(q, c, 0.5f);
  q = WDN_MADD(q, c, 1.0f);
  q = WDN_MADD(q, c, 1.0f);
  return wasm_f32x4_mul(wdn_math_exp_nonpos_v(wasm_f32x4_neg(hi)), q);
}

WDN_MATH_INLINE v128_t wdn_math_gelu_v(v128_t x) {
  v128_t a = wasm_f32x4_abs(x);
  v128_t t = wasm_f32x4_mul(a, WDN_F(0.70710678118654752f));
  v128_t ec_small = wasm_f32x4_sub(WDN_F(1.0f), wdn_math_erf_small_v(t));
  v128_t ec_big = wasm_f32x4_mul(wdn_math_exp_mhalfsq_v(a), wdn_math_erfcx_v(t));
  v128_t ec = wasm_v128_bitselect(ec_small, ec_big, wasm_f32x4_lt(t, WDN_F(0.6f))); /* erfc(|x|/sqrt2) */
  v128_t hx = wasm_f32x4_mul(x, WDN_F(0.5f));
  v128_t pos = wasm_f32x4_mul(hx, wasm_f32x4_sub(WDN_F(2.0f), ec));
  v128_t neg = wasm_f32x4_mul(hx, ec);
  return wasm_v128_bitselect(pos, neg, wasm_f32x4_ge(x, WDN_F(0.0f)));
}

#define WDN_MATH_SCALAR(name)                                                     \
  WDN_MATH_INLINE float name##_s(float x) {                                       \
    return wasm_f32x4_extract_lane(name##_v(wasm_f32x4_splat(x)), 0);             \
  }
WDN_MATH_SCALAR(wdn_math_exp)
WDN_MATH_SCALAR(wdn_math_log)
WDN_MATH_SCALAR(wdn_math_tanh)
WDN_MATH_SCALAR(wdn_math_sigmoid)
WDN_MATH_SCALAR(wdn_math_exp_nonpos)
WDN_MATH_SCALAR(wdn_math_erf)
WDN_MATH_SCALAR(wdn_math_gelu)
#undef WDN_MATH_SCALAR

/* ---- double precision helpers for pow ---- */
WDN_MATH_INLINE double wdn_math_log_d(double x) { /* x > 0, finite (normal double) */
  union { double d; uint64_t u; } b = {x};
  int e = (int)((b.u >> 52) & 0x7ff) - 1022;
  b.u = (b.u & 0x000fffffffffffffULL) | 0x3fe0000000000000ULL; /* m in [0.5, 1) */
  double m = b.d;
  if (m < 0.70710678118654752) { m += m; e -= 1; }
  double s = (m - 1.0) / (m + 1.0), s2 = s * s; /* |s| <= 0.1716 */
  double p = 1.0 / 23;
  p = p * s2 + 1.0 / 21; p = p * s2 + 1.0 / 19; p = p * s2 + 1.0 / 17; p = p * s2 + 1.0 / 15;
  p = p * s2 + 1.0 / 13; p = p * s2 + 1.0 / 11; p = p * s2 + 1.0 / 9;  p = p * s2 + 1.0 / 7;
  p = p * s2 + 1.0 / 5;  p = p * s2 + 1.0 / 3;  p = p * s2 + 1.0;
  return 2.0 * s * p + (double)e * 0.6931471805599453094;
}
WDN_MATH_INLINE double wdn_math_exp_d(double z) { /* z in [-200, 200] */
  double n = __builtin_nearbyint(z * 1.4426950408889634074);
  double r = z - n * 6.93147180369123816490e-01 - n * 1.90821492927058770002e-10;
  double p = 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0; p = p * r + 1.0 / 3628800.0; p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;    p = p * r + 1.0 / 5040.0;    p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;      p = p * r + 1.0 / 24.0;      p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;              p = p * r + 1.0;             p = p * r + 1.0;
  union { double d; uint64_t u; } s;
  s.u = (uint64_t)((int64_t)n + 1023) << 52;
  return p * s.d;
}
WDN_MATH_INLINE float wdn_math_pow_s(float x, float y) {
  if (y == 2.0f) return x * x;
  if (y == 1.0f) return x;
  if (y == 0.0f || x == 1.0f) return 1.0f;
  if (x != x || y != y) return x + y;
  float ay = __builtin_fabsf(y), ax = __builtin_fabsf(x);
  int yint = 0, yodd = 0;
  if (ay >= 16777216.0f) yint = 1; /* also inf: treated as even */
  else if ((float)(int)y == y) { yint = 1; yodd = ((int)y) & 1; }
  const float inf = __builtin_inff();
  if (ay == inf) {
    if (ax == 1.0f) return 1.0f;
    return (ax < 1.0f) == (y > 0) ? 0.0f : inf;
  }
  int neg = __builtin_signbit(x) != 0;
  if (x == 0.0f || ax == inf) {
    int big = (x == 0.0f) ? (y < 0) : (y > 0);
    float r = big ? inf : 0.0f;
    return (neg && yodd) ? -r : r;
  }
  if (x < 0 && !yint) return __builtin_nanf("");
  double z = (double)y * wdn_math_log_d((double)ax);
  float r;
  if (z > 200.0) r = inf;
  else if (z < -200.0) r = 0.0f;
  else r = (float)wdn_math_exp_d(z);
  return (x < 0 && yodd) ? -r : r;
}

#undef WDN_PAIR
#undef WDN_MADD
#undef WDN_F
#endif
