// Reading a webdnn bundle (see docs/bundle-format.md): manifest.json, the backends' program
// files and weight shards, from a folder path (Node) or a URL (browsers, or Node with http(s)).
//
// Constant descriptors are decoded by constants.js.

import { checkSha256 } from './integrity.js';
import { loadWeights, weightShards } from './weight-loader.js';

/** The bundle format this runtime reads. */
export const BUNDLE_FORMAT = 'webdnn-bundle';
export const BUNDLE_FORMAT_VERSION = 3;

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
 * @param {{ onProgress?: (p: {file: string, loaded: number, total: number}) => void, cache?: boolean }} [options]
 *   `onProgress`: called as the weight shards arrive (bytes of all shards so far and in all; the last
 *   call has loaded === total); `cache`: false keeps shards out of the browser's Cache API
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
  bundle.cache = options.cache !== false;
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

// ---------------------------------------------------------------------------------------------
// Paths and limits

/** The most bytes one constant (or arena, or weights file) may take: 2 GiB. */
export const MAX_TENSOR_BYTES = 2 ** 31;
/** The most dims a shape may have. */
export const MAX_RANK = 64;
/** The most bytes a file path in a bundle may have. */
const MAX_PATH_LENGTH = 1024;

/**
 * Checks a path read from a manifest or a program file (`field` names where it was read, e.g.
 * `manifest.json "weights.file"`): it must be relative to the bundle root and stay inside it.
 * Refused: non-strings, empty paths, absolute paths, URLs (any scheme, or another origin), drive
 * letters, backslashes, NUL and other control characters, percent-encoding (e.g. `%2e%2e`),
 * `?` and `#`, and empty, `.` and `..` segments. Returns the path; throws an Error naming the field.
 *
 * @param {string} field where the path was read, for the message
 * @param {any} value the path
 * @returns {string}
 */
export function bundlePath(field, value) {
  const refuse = (why) => {
    const shown = typeof value === 'string' ? JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}…` : value) : typeof value;
    throw new Error(`${field} (${shown}) leaves the bundle: ${why}`);
  };
  if (typeof value !== 'string') refuse('a path relative to the bundle root must be a string');
  if (value.length === 0) refuse('the path is empty');
  if (value.length > MAX_PATH_LENGTH) refuse(`the path is longer than ${MAX_PATH_LENGTH} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) refuse('the path contains NUL or another control character');
  if (value.includes('\\')) refuse('the path contains a backslash');
  if (value.includes('%')) refuse('the path contains percent-encoding');
  if (value.startsWith('/')) refuse('the path is absolute');
  if (value.includes(':')) refuse('the path contains ":" (a URL scheme or a drive letter)');
  if (value.includes('?') || value.includes('#')) refuse('the path contains "?" or "#"');
  for (const seg of value.split('/')) {
    if (seg === '') refuse('the path has an empty segment');
    if (seg === '.' || seg === '..') refuse(`the path has a "${seg}" segment`);
  }
  return value;
}

/**
 * Checks a count or a size read from a bundle: a safe integer in [0, max]. Returns it; throws an
 * Error naming `what` otherwise.
 */
export function checkCount(what, value, max = MAX_TENSOR_BYTES) {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new Error(`${what} must be a non-negative integer, got ${describe(value)}`);
  }
  if (value > max) throw new Error(`${what} is ${value}, over the limit of ${max}`);
  return value;
}

/** A short description of a JSON value for messages. */
export function describe(value) {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === undefined) return 'nothing';
  let s;
  try {
    s = JSON.stringify(value);
  } catch {
    s = undefined;
  }
  if (s === undefined) return typeof value;
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

/**
 * Checks a shape read from a bundle (an array of at most MAX_RANK non-negative safe integers) and
 * returns its element count; `elementBytes`: bytes per element, for the MAX_TENSOR_BYTES limit.
 */
export function checkShape(what, shape, elementBytes = 1) {
  if (!Array.isArray(shape)) throw new Error(`${what} must be a list of dims, got ${describe(shape)}`);
  if (shape.length > MAX_RANK) throw new Error(`${what} has ${shape.length} dims, over the limit of ${MAX_RANK}`);
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new Error(`${what} ${describe(shape)} has dim ${describe(d)}, which is not a non-negative integer`);
    }
    n *= d;
  }
  if (n * elementBytes > MAX_TENSOR_BYTES) {
    throw new Error(`${what} ${describe(shape)} has ${n} elements (${n * elementBytes} bytes), over the limit of ${MAX_TENSOR_BYTES} bytes`);
  }
  return n;
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
    /** Whether weight shards may be kept in the browser's Cache API (load()'s `cache`). */
    this.cache = true;
  }

  /**
   * Checks a path of this bundle (see bundlePath(): it must stay inside the bundle); `field` names
   * where it was read, e.g. `manifest.json "weights.file"`. Returns the path.
   */
  path(field, relPath) {
    try {
      return bundlePath(field, relPath);
    } catch (e) {
      throw new Error(`bundle ${this.label}: ${e.message}`);
    }
  }

  /**
   * Bytes of a file in the bundle (path relative to the bundle root, checked with path());
   * `onBytes(n)`: bytes read so far; `field`: where the path was read, for messages.
   */
  async readBytes(relPath, onBytes, field = 'file path') {
    this.path(field, relPath);
    let bytes;
    try {
      bytes = await this.reader.read(relPath, onBytes);
    } catch (e) {
      throw new Error(`cannot read ${relPath} from bundle ${this.label}: ${e && e.message ? e.message : String(e)}`, { cause: e });
    }
    // files the manifest lists under "integrity" are refused when their digest differs
    const integrity = this.manifest?.integrity;
    if (integrity && Object.hasOwn(integrity, relPath)) {
      await checkSha256(bytes, integrity[relPath], `manifest.json "integrity" entry of ${relPath}`, `bundle ${this.label}: ${relPath}`);
    }
    return bytes;
  }

  /** A JSON file of the bundle, parsed (`field`: where its path was read). */
  async readJSON(relPath, field) {
    const bytes = await this.readBytes(relPath, undefined, field);
    try {
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch (e) {
      throw new Error(`bundle ${this.label}: ${relPath} is not valid JSON: ${e.message}`, { cause: e });
    }
  }

  /**
   * The weights (every shard read, verified and inflated once, shared by all backends; empty when
   * the bundle has none).
   * @returns {Promise<import('./weight-store.js').WeightStore>}
   */
  weights() {
    this._weights ??= loadWeights(this, { onProgress: this.onProgress, cache: this.cache });
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
  if (!manifest.backends || typeof manifest.backends !== 'object' || Array.isArray(manifest.backends)) {
    throw new Error(`bundle ${label}: manifest.json has no "backends" table`);
  }
  const bad = (what) => { throw new Error(`bundle ${label}: manifest.json ${what}`); };
  for (const key of ['inputs', 'outputs']) {
    manifest[key].forEach((v, i) => {
      const where = `"${key}[${i}]"`;
      if (v === null || typeof v !== 'object' || Array.isArray(v)) bad(`${where} is not an object`);
      if (typeof v.name !== 'string') bad(`${where} has no "name" string`);
      if (typeof v.dtype !== 'string') bad(`${where} ('${v.name}') has no "dtype" string`);
      if (v.shape === null || v.shape === undefined) return;
      if (!Array.isArray(v.shape) || v.shape.length > MAX_RANK) bad(`${where} ('${v.name}'): "shape" must be a list of dims or null`);
      for (const d of v.shape) {
        // dims known only at run time are null (or a symbolic name)
        if (d === null || typeof d === 'string') continue;
        if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
          bad(`${where} ('${v.name}'): dim ${describe(d)} is not a non-negative integer, null or a name`);
        }
      }
    });
  }
  try {
    const w = manifest.weights;
    if (w !== undefined && w !== null && typeof w === 'object' && w.file !== undefined && w.file !== null) {
      bundlePath('manifest.json "weights.file"', w.file);
    }
    for (const s of weightShards(w).shards) bundlePath(s.field, s.file);
    const integrity = manifest.integrity;
    if (integrity !== undefined) {
      if (integrity === null || typeof integrity !== 'object' || Array.isArray(integrity)) {
        throw new Error('manifest.json "integrity" must be an object of path -> SHA-256');
      }
      for (const [rel, digest] of Object.entries(integrity)) {
        if (typeof digest !== 'string' || !/^[0-9a-f]{64}$/.test(digest)) {
          throw new Error(`manifest.json "integrity" entry of ${JSON.stringify(rel)} is not a SHA-256 (64 lower-case hex digits)`);
        }
      }
    }
    for (const [name, entry] of Object.entries(manifest.backends)) {
      if (entry === null || typeof entry !== 'object') continue; // the backend reports it
      for (const key of ['plan', 'program', 'runtime']) {
        if (entry[key] !== undefined) bundlePath(`manifest.json "backends.${name}.${key}"`, entry[key]);
      }
    }
  } catch (e) {
    throw new Error(`bundle ${label}: ${e.message}`);
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

// Readers are reached only through Bundle.readBytes(), which checks every path with bundlePath()
// first (naming the manifest field); what they check themselves is specific to where they read.

function urlReader(source) {
  let base = source instanceof URL ? new URL(source.href) : new URL(source, locationHref());
  if (!base.pathname.endsWith('/')) base = new URL(`${base.pathname}/${base.search}`, base);
  return {
    label: base.href,
    read(relPath, onBytes) {
      const url = new URL(relPath, base);
      // bundlePath() already rules this out; a second line of defence against URL parser quirks
      if (url.protocol !== base.protocol || url.host !== base.host || !url.pathname.startsWith(base.pathname)) {
        throw new Error(`${url.href} lies outside the bundle (${base.href})`);
      }
      return fetchBytes(url, onBytes);
    },
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
  let realDir = null; // the folder with symlinks resolved, on first read
  return {
    label: dir,
    async read(relPath, onBytes) {
      const fs = await importNode('node:fs/promises');
      const file = path.join(dir, ...relPath.split('/'));
      realDir ??= await fs.realpath(dir);
      // a symlink inside the bundle must not lead out of it
      const real = await fs.realpath(file);
      const rel = path.relative(realDir, real);
      if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
        throw new Error(`${relPath} is a link to ${real}, outside the bundle folder ${realDir}`);
      }
      return readFileBytes(real, onBytes);
    },
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
