// webdnn-runtime: loads bundles written by `webdnn-build build` and runs them.
//
//   import { load } from 'webdnn-runtime';
//   const runner = await load('path/or/url/of/bundle', { backends: ['webgpu', 'wasm', 'js'] });
//   const { output } = await runner.run({ input: new Float32Array(1 * 3 * 224 * 224) });
//   runner.dispose();

import { openBundle } from './bundle.js';
import { BACKENDS, DEFAULT_BACKENDS } from './backends/registry.js';
import { feedToValue, valueToOutput } from './tensor-io.js';
import { registerKernel as registerJsKernel } from './backends/js/kernels/custom.js';

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

/**
 * Loads a bundle and prepares the first usable backend of `options.backends`.
 * Backends that are skipped are recorded, with the reason, in `runner.fallbackLog`.
 *
 * @param {string|URL|{files: Record<string, string|URL>, manifest?: object, label?: string}} source
 *   bundle folder: a file path (Node) or a URL (http(s) in browsers or Node); or a file map
 *   (each bundle file's URL or path by its path in the bundle; `manifest`: manifest.json, parsed)
 * @param {{ backends?: string[], threads?: number, onProgress?: Function }} [options] `threads`: threads
 *   of the wasm backend (default: available cores, capped by the module and at 8; 1 forces
 *   single-threaded); `onProgress({ file, loaded, total })`: called as weights.bin arrives;
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
  const bundle = await openBundle(source, { onProgress: options.onProgress });
  let preference = options.backends ?? DEFAULT_BACKENDS;
  if (typeof preference === 'string') preference = [preference];
  if (!Array.isArray(preference) || preference.length === 0) {
    throw new TypeError('load(): options.backends must be a non-empty array of backend names');
  }

  const fallbackLog = [];
  const built = Object.keys(bundle.manifest.backends);
  for (const name of new Set(preference)) {
    const backend = Object.hasOwn(BACKENDS, name) ? BACKENDS[name] : null;
    let reason;
    if (!backend) {
      reason = `unknown backend '${name}' (known: ${Object.keys(BACKENDS).join(', ')})`;
    } else if (backend.unavailable) {
      reason = backend.unavailable;
    } else if (!Object.hasOwn(bundle.manifest.backends, name)) {
      reason = `the bundle has no '${name}' program (it was built for: ${built.join(', ') || 'no backend'})`;
    } else {
      try {
        const executor = await backend.create(bundle, bundle.manifest.backends[name], options);
        bundle.releaseWeights();
        return new Runner(bundle, name, executor, fallbackLog);
      } catch (e) {
        reason = e && e.message ? e.message : String(e);
      }
    }
    fallbackLog.push({ backend: name, reason });
  }
  const lines = fallbackLog.map((f) => `  - ${f.backend}: ${f.reason}`).join('\n');
  const err = new Error(`no usable backend for bundle ${bundle.label}:\n${lines}`);
  err.fallbackLog = fallbackLog;
  throw err;
}

/** A loaded model on one backend. Create it with `load()`. */
export class Runner {
  /** @internal */
  constructor(bundle, backend, executor, fallbackLog) {
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
    /** Backends tried before this one and why they were skipped: [{ backend, reason }]. */
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
  async run(feeds) {
    if (!this._executor) throw new Error('run(): this runner has been disposed');
    const tensors = this._validate(feeds);
    const job = this._queue.then(async () => {
      if (!this._executor) throw new Error('run(): this runner has been disposed');
      const result = await this._executor.run(tensors);
      const out = {};
      for (const spec of this.outputs) {
        const t = result.get(spec.name);
        if (t === undefined) throw new Error(`the backend produced no output '${spec.name}'`);
        out[spec.name] = valueToOutput(t, spec.dtype);
      }
      return out;
    });
    this._queue = job.catch(() => {});
    return job;
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
      tensors.set(name, feedToValue(spec, feed));
    }
    for (const spec of this.inputs) {
      if (!tensors.has(spec.name)) throw new Error(`missing input '${spec.name}' (the model's inputs are ${expected})`);
    }
    return tensors;
  }

  /** Releases the backend's memory. The runner cannot be used afterwards. */
  dispose() {
    const executor = this._executor;
    this._executor = null;
    if (executor) executor.dispose();
  }
}
