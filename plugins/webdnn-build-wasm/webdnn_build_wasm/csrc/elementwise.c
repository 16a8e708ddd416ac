/* webdnn-build wasm kernels: elementwise binary (numpy broadcasting), unary, per-channel affine.
 *
 * Work split: the flat output range is cut into per-thread shares aligned to 16 elements. Every
 * element is computed by the same lane-wise vector code whether it falls in a vector body or a
 * tail (tails go through a 4-float buffer), so results are bit-identical for any nth.
 * The fused activation runs on pieces of at most EW_PIECE elements right after they are written
 * (still in L1).
 */
#include "kernels.h"
#include "internal.h"
#include "mathfn.h"

#define LD(p) wasm_v128_load(p)
#define ST(p, v) wasm_v128_store((p), (v))
#define EW_PIECE 1024

static inline void ew_range(int total, int tid, int nth, int* lo, int* hi) {
  int blocks = (int)(((int64_t)total + 15) / 16), b0, b1;
  wdn_split(blocks, tid, nth, &b0, &b1);
  int64_t l = (int64_t)b0 * 16, h = (int64_t)b1 * 16;
  *lo = (int)(l < total ? l : total);
  *hi = (int)(h < total ? h : total);
}

static inline v128_t ld_part(const float* p, int n) {
  float t[4] __attribute__((aligned(16))) = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int k = 0; k < n; k++) t[k] = p[k];
  return LD(t);
}
static inline void st_part(float* p, v128_t v, int n) {
  float t[4] __attribute__((aligned(16)));
  ST(t, v);
  for (int k = 0; k < n; k++) p[k] = t[k];
}

/* ---- fused activation, in place ---- */
static __attribute__((noinline)) void act_inplace(float* y, int n, wdn_act act) {
  if (act.kind == WDN_ACT_NONE) return;
  const wdn_act_vec av = wdn_act_prep(act);
  int i = 0;
  switch (act.kind) {
    case WDN_ACT_RELU: {
      const v128_t z = wasm_f32x4_splat(0.0f);
      for (; i + 8 <= n; i += 8) {
        ST(y + i, wasm_f32x4_max(LD(y + i), z));
        ST(y + i + 4, wasm_f32x4_max(LD(y + i + 4), z));
      }
      break;
    }
    default:
      for (; i + 4 <= n; i += 4) ST(y + i, wdn_act_v4(LD(y + i), &av));
      break;
  }
  for (; i + 4 <= n; i += 4) ST(y + i, wdn_act_v4(LD(y + i), &av));
  if (i < n) st_part(y + i, wdn_act_v4(ld_part(y + i, n - i), &av), n - i);
}

/* ---- binary ops: one vector function per op, rows instantiated by macro ---- */
static inline v128_t v_add(v128_t a, v128_t b) { return wasm_f32x4_add(a, b); }
static inline v128_t v_sub(v128_t a, v128_t b) { return wasm_f32x4_sub(a, b); }
static inline v128_t v_mul(v128_t a, v128_t b) { return wasm_f32x4_mul(a, b); }
static inline v128_t v_div(v128_t a, v128_t b) { return wasm_f32x4_div(a, b); }
static inline v128_t v_max(v128_t a, v128_t b) { return wasm_f32x4_max(a, b); }
static inline v128_t v_min(v128_t a, v128_t b) { return wasm_f32x4_min(a, b); }
/* pow is scalar (double precision inside); one out-of-line copy keeps the module small */
static __attribute__((noinline)) v128_t v_pow(v128_t a, v128_t b) {
  return wasm_f32x4_make(wdn_math_pow_s(wasm_f32x4_extract_lane(a, 0), wasm_f32x4_extract_lane(b, 0)),
                         wdn_math_pow_s(wasm_f32x4_extract_lane(a, 1), wasm_f32x4_extract_lane(b, 1)),
                         wdn_math_pow_s(wasm_f32x4_extract_lane(a, 2), wasm_f32x4_extract_lane(b, 2)),
                         wdn_math_pow_s(wasm_f32x4_extract_lane(a, 3), wasm_f32x4_extract_lane(b, 3)));
}

typedef void (*row_vv_fn)(const float*, const float*, float*, int);
typedef void (*row_vs_fn)(const float*, float, float*, int);
typedef void (*row_sv_fn)(float, const float*, float*, int);
typedef void (*row_gg_fn)(const float*, int, const float*, int, float*, int);

#define DEFINE_ROWS(NAME, OPV)                                                               \
  static void NAME##_vv(const float* a, const float* b, float* y, int n) {                  \
    int i = 0;                                                                               \
    for (; i + 8 <= n; i += 8) {                                                             \
      v128_t r0 = OPV(LD(a + i), LD(b + i)), r1 = OPV(LD(a + i + 4), LD(b + i + 4));         \
      ST(y + i, r0);                                                                         \
      ST(y + i + 4, r1);                                                                     \
    }                                                                                        \
    for (; i + 4 <= n; i += 4) ST(y + i, OPV(LD(a + i), LD(b + i)));                         \
    if (i < n) st_part(y + i, OPV(ld_part(a + i, n - i), ld_part(b + i, n - i)), n - i);     \
  }                                                                                          \
  static void NAME##_vs(const float* a, float bs, float* y, int n) {                        \
    const v128_t vb = wasm_f32x4_splat(bs);                                                  \
    int i = 0;                                                                               \
    for (; i + 8 <= n; i += 8) {                                                             \
      v128_t r0 = OPV(LD(a + i), vb), r1 = OPV(LD(a + i + 4), vb);                           \
      ST(y + i, r0);                                                                         \
      ST(y + i + 4, r1);                                                                     \
    }                                                                                        \
    for (; i + 4 <= n; i += 4) ST(y + i, OPV(LD(a + i), vb));                                \
    if (i < n) st_part(y + i, OPV(ld_part(a + i, n - i), vb), n - i);                        \
  }                                                                                          \
  static void NAME##_sv(float as, const float* b, float* y, int n) {                        \
    const v128_t va = wasm_f32x4_splat(as);                                                  \
    int i = 0;                                                                               \
    for (; i + 8 <= n; i += 8) {                                                             \
      v128_t r0 = OPV(va, LD(b + i)), r1 = OPV(va, LD(b + i + 4));                           \
      ST(y + i, r0);                                                                         \
      ST(y + i + 4, r1);                                                                     \
    }                                                                                        \
    for (; i + 4 <= n; i += 4) ST(y + i, OPV(va, LD(b + i)));                                \
    if (i < n) st_part(y + i, OPV(va, ld_part(b + i, n - i)), n - i);                        \
  }                                                                                          \
  static void NAME##_gg(const float* a, int sa, const float* b, int sb, float* y, int n) {   \
    int i = 0;                                                                               \
    for (; i + 4 <= n; i += 4) {                                                             \
      const float* pa = a + (ptrdiff_t)i * sa;                                               \
      const float* pb = b + (ptrdiff_t)i * sb;                                               \
      v128_t va = wasm_f32x4_make(pa[0], pa[sa], pa[2 * sa], pa[3 * sa]);                    \
      v128_t vb = wasm_f32x4_make(pb[0], pb[sb], pb[2 * sb], pb[3 * sb]);                    \
      ST(y + i, OPV(va, vb));                                                                \
    }                                                                                        \
    if (i < n) {                                                                             \
      float ta[4] = {0, 0, 0, 0}, tb[4] = {0, 0, 0, 0};                                      \
      for (int k = 0; k < n - i; k++) {                                                      \
        ta[k] = a[(ptrdiff_t)(i + k) * sa];                                                  \
        tb[k] = b[(ptrdiff_t)(i + k) * sb];                                                  \
      }                                                                                      \
      st_part(y + i, OPV(wasm_v128_load(ta), wasm_v128_load(tb)), n - i);                   \
    }                                                                                        \
  }

DEFINE_ROWS(add, v_add)
DEFINE_ROWS(sub, v_sub)
DEFINE_ROWS(mul, v_mul)
DEFINE_ROWS(div, v_div)
DEFINE_ROWS(max, v_max)
DEFINE_ROWS(min, v_min)
DEFINE_ROWS(pow, v_pow)

static const struct {
  row_vv_fn vv;
  row_vs_fn vs;
  row_sv_fn sv;
  row_gg_fn gg;
} bin_rows[7] = {
    {add_vv, add_vs, add_sv, add_gg}, {sub_vv, sub_vs, sub_sv, sub_gg}, {mul_vv, mul_vs, mul_sv, mul_gg},
    {div_vv, div_vs, div_sv, div_gg}, {max_vv, max_vs, max_sv, max_gg}, {min_vv, min_vs, min_sv, min_gg},
    {pow_vv, pow_vs, pow_sv, pow_gg},
};

void wdn_binary_f32(const wdn_binary_params* p, int tid, int nth) {
  if (p->op < 0 || p->op > WDN_BIN_POW) return;
  /* collapse: drop size-1 axes, merge axes that are contiguous for both operands */
  int shp[6], sa[6], sb[6], r = 0;
  int64_t total = 1;
  for (int i = 0; i < p->rank; i++) {
    int s = p->shape[i];
    total *= s;
    if (s == 1) continue;
    if (r > 0 && sa[r - 1] == p->stride_a[i] * s && sb[r - 1] == p->stride_b[i] * s) {
      shp[r - 1] *= s;
      sa[r - 1] = p->stride_a[i];
      sb[r - 1] = p->stride_b[i];
    } else {
      shp[r] = s;
      sa[r] = p->stride_a[i];
      sb[r] = p->stride_b[i];
      r++;
    }
  }
  if (total <= 0) return;
  if (r == 0) { shp[0] = 1; sa[0] = sb[0] = 0; r = 1; }

  int lo, hi;
  ew_range((int)total, tid, nth, &lo, &hi);
  if (lo >= hi) return;

  const int in = shp[r - 1], isa = sa[r - 1], isb = sb[r - 1];
  int idx[6];
  {
    int rem = lo;
    for (int d = r - 1; d >= 0; d--) { idx[d] = rem % shp[d]; rem /= shp[d]; }
  }
  const float* A = p->a;
  const float* B = p->b;
  const int op = p->op;
  int pos = lo;
  while (pos < hi) {
    ptrdiff_t oa = 0, ob = 0;
    for (int d = 0; d < r - 1; d++) { oa += (ptrdiff_t)idx[d] * sa[d]; ob += (ptrdiff_t)idx[d] * sb[d]; }
    int j = idx[r - 1];
    int seg = in - j;
    if (seg > hi - pos) seg = hi - pos;
    /* the row in pieces: op, then activation while the piece is hot */
    for (int q = 0; q < seg; q += EW_PIECE) {
      int n = seg - q < EW_PIECE ? seg - q : EW_PIECE;
      int jj = j + q;
      const float* pa = A + oa + (ptrdiff_t)jj * isa;
      const float* pb = B + ob + (ptrdiff_t)jj * isb;
      float* py = p->y + pos + q;
      if (isa == 1 && isb == 1) bin_rows[op].vv(pa, pb, py, n);
      else if (isa == 1 && isb == 0) bin_rows[op].vs(pa, *pb, py, n);
      else if (isa == 0 && isb == 1) bin_rows[op].sv(*pa, pb, py, n);
      else bin_rows[op].gg(pa, isa, pb, isb, py, n);
      act_inplace(py, n, p->act);
    }
    pos += seg;
    if (j + seg == in) {
      idx[r - 1] = 0;
      for (int d = r - 2; d >= 0; d--) {
        if (++idx[d] < shp[d]) break;
        idx[d] = 0;
      }
    } else {
      idx[r - 1] = j + seg;
    }
  }
}

/* ---- unary ---- */

void wdn_unary_f32(int op, int count, const float* x, float* y, float a, float b, int tid, int nth) {
  int lo, hi;
  ew_range(count, tid, nth, &lo, &hi);
  if (lo >= hi) return;
  const v128_t va = wasm_f32x4_splat(a), vb = wasm_f32x4_splat(b);
  const v128_t zero = wasm_f32x4_splat(0.0f), one = wasm_f32x4_splat(1.0f);
  switch (op) {
    case WDN_UN_RELU: WDN_UN_LOOP(wasm_f32x4_max(v, zero)); break;
    case WDN_UN_SIGMOID: WDN_UN_LOOP(wdn_math_sigmoid_v(v)); break;
    case WDN_UN_TANH: WDN_UN_LOOP(wdn_math_tanh_v(v)); break;
    case WDN_UN_EXP: WDN_UN_LOOP(wdn_math_exp_v(v)); break;
    case WDN_UN_LOG: WDN_UN_LOOP(wdn_math_log_v(v)); break;
    case WDN_UN_SQRT: WDN_UN_LOOP(wasm_f32x4_sqrt(v)); break;
    case WDN_UN_ABS: WDN_UN_LOOP(wasm_f32x4_abs(v)); break;
    case WDN_UN_NEG: WDN_UN_LOOP(wasm_f32x4_neg(v)); break;
    case WDN_UN_CLIP: WDN_UN_LOOP(wasm_f32x4_min(wasm_f32x4_max(v, va), vb)); break;
    case WDN_UN_LEAKY_RELU:
      WDN_UN_LOOP(wasm_v128_bitselect(wasm_f32x4_mul(v, va), v, wasm_f32x4_lt(v, zero)));
      break;
    case WDN_UN_HARD_SIGMOID:
      WDN_UN_LOOP(wasm_f32x4_min(wasm_f32x4_max(wasm_f32x4_add(wasm_f32x4_mul(v, va), vb), zero), one));
      break;
    case WDN_UN_HARD_SWISH: {
      const v128_t sixth = wasm_f32x4_splat(1.0f / 6.0f), half = wasm_f32x4_splat(0.5f);
      WDN_UN_LOOP(wasm_f32x4_mul(
          v, wasm_f32x4_min(wasm_f32x4_max(wasm_f32x4_add(wasm_f32x4_mul(v, sixth), half), zero), one)));
      break;
    }
    case WDN_UN_ERF: WDN_UN_LOOP(wdn_math_erf_v(v)); break;
    case WDN_UN_GELU: WDN_UN_LOOP(wdn_math_gelu_v(v)); break;
    case WDN_UN_GELU_TANH: {
      /* 0.5 x (1 + tanh(z)) == x sigmoid(2z): no cancellation in 1 + tanh(z) for x << 0 */
      const v128_t c1 = wasm_f32x4_splat(1.5957691216057308f), c3 = wasm_f32x4_splat(0.0713548162726f);
      WDN_UN_LOOP(wasm_f32x4_mul(v, wdn_math_sigmoid_v(wasm_f32x4_mul(
          v, wasm_f32x4_add(c1, wasm_f32x4_mul(c3, wasm_f32x4_mul(v, v)))))));
      break;
    }
    case WDN_UN_SWISH:
      if (a == 1.0f) WDN_UN_LOOP(wasm_f32x4_mul(v, wdn_math_sigmoid_v(v)));
      else WDN_UN_LOOP(wasm_f32x4_mul(v, wdn_math_sigmoid_v(wasm_f32x4_mul(v, va))));
      break;
    case WDN_UN_RECIPROCAL: WDN_UN_LOOP(wasm_f32x4_div(one, v)); break;
    case WDN_UN_COPY:
    default:
      if (x != y) WDN_UN_LOOP(v);
      break;
  }
}

/* ---- per-channel affine: y = act(x * scale[c] + shift[c]); scale/shift may be NULL (1 / 0) ---- */
void wdn_channel_affine_f32(int n, int c, int hw, const float* x, const float* scale, const float* shift,
                            float* y, wdn_act act, int tid, int nth) {
  int64_t total64 = (int64_t)n * c * hw;
  if (total64 <= 0) return;
  int lo, hi;
  ew_range((int)total64, tid, nth, &lo, &hi);
  int pos = lo;
  while (pos < hi) {
    int plane = pos / hw, j = pos - plane * hw, ch = plane % c;
    int seg = hw - j;
    if (seg > hi - pos) seg = hi - pos;
    const v128_t s = wasm_f32x4_splat(scale ? scale[ch] : 1.0f);
    const v128_t t = wasm_f32x4_splat(shift ? shift[ch] : 0.0f);
    for (int q = 0; q < seg; q += EW_PIECE) {
      int m = seg - q < EW_PIECE ? seg - q : EW_PIECE;
      const float* px = x + pos + q;
      float* py = y + pos + q;
      int i = 0;
      for (; i + 8 <= m; i += 8) {
        v128_t r0 = wasm_f32x4_add(wasm_f32x4_mul(LD(px + i), s), t);
        v128_t r1 = wasm_f32x4_add(wasm_f32x4_mul(LD(px + i + 4), s), t);
        ST(py + i, r0);
        ST(py + i + 4, r1);
      }
      for (; i + 4 <= m; i += 4) ST(py + i, wasm_f32x4_add(wasm_f32x4_mul(LD(px + i), s), t));
      if (i < m) st_part(py + i, wasm_f32x4_add(wasm_f32x4_mul(ld_part(px + i, m - i), s), t), m - i);
      act_inplace(py, m, act);
    }
    pos += seg;
  }
}
