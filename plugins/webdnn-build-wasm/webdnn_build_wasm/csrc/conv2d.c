/* webdnn-build wasm kernels: 2-D convolution (wdn_conv2d_f32), NCHW / OIHW.
 *
 * Per batch item and group the conv is Y[cout_g, OH*OW] = W[cout_g, K] . B[K, OH*OW] with
 * K = cin_g*kh*kw, computed by the blocked GEMM core of gemm.c (A = the weights, read in place):
 *  - 1x1, stride 1, no padding: B is the input itself ([cin_g, H*W]); it is packed like a GEMM B.
 *  - otherwise: im2col is written directly into the packed 8-pixel B panels of the thread's scratch,
 *    one K block x WDN_CONV2D_NC pixels at a time (<= 256 KiB per thread).
 *  - depthwise (group == cin == cout): 3x3 stride 1/2 (dilation 1): strips of input rows are copied,
 *    zero padded (stride 2: split into even/odd columns), into a stack buffer, then 4 outputs per step
 *    with the 9 weights in registers and no bounds checks (dw3_plane); other shapes: a direct kernel
 *    vectorised over output width with scalar borders (dw_row).
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

/* 3x3 depthwise, stride S (1 or 2), dilation 1: a strip of input rows is copied, zero padded, into
 * a stack buffer (for S == 2 each row is split into its even and odd columns), so that the compute loop
 * runs on whole vectors with no bounds checks: every tap of 4 outputs is one unaligned v128 load. */
#define DW_BUF 3072 /* floats (12 KiB of stack) */
#ifndef DW_NR
#define DW_NR 1 /* output rows per step (2 measured slower: V8 spills) */
#endif
#ifndef DW_NV
#define DW_NV 1 /* vectors of 4 outputs per row per step (2 measured slower) */
#endif
WDN_INLINE int dw3_row_width(int OW, int S) {
  int owr = (OW + 7) & ~7; /* outputs computed in groups of 8 */
  return S == 1 ? owr + 4 : 2 * (owr + 4);
}

/* input row iy of plane xp into dst (RW floats): padded row P[t] = x[iy][t - pl] (zero outside);
 * S == 1: dst[t] = P[t]; S == 2: dst[t] = P[2t], dst[RW/2 + t] = P[2t + 1] */
WDN_INLINE void dw3_fill_row(const wdn_conv2d_params* p, const float* xp, int iy, float* dst, int RW, int S) {
  const int W = p->w, pl = p->pad_l;
  for (int t = 0; t < RW; t += 4) wasm_v128_store(dst + t, wasm_f32x4_splat(0.0f));
  if ((unsigned)iy >= (unsigned)p->h) return;
  const float* row = xp + (size_t)iy * W;
  int np = S == 1 ? RW : RW; /* padded positions available: S==1 -> RW, S==2 -> 2 * (RW/2) */
  /* valid input columns c in [0, W) with pad position c + pl < np */
  int c1 = wdn_mini(W, np - pl);
  int c0 = pl < 0 ? -pl : 0;
  if (S == 1) {
    int c = c0;
    for (; c + 4 <= c1; c += 4) wasm_v128_store(dst + c + pl, wasm_v128_load(row + c));
    for (; c < c1; c++) dst[c + pl] = row[c];
  } else {
    float* E = dst; float* O = dst + RW / 2;
    int c = c0;
    /* vector part when the pad position parity allows: pos = c + pl even -> E[pos/2..], O[pos/2..] */
    if (((c + pl) & 1) != 0 && c < c1) { O[(c + pl) >> 1] = row[c]; c++; }
    for (; c + 8 <= c1; c += 8) {
      v128_t v0 = wasm_v128_load(row + c), v1 = wasm_v128_load(row + c + 4);
      int q = (c + pl) >> 1;
      wasm_v128_store(E + q, wasm_i32x4_shuffle(v0, v1, 0, 2, 4, 6));
      wasm_v128_store(O + q, wasm_i32x4_shuffle(v0, v1, 1, 3, 5, 7));
    }
    for (; c < c1; c++) {
      int pos = c + pl;
      if (pos & 1) O[pos >> 1] = row[c]; else E[pos >> 1] = row[c];
    }
  }
}

WDN_INLINE void dw3_plane(const wdn_conv2d_params* p, const float* xp, const float* wp, float bias, float* yp,
                          const float* rp, int oy_lo, int oy_hi, const wdn_act_vec* av, int S) {
  const int OW = p->ow, RW = dw3_row_width(OW, S);
  float buf[DW_BUF] __attribute__((aligned(16)));
  const int max_rows = DW_BUF / RW;               /* >= 3 (checked by the caller) */
  const int strip = (max_rows - 3) / S + 1;       /* output rows per strip */
  const int half = S == 2 ? RW / 2 : 0;
  v128_t w0 = wasm_v128_load32_splat(wp + 0), w1 = wasm_v128_load32_splat(wp + 1), w2 = wasm_v128_load32_splat(wp + 2);
  v128_t w3 = wasm_v128_load32_splat(wp + 3), w4 = wasm_v128_load32_splat(wp + 4), w5 = wasm_v128_load32_splat(wp + 5);
  v128_t w6 = wasm_v128_load32_splat(wp + 6), w7 = wasm_v128_load32_splat(wp + 7), w8 = wasm_v128_load32_splat(wp + 8);
  v128_t bv = wasm_f32x4_splat(bias);
  for (int oy0 = oy_lo; oy0 < oy_hi; oy0 += strip) {
    int oy1 = wdn_mini(oy_hi, oy0 + strip);
    int iy0 = oy0 * S - p->pad_t, nrows = (oy1 - oy0 - 1) * S + 3;
    for (int r = 0; r < nrows; r++) dw3_fill_row(p, xp, iy0 + r, buf + r * RW, RW, S);
    for (int oy = oy0; oy < oy1; oy += DW_NR) {
      int two = DW_NR == 2 && oy + 1 < oy1;
      const float* r0 = buf + (oy - oy0) * S * RW;
      const float* r1 = r0 + RW;
      const float* r2 = r1 + RW;
      /* second output row: input rows r0 + S*RW .. (only read when `two`; the buffer holds them) */
      const float* q0 = two ? r0 + S * RW : r0;
      const float* q1 = q0 + RW;
      const float* q2 = q1 + RW;
      for (int ox = 0; ox < OW; ox += 4 * DW_NV) {
        v128_t s[2][DW_NV];
        for (int v = 0; v < DW_NV; v++) {
          int o = ox + 4 * v;
          /* taps kx = 0, 1, 2 of 4 outputs: S == 1: P[o + kx]; S == 2: E[o], O[o], E[o + 1] */
#define TAP(R, KX) wasm_v128_load((R) + (S == 1 ? o + (KX) : ((KX) == 1 ? half + o : o + (KX) / 2)))
#define ROW3(ACC, A, B, C, WA, WB, WC, R)        \
  ACC = wasm_f32x4_add(ACC, wasm_f32x4_mul(WA, TAP(R, 0))); \
  ACC = wasm_f32x4_add(ACC, wasm_f32x4_mul(WB, TAP(R, 1))); \
  ACC = wasm_f32x4_add(ACC, wasm_f32x4_mul(WC, TAP(R, 2)));
          s[0][v] = bv;
          ROW3(s[0][v], 0, 1, 2, w0, w1, w2, r0)
          ROW3(s[0][v], 0, 1, 2, w3, w4, w5, r1)
          ROW3(s[0][v], 0, 1, 2, w6, w7, w8, r2)
          if (DW_NR == 2) {
            s[1][v] = bv;
            ROW3(s[1][v], 0, 1, 2, w0, w1, w2, q0)
            ROW3(s[1][v], 0, 1, 2, w3, w4, w5, q1)
            ROW3(s[1][v], 0, 1, 2, w6, w7, w8, q2)
          }
#undef ROW3
#undef TAP
        }
        for (int rr_ = 0; rr_ < (two ? 2 : 1); rr_++) {
          float* yr = yp + (size_t)(oy + rr_) * OW;
          const float* rr = rp ? rp + (size_t)(oy + rr_) * OW : 0;
          for (int v = 0; v < DW_NV; v++) {
            int o = ox + 4 * v;
            v128_t x = s[rr_][v];
            if (o + 4 <= OW) {
              if (rr) x = wasm_f32x4_add(x, wasm_v128_load(rr + o));
              wasm_v128_store(yr + o, wdn_act_v4(x, av));
            } else {
              float t[4] __attribute__((aligned(16)));
              wasm_v128_store(t, x);
              for (int q = 0; o + q < OW; q++) {
                float val = t[q];
                if (rr) val += rr[o + q];
                yr[o + q] = wdn_act_s(val, p->act);
              }
            }
          }
        }
      }
    }
  }
}

static void dw3_s1_plane(const wdn_conv2d_params* p, const float* xp, const float* wp, float bias, float* yp,
                         const float* rp, int oy_lo, int oy_hi, const wdn_act_vec* av) {
  dw3_plane(p, xp, wp, bias, yp, rp, oy_lo, oy_hi, av, 1);
}
static void dw3_s2_plane(const wdn_conv2d_params* p, const float* xp, const float* wp, float bias, float* yp,
                         const float* rp, int oy_lo, int oy_hi, const wdn_act_vec* av) {
  dw3_plane(p, xp, wp, bias, yp, rp, oy_lo, oy_hi, av, 2);
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
  if (p->kh == 3 && p->kw == 3 && p->dh == 1 && p->dw == 1 && p->sh == p->sw && (p->sw == 1 || p->sw == 2) &&
      3 * dw3_row_width(OW, p->sw) <= DW_BUF) {
    /* rows [lo, hi) of the n*C*OH output rows, plane by plane */
    for (int r = lo; r < hi;) {
      int plane = r / OH, oy = r % OH, c = plane % C;
      int oy_hi = wdn_mini(OH, oy + (hi - r));
      const float* xp = p->x + (size_t)plane * p->h * p->w;
      size_t yo = (size_t)plane * OH * OW;
      (p->sw == 1 ? dw3_s1_plane : dw3_s2_plane)(p, xp, p->weight + (size_t)c * 9, p->bias ? p->bias[c] : 0.0f,
                                                 p->y + yo, p->residual ? p->residual + yo : 0, oy, oy_hi, &av);
      r += oy_hi - oy;
    }
    return;
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
