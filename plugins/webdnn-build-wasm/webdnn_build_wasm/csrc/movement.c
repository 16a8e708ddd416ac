/* webdnn-build wasm kernels: byte-based data movement of any dtype: strided block copies (Concat, Split)
 * and Pad (constant, reflect, edge, wrap).
 *
 * Pure data movement: results never depend on nth. Splits: the flat byte range in 64-byte blocks
 * (copy_blocks), whole output rows (pad).
 */
#include "kernels.h"
#include "internal.h"

typedef uint8_t u8;

void wdn_copy_blocks(int64_t count, int64_t block_bytes, const void* src, int64_t src_stride, void* dst,
                     int64_t dst_stride, int tid, int nth) {
  if (count <= 0 || block_bytes <= 0) return;
  int64_t lo, hi;
  wdn_split_blocks(count * block_bytes, 64, tid, nth, &lo, &hi);
  int64_t pos = lo;
  while (pos < hi) {
    int64_t b = pos / block_bytes, j = pos - b * block_bytes;
    int64_t seg = block_bytes - j;
    if (seg > hi - pos) seg = hi - pos;
    __builtin_memcpy((u8*)dst + b * dst_stride + j, (const u8*)src + b * src_stride + j, (size_t)seg);
    pos += seg;
  }
}

/* input index of output index o along an axis (i = o - pad_begin), or -1 for the constant */
static inline int64_t pad_map(int64_t i, int64_t n, int mode) {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case WDN_PAD_EDGE: return i < 0 ? 0 : n - 1;
    case WDN_PAD_REFLECT: {
      if (n == 1) return 0;
      int64_t period = 2 * (n - 1);
      i %= period;
      if (i < 0) i += period;
      return i < n ? i : period - i;
    }
    case WDN_PAD_WRAP: {
      i %= n;
      return i < 0 ? i + n : i;
    }
    default: return -1;
  }
}

#define PAD_FILL(T)                                                     \
  do {                                                                  \
    T v = (T)p->value;                                                  \
    T* d = (T*)dst;                                                     \
    WDN_SCALAR_LOOP                                                     \
    for (int64_t q = a; q < b; q++) d[q] = v;                           \
  } while (0)
#define PAD_MAP(T)                                                      \
  do {                                                                  \
    const T* s = (const T*)src;                                         \
    T* d = (T*)dst;                                                     \
    WDN_SCALAR_LOOP                                                     \
    for (int64_t q = a; q < b; q++) {                                   \
      int64_t i = pad_map(q - pb, in_last, p->mode);                    \
      d[q] = i < 0 ? (T)p->value : s[i];                                \
    }                                                                   \
  } while (0)

/* output columns [a, b) of one row: constant fill (src NULL) or mapped reads */
static void pad_part(const wdn_pad_params* p, const u8* src, u8* dst, int64_t a, int64_t b, int64_t pb,
                     int64_t in_last) {
  if (a >= b) return;
  if (!src) {
    switch (p->elem) {
      case 1: PAD_FILL(uint8_t); break;
      case 2: PAD_FILL(uint16_t); break;
      case 4: PAD_FILL(uint32_t); break;
      default: PAD_FILL(uint64_t); break;
    }
  } else {
    switch (p->elem) {
      case 1: PAD_MAP(uint8_t); break;
      case 2: PAD_MAP(uint16_t); break;
      case 4: PAD_MAP(uint32_t); break;
      default: PAD_MAP(uint64_t); break;
    }
  }
}

void wdn_pad(const wdn_pad_params* pp, int tid, int nth) {
  const int r = pp->rank - 1;
  if (r < 0 || r > 5 || (pp->elem != 1 && pp->elem != 2 && pp->elem != 4 && pp->elem != 8)) return;
  wdn_pad_params local;
  const wdn_pad_params* p = pp;
  if (pp->value_ptr) { /* a pad value computed at run time (e.g. the DequantizeLinear of a QDQ model) */
    local = *pp;
    local.value = 0;
    __builtin_memcpy(&local.value, pp->value_ptr, (size_t)pp->elem);
    p = &local;
  }
  int64_t rows = 1;
  for (int d = 0; d < r; d++) rows *= p->out_shape[d];
  const int64_t out_last = p->out_shape[r], in_last = p->in_shape[r], pb = p->pad_begin[r];
  if (rows <= 0 || out_last <= 0) return;
  int lo, hi;
  wdn_split((int)rows, tid, nth, &lo, &hi);
  const int64_t elem = p->elem;
  /* output columns [c0, c1) are a straight copy of input columns [c0 - pb, c1 - pb) */
  int64_t c0 = pb > 0 ? pb : 0, c1 = pb + in_last < out_last ? pb + in_last : out_last;
  if (c1 < c0) c1 = c0;
  for (int row = lo; row < hi; row++) {
    /* source row: map each outer axis */
    int64_t rem = row, off = 0;
    int valid = 1;
    for (int d = r - 1; d >= 0; d--) {
      int64_t o = rem % p->out_shape[d];
      rem /= p->out_shape[d];
      int64_t i = pad_map(o - p->pad_begin[d], p->in_shape[d], p->mode);
      if (i < 0) valid = 0;
      off += i * p->in_stride[d];
    }
    u8* dst = (u8*)p->y + (int64_t)row * out_last * elem;
    if (!valid || in_last == 0) {
      pad_part(p, valid && p->mode != WDN_PAD_CONSTANT ? (const u8*)p->x + off * elem : 0, dst, 0, out_last, pb,
               in_last);
      continue;
    }
    const u8* src = (const u8*)p->x + off * elem;
    pad_part(p, src, dst, 0, c0, pb, in_last);
    if (c1 > c0) __builtin_memcpy(dst + c0 * elem, src + (c0 - pb) * elem, (size_t)((c1 - c0) * elem));
    pad_part(p, src, dst, c1, out_last, pb, in_last);
  }
}
