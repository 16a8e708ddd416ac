// A lost WebGPU device (simulated with device.destroy(), what a driver reset or a GPU process crash
// looks like to the backend): the runner moves the run on to the next backend of the preference
// list, and says so in runner.backend and runner.fallbackLog; with no backend left the run rejects
// with a clear error (docs/webgpu-backend.md, "Device loss"). Dawn in Node; skipped without an adapter.
import test from 'node:test';
import assert from 'node:assert/strict';
import { load, resourceCounters } from '../src/index.js';
import { CASES, lifetimeFixture, maxError } from './lifetime-helpers.js';
import { requireOrSkip } from './ci.js';
import { gpuSkip } from './webgpu-helpers.js';

const fixture = lifetimeFixture();
const skip = requireOrSkip(fixture.reason && `the lifetime fixture cannot be built: ${fixture.reason}`) || await gpuSkip();
const TOLERANCE = 1e-5;
const feed = (k) => ({ x: fixture.inputs[k % CASES] });
const check = (o, k) => {
  const err = maxError(o.y.data, fixture.outputs[k % CASES]);
  assert.ok(err < TOLERANCE, `run ${k}: error ${err} against ${fixture.reference}`);
};
const tick = () => new Promise((r) => setImmediate(r));
const lostEntry = (runner) => runner.fallbackLog.find((f) => f.phase === 'run');

test('device lost between runs: the next run moves on to wasm, and runner says so', { skip }, async () => {
  const base = resourceCounters();
  const runner = await load(fixture.dir, { backends: ['webgpu', 'wasm', 'js'] });
  try {
    assert.equal(runner.backend, 'webgpu');
    assert.deepEqual(runner.fallbackLog, []);
    check(await runner.run(feed(0)), 0);
    runner._executor.device.destroy();
    await new Promise((r) => setTimeout(r, 20)); // device.lost resolves
    check(await runner.run(feed(1)), 1);
    assert.equal(runner.backend, 'wasm');
    assert.deepEqual(runner.fallbackLog, [{ backend: 'webgpu', reason: 'the device was lost (destroyed: device was destroyed)', phase: 'run' }]);
    // the lost backend's buffers were released when the runner moved on
    assert.equal(resourceCounters().gpuBuffersLive, base.gpuBuffersLive);
    assert.equal(resourceCounters().gpuDevicesLive, base.gpuDevicesLive);
    for (let k = 2; k < 6; k++) check(await runner.run(feed(k)), k);
    assert.equal(runner.stats().runs, 6);
  } finally {
    await runner.dispose();
  }
});

test('device lost during a run: that run and the queued ones complete on the next backend', { skip }, async () => {
  const runner = await load(fixture.dir, { backends: ['webgpu', 'js'] });
  try {
    const runs = Array.from({ length: 8 }, (_, k) => runner.run(feed(k)));
    await tick(); // the first run is executing on the GPU (waiting for its readback)
    runner._executor.device.destroy();
    const outs = await Promise.all(runs);
    outs.forEach(check);
    assert.equal(runner.backend, 'js');
    assert.match(lostEntry(runner).reason, /^the device was lost \(destroyed/);
    assert.equal(lostEntry(runner).backend, 'webgpu');
  } finally {
    await runner.dispose();
  }
});

test('device lost with no backend left: the run rejects with a clear error, so do later runs', { skip }, async () => {
  const base = resourceCounters();
  const runner = await load(fixture.dir, { backends: ['webgpu'] });
  try {
    check(await runner.run(feed(0)), 0);
    const pending = runner.run(feed(1));
    runner._executor.device.destroy();
    const error = await pending.then(() => null, (e) => e);
    assert.ok(error instanceof Error);
    assert.match(error.message, /^the WebGPU device was lost .*\(destroyed: device was destroyed\); load the model again$/);
    assert.equal(error.fallbackLog, runner.fallbackLog);
    assert.equal(runner.fallbackLog.length, 1);
    await assert.rejects(runner.run(feed(2)), (e) => e === error);
    assert.equal(resourceCounters().gpuBuffersLive, base.gpuBuffersLive);
  } finally {
    await runner.dispose();
  }
});

test('device lost and the next backend fails to load too: the error lists every reason', { skip }, async () => {
  // wasm made unusable by a testing hook that only the wasm backend reads
  const runner = await load(fixture.dir, { backends: ['webgpu', 'wasm'], wasmHooks: { WebAssembly: null } });
  try {
    check(await runner.run(feed(0)), 0);
    runner._executor.device.destroy();
    await assert.rejects(runner.run(feed(1)), /WebGPU device was lost .*no other backend of the preference list could take over:\n {2}- wasm: /s);
    assert.deepEqual(runner.fallbackLog.map((f) => [f.backend, f.phase]), [['webgpu', 'run'], ['wasm', 'run']]);
  } finally {
    await runner.dispose();
  }
});

test("a caller's device that is lost: the runner moves on and leaves the device to its owner", { skip }, async () => {
  const { create } = await import('webgpu');
  // keep Dawn's GPU object referenced while its device lives (Dawn aborts when it is collected first)
  const gpu = create([]);
  const adapter = await gpu.requestAdapter();
  const device = await adapter.requestDevice();
  const runner = await load(fixture.dir, { backends: ['webgpu', 'wasm'], webgpu: { device } });
  try {
    check(await runner.run(feed(3)), 3);
    device.destroy();
    check(await runner.run(feed(4)), 4);
    assert.equal(runner.backend, 'wasm');
    assert.equal(lostEntry(runner).backend, 'webgpu');
  } finally {
    await runner.dispose();
  }
  assert.ok(gpu);
});

test('dispose() while a lost device is being replaced: queued runs reject as disposed, nothing leaks', { skip }, async () => {
  const base = resourceCounters();
  const runner = await load(fixture.dir, { backends: ['webgpu', 'wasm'] });
  check(await runner.run(feed(0)), 0);
  runner._executor.device.destroy();
  const runs = Array.from({ length: 4 }, (_, k) => runner.run(feed(k)));
  await tick();
  await runner.dispose();
  for (const s of await Promise.allSettled(runs)) {
    if (s.status === 'fulfilled') continue; // the executing run may have completed on wasm
    assert.match(s.reason.message, /this runner has been disposed/);
  }
  assert.equal(runner.stats().gpuBuffers, 0);
  assert.equal(resourceCounters().gpuBuffersLive, base.gpuBuffersLive);
});
