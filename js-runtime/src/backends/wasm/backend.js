// The wasm backend: runs a bundle's wasm plan (docs/wasm-backend.md).
//
// Load: checks WebAssembly and SIMD support, chooses the thread count, compiles the module (the
// threaded variant when threads > 1 are usable), creates its memory from plan.memoryPages,
// instantiates it with { env: { memory } }, copies the constants of plan.weights to
// wdn_weights() + offset and calls wdn_prepare(); threaded, it then starts the workers.
// Run: copies the inputs that live in wasm memory to their addresses, executes plan.steps in
// order (wasm segments; JS steps with the js backend's kernels over views of the wasm memory)
// and returns the outputs (views of wasm memory: the runner copies them out).

import { bundlePath, checkCount } from '../../bundle.js';
import { decodeConstant } from '../../constants.js';
import { TYPED_ARRAYS, sizeOf } from '../js/kernels/util.js';
import { chooseThreads, startWorkers } from './threads.js';
import { capturedNames } from '../subgraphs.js';

/** (func (result v128) i32.const 0 i8x16.splat i8x16.popcnt): validates only with SIMD support. */
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
]);

const WASM_PAGE = 65536;
/** dyn-place.js (placement of the values sized at run time), loaded by createWasmBackend when a plan has them. */
let dynPlace = null;
/** The most pages a wasm32 memory can have (4 GiB). */
const MAX_PAGES = 65536;

function message(e) {
  return e && e.message ? e.message : String(e);
}

/**
 * Why the wasm backend cannot run in this environment, or null.
 * @param {{ WebAssembly?: any, validate?: (bytes: Uint8Array) => boolean }} [hooks] testing hooks:
 *   a replacement for globalThis.WebAssembly (null: missing) and for WebAssembly.validate
 */
export function wasmUnsupportedReason(hooks = {}) {
  const WA = Object.hasOwn(hooks, 'WebAssembly') ? hooks.WebAssembly : globalThis.WebAssembly;
  if (!WA || typeof WA.validate !== 'function' || typeof WA.Memory !== 'function') {
    return 'WebAssembly is not available in this environment';
  }
  const validate = hooks.validate ?? ((bytes) => WA.validate(bytes));
  let simd = false;
  try {
    simd = validate(SIMD_PROBE) === true;
  } catch {
    simd = false;
  }
  if (!simd) return 'this WebAssembly engine does not support SIMD (simd128), which the wasm backend requires';
  return null;
}

/**
 * Creates the wasm backend's executor for a bundle.
 *
 * @param {import('../../bundle.js').Bundle} bundle an opened bundle
 * @param {{ plan?: string }} entry the manifest's `backends.wasm` entry (`plan`: path of plan.json,
 *   default 'wasm/plan.json')
 * @param {{ threads?: number, wasmHooks?: object }} [options] load() options
 * @returns {Promise<WasmExecutor>}
 */
export async function createWasmBackend(bundle, entry, options = {}) {
  const hooks = options.wasmHooks ?? {};
  const unsupported = wasmUnsupportedReason(hooks);
  if (unsupported) throw new Error(unsupported);
  const WA = Object.hasOwn(hooks, 'WebAssembly') ? hooks.WebAssembly : globalThis.WebAssembly;

  const planPath = entry?.plan ?? entry?.program ?? 'wasm/plan.json';
  if (typeof planPath !== 'string') throw new Error('manifest backends.wasm has no "plan" file');
  const plan = await bundle.readJSON(planPath, 'manifest.json "backends.wasm.plan"');
  validatePlan(plan, planPath);
  const weights = await bundle.weights();

  // The js kernels (most of the runtime's code) are loaded only when the plan has JS work; the dim
  // expression reader only for a bundle built with open dims.
  const JsSteps = planNeedsJs(plan) ? (await import('./js-steps.js')).WasmJsSteps : null;
  if (plan.dynValues) dynPlace = await import('../dyn-place.js');
  const choice = await chooseThreads(plan, options.threads);
  const requested = options.threads ?? null;
  if (choice.threads > 1) {
    try {
      const module = await compile(WA, bundle, plan.moduleThreads, `${planPath} "moduleThreads"`);
      const inst = await instantiate(WA, module, plan, true);
      const exec = new WasmExecutor(plan, weights, inst, choice.threads, JsSteps);
      if (options.profile) exec.profile = new Map();
      const pool = await startWorkers(module, inst.memory, choice.threads);
      exec.attachWorkers(pool);
      exec.threadInfo = { threads: choice.threads, requested, reason: choice.reason };
      return exec;
    } catch (e) {
      if (e.corruptFile) throw e; // a corrupted bundle fails load(); it does not fall back to one thread
      choice.reason = `the threaded module could not be used (${message(e)}); running single-threaded`;
    }
  }

  const module = await compile(WA, bundle, plan.module, `${planPath} "module"`);
  const inst = await instantiate(WA, module, plan, false);
  const exec = new WasmExecutor(plan, weights, inst, 1, JsSteps);
  if (options.profile) exec.profile = new Map();
  exec.threadInfo = { threads: 1, requested, reason: choice.reason };
  return exec;
}

/** True when a plan has JS steps, or outputs that do not live in wasm memory (constants, JS values). */
function planNeedsJs(plan) {
  if (plan.steps.some((s) => s.js)) return true;
  return plan.outputs.some((vi) => !plan.values[vi]?.addr || plan.values[vi]?.const);
}

function validatePlan(plan, planPath) {
  const bad = (what) => { throw new Error(`${planPath}: ${what}`); };
  if (plan === null || typeof plan !== 'object') bad('not an object');
  if (typeof plan.module !== 'string') bad('"module" must name the wasm module');
  // paths must stay inside the bundle (a bad moduleThreads must fail load, not fall back to one thread)
  bundlePath(`${planPath} "module"`, plan.module);
  if (plan.moduleThreads !== undefined && plan.moduleThreads !== null) bundlePath(`${planPath} "moduleThreads"`, plan.moduleThreads);
  const pages = plan.memoryPages;
  if (!pages || typeof pages !== 'object') bad('"memoryPages" must be { initial, maximum }');
  const count = (what, v) => { try { checkCount(what, v, MAX_PAGES); } catch (e) { bad(`${e.message} (wasm32 memory holds at most ${MAX_PAGES} pages of 64 KiB)`); } };
  count('"memoryPages.initial"', pages.initial);
  if (pages.maximum !== undefined && pages.maximum !== null) {
    count('"memoryPages.maximum"', pages.maximum);
    if (pages.maximum < pages.initial) bad('"memoryPages.maximum" must be >= initial');
  }
  for (const key of ['values', 'inputs', 'outputs', 'steps']) if (!Array.isArray(plan[key])) bad(`"${key}" must be a list`);
  if (plan.weights !== undefined && plan.weights !== null && !Array.isArray(plan.weights)) bad('"weights" must be a list');
  const index = (vi, what) => {
    if (!Number.isInteger(vi) || vi < 0 || vi >= plan.values.length) bad(`${what} refers to value ${JSON.stringify(vi) ?? typeof vi}, which does not exist`);
  };
  plan.inputs.forEach((vi) => index(vi, '"inputs"'));
  plan.outputs.forEach((vi) => index(vi, '"outputs"'));
  (plan.weights ?? []).forEach((vi) => index(vi, '"weights"'));
  plan.values.forEach((v, i) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) bad(`value #${i} is not an object`);
    if (!v.addr) return;
    if (typeof v.addr !== 'object') bad(`value '${v.name ?? `#${i}`}': "addr" is not an object`);
    const where = `value '${v.name ?? `#${i}`}'`;
    const Ctor = TYPED_ARRAYS[v.dtype];
    if (!Ctor || v.dtype === 'string') bad(`${where} has an addr but dtype ${JSON.stringify(v.dtype)}`);
    if (!Array.isArray(v.shape) || !v.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      bad(`${where} has an addr but no static shape`);
    }
    if (v.addr.region !== 'arena' && v.addr.region !== 'weights') bad(`${where}: unknown addr region ${JSON.stringify(v.addr.region)}`);
    if (!Number.isInteger(v.addr.offset) || v.addr.offset < 0 || v.addr.offset % Ctor.BYTES_PER_ELEMENT !== 0) {
      bad(`${where}: addr offset ${v.addr.offset} is not a multiple of ${Ctor.BYTES_PER_ELEMENT}`);
    }
  });
  for (const vi of plan.weights ?? []) {
    const v = plan.values[vi];
    if (!v || !v.const || !v.addr) bad(`weights lists value #${vi}, which is not a constant with an addr`);
  }
  if (plan.dynValues !== undefined) {
    if (!Array.isArray(plan.dynValues) || !Array.isArray(plan.dynLive) || plan.dynLive.length !== plan.dynValues.length
        || !Array.isArray(plan.dimOrder) || !plan.dims || typeof plan.dims !== 'object') {
      bad('"dynValues", "dynLive", "dimOrder" and "dims" must describe the values placed at run time');
    }
    plan.dynValues.forEach((vi, k) => {
      index(vi, '"dynValues"');
      const v = plan.values[vi];
      if (v.addr || v.dyn !== k || !Array.isArray(v.symShape) || !TYPED_ARRAYS[v.dtype] || v.dtype === 'string') {
        bad(`value '${v.name ?? `#${vi}`}' is listed in "dynValues" but is not a run-time placed value`);
      }
    });
    for (const name of plan.dimOrder) {
      const where = plan.dims[name];
      if (!Array.isArray(where) || !plan.inputs.includes(where[0]) || !Number.isInteger(where[1]) || where[1] < 0) {
        bad(`"dims": '${name}' is not read from an axis of a graph input`);
      }
    }
  }
  plan.steps.forEach((s, k) => {
    if (Number.isInteger(s?.wasm) && s.wasm >= 0) return;
    if (s?.js && typeof s.js.op === 'string' && Array.isArray(s.js.inputs) && Array.isArray(s.js.outputs)) return;
    bad(`step ${k} is neither { wasm: segment } nor { js: op }`);
  });
}

async function compile(WA, bundle, path, field) {
  const bytes = await bundle.readBytes(path, undefined, field); // checked against manifest "integrity"
  try {
    return await WA.compile(bytes);
  } catch (e) {
    throw new Error(`cannot compile ${path}: ${message(e)}`, { cause: e });
  }
}

async function instantiate(WA, module, plan, shared) {
  const { initial } = plan.memoryPages;
  const maximum = plan.memoryPages.maximum ?? (shared ? initial : undefined);
  let memory;
  try {
    memory = new WA.Memory(maximum === undefined ? { initial, shared } : { initial, maximum, shared });
  } catch (e) {
    throw new Error(`cannot allocate ${initial * WASM_PAGE} bytes of ${shared ? 'shared ' : ''}wasm memory: ${message(e)}`, { cause: e });
  }
  let instance;
  try {
    instance = await WA.instantiate(module, { env: { memory } });
  } catch (e) {
    throw new Error(`cannot instantiate ${shared ? plan.moduleThreads : plan.module}: ${message(e)}`, { cause: e });
  }
  const ex = instance.exports;
  const need = ['wdn_arena', 'wdn_weights', 'wdn_prepare', 'wdn_run_segment'];
  if (shared) need.push('wdn_run_segment_mt', 'wdn_worker_loop', 'wdn_thread_stack_top', '__stack_pointer');
  const missing = need.filter((n) => !(n in ex));
  if (missing.length) throw new Error(`${shared ? plan.moduleThreads : plan.module} does not export ${missing.join(', ')}`);
  return { exports: ex, memory };
}

/** Runs a wasm plan. Not re-entrant (runs are synchronous). */
export class WasmExecutor {
  /**
   * @param {object} plan parsed plan.json
   * @param {import('../../weight-store.js').WeightStore} weights the bundle's weights
   * @param {{ exports: any, memory: WebAssembly.Memory }} inst the instantiated module
   * @param {number} threads thread count (1: wdn_run_segment; more: wdn_run_segment_mt)
   * @param {Function | null} [JsSteps] the WasmJsSteps class when the plan has JS work (loaded lazily)
   */
  constructor(plan, weights, { exports, memory }, threads, JsSteps = null) {
    this.plan = plan;
    this.exports = exports;
    this.memory = memory;
    this.threads = threads;
    this.threadInfo = null;
    this.workers = null;
    const buffer = memory.buffer;
    const { values } = plan;
    const base = { arena: exports.wdn_arena() >>> 0, weights: exports.wdn_weights() >>> 0 };

    // Absolute address and byte size of every value in wasm memory.
    this.addrs = values.map((v) => {
      if (!v.addr) return null;
      const Ctor = TYPED_ARRAYS[v.dtype];
      const n = sizeOf(v.shape);
      const offset = base[v.addr.region] + v.addr.offset;
      const byteLength = n * Ctor.BYTES_PER_ELEMENT;
      if (offset % Ctor.BYTES_PER_ELEMENT !== 0 || offset + byteLength > buffer.byteLength) {
        throw new Error(`value '${v.name}': [${offset}, ${offset + byteLength}) does not fit the wasm memory ` +
          `(${buffer.byteLength} bytes) or is misaligned`);
      }
      return { offset, byteLength, n, Ctor };
    });

    // Constants the wasm code reads: copied once, then the module packs them (wdn_prepare).
    for (const vi of plan.weights ?? []) {
      const v = values[vi];
      let t;
      try {
        t = decodeConstant(v.const, weights);
      } catch (e) {
        throw new Error(`constant '${v.name}': ${message(e)}`, { cause: e });
      }
      const a = this.addrs[vi];
      if (t.data.length !== a.n) throw new Error(`constant '${v.name}' has ${t.data.length} elements, its shape needs ${a.n}`);
      if ((t.data instanceof BigInt64Array || t.data instanceof BigUint64Array) !== (a.Ctor === BigInt64Array || a.Ctor === BigUint64Array)) {
        throw new Error(`constant '${v.name}' is ${t.dtype}, its value is ${v.dtype}`);
      }
      new a.Ctor(buffer, a.offset, a.n).set(t.data);
    }
    exports.wdn_prepare();

    // JS steps: a js program over the plan's values. Values in wasm memory get arena slots at
    // their addresses; constants are decoded in JS only when a JS step reads them (the copies in
    // wasm memory may have been repacked by wdn_prepare) or when they are not in wasm memory.
    const jsOps = [];
    const wasmOps = []; // names of the wasm ops in plan order: run-time errors give an index into it
    this.steps = plan.steps.map((s) => {
      if (s.js) {
        jsOps.push(s.js);
        return { js: jsOps.length - 1, label: `node '${s.js.name || s.js.op}' (${s.js.op})` };
      }
      const ops = Array.isArray(s.ops) ? s.ops : [];
      wasmOps.push(...ops);
      return { wasm: s.wasm, label: `wasm segment ${s.wasm}${ops.length ? ` (${ops.join(', ')})` : ''}` };
    });
    this.wasmOps = wasmOps;
    const jsReads = new Set(jsOps.flatMap((op) => op.inputs.filter((vi) => vi >= 0)));
    for (const vi of plan.outputs) jsReads.add(vi);
    const byName = new Map(values.map((v, i) => [v.name, i]));
    for (const name of capturedNames(jsOps)) if (byName.has(name)) jsReads.add(byName.get(name));
    const program = {
      opsets: plan.opsets ?? {},
      values: values.map((v, i) => {
        const out = { name: v.name, dtype: v.dtype, shape: v.shape };
        if (v.const && (!v.addr || jsReads.has(i))) out.const = v.const;
        else if (v.addr && !v.const) out.arena = { offset: this.addrs[i].offset, byteLength: this.addrs[i].byteLength };
        return out;
      }),
      inputs: plan.inputs,
      outputs: plan.outputs,
      ops: jsOps,
    };
    this.js = JsSteps ? new JsSteps(program, weights, buffer) : null;
    this.dyn = plan.dynValues ? this._compileDynamic(plan, exports, buffer.byteLength) : null;
    this._bind(buffer);
  }

  /**
   * Values sized by dims left open at build time (plan.dynValues): the module reads their addresses from
   * wdn_dyn_addr[k] and the dims from wdn_dims[i]; they are placed after the module's memory, once per
   * distinct set of sizes (_placeDynamic).
   */
  _compileDynamic(plan, exports, base) {
    if (typeof exports.wdn_dyn_addr !== 'function' || typeof exports.wdn_dims !== 'function') {
      throw new Error(`${plan.module} does not export wdn_dyn_addr and wdn_dims, which its plan needs`);
    }
    const { entries, dims } = dynPlace.readDynamicValues(plan, (v) => TYPED_ARRAYS[v.dtype].BYTES_PER_ELEMENT);
    for (const e of entries) e.Ctor = TYPED_ARRAYS[plan.values[e.vi].dtype];
    // views only for the values JavaScript touches: graph inputs and outputs, and js steps' operands
    const touched = new Set([...plan.inputs, ...plan.outputs]);
    const byName = new Map(plan.values.map((v, i) => [v.name, i]));
    for (const s of plan.steps) {
      if (!s.js) continue;
      for (const vi of [...s.js.inputs, ...s.js.outputs]) touched.add(vi);
      for (const name of capturedNames([s.js])) if (byName.has(name)) touched.add(byName.get(name)); // (subgraphs)
    }
    const viewed = entries.filter((e) => touched.has(e.vi)).map((e) => e.k);
    return {
      entries, dims, viewed, base: Math.ceil(base / 64) * 64, key: null, sized: null, slots: null,
      addrTable: exports.wdn_dyn_addr() >>> 0, dimsTable: exports.wdn_dims() >>> 0,
    };
  }

  /** Places the run-time sized values for the sizes the feeds give (dyn-place.js: once per bucket of sizes, the
   *  dims rounded up to powers of two), grows the memory when needed and fills the module's tables. */
  _placeDynamic(feeds) {
    const d = this.dyn;
    const { sizes, key } = dynPlace.dimSizes(d.dims, this.plan.values, feeds);
    if (key === d.key) return;
    const sized = dynPlace.sizeDynamicValues(d.entries, sizes, 64);
    if (!d.slots || !dynPlace.fitsPlacement(d.slots, sized)) this._placeSlots(sizes, sized, key);
    d.sized = sized;
    d.key = key;
    new Int32Array(this.memory.buffer, d.dimsTable, d.dims.length).set([...sizes.values()]);
    this._bindDynamic(this.memory.buffer);
  }

  /** A placement for the bucket of `sizes` (or for `sizes` exactly, when a value does not grow with the dims):
   *  grows the memory when needed, writes the module's address table and the js steps' slots. */
  _placeSlots(sizes, sized, key) {
    const d = this.dyn;
    let { placed, end } = dynPlace.placeDynamicValues(d.entries, dynPlace.bucketSizes(sizes), 64);
    if (!dynPlace.fitsPlacement(placed, sized)) ({ placed, end } = dynPlace.placeDynamicValues(d.entries, sizes, 64));
    const need = d.base + end;
    const have = this.memory.buffer.byteLength;
    if (need > have) {
      try {
        this.memory.grow(Math.ceil((need - have) / WASM_PAGE));
      } catch (e) {
        throw new Error(`the values for dims ${key} need ${need} bytes of wasm memory: ${message(e)}`, { cause: e });
      }
    }
    d.slots = placed.map((p) => ({ k: p.k, vi: p.vi, Ctor: p.Ctor, offset: d.base + p.rel, bytes: p.bytes }));
    const buffer = this.memory.buffer;
    const addrs = new Uint32Array(buffer, d.addrTable, d.entries.length);
    for (const p of d.slots) addrs[p.k] = p.offset;
    if (this.js) {
      for (const p of d.slots) this.js.top.slots[p.vi] = { offset: p.offset, byteLength: p.bytes };
    }
    if (buffer !== this.buffer) this._bind(buffer); // (the memory grew: every view anew)
  }

  /** (Re)creates the views of the values placed at run time (a new set of sizes, the memory unchanged). */
  _bindDynamic(buffer) {
    const d = this.dyn;
    if (!d?.sized) return;
    for (const k of d.viewed) { // (the values js steps, inputs and outputs reach through views)
      const slot = d.slots[k], { shape, n } = d.sized[k];
      this.views[slot.vi] = { dtype: this.plan.values[slot.vi].dtype, shape, data: new slot.Ctor(buffer, slot.offset, n) };
    }
  }

  /** (Re)creates the views of the values in wasm memory (after a memory growth). */
  _bind(buffer) {
    this.buffer = buffer;
    if (this.js) this.js.arena = buffer;
    this.views = this.plan.values.map((v, i) => {
      const a = this.addrs[i];
      if (!a || v.const) return null;
      return { dtype: v.dtype, shape: [...v.shape], data: new a.Ctor(buffer, a.offset, a.n) };
    });
    this._bindDynamic(buffer);
  }

  /** Takes ownership of the worker pool (threaded module). */
  attachWorkers(pool) {
    this.workers = pool;
  }

  /**
   * Executes the plan.
   * @param {Map<string, any>} feeds internal tensors by input name
   * @returns {Map<string, any>} graph outputs by name (views of wasm memory: copy before the next run)
   */
  run(feeds) {
    if (!this.exports) throw new Error('wasm backend has been disposed');
    if (this.trapped) throw new Error(`the wasm module trapped in an earlier run (${this.trapped}); load the model again`);
    if (this.memory.buffer !== this.buffer) this._bind(this.memory.buffer);
    if (this.dyn) this._placeDynamic(feeds);
    const { values } = this.plan;
    const storage = this.js ? this.js.top.constants.slice() : new Array(values.length);
    this.views.forEach((t, vi) => { if (t) storage[vi] = t; });
    for (const vi of this.plan.inputs) {
      const name = values[vi].name;
      const feed = feeds.get(name);
      if (feed === undefined) throw new Error(`missing input '${name}'`);
      const view = this.views[vi];
      if (view) {
        if (feed.data.length !== view.data.length) {
          throw new Error(`input '${name}' has ${feed.data.length} elements, the wasm plan needs ${view.data.length}`);
        }
        view.data.set(feed.data);
      } else {
        storage[vi] = feed;
      }
    }
    const ex = this.exports;
    const nth = this.threads;
    if (ex.wdn_error_reset) ex.wdn_error_reset();
    const profile = this.profile; // Map label -> { ms, runs } when loaded with { profile: true }
    for (const step of this.steps) {
      const t0 = profile ? performance.now() : 0;
      if (step.js !== undefined) {
        this.js.runStep(step.js, storage);
      } else {
        try {
          if (nth > 1) ex.wdn_run_segment_mt(step.wasm, nth);
          else ex.wdn_run_segment(step.wasm, 0, 1);
        } catch (e) {
          // a trap leaves the module's state (its stack pointer, half-written values) undefined
          this.trapped = `${step.label}: ${message(e)}`;
          throw new Error(this.trapped, { cause: e });
        }
        const err = ex.wdn_error ? ex.wdn_error() : 0;
        if (err !== 0) throw new Error(this._runError(err));
      }
      if (profile) {
        const entry = profile.get(step.label) ?? { ms: 0, runs: 0 };
        entry.ms += performance.now() - t0;
        entry.runs += 1;
        profile.set(step.label, entry);
      }
      if (step.js !== undefined) continue;
      if (this.memory.buffer !== this.buffer) {
        this._bind(this.memory.buffer);
        this.views.forEach((t, vi) => { if (t) storage[vi] = t; });
      }
    }
    const result = new Map();
    for (const vi of this.plan.outputs) {
      // (a run-time placed output that a js step computed: the tensor it left, which has its true shape)
      const t = (this.dyn && values[vi].dyn !== undefined ? storage[vi] : undefined) ?? this.views[vi] ?? storage[vi];
      if (t === undefined) throw new Error(`graph output '${values[vi].name}' was not produced`);
      result.set(values[vi].name, t);
    }
    return result;
  }

  /**
   * The message of a run-time error a kernel recorded (kernels.h: (op + 1) * 16 + kind). The module
   * state stays valid (the kernel wrote zeros and went on), so the next run may proceed.
   */
  _runError(word) {
    const kind = word & 15, op = (word >>> 4) - 1;
    const opType = { 1: 'Gather', 2: 'GatherND' }[kind];
    const name = this.wasmOps[op];
    const where = `node '${name || `wasm op #${op}`}'${opType ? ` (${opType})` : ''}`;
    return opType ? `${where}: index out of range` : `${where}: run-time error ${kind} in the wasm module`;
  }

  /** Terminates the workers and releases the module and its memory. */
  dispose() {
    if (this.workers) this.workers.terminate();
    this.workers = null;
    this.exports = null;
    this.memory = null;
    this.views = null;
    this.buffer = null;
    if (this.js) this.js.dispose();
    this.js = null;
  }
}
