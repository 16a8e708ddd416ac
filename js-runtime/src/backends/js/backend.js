// The js backend: executes js/program.json (docs/bundle-format.md) with the kernels of ./kernels.
//
// Init decodes the constants, allocates the single arena ArrayBuffer, and resolves every op's
// kernel (a missing kernel fails init, so that load() can fall back to another backend).
// run() binds inputs, executes the ops in order and returns the graph outputs as internal
// tensors (possibly arena views: the caller copies them out before the next run).

import { findKernel } from './kernels/index.js';
import * as activationModule from './kernels/activation.js';
import { TYPED_ARRAYS, isBigInt, makeTensor, sizeOf } from './kernels/util.js';
import { checkCount } from '../../bundle.js';
import { decodeConstant, isConstDescriptor } from '../../constants.js';
import { parseDimExpr } from '../../dim-expr.js';
import { placeByLifetime } from '../dyn-place.js';

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
  const program = await bundle.readJSON(entry.program, 'manifest.json "backends.js.program"');
  const weights = await bundle.weights();
  return new JsExecutor(program, weights);
}

/** Decodes attributes: constant descriptors (alone or in lists) become Tensors, `$graph` a Subgraph. */
function decodeAttrs(attrs, weights, compileGraph) {
  const out = {};
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (isConstDescriptor(value)) out[key] = decodeConstant(value, weights);
    else if (isSpecialFloat(value)) out[key] = Number(value.$float); // NaN / ±Infinity (not valid JSON numbers)
    else if (isGraphAttr(value)) out[key] = compileGraph(value.$graph, key);
    else if (Array.isArray(value) && value.length > 0 && value.every(isConstDescriptor)) {
      out[key] = value.map((v) => decodeConstant(v, weights));
    } else if (Array.isArray(value) && value.length > 0 && value.every(isGraphAttr)) {
      out[key] = value.map((v, i) => compileGraph(v.$graph, `${key}[${i}]`));
    } else out[key] = value;
  }
  return out;
}

function isSpecialFloat(value) {
  return value !== null && typeof value === 'object' && typeof value.$float === 'string';
}

function isGraphAttr(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && typeof value.$graph === 'object';
}

/**
 * Checks the structure of a (sub)program read from a bundle before it is compiled: lists where
 * lists belong, value indices in range, ops with an op type, integer arena slots. Throws an Error
 * naming what is wrong (a corrupted program must not fail later with a TypeError).
 */
function validateProgram(program, label) {
  const bad = (what) => { throw new Error(`${label}: ${what}`); };
  if (program === null || typeof program !== 'object' || Array.isArray(program)) bad('not an object');
  const list = (key) => {
    const v = program[key];
    if (v !== undefined && !Array.isArray(v)) bad(`"${key}" must be a list`);
    return v ?? [];
  };
  const values = list('values');
  const n = values.length;
  const index = (vi, what, optional = false) => {
    if (!Number.isInteger(vi) || vi >= n || vi < (optional ? -1 : 0)) bad(`${what} refers to value ${JSON.stringify(vi) ?? typeof vi}, which does not exist`);
  };
  values.forEach((v, i) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) bad(`value #${i} is not an object`);
    if (v.arena !== undefined && v.arena !== null) {
      const where = `value '${v.name ?? `#${i}`}': arena slot`;
      if (typeof v.arena !== 'object') bad(`${where} is not an object`);
      checkCount(`${label}: ${where} "offset"`, v.arena.offset, Number.MAX_SAFE_INTEGER);
      checkCount(`${label}: ${where} "byteLength"`, v.arena.byteLength, Number.MAX_SAFE_INTEGER);
    }
    if (v.shape !== undefined && v.shape !== null && !Array.isArray(v.shape)) bad(`value '${v.name ?? `#${i}`}': "shape" must be a list or null`);
  });
  list('inputs').forEach((vi) => index(vi, '"inputs"'));
  list('outputs').forEach((vi) => index(vi, '"outputs"'));
  list('captures').forEach((vi) => index(vi, '"captures"'));
  list('ops').forEach((op, k) => {
    if (op === null || typeof op !== 'object' || Array.isArray(op)) bad(`op #${k} is not an object`);
    const where = `op #${k}`;
    if (typeof op.op !== 'string') bad(`${where} has no "op" type`);
    if (op.domain !== undefined && op.domain !== null && typeof op.domain !== 'string') bad(`${where}: "domain" must be a string`);
    if (op.attrs !== undefined && op.attrs !== null && (typeof op.attrs !== 'object' || Array.isArray(op.attrs))) bad(`${where}: "attrs" must be an object`);
    for (const key of ['inputs', 'outputs']) {
      if (!Array.isArray(op[key])) bad(`${where} (${op.op}): "${key}" must be a list`);
      op[key].forEach((vi) => index(vi, `${where} (${op.op}) ${key}`, true));
    }
  });
}

/** True for a Tensor ({ dtype, shape, data }), as opposed to a sequence (Array) or an empty optional (null). */
export function isTensor(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && Array.isArray(v.shape) && 'data' in v;
}

/** 'sequence' / 'optional' for those type strings (docs/bundle-format.md), else 'tensor'. */
function valueKind(dtype) {
  if (typeof dtype !== 'string') return 'tensor';
  if (dtype.startsWith('sequence<')) return 'sequence';
  if (dtype.startsWith('optional<')) return 'optional';
  return 'tensor';
}

/** True when typed arrays `a` and `b` share bytes. */
function overlaps(a, b) {
  if (!a || !b || a.buffer === undefined || a.buffer !== b.buffer) return false;
  return a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

function copyTensor(t) {
  return { dtype: t.dtype, shape: [...t.shape], data: t.data.slice() };
}

/**
 * Identity passes sequences and optionals through unchanged (the tensor kernel handles tensors).
 * TODO: drop once shape.js's Identity accepts non-tensor values itself.
 */
function passNonTensors(kernel) {
  return (inputs, attrs, ctx) => (isTensor(inputs[0]) ? kernel(inputs, attrs, ctx) : [inputs[0]]);
}

/**
 * A compiled program: the top-level one or a subgraph attribute (If/Loop/Scan/SequenceMap body).
 * Kernels receive subgraph attributes as Subgraph objects and run them with `ctx.runSubgraph`;
 * `inputs`/`outputs` describe the body's formal parameters and results ({ name, dtype, shape }).
 */
class Subgraph {
  constructor(program, label) {
    const values = program.values ?? [];
    this.label = label;
    this.program = program;
    this.values = values;
    this.inputIndices = program.inputs ?? [];
    this.outputIndices = program.outputs ?? [];
    this.inputs = this.inputIndices.map((vi) => ({ name: values[vi].name, dtype: values[vi].dtype, shape: values[vi].shape ?? null }));
    this.outputs = this.outputIndices.map((vi) => ({ name: values[vi].name, dtype: values[vi].dtype, shape: values[vi].shape ?? null }));
    /** constants by value index (undefined elsewhere); shared by all runs, never written */
    this.constants = new Array(values.length).fill(undefined);
    /** arena slots by value index (top level only) */
    this.slots = new Array(values.length).fill(null);
    /** [{ index, parent }]: values read from the enclosing graph (index there: parent) */
    this.captures = [];
    this.steps = [];
  }
}

/** The largest arena the open-dim values may take (bytes); beyond it they are allocated one by one. */
const MAX_OPEN_DIM_ARENA = 2 ** 31;

/**
 * The open dims of a top-level program (null when it has none): where each dim's size is read (value index,
 * axis of a graph input), and per value sized by them its parsed shape expressions and life (first and last
 * step), placed after the build-time arena (`base`).
 */
function compileOpenDims(program, g) {
  if (!program.dims || typeof program.dims !== 'object') return null;
  const dims = new Map();
  for (const [name, where] of Object.entries(program.dims)) {
    const [vi, axis] = Array.isArray(where) ? where : [];
    if (!g.inputIndices.includes(vi) || !Number.isInteger(axis) || axis < 0) {
      throw new Error(`program "dims": '${name}' is not read from an axis of a graph input`);
    }
    dims.set(name, [vi, axis]);
  }
  const first = new Map();
  g.steps.forEach((step, k) => step.op.outputs.forEach((vi) => { if (vi >= 0 && !first.has(vi)) first.set(vi, k); }));
  const entries = [];
  g.values.forEach((v, vi) => {
    if (!Array.isArray(v.symShape) || !first.has(vi) || g.slots[vi]) return;
    if (!(Number.isInteger(v.elemBytes) && v.elemBytes > 0 && v.elemBytes <= 16)) {
      throw new Error(`value '${v.name}': bad "elemBytes"`);
    }
    let parsed;
    try {
      parsed = v.symShape.map(parseDimExpr);
    } catch (e) {
      throw new Error(`value '${v.name}': "symShape": ${e.message}`, { cause: e });
    }
    entries.push({ vi, dims: parsed, elemBytes: v.elemBytes, first: first.get(vi), last: Math.max(first.get(vi), g.lastUse[vi]) });
  });
  const base = Math.ceil((program.arena?.byteLength ?? 0) / 16) * 16;
  return entries.length ? { dims, entries, base } : null;
}

/** Executes one js program. Not re-entrant: one run at a time (runs are synchronous). */
export class JsExecutor {
  /**
   * @param {object} program parsed js/program.json
   * @param {import('../../weight-store.js').WeightStore} weights the bundle's weights
   * @param {{ arena?: ArrayBuffer | SharedArrayBuffer }} [options] `arena`: an existing buffer to
   *   use as the arena (slot offsets are byte offsets into it), e.g. a wasm memory's buffer
   */
  constructor(program, weights, options = {}) {
    this.program = program;
    this.opset = program.opsets?.[''] ?? program.opsets?.['ai.onnx'];
    this.applyActivation = activationModule.applyActivation;

    // The arena: one buffer shared by every planned intermediate of the top-level program.
    if (program === null || typeof program !== 'object' || Array.isArray(program)) throw new Error('the program is not an object');
    if (!options.arena) checkCount('program "arena.byteLength"', program.arena?.byteLength ?? 0);
    this.arena = options.arena ?? new ArrayBuffer(program.arena?.byteLength ?? 0);
    const arenaBytes = this.arena.byteLength;
    this.top = this._compile(program, weights, null, 'program', arenaBytes);
    this.inputIndex = new Map(this.top.inputIndices.map((vi) => [this.top.values[vi].name, vi]));
    this.outputIndices = this.top.outputIndices;
    // dims left open at build time: the slots of the values sized by them are planned per input shape
    this.openDims = options.arena ? null : compileOpenDims(program, this.top);
    this.openDimsKey = null;
  }

  /**
   * Places the values whose size depends on the open dims (program.dims, values' symShape) after the planned
   * arena, once per distinct set of sizes (dyn-place.js placeByLifetime). A value that turns out larger than its
   * slot is allocated on its own (ctx.output), so a wrong expression costs memory, never correctness.
   */
  _planOpenDims(feeds) {
    const { dims, entries, base } = this.openDims;
    const sizes = new Map();
    for (const [name, [vi, axis]] of dims) sizes.set(name, feeds.get(this.top.values[vi].name)?.shape?.[axis]);
    const key = [...sizes.values()].join(',');
    if (key === this.openDimsKey) return;
    const sized = entries.map((e) => {
      let n = e.elemBytes;
      for (const d of e.dims) n *= d(sizes);
      return { ...e, bytes: Math.max(16, Math.ceil(n / 16) * 16) };
    }).filter((e) => Number.isFinite(e.bytes) && e.bytes > 0);
    const { placed, end: used } = placeByLifetime(sized); // (dyn-place.js: the wasm and webgpu backends' placement)
    const end = base + used;
    if (end > MAX_OPEN_DIM_ARENA) { // absurd sizes: leave those values to be allocated one by one
      for (const e of entries) this.top.slots[e.vi] = undefined;
    } else {
      if (end > this.arena.byteLength) this.arena = new ArrayBuffer(end);
      for (const p of placed) this.top.slots[p.vi] = { offset: base + p.rel, byteLength: p.bytes };
    }
    this.openDimsKey = key;
  }

  /**
   * Compiles a program (top level: `parent` null) or a subgraph of `parent`: decodes constants,
   * resolves kernels (a missing one fails init, naming op and node), captures and lifetimes.
   */
  _compile(program, weights, parent, label, arenaBytes = 0) {
    validateProgram(program, label);
    const g = new Subgraph(program, label);
    const { values } = g;
    const ops = program.ops ?? [];
    values.forEach((v, i) => {
      if (!v.const) return;
      try {
        if (typeof v.dtype === 'string' && v.dtype !== v.const?.dtype) throw new Error(`the constant is ${v.const?.dtype}, the value ${v.dtype}`);
        g.constants[i] = decodeConstant(v.const, weights);
      } catch (e) {
        throw new Error(`constant '${v.name}': ${e.message}`, { cause: e });
      }
    });
    if (parent === null) {
      values.forEach((v, i) => {
        const slot = v.arena;
        if (!slot || g.constants[i]) return;
        if (!(slot.offset >= 0 && slot.offset + slot.byteLength <= arenaBytes)) {
          throw new Error(`value '${v.name}': arena slot [${slot.offset}, ${slot.offset + slot.byteLength}) ` +
            `lies outside the arena (${arenaBytes} bytes)`);
        }
        g.slots[i] = { offset: slot.offset, byteLength: slot.byteLength };
      });
    } else {
      const byName = new Map(parent.values.map((v, i) => [v.name, i]));
      for (const vi of program.captures ?? []) {
        const name = values[vi].name;
        if (!byName.has(name)) throw new Error(`${label}: reads '${name}', which the enclosing graph does not have`);
        g.captures.push({ index: vi, parent: byName.get(name) });
      }
    }

    const keep = new Set(g.outputIndices);
    g.steps = ops.map((op, k) => {
      const domain = op.domain ?? '';
      const where = `node '${op.name || `#${k}`}' (${op.op})`;
      let kernel = findKernel(op.op, domain);
      if (typeof kernel !== 'function') {
        throw new Error(`no js kernel for op ${domain && domain !== 'ai.onnx' ? `${domain}::` : ''}${op.op} (${where})`);
      }
      if (op.op === 'Identity' && (domain === '' || domain === 'ai.onnx')) kernel = passNonTensors(kernel);
      let attrs;
      try {
        attrs = decodeAttrs(op.attrs, weights, (sub, key) => this._compile(sub, weights, g, `${where} ${key}`));
      } catch (e) {
        throw new Error(`${where}: attribute: ${e.message}`, { cause: e });
      }
      if (attrs.fused_activation !== undefined && typeof this.applyActivation !== 'function') {
        throw new Error(`${where}: fused activation ${attrs.fused_activation} is not supported (no applyActivation in activation.js)`);
      }
      // what the op reads: its inputs, and the values its subgraphs capture from this graph
      const reads = op.inputs.filter((vi) => vi >= 0);
      for (const sub of Object.values(attrs).flat()) {
        if (sub instanceof Subgraph) reads.push(...sub.captures.map((c) => c.parent));
      }
      return { op, kernel, attrs, label: where, reads, frees: [], ctx: null };
    });

    // Drop references to intermediates after their last reader (or at once when never read).
    const lastUse = new Array(values.length).fill(-1);
    g.lastUse = lastUse;
    g.steps.forEach((step, k) => step.reads.forEach((vi) => { lastUse[vi] = k; }));
    g.steps.forEach((step, k) => {
      step.op.outputs.forEach((vi) => { if (vi >= 0 && lastUse[vi] < k && !keep.has(vi)) step.frees.push(vi); });
      for (const vi of new Set(step.reads)) {
        if (lastUse[vi] === k && !keep.has(vi) && !g.constants[vi]) step.frees.push(vi);
      }
      step.ctx = this._makeContext(step.op, g);
    });
    return g;
  }

  /** The kernel context of one op; `output` hands out arena views when the slot fits. */
  _makeContext(op, graph) {
    const executor = this;
    return {
      opset: this.opset,
      opType: op.op,
      domain: op.domain ?? '',
      name: op.name ?? '',
      numOutputs: op.outputs.length,
      /** the storage of the graph this op runs in (set by the executor before each call) */
      scope: null,
      output(index, shape, dtype) {
        const vi = op.outputs[index];
        // a corrupted program (e.g. absurd pads) must not make a kernel compute far more than planned
        const declared = vi >= 0 ? graph.values[vi]?.shape : null;
        if (Array.isArray(declared) && declared.every((d) => Number.isInteger(d) && d >= 0) && sizeOf(shape) > sizeOf(declared)) {
          throw new Error(`output ${index} would have shape [${shape}], larger than the program's [${declared}]`);
        }
        const slot = vi >= 0 ? graph.slots[vi] : null;
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
      /**
       * Runs a subgraph attribute of this op with `inputs` bound to its formal inputs (in order);
       * returns its outputs (Tensors, Arrays for sequences, null for empty optionals).
       */
      runSubgraph(sub, inputs) {
        return executor._runSubgraph(sub, inputs, this.scope);
      },
    };
  }

  /** True when a kernel result must be copied before being stored under value `vi`. */
  _mustCopy(result, vi, inputs, hasActivation, graph) {
    const data = result.data;
    if (!data || data.buffer === undefined) return false; // string arrays
    if (data.buffer === this.arena) {
      // Arena memory is only safe inside the value's own slot (other slots get reused).
      const slot = graph.slots[vi];
      return !slot || data.byteOffset < slot.offset || data.byteOffset + data.byteLength > slot.offset + slot.byteLength;
    }
    // A tensor aliasing an input (e.g. an Identity that returns its input) must not be activated in place.
    return hasActivation && inputs.some((t) => isTensor(t) && overlaps(t.data, data));
  }

  /** A sequence to store: its tensors must not be arena views (their slots get reused). */
  _detachSequence(seq) {
    return seq.map((t) => (isTensor(t) && t.data?.buffer === this.arena ? copyTensor(t) : t));
  }

  /**
   * The tensor to store as value `vi` for a kernel result `t` (a copy when `t` may not be kept as is).
   * Subclasses override this to place results elsewhere (the wasm backend: into wasm memory).
   */
  _placeOutput(t, vi, inputs, hasActivation, graph) {
    return this._mustCopy(t, vi, inputs, hasActivation, graph) ? copyTensor(t) : t;
  }

  /**
   * Runs step `k` of the top-level program over `storage` (value index -> Tensor | Array | null). Public: the
   * wasm backend's js steps and the webgpu backend's CPU steps run through it (subclasses may override
   * `_placeOutput` to place results, as the wasm backend does for values in its memory).
   */
  runStep(k, storage) {
    const step = this.top.steps[k];
    if (!step) throw new Error(`no step ${k} in this program (${this.top.steps.length} steps)`);
    this._runStep(this.top, step, storage);
  }

  /** Runs the steps of `graph` over `storage` (value index -> Tensor | Array | null; undefined: not computed). */
  _execute(graph, storage) {
    for (const step of graph.steps) this._runStep(graph, step, storage);
  }

  /** Runs one step of `graph`: calls its kernel, stores the outputs, applies a fused activation. */
  _runStep(graph, step, storage) {
    const { values } = graph;
    const { op, kernel, attrs, label, ctx } = step;
    const inputs = op.inputs.map((vi) => {
      if (vi < 0) return null;
      const t = storage[vi];
      if (t === undefined) throw new Error(`${label}: input '${values[vi].name}' has not been computed`);
      return t;
    });
    let outputs;
    try {
      ctx.scope = storage;
      outputs = kernel(inputs, attrs, ctx);
      if (!Array.isArray(outputs)) throw new Error('kernel did not return an array of tensors');
      const hasActivation = attrs.fused_activation !== undefined;
      op.outputs.forEach((vi, i) => {
        if (vi < 0) return;
        let t = outputs[i];
        const kind = valueKind(values[vi].dtype);
        if (isTensor(t)) {
          t = this._placeOutput(t, vi, inputs, hasActivation, graph);
        } else if (Array.isArray(t) && (kind !== 'tensor' || values[vi].dtype == null)) {
          t = this._detachSequence(t);
        } else if (t === null && (kind === 'optional' || values[vi].dtype == null)) {
          // an empty optional
        } else if (kind === 'tensor') {
          throw new Error(`kernel produced no tensor for output ${i} ('${values[vi].name}')`);
        } else {
          throw new Error(`kernel produced no ${kind} for output ${i} ('${values[vi].name}')`);
        }
        storage[vi] = t;
      });
      if (hasActivation) {
        const first = op.outputs[0] >= 0 ? storage[op.outputs[0]] : null;
        if (first) this.applyActivation(first, attrs);
      }
    } catch (e) {
      // a kernel reading an input that a corrupted program left out (its index -1, or the list too short)
      if (e instanceof TypeError && /of (null|undefined) \(reading '(dtype|shape|data|length|map)'\)/.test(e.message)) {
        throw new Error(`${label}: an input the op needs is missing (inputs ${JSON.stringify(op.inputs)}: ${e.message})`);
      }
      throw new Error(`${label}: ${e.message}`, { cause: e });
    }
    for (const vi of step.frees) storage[vi] = undefined;
  }

  /** Runs subgraph `sub` with `inputs` (formal inputs, in order) inside the enclosing `scope` storage. */
  _runSubgraph(sub, inputs, scope) {
    if (!(sub instanceof Subgraph)) throw new Error('runSubgraph: not a subgraph attribute');
    if (inputs.length !== sub.inputIndices.length) {
      throw new Error(`${sub.label}: takes ${sub.inputIndices.length} input(s), got ${inputs.length}`);
    }
    const storage = sub.constants.slice();
    for (const { index, parent } of sub.captures) {
      const v = scope[parent];
      if (v === undefined) throw new Error(`${sub.label}: outer value '${sub.values[index].name}' has not been computed`);
      storage[index] = v;
    }
    sub.inputIndices.forEach((vi, i) => { storage[vi] = inputs[i]; });
    this._execute(sub, storage);
    return sub.outputIndices.map((vi) => {
      const v = storage[vi];
      if (v === undefined) throw new Error(`${sub.label}: output '${sub.values[vi].name}' was not produced`);
      return v;
    });
  }

  /**
   * Executes the program.
   * @param {Map<string, any>} feeds internal values by input name (Tensors; Arrays of Tensors for
   *   sequences; null for an empty optional)
   * @returns {Map<string, any>} graph outputs by name (tensors may be arena views)
   */
  run(feeds) {
    if (!this.top) throw new Error('js backend has been disposed');
    if (this.openDims) this._planOpenDims(feeds);
    const { values } = this.top;
    const storage = this.top.constants.slice();
    for (const [name, vi] of this.inputIndex) {
      if (!feeds.has(name) || feeds.get(name) === undefined) throw new Error(`missing input '${name}'`);
      storage[vi] = feeds.get(name);
    }
    this._execute(this.top, storage);
    const result = new Map();
    for (const vi of this.outputIndices) {
      const t = storage[vi];
      if (t === undefined) throw new Error(`graph output '${values[vi].name}' was not produced`);
      result.set(values[vi].name, t);
    }
    return result;
  }

  /** The top-level program's compiled steps (for tests and tooling). */
  get steps() {
    return this.top ? this.top.steps : null;
  }

  /** Releases the arena and constants; the executor cannot run afterwards. */
  dispose() {
    this.top = null;
    this.arena = null;
  }
}
