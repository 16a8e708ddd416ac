/* webdnn-build wasm kernel library: the ABI between generated model code and the kernels.
 *
 * Layout: NCHW (same as ONNX and the js backend, so per-op fallback to JS kernels needs no
 * transposes). Element type float32. All pointers point into the module's linear memory.
 *
 * Threading: every kernel takes (tid, nth) and computes only its share (thread tid of nth,
 * 0 <= tid < nth). The generated code calls wdn_barrier() between ops. A kernel must give the
 * same result for any nth (it must not depend on the split).
 *
 * Scratch: kernels that need temporary space (im2col, packing) get `scratch`, a region of
 * nth * scratch_stride bytes: thread tid uses [scratch + tid * scratch_stride, + scratch_stride).
 * Each such kernel has a WDN_*_SCRATCH_BYTES(...) macro that is a C constant expression of its
 * shape parameters; the generated code sizes one static scratch buffer as the maximum over the
 * model's ops (so no formula is duplicated in Python). scratch_stride is a multiple of 64.
 */
#ifndef WEBDNN_KERNELS_H
#define WEBDNN_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* ---- fused activation (epilogue) ---- */
enum {
  WDN_ACT_NONE = 0,
  WDN_ACT_RELU = 1,
  WDN_ACT_CLIP = 2,        /* min = a, max = b */
  WDN_ACT_LEAKY_RELU = 3,  /* alpha = a */
  WDN_ACT_SIGMOID = 4,
  WDN_ACT_TANH = 5,
  WDN_ACT_HARD_SIGMOID = 6 /* max(0, min(1, a*x + b)) */
};
typedef struct { int kind; float a, b; } wdn_act;

/* ---- threads (rt.c) ---- */
#ifndef WDN_MAX_THREADS
#define WDN_MAX_THREADS 8  /* the threaded module runs at most this many threads (plan.json maxThreads) */
#endif
void wdn_barrier(int nth);  /* all nth threads wait here; no-op when nth == 1 */

/* ---- GEMM ----
 * Y[m, n] = act(alpha * sum_k A[m, k] * B[k, n] + bias + residual)
 *   A: trans_a ? stored [K, M] : stored [M, K] (row-major, leading dim = stored row length)
 *   B: trans_b ? stored [N, K] : stored [K, N]
 *   bias_kind: 0 none, 1 per row m (bias[m]), 2 per column n (bias[n]), 3 full [M, N] (beta applied),
 *              4 scalar bias[0]; `beta` multiplies the bias (Gemm's C input).
 *   residual: NULL or [M, N] added after bias, before the activation.
 * Scratch per thread: WDN_GEMM_SCRATCH_BYTES(m, n, k) (define it below, a constant expression).
 */
typedef struct {
  int m, n, k;
  int trans_a, trans_b;
  const float* a;
  const float* b;
  const float* bias;
  int bias_kind;
  float alpha, beta;
  const float* residual;
  float* y;
  uint8_t* scratch;
  int scratch_stride;
  wdn_act act;
} wdn_gemm_params;
void wdn_gemm_f32(const wdn_gemm_params* p, int tid, int nth);
/* Aliasing: y must not overlap a, b, bias or residual (partial sums over K blocks are kept in y).
 * Blocking (gemm.c): K blocks of WDN_GEMM_KC; per thread the scratch holds the packed B block
 * (<= WDN_GEMM_KC x WDN_GEMM_NC floats) and the packed A block (<= WDN_GEMM_MC x WDN_GEMM_KC floats). */
#define WDN_GEMM_KC 512
#define WDN_GEMM_MC 128
#define WDN_GEMM_NC 512
#define WDN__MIN(a, b) ((a) < (b) ? (a) : (b))
#define WDN__RUP(x, r) ((((x) + (r) - 1) / (r)) * (r))
#define WDN__GEMM_BLOCKS_BYTES(m, n, k, nc) \
  WDN__RUP(4 * WDN__MIN((k), WDN_GEMM_KC) * (WDN__MIN(WDN__RUP((n), 8), (nc)) + \
                                              WDN__MIN(WDN__RUP((m), 4), WDN_GEMM_MC)) + 64, 64)
#define WDN_GEMM_SCRATCH_BYTES(m, n, k) ((m) <= 1 ? 64 : WDN__GEMM_BLOCKS_BYTES((m), (n), (k), WDN_GEMM_NC))

/* ---- 2-D convolution, NCHW, weights OIHW (as in ONNX, group g: W is [Cout, Cin/g, kh, kw]) ----
 * y = act(conv(x, w) + bias[cout] + residual)   (residual: NULL or same shape as y)
 * Depthwise (group == cin == cout) uses a dedicated direct kernel; other groups loop over groups.
 */
typedef struct {
  int n, cin, h, w;
  int cout, oh, ow;
  int kh, kw, sh, sw, dh, dw;
  int pad_t, pad_l, pad_b, pad_r;
  int group;
  const float* x;
  const float* weight;
  const float* bias;      /* NULL or [cout] */
  const float* residual;  /* NULL or [n, cout, oh, ow] */
  float* y;
  uint8_t* scratch;
  int scratch_stride;
  wdn_act act;
} wdn_conv2d_params;
void wdn_conv2d_f32(const wdn_conv2d_params* p, int tid, int nth);
/* Aliasing: y must not overlap x, weight, bias or residual. Per thread the scratch holds an im2col
 * (or packed input) block of <= WDN_GEMM_KC x WDN_CONV2D_NC floats (512 KiB) and a packed weight
 * block of <= WDN_GEMM_MC x WDN_GEMM_KC floats (256 KiB). The bound below does not depend on cout
 * (it assumes WDN_GEMM_MC rows); depthwise convs need no scratch. */
#define WDN_CONV2D_NC 256
#define WDN_CONV2D_SCRATCH_BYTES(cin_per_group, kh, kw, oh, ow) \
  WDN__GEMM_BLOCKS_BYTES(WDN_GEMM_MC, (oh) * (ow), (cin_per_group) * (kh) * (kw), WDN_CONV2D_NC)

/* ---- pooling, NCHW ---- */
typedef struct {
  int n, c, h, w, oh, ow;
  int kh, kw, sh, sw, dh, dw;
  int pad_t, pad_l, pad_b, pad_r;
  int count_include_pad;  /* AveragePool only */
  const float* x;
  float* y;
} wdn_pool2d_params;
void wdn_maxpool2d_f32(const wdn_pool2d_params* p, int tid, int nth);
void wdn_avgpool2d_f32(const wdn_pool2d_params* p, int tid, int nth);
/* x: [nc, hw] -> y: [nc] */
void wdn_global_avgpool_f32(int nc, int hw, const float* x, float* y, int tid, int nth);
void wdn_global_maxpool_f32(int nc, int hw, const float* x, float* y, int tid, int nth);

/* ---- elementwise ---- */
enum { WDN_BIN_ADD = 0, WDN_BIN_SUB = 1, WDN_BIN_MUL = 2, WDN_BIN_DIV = 3, WDN_BIN_MAX = 4, WDN_BIN_MIN = 5, WDN_BIN_POW = 6 };
/* y[i] = act(a[ia] op b[ib]) with numpy broadcasting; shape/strides (in elements, 0 where broadcast)
 * are given for the output's rank (<= 6), outermost first. */
typedef struct {
  int op, rank;
  int shape[6];
  int stride_a[6];
  int stride_b[6];
  const float* a;
  const float* b;
  float* y;
  wdn_act act;
} wdn_binary_params;
void wdn_binary_f32(const wdn_binary_params* p, int tid, int nth);

enum {
  WDN_UN_RELU = 0, WDN_UN_SIGMOID = 1, WDN_UN_TANH = 2, WDN_UN_EXP = 3, WDN_UN_LOG = 4, WDN_UN_SQRT = 5,
  WDN_UN_ABS = 6, WDN_UN_NEG = 7, WDN_UN_CLIP = 8, WDN_UN_LEAKY_RELU = 9, WDN_UN_HARD_SIGMOID = 10,
  WDN_UN_HARD_SWISH = 11, WDN_UN_ERF = 12, WDN_UN_GELU = 13, WDN_UN_RECIPROCAL = 14, WDN_UN_COPY = 15
};
/* y[i] = f(x[i]); a, b are the op's parameters (clip min/max, leaky alpha, hard-sigmoid alpha/beta) */
void wdn_unary_f32(int op, int count, const float* x, float* y, float a, float b, int tid, int nth);

/* ---- softmax family over the innermost axis: x, y are [rows, cols] ---- */
void wdn_softmax_f32(int rows, int cols, const float* x, float* y, int log_softmax, int tid, int nth);

/* ---- LayerNormalization over the innermost axes: x, y are [rows, cols] (layernorm.c) ----
 * y = (x - mean) / sqrt(var + eps) * scale + bias; scale, bias: [cols]; bias may be NULL; y may alias x. */
void wdn_layernorm_f32(int rows, int cols, const float* x, const float* scale, const float* bias, float* y,
                       float eps, int tid, int nth);

/* ---- per-channel affine (BatchNormalization not folded into a conv): y = act(x * scale[c] + shift[c]),
 * x, y: [n, c, hw] ---- */
void wdn_channel_affine_f32(int n, int c, int hw, const float* x, const float* scale, const float* shift,
                            float* y, wdn_act act, int tid, int nth);

/* ---- data movement ----
 * Copies `count` blocks of `block` floats from src (stride src_stride between blocks) to dst
 * (stride dst_stride): Concat, Slice, Split along one axis are sequences of these. */
void wdn_copy_blocks_f32(int count, int block, const float* src, int src_stride, float* dst, int dst_stride,
                         int tid, int nth);
/* Transpose of a rank <= 6 tensor: out shape and, per output axis, the input stride. */
void wdn_transpose_f32(int rank, const int* out_shape, const int* in_strides, const float* x, float* y,
                       int tid, int nth);

/* ---- LRN across channels, NCHW (ONNX LRN): y = x / (bias + alpha/size * sum(x^2 over window))^beta ---- */
void wdn_lrn_f32(int n, int c, int hw, int size, float alpha, float beta, float bias, const float* x, float* y,
                 int tid, int nth);

#endif
