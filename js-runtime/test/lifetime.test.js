// Load and lifetime on every backend (js, wasm, webgpu), with a real bundle (lifetime-helpers.js):
// 64 concurrent run() calls each get their own result (checked against onnxruntime's outputs),
// dispose() while runs are queued rejects them with an Error, and repeated load/dispose cycles
// return every GPU buffer and device (process-wide counters, resourceCounters()). The long
// measurements (10,000 runs, 200 cycles) are bench/reliability.mjs, not tests.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { load, resourceCounters } from '../src/index.js';
import { CASES, lifetimeFixture, maxError } from './lifetime-helpers.js';
import { requireOrSkip } from './ci.js';
import { gpuSkip } from './webgpu-helpers.js';

const fixture = lifetimeFixture();
const fixtureSkip = requireOrSkip(fixture.reason && `the lifetime fixture cannot be built: ${fixture.reason}`);
if (fixtureSkip) console.log(`# ${fixtureSkip}`);
const skips = { js: fixtureSkip, wasm: fixtureSkip, webgpu: fixtureSkip || await gpuSkip() };
const TOLERANCE = 1e-5;
const CYCLES = 30;

const runOf = (k) => ({ x: fixture.inputs[k % CASES] });

for (const backend of ['js', 'wasm', 'webgpu']) {
  const skip = skips[backend];

  test(`${backend}: 64 concurrent run() calls each resolve to their own input's result`, { skip }, async () => {
    const runner = await load(fixture.dir, { backends: [backend] });
    try {
      assert.equal(runner.backend, backend);
      const outs = await Promise.all(Array.from({ length: CASES }, (_, k) => runner.run(runOf(k))));
      outs.forEach((o, k) => {
        const err = maxError(o.y.data, fixture.outputs[k]);
        assert.ok(err < TOLERANCE, `run ${k}: error ${err} against ${fixture.reference}`);
      });
      // every result is its own array (not a view a later run overwrites)
      assert.equal(new Set(outs.map((o) => o.y.data.buffer)).size, CASES);
      assert.equal(runner.stats().runs, CASES);
    } finally {
      await runner.dispose();
    }
  });

  test(`${backend}: dispose() while runs are queued rejects them with an Error; nothing runs after`, { skip }, async () => {
    const runner = await load(fixture.dir, { backends: [backend] });
    const first = runner.run(runOf(0));
    await new Promise((r) => setImmediate(r)); // the first run is executing (or done)
    const queued = Array.from({ length: 8 }, (_, k) => runner.run(runOf(k + 1)));
    const released = runner.dispose();
    assert.ok(released instanceof Promise);
    assert.equal(runner.dispose(), released, 'a second dispose() is a no-op');
    // the run that was executing completes with its result; the queued ones reject
    const o = await first;
    assert.ok(maxError(o.y.data, fixture.outputs[0]) < TOLERANCE);
    const settled = await Promise.allSettled(queued);
    for (const s of settled) {
      assert.equal(s.status, 'rejected');
      assert.ok(s.reason instanceof Error);
      assert.match(s.reason.message, /this runner has been disposed/);
    }
    await released;
    assert.equal(runner.stats().gpuBuffers, 0);
    await assert.rejects(runner.run(runOf(0)), /this runner has been disposed/);
    assert.equal(runner.stats().runs, 1);
  });

  test(`${backend}: ${CYCLES} load/run/dispose cycles return every GPU buffer and device`, { skip }, async () => {
    const before = resourceCounters();
    for (let i = 0; i < CYCLES; i++) {
      const runner = await load(fixture.dir, { backends: [backend] });
      const o = await runner.run(runOf(i));
      assert.ok(maxError(o.y.data, fixture.outputs[i % CASES]) < TOLERANCE, `cycle ${i}`);
      const live = runner.stats().gpuBuffers;
      if (backend === 'webgpu') assert.ok(live > 0, 'the webgpu runner counts its buffers');
      else assert.equal(live, 0);
      if (backend === 'wasm') assert.ok(runner.stats().wasmMemoryBytes > 0);
      await runner.dispose();
    }
    const after = resourceCounters();
    assert.equal(after.gpuBuffersLive, before.gpuBuffersLive, 'live GPU buffers back to the baseline');
    assert.equal(after.gpuDevicesLive, before.gpuDevicesLive, 'live GPU devices back to the baseline');
    if (backend === 'webgpu') assert.ok(after.gpuBuffersCreated - before.gpuBuffersCreated >= CYCLES);
  });
}

test('wasm: a process started with --expose-gc (leak checks) still gets the threaded module', { skip: skips.wasm }, () => {
  const index = new URL('../src/index.js', import.meta.url).href;
  const code = `import(${JSON.stringify(index)}).then(async (m) => {
    const r = await m.load(${JSON.stringify(fixture.dir)}, { backends: ['wasm'] });
    console.log(JSON.stringify(r.threadInfo));
    await r.dispose();
  })`;
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', code], { encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.doesNotMatch(String(info.reason), /execArgv|could not be used/);
});
