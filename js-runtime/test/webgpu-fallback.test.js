// The webgpu backend's fallback reasons, without a GPU: testing hooks replace navigator.gpu / Dawn
// (options.webgpuHooks) with nothing, a GPU without adapters, or a fake GPU whose shaders fail to
// compile; load() must fall back to the next backend with the reason in runner.fallbackLog.
import test from 'node:test';
import assert from 'node:assert/strict';
import { load } from '../src/index.js';
import { chooseWorkgroup } from '../src/backends/webgpu/backend.js';
import { fakeGPU, gpuStep, inputX, planFor, weightW, writeWebGPUBundle, addWebGPUEntry } from './webgpu-helpers.js';
import { wasmSkip, writeWasmBundle } from './wasm-helpers.js';

/** The y = x*2 + w model as a webgpu plan and a js program (Mul, Add). */
function scaleAddBundle(planOptions = {}) {
  const { plan, jsProgram, weights } = planFor({ steps: [gpuStep(0, [0, 1, 4])], ...planOptions });
  jsProgram.values.push({ name: 'two', dtype: 'float32', shape: [], const: { encoding: 'fill', value: 2, dtype: 'float32', shape: [] } });
  jsProgram.ops = [
    { op: 'Mul', domain: '', name: 'm', inputs: [0, 5], outputs: [2], attrs: {} },
    { op: 'Add', domain: '', name: 'a', inputs: [2, 1], outputs: [4], attrs: {} },
  ];
  return writeWebGPUBundle({ plan, jsProgram, weights });
}

async function fallsBackToJs(webgpuHooks, reason, planOptions) {
  const { dir, cleanup } = scaleAddBundle(planOptions);
  try {
    const runner = await load(dir, { backends: ['webgpu', 'js'], webgpuHooks });
    try {
      assert.equal(runner.backend, 'js');
      assert.equal(runner.fallbackLog.length, 1);
      assert.equal(runner.fallbackLog[0].backend, 'webgpu');
      assert.match(runner.fallbackLog[0].reason, reason);
      const x = inputX();
      const w = weightW();
      const y = (await runner.run({ x })).y.data;
      assert.equal(y[5], Math.fround(Math.fround(x[5] * 2) + w[5]));
      return runner.fallbackLog[0].reason;
    } finally {
      runner.dispose();
    }
  } finally {
    cleanup();
  }
}

test('no WebGPU (hook: gpu = null) -> js, with the reason', async () => {
  const reason = await fallsBackToJs({ gpu: null }, /^no WebGPU in this environment/);
  assert.equal(reason, 'no WebGPU in this environment (npm install webgpu for Node)');
});

test('the webgpu package cannot be imported -> the reason says how to get it', async () => {
  await fallsBackToJs({ importWebGPU: async () => { throw new Error("Cannot find package 'webgpu'"); } },
    /^no WebGPU in this environment \(npm install webgpu for Node\): Cannot find package 'webgpu'/);
});

test('requestAdapter() returns null -> "no adapter" reason', async () => {
  await fallsBackToJs({ gpu: fakeGPU({ adapter: false }) }, /WebGPU has no adapter here \(requestAdapter\(\) returned null/);
});

test('a shader that fails to compile (fake GPU) -> the compiler message', async () => {
  const gpu = fakeGPU({ compileErrors: (code) => [{ type: 'warning', lineNum: 1, linePos: 1, message: 'meh' },
    { type: 'error', lineNum: 9, linePos: 14, message: "unresolved identifier 'bad'" }] });
  await fallsBackToJs({ gpu }, /WGSL shader 0 \(k0\) does not compile: 9:14: unresolved identifier 'bad'/);
  assert.ok(gpu.log.includes('device.destroy'), 'the device is destroyed when load fails');
});

test('a missing feature (f16 plan on an adapter without shader-f16) and too small limits -> reasons', async () => {
  await fallsBackToJs({ gpu: fakeGPU() }, /needs the WebGPU feature 'shader-f16'/, { planOverrides: { precision: 'f16' } });
  await fallsBackToJs({ gpu: fakeGPU({ limits: { maxStorageBuffersPerShaderStage: 2 } }) },
    /the plan needs maxStorageBuffersPerShaderStage = 3, this adapter offers 2/);
});

test('load on a fake GPU: limits requested up to the plan\'s needs, workgroup sizes clamped, dispose destroys', async () => {
  const { dir, cleanup } = scaleAddBundle({ steps: [gpuStep(0, [0, 1, 4], { workgroup: { override: { WG_X: 4096 } } })] });
  try {
    const gpu = fakeGPU({ limits: { maxComputeInvocationsPerWorkgroup: 128, maxComputeWorkgroupSizeX: 1024 } });
    const runner = await load(dir, { backends: ['webgpu'], webgpuHooks: { gpu } });
    assert.equal(runner.backend, 'webgpu');
    const req = JSON.parse(gpu.log.find((l) => l.startsWith('requestDevice ')).slice('requestDevice '.length));
    assert.deepEqual(req.requiredFeatures, []);
    assert.equal(req.requiredLimits.maxStorageBuffersPerShaderStage, 3);
    assert.equal(req.requiredLimits.maxStorageBufferBindingSize, 4000);
    assert.equal(req.requiredLimits.maxComputeInvocationsPerWorkgroup, 128);
    assert.ok(gpu.log.includes('pipeline {"WG_X":128}'), gpu.log.join('\n'));
    runner.dispose();
    assert.ok(gpu.log.includes('device.destroy'));
  } finally {
    cleanup();
  }
});

test('chooseWorkgroup clamps per dimension, then the product', () => {
  const limits = { maxComputeWorkgroupSizeX: 256, maxComputeWorkgroupSizeY: 256, maxComputeWorkgroupSizeZ: 64, maxComputeInvocationsPerWorkgroup: 256 };
  assert.deepEqual(chooseWorkgroup({ WG_X: 64 }, limits), { constants: { WG_X: 64 }, size: [64, 1, 1] });
  assert.deepEqual(chooseWorkgroup({ WG_X: 1024 }, limits), { constants: { WG_X: 256 }, size: [256, 1, 1] });
  assert.deepEqual(chooseWorkgroup({ WG_X: 16, WG_Y: 32, K: 3 }, limits), { constants: { WG_X: 16, WG_Y: 16, K: 3 }, size: [16, 16, 1] });
  assert.deepEqual(chooseWorkgroup(undefined, limits), { constants: {}, size: [1, 1, 1] });
});

test('an invalid plan fails load with the reason', async () => {
  await fallsBackToJs({ gpu: fakeGPU() }, /step 0 binding 2: value 'two' has no gpu placement|refers to value 9/,
    { steps: [gpuStep(0, [0, 1, 9])] });
});

const skipWasm = wasmSkip();

test('load(dir, { backends: [webgpu, wasm, js] }) without WebGPU falls back to wasm with the reason', { skip: skipWasm }, async () => {
  const { dir, cleanup } = writeWasmBundle({ moduleThreads: false });
  try {
    addWebGPUEntry(dir, planFor({ steps: [gpuStep(0, [0, 1, 4])] }).plan);
    const runner = await load(dir, { backends: ['webgpu', 'wasm', 'js'], webgpuHooks: { gpu: null } });
    try {
      assert.equal(runner.backend, 'wasm');
      assert.deepEqual(runner.fallbackLog, [{ backend: 'webgpu', reason: 'no WebGPU in this environment (npm install webgpu for Node)' }]);
    } finally {
      runner.dispose();
    }
  } finally {
    cleanup();
  }
});
