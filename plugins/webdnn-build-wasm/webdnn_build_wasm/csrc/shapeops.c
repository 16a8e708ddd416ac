/* webdnn-build wasm kernels: shape-like ops whose operands are tensors read at run time (kernels_num.h):
 * checks of planned sizes, Slice and Pad with run-time starts / pads.
 *
 * Every thread derives the same layout from the operands (cheap), then copies its share through the
 * byte-based kernels (wdn_expand, wdn_pad): results never depend on nth. Only thread 0 reports errors.
 */
#include "kernels.h"
#include "internal.h"

static inline int64_t rd_int(const void* p, int i64, int64_t i) {
  return i64 ? ((const int64_t*)p)[i] : (int64_t)((const int32_t*)p)[i];
}

void wdn_check_ints(const void* p, int i64, int n, const int64_t* expected, int op, int tid) {
  if (tid != 0) return;
  for (int i = 0; i < n; i++) {
    if (rd_int(p, i64, i) != expected[i]) {
      wdn_set_error(WDN_ERR_RUNTIME_SHAPE, op);
      return;
    }
  }
}

void wdn_slice_dyn(const wdn_slice_dyn_params* p, int tid, int nth) {
  const int r = p->rank;
  if (r < 1 || r > 6) return;
  int64_t begin[6], step[6], len[6], stride[6];
  int64_t s = 1;
  for (int d = r - 1; d >= 0; d--) {
    begin[d] = 0;
    step[d] = 1;
    len[d] = p->in_shape[d];
    stride[d] = s;
    s *= p->in_shape[d];
  }
  int bad = 0;
  for (int i = 0; i < p->n; i++) {
    int64_t a = p->axes ? rd_int(p->axes, p->axes_i64, i) : i;
    if (a < 0) a += r;
    const int64_t st = p->steps ? rd_int(p->steps, p->steps_i64, i) : 1;
    if (a < 0 || a >= r || st == 0) { bad = 1; break; }
    const int64_t dim = p->in_shape[a];
    int64_t b = rd_int(p->starts, p->starts_i64, i), e = rd_int(p->ends, p->ends_i64, i);
    if (b < 0) b += dim;
    if (e < 0) e += dim;
    if (st > 0) {
      b = b < 0 ? 0 : b > dim ? dim : b;
      e = e < 0 ? 0 : e > dim ? dim : e;
    } else {
      b = b < 0 ? 0 : b > dim - 1 ? dim - 1 : b;
      e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
    }
    /* the js kernel: max(0, ceil((e - b) / st)) in double */
    const double q = __builtin_ceil((double)(e - b) / (double)st);
    begin[a] = b;
    step[a] = st;
    len[a] = q > 0 ? (int64_t)q : 0;
  }
  for (int d = 0; d < r && !bad; d++) bad = len[d] != p->out_shape[d];
  if (bad) {
    if (tid == 0) wdn_set_error(WDN_ERR_RUNTIME_SHAPE, p->op);
    return;
  }
  wdn_expand_params e;
  e.rank = r;
  e.elem = p->elem;
  int64_t off = 0;
  for (int d = 0; d < r; d++) {
    e.shape[d] = (int)len[d];
    off += len[d] > 0 ? begin[d] * stride[d] : 0;
    e.stride[d] = (int)(step[d] * stride[d]);
  }
  e.x = (const uint8_t*)p->x + off * p->elem;
  e.y = p->y;
  wdn_expand(&e, tid, nth);
}

void wdn_pad_dyn(const wdn_pad_dyn_params* p, int tid, int nth) {
  wdn_pad_params q = p->pad;
  const int r = q.rank;
  if (r < 1 || r > 6) return;
  int64_t before[6], after[6];
  for (int d = 0; d < r; d++) before[d] = after[d] = 0;
  int bad = 0;
  for (int i = 0; i < p->n; i++) {
    int64_t a = p->axes ? rd_int(p->axes, p->axes_i64, i) : i;
    if (a < 0) a += r;
    if (a < 0 || a >= r) { bad = 1; break; }
    before[a] = p->pads[i];
    after[a] = p->pads[p->n + i];
  }
  int64_t off = 0;
  for (int d = 0; d < r && !bad; d++) {
    const int64_t dim = p->pad.in_shape[d];
    const int64_t cb = before[d] < 0 ? -before[d] : 0, ce = after[d] < 0 ? -after[d] : 0;
    const int64_t n = dim - cb - ce;
    if (n < 0 || dim + before[d] + after[d] != q.out_shape[d]) { bad = 1; break; }
    if (q.mode != WDN_PAD_CONSTANT && n == 0 && (before[d] > 0 || after[d] > 0)) { bad = 1; break; }
    off += cb * q.in_stride[d];
    q.in_shape[d] = (int)n;
    q.pad_begin[d] = (int)(before[d] > 0 ? before[d] : 0);
  }
  if (bad) {
    if (tid == 0) wdn_set_error(WDN_ERR_RUNTIME_SHAPE, p->op);
    return;
  }
  q.x = (const uint8_t*)q.x + off * q.elem;
  wdn_pad(&q, tid, nth);
}

/* Range(start, limit, delta) of int32 / int64 with its planned length n (the output's size, known from the open
 * dims): y[i] = start + i * delta, start, limit and delta read from their (scalar) tensors. A length that
 * disagrees with them (a shape rule gone wrong) is an error, not a wrong result. */
void wdn_range(int i64, const void* start, const void* limit, const void* delta, int64_t n, void* y, int op,
               int tid, int nth) {
  const int64_t s = rd_int(start, i64, 0), l = rd_int(limit, i64, 0), d = rd_int(delta, i64, 0);
  const int64_t want = d == 0 ? -1 : (d > 0 ? (l - s + d - 1) / d : (s - l - d - 1) / -d);
  if (want < 0 ? n != 0 || d == 0 : want != n) {
    if (tid == 0) wdn_set_error(WDN_ERR_RUNTIME_SHAPE, op);
    return;
  }
  int64_t lo, hi;
  wdn_split_blocks(n, 64, tid, nth, &lo, &hi);
  if (i64) {
    int64_t* out = (int64_t*)y;
    for (int64_t i = lo; i < hi; i++) out[i] = s + i * d;
  } else {
    int32_t* out = (int32_t*)y;
    for (int64_t i = lo; i < hi; i++) out[i] = (int32_t)(s + i * d);
  }
}
