// Kernels registered at run time (custom ops from plugins), keyed by "domain::op" or op.
// Kept apart from index.js so that importing `registerKernel` does not load every kernel family
// (an app running a wasm bundle with no JS steps never downloads the js kernels).

const customKernels = new Map();

/** The registry key of an op: "domain::op", or the bare op type for the default ONNX domain. */
export function kernelKey(opType, domain = '') {
  return domain && domain !== 'ai.onnx' ? `${domain}::${opType}` : opType;
}

/** Register a kernel for a custom op (domain '' is ONNX; a registered kernel wins over a built-in one). */
export function registerKernel(opType, fn, domain = '') {
  customKernels.set(kernelKey(opType, domain), fn);
}

/** The registered custom kernel for an op, or undefined. */
export function findCustomKernel(opType, domain = '') {
  return customKernels.get(kernelKey(opType, domain));
}
