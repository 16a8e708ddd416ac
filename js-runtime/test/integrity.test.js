// Integrity of bundle modules (issue 8, item 4): a bit-flipped model.wasm can still validate and
// then loop forever, so the plan carries each module's SHA-256 and load() refuses a mismatch.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from '../src/index.js';
import { sha256Hex, sha256Js } from '../src/integrity.js';
import { requireOrSkip } from './ci.js';
import { tempDir } from './helpers.js';
import { lifetimeFixture } from './lifetime-helpers.js';

test('sha256Js and sha256Hex agree with node:crypto (padding edges included)', async () => {
  for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 70000]) {
    const bytes = new Uint8Array(n).map((_, i) => (i * 131 + 7) & 255);
    const ref = createHash('sha256').update(bytes).digest('hex');
    assert.equal(Buffer.from(sha256Js(bytes)).toString('hex'), ref, `n=${n}`);
    assert.equal(await sha256Hex(bytes), ref, `n=${n}`);
  }
});

const fixture = lifetimeFixture();

test('load() refuses program files whose bytes differ from the manifest\'s "integrity" digests', { skip: requireOrSkip(fixture.reason) }, async () => {
  const { dir, cleanup } = tempDir('webdnn-integrity-');
  try {
    cpSync(fixture.dir, dir, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    const listed = Object.keys(manifest.integrity).sort();
    assert.deepEqual(listed, ['js/program.json', 'wasm/model-mt.wasm', 'wasm/model.wasm', 'wasm/plan.json', 'webgpu/plan.json']);
    for (const rel of listed) {
      assert.equal(manifest.integrity[rel], createHash('sha256').update(readFileSync(join(dir, rel))).digest('hex'), rel);
    }
    // a bit flip in each file (the wasm ones on the single- and multi-threaded paths) fails load()
    const cases = [['wasm/model.wasm', 'wasm', 1], ['wasm/model-mt.wasm', 'wasm', 2], ['wasm/plan.json', 'wasm', 1],
      ['js/program.json', 'js', 1]];
    for (const [rel, backend, threads] of cases) {
      const file = join(dir, rel);
      const good = readFileSync(file);
      const flipped = Buffer.from(good);
      flipped[flipped.length >> 1] ^= 0x10;
      writeFileSync(file, flipped);
      await assert.rejects(load(dir, { backends: [backend], threads }), (e) => {
        const quoted = rel.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
        assert.match(e.message, new RegExp(`${quoted} is corrupted: its SHA-256 is [0-9a-f]{64}, the manifest.json "integrity" entry of ${quoted} says`));
        return true;
      }, rel);
      writeFileSync(file, good);
    }
    const runner = await load(dir, { backends: ['wasm'], threads: 1 });
    const out = Object.values(await runner.run({ x: fixture.inputs[0] }))[0];
    assert.equal(out.data.length, fixture.outputs[0].length);
    await runner.dispose();
  } finally {
    cleanup();
  }
});
