// Kernels: elementwise math — unary, binary and variadic ops with numpy broadcasting, Where.
//
// Integer results are written straight into the output typed array, whose store conversion wraps
// modulo 2^bits like C integer arithmetic (BigInt64Array / BigUint64Array wrap BigInts the same way).
// Products of 32-bit ints use Math.imul so they do not lose bits in float64 first.

import {
  broadcastIndex, broadcastShapes, floatToBigInt, isBigInt, isFloat, requireFloat, rint, roundToDtype, sameShape,
  sizeOf,
} from './util.js';

// ---------------------------------------------------------------------------------------------
// Shared helpers (also used by activation.js)

/**
 * How to walk inputs of shapes `inShapes` broadcast to `outShape`: the output is processed as
 * `outer` rows of `inner` contiguous elements; input i starts row r at `offsets[i][r]` and advances
 * by `steps[i]` (0 or 1) per element. Inputs that are full-size or single-element collapse into one row.
 */
export function broadcastPlan(inShapes, outShape) {
  const n = sizeOf(outShape);
  if (inShapes.every((s) => sizeOf(s) === 1 || sameShape(s, outShape) || n === 0)) {
    return {
      outer: 1, inner: n,
      offsets: inShapes.map(() => [0]),
      steps: inShapes.map((s) => (sizeOf(s) === 1 && n !== 1 ? 0 : 1)),
    };
  }
  const rank = outShape.length;
  const inner = outShape[rank - 1];
  const outerShape = outShape.slice(0, -1);
  const outer = sizeOf(outerShape);
  const offsets = [];
  const steps = [];
  for (const s of inShapes) {
    const padded = [...new Array(rank - s.length).fill(1), ...s];
    const last = padded[rank - 1];
    const rows = broadcastIndex(padded.slice(0, -1), outerShape);
    if (last !== 1) for (let r = 0; r < outer; r++) rows[r] *= last;
    offsets.push(rows);
    steps.push(last === 1 ? 0 : 1);
  }
  return { outer, inner, offsets, steps };
}

/** out[k] = fn(a[k'], b[k'']) with numpy broadcasting; `out` must have the broadcast shape. */
export function mapBinary(a, b, out, fn) {
  const { outer, inner, offsets: [oa, ob], steps: [sa, sb] } = broadcastPlan([a.shape, b.shape], out.shape);
  const A = a.data, B = b.data, O = out.data;
  let k = 0;
  for (let r = 0; r < outer; r++) {
    let ia = oa[r], ib = ob[r];
    for (let j = 0; j < inner; j++, k++, ia += sa, ib += sb) O[k] = fn(A[ia], B[ib]);
  }
  return out;
}

/**
 * Like mapBinary, but `row(O, k, A, ia, sa, B, ib, sb, n)` computes a whole row of `n` outputs
 * from O[k]: one call per row keeps the hot loop monomorphic (each row function is its own literal).
 */
function mapBinaryRows(a, b, out, row) {
  const { outer, inner, offsets: [oa, ob], steps: [sa, sb] } = broadcastPlan([a.shape, b.shape], out.shape);
  for (let r = 0, k = 0; r < outer; r++, k += inner) row(out.data, k, a.data, oa[r], sa, b.data, ob[r], sb, inner);
  return out;
}

// Row loops of the arithmetic ops common in CNNs (see mapBinaryRows).
const ROWS = {
  Add: (O, k, A, ia, sa, B, ib, sb, n) => { for (const e = k + n; k < e; k++, ia += sa, ib += sb) O[k] = A[ia] + B[ib]; },
  Sub: (O, k, A, ia, sa, B, ib, sb, n) => { for (const e = k + n; k < e; k++, ia += sa, ib += sb) O[k] = A[ia] - B[ib]; },
  Mul: (O, k, A, ia, sa, B, ib, sb, n) => { for (const e = k + n; k < e; k++, ia += sa, ib += sb) O[k] = A[ia] * B[ib]; },
  Div: (O, k, A, ia, sa, B, ib, sb, n) => { for (const e = k + n; k < e; k++, ia += sa, ib += sb) O[k] = A[ia] / B[ib]; },
};

/** out[k] = fn(x[k]). */
export function mapUnary(x, out, fn) {
  const X = x.data, O = out.data;
  for (let i = 0; i < X.length; i++) O[i] = fn(X[i]);
  return out;
}

/** A JS number -> element value of `dtype` (BigInt for 64-bit ints; NaN/±Inf -> INT64_MIN like x86). */
export function numberToElement(dtype) {
  if (!isBigInt(dtype)) return (v) => v;
  return floatToBigInt;
}

/** erf(x) to near double precision. */
export function erf(x) {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax > 6) return Math.sign(x);
  let r;
  if (ax < 2.5) {
    // erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_n (2x^2)^n x / (1*3*...*(2n+1)); all terms positive.
    let term = ax, sum = ax;
    const x2 = 2 * ax * ax;
    for (let n = 1; term > sum * 1e-17; n++) {
      term *= x2 / (2 * n + 1);
      sum += term;
    }
    r = (2 / Math.sqrt(Math.PI)) * Math.exp(-ax * ax) * sum;
  } else {
    // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...))))), Lentz's method.
    const tiny = 1e-300;
    let f = ax, c = ax, d = 0;
    for (let n = 1; n < 200; n++) {
      const an = n / 2;
      d = ax + an * d;
      d = d === 0 ? tiny : d;
      c = ax + an / c;
      c = c === 0 ? tiny : c;
      d = 1 / d;
      const delta = c * d;
      f *= delta;
      if (Math.abs(delta - 1) < 1e-16) break;
    }
    r = 1 - Math.exp(-ax * ax) / (Math.sqrt(Math.PI) * f);
  }
  return x < 0 ? -r : r;
}

function requireBool(op, t) {
  if (t.dtype !== 'bool') throw new Error(`${op}: dtype ${t.dtype} is not supported (bool only)`);
}

function requireInteger(op, t) {
  if (isFloat(t.dtype) || t.dtype === 'bool' || t.dtype === 'string') {
    throw new Error(`${op}: dtype ${t.dtype} is not supported (integer types only)`);
  }
}

const INT_BITS = { int8: 8, uint8: 8, int16: 16, uint16: 16, int32: 32, uint32: 32, int64: 64, uint64: 64 };
const isSigned = (dtype) => dtype.startsWith('int');

// ---------------------------------------------------------------------------------------------
// Unary

/** Float-only unary math op: y = fn(x), rounded for float16/bfloat16. */
function floatUnary(fn) {
  return ([x], _attrs, ctx) => {
    requireFloat(ctx.opType, x);
    return [roundToDtype(mapUnary(x, ctx.output(0, x.shape, x.dtype), fn))];
  };
}

/** Unary op on numbers of any numeric dtype; `big` is the BigInt version for int64/uint64. */
function numericUnary(fn, big) {
  return ([x], _attrs, ctx) => {
    if (x.dtype === 'string' || x.dtype === 'bool') throw new Error(`${ctx.opType}: dtype ${x.dtype} is not supported`);
    const out = ctx.output(0, x.shape, x.dtype);
    return [roundToDtype(mapUnary(x, out, isBigInt(x.dtype) ? big : fn))];
  };
}

function isInf([x], attrs, ctx) {
  requireFloat('IsInf', x);
  const pos = attrs.detect_positive !== 0;
  const neg = attrs.detect_negative !== 0;
  return [mapUnary(x, ctx.output(0, x.shape, 'bool'), (v) => ((v === Infinity && pos) || (v === -Infinity && neg) ? 1 : 0))];
}

function isNaN_([x], _attrs, ctx) {
  requireFloat('IsNaN', x);
  return [mapUnary(x, ctx.output(0, x.shape, 'bool'), (v) => (Number.isNaN(v) ? 1 : 0))];
}

function not([x], _attrs, ctx) {
  requireBool('Not', x);
  return [mapUnary(x, ctx.output(0, x.shape, 'bool'), (v) => (v ? 0 : 1))];
}

function bitwiseNot([x], _attrs, ctx) {
  requireInteger('BitwiseNot', x);
  // ~ on a BigInt or int32 gives the two's-complement result; the typed array store wraps it.
  return [mapUnary(x, ctx.output(0, x.shape, x.dtype), (v) => ~v)];
}

// ---------------------------------------------------------------------------------------------
// Binary

/**
 * A broadcasting binary op whose output dtype is the inputs' (or `outDtype`). `pick(dtype, attrs, ctx)`
 * returns the scalar function for the input dtype (or throws if unsupported), or a row loop
 * marked `{ row }` (see mapBinaryRows).
 */
function binary(pick, outDtype) {
  return ([a, b], attrs, ctx) => {
    if (a.dtype !== b.dtype) throw new Error(`${ctx.opType}: input dtypes differ (${a.dtype} vs ${b.dtype})`);
    const fn = pick(a.dtype, attrs, ctx);
    const out = ctx.output(0, broadcastShapes(a.shape, b.shape), outDtype ?? a.dtype);
    if (fn.row) mapBinaryRows(a, b, out, fn.row);
    else mapBinary(a, b, out, fn);
    return [roundToDtype(out)];
  };
}

function numericOnly(ctx, dtype) {
  if (dtype === 'string' || dtype === 'bool') throw new Error(`${ctx.opType}: dtype ${dtype} is not supported`);
}

const add = (x, y) => x + y;

function pickAddSub(row) {
  return (dtype, _attrs, ctx) => {
    numericOnly(ctx, dtype);
    return { row };
  };
}

function pickMul(dtype, _attrs, ctx) {
  numericOnly(ctx, dtype);
  return dtype === 'int32' || dtype === 'uint32' ? Math.imul : { row: ROWS.Mul };
}

function pickDiv(dtype, _attrs, ctx) {
  numericOnly(ctx, dtype);
  if (isFloat(dtype)) return { row: ROWS.Div };
  // Integer division truncates toward zero; division by zero yields 0 (undefined behaviour in C).
  if (isBigInt(dtype)) return (x, y) => (y === 0n ? 0n : x / y);
  return (x, y) => (y === 0 ? 0 : Math.trunc(x / y));
}

function pickMod(dtype, attrs, ctx) {
  numericOnly(ctx, dtype);
  const fmod = !!attrs.fmod;
  if (isFloat(dtype)) {
    if (fmod) return (x, y) => x % y;
    // numpy.mod: result has the sign of the divisor.
    return (x, y) => {
      const r = x % y;
      return r !== 0 && (r < 0) !== (y < 0) ? r + y : r;
    };
  }
  const zero = isBigInt(dtype) ? 0n : 0;
  return (x, y) => {
    if (y === zero) return zero;
    const r = x % y; // truncated remainder (C fmod semantics)
    return !fmod && r !== zero && (r < zero) !== (y < zero) ? r + y : r;
  };
}

function pickBitShift(dtype, attrs, ctx) {
  requireInteger('BitShift', { dtype });
  const dir = attrs.direction;
  if (dir !== 'LEFT' && dir !== 'RIGHT') throw new Error(`BitShift: direction=${dir} is not supported`);
  const bits = INT_BITS[dtype];
  const signed = isSigned(dtype);
  if (isBigInt(dtype)) {
    const width = BigInt(bits);
    if (dir === 'LEFT') return (x, s) => (s < 0n || s >= width ? 0n : x << s);
    return (x, s) => (s < 0n || s >= width ? (x < 0n ? -1n : 0n) : x >> s);
  }
  if (dir === 'LEFT') return (x, s) => (s < 0 || s >= bits ? 0 : x << s);
  // Values of narrower types fit in int32/uint32, so >> (signed) and >>> (unsigned) are exact.
  if (signed) return (x, s) => (s < 0 || s >= bits ? (x < 0 ? -1 : 0) : x >> s);
  return (x, s) => (s < 0 || s >= bits ? 0 : x >>> s);
}

function pickBitwise(fn) {
  return (dtype, _attrs, ctx) => {
    requireInteger(ctx.opType, { dtype });
    return fn;
  };
}

function pickLogical(fn) {
  return (dtype, _attrs, ctx) => {
    requireBool(ctx.opType, { dtype });
    return fn;
  };
}

function pickCompare(fn) {
  return () => fn;
}

/** Integer power by squaring with wrap-around, for non-BigInt integer dtypes. */
function intPow(base, exp) {
  if (exp < 0) return base === 1 ? 1 : base === -1 ? (exp % 2 ? -1 : 1) : 0;
  let result = 1;
  let b = base | 0;
  for (let e = exp; e > 0; e = Math.floor(e / 2)) {
    if (e % 2) result = Math.imul(result, b);
    b = Math.imul(b, b);
  }
  return result;
}

function bigPow(base, exp) {
  if (exp < 0n) return base === 1n ? 1n : base === -1n ? (exp % 2n ? -1n : 1n) : 0n;
  let result = 1n;
  let b = BigInt.asIntN(64, base);
  for (let e = exp; e > 0n; e >>= 1n) {
    if (e & 1n) result = BigInt.asIntN(64, result * b);
    b = BigInt.asIntN(64, b * b);
  }
  return result;
}

/** Pow: base and exponent may have different dtypes; the output has the base's dtype. */
function pow([a, b], _attrs, ctx) {
  numericOnly(ctx, a.dtype);
  numericOnly(ctx, b.dtype);
  const out = ctx.output(0, broadcastShapes(a.shape, b.shape), a.dtype);
  let fn;
  if (isFloat(a.dtype)) {
    fn = isBigInt(b.dtype) ? (x, y) => Math.pow(x, Number(y)) : Math.pow;
  } else if (!isFloat(b.dtype)) {
    // Integer ** integer: exact, wrapping like numpy.
    if (isBigInt(a.dtype)) fn = (x, y) => bigPow(x, BigInt(y));
    else fn = (x, y) => intPow(x, Number(y));
  } else {
    const conv = numberToElement(a.dtype);
    fn = (x, y) => conv(Math.pow(Number(x), y));
  }
  return [roundToDtype(mapBinary(a, b, out, fn))];
}

// ---------------------------------------------------------------------------------------------
// Variadic (Sum, Mean, Max, Min) and Where

/** Folds all inputs with `pick(dtype)`'s function, broadcasting them to their common shape. */
function variadic(pick, { finish, floatOnly = false } = {}) {
  return (inputs, _attrs, ctx) => {
    const xs = inputs.filter((t) => t);
    if (xs.length === 0) throw new Error(`${ctx.opType}: needs at least one input`);
    const dtype = xs[0].dtype;
    for (const t of xs) {
      if (t.dtype !== dtype) throw new Error(`${ctx.opType}: input dtypes differ (${dtype} vs ${t.dtype})`);
    }
    numericOnly(ctx, dtype);
    if (floatOnly) requireFloat(ctx.opType, xs[0]);
    const out = ctx.output(0, broadcastShapes(...xs.map((t) => t.shape)), dtype);
    mapBinary(out, xs[0], out, (_o, x) => x);
    const f = pick(dtype);
    for (let i = 1; i < xs.length; i++) mapBinary(out, xs[i], out, f);
    if (finish) finish(out, xs.length);
    return [roundToDtype(out)];
  };
}

// Math.max/min propagate NaN like numpy.maximum/minimum; BigInts need plain comparisons.
const maxOf = (dtype) => (isBigInt(dtype) ? (x, y) => (x > y ? x : y) : Math.max);
const minOf = (dtype) => (isBigInt(dtype) ? (x, y) => (x < y ? x : y) : Math.min);

function where([cond, x, y], _attrs, ctx) {
  if (x.dtype !== y.dtype) throw new Error(`Where: X and Y dtypes differ (${x.dtype} vs ${y.dtype})`);
  const out = ctx.output(0, broadcastShapes(cond.shape, x.shape, y.shape), x.dtype);
  const { outer, inner, offsets: [oc, ox, oy], steps: [sc, sx, sy] } =
    broadcastPlan([cond.shape, x.shape, y.shape], out.shape);
  const C = cond.data, X = x.data, Y = y.data, O = out.data;
  let k = 0;
  for (let r = 0; r < outer; r++) {
    let ic = oc[r], ix = ox[r], iy = oy[r];
    for (let j = 0; j < inner; j++, k++, ic += sc, ix += sx, iy += sy) O[k] = C[ic] ? X[ix] : Y[iy];
  }
  return [out];
}

// ---------------------------------------------------------------------------------------------

export const kernels = {
  Abs: numericUnary(Math.abs, (v) => (v < 0n ? -v : v)),
  Neg: numericUnary((v) => -v, (v) => -v),
  Sign: numericUnary(Math.sign, (v) => (v > 0n ? 1n : v < 0n ? -1n : 0n)),
  Ceil: floatUnary(Math.ceil),
  Floor: floatUnary(Math.floor),
  Round: floatUnary(rint),
  Sqrt: floatUnary(Math.sqrt),
  Reciprocal: floatUnary((v) => 1 / v),
  Exp: floatUnary(Math.exp),
  Log: floatUnary(Math.log),
  Sin: floatUnary(Math.sin),
  Cos: floatUnary(Math.cos),
  Tan: floatUnary(Math.tan),
  Asin: floatUnary(Math.asin),
  Acos: floatUnary(Math.acos),
  Atan: floatUnary(Math.atan),
  Sinh: floatUnary(Math.sinh),
  Cosh: floatUnary(Math.cosh),
  Asinh: floatUnary(Math.asinh),
  Acosh: floatUnary(Math.acosh),
  Atanh: floatUnary(Math.atanh),
  Erf: floatUnary(erf),
  IsNaN: isNaN_,
  IsInf: isInf,
  Not: not,
  BitwiseNot: bitwiseNot,

  Add: binary(pickAddSub(ROWS.Add)),
  Sub: binary(pickAddSub(ROWS.Sub)),
  Mul: binary(pickMul),
  Div: binary(pickDiv),
  Mod: binary(pickMod),
  Pow: pow,
  BitShift: binary(pickBitShift),
  And: binary(pickLogical((x, y) => x & y)),
  Or: binary(pickLogical((x, y) => x | y)),
  Xor: binary(pickLogical((x, y) => x ^ y)),
  BitwiseAnd: binary(pickBitwise((x, y) => x & y)),
  BitwiseOr: binary(pickBitwise((x, y) => x | y)),
  BitwiseXor: binary(pickBitwise((x, y) => x ^ y)),
  Equal: binary(pickCompare((x, y) => (x === y ? 1 : 0)), 'bool'),
  Greater: binary(pickCompare((x, y) => (x > y ? 1 : 0)), 'bool'),
  GreaterOrEqual: binary(pickCompare((x, y) => (x >= y ? 1 : 0)), 'bool'),
  Less: binary(pickCompare((x, y) => (x < y ? 1 : 0)), 'bool'),
  LessOrEqual: binary(pickCompare((x, y) => (x <= y ? 1 : 0)), 'bool'),

  Sum: variadic(() => add),
  Mean: variadic(() => add, {
    floatOnly: true,
    finish: (out, n) => { for (let i = 0; i < out.data.length; i++) out.data[i] /= n; },
  }),
  Max: variadic(maxOf),
  Min: variadic(minOf),
  Where: where,
};
