/* webdnn-build wasm kernels: 3x3 stride-1 convolution by Winograd F(2x2, 3x3) (wdn_conv3x3_wino_f32).
 *
 * Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (2016): a 2x2 output tile is
 *   Y = A^T [ sum_c (G g_c G^T) .* (B^T d_c B) ] A
 * with d_c the 4x4 input patch of channel c and g_c the 3x3 filter. Per position xi of the 4x4
 * transform domain the sum over c is a GEMM, so the conv becomes 16 GEMMs
 *   M_xi[tile, cout] = V_xi[tile, cin] . U_xi[cin, cout]
 * with 16 multiply-adds per tile of 4 pixels (4 per pixel and channel pair, against 9 for im2col).
 * The transforms use only +-1 and 1/2: the rounding differs from the direct sum by a few ulps.
 *  - U (wdn_conv3x3_wino_prepare, once at load): one matrix per xi in gemm.c's packed B layout
 *    (per K block of WDN_GEMM_KC rows, 8-column panels of kc x 8; columns past cout zero).
 *  - per block of tiles: the input transform writes V straight into the 5- and 4-row A panels of the
 *    micro-kernels (rows = tiles, in the order of wdn__gemm_panels5); the micro-kernels compute M into
 *    the scratch; the output transform adds bias and residual, applies the activation, stores the pixels.
 * Threads split the tiles (many tiles) or the output channels in units of 8 (few tiles: each thread then
 * transforms all of the input). The arithmetic of each output does not depend on the split.
 *
 * 1-D transforms (F(2, 3), correlation as in ONNX: y_i = sum_k d_{i+k} g_k):
 *   B^T d = (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
 *   G g   = (g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2)
 *   A^T m = (m0 + m1 + m2, m1 - m2 - m3)
 * applied along rows and then along columns; xi = 4 * (row index) + (column index).
 */
#include "internal.h"

WDN_INLINE int rup8(int x) { return (x + 7) & ~7; }

void wdn_conv3x3_wino_prepare(const float* weight, int cout, int cin, float* u) {
  const int npad = rup8(cout);
  const size_t per_xi = (size_t)cin * npad;
  for (int n = 0; n < npad; n++) {
    for (int c = 0; c < cin; c++) {
      float t[4][3], v[4][4];
      if (n < cout) {
        const float* g = weight + ((size_t)n * cin + c) * 9;
        for (int x = 0; x < 3; x++) { /* G g: along the filter's rows, per column x */
          t[0][x] = g[x];
          t[1][x] = (g[x] + g[3 + x] + g[6 + x]) * 0.5f;
          t[2][x] = (g[x] - g[3 + x] + g[6 + x]) * 0.5f;
          t[3][x] = g[6 + x];
        }
        for (int i = 0; i < 4; i++) { /* (G g) G^T: along the columns */
          v[i][0] = t[i][0];
          v[i][1] = (t[i][0] + t[i][1] + t[i][2]) * 0.5f;
          v[i][2] = (t[i][0] - t[i][1] + t[i][2]) * 0.5f;
          v[i][3] = t[i][2];
        }
      } else {
        for (int i = 0; i < 16; i++) v[i / 4][i % 4] = 0.0f;
      }
      int pc = c - c % WDN_GEMM_KC, kc = wdn_mini(WDN_GEMM_KC, cin - pc);
      size_t off = (size_t)pc * npad + (size_t)(n / 8) * kc * 8 + (size_t)(c - pc) * 8 + n % 8;
      for (int xi = 0; xi < 16; xi++) u[xi * per_xi + off] = v[xi / 4][xi % 4];
    }
  }
}

/* geometry of one call */
typedef struct {
  const wdn_conv2d_params* p;
  int tw, tiles_per_image; /* tiles per row of tiles, per image */
  int rows;                /* rows of each V_xi / M_xi in the scratch: the block's tiles, rounded up to 4 */
  int n0, n1, ldm;         /* this thread's output channels [n0, n1); M_xi row stride = rup8(n1 - n0) */
} wino_t;

/* the A panel of row r of a block of tb rows: first row and height */
WDN_INLINE void panel_of(int r, int tb, int* i0, int* mr) {
  int r5 = 5 * wdn__gemm_panels5(tb);
  if (r < r5) { *i0 = r - r % 5; *mr = 5; }
  else { *i0 = r - (r - r5) % 4; *mr = 4; }
}

/* B^T d along one input row, for up to 4 tiles side by side (tile l reads x[2l .. 2l+3]): h[j] lane l */
WDN_INLINE void row_transform(const float* x, v128_t h[4]) {
  v128_t a = wasm_v128_load(x), b = wasm_v128_load(x + 4);
  v128_t c = wasm_v128_load(x + 2), d = wasm_v128_load(x + 6);
  v128_t d0 = wasm_i32x4_shuffle(a, b, 0, 2, 4, 6), d1 = wasm_i32x4_shuffle(a, b, 1, 3, 5, 7);
  v128_t d2 = wasm_i32x4_shuffle(c, d, 0, 2, 4, 6), d3 = wasm_i32x4_shuffle(c, d, 1, 3, 5, 7);
  h[0] = wasm_f32x4_sub(d0, d2);
  h[1] = wasm_f32x4_add(d1, d2);
  h[2] = wasm_f32x4_sub(d2, d1);
  h[3] = wasm_f32x4_sub(d1, d3);
}

/* V for the tiles [t0, t0 + tb) (all input channels) into the A panels at v: V_xi at v + xi * rows * cin,
 * the panel starting at row i0 (mr rows) at i0 * cin, row r and channel c at c * mr + (r - i0).
 * Rows [tb, rows) of the last 4-row panel are zero. */
static void input_transform(const wino_t* w, int t0, int tb, float* v) {
  const wdn_conv2d_params* p = w->p;
  const int H = p->h, W = p->w, cin = p->cin, HW = H * W;
  const size_t per_xi = (size_t)w->rows * cin;
  float pad[4][12] __attribute__((aligned(16)));
  for (int r = tb; r < w->rows && tb < 12; r++) { /* a partial last 4-row panel: zero rows */
    int i0, mr;
    panel_of(r, tb, &i0, &mr);
    for (int xi = 0; xi < 16; xi++)
      for (int c = 0; c < cin; c++) v[xi * per_xi + (size_t)i0 * cin + (size_t)c * mr + (r - i0)] = 0.0f;
  }
  for (int t = t0; t < t0 + tb;) {
    int img = t / w->tiles_per_image, rem = t % w->tiles_per_image;
    int ty = rem / w->tw, tx = rem % w->tw;
    int g = wdn_mini(4, wdn_mini(w->tw - tx, t0 + tb - t)); /* tiles side by side in this group */
    float* dst[4];
    int step[4];
    for (int l = 0; l < 4; l++) {
      int r = t - t0 + wdn_mini(l, g - 1), i0, mr;
      panel_of(r, tb, &i0, &mr);
      dst[l] = v + (size_t)i0 * cin + (r - i0);
      step[l] = mr;
    }
    const int iy0 = 2 * ty - p->pad_t, ix0 = 2 * tx - p->pad_l;
    const int inside = iy0 >= 0 && iy0 + 4 <= H && ix0 >= 0 && ix0 + 10 <= W;
    const float* xc = p->x + (size_t)img * cin * HW;
    if (!inside)
      for (int i = 0; i < 4; i++)
        for (int j = 0; j < 12; j++) pad[i][j] = 0.0f;
    for (int c = 0; c < cin; c++, xc += HW) {
      v128_t h[4][4], q[16];
      if (!inside)
#pragma clang loop unroll(disable)
        for (int i = 0; i < 4; i++) {
          int iy = iy0 + i;
          for (int j = 0; j < 2 * g + 2; j++) {
            int ix = ix0 + j;
            pad[i][j] = (unsigned)iy < (unsigned)H && (unsigned)ix < (unsigned)W ? xc[(size_t)iy * W + ix] : 0.0f;
          }
        }
      for (int i = 0; i < 4; i++) row_transform(inside ? xc + (size_t)(iy0 + i) * W + ix0 : pad[i], h[i]);
      for (int j = 0; j < 4; j++) { /* B^T along the columns: xi = 4*i + j */
        q[j] = wasm_f32x4_sub(h[0][j], h[2][j]);
        q[4 + j] = wasm_f32x4_add(h[1][j], h[2][j]);
        q[8 + j] = wasm_f32x4_sub(h[2][j], h[1][j]);
        q[12 + j] = wasm_f32x4_sub(h[1][j], h[3][j]);
      }
#pragma clang loop unroll(disable) /* code size */
      for (int xi = 0; xi < 16; xi++) { /* lane l: tile dst[l] */
        size_t xoff = (size_t)xi * per_xi;
        wasm_v128_store32_lane(dst[0] + xoff, q[xi], 0);
        if (g > 1) wasm_v128_store32_lane(dst[1] + xoff, q[xi], 1);
        if (g > 2) wasm_v128_store32_lane(dst[2] + xoff, q[xi], 2);
        if (g > 3) wasm_v128_store32_lane(dst[3] + xoff, q[xi], 3);
      }
      for (int l = 0; l < 4; l++) dst[l] += step[l];
    }
    t += g;
  }
}

/* the 16 GEMMs of a block of tb tiles: M_xi (rows x ldm at m + xi * rows * ldm) = V_xi . U_xi[:, n0:n1) */
static void block_gemm(const wino_t* w, int tb, const float* v, float* m) {
  const wdn_conv2d_params* p = w->p;
  const int cin = p->cin, npad = rup8(p->cout), r5 = 5 * wdn__gemm_panels5(tb);
  const size_t v_xi = (size_t)w->rows * cin, m_xi = (size_t)w->rows * w->ldm, u_xi = (size_t)cin * npad;
  for (int xi = 0; xi < 16; xi++) {
    const float* a = v + xi * v_xi;
    const float* u = p->wino_u + xi * u_xi;
    float* mo = m + xi * m_xi;
    for (int pc = 0; pc < cin; pc += WDN_GEMM_KC) {
      int kc = wdn_mini(WDN_GEMM_KC, cin - pc);
      for (int j = w->n0; j < w->n1; j += 8) {
        const float* b = u + (size_t)pc * npad + (size_t)(j / 8) * kc * 8;
        float* c = mo + (j - w->n0);
        int r = 0;
        for (; r < r5; r += 5) wdn__kern5x8(a + (size_t)r * cin + (size_t)pc * 5, b, kc, c + (size_t)r * w->ldm, w->ldm, pc > 0);
        for (; r < tb; r += 4) wdn__kern4x8(a + (size_t)r * cin + (size_t)pc * 4, b, kc, c + (size_t)r * w->ldm, w->ldm, pc > 0);
      }
    }
  }
}

/* A^T m A of the tiles [t0, t0 + tb) for output channels [n0, n1), 4 channels at a time, then bias,
 * residual, activation and the store of the (up to) 2x2 pixels of each tile */
static void output_transform(const wino_t* w, int t0, int tb, const float* m) {
  const wdn_conv2d_params* p = w->p;
  const int OH = p->oh, OW = p->ow, OHW = OH * OW;
  const size_t m_xi = (size_t)w->rows * w->ldm;
  const wdn_act_vec av = wdn_act_prep(p->act);
  for (int r = 0; r < tb; r++) {
    int t = t0 + r, img = t / w->tiles_per_image, rem = t % w->tiles_per_image;
    int oy = 2 * (rem / w->tw), ox = 2 * (rem % w->tw);
    const int ok[4] = {1, ox + 1 < OW, oy + 1 < OH, oy + 1 < OH && ox + 1 < OW}; /* pixels inside the output */
    const int full_tile = ok[3];
    const float* mr = m + (size_t)r * w->ldm;
    for (int n = w->n0; n < w->n1; n += 4) {
      const float* q = mr + (n - w->n0);
      v128_t s[4][2];
      for (int i = 0; i < 4; i++) { /* A^T along the rows of the transform */
        v128_t m0 = wasm_v128_load(q + (4 * i) * m_xi), m1 = wasm_v128_load(q + (4 * i + 1) * m_xi);
        v128_t m2 = wasm_v128_load(q + (4 * i + 2) * m_xi), m3 = wasm_v128_load(q + (4 * i + 3) * m_xi);
        s[i][0] = wasm_f32x4_add(wasm_f32x4_add(m0, m1), m2);
        s[i][1] = wasm_f32x4_sub(wasm_f32x4_sub(m1, m2), m3);
      }
      v128_t y[2][2]; /* y[dy][dx], lane = channel */
      for (int x = 0; x < 2; x++) {
        y[0][x] = wasm_f32x4_add(wasm_f32x4_add(s[0][x], s[1][x]), s[2][x]);
        y[1][x] = wasm_f32x4_sub(wasm_f32x4_sub(s[1][x], s[2][x]), s[3][x]);
      }
      int nv = wdn_mini(4, w->n1 - n);
      if (p->bias) {
        v128_t bv = nv == 4 ? wasm_v128_load(p->bias + n)
                            : wasm_f32x4_make(p->bias[n], nv > 1 ? p->bias[n + 1] : 0.0f,
                                              nv > 2 ? p->bias[n + 2] : 0.0f, 0.0f);
        for (int i = 0; i < 4; i++) y[i / 2][i % 2] = wasm_f32x4_add(y[i / 2][i % 2], bv);
      }
      /* per channel (y00, y01, y10, y11): a 4x4 transpose */
      v128_t a0 = wasm_i32x4_shuffle(y[0][0], y[0][1], 0, 4, 1, 5), a1 = wasm_i32x4_shuffle(y[0][0], y[0][1], 2, 6, 3, 7);
      v128_t b0 = wasm_i32x4_shuffle(y[1][0], y[1][1], 0, 4, 1, 5), b1 = wasm_i32x4_shuffle(y[1][0], y[1][1], 2, 6, 3, 7);
      v128_t ch[4];
      ch[0] = wasm_i32x4_shuffle(a0, b0, 0, 1, 4, 5);
      ch[1] = wasm_i32x4_shuffle(a0, b0, 2, 3, 6, 7);
      ch[2] = wasm_i32x4_shuffle(a1, b1, 0, 1, 4, 5);
      ch[3] = wasm_i32x4_shuffle(a1, b1, 2, 3, 6, 7);
#pragma clang loop unroll(disable) /* code size: the epilogue once */
      for (int l = 0; l < nv; l++) {
        size_t off = ((size_t)img * p->cout + n + l) * OHW + (size_t)oy * OW + ox;
        v128_t o = ch[l];
        if (p->residual) {
          v128_t rv;
          if (full_tile) {
            rv = wasm_v128_load64_zero(p->residual + off);
            rv = wasm_v128_load64_lane(p->residual + off + OW, rv, 1);
          } else { /* the last row or column of tiles of an odd-sized output */
            rv = wasm_f32x4_make(p->residual[off], ok[1] ? p->residual[off + 1] : 0.0f,
                                 ok[2] ? p->residual[off + OW] : 0.0f, ok[3] ? p->residual[off + OW + 1] : 0.0f);
          }
          o = wasm_f32x4_add(o, rv);
        }
        o = wdn_act_v4(o, &av);
        if (full_tile) {
          wasm_v128_store64_lane(p->y + off, o, 0);
          wasm_v128_store64_lane(p->y + off + OW, o, 1);
        } else {
          p->y[off] = wasm_f32x4_extract_lane(o, 0);
          if (ok[1]) p->y[off + 1] = wasm_f32x4_extract_lane(o, 1);
          if (ok[2]) p->y[off + OW] = wasm_f32x4_extract_lane(o, 2);
          if (ok[3]) p->y[off + OW + 1] = wasm_f32x4_extract_lane(o, 3);
        }
      }
    }
  }
}

void wdn_conv3x3_wino_f32(const wdn_conv2d_params* p, int tid, int nth) {
  wino_t w;
  w.p = p;
  w.tw = (p->ow + 1) / 2;
  w.tiles_per_image = ((p->oh + 1) / 2) * w.tw;
  const int tiles = p->n * w.tiles_per_image, tb_max = WDN_CONV_WINO_TILES(p->cin, p->cout);
  int t0 = 0, t1 = tiles, lo, hi;
  w.n0 = 0; w.n1 = p->cout;
  if (tiles >= 64 * nth) { /* enough tiles for each thread's share to fill whole blocks */
    wdn_split(tiles, tid, nth, &t0, &t1);
  } else {
    wdn_split((p->cout + 7) / 8, tid, nth, &lo, &hi);
    w.n0 = lo * 8; w.n1 = wdn_mini(hi * 8, p->cout);
  }
  if (t0 >= t1 || w.n0 >= w.n1) return;
  w.ldm = rup8(w.n1 - w.n0);
  const int nblocks = (t1 - t0 + tb_max - 1) / tb_max, tb_even = (t1 - t0 + nblocks - 1) / nblocks;
  float* v = wdn_scratch_f32(p->scratch, p->scratch_stride, tid);
  for (int t = t0; t < t1; t += tb_even) {
    int tb = wdn_mini(tb_even, t1 - t);
    w.rows = (tb + 3) & ~3;
    float* m = v + (size_t)16 * w.rows * p->cin;
    input_transform(&w, t, tb, v);
    block_gemm(&w, tb, v, m);
    output_transform(&w, t, tb, m);
  }
}
