// The backends this runtime knows, by name, registered through registerBackend() — the public
// interface (index.d.ts `BackendDefinition`): the built-in webgpu, wasm and js backends below,
// those an application adds, and those a backend plugin ships in its bundles (a manifest entry's
// "runtime" module, imported by bundle-modules.js when the bundle is loaded).
//
// A backend's `create(bundle, entry, options)` (entry: the manifest's backends[name]; options:
// load()'s) returns an executor: { run(feeds: Map<name, Tensor>) -> Map<name, Tensor> (sync or
// async), dispose(), and optionally threads / threadInfo }, where tensors are { dtype, shape, data }
// (float16/bfloat16 as Float32Array). A backend that cannot be used here has `unavailable` (the
// reason) instead of `create`.

/** @type {Map<string, { create?: Function, unavailable?: string }>} */
const BACKENDS = new Map();

/**
 * Registers (or replaces) the backend `name`.
 * @param {string} name lower-case letters, digits and '-', starting with a letter (as in manifests)
 * @param {{ create?: Function, unavailable?: string }} backend
 */
export function registerBackend(name, backend) {
  if (typeof name !== 'string' || !/^[a-z][a-z0-9-]{0,63}$/.test(name)) {
    throw new TypeError(`registerBackend(${JSON.stringify(name)}): a backend name is lower-case letters, digits and '-', starting with a letter`);
  }
  if (backend === null || typeof backend !== 'object' || (typeof backend.create !== 'function' && typeof backend.unavailable !== 'string')) {
    throw new TypeError(`registerBackend('${name}'): the backend needs create(bundle, entry, options), or unavailable (a reason)`);
  }
  BACKENDS.set(name, backend);
}

/** The backend registered as `name`, or null. */
export function getBackend(name) {
  return BACKENDS.get(name) ?? null;
}

/** The names of the registered backends, in registration order. */
export function backendNames() {
  return [...BACKENDS.keys()];
}

registerBackend('webgpu', {
  async create(bundle, entry, options) {
    const { createWebGPUBackend } = await import('./webgpu/backend.js');
    return createWebGPUBackend(bundle, entry, options);
  },
});
registerBackend('wasm', {
  async create(bundle, entry, options) {
    const { createWasmBackend } = await import('./wasm/backend.js');
    return createWasmBackend(bundle, entry, options);
  },
});
registerBackend('js', {
  async create(bundle, entry) {
    const { createJsBackend } = await import('./js/backend.js');
    return createJsBackend(bundle, entry);
  },
});

/** The default preference order of load(). */
export const DEFAULT_BACKENDS = ['webgpu', 'wasm', 'js'];
