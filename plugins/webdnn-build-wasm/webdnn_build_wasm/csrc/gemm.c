/* webdnn-build wasm kernels: SGEMM (wdn_gemm_f32) and the blocked GEMM core shared with conv2d.c.
 *
 * Blocking (GotoBLAS/BLIS style): for each N block (<= nc_max columns) and K block (<= WDN_GEMM_KC)
 * the B block is packed into 8-column panels in the thread's scratch; for each M block of MC rows
 * (the A block is packed into 4-row panels, it stays in L2) the 4x8 micro-kernel sweeps 8-column panels (a B panel stays
 * in L1 across the rows of the M block). Accumulators: 4 rows x 2 v128 = 8 registers (fits V8's
 * 15 usable xmm registers with the 2 B vectors and 1 broadcast A value). Partial sums of earlier
 * K blocks live in y; the epilogue (alpha, bias, residual, activation) runs on the last K block.
 * Edges: A and B panels are zero padded (results outside the matrix are discarded).
 * Every output element sees the same arithmetic whatever the thread split (deterministic).
 */
#include "internal.h"


typedef struct {
  v128_t c0a, c0b, c1a, c1b, c2a, c2b, c3a, c3b;
} acc4x8;

/* the epilogue and store of one tile; rows [i, i+mr), columns [j, j+nr) of y */
WDN_INLINE void store_tile(const wdn_gemm_core_t* g, acc4x8* t, int i, int j, int mr, int nr, int last) {
  float* y = g->y + (size_t)i * g->ldy + j;
  int ldy = g->ldy;
  v128_t v[8] = {t->c0a, t->c0b, t->c1a, t->c1b, t->c2a, t->c2b, t->c3a, t->c3b};
  if (last) {
    if (g->alpha != 1.0f) {
      v128_t al = wasm_f32x4_splat(g->alpha);
      for (int q = 0; q < 8; q++) v[q] = wasm_f32x4_mul(v[q], al);
    }
  }
  if (mr == 4 && nr == 8) {
    if (last) {
      v128_t be = wasm_f32x4_splat(g->beta);
      switch (g->bias_kind) {
        case 1:
          for (int r = 0; r < 4; r++) {
            v128_t bv = wasm_f32x4_mul(wasm_v128_load32_splat(g->bias + i + r), be);
            v[2 * r] = wasm_f32x4_add(v[2 * r], bv);
            v[2 * r + 1] = wasm_f32x4_add(v[2 * r + 1], bv);
          }
          break;
        case 2: {
          v128_t b0 = wasm_f32x4_mul(wasm_v128_load(g->bias + j), be);
          v128_t b1 = wasm_f32x4_mul(wasm_v128_load(g->bias + j + 4), be);
          for (int r = 0; r < 4; r++) {
            v[2 * r] = wasm_f32x4_add(v[2 * r], b0);
            v[2 * r + 1] = wasm_f32x4_add(v[2 * r + 1], b1);
          }
          break;
        }
        case 3:
          for (int r = 0; r < 4; r++) {
            const float* bp = g->bias + (size_t)(i + r) * g->n + j;
            v[2 * r] = wasm_f32x4_add(v[2 * r], wasm_f32x4_mul(wasm_v128_load(bp), be));
            v[2 * r + 1] = wasm_f32x4_add(v[2 * r + 1], wasm_f32x4_mul(wasm_v128_load(bp + 4), be));
          }
          break;
        case 4: {
          v128_t bv = wasm_f32x4_mul(wasm_v128_load32_splat(g->bias), be);
          for (int q = 0; q < 8; q++) v[q] = wasm_f32x4_add(v[q], bv);
          break;
        }
        default: break;
      }
      if (g->residual) {
        const float* rp = g->residual + (size_t)i * g->ldy + j;
        for (int r = 0; r < 4; r++) {
          v[2 * r] = wasm_f32x4_add(v[2 * r], wasm_v128_load(rp + (size_t)r * ldy));
          v[2 * r + 1] = wasm_f32x4_add(v[2 * r + 1], wasm_v128_load(rp + (size_t)r * ldy + 4));
        }
      }
      if (g->act.kind != WDN_ACT_NONE) {
        wdn_act_vec av = wdn_act_prep(g->act);
        for (int q = 0; q < 8; q++) v[q] = wdn_act_v4(v[q], &av);
      }
    }
    for (int r = 0; r < 4; r++) {
      wasm_v128_store(y + (size_t)r * ldy, v[2 * r]);
      wasm_v128_store(y + (size_t)r * ldy + 4, v[2 * r + 1]);
    }
    return;
  }
  /* edge tile: scalar epilogue on the valid part */
  float tmp[32];
  for (int q = 0; q < 8; q++) wasm_v128_store(tmp + 4 * q, v[q]);
  for (int r = 0; r < mr; r++) {
    for (int c = 0; c < nr; c++) {
      float x = tmp[r * 8 + c];
      if (last) {
        float bv = 0.0f;
        switch (g->bias_kind) {
          case 1: bv = g->bias[i + r] * g->beta; x += bv; break;
          case 2: bv = g->bias[j + c] * g->beta; x += bv; break;
          case 3: bv = g->bias[(size_t)(i + r) * g->n + j + c] * g->beta; x += bv; break;
          case 4: bv = g->bias[0] * g->beta; x += bv; break;
          default: break;
        }
        if (g->residual) x += g->residual[(size_t)(i + r) * ldy + j + c];
        x = wdn_act_s(x, g->act);
      }
      y[(size_t)r * ldy + c] = x;
    }
  }
}

WDN_INLINE void load_tile(const wdn_gemm_core_t* g, acc4x8* t, int i, int j, int mr, int nr) {
  const float* y = g->y + (size_t)i * g->ldy + j;
  int ldy = g->ldy;
  if (mr == 4 && nr == 8) {
    t->c0a = wasm_v128_load(y); t->c0b = wasm_v128_load(y + 4); y += ldy;
    t->c1a = wasm_v128_load(y); t->c1b = wasm_v128_load(y + 4); y += ldy;
    t->c2a = wasm_v128_load(y); t->c2b = wasm_v128_load(y + 4); y += ldy;
    t->c3a = wasm_v128_load(y); t->c3b = wasm_v128_load(y + 4);
    return;
  }
  float tmp[32];
  for (int q = 0; q < 32; q++) tmp[q] = 0.0f;
  for (int r = 0; r < mr; r++)
    for (int c = 0; c < nr; c++) tmp[r * 8 + c] = y[(size_t)r * ldy + c];
  t->c0a = wasm_v128_load(tmp); t->c0b = wasm_v128_load(tmp + 4);
  t->c1a = wasm_v128_load(tmp + 8); t->c1b = wasm_v128_load(tmp + 12);
  t->c2a = wasm_v128_load(tmp + 16); t->c2b = wasm_v128_load(tmp + 20);
  t->c3a = wasm_v128_load(tmp + 24); t->c3b = wasm_v128_load(tmp + 28);
}

#define FMA8(A, R)                                              \
  do {                                                         \
    v128_t a_ = (A);                                           \
    t.c##R##a = wasm_f32x4_add(t.c##R##a, wasm_f32x4_mul(a_, b0)); \
    t.c##R##b = wasm_f32x4_add(t.c##R##b, wasm_f32x4_mul(a_, b1)); \
  } while (0)
#define STEP(U)                                                  \
  do {                                                           \
    v128_t b0 = wasm_v128_load(b + 8 * (U)), b1 = wasm_v128_load(b + 8 * (U) + 4); \
    FMA8(wasm_v128_load32_splat(a + 4 * (U)), 0);                \
    FMA8(wasm_v128_load32_splat(a + 4 * (U) + 1), 1);            \
    FMA8(wasm_v128_load32_splat(a + 4 * (U) + 2), 2);            \
    FMA8(wasm_v128_load32_splat(a + 4 * (U) + 3), 3);            \
  } while (0)

/* one 4x8 tile over kc: a = packed A panel (kc x 4), b = packed B panel (kc x 8) */
static void __attribute__((noinline)) tile(const wdn_gemm_core_t* g, const float* a, const float* b, int kc,
                                           int i, int j, int mr, int nr, int first, int last) {
  acc4x8 t;
  if (first) {
    t.c0a = t.c0b = t.c1a = t.c1b = t.c2a = t.c2b = t.c3a = t.c3b = wasm_f32x4_splat(0.0f);
  } else {
    load_tile(g, &t, i, j, mr, nr);
  }
  /* one k per iteration: unrolled, clang hoists the loads of later steps and V8 then spills */
#pragma clang loop unroll(disable)
  for (int k = 0; k < kc; k++) {
    STEP(0);
    a += 4; b += 8;
  }
  store_tile(g, &t, i, j, mr, nr, last);
}

/* pack rows [i0, i0+mc) x cols [k0, k0+kc) of A into 4-row panels (kc x 4 each); rows past m are zero */
static void pack_a(const wdn_gemm_core_t* g, int i0, int mc, int k0, int kc, float* dst) {
  const int rs = g->a_rs, cs = g->a_cs, M = g->m;
  for (int ir = 0; ir < mc; ir += 4, dst += (size_t)kc * 4) {
    int i = i0 + ir, mr = wdn_mini(4, M - i);
    const float* src = g->a + (size_t)i * rs + (size_t)k0 * cs;
    if (mr == 4 && cs == 1) {
      const float* r0 = src; const float* r1 = src + rs; const float* r2 = src + 2 * (size_t)rs;
      const float* r3 = src + 3 * (size_t)rs;
      int k = 0;
      for (; k + 4 <= kc; k += 4) {
        v128_t x0 = wasm_v128_load(r0 + k), x1 = wasm_v128_load(r1 + k);
        v128_t x2 = wasm_v128_load(r2 + k), x3 = wasm_v128_load(r3 + k);
        v128_t t0 = wasm_i32x4_shuffle(x0, x1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(x0, x1, 2, 6, 3, 7);
        v128_t t2 = wasm_i32x4_shuffle(x2, x3, 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(x2, x3, 2, 6, 3, 7);
        float* d = dst + k * 4;
        wasm_v128_store(d, wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5));
        wasm_v128_store(d + 4, wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7));
        wasm_v128_store(d + 8, wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5));
        wasm_v128_store(d + 12, wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7));
      }
      for (; k < kc; k++) {
        dst[k * 4] = r0[k]; dst[k * 4 + 1] = r1[k]; dst[k * 4 + 2] = r2[k]; dst[k * 4 + 3] = r3[k];
      }
    } else if (mr == 4 && rs == 1) {
      for (int k = 0; k < kc; k++) wasm_v128_store(dst + k * 4, wasm_v128_load(src + (size_t)k * cs));
    } else {
      for (int k = 0; k < kc; k++)
        for (int r = 0; r < 4; r++) dst[k * 4 + r] = r < mr ? src[(size_t)r * rs + (size_t)k * cs] : 0.0f;
    }
  }
}

void wdn_gemm_core(const wdn_gemm_core_t* g, int m0, int m1, int n0, int n1, float* bp, int nc_max) {
  int K = g->k;
  if (m0 >= m1 || n0 >= n1) return;
  if (K <= 0) { /* empty sum: epilogue on zeros */
    for (int i = m0; i < m1; i += 4)
      for (int j = n0; j < n1; j += 8) {
        acc4x8 t;
        t.c0a = t.c0b = t.c1a = t.c1b = t.c2a = t.c2b = t.c3a = t.c3b = wasm_f32x4_splat(0.0f);
        store_tile(g, &t, i, j, wdn_mini(4, m1 - i), wdn_mini(8, n1 - j), 1);
      }
    return;
  }
  /* packed A block after the B block (layout of WDN__GEMM_BLOCKS_BYTES) */
  float* ap = bp + (size_t)wdn_mini(K, WDN_GEMM_KC) * wdn_mini((g->n + 7) & ~7, nc_max);
  for (int jc = n0; jc < n1; jc += nc_max) {
    int nc = wdn_mini(nc_max, n1 - jc);
    for (int pc = 0; pc < K; pc += WDN_GEMM_KC) {
      int kc = wdn_mini(WDN_GEMM_KC, K - pc);
      int first = pc == 0, last = pc + kc == K;
      g->pack_b(g->pack_ctx, pc, kc, jc, nc, bp);
      for (int ic = m0; ic < m1; ic += WDN_GEMM_MC) {
        int mcur = wdn_mini(WDN_GEMM_MC, m1 - ic);
        pack_a(g, ic, mcur, pc, kc, ap);
        for (int jr = 0; jr < nc; jr += 8) {
          const float* bpan = bp + (size_t)(jr / 8) * kc * 8;
          int nr = wdn_mini(8, nc - jr);
          for (int ir = 0; ir < mcur; ir += 4)
            tile(g, ap + (size_t)(ir / 4) * kc * 4, bpan, kc, ic + ir, jc + jr, wdn_mini(4, mcur - ir), nr, first,
                 last);
        }
      }
    }
  }
}

/* ---- B packers for wdn_gemm_f32 ---- */
typedef struct { const float* b; int ld; } packb_ctx;

/* B stored [K, N] with row stride ld (also used by conv2d.c for 1x1 convs) */
void wdn__pack_b_kn(const void* vctx, int k0, int kc, int n0, int nc, float* dst) {
  const packb_ctx* c = (const packb_ctx*)vctx;
  for (int j = 0; j < nc; j += 8) {
    const float* src = c->b + (size_t)k0 * c->ld + n0 + j;
    int w = wdn_mini(8, nc - j);
    if (w == 8) {
      for (int k = 0; k < kc; k++) {
        wasm_v128_store(dst, wasm_v128_load(src));
        wasm_v128_store(dst + 4, wasm_v128_load(src + 4));
        dst += 8; src += c->ld;
      }
    } else {
      for (int k = 0; k < kc; k++) {
        for (int q = 0; q < 8; q++) dst[q] = q < w ? src[q] : 0.0f;
        dst += 8; src += c->ld;
      }
    }
  }
}

/* B stored [N, K] (trans_b) with row stride ld: transpose 4x4 blocks */
static void pack_b_nk(const void* vctx, int k0, int kc, int n0, int nc, float* dst) {
  const packb_ctx* c = (const packb_ctx*)vctx;
  for (int j = 0; j < nc; j += 8) {
    int w = wdn_mini(8, nc - j);
    const float* src = c->b + (size_t)(n0 + j) * c->ld + k0;
    if (w == 8) {
      int k = 0;
      for (; k + 4 <= kc; k += 4) {
        for (int h = 0; h < 2; h++) {
          const float* s = src + (size_t)(4 * h) * c->ld + k;
          v128_t r0 = wasm_v128_load(s), r1 = wasm_v128_load(s + c->ld);
          v128_t r2 = wasm_v128_load(s + 2 * (size_t)c->ld), r3 = wasm_v128_load(s + 3 * (size_t)c->ld);
          v128_t t0 = wasm_i32x4_shuffle(r0, r1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(r0, r1, 2, 6, 3, 7);
          v128_t t2 = wasm_i32x4_shuffle(r2, r3, 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(r2, r3, 2, 6, 3, 7);
          float* d = dst + k * 8 + 4 * h;
          wasm_v128_store(d, wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5));
          wasm_v128_store(d + 8, wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7));
          wasm_v128_store(d + 16, wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5));
          wasm_v128_store(d + 24, wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7));
        }
      }
      for (; k < kc; k++)
        for (int q = 0; q < 8; q++) dst[k * 8 + q] = src[(size_t)q * c->ld + k];
    } else {
      for (int k = 0; k < kc; k++)
        for (int q = 0; q < 8; q++) dst[k * 8 + q] = q < w ? src[(size_t)q * c->ld + k] : 0.0f;
    }
    dst += (size_t)kc * 8;
  }
}

/* ---- m == 1: matrix-vector, memory bound, no packing ---- */
static float gemv_epi(const wdn_gemm_params* p, int j, float x) {
  x *= p->alpha;
  switch (p->bias_kind) {
    case 1: case 4: x += p->bias[0] * p->beta; break;
    case 2: case 3: x += p->bias[j] * p->beta; break;
    default: break;
  }
  if (p->residual) x += p->residual[j];
  return wdn_act_s(x, p->act);
}

static void gemv(const wdn_gemm_params* p, int tid, int nth) {
  int N = p->n, K = p->k, lo, hi;
  wdn_split((N + 7) / 8, tid, nth, &lo, &hi);
  int j0 = lo * 8, j1 = wdn_mini(hi * 8, N);
  const float* a = p->a; /* M == 1: A is contiguous either way */
  if (!p->trans_b) {
    int j = j0;
    for (; j + 16 <= j1; j += 16) {
      v128_t s0 = wasm_f32x4_splat(0.0f), s1 = s0, s2 = s0, s3 = s0;
      const float* b = p->b + j;
      for (int k = 0; k < K; k++, b += N) {
        v128_t av = wasm_v128_load32_splat(a + k);
        s0 = wasm_f32x4_add(s0, wasm_f32x4_mul(av, wasm_v128_load(b)));
        s1 = wasm_f32x4_add(s1, wasm_f32x4_mul(av, wasm_v128_load(b + 4)));
        s2 = wasm_f32x4_add(s2, wasm_f32x4_mul(av, wasm_v128_load(b + 8)));
        s3 = wasm_f32x4_add(s3, wasm_f32x4_mul(av, wasm_v128_load(b + 12)));
      }
      float t[16];
      wasm_v128_store(t, s0); wasm_v128_store(t + 4, s1); wasm_v128_store(t + 8, s2); wasm_v128_store(t + 12, s3);
      for (int q = 0; q < 16; q++) p->y[j + q] = gemv_epi(p, j + q, t[q]);
    }
    for (; j < j1; j++) {
      float s = 0.0f;
      for (int k = 0; k < K; k++) s += a[k] * p->b[(size_t)k * N + j];
      p->y[j] = gemv_epi(p, j, s);
    }
  } else {
    for (int j = j0; j < j1; j++) {
      const float* b = p->b + (size_t)j * K;
      v128_t s0 = wasm_f32x4_splat(0.0f), s1 = s0;
      int k = 0;
      for (; k + 8 <= K; k += 8) {
        s0 = wasm_f32x4_add(s0, wasm_f32x4_mul(wasm_v128_load(a + k), wasm_v128_load(b + k)));
        s1 = wasm_f32x4_add(s1, wasm_f32x4_mul(wasm_v128_load(a + k + 4), wasm_v128_load(b + k + 4)));
      }
      s0 = wasm_f32x4_add(s0, s1);
      float s = (wasm_f32x4_extract_lane(s0, 0) + wasm_f32x4_extract_lane(s0, 1)) +
                (wasm_f32x4_extract_lane(s0, 2) + wasm_f32x4_extract_lane(s0, 3));
      for (; k < K; k++) s += a[k] * b[k];
      p->y[j] = gemv_epi(p, j, s);
    }
  }
}

void wdn_gemm_f32(const wdn_gemm_params* p, int tid, int nth) {
  if (p->m <= 0 || p->n <= 0) return;
  if (p->m == 1 && p->k > 0) { gemv(p, tid, nth); return; }
  wdn_gemm_core_t g;
  packb_ctx pc;
  g.m = p->m; g.n = p->n; g.k = p->k;
  g.a = p->a;
  g.a_rs = p->trans_a ? 1 : p->k;
  g.a_cs = p->trans_a ? p->m : 1;
  pc.b = p->b;
  pc.ld = p->trans_b ? p->k : p->n;
  g.pack_b = p->trans_b ? pack_b_nk : wdn__pack_b_kn;
  g.pack_ctx = &pc;
  g.bias = p->bias; g.bias_kind = p->bias ? p->bias_kind : 0;
  g.alpha = p->alpha; g.beta = p->beta;
  g.residual = p->residual; g.y = p->y; g.ldy = p->n;
  g.act = p->act;
  int m0, m1, n0, n1;
  wdn_gemm_split(p->m, p->n, tid, nth, &m0, &m1, &n0, &n1);
  wdn_gemm_core(&g, m0, m1, n0, n1, wdn_scratch_f32(p->scratch, p->scratch_stride, tid), WDN_GEMM_NC);
}
