/* webdnn-build wasm kernel: GridSample (opset 16+, N-d from 20), float32, as the js kernel (misc.js) and
 * the onnx reference: the normalised grid location is mapped to a source coordinate per spatial axis
 * (in float32, as the reference), rounded half-to-even for nearest, moved inside by the padding mode,
 * then each axis gets 1 / 2 / 4 taps (nearest / linear / cubic, Keys alpha -0.75) whose indices outside
 * the input read 0 (zeros), the edge (border) or their reflection. A thread takes a range of the
 * N * points output locations and computes every channel there; results do not depend on nth. */
#include "kernels.h"
#include "internal.h"
#include "kernels_rrp.h"

static double gs_reflect(double x, double lo, double hi) {
  const double range = hi - lo;
  if (x < lo) {
    const double dx = lo - x;
    const double n = __builtin_trunc(dx / range), r = dx - n * range;
    return __builtin_fmod(n, 2.0) == 0 ? lo + r : hi - r;
  }
  if (x > hi) {
    const double dx = x - hi;
    const double n = __builtin_trunc(dx / range), r = dx - n * range;
    return __builtin_fmod(n, 2.0) == 0 ? hi - r : lo + r;
  }
  return x;
}

static inline double gs_k1(double x) { return ((-0.75 + 2) * x - (-0.75 + 3)) * x * x + 1; }
static inline double gs_k2(double x) { return ((-0.75 * x - 5 * -0.75) * x + 8 * -0.75) * x - 4 * -0.75; }

/* source index along an axis of length n for integer position i (-1: zero padding) */
static inline int64_t gs_index(const wdn_gridsample_params* p, double i, int n, double lo, double hi) {
  if (i >= 0 && i < n) return (int64_t)i;
  if (p->padding == 0) return -1;
  if (p->padding == 1) return i < 0 ? 0 : n - 1;
  return (int64_t)__builtin_trunc(gs_reflect(i, lo, hi));
}

void wdn_gridsample_f32(const wdn_gridsample_params* p, int tid, int nth) {
  const int r = p->r;
  if (r < 1 || r > 3) return;
  const int taps = p->mode == 0 ? 1 : p->mode == 1 ? 2 : 4;
  int64_t plane = 1, strides[3];
  for (int d = r - 1; d >= 0; d--) { strides[d] = plane; plane *= p->dims[d]; }
  int combos = 1;
  for (int d = 0; d < r; d++) combos *= taps;
  const int64_t total = (int64_t)p->n * p->points;
  int64_t lo_i, hi_i;
  wdn_split_blocks(total, 1, tid, nth, &lo_i, &hi_i);
  int64_t tap_idx[12];
  double tap_w[12];
  for (int64_t q = lo_i; q < hi_i; q++) {
    const int64_t b = q / p->points, pt = q % p->points;
    const float* g = p->grid + q * r;
    for (int d = 0; d < r; d++) {
      const int n = p->dims[d];
      const double lo = p->align ? 0 : -0.5, hi = p->align ? n - 1 : n - 0.5;
      const double v = g[r - 1 - d];
      double c = (double)(float)(p->align ? ((v + 1) / 2) * (n - 1) : ((v + 1) * n - 1) / 2);
      if (p->mode == 0) c = __builtin_rint(c);
      if (c < lo || c > hi) {
        if (p->padding == 1) c = c < 0 ? 0 : c > n - 1 ? n - 1 : c;
        else if (p->padding == 2) c = (double)(float)gs_reflect(c, lo, hi);
      }
      const int k = d * taps;
      if (p->mode == 0) {
        tap_idx[k] = gs_index(p, __builtin_trunc(c), n, lo, hi);
        tap_w[k] = 1;
        continue;
      }
      const double c0 = __builtin_floor(c), t = c - c0;
      if (p->mode == 1) {
        tap_idx[k] = gs_index(p, c0, n, lo, hi);
        tap_w[k] = 1 - t;
        tap_idx[k + 1] = gs_index(p, c0 + 1, n, lo, hi);
        tap_w[k + 1] = t;
      } else {
        const double w[4] = {gs_k2(t + 1), gs_k1(t), gs_k1(1 - t), gs_k2(2 - t)};
        for (int j = 0; j < 4; j++) {
          tap_idx[k + j] = gs_index(p, c0 - 1 + j, n, lo, hi);
          tap_w[k + j] = w[j];
        }
      }
    }
    for (int ch = 0; ch < p->c; ch++) {
      const float* src = p->x + ((int64_t)b * p->c + ch) * plane;
      double acc = 0;
      for (int m = 0; m < combos; m++) {
        double w = 1;
        int64_t off = 0;
        int rest = m;
        for (int d = r - 1; d >= 0; d--) {
          const int k = d * taps + rest % taps;
          rest /= taps;
          if (tap_idx[k] < 0) { w = 0; break; }
          w *= tap_w[k];
          off += tap_idx[k] * strides[d];
        }
        if (w != 0) acc += w * src[off];
      }
      p->y[((int64_t)b * p->c + ch) * p->points + pt] = (float)acc;
    }
  }
}
