// Kernels of the webdnn domain that compute from the open dims of a bundle (docs/dynamic-shapes.md).

import { parseDimExpr } from '../../../dim-expr.js';
import { TYPED_ARRAYS, makeTensor } from './util.js';

/** Parsed expressions per node (keyed by the attribute list, which the executor keeps for the node's life). */
const parsed = new WeakMap();

/**
 * webdnn.DimValues: shape arithmetic folded at build time (webdnn_build/dim_values.py). Evaluates the
 * `values` expressions with the sizes of the open dims `dims`, read from the shapes of its inputs
 * (dim i: axis `dim_axes[i]` of input `dim_inputs[i]`; their data is never read).
 */
function DimValues(inputs, attrs) {
  let fns = parsed.get(attrs.values);
  if (!fns) {
    fns = attrs.values.map((text) => parseDimExpr(text));
    parsed.set(attrs.values, fns);
  }
  const sizes = new Map();
  attrs.dims.forEach((name, i) => {
    const t = inputs[attrs.dim_inputs[i]];
    const d = t?.shape?.[attrs.dim_axes[i]];
    if (!Number.isInteger(d)) throw new Error(`DimValues: no size for dim '${name}'`);
    sizes.set(name, d);
  });
  const dtype = attrs.to;
  const Ctor = TYPED_ARRAYS[dtype];
  if (!Ctor || dtype === 'string') throw new Error(`DimValues: bad dtype ${dtype}`);
  const data = new Ctor(fns.length);
  fns.forEach((f, i) => {
    const v = f(sizes);
    data[i] = dtype === 'int64' || dtype === 'uint64' ? BigInt(v) : dtype === 'bool' ? (v ? 1 : 0) : v;
  });
  return [makeTensor(dtype, attrs.scalar ? [] : [fns.length], data)];
}

export const webdnnKernels = { DimValues };
