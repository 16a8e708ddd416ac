/* webdnn-build wasm kernel: com.microsoft MatMulNBits with 4-bit weights (see kernels.h).
 *
 * The packed weights are read directly: for each group of 4 output columns and each K block, the
 * 4 columns' codes are unpacked to float32 ((code - zero point) * scale) into a small per-thread
 * buffer and accumulated against every row of A (f32x4 accumulators per row and column, in scratch).
 * Threads split N in units of 4 columns; a column's arithmetic does not depend on the split.
 */
#include "kernels.h"
#include "internal.h"

/* dequantize one K block of column `col` into w[0, block) (zeros past `valid`) */
static void nb_dequant(const wdn_matmul_nbits_params* p, int col, int kb, int blocks, int valid, float* w) {
  const int block = p->block;
  const uint8_t* src = p->b + ((size_t)col * blocks + kb) * (size_t)(block / 2);
  const float s = p->scales[(size_t)col * blocks + kb];
  float zp = 8.0f;
  if (p->zp_packed) {
    const uint8_t z = p->zp_packed[(size_t)col * ((blocks + 1) / 2) + kb / 2];
    zp = (float)((kb & 1) ? z >> 4 : z & 15);
  } else if (p->zp_float) {
    zp = p->zp_float[(size_t)col * blocks + kb];
  }
  const v128_t vs = wasm_f32x4_splat(s), vz = wasm_f32x4_splat(zp), low = wasm_i8x16_splat(0x0f);
  for (int i = 0; i < block; i += 16) {
    v128_t bytes = wasm_v128_load64_zero(src + i / 2);
    v128_t lo = wasm_v128_and(bytes, low), hi = wasm_u8x16_shr(bytes, 4);
    /* element 2j is the low nibble of byte j, element 2j+1 its high nibble */
    v128_t q = wasm_i8x16_shuffle(lo, hi, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    v128_t q0 = wasm_u16x8_extend_low_u8x16(q), q1 = wasm_u16x8_extend_high_u8x16(q);
    v128_t f[4] = {wasm_f32x4_convert_i32x4(wasm_u32x4_extend_low_u16x8(q0)),
                   wasm_f32x4_convert_i32x4(wasm_u32x4_extend_high_u16x8(q0)),
                   wasm_f32x4_convert_i32x4(wasm_u32x4_extend_low_u16x8(q1)),
                   wasm_f32x4_convert_i32x4(wasm_u32x4_extend_high_u16x8(q1))};
    for (int j = 0; j < 4; j++) wasm_v128_store(w + i + 4 * j, wasm_f32x4_mul(wasm_f32x4_sub(f[j], vz), vs));
  }
  for (int i = valid; i < block; i++) w[i] = 0.0f;
}

static inline float nb_hsum(v128_t v) {
  v = wasm_f32x4_add(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
  v = wasm_f32x4_add(v, wasm_i32x4_shuffle(v, v, 1, 0, 3, 2));
  return wasm_f32x4_extract_lane(v, 0);
}

void wdn_matmul_nbits(const wdn_matmul_nbits_params* p, int tid, int nth) {
  const int m = p->m, n = p->n, k = p->k, block = p->block;
  const int blocks = (k + block - 1) / block;
  int lo, hi;
  wdn_split((n + 3) / 4, tid, nth, &lo, &hi);
  lo *= 4;
  hi = wdn_mini(hi * 4, n);
  float* w = wdn_scratch_f32(p->scratch, p->scratch_stride, tid); /* 4 columns x block */
  v128_t* acc = (v128_t*)(w + 4 * block);                         /* [m][4] */
  for (int n0 = lo; n0 < hi; n0 += 4) {
    const int nc = wdn_mini(4, hi - n0);
    for (int i = 0; i < 4 * m; i++) acc[i] = wasm_f32x4_splat(0.0f);
    for (int kb = 0; kb < blocks; kb++) {
      const int k0 = kb * block, valid = wdn_mini(block, k - k0), v4 = valid & ~3;
      for (int c = 0; c < 4; c++) {
        if (c < nc) nb_dequant(p, n0 + c, kb, blocks, valid, w + c * block);
        else for (int i = 0; i < block; i++) w[c * block + i] = 0.0f;
      }
      for (int r = 0; r < m; r++) {
        const float* ar = p->a + (size_t)r * k + k0;
        v128_t a0 = acc[4 * r], a1 = acc[4 * r + 1], a2 = acc[4 * r + 2], a3 = acc[4 * r + 3];
        for (int i = 0; i < v4; i += 4) {
          v128_t va = wasm_v128_load(ar + i);
          a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(va, wasm_v128_load(w + i)));
          a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(va, wasm_v128_load(w + block + i)));
          a2 = wasm_f32x4_add(a2, wasm_f32x4_mul(va, wasm_v128_load(w + 2 * block + i)));
          a3 = wasm_f32x4_add(a3, wasm_f32x4_mul(va, wasm_v128_load(w + 3 * block + i)));
        }
        if (v4 < valid) { /* K tail (last block only): A is not read past K */
          float t[4] __attribute__((aligned(16))) = {0.0f, 0.0f, 0.0f, 0.0f};
          for (int i = v4; i < valid; i++) t[i - v4] = ar[i];
          v128_t va = wasm_v128_load(t);
          a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(va, wasm_v128_load(w + v4)));
          a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(va, wasm_v128_load(w + block + v4)));
          a2 = wasm_f32x4_add(a2, wasm_f32x4_mul(va, wasm_v128_load(w + 2 * block + v4)));
          a3 = wasm_f32x4_add(a3, wasm_f32x4_mul(va, wasm_v128_load(w + 3 * block + v4)));
        }
        acc[4 * r] = a0; acc[4 * r + 1] = a1; acc[4 * r + 2] = a2; acc[4 * r + 3] = a3;
      }
    }
    for (int r = 0; r < m; r++) {
      float* yr = p->y + (size_t)r * n + n0;
      for (int c = 0; c < nc; c++) yr[c] = nb_hsum(acc[4 * r + c]) + (p->bias ? p->bias[n0 + c] : 0.0f);
    }
  }
}
