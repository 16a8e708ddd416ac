// Kernels: data movement and shape ops (Reshape, Transpose, Slice, Concat, Pad, ...).
//
// Most ops here move elements without touching their values, so they work for every dtype
// (BigInt int64, string arrays, ...). The general tool is gatherAxes(): an output element's
// source offset is the sum over output axes of a per-axis lookup table, which expresses
// Transpose, Slice, Expand, Tile, Pad and DepthToSpace alike.

import {
  makeTensor, sizeOf, stridesOf, broadcastShapes, toNumbers, scalarOf, normalizeAxis,
  castScalar, isBigInt, rounderFor, dtypeFromOnnx,
} from './util.js';

// ---------------------------------------------------------------------------------------------
// Shared helpers (also used by indexing.js)

/** Copy n elements src[srcOff..] -> dst[dstOff..]; works for typed arrays and plain Arrays. */
export function copyRange(dst, dstOff, src, srcOff, n) {
  if (n <= 0) return;
  // subarray() allocates a view: only worth it for longer runs.
  if (n > 32 && ArrayBuffer.isView(dst) && ArrayBuffer.isView(src)) {
    dst.set(src.subarray(srcOff, srcOff + n), dstOff);
  } else {
    for (let i = 0; i < n; i++) dst[dstOff + i] = src[srcOff + i];
  }
}

/** A new output tensor holding a copy of `t`'s data under another shape. */
function reshaped(ctx, t, shape, index = 0) {
  const out = ctx.output(index, shape, t.dtype);
  copyRange(out.data, 0, t.data, 0, t.data.length);
  return out;
}

/**
 * Fill `dst` (row-major over `outShape`) from `src`: element at output index (i0, i1, ...)
 * comes from src[maps[0][i0] + maps[1][i1] + ...]. Maps are Float64Arrays of source offsets;
 * -Infinity marks an out-of-range coordinate (the sum then stays -Infinity) and the element
 * gets `fill` instead.
 */
function gatherAxes(src, maps, outShape, dst, fill) {
  const n = sizeOf(outShape);
  if (n === 0) return;
  const rank = outShape.length;
  if (rank === 0) { dst[0] = src[0]; return; }
  const last = maps[rank - 1];
  const inner = outShape[rank - 1];
  const idx = new Array(rank).fill(0);
  for (let o = 0; o < n; o += inner) {
    let base = 0;
    for (let a = 0; a < rank - 1; a++) base += maps[a][idx[a]];
    for (let i = 0; i < inner; i++) {
      const s = base + last[i];
      dst[o + i] = s >= 0 ? src[s] : fill;
    }
    for (let a = rank - 2; a >= 0; a--) {
      if (++idx[a] < outShape[a]) break;
      idx[a] = 0;
    }
  }
}

/** Lookup table coord -> coord * stride for an axis of length n. */
function linearMap(n, stride, start = 0, step = 1) {
  const m = new Float64Array(n);
  for (let i = 0; i < n; i++) m[i] = (start + i * step) * stride;
  return m;
}

/** Transpose raw data of shape `shape` by `perm` into dst. */
function transposeInto(src, shape, perm, dst) {
  const strides = stridesOf(shape);
  const outShape = perm.map((p) => shape[p]);
  gatherAxes(src, perm.map((p) => linearMap(shape[p], strides[p])), outShape, dst);
  return outShape;
}

/** The `axes`-like list of an op: an attribute before `inputSince`, then an optional input. */
function attrOrInput(ctx, attrs, inputs, name, inputIndex, inputSince) {
  if (ctx.opset < inputSince) return attrs[name] ?? null;
  return inputs[inputIndex] ? toNumbers(inputs[inputIndex]) : null;
}

// ---------------------------------------------------------------------------------------------
// Reshape family (copies; outputs never alias inputs)

function Reshape(inputs, attrs, ctx) {
  const x = inputs[0];
  const target = ctx.opset < 5 ? attrs.shape : toNumbers(inputs[1]);
  const allowzero = !!attrs.allowzero; // opset 14+
  const shape = target.map((d, i) => (d === 0 && !allowzero ? x.shape[i] : d));
  const neg = shape.indexOf(-1);
  if (neg >= 0) {
    const known = shape.reduce((p, d, i) => (i === neg ? p : p * d), 1);
    shape[neg] = known === 0 ? 0 : x.data.length / known;
  }
  if (sizeOf(shape) !== x.data.length || shape.some((d) => d < 0 || !Number.isInteger(d))) {
    throw new Error(`Reshape: cannot reshape [${x.shape}] to [${target}]`);
  }
  return [reshaped(ctx, x, shape)];
}

function Flatten(inputs, attrs, ctx) {
  const x = inputs[0];
  const r = x.shape.length;
  let axis = attrs.axis;
  if (axis < 0) axis += r;
  if (axis < 0 || axis > r) throw new Error(`Flatten: axis ${attrs.axis} out of range for rank ${r}`);
  return [reshaped(ctx, x, [sizeOf(x.shape.slice(0, axis)), sizeOf(x.shape.slice(axis))])];
}

function Squeeze(inputs, attrs, ctx) {
  const x = inputs[0];
  const axes = attrOrInput(ctx, attrs, inputs, 'axes', 1, 13);
  let keep;
  if (axes === null) {
    keep = x.shape.filter((d) => d !== 1);
  } else {
    const drop = new Set(axes.map((a) => normalizeAxis(a, x.shape.length)));
    for (const a of drop) if (x.shape[a] !== 1) throw new Error(`Squeeze: dimension ${a} of [${x.shape}] is not 1`);
    keep = x.shape.filter((_, i) => !drop.has(i));
  }
  return [reshaped(ctx, x, keep)];
}

function Unsqueeze(inputs, attrs, ctx) {
  const x = inputs[0];
  const axes = attrOrInput(ctx, attrs, inputs, 'axes', 1, 13);
  const rank = x.shape.length + axes.length;
  const ones = new Set(axes.map((a) => normalizeAxis(a, rank)));
  if (ones.size !== axes.length) throw new Error('Unsqueeze: duplicate axes');
  const shape = [];
  let j = 0;
  for (let i = 0; i < rank; i++) shape.push(ones.has(i) ? 1 : x.shape[j++]);
  return [reshaped(ctx, x, shape)];
}

function Identity(inputs, attrs, ctx) {
  if (!inputs[0] || !inputs[0].shape) throw new Error('Identity: only tensor inputs are supported');
  return [reshaped(ctx, inputs[0], inputs[0].shape)];
}

function Dropout(inputs, attrs, ctx) {
  const x = inputs[0];
  let ratio, training;
  if (ctx.opset >= 12) {
    ratio = inputs[1] ? scalarOf(inputs[1]) : 0.5;
    training = inputs[2] ? Boolean(scalarOf(inputs[2])) : false;
  } else {
    ratio = attrs.ratio;
    training = ctx.opset < 7 && !attrs.is_test;
  }
  if (training && ratio > 0) throw new Error('Dropout: training mode with ratio > 0 (random) is not supported');
  const y = reshaped(ctx, x, x.shape);
  // The mask is bool from opset 10, the input's type before.
  const maskType = ctx.opset >= 10 ? 'bool' : x.dtype;
  const mask = ctx.output(1, x.shape, maskType);
  mask.data.fill(castScalar(1, maskType));
  return [y, mask];
}

// ---------------------------------------------------------------------------------------------
// Permutations and layout changes

function Transpose(inputs, attrs, ctx) {
  const x = inputs[0];
  const r = x.shape.length;
  const perm = (attrs.perm ?? [...Array(r).keys()].reverse()).map((p) => normalizeAxis(p, r));
  const out = ctx.output(0, perm.map((p) => x.shape[p]), x.dtype);
  transposeInto(x.data, x.shape, perm, out.data);
  return [out];
}

/** Reshape to `tmpShape`, transpose by `perm`, reshape to `outShape`. */
function reshuffle(ctx, x, tmpShape, perm, outShape) {
  const out = ctx.output(0, outShape, x.dtype);
  transposeInto(x.data, tmpShape, perm, out.data);
  return [out];
}

function DepthToSpace(inputs, attrs, ctx) {
  const x = inputs[0];
  const bs = attrs.blocksize;
  const mode = attrs.mode ?? 'DCR'; // opset 11+
  if (x.shape.length !== 4) throw new Error('DepthToSpace: input must be 4-D');
  const [b, c, h, w] = x.shape;
  const c2 = c / (bs * bs);
  if (!Number.isInteger(c2)) throw new Error(`DepthToSpace: channels ${c} not divisible by blocksize^2`);
  const outShape = [b, c2, h * bs, w * bs];
  if (mode === 'DCR') return reshuffle(ctx, x, [b, bs, bs, c2, h, w], [0, 3, 4, 1, 5, 2], outShape);
  if (mode === 'CRD') return reshuffle(ctx, x, [b, c2, bs, bs, h, w], [0, 1, 4, 2, 5, 3], outShape);
  throw new Error(`DepthToSpace: mode=${mode} is not supported`);
}

function SpaceToDepth(inputs, attrs, ctx) {
  const x = inputs[0];
  const bs = attrs.blocksize;
  const mode = attrs.mode ?? 'DCR'; // opset 28+
  if (x.shape.length !== 4) throw new Error('SpaceToDepth: input must be 4-D');
  const [b, c, h, w] = x.shape;
  if (h % bs || w % bs) throw new Error('SpaceToDepth: spatial dims not divisible by blocksize');
  const tmp = [b, c, h / bs, bs, w / bs, bs];
  const outShape = [b, c * bs * bs, h / bs, w / bs];
  if (mode === 'DCR') return reshuffle(ctx, x, tmp, [0, 3, 5, 1, 2, 4], outShape);
  if (mode === 'CRD') return reshuffle(ctx, x, tmp, [0, 1, 3, 5, 2, 4], outShape);
  throw new Error(`SpaceToDepth: mode=${mode} is not supported`);
}

// ---------------------------------------------------------------------------------------------
// Joining and splitting

function Concat(inputs, attrs, ctx) {
  const xs = inputs.filter((t) => t !== null);
  const r = xs[0].shape.length;
  const axis = normalizeAxis(attrs.axis, r);
  const shape = [...xs[0].shape];
  shape[axis] = xs.reduce((s, t) => s + t.shape[axis], 0);
  const out = ctx.output(0, shape, xs[0].dtype);
  const outer = sizeOf(shape.slice(0, axis));
  const inner = sizeOf(shape.slice(axis + 1));
  const rowOut = shape[axis] * inner;
  let off = 0;
  for (const t of xs) {
    const row = t.shape[axis] * inner;
    for (let o = 0; o < outer; o++) copyRange(out.data, o * rowOut + off, t.data, o * row, row);
    off += row;
  }
  return [out];
}

function Split(inputs, attrs, ctx) {
  const x = inputs[0];
  const axis = normalizeAxis(attrs.axis, x.shape.length);
  const dim = x.shape[axis];
  let sizes = attrOrInput(ctx, attrs, inputs, 'split', 1, 13);
  const count = ctx.numOutputs ?? attrs.num_outputs ?? null;
  if (sizes === null || sizes.length === 0) {
    const n = attrs.num_outputs ?? count;
    if (!n) throw new Error('Split: needs `split` or `num_outputs` (number of outputs unknown)');
    // Equal parts; with num_outputs (opset 18) the last part may be smaller.
    const part = Math.ceil(dim / n);
    sizes = Array.from({ length: n }, (_, i) => Math.max(0, Math.min(part, dim - i * part)));
  }
  if (sizes.reduce((a, b) => a + b, 0) !== dim) throw new Error(`Split: sizes [${sizes}] do not sum to ${dim}`);
  const outer = sizeOf(x.shape.slice(0, axis));
  const inner = sizeOf(x.shape.slice(axis + 1));
  const rowIn = dim * inner;
  let off = 0;
  return sizes.map((s, i) => {
    const shape = [...x.shape];
    shape[axis] = s;
    const out = ctx.output(i, shape, x.dtype);
    const row = s * inner;
    for (let o = 0; o < outer; o++) copyRange(out.data, o * row, x.data, o * rowIn + off, row);
    off += row;
    return out;
  });
}

// ---------------------------------------------------------------------------------------------
// Slicing, broadcasting, tiling, padding

function Slice(inputs, attrs, ctx) {
  const x = inputs[0];
  const r = x.shape.length;
  let starts, ends, axes, steps;
  if (ctx.opset < 10) {
    ({ starts, ends } = attrs);
    axes = attrs.axes ?? null;
    steps = null;
  } else {
    starts = toNumbers(inputs[1]);
    ends = toNumbers(inputs[2]);
    axes = inputs[3] ? toNumbers(inputs[3]) : null;
    steps = inputs[4] ? toNumbers(inputs[4]) : null;
  }
  axes = axes ? axes.map((a) => normalizeAxis(a, r)) : starts.map((_, i) => i);
  const begin = new Array(r).fill(0);
  const step = new Array(r).fill(1);
  const shape = [...x.shape];
  axes.forEach((a, i) => {
    const dim = x.shape[a];
    const st = steps ? steps[i] : 1;
    if (st === 0) throw new Error('Slice: step must not be 0');
    let s = starts[i];
    let e = ends[i];
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    if (st > 0) {
      s = Math.min(Math.max(s, 0), dim);
      e = Math.min(Math.max(e, 0), dim);
    } else {
      s = Math.min(Math.max(s, 0), dim - 1);
      e = Math.min(Math.max(e, -1), dim - 1);
    }
    begin[a] = s;
    step[a] = st;
    shape[a] = Math.max(0, Math.ceil((e - s) / st));
  });
  const strides = stridesOf(x.shape);
  const out = ctx.output(0, shape, x.dtype);
  gatherAxes(x.data, shape.map((n, a) => linearMap(n, strides[a], begin[a], step[a])), shape, out.data);
  return [out];
}

/** Maps for reading an input broadcast (numpy-style, right-aligned) to outShape. */
function broadcastMaps(inShape, outShape) {
  const strides = stridesOf(inShape);
  const lead = outShape.length - inShape.length;
  return outShape.map((n, a) => {
    const i = a - lead;
    return i < 0 || inShape[i] === 1 ? new Float64Array(n) : linearMap(n, strides[i]);
  });
}

function Expand(inputs, attrs, ctx) {
  const x = inputs[0];
  const shape = broadcastShapes(x.shape, toNumbers(inputs[1]));
  const out = ctx.output(0, shape, x.dtype);
  gatherAxes(x.data, broadcastMaps(x.shape, shape), shape, out.data);
  return [out];
}

function Tile(inputs, attrs, ctx) {
  const x = inputs[0];
  const repeats = toNumbers(inputs[1]);
  if (repeats.length !== x.shape.length) throw new Error('Tile: repeats length must equal input rank');
  const shape = x.shape.map((d, a) => d * repeats[a]);
  const strides = stridesOf(x.shape);
  const maps = x.shape.map((d, a) => {
    const m = new Float64Array(shape[a]);
    for (let i = 0; i < shape[a]; i++) m[i] = (i % d) * strides[a];
    return m;
  });
  const out = ctx.output(0, shape, x.dtype);
  gatherAxes(x.data, maps, shape, out.data);
  return [out];
}

/** Source coordinate for padded coordinate i in [0, n) region-relative, by pad mode. */
function padSource(i, n, mode) {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case 'constant': return -1;
    case 'edge': return i < 0 ? 0 : n - 1;
    case 'wrap': return ((i % n) + n) % n;
    case 'reflect': {
      if (n === 1) return 0;
      const period = 2 * (n - 1);
      const k = ((i % period) + period) % period;
      return k < n ? k : period - k;
    }
    default: throw new Error(`Pad: mode=${mode} is not supported`);
  }
}

/**
 * Pad (or crop, for negative amounts) each axis by before[a]/after[a]. Negative amounts crop
 * first; non-constant modes then pad from the cropped region.
 */
function padTensor(ctx, x, before, after, mode, fill) {
  const strides = stridesOf(x.shape);
  const shape = x.shape.map((d, a) => d + before[a] + after[a]);
  if (shape.some((d) => d < 0)) throw new Error(`Pad: pads remove more than the input's extent`);
  const maps = x.shape.map((d, a) => {
    const lo = Math.max(0, -before[a]);
    const n = d - lo - Math.max(0, -after[a]);
    const pb = Math.max(0, before[a]);
    if (n <= 0 && mode !== 'constant' && shape[a] > 0) throw new Error(`Pad: cannot ${mode}-pad an empty axis`);
    const m = new Float64Array(shape[a]);
    for (let i = 0; i < shape[a]; i++) {
      const s = padSource(i - pb, n, mode);
      m[i] = s < 0 ? -Infinity : (lo + s) * strides[a];
    }
    return m;
  });
  const out = ctx.output(0, shape, x.dtype);
  gatherAxes(x.data, maps, shape, out.data, fill);
  return out;
}

function Pad(inputs, attrs, ctx) {
  const x = inputs[0];
  const r = x.shape.length;
  const mode = attrs.mode;
  let pads, value, axes = null;
  if (ctx.opset < 11) {
    pads = attrs.pads ?? attrs.paddings;
    value = attrs.value;
  } else {
    pads = toNumbers(inputs[1]);
    value = inputs[2] && inputs[2].data.length ? inputs[2].data[0] : 0;
    if (inputs[3]) axes = toNumbers(inputs[3]).map((a) => normalizeAxis(a, r));
  }
  axes = axes ?? [...Array(r).keys()];
  if (pads.length !== 2 * axes.length) throw new Error(`Pad: expected ${2 * axes.length} pads, got ${pads.length}`);
  const before = new Array(r).fill(0);
  const after = new Array(r).fill(0);
  axes.forEach((a, i) => { before[a] = pads[i]; after[a] = pads[axes.length + i]; });
  // Tensor-supplied values already have the element representation (BigInt, string, ...).
  const fill = typeof value === 'number' ? castScalar(value, x.dtype) : value;
  return [padTensor(ctx, x, before, after, mode, fill)];
}

function CenterCropPad(inputs, attrs, ctx) {
  const x = inputs[0];
  const r = x.shape.length;
  const target = toNumbers(inputs[1]);
  const axes = (attrs.axes ?? [...Array(r).keys()]).map((a) => normalizeAxis(a, r));
  if (target.length !== axes.length) throw new Error('CenterCropPad: shape length must match axes');
  const before = new Array(r).fill(0);
  const after = new Array(r).fill(0);
  axes.forEach((a, i) => {
    // Crop removes floor(diff/2) in front; padding adds floor(diff/2) in front.
    const diff = target[i] - x.shape[a];
    before[a] = diff >= 0 ? Math.floor(diff / 2) : -Math.floor(-diff / 2);
    after[a] = diff - before[a];
  });
  const zero = x.dtype === 'string' ? '' : castScalar(0, x.dtype);
  return [padTensor(ctx, x, before, after, 'constant', zero)];
}

// ---------------------------------------------------------------------------------------------
// Shape queries and constants

function int64Tensor(ctx, index, values, shape = [values.length]) {
  const out = ctx.output(index, shape, 'int64');
  for (let i = 0; i < values.length; i++) out.data[i] = BigInt(values[i]);
  return out;
}

function Shape(inputs, attrs, ctx) {
  const dims = inputs[0].shape;
  const r = dims.length;
  const clamp = (v) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
  const start = clamp(attrs.start ?? 0); // opset 15+
  const end = clamp(attrs.end ?? r);
  return [int64Tensor(ctx, 0, dims.slice(start, Math.max(start, end)))];
}

function Size(inputs, attrs, ctx) {
  return [int64Tensor(ctx, 0, [sizeOf(inputs[0].shape)], [])];
}

function ConstantOfShape(inputs, attrs, ctx) {
  const shape = toNumbers(inputs[0]);
  const value = attrs.value ?? makeTensor('float32', [1], new Float32Array([0]));
  const out = ctx.output(0, shape, value.dtype);
  if (out.data.length) out.data.fill(value.data[0]);
  return [out];
}

function Constant(inputs, attrs, ctx) {
  let t;
  if (attrs.value !== undefined) t = attrs.value;
  else if (attrs.value_float !== undefined) t = makeTensor('float32', [], new Float32Array([attrs.value_float]));
  else if (attrs.value_floats !== undefined) t = makeTensor('float32', [attrs.value_floats.length], Float32Array.from(attrs.value_floats));
  else if (attrs.value_int !== undefined) t = makeTensor('int64', [], BigInt64Array.of(BigInt(attrs.value_int)));
  else if (attrs.value_ints !== undefined) t = makeTensor('int64', [attrs.value_ints.length], BigInt64Array.from(attrs.value_ints, BigInt));
  else if (attrs.value_string !== undefined) t = makeTensor('string', [], [attrs.value_string]);
  else if (attrs.value_strings !== undefined) t = makeTensor('string', [attrs.value_strings.length], [...attrs.value_strings]);
  else throw new Error('Constant: sparse_value or missing value is not supported');
  return [reshaped(ctx, t, t.shape)];
}

// ---------------------------------------------------------------------------------------------
// Generators

function Range(inputs, attrs, ctx) {
  const [start, limit, delta] = inputs.map((t) => t.data[0]);
  const dtype = inputs[0].dtype;
  if (isBigInt(dtype)) {
    const d = limit - start;
    // ceil(d / delta) for BigInt, clamped at 0
    let n = d / delta + ((d % delta !== 0n && (d > 0n) === (delta > 0n)) ? 1n : 0n);
    if (n < 0n) n = 0n;
    const out = ctx.output(0, [Number(n)], dtype);
    for (let i = 0; i < out.data.length; i++) out.data[i] = start + BigInt(i) * delta;
    return [out];
  }
  const n = Math.max(0, Math.ceil((limit - start) / delta));
  const out = ctx.output(0, [n], dtype);
  const round = rounderFor(dtype);
  for (let i = 0; i < n; i++) out.data[i] = round ? round(start + i * delta) : start + i * delta;
  return [out];
}

function EyeLike(inputs, attrs, ctx) {
  const x = inputs[0];
  if (x.shape.length !== 2) throw new Error('EyeLike: input must be 2-D');
  const dtype = attrs.dtype !== undefined ? dtypeFromOnnx(attrs.dtype, 'EyeLike') : x.dtype;
  const [rows, cols] = x.shape;
  const k = attrs.k;
  const out = ctx.output(0, x.shape, dtype);
  const one = castScalar(1, dtype);
  for (let i = 0; i < rows; i++) {
    const j = i + k;
    if (j >= 0 && j < cols) out.data[i * cols + j] = one;
  }
  return [out];
}

function Trilu(inputs, attrs, ctx) {
  const x = inputs[0];
  const k = inputs[1] ? scalarOf(inputs[1]) : 0;
  const upper = attrs.upper !== 0;
  const r = x.shape.length;
  if (r < 2) throw new Error('Trilu: input rank must be >= 2');
  const rows = x.shape[r - 2];
  const cols = x.shape[r - 1];
  const out = ctx.output(0, x.shape, x.dtype);
  const zero = x.dtype === 'string' ? '' : castScalar(0, x.dtype);
  const mats = sizeOf(x.shape.slice(0, r - 2));
  for (let m = 0; m < mats; m++) {
    for (let i = 0; i < rows; i++) {
      const row = (m * rows + i) * cols;
      for (let j = 0; j < cols; j++) {
        const keep = upper ? j - i >= k : j - i <= k;
        out.data[row + j] = keep ? x.data[row + j] : zero;
      }
    }
  }
  return [out];
}

export const kernels = {
  Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout,
  Transpose, DepthToSpace, SpaceToDepth,
  Concat, Split,
  Slice, Expand, Tile, Pad, CenterCropPad,
  Shape, Size, ConstantOfShape, Constant,
  Range, EyeLike, Trilu,
};
