/* webdnn-build wasm kernel: Cast between float32, int32, int64, uint8, int8 and bool.
 *
 * Semantics are the js kernel's (js-runtime/src/backends/js/kernels/cast.js), i.e. typed-array stores:
 *   float -> int32/uint8/int8: truncate toward zero, wrap modulo 2^bits; NaN and +-Inf -> 0
 *   float -> int64: truncate toward zero, wrap modulo 2^64; NaN and +-Inf -> INT64_MIN
 *   int -> narrower int: wrap (keep the low bits); int64 -> float32: round to float64, then to float32
 *   any -> bool: x != 0 (NaN -> 1)
 * Every conversion is range-checked before a float -> int instruction (those trap in wasm when out of
 * range). Split: the flat element range in 64-element blocks (results never depend on nth).
 */
#include "kernels.h"
#include "internal.h"

/* finite f truncated toward zero, modulo 2^64 (two's complement) */
static inline int64_t f32_wrap64(float f) {
  if (f >= -9223372036854775808.0f && f < 9223372036854775808.0f) return (int64_t)f;
  /* |f| >= 2^63: f = mant * 2^e with e >= 40, an integer; only the bits below 2^64 remain */
  union { float f; uint32_t u; } c = {f};
  int e = (int)((c.u >> 23) & 0xff) - 150;
  uint64_t mant = (c.u & 0x7fffff) | 0x800000;
  uint64_t v = e >= 64 ? 0 : mant << e;
  if (c.u >> 31) v = 0 - v;
  return (int64_t)v;
}
static inline int f32_finite(float f) { return f - f == 0.0f; } /* NaN and +-Inf give NaN */

static inline int64_t f32_to_i64(float f) { return f32_finite(f) ? f32_wrap64(f) : INT64_MIN; }
static inline uint64_t f32_to_small(float f) { return f32_finite(f) ? (uint64_t)f32_wrap64(f) : 0; }

/* scalar loops (no auto-vectorization): 30 vectorized variants would cost ~4x the code */
#define CAST_LOOP(TF, TT, EXPR)                                  \
  do {                                                           \
    const TF* x = (const TF*)x_;                                 \
    TT* y = (TT*)y_;                                             \
    WDN_SCALAR_LOOP                                              \
    for (int64_t i = lo; i < hi; i++) {                          \
      const TF v = x[i];                                         \
      y[i] = (TT)(EXPR);                                         \
    }                                                            \
  } while (0)

/* from an integer type TF (bool and uint8 included) to `to` */
#define FROM_INT(TF)                                                        \
  switch (to) {                                                             \
    case WDN_DT_F32: CAST_LOOP(TF, float, (float)(double)v); break;         \
    case WDN_DT_I32: CAST_LOOP(TF, int32_t, (int32_t)(uint32_t)v); break;   \
    case WDN_DT_I64: CAST_LOOP(TF, int64_t, (int64_t)v); break;             \
    case WDN_DT_U8: CAST_LOOP(TF, uint8_t, (uint8_t)v); break;              \
    case WDN_DT_I8: CAST_LOOP(TF, int8_t, (int8_t)(uint8_t)v); break;       \
    case WDN_DT_BOOL: CAST_LOOP(TF, uint8_t, v != 0); break;                \
    default: break;                                                         \
  }

void wdn_cast(int from, int to, int64_t count, const void* x_, void* y_, int tid, int nth) {
  int64_t lo, hi;
  wdn_split_blocks(count, 64, tid, nth, &lo, &hi);
  if (lo >= hi) return;
  switch (from) {
    case WDN_DT_F32:
      switch (to) {
        case WDN_DT_F32: __builtin_memcpy((float*)y_ + lo, (const float*)x_ + lo, (size_t)(hi - lo) * 4); break;
        case WDN_DT_I32: CAST_LOOP(float, int32_t, (int32_t)(uint32_t)f32_to_small(v)); break;
        case WDN_DT_I64: CAST_LOOP(float, int64_t, f32_to_i64(v)); break;
        case WDN_DT_U8: CAST_LOOP(float, uint8_t, (uint8_t)f32_to_small(v)); break;
        case WDN_DT_I8: CAST_LOOP(float, int8_t, (int8_t)(uint8_t)f32_to_small(v)); break;
        case WDN_DT_BOOL: CAST_LOOP(float, uint8_t, v != 0.0f); break;
        default: break;
      }
      break;
    case WDN_DT_I32: FROM_INT(int32_t) break;
    case WDN_DT_I64: FROM_INT(int64_t) break;
    case WDN_DT_U8:
    case WDN_DT_BOOL: FROM_INT(uint8_t) break;
    case WDN_DT_I8: FROM_INT(int8_t) break;
    default: break;
  }
}
