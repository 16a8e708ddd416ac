// Kernels: linear quantization (QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, QLinearMatMul).
import {
  dtypeFromOnnx, broadcastShapes, normalizeAxis, precisionOf, rint, roundFloat16, sizeOf, stridesOf,
} from './util.js';

// Saturation ranges of the integer types a quantized tensor may have.
const QUANT_RANGES = {
  uint8: [0, 255], int8: [-128, 127], uint16: [0, 65535], int16: [-32768, 32767],
  int32: [-2147483648, 2147483647],
};

function quantRange(op, dtype) {
  const range = QUANT_RANGES[dtype];
  if (!range) throw new Error(`${op}: quantized type ${dtype} is not supported (float8/int4/int2/float4 are not)`);
  return range;
}

/**
 * For x of shape `shape`, a function mapping a flat element index to the index in a scale /
 * zero-point tensor `p` that is per-tensor (one element), per-axis (1-D along `axis`) or blocked
 * (same rank as x, dimension `axis` holding ceil(shape[axis] / blockSize) blocks).
 */
function paramIndexer(op, p, shape, axis, blockSize) {
  if (p.data.length === 1) return () => 0;
  const a = normalizeAxis(axis, shape.length);
  const len = shape[a];
  const inner = sizeOf(shape.slice(a + 1));
  if (!blockSize) {
    if (p.shape.length !== 1 || p.shape[0] !== len) {
      throw new Error(`${op}: per-axis parameter of shape [${p.shape}] does not match axis ${a} of [${shape}]`);
    }
    return (i) => Math.floor(i / inner) % len;
  }
  const blocks = Math.ceil(len / blockSize);
  if (p.shape.length !== shape.length || p.shape[a] !== blocks) {
    throw new Error(`${op}: blocked parameter of shape [${p.shape}] does not match [${shape}] with block_size ${blockSize}`);
  }
  return (i) => {
    const r = i % inner;
    const k = Math.floor(i / inner);
    const o = Math.floor(k / len);
    return (o * blocks + Math.floor((k % len) / blockSize)) * inner + r;
  };
}

function quantizeLinear([x, scale, zeroPoint], attrs, ctx) {
  const op = 'QuantizeLinear';
  let outType = 'uint8';
  if (attrs.output_dtype) {
    outType = dtypeFromOnnx(attrs.output_dtype, op);
  }
  if (zeroPoint) {
    if (attrs.output_dtype && zeroPoint.dtype !== outType) {
      throw new Error(`${op}: output_dtype ${outType} differs from zero point type ${zeroPoint.dtype}`);
    }
    outType = zeroPoint.dtype;
  }
  const [lo, hi] = quantRange(op, outType);
  if (attrs.saturate === 0) throw new Error(`${op}: saturate=0 only applies to float8 outputs, which are not supported`);
  const axis = attrs.axis ?? 1; // opset 13+ (before: per tensor)
  const block = attrs.block_size ?? 0; // opset 21+
  const sIdx = paramIndexer(op, scale, x.shape, axis, block);
  const zIdx = zeroPoint ? paramIndexer(op, zeroPoint, x.shape, axis, block) : null;
  // x / scale is computed in the precision attribute's type, else in x's (numpy promotes x with scale).
  const calc = attrs.precision ? dtypeFromOnnx(attrs.precision, op) : x.dtype.startsWith('float') ? x.dtype : scale.dtype;
  const round = precisionOf(calc, op);
  const out = ctx.output(0, x.shape, outType);
  const xd = x.data, sd = scale.data, zd = zeroPoint?.data;
  for (let i = 0; i < xd.length; i++) {
    let q = rint(round(round(Number(xd[i])) / round(sd[sIdx(i)])));
    if (zd) q += Number(zd[zIdx(i)]);
    out.data[i] = saturate(q, lo, hi);
  }
  return [out];
}

/** Clamp to [lo, hi]; NaN becomes lo, the type's minimum, as onnxruntime's conversion gives (x86: NaN -> INT_MIN). */
function saturate(q, lo, hi) {
  return q < lo || q !== q ? lo : q > hi ? hi : q;
}

function dequantizeLinear([x, scale, zeroPoint], attrs, ctx) {
  const op = 'DequantizeLinear';
  if (!QUANT_RANGES[x.dtype]) throw new Error(`${op}: input type ${x.dtype} is not supported (float8/int4/int2/float4 are not)`);
  if (zeroPoint && zeroPoint.dtype !== x.dtype) throw new Error(`${op}: zero point type ${zeroPoint.dtype} differs from input type ${x.dtype}`);
  const outType = attrs.output_dtype ? dtypeFromOnnx(attrs.output_dtype, op) : scale.dtype;
  const round = precisionOf(outType, op);
  const axis = attrs.axis ?? 1; // opset 13+ (before: per tensor)
  const block = attrs.block_size ?? 0; // opset 21+
  const sIdx = paramIndexer(op, scale, x.shape, axis, block);
  const zIdx = zeroPoint ? paramIndexer(op, zeroPoint, x.shape, axis, block) : null;
  const out = ctx.output(0, x.shape, outType);
  const xd = x.data, sd = scale.data, zd = zeroPoint?.data;
  for (let i = 0; i < xd.length; i++) {
    // (x - zero_point) is formed in float32, then scaled in float32, then cast to the output type.
    const dx = Math.fround(zd ? xd[i] - zd[zIdx(i)] : xd[i]);
    out.data[i] = round(Math.fround(dx * sd[sIdx(i)]));
  }
  return [out];
}

/** uint8 quantization of a float32 tensor with a computed scale and zero point (all float32 math). */
function dynamicQuantizeLinear([x], attrs, ctx) {
  const f = Math.fround;
  let max = 0, min = 0;
  for (let i = 0; i < x.data.length; i++) {
    const v = x.data[i];
    if (v > max) max = v;
    if (v < min) min = v;
  }
  const scale = f((max === min ? 1 : f(max - min)) / 255);
  const zp = rint(Math.max(0, Math.min(255, f(0 - f(min / scale)))));
  const y = ctx.output(0, x.shape, 'uint8');
  for (let i = 0; i < x.data.length; i++) {
    const q = rint(f(x.data[i] / scale)) + zp;
    y.data[i] = q < 0 ? 0 : q > 255 ? 255 : q;
  }
  const yScale = ctx.output(1, [], x.dtype);
  yScale.data[0] = x.dtype === 'float16' ? roundFloat16(scale) : scale;
  const yZero = ctx.output(2, [], 'uint8');
  yZero.data[0] = zp;
  return [y, yScale, yZero];
}

/**
 * Quantized MatMul (numpy matmul broadcasting): Y = saturate(rint((A - a_zp)(B - b_zp) * a_scale *
 * b_scale / y_scale) + y_zp). Scales / zero points are per tensor, or per row of A / per column of B.
 */
function qlinearMatMul([a, aScale, aZero, b, bScale, bZero, yScale, yZero], attrs, ctx) {
  const op = 'QLinearMatMul';
  const outType = yZero ? yZero.dtype : a.dtype;
  const [lo, hi] = quantRange(op, outType);
  const aShape = a.shape.length === 1 ? [1, a.shape[0]] : a.shape;
  const bShape = b.shape.length === 1 ? [b.shape[0], 1] : b.shape;
  const M = aShape[aShape.length - 2], K = aShape[aShape.length - 1];
  const K2 = bShape[bShape.length - 2], N = bShape[bShape.length - 1];
  if (K !== K2) throw new Error(`${op}: inner dimensions differ: [${a.shape}] x [${b.shape}]`);
  const batch = broadcastShapes(aShape.slice(0, -2), bShape.slice(0, -2));
  let outShape = [...batch, M, N];
  if (a.shape.length === 1) outShape.splice(-2, 1);
  if (b.shape.length === 1) outShape.splice(-1, 1);
  const round = precisionOf(yScale.dtype, 'QLinearMatMul');
  const per = (t, n, i) => (t && t.data.length === n ? Number(t.data[i]) : t ? Number(t.data[0]) : 0);

  const aStrides = batchStrides(aShape, batch), bStrides = batchStrides(bShape, batch);
  const out = ctx.output(0, outShape, outType);
  const nBatch = sizeOf(batch);
  const batchIdx = new Array(batch.length).fill(0);
  const acc = new Float64Array(N);
  const bz = Float64Array.from({ length: N }, (_, n) => per(bZero, N, n));
  for (let t = 0; t < nBatch; t++) {
    let aOff = 0, bOff = 0;
    for (let d = 0; d < batch.length; d++) { aOff += batchIdx[d] * aStrides[d]; bOff += batchIdx[d] * bStrides[d]; }
    for (let m = 0; m < M; m++) {
      const az = per(aZero, M, m);
      acc.fill(0);
      for (let k = 0; k < K; k++) {
        const av = a.data[aOff + m * K + k] - az;
        const row = bOff + k * N;
        for (let n = 0; n < N; n++) acc[n] += av * (b.data[row + n] - bz[n]);
      }
      for (let n = 0; n < N; n++) {
        const mult = round(round(round(per(aScale, M, m)) * round(per(bScale, N, n))) / round(Number(yScale.data[0])));
        const q = rint(acc[n] * mult + per(yZero, 1, 0));
        out.data[(t * M + m) * N + n] = saturate(q, lo, hi);
      }
    }
    for (let d = batch.length - 1; d >= 0; d--) {
      if (++batchIdx[d] < batch[d]) break;
      batchIdx[d] = 0;
    }
  }
  return [out];
}

/** Element strides of each broadcast batch dimension of a matrix stack (0 where broadcast). */
function batchStrides(shape, batch) {
  const strides = stridesOf(shape);
  const lead = batch.length - (shape.length - 2);
  return batch.map((_, d) => (d < lead || shape[d - lead] === 1 ? 0 : strides[d - lead]));
}

export const kernels = {
  QuantizeLinear: quantizeLinear,
  DequantizeLinear: dequantizeLinear,
  DynamicQuantizeLinear: dynamicQuantizeLinear,
  QLinearMatMul: qlinearMatMul,
};
