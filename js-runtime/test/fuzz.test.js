// The short fuzz run of corrupted bundles (issue 8, item 4): 200 cases with a fixed seed on the js
// and wasm backends and 100 on webgpu must give no crash and no hang (test/fuzz/fuzz-bundles.mjs
// says what those are).
// The fixture bundles are built with the repository's .venv (webdnn-build); without it the test skips
// (under CI=true it fails).
import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { requireOrSkip } from './ci.js';
import { fuzz } from './fuzz/fuzz-bundles.mjs';
import { gpuSkip } from './webgpu-helpers.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const BUILD = process.env.WEBDNN_BUILD ?? `${REPO}.venv/bin/webdnn-build`;
const skip = requireOrSkip(existsSync(BUILD) ? '' : `webdnn-build was not found at ${BUILD} (make the .venv, or set WEBDNN_BUILD)`);

test('200 corrupted bundles (seed 1): every case loads and runs or is rejected cleanly', { skip, timeout: 120000 }, async () => {
  const { summary, problems } = await fuzz({ cases: 200, seed: 1, backends: ['js', 'wasm'], workers: 2, timeout: 10000, log: () => {} });
  assert.equal(summary.cases, 200);
  assert.equal(summary.ok + summary.rejected + summary.crashes + summary.hangs, 200);
  assert.deepEqual(problems, [], JSON.stringify(problems, null, 2));
  assert.equal(summary.crashes, 0);
  assert.equal(summary.hangs, 0);
  assert.ok(summary.rejected > 50, JSON.stringify(summary)); // the mutations do break bundles
  assert.ok(Object.keys(summary.by_mutation).length >= 15, Object.keys(summary.by_mutation).join(', '));
});

const gpu = skip || await gpuSkip();

test('100 corrupted bundles on webgpu (seed 1): loaded and run, or rejected cleanly', { skip: gpu, timeout: 180000 }, async () => {
  const { summary, problems } = await fuzz({ cases: 100, seed: 1, backends: ['webgpu'], workers: 2, timeout: 10000, log: () => {} });
  assert.equal(summary.cases, 100);
  assert.deepEqual(problems, [], JSON.stringify(problems, null, 2));
  assert.equal(summary.crashes + summary.hangs, 0);
  assert.ok(summary.rejected > 25, JSON.stringify(summary));
});
