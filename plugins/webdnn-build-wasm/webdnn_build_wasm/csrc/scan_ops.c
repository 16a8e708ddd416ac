/* webdnn-build wasm kernels: CumSum / CumProd, Hardmax, TopK (kernels_rrp.h).
 *
 * Each works on lines of x viewed as [outer, dim, inner]: a thread takes a contiguous range of the
 * outer * inner lines and walks each line in a fixed order, so results do not depend on nth.
 */
#include "kernels.h"
#include "internal.h"
#include "kernels_rrp.h"

/* ---- CumSum / CumProd ---- */
/* TS: the element type in memory; TA: the accumulator (the unsigned type of integers, so that they wrap) */
#define CUM_LINE(TS, TA)                                                                     \
  do {                                                                                       \
    const TS* xs = (const TS*)p->x;                                                          \
    TS* ys = (TS*)p->y;                                                                      \
    for (int64_t l = lo; l < hi; l++) {                                                      \
      const int64_t base = (l / inner) * dim * inner + (l % inner);                          \
      TA acc = p->prod ? (TA)1 : (TA)0;                                                      \
      for (int64_t t = 0; t < dim; t++) {                                                    \
        const int64_t j = p->reverse ? dim - 1 - t : t;                                      \
        const TA v = (TA)xs[base + j * inner];                                               \
        if (p->exclusive) ys[base + j * inner] = (TS)acc;                                    \
        acc = p->prod ? (TA)(acc * v) : (TA)(acc + v);                                       \
        if (!p->exclusive) ys[base + j * inner] = (TS)acc;                                   \
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
    case WDN_DT_F32: CUM_LINE(float, float); break;
    case WDN_DT_F64: CUM_LINE(double, double); break;
    case WDN_DT_I32: CUM_LINE(int32_t, uint32_t); break; /* wrapping */
    default: CUM_LINE(uint64_t, uint64_t); break;       /* int64 / uint64, wrapping */
  }
}
#undef CUM_LINE

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
#define TOPK_FCMP(T)                                               \
  do {                                                             \
    const T va = ((const T*)x)[a], vb = ((const T*)x)[b];          \
    const int na = va != va, nb = vb != vb;                        \
    if (na || nb) { gt = na && !nb; lt = nb && !na; }              \
    else { gt = va > vb; lt = va < vb; }                           \
  } while (0)
#define TOPK_CMP(T)                                                \
  do {                                                             \
    const T va = ((const T*)x)[a], vb = ((const T*)x)[b];          \
    gt = va > vb;                                                  \
    lt = va < vb;                                                  \
  } while (0)
    case WDN_DT_F32: TOPK_FCMP(float); break;
    case WDN_DT_F64: TOPK_FCMP(double); break;
    case WDN_DT_I32: TOPK_CMP(int32_t); break;
    case WDN_DT_I64: TOPK_CMP(int64_t); break;
    case WDN_DT_U64: TOPK_CMP(uint64_t); break;
    default: TOPK_CMP(uint8_t); break;
#undef TOPK_FCMP
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
