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

/** A new tensor; `data` is allocated (zero-filled) when not given. */
export function makeTensor(dtype, shape, data) {
  const Ctor = TYPED_ARRAYS[dtype];
  if (!Ctor) throw new Error(`unsupported dtype ${dtype}`);
  const n = sizeOf(shape);
  if (data === undefined) {
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

/** Round a number to the nearest float16 value (round-half-even), returned as a float. */
export function roundFloat16(x) {
  return float16BitsToNumber(numberToFloat16Bits(x));
}

/** Round a number to the nearest bfloat16 value (round-half-even). */
export function roundBFloat16(x) {
  return bfloat16BitsToNumber(numberToBFloat16Bits(x));
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
