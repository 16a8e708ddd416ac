/* webdnn-build wasm kernels: integer bit ops and Mod on any integer dtype (int8..uint64), broadcasting.
 *
 * One scalar kernel for every dtype: elements are widened to 64 bits (sign- or zero-extended), combined,
 * and stored truncated to the element size, which gives the js kernels' (elementwise.js) results bit for
 * bit: shifts by a negative count or >= the width give 0 (an arithmetic right shift of a negative value: -1),
 * Mod by 0 gives 0, Mod without fmod takes the divisor's sign. Exact: the thread split cannot change it.
 */
#include "kernels.h"
#include "internal.h"

static int64_t io_load(const void* p, int64_t i, int elem, int sg) {
  switch (elem) {
    case 1: return sg ? (int64_t)((const int8_t*)p)[i] : (int64_t)((const uint8_t*)p)[i];
    case 2: return sg ? (int64_t)((const int16_t*)p)[i] : (int64_t)((const uint16_t*)p)[i];
    case 4: return sg ? (int64_t)((const int32_t*)p)[i] : (int64_t)((const uint32_t*)p)[i];
    default: return ((const int64_t*)p)[i];
  }
}

static void io_store(void* p, int64_t i, int elem, uint64_t v) {
  switch (elem) {
    case 1: ((uint8_t*)p)[i] = (uint8_t)v; break;
    case 2: ((uint16_t*)p)[i] = (uint16_t)v; break;
    case 4: ((uint32_t*)p)[i] = (uint32_t)v; break;
    default: ((uint64_t*)p)[i] = v; break;
  }
}

static uint64_t io_op(int op, int64_t x, int64_t y, int bits, int sg) {
  const uint64_t ux = (uint64_t)x, uy = (uint64_t)y;
  switch (op) {
    case WDN_IOP_AND: return ux & uy;
    case WDN_IOP_OR: return ux | uy;
    case WDN_IOP_XOR: return ux ^ uy;
    case WDN_IOP_NOT: return ~ux;
    case WDN_IOP_SHL:
      if ((sg && y < 0) || uy >= (uint64_t)bits) return 0;
      return ux << uy;
    case WDN_IOP_SHR:
      if ((sg && y < 0) || uy >= (uint64_t)bits) return sg && x < 0 ? ~(uint64_t)0 : 0;
      return sg ? (uint64_t)(x >> uy) : ux >> uy;
    default: { /* Mod, fmod */
      if (y == 0) return 0;
      if (!sg) return ux % uy; /* (64-bit unsigned values are zero-extended: ux, uy exact) */
      if (y == -1) return 0;   /* x % -1 is 0 (and INT64_MIN % -1 would trap) */
      int64_t r = x % y;
      if (op == WDN_IOP_MOD && r != 0 && ((r < 0) != (y < 0))) r += y;
      return (uint64_t)r;
    }
  }
}

void wdn_int_binary(const wdn_int_binary_params* p, int tid, int nth) {
  int64_t total = 1;
  for (int d = 0; d < p->rank; d++) total *= p->shape[d];
  int64_t lo, hi;
  wdn_split_blocks(total, 64, tid, nth, &lo, &hi);
  if (lo >= hi) return;
  const int* strides[2] = {p->stride_a, p->stride_b};
  wdn_nd_iter it;
  wdn_nd_first(&it, p->rank, p->shape, 2, strides, lo);
  const int r = p->rank - 1, elem = p->elem, sg = p->is_signed, bits = 8 * elem;
  const int sa = p->stride_a[r], sb = p->stride_b[r];
  for (int64_t pos = lo; pos < hi;) {
    int64_t n = p->shape[r] - it.idx[r];
    if (n > hi - pos) n = hi - pos;
    const int64_t oa = it.off[0], ob = it.off[1];
    WDN_SCALAR_LOOP
    for (int64_t j = 0; j < n; j++) {
      const int64_t x = io_load(p->a, oa + j * sa, elem, sg);
      const int64_t y = p->b ? io_load(p->b, ob + j * sb, elem, sg) : 0;
      io_store(p->y, pos + j, elem, io_op(p->op, x, y, bits, sg));
    }
    pos += n;
    if (pos < hi) wdn_nd_next(&it, p->shape, strides, n);
  }
}

/* Trilu: per matrix row i, keep column j when (upper ? j - i >= k : j - i <= k), else write zero bytes */
void wdn_trilu(const wdn_trilu_params* p, int tid, int nth) {
  const int64_t k = p->k_ptr ? *p->k_ptr : p->k;
  int lo, hi;
  wdn_split(p->mats * p->rows, tid, nth, &lo, &hi);
  const int64_t rb = (int64_t)p->cols * p->elem;
  for (int rr = lo; rr < hi; rr++) {
    const int64_t i = rr % p->rows;
    /* kept columns [c0, c1) */
    int64_t c0 = 0, c1 = p->cols;
    if (p->upper) c0 = i + k; else c1 = i + k + 1;
    c0 = c0 < 0 ? 0 : c0 > p->cols ? p->cols : c0;
    c1 = c1 < c0 ? c0 : c1 > p->cols ? p->cols : c1;
    const uint8_t* x = (const uint8_t*)p->x + rr * rb;
    uint8_t* y = (uint8_t*)p->y + rr * rb;
    const int64_t e = p->elem;
    if (c0 > 0) __builtin_memset(y, 0, (size_t)(c0 * e));
    if (c1 > c0 && x != y) __builtin_memcpy(y + c0 * e, x + c0 * e, (size_t)((c1 - c0) * e));
    if (c1 < p->cols) __builtin_memset(y + c1 * e, 0, (size_t)((p->cols - c1) * e));
  }
}
