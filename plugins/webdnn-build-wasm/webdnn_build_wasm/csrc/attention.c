/* webdnn-build wasm kernels: fused attention, one query row at a time.
 *
 *   y[b, h, i, :] = sum_j p_j * v[b, h, j, :],  p = softmax_j(scale * q[b, h, i, :] . kt[b, h, :, j] + bias[b, h, i, j])
 *
 * (webdnn_build.codegen.fuse_attention matches it.) Rows (b, h, i) are split across threads; each row keeps
 * its L scores in the thread's scratch, so the [B, H, S, L] score and probability tensors of the unfused
 * graph never exist. Kt is [D, L] per head (as exporters leave it): the score loop runs along j with f32x4
 * (one splat of q[d] times a contiguous row of Kt). With nan_to_zero, a NaN probability becomes 0 (the
 * Where(IsNaN(p), 0, p) guard torch's scaled_dot_product_attention exports, for fully masked rows).
 * Each row is computed in a fixed order: results do not depend on nth.
 */
#include "kernels.h"
#include "internal.h"
#include "mathfn.h"

#define LD(p) wasm_v128_load(p)
#define ST(p, v) wasm_v128_store((p), (v))

void wdn_attention_f32(const wdn_attention_params* p, int tid, int nth) {
  const int B = p->batch, H = p->heads, S = p->seq_q, L = p->seq_k, D = p->head_q, Dv = p->head_v;
  const int Lv = L & ~3, Dvv = Dv & ~3;
  float* sc = (float*)(p->scratch + (ptrdiff_t)tid * p->scratch_stride);
  int r0, r1;
  wdn_split(B * H * S, tid, nth, &r0, &r1);
  const v128_t scale4 = wasm_f32x4_splat(p->scale);
  for (int r = r0; r < r1; r++) {
    const int i = r % S, bh = r / S, h = bh % H, b = bh / H;
    const float* qr = p->q + (ptrdiff_t)r * D;
    const float* kt = p->kt + (ptrdiff_t)bh * D * L;
    const float* v = p->v + (ptrdiff_t)bh * L * Dv;
    float* yr = p->y + (ptrdiff_t)r * Dv;
    /* scores: sc[j] = scale * sum_d q[d] * kt[d, j] + bias */
    for (int j = 0; j < L; j++) sc[j] = 0.0f;
    for (int d = 0; d < D; d++) {
      const float qd = qr[d];
      const v128_t q4 = wasm_f32x4_splat(qd);
      const float* kr = kt + (ptrdiff_t)d * L;
      int j = 0;
      for (; j < Lv; j += 4) ST(sc + j, wasm_f32x4_add(LD(sc + j), wasm_f32x4_mul(q4, LD(kr + j))));
      for (; j < L; j++) sc[j] += qd * kr[j];
    }
    const float* bias = p->bias ? p->bias + (ptrdiff_t)b * p->bias_stride[0] + (ptrdiff_t)h * p->bias_stride[1] +
                                      (ptrdiff_t)i * p->bias_stride[2] : 0;
    const int bj = p->bias_stride[3];
    float m = -__builtin_inff();
    {
      int j = 0;
      if (bias && bj == 1) {
        for (; j < Lv; j += 4) ST(sc + j, wasm_f32x4_add(wasm_f32x4_mul(LD(sc + j), scale4), LD(bias + j)));
      } else if (!bias) {
        for (; j < Lv; j += 4) ST(sc + j, wasm_f32x4_mul(LD(sc + j), scale4));
      }
      for (; j < L; j++) sc[j] = sc[j] * p->scale + (bias ? bias[(ptrdiff_t)j * bj] : 0.0f);
    }
    for (int j = 0; j < L; j++) m = (sc[j] > m || sc[j] != sc[j]) ? sc[j] : m; /* NaN wins, like the max of Softmax */
    /* exp and sum */
    const v128_t m4 = wasm_f32x4_splat(m);
    v128_t s4 = wasm_f32x4_splat(0.0f);
    int j = 0;
    for (; j < Lv; j += 4) {
      v128_t e = wdn_math_exp_nonpos_v(wasm_f32x4_sub(LD(sc + j), m4));
      ST(sc + j, e);
      s4 = wasm_f32x4_add(s4, e);
    }
    float s = (wasm_f32x4_extract_lane(s4, 0) + wasm_f32x4_extract_lane(s4, 1)) +
              (wasm_f32x4_extract_lane(s4, 2) + wasm_f32x4_extract_lane(s4, 3));
    for (; j < L; j++) {
      sc[j] = wdn_math_exp_nonpos_s(sc[j] - m);
      s += sc[j];
    }
    /* probabilities (NaN -> 0 under the guard), then y = sum_j p_j v_j */
    for (j = 0; j < L; j++) {
      float pj = sc[j] / s;
      sc[j] = (p->nan_to_zero && pj != pj) ? 0.0f : pj;
    }
    for (int d = 0; d < Dv; d++) yr[d] = 0.0f;
    for (j = 0; j < L; j++) {
      const float pj = sc[j];
      const v128_t p4 = wasm_f32x4_splat(pj);
      const float* vr = v + (ptrdiff_t)j * Dv;
      int d = 0;
      for (; d < Dvv; d += 4) ST(yr + d, wasm_f32x4_add(LD(yr + d), wasm_f32x4_mul(p4, LD(vr + d))));
      for (; d < Dv; d++) yr[d] += pj * vr[d];
    }
  }
}
