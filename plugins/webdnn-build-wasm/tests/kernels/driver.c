/* Test/benchmark driver for the GEMM/conv kernels: JS writes arguments into t_args() (int32 or
 * float32 slots), calls t_set_gemm()/t_set_conv(), then runs the job with t_run() (1 thread) or
 * wdn_run_segment_mt(0, nth) (threaded module). t_peak(iters) is a register-only mul+add loop. */
#include "kernels.h"
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))

extern unsigned char __heap_base;
static union { int i[64]; float f[64]; } args;
static wdn_gemm_params G;
static wdn_conv2d_params C;
static int job;

EXPORT(t_args) int* t_args(void) { return args.i; }
EXPORT(t_heap_base) int t_heap_base(void) { return (int)(unsigned long)&__heap_base; }
EXPORT(t_gemm_scratch) int t_gemm_scratch(int m, int n, int k) { return WDN_GEMM_SCRATCH_BYTES(m, n, k); }
EXPORT(t_conv_scratch) int t_conv_scratch(int cg, int kh, int kw, int oh, int ow) {
  return WDN_CONV2D_SCRATCH_BYTES(cg, kh, kw, oh, ow);
}

static const float* P(int v) { return (const float*)(unsigned long)v; }

/* gemm args: m n k ta tb a b bias bias_kind alpha(f) beta(f) residual y scratch stride act a(f) b(f) */
EXPORT(t_set_gemm) void t_set_gemm(void) {
  int* i = args.i; float* f = args.f;
  G.m = i[0]; G.n = i[1]; G.k = i[2]; G.trans_a = i[3]; G.trans_b = i[4];
  G.a = P(i[5]); G.b = P(i[6]); G.bias = P(i[7]); G.bias_kind = i[8];
  G.alpha = f[9]; G.beta = f[10]; G.residual = P(i[11]); G.y = (float*)P(i[12]);
  G.scratch = (uint8_t*)P(i[13]); G.scratch_stride = i[14];
  G.act.kind = i[15]; G.act.a = f[16]; G.act.b = f[17];
  job = 0;
}

/* conv args: n cin h w cout oh ow kh kw sh sw dh dw pt pl pb pr group x weight bias residual y
 *            scratch stride act a(f) b(f) */
EXPORT(t_set_conv) void t_set_conv(void) {
  int* i = args.i; float* f = args.f;
  C.n = i[0]; C.cin = i[1]; C.h = i[2]; C.w = i[3]; C.cout = i[4]; C.oh = i[5]; C.ow = i[6];
  C.kh = i[7]; C.kw = i[8]; C.sh = i[9]; C.sw = i[10]; C.dh = i[11]; C.dw = i[12];
  C.pad_t = i[13]; C.pad_l = i[14]; C.pad_b = i[15]; C.pad_r = i[16]; C.group = i[17];
  C.x = P(i[18]); C.weight = P(i[19]); C.bias = P(i[20]); C.residual = P(i[21]); C.y = (float*)P(i[22]);
  C.scratch = (uint8_t*)P(i[23]); C.scratch_stride = i[24];
  C.act.kind = i[25]; C.act.a = f[26]; C.act.b = f[27];
  job = 1;
}

void wdn_run_segment(int seg, int tid, int nth) {
  (void)seg;
  if (job == 0) wdn_gemm_f32(&G, tid, nth);
  else wdn_conv2d_f32(&C, tid, nth);
}

EXPORT(t_run) void t_run(void) { wdn_run_segment(0, 0, 1); }
EXPORT(t_run_n) void t_run_n(int reps) { for (int r = 0; r < reps; r++) wdn_run_segment(0, 0, 1); }

/* 12 independent chains of v = v * m + c: 2 * 4 * 12 flops per iteration */
EXPORT(t_peak) float t_peak(int iters) {
  v128_t m = wasm_f32x4_splat(0.999999f), c = wasm_f32x4_splat(1e-7f);
  v128_t v0 = wasm_f32x4_splat(1.0f), v1 = v0, v2 = v0, v3 = v0, v4 = v0, v5 = v0;
  v128_t v6 = v0, v7 = v0, v8 = v0, v9 = v0, v10 = v0, v11 = v0;
  for (int i = 0; i < iters; i++) {
#define S(v) v = wasm_f32x4_add(wasm_f32x4_mul(v, m), c)
    S(v0); S(v1); S(v2); S(v3); S(v4); S(v5); S(v6); S(v7); S(v8); S(v9); S(v10); S(v11);
#undef S
    __asm__ volatile("" : "+r"(i)); /* keep the loop from being restructured */
  }
  v0 = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_add(v0, v1), wasm_f32x4_add(v2, v3)),
                      wasm_f32x4_add(wasm_f32x4_add(v4, v5), wasm_f32x4_add(v6, v7)));
  v0 = wasm_f32x4_add(v0, wasm_f32x4_add(wasm_f32x4_add(v8, v9), wasm_f32x4_add(v10, v11)));
  return wasm_f32x4_extract_lane(v0, 0);
}
