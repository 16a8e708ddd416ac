// Shared helpers for the js backend's kernels: tensors, dtypes, shapes, broadcasting.
//
// A Tensor is { dtype, shape, data }:
//   dtype  one of the names in TYPED_ARRAYS (plus 'string')
//   shape  array of non-negative integers ([] for a scalar)
//   data   typed array of the dtype's storage type, row-major, length = product(shape)
// float16 / bfloat16 are stored as Float32Array inside the js backend (see roundFloat16).

export const TYPED_ARRAYS = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Float32Array,
  bfloat16: Float32Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
  string: Array,
};

export const FLOAT_DTYPES = new Set(['float32', 'float64', 'float16', 'bfloat16']);
export const BIGINT_DTYPES = new Set(['int64', 'uint64']);

export function isFloat(dtype) { return FLOAT_DTYPES.has(dtype); }
export function isBigInt(dtype) { return BIGINT_DTYPES.has(dtype); }

export function sizeOf(shape) {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** The most bytes one tensor may take (as MAX_TENSOR_BYTES in src/bundle.js). */
const MAX_TENSOR_BYTES = 2 ** 31;

/** A new typed array of `n` elements for kernel scratch space, refused with an Error when `n` is absurd. */
export function newScratch(Ctor, n, what = 'scratch space') {
  if (!(Number.isSafeInteger(n) && n >= 0) || n * Ctor.BYTES_PER_ELEMENT > MAX_TENSOR_BYTES) {
    throw new Error(`${what} of ${n} elements is over the limit of ${MAX_TENSOR_BYTES} bytes, or not a valid size`);
  }
  return new Ctor(n);
}

/** A new tensor; `data` is allocated (zero-filled) when not given. */
export function makeTensor(dtype, shape, data) {
  const Ctor = TYPED_ARRAYS[dtype];
  if (!Ctor) throw new Error(`unsupported dtype ${dtype}`);
  const n = sizeOf(shape);
  if (data === undefined) {
    // a corrupted program (or absurd attributes) must fail here with a clear Error, not a RangeError
    const bytes = n * (Ctor.BYTES_PER_ELEMENT ?? 8);
    if (!(Number.isSafeInteger(n) && n >= 0) || bytes > MAX_TENSOR_BYTES) {
      throw new Error(`a tensor of shape [${shape}] (${n} elements of ${dtype}) is over the limit of ${MAX_TENSOR_BYTES} bytes, or not a valid size`);
    }
    data = dtype === 'string' ? new Array(n).fill('') : new Ctor(n);
  }
  return { dtype, shape: [...shape], data };
}

/** Row-major strides of a shape. */
export function stridesOf(shape) {
  const strides = new Array(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/** Numpy-style broadcast of several shapes; throws on mismatch. */
export function broadcastShapes(...shapes) {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = rank - s.length + i;
      const d = s[i];
      if (d === out[o] || d === 1) continue;
      if (out[o] === 1) out[o] = d;
      else throw new Error(`shapes [${shapes.map((x) => x.join(',')).join('] and [')}] cannot be broadcast`);
    }
  }
  return out;
}

/**
 * For an input of shape `inShape` broadcast to `outShape`: an Int32Array (or plain
 * array) mapping each flat output index to the flat input index.
 */
export function broadcastIndex(inShape, outShape) {
  const n = sizeOf(outShape);
  const map = new Int32Array(n);
  const rank = outShape.length;
  const inStrides = stridesOf(inShape);
  const eff = new Array(rank).fill(0); // input stride per output axis (0 where broadcast)
  for (let i = 0; i < inShape.length; i++) {
    const o = rank - inShape.length + i;
    eff[o] = inShape[i] === 1 ? 0 : inStrides[i];
  }
  const idx = new Array(rank).fill(0);
  let src = 0;
  for (let k = 0; k < n; k++) {
    map[k] = src;
    for (let a = rank - 1; a >= 0; a--) {
      idx[a]++;
      src += eff[a];
      if (idx[a] < outShape[a]) break;
      src -= eff[a] * outShape[a];
      idx[a] = 0;
    }
  }
  return map;
}

/** True when two shapes are equal. */
export function sameShape(a, b) {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Tensor (any dtype, typically int64 shape/axes inputs) -> array of JS numbers. */
export function toNumbers(t) {
  if (t === null || t === undefined) return null;
  const out = new Array(t.data.length);
  for (let i = 0; i < t.data.length; i++) out[i] = Number(t.data[i]);
  return out;
}

/** A single scalar (first element) as a JS number. */
export function scalarOf(t) {
  return Number(t.data[0]);
}

/** Negative axis -> positive; throws when out of range. */
export function normalizeAxis(axis, rank) {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= Math.max(rank, 1)) throw new Error(`axis ${axis} out of range for rank ${rank}`);
  return a;
}

/** Convert a JS number to the element representation of `dtype` (BigInt for 64-bit ints). */
export function castScalar(value, dtype) {
  if (isBigInt(dtype)) return BigInt(Math.trunc(Number(value)));
  return Number(value);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * Rounds a float64 to the nearest value (half to even) of a binary float format with `mantBits`
 * stored mantissa bits and exponent range [minExp, maxExp], without going through float32 first
 * (so float64 values are not double-rounded).
 */
function roundToFormat(x, mantBits, minExp, maxExp) {
  const ax = Math.abs(x);
  if (ax === 0 || Number.isNaN(x)) return x;
  if (ax >= (2 - 2 ** -(mantBits + 1)) * 2 ** maxExp) return x > 0 ? Infinity : -Infinity;
  let e = Math.floor(Math.log2(ax));
  if (2 ** e > ax) e--; // log2 may round up just below a power of two
  const ulp = 2 ** (Math.max(e, minExp) - mantBits);
  const q = ax / ulp; // exact: scaling by a power of two
  let r = Math.round(q);
  if (r - q === 0.5 && r % 2) r -= 1; // Math.round breaks ties upward; ONNX wants ties to even
  return (x < 0 ? -r : r) * ulp;
}

// roundFloat16 / roundBFloat16 take the bit-twiddling path for values that are exact float32s (the
// common case: data stored in Float32Arrays; both paths agree there) and roundToFormat otherwise.

/** Round a number to the nearest float16 value (round-half-even, no double rounding), returned as a float. */
export function roundFloat16(x) {
  return Math.fround(x) === x ? float16BitsToNumber(numberToFloat16Bits(x)) : roundToFormat(x, 10, -14, 15);
}

/** Round a number to the nearest bfloat16 value (round-half-even, no double rounding), returned as a float. */
export function roundBFloat16(x) {
  return Math.fround(x) === x ? bfloat16BitsToNumber(numberToBFloat16Bits(x)) : roundToFormat(x, 7, -126, 127);
}

/** Element rounding for float16/bfloat16 results stored in Float32Arrays; null for other dtypes. */
export function rounderFor(dtype) {
  if (dtype === 'float16') return roundFloat16;
  if (dtype === 'bfloat16') return roundBFloat16;
  return null;
}

const identity = (x) => x;

/** Rounding of a computed number to a float dtype's precision (float32 and float64 included); throws for non-float dtypes. */
export function precisionOf(dtype, op = 'precisionOf') {
  if (dtype === 'float32') return Math.fround;
  if (dtype === 'float64') return identity;
  const round = rounderFor(dtype);
  if (!round) throw new Error(`${op}: precision type ${dtype} is not supported (float types only)`);
  return round;
}

/** Round a float16/bfloat16 tensor's values (stored as float32) to their precision, in place; returns the tensor. */
export function roundToDtype(t) {
  const round = rounderFor(t.dtype);
  if (round) {
    const d = t.data;
    for (let i = 0; i < d.length; i++) d[i] = round(d[i]);
  }
  return t;
}

/** Round half to even, like numpy's rint / ONNX Round. */
export function rint(x) {
  const r = Math.round(x);
  // Math.round rounds halves up; move exact .5 ties that landed on an odd value back down.
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const INT64_MIN = -(2n ** 63n);

/** float -> int64/uint64 element: truncate toward zero; NaN/±Inf give INT64_MIN (the x86 result). */
export function floatToBigInt(v) {
  return Number.isFinite(v) ? BigInt(Math.trunc(v)) : INT64_MIN;
}

/** Throws unless `t` has a float dtype (float32/float64/float16/bfloat16). */
export function requireFloat(op, t) {
  if (!isFloat(t.dtype)) throw new Error(`${op}: dtype ${t.dtype} is not supported (float types only)`);
}

/** ONNX TensorProto.DataType enum value -> dtype name (the types the js backend stores). */
export const ONNX_DTYPES = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string',
  9: 'bool', 10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64', 16: 'bfloat16',
};

const UNSUPPORTED_ONNX_DTYPES = {
  14: 'complex64', 15: 'complex128', 17: 'float8e4m3fn', 18: 'float8e4m3fnuz', 19: 'float8e5m2',
  20: 'float8e5m2fnuz', 21: 'uint4', 22: 'int4', 23: 'float4e2m1', 24: 'float8e8m0', 25: 'uint2', 26: 'int2',
};

/** TensorProto.DataType enum value -> dtype name; throws a clear error for types the js backend lacks. */
export function dtypeFromOnnx(code, op = 'dtypeFromOnnx') {
  const dtype = ONNX_DTYPES[code];
  if (dtype) return dtype;
  const name = UNSUPPORTED_ONNX_DTYPES[code];
  throw new Error(name ? `${op}: data type ${name} (${code}) is not supported` : `${op}: unknown ONNX data type ${code}`);
}

export function numberToFloat16Bits(x) {
  f32[0] = x;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf / nan
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow -> inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow -> 0
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return sign | half;
}

export function float16BitsToNumber(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

export function numberToBFloat16Bits(x) {
  f32[0] = x;
  const bits = u32[0];
  if (Number.isNaN(x)) return 0x7fc0;
  const lsb = (bits >>> 16) & 1;
  return ((bits + 0x7fff + lsb) >>> 16) & 0xffff;
}

export function bfloat16BitsToNumber(b) {
  u32[0] = (b & 0xffff) << 16;
  return f32[0];
}

/** Iterate over all multi-indices of `shape`, calling fn(flatIndex, indexArray). */
export function forEachIndex(shape, fn) {
  const n = sizeOf(shape);
  const idx = new Array(shape.length).fill(0);
  for (let k = 0; k < n; k++) {
    fn(k, idx);
    for (let a = shape.length - 1; a >= 0; a--) {
      if (++idx[a] < shape[a]) break;
      idx[a] = 0;
    }
  }
}
