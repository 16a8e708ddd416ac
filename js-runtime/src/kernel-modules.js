// JS kernels that plugins ship inside a bundle (manifest "kernels", docs/bundle-format.md): ES modules
// exporting `kernels = { OpType: function }`, registered for their domain when the bundle loads, so
// an application using a model with a plugin's custom op calls nothing (no registerKernel). Each
// module is read through the bundle (its SHA-256 checked against "integrity"), then imported from
// those very bytes (a data: URL in Node, a blob: URL in browsers; a page whose Content-Security-Policy
// forbids blob: scripts must allow it, or register the kernels itself).

import { bundlePath, describe } from './bundle.js';
import { registerKernel } from './backends/js/kernels/custom.js';

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
    const bytes = await bundle.readBytes(k.file, undefined, k.field);
    let mod;
    try {
      mod = await importBytes(bytes);
    } catch (e) {
      throw new Error(`bundle ${bundle.label}: kernel module ${k.file} does not load: ${e?.message ?? e}`, { cause: e });
    }
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
