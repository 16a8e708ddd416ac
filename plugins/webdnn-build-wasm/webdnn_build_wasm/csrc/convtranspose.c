/* webdnn-build wasm kernel: 2-D ConvTranspose (wdn_convtranspose2d_f32), NCHW, weight [cin, cout/g, kh, kw].
 *
 * Scatter form per output plane (b, oc): the plane starts as bias[oc]; for each input channel ic of the
 * group, kernel tap (ky, kx) and input row iy, the input row times w[ic, oc, ky, kx] is added to output
 * row iy*sh - pad_t + ky*dh at columns ix*sw - pad_l + kx*dw:
 *  - sw == 1: a contiguous f32x4 axpy;
 *  - sw == kw == 2, dw == 1 (the usual 2x upsampling): both taps of a row at once, interleaved with a
 *    shuffle into 8 consecutive outputs;
 *  - otherwise a scalar strided loop.
 * Threads split the n * cout planes; each output element sums over (ic, ky, kx) in the same order on
 * every path, so results do not depend on nth.
 */
#include "kernels.h"
#include "internal.h"

/* valid input columns [*lo, *hi): 0 <= ix*s + off < ow */
static inline void col_range(int w, int s, int off, int ow, int* lo, int* hi) {
  int a = off >= 0 ? 0 : (-off + s - 1) / s;
  int b = off > ow - 1 ? 0 : (ow - 1 - off) / s + 1;
  if (b > w) b = w;
  if (a > b) a = b;
  *lo = a;
  *hi = b;
}

void wdn_convtranspose2d_f32(const wdn_convtranspose2d_params* p, int tid, int nth) {
  const int H = p->h, W = p->w, OH = p->oh, OW = p->ow, KH = p->kh, KW = p->kw;
  const int cin_g = p->cin / p->group, cout_g = p->cout / p->group;
  int q0, q1;
  wdn_split(p->n * p->cout, tid, nth, &q0, &q1);
  for (int q = q0; q < q1; q++) {
    const int b = q / p->cout, oc = q % p->cout, g = oc / cout_g, ocg = oc % cout_g;
    float* yp = p->y + (ptrdiff_t)q * OH * OW;
    const float bv = p->bias ? p->bias[oc] : 0.0f;
    for (int i = 0; i < OH * OW; i++) yp[i] = bv;
    for (int icg = 0; icg < cin_g; icg++) {
      const int ic = g * cin_g + icg;
      const float* xp = p->x + ((ptrdiff_t)b * p->cin + ic) * H * W;
      const float* wp = p->weight + ((ptrdiff_t)ic * cout_g + ocg) * KH * KW;
      for (int ky = 0; ky < KH; ky++) {
        const int oy_off = ky * p->dh - p->pad_t;
        if (p->sw == 2 && KW == 2 && p->dw == 1) {
          /* both kx taps: outputs off + 2ix (kx = 0) and off + 2ix + 1 (kx = 1), off = -pad_l */
          const float w0 = wp[ky * KW], w1 = wp[ky * KW + 1];
          const v128_t v0 = wasm_f32x4_splat(w0), v1 = wasm_f32x4_splat(w1);
          const int off = -p->pad_l;
          int lo0, hi0, lo1, hi1;
          col_range(W, 2, off, OW, &lo0, &hi0);
          col_range(W, 2, off + 1, OW, &lo1, &hi1);
          const int lo = wdn_maxi(lo0, lo1), hi = wdn_mini(hi0, hi1);
          for (int iy = 0; iy < H; iy++) {
            const int oy = iy * p->sh + oy_off;
            if ((unsigned)oy >= (unsigned)OH) continue;
            const float* xr = xp + (ptrdiff_t)iy * W;
            float* yr = yp + (ptrdiff_t)oy * OW + off;
            int ix = lo;
            for (; ix + 4 <= hi; ix += 4) {
              v128_t xv = wasm_v128_load(xr + ix);
              v128_t a = wasm_f32x4_mul(xv, v0), c = wasm_f32x4_mul(xv, v1);
              float* d = yr + 2 * ix;
              wasm_v128_store(d, wasm_f32x4_add(wasm_v128_load(d), wasm_i32x4_shuffle(a, c, 0, 4, 1, 5)));
              wasm_v128_store(d + 4, wasm_f32x4_add(wasm_v128_load(d + 4), wasm_i32x4_shuffle(a, c, 2, 6, 3, 7)));
            }
            for (; ix < hi; ix++) {
              yr[2 * ix] += xr[ix] * w0;
              yr[2 * ix + 1] += xr[ix] * w1;
            }
            /* columns only one tap reaches (the borders) */
            for (int t = lo0; t < hi0; t++)
              if (t < lo || t >= hi) yr[2 * t] += xr[t] * w0;
            for (int t = lo1; t < hi1; t++)
              if (t < lo || t >= hi) yr[2 * t + 1] += xr[t] * w1;
          }
          continue;
        }
        for (int kx = 0; kx < KW; kx++) {
          const float wv = wp[ky * KW + kx];
          const v128_t w4 = wasm_f32x4_splat(wv);
          const int off = kx * p->dw - p->pad_l;
          int lo, hi;
          col_range(W, p->sw, off, OW, &lo, &hi);
          for (int iy = 0; iy < H; iy++) {
            const int oy = iy * p->sh + oy_off;
            if ((unsigned)oy >= (unsigned)OH) continue;
            const float* xr = xp + (ptrdiff_t)iy * W;
            float* yr = yp + (ptrdiff_t)oy * OW + off;
            if (p->sw == 1) {
              int ix = lo;
              for (; ix + 4 <= hi; ix += 4)
                wasm_v128_store(yr + ix, wasm_f32x4_add(wasm_v128_load(yr + ix), wasm_f32x4_mul(wasm_v128_load(xr + ix), w4)));
              for (; ix < hi; ix++) yr[ix] += xr[ix] * wv;
            } else {
              const int s = p->sw;
              for (int ix = lo; ix < hi; ix++) yr[ix * s] += xr[ix] * wv;
            }
          }
        }
      }
    }
  }
}
