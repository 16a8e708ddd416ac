// Kernels: indexing ops (Gather*, Scatter*, OneHot, TopK, ArgMax, CumSum, Unique, ...).
//
// Index tensors may be int32 or int64 (BigInt); they are read with Number(). Element values are
// moved untouched, so gathers work for every dtype; reductions use JS operators that work on
// both Numbers and BigInts (never mixing the two).

import { sizeOf, stridesOf, toNumbers, scalarOf, normalizeAxis, castScalar, rounderFor } from './util.js';
import { copyRange } from './shape.js';

/** Index value `v` along an axis of length `dim`, negative allowed; throws when out of range. */
function checkIndex(v, dim, op) {
  const i = v < 0 ? v + dim : v;
  if (i < 0 || i >= dim || !Number.isInteger(i)) throw new Error(`${op}: index ${v} out of range for dimension ${dim}`);
  return i;
}

/** Outer/axis/inner split of a shape around `axis` (for loops over slices along one axis). */
function around(shape, axis) {
  return { outer: sizeOf(shape.slice(0, axis)), dim: shape[axis], inner: sizeOf(shape.slice(axis + 1)) };
}

const int64Zero = (ctx, index, shape) => ctx.output(index, shape, 'int64');

// ---------------------------------------------------------------------------------------------
// Gathers

function Gather(inputs, attrs, ctx) {
  const [data, indices] = inputs;
  const axis = normalizeAxis(attrs.axis, data.shape.length);
  const { outer, dim, inner } = around(data.shape, axis);
  const idx = toNumbers(indices).map((v) => checkIndex(v, dim, 'Gather'));
  const shape = [...data.shape.slice(0, axis), ...indices.shape, ...data.shape.slice(axis + 1)];
  const out = ctx.output(0, shape, data.dtype);
  let o = 0;
  for (let a = 0; a < outer; a++) {
    for (let k = 0; k < idx.length; k++, o += inner) copyRange(out.data, o, data.data, (a * dim + idx[k]) * inner, inner);
  }
  return [out];
}

function GatherElements(inputs, attrs, ctx) {
  const [data, indices] = inputs;
  const r = data.shape.length;
  const axis = normalizeAxis(attrs.axis, r);
  const strides = stridesOf(data.shape);
  const dim = data.shape[axis];
  const out = ctx.output(0, indices.shape, data.dtype);
  const pos = new Array(r).fill(0);
  for (let k = 0; k < out.data.length; k++) {
    let src = checkIndex(Number(indices.data[k]), dim, 'GatherElements') * strides[axis];
    for (let a = 0; a < r; a++) if (a !== axis) src += pos[a] * strides[a];
    out.data[k] = data.data[src];
    for (let a = r - 1; a >= 0; a--) {
      if (++pos[a] < indices.shape[a]) break;
      pos[a] = 0;
    }
  }
  return [out];
}

/**
 * Shared layout of GatherND/ScatterND: indices [...batch, ...rest, k] address slices of
 * data [...batch, ...k dims, ...slice]. Calls visit(dataOffset, tupleNumber) for each index tuple.
 */
function forEachNDIndex(data, indices, batchDims, op, visit) {
  const k = indices.shape[indices.shape.length - 1];
  const ir = indices.shape.length;
  if (batchDims + k > data.shape.length) throw new Error(`${op}: index tuples longer than data rank`);
  const batch = sizeOf(data.shape.slice(0, batchDims));
  const perBatch = sizeOf(indices.shape.slice(batchDims, ir - 1));
  const sliceSize = sizeOf(data.shape.slice(batchDims + k));
  const batchSize = sizeOf(data.shape.slice(batchDims));
  const strides = stridesOf(data.shape.slice(batchDims, batchDims + k)).map((s) => s * sliceSize);
  const idx = indices.data;
  let t = 0;
  for (let b = 0; b < batch; b++) {
    for (let j = 0; j < perBatch; j++, t++) {
      let off = b * batchSize;
      for (let q = 0; q < k; q++) off += checkIndex(Number(idx[t * k + q]), data.shape[batchDims + q], op) * strides[q];
      visit(off, t);
    }
  }
  return sliceSize;
}

function GatherND(inputs, attrs, ctx) {
  const [data, indices] = inputs;
  const b = attrs.batch_dims ?? 0; // opset 12+
  const k = indices.shape[indices.shape.length - 1];
  const shape = [...indices.shape.slice(0, -1), ...data.shape.slice(b + k)];
  const out = ctx.output(0, shape, data.dtype);
  const slice = sizeOf(data.shape.slice(b + k));
  forEachNDIndex(data, indices, b, 'GatherND', (off, t) => copyRange(out.data, t * slice, data.data, off, slice));
  return [out];
}

// ---------------------------------------------------------------------------------------------
// Scatters

/** (old, update) -> new value for a scatter reduction; null for plain assignment. */
function reducer(reduction, dtype, op) {
  const round = rounderFor(dtype);
  const wrap = (f) => (round ? (a, b) => round(f(a, b)) : f);
  switch (reduction ?? 'none') {
    case 'none': return null;
    case 'add': return wrap((a, b) => a + b);
    case 'mul': return wrap((a, b) => a * b);
    case 'max': return (a, b) => (b > a ? b : a);
    case 'min': return (a, b) => (b < a ? b : a);
    default: throw new Error(`${op}: reduction=${reduction} is not supported`);
  }
}

function ScatterElements(inputs, attrs, ctx) {
  const [data, indices, updates] = inputs;
  const r = data.shape.length;
  const axis = normalizeAxis(attrs.axis, r);
  const reduce = reducer(attrs.reduction, data.dtype, ctx.opType);
  const strides = stridesOf(data.shape);
  const dim = data.shape[axis];
  const out = ctx.output(0, data.shape, data.dtype);
  copyRange(out.data, 0, data.data, 0, data.data.length);
  const pos = new Array(r).fill(0);
  for (let k = 0; k < updates.data.length; k++) {
    let dst = checkIndex(Number(indices.data[k]), dim, ctx.opType) * strides[axis];
    for (let a = 0; a < r; a++) if (a !== axis) dst += pos[a] * strides[a];
    out.data[dst] = reduce ? reduce(out.data[dst], updates.data[k]) : updates.data[k];
    for (let a = r - 1; a >= 0; a--) {
      if (++pos[a] < indices.shape[a]) break;
      pos[a] = 0;
    }
  }
  return [out];
}

function ScatterND(inputs, attrs, ctx) {
  const [data, indices, updates] = inputs;
  const reduce = reducer(attrs.reduction, data.dtype, 'ScatterND');
  const out = ctx.output(0, data.shape, data.dtype);
  copyRange(out.data, 0, data.data, 0, data.data.length);
  const k = indices.shape[indices.shape.length - 1];
  const slice = sizeOf(data.shape.slice(k));
  const o = out.data, u = updates.data;
  forEachNDIndex(data, indices, 0, 'ScatterND', (off, t) => {
    if (!reduce) copyRange(o, off, u, t * slice, slice);
    else for (let i = 0; i < slice; i++) o[off + i] = reduce(o[off + i], u[t * slice + i]);
  });
  return [out];
}

// ---------------------------------------------------------------------------------------------
// Selection

function OneHot(inputs, attrs, ctx) {
  const [indices, depthT, values] = inputs;
  const depth = Math.trunc(scalarOf(depthT));
  const r = indices.shape.length + 1;
  const axis = normalizeAxis(attrs.axis, r);
  const shape = [...indices.shape.slice(0, axis), depth, ...indices.shape.slice(axis)];
  const out = ctx.output(0, shape, values.dtype);
  const [off, on] = [values.data[0], values.data[1]];
  out.data.fill(off);
  const inner = sizeOf(indices.shape.slice(axis));
  for (let k = 0; k < indices.data.length; k++) {
    let v = Number(indices.data[k]);
    if (v < 0) v += depth;
    if (v < 0 || v >= depth) continue; // out of range: all "off"
    const o = Math.floor(k / inner), i = k % inner;
    out.data[(o * depth + v) * inner + i] = on;
  }
  return [out];
}

function Compress(inputs, attrs, ctx) {
  const [x, condition] = inputs;
  const cond = condition.data;
  const flat = attrs.axis === undefined;
  const shape = flat ? [x.data.length] : x.shape;
  const axis = flat ? 0 : normalizeAxis(attrs.axis, x.shape.length);
  const { outer, dim, inner } = around(shape, axis);
  const keep = [];
  for (let i = 0; i < Math.min(dim, cond.length); i++) if (cond[i]) keep.push(i);
  const outShape = [...shape];
  outShape[axis] = keep.length;
  const out = ctx.output(0, outShape, x.dtype);
  let o = 0;
  for (let a = 0; a < outer; a++) {
    for (const i of keep) { copyRange(out.data, o, x.data, (a * dim + i) * inner, inner); o += inner; }
  }
  return [out];
}

function NonZero(inputs, attrs, ctx) {
  const x = inputs[0];
  const r = x.shape.length;
  const hits = [];
  for (let k = 0; k < x.data.length; k++) if (x.dtype === 'string' ? x.data[k] !== '' : x.data[k] != 0) hits.push(k);
  const out = int64Zero(ctx, 0, [r, hits.length]);
  const strides = stridesOf(x.shape);
  hits.forEach((k, j) => {
    let rest = k;
    for (let a = 0; a < r; a++) {
      out.data[a * hits.length + j] = BigInt(Math.floor(rest / strides[a]));
      rest %= strides[a];
    }
  });
  return [out];
}

/** NaN-aware ordering for sorts: NaN counts as larger than everything (as numpy does). */
function compareValues(a, b) {
  if (a < b) return -1;
  if (a > b) return 1;
  if (a === b) return 0;
  const an = a !== a, bn = b !== b; // NaN checks (BigInts and strings are never NaN)
  return an === bn ? 0 : an ? 1 : -1;
}

function TopK(inputs, attrs, ctx) {
  const x = inputs[0];
  const k = ctx.opset < 10 ? attrs.k : scalarOf(inputs[1]);
  const axis = normalizeAxis(attrs.axis, x.shape.length);
  const largest = attrs.largest !== 0; // absent before opset 11: largest
  const { outer, dim, inner } = around(x.shape, axis);
  if (k < 0 || k > dim) throw new Error(`TopK: k=${k} out of range for dimension ${dim}`);
  const shape = [...x.shape];
  shape[axis] = k;
  const values = ctx.output(0, shape, x.dtype);
  const idxOut = int64Zero(ctx, 1, shape);
  const order = new Array(dim);
  const row = new Array(dim);
  for (let a = 0; a < outer; a++) {
    for (let i = 0; i < inner; i++) {
      const base = a * dim * inner + i;
      for (let j = 0; j < dim; j++) { order[j] = j; row[j] = x.data[base + j * inner]; }
      // Stable by index on ties (smaller index first), so results are deterministic.
      order.sort((p, q) => (largest ? compareValues(row[q], row[p]) : compareValues(row[p], row[q])) || p - q);
      const ob = a * k * inner + i;
      for (let j = 0; j < k; j++) {
        values.data[ob + j * inner] = row[order[j]];
        idxOut.data[ob + j * inner] = BigInt(order[j]);
      }
    }
  }
  return [values, idxOut];
}

function argExtreme(inputs, attrs, ctx, isMax) {
  const x = inputs[0];
  const axis = normalizeAxis(attrs.axis, x.shape.length);
  const keepdims = attrs.keepdims !== 0;
  const last = !!attrs.select_last_index; // opset 12+
  const { outer, dim, inner } = around(x.shape, axis);
  const shape = keepdims ? x.shape.map((d, a) => (a === axis ? 1 : d)) : x.shape.filter((_, a) => a !== axis);
  const out = int64Zero(ctx, 0, shape);
  const d = x.data;
  for (let a = 0; a < outer; a++) {
    for (let i = 0; i < inner; i++) {
      const base = a * dim * inner + i;
      let best = 0, bv = d[base];
      for (let j = 1; j < dim; j++) {
        const v = d[base + j * inner];
        if (bv !== bv) break; // NaN wins (first NaN, like numpy)
        const better = v !== v || (isMax ? (last ? v >= bv : v > bv) : (last ? v <= bv : v < bv));
        if (better) { best = j; bv = v; }
      }
      out.data[a * inner + i] = BigInt(best);
    }
  }
  return [out];
}

// ---------------------------------------------------------------------------------------------
// Scans and reordering

function cumulative(inputs, attrs, ctx, combine, identity) {
  const x = inputs[0];
  const axis = normalizeAxis(scalarOf(inputs[1]), x.shape.length);
  const exclusive = !!attrs.exclusive;
  const reverse = !!attrs.reverse;
  const { outer, dim, inner } = around(x.shape, axis);
  const out = ctx.output(0, x.shape, x.dtype);
  const round = rounderFor(x.dtype);
  const acc = new out.data.constructor(1); // accumulator in the output's precision (wraps like it)
  const d = x.data, o = out.data;
  for (let a = 0; a < outer; a++) {
    for (let i = 0; i < inner; i++) {
      const base = a * dim * inner + i;
      acc[0] = castScalar(identity, x.dtype);
      for (let s = 0; s < dim; s++) {
        const p = base + (reverse ? dim - 1 - s : s) * inner;
        const v = d[p];
        if (exclusive) o[p] = acc[0];
        acc[0] = round ? round(combine(acc[0], v)) : combine(acc[0], v);
        if (!exclusive) o[p] = acc[0];
      }
    }
  }
  return [out];
}

function ReverseSequence(inputs, attrs, ctx) {
  const [x, lens] = inputs;
  const batchAxis = normalizeAxis(attrs.batch_axis, x.shape.length);
  const timeAxis = normalizeAxis(attrs.time_axis, x.shape.length);
  const strides = stridesOf(x.shape);
  const seqLens = toNumbers(lens);
  const out = ctx.output(0, x.shape, x.dtype);
  const pos = new Array(x.shape.length).fill(0);
  for (let k = 0; k < x.data.length; k++) {
    const t = pos[timeAxis];
    const len = seqLens[pos[batchAxis]];
    // Within the first `len` time steps, read from the mirrored step.
    const src = t < len ? k + (len - 1 - 2 * t) * strides[timeAxis] : k;
    out.data[k] = x.data[src];
    for (let a = x.shape.length - 1; a >= 0; a--) {
      if (++pos[a] < x.shape[a]) break;
      pos[a] = 0;
    }
  }
  return [out];
}

function Unique(inputs, attrs, ctx) {
  const x = inputs[0];
  const sorted = attrs.sorted !== 0;
  const hasAxis = attrs.axis !== undefined;
  const shape = hasAxis ? x.shape : [x.data.length];
  const axis = hasAxis ? normalizeAxis(attrs.axis, x.shape.length) : 0;
  const { outer, dim, inner } = around(shape, axis);
  // Each slice along `axis` as an array of its elements (single elements when flattened).
  const slices = [];
  for (let j = 0; j < dim; j++) {
    const s = new Array(outer * inner);
    for (let a = 0; a < outer; a++) for (let i = 0; i < inner; i++) s[a * inner + i] = x.data[(a * dim + j) * inner + i];
    slices.push(s);
  }
  const keyOf = (s) => (s.length === 1 && typeof s[0] !== 'string' ? s[0] : JSON.stringify(s.map(String)));
  // Unique slices in order of first occurrence.
  const firstOf = new Map();
  const uniq = []; // { first, count }
  const inverse = new Array(dim);
  for (let j = 0; j < dim; j++) {
    const key = keyOf(slices[j]);
    let u = firstOf.get(key);
    if (u === undefined) { u = uniq.length; firstOf.set(key, u); uniq.push({ first: j, count: 0 }); }
    uniq[u].count++;
    inverse[j] = u;
  }
  let order = uniq.map((_, u) => u);
  if (sorted) {
    const lex = (p, q) => {
      const a = slices[uniq[p].first], b = slices[uniq[q].first];
      for (let i = 0; i < a.length; i++) { const c = compareValues(a[i], b[i]); if (c) return c; }
      return 0;
    };
    order.sort(lex);
  }
  const rank = new Array(uniq.length);
  order.forEach((u, r) => { rank[u] = r; });
  const n = uniq.length;
  const yShape = [...shape];
  yShape[axis] = n;
  const y = ctx.output(0, yShape, x.dtype);
  order.forEach((u, r) => {
    const s = slices[uniq[u].first];
    for (let a = 0; a < outer; a++) for (let i = 0; i < inner; i++) y.data[(a * n + r) * inner + i] = s[a * inner + i];
  });
  const indices = int64Zero(ctx, 1, [n]);
  const inv = int64Zero(ctx, 2, [dim]);
  const counts = int64Zero(ctx, 3, [n]);
  order.forEach((u, r) => { indices.data[r] = BigInt(uniq[u].first); counts.data[r] = BigInt(uniq[u].count); });
  for (let j = 0; j < dim; j++) inv.data[j] = BigInt(rank[inverse[j]]);
  return [y, indices, inv, counts];
}

export const kernels = {
  Gather, GatherElements, GatherND,
  ScatterElements, Scatter: ScatterElements, ScatterND,
  OneHot, Compress, NonZero, TopK,
  ArgMax: (inputs, attrs, ctx) => argExtreme(inputs, attrs, ctx, true),
  ArgMin: (inputs, attrs, ctx) => argExtreme(inputs, attrs, ctx, false),
  CumSum: (inputs, attrs, ctx) => cumulative(inputs, attrs, ctx, (a, b) => a + b, 0),
  CumProd: (inputs, attrs, ctx) => cumulative(inputs, attrs, ctx, (a, b) => a * b, 1),
  ReverseSequence, Unique,
};
