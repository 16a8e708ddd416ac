/* webdnn-build wasm kernel: Resize of the last two axes, nearest or (bi)linear, with per-row / per-column
 * taps computed at build time (emit/resize.py: every coordinate_transformation_mode and nearest_mode is
 * resolved there, so this file only gathers and blends).
 *
 * Linear: for each output row the two source rows are blended into a row of w floats in the thread's
 * scratch (f32x4), then each output column blends two of its entries. Nearest: a gather of one source
 * row (a repeated source row is copied). Split over the planes * oh output rows; pure per-element
 * arithmetic in a fixed order, so results do not depend on nth.
 */
#include "kernels.h"
#include "internal.h"
#include "kernels_rrp.h"

void wdn_resize_f32(const wdn_resize_params* p, int tid, int nth) {
  const int h = p->h, w = p->w, oh = p->oh, ow = p->ow;
  if (p->planes <= 0 || oh <= 0 || ow <= 0 || h <= 0 || w <= 0) return;
  int r0, r1;
  wdn_split(p->planes * oh, tid, nth, &r0, &r1);
  if (!p->linear) {
    for (int r = r0; r < r1; r++) {
      const int pl = r / oh, oy = r % oh;
      const float* src = p->x + ((ptrdiff_t)pl * h + p->hidx[oy]) * w;
      float* dst = p->y + (ptrdiff_t)r * ow;
      if (oy > 0 && r > r0 && p->hidx[oy] == p->hidx[oy - 1]) {  /* the same source row, written by this thread */
        __builtin_memcpy(dst, dst - ow, (size_t)ow * 4);
        continue;
      }
      for (int ox = 0; ox < ow; ox++) dst[ox] = src[p->widx[ox]];
    }
    return;
  }
  float* tmp = wdn_scratch_f32(p->scratch, p->scratch_stride, tid);
  const int wv = w & ~3;
  for (int r = r0; r < r1; r++) {
    const int pl = r / oh, oy = r % oh;
    const float* plane = p->x + (ptrdiff_t)pl * h * w;
    const float* a = plane + (ptrdiff_t)p->hidx[2 * oy] * w;
    const float* b = plane + (ptrdiff_t)p->hidx[2 * oy + 1] * w;
    const float fa = p->hw[2 * oy], fb = p->hw[2 * oy + 1];
    const v128_t va = wasm_f32x4_splat(fa), vb = wasm_f32x4_splat(fb);
    for (int i = 0; i < wv; i += 4)
      wasm_v128_store(tmp + i, wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(a + i), va),
                                              wasm_f32x4_mul(wasm_v128_load(b + i), vb)));
    for (int i = wv; i < w; i++) tmp[i] = a[i] * fa + b[i] * fb;
    float* dst = p->y + (ptrdiff_t)r * ow;
    const int* wi = p->widx;
    const float* ww = p->ww;
    for (int ox = 0; ox < ow; ox++) dst[ox] = tmp[wi[2 * ox]] * ww[2 * ox] + tmp[wi[2 * ox + 1]] * ww[2 * ox + 1];
  }
}

/* ---- any-axes Resize with the scales / sizes / roi read at run time (wdn_resize_nd) ----
 * As the js kernel (resize.js) and the onnx reference: separable, each resized axis in turn, float64
 * intermediates; per output index the source coordinate, ratio r (1 when integral), the mode's
 * coefficients and consecutive taps clamped to the edge. Thread 0 computes everything (in its scratch);
 * results do not depend on nth. */
enum { RZ_NEAREST = 0, RZ_LINEAR = 1, RZ_CUBIC = 2 };
enum { RZ_HALF_PIXEL = 0, RZ_PYTORCH = 1, RZ_ALIGN = 2, RZ_ASYM = 3, RZ_SYMMETRIC = 4, RZ_CROP = 5 };
enum { RZ_PREFER_FLOOR = 0, RZ_PREFER_CEIL = 1, RZ_FLOOR = 2, RZ_CEIL = 3 };

static double rz_floor(double v) { return __builtin_floor(v); }

static double rz_cubic(double a, double x) {
  x = __builtin_fabs(x);
  if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

/* the number of taps of one axis (every output index has as many) */
static int64_t rz_taps(const wdn_resize_nd_params* p, double scale) {
  if (p->mode == RZ_NEAREST) return 2;
  if (!p->antialias || scale >= 1) return p->mode == RZ_LINEAR ? 2 : 4;
  double start = rz_floor((p->mode == RZ_LINEAR ? -1.0 : -2.0) / scale) + 1;
  return (int64_t)(2 - 2 * start);
}

static void rz_coeffs(const wdn_resize_nd_params* p, double r, double scale, int n, double* c) {
  if (p->mode == RZ_NEAREST) {
    int nm = p->nearest;
    if (p->legacy == 1) nm = scale < 1 ? RZ_CEIL : RZ_FLOOR;
    else if (p->legacy == 2) nm = RZ_FLOOR;
    if (r == 1.0) { c[0] = 0; c[1] = 1; return; }
    switch (nm) {
      case RZ_PREFER_FLOOR: c[0] = r <= 0.5; c[1] = r > 0.5; break;
      case RZ_PREFER_CEIL: c[0] = r < 0.5; c[1] = r >= 0.5; break;
      case RZ_FLOOR: c[0] = 1; c[1] = 0; break;
      default: c[0] = 0; c[1] = 1; break;
    }
    return;
  }
  if (n == 2 && p->mode == RZ_LINEAR) { c[0] = 1 - r; c[1] = r; return; }
  if (n == 4 && p->mode == RZ_CUBIC && (!p->antialias || scale >= 1)) {
    const double a = p->cubic_a;
    c[0] = rz_cubic(a, r + 1); c[1] = rz_cubic(a, r); c[2] = rz_cubic(a, 1 - r); c[3] = rz_cubic(a, 2 - r);
    return;
  }
  /* antialiased downsampling: the filter stretched by 1/scale, normalized */
  const double start = rz_floor((p->mode == RZ_LINEAR ? -1.0 : -2.0) / scale) + 1;
  double s = 0;
  for (int i = 0; i < n; i++) {
    double t = (start + i - r) * scale, v;
    if (p->mode == RZ_LINEAR) {
      v = 1 - __builtin_fabs(t);
      v = v < 0 ? 0 : v > 1 ? 1 : v;
    } else {
      v = rz_cubic(p->cubic_a, t);
    }
    c[i] = v;
    s += v;
  }
  for (int i = 0; i < n; i++) c[i] /= s;
}

/* source coordinate of output index y; 0 when it is outside the crop (tf_crop_and_resize: extrapolate) */
static int rz_source(int ctm, int y, double scale, int in_len, int out_len, double r0, double r1, double* x) {
  const double out_f = scale * in_len;
  switch (ctm) {
    case RZ_HALF_PIXEL: *x = (y + 0.5) / scale - 0.5; return 1;
    case RZ_PYTORCH: *x = out_len > 1 ? (y + 0.5) / scale - 0.5 : -0.5; return 1;
    case RZ_ALIGN: *x = out_f == 1 ? 0 : (y * (double)(in_len - 1)) / (out_f - 1); return 1;
    case RZ_ASYM: *x = y / scale; return 1;
    case RZ_SYMMETRIC: *x = (in_len / 2.0) * (1 - out_len / out_f) + (y + 0.5) / scale - 0.5; return 1;
    default: {
      double v = (out_f == 1 ? ((r1 - r0) * (in_len - 1)) / 2 : (y * (r1 - r0) * (in_len - 1)) / (out_f - 1)) +
                 r0 * (in_len - 1);
      *x = v;
      return !(v < 0 || v > in_len - 1);
    }
  }
}

void wdn_resize_nd(const wdn_resize_nd_params* p, int tid, int nth) {
  (void)nth;
  if (tid != 0) return;
  const int rank = p->rank;
  if (rank < 1 || rank > 6) return;
  int active[6] = {0, 0, 0, 0, 0, 0};
  int slot[6] = {-1, -1, -1, -1, -1, -1}; /* index into scales / sizes / roi of each axis */
  if (p->naxes > 0) {
    for (int i = 0; i < p->naxes; i++) { active[p->axes[i]] = 1; slot[p->axes[i]] = i; }
  } else {
    for (int a = 0; a < rank; a++) { active[a] = 1; slot[a] = a; }
  }
  const int nv = p->naxes > 0 ? p->naxes : rank;
  double scale[6], r0[6], r1[6];
  int out[6];
  for (int a = 0; a < rank; a++) {
    scale[a] = 1;
    out[a] = p->xshape[a];
    r0[a] = 0;
    r1[a] = 1;
    if (p->roi && slot[a] >= 0) { r0[a] = p->roi[slot[a]]; r1[a] = p->roi[nv + slot[a]]; }
  }
  if (p->sizes) {
    for (int a = 0; a < rank; a++)
      if (slot[a] >= 0) { scale[a] = (double)p->sizes[slot[a]] / p->xshape[a]; out[a] = (int)p->sizes[slot[a]]; }
    if (p->policy != 0) {
      double s = 0;
      int first = 1;
      for (int a = 0; a < rank; a++) {
        if (!active[a]) continue;
        if (first || (p->policy == 1 ? scale[a] < s : scale[a] > s)) s = scale[a];
        first = 0;
      }
      for (int a = 0; a < rank; a++) {
        if (!active[a]) continue;
        scale[a] = s;
        out[a] = (int)rz_floor(s * p->xshape[a] + 0.5);
      }
    }
  } else if (p->scales) {
    for (int a = 0; a < rank; a++) {
      if (slot[a] >= 0) scale[a] = p->scales[slot[a]];
      out[a] = (int)rz_floor(p->xshape[a] * scale[a]);
    }
  }
  for (int a = 0; a < rank; a++)
    if (out[a] != p->yshape[a]) { wdn_set_error(WDN_ERR_RESIZE_SHAPE, p->op_index); return; }

  int64_t n_in = 1, n_out = 1;
  for (int a = 0; a < rank; a++) { n_in *= p->xshape[a]; n_out *= p->yshape[a]; }
  if (n_out == 0) return;
  double* buf0 = (double*)wdn_scratch_f32(p->scratch, p->scratch_stride, 0);
  double* buf1 = buf0 + p->max_numel;
  double* coeffs = buf1 + p->max_numel;
  int shape[6];
  for (int a = 0; a < rank; a++) shape[a] = p->xshape[a];
  for (int64_t i = 0; i < n_in; i++) buf0[i] = p->x[i];
  double* cur = buf0;
  double* nxt = buf1;
  for (int a = 0; a < rank; a++) {
    const int trivial_roi = __builtin_fabs(r0[a]) < 1e-9 && __builtin_fabs(r1[a] - 1) < 1e-9;
    if (__builtin_fabs(scale[a] - 1) < 1e-9 && out[a] == shape[a] && (trivial_roi || p->ctm != RZ_CROP)) continue;
    const int in_len = shape[a], out_len = out[a];
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < a; d++) outer *= shape[d];
    for (int d = a + 1; d < rank; d++) inner *= shape[d];
    if (outer * out_len * inner == 0 || in_len == 0) { shape[a] = out_len; continue; }
    const int64_t n = rz_taps(p, scale[a]);
    if (n < 1 || n > p->max_taps) { wdn_set_error(WDN_ERR_RESIZE_SHAPE, p->op_index); return; }
    for (int y = 0; y < out_len; y++) {
      double x;
      const int inside = rz_source(p->ctm, y, scale[a], in_len, out_len, r0[a], r1[a], &x);
      if (!inside) {
        for (int64_t o = 0; o < outer; o++) {
          double* d = nxt + (o * out_len + y) * inner;
          for (int64_t i = 0; i < inner; i++) d[i] = p->extrapolation;
        }
        continue;
      }
      const double fl = rz_floor(x);
      const int integral = x == fl;
      rz_coeffs(p, integral ? 1.0 : x - fl, scale[a], (int)n, coeffs);
      const int64_t first = integral ? -(n / 2) : 1 - n / 2;
      double sum = 0;
      for (int64_t t = 0; t < n; t++) {
        const int64_t j = (int64_t)fl + first + t;
        if (p->exclude_outside && (j < 0 || j >= in_len)) coeffs[t] = 0;
        sum += coeffs[t];
      }
      if (p->exclude_outside && sum != 0)
        for (int64_t t = 0; t < n; t++) coeffs[t] /= sum;
      for (int64_t o = 0; o < outer; o++) {
        double* d = nxt + (o * out_len + y) * inner;
        for (int64_t i = 0; i < inner; i++) d[i] = 0;
        for (int64_t t = 0; t < n; t++) {
          const double c = coeffs[t];
          if (c == 0) continue;
          int64_t j = (int64_t)fl + first + t;
          j = j < 0 ? 0 : j >= in_len ? in_len - 1 : j;
          const double* s = cur + (o * in_len + j) * inner;
          for (int64_t i = 0; i < inner; i++) d[i] += c * s[i];
        }
      }
    }
    shape[a] = out_len;
    double* t = cur;
    cur = nxt;
    nxt = t;
  }
  for (int64_t i = 0; i < n_out; i++) p->y[i] = (float)cur[i];
}
