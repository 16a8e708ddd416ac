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
 * AveragePool sums in onnxruntime's order (webdnn_build/numerics.py avgpool_column_first), in vector
 * and scalar paths alike: with a horizontal stride of 1 or 2 each window column top to bottom, then
 * the column sums left to right; otherwise row by row (ky outer, kx inner). Quantized models
 * re-quantize after a pool, so a sum rounded differently from the reference grows layer by layer.
 */
#include "kernels.h"
#include "internal.h"
#include "kernels_rrp.h"
#include "mathfn.h"

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
  const int column_first = !is_max && SW <= 2;
  enum { MAX_VEC_COLUMNS = 8 }; /* wider column-first windows take the scalar path */

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
    int vec_end = column_first && KW > MAX_VEC_COLUMNS ? ox0 : ox0 + ((ox1 - ox0) & ~3);
    for (int ox = 0; ox < OW; ox++) {
      if (ox == ox0 && vec_end > ox0) { ox = vec_end - 1; continue; }
      const int ix0 = ox * SW - PL;
      int kx0 = 0, kx1 = KW, cx = 0;
      while (kx0 < KW && ix0 + kx0 * DW < 0) kx0++;
      while (kx1 > kx0 && ix0 + (kx1 - 1) * DW >= W) kx1--;
      float acc = init;
      int any = 0;
      if (column_first) {
        for (int kx = kx0; kx < kx1; kx++) {
          float col = 0.0f;
          for (int ky = ky0; ky < ky1; ky++) col += xp[(ptrdiff_t)(iy0 + ky * DH) * W + ix0 + kx * DW];
          acc += col;
        }
      } else {
        for (int ky = ky0; ky < ky1; ky++) {
          const float* row = xp + (ptrdiff_t)(iy0 + ky * DH) * W + ix0;
          for (int kx = kx0; kx < kx1; kx++) {
            float v = row[kx * DW];
            if (is_max) { if (!any || v > acc) acc = v; any = 1; }
            else acc += v;
          }
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
      if (column_first) {
        v128_t col[MAX_VEC_COLUMNS];
        for (int kx = 0; kx < KW; kx++) col[kx] = vinit;
        for (int ky = ky0; ky < ky1; ky++) {
          const float* row = xp + (ptrdiff_t)(iy0 + ky * DH) * W + ix0;
          if (SW == 1) {
            for (int kx = 0; kx < KW; kx++) col[kx] = wasm_f32x4_add(col[kx], LD(row + kx * DW));
          } else if (fast_3s2 || fast_2s2) {
            v128_t v0 = LD(row), v1 = LD(row + 4);
            v128_t e = wasm_i32x4_shuffle(v0, v1, 0, 2, 4, 6);
            col[0] = wasm_f32x4_add(col[0], e);
            col[1] = wasm_f32x4_add(col[1], wasm_i32x4_shuffle(v0, v1, 1, 3, 5, 7));
            if (fast_3s2) col[2] = wasm_f32x4_add(col[2], wasm_i32x4_shuffle(e, wasm_v128_load32_zero(row + 8), 1, 2, 3, 4));
          } else {
            for (int kx = 0; kx < KW; kx++) {
              const float* q = row + kx * DW;
              col[kx] = wasm_f32x4_add(col[kx], wasm_f32x4_make(q[0], q[SW], q[2 * SW], q[3 * SW]));
            }
          }
        }
        for (int kx = 0; kx < KW; kx++) acc = wasm_f32x4_add(acc, col[kx]);
        wasm_v128_store(yrow + ox, wasm_f32x4_div(acc, vdiv));
        continue;
      }
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
  /* onnxruntime's order: one 4-lane accumulator, lanes combined as (l0 + l2) + (l1 + l3), then the
   * tail element by element, then the division (see the js kernel's GlobalAveragePool) */
  int p0, p1;
  wdn_split(nc, tid, nth, &p0, &p1);
  for (int pl = p0; pl < p1; pl++) {
    const float* xp = x + (ptrdiff_t)pl * hw;
    v128_t a = wasm_f32x4_splat(0.0f);
    int i = 0;
    for (; i + 4 <= hw; i += 4) a = wasm_f32x4_add(a, LD(xp + i));
    a = wasm_f32x4_add(a, wasm_i32x4_shuffle(a, a, 2, 3, 0, 1));
    float s = wasm_f32x4_extract_lane(a, 0) + wasm_f32x4_extract_lane(a, 1);
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

/* ---- N-d windowed pools (1-3 spatial axes, lifted to 3): MaxPool of float32 / uint8 / int8 with the
 * optional argmax indices, AveragePool, LpPool. Scalar; a thread takes a range of the planes * od * oh
 * output rows; each output is one window walk in a fixed order. Taps outside the input are skipped
 * (max: they never win; average: counted only with count_include_pad, and only inside the pads; Lp:
 * they add 0). */
static inline double pool_load(int dtype, const void* x, int64_t i) {
  switch (dtype) {
    case WDN_DT_U8: return ((const uint8_t*)x)[i];
    case WDN_DT_I8: return ((const int8_t*)x)[i];
    default: return ((const float*)x)[i];
  }
}

static inline double pool_ipow(double v, int p) {
  double r = 1;
  for (int i = 0; i < p; i++) r *= v;
  return r;
}

void wdn_pool_nd(const wdn_pool_nd_params* p, int tid, int nth) {
  const int64_t rows = (int64_t)p->planes * p->out[0] * p->out[1];
  if (rows <= 0 || p->out[2] <= 0) return;
  int64_t lo, hi;
  wdn_split_blocks(rows, 1, tid, nth, &lo, &hi);
  const int64_t plane_in = (int64_t)p->in[0] * p->in[1] * p->in[2];
  for (int64_t r = lo; r < hi; r++) {
    const int64_t pl = r / ((int64_t)p->out[0] * p->out[1]);
    const int od = (int)(r / p->out[1] % p->out[0]), oh = (int)(r % p->out[1]);
    for (int ow = 0; ow < p->out[2]; ow++) {
      const int o[3] = {od, oh, ow};
      int lo3[3], cnt[3]; /* first tap index, taps inside the pads */
      int kb[3], ke[3];   /* taps [kb, ke) inside the input */
      for (int a = 0; a < 3; a++) {
        lo3[a] = o[a] * p->s[a] - p->pb[a];
        kb[a] = 0;
        ke[a] = p->k[a];
        while (kb[a] < p->k[a] && lo3[a] + kb[a] * p->d[a] < 0) kb[a]++;
        while (ke[a] > kb[a] && lo3[a] + (ke[a] - 1) * p->d[a] >= p->in[a]) ke[a]--;
        cnt[a] = 0;
        for (int t = 0; t < p->k[a]; t++) {
          const int i = lo3[a] + t * p->d[a];
          if (i >= -p->pb[a] && i < p->in[a] + p->pe[a]) cnt[a]++;
        }
      }
      double acc = p->kind == WDN_POOL_MAX ? -__builtin_inf() : 0.0;
      int64_t best = -1;
      for (int t0 = kb[0]; t0 < ke[0]; t0++) {
        const int i0 = lo3[0] + t0 * p->d[0];
        for (int t1 = kb[1]; t1 < ke[1]; t1++) {
          const int i1 = lo3[1] + t1 * p->d[1];
          for (int t2 = kb[2]; t2 < ke[2]; t2++) {
            const int i2 = lo3[2] + t2 * p->d[2];
            const int64_t at = ((int64_t)i0 * p->in[1] + i1) * p->in[2] + i2;
            const double v = pool_load(p->dtype, p->x, pl * plane_in + at);
            if (p->kind == WDN_POOL_MAX) {
              if (best < 0 || v > acc) {
                acc = v;
                /* the argmax: row-major (storage_order 0) or column-major index of the spatial position */
                best = p->storage_order ? ((int64_t)i2 * p->in[1] + i1) * p->in[0] + i0 : at;
              }
            } else if (p->kind == WDN_POOL_LP) {
              acc += pool_ipow(__builtin_fabs(v), p->p);
            } else {
              acc += v;
            }
          }
        }
      }
      const int64_t oi = r * p->out[2] + ow;
      if (p->kind == WDN_POOL_AVG) {
        const int64_t div = p->count_include_pad ? (int64_t)cnt[0] * cnt[1] * cnt[2]
                                                 : (int64_t)(ke[0] - kb[0]) * (ke[1] - kb[1]) * (ke[2] - kb[2]);
        acc = acc / (double)div;
      } else if (p->kind == WDN_POOL_LP) {
        if (p->p == 1) {
        } else if (p->p == 2) {
          acc = __builtin_sqrt(acc);
        } else if (acc > 0 && acc < __builtin_inf()) {
          acc = acc < 2.2250738585072014e-308 ? 0.0 : wdn_math_exp_d(wdn_math_log_d(acc) / p->p);
        }
      }
      switch (p->dtype) {
        case WDN_DT_U8: ((uint8_t*)p->y)[oi] = best < 0 ? 0 : (uint8_t)acc; break;
        case WDN_DT_I8: ((int8_t*)p->y)[oi] = best < 0 ? -128 : (int8_t)acc; break;
        default: ((float*)p->y)[oi] = (float)acc; break;
      }
      if (p->indices) p->indices[oi] = best < 0 ? 0 : pl * plane_in + best;
    }
  }
}
