// The size table (src/sizes.js): the rows of a hand-made bundle against node:zlib's own numbers, the
// layout, and when the core hands the table out (once per compiled bundle, never for a cache hit).
import test from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { WebdnnCore } from '../src/core.js';
import { BROTLI_DEFAULT_QUALITY_MAX_BYTES, bundleSizes, formatBytes, formatSizeTable } from '../src/sizes.js';

function tmp() {
  const dir = mkdtempSync(path.join(tmpdir(), 'webdnn-sizes-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

function write(dir, rel, bytes) {
  mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  writeFileSync(path.join(dir, rel), bytes);
  return bytes;
}

/** Deterministic bytes: a float32 ramp with some noise (compresses a little, like weights). */
function floats(n, seed) {
  const a = new Float32Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    a[i] = Math.fround((x / 2 ** 32 - 0.5) * 0.1);
  }
  return Buffer.from(a.buffer);
}

const gz = (b) => zlib.gzipSync(b).length;
const br = (b) => zlib.brotliCompressSync(b).length;
const br5 = (b) => zlib.brotliCompressSync(b, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5 } }).length;

test('bundleSizes: weights as float32 / stored / gzip / brotli and shard count; each backend\'s files raw and compressed', async () => {
  const t = tmp();
  try {
    const s0 = write(t.dir, 'weights/000.bin', floats(1024, 1)); // 4096 bytes
    const inflated1 = floats(1024, 2);
    const s1 = write(t.dir, 'weights/001.bin', zlib.deflateSync(inflated1)); // deflated: counted as stored
    const s2 = write(t.dir, 'weights/002.bin', floats(100, 3));
    const program = write(t.dir, 'js/program.json', JSON.stringify({ ops: Array.from({ length: 50 }, (_, i) => ({ op: 'Relu', inputs: [i], outputs: [i + 1] })) }));
    const plan = write(t.dir, 'wasm/plan.json', '{"steps":[1,2,3]}');
    const big = write(t.dir, 'wasm/model.wasm', Buffer.concat([floats(BROTLI_DEFAULT_QUALITY_MAX_BYTES / 4, 4), Buffer.alloc(64)]));
    const extra = write(t.dir, 'README.txt', 'hello hello hello hello');
    const manifest = {
      format: 'webdnn-bundle',
      weights: {
        byteLength: 4096 + 4096 + 400,
        shardSize: 4096,
        shards: [
          { file: 'weights/000.bin', byteLength: 4096, sha256: 'x' },
          { file: 'weights/001.bin', byteLength: 4096, sha256: 'x', encoding: 'deflate', storedLength: s1.length },
          { file: 'weights/002.bin', byteLength: 400, sha256: 'x' },
        ],
      },
      // 2 tensors compressed: 6000 float32 bytes stored in 1500
      compression: { tensors: { eightbit: 2 }, rawBytes: 6000, storedBytes: 1500 },
      backends: { wasm: { plan: 'wasm/plan.json' }, js: { program: 'js/program.json' } },
    };
    write(t.dir, 'manifest.json', JSON.stringify(manifest));

    const rows = await bundleSizes(t.dir);
    assert.deepEqual(rows, [
      {
        part: 'weights', float32: 8592 - 1500 + 6000, stored: s0.length + s1.length + s2.length,
        gzip: gz(s0) + s1.length + gz(s2), brotli: br(s0) + s1.length + br(s2), files: 3, deflated: 1,
      },
      // the manifest's order; the large module's brotli at quality 5
      { part: 'wasm', float32: null, stored: plan.length + big.length, gzip: gz(plan) + gz(big), brotli: br(plan) + br5(big), files: 2 },
      { part: 'js', float32: null, stored: program.length, gzip: gz(program), brotli: br(program), files: 1 },
      { part: 'other', float32: null, stored: extra.length, gzip: gz(extra), brotli: br(extra), files: 1 },
    ]);

    // without compression: float32 is the weight bytes; an uncompressed bundle of one shard
    manifest.compression = undefined;
    manifest.weights.shards = manifest.weights.shards.slice(0, 1);
    manifest.weights.byteLength = 4096;
    write(t.dir, 'manifest.json', JSON.stringify(manifest));
    rmSync(path.join(t.dir, 'weights', '001.bin'));
    rmSync(path.join(t.dir, 'weights', '002.bin'));
    rmSync(path.join(t.dir, 'README.txt'));
    const [weights] = await bundleSizes(t.dir);
    assert.deepEqual(weights, { part: 'weights', float32: 4096, stored: 4096, gzip: gz(s0), brotli: br(s0), files: 1, deflated: 0 });
  } finally {
    t.cleanup();
  }
});

test('formatSizeTable: one aligned table under the model\'s name', () => {
  const rows = [
    { part: 'weights', float32: 12480, stored: 11687, gzip: 11710, brotli: 11691, files: 4, deflated: 3 },
    { part: 'js', float32: null, stored: 918, gzip: 319, brotli: 279, files: 1 },
    { part: 'wasm', float32: null, stored: 107121, gzip: 26384, brotli: 21624, files: 3 },
  ];
  assert.equal(formatSizeTable(rows, 'models/wide.onnx'), [
    'models/wide.onnx: 4 weight shards (3 deflated)',
    '  part      float32     stored      gzip    brotli  files',
    '  weights  12.48 kB   11.69 kB  11.71 kB  11.69 kB      4',
    '  js              -      918 B     319 B     279 B      1',
    '  wasm            -  107.12 kB  26.38 kB  21.62 kB      3',
  ].join('\n'));
  assert.match(formatSizeTable([{ ...rows[0], files: 1, deflated: 0 }], 'm.onnx'), /^m\.onnx: 1 weight shard\n/);
  assert.deepEqual([0, 999, 1000, 1234567, 999999, 18530000000].map(formatBytes), ['0 B', '999 B', '1.00 kB', '1.23 MB', '1.00 MB', '18.53 GB']);
});

test('the core hands out the table once per bundle it compiled: not again for the same bundle, not for a cache hit', async () => {
  const t = tmp();
  try {
    // a stand-in compiler writing a one-shard bundle
    const compiler = path.join(t.dir, 'wb');
    writeFileSync(compiler, `#!/bin/sh
case "$1" in
  --version) echo "webdnn-build 9.9.9" ;;
  plugins) echo '[]' ;;
  build)
    out=""; prev=""
    for a in "$@"; do [ "$prev" = "-o" ] && out="$a"; prev="$a"; done
    mkdir -p "$out/weights" "$out/js"
    printf 'abcdefghabcdefgh' > "$out/weights/000.bin"
    printf '{"ops":[]}' > "$out/js/program.json"
    echo '{"format":"webdnn-bundle","name":"m","inputs":[],"outputs":[],"weights":{"byteLength":16,"shards":[{"file":"weights/000.bin","byteLength":16}]},"backends":{"js":{}}}' > "$out/manifest.json"
    echo '{"results":[{"status":"built"}]}' ;;
esac
`);
    chmodSync(compiler, 0o755);
    const model = path.join(t.dir, 'm.onnx');
    writeFileSync(model, new Uint8Array([8, 8]));
    const env = { root: t.dir, cacheDir: path.join(t.dir, 'cache') };
    const core = new WebdnnCore({ compiler, dts: false, config: false }, env);
    const first = await core.build(model);
    assert.equal(first.cached, false);
    assert.deepEqual(first.sizes.map((r) => [r.part, r.stored, r.files]), [['weights', 16, 1], ['js', 10, 1]]);
    assert.match(first.sizeTable, /^m\.onnx: 1 weight shard\n {2}part +float32 +stored +gzip +brotli +files\n {2}weights +16 B +16 B /);
    assert.equal((await core.build(model)).sizeTable, null, 'the same bundle again (a dev reload): quiet');
    const hit = await new WebdnnCore({ compiler, dts: false, config: false }, env).build(model);
    assert.equal(hit.cached, true);
    assert.equal(hit.sizeTable, null, 'a cache hit: quiet');
    assert.equal(hit.sizes, null);
  } finally {
    t.cleanup();
  }
});
