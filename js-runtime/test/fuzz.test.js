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
import { spawnSync } from 'node:child_process';

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

/**
 * gpuSkip(), with the adapter probed in a child process: this file's process only coordinates the forked cases and
 * never starts Dawn itself (once, in a fresh-clone CI run, it died with SIGSEGV just after probing the adapter, while
 * the js/wasm cases ran in its children). The environment the probe settles on (a Vulkan ICD) is kept for the children.
 */
function gpuSkipInChild() {
  const helpers = new URL('./webgpu-helpers.js', import.meta.url).href;
  const probe = `const { webgpuAvailability } = await import(${JSON.stringify(helpers)});
const r = await webgpuAvailability();
console.log(JSON.stringify({ reason: r.reason ?? null, adapter: String(r.adapter ?? ''),
  env: { VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES ?? null, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? null } }));
process.exit(0);`;
  const out = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8', timeout: 120000 });
  let r;
  try {
    r = JSON.parse(out.stdout.trim().split('\n').pop());
  } catch {
    r = { reason: `the adapter probe failed (${out.signal ?? `exit ${out.status}`}): ${(out.stderr ?? '').slice(-300)}` };
  }
  if (r.reason) {
    const reason = `WebGPU is not available in Node here: ${r.reason}; skipping the tests that run WGSL`;
    console.log(`# ${reason}`);
    return requireOrSkip(reason);
  }
  for (const [k, v] of Object.entries(r.env)) if (v !== null && process.env[k] === undefined) process.env[k] = v;
  console.log(`# webgpu tests run on: ${r.adapter} (VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES ?? 'unset'})`);
  return false;
}

const gpu = skip || gpuSkipInChild();

test('100 corrupted bundles on webgpu (seed 1): loaded and run, or rejected cleanly', { skip: gpu, timeout: 180000 }, async () => {
  const { summary, problems } = await fuzz({ cases: 100, seed: 1, backends: ['webgpu'], workers: 2, timeout: 10000, log: () => {} });
  assert.equal(summary.cases, 100);
  assert.deepEqual(problems, [], JSON.stringify(problems, null, 2));
  assert.equal(summary.crashes + summary.hangs, 0);
  assert.ok(summary.rejected > 25, JSON.stringify(summary));
});
