/* webdnn-build wasm kernels: typed elementwise ops with numpy broadcasting — comparisons and logical ops
 * (-> bool), integer arithmetic (int32/int64), IsNaN/IsInf/Not (-> bool), integer Neg/Abs.
 *
 * Integer arithmetic is done in the unsigned type of the same width, so it wraps modulo 2^bits like the
 * js kernels' typed-array stores (no C undefined behaviour, no wasm trap: i32.div_s traps on
 * INT_MIN / -1 and on / 0, both are handled before dividing).
 * Splits: the flat output range in 64-element blocks; every element is computed by the same scalar
 * code, so results never depend on nth.
 */
#include "kernels.h"
#include "internal.h"

/* ---- element ops ---- */
#define OP_EQ(x, z) ((x) == (z))
#define OP_LT(x, z) ((x) < (z))
#define OP_GT(x, z) ((x) > (z))
#define OP_LE(x, z) ((x) <= (z))
#define OP_GE(x, z) ((x) >= (z))
#define OP_AND(x, z) ((x) & (z))
#define OP_OR(x, z) ((x) | (z))
#define OP_XOR(x, z) ((x) ^ (z))

static inline int32_t div_i32(int32_t x, int32_t z) {
  if (z == 0) return 0;
  if (z == -1) return (int32_t)(0u - (uint32_t)x);
  return x / z;
}
static inline int64_t div_i64(int64_t x, int64_t z) {
  if (z == 0) return 0;
  if (z == -1) return (int64_t)(0ull - (uint64_t)x);
  return x / z;
}
#define OP_ADD32(x, z) ((int32_t)((uint32_t)(x) + (uint32_t)(z)))
#define OP_SUB32(x, z) ((int32_t)((uint32_t)(x) - (uint32_t)(z)))
#define OP_MUL32(x, z) ((int32_t)((uint32_t)(x) * (uint32_t)(z)))
#define OP_ADD64(x, z) ((int64_t)((uint64_t)(x) + (uint64_t)(z)))
#define OP_SUB64(x, z) ((int64_t)((uint64_t)(x) - (uint64_t)(z)))
#define OP_MUL64(x, z) ((int64_t)((uint64_t)(x) * (uint64_t)(z)))
#define OP_MAX(x, z) ((x) > (z) ? (x) : (z))
#define OP_MIN(x, z) ((x) < (z) ? (x) : (z))

/* one row: y[i] = OP(a[i * sa], b[i * sb]). Scalar loops (no auto-vectorization or unrolling): these ops
 * mostly run on small masks and index tensors, and ~40 vectorized variants would triple the code size. */
typedef void (*row_fn)(const void* a, int64_t sa, const void* b, int64_t sb, void* y, int64_t n);

#define DEFINE_ROW(NAME, TI, TO, OP)                                                         \
  static void NAME(const void* a_, int64_t sa, const void* b_, int64_t sb, void* y_, int64_t n) { \
    const TI* a = (const TI*)a_;                                                             \
    const TI* b = (const TI*)b_;                                                             \
    TO* y = (TO*)y_;                                                                         \
    WDN_SCALAR_LOOP                                                                            \
    for (int64_t i = 0; i < n; i++) y[i] = (TO)OP(a[i * sa], b[i * sb]);                     \
  }

#define DEFINE_CMP(T, SUF)                     \
  DEFINE_ROW(eq_##SUF, T, uint8_t, OP_EQ)      \
  DEFINE_ROW(lt_##SUF, T, uint8_t, OP_LT)      \
  DEFINE_ROW(gt_##SUF, T, uint8_t, OP_GT)      \
  DEFINE_ROW(le_##SUF, T, uint8_t, OP_LE)      \
  DEFINE_ROW(ge_##SUF, T, uint8_t, OP_GE)

DEFINE_CMP(float, f32)
DEFINE_CMP(int32_t, i32)
DEFINE_CMP(int64_t, i64)
DEFINE_CMP(uint8_t, u8)
DEFINE_CMP(int8_t, i8)
DEFINE_ROW(and_b, uint8_t, uint8_t, OP_AND)
DEFINE_ROW(or_b, uint8_t, uint8_t, OP_OR)
DEFINE_ROW(xor_b, uint8_t, uint8_t, OP_XOR)
DEFINE_ROW(add_i32, int32_t, int32_t, OP_ADD32)
DEFINE_ROW(sub_i32, int32_t, int32_t, OP_SUB32)
DEFINE_ROW(mul_i32, int32_t, int32_t, OP_MUL32)
DEFINE_ROW(div_i32r, int32_t, int32_t, div_i32)
DEFINE_ROW(max_i32, int32_t, int32_t, OP_MAX)
DEFINE_ROW(min_i32, int32_t, int32_t, OP_MIN)
DEFINE_ROW(add_i64, int64_t, int64_t, OP_ADD64)
DEFINE_ROW(sub_i64, int64_t, int64_t, OP_SUB64)
DEFINE_ROW(mul_i64, int64_t, int64_t, OP_MUL64)
DEFINE_ROW(div_i64r, int64_t, int64_t, div_i64)
DEFINE_ROW(max_i64, int64_t, int64_t, OP_MAX)
DEFINE_ROW(min_i64, int64_t, int64_t, OP_MIN)

/* the row function of (op, dtype) and the element sizes of a/b and y; NULL when unsupported */
static row_fn pick_row(int op, int dtype, int* in_bytes, int* out_bytes) {
  *out_bytes = 1;
  if (op >= WDN_CMP_EQ && op <= WDN_CMP_GE) {
    static const row_fn cmp[5][5] = {
        {eq_f32, lt_f32, gt_f32, le_f32, ge_f32}, {eq_i32, lt_i32, gt_i32, le_i32, ge_i32},
        {eq_i64, lt_i64, gt_i64, le_i64, ge_i64}, {eq_u8, lt_u8, gt_u8, le_u8, ge_u8},
        {eq_i8, lt_i8, gt_i8, le_i8, ge_i8}};
    int t;
    switch (dtype) {
      case WDN_DT_F32: t = 0; *in_bytes = 4; break;
      case WDN_DT_I32: t = 1; *in_bytes = 4; break;
      case WDN_DT_I64: t = 2; *in_bytes = 8; break;
      case WDN_DT_U8:
      case WDN_DT_BOOL: t = 3; *in_bytes = 1; break;
      case WDN_DT_I8: t = 4; *in_bytes = 1; break;
      default: return 0;
    }
    return cmp[t][op - WDN_CMP_EQ];
  }
  if (op >= WDN_CMP_AND && op <= WDN_CMP_XOR) {
    if (dtype != WDN_DT_BOOL) return 0;
    *in_bytes = 1;
    return op == WDN_CMP_AND ? and_b : op == WDN_CMP_OR ? or_b : xor_b;
  }
  if (op < WDN_BIN_ADD || op > WDN_BIN_MIN || op == WDN_BIN_POW) return 0;
  static const row_fn i32[6] = {add_i32, sub_i32, mul_i32, div_i32r, max_i32, min_i32};
  static const row_fn i64[6] = {add_i64, sub_i64, mul_i64, div_i64r, max_i64, min_i64};
  if (dtype == WDN_DT_I32) { *in_bytes = *out_bytes = 4; return i32[op]; }
  if (dtype == WDN_DT_I64) { *in_bytes = *out_bytes = 8; return i64[op]; }
  return 0;
}

void wdn_binary_typed(const wdn_typed_binary_params* p, int tid, int nth) {
  int ib, ob;
  row_fn row = pick_row(p->op, p->dtype, &ib, &ob);
  if (!row || p->rank < 1 || p->rank > 6) return;
  int64_t total = 1;
  for (int d = 0; d < p->rank; d++) total *= p->shape[d];
  if (total <= 0) return;
  int64_t lo, hi;
  wdn_split_blocks(total, 64, tid, nth, &lo, &hi);
  if (lo >= hi) return;
  const int* strides[2] = {p->stride_a, p->stride_b};
  const int r = p->rank - 1, last = p->shape[r];
  const int64_t sa = p->stride_a[r], sb = p->stride_b[r];
  const uint8_t* A = (const uint8_t*)p->a;
  const uint8_t* B = (const uint8_t*)p->b;
  uint8_t* Y = (uint8_t*)p->y;
  wdn_nd_iter it;
  wdn_nd_first(&it, p->rank, p->shape, 2, strides, lo);
  for (int64_t pos = lo; pos < hi;) {
    int64_t n = last - it.idx[r];
    if (n > hi - pos) n = hi - pos;
    row(A + it.off[0] * ib, sa, B + it.off[1] * ib, sb, Y + pos * ob, n);
    pos += n;
    wdn_nd_next(&it, p->shape, strides, n);
  }
}

/* ---- unary ---- */
static inline int is_nan_f(float v) { return v != v; }

void wdn_unary_typed(int op, int dtype, int64_t count, const void* x_, void* y_, int tid, int nth) {
  int64_t lo, hi;
  wdn_split_blocks(count, 64, tid, nth, &lo, &hi);
  if (lo >= hi) return;
  switch (op) {
    case WDN_UT_ISNAN:
    case WDN_UT_ISINF:
    case WDN_UT_ISPOSINF:
    case WDN_UT_ISNEGINF: {
      if (dtype != WDN_DT_F32) return;
      const float* x = (const float*)x_;
      uint8_t* y = (uint8_t*)y_;
      const float inf = __builtin_inff();
      if (op == WDN_UT_ISNAN) for (int64_t i = lo; i < hi; i++) y[i] = (uint8_t)is_nan_f(x[i]);
      else if (op == WDN_UT_ISINF) for (int64_t i = lo; i < hi; i++) y[i] = (uint8_t)(x[i] == inf || x[i] == -inf);
      else if (op == WDN_UT_ISPOSINF) for (int64_t i = lo; i < hi; i++) y[i] = (uint8_t)(x[i] == inf);
      else for (int64_t i = lo; i < hi; i++) y[i] = (uint8_t)(x[i] == -inf);
      break;
    }
    case WDN_UT_NOT: {
      if (dtype != WDN_DT_BOOL) return;
      const uint8_t* x = (const uint8_t*)x_;
      uint8_t* y = (uint8_t*)y_;
      for (int64_t i = lo; i < hi; i++) y[i] = (uint8_t)(x[i] == 0);
      break;
    }
    case WDN_UT_NEG:
    case WDN_UT_ABS: {
      const int neg = op == WDN_UT_NEG;
      if (dtype == WDN_DT_I32) {
        const int32_t* x = (const int32_t*)x_;
        int32_t* y = (int32_t*)y_;
        for (int64_t i = lo; i < hi; i++) {
          int32_t v = x[i];
          y[i] = (neg || v < 0) ? (int32_t)(0u - (uint32_t)v) : v;
        }
      } else if (dtype == WDN_DT_I64) {
        const int64_t* x = (const int64_t*)x_;
        int64_t* y = (int64_t*)y_;
        for (int64_t i = lo; i < hi; i++) {
          int64_t v = x[i];
          y[i] = (neg || v < 0) ? (int64_t)(0ull - (uint64_t)v) : v;
        }
      }
      break;
    }
    default: break;
  }
}
