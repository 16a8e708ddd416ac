// Weight shards (docs/bundle-format.md "weights"): parallel, bounded fetching, progress over all
// shards, SHA-256 checks naming the shard, deflated shards, manifest checks, and the browser
// cache (the Cache API faked here; tests/browser/test_weight_cache.py uses Chromium's own).
import test from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from '../src/index.js';
import { WeightStore } from '../src/weight-store.js';
import { DOMAIN, packWeights, shardBundle, tempDir, writeBundle } from './helpers.js';

const N = 1000;
const c1 = Float32Array.from({ length: N }, (_, i) => i * 0.5);
const c2 = Float32Array.from({ length: N }, (_, i) => 1000 - i);

/** y = (x + c1) + c2, [1000] float32; the two constants take 8000 bytes of weights. */
function twoConstantBundle(dir) {
  const { bytes, refs } = packWeights(c1, c2);
  const program = {
    values: [
      { name: 'x', dtype: 'float32', shape: [N] },
      { name: 'c1', dtype: 'float32', shape: [N], const: { encoding: 'raw', ...refs[0], dtype: 'float32', shape: [N] } },
      { name: 'c2', dtype: 'float32', shape: [N], const: { encoding: 'raw', ...refs[1], dtype: 'float32', shape: [N] } },
      { name: 'a', dtype: 'float32', shape: [N], arena: { offset: 0, byteLength: N * 4 } },
      { name: 'y', dtype: 'float32', shape: [N] },
    ],
    inputs: [0],
    outputs: [4],
    arena: { byteLength: N * 4 },
    ops: [
      { op: 'TestAdd', domain: DOMAIN, name: 'add_a', inputs: [0, 1], outputs: [3], attrs: {} },
      { op: 'TestAdd', domain: DOMAIN, name: 'add_y', inputs: [3, 2], outputs: [4], attrs: {} },
    ],
  };
  writeBundle(dir, program, { weights: bytes });
}

const x = Float32Array.from({ length: N }, (_, i) => (i % 7) - 3);
const expected = Array.from(x, (v, i) => Math.fround(Math.fround(v + c1[i]) + c2[i]));

async function withShardedBundle(shardSize, options, fn) {
  const { dir, cleanup } = tempDir();
  try {
    twoConstantBundle(dir);
    const weights = shardBundle(dir, shardSize, options);
    return await fn(dir, weights);
  } finally {
    cleanup();
  }
}

/** Serves `dir` over http; `delay` ms before each body; counts requests and the most at once. */
async function serveDir(dir, { delay = 0 } = {}) {
  const stats = { requests: [], inFlight: 0, maxInFlight: 0 };
  const server = createServer((req, res) => {
    stats.requests.push(req.url);
    stats.inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    setTimeout(() => {
      stats.inFlight--;
      try {
        res.end(readFileSync(join(dir, decodeURIComponent(new URL(req.url, 'http://x').pathname))));
      } catch {
        res.statusCode = 404;
        res.end();
      }
    }, delay);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}/`, stats, close: () => new Promise((r) => server.close(r)) };
}

test('a bundle whose constants span shards runs; progress counts every shard, never decreasing', async () => {
  for (const deflate of [false, true]) {
    await withShardedBundle(1024, { deflate }, async (dir, weights) => {
      assert.equal(weights.shards.length, 8);
      const progress = [];
      const runner = await load(dir, { backends: ['js'], onProgress: (p) => progress.push(p) });
      assert.deepEqual([...(await runner.run({ x })).y.data], expected);
      const total = weights.shards.reduce((n, s) => n + (s.storedLength ?? s.byteLength), 0);
      assert.equal(progress.at(-1).loaded, total);
      assert.ok(progress.every((p) => p.total === total));
      assert.ok(progress.every((p, i) => i === 0 || p.loaded > progress[i - 1].loaded), JSON.stringify(progress));
      if (deflate) assert.ok(total < 8000, `deflated shards hold ${total} bytes`);
    });
  }
});

test('shards are fetched in parallel, at most 6 at once', async () => {
  await withShardedBundle(256, {}, async (dir, weights) => {
    assert.equal(weights.shards.length, 32);
    const server = await serveDir(dir, { delay: 20 });
    try {
      const runner = await load(server.url, { backends: ['js'] });
      assert.deepEqual([...(await runner.run({ x })).y.data], expected);
      const shardRequests = server.stats.requests.filter((r) => r.includes('/weights/'));
      assert.equal(shardRequests.length, 32);
      assert.ok(server.stats.maxInFlight > 1 && server.stats.maxInFlight <= 6, `max in flight ${server.stats.maxInFlight}`);
    } finally {
      await server.close();
    }
  });
});

test('a shard with a flipped byte is refused, naming it; so are a short one and one that inflates wrongly', async () => {
  await withShardedBundle(1024, {}, async (dir) => {
    const file = join(dir, 'weights', '005.bin');
    const bytes = readFileSync(file);
    bytes[17] ^= 0x10;
    writeFileSync(file, bytes);
    await assert.rejects(load(dir, { backends: ['js'] }), (e) => /weight shard weights\/005\.bin is corrupted: its SHA-256 is/.test(e.message));
    writeFileSync(file, bytes.subarray(0, 100));
    await assert.rejects(load(dir, { backends: ['js'] }), (e) => /weight shard weights\/005\.bin has 100 bytes, the manifest says 1024/.test(e.message));
  });
  await withShardedBundle(1024, { deflate: true }, async (dir) => {
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    m.weights.shards[3].byteLength -= 16;
    m.weights.shards[7].byteLength += 16; // (the sum stays right; shard 3 is now "short")
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
    await assert.rejects(load(dir, { backends: ['js'] }), (e) => /"weights\.shards\[3\]"\.byteLength is 1008; every shard but the last holds "shardSize" \(1024\)/.test(e.message));
  });
});

test('a deflated shard is checked: garbage and a wrong inflated size are refused', async () => {
  const { inflate } = await import('../src/weight-loader.js');
  const { deflateSync } = await import('node:zlib');
  const data = new Uint8Array(4096).map((_, i) => i % 13);
  assert.deepEqual(await inflate(deflateSync(data), 4096, 'shard s'), data);
  await assert.rejects(inflate(deflateSync(data), 4000, 'shard s'), /shard s inflates to more than the 4000 bytes/);
  await assert.rejects(inflate(deflateSync(data), 5000, 'shard s'), /shard s inflates to 4096 bytes, the manifest says 5000/);
  await assert.rejects(inflate(new Uint8Array([1, 2, 3, 4, 5]), 10, 'shard s'), /shard s does not inflate/);
});

test('manifest weight entries are checked, naming the field', async () => {
  const cases = [
    [(w) => { w.shards[1].file = '../outside.bin'; }, /"weights\.shards\[1\]"\.file \("\.\.\/outside\.bin"\) leaves the bundle/],
    [(w) => { w.shards[0].sha256 = 'abc'; }, /"weights\.shards\[0\]"\.sha256 is not a SHA-256/],
    [(w) => { w.shards[2].encoding = 'gzip'; }, /"weights\.shards\[2\]"\.encoding "gzip" is not "deflate"/],
    [(w) => { w.byteLength += 1; }, /the shards hold 8000 bytes, "byteLength" says 8001/],
    [(w) => { w.shardSize = 2 ** 31; }, /"weights\.shardSize" is 2147483648, over the limit/],
    [(w) => { w.shards = {}; }, /"weights\.shards" must be a list/],
    [(w) => { w.shards[0] = null; }, /"weights\.shards\[0\]" is not an object/],
  ];
  for (const [edit, re] of cases) {
    await withShardedBundle(1024, {}, async (dir) => {
      const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
      edit(m.weights);
      writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
      await assert.rejects(load(dir, { backends: ['js'] }), (e) => re.test(e.message), String(re));
    });
  }
});

test('WeightStore: ranges inside a shard are views, ranges across shards copies', () => {
  const bytes = Uint8Array.from({ length: 100 }, (_, i) => i);
  const store = new WeightStore([bytes.subarray(0, 32), bytes.subarray(32, 64), bytes.subarray(64, 96), bytes.subarray(96)], 32);
  assert.equal(store.byteLength, 100);
  const inside = store.bytes(40, 8);
  assert.equal(inside.buffer, bytes.buffer);
  assert.deepEqual([...inside], [40, 41, 42, 43, 44, 45, 46, 47]);
  assert.deepEqual([...store.bytes(30, 70)], Array.from({ length: 70 }, (_, i) => 30 + i));
  assert.throws(() => store.bytes(90, 11, 'raw constant'), /raw constant \[90, 101\) lies outside the weights \(100 bytes\)/);
});

/** A Cache API stand-in: entries by URL, counting calls; `full`: put() fails as over quota. */
function fakeCaches({ full = false } = {}) {
  const entries = new Map();
  const calls = { match: 0, put: 0, open: 0 };
  const cache = {
    async match(key) { calls.match++; const b = entries.get(String(key)); return b ? new Response(b) : undefined; },
    async put(key, res) {
      calls.put++;
      if (full) throw new DOMException('over quota', 'QuotaExceededError');
      entries.set(String(key), new Uint8Array(await res.arrayBuffer()));
    },
  };
  return { entries, calls, caches: { async open(name) { calls.open++; assert.equal(name, 'webdnn-weights-v1'); return cache; } } };
}

test('with a cache, a second load downloads no shard; cache: false neither reads nor writes it', async () => {
  await withShardedBundle(1024, {}, async (dir, weights) => {
    const server = await serveDir(dir);
    const fake = fakeCaches();
    globalThis.caches = fake.caches;
    try {
      const shardRequests = () => server.stats.requests.filter((r) => r.includes('/weights/')).length;
      let runner = await load(server.url, { backends: ['js'] });
      assert.deepEqual([...(await runner.run({ x })).y.data], expected);
      assert.equal(shardRequests(), 8);
      assert.deepEqual([...fake.entries.keys()].sort(), weights.shards.map((s) => `https://webdnn-weights.invalid/sha256/${s.sha256}`).sort());

      const progress = [];
      runner = await load(server.url, { backends: ['js'], onProgress: (p) => progress.push(p) });
      assert.deepEqual([...(await runner.run({ x })).y.data], expected);
      assert.equal(shardRequests(), 8, 'the reload fetched shards');
      assert.deepEqual(progress.at(-1), { file: progress.at(-1).file, loaded: 8000, total: 8000 });

      const before = { ...fake.calls };
      runner = await load(server.url, { backends: ['js'], cache: false });
      assert.deepEqual([...(await runner.run({ x })).y.data], expected);
      assert.equal(shardRequests(), 16);
      assert.deepEqual(fake.calls, before);
      await assert.rejects(load(server.url, { cache: 'no' }), /options\.cache must be true or false/);
    } finally {
      delete globalThis.caches;
      await server.close();
    }
  });
});

test('a full storage quota warns once and the load goes on from memory', async () => {
  await withShardedBundle(1024, {}, async (dir) => {
    const fake = fakeCaches({ full: true });
    const warnings = [];
    const warn = console.warn;
    console.warn = (m) => warnings.push(String(m));
    globalThis.caches = fake.caches;
    try {
      const runner = await load(dir, { backends: ['js'] });
      assert.deepEqual([...(await runner.run({ x })).y.data], expected);
      assert.ok(fake.calls.put < 8, `writes go on after a refusal (${fake.calls.put} puts)`);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0], /weight shards are not cached \(the storage quota is used up\)/);
    } finally {
      delete globalThis.caches;
      console.warn = warn;
    }
  });
});
