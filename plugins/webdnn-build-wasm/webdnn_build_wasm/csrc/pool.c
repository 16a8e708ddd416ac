/* webdnn-build wasm kernels: MaxPool / AveragePool (2-D, NCHW) and the global pools.
 *
 * Windowed pools: the work unit is one output row (plane, oy); threads take contiguous ranges of
 * the n*c*oh rows (wdn_split), so every output is computed by exactly one thread with code that
 * does not depend on the split. Within a row, the outputs whose horizontal window lies entirely
 * inside the input ("interior") are computed 4 at a time: stride 1 with plain loads, 3-wide and
 * 2-wide stride-2 windows (dilation 1) with even/odd shuffles, other strides with gathers; the
 * border outputs (partly in the padding) go through a scalar loop with bounds checks. Only rows
 * inside the input are visited vertically, so padding of any size (and ceil-mode overhang) is
 * handled.
 *
 * Semantics (as the js backend): MaxPool over no valid element gives -inf; otherwise it starts from
 * the first valid tap (ky, kx ascending) and takes a later tap v only when v > max (f32x4.pmax: one
 * instruction), so a NaN propagates only when it is the first valid tap, exactly as the js kernel's
 * `x > best || first` scan; +0/-0 keep the first seen. AveragePool divides the
 * sum of the valid elements by their count, or with count_include_pad by the number of window
 * taps inside input + explicit pads (ceil-mode overhang beyond the end pad is not counted).
 * Sums run in the same order (ky outer, kx inner) in vector and scalar paths.
 */
#include "kernels.h"
#include "internal.h"

#define LD(p) wasm_v128_load(p)

/* max: pmax(acc, v) = acc < v ? v : acc (the js rule; the first tap initialises acc, see COMB) */
static inline v128_t pool_comb(v128_t acc, v128_t v, int is_max) {
  return is_max ? wasm_f32x4_pmax(acc, v) : wasm_f32x4_add(acc, v);
}
/* acc = first ? v : comb(acc, v) for max (the first valid tap of the window); add: from 0 */
#define COMB(v)                                                        \
  do {                                                                 \
    v128_t v_ = (v);                                                   \
    acc = (is_max && fst) ? v_ : pool_comb(acc, v_, is_max);           \
    fst = 0;                                                           \
  } while (0)

static void pool2d(const wdn_pool2d_params* p, int tid, int nth, int is_max) {
  const int H = p->h, W = p->w, OH = p->oh, OW = p->ow;
  const int KH = p->kh, KW = p->kw, SH = p->sh, SW = p->sw, DH = p->dh, DW = p->dw;
  const int PT = p->pad_t, PL = p->pad_l, PB = p->pad_b, PR = p->pad_r;
  const int units = p->n * p->c * OH;
  if (units <= 0 || OW <= 0) return;
  int u0, u1;
  wdn_split(units, tid, nth, &u0, &u1);
  const float init = is_max ? -__builtin_inff() : 0.0f;
  const v128_t vinit = wasm_f32x4_splat(init);

  /* interior ox range: all kx taps inside [0, W) */
  int ox0 = (PL + SW - 1) / SW;
  int lastx = W - 1 - (KW - 1) * DW + PL; /* need ox*SW <= lastx */
  int ox1 = lastx >= 0 ? lastx / SW + 1 : 0;
  if (ox0 > OW) ox0 = OW;
  if (ox1 > OW) ox1 = OW;
  if (ox1 < ox0) ox1 = ox0;
  const int fast_3s2 = (KW == 3 && SW == 2 && DW == 1);
  const int fast_2s2 = (KW == 2 && SW == 2 && DW == 1);

  for (int u = u0; u < u1; u++) {
    const int plane = u / OH, oy = u - plane * OH;
    const float* xp = p->x + (ptrdiff_t)plane * H * W;
    float* yrow = p->y + (ptrdiff_t)u * OW;
    const int iy0 = oy * SH - PT;
    int ky0 = 0, ky1 = KH, cy = 0;
    while (ky0 < KH && iy0 + ky0 * DH < 0) ky0++;
    while (ky1 > ky0 && iy0 + (ky1 - 1) * DH >= H) ky1--;
    for (int ky = 0; ky < KH; ky++) {
      int iy = iy0 + ky * DH;
      if (iy >= -PT && iy < H + PB) cy++;
    }
    const int vy = ky1 - ky0;

    /* scalar outputs: [0, ox0) and the rest after the vector blocks */
    int vec_end = ox0 + ((ox1 - ox0) & ~3);
    for (int ox = 0; ox < OW; ox++) {
      if (ox == ox0 && vec_end > ox0) { ox = vec_end - 1; continue; }
      const int ix0 = ox * SW - PL;
      int kx0 = 0, kx1 = KW, cx = 0;
      while (kx0 < KW && ix0 + kx0 * DW < 0) kx0++;
      while (kx1 > kx0 && ix0 + (kx1 - 1) * DW >= W) kx1--;
      float acc = init;
      int any = 0;
      for (int ky = ky0; ky < ky1; ky++) {
        const float* row = xp + (ptrdiff_t)(iy0 + ky * DH) * W + ix0;
        for (int kx = kx0; kx < kx1; kx++) {
          float v = row[kx * DW];
          if (is_max) { if (!any || v > acc) acc = v; any = 1; }
          else acc += v;
        }
      }
      if (!is_max) {
        int div;
        if (p->count_include_pad) {
          for (int kx = 0; kx < KW; kx++) {
            int ix = ix0 + kx * DW;
            if (ix >= -PL && ix < W + PR) cx++;
          }
          div = cy * cx;
        } else {
          div = vy * (kx1 - kx0);
        }
        acc = acc / (float)div;
      }
      yrow[ox] = acc;
    }

    if (vec_end <= ox0) continue;
    /* vector blocks of 4 interior outputs */
    const v128_t vdiv = wasm_f32x4_splat((float)((p->count_include_pad ? cy : vy) * KW));
    for (int ox = ox0; ox < vec_end; ox += 4) {
      const int ix0 = ox * SW - PL;
      v128_t acc = vinit;
      int fst = 1;
      for (int ky = ky0; ky < ky1; ky++) {
        const float* row = xp + (ptrdiff_t)(iy0 + ky * DH) * W + ix0;
        if (SW == 1) {
          for (int kx = 0; kx < KW; kx++) COMB(LD(row + kx * DW));
        } else if (fast_3s2) {
          v128_t v0 = LD(row), v1 = LD(row + 4), v2 = wasm_v128_load32_zero(row + 8);
          v128_t e = wasm_i32x4_shuffle(v0, v1, 0, 2, 4, 6);
          v128_t o = wasm_i32x4_shuffle(v0, v1, 1, 3, 5, 7);
          v128_t e2 = wasm_i32x4_shuffle(e, v2, 1, 2, 3, 4);
          COMB(e);
          COMB(o);
          COMB(e2);
        } else if (fast_2s2) {
          v128_t v0 = LD(row), v1 = LD(row + 4);
          COMB(wasm_i32x4_shuffle(v0, v1, 0, 2, 4, 6));
          COMB(wasm_i32x4_shuffle(v0, v1, 1, 3, 5, 7));
        } else {
          for (int kx = 0; kx < KW; kx++) {
            const float* q = row + kx * DW;
            COMB(wasm_f32x4_make(q[0], q[SW], q[2 * SW], q[3 * SW]));
          }
        }
      }
      if (!is_max) acc = wasm_f32x4_div(acc, vdiv);
      wasm_v128_store(yrow + ox, acc);
    }
  }
}

void wdn_maxpool2d_f32(const wdn_pool2d_params* p, int tid, int nth) { pool2d(p, tid, nth, 1); }
void wdn_avgpool2d_f32(const wdn_pool2d_params* p, int tid, int nth) { pool2d(p, tid, nth, 0); }

/* ---- global pools: one plane per unit; fixed reduction order per plane ---- */
void wdn_global_avgpool_f32(int nc, int hw, const float* x, float* y, int tid, int nth) {
  int p0, p1;
  wdn_split(nc, tid, nth, &p0, &p1);
  for (int pl = p0; pl < p1; pl++) {
    const float* xp = x + (ptrdiff_t)pl * hw;
    v128_t a0 = wasm_f32x4_splat(0.0f), a1 = a0;
    int i = 0;
    for (; i + 8 <= hw; i += 8) {
      a0 = wasm_f32x4_add(a0, LD(xp + i));
      a1 = wasm_f32x4_add(a1, LD(xp + i + 4));
    }
    if (i + 4 <= hw) { a0 = wasm_f32x4_add(a0, LD(xp + i)); i += 4; }
    a0 = wasm_f32x4_add(a0, a1);
    float s = (wasm_f32x4_extract_lane(a0, 0) + wasm_f32x4_extract_lane(a0, 1)) +
              (wasm_f32x4_extract_lane(a0, 2) + wasm_f32x4_extract_lane(a0, 3));
    for (; i < hw; i++) s += xp[i];
    y[pl] = s / (float)hw;
  }
}

void wdn_global_maxpool_f32(int nc, int hw, const float* x, float* y, int tid, int nth) {
  int p0, p1;
  wdn_split(nc, tid, nth, &p0, &p1);
  for (int pl = p0; pl < p1; pl++) {
    const float* xp = x + (ptrdiff_t)pl * hw;
    v128_t a0 = wasm_f32x4_splat(-__builtin_inff()), a1 = a0;
    int i = 0;
    for (; i + 8 <= hw; i += 8) {
      a0 = wasm_f32x4_max(a0, LD(xp + i));
      a1 = wasm_f32x4_max(a1, LD(xp + i + 4));
    }
    if (i + 4 <= hw) { a0 = wasm_f32x4_max(a0, LD(xp + i)); i += 4; }
    for (; i < hw; i++) a0 = wasm_f32x4_max(a0, wasm_f32x4_splat(xp[i]));
    a0 = wasm_f32x4_max(a0, a1);
    a0 = wasm_f32x4_max(a0, wasm_i32x4_shuffle(a0, a0, 2, 3, 0, 1));
    a0 = wasm_f32x4_max(a0, wasm_i32x4_shuffle(a0, a0, 1, 0, 3, 2));
    y[pl] = wasm_f32x4_extract_lane(a0, 0);
  }
}
