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
