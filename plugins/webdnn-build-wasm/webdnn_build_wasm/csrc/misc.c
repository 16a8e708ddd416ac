/* webdnn-build wasm kernels: data movement (copy_blocks, transpose) and LRN.
 *
 * Splits: copy_blocks and the contiguous/gather transpose paths split the flat output range
 * (16-element aligned shares); the 4x4-tile transpose path splits (outer, 4-row tile) units; LRN
 * splits the n*hw pixels. Pure data movement is exact, and LRN computes each pixel with the same
 * lane-wise code in vector bodies and tails, so results never depend on nth.
 */
#include "kernels.h"
#include "internal.h"
#include "mathfn.h"

#define LD(p) wasm_v128_load(p)
#define ST(p, v) wasm_v128_store((p), (v))

static inline void mv_range(int64_t total, int tid, int nth, int64_t* lo, int64_t* hi) {
  int64_t blocks = (total + 15) / 16;
  int64_t q = blocks / nth, r = blocks % nth;
  int64_t b0 = tid * q + (tid < r ? tid : r);
  int64_t b1 = b0 + q + (tid < r ? 1 : 0);
  *lo = b0 * 16 < total ? b0 * 16 : total;
  *hi = b1 * 16 < total ? b1 * 16 : total;
}

static inline void copy_f32(float* __restrict d, const float* __restrict s, int n) {
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    v128_t a = LD(s + i), b = LD(s + i + 4), c = LD(s + i + 8), e = LD(s + i + 12);
    ST(d + i, a);
    ST(d + i + 4, b);
    ST(d + i + 8, c);
    ST(d + i + 12, e);
  }
  for (; i + 4 <= n; i += 4) ST(d + i, LD(s + i));
  for (; i < n; i++) {
    __asm__ volatile("" ::: "memory"); /* keep the tail a loop (no memcpy call in freestanding) */
    d[i] = s[i];
  }
}

void wdn_copy_blocks_f32(int count, int block, const float* src, int src_stride, float* dst, int dst_stride,
                         int tid, int nth) {
  if (count <= 0 || block <= 0) return;
  int64_t lo, hi;
  mv_range((int64_t)count * block, tid, nth, &lo, &hi);
  int64_t pos = lo;
  while (pos < hi) {
    int64_t b = pos / block, j = pos - b * block;
    int64_t seg = block - j;
    if (seg > hi - pos) seg = hi - pos;
    copy_f32(dst + b * dst_stride + j, src + b * src_stride + j, (int)seg);
    pos += seg;
  }
}

void wdn_transpose_f32(int rank, const int* out_shape, const int* in_strides, const float* x, float* y,
                       int tid, int nth) {
  int shp[6], st[6], r = 0;
  int64_t total = 1;
  for (int i = 0; i < rank; i++) {
    int s = out_shape[i];
    total *= s;
    if (s == 1) continue;
    if (r > 0 && st[r - 1] == in_strides[i] * s) {
      shp[r - 1] *= s;
      st[r - 1] = in_strides[i];
    } else {
      shp[r] = s;
      st[r] = in_strides[i];
      r++;
    }
  }
  if (total <= 0) return;
  if (r == 0) { shp[0] = 1; st[0] = 1; r = 1; }

  if (r >= 2 && st[r - 2] == 1 && st[r - 1] != 1) {
    /* 2-D tile path: out [outer, M, N], in element (m, n) at m + n * sN */
    const int M = shp[r - 2], N = shp[r - 1], sN = st[r - 1];
    const int mt = (M + 3) / 4;
    int64_t outer = total / ((int64_t)M * N);
    int u0, u1;
    wdn_split((int)(outer * mt), tid, nth, &u0, &u1);
    for (int u = u0; u < u1; u++) {
      int o = u / mt, m0 = (u - o * mt) * 4;
      ptrdiff_t ib = 0;
      {
        int rem = o;
        for (int d = r - 3; d >= 0; d--) { ib += (ptrdiff_t)(rem % shp[d]) * st[d]; rem /= shp[d]; }
      }
      const float* in = x + ib + m0;
      float* out = y + ((int64_t)o * M + m0) * N;
      if (m0 + 4 <= M) {
        int n = 0;
        for (; n + 4 <= N; n += 4) {
          v128_t v0 = LD(in + (ptrdiff_t)n * sN), v1 = LD(in + (ptrdiff_t)(n + 1) * sN);
          v128_t v2 = LD(in + (ptrdiff_t)(n + 2) * sN), v3 = LD(in + (ptrdiff_t)(n + 3) * sN);
          v128_t t0 = wasm_i32x4_shuffle(v0, v1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(v0, v1, 2, 6, 3, 7);
          v128_t t2 = wasm_i32x4_shuffle(v2, v3, 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(v2, v3, 2, 6, 3, 7);
          ST(out + n, wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5));
          ST(out + N + n, wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7));
          ST(out + 2 * N + n, wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5));
          ST(out + 3 * N + n, wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7));
        }
        for (; n < N; n++)
          for (int i = 0; i < 4; i++) out[i * N + n] = in[(ptrdiff_t)n * sN + i];
      } else {
        for (int i = 0; m0 + i < M; i++)
          for (int n = 0; n < N; n++) out[i * N + n] = in[(ptrdiff_t)n * sN + i];
      }
    }
    return;
  }

  /* row paths over the flat output range */
  int64_t lo, hi;
  mv_range(total, tid, nth, &lo, &hi);
  if (lo >= hi) return;
  const int in_len = shp[r - 1], is = st[r - 1];
  int idx[6];
  {
    int64_t rem = lo;
    for (int d = r - 1; d >= 0; d--) { idx[d] = (int)(rem % shp[d]); rem /= shp[d]; }
  }
  int64_t pos = lo;
  while (pos < hi) {
    ptrdiff_t ob = 0;
    for (int d = 0; d < r - 1; d++) ob += (ptrdiff_t)idx[d] * st[d];
    int j = idx[r - 1];
    int seg = in_len - j;
    if (seg > hi - pos) seg = (int)(hi - pos);
    const float* s = x + ob + (ptrdiff_t)j * is;
    float* d = y + pos;
    if (is == 1) {
      copy_f32(d, s, seg);
    } else {
      int i = 0;
      for (; i + 4 <= seg; i += 4)
        ST(d + i, wasm_f32x4_make(s[(ptrdiff_t)i * is], s[(ptrdiff_t)(i + 1) * is], s[(ptrdiff_t)(i + 2) * is],
                                  s[(ptrdiff_t)(i + 3) * is]));
      for (; i < seg; i++) d[i] = s[(ptrdiff_t)i * is];
    }
    pos += seg;
    if (j + seg == in_len) {
      idx[r - 1] = 0;
      for (int dd = r - 2; dd >= 0; dd--) {
        if (++idx[dd] < shp[dd]) break;
        idx[dd] = 0;
      }
    } else {
      idx[r - 1] = j + seg;
    }
  }
}

/* ---- LRN ---- */
static inline v128_t lrn_ld(const float* p, int n) {
  if (n == 4) return LD(p);
  float t[4] __attribute__((aligned(16))) = {1.0f, 1.0f, 1.0f, 1.0f};
  for (int k = 0; k < n; k++) t[k] = p[k];
  return LD(t);
}

void wdn_lrn_f32(int n, int c, int hw, int size, float alpha, float beta, float bias, const float* x, float* y,
                 int tid, int nth) {
  if (n <= 0 || c <= 0 || hw <= 0) return;
  int64_t lo, hi;
  mv_range((int64_t)n * hw, tid, nth, &lo, &hi);
  const int before = (size - 1) / 2, after = size - 1 - before;
  const v128_t vk = wasm_f32x4_splat(alpha / (float)size), vb = wasm_f32x4_splat(bias);
  const v128_t vbeta = wasm_f32x4_splat(-beta);
  int64_t pos = lo;
  while (pos < hi) {
    int img = (int)(pos / hw), p0 = (int)(pos - (int64_t)img * hw);
    int seg = hw - p0;
    if (seg > hi - pos) seg = (int)(hi - pos);
    const float* xb = x + (ptrdiff_t)img * c * hw;
    float* yb = y + (ptrdiff_t)img * c * hw;
    for (int px = p0; px < p0 + seg; px += 4) {
      int w = p0 + seg - px < 4 ? p0 + seg - px : 4;
      for (int ch = 0; ch < c; ch++) {
        int c0 = ch - before < 0 ? 0 : ch - before, c1 = ch + after >= c ? c - 1 : ch + after;
        v128_t sq = wasm_f32x4_splat(0.0f);
        for (int cc = c0; cc <= c1; cc++) {
          v128_t v = lrn_ld(xb + (ptrdiff_t)cc * hw + px, w);
          sq = wasm_f32x4_add(sq, wasm_f32x4_mul(v, v));
        }
        v128_t d = wasm_f32x4_add(vb, wasm_f32x4_mul(vk, sq));
        v128_t xv = lrn_ld(xb + (ptrdiff_t)ch * hw + px, w);
        v128_t out;
        if (beta == 0.75f) {
          v128_t s = wasm_f32x4_sqrt(d);
          out = wasm_f32x4_div(xv, wasm_f32x4_mul(s, wasm_f32x4_sqrt(s)));
        } else if (beta == 0.5f) {
          out = wasm_f32x4_div(xv, wasm_f32x4_sqrt(d));
        } else if (beta == 1.0f) {
          out = wasm_f32x4_div(xv, d);
        } else {
          out = wasm_f32x4_mul(xv, wdn_math_exp_v(wasm_f32x4_mul(vbeta, wdn_math_log_v(d))));
        }
        float* yp = yb + (ptrdiff_t)ch * hw + px;
        if (w == 4) ST(yp, out);
        else {
          float t[4] __attribute__((aligned(16)));
          ST(t, out);
          for (int k = 0; k < w; k++) yp[k] = t[k];
        }
      }
    }
    pos += seg;
  }
}
