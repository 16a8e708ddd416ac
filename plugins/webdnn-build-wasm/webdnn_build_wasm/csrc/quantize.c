/* webdnn-build wasm kernels: linear quantization (QuantizeLinear, DequantizeLinear,
 * DynamicQuantizeLinear) and MatMulInteger. See kernels.h for the semantics.
 *
 * Elementwise kernels split the flat range into per-thread shares of whole 16-element blocks; every
 * element's result depends only on its inputs (IEEE float32 division, round-half-even), so results
 * are identical for any thread count and equal the js kernels' (quantize.js).
 * MatMulInteger is exact integer arithmetic (int32, wrapping): the split over N cannot change it.
 */
#include "kernels.h"
#include "internal.h"

/* ---- quantized element access (the quantized side is uint8, int8 or int32) ---- */
WDN_INLINE int32_t q_get(int dt, const void* p, int64_t i) {
  switch (dt) {
    case WDN_DT_U8: return ((const uint8_t*)p)[i];
    case WDN_DT_I8: return ((const int8_t*)p)[i];
    default: return ((const int32_t*)p)[i];
  }
}

/* walk [lo, hi) of the flat range in runs that share one scale / zero point (index (i / inner) % chan) */
#define Q_WALK(P, LO, HI, BODY)                                              \
  for (int64_t pos = (LO); pos < (HI);) {                                    \
    int64_t row = pos / (P)->inner, j = pos - row * (P)->inner;              \
    int c = (int)(row % (P)->chan);                                          \
    int64_t seg = (P)->inner - j;                                            \
    if (seg > (HI) - pos) seg = (HI) - pos;                                  \
    const float s = (P)->scale[c];                                           \
    const int32_t z = (P)->zp ? q_get((P)->qdt, (P)->zp, c) : 0;             \
    BODY                                                                     \
    pos += seg;                                                              \
  }

static void q_range(const wdn_quant_params* p, int tid, int nth, int64_t* lo, int64_t* hi) {
  wdn_split_blocks(p->outer * p->chan * p->inner, 16, tid, nth, lo, hi);
}

void wdn_dequantize_linear(const wdn_quant_params* p, int tid, int nth) {
  int64_t lo, hi;
  q_range(p, tid, nth, &lo, &hi);
  float* y = p->f;
  switch (p->qdt) {
    case WDN_DT_U8: {
      const uint8_t* x = (const uint8_t*)p->q;
      Q_WALK(p, lo, hi, { for (int64_t i = pos; i < pos + seg; i++) y[i] = (float)((int32_t)x[i] - z) * s; })
      break;
    }
    case WDN_DT_I8: {
      const int8_t* x = (const int8_t*)p->q;
      Q_WALK(p, lo, hi, { for (int64_t i = pos; i < pos + seg; i++) y[i] = (float)((int32_t)x[i] - z) * s; })
      break;
    }
    default: { /* int32: x - zp formed exactly (64-bit), rounded once to float32 */
      const int32_t* x = (const int32_t*)p->q;
      Q_WALK(p, lo, hi, { for (int64_t i = pos; i < pos + seg; i++) y[i] = (float)((int64_t)x[i] - z) * s; })
      break;
    }
  }
}

/* saturate(rint(v) + z) to [lo, hi]; NaN -> lo, as onnxruntime (MLAS) does: a QDQ model whose calibration
 * gave scale = inf (an all -inf attention mask) quantizes -inf / inf = NaN and relies on it */
WDN_INLINE int32_t q_round_sat(float v, float z, float lo, float hi) {
  v = __builtin_roundevenf(v) + z;
  return v <= hi ? (v >= lo ? (int32_t)v : (int32_t)lo) : (v > hi ? (int32_t)hi : (int32_t)lo);
}

void wdn_quantize_linear(const wdn_quant_params* p, int tid, int nth) {
  int64_t lo, hi;
  q_range(p, tid, nth, &lo, &hi);
  const float* x = p->f;
  if (p->qdt == WDN_DT_U8) {
    uint8_t* y = (uint8_t*)p->q;
    Q_WALK(p, lo, hi, {
      const float zf = (float)z;
      for (int64_t i = pos; i < pos + seg; i++) y[i] = (uint8_t)q_round_sat(x[i] / s, zf, 0.0f, 255.0f);
    })
  } else {
    int8_t* y = (int8_t*)p->q;
    Q_WALK(p, lo, hi, {
      const float zf = (float)z;
      for (int64_t i = pos; i < pos + seg; i++) y[i] = (int8_t)q_round_sat(x[i] / s, zf, -128.0f, 127.0f);
    })
  }
}

/* per-thread min / max of DynamicQuantizeLinear (read by all threads after a barrier; the barrier
 * after the op keeps the next such op from overwriting them early) */
static float dq_min[WDN_MAX_THREADS], dq_max[WDN_MAX_THREADS];

void wdn_dynamic_quantize_linear(int64_t count, const float* x, uint8_t* y, float* y_scale, uint8_t* y_zp,
                                 int tid, int nth) {
  int64_t lo, hi;
  wdn_split_blocks(count, 16, tid, nth, &lo, &hi);
  /* min / max including 0; NaN is skipped (pmax(m, v) = m < v ? v : m) */
  v128_t vmax = wasm_f32x4_splat(0.0f), vmin = vmax;
  int64_t i = lo;
  for (; i + 4 <= hi; i += 4) {
    v128_t v = wasm_v128_load(x + i);
    vmax = wasm_f32x4_pmax(vmax, v);
    vmin = wasm_f32x4_pmin(vmin, v);
  }
  float mx = 0.0f, mn = 0.0f;
  float lmax[4] __attribute__((aligned(16))), lmin[4] __attribute__((aligned(16)));
  wasm_v128_store(lmax, vmax);
  wasm_v128_store(lmin, vmin);
  for (int l = 0; l < 4; l++) {
    mx = lmax[l] > mx ? lmax[l] : mx;
    mn = lmin[l] < mn ? lmin[l] : mn;
  }
  for (; i < hi; i++) {
    mx = x[i] > mx ? x[i] : mx;
    mn = x[i] < mn ? x[i] : mn;
  }
  dq_min[tid] = mn;
  dq_max[tid] = mx;
  wdn_barrier(nth);
  for (int t = 0; t < nth; t++) {
    mx = dq_max[t] > mx ? dq_max[t] : mx;
    mn = dq_min[t] < mn ? dq_min[t] : mn;
  }
  /* as ONNX / onnxruntime: scale = (max - min) / 255 (1 when the range is empty),
   * zero point = rint(clamp(0 - min / scale, 0, 255)) */
  const float scale = (mx == mn ? 1.0f : mx - mn) / 255.0f;
  float zf = 0.0f - mn / scale;
  zf = zf < 0.0f ? 0.0f : zf > 255.0f ? 255.0f : zf;
  zf = __builtin_roundevenf(zf);
  for (i = lo; i < hi; i++) y[i] = (uint8_t)q_round_sat(x[i] / scale, zf, 0.0f, 255.0f);
  if (tid == 0) {
    *y_scale = scale;
    *y_zp = (uint8_t)zf;
  }
}

/* ---- MatMulInteger ---- */

/* 8 elements of an 8-bit row widened to int16, minus the zero point */
WDN_INLINE v128_t ld8_i16(const void* p, int is_signed, v128_t zp) {
  v128_t v = is_signed ? wasm_i16x8_load8x8(p) : wasm_u16x8_load8x8(p);
  return wasm_i16x8_sub(v, zp);
}

WDN_INLINE int32_t hsum_i32(v128_t v) {
  v = wasm_i32x4_add(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
  v = wasm_i32x4_add(v, wasm_i32x4_shuffle(v, v, 1, 0, 3, 2));
  return wasm_i32x4_extract_lane(v, 0);
}

/* The k % 8 tail of one output: sum over kk in [k8, k) of (A[kk] - azp) * b[kk] */
WDN_INLINE uint32_t idot_tail(const uint8_t* row, int k8, int k, int32_t azp, const int16_t* b, int a_signed) {
  uint32_t s = 0;
  for (int kk = k8; kk < k; kk++) {
    const int32_t av = (a_signed ? (int32_t)((const int8_t*)row)[kk] : (int32_t)row[kk]) - azp;
    s += (uint32_t)(av * (int32_t)b[kk]);
  }
  return s;
}

/* m rows of an 8-bit A (row r at a + r * lda, k elements, its zero point zp[r] when zp_per_row else zp[0])
 * against one packed block of columns (int16, zero point subtracted, column j at bp + j * kp, zeros past k
 * and in the columns up to nb rounded up to 4); writes the first nb columns of y (row r at y + r * ldy).
 * Columns in groups of 4, each group against every row (its 4 packed columns stay in L1 while A streams
 * by: a quarter of the traffic of the rows-outer order); register tiles of 2 rows x 4 columns (8 i32x4
 * accumulators: each widened A vector feeds 4 dot products, each B vector 2), then a single last row.
 * Shared by MatMulInteger and ConvInteger. */
WDN_INLINE void idot_block(const uint8_t* a, int lda, int rows, int k, const void* zp, int zp_per_row,
                           const int16_t* bp, int kp, int nb, int32_t* y, int ldy, int a_signed) {
  const int k8 = k & ~7;
  const int zdt = a_signed ? WDN_DT_I8 : WDN_DT_U8;
  for (int j = 0; j < nb; j += 4) {
    const int16_t* b0 = bp + (size_t)j * kp;
    int m = 0;
    for (; m + 2 <= rows; m += 2) {
      const uint8_t* r0 = a + (size_t)m * lda;
      const uint8_t* r1 = r0 + lda;
      const int32_t z0 = zp ? q_get(zdt, zp, zp_per_row ? m : 0) : 0;
      const int32_t z1 = zp ? q_get(zdt, zp, zp_per_row ? m + 1 : 0) : 0;
      const v128_t vz0 = wasm_i16x8_splat((int16_t)z0), vz1 = wasm_i16x8_splat((int16_t)z1);
      v128_t a00 = wasm_i32x4_splat(0), a01 = a00, a02 = a00, a03 = a00;
      v128_t a10 = a00, a11 = a00, a12 = a00, a13 = a00;
      for (int kk = 0; kk < k8; kk += 8) {
        const v128_t va0 = ld8_i16(r0 + kk, a_signed, vz0), va1 = ld8_i16(r1 + kk, a_signed, vz1);
        v128_t vb = wasm_v128_load(b0 + kk);
        a00 = wasm_i32x4_add(a00, wasm_i32x4_dot_i16x8(va0, vb));
        a10 = wasm_i32x4_add(a10, wasm_i32x4_dot_i16x8(va1, vb));
        vb = wasm_v128_load(b0 + kp + kk);
        a01 = wasm_i32x4_add(a01, wasm_i32x4_dot_i16x8(va0, vb));
        a11 = wasm_i32x4_add(a11, wasm_i32x4_dot_i16x8(va1, vb));
        vb = wasm_v128_load(b0 + 2 * kp + kk);
        a02 = wasm_i32x4_add(a02, wasm_i32x4_dot_i16x8(va0, vb));
        a12 = wasm_i32x4_add(a12, wasm_i32x4_dot_i16x8(va1, vb));
        vb = wasm_v128_load(b0 + 3 * kp + kk);
        a03 = wasm_i32x4_add(a03, wasm_i32x4_dot_i16x8(va0, vb));
        a13 = wasm_i32x4_add(a13, wasm_i32x4_dot_i16x8(va1, vb));
      }
      const uint32_t s0[4] = {(uint32_t)hsum_i32(a00), (uint32_t)hsum_i32(a01), (uint32_t)hsum_i32(a02),
                              (uint32_t)hsum_i32(a03)};
      const uint32_t s1[4] = {(uint32_t)hsum_i32(a10), (uint32_t)hsum_i32(a11), (uint32_t)hsum_i32(a12),
                              (uint32_t)hsum_i32(a13)};
      int32_t* y0 = y + (size_t)m * ldy + j;
      for (int c = 0; c < 4 && j + c < nb; c++) {
        y0[c] = (int32_t)(s0[c] + idot_tail(r0, k8, k, z0, b0 + (size_t)c * kp, a_signed));
        y0[ldy + c] = (int32_t)(s1[c] + idot_tail(r1, k8, k, z1, b0 + (size_t)c * kp, a_signed));
      }
    }
    if (m < rows) {
      const uint8_t* row = a + (size_t)m * lda;
      const int32_t azp = zp ? q_get(zdt, zp, zp_per_row ? m : 0) : 0;
      const v128_t vz = wasm_i16x8_splat((int16_t)azp);
      v128_t acc0 = wasm_i32x4_splat(0), acc1 = acc0, acc2 = acc0, acc3 = acc0;
      for (int kk = 0; kk < k8; kk += 8) {
        v128_t va = ld8_i16(row + kk, a_signed, vz);
        acc0 = wasm_i32x4_add(acc0, wasm_i32x4_dot_i16x8(va, wasm_v128_load(b0 + kk)));
        acc1 = wasm_i32x4_add(acc1, wasm_i32x4_dot_i16x8(va, wasm_v128_load(b0 + kp + kk)));
        acc2 = wasm_i32x4_add(acc2, wasm_i32x4_dot_i16x8(va, wasm_v128_load(b0 + 2 * kp + kk)));
        acc3 = wasm_i32x4_add(acc3, wasm_i32x4_dot_i16x8(va, wasm_v128_load(b0 + 3 * kp + kk)));
      }
      const uint32_t s[4] = {(uint32_t)hsum_i32(acc0), (uint32_t)hsum_i32(acc1), (uint32_t)hsum_i32(acc2),
                             (uint32_t)hsum_i32(acc3)};
      int32_t* yr = y + (size_t)m * ldy + j;
      for (int c = 0; c < 4 && j + c < nb; c++)
        yr[c] = (int32_t)(s[c] + idot_tail(row, k8, k, azp, b0 + (size_t)c * kp, a_signed));
    }
  }
}

/* Packed panels of MatMulInteger (kp = k rounded up to 8, kb = kp / 8 steps of 8):
 *  - A, rows in pairs: pair q at a16 + q * 2 * kp, step s holding row 2q's 8 values then row 2q + 1's, as
 *    int16 with the zero point subtracted; zeros past k and in a missing odd last row;
 *  - B, columns in fours: panel p at bp + p * 4 * kp, step s holding its 4 columns' 8 values, as int16 with
 *    the zero point subtracted; zeros past k and past the last column.
 * Both are zero past k, so the dot products run to kp with no tail. */

/* B's columns [n0, n0 + cols) as panels (cols rounded up to 4) */
static void matmul_integer_pack_b(const wdn_matmul_integer_params* p, int n0, int cols, int16_t* out) {
  const int k = p->k, n = p->n, kp = (k + 7) / 8 * 8;
  const int bdt = p->b_signed ? WDN_DT_I8 : WDN_DT_U8;
  const int panels = (cols + 3) / 4;
  for (int pn = 0; pn < panels; pn++) {
    int16_t* panel = out + (size_t)pn * 4 * kp;
    for (int c = 0; c < 4; c++) {
      const int col = n0 + pn * 4 + c;
      const int live = pn * 4 + c < cols && col < n;
      const int16_t bz = (int16_t)(live && p->b_zp ? q_get(bdt, p->b_zp, p->b_zp_per_col ? col : 0) : 0);
      for (int kk = 0; kk < kp; kk++) {
        int16_t v = 0;
        if (live && kk < k) {
          const int64_t i = (int64_t)kk * n + col;
          v = (int16_t)((p->b_signed ? (int16_t)((const int8_t*)p->b)[i] : (int16_t)((const uint8_t*)p->b)[i]) - bz);
        }
        panel[(size_t)(kk / 8) * 32 + c * 8 + kk % 8] = v;
      }
    }
  }
}

void wdn_matmul_integer_prepack_b(const wdn_matmul_integer_params* p, int16_t* out) {
  matmul_integer_pack_b(p, 0, p->n, out);
}

/* rows [m0, m0 + rows) of A as row-pair panels */
static void matmul_integer_widen_a(const wdn_matmul_integer_params* p, int m0, int rows, int16_t* out) {
  const int k = p->k, kp = (k + 7) / 8 * 8, k8 = k & ~7;
  const int zdt = p->a_signed ? WDN_DT_I8 : WDN_DT_U8;
  const int16_t zp = (int16_t)(p->a_zp ? q_get(zdt, p->a_zp, 0) : 0);
  const v128_t vz = wasm_i16x8_splat(zp);
  const int padded = (rows + 1) / 2 * 2;
  for (int r = 0; r < padded; r++) {
    int16_t* dst = out + (size_t)(r / 2) * 2 * kp + (r % 2) * 8;
    if (r >= rows) {
      for (int kk = 0; kk < kp; kk += 8) wasm_v128_store(dst + kk * 2, wasm_i16x8_splat(0));
      continue;
    }
    const uint8_t* src = (const uint8_t*)p->a + (size_t)(m0 + r) * k;
    for (int kk = 0; kk < k8; kk += 8) wasm_v128_store(dst + kk * 2, ld8_i16(src + kk, p->a_signed, vz));
    if (k8 < kp) {
      int16_t t[8];
      for (int i = 0; i < 8; i++) {
        const int kk = k8 + i;
        t[i] = kk < k ? (int16_t)((p->a_signed ? (int16_t)((const int8_t*)src)[kk] : (int16_t)src[kk]) - zp) : 0;
      }
      wasm_v128_store(dst + k8 * 2, wasm_v128_load(t));
    }
  }
}

/* y[r, j] = A row r . B column j for r < rows, j < cols (y row r at y + r * ldy): B panels outer (one
 * panel, 4 columns, stays in L1 while the A panels stream by), row pairs inside; edge tiles (an odd last
 * row, fewer than 4 columns) through a small buffer */
static void idot_panels(const int16_t* a16, int rows, int kp, const int16_t* bp, int cols, int32_t* y, int ldy) {
  int32_t edge[8] __attribute__((aligned(16)));
  for (int j = 0; j < cols; j += 4) {
    const int16_t* panel = bp + (size_t)(j / 4) * 4 * kp;
    const int nc = cols - j < 4 ? cols - j : 4;
    for (int m = 0; m < rows; m += 2) {
      const int16_t* apanel = a16 + (size_t)(m / 2) * 2 * kp;
      int32_t* yt = y + (size_t)m * ldy + j;
      const int nr = rows - m < 2 ? rows - m : 2;
      if (nc == 4 && nr == 2) {
        wdn__ikern2x4(apanel, panel, kp / 8, yt, ldy);
        continue;
      }
      wdn__ikern2x4(apanel, panel, kp / 8, edge, 4);
      for (int r = 0; r < nr; r++)
        for (int c = 0; c < nc; c++) yt[(size_t)r * ldy + c] = edge[r * 4 + c];
    }
  }
}

/* MatMulIntegerToFloat's epilogue, in place over rows x columns [lo, hi) of y (int32 sums in, float32 out) */
static void matmul_integer_to_float(const wdn_matmul_integer_params* p, int32_t* y, int rows, int lo, int hi) {
  const int n = p->n;
  const float sa = p->a_scale[0];
  for (int r = 0; r < rows; r++) {
    int32_t* yi = y + (size_t)r * n;
    float* yf = (float*)yi;
    int j = lo;
    for (; j + 4 <= hi; j += 4) {
      const v128_t mult = p->b_scale_per_col ? wasm_f32x4_mul(wasm_f32x4_splat(sa), wasm_v128_load(p->b_scale + j))
                                             : wasm_f32x4_splat(sa * p->b_scale[0]);
      v128_t v = wasm_f32x4_mul(wasm_f32x4_convert_i32x4(wasm_v128_load(yi + j)), mult);
      if (p->bias) v = wasm_f32x4_add(v, wasm_v128_load(p->bias + j));
      wasm_v128_store(yf + j, v);
    }
    for (; j < hi; j++) {
      const float mult = sa * p->b_scale[p->b_scale_per_col ? j : 0];
      float v = (float)yi[j] * mult;
      if (p->bias) v += p->bias[j];
      yf[j] = v;
    }
  }
}

void wdn_matmul_integer(const wdn_matmul_integer_params* p, int tid, int nth) {
  const int NB = WDN_MATMUL_INTEGER_NB, MR = WDN_MATMUL_INTEGER_MR, k = p->k, n = p->n;
  const int kp = (k + 7) / 8 * 8;
  int lo, hi;
  wdn_split((n + 3) / 4, tid, nth, &lo, &hi); /* units of 4 columns: whole B panels */
  lo *= 4;
  hi = wdn_mini(hi * 4, n);
  if (hi <= lo) return;
  /* per thread: MR rows of A as panels, then (B packed per run) NB columns of B */
  int16_t* a16 = (int16_t*)wdn_scratch_f32(p->scratch, p->scratch_stride, tid);
  int16_t* bp = a16 + (size_t)MR * kp;
  for (int m0 = 0; m0 < p->m; m0 += MR) {
    const int rows = wdn_mini(MR, p->m - m0);
    matmul_integer_widen_a(p, m0, rows, a16);
    int32_t* y = p->y + (size_t)m0 * n;
    if (p->b_packed) { /* B packed once at load (a constant) */
      idot_panels(a16, rows, kp, p->b_packed + (size_t)lo * kp, hi - lo, y + lo, n);
    } else {
      for (int n0 = lo; n0 < hi; n0 += NB) {
        const int nb = wdn_mini(NB, hi - n0);
        matmul_integer_pack_b(p, n0, nb, bp);
        idot_panels(a16, rows, kp, bp, nb, y + n0, n);
      }
    }
    if (p->to_float) matmul_integer_to_float(p, y, rows, lo, hi);
  }
}

/* ---- ConvInteger: the weight rows [cout_g, K] (K = cin_g * kh * kw, contiguous in OIHW) are the A side of
 * idot_block; the B side is a block of WDN_CONV_INTEGER_PB output pixels' patches, packed as int16 with the
 * input zero point subtracted (padding contributes 0, as padding with x_zp in onnxruntime). Work units are
 * (batch, group, pixel block); each is computed whole by one thread, so the split cannot change a result. */
void wdn_conv_integer(const wdn_conv_integer_params* p, int tid, int nth) {
  const int PB = WDN_CONV_INTEGER_PB;
  const int cin_g = p->cin / p->group, cout_g = p->cout / p->group;
  const int K = cin_g * p->kh * p->kw, kp = (K + 7) / 8 * 8;
  const int P = p->oh * p->ow, blocks = (P + PB - 1) / PB;
  const int xdt = p->x_signed ? WDN_DT_I8 : WDN_DT_U8;
  const int32_t xzp = p->x_zp ? q_get(xdt, p->x_zp, 0) : 0;
  int lo, hi;
  wdn_split(p->n * p->group * blocks, tid, nth, &lo, &hi);
  int16_t* bp = (int16_t*)wdn_scratch_f32(p->scratch, p->scratch_stride, tid);
  for (int u = lo; u < hi; u++) {
    const int blk = u % blocks, g = (u / blocks) % p->group, b = u / blocks / p->group;
    const int p0 = blk * PB, nb = wdn_mini(PB, P - p0);
    const uint8_t* xg = (const uint8_t*)p->x + ((size_t)b * p->cin + (size_t)g * cin_g) * p->h * p->w;
    for (int j = 0; j < PB; j++) {
      int16_t* col = bp + (size_t)j * kp;
      int kk = 0;
      if (j < nb) {
        const int oy = (p0 + j) / p->ow, ox = (p0 + j) % p->ow;
        WDN_SCALAR_LOOP
        for (int ic = 0; ic < cin_g; ic++) {
          const uint8_t* xc = xg + (size_t)ic * p->h * p->w;
          for (int ky = 0; ky < p->kh; ky++) {
            const int iy = oy * p->sh - p->pad_t + ky * p->dh;
            for (int kx = 0; kx < p->kw; kx++, kk++) {
              const int ix = ox * p->sw - p->pad_l + kx * p->dw;
              int32_t v = 0;
              if (iy >= 0 && iy < p->h && ix >= 0 && ix < p->w) {
                const size_t i = (size_t)iy * p->w + ix;
                v = (p->x_signed ? (int32_t)((const int8_t*)xc)[i] : (int32_t)xc[i]) - xzp;
              }
              col[kk] = (int16_t)v;
            }
          }
        }
      }
      for (; kk < kp; kk++) col[kk] = 0;
    }
    const int oc0 = g * cout_g;
    const uint8_t* w = (const uint8_t*)p->weight + (size_t)oc0 * K;
    const void* wzp = p->w_zp ? (const void*)((const uint8_t*)p->w_zp + (p->w_zp_per_oc ? oc0 : 0)) : 0;
    int32_t* y = p->y + ((size_t)b * p->cout + oc0) * P + p0;
    if (p->w_signed) idot_block(w, K, cout_g, K, wzp, p->w_zp_per_oc, bp, kp, nb, y, P, 1);
    else idot_block(w, K, cout_g, K, wzp, p->w_zp_per_oc, bp, kp, nb, y, P, 0);
  }
}
