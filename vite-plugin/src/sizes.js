// The size table the plugin prints after compiling a model: what the bundle costs on disk and over
// the wire. bundleSizes(dir) reads a bundle folder and returns the rows; formatSizeTable(rows) lays
// them out (both without side effects; the bundler adapters print the text with their logger).

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { listFiles } from './files.js';

const gzip = promisify(zlib.gzip);
const brotli = promisify(zlib.brotliCompress);

/**
 * Files above this size are brotli-compressed at quality 5 instead of the default 11: quality 11 takes about 4 s
 * per MiB of float32 or eightbit weights and makes them less than 1% smaller than quality 5 (which takes
 * about 0.02 s); the programs and wasm modules below it get the default (docs/compression.md "In Vite and webpack").
 */
export const BROTLI_DEFAULT_QUALITY_MAX_BYTES = 1 << 20;
const BROTLI_LARGE_QUALITY = 5;

/** Compressions in flight at once (zlib runs them on libuv's thread pool). */
const PARALLEL = 2;

async function mapLimited(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Bytes, gzip bytes and brotli bytes of one file (gzip at zlib's default level 6, brotli see above). */
async function fileSizes(file, { precompressed = false } = {}) {
  const bytes = await readFile(file);
  if (precompressed) return { stored: bytes.length, gzip: bytes.length, brotli: bytes.length };
  const params = bytes.length > BROTLI_DEFAULT_QUALITY_MAX_BYTES
    ? { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: BROTLI_LARGE_QUALITY } }
    : {};
  const [g, b] = await Promise.all([gzip(bytes), brotli(bytes, params)]);
  return { stored: bytes.length, gzip: g.length, brotli: b.length };
}

const sum = (list, key) => list.reduce((n, x) => n + x[key], 0);

/**
 * @typedef {object} SizeRow
 * @property {string} part 'weights', a backend, or 'other'
 * @property {number | null} float32 the weights as float32 (null for other rows)
 * @property {number} stored bytes on disk
 * @property {number} gzip bytes over the wire with gzip
 * @property {number} brotli bytes over the wire with brotli
 * @property {number} files number of files
 * @property {number} [deflated] weight shards stored deflated
 */

/**
 * One size row per part of a bundle: the weights, then each backend's own files (program, plan, wasm modules,
 * shaders: what the `<backend>/` folder holds), in the manifest's order; files outside both go in a row `other`.
 *
 * - weights: `float32` the weight file as float32 (the manifest's `weights.byteLength`, with `compression.rawBytes`
 *   standing for the `compression.storedBytes` of the compressed tensors), `stored` the shard files on disk,
 *   `gzip` / `brotli` the shards each compressed on its own as a server would send them (a deflated shard
 *   counts as stored: compressing it again gains nothing), `files` the shard count, `deflated` how many
 *   are stored deflated.
 * - a backend: `stored` its files' bytes, `gzip` / `brotli` each file compressed, `files` their number (`float32`
 *   null). A wasm backend lists both its modules (single- and multi-threaded), of which a page fetches one.
 *
 * manifest.json is left out (the plugins inline it in the generated module).
 *
 * @param {string} dir a bundle folder (manifest.json, weights/, one folder per backend)
 * @returns {Promise<SizeRow[]>}
 */
export async function bundleSizes(dir) {
  const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8'));
  const w = manifest.weights ?? {};
  const shards = w.shards ?? (w.file ? [{ file: w.file, byteLength: w.byteLength }] : []);
  const weightFiles = new Set(shards.map((s) => s.file));
  const fileOf = (rel) => path.join(dir, ...rel.split('/'));

  const shardSizes = await mapLimited(shards, PARALLEL,
    (s) => fileSizes(fileOf(s.file), { precompressed: s.encoding === 'deflate' }));
  const c = manifest.compression;
  const weightBytes = w.byteLength ?? sum(shards, 'byteLength');
  const rows = [{
    part: 'weights',
    float32: c && Number.isFinite(c.rawBytes) ? weightBytes - (c.storedBytes ?? 0) + c.rawBytes : weightBytes,
    stored: sum(shardSizes, 'stored'),
    gzip: sum(shardSizes, 'gzip'),
    brotli: sum(shardSizes, 'brotli'),
    files: shards.length,
    deflated: shards.filter((s) => s.encoding === 'deflate').length,
  }];

  const backends = Object.keys(manifest.backends ?? {});
  const groups = new Map(backends.map((b) => [b, []]));
  for (const rel of await listFiles(dir)) {
    if (rel === 'manifest.json' || weightFiles.has(rel)) continue;
    const top = rel.includes('/') ? rel.slice(0, rel.indexOf('/')) : '';
    const part = groups.has(top) ? top : 'other';
    if (!groups.has(part)) groups.set(part, []);
    groups.get(part).push(rel);
  }
  for (const [part, files] of groups) {
    const sizes = await mapLimited(files, PARALLEL, (rel) => fileSizes(fileOf(rel)));
    rows.push({ part, float32: null, stored: sum(sizes, 'stored'), gzip: sum(sizes, 'gzip'), brotli: sum(sizes, 'brotli'), files: files.length });
  }
  return rows;
}

/** Bytes in decimal units as Vite prints asset sizes: "492 B", "12.48 kB", "18.53 MB". */
export function formatBytes(n) {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1000;
  let u = 0;
  while (v >= 999.995 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v.toFixed(2)} ${units[u]}`;
}

/**
 * The rows of bundleSizes as a text table under a title line, e.g.
 *
 *     models/wide.onnx: 4 weight shards (4 deflated)
 *       part        float32     stored       gzip     brotli  files
 *       weights    12.48 kB   11.57 kB   11.57 kB   11.57 kB      4
 *       js                -    1.61 kB      521 B      449 B      1
 *
 * @param {SizeRow[]} rows
 * @param {string} title what the table is of (the model's path)
 */
export function formatSizeTable(rows, title) {
  const w = rows.find((r) => r.part === 'weights');
  const head = w ? `${w.files} weight shard${w.files === 1 ? '' : 's'}${w.deflated ? ` (${w.deflated} deflated)` : ''}` : '';
  const table = [
    ['part', 'float32', 'stored', 'gzip', 'brotli', 'files'],
    ...rows.map((r) => [r.part, r.float32 === null ? '-' : formatBytes(r.float32), formatBytes(r.stored),
      formatBytes(r.gzip), formatBytes(r.brotli), String(r.files)]),
  ];
  const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
  const lines = table.map((row) => `  ${row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ')}`.trimEnd());
  return [`${title}${head ? `: ${head}` : ''}`, ...lines].join('\n');
}
