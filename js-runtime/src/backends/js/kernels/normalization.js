// Kernels: normalizations (BatchNormalization, InstanceNormalization, LayerNormalization,
// GroupNormalization, RMSNormalization, LRN, LpNormalization, MeanVarianceNormalization).
import { FLOAT_DTYPES, ONNX_DTYPES, sizeOf, normalizeAxis, broadcastIndex, roundToDtype } from './util.js';

/** Mean and population variance of data[off + i*step], i < n (two-pass for accuracy). */
function meanVar(d, off, n, step = 1) {
  let s = 0;
  for (let i = 0, j = off; i < n; i++, j += step) s += d[j];
  const mean = s / n;
  let v = 0;
  for (let i = 0, j = off; i < n; i++, j += step) { const e = d[j] - mean; v += e * e; }
  return [mean, v / n];
}

/**
 * Normalize `rows` contiguous blocks of `cols` elements: stats(row) gives [mean, invStd] and
 * affine(z, row, col) applies the op's scale / bias to the standardized value z.
 */
function normalizeRows(x, y, rows, cols, stats, affine) {
  for (let r = 0; r < rows; r++) {
    const [mean, invStd] = stats(r);
    const o = r * cols;
    for (let c = 0; c < cols; c++) y[o + c] = affine((x[o + c] - mean) * invStd, r, c);
  }
}

// ---------------------------------------------------------------------------------------------
// BatchNormalization

function BatchNormalization([X, scale, B, mean, variance], attrs, ctx) {
  const eps = attrs.epsilon;
  const momentum = attrs.momentum;
  const [N, C] = X.shape;
  const S = sizeOf(X.shape.slice(2));
  // Batch statistics only for opset 14+ training_mode=1; older forms (is_test, output count) are
  // run in inference mode, as runtimes do.
  const training = ctx.opset >= 14 && attrs.training_mode === 1;
  if (ctx.opset < 9 && attrs.spatial === 0) throw new Error('BatchNormalization: spatial=0 is not supported');
  const y = ctx.output(0, X.shape, X.dtype);
  const m = new Float64Array(C), v = new Float64Array(C);
  if (training) {
    for (let c = 0; c < C; c++) {
      let s = 0, q = 0;
      for (let n = 0; n < N; n++) for (let i = 0, o = (n * C + c) * S; i < S; i++) s += X.data[o + i];
      const mu = s / (N * S);
      for (let n = 0; n < N; n++) for (let i = 0, o = (n * C + c) * S; i < S; i++) { const e = X.data[o + i] - mu; q += e * e; }
      m[c] = mu; v[c] = q / (N * S);
    }
  } else {
    m.set(mean.data); v.set(variance.data);
  }
  // Inference follows onnxruntime's float32 steps (webdnn_build/numerics.py batchnorm_affine):
  // quantized models re-quantize after BN, and a last-bit difference there grows layer by layer.
  const f = X.dtype === 'float32' && !training ? Math.fround : (t) => t;
  for (let c = 0; c < C; c++) {
    const a = f(f(1 / f(Math.sqrt(f(v[c] + eps)))) * scale.data[c]), b = f(B.data[c] - f(m[c] * a));
    for (let n = 0; n < N; n++) {
      const o = (n * C + c) * S;
      for (let i = 0; i < S; i++) y.data[o + i] = f(f(X.data[o + i] * a) + b);
    }
  }
  const outs = [roundToDtype(y)];
  if (training) {
    // Running statistics: mean * momentum + batch * (1 - momentum).
    const runMean = ctx.output(1, [C], mean.dtype), runVar = ctx.output(2, [C], variance.dtype);
    for (let c = 0; c < C; c++) {
      runMean.data[c] = mean.data[c] * momentum + m[c] * (1 - momentum);
      runVar.data[c] = variance.data[c] * momentum + v[c] * (1 - momentum);
    }
    outs.push(roundToDtype(runMean), roundToDtype(runVar));
  }
  return outs;
}

// ---------------------------------------------------------------------------------------------
// Instance / Group normalization: statistics over contiguous blocks of the [N, C, ...] input.

function InstanceNormalization([X, scale, B], attrs, ctx) {
  const eps = attrs.epsilon;
  const C = X.shape[1], S = sizeOf(X.shape.slice(2));
  const y = ctx.output(0, X.shape, X.dtype);
  normalizeRows(X.data, y.data, X.shape[0] * C, S, (r) => {
    const [mu, v] = meanVar(X.data, r * S, S);
    return [mu, 1 / Math.sqrt(v + eps)];
  }, (z, r) => z * scale.data[r % C] + B.data[r % C]);
  return [roundToDtype(y)];
}

function GroupNormalization([X, scale, B], attrs, ctx) {
  const eps = attrs.epsilon;
  const G = attrs.num_groups;
  const C = X.shape[1], S = sizeOf(X.shape.slice(2));
  if (!G || C % G !== 0) throw new Error(`GroupNormalization: ${C} channels not divisible by num_groups=${G}`);
  const cols = (C / G) * S;
  // Opset 18: scale/bias per group; opset 21: per channel. Decide by length (equal when G === C).
  const perChannel = scale.data.length === C;
  if (!perChannel && scale.data.length !== G) throw new Error(`GroupNormalization: scale has ${scale.data.length} elements`);
  const y = ctx.output(0, X.shape, X.dtype);
  normalizeRows(X.data, y.data, X.shape[0] * G, cols, (r) => {
    const [mu, v] = meanVar(X.data, r * cols, cols);
    return [mu, 1 / Math.sqrt(v + eps)];
  }, (z, r, c) => {
    const k = perChannel ? (r % G) * (C / G) + Math.floor(c / S) : r % G;
    return z * scale.data[k] + B.data[k];
  });
  return [roundToDtype(y)];
}

// ---------------------------------------------------------------------------------------------
// Layer / RMS normalization: statistics over the trailing axes [axis, rank).

/** Row/column split at `axis` and the index maps of scale/bias over the normalized shape. */
function trailingSetup(X, attrs, tensors) {
  const rank = X.shape.length;
  const axis = normalizeAxis(attrs.axis, rank);
  const inner = X.shape.slice(axis);
  const rows = sizeOf(X.shape.slice(0, axis)), cols = sizeOf(inner);
  const maps = tensors.map((t) => (!t || t.data.length === cols ? null : broadcastIndex(t.shape, inner)));
  return { axis, rows, cols, maps };
}

function LayerNormalization([X, scale, B], attrs, ctx) {
  const eps = attrs.epsilon;
  const { axis, rows, cols, maps: [sMap, bMap] } = trailingSetup(X, attrs, [scale, B]);
  const y = ctx.output(0, X.shape, X.dtype);
  const statShape = X.shape.map((d, i) => (i < axis ? d : 1));
  const stash = ONNX_DTYPES[attrs.stash_type];
  const stashType = FLOAT_DTYPES.has(stash) ? stash : 'float32';
  const meanOut = ctx.output(1, statShape, stashType), invOut = ctx.output(2, statShape, stashType);
  normalizeRows(X.data, y.data, rows, cols, (r) => {
    const [mu, v] = meanVar(X.data, r * cols, cols);
    const inv = 1 / Math.sqrt(v + eps);
    meanOut.data[r] = mu; invOut.data[r] = inv;
    return [mu, inv];
  }, (z, r, c) => z * scale.data[sMap ? sMap[c] : c] + (B ? B.data[bMap ? bMap[c] : c] : 0));
  return [roundToDtype(y), roundToDtype(meanOut), roundToDtype(invOut)];
}

function RMSNormalization([X, scale], attrs, ctx) {
  const eps = attrs.epsilon;
  const { rows, cols, maps: [sMap] } = trailingSetup(X, attrs, [scale]);
  const y = ctx.output(0, X.shape, X.dtype);
  normalizeRows(X.data, y.data, rows, cols, (r) => {
    let q = 0;
    for (let i = r * cols, end = i + cols; i < end; i++) q += X.data[i] * X.data[i];
    return [0, 1 / Math.sqrt(q / cols + eps)];
  }, (z, r, c) => z * scale.data[sMap ? sMap[c] : c]);
  return [roundToDtype(y)];
}

// ---------------------------------------------------------------------------------------------
// LRN, LpNormalization, MeanVarianceNormalization

function LRN([X], attrs, ctx) {
  const { alpha, beta, bias, size } = attrs;
  if (!size) throw new Error('LRN: size is required');
  const [N, C] = X.shape;
  const S = sizeOf(X.shape.slice(2));
  const lo = Math.floor((size - 1) / 2), hi = Math.ceil((size - 1) / 2);
  const x = X.data, y = ctx.output(0, X.shape, X.dtype);
  const sq = new Float64Array(S);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      // Sum of squares over channels [c - lo, c + hi] at every spatial position.
      sq.fill(0);
      for (let k = Math.max(0, c - lo); k <= Math.min(C - 1, c + hi); k++) {
        const o = (n * C + k) * S;
        for (let i = 0; i < S; i++) sq[i] += x[o + i] * x[o + i];
      }
      const o = (n * C + c) * S;
      for (let i = 0; i < S; i++) y.data[o + i] = x[o + i] / (bias + (alpha / size) * sq[i]) ** beta;
    }
  }
  return [roundToDtype(y)];
}

/** Walk every 1-D lane along `axis`: fn(offset, length, stride). */
function forEachLane(shape, axis, fn) {
  const len = shape[axis], inner = sizeOf(shape.slice(axis + 1)), outer = sizeOf(shape.slice(0, axis));
  for (let o = 0; o < outer; o++) for (let i = 0; i < inner; i++) fn(o * len * inner + i, len, inner);
}

function LpNormalization([X], attrs, ctx) {
  const p = attrs.p;
  if (p !== 1 && p !== 2) throw new Error(`LpNormalization: p=${p} is not supported`);
  const axis = normalizeAxis(attrs.axis, X.shape.length);
  const x = X.data, y = ctx.output(0, X.shape, X.dtype);
  forEachLane(X.shape, axis, (off, len, step) => {
    let s = 0;
    for (let i = 0, j = off; i < len; i++, j += step) s += p === 1 ? Math.abs(x[j]) : x[j] * x[j];
    const norm = p === 1 ? s : Math.sqrt(s);
    for (let i = 0, j = off; i < len; i++, j += step) y.data[j] = norm === 0 ? 0 : x[j] / norm;
  });
  return [roundToDtype(y)];
}

function MeanVarianceNormalization([X], attrs, ctx) {
  const rank = X.shape.length;
  const axes = attrs.axes.map((a) => normalizeAxis(a, rank));
  const kept = X.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const map = broadcastIndex(kept, X.shape); // element -> its statistics slot
  const slots = sizeOf(kept), count = X.data.length / slots;
  const s = new Float64Array(slots), q = new Float64Array(slots);
  const x = X.data;
  for (let i = 0; i < x.length; i++) { s[map[i]] += x[i]; q[map[i]] += x[i] * x[i]; }
  const y = ctx.output(0, X.shape, X.dtype);
  for (let k = 0; k < slots; k++) {
    const mean = s[k] / count;
    s[k] = mean;
    q[k] = Math.sqrt(Math.max(0, q[k] / count - mean * mean)) + 1e-9;
  }
  for (let i = 0; i < x.length; i++) y.data[i] = (x[i] - s[map[i]]) / q[map[i]];
  return [roundToDtype(y)];
}

export const kernels = {
  BatchNormalization, InstanceNormalization, GroupNormalization, LayerNormalization, RMSNormalization,
  LRN, LpNormalization, MeanVarianceNormalization,
};
