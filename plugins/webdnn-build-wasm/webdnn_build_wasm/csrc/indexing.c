/* webdnn-build wasm kernels: data movement of any element type (copy, Gather, GatherND, Expand, Where).
 *
 * Elements are moved as bytes (memcpy lowers to memory.copy with -mbulk-memory) or, for 1/2/4/8-byte
 * elements in strided loops, as unsigned integers of that size, so every dtype is moved exactly.
 * Splits: the flat output range (in bytes or elements, in whole 64-byte / 64-element blocks);
 * pure data movement, so results never depend on nth.
 * Out-of-range indices record a run-time error (wdn_set_error, rt.c; the runtime throws after the run)
 * and write zeros.
 */
#include "kernels.h"
#include "internal.h"

typedef uint8_t u8;

void wdn_copy_bytes(int64_t nbytes, const void* x, void* y, int tid, int nth) {
  if (nbytes <= 0 || x == y) return;
  int64_t lo, hi;
  wdn_split_blocks(nbytes, 64, tid, nth, &lo, &hi);
  if (lo < hi) __builtin_memcpy((u8*)y + lo, (const u8*)x + lo, (size_t)(hi - lo));
}

static inline int64_t read_index(const void* p, int i64, int64_t t) {
  return i64 ? ((const int64_t*)p)[t] : (int64_t)((const int32_t*)p)[t];
}

/* index v along an axis of length dim (negative counts from the end); -1 when out of range */
static inline int64_t wrap_index(int64_t v, int64_t dim) {
  if (v < 0) v += dim;
  return v >= 0 && v < dim ? v : -1;
}

/* y = rows of row_bytes each; row r comes from src(ctx, r) (NULL: zeros). Split over bytes. */
typedef const u8* (*row_src_fn)(const void* ctx, int64_t row);

static void gather_rows(int64_t rows, int64_t row_bytes, row_src_fn src, const void* ctx, u8* y, int tid,
                        int nth) {
  if (rows <= 0 || row_bytes <= 0) return;
  if (row_bytes == 1 || row_bytes == 2 || row_bytes == 4 || row_bytes == 8) {
    /* small rows: whole rows per share (64-byte blocks hold whole rows), one typed move each */
    int64_t lo, hi;
    wdn_split_blocks(rows, 64, tid, nth, &lo, &hi);
    for (int64_t r = lo; r < hi; r++) {
      const u8* s = src(ctx, r);
      switch (row_bytes) {
        case 1: y[r] = s ? *s : 0; break;
        case 2: ((uint16_t*)y)[r] = s ? *(const uint16_t*)s : 0; break;
        case 4: ((uint32_t*)y)[r] = s ? *(const uint32_t*)s : 0; break;
        default: ((uint64_t*)y)[r] = s ? *(const uint64_t*)s : 0; break;
      }
    }
    return;
  }
  int64_t lo, hi;
  wdn_split_blocks(rows * row_bytes, 64, tid, nth, &lo, &hi);
  int64_t pos = lo;
  while (pos < hi) {
    int64_t r = pos / row_bytes, j = pos - r * row_bytes;
    int64_t seg = row_bytes - j;
    if (seg > hi - pos) seg = hi - pos;
    const u8* s = src(ctx, r);
    if (s) __builtin_memcpy(y + pos, s + j, (size_t)seg);
    else __builtin_memset(y + pos, 0, (size_t)seg);
    pos += seg;
  }
}

/* ---- Gather ---- */
typedef struct {
  int64_t dim, nidx, row_bytes;
  const u8* data;
  const void* indices;
  int idx_i64;
  int op;
} gather_ctx;

static const u8* gather_src(const void* c, int64_t row) {
  const gather_ctx* g = (const gather_ctx*)c;
  int64_t a = row / g->nidx, t = row - a * g->nidx;
  int64_t i = wrap_index(read_index(g->indices, g->idx_i64, t), g->dim);
  if (i < 0) {
    wdn_set_error(WDN_ERR_GATHER_INDEX, g->op);
    return 0;
  }
  return g->data + (a * g->dim + i) * g->row_bytes;
}

void wdn_gather(int64_t outer, int64_t dim, int64_t row_bytes, const void* data, const void* indices, int idx_i64,
                int64_t nidx, void* y, int op, int tid, int nth) {
  gather_ctx g = {dim, nidx, row_bytes, (const u8*)data, indices, idx_i64, op};
  if (nidx <= 0) return;
  gather_rows(outer * nidx, row_bytes, gather_src, &g, (u8*)y, tid, nth);
}

/* ---- GatherND ---- */
static const u8* gather_nd_src(const void* c, int64_t row) {
  const wdn_gather_nd_params* p = (const wdn_gather_nd_params*)c;
  int64_t b = row / p->tuples;
  int64_t off = b * p->batch_bytes;
  for (int q = 0; q < p->k; q++) {
    int64_t i = wrap_index(read_index(p->indices, p->idx_i64, row * p->k + q), p->dims[q]);
    if (i < 0) {
      wdn_set_error(WDN_ERR_GATHER_ND_INDEX, p->op);
      return 0;
    }
    off += i * p->strides[q];
  }
  return (const u8*)p->data + off;
}

void wdn_gather_nd(const wdn_gather_nd_params* p, int tid, int nth) {
  if (p->k < 0 || p->k > WDN_GATHER_ND_MAXK || p->tuples <= 0) return;
  gather_rows(p->batch * p->tuples, p->slice_bytes, gather_nd_src, p, (u8*)p->y, tid, nth);
}

/* ---- Expand (broadcast copy) ---- */
#define EXPAND_ROW(T)                                                   \
  do {                                                                  \
    const T* s = (const T*)p->x + it.off[0];                            \
    T* d = (T*)p->y + pos;                                              \
    if (is == 0) {                                                      \
      const T v = *s;                                                   \
      for (int64_t i = 0; i < n; i++) d[i] = v;                         \
    } else {                                                            \
      WDN_SCALAR_LOOP                                                     \
      for (int64_t i = 0; i < n; i++) d[i] = s[i * is];                 \
    }                                                                   \
  } while (0)

void wdn_expand(const wdn_expand_params* p, int tid, int nth) {
  if (p->rank < 1 || p->rank > 6) return;
  int64_t total = 1;
  for (int d = 0; d < p->rank; d++) total *= p->shape[d];
  if (total <= 0) return;
  int64_t lo, hi;
  wdn_split_blocks(total, 64, tid, nth, &lo, &hi);
  if (lo >= hi) return;
  const int* strides[1] = {p->stride};
  const int last = p->shape[p->rank - 1], is = p->stride[p->rank - 1];
  wdn_nd_iter it;
  wdn_nd_first(&it, p->rank, p->shape, 1, strides, lo);
  for (int64_t pos = lo; pos < hi;) {
    int64_t n = last - it.idx[p->rank - 1];
    if (n > hi - pos) n = hi - pos;
    if (is == 1) {
      __builtin_memcpy((u8*)p->y + pos * p->elem, (const u8*)p->x + it.off[0] * p->elem, (size_t)(n * p->elem));
    } else {
      switch (p->elem) {
        case 1: EXPAND_ROW(uint8_t); break;
        case 2: EXPAND_ROW(uint16_t); break;
        case 4: EXPAND_ROW(uint32_t); break;
        case 8: EXPAND_ROW(uint64_t); break;
        default: return;
      }
    }
    pos += n;
    wdn_nd_next(&it, p->shape, strides, n);
  }
}

/* ---- Where ---- */
/* 4-byte elements (float32, int32), contiguous cond, x and y contiguous or scalar: f32x4 selects */
static void where_row_4(const u8* c, const uint32_t* x, int64_t sx, const uint32_t* y, int64_t sy, uint32_t* o,
                        int64_t n) {
  const v128_t zero = wasm_i32x4_splat(0);
  const v128_t xs = wasm_i32x4_splat((int32_t)*x), ys = wasm_i32x4_splat((int32_t)*y);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    v128_t cb = wasm_v128_load32_zero(c + i);
    v128_t m = wasm_i32x4_ne(wasm_u32x4_extend_low_u16x8(wasm_u16x8_extend_low_u8x16(cb)), zero);
    v128_t a = sx ? wasm_v128_load(x + i) : xs;
    v128_t b = sy ? wasm_v128_load(y + i) : ys;
    wasm_v128_store(o + i, wasm_v128_bitselect(a, b, m));
  }
  for (; i < n; i++) o[i] = c[i] ? x[i * sx] : y[i * sy];
}

/* any other case: one scalar strided loop */
#define WHERE_ROW(T)                                                               \
  do {                                                                             \
    const u8* c = p->cond + it.off[0];                                             \
    const T* x = (const T*)p->x + it.off[1];                                       \
    const T* y = (const T*)p->y + it.off[2];                                       \
    T* o = (T*)p->out + pos;                                                       \
    WDN_SCALAR_LOOP                                                                \
    for (int64_t i = 0; i < n; i++) o[i] = c[i * sc] ? x[i * sx] : y[i * sy];      \
  } while (0)

void wdn_where(const wdn_where_params* p, int tid, int nth) {
  if (p->rank < 1 || p->rank > 6) return;
  int64_t total = 1;
  for (int d = 0; d < p->rank; d++) total *= p->shape[d];
  if (total <= 0) return;
  int64_t lo, hi;
  wdn_split_blocks(total, 64, tid, nth, &lo, &hi);
  if (lo >= hi) return;
  const int* strides[3] = {p->stride_c, p->stride_x, p->stride_y};
  const int r = p->rank - 1, last = p->shape[r];
  const int64_t sc = p->stride_c[r], sx = p->stride_x[r], sy = p->stride_y[r];
  wdn_nd_iter it;
  wdn_nd_first(&it, p->rank, p->shape, 3, strides, lo);
  for (int64_t pos = lo; pos < hi;) {
    int64_t n = last - it.idx[r];
    if (n > hi - pos) n = hi - pos;
    if (p->elem == 4 && sc == 1 && (sx == 0 || sx == 1) && (sy == 0 || sy == 1)) {
      where_row_4(p->cond + it.off[0], (const uint32_t*)p->x + it.off[1], sx, (const uint32_t*)p->y + it.off[2], sy,
                  (uint32_t*)p->out + pos, n);
    } else switch (p->elem) {
      case 1: WHERE_ROW(uint8_t); break;
      case 2: WHERE_ROW(uint16_t); break;
      case 4: WHERE_ROW(uint32_t); break;
      case 8: WHERE_ROW(uint64_t); break;
      default: return;
    }
    pos += n;
    wdn_nd_next(&it, p->shape, strides, n);
  }
}

/* ---- GatherElements: y[i] = data[i with axis coordinate replaced by indices[i]] (y has the indices' shape) ---- */
void wdn_gather_elements(const wdn_gather_elements_params* p, int tid, int nth) {
  int64_t total = 1;
  for (int d = 0; d < p->rank; d++) total *= p->shape[d];
  int64_t lo, hi;
  wdn_split_blocks(total, 64, tid, nth, &lo, &hi);
  if (lo >= hi) return;
  const int* strides[1] = {p->stride};
  wdn_nd_iter it;
  wdn_nd_first(&it, p->rank, p->shape, 1, strides, lo);
  const int r = p->rank - 1;
  const int64_t e = p->elem, as = p->axis_stride;
  for (int64_t pos = lo; pos < hi;) {
    int64_t n = p->shape[r] - it.idx[r];
    if (n > hi - pos) n = hi - pos;
    WDN_SCALAR_LOOP
    for (int64_t j = 0; j < n; j++) {
      const int64_t i = wrap_index(read_index(p->indices, p->idx_i64, pos + j), p->axis_dim);
      u8* dst = (u8*)p->y + (pos + j) * e;
      if (i < 0) {
        wdn_set_error(WDN_ERR_GATHER_INDEX, p->op);
        __builtin_memset(dst, 0, (size_t)e);
      } else {
        __builtin_memcpy(dst, (const u8*)p->data + (it.off[0] + j * p->stride[r] + i * as) * e, (size_t)e);
      }
    }
    pos += n;
    if (pos < hi) wdn_nd_next(&it, p->shape, strides, n);
  }
}
