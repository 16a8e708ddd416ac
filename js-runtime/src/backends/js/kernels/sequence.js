// Sequence and optional kernels: SequenceConstruct, SequenceEmpty, SequenceInsert, SequenceErase,
// SequenceAt, SequenceLength, ConcatFromSequence, SplitToSequence, SequenceMap, Optional,
// OptionalHasElement, OptionalGetElement.
//
// Values (see docs/bundle-format.md, "Sequences and optionals"):
//   sequence  a plain JS Array of Tensors; kernels never modify an input sequence, they return a new Array
//   optional  null when empty, else the contained value (a Tensor or an Array)
// Tensors stored in sequences are shared, never written (the executor copies arena-backed tensors
// before storing a sequence, so elements stay valid after their producer's arena slot is reused).

import { makeTensor, normalizeAxis, scalarOf, sizeOf, toNumbers } from './util.js';

// ---------------------------------------------------------------------------------------------
// Tensor helpers shared with controlflow.js

/** Copies n elements src[srcOff..] -> dst[dstOff..] (typed arrays or plain Arrays). */
function copyElements(dst, dstOff, src, srcOff, n) {
  if (n <= 0) return;
  if (n > 32 && ArrayBuffer.isView(dst) && ArrayBuffer.isView(src)) dst.set(src.subarray(srcOff, srcOff + n), dstOff);
  else for (let i = 0; i < n; i++) dst[dstOff + i] = src[srcOff + i];
}

/** Elements [start, start + length) of `t` along `axis`, as a new tensor (the axis is kept). */
export function sliceRange(t, axis, start, length) {
  const outer = sizeOf(t.shape.slice(0, axis));
  const inner = sizeOf(t.shape.slice(axis + 1));
  const dim = t.shape[axis];
  const shape = [...t.shape];
  shape[axis] = length;
  const out = makeTensor(t.dtype, shape);
  for (let o = 0; o < outer; o++) {
    copyElements(out.data, o * length * inner, t.data, (o * dim + start) * inner, length * inner);
  }
  return out;
}

/** Entry `index` of `t` along `axis`, without that axis. */
export function sliceAxis(t, axis, index) {
  const out = sliceRange(t, axis, index, 1);
  out.shape.splice(axis, 1);
  return out;
}

/**
 * Concatenates tensors along `axis`; with `newAxis`, stacks them along a new axis at `axis`
 * (ConcatFromSequence's new_axis=1). Axes may be negative. Needs at least one tensor.
 */
export function concatTensors(tensors, axis, newAxis = false) {
  if (tensors.length === 0) throw new Error('cannot concatenate an empty sequence');
  const first = tensors[0];
  const rank = first.shape.length + (newAxis ? 1 : 0);
  const a = normalizeAxis(axis, rank);
  const shapes = tensors.map((t) => {
    if (t.dtype !== first.dtype) throw new Error(`elements have different dtypes (${first.dtype}, ${t.dtype})`);
    if (t.shape.length !== first.shape.length) throw new Error(`elements have different ranks ([${first.shape}], [${t.shape}])`);
    const s = [...t.shape];
    if (newAxis) s.splice(a, 0, 1);
    return s;
  });
  const outShape = [...shapes[0]];
  outShape[a] = shapes.reduce((sum, s) => sum + s[a], 0);
  shapes.forEach((s, k) => {
    s.forEach((d, i) => {
      if (i !== a && d !== outShape[i]) throw new Error(`element ${k} has shape [${tensors[k].shape}], expected [${first.shape}] off the axis`);
    });
  });
  const outer = sizeOf(outShape.slice(0, a));
  const inner = sizeOf(outShape.slice(a + 1));
  const out = makeTensor(first.dtype, outShape);
  let offset = 0;
  for (let o = 0; o < outer; o++) {
    tensors.forEach((t, k) => {
      const n = shapes[k][a] * inner;
      copyElements(out.data, offset, t.data, o * n, n);
      offset += n;
    });
  }
  return out;
}

function int64Scalar(v) {
  return makeTensor('int64', [], BigInt64Array.of(BigInt(v)));
}

function boolScalar(v) {
  return makeTensor('bool', [], Uint8Array.of(v ? 1 : 0));
}

function expectSequence(v, op, what = 'input') {
  if (!Array.isArray(v)) throw new Error(`${op}: ${what} must be a sequence`);
  return v;
}

/** A position input: integer in [-n, n + extra - 1], normalized to [0, n + extra - 1]. */
function position(t, n, op, extra = 0) {
  let p = scalarOf(t);
  if (p < -n || p >= n + extra) throw new Error(`${op}: position ${p} is out of range for a sequence of ${n}`);
  if (p < 0) p += n;
  return p;
}

// ---------------------------------------------------------------------------------------------
// Sequences

function SequenceEmpty() {
  return [[]];
}

function SequenceConstruct(inputs) {
  inputs.forEach((t, i) => { if (!t || Array.isArray(t)) throw new Error(`SequenceConstruct: input ${i} is not a tensor`); });
  return [[...inputs]];
}

function SequenceInsert([seq, t, pos]) {
  expectSequence(seq, 'SequenceInsert');
  const p = pos ? position(pos, seq.length, 'SequenceInsert', 1) : seq.length;
  const out = [...seq];
  out.splice(p, 0, t);
  return [out];
}

function SequenceErase([seq, pos]) {
  expectSequence(seq, 'SequenceErase');
  if (seq.length === 0) throw new Error('SequenceErase: the sequence is empty');
  const p = pos ? position(pos, seq.length, 'SequenceErase') : seq.length - 1;
  const out = [...seq];
  out.splice(p, 1);
  return [out];
}

function SequenceAt([seq, pos]) {
  expectSequence(seq, 'SequenceAt');
  return [seq[position(pos, seq.length, 'SequenceAt')]];
}

function SequenceLength([seq]) {
  return [int64Scalar(expectSequence(seq, 'SequenceLength').length)];
}

function ConcatFromSequence([seq], attrs) {
  expectSequence(seq, 'ConcatFromSequence');
  return [concatTensors(seq, attrs.axis ?? 0, Boolean(attrs.new_axis))];
}

function SplitToSequence([x, split], attrs) {
  const axis = normalizeAxis(attrs.axis, x.shape.length);
  const dim = x.shape[axis];
  const keepdims = attrs.keepdims !== 0;
  let sizes;
  let squeeze = false;
  if (!split) {
    sizes = new Array(dim).fill(1);
    squeeze = !keepdims;
  } else if (split.shape.length === 0) {
    const chunk = scalarOf(split);
    if (!(chunk > 0)) throw new Error(`SplitToSequence: split ${chunk} must be positive`);
    sizes = [];
    for (let s = 0; s < dim; s += chunk) sizes.push(Math.min(chunk, dim - s));
  } else {
    sizes = toNumbers(split);
    const total = sizes.reduce((a, b) => a + b, 0);
    if (total !== dim) throw new Error(`SplitToSequence: split sizes add up to ${total}, the axis has ${dim}`);
  }
  const out = [];
  let start = 0;
  for (const n of sizes) {
    const piece = sliceRange(x, axis, start, n);
    if (squeeze) piece.shape.splice(axis, 1);
    out.push(piece);
    start += n;
  }
  return [out];
}

/** Runs `body` once per element; additional inputs are sequences (indexed alongside) or tensors (shared). */
function SequenceMap([seq, ...extra], attrs, ctx) {
  expectSequence(seq, 'SequenceMap');
  const body = attrs.body;
  extra.forEach((e, k) => {
    if (Array.isArray(e) && e.length !== seq.length) {
      throw new Error(`SequenceMap: additional sequence ${k} has ${e.length} elements, the input ${seq.length}`);
    }
  });
  const outs = body.outputs.map(() => []);
  for (let i = 0; i < seq.length; i++) {
    const results = ctx.runSubgraph(body, [seq[i], ...extra.map((e) => (Array.isArray(e) ? e[i] : e))]);
    results.forEach((r, k) => outs[k].push(r));
  }
  return outs;
}

// ---------------------------------------------------------------------------------------------
// Optionals

function Optional(inputs) {
  const v = inputs.length > 0 ? inputs[0] : null;
  return [v ?? null];
}

function OptionalHasElement(inputs) {
  const v = inputs.length > 0 ? inputs[0] : null;
  return [boolScalar(v !== null && v !== undefined)];
}

function OptionalGetElement([v]) {
  if (v === null || v === undefined) throw new Error('OptionalGetElement: the optional is empty');
  return [v];
}

export const kernels = {
  SequenceEmpty, SequenceConstruct, SequenceInsert, SequenceErase, SequenceAt, SequenceLength,
  ConcatFromSequence, SplitToSequence, SequenceMap,
  Optional, OptionalHasElement, OptionalGetElement,
};
