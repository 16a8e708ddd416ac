// The webgpu backend on a real WebGPU implementation: Dawn (npm `webgpu`) in Node on a Vulkan ICD
// (lavapipe or SwiftShader, see tools/setup-webgpu.sh). Skipped, with the reason printed, when
// there is none. Hand-written plans with small WGSL kernels; results checked against the CPU.
import test from 'node:test';
import assert from 'node:assert/strict';
import { load } from '../src/index.js';
import { IOTA, N, SCALE_ADD, gpuSkip, gpuStep, inputX, planFor, weightW, writeWebGPUBundle } from './webgpu-helpers.js';

const skip = await gpuSkip();

async function withRunner(bundleOptions, loadOptions, fn) {
  const { dir, cleanup } = writeWebGPUBundle(planFor(bundleOptions));
  let runner = null;
  try {
    runner = await load(dir, { backends: ['webgpu'], ...loadOptions });
    return await fn(runner, dir);
  } finally {
    runner?.dispose();
    cleanup();
  }
}

const scaleAdd = (x, w) => Float32Array.from(x, (v, i) => Math.fround(Math.fround(v * 2) + w[i]));
const relu = (a) => a.map((v) => (v < 0 ? 0 : v));

function sameArray(actual, expected, what = 'output') {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) assert.fail(`${what}[${i}] = ${actual[i]}, expected ${expected[i]}`);
  }
}

test('one GPU step: y = x * 2 + w (weights uploaded once, repeated runs)', { skip }, async () => {
  await withRunner({ steps: [gpuStep(0, [0, 1, 4])] }, {}, async (runner) => {
    assert.equal(runner.backend, 'webgpu');
    assert.deepEqual(runner.fallbackLog, []);
    const x = inputX();
    const out = await runner.run({ x });
    assert.deepEqual(Object.keys(out), ['y']);
    assert.deepEqual(out.y.shape, [N]);
    assert.equal(out.y.dtype, 'float32');
    sameArray(out.y.data, scaleAdd(x, weightW()));
    const x2 = x.map((v) => v - 1);
    const out2 = await runner.run({ x: x2 });
    sameArray(out.y.data, scaleAdd(x, weightW()), 'first output after a second run');
    sameArray(out2.y.data, scaleAdd(x2, weightW()));
  });
});

test('GPU -> CPU Relu -> GPU: readback before the CPU step, upload after it', { skip }, async () => {
  const steps = [
    gpuStep(0, [0, 1, 2]), // a = x*2 + w
    { cpu: { op: 'Relu', domain: '', name: 'relu', inputs: [2], outputs: [3], attrs: {} } }, // b = relu(a)
    gpuStep(1, [3, 1, 4]), // y = b + w
  ];
  await withRunner({ steps, outputs: [4, 3, 2] }, {}, async (runner) => {
    const x = inputX();
    const w = weightW();
    for (let r = 0; r < 2; r++) {
      const xr = x.map((v) => v + r);
      const out = await runner.run({ x: xr });
      const a = scaleAdd(xr, w);
      const b = relu(a);
      sameArray(out.a.data, a, 'a (a GPU value read back)');
      sameArray(out.b.data, b, 'b (a CPU result)');
      sameArray(out.y.data, Float32Array.from(b, (v, i) => Math.fround(v + w[i])), 'y');
    }
  });
});

test('a CPU step reading a weight and the input; an int64 value computed on the GPU as i32', { skip }, async () => {
  const steps = [
    { cpu: { op: 'Add', domain: '', name: 'add', inputs: [0, 1], outputs: [2], attrs: {} } }, // a = x + w (CPU)
    gpuStep(1, [2, 1, 3]), // b = a + w (GPU: a uploaded)
    gpuStep(2, [5]), // idx = i - 3
  ];
  const extraValues = [{ name: 'idx', dtype: 'int64', shape: [N], gpu: { buffer: 0, offset: 5 * 4096, byteLength: N * 4 } }];
  await withRunner({ steps, outputs: [3, 5], shaders: [SCALE_ADD, (await import('./webgpu-helpers.js')).ADD, IOTA], extraValues }, {}, async (runner) => {
    const x = inputX();
    const w = weightW();
    const out = await runner.run({ x });
    const a = Float32Array.from(x, (v, i) => Math.fround(v + w[i]));
    sameArray(out.b.data, Float32Array.from(a, (v, i) => Math.fround(v + w[i])), 'b');
    assert.equal(out.idx.dtype, 'int64');
    assert.ok(out.idx.data instanceof BigInt64Array);
    assert.deepEqual([...out.idx.data.slice(0, 4)], [-3n, -2n, -1n, 0n]);
    assert.equal(out.idx.data[N - 1], BigInt(N - 4));
  });
});

test('workgroup overrides beyond the limits are clamped (kernels are correct for any size)', { skip }, async () => {
  for (const WG_X of [1, 7, 100000]) {
    const step = gpuStep(0, [0, 1, 4], { workgroup: { override: { WG_X } } });
    await withRunner({ steps: [step] }, {}, async (runner) => {
      const x = inputX();
      const out = await runner.run({ x });
      sameArray(out.y.data, scaleAdd(x, weightW()), `y with WG_X=${WG_X}`);
    });
  }
});

test('a shader that does not compile makes load() fall back with the compiler message', { skip }, async () => {
  const bad = SCALE_ADD.replace('x[i] * 2.0', 'x[i] * undefined_thing');
  const { plan, jsProgram, weights } = planFor({ steps: [gpuStep(0, [0, 1, 4])], shaders: [bad] });
  jsProgram.ops = [
    { op: 'Mul', domain: '', name: 'm', inputs: [0, 5], outputs: [2], attrs: {} },
    { op: 'Add', domain: '', name: 'a', inputs: [2, 1], outputs: [4], attrs: {} },
  ];
  jsProgram.values.push({ name: 'two', dtype: 'float32', shape: [], const: { encoding: 'fill', value: 2, dtype: 'float32', shape: [] } });
  const { dir, cleanup } = writeWebGPUBundle({ plan, jsProgram, weights });
  try {
    const runner = await load(dir, { backends: ['webgpu', 'js'] });
    try {
      assert.equal(runner.backend, 'js');
      assert.equal(runner.fallbackLog.length, 1);
      assert.match(runner.fallbackLog[0].reason, /WGSL shader 0 \(k0\) does not compile: \d+:\d+: .*undefined_thing/);
      const x = inputX();
      sameArray((await runner.run({ x })).y.data, scaleAdd(x, weightW()), 'y on js');
    } finally {
      runner.dispose();
    }
  } finally {
    cleanup();
  }
});

test('a binding that does not match the shader (validation error) fails load with the reason', { skip }, async () => {
  // the shader declares 3 bindings, the step binds 2
  await assert.rejects(withRunner({ steps: [gpuStep(0, [0, 4])] }, {}, async () => {}), /- webgpu: .*(validation|bind|layout)/is);
});

test('one buffer bound read-only and read-write in one step fails load, naming the step', { skip }, async () => {
  const readOnly = SCALE_ADD.replace('var<storage, read_write> x', 'var<storage, read> x');
  await assert.rejects(withRunner({ steps: [gpuStep(0, [0, 1, 4])], shaders: [readOnly] }, {}, async () => {}),
    /- webgpu: WebGPU validation error: gpu step 0 'k0' \(Test\): .*writable usage and another usage/s);
});

test('a lost device makes later runs fail with a clear error', { skip }, async () => {
  await withRunner({ steps: [gpuStep(0, [0, 1, 4])] }, {}, async (runner) => {
    await runner.run({ x: inputX() });
    runner._executor.device.destroy(); // what a driver reset looks like to the backend
    for (let i = 0; i < 50 && !runner._executor.lost; i++) await new Promise((r) => setTimeout(r, 10));
    await assert.rejects(runner.run({ x: inputX() }), /WebGPU device was lost .*load the model again/);
  });
});

test('a split weight (gpu.parts, one binding per part), a "workgroups" step, a folded 1-D dispatch', { skip }, async () => {
  const M = 70000; // > 65535 workgroups of 1 invocation: the runtime folds the dispatch into y
  const SPLIT = /* wgsl */ `
override WG_X: u32 = 64;
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read> w0: array<f32>;
@group(0) @binding(2) var<storage, read> w1: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(WG_X)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG_X;
  if (i >= ${N}u) { return; }
  let h = ${N / 2}u;
  y[i] = x[i] + select(w1[i - h], w0[i], i < h);
}`;
  const FILL = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> z: array<f32>;
@compute @workgroup_size(1)
fn main(@builtin(workgroup_id) wg: vec3<u32>) { z[wg.x] = f32(wg.x) * 0.5; }`;
  const LINEAR = /* wgsl */ `
override WG_X: u32 = 64;
@group(0) @binding(0) var<storage, read_write> big: array<f32>;
@compute @workgroup_size(WG_X)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG_X;
  if (i >= ${M}u) { return; }
  big[i] = f32(i);
}`;
  const half = (N / 2) * 4;
  const extraValues = [
    { name: 'z', dtype: 'float32', shape: [8], gpu: { buffer: 0, offset: 5 * 4096, byteLength: 32 } },
    { name: 'big', dtype: 'float32', shape: [M], gpu: { buffer: 3, offset: 0, byteLength: M * 4 } },
  ];
  const b = planFor({
    steps: [
      { gpu: { shader: 0, name: 'split', bindings: [{ value: 0 }, { value: 1, part: 0 }, { value: 1, part: 1 }, { value: 4 }],
        workgroup: { override: { WG_X: 64 } }, invocations: [N, 1, 1] } },
      { gpu: { shader: 1, name: 'fill', bindings: [{ value: 5 }], workgroups: [8] } },
      { gpu: { shader: 2, name: 'linear', bindings: [{ value: 6 }], workgroup: { override: { WG_X: 1 } }, invocations: [M] } },
    ],
    outputs: [4, 5, 6],
    shaders: [SPLIT, FILL, LINEAR],
    extraValues,
  });
  b.plan.buffers = [b.plan.buffers[0], { byteLength: half, kind: 'weights' }, { byteLength: half, kind: 'weights' }, { byteLength: M * 4, kind: 'arena' }];
  b.plan.values[1].gpu = { byteLength: N * 4, parts: [{ buffer: 1, offset: 0, byteLength: half }, { buffer: 2, offset: 0, byteLength: half }] };
  const { dir, cleanup } = writeWebGPUBundle(b);
  try {
    const runner = await load(dir, { backends: ['webgpu'] });
    try {
      const x = inputX();
      const out = await runner.run({ x });
      const w = weightW();
      sameArray(out.y.data, Float32Array.from(x, (v, i) => Math.fround(v + w[i])), 'y (split weight)');
      sameArray(out.z.data, Float32Array.from({ length: 8 }, (_, i) => i * 0.5), 'z (workgroups step)');
      sameArray(out.big.data, Float32Array.from({ length: M }, (_, i) => i), 'big (folded dispatch)');
    } finally {
      runner.dispose();
    }
  } finally {
    cleanup();
  }
});
