// Reading a webdnn bundle (see docs/bundle-format.md): manifest.json, the backends' program
// files and weights.bin, from a folder path (Node) or a URL (browsers, or Node with http(s)).
//
// Also decodes constant descriptors ({ encoding: raw | fill | json, dtype, shape, ... }) into the
// js backend's tensors ({ dtype, shape, data }, float16/bfloat16 as Float32Array).

import {
  TYPED_ARRAYS,
  bfloat16BitsToNumber,
  float16BitsToNumber,
  isBigInt,
  sizeOf,
} from './backends/js/kernels/util.js';

/** The bundle format this runtime reads. */
export const BUNDLE_FORMAT = 'webdnn-bundle';
export const BUNDLE_FORMAT_VERSION = 1;

/**
 * Imports a Node built-in. The computed specifier and the comments keep bundlers (webpack, Vite)
 * from resolving Node-only modules for browsers, where this is never called.
 */
const importNode = (name) => import(/* webpackIgnore: true */ /* @vite-ignore */ name);

const isNode = typeof process !== 'undefined' && process.versions != null && process.versions.node != null;

/** True when `source` must be fetched (http(s)/data/blob URLs, and anything outside Node). */
function isFetchSource(source) {
  if (source instanceof URL) return source.protocol !== 'file:' || !isNode;
  if (!isNode) return true;
  return /^(https?|data|blob):/i.test(source);
}

/**
 * True when `source` is a file map, `{ files: { relPath: url }, manifest?, label? }`: the bundle's
 * files at URLs of their own (bundlers emit each one under a hashed name).
 */
function isFileMap(source) {
  return source !== null && typeof source === 'object' && !(source instanceof URL) &&
    source.files !== null && typeof source.files === 'object';
}

/**
 * Opens a bundle: returns an object that reads files relative to the bundle root.
 * Nothing but the manifest is read here; weights are read once, on first use.
 *
 * @param {string|URL|{files: Record<string, string|URL>, manifest?: object, label?: string}} source
 *   folder path (Node), URL of the bundle folder, or a file map (relative path -> URL or path)
 * @param {{ onProgress?: (p: {file: string, loaded: number, total: number}) => void }} [options]
 *   `onProgress`: called as weights.bin arrives (bytes so far and in all; the last call has loaded === total)
 * @returns {Promise<Bundle>}
 */
export async function openBundle(source, options = {}) {
  const fileMap = isFileMap(source);
  if (typeof source !== 'string' && !(source instanceof URL) && !fileMap) {
    throw new TypeError('load(source): source must be a bundle folder path or URL, or a file map { files, manifest }');
  }
  const reader = fileMap ? mapReader(source) : isFetchSource(source) ? urlReader(source) : await fileReader(source);
  const bundle = new Bundle(reader);
  bundle.onProgress = typeof options.onProgress === 'function' ? options.onProgress : null;
  let manifest = fileMap ? source.manifest : undefined;
  if (manifest === undefined) {
    try {
      manifest = JSON.parse(new TextDecoder().decode(await reader.read('manifest.json')));
    } catch (e) {
      throw new Error(`cannot read bundle ${reader.label}: manifest.json: ${e.message}`, { cause: e });
    }
  }
  validateManifest(manifest, reader.label);
  bundle.manifest = manifest;
  return bundle;
}

/** A bundle being loaded: manifest plus lazy, memoized access to weights and program files. */
export class Bundle {
  constructor(reader) {
    this.reader = reader;
    /** Human-readable name of the bundle location, for error messages. */
    this.label = reader.label;
    this.manifest = null;
    this._weights = null;
    /** load()'s onProgress, or null. */
    this.onProgress = null;
  }

  /** Bytes of a file in the bundle (path relative to the bundle root); `onBytes(n)`: bytes read so far. */
  async readBytes(relPath, onBytes) {
    try {
      return await this.reader.read(relPath, onBytes);
    } catch (e) {
      throw new Error(`cannot read ${relPath} from bundle ${this.label}: ${e.message}`, { cause: e });
    }
  }

  /** A JSON file of the bundle, parsed. */
  async readJSON(relPath) {
    const bytes = await this.readBytes(relPath);
    try {
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch (e) {
      throw new Error(`bundle ${this.label}: ${relPath} is not valid JSON: ${e.message}`, { cause: e });
    }
  }

  /**
   * weights.bin as a Uint8Array (read once, shared by all backends; empty when the bundle has none).
   * @returns {Promise<Uint8Array>}
   */
  weights() {
    if (!this._weights) {
      const w = this.manifest.weights;
      const progress = this.onProgress;
      if (!w || !w.file || w.byteLength === 0) {
        progress?.({ file: w?.file ?? 'weights.bin', loaded: 0, total: 0 });
        this._weights = Promise.resolve(new Uint8Array(0));
      } else {
        const total = typeof w.byteLength === 'number' ? w.byteLength : 0;
        const onBytes = progress ? (loaded) => progress({ file: w.file, loaded, total: Math.max(total, loaded) }) : undefined;
        this._weights = this.readBytes(w.file, onBytes).then((bytes) => {
          if (typeof w.byteLength === 'number' && bytes.byteLength !== w.byteLength) {
            throw new Error(`bundle ${this.label}: ${w.file} has ${bytes.byteLength} bytes, manifest says ${w.byteLength}`);
          }
          return bytes;
        });
      }
    }
    return this._weights;
  }

  /** Drops the cached weights (the decoded constants keep what they need). */
  releaseWeights() {
    this._weights = null;
  }
}

function validateManifest(manifest, label) {
  if (manifest === null || typeof manifest !== 'object' || manifest.format !== BUNDLE_FORMAT) {
    const got = manifest && typeof manifest === 'object' ? JSON.stringify(manifest.format) : typeof manifest;
    throw new Error(`${label} is not a webdnn bundle (manifest.json "format" is ${got}, expected "${BUNDLE_FORMAT}")`);
  }
  if (manifest.formatVersion !== BUNDLE_FORMAT_VERSION) {
    throw new Error(`bundle ${label} has formatVersion ${JSON.stringify(manifest.formatVersion)}; ` +
      `this runtime reads formatVersion ${BUNDLE_FORMAT_VERSION} (rebuild the bundle or update webdnn-runtime)`);
  }
  for (const key of ['inputs', 'outputs']) {
    if (!Array.isArray(manifest[key])) throw new Error(`bundle ${label}: manifest.json has no "${key}" list`);
  }
  if (!manifest.backends || typeof manifest.backends !== 'object') {
    throw new Error(`bundle ${label}: manifest.json has no "backends" table`);
  }
}

// ---------------------------------------------------------------------------------------------
// Readers

// A reader has `label` and `read(relPath, onBytes?)`, which resolves to the file's bytes and, while
// reading, may call onBytes(bytesSoFar); its last call (if any) reports the whole file.

const locationHref = () => (typeof globalThis.location !== 'undefined' ? globalThis.location.href : undefined);

/** Fetches a URL; streams the body when `onBytes` is given and the response has one. */
async function fetchBytes(url, onBytes) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText} for ${url.href ?? url}`);
  if (!onBytes || !res.body) {
    const bytes = new Uint8Array(await res.arrayBuffer());
    onBytes?.(bytes.byteLength);
    return bytes;
  }
  const chunks = [];
  let loaded = 0;
  const body = res.body.getReader();
  for (;;) {
    const { done, value } = await body.read();
    if (done) break;
    chunks.push(value);
    loaded += value.byteLength;
    onBytes(loaded);
  }
  if (chunks.length === 1) return chunks[0];
  const bytes = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) { bytes.set(c, at); at += c.byteLength; }
  return bytes;
}

/** Reads a file in Node (path or file: URL). Node-only modules are imported here, never in browsers. */
async function readFileBytes(file, onBytes) {
  const fs = await importNode('node:fs/promises');
  const buf = await fs.readFile(file);
  onBytes?.(buf.byteLength);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

function urlReader(source) {
  let base = source instanceof URL ? new URL(source.href) : new URL(source, locationHref());
  if (!base.pathname.endsWith('/')) base = new URL(`${base.pathname}/${base.search}`, base);
  return {
    label: base.href,
    read: (relPath, onBytes) => fetchBytes(new URL(relPath, base), onBytes),
  };
}

async function fileReader(source) {
  const path = await importNode('node:path');
  let dir = source;
  if (source instanceof URL || /^file:/i.test(source)) {
    const { fileURLToPath } = await importNode('node:url');
    dir = fileURLToPath(source);
  }
  dir = path.resolve(dir);
  return {
    label: dir,
    read: (relPath, onBytes) => readFileBytes(path.join(dir, ...relPath.split('/')), onBytes),
  };
}

/** A file map's reader: each file at its own URL (or, in Node, path). */
function mapReader({ files, label }) {
  return {
    label: label ?? String(files['manifest.json'] ?? 'bundle'),
    async read(relPath, onBytes) {
      if (!Object.hasOwn(files, relPath)) throw new Error('the file map has no such file');
      const target = files[relPath];
      if (isFetchSource(target)) return fetchBytes(target instanceof URL ? target : new URL(target, locationHref()), onBytes);
      return readFileBytes(typeof target === 'string' && /^file:/i.test(target) ? new URL(target) : target, onBytes);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Constants

/** True when `x` looks like a constant descriptor (as in program values and tensor attributes). */
export function isConstDescriptor(x) {
  return x !== null && typeof x === 'object' && !Array.isArray(x) && typeof x.encoding === 'string' && 'dtype' in x;
}

/** Number or BigInt for one element given in JSON (numbers, decimal strings, "nan"/"inf", booleans). */
function jsonElement(v, dtype) {
  if (isBigInt(dtype)) {
    if (typeof v === 'bigint') return v;
    if (typeof v === 'boolean') return v ? 1n : 0n;
    return BigInt(typeof v === 'number' ? Math.trunc(v) : String(v).trim());
  }
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') return v;
  const s = String(v).trim().toLowerCase();
  if (s === 'nan') return NaN;
  if (s === 'inf' || s === '+inf' || s === 'infinity' || s === '+infinity') return Infinity;
  if (s === '-inf' || s === '-infinity') return -Infinity;
  const n = Number(s);
  if (Number.isNaN(n)) throw new Error(`bad ${dtype} value ${JSON.stringify(v)}`);
  return n;
}

/**
 * Decodes a constant descriptor into a js-backend Tensor.
 * Raw data is viewed in place when aligned (the tensor must then be treated as read-only), copied otherwise.
 *
 * @param {object} desc constant descriptor (docs/bundle-format.md)
 * @param {Uint8Array} weights contents of weights.bin
 * @returns {{dtype: string, shape: number[], data: any}}
 */
export function decodeConstant(desc, weights) {
  const { encoding, dtype } = desc;
  const shape = (desc.shape ?? []).map(Number);
  const n = sizeOf(shape);
  const Ctor = TYPED_ARRAYS[dtype];
  if (!Ctor) throw new Error(`constant has unsupported dtype ${JSON.stringify(dtype)}`);

  if (encoding === 'fill') {
    if (dtype === 'string') return { dtype, shape, data: new Array(n).fill(String(desc.value ?? '')) };
    const data = new Ctor(n);
    const v = jsonElement(desc.value ?? 0, dtype);
    if (v !== 0 && v !== 0n) data.fill(v);
    return { dtype, shape, data };
  }

  if (encoding === 'json') {
    const values = Array.isArray(desc.value) ? desc.value.flat(Infinity) : [desc.value];
    if (values.length !== n) throw new Error(`json constant has ${values.length} elements, shape [${shape}] needs ${n}`);
    if (dtype === 'string') return { dtype, shape, data: values.map(String) };
    const data = new Ctor(n);
    for (let i = 0; i < n; i++) data[i] = jsonElement(values[i], dtype);
    return { dtype, shape, data };
  }

  if (encoding === 'raw') {
    if (dtype === 'string') throw new Error('string constants cannot use the raw encoding');
    const offset = desc.offset ?? 0;
    const byteLength = desc.byteLength;
    if (!(offset >= 0 && offset + byteLength <= weights.byteLength)) {
      throw new Error(`raw constant [${offset}, ${offset + byteLength}) lies outside weights.bin (${weights.byteLength} bytes)`);
    }
    const start = weights.byteOffset + offset;
    if (dtype === 'float16' || dtype === 'bfloat16') {
      if (byteLength !== n * 2) throw new Error(`raw ${dtype} constant of shape [${shape}] needs ${n * 2} bytes, has ${byteLength}`);
      const bits = start % 2 === 0 ? new Uint16Array(weights.buffer, start, n)
        : new Uint16Array(weights.slice(offset, offset + byteLength).buffer);
      const toNumber = dtype === 'float16' ? float16BitsToNumber : bfloat16BitsToNumber;
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = toNumber(bits[i]);
      return { dtype, shape, data };
    }
    const size = Ctor.BYTES_PER_ELEMENT;
    if (byteLength !== n * size) throw new Error(`raw ${dtype} constant of shape [${shape}] needs ${n * size} bytes, has ${byteLength}`);
    const data = start % size === 0 ? new Ctor(weights.buffer, start, n)
      : new Ctor(weights.slice(offset, offset + byteLength).buffer);
    return { dtype, shape, data };
  }

  throw new Error(`constant has unknown encoding ${JSON.stringify(encoding)}`);
}
