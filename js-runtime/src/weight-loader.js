// Loading a bundle's weights (docs/bundle-format.md "weights"): the shards are fetched in parallel
// (a bounded number in flight), each checked against its SHA-256 as soon as it has arrived (a
// mismatch is an Error naming the shard), inflated when stored deflated, and kept as separate
// arrays in a WeightStore: no ArrayBuffer the size of the model is ever made. In browsers, shards
// are kept in the Cache API under their digest (weight-cache.js), so a reload, or another model
// with the same shard, downloads nothing.

import { MAX_TENSOR_BYTES, checkCount, describe } from './bundle.js';
import { checkSha256 } from './integrity.js';
import { openWeightCache } from './weight-cache.js';
import { WeightStore } from './weight-store.js';

/** Shards fetched at once: browsers open at most 6 HTTP/1.1 connections per host. */
export const DEFAULT_CONCURRENCY = 6;
/** The largest shard the runtime accepts: 1 GiB (the compiler's MAX_SHARD_SIZE). */
export const MAX_SHARD_BYTES = 2 ** 30;
const MAX_SHARDS = 1 << 20;

/**
 * The manifest's "weights" object as a list of shards, checked: { file, byteLength, sha256?,
 * encoding?, storedLength? }, every one but the last exactly `shardSize` bytes. A single-file
 * bundle (`weights.file`, no digest) is one shard. Throws an Error naming the field at fault.
 */
export function weightShards(w) {
  if (w === undefined || w === null) return { shardSize: 0, byteLength: 0, shards: [] };
  if (typeof w !== 'object' || Array.isArray(w)) throw new Error('manifest.json "weights" must be an object');
  const byteLength = checkCount('manifest.json "weights.byteLength"', w.byteLength ?? 0, Number.MAX_SAFE_INTEGER);
  if (w.shards === undefined) {
    if (!w.file || byteLength === 0) return { shardSize: 0, byteLength: 0, shards: [] };
    checkCount('manifest.json "weights.byteLength"', byteLength, MAX_TENSOR_BYTES);
    return { shardSize: byteLength, byteLength, shards: [{ file: w.file, byteLength, storedLength: byteLength, field: 'manifest.json "weights.file"' }] };
  }
  if (!Array.isArray(w.shards) || w.shards.length > MAX_SHARDS) throw new Error('manifest.json "weights.shards" must be a list of shards');
  const shardSize = checkCount('manifest.json "weights.shardSize"', w.shardSize, MAX_SHARD_BYTES);
  if (w.shards.length > 0 && shardSize === 0) throw new Error('manifest.json "weights.shardSize" must be positive');
  let sum = 0;
  const shards = w.shards.map((s, i) => {
    const where = `manifest.json "weights.shards[${i}]"`;
    if (s === null || typeof s !== 'object' || Array.isArray(s)) throw new Error(`${where} is not an object`);
    const n = checkCount(`${where}.byteLength`, s.byteLength, MAX_SHARD_BYTES);
    const last = i === w.shards.length - 1;
    if (last ? n === 0 || n > shardSize : n !== shardSize) {
      throw new Error(`${where}.byteLength is ${n}; every shard but the last holds "shardSize" (${shardSize}) bytes, the last 1 to ${shardSize}`);
    }
    if (typeof s.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(s.sha256)) throw new Error(`${where}.sha256 is not a SHA-256 (64 lower-case hex digits)`);
    if (s.encoding !== undefined && s.encoding !== 'deflate') throw new Error(`${where}.encoding ${describe(s.encoding)} is not "deflate"`);
    const stored = s.encoding === 'deflate' ? checkCount(`${where}.storedLength`, s.storedLength, MAX_SHARD_BYTES) : n;
    sum += n;
    return { file: s.file, byteLength: n, sha256: s.sha256, encoding: s.encoding, storedLength: stored, field: `${where}.file` };
  });
  if (sum !== byteLength) throw new Error(`manifest.json "weights": the shards hold ${sum} bytes, "byteLength" says ${byteLength}`);
  return { shardSize, byteLength, shards };
}

/**
 * Reads every weight shard of `bundle` into a WeightStore.
 *
 * @param {import('./bundle.js').Bundle} bundle
 * @param {{ onProgress?: Function | null, cache?: boolean, concurrency?: number }} [options]
 *   `onProgress({ file, loaded, total })`: bytes of all shards so far (stored bytes: what travels),
 *   monotone, the last call with loaded === total; `cache`: false keeps the Cache API out of it.
 * @returns {Promise<WeightStore>}
 */
export async function loadWeights(bundle, { onProgress = null, cache = true, concurrency = DEFAULT_CONCURRENCY } = {}) {
  let plan;
  try {
    plan = weightShards(bundle.manifest.weights);
    for (const s of plan.shards) bundle.path(s.field, s.file);
  } catch (e) {
    throw new Error(`bundle ${bundle.label}: ${e.message}`, { cause: e });
  }
  const { shards } = plan;
  const total = shards.reduce((n, s) => n + s.storedLength, 0);
  if (shards.length === 0) {
    onProgress?.({ file: 'weights', loaded: 0, total: 0 });
    return new WeightStore([], 0);
  }
  const store = cache && shards.some((s) => s.sha256) ? await openWeightCache() : null;
  const arrived = new Array(shards.length).fill(0);
  let loaded = 0;
  const report = (i, n) => {
    if (n <= arrived[i]) return; // (the reader's last call and ours both report the whole shard)
    loaded += n - arrived[i];
    arrived[i] = n;
    onProgress?.({ file: shards[i].file, loaded, total });
  };

  const readShard = async (i) => {
    const s = shards[i];
    let bytes = s.sha256 && store ? await store.get(s.sha256) : null;
    if (bytes && bytes.byteLength !== s.storedLength) bytes = null; // not this shard after all: fetch it
    if (!bytes) {
      bytes = await bundle.readBytes(s.file, onProgress ? (n) => report(i, Math.min(n, s.storedLength)) : undefined, s.field);
      if (bytes.byteLength !== s.storedLength) {
        throw new Error(`bundle ${bundle.label}: weight shard ${s.file} has ${bytes.byteLength} bytes, the manifest says ${s.storedLength}`);
      }
      if (s.sha256) {
        await checkSha256(bytes, s.sha256, `${s.field.replace(/\.file$/, '.sha256')}`, `bundle ${bundle.label}: weight shard ${s.file}`);
        await store?.put(s.sha256, bytes);
      }
    }
    report(i, s.storedLength);
    return s.encoding === 'deflate' ? inflate(bytes, s.byteLength, `bundle ${bundle.label}: weight shard ${s.file}`) : bytes;
  };

  const out = new Array(shards.length);
  let next = 0;
  const worker = async () => {
    while (next < shards.length) {
      const i = next++;
      out[i] = await readShard(i);
    }
  };
  const lanes = Math.max(1, Math.min(concurrency, shards.length));
  await Promise.all(Array.from({ length: lanes }, worker));
  return new WeightStore(out, plan.shardSize);
}

/**
 * Inflates a zlib stream (what Python's zlib.compress writes: the Compression Streams "deflate"
 * format) into exactly `byteLength` bytes; more or fewer is an Error naming `what`.
 */
export async function inflate(bytes, byteLength, what) {
  if (typeof DecompressionStream === 'undefined') throw new Error(`${what} is deflated, and this JavaScript engine has no DecompressionStream`);
  const out = new Uint8Array(byteLength);
  let at = 0;
  const reader = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate')).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (at + value.byteLength > byteLength) throw new Error(`${what} inflates to more than the ${byteLength} bytes the manifest says`);
      out.set(value, at);
      at += value.byteLength;
    }
  } catch (e) {
    reader.cancel().catch(() => {});
    if (e.message?.startsWith(what)) throw e;
    throw new Error(`${what} does not inflate: ${e.message}`, { cause: e });
  }
  if (at !== byteLength) throw new Error(`${what} inflates to ${at} bytes, the manifest says ${byteLength}`);
  return out;
}
