/* webdnn-build wasm kernels: 2-D convolution (wdn_conv2d_f32), NCHW / OIHW.
 *
 * Per batch item and group the conv is Y[cout_g, OH*OW] = W[cout_g, K] . B[K, OH*OW] with
 * K = cin_g*kh*kw, computed by the blocked GEMM core of gemm.c (A = the weights, read in place):
 *  - 1x1, stride 1, no padding: B is the input itself ([cin_g, H*W]); it is packed like a GEMM B.
 *  - otherwise: im2col is written directly into the packed 8-pixel B panels of the thread's scratch,
 *    one K block x WDN_CONV2D_NC pixels at a time (<= 256 KiB per thread).
 *  - depthwise (group == cin == cout): a direct kernel vectorised over output width (8 or 4 pixels
 *    per step), specialised for 3x3 stride 1 and stride 2 (dilation 1); borders are scalar.
 * Epilogue: bias[cout] (+ residual) then the activation. Threads: each GEMM is split along its
 * M or N blocks (wdn_gemm_split); depthwise is split over output rows. Deterministic for any nth.
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

/* ---- depthwise ---- */

/* one output pixel, with bounds checks */
WDN_INLINE float dw_scalar(const wdn_conv2d_params* p, const float* xp, const float* wp, int iy0, int ky0, int ky1,
                           int ox) {
  float s = 0.0f;
  int ix0 = ox * p->sw - p->pad_l;
  for (int ky = ky0; ky < ky1; ky++) {
    const float* row = xp + (size_t)(iy0 + ky * p->dh) * p->w;
    for (int kx = 0; kx < p->kw; kx++) {
      int ix = ix0 + kx * p->dw;
      if ((unsigned)ix < (unsigned)p->w) s += wp[ky * p->kw + kx] * row[ix];
    }
  }
  return s;
}

WDN_INLINE v128_t dw_load(const float* s, int SW) {
  if (SW == 1) return wasm_v128_load(s);
  if (SW == 2) return wasm_i32x4_shuffle(wasm_v128_load(s), wasm_v128_load(s + 4), 0, 2, 4, 6);
  return wasm_f32x4_make(s[0], s[SW], s[2 * SW], s[3 * SW]);
}

WDN_INLINE void dw_row(const wdn_conv2d_params* p, const float* xp, const float* wp, float bias, int oy, float* yr,
                       const float* rr, const wdn_act_vec* av, int KH, int KW, int SW, int DH, int DW) {
  const int W = p->w, OW = p->ow, pl = p->pad_l;
  int iy0 = oy * p->sh - p->pad_t;
  int ky0 = 0, ky1 = KH;
  while (ky0 < KH && iy0 + ky0 * DH < 0) ky0++;
  while (ky1 > ky0 && iy0 + (ky1 - 1) * DH >= p->h) ky1--;
  int ox_lo = (pl + SW - 1) / SW;
  int ox = 0;
  for (; ox < OW && ox < ox_lo; ox++) {
    float s = dw_scalar(p, xp, wp, iy0, ky0, ky1, ox) + bias;
    if (rr) s += rr[ox];
    yr[ox] = wdn_act_s(s, p->act);
  }
  v128_t bv = wasm_f32x4_splat(bias);
  /* 8 pixels per step: the last load of the step ends at ix0 + (KW-1)*DW + 8*SW */
  for (; ox + 8 <= OW && ox * SW - pl + (KW - 1) * DW + 8 * SW <= W; ox += 8) {
    v128_t s0 = bv, s1 = bv;
    for (int ky = ky0; ky < ky1; ky++) {
      const float* row = xp + (size_t)(iy0 + ky * DH) * W + ox * SW - pl;
      for (int kx = 0; kx < KW; kx++) {
        v128_t wv = wasm_v128_load32_splat(wp + ky * KW + kx);
        s0 = wasm_f32x4_add(s0, wasm_f32x4_mul(wv, dw_load(row + kx * DW, SW)));
        s1 = wasm_f32x4_add(s1, wasm_f32x4_mul(wv, dw_load(row + kx * DW + 4 * SW, SW)));
      }
    }
    if (rr) {
      s0 = wasm_f32x4_add(s0, wasm_v128_load(rr + ox));
      s1 = wasm_f32x4_add(s1, wasm_v128_load(rr + ox + 4));
    }
    wasm_v128_store(yr + ox, wdn_act_v4(s0, av));
    wasm_v128_store(yr + ox + 4, wdn_act_v4(s1, av));
  }
  for (; ox + 4 <= OW && ox * SW - pl + (KW - 1) * DW + 4 * SW <= W; ox += 4) {
    v128_t s0 = bv;
    for (int ky = ky0; ky < ky1; ky++) {
      const float* row = xp + (size_t)(iy0 + ky * DH) * W + ox * SW - pl;
      for (int kx = 0; kx < KW; kx++)
        s0 = wasm_f32x4_add(s0, wasm_f32x4_mul(wasm_v128_load32_splat(wp + ky * KW + kx), dw_load(row + kx * DW, SW)));
    }
    if (rr) s0 = wasm_f32x4_add(s0, wasm_v128_load(rr + ox));
    wasm_v128_store(yr + ox, wdn_act_v4(s0, av));
  }
  for (; ox < OW; ox++) {
    float s = dw_scalar(p, xp, wp, iy0, ky0, ky1, ox) + bias;
    if (rr) s += rr[ox];
    yr[ox] = wdn_act_s(s, p->act);
  }
}

static void dw_row_3x3s1(const wdn_conv2d_params* p, const float* xp, const float* wp, float bias, int oy, float* yr,
                         const float* rr, const wdn_act_vec* av) {
  dw_row(p, xp, wp, bias, oy, yr, rr, av, 3, 3, 1, 1, 1);
}
static void dw_row_3x3s2(const wdn_conv2d_params* p, const float* xp, const float* wp, float bias, int oy, float* yr,
                         const float* rr, const wdn_act_vec* av) {
  dw_row(p, xp, wp, bias, oy, yr, rr, av, 3, 3, 2, 1, 1);
}
static void dw_row_any(const wdn_conv2d_params* p, const float* xp, const float* wp, float bias, int oy, float* yr,
                       const float* rr, const wdn_act_vec* av) {
  dw_row(p, xp, wp, bias, oy, yr, rr, av, p->kh, p->kw, p->sw, p->dh, p->dw);
}

static void depthwise(const wdn_conv2d_params* p, int tid, int nth) {
  int C = p->cin, OH = p->oh, OW = p->ow, lo, hi;
  wdn_split(p->n * C * OH, tid, nth, &lo, &hi);
  wdn_act_vec av = wdn_act_prep(p->act);
  void (*row_fn)(const wdn_conv2d_params*, const float*, const float*, float, int, float*, const float*,
                 const wdn_act_vec*) = dw_row_any;
  if (p->kh == 3 && p->kw == 3 && p->dh == 1 && p->dw == 1) {
    if (p->sw == 1) row_fn = dw_row_3x3s1;
    else if (p->sw == 2) row_fn = dw_row_3x3s2;
  }
  for (int r = lo; r < hi; r++) {
    int plane = r / OH, oy = r % OH, c = plane % C;
    const float* xp = p->x + (size_t)plane * p->h * p->w;
    const float* wp = p->weight + (size_t)c * p->kh * p->kw;
    size_t yo = ((size_t)plane * OH + oy) * OW;
    row_fn(p, xp, wp, p->bias ? p->bias[c] : 0.0f, oy, p->y + yo, p->residual ? p->residual + yo : 0, &av);
  }
}

void wdn_conv2d_f32(const wdn_conv2d_params* p, int tid, int nth) {
  if (p->group == p->cin && p->group == p->cout && p->group > 1) {
    depthwise(p, tid, nth);
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
