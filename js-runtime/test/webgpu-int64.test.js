// int64 values on the webgpu backend live in 32 bits (i32): uploads (graph inputs, results of CPU
// steps read by GPU steps) refuse elements outside int32 with an error naming the value, instead of
// truncating them silently (docs/webgpu-backend.md). Dawn in Node; skipped without an adapter.
import test from 'node:test';
import assert from 'node:assert/strict';
import { load } from '../src/index.js';
import { gpuSkip, writeWebGPUBundle } from './webgpu-helpers.js';

const skip = await gpuSkip();

/** y[i] = x[i] + 1 over 4 i32 elements. */
const INC = /* wgsl */ `
override WG_X: u32 = 64;
@group(0) @binding(0) var<storage, read_write> x: array<i32>;
@group(0) @binding(1) var<storage, read_write> y: array<i32>;
@compute @workgroup_size(WG_X)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= 4u) { return; }
  y[gid.x] = x[gid.x] + 1;
}`;

const slot = (k) => ({ buffer: 0, offset: k * 256, byteLength: 16 });
const inc = (from, to) => ({
  gpu: { shader: 0, entryPoint: 'main', name: 'inc', op: 'Add', bindings: [{ value: from }, { value: to }],
    workgroup: { override: { WG_X: 64 } }, invocations: [4, 1, 1] },
});

// ids (int64 input) -> GPU: ids + 1 -> y;  x (float32 input) -> CPU Cast to int64 -> c -> GPU: c + 1 -> z
const plan = {
  opsets: { '': 17 },
  precision: 'f32',
  values: [
    { name: 'ids', dtype: 'int64', shape: [4], gpu: slot(0) },
    { name: 'y', dtype: 'int64', shape: [4], gpu: slot(1) },
    { name: 'x', dtype: 'float32', shape: [4] },
    { name: 'c', dtype: 'int64', shape: [4], gpu: slot(2) },
    { name: 'z', dtype: 'int64', shape: [4], gpu: slot(3) },
  ],
  buffers: [{ byteLength: 1024, kind: 'arena' }],
  shaders: [INC],
  inputs: [0, 2],
  outputs: [1, 4],
  steps: [
    inc(0, 1),
    { cpu: { op: 'Cast', domain: '', name: 'cast', inputs: [2], outputs: [3], attrs: { to: 7 } } },
    inc(3, 4),
  ],
};

async function withRunner(fn) {
  const { dir, cleanup } = writeWebGPUBundle({ plan, weights: new Uint8Array(0) });
  let runner = null;
  try {
    runner = await load(dir, { backends: ['webgpu'] });
    assert.equal(runner.backend, 'webgpu');
    return await fn(runner);
  } finally {
    runner?.dispose();
    cleanup();
  }
}

const ids = (...v) => BigInt64Array.from(v.map(BigInt));

test('int64 values within int32 go through the GPU unchanged', { skip }, async () => {
  await withRunner(async (runner) => {
    const out = await runner.run({ ids: ids(-2147483648, -1, 0, 2147483646), x: Float32Array.from([1, -2.5, 3e9 / 4, 0]) });
    assert.deepEqual([...out.y.data], [-2147483647n, 0n, 1n, 2147483647n]);
    assert.deepEqual([...out.z.data], [2n, -1n, 750000001n, 1n]);
  });
});

test('an int64 graph input beyond int32 is refused, naming the value and the element', { skip }, async () => {
  await withRunner(async (runner) => {
    await assert.rejects(runner.run({ ids: ids(0, 1, 2 ** 31, 3), x: new Float32Array(4) }),
      /value 'ids' has int64 element \[2\] = 2147483648, outside the range of the i32 the WebGPU backend stores int64 values in/);
    await assert.rejects(runner.run({ ids: ids(-(2 ** 31) - 1, 0, 0, 0), x: new Float32Array(4) }), /element \[0\] = -2147483649/);
    // the runner is still usable
    const out = await runner.run({ ids: ids(1, 2, 3, 4), x: new Float32Array(4) });
    assert.deepEqual([...out.y.data], [2n, 3n, 4n, 5n]);
  });
});

test('a CPU step result beyond int32 that a GPU step reads is refused', { skip }, async () => {
  await withRunner(async (runner) => {
    await assert.rejects(runner.run({ ids: ids(0, 0, 0, 0), x: Float32Array.from([0, 0, 0, 3e9]) }),
      /value 'c' has int64 element \[3\] = 3000000000, outside the range/);
  });
});
