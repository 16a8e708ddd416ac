// Kernels: activation functions, plus applyActivation() for activations fused into a producing op.

import { broadcastShapes, isBigInt, requireFloat, roundToDtype } from './util.js';
import { erf, mapBinary, mapUnary } from './elementwise.js';

/** Numerically stable logistic function. */
function sigmoid(x) {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** log(1 + exp(x)) without overflow for large x. */
function softplus(x) {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

// Each entry: attrs -> scalar function (for float inputs). Exported for the contrib kernels (contrib.js).
// Attributes arrive with their declared defaults filled in (the compiler: webdnn_build/opdecl.py).
export const FLOAT_ACTIVATIONS = {
  LeakyRelu: ({ alpha }) => (x) => (x < 0 ? alpha * x : x),
  Elu: ({ alpha }) => (x) => (x < 0 ? alpha * (Math.exp(x) - 1) : x),
  Selu: ({ alpha, gamma }) => (x) => (x <= 0 ? gamma * alpha * (Math.exp(x) - 1) : gamma * x),
  Celu: ({ alpha }) => (x) => Math.max(0, x) + Math.min(0, alpha * (Math.exp(x / alpha) - 1)),
  HardSigmoid: ({ alpha, beta }) => (x) => Math.max(0, Math.min(1, alpha * x + beta)),
  HardSwish: () => (x) => x * Math.max(0, Math.min(1, x / 6 + 0.5)),
  Softplus: () => softplus,
  Softsign: () => (x) => x / (1 + Math.abs(x)),
  Sigmoid: () => sigmoid,
  Tanh: () => Math.tanh,
  Gelu: ({ approximate }) => {
    if (approximate === 'none') return (x) => 0.5 * x * (1 + erf(x / Math.SQRT2));
    if (approximate === 'tanh') return (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
    throw new Error(`Gelu: approximate=${approximate} is not supported`);
  },
  Mish: () => (x) => x * Math.tanh(softplus(x)),
  Swish: ({ alpha }) => (x) => x * sigmoid(alpha * x),
  ThresholdedRelu: ({ alpha }) => (x) => (x > alpha ? x : 0),
};

function floatActivation(makeFn) {
  return ([x], attrs, ctx) => {
    requireFloat(ctx.opType, x);
    return [roundToDtype(mapUnary(x, ctx.output(0, x.shape, x.dtype), makeFn(attrs)))];
  };
}

/** Relu accepts signed integer types too (opset 14). A dedicated loop: it is the hottest activation. */
function relu([x], _attrs, ctx) {
  const out = ctx.output(0, x.shape, x.dtype);
  const X = x.data, O = out.data;
  const zero = isBigInt(x.dtype) ? 0n : 0;
  for (let i = 0; i < X.length; i++) O[i] = X[i] < zero ? zero : X[i]; // NaN propagates, as in numpy
  return [out];
}

/** PRelu: slope broadcasts (unidirectionally) to X; integer types allowed (opset 16). */
function prelu([x, slope], _attrs, ctx) {
  const out = ctx.output(0, broadcastShapes(x.shape, slope.shape), x.dtype);
  const zero = isBigInt(x.dtype) ? 0n : 0;
  const fn = x.dtype === 'int32' || x.dtype === 'uint32'
    ? (v, s) => (v < 0 ? Math.imul(s, v) : v)
    : (v, s) => (v < zero ? s * v : v);
  return [roundToDtype(mapBinary(x, slope, out, fn))];
}

/** Shrink works on every numeric type; integers compute in float64 and truncate on store. */
function shrink([x], attrs, ctx) {
  const { bias, lambd } = attrs;
  const big = isBigInt(x.dtype);
  const fn = (v) => {
    const n = Number(v);
    const r = n < -lambd ? n + bias : n > lambd ? n - bias : 0;
    return big ? BigInt(Math.trunc(r)) : r;
  };
  return [roundToDtype(mapUnary(x, ctx.output(0, x.shape, x.dtype), fn))];
}

/** Clip: bounds are attributes before opset 11, optional scalar inputs from 11; any numeric dtype. */
function clip([x, minT, maxT], attrs, ctx) {
  let lo, hi;
  if (ctx.opset < 11) {
    lo = attrs.min; // (declared defaults: the float32 range)
    hi = attrs.max;
  } else {
    lo = minT ? minT.data[0] : undefined;
    hi = maxT ? maxT.data[0] : undefined;
  }
  const out = ctx.output(0, x.shape, x.dtype);
  if (isBigInt(x.dtype)) {
    const fn = (v) => {
      if (lo !== undefined && v < lo) v = lo;
      if (hi !== undefined && v > hi) v = hi;
      return v;
    };
    return [mapUnary(x, out, fn)];
  }
  lo = lo ?? -Infinity;
  hi = hi ?? Infinity;
  // Like numpy.clip: min(max(x, lo), hi), NaN propagates.
  return [roundToDtype(mapUnary(x, out, (v) => Math.min(Math.max(v, lo), hi)))];
}

/**
 * The scalar function of each fused-activation kind (see applyActivation), given the producer's attributes.
 * The kinds and their parameters (fused_activation_alpha / _beta / _min / _max, every one a kind declares is
 * in the bundle) are the contract of webdnn_build/opdecl.py; tests/test_opdecl.py checks that each is here.
 */
export const FUSED_ACTIVATIONS = {
  Relu: () => (x) => (x < 0 ? 0 : x),
  LeakyRelu: (a) => FLOAT_ACTIVATIONS.LeakyRelu({ alpha: a.fused_activation_alpha }),
  Clip: (a) => {
    const lo = a.fused_activation_min, hi = a.fused_activation_max;
    return (x) => Math.min(Math.max(x, lo), hi);
  },
  Sigmoid: () => sigmoid,
  Tanh: () => Math.tanh,
  HardSigmoid: (a) => FLOAT_ACTIVATIONS.HardSigmoid({ alpha: a.fused_activation_alpha, beta: a.fused_activation_beta }),
  HardSwish: () => FLOAT_ACTIVATIONS.HardSwish({}),
  Swish: (a) => FLOAT_ACTIVATIONS.Swish({ alpha: a.fused_activation_alpha }),
};

function fusedActivationFn(attrs) {
  const kind = attrs.fused_activation;
  const make = Object.hasOwn(FUSED_ACTIVATIONS, kind) ? FUSED_ACTIVATIONS[kind] : null;
  if (!make) throw new Error(`fused activation ${attrs.fused_activation} is not supported`);
  return make(attrs);
}

/**
 * Applies the fused activation described by `attrs.fused_activation` (+ fused_activation_alpha / _beta /
 * _min / _max) to a float tensor, in place. Returns the tensor.
 */
export function applyActivation(tensor, attrs) {
  const fn = fusedActivationFn(attrs);
  requireFloat(`fused ${attrs.fused_activation}`, tensor);
  const d = tensor.data;
  if (attrs.fused_activation === 'Relu') {
    for (let i = 0; i < d.length; i++) if (d[i] < 0) d[i] = 0;
  } else {
    for (let i = 0; i < d.length; i++) d[i] = fn(d[i]);
  }
  return roundToDtype(tensor);
}

export const kernels = {
  Relu: relu,
  PRelu: prelu,
  Shrink: shrink,
  Clip: clip,
};
for (const [op, makeFn] of Object.entries(FLOAT_ACTIVATIONS)) kernels[op] = floatActivation(makeFn);
