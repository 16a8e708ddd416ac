/* webdnn-build wasm kernels: Reduce* (any axes, float32; Sum/Max/Min/Prod also int32/int64) and
 * ArgMax / ArgMin.
 *
 * Layout (kernels.h): kept axes index the output, reduced axes are walked row-major. Three float paths:
 *  - columns: the innermost kept axis is contiguous in x (stride 1) and the reduced axes are outside it:
 *    4 neighbouring outputs are reduced at once, one f32x4 load per reduced position;
 *  - rows: the innermost reduced axis is contiguous: per output, f32x4 partial results along that axis,
 *    combined lane 0..3 then with the scalar tail;
 *  - otherwise scalar.
 * An op is pre(x) -> combine -> post: Sum/Mean/LogSum: x, add; L1: |x|, add; L2/SumSquare: x*x, add;
 * Max/Min; Prod: mul; LogSumExp: a max pass, then exp(x - max), add, then log(s) + max (max not finite:
 * shift 0, as the js kernel). wdn_reduce_dyn takes the axes at run time (an int64 tensor) and builds the
 * same layout. Each output is computed by one thread with one code path chosen from the
 * shape only, so results do not depend on nth.
 */
#include "kernels.h"
#include "internal.h"
#include "kernels_rrp.h"
#include "mathfn.h"

enum { C_ADD = 0, C_MAX = 1, C_MIN = 2, C_MUL = 3 };
enum { P_NONE = 0, P_ABS = 1, P_SQ = 2, P_EXP = 3 };

static inline v128_t comb_v(int c, v128_t a, v128_t b) {
  switch (c) {
    case C_MAX: return wasm_f32x4_max(a, b);
    case C_MIN: return wasm_f32x4_min(a, b);
    case C_MUL: return wasm_f32x4_mul(a, b);
    default: return wasm_f32x4_add(a, b);
  }
}
static inline float comb_s(int c, float a, float b) {
  return wasm_f32x4_extract_lane(comb_v(c, wasm_f32x4_splat(a), wasm_f32x4_splat(b)), 0);
}
static inline v128_t pre_v(int pre, v128_t v, v128_t shift) {
  switch (pre) {
    case P_ABS: return wasm_f32x4_abs(v);
    case P_SQ: return wasm_f32x4_mul(v, v);
    case P_EXP: return wdn_math_exp_v(wasm_f32x4_sub(v, shift));
    default: return v;
  }
}
static inline float ident(int c) {
  switch (c) {
    case C_MAX: return -__builtin_inff();
    case C_MIN: return __builtin_inff();
    case C_MUL: return 1.0f;
    default: return 0.0f;
  }
}

/* odometer over the reduced axes except the last one (the caller walks that one) */
typedef struct {
  int n;
  int idx[6];
  int64_t off;
} red_walk;
static inline int walk_next(red_walk* w, const wdn_reduce_params* p) {
  for (int d = p->nr - 2; d >= 0; d--) {
    w->idx[d]++;
    w->off += p->rstride[d];
    if (w->idx[d] < p->rshape[d]) return 1;
    w->off -= (int64_t)p->rshape[d] * p->rstride[d];
    w->idx[d] = 0;
  }
  return 0;
}
static inline int64_t outer_count(const wdn_reduce_params* p) {
  int64_t c = 1;
  for (int d = 0; d < p->nr - 1; d++) c *= p->rshape[d];
  return c;
}

/* 4 neighbouring outputs (x offset base .. base + 3; `lanes` valid) */
static v128_t red_cols(const wdn_reduce_params* p, const float* x, int64_t base, int lanes, int c, int pre,
                       v128_t shift) {
  v128_t acc = wasm_f32x4_splat(ident(c));
  if (outer_count(p) == 0 || p->rshape[p->nr - 1] == 0) return acc;
  const int last = p->rshape[p->nr - 1], ls = p->rstride[p->nr - 1];
  red_walk w = {0, {0}, 0};
  do {
    const float* s = x + base + w.off;
    if (lanes == 4) {
      for (int t = 0; t < last; t++) acc = comb_v(c, acc, pre_v(pre, wasm_v128_load(s + (int64_t)t * ls), shift));
    } else {
      for (int t = 0; t < last; t++) {
        float tmp[4] __attribute__((aligned(16))) = {0, 0, 0, 0};
        for (int l = 0; l < lanes; l++) tmp[l] = s[(int64_t)t * ls + l];
        acc = comb_v(c, acc, pre_v(pre, wasm_v128_load(tmp), shift));
      }
    }
  } while (walk_next(&w, p));
  return acc;
}

/* one output; the innermost reduced axis is contiguous */
static float red_row(const wdn_reduce_params* p, const float* x, int64_t base, int c, int pre, float shift) {
  const v128_t sh = wasm_f32x4_splat(shift);
  v128_t acc = wasm_f32x4_splat(ident(c));
  float tail = ident(c);
  if (outer_count(p) == 0) return tail;
  const int last = p->rshape[p->nr - 1], lv = last & ~3;
  red_walk w = {0, {0}, 0};
  do {
    const float* s = x + base + w.off;
    for (int t = 0; t < lv; t += 4) acc = comb_v(c, acc, pre_v(pre, wasm_v128_load(s + t), sh));
    for (int t = lv; t < last; t++)
      tail = comb_s(c, tail, wasm_f32x4_extract_lane(pre_v(pre, wasm_f32x4_splat(s[t]), sh), 0));
  } while (walk_next(&w, p));
  float r = comb_s(c, comb_s(c, wasm_f32x4_extract_lane(acc, 0), wasm_f32x4_extract_lane(acc, 1)),
                   comb_s(c, wasm_f32x4_extract_lane(acc, 2), wasm_f32x4_extract_lane(acc, 3)));
  return comb_s(c, r, tail);
}

/* one output, any strides */
static float red_scalar(const wdn_reduce_params* p, const float* x, int64_t base, int c, int pre, float shift) {
  const v128_t sh = wasm_f32x4_splat(shift);
  float acc = ident(c);
  if (outer_count(p) == 0) return acc;
  const int last = p->rshape[p->nr - 1], ls = p->rstride[p->nr - 1];
  red_walk w = {0, {0}, 0};
  do {
    const float* s = x + base + w.off;
    for (int t = 0; t < last; t++)
      acc = comb_s(c, acc, wasm_f32x4_extract_lane(pre_v(pre, wasm_f32x4_splat(s[(int64_t)t * ls]), sh), 0));
  } while (walk_next(&w, p));
  return acc;
}

static inline float red_post(int op, float v, int64_t count, float shift) {
  switch (op) {
    case WDN_RED_MEAN: return v / (float)count;
    case WDN_RED_L2: return __builtin_sqrtf(v);
    case WDN_RED_LOGSUM: return wdn_math_log_s(v);
    case WDN_RED_LOGSUMEXP: return wdn_math_log_s(v) + shift;
    default: return v;
  }
}

static inline float finite_or_zero(float m) { return (m - m == 0.0f) ? m : 0.0f; }

/* input offset of output o (kept axes) */
static inline int64_t kept_offset(const wdn_reduce_params* p, int64_t o) {
  int64_t off = 0;
  for (int d = p->nk - 1; d >= 0; d--) {
    off += (o % p->kshape[d]) * p->kstride[d];
    o /= p->kshape[d];
  }
  return off;
}

static void reduce_f32(const wdn_reduce_params* p, int64_t total, int64_t count, int tid, int nth) {
  const float* x = (const float*)p->x;
  float* y = (float*)p->y;
  int c = C_ADD, pre = P_NONE;
  switch (p->op) {
    case WDN_RED_MAX: c = C_MAX; break;
    case WDN_RED_MIN: c = C_MIN; break;
    case WDN_RED_PROD: c = C_MUL; break;
    case WDN_RED_L1: pre = P_ABS; break;
    case WDN_RED_L2: case WDN_RED_SUMSQ: pre = P_SQ; break;
    case WDN_RED_LOGSUMEXP: pre = P_EXP; break;
    default: break;
  }
  const int lse = p->op == WDN_RED_LOGSUMEXP;
  const int klast = p->kshape[p->nk - 1];
  const int cols = p->kstride[p->nk - 1] == 1 && klast >= 4;
  const int rows = !cols && p->rstride[p->nr - 1] == 1;
  if (cols) {
    /* units of 4 outputs along the innermost kept axis */
    const int64_t per = (klast + 3) / 4, units = total / klast * per;
    int64_t lo, hi;
    wdn_split_blocks(units, 1, tid, nth, &lo, &hi);
    for (int64_t u = lo; u < hi; u++) {
      int64_t o = (u / per) * klast + (u % per) * 4;
      int lanes = (int)(klast - (u % per) * 4);
      if (lanes > 4) lanes = 4;
      int64_t base = kept_offset(p, o);
      v128_t shift = wasm_f32x4_splat(0.0f);
      if (lse) {
        v128_t m = red_cols(p, x, base, lanes, C_MAX, P_NONE, shift);
        /* not finite -> 0 */
        m = wasm_v128_and(m, wasm_f32x4_eq(wasm_f32x4_sub(m, m), wasm_f32x4_splat(0.0f)));
        shift = m;
      }
      v128_t v = red_cols(p, x, base, lanes, c, pre, shift);
      float vs[4] __attribute__((aligned(16))), ss[4] __attribute__((aligned(16)));
      wasm_v128_store(vs, v);
      wasm_v128_store(ss, shift);
      for (int l = 0; l < lanes; l++) y[o + l] = red_post(p->op, vs[l], count, ss[l]);
    }
    return;
  }
  int64_t lo, hi;
  wdn_split_blocks(total, 1, tid, nth, &lo, &hi);
  for (int64_t o = lo; o < hi; o++) {
    int64_t base = kept_offset(p, o);
    float shift = 0.0f;
    if (lse) shift = finite_or_zero(rows ? red_row(p, x, base, C_MAX, P_NONE, 0.0f)
                                         : red_scalar(p, x, base, C_MAX, P_NONE, 0.0f));
    float v = rows ? red_row(p, x, base, c, pre, shift) : red_scalar(p, x, base, c, pre, shift);
    y[o] = red_post(p->op, v, count, shift);
  }
}

/* integer Sum / Max / Min / Prod, wrapping (computed in int64, stored truncated); bool / uint8 / int8:
 * Max / Min only (bool Max = any, Min = all; the identities of an empty reduction are false / true) */
static inline int64_t int_load(int dtype, const void* x, int64_t off) {
  switch (dtype) {
    case WDN_DT_I64: return ((const int64_t*)x)[off];
    case WDN_DT_I32: return ((const int32_t*)x)[off];
    case WDN_DT_I8: return ((const int8_t*)x)[off];
    default: return ((const uint8_t*)x)[off];
  }
}
static inline void int_store(int dtype, void* y, int64_t o, uint64_t v) {
  switch (dtype) {
    case WDN_DT_I64: ((int64_t*)y)[o] = (int64_t)v; break;
    case WDN_DT_I32: ((int32_t*)y)[o] = (int32_t)(uint32_t)v; break;
    case WDN_DT_I8: ((int8_t*)y)[o] = (int8_t)(uint8_t)v; break;
    default: ((uint8_t*)y)[o] = (uint8_t)v; break;
  }
}
static void reduce_int(const wdn_reduce_params* p, int64_t total, int tid, int nth) {
  const int dt = p->dtype;
  int64_t lo_v, hi_v; /* the type's range: identities of Max / Min */
  switch (dt) {
    case WDN_DT_I64: lo_v = INT64_MIN; hi_v = INT64_MAX; break;
    case WDN_DT_I32: lo_v = INT32_MIN; hi_v = INT32_MAX; break;
    case WDN_DT_I8: lo_v = -128; hi_v = 127; break;
    case WDN_DT_BOOL: lo_v = 0; hi_v = 1; break;
    default: lo_v = 0; hi_v = 255; break;
  }
  int64_t lo, hi;
  wdn_split_blocks(total, 1, tid, nth, &lo, &hi);
  const int last = p->rshape[p->nr - 1], ls = p->rstride[p->nr - 1];
  for (int64_t o = lo; o < hi; o++) {
    int64_t base = kept_offset(p, o);
    uint64_t acc;
    switch (p->op) {
      case WDN_RED_MAX: acc = (uint64_t)lo_v; break;
      case WDN_RED_MIN: acc = (uint64_t)hi_v; break;
      case WDN_RED_PROD: acc = 1; break;
      default: acc = 0; break;
    }
    if (outer_count(p) > 0) {
      red_walk w = {0, {0}, 0};
      do {
        WDN_SCALAR_LOOP
        for (int t = 0; t < last; t++) {
          int64_t v = int_load(dt, p->x, base + w.off + (int64_t)t * ls);
          switch (p->op) {
            case WDN_RED_MAX: if (v > (int64_t)acc) acc = (uint64_t)v; break;
            case WDN_RED_MIN: if (v < (int64_t)acc) acc = (uint64_t)v; break;
            case WDN_RED_PROD: acc *= (uint64_t)v; break;
            default: acc += (uint64_t)v; break;
          }
        }
      } while (walk_next(&w, p));
    }
    int_store(dt, p->y, o, acc);
  }
}

/* float64, every op, scalar: pre / combine / post in double (exp and log: mathfn.h's double helpers) */
static inline double log_d(double v) {
  if (v != v || v < 0) return __builtin_nan("");
  if (v == 0) return -__builtin_inf();
  if (v == __builtin_inf()) return v;
  if (v < 2.2250738585072014e-308) return wdn_math_log_d(v * 18014398509481984.0) - 37.429947750237046; /* 2^54 */
  return wdn_math_log_d(v);
}
static void reduce_f64(const wdn_reduce_params* p, int64_t total, int64_t count, int tid, int nth) {
  const double* x = (const double*)p->x;
  double* y = (double*)p->y;
  const int op = p->op;
  int64_t lo, hi;
  wdn_split_blocks(total, 1, tid, nth, &lo, &hi);
  const int last = p->rshape[p->nr - 1], ls = p->rstride[p->nr - 1];
  for (int64_t o = lo; o < hi; o++) {
    const int64_t base = kept_offset(p, o);
    double shift = 0.0;
    if (op == WDN_RED_LOGSUMEXP && outer_count(p) > 0) {
      double m = -__builtin_inf();
      red_walk w = {0, {0}, 0};
      do {
        for (int t = 0; t < last; t++) {
          double v = x[base + w.off + (int64_t)t * ls];
          if (v > m || v != v) m = v;
        }
      } while (walk_next(&w, p));
      shift = (m - m == 0.0) ? m : 0.0;
    }
    double acc = op == WDN_RED_MAX ? -__builtin_inf() : op == WDN_RED_MIN ? __builtin_inf()
               : op == WDN_RED_PROD ? 1.0 : 0.0;
    if (outer_count(p) > 0) {
      red_walk w = {0, {0}, 0};
      do {
        WDN_SCALAR_LOOP
        for (int t = 0; t < last; t++) {
          double v = x[base + w.off + (int64_t)t * ls];
          switch (op) {
            case WDN_RED_MAX: acc = (v > acc || v != v) ? v : acc; break;
            case WDN_RED_MIN: acc = (v < acc || v != v) ? v : acc; break;
            case WDN_RED_PROD: acc *= v; break;
            case WDN_RED_L1: acc += __builtin_fabs(v); break;
            case WDN_RED_L2: case WDN_RED_SUMSQ: acc += v * v; break;
            case WDN_RED_LOGSUMEXP: {
              double z = v - shift;
              acc += z != z ? z : z < -745.0 ? 0.0 : z > 709.0 ? __builtin_inf() : wdn_math_exp_d(z);
              break;
            }
            default: acc += v; break;
          }
        }
      } while (walk_next(&w, p));
    }
    switch (op) {
      case WDN_RED_MEAN: acc /= (double)count; break;
      case WDN_RED_L2: acc = __builtin_sqrt(acc); break;
      case WDN_RED_LOGSUM: acc = log_d(acc); break;
      case WDN_RED_LOGSUMEXP: acc = log_d(acc) + shift; break;
      default: break;
    }
    y[o] = acc;
  }
}

void wdn_reduce(const wdn_reduce_params* p, int tid, int nth) {
  if (p->nk < 1 || p->nk > 6 || p->nr < 1 || p->nr > 6) return;
  int64_t total = 1, count = 1;
  for (int d = 0; d < p->nk; d++) total *= p->kshape[d];
  for (int d = 0; d < p->nr; d++) count *= p->rshape[d];
  if (total <= 0) return;
  if (p->dtype == WDN_DT_F32) reduce_f32(p, total, count, tid, nth);
  else if (p->dtype == WDN_DT_F64) reduce_f64(p, total, count, tid, nth);
  else reduce_int(p, total, tid, nth);
}

/* (dim, stride) pairs outermost first: size-1 axes dropped, contiguous neighbours merged; none: (1, 0)
 * (the emitter's _merge) */
static int merge_axes(int n, const int* dims, const int* strides, int* out_d, int* out_s) {
  int m = 0;
  for (int i = 0; i < n; i++) {
    if (dims[i] == 1) continue;
    if (m > 0 && out_s[m - 1] == strides[i] * dims[i]) {
      out_d[m - 1] *= dims[i];
      out_s[m - 1] = strides[i];
    } else {
      out_d[m] = dims[i];
      out_s[m] = strides[i];
      m++;
    }
  }
  if (m == 0) { out_d[0] = 1; out_s[0] = 0; m = 1; }
  for (int i = m; i < 6; i++) { out_d[i] = 1; out_s[i] = 0; }
  return m;
}

void wdn_reduce_dyn(const wdn_reduce_dyn_params* p, int tid, int nth) {
  const int rank = p->rank;
  if (rank < 0 || rank > 6) return;
  int red[6] = {0, 0, 0, 0, 0, 0};
  if (p->naxes == 0) {
    for (int a = 0; a < rank; a++) red[a] = !p->noop;
  } else {
    for (int i = 0; i < p->naxes; i++) {
      int64_t a = p->axes[i];
      if (a < 0) a += rank;
      if (a < 0 || a >= rank) { wdn_set_error(WDN_ERR_REDUCE_AXES, p->op_index); return; }
      red[a] = 1;
    }
  }
  /* the output shape these axes give must be the planned one */
  int yd = 0, bad = 0;
  for (int a = 0; a < rank; a++) {
    if (p->keepdims) bad |= yd >= p->yrank || p->yshape[yd++] != (red[a] ? 1 : p->xshape[a]);
    else if (!red[a]) bad |= yd >= p->yrank || p->yshape[yd++] != p->xshape[a];
  }
  if (bad || yd != p->yrank) { wdn_set_error(WDN_ERR_REDUCE_AXES, p->op_index); return; }
  int kd[6], ks[6], rd[6], rs[6], nk = 0, nr = 0, stride = 1, strides[6];
  for (int a = rank - 1; a >= 0; a--) { strides[a] = stride; stride *= p->xshape[a]; }
  for (int a = 0; a < rank; a++) {
    if (red[a]) { rd[nr] = p->xshape[a]; rs[nr++] = strides[a]; }
    else { kd[nk] = p->xshape[a]; ks[nk++] = strides[a]; }
  }
  wdn_reduce_params q;
  q.op = p->op;
  q.dtype = p->dtype;
  q.nk = merge_axes(nk, kd, ks, q.kshape, q.kstride);
  q.nr = merge_axes(nr, rd, rs, q.rshape, q.rstride);
  q.x = p->x;
  q.y = p->y;
  wdn_reduce(&q, tid, nth);
}

#define ARG_LOOP(T, ISNAN)                                                              \
  do {                                                                                  \
    const T* x = (const T*)xv;                                                          \
    for (int64_t o = lo; o < hi; o++) {                                                 \
      const T* s = x + (o / inner) * dim * inner + (o % inner);                        \
      int64_t best = 0;                                                                 \
      T bv = s[0];                                                                      \
      for (int64_t j = 1; j < dim; j++) {                                               \
        if (ISNAN(bv)) break;                                                           \
        T v = s[j * inner];                                                             \
        int better = ISNAN(v) || (is_min ? (last ? v <= bv : v < bv) : (last ? v >= bv : v > bv)); \
        if (better) { best = j; bv = v; }                                               \
      }                                                                                 \
      y[o] = best;                                                                      \
    }                                                                                   \
  } while (0)
#define F_NAN(v) ((v) != (v))
#define I_NAN(v) 0

void wdn_argextreme(int dtype, int is_min, int select_last, int64_t outer, int64_t dim, int64_t inner,
                    const void* xv, int64_t* y, int tid, int nth) {
  const int last = select_last;
  int64_t total = outer * inner, lo, hi;
  if (total <= 0 || dim <= 0) return;
  wdn_split_blocks(total, 16, tid, nth, &lo, &hi);
  switch (dtype) {
    case WDN_DT_F32: ARG_LOOP(float, F_NAN); break;
    case WDN_DT_I32: ARG_LOOP(int32_t, I_NAN); break;
    case WDN_DT_I64: ARG_LOOP(int64_t, I_NAN); break;
    default: break;
  }
}
