// Kernels: reductions (ReduceSum, ReduceMax, ... ) and the softmax family (Softmax, LogSoftmax, Hardmax).
import {
  broadcastIndex, isBigInt, normalizeAxis, precisionOf, requireFloat, rounderFor, sizeOf, toNumbers,
} from './util.js';

// ---------------------------------------------------------------------------------------------
// Reductions

// Smallest / largest value of each integer dtype: the identity of Max / Min over an empty set.
const INT_RANGE = {
  int8: [-128, 127], uint8: [0, 255], int16: [-32768, 32767], uint16: [0, 65535],
  int32: [-2147483648, 2147483647], uint32: [0, 4294967295],
  int64: [-(2n ** 63n), 2n ** 63n - 1n], uint64: [0n, 2n ** 64n - 1n], bool: [0, 1],
};

/**
 * The reduced axes of a Reduce* node, or null for "all axes", or [] for a no-op
 * (noop_with_empty_axes with no axes). `inputForm` says whether axes come as the second input.
 */
function reductionAxes(inputs, attrs, inputForm, rank) {
  const axes = inputForm ? toNumbers(inputs[1]) : attrs.axes ?? null;
  if (axes === null || axes.length === 0) {
    return inputForm && attrs.noop_with_empty_axes ? [] : null;
  }
  return axes.map((a) => normalizeAxis(a, rank));
}

/**
 * Generic reduction. `spec` describes the reduction over the (number or BigInt) elements:
 *   init(dtype, big)                   initial accumulator value
 *   pre(x, o, aux)                     optional per-element transform before step (abs, square, ...)
 *   step(acc, x)                       accumulates one element
 *   finish(acc, count, big, o, aux)    optional final value from the accumulator of output o
 *   prepare(x, map, outSize)           optional first pass returning `aux` for pre / finish
 *   axesInputSince                     opset from which axes is an input (default 18)
 */
function makeReduce(spec) {
  return (inputs, attrs, ctx) => {
    const x = inputs[0];
    const rank = x.shape.length;
    const inputForm = ctx.opset >= (spec.axesInputSince ?? 18);
    const keepdims = attrs.keepdims !== 0;
    // [] (noop_with_empty_axes) reduces over no axis: each output is the op applied to one element,
    // like numpy's reduction over axis=() in the reference (e.g. ReduceL2 gives |x|).
    const axes = reductionAxes(inputs, attrs, inputForm, rank) ?? x.shape.map((_, i) => i);
    const reduced = new Set(axes);
    const keptShape = x.shape.map((d, i) => (reduced.has(i) ? 1 : d));
    const outShape = keepdims ? keptShape : x.shape.filter((_, i) => !reduced.has(i));
    const outSize = sizeOf(keptShape);
    const count = outSize === 0 ? 0 : x.data.length / outSize;

    const big = isBigInt(x.dtype);
    const init = spec.init(x.dtype, big);
    const acc = big ? new Array(outSize).fill(init) : new Float64Array(outSize).fill(init);
    const map = broadcastIndex(keptShape, x.shape); // input flat index -> output flat index
    const aux = spec.prepare ? spec.prepare(x, map, outSize) : null;
    const { data } = x;
    const { pre, step } = spec;
    for (let i = 0; i < data.length; i++) {
      const o = map[i];
      acc[o] = step(acc[o], pre ? pre(data[i], o, aux) : data[i]);
    }

    const out = ctx.output(0, outShape, x.dtype);
    const round = rounderFor(x.dtype);
    for (let o = 0; o < outSize; o++) {
      let v = spec.finish ? spec.finish(acc[o], count, big, o, aux) : acc[o];
      if (big && typeof v !== 'bigint') v = BigInt(Math.trunc(v));
      out.data[o] = round ? round(v) : v;
    }
    return [out];
  };
}

const zero = (dtype, big) => (big ? 0n : 0);
const one = (dtype, big) => (big ? 1n : 1);
const abs = (x) => (x < 0 ? -x : x);
const square = (x) => x * x;
const add = (a, x) => a + x;

const reduceSpecs = {
  ReduceSum: { init: zero, step: add, axesInputSince: 13 },
  ReduceMean: {
    init: zero, step: add,
    finish: (acc, count, big) => (big ? (count ? acc / BigInt(count) : 0n) : acc / count),
  },
  ReduceProd: { init: one, step: (a, x) => a * x },
  ReduceMax: {
    init: (dtype) => INT_RANGE[dtype]?.[0] ?? -Infinity,
    step: (a, x) => (x > a || x !== x ? x : a), // NaN propagates, as with numpy's maximum
  },
  ReduceMin: {
    init: (dtype) => INT_RANGE[dtype]?.[1] ?? Infinity,
    step: (a, x) => (x < a || x !== x ? x : a),
  },
  ReduceL1: { init: zero, pre: abs, step: add },
  ReduceL2: { init: zero, pre: square, step: add, finish: (acc) => Math.sqrt(Number(acc)) },
  ReduceSumSquare: { init: zero, pre: square, step: add },
  ReduceLogSum: { init: zero, step: add, finish: (acc) => Math.log(Number(acc)) },
  // log(sum(exp(x))) shifted by the per-output max (computed by `prepare`) to avoid overflow.
  ReduceLogSumExp: {
    init: () => 0,
    prepare(x, map, outSize) {
      const shift = new Float64Array(outSize).fill(-Infinity);
      for (let i = 0; i < x.data.length; i++) {
        const v = Number(x.data[i]);
        if (v > shift[map[i]]) shift[map[i]] = v;
      }
      for (let o = 0; o < outSize; o++) if (!Number.isFinite(shift[o])) shift[o] = 0;
      return shift;
    },
    pre: (x, o, shift) => Math.exp(Number(x) - shift[o]),
    step: add,
    finish: (acc, count, big, o, shift) => Math.log(acc) + shift[o],
  },
};

export const kernels = {};
for (const [op, spec] of Object.entries(reduceSpecs)) kernels[op] = makeReduce(spec);

// ---------------------------------------------------------------------------------------------
// Softmax family

/**
 * Splits a shape into [outer, n, inner] for a softmax-like op along `axis`: before opset 13 the
 * input is flattened to 2-D at `axis` (default 1), from 13 on it works along that single axis
 * (default -1).
 */
function softmaxLayout(shape, attrs, opset) {
  const rank = shape.length;
  if (opset < 13) {
    const axis = normalizeAxis(attrs.axis, Math.max(rank, 1));
    const outer = sizeOf(shape.slice(0, axis));
    return [outer, sizeOf(shape.slice(axis)), 1];
  }
  const axis = normalizeAxis(attrs.axis, rank);
  return [sizeOf(shape.slice(0, axis)), shape[axis], sizeOf(shape.slice(axis + 1))];
}

/** Runs `body(src, dst, base, n, stride, tmp, prec)` on every 1-D lane along the softmax axis. */
function softmaxLike(op, body) {
  return (inputs, attrs, ctx) => {
    const x = inputs[0];
    requireFloat(op, x);
    const [outer, n, inner] = softmaxLayout(x.shape, attrs, ctx.opset);
    const out = ctx.output(0, x.shape, x.dtype);
    const tmp = new Float64Array(n);
    const prec = precisionOf(x.dtype, op);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) body(x.data, out.data, o * n * inner + i, n, inner, tmp, prec);
    }
    return [out];
  };
}

/** Fills tmp with exp(x - max) along the lane and returns their sum. */
function shiftedExp(src, base, n, stride, tmp, prec) {
  let max = -Infinity;
  for (let k = 0; k < n; k++) max = Math.max(max, src[base + k * stride]);
  let sum = 0;
  for (let k = 0; k < n; k++) {
    tmp[k] = prec(Math.exp(prec(src[base + k * stride] - max)));
    sum += tmp[k];
  }
  return prec(sum);
}

kernels.Softmax = softmaxLike('Softmax', (src, dst, base, n, stride, tmp, prec) => {
  const sum = shiftedExp(src, base, n, stride, tmp, prec);
  for (let k = 0; k < n; k++) dst[base + k * stride] = prec(tmp[k] / sum);
});

kernels.LogSoftmax = softmaxLike('LogSoftmax', (src, dst, base, n, stride, tmp, prec) => {
  let max = -Infinity;
  for (let k = 0; k < n; k++) max = Math.max(max, src[base + k * stride]);
  let sum = 0;
  for (let k = 0; k < n; k++) sum += Math.exp(src[base + k * stride] - max);
  const logSum = Math.log(sum);
  for (let k = 0; k < n; k++) dst[base + k * stride] = prec(src[base + k * stride] - max - logSum);
});

// One-hot of the first maximum along the lane (output is zero-initialised).
kernels.Hardmax = softmaxLike('Hardmax', (src, dst, base, n, stride) => {
  let best = 0;
  for (let k = 1; k < n; k++) if (src[base + best * stride] < src[base + k * stride]) best = k;
  if (n > 0) dst[base + best * stride] = 1;
});
