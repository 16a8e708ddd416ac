// Browser cache of weight shards, keyed by their SHA-256: a page reload, or a second model that
// shares a shard, reads it from disk instead of the network.
//
// The Cache API rather than the Origin Private File System: it is reachable from pages and workers
// alike with the same async calls (OPFS's fast synchronous access exists only in workers), it keys
// entries by a URL, here one made of the digest, it hands back a Response whose body becomes an
// ArrayBuffer without a copy of our own, and the browser evicts it under storage pressure like
// every other site cache. Shards are verified before they are stored; what the cache returns for a
// digest is not hashed again (only this origin's scripts can write there).
//
// Node has no cache (globalThis.caches is absent): bundles are local files there.

/** Cache name; a new layout would take a new name. */
export const CACHE_NAME = 'webdnn-weights-v1';
/** Request URL of a shard's entry: a key only, never fetched. */
const keyOf = (sha256) => `https://webdnn-weights.invalid/sha256/${sha256}`;

let warned = false;
function warnOnce(why) {
  if (warned) return;
  warned = true;
  console.warn(`webdnn: weight shards are not cached (${why}); they stay in memory for this page only`);
}

/**
 * The shard cache, or null where there is none (Node, insecure pages, browsers without the Cache
 * API, or opening it fails). `get(sha256)` resolves to the bytes or null; `put(sha256, bytes)`
 * never rejects: a full quota (or any other failure) warns once and stops further writes.
 * @returns {Promise<{ get(sha256: string): Promise<Uint8Array | null>, put(sha256: string, bytes: Uint8Array): Promise<void> } | null>}
 */
export async function openWeightCache() {
  const caches = globalThis.caches;
  if (!caches || typeof caches.open !== 'function' || typeof Response === 'undefined') return null;
  let cache;
  try {
    cache = await caches.open(CACHE_NAME);
  } catch (e) {
    warnOnce(`the Cache API refused to open: ${e?.name ?? e}`);
    return null;
  }
  let writable = true;
  return {
    async get(sha256) {
      try {
        const res = await cache.match(keyOf(sha256));
        return res ? new Uint8Array(await res.arrayBuffer()) : null;
      } catch {
        return null; // an unreadable entry: fetch the shard instead
      }
    },
    async put(sha256, bytes) {
      if (!writable) return;
      try {
        await cache.put(keyOf(sha256), new Response(bytes, { headers: { 'content-type': 'application/octet-stream' } }));
      } catch (e) {
        writable = false;
        warnOnce(e?.name === 'QuotaExceededError' ? 'the storage quota is used up' : `the Cache API refused a write: ${e?.name ?? e}`);
      }
    },
  };
}
