/* webdnn-build wasm kernels on every numeric dtype the js backend stores (kernels_num.h), with the js kernels'
 * results (cast.js, elementwise.js, indexing.js, misc.js, normalization.js, util.js): Cast, broadcasting binary
 * ops, unary math (trigonometry in double with an exact argument reduction), the scatter family, OneHot, Compress,
 * NonZero, Unique, Tile, and ops with operands computed at run time (BatchNormalization statistics, Det, Col2Im,
 * ReverseSequence, MaxUnpool, Dropout's training check).
 *
 * One scalar code path per element: values are loaded as a double (float dtypes) or as a 64-bit integer
 * (sign- or zero-extended), combined, and stored converted to the output dtype. These dtypes are rare in
 * models (int8..uint64 index math, float64 / float16 tensors), so the kernels favour small code over speed.
 * Results never depend on the thread split: every element is computed by the same code, and order-dependent
 * updates (scatters, Unique) run in the js kernels' order on one thread or on disjoint parts.
 */
#include "kernels.h"
#include "internal.h"
#include "mathfn.h"

typedef union { double d; uint64_t u; } f64bits;

static inline int is_float_dt(int dt) { return dt == WDN_DT_F32 || dt == WDN_DT_F64 || dt == WDN_DT_F16 || dt == WDN_DT_BF16; }
static inline int elem_bytes(int dt) {
  switch (dt) {
    case WDN_DT_U8: case WDN_DT_I8: case WDN_DT_BOOL: return 1;
    case WDN_DT_I16: case WDN_DT_U16: return 2;
    case WDN_DT_I64: case WDN_DT_U64: case WDN_DT_F64: return 8;
    default: return 4;
  }
}

static inline double ld_f(const void* p, int64_t i, int dt) {
  return dt == WDN_DT_F64 ? ((const double*)p)[i] : (double)((const float*)p)[i];
}
static inline int64_t ld_i(const void* p, int64_t i, int dt) {
  switch (dt) {
    case WDN_DT_I8: return ((const int8_t*)p)[i];
    case WDN_DT_U8: case WDN_DT_BOOL: return ((const uint8_t*)p)[i];
    case WDN_DT_I16: return ((const int16_t*)p)[i];
    case WDN_DT_U16: return ((const uint16_t*)p)[i];
    case WDN_DT_I32: return ((const int32_t*)p)[i];
    case WDN_DT_U32: return ((const uint32_t*)p)[i];
    default: return ((const int64_t*)p)[i];
  }
}
/* an integer element as the js kernels' Number(v) (uint64: unsigned) */
static inline double int_to_d(int64_t v, int dt) { return dt == WDN_DT_U64 ? (double)(uint64_t)v : (double)v; }

static inline void st_i(void* p, int64_t i, int dt, uint64_t v) {
  switch (elem_bytes(dt)) {
    case 1: ((uint8_t*)p)[i] = (uint8_t)v; break;
    case 2: ((uint16_t*)p)[i] = (uint16_t)v; break;
    case 4: ((uint32_t*)p)[i] = (uint32_t)v; break;
    default: ((uint64_t*)p)[i] = v; break;
  }
}

/* x rounded half to even to a binary format with `mb` stored mantissa bits and exponents [emin, emax]
 * (float16: 10, -14, 15; bfloat16: 7, -126, 127), from the exact double (no double rounding) */
static double round_format(double x, int mb, int emin, int emax) {
  f64bits b = {x};
  const uint64_t sign = b.u & 0x8000000000000000ULL, ab = b.u & ~0x8000000000000000ULL;
  if (ab >= 0x7ff0000000000000ULL || ab == 0) return x; /* inf, NaN, +-0 */
  const int e = (int)(ab >> 52) - 1023;
  f64bits r;
  if (e > emax) {
    r.u = 0x7ff0000000000000ULL;
  } else if (e < emin - mb - 1) {
    r.u = 0; /* below half the smallest subnormal */
  } else {
    const uint64_t m = (e == -1023 ? 0 : (1ULL << 52)) | (ab & 0x000fffffffffffffULL);
    const int q = (e > emin ? e : emin) - mb; /* exponent of the result's ulp */
    const int s = q - (e - 52);               /* bits dropped from m: 52 - mb .. 53 */
    uint64_t k = s >= 64 ? 0 : m >> s;
    const uint64_t rem = s >= 64 ? m : m & ((1ULL << s) - 1), half = 1ULL << (s - 1);
    if (rem > half || (rem == half && (k & 1))) k++;
    f64bits scale;
    scale.u = (uint64_t)(q + 1023) << 52;
    double v = (double)k * scale.d;
    f64bits lim;
    lim.u = (uint64_t)(emax + 1 + 1023) << 52; /* 2^(emax+1): the rounding overflowed */
    r.d = v >= lim.d ? __builtin_inf() : v;
  }
  r.u |= sign;
  return r.d;
}
static inline double round_f16(double x) { return round_format(x, 10, -14, 15); }
static inline double round_bf16(double x) { return round_format(x, 7, -126, 127); }

/* store a double result of a float op: float32 / float64 as typed-array stores; float16 / bfloat16 are first
 * stored as float32 and then rounded (the js kernels' roundToDtype) */
static inline void st_f_op(void* p, int64_t i, int dt, double v) {
  if (dt == WDN_DT_F64) { ((double*)p)[i] = v; return; }
  float f = (float)v;
  if (dt == WDN_DT_F16) f = (float)round_f16((double)f);
  else if (dt == WDN_DT_BF16) f = (float)round_bf16((double)f);
  ((float*)p)[i] = f;
}
/* store a double as Cast does: float16 / bfloat16 rounded from the exact value */
static inline void st_f_cast(void* p, int64_t i, int dt, double v) {
  if (dt == WDN_DT_F64) ((double*)p)[i] = v;
  else if (dt == WDN_DT_F16) ((float*)p)[i] = (float)round_f16(v);
  else if (dt == WDN_DT_BF16) ((float*)p)[i] = (float)round_bf16(v);
  else ((float*)p)[i] = (float)v;
}

static inline int finite_d(double v) { return v - v == 0.0; }
/* finite v truncated toward zero, modulo 2^64 */
static uint64_t wrap64_d(double v) {
  if (v >= -9223372036854775808.0 && v < 9223372036854775808.0) return (uint64_t)(int64_t)v;
  f64bits b = {v};
  const int e = (int)((b.u >> 52) & 0x7ff) - 1075; /* >= 11 here */
  const uint64_t m = (b.u & 0x000fffffffffffffULL) | (1ULL << 52);
  uint64_t r = e >= 64 ? 0 : m << e;
  return (b.u >> 63) ? 0 - r : r;
}
/* a float value stored to an integer dtype: typed-array conversion (NaN / Inf -> 0), or floatToBigInt for
 * 64-bit integers (NaN / Inf -> INT64_MIN) */
static inline uint64_t float_to_int_bits(double v, int to) {
  if (!finite_d(v)) return (to == WDN_DT_I64 || to == WDN_DT_U64) ? 0x8000000000000000ULL : 0;
  return wrap64_d(v);
}

/* ======================================================================================== Cast */

void wdn_cast_any(int from, int to, int64_t count, const void* x, void* y, int tid, int nth) {
  int64_t lo, hi;
  wdn_split_blocks(count, 64, tid, nth, &lo, &hi);
  const int ff = is_float_dt(from), tf = is_float_dt(to);
  WDN_SCALAR_LOOP
  for (int64_t i = lo; i < hi; i++) {
    if (to == WDN_DT_BOOL) {
      ((uint8_t*)y)[i] = ff ? ld_f(x, i, from) != 0.0 : ld_i(x, i, from) != 0;
    } else if (tf) {
      st_f_cast(y, i, to, ff ? ld_f(x, i, from) : int_to_d(ld_i(x, i, from), from));
    } else {
      st_i(y, i, to, ff ? float_to_int_bits(ld_f(x, i, from), to) : (uint64_t)ld_i(x, i, from));
    }
  }
}

/* ============================================================================= float helpers */

/* x - trunc(x / y) * y, exact (the js % on doubles): long division of the mantissas */
static double fmod_d(double x, double y) {
  f64bits bx = {x}, by = {y};
  const uint64_t sx = bx.u & 0x8000000000000000ULL;
  const uint64_t ax = bx.u & ~0x8000000000000000ULL, ay = by.u & ~0x8000000000000000ULL;
  if (ay == 0 || ay > 0x7ff0000000000000ULL || ax >= 0x7ff0000000000000ULL) return __builtin_nan("");
  if (ax < ay) return x; /* also |y| = inf */
  if (ax == ay) return sx ? -0.0 : 0.0;
  int ex = (int)(ax >> 52), ey = (int)(ay >> 52);
  uint64_t mx = ax & 0x000fffffffffffffULL, my = ay & 0x000fffffffffffffULL;
  /* normalize to a leading bit at 52 (subnormals: shift up, lowering the exponent) */
  if (ex == 0) { ex = 1; while (!(mx >> 52)) { mx <<= 1; ex--; } } else mx |= 1ULL << 52;
  if (ey == 0) { ey = 1; while (!(my >> 52)) { my <<= 1; ey--; } } else my |= 1ULL << 52;
  /* mx * 2^ex mod my * 2^ey: one bit of the quotient per step */
  for (; ex > ey; ex--) {
    if (mx >= my) mx -= my;
    mx <<= 1;
  }
  if (mx >= my) mx -= my;
  if (mx == 0) return sx ? -0.0 : 0.0;
  while (!(mx >> 52)) { mx <<= 1; ex--; }
  f64bits r;
  if (ex > 0) r.u = ((uint64_t)ex << 52) | (mx & 0x000fffffffffffffULL);
  else r.u = mx >> (1 - ex); /* subnormal result: exact (it is a multiple of y's ulp... of x's) */
  r.u |= sx;
  return r.d;
}

static inline double max_js(double a, double b) {
  if (a != a || b != b) return __builtin_nan("");
  if (a == b) return __builtin_signbit(a) ? b : a;
  return a > b ? a : b;
}
static inline double min_js(double a, double b) {
  if (a != a || b != b) return __builtin_nan("");
  if (a == b) return __builtin_signbit(a) ? a : b;
  return a < b ? a : b;
}

/* Math.pow in double (JS special cases: y NaN -> NaN, y = 0 -> 1, |x| = 1 and |y| = inf -> NaN).
 * Integral exponents up to 64 by squaring (exact while the result is an integer below 2^53), others
 * through exp(y log |x|). */
static double pow_js(double x, double y) {
  if (y != y) return y;
  if (y == 0.0) return 1.0;
  if (x != x) return x;
  const double ax = __builtin_fabs(x), ay = __builtin_fabs(y), inf = __builtin_inf();
  int yint = 0, yodd = 0;
  if (ay >= 9007199254740992.0) yint = 1; /* also inf: even */
  else if (__builtin_trunc(y) == y) { yint = 1; yodd = (int)((int64_t)y & 1); }
  if (ay == inf) {
    if (ax == 1.0) return __builtin_nan("");
    return (ax < 1.0) == (y > 0) ? 0.0 : inf;
  }
  const int neg = __builtin_signbit(x) != 0;
  if (x == 0.0 || ax == inf) {
    int big = x == 0.0 ? y < 0 : y > 0;
    double r = big ? inf : 0.0;
    return neg && yodd ? -r : r;
  }
  if (x < 0 && !yint) return __builtin_nan("");
  double r;
  if (yint && ay <= 64.0) {
    uint64_t e = (uint64_t)ay;
    double b = ax;
    r = 1.0;
    for (; e; e >>= 1) {
      if (e & 1) r *= b;
      b *= b;
    }
    if (y < 0) r = 1.0 / r;
  } else {
    /* |x| normal here except subnormals: scale them up first */
    double lx, sc = 0.0;
    double axn = ax;
    if (axn < 2.2250738585072014e-308) { axn *= 18014398509481984.0; sc = -54.0 * 0.6931471805599453094; }
    lx = wdn_math_log_d(axn) + sc;
    double z = y * lx;
    if (z > 709.8) r = inf;
    else if (z < -745.2) r = 0.0;
    else if (z < -700.0) r = wdn_math_exp_d(z + 64.0 * 0.6931471805599453094) * 5.421010862427522e-20; /* 2^-64 */
    else if (z > 700.0) r = wdn_math_exp_d(z - 64.0 * 0.6931471805599453094) * 18446744073709551616.0;
    else r = wdn_math_exp_d(z);
  }
  return neg && yodd ? -r : r;
}

/* js intPow (<= 32-bit bases: the exponent is a double, halved as one) and bigPow (64-bit bases), wrapping */
static uint64_t int_pow(int64_t base, int base_dt, int64_t ev, int exp_dt) {
  const int e_neg = exp_dt != WDN_DT_U64 && ev < 0;
  if (e_neg) {
    if (base == 1) return 1;
    if (base == -1 && base_dt != WDN_DT_U64) {
      int odd = (int)(ev & 1);
      if (elem_bytes(base_dt) < 8 && elem_bytes(exp_dt) == 8) { /* the parity of Number(exponent) */
        const double e = int_to_d(ev, exp_dt);
        odd = e - 2.0 * __builtin_floor(e * 0.5) != 0.0;
      }
      return odd ? (uint64_t)-1 : 1;
    }
    return 0;
  }
  uint64_t r = 1, b = (uint64_t)base;
  if (elem_bytes(base_dt) < 8 && elem_bytes(exp_dt) == 8) {
    /* Number(bigint exponent): rounded to a double, then halved as a double */
    double e = int_to_d(ev, exp_dt);
    while (e > 0) {
      double h = __builtin_floor(e * 0.5);
      if (e - 2.0 * h != 0.0) r *= b;
      b *= b;
      e = h;
    }
    return r;
  }
  for (uint64_t e = (uint64_t)ev; e; e >>= 1) {
    if (e & 1) r *= b;
    b *= b;
  }
  return r;
}

/* ====================================================================== broadcasting binary */

static void binary_elem(const wdn_any_binary_params* p, int64_t ia, int64_t ib, int64_t iy) {
  const int op = p->op, da = p->dt_a, db = p->dt_b, dy = p->dt_y;
  if (op == WDN_BIN_POW) {
    if (is_float_dt(da)) {
      double b = is_float_dt(db) ? ld_f(p->b, ib, db) : int_to_d(ld_i(p->b, ib, db), db);
      st_f_op(p->y, iy, dy, pow_js(ld_f(p->a, ia, da), b));
    } else if (is_float_dt(db)) {
      double r = pow_js(int_to_d(ld_i(p->a, ia, da), da), ld_f(p->b, ib, db));
      st_i(p->y, iy, dy, float_to_int_bits(r, dy));
    } else {
      st_i(p->y, iy, dy, int_pow(ld_i(p->a, ia, da), da, ld_i(p->b, ib, db), db));
    }
    return;
  }
  if (is_float_dt(da)) {
    const double a = ld_f(p->a, ia, da), b = ld_f(p->b, ib, db);
    double r;
    switch (op) {
      case WDN_CMP_EQ: ((uint8_t*)p->y)[iy] = a == b; return;
      case WDN_CMP_LT: ((uint8_t*)p->y)[iy] = a < b; return;
      case WDN_CMP_GT: ((uint8_t*)p->y)[iy] = a > b; return;
      case WDN_BIN_ADD: r = a + b; break;
      case WDN_BIN_SUB: r = a - b; break;
      case WDN_BIN_MUL: r = a * b; break;
      case WDN_BIN_DIV: r = a / b; break;
      case WDN_BIN_MAX: r = max_js(a, b); break;
      case WDN_BIN_MIN: r = min_js(a, b); break;
      case WDN_NB_FMOD: r = fmod_d(a, b); break;
      case WDN_NB_MOD:
        r = fmod_d(a, b);
        if (r != 0.0 && (r < 0) != (b < 0)) r += b;
        break;
      default: return;
    }
    st_f_op(p->y, iy, dy, r);
    return;
  }
  const int64_t a = ld_i(p->a, ia, da), b = ld_i(p->b, ib, db);
  const int u64 = da == WDN_DT_U64;
  const uint64_t ua = (uint64_t)a, ub = (uint64_t)b;
  uint64_t r;
  switch (op) {
    case WDN_CMP_EQ: ((uint8_t*)p->y)[iy] = a == b; return;
    case WDN_CMP_LT: ((uint8_t*)p->y)[iy] = u64 ? ua < ub : a < b; return;
    case WDN_CMP_GT: ((uint8_t*)p->y)[iy] = u64 ? ua > ub : a > b; return;
    case WDN_BIN_ADD: r = ua + ub; break;
    case WDN_BIN_SUB: r = ua - ub; break;
    case WDN_BIN_MUL: r = ua * ub; break;
    case WDN_BIN_MAX: r = (u64 ? ua > ub : a > b) ? ua : ub; break;
    case WDN_BIN_MIN: r = (u64 ? ua < ub : a < b) ? ua : ub; break;
    case WDN_BIN_DIV:
      if (b == 0) r = 0;
      else if (u64) r = ua / ub;
      else if (b == -1) r = 0 - ua; /* wraps (INT_MIN / -1) */
      else r = (uint64_t)(a / b);
      break;
    case WDN_NB_MOD:
    case WDN_NB_FMOD:
      if (b == 0) r = 0;
      else if (u64) r = ua % ub;
      else if (b == -1) r = 0;
      else {
        int64_t m = a % b;
        if (op == WDN_NB_MOD && m != 0 && ((m < 0) != (b < 0))) m += b;
        r = (uint64_t)m;
      }
      break;
    default: return;
  }
  st_i(p->y, iy, dy, r);
}

void wdn_binary_any(const wdn_any_binary_params* p, int tid, int nth) {
  if (p->rank < 1 || p->rank > 6) return;
  int64_t total = 1;
  for (int d = 0; d < p->rank; d++) total *= p->shape[d];
  int64_t lo, hi;
  wdn_split_blocks(total, 64, tid, nth, &lo, &hi);
  if (lo >= hi) return;
  const int* strides[2] = {p->stride_a, p->stride_b};
  const int r = p->rank - 1;
  const int64_t sa = p->stride_a[r], sb = p->stride_b[r];
  wdn_nd_iter it;
  wdn_nd_first(&it, p->rank, p->shape, 2, strides, lo);
  for (int64_t pos = lo; pos < hi;) {
    int64_t n = p->shape[r] - it.idx[r];
    if (n > hi - pos) n = hi - pos;
    const int64_t oa = it.off[0], ob = it.off[1];
    WDN_SCALAR_LOOP
    for (int64_t j = 0; j < n; j++) binary_elem(p, oa + j * sa, ob + j * sb, pos + j);
    pos += n;
    if (pos < hi) wdn_nd_next(&it, p->shape, strides, n);
  }
}

/* ============================================================================== unary math */

/* 2/pi, 384 bits, for the reduction of huge float32 arguments */
static const uint32_t TWO_OVER_PI[12] = {
    0xa2f9836eu, 0x4e441529u, 0xfc2757d1u, 0xf534ddc0u, 0xdb629599u, 0x3c439041u,
    0xfe5163abu, 0xdebbc561u, 0xb7246e3au, 0x424dd2e0u, 0x06492eeau, 0x09d1921cu};
#define PIO2 0x1.921fb54442d18p+0
#define PIO2_1 0x1.921fb54400000p+0  /* pi/2 = PIO2_1 + PIO2_2 + PIO2_3: 33 + 33 + 53 bits */
#define PIO2_2 0x1.0b4611a600000p-34
#define PIO2_3 0x1.3198a2e037073p-69

/* bit i (0 = the first fraction bit) of 2/pi, 32 bits from there */
static inline uint32_t two_over_pi_bits(int i) {
  const int w = i >> 5, s = i & 31;
  uint32_t hi = TWO_OVER_PI[w], lo = w + 1 < 12 ? TWO_OVER_PI[w + 1] : 0;
  return s ? (hi << s) | (lo >> (32 - s)) : hi;
}

/* x = q * pi/2 + r, |r| <= ~pi/4; returns r, *q = quadrant (mod 4). For a float32 value x (any magnitude)
 * or a double below 2^19. */
static double reduce_pio2(double x, int* q) {
  const double ax = __builtin_fabs(x);
  if (ax < 524288.0) { /* 2^19: k < 2^19, k * PIO2_1 and k * PIO2_2 exact */
    double k = __builtin_nearbyint(x * 0x1.45f306dc9c883p-1);
    *q = (int)((int64_t)k & 3);
    return ((x - k * PIO2_1) - k * PIO2_2) - k * PIO2_3;
  }
  /* a float32 value m * 2^e (m < 2^24): x * 2/pi mod 4 from a 128-bit window of 2/pi's bits */
  f64bits b = {ax};
  const int e = (int)((b.u >> 52) & 0x7ff) - 1075 + 29; /* x = m * 2^e with m = mantissa >> 29 */
  const uint64_t m = ((b.u & 0x000fffffffffffffULL) | (1ULL << 52)) >> 29;
  /* skip the bits of 2/pi that only add multiples of 4: bit j (weight 2^-(j+1)) times 2^e, e - j - 1 >= 2 */
  const int skip = e - 2 > 0 ? e - 2 : 0;
  uint32_t g[4];
  for (int k = 0; k < 4; k++) g[k] = two_over_pi_bits(skip + 32 * k);
  /* prod = m * g (five 32-bit words, big-endian), value = prod * 2^(e - skip - 128) */
  uint32_t prod[5];
  uint64_t carry = 0;
  for (int k = 3; k >= 0; k--) {
    uint64_t t = (uint64_t)g[k] * m + carry;
    prod[k + 1] = (uint32_t)t;
    carry = t >> 32;
  }
  prod[0] = (uint32_t)carry;
  /* the binary point lies `shift` bits above the bottom of prod (160 bits) */
  const int shift = 128 + skip - e; /* 126 .. 133 */
  const int top = 160 - shift;      /* bits of prod above the point (27 .. 34): the low two are the quadrant */
  /* quadrant: bits [top - 2, top) from the top; fraction: the next 96 bits */
  uint64_t words[6];
  for (int k = 0; k < 5; k++) words[k] = prod[k];
  words[5] = 0;
  /* read 64 bits starting at bit position pos (0 = the top of prod) */
#define BITS64(pos) ((((words[(pos) >> 5] << 32) | words[((pos) >> 5) + 1]) << ((pos) & 31)) | \
                     (((pos) & 31) ? (words[((pos) >> 5) + 2 < 6 ? ((pos) >> 5) + 2 : 5] >> (32 - ((pos) & 31))) : 0))
  const uint64_t qbits = BITS64(top - 2) >> 62;
  uint64_t fh = BITS64(top);
  uint64_t fl = top + 64 < 160 ? (BITS64(top + 64) >> 32) : 0;
#undef BITS64
  int quad = (int)qbits;
  double sign = 1.0;
  if (fh >> 63) { /* fraction >= 1/2: round to the next quadrant, r = -(1 - fraction) */
    quad += 1;
    sign = -1.0;
    const uint64_t nl = (0 - fl) & 0xffffffffULL;
    fh = ~fh + (fl == 0 ? 1 : 0);
    fl = nl;
  }
  const double f = (double)fh * 0x1p-64 + (double)fl * 0x1p-96;
  double r = sign * f * PIO2;
  if (x < 0) { r = -r; quad = -quad; }
  *q = quad & 3;
  return r;
}

/* Taylor series on |r| <= ~pi/4 (degree 21 / 22: truncation below 1e-24). One table per parity, shared by
 * sin / sinh: Horner at -z gives the alternating series exactly (negation is exact in every step). */
static const double INV_ODD_FACT[10] = {     /* 1/21!, 1/19!, .., 1/3! */
    1.0 / 51090942171709440000.0, 1.0 / 121645100408832000.0, 1.0 / 355687428096000.0, 1.0 / 1307674368000.0,
    1.0 / 6227020800.0, 1.0 / 39916800.0, 1.0 / 362880.0, 1.0 / 5040.0, 1.0 / 120.0, 1.0 / 6.0};
static const double INV_EVEN_FACT[11] = {    /* 1/22!, 1/20!, .., 1/2! */
    1.0 / 1124000727777607680000.0, 1.0 / 2432902008176640000.0, 1.0 / 6402373705728000.0,
    1.0 / 20922789888000.0, 1.0 / 87178291200.0, 1.0 / 479001600.0, 1.0 / 3628800.0, 1.0 / 40320.0, 1.0 / 720.0,
    1.0 / 24.0, 0.5};
static inline double horner(const double* c, int n, double z) {
  double p = c[0];
  for (int i = 1; i < n; i++) p = p * z + c[i];
  return p;
}
static double sin_k(double r) {
  const double z = r * r;
  return r - r * z * horner(INV_ODD_FACT, 10, -z);
}
static double cos_k(double r) {
  const double z = r * r;
  return 1.0 - z * horner(INV_EVEN_FACT, 11, -z);
}

/* atan on [0, inf] */
static double atan_pos(double t) {
  int inv = 0, shifted = 0;
  if (t > 1.0) { t = 1.0 / t; inv = 1; }
  if (t > 0.2679491924311227) { /* tan(pi/12): atan t = pi/6 + atan((t sqrt3 - 1) / (sqrt3 + t)) */
    const double s3 = 0x1.bb67ae8584caap+0;
    t = (t * s3 - 1.0) / (s3 + t);
    shifted = 1;
  }
  /* |t| <= tan(pi/12): atan t = t - t^3 P(t^2), P = sum_i (-1)^i z^i / (2i + 3) to i = 14 (truncation below
   * 1e-18 relative) */
  const double z = t * t;
  double p = 0.0;
  for (int i = 14; i >= 0; i--) p = ((i & 1) ? -1.0 : 1.0) / (double)(2 * i + 3) + z * p;
  double r = t - t * z * p;
  if (shifted) r += 0x1.0c152382d7366p-1; /* pi/6 */
  if (inv) r = PIO2 - r;
  return r;
}

static inline double log_pos(double x) { return wdn_math_log_d(x); } /* x normal, > 0 */
/* log(1 + u), u > -1, accurate for small u */
static double log1p_d(double u) {
  const double w = 1.0 + u;
  if (w == 1.0) return u;
  return log_pos(w) - ((w - 1.0) - u) / w;
}
static double exp_big(double z) { /* exp(z), z in [-745, 710] */
  if (z > 709.8) return __builtin_inf();
  if (z < -745.2) return 0.0;
  if (z > 700.0) return wdn_math_exp_d(z - 64.0 * 0.6931471805599453094) * 18446744073709551616.0;
  if (z < -700.0) return wdn_math_exp_d(z + 64.0 * 0.6931471805599453094) * 5.421010862427522e-20;
  return wdn_math_exp_d(z);
}

static double unary_d(int op, double x, double alpha) {
  const double ax = __builtin_fabs(x), inf = __builtin_inf(), nan = __builtin_nan("");
  if (x != x) return x;
  switch (op) {
    case WDN_NU_SIN:
    case WDN_NU_COS:
    case WDN_NU_TAN: {
      if (ax == inf) return nan;
      if (x == 0.0 && op != WDN_NU_COS) return x;
      int q;
      const double r = reduce_pio2(x, &q);
      if (op == WDN_NU_TAN) {
        const double s = sin_k(r), c = cos_k(r);
        return (q & 1) ? -c / s : s / c;
      }
      const int qq = op == WDN_NU_COS ? (q + 1) & 3 : q;
      switch (qq) {
        case 0: return sin_k(r);
        case 1: return cos_k(r);
        case 2: return -sin_k(r);
        default: return -cos_k(r);
      }
    }
    case WDN_NU_ASIN: {
      if (ax > 1.0) return nan;
      if (ax == 1.0) return x > 0 ? PIO2 : -PIO2;
      if (x == 0.0) return x;
      const double r = atan_pos(ax / __builtin_sqrt((1.0 - ax) * (1.0 + ax)));
      return x < 0 ? -r : r;
    }
    case WDN_NU_ACOS: {
      if (ax > 1.0) return nan;
      return 2.0 * atan_pos(__builtin_sqrt((1.0 - x) / (1.0 + x)));
    }
    case WDN_NU_ATAN: {
      if (x == 0.0) return x;
      const double r = ax == inf ? PIO2 : atan_pos(ax);
      return x < 0 ? -r : r;
    }
    case WDN_NU_SINH: {
      if (x == 0.0 || ax == inf) return x;
      double r;
      if (ax < 1.0) {
        const double z = x * x;
        return x + x * z * horner(INV_ODD_FACT, 10, z);
      }
      if (ax > 710.0) r = inf;
      else if (ax > 700.0) r = 0.5 * exp_big(ax);
      else { const double e = exp_big(ax); r = 0.5 * (e - 1.0 / e); }
      return x < 0 ? -r : r;
    }
    case WDN_NU_COSH: {
      if (ax == inf) return inf;
      if (ax > 710.0) return inf;
      if (ax > 700.0) return 0.5 * exp_big(ax);
      const double e = exp_big(ax);
      return 0.5 * (e + 1.0 / e);
    }
    case WDN_NU_ASINH: {
      if (x == 0.0 || ax == inf) return x;
      double r;
      if (ax < 0.125) {
        /* asinh t = t - t^3/6 + 3 t^5/40 - ...: coefficient ratio -(2k-1)^2 / (2k (2k+1)) */
        const double z = x * x;
        double term = ax, sum = ax;
        for (int k = 1; k < 12; k++) {
          term *= -z * (double)((2 * k - 1) * (2 * k - 1)) / (double)((2 * k) * (2 * k + 1));
          sum += term;
        }
        r = sum;
      } else if (ax > 268435456.0) {
        r = log_pos(ax) + 0.6931471805599453094;
      } else {
        r = log1p_d(ax + ax * ax / (1.0 + __builtin_sqrt(1.0 + ax * ax)));
      }
      return x < 0 ? -r : r;
    }
    case WDN_NU_ACOSH: {
      if (x < 1.0) return nan;
      if (x == inf) return inf;
      if (x > 268435456.0) return log_pos(x) + 0.6931471805599453094;
      const double d = x - 1.0;
      return log1p_d(d + __builtin_sqrt(d * (x + 1.0)));
    }
    case WDN_NU_ATANH: {
      if (ax > 1.0) return nan;
      if (ax == 1.0) return x > 0 ? inf : -inf;
      if (x == 0.0) return x;
      const double r = 0.5 * log1p_d(2.0 * ax / (1.0 - ax));
      return x < 0 ? -r : r;
    }
    case WDN_NU_ELU: return x < 0 ? alpha * (exp_big(x) - 1.0) : x;
    case WDN_NU_NEG: return -x;
    case WDN_NU_ABS: return ax;
    case WDN_NU_SIGN: return x > 0 ? 1.0 : x < 0 ? -1.0 : x;
    case WDN_NU_SQRT: return __builtin_sqrt(x);
    case WDN_NU_EXP: return ax == inf ? (x > 0 ? inf : 0.0) : exp_big(x);
    case WDN_NU_LOG:
      if (x < 0) return nan;
      if (x == 0) return -inf;
      if (x == inf) return inf;
      if (x < 2.2250738585072014e-308) return log_pos(x * 18014398509481984.0) - 54.0 * 0.6931471805599453094;
      return log_pos(x);
    case WDN_NU_RECIPROCAL: return 1.0 / x;
    case WDN_NU_FLOOR: return __builtin_floor(x);
    case WDN_NU_CEIL: return __builtin_ceil(x);
    case WDN_NU_ROUND: return __builtin_nearbyint(x);
    default: return nan;
  }
}

void wdn_unary_any(int op, int dt, int64_t count, const void* x, void* y, double a, int tid, int nth) {
  int64_t lo, hi;
  wdn_split_blocks(count, 64, tid, nth, &lo, &hi);
  if (!is_float_dt(dt)) { /* Neg / Abs / Sign on integers: wrapping (Math.abs / -v stored to the typed array) */
    WDN_SCALAR_LOOP
    for (int64_t i = lo; i < hi; i++) {
      const int64_t v = ld_i(x, i, dt);
      const int neg = dt != WDN_DT_U64 && v < 0;
      uint64_t r;
      if (op == WDN_NU_NEG) r = 0 - (uint64_t)v;
      else if (op == WDN_NU_ABS) r = neg ? 0 - (uint64_t)v : (uint64_t)v;
      else r = neg ? (uint64_t)-1 : v != 0;
      st_i(y, i, dt, r);
    }
    return;
  }
  WDN_SCALAR_LOOP
  for (int64_t i = lo; i < hi; i++) {
    const double v = ld_f(x, i, dt);
    switch (op) {
      case WDN_NU_ISNAN: ((uint8_t*)y)[i] = v != v; break;
      case WDN_NU_ISINF: ((uint8_t*)y)[i] = __builtin_fabs(v) == __builtin_inf(); break;
      case WDN_NU_ISPOSINF: ((uint8_t*)y)[i] = v == __builtin_inf(); break;
      case WDN_NU_ISNEGINF: ((uint8_t*)y)[i] = v == -__builtin_inf(); break;
      default: st_f_op(y, i, dt, unary_d(op, v, a)); break;
    }
  }
}

/* ============================================================================ scatter family */

static inline int64_t rd_index(const void* p, int i64, int64_t i) {
  return i64 ? ((const int64_t*)p)[i] : (int64_t)((const int32_t*)p)[i];
}

/* y[i] = reduce(y[i], u[j]) as indexing.js's reducer */
static void scatter_apply(void* y, int64_t i, const void* u, int64_t j, int dt, int red) {
  if (red == WDN_SCR_NONE) {
    const int e = elem_bytes(dt);
    __builtin_memcpy((uint8_t*)y + i * e, (const uint8_t*)u + j * e, (size_t)e);
    return;
  }
  if (is_float_dt(dt)) {
    const double a = ld_f(y, i, dt), b = ld_f(u, j, dt);
    double r;
    switch (red) {
      case WDN_SCR_ADD: r = a + b; break;
      case WDN_SCR_MUL: r = a * b; break;
      case WDN_SCR_MAX: r = b > a ? b : a; break;
      default: r = b < a ? b : a; break;
    }
    st_f_cast(y, i, dt, r);
    return;
  }
  const int64_t a = ld_i(y, i, dt), b = ld_i(u, j, dt);
  const int u64 = dt == WDN_DT_U64;
  uint64_t r;
  if (red == WDN_SCR_MAX) r = (u64 ? (uint64_t)b > (uint64_t)a : b > a) ? (uint64_t)b : (uint64_t)a;
  else if (red == WDN_SCR_MIN) r = (u64 ? (uint64_t)b < (uint64_t)a : b < a) ? (uint64_t)b : (uint64_t)a;
  else if (elem_bytes(dt) == 8) r = red == WDN_SCR_ADD ? (uint64_t)a + (uint64_t)b : (uint64_t)a * (uint64_t)b;
  else r = wrap64_d(red == WDN_SCR_ADD ? (double)a + (double)b : (double)a * (double)b); /* Number arithmetic */
  st_i(y, i, dt, r);
}

static void copy_share(void* y, const void* x, int64_t nbytes, int tid, int nth) {
  if (x == y || nbytes <= 0) return;
  int64_t lo, hi;
  wdn_split_blocks(nbytes, 64, tid, nth, &lo, &hi);
  if (hi > lo) __builtin_memcpy((uint8_t*)y + lo, (const uint8_t*)x + lo, (size_t)(hi - lo));
}

void wdn_scatter_elements(const wdn_scatter_elements_params* p, int tid, int nth) {
  const int r = p->rank;
  if (r < 1 || r > 6) return;
  int64_t stride[6], total = 1, count = 1;
  for (int d = r - 1; d >= 0; d--) { stride[d] = total; total *= p->shape[d]; count *= p->ishape[d]; }
  copy_share(p->y, p->data, total * elem_bytes(p->dt), tid, nth);
  wdn_barrier(nth);
  if (tid != 0) return;
  int64_t pos[6] = {0, 0, 0, 0, 0, 0};
  const int64_t dim = p->shape[p->axis];
  for (int64_t k = 0; k < count; k++) {
    int64_t v = rd_index(p->indices, p->idx_i64, k);
    if (v < 0) v += dim;
    if (v < 0 || v >= dim) {
      wdn_set_error(WDN_ERR_SCATTER_INDEX, p->op);
    } else {
      int64_t dst = v * stride[p->axis];
      for (int d = 0; d < r; d++) if (d != p->axis) dst += pos[d] * stride[d];
      scatter_apply(p->y, dst, p->updates, k, p->dt, p->reduction);
    }
    for (int d = r - 1; d >= 0; d--) {
      if (++pos[d] < p->ishape[d]) break;
      pos[d] = 0;
    }
  }
}

void wdn_scatter_nd(const wdn_scatter_nd_params* p, int tid, int nth) {
  copy_share(p->y, p->data, p->total * elem_bytes(p->dt), tid, nth);
  wdn_barrier(nth);
  if (p->k < 0 || p->k > 8) return;
  int64_t strides[8], s = p->slice;
  for (int q = p->k - 1; q >= 0; q--) { strides[q] = s; s *= p->dims[q]; }
  /* threads split each slice: every element sees the updates in the js order */
  int64_t lo, hi;
  wdn_split_blocks(p->slice, 16, tid, nth, &lo, &hi);
  if (lo >= hi) return;
  for (int64_t t = 0; t < p->tuples; t++) {
    int64_t off = 0;
    int ok = 1;
    for (int q = 0; q < p->k; q++) {
      int64_t v = rd_index(p->indices, p->idx_i64, t * p->k + q);
      if (v < 0) v += p->dims[q];
      if (v < 0 || v >= p->dims[q]) { ok = 0; break; }
      off += v * strides[q];
    }
    if (!ok) {
      wdn_set_error(WDN_ERR_SCATTER_INDEX, p->op);
      continue;
    }
    if (p->reduction == WDN_SCR_NONE) {
      const int e = elem_bytes(p->dt);
      __builtin_memcpy((uint8_t*)p->y + (off + lo) * e, (const uint8_t*)p->updates + (t * p->slice + lo) * e,
                       (size_t)((hi - lo) * e));
    } else {
      WDN_SCALAR_LOOP
      for (int64_t i = lo; i < hi; i++) scatter_apply(p->y, off + i, p->updates, t * p->slice + i, p->dt, p->reduction);
    }
  }
}

void wdn_tensor_scatter(const wdn_tensor_scatter_params* p, int tid, int nth) {
  const int64_t rows = p->batch * p->rows_per_batch, ib = p->inner_bytes;
  copy_share(p->y, p->past, rows * p->max_len * ib, tid, nth);
  wdn_barrier(nth);
  int64_t lo, hi;
  wdn_split_blocks(rows, 1, tid, nth, &lo, &hi);
  for (int64_t row = lo; row < hi; row++) {
    const int64_t b = row / p->rows_per_batch;
    const int64_t start = p->write_indices ? p->write_indices[b] : 0;
    for (int64_t s = 0; s < p->seq_len; s++) {
      int64_t pos = start + s;
      if (p->circular) pos %= p->max_len; /* js %: the sign of the dividend */
      if (pos < 0 || pos >= p->max_len) {
        wdn_set_error(WDN_ERR_SCATTER_INDEX, p->op);
        continue;
      }
      __builtin_memcpy((uint8_t*)p->y + (row * p->max_len + pos) * ib,
                       (const uint8_t*)p->update + (row * p->seq_len + s) * ib, (size_t)ib);
    }
  }
}

void wdn_onehot(const wdn_onehot_params* p, int tid, int nth) {
  const double dv = is_float_dt(p->depth_dt) ? ld_f(p->depth_ptr, 0, p->depth_dt)
                                             : int_to_d(ld_i(p->depth_ptr, 0, p->depth_dt), p->depth_dt);
  if (__builtin_trunc(dv) != (double)p->depth) {
    if (tid == 0) wdn_set_error(WDN_ERR_RUNTIME_SHAPE, p->op);
    return;
  }
  const int64_t n = p->outer * p->inner, depth = p->depth, inner = p->inner;
  const int e = p->elem;
  const uint8_t* off = (const uint8_t*)p->values;
  const uint8_t* on = off + e;
  int64_t lo, hi;
  wdn_split_blocks(n, 16, tid, nth, &lo, &hi);
  for (int64_t k = lo; k < hi; k++) {
    int64_t v = -1;
    if (is_float_dt(p->idx_dt)) {
      double f = ld_f(p->indices, k, p->idx_dt);
      if (f < 0) f += (double)depth;
      if (f >= 0 && f < (double)depth && __builtin_trunc(f) == f) v = (int64_t)f;
    } else {
      int64_t i = ld_i(p->indices, k, p->idx_dt);
      if (p->idx_dt == WDN_DT_U64 && i < 0) i = depth; /* huge unsigned: out of range */
      if (i < 0) i += depth;
      if (i >= 0 && i < depth) v = i;
    }
    const int64_t o = k / inner, i = k % inner;
    uint8_t* y = (uint8_t*)p->y + (o * depth * inner + i) * e;
    for (int64_t d = 0; d < depth; d++) __builtin_memcpy(y + d * inner * e, d == v ? on : off, (size_t)e);
  }
}

void wdn_compress(const wdn_compress_params* p, int tid, int nth) {
  const int64_t nc = p->ncond < p->dim ? p->ncond : p->dim;
  int64_t kept = 0;
  for (int64_t i = 0; i < nc; i++) kept += p->cond[i] != 0;
  if (kept != p->kept) {
    if (tid == 0) wdn_set_error(WDN_ERR_RUNTIME_SHAPE, p->op);
    return;
  }
  int64_t lo, hi;
  wdn_split_blocks(p->outer * kept, 1, tid, nth, &lo, &hi);
  int64_t row = 0;
  const int64_t ib = p->inner_bytes;
  for (int64_t a = 0; a < p->outer && row < hi; a++) {
    for (int64_t i = 0; i < nc && row < hi; i++) {
      if (!p->cond[i]) continue;
      if (row >= lo)
        __builtin_memcpy((uint8_t*)p->y + row * ib, (const uint8_t*)p->x + (a * p->dim + i) * ib, (size_t)ib);
      row++;
    }
  }
}

void wdn_tile(int rank, int elem, const int* in_shape, const int* out_shape, const void* x, void* y, int tid,
              int nth) {
  if (rank < 1 || rank > 6) return;
  int64_t rows = 1, in_stride[6], s = 1;
  for (int d = rank - 1; d >= 0; d--) { in_stride[d] = s; s *= in_shape[d]; }
  for (int d = 0; d < rank - 1; d++) rows *= out_shape[d];
  const int64_t ol = out_shape[rank - 1], il = in_shape[rank - 1];
  if (rows <= 0 || ol <= 0 || il <= 0) return;
  int64_t lo, hi;
  wdn_split_blocks(rows, 1, tid, nth, &lo, &hi);
  for (int64_t row = lo; row < hi; row++) {
    int64_t rem = row, off = 0;
    for (int d = rank - 2; d >= 0; d--) {
      off += (rem % out_shape[d]) % in_shape[d] * in_stride[d];
      rem /= out_shape[d];
    }
    const uint8_t* src = (const uint8_t*)x + off * elem;
    uint8_t* dst = (uint8_t*)y + row * ol * elem;
    for (int64_t c = 0; c < ol; c += il) __builtin_memcpy(dst + c * elem, src, (size_t)(il * elem));
  }
}

/* ======================================================================= more run-time ops */

void wdn_dropout_check(const void* ratio, int ratio_dt, const uint8_t* training, int op, int tid) {
  if (tid != 0 || !training || !*training) return;
  const double r = ratio ? ld_f(ratio, 0, ratio_dt) : 0.5;
  if (r > 0) wdn_set_error(WDN_ERR_RUNTIME_SHAPE, op);
}

void wdn_batchnorm_dyn(const wdn_batchnorm_dyn_params* p, int tid, int nth) {
  int lo, hi;
  wdn_split(p->c, tid, nth, &lo, &hi);
  const int64_t S = p->s, C = p->c, N = p->n;
  for (int c = lo; c < hi; c++) {
    double m, v;
    if (p->training) {
      double s = 0, q = 0;
      for (int64_t n = 0; n < N; n++) for (int64_t i = 0, o = (n * C + c) * S; i < S; i++) s += p->x[o + i];
      const double mu = s / (double)(N * S);
      for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0, o = (n * C + c) * S; i < S; i++) { const double e = p->x[o + i] - mu; q += e * e; }
      m = mu;
      v = q / (double)(N * S);
    } else {
      m = p->mean[c];
      v = p->var[c];
    }
    const double a = (double)p->scale[c] / __builtin_sqrt(v + p->eps), b = (double)p->bias[c] - m * a;
    for (int64_t n = 0; n < N; n++) {
      const int64_t o = (n * C + c) * S;
      for (int64_t i = 0; i < S; i++) p->y[o + i] = (float)((double)p->x[o + i] * a + b);
    }
    if (p->training) {
      if (p->run_mean) p->run_mean[c] = (float)((double)p->mean[c] * p->momentum + m * (1 - p->momentum));
      if (p->run_var) p->run_var[c] = (float)((double)p->var[c] * p->momentum + v * (1 - p->momentum));
    }
  }
}

void wdn_det(int dt, int64_t batch, int m, const void* x, void* y, uint8_t* scratch, int scratch_stride, int tid,
             int nth) {
  int64_t lo, hi;
  wdn_split_blocks(batch, 1, tid, nth, &lo, &hi);
  uintptr_t sp = (uintptr_t)(scratch + (size_t)tid * (size_t)scratch_stride);
  double* a = (double*)((sp + 63) & ~(uintptr_t)63);
  const int64_t mm = (int64_t)m * m;
  for (int64_t b = lo; b < hi; b++) {
    for (int64_t i = 0; i < mm; i++) a[i] = ld_f(x, b * mm + i, dt);
    double d = 1;
    for (int c = 0; c < m; c++) {
      int pv = c;
      for (int i = c + 1; i < m; i++) if (__builtin_fabs(a[i * m + c]) > __builtin_fabs(a[pv * m + c])) pv = i;
      if (a[pv * m + c] == 0) { d = 0; break; }
      if (pv != c) {
        for (int j = 0; j < m; j++) { const double t = a[c * m + j]; a[c * m + j] = a[pv * m + j]; a[pv * m + j] = t; }
        d = -d;
      }
      const double pivot = a[c * m + c];
      d *= pivot;
      for (int i = c + 1; i < m; i++) {
        const double f = a[i * m + c] / pivot;
        for (int j = c + 1; j < m; j++) a[i * m + j] -= f * a[c * m + j];
      }
    }
    st_f_cast(y, b, dt, d);
  }
}

void wdn_reverse_sequence(const wdn_reverse_sequence_params* p, int tid, int nth) {
  const int r = p->rank;
  if (r < 1 || r > 6) return;
  int64_t stride[6], total = 1;
  for (int d = r - 1; d >= 0; d--) { stride[d] = total; total *= p->shape[d]; }
  const int64_t T = p->shape[p->time_axis];
  for (int b = 0; b < p->shape[p->batch_axis]; b++) {
    if (p->lens[b] < 0 || p->lens[b] > T) {
      if (tid == 0) wdn_set_error(WDN_ERR_RUNTIME_SHAPE, p->op);
      return;
    }
  }
  int64_t lo, hi;
  wdn_split_blocks(total, 64, tid, nth, &lo, &hi);
  const int e = p->elem;
  for (int64_t k = lo; k < hi; k++) {
    const int64_t t = (k / stride[p->time_axis]) % T;
    const int64_t len = p->lens[(k / stride[p->batch_axis]) % p->shape[p->batch_axis]];
    const int64_t src = t < len ? k + (len - 1 - 2 * t) * stride[p->time_axis] : k;
    __builtin_memcpy((uint8_t*)p->y + k * e, (const uint8_t*)p->x + src * e, (size_t)e);
  }
}

void wdn_maxunpool(const wdn_maxunpool_params* p, int tid, int nth) {
  const int r = p->rank;
  if (r < 1 || r > 6) return;
  int64_t total = 1, inf_total = 1, ostride[6];
  for (int d = r - 1; d >= 0; d--) { ostride[d] = total; total *= p->out_shape[d]; inf_total *= p->inferred[d]; }
  const int e = p->elem;
  int64_t lo, hi;
  wdn_split_blocks(total * e, 64, tid, nth, &lo, &hi);
  if (hi > lo) __builtin_memset((uint8_t*)p->y + lo, 0, (size_t)(hi - lo));
  wdn_barrier(nth);
  if (tid != 0) return;
  for (int64_t i = 0; i < p->count; i++) {
    int64_t f = p->indices[i];
    if (f < 0 || f >= inf_total) continue; /* a typed-array store out of range: dropped */
    int64_t o = 0;
    int inside = 1;
    for (int d = r - 1; d >= 0; d--) {
      const int64_t q = f % p->inferred[d];
      f /= p->inferred[d];
      if (q >= p->out_shape[d]) inside = 0;
      o += q * ostride[d];
    }
    if (inside) __builtin_memcpy((uint8_t*)p->y + o * e, (const uint8_t*)p->x + i * e, (size_t)e);
  }
}

void wdn_col2im(const wdn_col2im_params* p, int tid, int nth) {
  const int r = p->r;
  if (r < 1 || r > 4) return;
  int64_t block[4], cols[4], K = 1, L = 1, plane = 1, istride[4];
  int bad = 0;
  for (int d = r - 1; d >= 0; d--) {
    istride[d] = plane;
    plane *= p->image[d];
    block[d] = p->block_ptr[d];
    if (p->image_ptr[d] != p->image[d] || block[d] <= 0) { bad = 1; break; }
    K *= block[d];
    const int64_t span = (int64_t)p->dil[d] * (block[d] - 1) + 1;
    const int64_t num = (int64_t)p->image[d] + p->pad_begin[d] + p->pad_end[d] - span;
    /* floor(num / stride) + 1, as Math.floor */
    cols[d] = (num >= 0 ? num / p->stride[d] : -((-num + p->stride[d] - 1) / p->stride[d])) + 1;
    if (cols[d] <= 0) { bad = 1; break; }
    L *= cols[d];
  }
  if (bad || K * p->c != p->ck || L != p->l) {
    if (tid == 0) wdn_set_error(WDN_ERR_RUNTIME_SHAPE, p->op);
    return;
  }
  int lo, hi;
  wdn_split(p->n * p->c, tid, nth, &lo, &hi);
  uintptr_t sp = (uintptr_t)(p->scratch + (size_t)tid * (size_t)p->scratch_stride);
  double* acc = (double*)((sp + 63) & ~(uintptr_t)63);
  for (int nc = lo; nc < hi; nc++) {
    for (int64_t i = 0; i < plane; i++) acc[i] = 0;
    const float* x = p->x + (int64_t)nc * K * L;
    for (int64_t k = 0; k < K; k++) {
      int64_t kidx[4];
      int64_t rest = k;
      for (int d = r - 1; d >= 0; d--) { kidx[d] = rest % block[d]; rest /= block[d]; }
      for (int64_t l = 0; l < L; l++) {
        int64_t rl = l, off = 0;
        int inside = 1;
        int64_t lidx[4];
        for (int d = r - 1; d >= 0; d--) { lidx[d] = rl % cols[d]; rl /= cols[d]; }
        for (int d = 0; d < r; d++) {
          const int64_t pos = lidx[d] * p->stride[d] - p->pad_begin[d] + kidx[d] * p->dil[d];
          if (pos < 0 || pos >= p->image[d]) { inside = 0; break; }
          off += pos * istride[d];
        }
        if (inside) acc[off] += x[k * L + l];
      }
    }
    float* y = p->y + (int64_t)nc * plane;
    for (int64_t i = 0; i < plane; i++) y[i] = (float)acc[i];
  }
}

void wdn_nonzero(int dt, int rank, const int* shape, const void* x, int64_t count, int64_t* y, int op, int tid) {
  if (tid != 0 || rank < 1 || rank > 6) return;
  int64_t total = 1;
  for (int d = 0; d < rank; d++) total *= shape[d];
  const int fl = is_float_dt(dt);
  int64_t n = 0;
  for (int64_t k = 0; k < total; k++) n += fl ? ld_f(x, k, dt) != 0.0 : ld_i(x, k, dt) != 0;
  if (n != count) {
    wdn_set_error(WDN_ERR_RUNTIME_SHAPE, op);
    return;
  }
  int64_t j = 0;
  for (int64_t k = 0; k < total; k++) {
    if (!(fl ? ld_f(x, k, dt) != 0.0 : ld_i(x, k, dt) != 0)) continue;
    int64_t rest = k;
    for (int d = rank - 1; d >= 0; d--) {
      y[d * count + j] = rest % shape[d];
      rest /= shape[d];
    }
    j++;
  }
}

/* ---- Unique ---- */
/* compareValues of the js kernel: a total order with NaN last and -0 == +0 */
static int cmp_elem(const void* x, int64_t i, int64_t j, int dt) {
  if (is_float_dt(dt)) {
    const double a = ld_f(x, i, dt), b = ld_f(x, j, dt);
    if (a < b) return -1;
    if (a > b) return 1;
    if (a == b) return 0;
    const int an = a != a, bn = b != b;
    return an == bn ? 0 : an ? 1 : -1;
  }
  const int64_t a = ld_i(x, i, dt), b = ld_i(x, j, dt);
  if (dt == WDN_DT_U64) return (uint64_t)a < (uint64_t)b ? -1 : (uint64_t)a > (uint64_t)b;
  return a < b ? -1 : a > b;
}
/* slices j and k along dim, element by element (outer-major, then inner) */
static int cmp_slices(const wdn_unique_params* p, int64_t j, int64_t k) {
  for (int64_t a = 0; a < p->outer; a++) {
    for (int64_t i = 0; i < p->inner; i++) {
      const int c = cmp_elem(p->x, (a * p->dim + j) * p->inner + i, (a * p->dim + k) * p->inner + i, p->dt);
      if (c) return c;
    }
  }
  return 0;
}

void wdn_unique(const wdn_unique_params* p, int tid, int nth) {
  (void)nth;
  if (tid != 0) return;
  const int64_t dim = p->dim;
  uintptr_t sp = ((uintptr_t)p->scratch + 63) & ~(uintptr_t)63;
  int64_t* first = (int64_t*)sp;
  int64_t* count = first + dim;
  int64_t* inv = count + dim;
  int64_t* order = inv + dim;
  int64_t nu = 0;
  for (int64_t j = 0; j < dim; j++) {
    int64_t u = 0;
    while (u < nu && cmp_slices(p, first[u], j) != 0) u++;
    if (u == nu) { first[nu] = j; count[nu] = 0; nu++; }
    count[u]++;
    inv[j] = u;
  }
  if (nu != p->n) {
    wdn_set_error(WDN_ERR_RUNTIME_SHAPE, p->op);
    return;
  }
  for (int64_t u = 0; u < nu; u++) order[u] = u;
  if (p->sorted) { /* insertion sort (distinct keys: the order is unique) */
    for (int64_t u = 1; u < nu; u++) {
      const int64_t v = order[u];
      int64_t w = u;
      while (w > 0 && cmp_slices(p, first[order[w - 1]], first[v]) > 0) { order[w] = order[w - 1]; w--; }
      order[w] = v;
    }
  }
  const int e = elem_bytes(p->dt);
  for (int64_t r = 0; r < nu; r++) {
    const int64_t u = order[r];
    if (p->y) {
      for (int64_t a = 0; a < p->outer; a++)
        __builtin_memcpy((uint8_t*)p->y + (a * nu + r) * p->inner * e,
                         (const uint8_t*)p->x + (a * dim + first[u]) * p->inner * e, (size_t)(p->inner * e));
    }
    if (p->indices) p->indices[r] = first[u];
    if (p->counts) p->counts[r] = count[u];
  }
  if (p->inverse) {
    /* rank of each unique slice: invert `order` (reusing count[] after the outputs are written) */
    for (int64_t r = 0; r < nu; r++) count[order[r]] = r;
    for (int64_t j = 0; j < dim; j++) p->inverse[j] = count[inv[j]];
  }
}
