/* webdnn-build wasm kernels: CumSum / CumProd, Hardmax, TopK (kernels_rrp.h).
 *
 * Each works on lines of x viewed as [outer, dim, inner]: a thread takes a contiguous range of the
 * outer * inner lines and walks each line in a fixed order, so results do not depend on nth.
 */
#include "kernels.h"
#include "internal.h"
#include "kernels_rrp.h"

/* ---- CumSum / CumProd ---- */
#define CUM_LINE(T)                                                                          \
  do {                                                                                       \
    const T* xs = (const T*)p->x;                                                            \
    T* ys = (T*)p->y;                                                                        \
    for (int64_t l = lo; l < hi; l++) {                                                      \
      const int64_t base = (l / inner) * dim * inner + (l % inner);                          \
      T acc = p->prod ? (T)1 : (T)0;                                                         \
      for (int64_t t = 0; t < dim; t++) {                                                    \
        const int64_t j = p->reverse ? dim - 1 - t : t;                                      \
        const T v = xs[base + j * inner];                                                    \
        if (p->exclusive) ys[base + j * inner] = acc;                                        \
        acc = p->prod ? (T)(acc * v) : (T)(acc + v);                                         \
        if (!p->exclusive) ys[base + j * inner] = acc;                                       \
      }                                                                                      \
    }                                                                                        \
  } while (0)

void wdn_cumulative(const wdn_cumulative_params* p, int tid, int nth) {
  const int rank = p->rank;
  int64_t axis = p->axis_ptr ? (p->axis_i64 ? *(const int64_t*)p->axis_ptr : *(const int32_t*)p->axis_ptr) : p->axis;
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) { wdn_set_error(WDN_ERR_AXIS, p->op_index); return; }
  int64_t outer = 1, dim = p->shape[axis], inner = 1;
  for (int d = 0; d < axis; d++) outer *= p->shape[d];
  for (int d = (int)axis + 1; d < rank; d++) inner *= p->shape[d];
  int64_t lo, hi;
  if (outer * inner * dim == 0) return;
  wdn_split_blocks(outer * inner, 1, tid, nth, &lo, &hi);
  switch (p->dtype) {
    case WDN_DT_F32: CUM_LINE(float); break;
    case WDN_RED_DT_F64: CUM_LINE(double); break;
    case WDN_DT_I32: { /* wrapping */
      const int32_t* xs = (const int32_t*)p->x;
      int32_t* ys = (int32_t*)p->y;
      for (int64_t l = lo; l < hi; l++) {
        const int64_t base = (l / inner) * dim * inner + (l % inner);
        uint32_t acc = p->prod ? 1u : 0u;
        for (int64_t t = 0; t < dim; t++) {
          const int64_t j = p->reverse ? dim - 1 - t : t;
          const uint32_t v = (uint32_t)xs[base + j * inner];
          if (p->exclusive) ys[base + j * inner] = (int32_t)acc;
          acc = p->prod ? acc * v : acc + v;
          if (!p->exclusive) ys[base + j * inner] = (int32_t)acc;
        }
      }
      break;
    }
    default: { /* int64 / uint64, wrapping */
      const uint64_t* xs = (const uint64_t*)p->x;
      uint64_t* ys = (uint64_t*)p->y;
      for (int64_t l = lo; l < hi; l++) {
        const int64_t base = (l / inner) * dim * inner + (l % inner);
        uint64_t acc = p->prod ? 1u : 0u;
        for (int64_t t = 0; t < dim; t++) {
          const int64_t j = p->reverse ? dim - 1 - t : t;
          const uint64_t v = xs[base + j * inner];
          if (p->exclusive) ys[base + j * inner] = acc;
          acc = p->prod ? acc * v : acc + v;
          if (!p->exclusive) ys[base + j * inner] = acc;
        }
      }
      break;
    }
  }
}

/* ---- Hardmax: 1 at the first maximum of each line (a NaN line: at the first NaN), 0 elsewhere ---- */
void wdn_hardmax_f32(int64_t outer, int64_t dim, int64_t inner, const float* x, float* y, int tid, int nth) {
  int64_t lo, hi;
  if (outer * inner * dim == 0) return;
  wdn_split_blocks(outer * inner, 1, tid, nth, &lo, &hi);
  for (int64_t l = lo; l < hi; l++) {
    const int64_t base = (l / inner) * dim * inner + (l % inner);
    int64_t best = 0;
    float bv = x[base];
    for (int64_t j = 1; j < dim && bv == bv; j++) {
      const float v = x[base + j * inner];
      if (v > bv || v != v) { bv = v; best = j; }
    }
    for (int64_t j = 0; j < dim; j++) y[base + j * inner] = j == best ? 1.0f : 0.0f;
  }
}

/* ---- TopK ---- */
/* a before b in the output: the larger (smaller) value first, the lower index among equal values; a NaN
 * counts as larger than any number (first when largest, last when smallest) */
static inline int topk_before(const wdn_topk_params* p, const void* x, int64_t a, int64_t b) {
  int gt, lt;
  switch (p->dtype) {
    case WDN_DT_F32: {
      const float va = ((const float*)x)[a], vb = ((const float*)x)[b];
      const int na = va != va, nb = vb != vb;
      if (na || nb) { gt = na && !nb; lt = nb && !na; }
      else { gt = va > vb; lt = va < vb; }
      break;
    }
    case WDN_RED_DT_F64: {
      const double va = ((const double*)x)[a], vb = ((const double*)x)[b];
      const int na = va != va, nb = vb != vb;
      if (na || nb) { gt = na && !nb; lt = nb && !na; }
      else { gt = va > vb; lt = va < vb; }
      break;
    }
#define TOPK_CMP(T)                                                \
  do {                                                             \
    const T va = ((const T*)x)[a], vb = ((const T*)x)[b];          \
    gt = va > vb;                                                  \
    lt = va < vb;                                                  \
  } while (0)
    case WDN_DT_I32: TOPK_CMP(int32_t); break;
    case WDN_DT_I64: TOPK_CMP(int64_t); break;
    case WDN_X_DT_U64: TOPK_CMP(uint64_t); break;
    default: TOPK_CMP(uint8_t); break;
#undef TOPK_CMP
  }
  if (p->largest ? gt : lt) return 1;
  if (p->largest ? lt : gt) return 0;
  return a < b;
}

void wdn_topk(const wdn_topk_params* p, int tid, int nth) {
  if (p->k_ptr && *p->k_ptr != p->k) { wdn_set_error(WDN_ERR_AXIS, p->op_index); return; }
  const int64_t outer = p->outer, dim = p->dim, inner = p->inner, k = p->k;
  if (outer * inner * k == 0) return;
  int64_t lo, hi;
  wdn_split_blocks(outer * inner, 1, tid, nth, &lo, &hi);
  int64_t* sel = (int64_t*)wdn_scratch_f32(p->scratch, p->scratch_stride, tid);
  const int es = p->elem;
  for (int64_t l = lo; l < hi; l++) {
    const int64_t base = (l / inner) * dim * inner + (l % inner);
    int64_t n = 0; /* sel[0..n): the best so far, in output order (element offsets into x) */
    for (int64_t j = 0; j < dim; j++) {
      const int64_t off = base + j * inner;
      if (n == k && !topk_before(p, p->x, off, sel[n - 1])) continue;
      int64_t pos = n < k ? n : k - 1;
      while (pos > 0 && topk_before(p, p->x, off, sel[pos - 1])) { sel[pos] = sel[pos - 1]; pos--; }
      sel[pos] = off;
      if (n < k) n++;
    }
    const int64_t obase = (l / inner) * k * inner + (l % inner);
    for (int64_t t = 0; t < k; t++) {
      const int64_t o = obase + t * inner;
      __builtin_memcpy((uint8_t*)p->values + o * es, (const uint8_t*)p->x + sel[t] * es, (size_t)es);
      p->indices[o] = (sel[t] - base) / inner;
    }
  }
}
