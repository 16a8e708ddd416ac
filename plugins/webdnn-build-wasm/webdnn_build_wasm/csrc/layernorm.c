/* webdnn-build wasm kernel: LayerNormalization (ONNX, stash_type 1) over the innermost `cols` of [rows, cols].
 *
 * y = (x - mean) / sqrt(var + eps) * scale + bias, var = mean((x - mean)^2) (two passes over the row).
 * scale and bias (bias may be NULL) have `cols` elements. Rows are split across threads (wdn_split);
 * each row is reduced in a fixed order, so results do not depend on nth. y may alias x.
 */
#include "kernels.h"
#include "internal.h"

#define LD(p) wasm_v128_load(p)
#define ST(p, v) wasm_v128_store((p), (v))

static inline float ln_hsum(v128_t v) {
  return (wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1)) +
         (wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3));
}

void wdn_layernorm_f32(int rows, int cols, const float* x, const float* scale, const float* bias, float* y,
                       float eps, int tid, int nth) {
  wdn_layernorm_stats_f32(rows, cols, x, scale, bias, y, eps, 0, 0, tid, nth);
}

/* the mean of a row of n floats (inv_n = 1/n) and, in *sqdev, the sum of its squared deviations from it:
 * two passes, as LayerNormalization and InstanceNormalization define the variance */
WDN_INLINE float ln_mean_sqdev(const float* xr, int n, float inv_n, float* sqdev) {
  const int nv = n & ~3;
  v128_t s4 = wasm_f32x4_splat(0.0f);
  for (int i = 0; i < nv; i += 4) s4 = wasm_f32x4_add(s4, LD(xr + i));
  float s = ln_hsum(s4);
  for (int i = nv; i < n; i++) s += xr[i];
  const float mean = s * inv_n;
  const v128_t m4 = wasm_f32x4_splat(mean);
  v128_t q4 = wasm_f32x4_splat(0.0f);
  for (int i = 0; i < nv; i += 4) {
    v128_t d = wasm_f32x4_sub(LD(xr + i), m4);
    q4 = wasm_f32x4_add(q4, wasm_f32x4_mul(d, d));
  }
  float q = ln_hsum(q4);
  for (int i = nv; i < n; i++) {
    float d = xr[i] - mean;
    q += d * d;
  }
  *sqdev = q;
  return mean;
}

void wdn_layernorm_stats_f32(int rows, int cols, const float* x, const float* scale, const float* bias, float* y,
                             float eps, float* mean_out, float* inv_out, int tid, int nth) {
  if (cols <= 0) return;
  int r0, r1;
  wdn_split(rows, tid, nth, &r0, &r1);
  const int cv = cols & ~3;
  const float inv_n = 1.0f / (float)cols;
  for (int r = r0; r < r1; r++) {
    const float* xr = x + (ptrdiff_t)r * cols;
    float* yr = y + (ptrdiff_t)r * cols;
    float q;
    const float mean = ln_mean_sqdev(xr, cols, inv_n, &q);
    const v128_t m4 = wasm_f32x4_splat(mean);
    const float inv = 1.0f / __builtin_sqrtf(q * inv_n + eps);
    const v128_t i4 = wasm_f32x4_splat(inv);
    if (mean_out) mean_out[r] = mean;
    if (inv_out) inv_out[r] = inv;
    /* normalize, scale, shift */
    if (bias) {
      for (int i = 0; i < cv; i += 4) {
        v128_t t = wasm_f32x4_mul(wasm_f32x4_sub(LD(xr + i), m4), i4);
        ST(yr + i, wasm_f32x4_add(wasm_f32x4_mul(t, LD(scale + i)), LD(bias + i)));
      }
      for (int i = cv; i < cols; i++) yr[i] = (xr[i] - mean) * inv * scale[i] + bias[i];
    } else {
      for (int i = 0; i < cv; i += 4) {
        v128_t t = wasm_f32x4_mul(wasm_f32x4_sub(LD(xr + i), m4), i4);
        ST(yr + i, wasm_f32x4_mul(t, LD(scale + i)));
      }
      for (int i = cv; i < cols; i++) yr[i] = (xr[i] - mean) * inv * scale[i];
    }
  }
}

/* InstanceNormalization: the same two passes over each (n, c) row of hw elements, per-channel scale/bias */
void wdn_instancenorm_f32(int n, int c, int hw, const float* x, const float* scale, const float* bias, float* y,
                          float eps, int tid, int nth) {
  if (hw <= 0 || c <= 0) return;
  int r0, r1;
  wdn_split(n * c, tid, nth, &r0, &r1);
  const int cv = hw & ~3;
  const float inv_n = 1.0f / (float)hw;
  for (int r = r0; r < r1; r++) {
    const float* xr = x + (ptrdiff_t)r * hw;
    float* yr = y + (ptrdiff_t)r * hw;
    float q;
    const float mean = ln_mean_sqdev(xr, hw, inv_n, &q);
    const float a = scale[r % c] / __builtin_sqrtf(q * inv_n + eps);
    const float b = bias[r % c];
    const v128_t m4 = wasm_f32x4_splat(mean), a4 = wasm_f32x4_splat(a), b4 = wasm_f32x4_splat(b);
    for (int i = 0; i < cv; i += 4) ST(yr + i, wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_sub(LD(xr + i), m4), a4), b4));
    for (int i = cv; i < hw; i++) yr[i] = (xr[i] - mean) * a + b;
  }
}
