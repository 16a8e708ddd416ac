/* webdnn-build wasm kernels: reductions with run-time axes, resampling (Resize, GridSample), windowed
 * pools beyond pool.c's 2-D fast path, and scan / selection ops (CumSum, CumProd, Hardmax, TopK).
 * Included by kernels.h (the model ABI); kept apart so that these families can grow without touching it. */
#ifndef WEBDNN_KERNELS_RRP_H
#define WEBDNN_KERNELS_RRP_H

#include "kernels.h"

/* run-time error kind (wdn_set_error): the axes tensor of a reduction names an axis out of range, or
 * selects a different output size than the one planned at build time */
enum { WDN_ERR_REDUCE_AXES = 9 };
/* run-time error kind: Resize's scales / sizes give an output shape other than the planned one */
enum { WDN_ERR_RESIZE_SHAPE = 10 };
/* float64 / uint64 elements are kernels_num.h's WDN_DT_F64 / WDN_DT_U64: one set of dtype codes for all
 * kernels (float64 reductions run scalar, in double) */
/* run-time error kind: an axis (CumSum) or k (TopK) read at run time that is out of range or differs
 * from the planned one */
enum { WDN_ERR_AXIS = 11 };
/* run-time error kind: NonMaxSuppression selected another number of boxes than the planned output rows */
enum { WDN_ERR_NMS_COUNT = 8 };

/* ---- Reduce* with the axes read at run time (reduce.c) ----
 * x of rank <= 6 (xshape), axes: naxes int64 values (negative: + rank; none: every axis, or none with
 * noop); the layout is then that of wdn_reduce (dtype as there; bool / uint8 / int8 too for Max / Min).
 * yshape (yrank dims): the planned output, keepdims or not; axes out of range or giving another output
 * shape are WDN_ERR_REDUCE_AXES (nothing written). */
typedef struct {
  int op, dtype, rank, naxes, noop, keepdims, yrank, op_index;
  int xshape[6], yshape[6];
  const int64_t* axes;
  const void* x;
  void* y;
} wdn_reduce_dyn_params;
void wdn_reduce_dyn(const wdn_reduce_dyn_params* p, int tid, int nth);

/* ---- Resize of any axes, every mode (resize.c, as resize.js): float32 x [xshape] -> y [yshape], rank <= 6.
 * mode 0 nearest / 1 linear / 2 cubic; ctm 0 half_pixel, 1 pytorch_half_pixel, 2 align_corners,
 * 3 asymmetric, 4 half_pixel_symmetric, 5 tf_crop_and_resize; nearest 0 round_prefer_floor,
 * 1 round_prefer_ceil, 2 floor, 3 ceil; legacy 1: opset-10 nearest (floor up, ceil down), 2: Upsample
 * (floor); policy (keep_aspect_ratio_policy with sizes) 0 stretch, 1 not_larger, 2 not_smaller.
 * scales (float32) / sizes (int64) / roi (float32, starts then ends): read at run time, NULL when absent;
 * with naxes > 0 they hold one value (roi: two) per listed axis, else one per axis. A computed output
 * shape other than yshape is WDN_ERR_RESIZE_SHAPE. Thread 0 computes, in its scratch:
 * WDN_RESIZE_ND_SCRATCH_BYTES(max_numel, max_taps), max_numel >= every intermediate's size (the product
 * of max(x, y) over the axes), max_taps >= the taps of one output index (8 * max input dim + 8 bounds it). */
typedef struct {
  int rank, mode, ctm, nearest, legacy, antialias, exclude_outside, policy, op_index;
  int naxes;
  int axes[6];
  int xshape[6], yshape[6];
  double cubic_a;
  float extrapolation;
  const float* scales;
  const int64_t* sizes;
  const float* roi;
  const float* x;
  float* y;
  int64_t max_numel, max_taps;
  uint8_t* scratch;
  int scratch_stride;
} wdn_resize_nd_params;
#define WDN_RESIZE_ND_SCRATCH_BYTES(max_numel, max_taps) (16 * (max_numel) + 8 * (max_taps) + 128)
void wdn_resize_nd(const wdn_resize_nd_params* p, int tid, int nth);

/* ---- CumSum / CumProd (scan_ops.c) of x [shape] (rank <= 6) along an axis read at run time (axis_ptr:
 * an int32 or int64 scalar; NULL: `axis`), exclusive / reverse as ONNX. dtype F32, F64 (WDN_DT_F64),
 * I32 (wrapping), I64 (wrapping; uint64 too). An axis out of range is WDN_ERR_AXIS. */
typedef struct {
  int prod, dtype, rank, exclusive, reverse, axis_i64, op_index;
  int64_t axis;
  int shape[6];
  const void* axis_ptr;
  const void* x;
  void* y;
} wdn_cumulative_params;
void wdn_cumulative(const wdn_cumulative_params* p, int tid, int nth);

/* ---- Hardmax of x [outer, dim, inner] along dim (scan_ops.c) ---- */
void wdn_hardmax_f32(int64_t outer, int64_t dim, int64_t inner, const float* x, float* y, int tid, int nth);

/* ---- TopK of x [outer, dim, inner] along dim (scan_ops.c): values [outer, k, inner] (elem bytes per element),
 * int64 indices; largest or smallest first, the lower index first among equal values (sorted output).
 * dtype F32, F64 (WDN_DT_F64), I32, I64, U64 (WDN_DT_U64), U8. k_ptr: the k input read at run time
 * (NULL: none), which must equal k (else WDN_ERR_AXIS). Scratch per thread: WDN_TOPK_SCRATCH_BYTES(k). */
typedef struct {
  int dtype, elem, largest, op_index;
  int64_t outer, dim, inner, k;
  const int64_t* k_ptr;
  const void* x;
  void* values;
  int64_t* indices;
  uint8_t* scratch;
  int scratch_stride;
} wdn_topk_params;
#define WDN_TOPK_SCRATCH_BYTES(k) (8 * (k) + 128)
void wdn_topk(const wdn_topk_params* p, int tid, int nth);

/* ---- N-d pools (pool.c): x [planes, in[0], in[1], in[2]] -> y [planes, out[0..2]] (1-D and 2-D lifted
 * with leading 1s), window k, strides s, dilations d, pads pb (begin) / pe (end). MaxPool (float32,
 * uint8, int8; indices: NULL or int64 argmax, the flat index into x, spatial part row-major or, with
 * storage_order, column-major; the first maximum wins), AveragePool (count_include_pad), LpPool (integer p,
 * float32; computed in double). */
enum { WDN_POOL_MAX = 0, WDN_POOL_AVG = 1, WDN_POOL_LP = 2 };
typedef struct {
  int kind, dtype, planes, count_include_pad, storage_order, p;
  int in[3], out[3], k[3], s[3], d[3], pb[3], pe[3];
  const void* x;
  void* y;
  int64_t* indices;
} wdn_pool_nd_params;
void wdn_pool_nd(const wdn_pool_nd_params* p, int tid, int nth);

/* ---- GridSample (gridsample.c): x [n, c, dims[0..r)] sampled at grid [n, points, r] (grid[..., 0]
 * indexes the last axis) -> y [n, c, points]; r in 1..3; mode 0 nearest / 1 linear / 2 cubic;
 * padding 0 zeros / 1 border / 2 reflection; align (align_corners). Float32, computed in double. */
typedef struct {
  int r, n, c, mode, padding, align;
  int dims[3];
  int64_t points;
  const float* x;
  const float* grid;
  float* y;
} wdn_gridsample_params;
void wdn_gridsample_f32(const wdn_gridsample_params* p, int tid, int nth);

/* ---- Einsum of nops (1 or 2) operands (einsum.c), float32 (round_bf16: bfloat16 values stored as float32, the
 * result rounded to bfloat16) or float64 (WDN_DT_F64): y [odims] (row-major,
 * nout <= 8 labels) = sum over the nsum (<= 8) summed labels (sdims) of the product of x[k] at offset
 * sum_d index_d * stride[k][d] (ostride for output labels, sstride for summed ones). */
typedef struct {
  int dtype, nops, nout, nsum, round_bf16;
  int64_t odims[8], sdims[8];
  int64_t ostride[2][8], sstride[2][8];
  const void* x[2];
  void* y;
} wdn_einsum_params;
void wdn_einsum(const wdn_einsum_params* p, int tid, int nth);

/* ---- NonMaxSuppression (nms.c): boxes [batches, boxes_n, 4], scores [batches, classes, boxes_n] (float32);
 * max_out (int64), iou, score (float32): the optional scalar inputs, NULL when absent (0 boxes, threshold 0,
 * no score filter). y [rows, 3] int64 (batch, class, box); another number of selected boxes than rows is
 * WDN_ERR_NMS_COUNT. Thread 0 computes, in its scratch: WDN_NMS_SCRATCH_BYTES(boxes_n). */
typedef struct {
  int batches, boxes_n, classes, center_point_box, op_index;
  int64_t rows;
  const float* boxes;
  const float* scores;
  const int64_t* max_out;
  const float* iou;
  const float* score;
  int64_t* y;
  uint8_t* scratch;
  int scratch_stride;
} wdn_nms_params;
#define WDN_NMS_SCRATCH_BYTES(n) (44 * (n) + 128)
void wdn_nms(const wdn_nms_params* p, int tid, int nth);

#endif
