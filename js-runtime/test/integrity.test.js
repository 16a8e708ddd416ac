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

test('load() refuses a wasm module whose bytes differ from the plan\'s digest', { skip: requireOrSkip(fixture.reason) }, async () => {
  const { dir, cleanup } = tempDir('webdnn-integrity-');
  try {
    cpSync(fixture.dir, dir, { recursive: true });
    const plan = JSON.parse(readFileSync(join(dir, 'wasm', 'plan.json'), 'utf8'));
    for (const [file, key] of [[plan.module, 'moduleSha256'], [plan.moduleThreads, 'moduleThreadsSha256']]) {
      assert.equal(plan[key], createHash('sha256').update(readFileSync(join(dir, file))).digest('hex'), key);
    }
    for (const threads of [1, 2]) {
      const file = join(dir, threads === 1 ? plan.module : plan.moduleThreads);
      const good = readFileSync(file);
      const flipped = Buffer.from(good);
      flipped[flipped.length >> 1] ^= 0x10;
      writeFileSync(file, flipped);
      await assert.rejects(load(dir, { backends: ['wasm'], threads }), (e) => {
        assert.match(e.message, /model(-mt)?\.wasm is corrupted: its SHA-256 is [0-9a-f]{64}, wasm\/plan\.json "module(Threads)?Sha256" says/);
        return true;
      });
      writeFileSync(file, good);
    }
    const runner = await load(dir, { backends: ['wasm'], threads: 1 });
    const { output } = await runner.run({ x: fixture.inputs[0] }).then((r) => ({ output: Object.values(r)[0] }));
    assert.ok(output.data.length > 0);
    await runner.dispose();
  } finally {
    cleanup();
  }
});
