/* webdnn-build wasm kernels: 2-D convolution (wdn_conv2d_f32), NCHW / OIHW.
 *
 * Per batch item and group the conv is Y[cout_g, OH*OW] = W[cout_g, K] . B[K, OH*OW] with
 * K = cin_g*kh*kw, computed by the blocked GEMM core of gemm.c (A = the weights, read in place):
 *  - 1x1, stride 1, no padding: B is the input itself ([cin_g, H*W]); it is packed like a GEMM B.
 *  - otherwise: im2col is written directly into the packed 8-pixel B panels of the thread's scratch,
 *    one K block x WDN_CONV2D_NC pixels at a time (<= 512 KiB per thread).
 *  - depthwise convs (group == cin == cout) have their own kernel: conv_depthwise.c.
 * Epilogue: bias[cout] (+ residual) then the activation. Threads: each GEMM is split along its
 * M or N blocks (wdn_gemm_split). Deterministic for any nth.
 */
#include "internal.h"

void wdn__pack_b_kn(const void* vctx, int k0, int kc, int n0, int nc, float* dst);
typedef struct { const float* b; int ld; } packb_ctx; /* same layout as in gemm.c */

typedef struct {
  const wdn_conv2d_params* p;
  const float* x; /* first input channel of the group, batch item b */
} im2col_ctx;

WDN_INLINE void copy_f32(float* d, const float* s, int n) {
  int t = 0;
  for (; t + 8 <= n; t += 8) {
    wasm_v128_store(d + t, wasm_v128_load(s + t));
    wasm_v128_store(d + t + 4, wasm_v128_load(s + t + 4));
  }
  for (; t + 4 <= n; t += 4) wasm_v128_store(d + t, wasm_v128_load(s + t));
  for (; t < n; t++) d[t] = s[t];
}
WDN_INLINE void zero_f32(float* d, int n) {
  int t = 0;
  for (; t + 4 <= n; t += 4) wasm_v128_store(d + t, wasm_f32x4_splat(0.0f));
  for (; t < n; t++) d[t] = 0.0f;
}

/* im2col of one K block x nc pixels into 8-pixel panels: for each k = (ci, ky, kx) the row of nc
 * pixels is built in `tmp` (a shifted copy of input rows with zero borders), then spread to the panels */
static void pack_im2col(const void* vctx, int k0, int kc, int n0, int nc, float* dst) {
  const im2col_ctx* c = (const im2col_ctx*)vctx;
  const wdn_conv2d_params* p = c->p;
  const int H = p->h, W = p->w, OW = p->ow, KW = p->kw, KHW = p->kh * p->kw;
  const int sh = p->sh, sw = p->sw, dh = p->dh, dw = p->dw, pt = p->pad_t, pl = p->pad_l;
#define KB 8 /* k rows built per pass, so that each panel gets KB*32 contiguous bytes at a time */
  float tmpb[KB][WDN_CONV2D_NC + 8] __attribute__((aligned(16)));
  const int oy0 = n0 / OW, ox0 = n0 % OW, npan = (nc + 7) / 8;
  int ci = k0 / KHW, rem = k0 % KHW, ky = rem / KW, kx = rem % KW;
  for (int r = 0; r < KB; r++)
    for (int t = nc; t < npan * 8; t++) tmpb[r][t] = 0.0f;
  for (int kk = 0; kk < kc; kk++) {
    float* tmp = tmpb[kk % KB];
    const float* xc = c->x + (size_t)ci * H * W;
    int q = 0, oy = oy0, ox = ox0;
    while (q < nc) {
      int len = wdn_mini(nc - q, OW - ox);
      int iy = oy * sh - pt + ky * dh;
      float* d = tmp + q;
      if ((unsigned)iy >= (unsigned)H) {
        zero_f32(d, len);
      } else {
        const float* row = xc + (size_t)iy * W;
        int ix0 = ox * sw - pl + kx * dw;
        /* valid t: 0 <= ix0 + t*sw <= W-1 */
        int tlo = ix0 >= 0 ? 0 : (-ix0 + sw - 1) / sw;
        int thi = ix0 > W - 1 ? 0 : (W - 1 - ix0) / sw + 1;
        if (tlo > len) tlo = len;
        if (thi > len) thi = len;
        if (thi < tlo) thi = tlo;
        zero_f32(d, tlo);
        if (sw == 1) {
          copy_f32(d + tlo, row + ix0 + tlo, thi - tlo);
        } else {
          const float* s = row + ix0 + tlo * sw;
          int t = tlo;
          if (sw == 2)
            for (; t + 4 <= thi; t += 4, s += 8)
              wasm_v128_store(d + t, wasm_i32x4_shuffle(wasm_v128_load(s), wasm_v128_load(s + 4), 0, 2, 4, 6));
          for (; t < thi; t++, s += sw) d[t] = *s;
        }
        zero_f32(d + thi, len - thi);
      }
      q += len;
      ox = 0;
      oy++;
    }
    if (kk % KB == KB - 1 || kk == kc - 1) {
      int kb0 = kk - kk % KB, nkb = kk % KB + 1;
      float* dp = dst + (size_t)kb0 * 8;
      for (int pi = 0; pi < npan; pi++, dp += (size_t)kc * 8)
        for (int r = 0; r < nkb; r++) {
          wasm_v128_store(dp + 8 * r, wasm_v128_load(tmpb[r] + 8 * pi));
          wasm_v128_store(dp + 8 * r + 4, wasm_v128_load(tmpb[r] + 8 * pi + 4));
        }
    }
    if (++kx == KW) {
      kx = 0;
      if (++ky == p->kh) { ky = 0; ci++; }
    }
  }
#undef KB
}

/* a pointwise conv with few pixels and W^T packed at load (p->packed_wt; the 7x7 maps of a classifier's last
 * stage: N = 49 pixels are 6 full 8-column panels and one narrow column): computed as Y^T = X^T . W^T, so that
 * the pixels are the micro-kernels' rows (49 = 9*5 + 4 exactly) and the output channels their columns (full
 * panels), then transposed from the scratch into y with bias, residual and activation. Threads split the
 * output channels (or the pixels) as wdn_gemm_split does. */
static void pointwise_transposed(const wdn_conv2d_params* p, int tid, int nth) {
  const int N = p->oh * p->ow, C = p->cin, K = p->cout, ldt = (K + 7) & ~7;
  float* bscratch = wdn_scratch_f32(p->scratch, p->scratch_stride, tid);
  float* t = bscratch + WDN__GEMM_BLOCKS_BYTES(N, K, C, WDN_GEMM_NC) / 4;
  const wdn_act_vec av = wdn_act_prep(p->act);
  int m0, m1, n0, n1;
  wdn_gemm_split(N, K, tid, nth, &m0, &m1, &n0, &n1);
  for (int b = 0; b < p->n; b++) {
    wdn_gemm_core_t core;
    core.m = N; core.n = K; core.k = C;
    core.a = p->x + (size_t)b * C * N; core.a_rs = 1; core.a_cs = N; /* X^T[pixel, cin] */
    core.pack_b = 0; core.pack_ctx = 0;
    core.packed_b = p->packed_wt; core.packed_npad = ldt;
    core.bias = 0; core.bias_kind = 0; core.alpha = 1.0f; core.beta = 1.0f;
    core.residual = 0; core.y = t; core.ldy = ldt;
    core.act.kind = WDN_ACT_NONE; core.act.a = 0.0f; core.act.b = 0.0f;
    wdn_gemm_core(&core, m0, m1, n0, n1, bscratch, WDN_GEMM_NC);
    size_t yoff = (size_t)b * K * N;
    for (int c = n0; c < n1; c++) {
      v128_t bv = wasm_f32x4_splat(p->bias ? p->bias[c] : 0.0f);
      float* yc = p->y + yoff + (size_t)c * N;
      const float* rc = p->residual ? p->residual + yoff + (size_t)c * N : 0;
      for (int i = m0; i < m1; i += 4) {
        int nv = wdn_mini(4, m1 - i);
        const float* tc = t + (size_t)i * ldt + c;
        v128_t v = wasm_f32x4_make(tc[0], nv > 1 ? tc[ldt] : 0.0f, nv > 2 ? tc[2 * ldt] : 0.0f, nv > 3 ? tc[3 * ldt] : 0.0f);
        v = wasm_f32x4_add(v, bv);
        if (nv == 4) {
          if (rc) v = wasm_f32x4_add(v, wasm_v128_load(rc + i));
          wasm_v128_store(yc + i, wdn_act_v4(v, &av));
        } else {
          float o[4] __attribute__((aligned(16)));
          wasm_v128_store(o, v);
          for (int q = 0; q < nv; q++) yc[i + q] = wdn_act_s(o[q] + (rc ? rc[i + q] : 0.0f), p->act);
        }
      }
    }
  }
}

void wdn_conv2d_f32(const wdn_conv2d_params* p, int tid, int nth) {
  if (p->packed_wt) {
    pointwise_transposed(p, tid, nth);
    return;
  }
  int G = p->group, cin_g = p->cin / G, cout_g = p->cout / G;
  int K = cin_g * p->kh * p->kw, N = p->oh * p->ow, HW = p->h * p->w;
  int pointwise = p->kh == 1 && p->kw == 1 && p->sh == 1 && p->sw == 1 && p->pad_t == 0 && p->pad_l == 0 &&
                  p->pad_b == 0 && p->pad_r == 0 && p->oh == p->h && p->ow == p->w;
  float* bscratch = wdn_scratch_f32(p->scratch, p->scratch_stride, tid);
  int m0, m1, n0, n1;
  wdn_gemm_split(cout_g, N, tid, nth, &m0, &m1, &n0, &n1);
  for (int b = 0; b < p->n; b++) {
    for (int g = 0; g < G; g++) {
      const float* xg = p->x + ((size_t)b * p->cin + (size_t)g * cin_g) * HW;
      size_t yoff = ((size_t)b * p->cout + (size_t)g * cout_g) * N;
      packb_ctx pc;
      im2col_ctx ic;
      wdn_gemm_core_t core;
      core.m = cout_g; core.n = N; core.k = K;
      core.packed_b = 0; core.packed_npad = 0;
      core.a = p->weight + (size_t)g * cout_g * K;
      core.a_rs = K; core.a_cs = 1;
      if (pointwise) {
        pc.b = xg; pc.ld = HW;
        core.pack_b = wdn__pack_b_kn; core.pack_ctx = &pc;
      } else {
        ic.p = p; ic.x = xg;
        core.pack_b = pack_im2col; core.pack_ctx = &ic;
      }
      core.bias = p->bias ? p->bias + (size_t)g * cout_g : 0;
      core.bias_kind = p->bias ? 1 : 0;
      core.alpha = 1.0f; core.beta = 1.0f;
      core.residual = p->residual ? p->residual + yoff : 0;
      core.y = p->y + yoff; core.ldy = N;
      core.act = p->act;
      wdn_gemm_core(&core, m0, m1, n0, n1, bscratch, WDN_CONV2D_NC);
    }
  }
}
