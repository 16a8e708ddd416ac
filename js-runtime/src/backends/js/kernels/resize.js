// Kernels: Resize and Upsample.
//
// Resizing is separable: each resized axis is interpolated in turn (float64 intermediate). For one
// axis every output index gets n taps (source index, weight) computed as in the onnx reference:
// the source coordinate x from the coordinate_transformation_mode, ratio = x - floor(x) (1 when x
// is integral), coefficients from the mode, taps at consecutive indices around x, clamped to the
// edge ("edge" padding).
import { sizeOf, toNumbers, normalizeAxis, isFloat, isBigInt, rounderFor } from './util.js';

// --- interpolation coefficients: (ratio, scale) -> weights of n consecutive taps ---------------

function nearestCoeffs(nearestMode) {
  return (r) => {
    if (Number.isInteger(r)) return [0, 1];
    switch (nearestMode) {
      case 'round_prefer_floor': return [r <= 0.5 ? 1 : 0, r > 0.5 ? 1 : 0];
      case 'round_prefer_ceil': return [r < 0.5 ? 1 : 0, r >= 0.5 ? 1 : 0];
      case 'floor': return [1, 0];
      case 'ceil': return [0, 1];
      default: throw new Error(`Resize: nearest_mode=${nearestMode} is not supported`);
    }
  };
}

function linearCoeffs(antialias) {
  return (r, scale) => {
    if (!antialias || scale >= 1) return [1 - r, r];
    // Antialiased downsampling: a triangle filter stretched by 1/scale.
    const start = Math.floor(-1 / scale) + 1, n = 2 - 2 * start;
    const c = Array.from({ length: n }, (_, i) => Math.min(1, Math.max(0, 1 - Math.abs((start + i - r) * scale))));
    const s = c.reduce((a, b) => a + b, 0);
    return c.map((v) => v / s);
  };
}

function cubicCoeffs(A, antialias) {
  const kernel = (x) => {
    x = Math.abs(x);
    if (x <= 1) return ((A + 2) * x - (A + 3)) * x * x + 1;
    if (x < 2) return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
    return 0;
  };
  return (r, scale) => {
    if (!antialias || scale >= 1) return [kernel(r + 1), kernel(r), kernel(1 - r), kernel(2 - r)];
    const start = Math.floor(-2 / scale) + 1, n = 2 - 2 * start;
    const c = Array.from({ length: n }, (_, i) => kernel(scale * (start + i - r)));
    const s = c.reduce((a, b) => a + b, 0);
    return c.map((v) => v / s);
  };
}

/** Source coordinate of output index y along one axis (null: extrapolate, tf_crop_and_resize). */
function sourceCoord(mode, y, scale, inLen, outLen, roi) {
  const outF = scale * inLen; // the unrounded output length
  switch (mode) {
    case 'half_pixel': return (y + 0.5) / scale - 0.5;
    case 'pytorch_half_pixel': return outLen > 1 ? (y + 0.5) / scale - 0.5 : -0.5;
    case 'align_corners': return outF === 1 ? 0 : (y * (inLen - 1)) / (outF - 1);
    case 'asymmetric': return y / scale;
    case 'half_pixel_symmetric': {
      const offset = (inLen / 2) * (1 - outLen / outF);
      return offset + (y + 0.5) / scale - 0.5;
    }
    case 'tf_crop_and_resize': {
      const [r0, r1] = roi;
      const x = (outF === 1 ? ((r1 - r0) * (inLen - 1)) / 2 : (y * (r1 - r0) * (inLen - 1)) / (outF - 1)) + r0 * (inLen - 1);
      return x < 0 || x > inLen - 1 ? null : x;
    }
    default: throw new Error(`Resize: coordinate_transformation_mode=${mode} is not supported`);
  }
}

/** Taps of one axis: { n, idx (Int32Array outLen*n), w (Float64Array), extrap (Uint8Array) }. */
function axisTaps(inLen, outLen, scale, roi, opts) {
  let n = 0, idx = null, w = null;
  const extrap = new Uint8Array(outLen);
  for (let y = 0; y < outLen; y++) {
    const x = sourceCoord(opts.ctm, y, scale, inLen, outLen, roi);
    let coeffs;
    let fl = 0, integral = false;
    if (x === null) {
      extrap[y] = 1;
    } else {
      fl = Math.floor(x);
      integral = x === fl;
    }
    coeffs = opts.coeffs(x === null ? 0.5 : integral ? 1 : x - fl, scale);
    if (!idx) {
      n = coeffs.length;
      idx = new Int32Array(outLen * n);
      w = new Float64Array(outLen * n);
    }
    if (x === null) continue;
    // First tap relative to floor(x): taps are centered on x, shifted one down for integral x.
    const first = n % 2 === 0 ? (integral ? -(n / 2) : 1 - n / 2)
      : -((n - 1) / 2) + (x - fl <= 0.5 ? 0 : 1);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const j = fl + first + i;
      let c = coeffs[i];
      if (opts.excludeOutside && (j < 0 || j >= inLen)) c = 0;
      idx[y * n + i] = Math.min(inLen - 1, Math.max(0, j));
      w[y * n + i] = c;
      sum += c;
    }
    if (opts.excludeOutside && sum !== 0) for (let i = 0; i < n; i++) w[y * n + i] /= sum;
  }
  return { n, idx: idx ?? new Int32Array(0), w: w ?? new Float64Array(0), extrap };
}

/** Interpolate `data` (shape) along `axis` to outLen; returns the new Float64Array. */
function resizeAxis(data, shape, axis, outLen, taps, extrapolationValue) {
  const inLen = shape[axis];
  const outer = sizeOf(shape.slice(0, axis)), inner = sizeOf(shape.slice(axis + 1));
  const out = new Float64Array(outer * outLen * inner);
  const { n, idx, w, extrap } = taps;
  for (let o = 0; o < outer; o++) {
    const src = o * inLen * inner;
    for (let y = 0; y < outLen; y++) {
      const dst = (o * outLen + y) * inner;
      if (extrap[y]) { out.fill(extrapolationValue, dst, dst + inner); continue; }
      for (let t = y * n; t < y * n + n; t++) {
        const c = w[t];
        if (c === 0) continue;
        const s = src + idx[t] * inner;
        for (let i = 0; i < inner; i++) out[dst + i] += c * data[s + i];
      }
    }
  }
  return out;
}

/** Store float64 results into a tensor of X's dtype: float16 rounding, integer round + saturate. */
function storeResult(y, vals) {
  const d = y.data;
  if (isFloat(y.dtype)) {
    const round = rounderFor(y.dtype);
    if (round) for (let i = 0; i < vals.length; i++) d[i] = round(vals[i]);
    else d.set(vals);
    return;
  }
  const bits = d.BYTES_PER_ELEMENT * 8;
  const signed = !(d instanceof Uint8Array || d instanceof Uint16Array || d instanceof Uint32Array || d instanceof BigUint64Array);
  const lo = signed ? -(2 ** (bits - 1)) : 0, hi = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  for (let i = 0; i < vals.length; i++) {
    let v = vals[i];
    const r = Math.round(v);
    v = Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r; // round half to even (numpy)
    v = Math.min(hi, Math.max(lo, v));
    d[i] = isBigInt(y.dtype) ? BigInt(v) : v;
  }
}

/**
 * Resize X to outShape. `scales` per axis (full rank), `roi` full-rank [starts..., ends...] or null.
 */
function resize(X, outShape, scales, roi, opts, ctx) {
  const rank = X.shape.length;
  let data = Float64Array.from(X.data, Number);
  let shape = [...X.shape];
  for (let a = 0; a < rank; a++) {
    const axisRoi = roi ? [roi[a], roi[a + rank]] : [0, 1];
    const trivialRoi = Math.abs(axisRoi[0]) < 1e-9 && Math.abs(axisRoi[1] - 1) < 1e-9;
    if (Math.abs(scales[a] - 1) < 1e-9 && outShape[a] === shape[a] && (trivialRoi || opts.ctm !== 'tf_crop_and_resize')) continue;
    const taps = axisTaps(shape[a], outShape[a], scales[a], axisRoi, opts);
    data = resizeAxis(data, shape, a, outShape[a], taps, opts.extrapolationValue);
    shape[a] = outShape[a];
  }
  const y = ctx.output(0, outShape, X.dtype);
  storeResult(y, data);
  return [y];
}

/** A float/int tensor input that counts as given (empty tensors are placeholders in opsets 11-12). */
function given(t) {
  return t && t.data.length > 0 ? toNumbers(t) : null;
}

function Resize(inputs, attrs, ctx) {
  const X = inputs[0];
  const rank = X.shape.length;
  const legacy = ctx.opset < 11; // opset 10: (X, scales), Upsample semantics
  let [roi, scales, sizes] = legacy ? [null, given(inputs[1]), null] : [given(inputs[1]), given(inputs[2]), given(inputs[3])];
  const mode = attrs.mode;
  const antialias = attrs.antialias === 1; // opset 18+
  const axes = attrs.axes ? attrs.axes.map((a) => normalizeAxis(a, rank)) : null;
  const policy = attrs.keep_aspect_ratio_policy ?? 'stretch'; // opset 18+
  // Expand per-`axes` values to full rank.
  if (axes) {
    if (scales) { const s = new Array(rank).fill(1); axes.forEach((a, i) => { s[a] = scales[i]; }); scales = s; }
    if (sizes) { const s = [...X.shape]; axes.forEach((a, i) => { s[a] = sizes[i]; }); sizes = s; }
    if (roi) {
      const r = [...new Array(rank).fill(0), ...new Array(rank).fill(1)];
      axes.forEach((a, i) => { r[a] = roi[i]; r[a + rank] = roi[axes.length + i]; });
      roi = r;
    }
  }
  const active = axes ?? X.shape.map((_, i) => i);
  let outShape;
  if (sizes) {
    if (sizes.length !== rank) throw new Error(`Resize: sizes has ${sizes.length} values for rank ${rank}`);
    scales = sizes.map((s, i) => s / X.shape[i]);
    outShape = sizes;
    if (policy !== 'stretch') {
      const vals = active.map((a) => scales[a]);
      let s;
      if (policy === 'not_larger') s = Math.min(...vals);
      else if (policy === 'not_smaller') s = Math.max(...vals);
      else throw new Error(`Resize: keep_aspect_ratio_policy=${policy} is not supported`);
      scales = X.shape.map((_, i) => (active.includes(i) ? s : 1));
      outShape = X.shape.map((d, i) => (active.includes(i) ? Math.floor(s * d + 0.5) : d));
    }
  } else if (scales) {
    if (scales.length !== rank) throw new Error(`Resize: scales has ${scales.length} values for rank ${rank}`);
    outShape = X.shape.map((d, i) => Math.floor(d * scales[i]));
  } else {
    throw new Error('Resize: one of scales or sizes is required');
  }
  let ctm = attrs.coordinate_transformation_mode; // opset 11+, as nearest_mode, exclude_outside, ...
  let nearestMode = attrs.nearest_mode;
  if (legacy) ctm = 'asymmetric';
  const opts = {
    ctm,
    excludeOutside: attrs.exclude_outside === 1,
    extrapolationValue: attrs.extrapolation_value,
    coeffs: null,
  };
  if (mode === 'nearest') {
    if (legacy) {
      // Opset 10 had no nearest_mode: floor when upsampling, ceil when downsampling (as runtimes do).
      const coeffUp = nearestCoeffs('floor'), coeffDown = nearestCoeffs('ceil');
      opts.coeffs = (r, scale) => (scale < 1 ? coeffDown(r) : coeffUp(r));
    } else {
      opts.coeffs = nearestCoeffs(nearestMode);
    }
  } else if (mode === 'linear' || mode === 'bilinear' || mode === 'trilinear') {
    opts.coeffs = linearCoeffs(antialias);
  } else if (mode === 'cubic' || mode === 'bicubic') {
    opts.coeffs = cubicCoeffs(attrs.cubic_coeff_a, antialias);
  } else {
    throw new Error(`Resize: mode=${mode} is not supported`);
  }
  return resize(X, outShape, scales, roi, opts, ctx);
}

function Upsample([X, scalesIn], attrs, ctx) {
  // Opset 7: scales attribute; opset 9: scales input. Coordinates are asymmetric (x = y / scale).
  const scales = scalesIn ? toNumbers(scalesIn) : attrs.scales;
  if (!scales) throw new Error('Upsample: scales is required');
  const mode = attrs.mode;
  const linear = mode === 'linear' || mode === 'bilinear';
  if (!linear && mode !== 'nearest') throw new Error(`Upsample: mode=${mode} is not supported`);
  const outShape = X.shape.map((d, i) => Math.floor(d * scales[i]));
  const opts = {
    ctm: 'asymmetric', excludeOutside: false, extrapolationValue: 0,
    coeffs: linear ? linearCoeffs(false) : nearestCoeffs('floor'),
  };
  return resize(X, outShape, scales, null, opts, ctx);
}

export const kernels = { Resize, Upsample };
