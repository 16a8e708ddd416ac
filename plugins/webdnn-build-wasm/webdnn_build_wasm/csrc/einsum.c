/* webdnn-build wasm kernel: Einsum of one or two float32 / float64 operands (kernels_rrp.h). The equation
 * is resolved at build time (emit/einsum.py) into labels: each output element walks the summed labels'
 * index space in row-major order and adds the product of the operands' elements (strides per label, a
 * repeated label of one operand summing its axes' strides: diagonals; 0 on broadcast axes), in double.
 * A thread takes a contiguous range of outputs; results do not depend on nth. */
#include "kernels.h"
#include "internal.h"
#include "kernels_rrp.h"

static inline double ein_load(int f64, const void* p, int64_t i) {
  return f64 ? ((const double*)p)[i] : (double)((const float*)p)[i];
}

/* a float rounded to bfloat16's precision (nearest, ties to even; NaN kept), stored as float as the js backend does */
static inline float ein_bf16(float v) {
  union { float f; uint32_t u; } b = {v};
  if ((b.u & 0x7fffffffu) > 0x7f800000u) return v;
  b.u = (b.u + 0x7fffu + ((b.u >> 16) & 1u)) & 0xffff0000u;
  return b.f;
}

void wdn_einsum(const wdn_einsum_params* p, int tid, int nth) {
  int64_t total = 1, count = 1;
  for (int d = 0; d < p->nout; d++) total *= p->odims[d];
  for (int d = 0; d < p->nsum; d++) count *= p->sdims[d];
  if (total <= 0) return;
  const int f64 = p->dtype == WDN_DT_F64;
  int64_t lo, hi;
  wdn_split_blocks(total, 1, tid, nth, &lo, &hi);
  for (int64_t o = lo; o < hi; o++) {
    int64_t base[2] = {0, 0}, rest = o;
    for (int d = p->nout - 1; d >= 0; d--) {
      const int64_t i = rest % p->odims[d];
      rest /= p->odims[d];
      for (int k = 0; k < p->nops; k++) base[k] += i * p->ostride[k][d];
    }
    double acc = 0;
    if (count > 0) {
      int64_t idx[8] = {0, 0, 0, 0, 0, 0, 0, 0}, off[2] = {base[0], base[1]};
      for (int64_t s = 0; s < count; s++) {
        double v = ein_load(f64, p->x[0], off[0]);
        if (p->nops == 2) v *= ein_load(f64, p->x[1], off[1]);
        acc += v;
        for (int d = p->nsum - 1; d >= 0; d--) { /* odometer over the summed labels */
          idx[d]++;
          for (int k = 0; k < p->nops; k++) off[k] += p->sstride[k][d];
          if (idx[d] < p->sdims[d]) break;
          for (int k = 0; k < p->nops; k++) off[k] -= p->sdims[d] * p->sstride[k][d];
          idx[d] = 0;
        }
      }
    }
    if (f64) ((double*)p->y)[o] = acc;
    else ((float*)p->y)[o] = p->round_bf16 ? ein_bf16((float)acc) : (float)acc;
  }
}
