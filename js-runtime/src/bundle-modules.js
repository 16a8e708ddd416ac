// Code that plugins ship inside a bundle (docs/bundle-format.md), so that an application calls
// nothing but load():
// - JS kernels (manifest "kernels"): ES modules exporting `kernels = { OpType: function }`,
//   registered for their domain when the bundle loads (no registerKernel);
// - a backend's runtime part (manifest backends[name].runtime): an ES module exporting
//   `backend = { create(bundle, entry, options) }`, registered with registerBackend() when load() is
//   asked for that backend and none of that name is registered yet.
// Each module is read through the bundle (its SHA-256 checked against "integrity"), then imported
// from those very bytes (a data: URL in Node, a blob: URL in browsers; a page whose
// Content-Security-Policy forbids blob: scripts must allow it, or register the code itself).

import { bundlePath, describe } from './bundle.js';
import { registerKernel } from './backends/js/kernels/custom.js';
import { registerBackend } from './backends/registry.js';

const isNode = typeof process !== 'undefined' && process.versions?.node != null;

/** Checks the manifest's "kernels" list (a bundle is untrusted input); returns it ([] when absent). */
export function kernelEntries(manifest) {
  const list = manifest.kernels;
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw new Error('manifest.json "kernels" must be a list');
  return list.map((k, i) => {
    const where = `manifest.json "kernels[${i}]"`;
    if (k === null || typeof k !== 'object' || Array.isArray(k)) throw new Error(`${where} is not an object`);
    bundlePath(`${where}.file`, k.file);
    if (typeof k.domain !== 'string' || k.domain === '' || k.domain === 'ai.onnx') {
      throw new Error(`${where}.domain ${describe(k.domain)} must name a custom domain`);
    }
    if (!Array.isArray(k.ops) || k.ops.length === 0 || !k.ops.every((op) => typeof op === 'string' && op !== '')) {
      throw new Error(`${where}.ops must be a list of op types`);
    }
    return { file: k.file, domain: k.domain, ops: k.ops, field: `${where}.file` };
  });
}

async function importBytes(bytes) {
  if (isNode) {
    const b64 = typeof Buffer !== 'undefined' ? Buffer.from(bytes).toString('base64') : btoa(String.fromCharCode(...bytes));
    return import(/* webpackIgnore: true */ /* @vite-ignore */ `data:text/javascript;base64,${b64}`);
  }
  const url = URL.createObjectURL(new Blob([bytes], { type: 'text/javascript' }));
  try {
    return await import(/* webpackIgnore: true */ /* @vite-ignore */ url);
  } finally {
    URL.revokeObjectURL(url);
  }
}

/**
 * Imports the bundle's kernel modules and registers their kernels (process- or page-wide, like
 * registerKernel). Throws an Error naming the module and the op at fault.
 * @param {import('./bundle.js').Bundle} bundle
 */
export async function registerBundleKernels(bundle) {
  let entries;
  try {
    entries = kernelEntries(bundle.manifest);
  } catch (e) {
    throw new Error(`bundle ${bundle.label}: ${e.message}`, { cause: e });
  }
  for (const k of entries) {
    const mod = await importBundleModule(bundle, k.file, k.field, 'kernel module');
    const kernels = mod.kernels ?? mod.default?.kernels;
    for (const op of k.ops) {
      const fn = kernels && Object.hasOwn(kernels, op) ? kernels[op] : undefined;
      if (typeof fn !== 'function') {
        throw new Error(`bundle ${bundle.label}: kernel module ${k.file} exports no kernel for ${k.domain}::${op} (export const kernels = { ${op}(inputs, attrs, ctx) { ... } })`);
      }
      registerKernel(op, fn, k.domain);
    }
  }
}

/** Imports module `file` of the bundle (read and digest-checked by Bundle.readBytes; `what` names it). */
async function importBundleModule(bundle, file, field, what) {
  const bytes = await bundle.readBytes(file, undefined, field);
  try {
    return await importBytes(bytes);
  } catch (e) {
    throw new Error(`bundle ${bundle.label}: ${what} ${file} does not load: ${e?.message ?? e}`, { cause: e });
  }
}

/**
 * Imports the runtime part a backend plugin put in the bundle (`entry.runtime`) and registers it as
 * backend `name`. Returns the backend; throws an Error naming the module when it does not load or
 * exports no `backend` with create().
 */
export async function registerBundleBackend(bundle, name, entry) {
  const field = `manifest.json "backends.${name}.runtime"`;
  const mod = await importBundleModule(bundle, entry.runtime, field, `the ${name} backend's runtime module`);
  const backend = mod.backend ?? mod.default?.backend;
  if (!backend || typeof backend.create !== 'function') {
    throw new Error(`bundle ${bundle.label}: ${entry.runtime} exports no backend (export const backend = { create(bundle, entry, options) { ... } })`);
  }
  registerBackend(name, backend);
  return backend;
}
