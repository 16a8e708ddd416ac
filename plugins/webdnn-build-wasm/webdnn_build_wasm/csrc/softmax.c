/* webdnn-build wasm kernels: Softmax / LogSoftmax over the innermost axis of [rows, cols].
 *
 * Rows are split across threads (wdn_split); each row is reduced in a fixed order, so results do
 * not depend on nth. Numerically stable: m = max(row); e = exp(x - m); softmax = e / sum(e);
 * log-softmax = (x - m) - log(sum(e)). A row containing +inf or only -inf gives NaN (as numpy).
 */
#include "kernels.h"
#include "internal.h"
#include "mathfn.h"

#define LD(p) wasm_v128_load(p)
#define ST(p, v) wasm_v128_store((p), (v))

static inline v128_t sm_ld_part(const float* p, int n, float fill) {
  float t[4] __attribute__((aligned(16))) = {fill, fill, fill, fill};
  for (int k = 0; k < n; k++) t[k] = p[k];
  return LD(t);
}
static inline void sm_st_part(float* p, v128_t v, int n) {
  float t[4] __attribute__((aligned(16)));
  ST(t, v);
  for (int k = 0; k < n; k++) p[k] = t[k];
}

void wdn_softmax_f32(int rows, int cols, const float* x, float* y, int log_softmax, int tid, int nth) {
  if (cols <= 0) return;
  int r0, r1;
  wdn_split(rows, tid, nth, &r0, &r1);
  const int cv = cols & ~3, ct = cols - cv;
  for (int r = r0; r < r1; r++) {
    const float* xr = x + (ptrdiff_t)r * cols;
    float* yr = y + (ptrdiff_t)r * cols;
    /* max */
    v128_t m4 = wasm_f32x4_splat(-__builtin_inff());
    for (int i = 0; i < cv; i += 4) m4 = wasm_f32x4_max(m4, LD(xr + i));
    if (ct) m4 = wasm_f32x4_max(m4, sm_ld_part(xr + cv, ct, -__builtin_inff()));
    m4 = wasm_f32x4_max(m4, wasm_i32x4_shuffle(m4, m4, 2, 3, 0, 1));
    m4 = wasm_f32x4_max(m4, wasm_i32x4_shuffle(m4, m4, 1, 0, 3, 2));
    /* exp(x - m) and its sum (exps stored in y for softmax) */
    v128_t s4 = wasm_f32x4_splat(0.0f);
    for (int i = 0; i < cv; i += 4) {
      v128_t e = wdn_math_exp_nonpos_v(wasm_f32x4_sub(LD(xr + i), m4));
      if (!log_softmax) ST(yr + i, e);
      s4 = wasm_f32x4_add(s4, e);
    }
    float s = (wasm_f32x4_extract_lane(s4, 0) + wasm_f32x4_extract_lane(s4, 1)) +
              (wasm_f32x4_extract_lane(s4, 2) + wasm_f32x4_extract_lane(s4, 3));
    if (ct) {
      float t[4] __attribute__((aligned(16)));
      ST(t, wdn_math_exp_nonpos_v(wasm_f32x4_sub(sm_ld_part(xr + cv, ct, 0.0f), m4)));
      for (int k = 0; k < ct; k++) {
        s += t[k];
        if (!log_softmax) yr[cv + k] = t[k];
      }
    }
    if (log_softmax) {
      const v128_t ls = wasm_f32x4_splat(wdn_math_log_s(s));
      for (int i = 0; i < cv; i += 4) ST(yr + i, wasm_f32x4_sub(wasm_f32x4_sub(LD(xr + i), m4), ls));
      if (ct) sm_st_part(yr + cv, wasm_f32x4_sub(wasm_f32x4_sub(sm_ld_part(xr + cv, ct, 0.0f), m4), ls), ct);
    } else {
      const v128_t sv = wasm_f32x4_splat(s);
      for (int i = 0; i < cv; i += 4) ST(yr + i, wasm_f32x4_div(LD(yr + i), sv));
      if (ct) sm_st_part(yr + cv, wasm_f32x4_div(sm_ld_part(yr + cv, ct, 0.0f), sv), ct);
    }
  }
}

/* Softmax / LogSoftmax along the middle axis of [outer, n, inner]: 4 neighbouring lanes of `inner` at a time
 * (partial loads at the end of a row); units (o, 4-lane group) are split across threads. */
void wdn_softmax_axis_f32(int outer, int n, int inner, const float* x, float* y, int log_softmax, int tid, int nth) {
  if (n <= 0 || inner <= 0) return;
  const int per = (inner + 3) / 4;
  int u0, u1;
  wdn_split(outer * per, tid, nth, &u0, &u1);
  for (int u = u0; u < u1; u++) {
    const int o = u / per, i = (u % per) * 4, lanes = wdn_mini(4, inner - i);
    const float* xs = x + (ptrdiff_t)o * n * inner + i;
    float* ys = y + (ptrdiff_t)o * n * inner + i;
#define SMA_LD(p, fill) (lanes == 4 ? LD(p) : sm_ld_part((p), lanes, (fill)))
#define SMA_ST(p, v) do { if (lanes == 4) ST((p), (v)); else sm_st_part((p), (v), lanes); } while (0)
    v128_t m4 = wasm_f32x4_splat(-__builtin_inff());
    for (int k = 0; k < n; k++) m4 = wasm_f32x4_max(m4, SMA_LD(xs + (ptrdiff_t)k * inner, -__builtin_inff()));
    v128_t s4 = wasm_f32x4_splat(0.0f);
    for (int k = 0; k < n; k++) {
      v128_t e = wdn_math_exp_nonpos_v(wasm_f32x4_sub(SMA_LD(xs + (ptrdiff_t)k * inner, 0.0f), m4));
      if (!log_softmax) SMA_ST(ys + (ptrdiff_t)k * inner, e);
      s4 = wasm_f32x4_add(s4, e);
    }
    if (log_softmax) {
      float t[4] __attribute__((aligned(16)));
      ST(t, s4);
      for (int l = 0; l < 4; l++) t[l] = wdn_math_log_s(t[l]);
      const v128_t ls = LD(t);
      for (int k = 0; k < n; k++)
        SMA_ST(ys + (ptrdiff_t)k * inner, wasm_f32x4_sub(wasm_f32x4_sub(SMA_LD(xs + (ptrdiff_t)k * inner, 0.0f), m4), ls));
    } else {
      for (int k = 0; k < n; k++) SMA_ST(ys + (ptrdiff_t)k * inner, wasm_f32x4_div(SMA_LD(ys + (ptrdiff_t)k * inner, 0.0f), s4));
    }
#undef SMA_LD
#undef SMA_ST
  }
}
