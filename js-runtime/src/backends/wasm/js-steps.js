// The JS steps of a wasm plan (ops the wasm module has no kernel for), executed by the js backend's
// executor over the wasm memory: values with an `addr` get an arena slot at their absolute address
// in `memory.buffer`, so that kernels read and write them in place (ctx.output hands out views of
// wasm memory when the slot fits) and the wasm segments that follow see the results.

import { JsExecutor } from '../js/backend.js';
import { TYPED_ARRAYS } from '../js/kernels/util.js';

/** A js-backend executor whose arena is the wasm memory and whose steps run one at a time. */
export class WasmJsSteps extends JsExecutor {
  /**
   * @param {object} program a js program (values, inputs, outputs, ops) over the plan's values;
   *   values in wasm memory carry `arena: { offset: absolute address, byteLength }`
   * @param {import('../../weight-store.js').WeightStore} weights the bundle's weights (constants read by the JS steps)
   * @param {ArrayBuffer | SharedArrayBuffer} buffer the wasm memory's buffer
   */
  constructor(program, weights, buffer) {
    super(program, weights, { arena: buffer });
  }

  /**
   * A result of a value that lives in wasm memory must end up at its address (a later wasm segment
   * reads it there): results elsewhere (fresh tensors, views of other values) are copied into the slot.
   * Results that do not fit the slot stay in JS.
   */
  _placeOutput(t, vi, inputs, hasActivation, graph) {
    const slot = graph === this.top ? graph.slots[vi] : null;
    const data = t.data;
    if (!slot || !data || data.buffer === undefined) return super._placeOutput(t, vi, inputs, hasActivation, graph);
    if (data.buffer === this.arena && data.byteOffset === slot.offset && data.byteLength <= slot.byteLength) return t;
    const Ctor = TYPED_ARRAYS[t.dtype];
    if (!Ctor || t.dtype === 'string' || !(data instanceof Ctor) || data.byteLength > slot.byteLength) {
      return super._placeOutput(t, vi, inputs, hasActivation, graph);
    }
    const view = new Ctor(this.arena, slot.offset, data.length);
    view.set(data); // TypedArray#set copies correctly when source and target overlap
    return { dtype: t.dtype, shape: [...t.shape], data: view };
  }
}
