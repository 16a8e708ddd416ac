/* webdnn-build wasm kernels: small shared inline helpers (internal, not part of the model ABI).
 *
 * Include after kernels.h in any kernel .c file. Everything here is `static inline`, so each
 * translation unit gets its own copy and unused helpers cost nothing.
 *
 *   wdn_mini / wdn_maxi / wdn_minf / wdn_maxf     scalar min/max
 *   wdn_split(total, tid, nth, &lo, &hi)          contiguous static share [lo, hi) of `total` items
 *                                                 (depends only on total/tid/nth: deterministic)
 *   wdn_split_blocks(total, blk, tid, nth, ...)   the same for 64-bit totals, shares in whole blocks of blk
 *   wdn_nd_first / wdn_nd_next                     walk an output range in rows of the innermost axis
 *   wdn_act_v(v, act) / wdn_act_s(x, act)          apply a fused activation (wdn_act) to a v128 /
 *                                                  a float. Use wdn_act_v4 on hot paths: it takes
 *                                                  the activation pre-broadcast (wdn_act_vec).
 *   WDN_UN_LOOP(EXPR)                              y = EXPR of each 4 lanes v of x over [lo, hi) (float unary ops)
 *
 * Numerics: the fused Sigmoid, Tanh and Swish are mathfn.h's (the same functions as the standalone ops);
 * no relaxed SIMD (deterministic results).
 */
#ifndef WEBDNN_INTERNAL_H
#define WEBDNN_INTERNAL_H

#include <wasm_simd128.h>
#include "kernels.h"

#define WDN_INLINE static inline __attribute__((always_inline))
/* before a loop: keep it scalar (no auto-vectorization, interleaving or unrolling). For the many small
 * typed-kernel variants (indexing.c, logical.c, cast.c), where vector code would multiply the code size. */
#define WDN_SCALAR_LOOP _Pragma("clang loop vectorize(disable) interleave(disable) unroll(disable)")
/* y[i] = EXPR over [lo, hi) of x (float), 4 lanes at a time with `v` the lanes of x; the tail through the
 * including file's ld_part / st_part. The index has lo's type (int or int64_t, as the caller's range). */
#define WDN_UN_LOOP(EXPR)                                              \
  do {                                                                 \
    __typeof__(lo) i = lo;                                             \
    for (; i + 4 <= hi; i += 4) {                                      \
      v128_t v = wasm_v128_load(x + i);                                \
      wasm_v128_store(y + i, (EXPR));                                  \
    }                                                                  \
    if (i < hi) {                                                      \
      v128_t v = ld_part(x + i, hi - i);                               \
      st_part(y + i, (EXPR), hi - i);                                  \
    }                                                                  \
  } while (0)

WDN_INLINE int wdn_mini(int a, int b) { return a < b ? a : b; }
WDN_INLINE int wdn_maxi(int a, int b) { return a > b ? a : b; }
WDN_INLINE float wdn_minf(float a, float b) { return a < b ? a : b; }
WDN_INLINE float wdn_maxf(float a, float b) { return a > b ? a : b; }

/* share of `total` items for thread tid of nth: [*lo, *hi) (balanced, first shares one larger) */
WDN_INLINE void wdn_split(int total, int tid, int nth, int* lo, int* hi) {
  int q = total / nth, r = total % nth;
  *lo = tid * q + (tid < r ? tid : r);
  *hi = *lo + q + (tid < r ? 1 : 0);
}

/* share of `total` (64-bit) items in whole blocks of `blk` items (the last block may be short) */
WDN_INLINE void wdn_split_blocks(int64_t total, int64_t blk, int tid, int nth, int64_t* lo, int64_t* hi) {
  int64_t blocks = (total + blk - 1) / blk;
  int64_t q = blocks / nth, r = blocks % nth;
  int64_t b0 = tid * q + (tid < r ? tid : r);
  int64_t b1 = b0 + q + (tid < r ? 1 : 0);
  *lo = b0 * blk < total ? b0 * blk : total;
  *hi = b1 * blk < total ? b1 * blk : total;
}

/* N-d walk over a flat output range in rows of the innermost axis, for kernels whose operands have
 * per-axis element strides (0 on broadcast axes). `rank` >= 1 axes, outermost first. */
typedef struct {
  int rank, nops;
  int64_t idx[6];
  int64_t off[4];  /* element offset of operand k at the current position */
} wdn_nd_iter;
WDN_INLINE void wdn_nd_first(wdn_nd_iter* it, int rank, const int* shape, int nops, const int* const* strides,
                             int64_t pos) {
  it->rank = rank;
  it->nops = nops;
  for (int k = 0; k < nops; k++) it->off[k] = 0;
  for (int d = rank - 1; d >= 0; d--) {
    it->idx[d] = pos % shape[d];
    pos /= shape[d];
    for (int k = 0; k < nops; k++) it->off[k] += it->idx[d] * strides[k][d];
  }
}
/* advance by n elements, n <= what is left of the current row */
WDN_INLINE void wdn_nd_next(wdn_nd_iter* it, const int* shape, const int* const* strides, int64_t n) {
  int d = it->rank - 1;
  it->idx[d] += n;
  for (int k = 0; k < it->nops; k++) it->off[k] += n * strides[k][d];
  while (d > 0 && it->idx[d] == shape[d]) {
    for (int k = 0; k < it->nops; k++) it->off[k] -= it->idx[d] * strides[k][d];
    it->idx[d] = 0;
    d--;
    it->idx[d]++;
    for (int k = 0; k < it->nops; k++) it->off[k] += strides[k][d];
  }
}


/* the activations built on exp (sigmoid, tanh, swish), out of line (elementwise.c): inlined, their
 * polynomials were copied into every kernel with an epilogue (+50 KB of ResNet-50's module) */
v128_t wdn__act_exp_v(v128_t v, int kind, v128_t a);

/* activation with its parameters broadcast once (hot loops) */
typedef struct { int kind; v128_t a, b; } wdn_act_vec;
WDN_INLINE wdn_act_vec wdn_act_prep(wdn_act act) {
  wdn_act_vec r;
  r.kind = act.kind;
  r.a = wasm_f32x4_splat(act.a);
  r.b = wasm_f32x4_splat(act.b);
  return r;
}
WDN_INLINE v128_t wdn_act_v4(v128_t v, const wdn_act_vec* act) {
  switch (act->kind) {
    case WDN_ACT_NONE: return v;
    /* pseudo-max/min (x < a ? a : x): one maxps/minps each on x64 (f32x4.max/min take ~8 instructions
     * for their NaN/-0 rules); v comes first, so a NaN in v stays NaN. The GEMM and depthwise assembly
     * epilogues (gen_kern.py, gen_dw.py) use the same operations. */
    case WDN_ACT_RELU: return wasm_f32x4_pmax(v, wasm_f32x4_splat(0.0f));
    case WDN_ACT_CLIP: return wasm_f32x4_pmin(wasm_f32x4_pmax(v, act->a), act->b);
    case WDN_ACT_LEAKY_RELU: {
      v128_t neg = wasm_f32x4_lt(v, wasm_f32x4_splat(0.0f));
      return wasm_v128_bitselect(wasm_f32x4_mul(v, act->a), v, neg);
    }
    case WDN_ACT_SIGMOID:
    case WDN_ACT_TANH:
    case WDN_ACT_SWISH: return wdn__act_exp_v(v, act->kind, act->a);
    case WDN_ACT_HARD_SIGMOID: {
      v128_t t = wasm_f32x4_add(wasm_f32x4_mul(v, act->a), act->b);
      return wasm_f32x4_pmin(wasm_f32x4_pmax(t, wasm_f32x4_splat(0.0f)), wasm_f32x4_splat(1.0f));
    }
    case WDN_ACT_HARD_SWISH: { /* x * max(0, min(1, x / 6 + 1/2)), as the standalone HardSwish computes it */
      v128_t t = wasm_f32x4_add(wasm_f32x4_mul(v, wasm_f32x4_splat(1.0f / 6.0f)), wasm_f32x4_splat(0.5f));
      return wasm_f32x4_mul(v, wasm_f32x4_min(wasm_f32x4_max(t, wasm_f32x4_splat(0.0f)), wasm_f32x4_splat(1.0f)));
    }
    default: return v;
  }
}
WDN_INLINE v128_t wdn_act_v(v128_t v, wdn_act act) {
  wdn_act_vec a = wdn_act_prep(act);
  return wdn_act_v4(v, &a);
}
WDN_INLINE float wdn_act_s(float x, wdn_act act) {
  if (act.kind == WDN_ACT_NONE) return x;
  if (act.kind == WDN_ACT_RELU) return x > 0.0f ? x : 0.0f;
  return wasm_f32x4_extract_lane(wdn_act_v(wasm_f32x4_splat(x), act), 0);
}

/* ---- GEMM core (gemm.c), shared with conv2d.c; not for other kernels ----
 * Computes the [m0, m1) x [n0, n1) part of Y = epilogue(A . B) where A[i, k] = a_rows[i*a_rs + k*a_cs]
 * is packed per block and B is delivered by `pack_b` as 8-column panels: pack_b(ctx, k0, kc, n0, nc, dst)
 * writes ceil(nc/8) panels of kc x 8 floats (panel p, row kk at dst[p*kc*8 + kk*8], columns past
 * nc zero). bias_kind/beta/alpha/residual/act as in wdn_gemm_params; y has row stride ldy.
 * n0 must be a multiple of 8, m0 a multiple of 4 (any n1/m1). bscratch: 16-byte aligned, holding
 * WDN__GEMM_BLOCKS_BYTES(m, n, k, nc_max) bytes (B block, then the packed A block). Results do not depend on the ranges (deterministic for any split). */
typedef void (*wdn_packb_fn)(const void* ctx, int k0, int kc, int n0, int nc, float* dst);
typedef struct {
  int m, n, k;
  const float* a; int a_rs, a_cs;
  wdn_packb_fn pack_b; const void* pack_ctx;
  const float* bias; int bias_kind; float alpha, beta;
  const float* residual; float* y; int ldy;
  wdn_act act;
  /* NULL, or all of B packed once (wdn_gemm_prepack_b): then pack_b is not called and the panels are
   * read in place; packed_npad = n rounded up to 8 */
  const float* packed_b; int packed_npad;
} wdn_gemm_core_t;
void wdn_gemm_core(const wdn_gemm_core_t* g, int m0, int m1, int n0, int n1, float* bscratch, int nc_max);
/* the 5-row panels of an M block of mc rows (5-row panels first, then 4-row panels, the last of which
 * may be partial): 4-row panels q with 4q == mc (mod 5) cover mc exactly when mc >= 12 */
WDN_INLINE int wdn__gemm_panels5(int mc) {
  if (mc < 12) return 0;
  int q = (4 * mc) % 5;
  return (mc - 4 * q) / 5;
}
/* the micro-kernels (gemm_kern.s), MR = 4 or 5, r < MR, j < 8:
 * c[r*ldc + j] = (load ? c[r*ldc + j] : 0) + sum_k a[k*MR + r] * b[k*8 + j] */
void wdn__kern4x8(const float* a, const float* b, int kc, float* c, int ldc, int load);
/* MatMulInteger micro-kernel (idot_kern.s, generated by bench/gemm/gen_ikern.py): a [kb][2][8] and
 * b [kb][4][8] int16 panels; y[r * ldy + c] = the dot product of A row r and B column c (r < 2, c < 4) */
void wdn__ikern2x4(const int16_t* a, const int16_t* b, int kb, int32_t* y, int ldy);
void wdn__kern5x8(const float* a, const float* b, int kc, float* c, int ldc, int load);
/* the split rule used by gemm and conv: along M (units of 4 rows) or N (units of 8 columns) */
WDN_INLINE void wdn_gemm_split(int m, int n, int tid, int nth, int* m0, int* m1, int* n0, int* n1) {
  int mb = (m + 3) / 4, nb = (n + 7) / 8, lo, hi;
  *m0 = 0; *m1 = m; *n0 = 0; *n1 = n;
  if (nb >= mb) { wdn_split(nb, tid, nth, &lo, &hi); *n0 = lo * 8; *n1 = wdn_mini(hi * 8, n); }
  else { wdn_split(mb, tid, nth, &lo, &hi); *m0 = lo * 4; *m1 = wdn_mini(hi * 4, m); }
}
WDN_INLINE float* wdn_scratch_f32(uint8_t* scratch, int stride, int tid) {
  uintptr_t p = (uintptr_t)(scratch + (size_t)tid * (size_t)stride);
  return (float*)((p + 63) & ~(uintptr_t)63);
}

#endif
