// Tensors at the API boundary: validation of run() feeds and conversion between the public
// representation (float16/bfloat16 as Uint16Array bit patterns) and the backends' internal one
// (float16/bfloat16 as Float32Array). Outputs are always copied into fresh arrays.

import {
  TYPED_ARRAYS,
  bfloat16BitsToNumber,
  float16BitsToNumber,
  isBigInt,
  numberToBFloat16Bits,
  numberToFloat16Bits,
  sizeOf,
} from './backends/js/kernels/util.js';

/** Array type of each dtype at the API boundary. */
export const API_ARRAYS = { ...TYPED_ARRAYS, float16: Uint16Array, bfloat16: Uint16Array };

/** The dtype a bare array implies (Uint16Array also fits float16/bfloat16, Uint8Array also bool). */
const ARRAY_DTYPES = [
  [Float32Array, 'float32'], [Float64Array, 'float64'], [Int8Array, 'int8'], [Uint8Array, 'uint8'],
  [Int16Array, 'int16'], [Uint16Array, 'uint16'], [Int32Array, 'int32'], [Uint32Array, 'uint32'],
  [BigInt64Array, 'int64'], [BigUint64Array, 'uint64'], [Array, 'string'],
];

function arrayDtype(data) {
  for (const [Ctor, dtype] of ARRAY_DTYPES) if (data instanceof Ctor) return dtype;
  return null;
}

function isArrayLike(x) {
  return Array.isArray(x) || (ArrayBuffer.isView(x) && !(x instanceof DataView));
}

/** Formats a shape for messages: [1,3,224,224]; a dim left open by its name, an unknown one as '?'. */
export function formatShape(shape) {
  return `[${shape.map((d) => (typeof d === 'number' && d >= 0 ? d : typeof d === 'string' ? d : '?')).join(',')}]`;
}

function isStaticDim(d) {
  return typeof d === 'number' && d >= 0;
}

/**
 * Checks the sizes of the dims left open at build time (manifest.dims: name -> { min, max, equals? }, max null
 * when unbounded): inputs that share a dim name give it the same size, within its range, and equal to what
 * `equals` computes from the others. Returns name -> size.
 *
 * @param {Record<string, {min: number, max: number|null}>} dims
 * @param {Array<{name: string, shape: Array<number|null|string>|null}>} specs manifest inputs
 * @param {Map<string, {shape?: number[]}>} tensors validated feeds by input name
 * @param {Map<string, (sizes: Map<string, number>) => number>|null} [equals] dims the model computes from
 *   others (dims[name].equals, parsed): the size fed must be that value
 */
export function checkOpenDims(dims, specs, tensors, equals = null) {
  const sizes = new Map(); // dim name -> [size, where it was first seen]
  for (const spec of specs) {
    const shape = tensors.get(spec.name)?.shape;
    if (!Array.isArray(spec.shape) || !Array.isArray(shape)) continue;
    spec.shape.forEach((d, axis) => {
      if (typeof d !== 'string' || !Object.hasOwn(dims, d)) return;
      const size = shape[axis], where = `input '${spec.name}' dim ${axis} (${d})`;
      const seen = sizes.get(d);
      if (seen && seen[0] !== size) {
        throw new RangeError(`${where} is ${size}, but ${seen[1]} is ${seen[0]}: dims with one name must agree`);
      }
      const { min, max } = dims[d];
      if (size < min || (max !== null && max !== undefined && size > max)) {
        throw new RangeError(`${where} is ${size}, outside the range the bundle was built for: ${min}..${max ?? ''}`);
      }
      sizes.set(d, [size, where]);
    });
  }
  const out = new Map([...sizes].map(([name, [size]]) => [name, size]));
  for (const [name, fn] of equals ?? []) {
    if (!out.has(name)) continue;
    let want;
    try { want = fn(out); } catch { continue; } // (a dim it reads is not fed: nothing to compare)
    if (want !== out.get(name)) {
      throw new RangeError(`${sizes.get(name)[1]} is ${out.get(name)}, but the model computes it as ` +
        `${dims[name].equals} = ${want} from the other inputs' sizes`);
    }
  }
  return out;
}

/**
 * Validates one feed against the model's input spec and converts it to an internal tensor.
 * The data is used without copying, except float16/bfloat16 (decoded to Float32Array).
 *
 * @param {{name: string, shape: Array<number|null|string>, dtype: string}} spec manifest input
 * @param {any} feed a TypedArray / Array, or { data, shape, dtype }
 */
export function feedToTensor(spec, feed) {
  const where = `input '${spec.name}'`;
  if (!Array.isArray(spec.shape)) spec = { ...spec, shape: null }; // unknown rank: any shape, given with the data
  let data, shape, dtype;
  if (isArrayLike(feed)) {
    data = feed;
  } else if (feed !== null && typeof feed === 'object') {
    ({ data, shape, dtype } = feed);
    if (!isArrayLike(data)) throw new TypeError(`${where}: 'data' must be a TypedArray (or an Array for strings)`);
  } else {
    throw new TypeError(`${where}: expected a TypedArray or { data, shape, dtype }, got ${feed === null ? 'null' : typeof feed}`);
  }

  if (dtype === undefined) {
    const SpecArray = API_ARRAYS[spec.dtype];
    dtype = SpecArray && data instanceof SpecArray ? spec.dtype : arrayDtype(data) ?? data.constructor?.name;
  }
  if (dtype !== spec.dtype) throw new TypeError(`${where}: expected ${spec.dtype}, got ${dtype}`);
  const Api = API_ARRAYS[dtype];
  if (!Api || !(data instanceof Api)) {
    const what = dtype === 'float16' || dtype === 'bfloat16' ? `a Uint16Array (${dtype} bit patterns)` : `a ${Api?.name ?? '?'}`;
    throw new TypeError(`${where}: ${dtype} data must be ${what}, got ${data.constructor?.name ?? typeof data}`);
  }

  if (shape === undefined) {
    if (spec.shape === null || !spec.shape.every(isStaticDim)) {
      throw new TypeError(`${where}: the model's shape ${formatShape(spec.shape)} has dynamic dimensions; pass { data, shape }`);
    }
    shape = spec.shape;
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new TypeError(`${where}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  const shapeOk = spec.shape === null ||
    (shape.length === spec.shape.length && spec.shape.every((d, i) => !isStaticDim(d) || d === shape[i]));
  if (!shapeOk) throw new RangeError(`${where}: expected shape ${formatShape(spec.shape ?? [])}, got ${formatShape(shape)}`);
  const n = sizeOf(shape);
  if (data.length !== n) {
    throw new RangeError(`${where}: shape ${formatShape(shape)} needs ${n} elements, data has ${data.length}`);
  }

  if (dtype === 'float16' || dtype === 'bfloat16') {
    const toNumber = dtype === 'float16' ? float16BitsToNumber : bfloat16BitsToNumber;
    const f = new Float32Array(n);
    for (let i = 0; i < n; i++) f[i] = toNumber(data[i]);
    data = f;
  }
  return { dtype, shape: [...shape], data };
}

/**
 * Copies an internal tensor into a fresh public one ({ data, shape, dtype }), converting
 * float16/bfloat16 to bit patterns and fixing the element type when a kernel used another one.
 *
 * @param {{dtype: string, shape: number[], data: any}} t internal tensor (possibly an arena view)
 * @param {string} [dtype] the declared output dtype (defaults to the tensor's)
 */
export function tensorToOutput(t, dtype = t.dtype) {
  const Api = API_ARRAYS[dtype];
  if (!Api) throw new Error(`output has unsupported dtype ${dtype}`);
  const n = sizeOf(t.shape);
  const src = t.data;
  let data;
  if (dtype === 'string') {
    data = Array.from({ length: n }, (_, i) => String(src[i]));
  } else if (dtype === 'float16' || dtype === 'bfloat16') {
    const toBits = dtype === 'float16' ? numberToFloat16Bits : numberToBFloat16Bits;
    data = new Uint16Array(n);
    for (let i = 0; i < n; i++) data[i] = toBits(Number(src[i]));
  } else if (src instanceof Api && src.length === n) {
    data = src.slice();
  } else {
    const big = isBigInt(dtype);
    data = new Api(n);
    for (let i = 0; i < n; i++) {
      const v = src[i];
      data[i] = big ? (typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)))) : Number(v);
    }
  }
  return { data, shape: [...t.shape], dtype };
}

/** 'sequence' / 'optional' for those type strings ("sequence<float32>", "optional<...>"), else 'tensor'. */
export function valueKind(dtype) {
  if (typeof dtype === 'string' && dtype.startsWith('sequence<')) return 'sequence';
  if (typeof dtype === 'string' && dtype.startsWith('optional<')) return 'optional';
  return 'tensor';
}

/** The type inside "sequence<...>" / "optional<...>" (null when unknown, "?"). */
export function elementType(dtype) {
  const inner = dtype.slice(dtype.indexOf('<') + 1, -1);
  return inner === '?' ? null : inner;
}

/**
 * Validates one feed of any kind and converts it to an internal value: a tensor (see feedToTensor),
 * a sequence (an Array of tensor feeds; element shapes are not known beforehand, so each is given
 * as { data, shape }) or an optional (null for empty, else a feed of the contained type).
 */
export function feedToValue(spec, feed) {
  const kind = valueKind(spec.dtype);
  if (kind === 'tensor') return feedToTensor(spec, feed);
  const inner = elementType(spec.dtype);
  if (kind === 'optional') {
    if (feed === null || feed === undefined) return null;
    return feedToValue({ name: spec.name, dtype: inner, shape: spec.shape ?? null }, feed);
  }
  if (!Array.isArray(feed)) throw new TypeError(`input '${spec.name}': a ${spec.dtype} input takes an Array of tensors`);
  return feed.map((f, i) => {
    const dtype = inner ?? (f && typeof f === 'object' ? f.dtype : undefined);
    return feedToValue({ name: `${spec.name}[${i}]`, dtype, shape: null }, f);
  });
}

/** Copies an internal value out (see tensorToOutput): sequences as Arrays, empty optionals as null. */
export function valueToOutput(v, dtype) {
  const kind = valueKind(dtype);
  if (kind === 'tensor') {
    if (Array.isArray(v) || v === null) throw new Error(`the backend produced a ${v === null ? 'null' : 'sequence'} for a ${dtype ?? 'tensor'} output`);
    return tensorToOutput(v, dtype ?? v.dtype);
  }
  const inner = elementType(dtype);
  if (kind === 'optional') return v === null ? null : valueToOutput(v, inner ?? (Array.isArray(v) ? 'sequence<?>' : v.dtype));
  if (!Array.isArray(v)) throw new Error(`the backend produced no sequence for a ${dtype} output`);
  return v.map((t) => valueToOutput(t, inner ?? t.dtype));
}
