/* webdnn-build wasm kernel library: the ABI between generated model code and the kernels.
 *
 * Layout: NCHW (same as ONNX and the js backend, so per-op fallback to JS kernels needs no
 * transposes). Element type float32, except the typed kernels at the end (indexing.c, logical.c,
 * cast.c), which take `void*` and an element size or a WDN_DT_* type. Element sizes are the js
 * backend's storage sizes (bool: 1 byte holding 0/1; int64: 8 bytes). All pointers point into the
 * module's linear memory.
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
  WDN_ACT_HARD_SIGMOID = 6, /* max(0, min(1, a*x + b)) */
  WDN_ACT_HARD_SWISH = 7,   /* x * max(0, min(1, x/6 + 1/2)) */
  WDN_ACT_SWISH = 8         /* x * sigmoid(a*x) */
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
  const float* packed_b;  /* NULL, or B packed by wdn_gemm_prepack_b (a constant B, packed at wdn_prepare) */
} wdn_gemm_params;
void wdn_gemm_f32(const wdn_gemm_params* p, int tid, int nth);
/* Pack a constant B once (generated wdn_prepare) into WDN_GEMM_PREPACKED_FLOATS(k, n) floats, 16-byte aligned. */
void wdn_gemm_prepack_b(const float* b, int k, int n, int trans_b, float* dst);
#define WDN_GEMM_PREPACKED_FLOATS(k, n) ((k) * (((n) + 7) / 8 * 8))
/* Aliasing: y must not overlap a, b, bias or residual (partial sums over K blocks are kept in y).
 * Blocking (gemm.c): K blocks of WDN_GEMM_KC; per thread the scratch holds the packed B block
 * (<= WDN_GEMM_KC x WDN_GEMM_NC floats) and the packed A block (<= WDN_GEMM_MC x WDN_GEMM_KC floats). */
#define WDN_GEMM_KC 512
#define WDN_GEMM_MC 128
#define WDN_GEMM_NC 512
#define WDN__MIN(a, b) ((a) < (b) ? (a) : (b))
#define WDN__MAX(a, b) ((a) > (b) ? (a) : (b))
#define WDN__RUP(x, r) ((((x) + (r) - 1) / (r)) * (r))
#define WDN__GEMM_BLOCKS_BYTES(m, n, k, nc) \
  WDN__RUP(4 * WDN__MIN((k), WDN_GEMM_KC) * (WDN__MIN(WDN__RUP((n), 8), (nc)) + \
                                              WDN__MIN(WDN__RUP((m), 4), WDN_GEMM_MC)) + 64, 64)
#define WDN_GEMM_SCRATCH_BYTES(m, n, k) ((m) <= 1 ? 64 : WDN__GEMM_BLOCKS_BYTES((m), (n), (k), WDN_GEMM_NC))

/* ---- 2-D convolution, NCHW, weights OIHW (as in ONNX, group g: W is [Cout, Cin/g, kh, kw]) ----
 * y = act(conv(x, w) + bias[cout] + residual)   (residual: NULL or same shape as y)
 * wdn_conv2d_f32 loops over groups; depthwise convs (group == cin == cout) have their own kernel.
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
  const float* wino_u;    /* wdn_conv3x3_wino_f32 only: the transformed weights (wdn_conv3x3_wino_prepare) */
  /* NULL, or (a 1x1 stride-1 unpadded ungrouped conv) W^T packed at load by wdn_gemm_prepack_b(weight, cin, cout,
   * 1, .): then the conv is computed transposed, pixels as GEMM rows (for few pixels, e.g. 7x7; scratch:
   * WDN_CONV1X1_T_SCRATCH_BYTES) */
  const float* packed_wt;
} wdn_conv2d_params;
void wdn_conv2d_f32(const wdn_conv2d_params* p, int tid, int nth);
/* depthwise (group == cin == cout > 1; conv_depthwise.c): no scratch. wdn_conv2d_f32 computes these too,
 * group by group, much slower. */
void wdn_conv2d_dw_f32(const wdn_conv2d_params* p, int tid, int nth);
/* Aliasing: y must not overlap x, weight, bias or residual. Per thread the scratch holds an im2col
 * (or packed input) block of <= WDN_GEMM_KC x WDN_CONV2D_NC floats (512 KiB) and a packed weight
 * block of <= WDN_GEMM_MC x WDN_GEMM_KC floats (256 KiB). The bound below does not depend on cout
 * (it assumes WDN_GEMM_MC rows); depthwise convs need no scratch. */
#define WDN_CONV2D_NC 256
#define WDN_CONV2D_SCRATCH_BYTES(cin_per_group, kh, kw, oh, ow) \
  WDN__GEMM_BLOCKS_BYTES(WDN_GEMM_MC, (oh) * (ow), (cin_per_group) * (kh) * (kw), WDN_CONV2D_NC)

#define WDN_CONV1X1_T_SCRATCH_BYTES(cin, cout, pixels) \
  (WDN__GEMM_BLOCKS_BYTES((pixels), (cout), (cin), WDN_GEMM_NC) + 4 * (pixels) * WDN__RUP((cout), 8) + 64)

/* 3x3, stride 1, dilation 1, group 1 (any padding) by Winograd F(2x2, 3x3) (conv_winograd.c): the same
 * result as wdn_conv2d_f32 up to rounding. p->wino_u holds the weights transformed once at load by
 * wdn_conv3x3_wino_prepare into WDN_CONV_WINO_U_FLOATS(cin, cout) floats. Scratch per thread: the
 * transformed input and the GEMM results of one block of WDN_CONV_WINO_TILES(cin, cout) 2x2 tiles. */
void wdn_conv3x3_wino_prepare(const float* weight, int cout, int cin, float* u);
void wdn_conv3x3_wino_f32(const wdn_conv2d_params* p, int tid, int nth);
#define WDN_CONV_WINO_U_FLOATS(cin, cout) (16 * (cin) * WDN__RUP((cout), 8))
/* tiles per block: the block's 16 input and 16 result matrices in about 1 MiB (an L2), at least 12 (two panels) */
#define WDN_CONV_WINO_TILES(cin, cout) \
  WDN__MIN(256, WDN__MAX(12, 16384 / ((cin) + WDN__RUP((cout), 8))))
#define WDN_CONV_WINO_SCRATCH_BYTES(cin, cout) \
  (4 * 16 * WDN__RUP(WDN_CONV_WINO_TILES((cin), (cout)), 4) * ((cin) + WDN__RUP((cout), 8)) + 64)

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
  WDN_UN_HARD_SWISH = 11, WDN_UN_ERF = 12, WDN_UN_GELU = 13, WDN_UN_RECIPROCAL = 14, WDN_UN_COPY = 15,
  WDN_UN_GELU_TANH = 16, /* Gelu approximate="tanh": x * sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3)) */
  WDN_UN_SWISH = 17      /* x * sigmoid(a x) */
};
/* y[i] = f(x[i]); a, b are the op's parameters (clip min/max, leaky alpha, hard-sigmoid alpha/beta, swish alpha) */
void wdn_unary_f32(int op, int count, const float* x, float* y, float a, float b, int tid, int nth);

/* ---- softmax family over the innermost axis: x, y are [rows, cols] ---- */
void wdn_softmax_f32(int rows, int cols, const float* x, float* y, int log_softmax, int tid, int nth);

/* ---- LayerNormalization over the innermost axes: x, y are [rows, cols] (layernorm.c) ----
 * y = (x - mean) / sqrt(var + eps) * scale + bias; scale, bias: [cols]; bias may be NULL; y may alias x. */
void wdn_layernorm_f32(int rows, int cols, const float* x, const float* scale, const float* bias, float* y,
                       float eps, int tid, int nth);
/* the same, also writing each row's mean and 1 / sqrt(var + eps) (outputs Mean, InvStdDev; either may be NULL) */
void wdn_layernorm_stats_f32(int rows, int cols, const float* x, const float* scale, const float* bias, float* y,
                             float eps, float* mean_out, float* inv_out, int tid, int nth);

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

/* ==== typed kernels (any element type; not float-only) ==== */

/* element types the typed kernels compute on (bool is stored as one byte 0/1) */
enum { WDN_DT_F32 = 0, WDN_DT_I32 = 1, WDN_DT_I64 = 2, WDN_DT_U8 = 3, WDN_DT_I8 = 4, WDN_DT_BOOL = 5 };

/* ---- run-time errors (rt.c) ----
 * A kernel that meets an error it cannot compute through (an index out of range) calls
 * wdn_set_error(kind, op), op = the op's index among the model's wasm ops (the order of the plan's
 * "ops" lists), and carries on. The first error wins (atomic compare-exchange). The module exports
 * wdn_error() -> 0, or (op + 1) * 16 + kind, and wdn_error_reset(); the runtime resets the word
 * before a run and throws after a wasm step that set it. */
enum { WDN_ERR_NONE = 0, WDN_ERR_GATHER_INDEX = 1, WDN_ERR_GATHER_ND_INDEX = 2 };
void wdn_set_error(int kind, int op);

/* ---- data movement of any dtype (indexing.c) ----
 * Out-of-range indices (after adding the axis length to negative ones) set a run-time error
 * (WDN_ERR_GATHER*_INDEX, above) and write zeros. `op`: the op's index, for the error. */
/* y = x, nbytes bytes (Reshape, Flatten, Squeeze, Unsqueeze, Identity); no-op when y == x */
void wdn_copy_bytes(int64_t nbytes, const void* x, void* y, int tid, int nth);
/* Gather: data [outer, dim, row_bytes], indices [nidx] (int32, or int64 when idx_i64) -> y [outer, nidx, row_bytes] */
void wdn_gather(int64_t outer, int64_t dim, int64_t row_bytes, const void* data, const void* indices, int idx_i64,
                int64_t nidx, void* y, int op, int tid, int nth);
/* GatherND: data [batch, dims[0..k), slice], indices [batch, tuples, k] -> y [batch, tuples, slice] */
#define WDN_GATHER_ND_MAXK 8
typedef struct {
  int64_t batch, tuples;
  int k;
  int64_t dims[WDN_GATHER_ND_MAXK];
  int64_t strides[WDN_GATHER_ND_MAXK];  /* bytes per step along dims[q] */
  int64_t slice_bytes, batch_bytes;     /* batch_bytes: data bytes per batch */
  const void* data;
  const void* indices;
  int idx_i64;
  void* y;
  int op;
} wdn_gather_nd_params;
void wdn_gather_nd(const wdn_gather_nd_params* p, int tid, int nth);
/* Broadcast copy (Expand): y[i] = x[sum idx[d] * stride[d]] over the output's rank (<= 6) axes;
 * strides in elements (0 where broadcast), elem = element bytes (1, 2, 4 or 8). */
typedef struct {
  int rank, elem;
  int shape[6];
  int stride[6];
  const void* x;
  void* y;
} wdn_expand_params;
void wdn_expand(const wdn_expand_params* p, int tid, int nth);
/* Where: out[i] = cond[ic] ? x[ix] : y[iy], numpy broadcasting; strides in elements, elem as above */
typedef struct {
  int rank, elem;
  int shape[6];
  int stride_c[6], stride_x[6], stride_y[6];
  const uint8_t* cond;
  const void* x;
  const void* y;
  void* out;
} wdn_where_params;
void wdn_where(const wdn_where_params* p, int tid, int nth);

/* ---- typed binary ops with broadcasting (logical.c) ----
 * op: WDN_BIN_ADD..WDN_BIN_MIN on WDN_DT_I32 / WDN_DT_I64 (y has a's type; wraps modulo 2^bits like
 * the js kernels; Div truncates toward zero, x / 0 = 0, INT_MIN / -1 = INT_MIN), or WDN_CMP_* (y bool):
 * comparisons on F32, I32, I64, U8, I8, BOOL; And/Or/Xor on BOOL. Layout as wdn_binary_params. */
enum { WDN_CMP_EQ = 16, WDN_CMP_LT = 17, WDN_CMP_GT = 18, WDN_CMP_LE = 19, WDN_CMP_GE = 20,
       WDN_CMP_AND = 21, WDN_CMP_OR = 22, WDN_CMP_XOR = 23 };
typedef struct {
  int op, dtype, rank;
  int shape[6];
  int stride_a[6];
  int stride_b[6];
  const void* a;
  const void* b;
  void* y;
} wdn_typed_binary_params;
void wdn_binary_typed(const wdn_typed_binary_params* p, int tid, int nth);
/* ---- typed unary ops (logical.c): IsNaN / IsInf on F32 -> bool, Not on BOOL, Neg / Abs on I32 / I64 (wrapping) */
enum { WDN_UT_ISNAN = 0, WDN_UT_ISINF = 1, WDN_UT_ISPOSINF = 2, WDN_UT_ISNEGINF = 3, WDN_UT_NOT = 4,
       WDN_UT_NEG = 5, WDN_UT_ABS = 6 };
void wdn_unary_typed(int op, int dtype, int64_t count, const void* x, void* y, int tid, int nth);

/* ---- Cast between F32, I32, I64, U8, I8, BOOL (cast.c), as the js kernel (cast.js) does it:
 * float -> int truncates toward zero and wraps modulo 2^bits; NaN/Inf -> 0 for 8/32-bit ints and
 * INT64_MIN for int64; int64 -> float32 rounds through float64; to bool: x != 0 (NaN -> 1). */
void wdn_cast(int from, int to, int64_t count, const void* x, void* y, int tid, int nth);

/* ---- linear quantization (quantize.c), as ONNX QuantizeLinear / DequantizeLinear (opset 13+ axis):
 * the tensor is [outer, chan, inner]; element i uses scale[c] and zero point zp[c], c = (i / inner) % chan
 * (per tensor: chan = 1). qdt: the quantized side's type, WDN_DT_U8 / WDN_DT_I8 (DequantizeLinear also
 * WDN_DT_I32); zp: NULL (0) or of that type.
 *   dequantize: f[i] = (float)(q[i] - zp) * scale       (x - zp exact, one float32 product)
 *   quantize:   q[i] = saturate(rint(f[i] / scale) + zp) (float32 division, round half to even,
 *               saturating to the type's range; NaN -> the type's minimum, as onnxruntime) */
typedef struct {
  int64_t outer;
  int chan;
  int64_t inner;
  int qdt;
  void* q;             /* quantized values: input of dequantize, output of quantize */
  const float* scale;  /* [chan] */
  const void* zp;      /* NULL or [chan] */
  float* f;            /* float values: output of dequantize, input of quantize */
} wdn_quant_params;
void wdn_dequantize_linear(const wdn_quant_params* p, int tid, int nth);
void wdn_quantize_linear(const wdn_quant_params* p, int tid, int nth);
/* DynamicQuantizeLinear (uint8): min / max over x and 0 (NaN skipped), scale = (max - min) / 255 (1 if
 * max == min), zero point = rint(clamp(-min / scale, 0, 255)), y = saturate(rint(x / scale) + zp).
 * A reduction then an elementwise pass: all nth threads meet at a barrier inside. */
void wdn_dynamic_quantize_linear(int64_t count, const float* x, uint8_t* y, float* y_scale, uint8_t* y_zp,
                                 int tid, int nth);
/* MatMulInteger: y[m, n] = sum_k (A[m, k] - a_zp) * (B[k, n] - b_zp[n]) in int32 (wrapping), A [m, k] and
 * B [k, n] of uint8 / int8 (a_signed / b_signed), a_zp: NULL or one element; b_zp: NULL, one element or
 * [n] (b_zp_per_col). Threads split N; per thread the scratch holds WDN_MATMUL_INTEGER_MR rows of A and
 * WDN_MATMUL_INTEGER_NB columns of B as int16 (zero points subtracted) for the i32x4.dot_i16x8 inner loop. */
#define WDN_MATMUL_INTEGER_NB 16
/* rows of A widened to int16 at a time (per thread, in the scratch) */
#define WDN_MATMUL_INTEGER_MR 32
#define WDN_MATMUL_INTEGER_SCRATCH_BYTES(k) \
  ((WDN_MATMUL_INTEGER_NB + WDN_MATMUL_INTEGER_MR) * 2 * WDN__RUP((k), 8) + 64)
typedef struct {
  int m, n, k;
  int a_signed, b_signed;
  const void* a;
  const void* b;
  const void* a_zp;
  const void* b_zp;
  int b_zp_per_col;
  int32_t* y;
  uint8_t* scratch;
  int scratch_stride;
  /* NULL, or B packed once at load by wdn_matmul_integer_prepack_b (a constant B and zero point) */
  const int16_t* b_packed;
  /* to_float (com.microsoft MatMulIntegerToFloat): y holds float32, y[m, n] = (float)sum * (a_scale[0] *
   * b_scale[n or 0]) + (bias ? bias[n] : 0), the product and the sum each rounded (as onnxruntime) */
  int to_float;
  const float* a_scale;
  const float* b_scale;
  int b_scale_per_col;
  const float* bias;
} wdn_matmul_integer_params;
void wdn_matmul_integer(const wdn_matmul_integer_params* p, int tid, int nth);
/* int16 elements of a packed B: n rounded up to 4 columns of k rounded up to 8 */
#define WDN_MATMUL_INTEGER_PACKED_I16(k, n) (WDN__RUP((n), 4) * WDN__RUP((k), 8))
void wdn_matmul_integer_prepack_b(const wdn_matmul_integer_params* p, int16_t* out);

/* ConvInteger (1-D lifted to 2-D), NCHW x and OIHW w of uint8 / int8: y[b, oc, oy, ox] (int32, wrapping) =
 * sum over the window of (x - x_zp) * (w - w_zp[oc]); x_zp: NULL or one element, w_zp: NULL, one element or
 * [cout] (w_zp_per_oc); padding contributes 0. Threads split (batch, group, block of WDN_CONV_INTEGER_PB
 * pixels); the scratch holds one block of int16 patches. */
#define WDN_CONV_INTEGER_PB 16
#define WDN_CONV_INTEGER_SCRATCH_BYTES(k) (WDN_CONV_INTEGER_PB * 2 * WDN__RUP((k), 8) + 64)
typedef struct {
  int n, cin, h, w, cout, oh, ow, kh, kw, sh, sw, dh, dw, pad_t, pad_l, group;
  int x_signed, w_signed;
  const void* x;
  const void* weight;
  const void* x_zp;
  const void* w_zp;
  int w_zp_per_oc;
  int32_t* y;
  uint8_t* scratch;
  int scratch_stride;
} wdn_conv_integer_params;
void wdn_conv_integer(const wdn_conv_integer_params* p, int tid, int nth);

/* ---- com.microsoft MatMulNBits, 4 bits (matmul_nbits.c): y[m, n] = sum_k a[m, k] * w[n, k] + bias[n] with
 * w[n, k] = (code - zero point) * scale of k's block. b: [n, blocks, block / 2] bytes (blocks = ceil(k / block),
 * code 2j in the low nibble of byte j); scales: [n, blocks]; zero points: zp_packed [n, ceil(blocks / 2)]
 * (4-bit codes packed like b), or zp_float [n, blocks], or neither (8). block: a power of two >= 16.
 * bias: NULL or [n]. Scratch per thread: 4 dequantized block columns and m x 4 f32x4 accumulators. */
typedef struct {
  int m, n, k, block;
  const float* a;
  const uint8_t* b;
  const float* scales;
  const uint8_t* zp_packed;
  const float* zp_float;
  const float* bias;
  float* y;
  uint8_t* scratch;
  int scratch_stride;
} wdn_matmul_nbits_params;
#define WDN_MATMUL_NBITS_SCRATCH_BYTES(m, block) (16 * (block) + 64 * (m) + 64)
void wdn_matmul_nbits(const wdn_matmul_nbits_params* p, int tid, int nth);

/* ---- fused attention (attention.c) ----
 * y[b, h, i, :] = sum_j softmax_j(scale * q[b,h,i,:] . kt[b,h,:,j] + bias[b,h,i,j]) * v[b,h,j,:]
 *   q [B, H, S, D], kt [B, H, D, L], v [B, H, L, Dv], y [B, H, S, Dv] (contiguous);
 *   bias: NULL or element strides over (b, h, i, j) (0 where it broadcasts);
 *   nan_to_zero: a NaN probability counts as 0 (torch's guard for fully masked rows).
 * Scratch per thread: WDN_ATTENTION_SCRATCH_BYTES(seq_k).
 */
typedef struct {
  int batch, heads, seq_q, seq_k, head_q, head_v;
  const float* q;
  const float* kt;
  const float* v;
  const float* bias;
  int bias_stride[4];
  float scale;
  int nan_to_zero;
  float* y;
  uint8_t* scratch;
  int scratch_stride;
} wdn_attention_params;
#define WDN_ATTENTION_SCRATCH_BYTES(seq_k) ((seq_k) * 4 + 64)
void wdn_attention_f32(const wdn_attention_params* p, int tid, int nth);

/* ==== kernels added for the model-family suite (movement.c, reduce.c, resize.c, convtranspose.c, rnn.c) ==== */

/* ---- byte-based data movement of any dtype (movement.c) ----
 * Copies `count` blocks of `block_bytes` bytes from src (src_stride bytes between blocks) to dst
 * (dst_stride bytes): Concat and Split of any dtype. Split over the flat byte range. */
void wdn_copy_blocks(int64_t count, int64_t block_bytes, const void* src, int64_t src_stride, void* dst,
                     int64_t dst_stride, int tid, int nth);
/* Pad (any dtype, elem = 1, 2, 4 or 8 bytes), rank <= 6: output index o along axis d reads input index
 * o - pad_begin[d] of an input of in_shape (element strides in_stride, the innermost 1; negative pads are
 * applied first as a crop: x points at the crop's start, pad_begin >= 0); outside the input: constant mode
 * writes `value` (the element's bit pattern in the low elem bytes; or *value_ptr), edge clamps, reflect mirrors (no edge
 * repeat), wrap wraps. Split over output rows (the innermost axis). */
enum { WDN_PAD_CONSTANT = 0, WDN_PAD_REFLECT = 1, WDN_PAD_EDGE = 2, WDN_PAD_WRAP = 3 };
typedef struct {
  int rank, elem, mode;
  int in_shape[6], out_shape[6], pad_begin[6], in_stride[6];
  uint64_t value;
  const void* x;
  void* y;
  const void* value_ptr; /* NULL, or the pad value's address (read at run time instead of value) */
} wdn_pad_params;
void wdn_pad(const wdn_pad_params* p, int tid, int nth);

/* ---- reductions (reduce.c) ----
 * y[k] = post(combine over the reduced positions r of pre(x[k_off + r_off])) where the kept axes
 * (kshape, kstride: input element strides; output order = kept axes outermost first) index y and
 * the reduced axes (rshape, rstride) are walked in row-major order. nk, nr in [1, 6] (a size-1 axis
 * with stride 0 stands for none). count = product of rshape (0: the op's identity, Mean gives NaN).
 * float32: every op; int32 / int64: Sum, Max, Min, Prod (wrapping). Threads split the outputs; each
 * output is reduced by one thread in a fixed order (results independent of nth). Float sums keep 4
 * lane partial sums along a contiguous innermost axis (or 4 outputs at once along a contiguous kept one). */
enum { WDN_RED_SUM = 0, WDN_RED_MEAN = 1, WDN_RED_MAX = 2, WDN_RED_MIN = 3, WDN_RED_PROD = 4, WDN_RED_L1 = 5,
       WDN_RED_L2 = 6, WDN_RED_LOGSUM = 7, WDN_RED_LOGSUMEXP = 8, WDN_RED_SUMSQ = 9 };
typedef struct {
  int op, dtype;
  int nk, nr;
  int kshape[6], kstride[6];
  int rshape[6], rstride[6];
  const void* x;
  void* y;
} wdn_reduce_params;
void wdn_reduce(const wdn_reduce_params* p, int tid, int nth);
/* ArgMax / ArgMin of x [outer, dim, inner] (F32, I32, I64) along dim -> int64 y [outer, inner]: first
 * extreme (last with select_last), a NaN wins (the first one), as the js kernel. */
void wdn_argextreme(int dtype, int is_min, int select_last, int64_t outer, int64_t dim, int64_t inner,
                    const void* x, int64_t* y, int tid, int nth);

/* ---- normalization (layernorm.c) ----
 * InstanceNormalization: x, y [n, c, hw]; y = (x - mean) / sqrt(var + eps) * scale[c] + bias[c] over each
 * (n, c) row (two passes, as LayerNormalization). y may alias x. */
void wdn_instancenorm_f32(int n, int c, int hw, const float* x, const float* scale, const float* bias, float* y,
                          float eps, int tid, int nth);
/* Softmax / LogSoftmax along the middle axis of [outer, n, inner] (inner > 1): f32x4 over inner. */
void wdn_softmax_axis_f32(int outer, int n, int inner, const float* x, float* y, int log_softmax, int tid, int nth);

/* ---- Resize of the last two axes (resize.c): x [planes, h, w] -> y [planes, oh, ow].
 * Per output row / column the taps are precomputed at build time: nearest: hidx[oy], widx[ox];
 * linear: two taps each, hidx[2 oy + t] with weights hw[2 oy + t] (and the same for w):
 * y = sum_t hw_t * (sum_u ww_u * x[hidx_t][widx_u]) computed as rows blended first (f32x4), then columns.
 * Scratch per thread: WDN_RESIZE_SCRATCH_BYTES(w). Split over the planes * oh output rows. */
typedef struct {
  int planes, h, w, oh, ow, linear;
  const int* hidx;
  const float* hw;
  const int* widx;
  const float* ww;
  const float* x;
  float* y;
  uint8_t* scratch;
  int scratch_stride;
} wdn_resize_params;
#define WDN_RESIZE_SCRATCH_BYTES(w) (4 * (w) + 128)
void wdn_resize_f32(const wdn_resize_params* p, int tid, int nth);

/* ---- 2-D ConvTranspose, NCHW, weight [cin, cout / group, kh, kw] (convtranspose.c):
 * y[b, oc, iy*sh - pad_t + ky*dh, ix*sw - pad_l + kx*dw] += x[b, ic, iy, ix] * w[ic, oc % cout_g, ky, kx]
 * for ic in oc's group, plus bias[oc]. Threads split the (b, oc) output planes; each plane sums over
 * (ic, ky, kx) in a fixed order. */
typedef struct {
  int n, cin, h, w, cout, oh, ow;
  int kh, kw, sh, sw, dh, dw, pad_t, pad_l, group;
  const float* x;
  const float* weight;
  const float* bias; /* NULL or [cout] */
  float* y;
} wdn_convtranspose2d_params;
void wdn_convtranspose2d_f32(const wdn_convtranspose2d_params* p, int tid, int nth);


/* ---- LSTM / GRU (rnn.c), layout 0, default activations (sigmoid, tanh), no clip, no sequence_lens ----
 * x [T, N, I]; w [D, G*H, I]; r [D, G*H, H]; b NULL or [D, 2*G*H] (W biases then R biases); h0 / c0 NULL or
 * [D, N, H]; p (LSTM peepholes) NULL or [D, 3H]; outputs y [T, D, N, H], yh / yc [D, N, H], each may be NULL.
 * Gate order as ONNX: LSTM i, o, f, c (G = 4); GRU z, r, h (G = 3; lbr = linear_before_reset).
 * Direction d runs forward, or backward when d == 1 or `reverse` (a single reverse direction).
 * Threads split the (direction, batch row) sequences; each is computed by one thread in a fixed order
 * (f32x4 dot products along I and H), so results do not depend on nth.
 * Scratch per thread: WDN_RNN_SCRATCH_BYTES(G, H). */
typedef struct {
  int kind; /* 0: LSTM, 1: GRU */
  int seq, batch, input, hidden, num_dir, reverse, lbr;
  const float* x;
  const float* w;
  const float* r;
  const float* b;
  const float* h0;
  const float* c0;
  const float* p;
  float* y;
  float* yh;
  float* yc;
  uint8_t* scratch;
  int scratch_stride;
} wdn_rnn_params;
#define WDN_RNN_SCRATCH_BYTES(g, h) (4 * ((g) + 3) * ((h) + 4) + 256)
void wdn_rnn_f32(const wdn_rnn_params* p, int tid, int nth);

/* ==== integer bit ops, Mod, Trilu (intops.c) ==== */
/* y = op(a, b) with broadcasting (element strides, 0 on broadcast axes; rank <= 6) on integers of `elem`
 * bytes (1, 2, 4, 8), signed or not; BitwiseNot ignores b (NULL). Shifts, Mod: as elementwise.js. */
enum { WDN_IOP_AND = 0, WDN_IOP_OR = 1, WDN_IOP_XOR = 2, WDN_IOP_NOT = 3, WDN_IOP_SHL = 4, WDN_IOP_SHR = 5,
       WDN_IOP_MOD = 6, WDN_IOP_FMOD = 7 };
typedef struct {
  int op, elem, is_signed, rank;
  int shape[6], stride_a[6], stride_b[6];
  const void* a;
  const void* b;
  void* y;
} wdn_int_binary_params;
void wdn_int_binary(const wdn_int_binary_params* p, int tid, int nth);
/* Trilu of [mats, rows, cols] elements of `elem` bytes: k constant or read from *k_ptr (int64) at run time */
typedef struct {
  int mats, rows, cols, elem, upper;
  int64_t k;
  const int64_t* k_ptr;
  const void* x;
  void* y;
} wdn_trilu_params;
void wdn_trilu(const wdn_trilu_params* p, int tid, int nth);

/* GatherElements (indexing.c): y (the indices' shape, rank <= 6) element i = data at i's coordinates with the
 * axis one replaced by indices[i] (negative: + axis_dim). stride: data element strides per axis of y, 0 on
 * the axis (axis_stride: its stride). Out of range: WDN_ERR_GATHER_INDEX and a zero element. */
typedef struct {
  int rank, elem, idx_i64, op;
  int shape[6], stride[6];
  int64_t axis_dim, axis_stride;
  const void* data;
  const void* indices;
  void* y;
} wdn_gather_elements_params;
void wdn_gather_elements(const wdn_gather_elements_params* p, int tid, int nth);

/* ---- less common activations (activation.c): wdn_unary_ext_f32 takes these ops (wdn_unary_f32's layout);
 * a, b: the op's attributes (Elu/Celu alpha; Selu alpha, gamma; ThresholdedRelu alpha) */
enum { WDN_UN_FLOOR = 17, WDN_UN_CEIL = 18, WDN_UN_ROUND = 19, WDN_UN_SIGN = 20, WDN_UN_SOFTPLUS = 21,
       WDN_UN_SOFTSIGN = 22, WDN_UN_ELU = 23, WDN_UN_SELU = 24, WDN_UN_CELU = 25, WDN_UN_THRESHOLDED_RELU = 26,
       WDN_UN_MISH = 27 };
void wdn_unary_ext_f32(int op, int count, const float* x, float* y, float a, float b, int tid, int nth);
/* PRelu: y = x < 0 ? x * slope : x over x's shape (rank <= 6), slope element strides (0 on broadcast axes) */
typedef struct {
  int rank;
  int shape[6], stride_s[6];
  const float* x;
  const float* slope;
  float* y;
} wdn_prelu_params;
void wdn_prelu_f32(const wdn_prelu_params* p, int tid, int nth);

/* reductions with run-time axes, resampling, more pools, scan / selection ops */
#include "kernels_rrp.h"
/* Cast / binary / unary math on every stored dtype, scatter family, run-time-shaped data movement */
#include "kernels_num.h"

#endif
