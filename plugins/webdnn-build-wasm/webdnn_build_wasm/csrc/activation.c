/* webdnn-build wasm kernels: the less common float32 activations (Floor, Ceil, Round, Sign, Softplus, Softsign,
 * Elu, Selu, Celu, ThresholdedRelu, Mish) and PRelu with broadcasting.
 *
 * Kept out of elementwise.c so that a model without them does not link them (wdn_unary_f32's switch is linked
 * whole). Same split and tail handling as elementwise.c: lane-wise code, results independent of nth.
 */
#include "kernels.h"
#include "internal.h"
#include "mathfn.h"

#define LD(p) wasm_v128_load(p)
#define ST(p, v) wasm_v128_store((p), (v))

static inline v128_t ld_part(const float* p, int64_t n) {
  float t[4] __attribute__((aligned(16))) = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int64_t k = 0; k < n; k++) t[k] = p[k];
  return LD(t);
}
static inline void st_part(float* p, v128_t v, int64_t n) {
  float t[4] __attribute__((aligned(16)));
  ST(t, v);
  for (int64_t k = 0; k < n; k++) p[k] = t[k];
}

/* log(1 + exp(x)) = max(x, 0) + log(1 + exp(-|x|)) (no overflow; NaN stays NaN) */
static __attribute__((noinline)) v128_t softplus_v(v128_t v) {
  v128_t e = wdn_math_exp_v(wasm_f32x4_neg(wasm_f32x4_abs(v)));
  return wasm_f32x4_add(wasm_f32x4_pmax(v, wasm_f32x4_splat(0.0f)), wdn_math_log_v(wasm_f32x4_add(wasm_f32x4_splat(1.0f), e)));
}
/* exp(x) - 1, through tanh(x / 2) near 0 (expm1 = 2 t / (1 - t)) so that small |x| keeps its relative precision */
static __attribute__((noinline)) v128_t expm1_v(v128_t v) {
  v128_t t = wdn_math_tanh_v(wasm_f32x4_mul(v, wasm_f32x4_splat(0.5f)));
  v128_t small = wasm_f32x4_div(wasm_f32x4_add(t, t), wasm_f32x4_sub(wasm_f32x4_splat(1.0f), t));
  v128_t big = wasm_f32x4_sub(wdn_math_exp_v(v), wasm_f32x4_splat(1.0f));
  return wasm_v128_bitselect(small, big, wasm_f32x4_lt(wasm_f32x4_abs(v), wasm_f32x4_splat(0.5f)));
}

void wdn_unary_ext_f32(int op, int count, const float* x, float* y, float a, float b, int tid, int nth) {
  int64_t lo, hi;
  wdn_split_blocks(count, 16, tid, nth, &lo, &hi);
  if (lo >= hi) return;
  const v128_t va = wasm_f32x4_splat(a), vb = wasm_f32x4_splat(b);
  const v128_t zero = wasm_f32x4_splat(0.0f), one = wasm_f32x4_splat(1.0f);
  switch (op) {
    case WDN_UN_FLOOR: WDN_UN_LOOP(wasm_f32x4_floor(v)); break;
    case WDN_UN_CEIL: WDN_UN_LOOP(wasm_f32x4_ceil(v)); break;
    case WDN_UN_ROUND: WDN_UN_LOOP(wasm_f32x4_nearest(v)); break; /* half to even, as ONNX */
    case WDN_UN_SIGN: /* -1, 0 or 1; NaN stays NaN (x - x) */
      WDN_UN_LOOP(wasm_v128_bitselect(wdn_math_copysign_v(one, v), wasm_f32x4_sub(v, v), wasm_f32x4_ne(v, zero)));
      break;
    case WDN_UN_SOFTPLUS: WDN_UN_LOOP(softplus_v(v)); break;
    case WDN_UN_SOFTSIGN: WDN_UN_LOOP(wasm_f32x4_div(v, wasm_f32x4_add(one, wasm_f32x4_abs(v)))); break;
    case WDN_UN_ELU: /* x < 0 ? a (exp(x) - 1) : x */
      WDN_UN_LOOP(wasm_v128_bitselect(wasm_f32x4_mul(va, expm1_v(v)), v, wasm_f32x4_lt(v, zero)));
      break;
    case WDN_UN_SELU: /* gamma (x <= 0 ? a (exp(x) - 1) : x) */
      WDN_UN_LOOP(wasm_f32x4_mul(vb, wasm_v128_bitselect(wasm_f32x4_mul(va, expm1_v(v)), v, wasm_f32x4_le(v, zero))));
      break;
    case WDN_UN_CELU: /* max(0, x) + min(0, a (exp(x / a) - 1)) */
      WDN_UN_LOOP(wasm_f32x4_add(wasm_f32x4_pmax(v, zero),
                                 wasm_f32x4_pmin(wasm_f32x4_mul(va, expm1_v(wasm_f32x4_div(v, va))), zero)));
      break;
    case WDN_UN_THRESHOLDED_RELU: WDN_UN_LOOP(wasm_v128_and(v, wasm_f32x4_gt(v, va))); break;
    case WDN_UN_MISH: WDN_UN_LOOP(wasm_f32x4_mul(v, wdn_math_tanh_v(softplus_v(v)))); break;
    default: break;
  }
}

/* y = x < 0 ? x * slope : x, slope broadcast to x (element strides, 0 on broadcast axes) */
void wdn_prelu_f32(const wdn_prelu_params* p, int tid, int nth) {
  int64_t total = 1;
  for (int d = 0; d < p->rank; d++) total *= p->shape[d];
  int64_t lo, hi;
  wdn_split_blocks(total, 16, tid, nth, &lo, &hi);
  if (lo >= hi) return;
  const int* strides[1] = {p->stride_s};
  wdn_nd_iter it;
  wdn_nd_first(&it, p->rank, p->shape, 1, strides, lo);
  const int r = p->rank - 1, ss = p->stride_s[r];
  const v128_t zero = wasm_f32x4_splat(0.0f);
  for (int64_t pos = lo; pos < hi;) {
    int64_t n = p->shape[r] - it.idx[r];
    if (n > hi - pos) n = hi - pos;
    const float* x = p->x + pos;
    const float* s = p->slope + it.off[0];
    float* y = p->y + pos;
    int64_t j = 0;
    if (ss <= 1) {
      for (; j + 4 <= n; j += 4) {
        v128_t v = LD(x + j), sv = ss ? LD(s + j) : wasm_f32x4_splat(s[0]);
        ST(y + j, wasm_v128_bitselect(wasm_f32x4_mul(v, sv), v, wasm_f32x4_lt(v, zero)));
      }
    }
    for (; j < n; j++) y[j] = x[j] < 0.0f ? x[j] * s[j * ss] : x[j];
    pos += n;
    if (pos < hi) wdn_nd_next(&it, p->shape, strides, n);
  }
}
