// The js backend's kernel table: op type -> kernel function.
//
// A kernel is `(inputs, attrs, ctx) => outputs`:
//   inputs  array of Tensors ({ dtype, shape, data }, see util.js), `null` for an omitted optional input
//   attrs   the node's attributes by name (ints/floats as numbers, strings, arrays, tensor attributes
//           as Tensors); defaults are the kernel's business
//   ctx     { opset, opType, domain, name, numOutputs, output(index, shape, dtype), runSubgraph(graph, inputs) }:
//           `output` returns a Tensor for output `index`, backed by the planned arena slot when there is
//           one; kernels may also return tensors built with makeTensor(). Inputs are never aliased by outputs.
//           `runSubgraph` runs a subgraph attribute (see controlflow.js) and returns its outputs.
// Non-tensor values (controlflow.js, sequence.js): a sequence is a JS Array of Tensors, an optional is
// null (empty) or its value; subgraph attributes arrive as Subgraph objects ({ inputs, outputs } specs).
// Returns an array of Tensors, one per node output (omitted optional outputs may be null).
// Fused activations (`attrs.fused_activation`) are applied by the executor after the kernel, not by kernels.

import { findCustomKernel } from './custom.js';
import { kernels as elementwise } from './elementwise.js';
import { kernels as activation } from './activation.js';
import { kernels as cast } from './cast.js';
import { kernels as shape } from './shape.js';
import { kernels as indexing } from './indexing.js';
import { kernels as conv } from './conv.js';
import { kernels as pool } from './pool.js';
import { kernels as matmul } from './matmul.js';
import { kernels as normalization } from './normalization.js';
import { kernels as resize } from './resize.js';
import { kernels as reduce } from './reduce.js';
import { kernels as attention } from './attention.js';
import { kernels as loss } from './loss.js';
import { kernels as quantize } from './quantize.js';
import { kernels as misc } from './misc.js';
import { kernels as controlflow } from './controlflow.js';
import { kernels as sequence } from './sequence.js';
import { kernels as rnn } from './rnn.js';
import { kernels as signal } from './signal.js';
import { kernels as strings } from './strings.js';
import { kernels as extra } from './extra.js';
import { kernels as contrib, msKernels } from './contrib.js';
import { webdnnKernels } from './dims.js';

const families = { elementwise, activation, cast, shape, indexing, conv, pool, matmul, normalization, resize, reduce, attention, loss, quantize, misc, rnn, signal, strings, extra, contrib, controlflow, sequence };

/** Built-in kernels keyed by op type (default ONNX domain). */
export const builtinKernels = {};
for (const [family, table] of Object.entries(families)) {
  for (const [op, fn] of Object.entries(table)) {
    if (op in builtinKernels) throw new Error(`kernel ${op} defined twice (second in ${family}.js)`);
    builtinKernels[op] = fn;
  }
}

export { registerKernel } from './custom.js';

/** Built-in kernels of other domains: onnxruntime's com.microsoft (contrib.js), webdnn (dims.js). */
export const builtinDomainKernels = { 'com.microsoft': msKernels, webdnn: webdnnKernels };

/** The kernel for an op: a registered custom kernel first, then the built-in one of its domain. */
export function findKernel(opType, domain = '') {
  const custom = findCustomKernel(opType, domain);
  if (custom) return custom;
  if (domain && domain !== 'ai.onnx') return Object.hasOwn(builtinDomainKernels, domain) && Object.hasOwn(builtinDomainKernels[domain], opType) ? builtinDomainKernels[domain][opType] : undefined;
  return Object.hasOwn(builtinKernels, opType) ? builtinKernels[opType] : undefined;
}
