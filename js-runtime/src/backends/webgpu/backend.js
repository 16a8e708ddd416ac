// The webgpu backend: runs a bundle's webgpu plan (docs/webgpu-backend.md).
//
// Load: gets a GPU (navigator.gpu in browsers; the optional `webgpu` npm package (Dawn) in Node),
// an adapter and a device with the limits the plan needs, creates the plan's buffers, uploads the
// weights once, compiles the shaders and creates every pipeline and bind group. Any error here
// (no adapter, missing feature, shader compile error, validation, out of memory, device lost)
// throws with the reason, so that load() falls back to the next backend.
// Run: writes the inputs, records the GPU steps between CPU steps into one command encoder (one
// compute pass per run of consecutive GPU steps), runs CPU steps with the js kernels (values they
// read are copied back with mapAsync first, values they write are uploaded after) and reads the
// outputs back.

import { decodeConstant } from '../../constants.js';
import { TYPED_ARRAYS, sizeOf, numberToFloat16Bits, float16BitsToNumber } from '../js/kernels/util.js';
import { capturedNames } from '../subgraphs.js';
import { gpuCounters } from '../counters.js';

// GPUBufferUsage / GPUMapMode flags (not every environment exposes the globals, e.g. Dawn in Node).
const USAGE = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80 };
/** minStorageBufferOffsetAlignment: the offsets of values placed at run time */
const OFFSET_ALIGN = 256;
/** Layouts of the values placed at run time (slots and bind groups) kept, the most recent ones. */
const SHAPE_CACHE = 8;
const MAP_READ = 0x1;

/** Element types of values in GPU buffers, and their sizes. */
const GPU_TYPES = { f32: 4, f16: 2, i32: 4, u32: 4 };

const NO_WEBGPU_NODE = 'no WebGPU in this environment (npm install webgpu for Node)';
const NO_WEBGPU_BROWSER = 'no WebGPU in this environment (navigator.gpu is undefined: it needs a browser with ' +
  'WebGPU enabled and a secure context)';

function message(e) {
  return e && e.message ? e.message : String(e);
}

function isNode() {
  return typeof process !== 'undefined' && !!process.versions?.node;
}

const round4 = (n) => Math.ceil(n / 4) * 4;

let nodeGPU = null; // Dawn's GPU object, created once per process

/**
 * The GPU object of this environment ({ gpu } or { reason }).
 * @param {{ gpu?: any, importWebGPU?: () => Promise<any> }} hooks `gpu`: replaces navigator.gpu /
 *   Dawn (null: behave as if there were no WebGPU); `importWebGPU`: replaces import('webgpu')
 */
export async function getGPU(hooks = {}) {
  const node = isNode();
  if (Object.hasOwn(hooks, 'gpu')) {
    return hooks.gpu ? { gpu: hooks.gpu } : { reason: node ? NO_WEBGPU_NODE : NO_WEBGPU_BROWSER };
  }
  if (globalThis.navigator?.gpu) return { gpu: globalThis.navigator.gpu };
  if (!node) return { reason: NO_WEBGPU_BROWSER };
  if (nodeGPU && !hooks.importWebGPU) return { gpu: nodeGPU };
  let mod;
  try {
    // A computed specifier: bundlers must not try to resolve this Node-only optional dependency.
    const name = 'webgpu';
    mod = hooks.importWebGPU ? await hooks.importWebGPU() : await import(/* webpackIgnore: true */ /* @vite-ignore */ name);
  } catch (e) {
    return { reason: `${NO_WEBGPU_NODE}: ${message(e).split('\n')[0]}` };
  }
  const create = mod?.create ?? mod?.default?.create;
  if (typeof create !== 'function') return { reason: `${NO_WEBGPU_NODE}: the webgpu package has no create()` };
  let gpu;
  try {
    gpu = create([]);
  } catch (e) {
    return { reason: `the webgpu package (Dawn) failed to start: ${message(e)}` };
  }
  if (!hooks.importWebGPU) nodeGPU = gpu;
  return { gpu };
}

/** What the plan asks of a device: limits, features. */
function planNeeds(plan) {
  const maxBuffer = Math.max(0, ...plan.buffers.map((b) => round4(b.byteLength)));
  let maxBinding = 0;
  let maxBindings = 0;
  for (const s of plan.steps) {
    if (!s.gpu) continue;
    maxBindings = Math.max(maxBindings, s.gpu.bindings.length);
    for (const b of s.gpu.bindings) {
      if (plan.values[b.value].gpu) maxBinding = Math.max(maxBinding, round4(bindingRange(plan, b).size));
    }
  }
  const features = new Set(plan.features ?? []);
  if (plan.precision === 'f16') features.add('shader-f16');
  return {
    limits: {
      maxBufferSize: maxBuffer,
      maxStorageBufferBindingSize: maxBinding,
      maxStorageBuffersPerShaderStage: maxBindings,
    },
    features: [...features],
  };
}

/** The buffer range a binding covers: { buffer, offset, size }. */
function bindingRange(plan, b) {
  const g = placeOf(plan.values[b.value].gpu, b.part);
  const offset = g.offset + (b.offset ?? 0);
  const size = b.byteLength ?? (g.byteLength - (b.offset ?? 0));
  return { buffer: g.buffer, offset, size, placement: g };
}

/** The { buffer, offset, byteLength } of a value's placement, or of part `part` of a split one. */
function placeOf(gpu, part) {
  if (!Array.isArray(gpu.parts)) return gpu;
  if (part === undefined) throw new Error('binds a split value without "part"');
  return gpu.parts[part];
}

/** The pieces of a value in GPU buffers: its placement, or its parts (consecutive slices of its bytes). */
function piecesOf(gpu) {
  return Array.isArray(gpu.parts) ? gpu.parts : [gpu];
}

/** Upper bound on the threads a step may launch per element of its largest binding (see validatePlan). */
const MAX_THREADS_PER_ELEMENT = 256;

function validatePlan(plan, planPath) {
  const bad = (what) => { throw new Error(`${planPath}: ${what}`); };
  if (plan === null || typeof plan !== 'object') bad('not an object');
  for (const key of ['values', 'buffers', 'shaders', 'inputs', 'outputs', 'steps']) {
    if (!Array.isArray(plan[key])) bad(`"${key}" must be a list`);
  }
  if (plan.precision !== undefined && plan.precision !== 'f32' && plan.precision !== 'f16') {
    bad(`"precision" must be "f32" or "f16", got ${JSON.stringify(plan.precision)}`);
  }
  plan.buffers.forEach((b, i) => {
    if (!b || !Number.isInteger(b.byteLength) || b.byteLength < 0) bad(`buffer ${i} has no integer byteLength`);
  });
  plan.shaders.forEach((s, i) => { if (typeof s !== 'string') bad(`shader ${i} is not WGSL source text`); });
  const index = (vi, what) => {
    if (!Number.isInteger(vi) || vi < 0 || vi >= plan.values.length) bad(`${what} refers to value ${JSON.stringify(vi)}, which does not exist`);
  };
  plan.inputs.forEach((vi) => index(vi, 'inputs'));
  plan.outputs.forEach((vi) => index(vi, 'outputs'));
  plan.values.forEach((v, i) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) bad(`value #${i} is not an object`);
    const g = v.gpu;
    const where = `value '${v.name ?? `#${i}`}'`;
    if (v.dyn !== undefined) {
      if (g) bad(`${where}: a value placed at run time ("dyn") has no "gpu" placement`);
      if (!Number.isInteger(v.dyn) || plan.dynValues?.[v.dyn] !== i) bad(`${where}: "dyn" ${JSON.stringify(v.dyn)} is not its entry in "dynValues"`);
      if (!gpuType(v, plan)) bad(`${where}: dtype ${JSON.stringify(v.dtype)} cannot live in a GPU buffer`);
      return;
    }
    if (!g) return;
    if (Array.isArray(g.parts) && !v.const) bad(`${where}: only constants can be split into parts`);
    if (Array.isArray(g.parts) && g.parts.length === 0) bad(`${where}: gpu.parts is empty`);
    for (const piece of piecesOf(g)) {
      if (!Number.isInteger(piece?.buffer) || !plan.buffers[piece.buffer]) bad(`${where}: gpu buffer ${JSON.stringify(piece?.buffer)} does not exist`);
      if (!Number.isInteger(piece.offset) || piece.offset < 0 || piece.offset % 4 !== 0) bad(`${where}: gpu offset must be a multiple of 4`);
      if (!Number.isInteger(piece.byteLength) || piece.byteLength < 0) bad(`${where}: gpu byteLength must be an integer`);
      if (piece.offset + piece.byteLength > round4(plan.buffers[piece.buffer].byteLength)) {
        bad(`${where}: [${piece.offset}, ${piece.offset + piece.byteLength}) lies outside buffer ${piece.buffer} (${plan.buffers[piece.buffer].byteLength} bytes)`);
      }
      if (v.const && plan.buffers[piece.buffer].kind !== 'weights') bad(`${where} is a constant outside a "weights" buffer`);
    }
    const total = piecesOf(g).reduce((a, piece) => a + piece.byteLength, 0);
    if (!Array.isArray(v.shape) || !v.shape.every((d) => Number.isInteger(d) && d >= 0)) bad(`${where} is on the GPU but has no static shape`);
    const type = gpuType(v, plan);
    if (!type) bad(`${where}: dtype ${JSON.stringify(v.dtype)} cannot live in a GPU buffer`);
    if (sizeOf(v.shape) * GPU_TYPES[type] > round4(total)) {
      bad(`${where}: ${sizeOf(v.shape)} ${type} elements do not fit its ${total} GPU bytes`);
    }
  });
  plan.steps.forEach((s, k) => {
    if (s?.cpu) {
      const c = s.cpu;
      if (typeof c.op !== 'string' || !Array.isArray(c.inputs) || !Array.isArray(c.outputs)) bad(`step ${k}: cpu step needs op, inputs, outputs`);
      c.inputs.forEach((vi) => vi < 0 || index(vi, `step ${k}`));
      c.outputs.forEach((vi) => vi < 0 || index(vi, `step ${k}`));
      return;
    }
    const g = s?.gpu;
    if (!g) bad(`step ${k} is neither { gpu } nor { cpu }`);
    if (!Number.isInteger(g.shader) || typeof plan.shaders[g.shader] !== 'string') bad(`step ${k}: shader ${JSON.stringify(g.shader)} does not exist`);
    if (!Array.isArray(g.bindings)) bad(`step ${k}: "bindings" must be a list`);
    let widest = 0; // bytes of the largest binding, for the dispatch bound below
    g.bindings.forEach((b, i) => {
      index(b?.value, `step ${k} binding ${i}`);
      const gv = plan.values[b.value].gpu;
      if (plan.values[b.value].dyn !== undefined) return; // placed at run time (checked then)
      if (!gv) bad(`step ${k} binding ${i}: value '${plan.values[b.value].name}' has no gpu placement`);
      if (Array.isArray(gv.parts) && !(Number.isInteger(b.part) && gv.parts[b.part])) {
        bad(`step ${k} binding ${i}: value '${plan.values[b.value].name}' is split: "part" must name one of its ${gv.parts.length} parts`);
      }
      const r = bindingRange(plan, b);
      const g2 = r.placement;
      if (r.offset < g2.offset || r.offset + r.size > g2.offset + round4(g2.byteLength) || r.size <= 0) {
        bad(`step ${k} binding ${i}: the range lies outside value '${plan.values[b.value].name}'`);
      }
      widest = Math.max(widest, r.size);
    });
    // sizes: integers, or (bundles built with open dims) dim expressions evaluated per input shape
    const size = (n) => (Number.isInteger(n) && n >= 0) || (typeof n === 'string' && plan.dims !== undefined);
    const dims = (a) => Array.isArray(a) && a.length >= 1 && a.length <= 3 && a.every(size);
    if (g.workgroups !== undefined) {
      if (!dims(g.workgroups)) bad(`step ${k}: "workgroups" must be 1 to 3 non-negative integers`);
    } else if (!dims(g.invocations)) {
      bad(`step ${k}: "invocations" (or "workgroups") must be 1 to 3 non-negative integers`);
    }
    if (g.dims !== undefined && typeof g.dims !== 'boolean') bad(`step ${k}: "dims" must be a boolean`);
    // Generated kernels launch at most one workgroup (<= 256 threads) per element they touch; a
    // dispatch far beyond that comes from a corrupted plan and would keep the GPU busy for minutes.
    // (Steps sized at run time are checked when their sizes are known: checkDispatch.)
    const threads = (g.workgroups ?? g.invocations).reduce((a, n) => a * (typeof n === 'number' ? n : 1), 1);
    const bound = MAX_THREADS_PER_ELEMENT * Math.max(1, widest / 2) + 65536;
    if (threads > bound) {
      bad(`step ${k}: dispatches ${threads} ${g.workgroups ? 'workgroups' : 'threads'}, more than ${MAX_THREADS_PER_ELEMENT} per element of its largest binding (${widest} bytes)`);
    }
    const wg = g.workgroup;
    if (wg !== undefined && (wg === null || typeof wg !== 'object' || Array.isArray(wg))) bad(`step ${k}: "workgroup" must be an object`);
    const ov = wg?.override;
    if (ov !== undefined) {
      if (ov === null || typeof ov !== 'object' || Array.isArray(ov)) bad(`step ${k}: "workgroup.override" must be an object of constants`);
      for (const [name, value] of Object.entries(ov)) {
        if (typeof value !== 'number' || !Number.isFinite(value)) bad(`step ${k}: override constant ${JSON.stringify(name)} is not a finite number`);
      }
    }
    if (g.entryPoint !== undefined && typeof g.entryPoint !== 'string') bad(`step ${k}: "entryPoint" must be a string`);
  });
}

/**
 * The element type of a value in its GPU buffer: `gpu.type` when given, else floats -> f16 when the
 * plan's precision is "f16", else f32; signed integers -> i32,
 * unsigned integers and bool -> u32 (64-bit integers are stored in 32 bits: toGPUBytes refuses values that
 * do not fit). null: not on the GPU.
 */
function gpuType(v, plan) {
  if (v.gpu?.type !== undefined) return Object.hasOwn(GPU_TYPES, v.gpu.type) ? v.gpu.type : null;
  switch (v.dtype) {
    case 'float32': case 'float64': case 'bfloat16': case 'float16': return plan.precision === 'f16' ? 'f16' : 'f32';
    case 'int8': case 'int16': case 'int32': case 'int64': return 'i32';
    case 'uint8': case 'uint16': case 'uint32': case 'uint64': case 'bool': return 'u32';
    default: return null;
  }
}

/**
 * Internal tensor data -> a fresh, non-shared, 4-byte-padded Uint8Array in the GPU element type.
 * Throws (a message to prefix with the value's name) when an int64/uint64 element does not fit in 32 bits.
 */
function toGPUBytes(data, type, n) {
  if (data.length < n) throw new Error(`has ${data.length} elements, the GPU buffer needs ${n}`);
  let out;
  const bytes = round4(n * GPU_TYPES[type]);
  const buffer = new ArrayBuffer(bytes);
  if (type === 'f16') {
    out = new Uint16Array(buffer, 0, n);
    for (let i = 0; i < n; i++) out[i] = numberToFloat16Bits(Number(data[i]));
  } else {
    out = type === 'f32' ? new Float32Array(buffer, 0, n) : type === 'i32' ? new Int32Array(buffer, 0, n) : new Uint32Array(buffer, 0, n);
    if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
      // 64-bit integers live on the GPU as 32-bit ones: refuse values that would be truncated
      // (silently wrong indices or shapes) rather than upload garbage.
      const [lo, hi] = type === 'i32' ? [-(2n ** 31n), 2n ** 31n - 1n] : [0n, 2n ** 32n - 1n];
      for (let i = 0; i < n; i++) {
        const x = data[i];
        if (x < lo || x > hi) {
          const dtype = data instanceof BigInt64Array ? 'int64' : 'uint64';
          throw new Error(`has ${dtype} element [${i}] = ${x}, outside the range of the ${type} the WebGPU backend ` +
            `stores ${dtype} values in ([${lo}, ${hi}]); use another backend for such values`);
        }
        out[i] = Number(x);
      }
    } else if (data.length === n) {
      out.set(data);
    } else {
      out.set(data.subarray(0, n));
    }
  }
  return new Uint8Array(buffer);
}

/** Bytes read back from the GPU -> internal tensor data of `dtype` (js backend representation). */
function fromGPUBytes(bytes, type, dtype, n) {
  const src = type === 'f16' ? new Uint16Array(bytes.buffer, bytes.byteOffset, n)
    : type === 'f32' ? new Float32Array(bytes.buffer, bytes.byteOffset, n)
      : type === 'i32' ? new Int32Array(bytes.buffer, bytes.byteOffset, n) : new Uint32Array(bytes.buffer, bytes.byteOffset, n);
  const internal = dtype === 'float16' || dtype === 'bfloat16' ? 'float32' : dtype;
  const Ctor = TYPED_ARRAYS[internal];
  const out = new Ctor(n);
  if (type === 'f16') {
    for (let i = 0; i < n; i++) out[i] = float16BitsToNumber(src[i]);
  } else if (out instanceof BigInt64Array || out instanceof BigUint64Array) {
    for (let i = 0; i < n; i++) out[i] = BigInt(src[i]);
  } else if (dtype === 'bool') {
    for (let i = 0; i < n; i++) out[i] = src[i] ? 1 : 0;
  } else {
    out.set(src);
  }
  return out;
}

/** Whether a value lives in a GPU buffer (placed by the plan, or at run time). */
function onGPU(v) {
  return !!v.gpu || v.dyn !== undefined;
}

/**
 * The workgroups to dispatch for a step: its `workgroups` as is, or its `invocations` divided by the workgroup
 * `size` (a 1-D dispatch past maxComputeWorkgroupsPerDimension folded into two dimensions). `counts`: the
 * step's sizes as numbers.
 */
function dispatchOf(g, counts, size, limits, label) {
  const maxGroups = limits.maxComputeWorkgroupsPerDimension ?? 65535;
  let dispatch;
  if (g.workgroups !== undefined) {
    dispatch = [...counts, 1, 1].slice(0, 3);
  } else {
    const inv = [...counts, 1, 1].slice(0, 3);
    dispatch = inv.map((n, d) => Math.ceil(n / size[d]));
    if (dispatch[0] > maxGroups && inv[1] === 1 && inv[2] === 1) {
      // 1-D kernels index with gid.x + gid.y * nwg.x * WG_X: fold into two dimensions
      const total = dispatch[0];
      dispatch = [Math.min(total, maxGroups), 0, 1];
      dispatch[1] = Math.ceil(total / dispatch[0]);
    }
  }
  if (dispatch.some((n) => !Number.isSafeInteger(n) || n < 0)) throw new Error(`${label}: bad dispatch size [${dispatch}]`);
  if (dispatch.some((n) => n > maxGroups)) {
    throw new Error(`${label}: dispatch [${dispatch}] exceeds maxComputeWorkgroupsPerDimension ${maxGroups} (workgroup [${size}])`);
  }
  return dispatch;
}

/**
 * Workgroup sizes for a step: the plan's WG_X / WG_Y / WG_Z override values (default 1), each
 * clamped to maxComputeWorkgroupSize{X,Y,Z}, then the largest halved until the product fits
 * maxComputeInvocationsPerWorkgroup. Returns { constants, size: [x, y, z] }.
 */
export function chooseWorkgroup(overrides, limits) {
  const constants = { ...(overrides ?? {}) };
  const keys = ['WG_X', 'WG_Y', 'WG_Z'];
  const maxDim = [limits.maxComputeWorkgroupSizeX ?? 256, limits.maxComputeWorkgroupSizeY ?? 256, limits.maxComputeWorkgroupSizeZ ?? 64];
  const size = keys.map((k, d) => {
    const want = Object.hasOwn(constants, k) ? Math.max(1, Math.floor(Number(constants[k]))) : 1;
    return Math.min(want, maxDim[d]);
  });
  const maxInv = limits.maxComputeInvocationsPerWorkgroup ?? 256;
  while (size[0] * size[1] * size[2] > maxInv) {
    const d = size.indexOf(Math.max(...size));
    size[d] = Math.max(1, Math.floor(size[d] / 2));
  }
  keys.forEach((k, d) => { if (Object.hasOwn(constants, k)) constants[k] = size[d]; });
  return { constants, size };
}

/**
 * Creates the webgpu backend's executor for a bundle.
 *
 * @param {import('../../bundle.js').Bundle} bundle an opened bundle
 * @param {{ plan?: string }} entry the manifest's `backends.webgpu` entry (default 'webgpu/plan.json')
 * @param {{ webgpu?: { device?: any, powerPreference?: string }, webgpuHooks?: object }} [options] load() options
 * @returns {Promise<WebGPUExecutor>}
 */
export async function createWebGPUBackend(bundle, entry, options = {}) {
  const hooks = options.webgpuHooks ?? {};
  const userDevice = options.webgpu?.device ?? null;
  const planPath = entry?.plan ?? 'webgpu/plan.json';
  if (typeof planPath !== 'string') throw new Error('manifest backends.webgpu has no "plan" file');

  let device = userDevice;
  let adapter = null;
  if (!device) {
    const { gpu, reason } = await getGPU(hooks);
    if (!gpu) throw new Error(reason);
    try {
      adapter = await gpu.requestAdapter(options.webgpu?.powerPreference ? { powerPreference: options.webgpu.powerPreference } : undefined);
    } catch (e) {
      throw new Error(`WebGPU requestAdapter() failed: ${message(e)}`, { cause: e });
    }
    if (!adapter) {
      throw new Error('WebGPU has no adapter here (requestAdapter() returned null' +
        (isNode() ? '; in Node, Dawn needs a Vulkan driver: see tools/setup-webgpu.sh)' : ')'));
    }
  }

  const plan = await bundle.readJSON(planPath, 'manifest.json "backends.webgpu.plan"');
  validatePlan(plan, planPath);
  const needs = planNeeds(plan);
  const limitsSource = device ? device.limits : adapter.limits;
  for (const [key, need] of Object.entries(needs.limits)) {
    if (need > (limitsSource[key] ?? 0)) {
      throw new Error(`the plan needs ${key} = ${need}, this ${device ? 'device' : 'adapter'} offers ${limitsSource[key]}`);
    }
  }
  const features = device ? device.features : adapter.features;
  for (const f of needs.features) {
    if (!features.has(f)) throw new Error(`the plan needs the WebGPU feature '${f}', which this ${device ? 'device' : 'adapter'} lacks`);
  }

  if (!device) {
    const requiredLimits = {};
    const L = adapter.limits;
    for (const [key, need] of Object.entries(needs.limits)) if (need > 0) requiredLimits[key] = need;
    // values placed at run time (open dims) are as large as the feeds make them: ask for what the adapter has
    if (plan.dynValues) for (const key of ['maxStorageBufferBindingSize', 'maxBufferSize']) requiredLimits[key] = L[key];
    // Workgroup sizes are chosen within the adapter's limits: ask for all of it.
    for (const key of ['maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY',
      'maxComputeWorkgroupSizeZ', 'maxComputeWorkgroupStorageSize']) {
      if (L[key] !== undefined) requiredLimits[key] = L[key];
    }
    try {
      device = await adapter.requestDevice({ requiredFeatures: needs.features, requiredLimits });
      gpuCounters.devicesCreated++;
    } catch (e) {
      throw new Error(`WebGPU requestDevice() failed: ${message(e)}`, { cause: e });
    }
  }

  const exec = new WebGPUExecutor(plan, device, !userDevice, adapter);
  try {
    await exec.init(await bundle.weights(), planPath);
  } catch (e) {
    exec.dispose();
    throw e;
  }
  return exec;
}

/** Runs a webgpu plan. Runs must not overlap (the Runner queues them). */
export class WebGPUExecutor {
  constructor(plan, device, ownsDevice, adapter) {
    this.plan = plan;
    this.device = device;
    this.ownsDevice = ownsDevice;
    this.adapterInfo = adapter?.info ?? null;
    this.threads = 1;
    this.lost = null; // the reason, once the device is lost
    this.disposed = false;
    this.buffers = [];
    this.staging = new Map(); // value index -> MAP_READ buffer
    this.kept = new Set(); // handles of the outputs kept on the GPU (run's keep) and not yet released
    this.gpuBuffers = 0; // live GPU buffers of this executor (created minus destroyed)
    // `lost` is what the Runner looks at to move on to the next backend (docs/webgpu-backend.md).
    this._lostSeen = device.lost?.then((info) => {
      if (this.disposed) return;
      this.lost = `${info?.reason ?? 'unknown'}${info?.message ? `: ${info.message}` : ''}`;
    });
  }

  _createBuffer(desc) {
    const buffer = this.device.createBuffer(desc);
    gpuCounters.buffersCreated++;
    this.gpuBuffers++;
    return buffer;
  }

  _destroyBuffer(buffer) {
    if (!buffer) return;
    buffer.destroy?.();
    gpuCounters.buffersDestroyed++;
    this.gpuBuffers--;
  }

  async init(weights, planPath) {
    const { plan, device } = this;
    const { values } = plan;
    this.types = values.map((v) => (v.gpu || v.dyn !== undefined ? gpuType(v, plan) : null));
    // bundles built with open dims: the values sized by them are placed per input shape (_placeDynamic)
    this.dyn = null;
    if (plan.dynValues) {
      const dynPlace = await import('../dyn-place.js');
      const { entries, dims } = dynPlace.readDynamicValues(plan, (v) => GPU_TYPES[gpuType(v, plan)]);
      const parse = (await import('../../dim-expr.js')).parseDimExpr;
      this.dyn = { place: dynPlace, parse, entries, dims, key: null, sized: null, layout: null, buffer: null, capacity: 0, cache: new Map() };
    }

    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    let failure = null;
    try {
      // Buffers (sizes rounded up to 4 bytes; every buffer can be copied from and to).
      this.buffers = plan.buffers.map((b) => this._createBuffer({
        size: Math.max(4, round4(b.byteLength)),
        usage: USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST,
      }));
      if (this.dyn) {
        this.dyn.uniform = this._createBuffer({ size: 16 * Math.max(1, Math.ceil(this.dyn.dims.length / 4)), usage: USAGE.UNIFORM | USAGE.COPY_DST });
      }
      // Weights, uploaded once.
      values.forEach((v, i) => {
        if (!v.const || !v.gpu) return;
        let t;
        try {
          t = decodeConstant(v.const, weights);
        } catch (e) {
          throw new Error(`constant '${v.name}': ${message(e)}`, { cause: e });
        }
        const n = sizeOf(v.shape);
        let bytes;
        try {
          bytes = toGPUBytes(t.data, this.types[i], n);
        } catch (e) {
          throw new Error(`constant '${v.name}' ${message(e)}`);
        }
        let at = 0;
        for (const piece of piecesOf(v.gpu)) {
          const size = Math.min(round4(piece.byteLength), bytes.byteLength - at);
          if (size > 0) device.queue.writeBuffer(this.buffers[piece.buffer], piece.offset, bytes.buffer, at, size);
          at += piece.byteLength;
        }
      });

      // Shaders: compile, report errors with their line.
      const modules = plan.shaders.map((code, i) => device.createShaderModule({ code, label: `shader ${i}` }));
      const usedShaders = new Set(plan.steps.filter((s) => s.gpu).map((s) => s.gpu.shader));
      for (const i of usedShaders) {
        const info = typeof modules[i].getCompilationInfo === 'function' ? await modules[i].getCompilationInfo() : { messages: [] };
        const errors = info.messages.filter((m) => m.type === 'error');
        if (errors.length) {
          const text = errors.slice(0, 3).map((m) => `${m.lineNum}:${m.linePos}: ${m.message}`).join('; ');
          const users = plan.steps.filter((s) => s.gpu?.shader === i).map((s) => s.gpu.name || s.gpu.op).slice(0, 3);
          throw new Error(`WGSL shader ${i} (${users.join(', ')}) does not compile: ${text}`);
        }
      }

      // Pipelines and bind groups, one per GPU step.
      const limits = device.limits;
      const pipelineCache = new Map();
      this.steps = [];
      const jsOps = [];
      for (const [k, s] of plan.steps.entries()) {
        if (s.cpu) {
          jsOps.push(s.cpu);
          this.steps.push({ cpu: jsOps.length - 1, op: s.cpu, label: `node '${s.cpu.name || s.cpu.op}' (${s.cpu.op})` });
          continue;
        }
        const g = s.gpu;
        const label = `gpu step ${k} '${g.name || g.op || `#${k}`}'${g.op ? ` (${g.op})` : ''}`;
        const { constants, size } = chooseWorkgroup(g.workgroup?.override, limits);
        const sizes = g.workgroups ?? g.invocations;
        const dynamic = !!g.dims || sizes.some((n) => typeof n === 'string') || g.bindings.some((b) => values[b.value].dyn !== undefined);
        const dispatchSizes = dynamic ? sizes.map((n) => this.dyn.parse(n)) : null;
        const dispatch = dynamic ? null : dispatchOf(g, sizes, size, limits, label);
        const entryPoint = g.entryPoint ?? 'main';
        const key = `${g.shader}|${entryPoint}|${JSON.stringify(constants)}`;
        let pipeline = pipelineCache.get(key);
        if (!pipeline) {
          const desc = { label, layout: 'auto', compute: { module: modules[g.shader], entryPoint, constants } };
          try {
            pipeline = typeof device.createComputePipelineAsync === 'function'
              ? await device.createComputePipelineAsync(desc) : device.createComputePipeline(desc);
          } catch (e) {
            throw new Error(`${label}: cannot create the pipeline: ${message(e)}`, { cause: e });
          }
          pipelineCache.set(key, pipeline);
        }
        // the values the step writes (plans that do not say: every binding)
        const marked = g.bindings.some((b) => b.write !== undefined);
        const writes = g.bindings.filter((b) => (marked ? b.write === true : true)).map((b) => b.value);
        const reads = g.bindings.map((b) => b.value);
        if (dynamic) { // bind group and dispatch per input shape (_placeDynamic)
          this.steps.push({ gpu: true, dynamic: true, plan: g, pipeline, bindGroup: null, dispatch: null, dispatchSizes, size, reads, writes, label });
          continue;
        }
        const bindGroup = device.createBindGroup({
          label,
          layout: pipeline.getBindGroupLayout(0),
          entries: g.bindings.map((b, i) => {
            const r = bindingRange(plan, b);
            return { binding: i, resource: { buffer: this.buffers[r.buffer], offset: r.offset, size: round4(r.size) } };
          }),
        });
        this.steps.push({ gpu: true, pipeline, bindGroup, dispatch: dispatch.some((n) => n === 0) ? null : dispatch, reads, writes, label });
      }
      // Encode (never submit) each step once, so that usage-scope errors (e.g. one buffer bound
      // read-only and read-write in the same dispatch) fail load, naming the step. (Steps sized at run time
      // are encoded with their first shape.)
      const checks = [];
      for (const step of this.steps) {
        if (!step.gpu || step.dynamic) continue;
        device.pushErrorScope('validation');
        const enc = device.createCommandEncoder();
        const p = enc.beginComputePass();
        p.setPipeline(step.pipeline);
        p.setBindGroup(0, step.bindGroup);
        p.dispatchWorkgroups(1);
        p.end();
        enc.finish();
        checks.push(device.popErrorScope().then((err) => (err ? `${step.label}: ${err.message}` : null)));
      }
      const problems = (await Promise.all(checks)).filter(Boolean);
      if (problems.length) throw new Error(`WebGPU validation error: ${problems[0]}`);
      this._schedule(jsOps);
      await this._initJs(jsOps, weights);
    } catch (e) {
      failure = e;
    }
    const validation = await device.popErrorScope();
    const oom = await device.popErrorScope();
    if (failure) throw failure;
    if (oom) throw new Error(`WebGPU out of memory while loading ${planPath}: ${oom.message}`);
    if (validation) throw new Error(`WebGPU validation error while loading ${planPath}: ${validation.message}`);
    if (this.lost) throw new Error(`the WebGPU device was lost while loading: ${this.lost}`);
    await device.queue.onSubmittedWorkDone();
    if (this.lost) throw new Error(`the WebGPU device was lost while loading: ${this.lost}`);
  }

  /**
   * Static transfer schedule: which values are current on the CPU / the GPU before each step. Before a
   * CPU step: `readback` (GPU -> CPU copies); after it: `upload` (its outputs later GPU steps read).
   * `inputUploads`: the graph inputs GPU steps read (written at the start of run()).
   */
  _schedule(jsOps) {
    const { plan } = this;
    const n = plan.values.length;
    const cpu = new Array(n).fill(false);
    const gpu = new Array(n).fill(false);
    plan.values.forEach((v, i) => { if (v.const) { cpu[i] = true; gpu[i] = onGPU(v); } });
    for (const vi of plan.inputs) cpu[vi] = true;
    const byName = new Map(plan.values.map((v, i) => [v.name, i]));
    this.inputUploads = [];
    const needGPU = (vi, list) => {
      if (gpu[vi]) return;
      if (!cpu[vi]) return; // not computed yet: the step writes it
      list.push(vi);
      gpu[vi] = true;
    };
    const needCPU = (vi, list, where) => {
      if (cpu[vi]) return;
      if (!gpu[vi]) throw new Error(`${where} reads value '${plan.values[vi].name}' before it is computed`);
      list.push(vi);
      cpu[vi] = true;
    };
    // values some later GPU step binds (for the uploads after CPU steps)
    const laterGPUReads = this.steps.map(() => new Set());
    const acc = new Set();
    for (let k = this.steps.length - 1; k >= 0; k--) {
      laterGPUReads[k] = new Set(acc);
      if (this.steps[k].gpu) this.steps[k].reads.forEach((vi) => acc.add(vi));
    }
    this.steps.forEach((step, k) => {
      if (step.gpu) {
        // only graph inputs can be current on the CPU alone here (CPU results are uploaded after
        // their step): they are written at the start of run()
        step.reads.forEach((vi) => needGPU(vi, this.inputUploads));
        step.writes.forEach((vi) => { gpu[vi] = true; cpu[vi] = false; });
      } else {
        step.readback = [];
        // the inputs whose data the step reads (webdnn.DimValues reads shapes only, which the CPU always knows)
        const shapesOnly = step.op.domain === 'webdnn' && step.op.op === 'DimValues';
        step.dataInputs = shapesOnly ? [] : step.op.inputs.filter((vi) => vi >= 0);
        const reads = [...step.dataInputs];
        for (const name of capturedNames([step.op])) if (byName.has(name)) reads.push(byName.get(name));
        reads.forEach((vi) => needCPU(vi, step.readback, step.label));
        step.upload = [];
        for (const vi of step.op.outputs) {
          if (vi < 0) continue;
          cpu[vi] = true;
          gpu[vi] = false;
          if (onGPU(plan.values[vi]) && laterGPUReads[k].has(vi)) { step.upload.push(vi); gpu[vi] = true; }
        }
      }
    });
    this.outputReadback = [];
    for (const vi of plan.outputs) needCPU(vi, this.outputReadback, 'the graph output');
    // staging buffers for every value that is ever read back
    for (const step of this.steps) for (const vi of step.readback ?? []) this._stagingFor(vi);
    for (const vi of this.outputReadback) this._stagingFor(vi);
  }

  /** The MAP_READ buffer value `vi` is read back through (values placed at run time: grown on demand). */
  _stagingFor(vi, bytes = this.plan.values[vi].gpu?.byteLength) {
    if (bytes === undefined) return null; // (sized when placed)
    const have = this.staging.get(vi);
    if (have && have.size >= round4(bytes)) return have;
    this._destroyBuffer(have);
    const buffer = this._createBuffer({ size: Math.max(4, round4(bytes)), usage: USAGE.MAP_READ | USAGE.COPY_DST });
    this.staging.set(vi, buffer);
    return buffer;
  }

  /** Where value `vi` lives on the GPU now: { buffer, offset, byteLength, shape } (run-time placed values:
   *  their placement for the current input shape). */
  _where(vi) {
    const v = this.plan.values[vi];
    if (v.dyn === undefined) return { buffer: this.buffers[v.gpu.buffer], offset: v.gpu.offset, byteLength: v.gpu.byteLength, shape: v.shape };
    const d = this.dyn, { shape, n } = d.sized[v.dyn];
    return { buffer: d.buffer, offset: d.layout.slots[v.dyn].offset, byteLength: n * d.entries[v.dyn].elemBytes, shape };
  }

  /**
   * For the sizes the feeds give: the values sized at run time get slots in one buffer (dyn-place.js), laid out
   * once per bucket of sizes (the dims rounded up to powers of two; exact when a value does not fit) with the bind
   * groups of the steps that touch them (kept for the last SHAPE_CACHE layouts; the buffer is recreated larger when
   * needed); per distinct set of sizes only the dispatch sizes and the dims uniform change.
   */
  _placeDynamic(feeds) {
    const d = this.dyn;
    const { sizes, key } = d.place.dimSizes(d.dims, this.plan.values, feeds);
    if (key === d.key) return;
    const sized = d.place.sizeDynamicValues(d.entries, sizes, OFFSET_ALIGN);
    if (!d.layout || !d.place.fitsPlacement(d.layout.slots, sized)) d.layout = this._layout(sizes, sized, key);
    d.sized = sized;
    d.key = key;
    for (const [k, bindGroup] of d.layout.bindGroups) {
      const step = this.steps[k];
      const dispatch = dispatchOf(step.plan, step.dispatchSizes.map((f) => f(sizes)), step.size, this.device.limits, step.label);
      step.bindGroup = bindGroup;
      step.dispatch = dispatch.some((n) => n === 0) ? null : dispatch;
    }
    const dims = new Int32Array(4 * Math.max(1, Math.ceil(d.dims.length / 4)));
    dims.set([...sizes.values()]);
    this.device.queue.writeBuffer(d.uniform, 0, dims.buffer, 0, dims.byteLength);
  }

  /** The slots and bind groups for the bucket of `sizes` (cached), or for `sizes` exactly. */
  _layout(sizes, sized, key) {
    const d = this.dyn;
    const bucket = d.place.bucketSizes(sizes);
    const bucketKey = [...bucket.values()].join(',');
    const cached = d.cache.get(bucketKey);
    if (cached && d.place.fitsPlacement(cached.slots, sized)) return cached;
    let { placed, end } = d.place.placeDynamicValues(d.entries, bucket, OFFSET_ALIGN);
    let layoutKey = bucketKey;
    if (!d.place.fitsPlacement(placed, sized)) {
      ({ placed, end } = d.place.placeDynamicValues(d.entries, sizes, OFFSET_ALIGN));
      layoutKey = key;
    }
    const maxBinding = this.device.limits.maxStorageBufferBindingSize;
    for (const p of placed) {
      if (p.bytes > maxBinding) {
        throw new Error(`value '${this.plan.values[p.vi].name}' takes ${p.bytes} bytes at dims ${key}, more than this device binds (maxStorageBufferBindingSize ${maxBinding})`);
      }
    }
    if (end > d.capacity) {
      const capacity = Math.max(end, Math.min(Math.ceil(d.capacity * 1.5), this.device.limits.maxBufferSize));
      this._destroyBuffer(d.buffer); // (work already submitted completes first)
      d.buffer = this._createBuffer({ size: capacity, usage: USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST });
      d.capacity = capacity;
      d.cache.clear(); // bind groups name the old buffer
    }
    const slots = placed.map((p) => ({ offset: p.rel, bytes: p.bytes }));
    const bindGroups = new Map();
    for (const [k, step] of this.steps.entries()) {
      if (!step.dynamic) continue;
      const g = step.plan;
      const entries = g.bindings.map((b, i) => {
        const v = this.plan.values[b.value];
        if (v.dyn === undefined) {
          const r = bindingRange(this.plan, b);
          return { binding: i, resource: { buffer: this.buffers[r.buffer], offset: r.offset, size: round4(r.size) } };
        }
        return { binding: i, resource: { buffer: d.buffer, offset: slots[v.dyn].offset, size: slots[v.dyn].bytes } };
      });
      if (g.dims) entries.push({ binding: g.bindings.length, resource: { buffer: d.uniform } });
      bindGroups.set(k, this.device.createBindGroup({ label: step.label, layout: step.pipeline.getBindGroupLayout(0), entries }));
    }
    const layout = { slots, bindGroups };
    d.cache.set(layoutKey, layout);
    if (d.cache.size > SHAPE_CACHE) d.cache.delete(d.cache.keys().next().value);
    return layout;
  }

  async _initJs(jsOps, weights) {
    const { plan } = this;
    const needed = jsOps.length > 0 || plan.outputs.some((vi) => plan.values[vi].const);
    if (!needed) { this.js = null; this.constants = []; return; }
    const { JsExecutor } = await import('../js/backend.js');
    const jsReads = new Set(jsOps.flatMap((op) => op.inputs.filter((vi) => vi >= 0)));
    for (const vi of plan.outputs) jsReads.add(vi);
    const byName = new Map(plan.values.map((v, i) => [v.name, i]));
    for (const name of capturedNames(jsOps)) if (byName.has(name)) jsReads.add(byName.get(name));
    const program = {
      opsets: plan.opsets ?? {},
      values: plan.values.map((v, i) => {
        const out = { name: v.name, dtype: v.dtype, shape: v.shape };
        if (v.const && jsReads.has(i)) out.const = v.const;
        return out;
      }),
      inputs: plan.inputs,
      // every value is "kept": results of CPU steps may be read by later GPU steps or outputs
      outputs: plan.values.map((_, i) => i),
      ops: jsOps,
    };
    this.js = new JsExecutor(program, weights);
  }

  _assertUsable() {
    if (this.disposed) throw new Error('webgpu backend has been disposed');
    if (this.lost) throw new Error(`the WebGPU device was lost (${this.lost}); load the model again`);
  }

  _upload(vi, t) {
    const v = this.plan.values[vi];
    const w = this._where(vi);
    const n = sizeOf(w.shape);
    if (v.dyn !== undefined && sizeOf(t.shape) !== n) {
      throw new Error(`value '${v.name}' has shape [${t.shape}], the plan sizes it [${w.shape}] for these inputs`);
    }
    let bytes;
    try {
      bytes = toGPUBytes(t.data, this.types[vi], n);
    } catch (e) {
      throw new Error(`value '${v.name}' ${message(e)}`);
    }
    if (bytes.byteLength) this.device.queue.writeBuffer(w.buffer, w.offset, bytes.buffer, 0, bytes.byteLength);
  }

  /** Copies values `vis` back (after the work in `encoder`): returns [vi, tensor] pairs. */
  async _readback(encoder, vis) {
    const { plan, device } = this;
    const where = vis.map((vi) => this._where(vi));
    vis.forEach((vi, j) => {
      const w = where[j];
      const staging = this._stagingFor(vi, Math.max(4, w.byteLength));
      if (w.byteLength) encoder.copyBufferToBuffer(w.buffer, w.offset, staging, 0, round4(w.byteLength));
    });
    device.queue.submit([encoder.finish()]);
    await Promise.all(vis.map((vi) => this.staging.get(vi).mapAsync(MAP_READ)));
    gpuCounters.readbacks += vis.length;
    for (const w of where) gpuCounters.bytesRead += w.byteLength;
    return vis.map((vi, j) => {
      const v = plan.values[vi];
      const staging = this.staging.get(vi);
      const shape = where[j].shape;
      const n = sizeOf(shape);
      const bytes = new Uint8Array(staging.getMappedRange().slice(0));
      staging.unmap();
      return [vi, { dtype: v.dtype, shape: [...shape], data: fromGPUBytes(bytes, this.types[vi], v.dtype, n) }];
    });
  }

  /** A kept output's data (a DeviceTensor's read()): downloaded from its GPU buffer. */
  async readKept(handle, dtype, shape) {
    this._assertUsable();
    const n = sizeOf(shape);
    const staging = this._createBuffer({ size: Math.max(4, round4(handle.byteLength)), usage: USAGE.MAP_READ | USAGE.COPY_DST });
    try {
      const encoder = this.device.createCommandEncoder();
      if (handle.byteLength) encoder.copyBufferToBuffer(handle.buffer, 0, staging, 0, round4(handle.byteLength));
      this.device.queue.submit([encoder.finish()]);
      await staging.mapAsync(MAP_READ);
      gpuCounters.readbacks++;
      gpuCounters.bytesRead += handle.byteLength;
      const bytes = new Uint8Array(staging.getMappedRange().slice(0));
      staging.unmap();
      return { dtype, shape: [...shape], data: fromGPUBytes(bytes, handle.type, dtype, n) };
    } finally {
      this._destroyBuffer(staging);
    }
  }

  /** Destroys a kept output's GPU buffer (DeviceTensor.dispose()). */
  releaseKept(handle) {
    if (!this.kept.delete(handle)) return;
    this._destroyBuffer(handle.buffer);
  }

  /** Encodes copies of the kept GPU outputs `vis` into buffers of their own: { vi: handle } (no download). */
  _keepOutputs(encoder, vis) {
    const out = new Map();
    for (const vi of vis) {
      const w = this._where(vi);
      const buffer = this._createBuffer({ size: Math.max(4, round4(w.byteLength)), usage: USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST });
      if (w.byteLength) encoder.copyBufferToBuffer(w.buffer, w.offset, buffer, 0, round4(w.byteLength));
      const handle = { executor: this, buffer, byteLength: w.byteLength, type: this.types[vi] };
      this.kept.add(handle);
      out.set(vi, { dtype: this.plan.values[vi].dtype, shape: [...w.shape], gpu: handle });
    }
    return out;
  }

  /** A value that is a kept GPU output fed back (storage holds { gpu }): its data, for a CPU step. */
  async _materialize(vi, storage) {
    const t = storage[vi];
    if (t?.gpu) storage[vi] = await this.readKept(t.gpu, t.dtype, t.shape);
  }

  /**
   * Executes the plan.
   * @param {Map<string, any>} feeds internal tensors by input name (or { dtype, shape, gpu }: a kept output of
   *   this executor, fed back: copied on the GPU)
   * @param {{ keep?: Set<string> }} [options] outputs to leave on the GPU (returned as { dtype, shape, gpu })
   * @returns {Promise<Map<string, any>>} graph outputs by name (fresh tensors)
   */
  async run(feeds, options = {}) {
    this._assertUsable();
    const { plan, device } = this;
    const { values } = plan;
    const storage = this.js ? this.js.top.constants.slice() : new Array(values.length);
    for (const vi of plan.inputs) {
      const name = values[vi].name;
      const feed = feeds.get(name);
      if (feed === undefined) throw new Error(`missing input '${name}'`);
      if (feed.gpu && !this.kept.has(feed.gpu)) throw new Error(`input '${name}': the DeviceTensor has been disposed`);
      storage[vi] = feed;
    }
    const keep = options.keep ?? null;
    device.pushErrorScope('validation');
    let failure = null;
    try {
      if (this.dyn) this._placeDynamic(feeds);
      let encoder = null;
      let pass = null;
      const endPass = () => { if (pass) { pass.end(); pass = null; } };
      for (const vi of this.inputUploads) {
        const t = storage[vi];
        if (!t?.gpu) { this._uploadFromStorage(vi, storage); continue; }
        const w = this._where(vi); // a kept output fed back: a copy on the GPU
        if (t.gpu.byteLength !== w.byteLength) throw new Error(`input '${values[vi].name}': the DeviceTensor has ${t.gpu.byteLength} bytes, the plan ${w.byteLength}`);
        encoder ??= device.createCommandEncoder();
        if (w.byteLength) encoder.copyBufferToBuffer(t.gpu.buffer, 0, w.buffer, w.offset, round4(w.byteLength));
      }
      for (const step of this.steps) {
        this._assertUsable();
        if (step.gpu) {
          if (!step.dispatch) continue;
          encoder ??= device.createCommandEncoder();
          pass ??= encoder.beginComputePass();
          pass.setPipeline(step.pipeline);
          pass.setBindGroup(0, step.bindGroup);
          pass.dispatchWorkgroups(...step.dispatch);
          continue;
        }
        endPass();
        if (step.readback.length) {
          for (const [vi, t] of await this._readback(encoder ?? device.createCommandEncoder(), step.readback)) storage[vi] = t;
          encoder = null;
        } else if (encoder) {
          device.queue.submit([encoder.finish()]);
          encoder = null;
        }
        for (const vi of step.dataInputs) await this._materialize(vi, storage);
        this.js.runStep(step.cpu, storage);
        for (const vi of step.upload) this._uploadFromStorage(vi, storage);
      }
      endPass();
      const kept = keep ? this.outputReadback.filter((vi) => keep.has(values[vi].name)) : [];
      if (kept.length) {
        encoder ??= device.createCommandEncoder();
        for (const [vi, t] of this._keepOutputs(encoder, kept)) storage[vi] = t;
      }
      const download = kept.length ? this.outputReadback.filter((vi) => !kept.includes(vi)) : this.outputReadback;
      if (download.length) {
        for (const [vi, t] of await this._readback(encoder ?? device.createCommandEncoder(), download)) storage[vi] = t;
      } else if (encoder) {
        device.queue.submit([encoder.finish()]);
      }
      for (const vi of plan.outputs) { // (an input fed back that is also an output)
        if (!keep?.has(values[vi].name)) await this._materialize(vi, storage);
      }
    } catch (e) {
      failure = e;
    }
    const error = await device.popErrorScope().catch(() => null);
    // A failure may be the first sign of a lost device (mapAsync rejects before device.lost
    // resolves): give device.lost a turn of the event loop to tell.
    if (failure && !this.lost && this._lostSeen) await Promise.race([this._lostSeen, new Promise((r) => setTimeout(r, 0))]);
    if (this.lost) throw new Error(`the WebGPU device was lost during run() (${this.lost}); load the model again`);
    if (failure) throw failure;
    if (error) throw new Error(`WebGPU validation error during run(): ${error.message}`);
    const result = new Map();
    for (const vi of plan.outputs) {
      const t = storage[vi];
      if (t === undefined) throw new Error(`graph output '${values[vi].name}' was not produced`);
      result.set(values[vi].name, t);
    }
    return result;
  }

  _uploadFromStorage(vi, storage) {
    const t = storage[vi];
    if (t === undefined || t === null) throw new Error(`value '${this.plan.values[vi].name}' has not been computed`);
    this._upload(vi, t);
  }

  /** Destroys the buffers and (when this backend created it) the device. */
  dispose() {
    if (this.disposed) return;
    this.disposed = true;
    for (const b of this.buffers) this._destroyBuffer(b);
    for (const b of this.staging.values()) this._destroyBuffer(b);
    if (this.dyn) { this._destroyBuffer(this.dyn.buffer); this._destroyBuffer(this.dyn.uniform); this.dyn = null; }
    for (const h of this.kept) this._destroyBuffer(h.buffer);
    this.kept.clear();
    this.buffers = [];
    this.staging.clear();
    if (this.ownsDevice && this.device) {
      this.device.destroy?.();
      gpuCounters.devicesDestroyed++;
    }
    this.device = null;
    this.js?.dispose();
    this.js = null;
  }
}
