// Constant descriptors ({ encoding: raw | fill | json | fp16 | int8 | int4 | eightbit, dtype, shape, ... }, see
// docs/bundle-format.md) decoded into the js backend's tensors ({ dtype, shape, data }, float16/bfloat16
// widened to Float32Array). Every backend decodes its constants here, once at load.

import {
  TYPED_ARRAYS,
  bfloat16BitsToNumber,
  float16BitsToNumber,
  isBigInt,
} from './backends/js/kernels/util.js';
import { MAX_TENSOR_BYTES, checkCount, checkShape, describe } from './bundle.js';
import { asWeightStore, typedView } from './weight-store.js';


/** True when `x` looks like a constant descriptor (as in program values and tensor attributes). */
export function isConstDescriptor(x) {
  return x !== null && typeof x === 'object' && !Array.isArray(x) && typeof x.encoding === 'string' && 'dtype' in x;
}

/** Number or BigInt for one element given in JSON (numbers, decimal strings, "nan"/"inf", booleans). */
function jsonElement(v, dtype) {
  if (isBigInt(dtype)) {
    if (typeof v === 'bigint') return v;
    if (typeof v === 'boolean') return v ? 1n : 0n;
    if (typeof v === 'number' && Number.isFinite(v)) return BigInt(Math.trunc(v));
    if (typeof v === 'string' && /^\s*[+-]?\d+\s*$/.test(v)) return BigInt(v.trim());
    throw new Error(`bad ${dtype} value ${describe(v)}`);
  }
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') throw new Error(`bad ${dtype} value ${describe(v)}`);
  const s = v.trim().toLowerCase();
  if (s === 'nan') return NaN;
  if (s === 'inf' || s === '+inf' || s === 'infinity' || s === '+infinity') return Infinity;
  if (s === '-inf' || s === '-infinity') return -Infinity;
  const n = Number(s);
  if (Number.isNaN(n) || s === '') throw new Error(`bad ${dtype} value ${describe(v)}`);
  return n;
}

/**
 * Decodes a constant descriptor into a js-backend Tensor.
 * Raw data is viewed in place when aligned (the tensor must then be treated as read-only), copied otherwise.
 * A descriptor whose shape is not a list of non-negative integers, whose size is over
 * MAX_TENSOR_BYTES, or whose bytes lie outside the weights is refused with an Error.
 *
 * @param {object} desc constant descriptor (docs/bundle-format.md)
 * @param {import('./weight-store.js').WeightStore | Uint8Array} weights the bundle's weights
 * @returns {{dtype: string, shape: number[], data: any}}
 */
export function decodeConstant(desc, weights) {
  const store = asWeightStore(weights);
  if (desc === null || typeof desc !== 'object') throw new Error(`constant descriptor is ${describe(desc)}, not an object`);
  const { encoding, dtype } = desc;
  const Ctor = typeof dtype === 'string' && Object.hasOwn(TYPED_ARRAYS, dtype) ? TYPED_ARRAYS[dtype] : null;
  if (!Ctor) throw new Error(`constant has unsupported dtype ${describe(dtype)}`);
  const shape = desc.shape ?? [];
  // strings: Array elements (8 bytes each, for the limit)
  const n = checkShape(`${encoding} constant: "shape"`, shape, Ctor.BYTES_PER_ELEMENT ?? 8);

  if (encoding === 'fill') {
    if (dtype === 'string') return { dtype, shape: [...shape], data: new Array(n).fill(String(desc.value ?? '')) };
    const v = jsonElement(desc.value ?? 0, dtype);
    const data = new Ctor(n);
    if (v !== 0 && v !== 0n) data.fill(v);
    return { dtype, shape: [...shape], data };
  }

  if (encoding === 'json') {
    const values = Array.isArray(desc.value) ? desc.value.flat(Infinity) : [desc.value];
    if (values.length !== n) throw new Error(`json constant has ${values.length} elements, shape [${shape}] needs ${n}`);
    if (dtype === 'string') return { dtype, shape: [...shape], data: values.map(String) };
    const data = new Ctor(n);
    for (let i = 0; i < n; i++) data[i] = jsonElement(values[i], dtype);
    return { dtype, shape: [...shape], data };
  }

  if (encoding === 'raw') {
    if (dtype === 'string') throw new Error('string constants cannot use the raw encoding');
    const offset = checkCount('raw constant: "offset"', desc.offset ?? 0, Number.MAX_SAFE_INTEGER);
    const byteLength = checkCount('raw constant: "byteLength"', desc.byteLength, MAX_TENSOR_BYTES);
    const width = dtype === 'float16' || dtype === 'bfloat16' ? 2 : Ctor.BYTES_PER_ELEMENT;
    if (byteLength !== n * width) throw new Error(`raw ${dtype} constant of shape [${shape}] needs ${n * width} bytes, has ${byteLength}`);
    const bytes = store.bytes(offset, byteLength, 'raw constant');
    if (width === 2 && Ctor === Float32Array) {
      const bits = typedView(Uint16Array, bytes, n);
      const toNumber = dtype === 'float16' ? float16BitsToNumber : bfloat16BitsToNumber;
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = toNumber(bits[i]);
      return { dtype, shape: [...shape], data };
    }
    return { dtype, shape: [...shape], data: typedView(Ctor, bytes, n) };
  }

  if (encoding === 'fp16' || encoding === 'int8') return decodeCompressed(desc, store, shape, n);
  if (encoding === 'int4') return decodeInt4(desc, store, shape, n);
  if (encoding === 'eightbit') return decodeEightbit(desc, store, shape, n);

  throw new Error(`constant has unknown encoding ${describe(encoding)}`);
}

/**
 * A 2-D product weight stored as 4-bit blocks (compress.py _int4): per output column n (the axis that is not
 * `axis`) and block b of `block` elements along `axis`, codes q at (n * blocks + b) * block / 2 (two a byte, the
 * first in the low nibble), w = (q - 8) * scale[n * blocks + b], the float32 scales at `scalesOffset`.
 */
function decodeInt4(desc, store, shape, n) {
  if (desc.dtype !== 'float32' || shape.length !== 2) throw new Error('int4 constant must be a 2-D float32 tensor');
  const axis = desc.axis, block = desc.block;
  if (axis !== 0 && axis !== 1) throw new Error(`int4 constant: "axis" ${describe(axis)} must be 0 or 1`);
  if (!Number.isInteger(block) || block < 2 || block % 2 !== 0 || block > 4096) throw new Error(`int4 constant: bad "block" ${describe(block)}`);
  const K = shape[axis], N = shape[1 - axis], blocks = Math.ceil(K / block);
  const offset = checkCount('int4 constant: "offset"', desc.offset ?? 0, Number.MAX_SAFE_INTEGER);
  const byteLength = checkCount('int4 constant: "byteLength"', desc.byteLength, MAX_TENSOR_BYTES);
  if (byteLength !== N * blocks * (block / 2)) throw new Error(`int4 constant of shape [${shape}] needs ${N * blocks * (block / 2)} bytes, has ${byteLength}`);
  const so = checkCount('int4 constant: "scalesOffset"', desc.scalesOffset, Number.MAX_SAFE_INTEGER);
  const q = store.bytes(offset, byteLength, 'int4 constant');
  const scales = typedView(Float32Array, store.bytes(so, N * blocks * 4, 'int4 constant: its scales'), N * blocks);
  const data = new Float32Array(n);
  const half = block / 2;
  for (let c = 0; c < N; c++) {
    for (let k = 0; k < K; k++) {
      const b = Math.floor(k / block), j = k - b * block;
      const byte = q[(c * blocks + b) * half + (j >> 1)];
      const code = j & 1 ? byte >> 4 : byte & 15;
      data[axis === 0 ? k * N + c : c * K + k] = (code - 8) * scales[c * blocks + b];
    }
  }
  return { dtype: 'float32', shape: [...shape], data };
}

/**
 * The eightbit table (webdnn_build/compress.py _eightbit_magnitudes): code c = 16 e + m (7 bits) is the magnitude of a
 * float with a 3-bit exponent e and a 4-bit mantissa m in units of its smallest step, m for e = 0, else
 * (16 + m) * 2^(e - 1): the integers 0, 1, ..., 31, 32, 34, ..., 1984. Integer arithmetic only, so this table is
 * the compiler's to the bit.
 */
const EIGHTBIT_MAGNITUDES = Array.from({ length: 128 }, (_, c) => (c < 16 ? c : (16 + (c & 15)) << ((c >> 4) - 1)));

/**
 * A float32 constant stored as eightbit codes (compress.py _eightbit, WebDNN's encoding reworked): a byte per element,
 * bit 7 the sign, bits 0-6 an index into EIGHTBIT_MAGNITUDES; w = ±magnitude * scale, `scale` (a float32, in the
 * descriptor) = max|w| / 1984. The 256 possible values are computed once (float32 products, as the compiler
 * computed them: an integer up to 1984 times a float32 is exact in a JS number, then rounded once), then looked up.
 */
function decodeEightbit(desc, store, shape, n) {
  if (desc.dtype !== 'float32') throw new Error(`eightbit constant must be float32, not ${describe(desc.dtype)}`);
  const offset = checkCount('eightbit constant: "offset"', desc.offset ?? 0, Number.MAX_SAFE_INTEGER);
  const byteLength = checkCount('eightbit constant: "byteLength"', desc.byteLength, MAX_TENSOR_BYTES);
  if (byteLength !== n) throw new Error(`eightbit constant of shape [${shape}] needs ${n} bytes (one per element), has ${byteLength}`);
  const scale = typeof desc.scale === 'number' ? Math.fround(desc.scale) : NaN;
  if (!Number.isFinite(Math.fround(EIGHTBIT_MAGNITUDES[127] * scale)) || scale < 0) { // (NaN included)
    throw new Error(`eightbit constant: "scale" ${describe(desc.scale)} must be a non-negative float32 number, 1984 times it finite`);
  }
  const codes = store.bytes(offset, byteLength, 'eightbit constant');
  const values = new Float32Array(256);
  for (let b = 0; b < 256; b++) values[b] = (b & 128 ? -EIGHTBIT_MAGNITUDES[b & 127] : EIGHTBIT_MAGNITUDES[b]) * scale;
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = values[codes[i]];
  return { dtype: 'float32', shape: [...shape], data };
}

/**
 * A float32 constant stored compressed (webdnn_build/compress.py, `--quantize`), widened once at load:
 *   fp16: IEEE half precision;
 *   int8: with `axis`, symmetric per channel along it (q * scale[c], float32 scales at `scalesOffset`); else
 *         per tensor, (q - zeroPoint) * scale.
 * Products are float32 (two float32 values multiplied in float64 are exact, then rounded once), as the compiler
 * computed them.
 */
function decodeCompressed(desc, store, shape, n) {
  const { encoding } = desc;
  if (desc.dtype !== 'float32') throw new Error(`${encoding} constant must be float32, not ${describe(desc.dtype)}`);
  const offset = checkCount(`${encoding} constant: "offset"`, desc.offset ?? 0, Number.MAX_SAFE_INTEGER);
  const byteLength = checkCount(`${encoding} constant: "byteLength"`, desc.byteLength, MAX_TENSOR_BYTES);
  const width = encoding === 'fp16' ? 2 : 1;
  if (byteLength !== n * width) throw new Error(`${encoding} constant of shape [${shape}] needs ${n * width} bytes, has ${byteLength}`);
  const bytes = store.bytes(offset, byteLength, `${encoding} constant`);
  const data = new Float32Array(n);
  if (encoding === 'fp16') {
    const bits = typedView(Uint16Array, bytes, n);
    for (let i = 0; i < n; i++) data[i] = float16BitsToNumber(bits[i]);
    return { dtype: 'float32', shape: [...shape], data };
  }
  const q = new Int8Array(bytes.buffer, bytes.byteOffset, n);
  if (desc.axis === undefined || desc.axis === null) {
    const scale = Math.fround(Number(desc.scale)), zero = Number(desc.zeroPoint ?? 0);
    if (!Number.isFinite(scale) || !Number.isInteger(zero)) throw new Error('int8 constant: "scale" and "zeroPoint" must be numbers');
    for (let i = 0; i < n; i++) data[i] = (q[i] - zero) * scale;
    return { dtype: 'float32', shape: [...shape], data };
  }
  const axis = desc.axis;
  if (!Number.isInteger(axis) || axis < 0 || axis >= shape.length) throw new Error(`int8 constant: "axis" ${describe(axis)} is not an axis of [${shape}]`);
  const channels = shape[axis];
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const so = checkCount('int8 constant: "scalesOffset"', desc.scalesOffset, Number.MAX_SAFE_INTEGER);
  const scales = typedView(Float32Array, store.bytes(so, channels * 4, `int8 constant: its ${channels} scales`), channels);
  for (let i = 0; i < n; i++) data[i] = q[i] * scales[Math.floor(i / inner) % channels];
  return { dtype: 'float32', shape: [...shape], data };
}
