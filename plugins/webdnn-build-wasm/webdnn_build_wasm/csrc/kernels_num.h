/* webdnn-build wasm kernels: numeric ops on every dtype the js backend stores (numeric.c, scatter.c,
 * shapeops.c): Cast between all of them, broadcasting binary ops on int8..uint64 / float16 / bfloat16 /
 * float64, mixed-dtype Pow, float Mod, trigonometric functions, the scatter family and run-time-shaped
 * data movement. Included by kernels.h (the model ABI); kept apart so these families can grow without
 * touching it.
 *
 * Storage is the js backend's: float16 / bfloat16 values are float32 holding a value of that precision,
 * float64 is a double, bool one byte 0/1, int64 / uint64 8 bytes. Results equal the js kernels' (cast.js,
 * elementwise.js) bit for bit, except for the transcendental functions (noted below).
 */
#ifndef WEBDNN_KERNELS_NUM_H
#define WEBDNN_KERNELS_NUM_H

#include "kernels.h"

/* dtype codes beyond kernels.h's WDN_DT_F32..WDN_DT_BOOL (F64 and U64 also for kernels_rrp.h's kernels) */
enum { WDN_DT_I16 = 6, WDN_DT_U16 = 7, WDN_DT_U32 = 8, WDN_DT_U64 = 9, WDN_DT_F64 = 10, WDN_DT_F16 = 11,
       WDN_DT_BF16 = 12 };

/* run-time error kinds (wdn_set_error) of these kernels */
enum { WDN_ERR_SCATTER_INDEX = 13, WDN_ERR_RUNTIME_SHAPE = 14 };

/* ---- Cast between any two of the dtypes above, as cast.js:
 *   to float16 / bfloat16: round half to even from the exact (double) value; to float32 from int64: through
 *   float64; float -> int: truncate, wrap modulo 2^bits, NaN / Inf -> 0 (INT64_MIN for 64-bit ints);
 *   int -> int: keep the low bits (sign- or zero-extended first); to bool: x != 0 (NaN -> 1). */
void wdn_cast_any(int from, int to, int64_t count, const void* x, void* y, int tid, int nth);

/* ---- broadcasting binary ops on any numeric dtype (numeric.c), as elementwise.js ----
 * ops: WDN_BIN_ADD..WDN_BIN_POW (kernels.h), WDN_NB_MOD / WDN_NB_FMOD, WDN_CMP_EQ / LT / GT (y bool).
 * dt_a, dt_b: input dtypes (equal except for Pow), dt_y: output dtype (a's, bool for comparisons).
 * Integers: wrap modulo 2^bits; Div truncates, x / 0 = 0; Mod takes the divisor's sign (fmod: the
 * dividend's), x % 0 = 0. Floats: computed in double, stored to float32 (float16 / bfloat16 then rounded to
 * their precision): the js kernels' float64 arithmetic and typed-array stores. Max / Min propagate NaN and
 * order -0 < +0 (Math.max / Math.min). Pow: float base ** int exponent and int base ** float exponent go
 * through a double pow (within 1e-15 relative; exact for integral results below 2^53), int ** int is exact
 * and wraps (negative exponents: 1, -1 or 0). */
enum { WDN_NB_MOD = 32, WDN_NB_FMOD = 33 };
typedef struct {
  int op, dt_a, dt_b, dt_y, rank;
  int shape[6], stride_a[6], stride_b[6];
  const void* a;
  const void* b;
  void* y;
} wdn_any_binary_params;
void wdn_binary_any(const wdn_any_binary_params* p, int tid, int nth);

/* ---- unary math on float32 / float16 / bfloat16 / float64 (numeric.c; Neg / Abs / Sign also integers): computed in double (relative error
 * below 1e-15 except near zeros of sin/cos/tan at huge arguments), stored like wdn_binary_any; a: the op's
 * attribute (Elu's alpha) ---- */
enum { WDN_NU_SIN = 0, WDN_NU_COS = 1, WDN_NU_TAN = 2, WDN_NU_ASIN = 3, WDN_NU_ACOS = 4, WDN_NU_ATAN = 5,
       WDN_NU_SINH = 6, WDN_NU_COSH = 7, WDN_NU_ASINH = 8, WDN_NU_ACOSH = 9, WDN_NU_ATANH = 10,
       WDN_NU_ELU = 11 /* x < 0 ? a (exp(x) - 1) : x */,
       WDN_NU_NEG = 20, WDN_NU_ABS = 21, WDN_NU_SIGN = 22 /* these three: integer dtypes too (wrapping) */,
       WDN_NU_SQRT = 23, WDN_NU_EXP = 24, WDN_NU_LOG = 25, WDN_NU_RECIPROCAL = 26, WDN_NU_FLOOR = 27,
       WDN_NU_CEIL = 28, WDN_NU_ROUND = 29 /* half to even */, WDN_NU_ISNAN = 16, WDN_NU_ISINF = 17, WDN_NU_ISPOSINF = 18, WDN_NU_ISNEGINF = 19 };
void wdn_unary_any(int op, int dt, int64_t count, const void* x, void* y, double a, int tid, int nth);

/* ---- run-time operands of shape-like ops (shapeops.c) ----
 * Integer tensors (int32, or int64 when i64) read at run time; a value that contradicts the shapes planned
 * at build time sets WDN_ERR_RUNTIME_SHAPE (op: the op's index) and the op writes nothing. */
/* check that n integers equal `expected` (split sizes, ConstantOfShape / Tile operands): thread 0 checks */
void wdn_check_ints(const void* p, int i64, int n, const int64_t* expected, int op, int tid);
void wdn_range(int i64, const void* start, const void* limit, const void* delta, int64_t n, void* y, int op,
               int tid, int nth);
/* Slice (opset 10+) with starts / ends / axes / steps read at run time (axes, steps: NULL for the defaults),
 * n entries each: y (out_shape, planned) = the strided part of x (in_shape, rank <= 6) as the js kernel
 * computes it; elem: bytes per element (1, 2, 4, 8). */
typedef struct {
  int rank, elem, n, op;
  int in_shape[6], out_shape[6];
  const void* starts;
  const void* ends;
  const void* axes;
  const void* steps;
  int starts_i64, ends_i64, axes_i64, steps_i64;
  const void* x;
  void* y;
} wdn_slice_dyn_params;
void wdn_slice_dyn(const wdn_slice_dyn_params* p, int tid, int nth);
/* Pad with the pads (2 n int64, begins then ends) and optionally the axes (n entries, NULL: 0..rank-1) read at
 * run time; pad: wdn_pad's parameters with in_shape = x's shape, in_stride = x's strides, out_shape planned,
 * mode, elem, value / value_ptr, x and y set (pad_begin is filled in). Negative pads crop. */
typedef struct {
  wdn_pad_params pad;
  int n, op;
  const int64_t* pads;
  const void* axes;
  int axes_i64;
} wdn_pad_dyn_params;
void wdn_pad_dyn(const wdn_pad_dyn_params* p, int tid, int nth);

/* ---- scatter family and selection ops on any dtype (numeric.c), as indexing.js / extra.js ----
 * Indices: int32, or int64 when idx_i64; negative ones count from the end; out of range: WDN_ERR_SCATTER_INDEX
 * (that update is skipped). y starts as a copy of data (y == data allowed); the updates then apply in the
 * order of the js kernel. reduction: WDN_SCR_* (add / mul: float16 / bfloat16 rounded from the double result,
 * integers of <= 32 bits through a double product like the js kernel; max / min: b > a ? b : a). */
enum { WDN_SCR_NONE = 0, WDN_SCR_ADD = 1, WDN_SCR_MUL = 2, WDN_SCR_MAX = 3, WDN_SCR_MIN = 4 };
/* ScatterElements / Scatter: data [shape] (rank <= 6), indices and updates [ishape]; each update goes to its own
 * position with the axis coordinate replaced by the index. One thread applies the updates (order matters). */
typedef struct {
  int rank, axis, dt, idx_i64, reduction, op;
  int shape[6], ishape[6];
  const void* data;
  const void* indices;
  const void* updates;
  void* y;
} wdn_scatter_elements_params;
void wdn_scatter_elements(const wdn_scatter_elements_params* p, int tid, int nth);
/* ScatterND: data [dims[0..k), slice], indices [tuples, k], updates [tuples, slice]; threads split each slice. */
typedef struct {
  int k, dt, idx_i64, reduction, op;
  int64_t tuples, slice, total;
  int64_t dims[8];
  const void* data;
  const void* indices;
  const void* updates;
  void* y;
} wdn_scatter_nd_params;
void wdn_scatter_nd(const wdn_scatter_nd_params* p, int tid, int nth);
/* TensorScatter: past [batch, rows_per_batch, max_len, inner] (the axis is max_len), update [.., seq_len, ..];
 * write_indices: NULL (0) or [batch] int64; circular: positions modulo max_len. */
typedef struct {
  int64_t batch, rows_per_batch, max_len, seq_len, inner_bytes;
  int circular, op;
  const void* past;
  const void* update;
  const int64_t* write_indices;
  void* y;
} wdn_tensor_scatter_params;
void wdn_tensor_scatter(const wdn_tensor_scatter_params* p, int tid, int nth);
/* OneHot: y [outer, depth, inner] of elem-byte values (values[0] off, values[1] on), indices [outer, inner] of
 * dtype idx_dt (negative: + depth; out of range or fractional: all off). depth_ptr: the depth tensor (dtype
 * depth_dt, one element), checked against the planned depth (truncated). */
typedef struct {
  int64_t outer, depth, inner;
  int elem, idx_dt, depth_dt, op;
  const void* indices;
  const void* depth_ptr;
  const void* values;
  void* y;
} wdn_onehot_params;
void wdn_onehot(const wdn_onehot_params* p, int tid, int nth);
/* Compress: x [outer, dim, inner_bytes], cond (bool, ncond entries, the first min(dim, ncond) count) -> y
 * [outer, kept, inner_bytes]; kept must equal the planned `kept` (else WDN_ERR_RUNTIME_SHAPE). */
typedef struct {
  int64_t outer, dim, inner_bytes, ncond, kept;
  int op;
  const void* x;
  const uint8_t* cond;
  void* y;
} wdn_compress_params;
void wdn_compress(const wdn_compress_params* p, int tid, int nth);
/* NonZero: y [rank, count] int64 coordinates of the nonzero elements of x (dtype dt, rank <= 6, row-major
 * order); count must equal the planned count (else WDN_ERR_RUNTIME_SHAPE). Thread 0 writes. */
void wdn_nonzero(int dt, int rank, const int* shape, const void* x, int64_t count, int64_t* y, int op, int tid);
/* Unique of x viewed as [outer, dim, inner] (slices along dim; flattened: outer = inner = 1), as the js kernel:
 * slices equal when every element is (NaN equals NaN, -0 equals +0), first occurrences in order, sorted
 * lexicographically (NaN last) when `sorted`. y [outer, n, inner], indices / counts [n], inverse [dim] (int64;
 * each may be NULL); n must equal the planned count (else WDN_ERR_RUNTIME_SHAPE). Thread 0 computes (O(dim^2)).
 * Scratch: WDN_UNIQUE_SCRATCH_BYTES(dim). */
#define WDN_UNIQUE_SCRATCH_BYTES(dim) (32 * (dim) + 64)
typedef struct {
  int dt, sorted, op;
  int64_t outer, dim, inner, n;
  const void* x;
  void* y;
  int64_t* indices;
  int64_t* inverse;
  int64_t* counts;
  uint8_t* scratch;
} wdn_unique_params;
void wdn_unique(const wdn_unique_params* p, int tid, int nth);
/* Tile: y [out_shape] = x [in_shape] repeated (rank <= 6; out_shape[d] a multiple of in_shape[d] > 0) */
void wdn_tile(int rank, int elem, const int* in_shape, const int* out_shape, const void* x, void* y, int tid, int nth);

/* ---- more ops with run-time operands (numeric.c) ---- */
/* Dropout's training check: training (bool, NULL: false) with ratio (dtype ratio_dt, NULL: 0.5) > 0 is
 * WDN_ERR_RUNTIME_SHAPE (the js kernel refuses random dropout). Thread 0 checks. */
void wdn_dropout_check(const void* ratio, int ratio_dt, const uint8_t* training, int op, int tid);
/* BatchNormalization on float32 x [n, c, s] with statistics read at run time, computed in double as the js
 * kernel: inference (mean, var) or training (batch statistics; run_mean / run_var: NULL or outputs of
 * mean * momentum + batch * (1 - momentum)). Threads split the channels. */
typedef struct {
  int n, c, s, training;
  double eps, momentum;
  const float* x;
  const float* scale;
  const float* bias;
  const float* mean;
  const float* var;
  float* y;
  float* run_mean;
  float* run_var;
} wdn_batchnorm_dyn_params;
void wdn_batchnorm_dyn(const wdn_batchnorm_dyn_params* p, int tid, int nth);
/* Det of [batch, m, m] float32 / float64 (dt): LU with partial pivoting in double, as the js kernel. Scratch per
 * thread: WDN_DET_SCRATCH_BYTES(m). */
#define WDN_DET_SCRATCH_BYTES(m) (8 * (m) * (m) + 64)
void wdn_det(int dt, int64_t batch, int m, const void* x, void* y, uint8_t* scratch, int scratch_stride, int tid,
             int nth);
/* ReverseSequence of elem-byte elements, x [rank <= 6 shape]: lens (int64, one per batch index) read at run time;
 * a length outside [0, time dim] is WDN_ERR_RUNTIME_SHAPE. */
typedef struct {
  int rank, elem, batch_axis, time_axis, op;
  int shape[6];
  const int64_t* lens;
  const void* x;
  void* y;
} wdn_reverse_sequence_params;
void wdn_reverse_sequence(const wdn_reverse_sequence_params* p, int tid, int nth);
/* MaxUnpool: y [out_shape] zeroed, then y at the flat index I[i] of the inferred shape (mapped into out_shape,
 * dropped outside it or out of range) = x[i], in order. rank <= 6 (with N, C). */
typedef struct {
  int rank, elem;
  int inferred[6], out_shape[6];
  int64_t count;
  const void* x;
  const int64_t* indices;
  void* y;
} wdn_maxunpool_params;
void wdn_maxunpool(const wdn_maxunpool_params* p, int tid, int nth);
/* Col2Im (float32): input [n, c * K, L] -> y [n, c, image...] (r <= 4 spatial axes): image (checked against the
 * planned) and block shapes (int64) read at run time; sums in double in the js kernel's order. Threads split the
 * (n, c) planes. Scratch per thread: WDN_COL2IM_SCRATCH_BYTES(plane). */
#define WDN_COL2IM_SCRATCH_BYTES(plane) (8 * (plane) + 64)
typedef struct {
  int n, c, ck, l, r, op;
  int image[4], dil[4], stride[4], pad_begin[4], pad_end[4];
  const int64_t* image_ptr;
  const int64_t* block_ptr;
  const float* x;
  float* y;
  uint8_t* scratch;
  int scratch_stride;
} wdn_col2im_params;
void wdn_col2im(const wdn_col2im_params* p, int tid, int nth);

#endif
