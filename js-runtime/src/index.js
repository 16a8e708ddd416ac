// webdnn-runtime: loads bundles written by `webdnn-build build` and runs them.
//
//   import { load } from 'webdnn-runtime';
//   const runner = await load('path/or/url/of/bundle', { backends: ['webgpu', 'wasm', 'js'] });
//   const { output } = await runner.run({ input: new Float32Array(1 * 3 * 224 * 224) });
//   runner.dispose();

import { openBundle } from './bundle.js';
import { DEFAULT_BACKENDS, backendNames, getBackend, registerBackend } from './backends/registry.js';
import { checkOpenDims, feedToValue, valueToOutput } from './tensor-io.js';
import { registerKernel as registerJsKernel } from './backends/js/kernels/custom.js';
import { gpuCounters } from './backends/counters.js';
import { DeviceTensor } from './device-tensor.js';

export { DeviceTensor, registerBackend };
export { decodeConstant } from './constants.js';

/**
 * Registers a js-backend kernel for a custom op (or overrides a built-in one).
 * A kernel is `(inputs, attrs, ctx) => outputs` (see src/backends/js/kernels/index.js).
 *
 * @param {string} opType the ONNX op type, e.g. 'MyOp'
 * @param {Function} fn the kernel
 * @param {string} [domain=''] the op's domain ('' is the default ONNX domain)
 */
export function registerKernel(opType, fn, domain = '') {
  if (typeof fn !== 'function') throw new TypeError(`registerKernel('${opType}'): the kernel must be a function`);
  registerJsKernel(opType, fn, domain);
}

/** Open dims the model computes from others (manifest dims[name].equals): name -> its expression, parsed
 *  (dim-expr.js is loaded only for bundles that have such dims). */
async function dimEquations(dims) {
  const equal = Object.entries(dims ?? {}).filter(([, d]) => d && d.equals !== undefined);
  if (!equal.length) return null;
  const { parseDimExpr } = await import('./dim-expr.js');
  return new Map(equal.map(([name, d]) => [name, parseDimExpr(d.equals)]));
}

/**
 * Loads a bundle and prepares the first usable backend of `options.backends`.
 * Backends that are skipped are recorded, with the reason, in `runner.fallbackLog`.
 *
 * @param {string|URL|{files: Record<string, string|URL>, manifest?: object, label?: string}} source
 *   bundle folder: a file path (Node) or a URL (http(s) in browsers or Node); or a file map
 *   (each bundle file's URL or path by its path in the bundle; `manifest`: manifest.json, parsed)
 * @param {{ backends?: string[], threads?: number, onProgress?: Function }} [options] `threads`: threads
 *   of the wasm backend (default: available cores, capped by the module and at 8; 1 forces
 *   single-threaded); `onProgress({ file, loaded, total })`: called as the weight shards arrive
 *   (bytes of all shards); `cache`: false keeps the shards out of the browser's Cache API;
 *   `webgpu: { device?, powerPreference? }`: a GPUDevice for the webgpu backend to run on (not
 *   destroyed by dispose()) and the requestAdapter() preference (see index.d.ts)
 * @returns {Promise<Runner>}
 */
export async function load(source, options = {}) {
  if (options.threads !== undefined && !(Number.isInteger(options.threads) && options.threads >= 1)) {
    throw new TypeError(`load(): options.threads must be a positive integer, got ${JSON.stringify(options.threads)}`);
  }
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
    throw new TypeError('load(): options.onProgress must be a function');
  }
  if (options.cache !== undefined && typeof options.cache !== 'boolean') {
    throw new TypeError('load(): options.cache must be true or false');
  }
  const bundle = await openBundle(source, { onProgress: options.onProgress, cache: options.cache });
  if (bundle.manifest.kernels !== undefined) await (await import('./bundle-modules.js')).registerBundleKernels(bundle);
  let preference = options.backends ?? DEFAULT_BACKENDS;
  if (typeof preference === 'string') preference = [preference];
  if (!Array.isArray(preference) || preference.length === 0) {
    throw new TypeError('load(): options.backends must be a non-empty array of backend names');
  }

  const fallbackLog = [];
  const names = [...new Set(preference)];
  const found = await createFirstUsable(bundle, names, options, fallbackLog);
  if (found) {
    const runner = new Runner(bundle, found.name, found.executor, fallbackLog, names.slice(found.index + 1), options);
    runner._dimEquals = await dimEquations(bundle.manifest.dims);
    return runner;
  }
  const lines = fallbackLog.map((f) => `  - ${f.backend}: ${f.reason}`).join('\n');
  const err = new Error(`no usable backend for bundle ${bundle.label}:\n${lines}`);
  err.fallbackLog = fallbackLog;
  throw err;
}

/**
 * Creates the executor of the first usable backend of `names`; each one skipped is pushed to
 * `fallbackLog` with the reason (and `extra` fields). Returns { name, index, executor } or null.
 */
async function createFirstUsable(bundle, names, options, fallbackLog, extra = {}) {
  const built = Object.keys(bundle.manifest.backends);
  for (const [index, name] of names.entries()) {
    let backend = getBackend(name);
    let reason;
    const entry = Object.hasOwn(bundle.manifest.backends, name) ? bundle.manifest.backends[name] : null;
    if (!backend && entry && entry.runtime !== undefined) {
      try { // a backend plugin's runtime part, shipped in the bundle
        backend = await (await import('./bundle-modules.js')).registerBundleBackend(bundle, name, entry);
      } catch (e) {
        fallbackLog.push({ backend: name, reason: e && e.message ? e.message : String(e), ...extra });
        continue;
      }
    }
    if (!backend) {
      reason = `unknown backend '${name}' (known: ${backendNames().join(', ')})`;
    } else if (backend.unavailable) {
      reason = backend.unavailable;
    } else if (!Object.hasOwn(bundle.manifest.backends, name)) {
      reason = `the bundle has no '${name}' program (it was built for: ${built.join(', ') || 'no backend'})`;
    } else {
      try {
        const executor = await backend.create(bundle, bundle.manifest.backends[name], options);
        bundle.releaseWeights();
        return { name, index, executor };
      } catch (e) {
        reason = e && e.message ? e.message : String(e);
      }
    }
    fallbackLog.push({ backend: name, reason, ...extra });
  }
  return null;
}

/**
 * Process-wide counters of the resources runners hold, for leak checks: GPU buffers and devices
 * the webgpu backend created and destroyed (`*Live` = created - destroyed), over all runners; and the
 * webgpu backend's downloads.
 * @returns {{ gpuBuffersLive: number, gpuBuffersCreated: number, gpuBuffersDestroyed: number,
 *   gpuDevicesLive: number, gpuDevicesCreated: number, gpuDevicesDestroyed: number, gpuReadbacks: number,
 *   gpuBytesRead: number }} (`gpuReadbacks`: GPU-to-CPU copies, each one wait for the GPU; `gpuBytesRead`: their bytes)
 */
export function resourceCounters() {
  const c = gpuCounters;
  return {
    gpuBuffersLive: c.buffersCreated - c.buffersDestroyed,
    gpuBuffersCreated: c.buffersCreated,
    gpuBuffersDestroyed: c.buffersDestroyed,
    gpuDevicesLive: c.devicesCreated - c.devicesDestroyed,
    gpuDevicesCreated: c.devicesCreated,
    gpuDevicesDestroyed: c.devicesDestroyed,
    gpuReadbacks: c.readbacks,
    gpuBytesRead: c.bytesRead,
  };
}

/** A loaded model on one backend. Create it with `load()`. */
export class Runner {
  /** @internal */
  constructor(bundle, backend, executor, fallbackLog, laterBackends = [], options = {}) {
    const manifest = bundle.manifest;
    /** Name of the backend in use ('js', ...). */
    this.backend = backend;
    /**
     * Model inputs: [{ name, shape, dtype }], from the manifest. Sequence and optional inputs have a
     * dtype like "sequence<float32>" / "optional<float32>" and shape null.
     */
    this.inputs = manifest.inputs.map((v) => ({ name: v.name, shape: v.shape ? [...v.shape] : null, dtype: v.dtype }));
    /** Model outputs: [{ name, shape, dtype }]; shapes may hold null for dims known only at run time. */
    this.outputs = manifest.outputs.map((v) => ({ name: v.name, shape: v.shape ? [...v.shape] : null, dtype: v.dtype }));
    /**
     * Backends tried before this one and why they were skipped: [{ backend, reason }]. Entries added
     * after load (a lost WebGPU device: the runner moved on to the next backend) have phase: 'run'.
     */
    this.fallbackLog = fallbackLog;
    /** The bundle's manifest.json. */
    this.manifest = manifest;
    /** Threads the backend computes with (1 unless the wasm backend runs its threaded module). */
    this.threads = executor.threads ?? 1;
    /**
     * The wasm backend's thread choice: { threads, requested, reason } (reason: why fewer threads
     * than requested or than the default are used, else null); null for other backends.
     */
    this.threadInfo = executor.threadInfo ?? null;
    this._executor = executor;
    this._queue = Promise.resolve();
    this._bundle = bundle;
    this._options = options;
    this._laterBackends = laterBackends; // what a lost device falls back to
    this._disposed = false;
    this._running = false; // a run is executing on the executor
    this._released = null; // dispose(): a promise resolved once the executor is released
    this._release = null;
    this._failure = null; // why the runner cannot run any more (lost device, no backend left)
    this._runs = 0;
  }

  /**
   * Counters for leak checks: { backend, runs (completed), gpuBuffers (live GPU buffers of this
   * runner), wasmMemoryBytes (the wasm backend's memory size, else 0), disposed }.
   */
  stats() {
    const ex = this._executor;
    return {
      backend: this.backend,
      runs: this._runs,
      gpuBuffers: ex?.gpuBuffers ?? 0,
      wasmMemoryBytes: ex?.memory?.buffer?.byteLength ?? 0,
      disposed: this._disposed,
    };
  }

  /**
   * Per-step timings accumulated since load, slowest first, when the bundle was loaded with
   * `{ profile: true }` (backends that support it: wasm); otherwise null.
   * @returns {{ step: string, ms: number, runs: number }[] | null}
   */
  profile() {
    const p = this._executor?.profile;
    if (!p) return null;
    return [...p].map(([step, { ms, runs }]) => ({ step, ms, runs })).sort((a, b) => b.ms - a.ms);
  }


  /**
   * Runs the model. `feeds` maps each input name to a TypedArray (shape from the model) or
   * `{ data, shape, dtype }`; a sequence input to an Array of those, an optional input to null (empty)
   * or a value. Resolves to `{ name: { data, shape, dtype } }` with freshly allocated data (sequence
   * outputs as Arrays of those, empty optionals as null). Runs on one runner are executed one after another.
   *
   * @param {Record<string, any> | Map<string, any>} feeds
   * @returns {Promise<Record<string, {data: any, shape: number[], dtype: string}>>}
   */
  async run(feeds, options = {}) {
    if (this._disposed) throw new Error('run(): this runner has been disposed');
    if (this._failure) throw this._failure;
    const keep = this._keepSet(options?.keep);
    const tensors = this._validate(feeds);
    const job = this._queue.then(() => this._runNow(tensors, keep));
    this._queue = job.catch(() => {});
    return job;
  }

  /** The output names of run()'s `keep` option, checked. */
  _keepSet(keep) {
    if (keep === undefined) return null;
    if (!Array.isArray(keep)) throw new TypeError('run(feeds, { keep }): keep must be an array of output names');
    const tensorOutputs = new Set(this.outputs.filter((o) => !/^(sequence|optional)</.test(o.dtype ?? '')).map((o) => o.name));
    for (const name of keep) {
      if (!tensorOutputs.has(name)) {
        throw new Error(`run(feeds, { keep }): '${name}' is not a tensor output (the model's outputs are ${this.outputs.map((o) => `'${o.name}'`).join(', ')})`);
      }
    }
    return new Set(keep);
  }

  /** One queued run: executes on the current backend; moves on to the next one when its device is lost. */
  async _runNow(tensors, keep = null) {
    if (this._disposed) throw new Error('run(): this runner has been disposed');
    if (this._failure) throw this._failure;
    this._running = true;
    try {
      for (;;) {
        const executor = this._executor;
        let result;
        try {
          result = await executor.run(await this._deviceFeeds(tensors, executor), keep ? { keep } : undefined);
        } catch (e) {
          if (!executor.lost) throw e;
          await this._replaceLost(executor, e);
          continue; // the same run, on the next backend
        }
        const out = {};
        for (const spec of this.outputs) {
          const t = result.get(spec.name);
          if (t === undefined) throw new Error(`the backend produced no output '${spec.name}'`);
          out[spec.name] = keep?.has(spec.name) ? this._kept(executor, spec, t) : valueToOutput(t, spec.dtype);
        }
        this._runs++;
        return out;
      }
    } finally {
      this._running = false;
      if (this._disposed) this._releaseNow();
    }
  }

  /** Feeds that are DeviceTensors of this runner, as the executor takes them: a GPU handle for the webgpu
   *  executor that made it, else the data (read back when it is on a GPU another executor cannot bind). */
  async _deviceFeeds(tensors, executor) {
    let out = tensors;
    for (const [name, t] of tensors) {
      if (!(t instanceof DeviceTensor)) continue;
      if (out === tensors) out = new Map(tensors);
      const handle = t._handle(this);
      out.set(name, t.location === 'cpu' ? handle : handle.executor === executor ? { dtype: t.dtype, shape: [...t.shape], gpu: handle }
        : feedToValue(this.inputs.find((i) => i.name === name), await t.read()));
    }
    return out;
  }

  /** An output kept on the device (run's `keep`): a DeviceTensor over the executor's handle or tensor. */
  _kept(executor, spec, t) {
    if (t.gpu) {
      return new DeviceTensor(this, {
        name: spec.name, dtype: t.dtype, shape: t.shape, location: 'webgpu', payload: t.gpu,
        read: async () => valueToOutput(await executor.readKept(t.gpu, t.dtype, t.shape), spec.dtype),
        release: () => executor.releaseKept(t.gpu),
      });
    }
    // (a copy: the wasm executor's outputs are views of its memory, which the next run overwrites)
    const own = { dtype: t.dtype, shape: [...t.shape], data: t.data.slice() };
    return new DeviceTensor(this, {
      name: spec.name, dtype: own.dtype, shape: own.shape, location: 'cpu', payload: own,
      read: async () => valueToOutput(own, spec.dtype), release: () => {},
    });
  }

  /**
   * The device of `executor` was lost (`error`: how the run failed): records it in fallbackLog,
   * releases the executor and creates the next usable backend of the preference list. Throws (and
   * the runner stays unusable) when there is none.
   */
  async _replaceLost(executor, error) {
    this.fallbackLog.push({ backend: this.backend, reason: `the device was lost (${executor.lost})`, phase: 'run' });
    this._executor = null;
    executor.dispose();
    const skipped = this.fallbackLog.length;
    const found = this._disposed ? null
      : await createFirstUsable(this._bundle, this._laterBackends, this._options, this.fallbackLog, { phase: 'run' });
    if (found) {
      this._executor = found.executor;
      this._laterBackends = this._laterBackends.slice(found.index + 1);
      this.backend = found.name;
      this.threads = found.executor.threads ?? 1;
      this.threadInfo = found.executor.threadInfo ?? null;
      if (this._disposed) throw new Error('run(): this runner has been disposed');
      return;
    }
    if (this._disposed) throw new Error('run(): this runner has been disposed');
    const lines = this.fallbackLog.slice(skipped).map((f) => `\n  - ${f.backend}: ${f.reason}`).join('');
    const failure = new Error(lines ? `${error.message}; no other backend of the preference list could take over:${lines}` : error.message, { cause: error });
    failure.fallbackLog = this.fallbackLog;
    this._failure = failure;
    throw failure;
  }

  /** Validates `feeds` and converts them to internal tensors (Map by input name). */
  _validate(feeds) {
    if (feeds === null || typeof feeds !== 'object') {
      throw new TypeError(`run(feeds): feeds must be an object mapping input names to tensors, got ${feeds === null ? 'null' : typeof feeds}`);
    }
    const entries = feeds instanceof Map ? [...feeds.entries()] : Object.entries(feeds);
    const expected = this.inputs.map((i) => `'${i.name}'`).join(', ') || 'none';
    const byName = new Map(this.inputs.map((i) => [i.name, i]));
    const tensors = new Map();
    for (const [name, feed] of entries) {
      const spec = byName.get(name);
      if (!spec) throw new Error(`unknown input '${name}' (the model's inputs are ${expected})`);
      if (feed instanceof DeviceTensor) {
        feed._handle(this); // (throws for a disposed tensor or another runner's)
        if (feed.dtype !== spec.dtype) throw new TypeError(`input '${name}': a DeviceTensor of ${feed.dtype}, the model takes ${spec.dtype}`);
        tensors.set(name, feed);
        continue;
      }
      tensors.set(name, feedToValue(spec, feed));
    }
    for (const spec of this.inputs) {
      if (!tensors.has(spec.name)) throw new Error(`missing input '${spec.name}' (the model's inputs are ${expected})`);
    }
    if (this.manifest.dims) checkOpenDims(this.manifest.dims, this.inputs, tensors, this._dimEquals);
    return tensors;
  }

  /**
   * Releases the backend's memory. The runner cannot be used afterwards: runs still queued reject
   * with "run(): this runner has been disposed", so do later run() calls. A run already executing
   * completes first; the memory is released right after it. Returns a promise that resolves once
   * the memory is released (at once when no run is executing).
   * @returns {Promise<void>}
   */
  dispose() {
    if (!this._disposed) {
      this._disposed = true;
      this._released = new Promise((resolve) => { this._release = resolve; });
      if (!this._running) this._releaseNow();
    }
    return this._released;
  }

  _releaseNow() {
    const executor = this._executor;
    this._executor = null;
    if (executor) executor.dispose();
    this._release?.();
    this._release = null;
  }
}
