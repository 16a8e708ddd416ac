/* Test driver for pool.c / elementwise.c / softmax.c / misc.c (test_pool_elementwise.py).
 * Wraps the struct-taking kernels in scalar/pointer signatures callable from JS; the other
 * kernels are exported as they are (--export-dynamic). */
#include "kernels.h"

extern unsigned char __heap_base;
int pe_heap_base(void) { return (int)(uintptr_t)&__heap_base; }

/* ip: n, c, h, w, oh, ow, kh, kw, sh, sw, dh, dw, pad_t, pad_l, pad_b, pad_r, count_include_pad */
void pe_pool(int is_max, const int* ip, const float* x, float* y, int tid, int nth) {
  wdn_pool2d_params p = {ip[0], ip[1], ip[2], ip[3], ip[4], ip[5], ip[6], ip[7], ip[8], ip[9], ip[10], ip[11],
                         ip[12], ip[13], ip[14], ip[15], ip[16], x, y};
  if (is_max) wdn_maxpool2d_f32(&p, tid, nth);
  else wdn_avgpool2d_f32(&p, tid, nth);
}

/* ip: op, rank, shape[6], stride_a[6], stride_b[6], act_kind; fp: act a, b */
void pe_binary(const int* ip, const float* fp, const float* a, const float* b, float* y, int tid, int nth) {
  wdn_binary_params p;
  p.op = ip[0];
  p.rank = ip[1];
  for (int i = 0; i < 6; i++) {
    p.shape[i] = ip[2 + i];
    p.stride_a[i] = ip[8 + i];
    p.stride_b[i] = ip[14 + i];
  }
  p.a = a;
  p.b = b;
  p.y = y;
  p.act.kind = ip[20];
  p.act.a = fp[0];
  p.act.b = fp[1];
  wdn_binary_f32(&p, tid, nth);
}

void pe_affine(int n, int c, int hw, const float* x, const float* scale, const float* shift, float* y, int act_kind,
               float act_a, float act_b, int tid, int nth) {
  wdn_act act = {act_kind, act_a, act_b};
  wdn_channel_affine_f32(n, c, hw, x, scale, shift, y, act, tid, nth);
}
