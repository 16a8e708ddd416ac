// The backends this runtime knows, by name. A backend's `create(bundle, entry, options)` (options:
// load()'s) returns an executor: { run(feeds: Map<name, Tensor>) -> Map<name, Tensor> (sync or
// async), dispose(), and optionally threads / threadInfo },
// where tensors use the js backend's internal representation (float16/bfloat16 as Float32Array).
// A backend that cannot be used here has `unavailable` (the reason) instead of `create`.

/** @type {Record<string, { create?: Function, unavailable?: string }>} */
export const BACKENDS = {
  webgpu: {
    async create(bundle, entry, options) {
      const { createWebGPUBackend } = await import('./webgpu/backend.js');
      return createWebGPUBackend(bundle, entry, options);
    },
  },
  wasm: {
    async create(bundle, entry, options) {
      const { createWasmBackend } = await import('./wasm/backend.js');
      return createWasmBackend(bundle, entry, options);
    },
  },
  js: {
    async create(bundle, entry) {
      const { createJsBackend } = await import('./js/backend.js');
      return createJsBackend(bundle, entry);
    },
  },
};

/** The default preference order of load(). */
export const DEFAULT_BACKENDS = ['webgpu', 'wasm', 'js'];
