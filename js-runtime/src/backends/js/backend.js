// The js backend: executes js/program.json (docs/bundle-format.md) with the kernels of ./kernels.
//
// Init decodes the constants, allocates the single arena ArrayBuffer, and resolves every op's
// kernel (a missing kernel fails init, so that load() can fall back to another backend).
// run() binds inputs, executes the ops in order and returns the graph outputs as internal
// tensors (possibly arena views: the caller copies them out before the next run).

import { findKernel } from './kernels/index.js';
import * as activationModule from './kernels/activation.js';
import { TYPED_ARRAYS, isBigInt, makeTensor, sizeOf } from './kernels/util.js';
import { decodeConstant, isConstDescriptor } from '../../bundle.js';

/**
 * Creates the js backend's executor for a bundle.
 *
 * @param {import('../../bundle.js').Bundle} bundle an opened bundle
 * @param {{ program: string }} entry the manifest's `backends.js` entry
 * @returns {Promise<JsExecutor>}
 */
export async function createJsBackend(bundle, entry) {
  if (!entry || typeof entry.program !== 'string') {
    throw new Error('manifest backends.js has no "program" file');
  }
  const program = await bundle.readJSON(entry.program);
  const weights = await bundle.weights();
  return new JsExecutor(program, weights);
}

/** Decodes tensor-valued attributes (constant descriptors, alone or in lists) into Tensors. */
function decodeAttrs(attrs, weights) {
  const out = {};
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (isConstDescriptor(value)) out[key] = decodeConstant(value, weights);
    else if (isSpecialFloat(value)) out[key] = Number(value.$float); // NaN / ±Infinity (not valid JSON numbers)
    else if (Array.isArray(value) && value.length > 0 && value.every(isConstDescriptor)) {
      out[key] = value.map((v) => decodeConstant(v, weights));
    } else out[key] = value;
  }
  return out;
}

function isSpecialFloat(value) {
  return value !== null && typeof value === 'object' && typeof value.$float === 'string';
}

/** True when typed arrays `a` and `b` share bytes. */
function overlaps(a, b) {
  if (!a || !b || a.buffer === undefined || a.buffer !== b.buffer) return false;
  return a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

function copyTensor(t) {
  return { dtype: t.dtype, shape: [...t.shape], data: t.data.slice() };
}

/** Executes one js program. Not re-entrant: one run at a time (runs are synchronous). */
export class JsExecutor {
  /**
   * @param {object} program parsed js/program.json
   * @param {Uint8Array} weights contents of weights.bin
   */
  constructor(program, weights) {
    this.program = program;
    const values = program.values ?? [];
    const ops = program.ops ?? [];
    this.opset = program.opsets?.[''] ?? program.opsets?.['ai.onnx'];

    // Constants, decoded once; they stay shared by all runs and must not be written.
    this.constants = new Array(values.length).fill(null);
    values.forEach((v, i) => {
      if (!v.const) return;
      try {
        this.constants[i] = decodeConstant(v.const, weights);
      } catch (e) {
        throw new Error(`constant '${v.name}': ${e.message}`, { cause: e });
      }
    });

    // The arena: one buffer shared by every planned intermediate.
    const arenaBytes = program.arena?.byteLength ?? 0;
    this.arena = new ArrayBuffer(arenaBytes);
    this.slots = values.map((v, i) => {
      const slot = v.arena;
      if (!slot || this.constants[i]) return null;
      if (!(slot.offset >= 0 && slot.offset + slot.byteLength <= arenaBytes)) {
        throw new Error(`value '${v.name}': arena slot [${slot.offset}, ${slot.offset + slot.byteLength}) ` +
          `lies outside the arena (${arenaBytes} bytes)`);
      }
      return { offset: slot.offset, byteLength: slot.byteLength };
    });

    this.inputIndex = new Map((program.inputs ?? []).map((vi) => [values[vi].name, vi]));
    this.outputIndices = program.outputs ?? [];
    const keep = new Set([...this.outputIndices]);

    // The last op reading each value, to drop references to dead intermediates.
    const lastUse = new Array(values.length).fill(-1);
    ops.forEach((op, k) => op.inputs.forEach((vi) => { if (vi >= 0) lastUse[vi] = k; }));

    // Resolve kernels; any missing one fails init (naming op and node).
    const applyActivation = activationModule.applyActivation;
    this.steps = ops.map((op, k) => {
      const domain = op.domain ?? '';
      const label = `node '${op.name || `#${k}`}' (${op.op})`;
      const kernel = findKernel(op.op, domain);
      if (typeof kernel !== 'function') {
        throw new Error(`no js kernel for op ${domain && domain !== 'ai.onnx' ? `${domain}::` : ''}${op.op} (${label})`);
      }
      let attrs;
      try {
        attrs = decodeAttrs(op.attrs, weights);
      } catch (e) {
        throw new Error(`${label}: attribute: ${e.message}`, { cause: e });
      }
      if (attrs.activation !== undefined && typeof applyActivation !== 'function') {
        throw new Error(`${label}: fused activation ${attrs.activation} is not supported (no applyActivation in activation.js)`);
      }
      const frees = [];
      op.outputs.forEach((vi) => { if (vi >= 0 && lastUse[vi] < k && !keep.has(vi)) frees.push(vi); });
      return { op, kernel, attrs, label, frees, ctx: null };
    });
    ops.forEach((op, k) => op.inputs.forEach((vi) => {
      if (vi >= 0 && lastUse[vi] === k && !keep.has(vi) && !this.constants[vi]) this.steps[k].frees.push(vi);
    }));
    this.applyActivation = applyActivation;

    for (const step of this.steps) step.ctx = this._makeContext(step.op);
  }

  /** The kernel context of one op; `output` hands out arena views when the slot fits. */
  _makeContext(op) {
    const executor = this;
    return {
      opset: this.opset,
      opType: op.op,
      domain: op.domain ?? '',
      name: op.name ?? '',
      numOutputs: op.outputs.length,
      output(index, shape, dtype) {
        const vi = op.outputs[index];
        const slot = vi >= 0 ? executor.slots[vi] : null;
        const Ctor = TYPED_ARRAYS[dtype];
        if (slot && Ctor && dtype !== 'string') {
          const n = sizeOf(shape);
          if (n * Ctor.BYTES_PER_ELEMENT <= slot.byteLength && slot.offset % Ctor.BYTES_PER_ELEMENT === 0) {
            const data = new Ctor(executor.arena, slot.offset, n);
            data.fill(isBigInt(dtype) ? 0n : 0);
            return { dtype, shape: [...shape], data };
          }
        }
        return makeTensor(dtype, shape);
      },
    };
  }

  /** True when a kernel result must be copied before being stored under value `vi`. */
  _mustCopy(result, vi, inputs, hasActivation) {
    const data = result.data;
    if (!data || data.buffer === undefined) return false; // string arrays
    if (data.buffer === this.arena) {
      // Arena memory is only safe inside the value's own slot (other slots get reused).
      const slot = this.slots[vi];
      return !slot || data.byteOffset < slot.offset || data.byteOffset + data.byteLength > slot.offset + slot.byteLength;
    }
    // A tensor aliasing an input (e.g. an Identity that returns its input) must not be activated in place.
    return hasActivation && inputs.some((t) => t && overlaps(t.data, data));
  }

  /**
   * Executes the program.
   * @param {Map<string, {dtype: string, shape: number[], data: any}>} feeds internal tensors by input name
   * @returns {Map<string, {dtype: string, shape: number[], data: any}>} graph outputs by name (may be arena views)
   */
  run(feeds) {
    if (!this.steps) throw new Error('js backend has been disposed');
    const values = this.program.values;
    const storage = this.constants.slice();
    for (const [name, vi] of this.inputIndex) {
      const t = feeds.get(name);
      if (!t) throw new Error(`missing input '${name}'`);
      storage[vi] = t;
    }
    for (const step of this.steps) {
      const { op, kernel, attrs, label, ctx } = step;
      const inputs = op.inputs.map((vi) => {
        if (vi < 0) return null;
        const t = storage[vi];
        if (!t) throw new Error(`${label}: input '${values[vi].name}' has not been computed`);
        return t;
      });
      let outputs;
      try {
        outputs = kernel(inputs, attrs, ctx);
        if (!Array.isArray(outputs)) throw new Error('kernel did not return an array of tensors');
        const hasActivation = attrs.activation !== undefined;
        op.outputs.forEach((vi, i) => {
          if (vi < 0) return;
          let t = outputs[i];
          if (!t || typeof t !== 'object' || !Array.isArray(t.shape)) {
            throw new Error(`kernel produced no tensor for output ${i} ('${values[vi].name}')`);
          }
          if (this._mustCopy(t, vi, inputs, hasActivation)) t = copyTensor(t);
          storage[vi] = t;
        });
        if (hasActivation) {
          const first = op.outputs[0] >= 0 ? storage[op.outputs[0]] : null;
          if (first) this.applyActivation(first, attrs);
        }
      } catch (e) {
        throw new Error(`${label}: ${e.message}`, { cause: e });
      }
      for (const vi of step.frees) storage[vi] = null;
    }
    const result = new Map();
    for (const vi of this.outputIndices) {
      const t = storage[vi];
      if (!t) throw new Error(`graph output '${values[vi].name}' was not produced`);
      result.set(values[vi].name, t);
    }
    return result;
  }

  /** Releases the arena and constants; the executor cannot run afterwards. */
  dispose() {
    this.steps = null;
    this.constants = null;
    this.arena = null;
  }
}
