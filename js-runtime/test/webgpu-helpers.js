// Helpers of the webgpu backend tests: finding a WebGPU adapter in Node (the optional `webgpu`
// package, Dawn, on a Vulkan ICD: lavapipe or SwiftShader, see tools/setup-webgpu.sh), hand-written
// webgpu plans, and a fake GPU for the fallback tests that need no GPU at all.

import { existsSync, mkdirSync, mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireOrSkip } from './ci.js';
import { packWeights, tempDir } from './helpers.js';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

async function probeAdapter() {
  let mod;
  try {
    mod = await import('webgpu');
  } catch (e) {
    return { reason: `the optional npm package 'webgpu' (Dawn) is not installed (${String(e.message).split('\n')[0]})` };
  }
  try {
    const adapter = await mod.create([]).requestAdapter();
    if (!adapter) return { reason: 'no adapter' };
    const device = await adapter.requestDevice();
    device.destroy();
    return { adapter: adapter.info?.description || adapter.info?.vendor || 'unknown adapter' };
  } catch (e) {
    return { reason: `Dawn failed: ${e.message}` };
  }
}

let availability; // a promise of { adapter } or { reason }

/**
 * Whether WebGPU runs in this Node process: { adapter: description } or { reason }. Without
 * VK_ICD_FILENAMES, when Dawn finds no adapter, chromium's SwiftShader ICD is tried (if installed).
 */
export function webgpuAvailability() {
  availability ??= (async () => {
    if (!process.env.XDG_RUNTIME_DIR) {
      const dir = mkdtempSync(join(tmpdir(), 'webdnn-xdg-'));
      process.env.XDG_RUNTIME_DIR = dir;
    }
    let r = await probeAdapter();
    if (r.reason === 'no adapter' && !process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) {
      process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
      r = await probeAdapter();
    }
    if (r.reason === 'no adapter') {
      r.reason = 'Dawn found no WebGPU adapter (no usable Vulkan ICD: run `eval "$(tools/setup-webgpu.sh)"`)';
    }
    return r;
  })();
  return availability;
}

/** `{ skip }` option value of the GPU tests (false, or the printed reason; under CI=true a failure, see ci.js). */
export async function gpuSkip() {
  const r = await webgpuAvailability();
  if (r.reason) {
    const reason = `WebGPU is not available in Node here: ${r.reason}; skipping the tests that run WGSL`;
    console.log(`# ${reason}`);
    return requireOrSkip(reason);
  }
  console.log(`# webgpu tests run on: ${r.adapter} (VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES ?? 'unset'})`);
  return false;
}

export const N = 1000;

/** y = x * 2 + w, elementwise over N floats (one thread per element, WG_X overridable). */
export const SCALE_ADD = /* wgsl */ `
override WG_X: u32 = 64;
@group(0) @binding(0) var<storage, read_write> x: array<f32>; // arena buffer: read_write (see docs)
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(WG_X)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= arrayLength(&y)) { return; }
  y[i] = x[i] * 2.0 + w[i];
}`;

/** y = a + b. */
export const ADD = /* wgsl */ `
override WG_X: u32 = 64;
@group(0) @binding(0) var<storage, read_write> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(WG_X)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= arrayLength(&y)) { return; }
  y[i] = a[i] + b[i];
}`;

/** idx[i] = i - 3 (an int64 value stored as i32 on the GPU). */
export const IOTA = /* wgsl */ `
override WG_X: u32 = 64;
@group(0) @binding(0) var<storage, read_write> idx: array<i32>;
@compute @workgroup_size(WG_X)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= arrayLength(&idx)) { return; }
  idx[i] = i32(i) - 3;
}`;

export function inputX() {
  return Float32Array.from({ length: N }, (_, i) => Math.sin(i) * 10);
}

export function weightW() {
  return Float32Array.from({ length: N }, (_, i) => (i % 7) - 3 + 0.5);
}

const SLOT = 4096; // bytes per arena slot (N floats, padded to the 256-byte binding alignment)
const f32 = (name, k, extra = {}) => ({ name, dtype: 'float32', shape: [N], gpu: { buffer: 0, offset: k * SLOT, byteLength: N * 4 }, ...extra });

/**
 * A webgpu plan + js program over values x (input), w (weight), a, b, y (slots 0..3) and the
 * `steps` given. Returns { plan, jsProgram, weights }.
 */
export function planFor({ steps, outputs = [4], shaders = [SCALE_ADD, ADD], extraValues = [], planOverrides = {} }) {
  const { bytes, refs } = packWeights(weightW());
  const wConst = { encoding: 'raw', ...refs[0], dtype: 'float32', shape: [N] };
  const values = [
    f32('x', 0),
    { name: 'w', dtype: 'float32', shape: [N], const: wConst, gpu: { buffer: 1, offset: 0, byteLength: N * 4 } },
    f32('a', 1),
    f32('b', 2),
    f32('y', 3),
    ...extraValues,
  ];
  const plan = {
    opsets: { '': 17 },
    precision: 'f32',
    values,
    buffers: [{ byteLength: 8 * SLOT, kind: 'arena' }, { byteLength: N * 4, kind: 'weights' }],
    shaders,
    inputs: [0],
    outputs,
    steps,
    ...planOverrides,
  };
  // the same model for the js backend (reference and fallback)
  const jsProgram = {
    opsets: { '': 17 },
    values: values.map(({ gpu, ...v }) => v),
    inputs: [0],
    outputs,
    arena: { byteLength: 0 },
    ops: [],
  };
  return { plan, jsProgram, weights: bytes };
}

export const gpuStep = (shader, bindings, extra = {}) => ({
  gpu: { shader, entryPoint: 'main', name: `k${shader}`, op: 'Test', bindings: bindings.map((value) => ({ value })),
    workgroup: { override: { WG_X: 64 } }, invocations: [N, 1, 1], ...extra },
});

/** Writes a bundle with a webgpu plan (and optionally a js program) into a new temporary folder. */
export function writeWebGPUBundle({ plan, jsProgram = null, weights, extraBackends = {} }) {
  const { dir, cleanup } = tempDir('webdnn-webgpu-');
  mkdirSync(join(dir, 'webgpu'), { recursive: true });
  writeFileSync(join(dir, 'webgpu', 'plan.json'), JSON.stringify(plan, null, 2));
  const backends = { webgpu: { plan: 'webgpu/plan.json' }, ...extraBackends };
  if (jsProgram) {
    mkdirSync(join(dir, 'js'), { recursive: true });
    writeFileSync(join(dir, 'js', 'program.json'), JSON.stringify(jsProgram, null, 2));
    backends.js = { program: 'js/program.json' };
  }
  const spec = (vi) => ({ name: plan.values[vi].name, shape: plan.values[vi].shape, dtype: plan.values[vi].dtype });
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({
    format: 'webdnn-bundle',
    formatVersion: 3,
    name: 'webgpu-fixture',
    source: { file: 'fixture.onnx', sha256: '0' },
    compiler: { version: '0.1.0', plugins: {} },
    inputs: plan.inputs.map(spec),
    outputs: plan.outputs.map(spec),
    weights: { file: 'weights.bin', byteLength: weights.byteLength },
    backends,
  }, null, 2));
  writeFileSync(join(dir, 'weights.bin'), weights);
  return { dir, cleanup };
}

/** Adds a webgpu entry (a trivial plan) to the manifest of an existing bundle folder. */
export function addWebGPUEntry(dir, plan) {
  mkdirSync(join(dir, 'webgpu'), { recursive: true });
  writeFileSync(join(dir, 'webgpu', 'plan.json'), JSON.stringify(plan, null, 2));
  const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  m.backends.webgpu = { plan: 'webgpu/plan.json' };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m, null, 2));
}

/**
 * A fake navigator.gpu for tests without a GPU: enough of the API for load() to get through
 * (computes nothing). `adapter: null` makes requestAdapter() return null; `compileErrors(code)`
 * returns the compilation messages of a shader; `features`, `limits` override the adapter's.
 */
export function fakeGPU({ adapter = true, compileErrors = () => [], features = [], limits = {}, log = [] } = {}) {
  const L = {
    maxBufferSize: 268435456, maxStorageBufferBindingSize: 134217728, maxStorageBuffersPerShaderStage: 8,
    maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256, maxComputeWorkgroupSizeY: 256,
    maxComputeWorkgroupSizeZ: 64, maxComputeWorkgroupsPerDimension: 65535, maxComputeWorkgroupStorageSize: 16384, ...limits,
  };
  const scopes = [];
  const device = {
    limits: L,
    features: new Set(features),
    lost: new Promise(() => {}),
    queue: { writeBuffer: () => {}, submit: () => {}, onSubmittedWorkDone: async () => {} },
    createBuffer: ({ size }) => ({ size, destroy: () => log.push('buffer.destroy') }),
    createShaderModule: ({ code }) => ({ getCompilationInfo: async () => ({ messages: compileErrors(code) }) }),
    createComputePipelineAsync: async (desc) => { log.push(`pipeline ${JSON.stringify(desc.compute.constants)}`); return { getBindGroupLayout: () => ({}) }; },
    createBindGroup: () => ({}),
    createCommandEncoder: () => ({
      beginComputePass: () => ({ setPipeline() {}, setBindGroup() {}, dispatchWorkgroups() {}, end() {} }),
      finish: () => ({}),
    }),
    pushErrorScope: (f) => scopes.push(f),
    popErrorScope: async () => { scopes.pop(); return null; },
    destroy: () => log.push('device.destroy'),
  };
  return {
    log,
    requestAdapter: async () => (adapter ? {
      limits: L,
      features: new Set(features),
      info: { vendor: 'fake' },
      requestDevice: async (desc) => { log.push(`requestDevice ${JSON.stringify(desc)}`); return device; },
    } : null),
  };
}
