// Control-flow kernels: If, Loop, Scan (opset 8 and 9+).
//
// Their bodies are subgraph attributes, decoded by the executor into Subgraph objects
// (`body.inputs` / `body.outputs`: [{ name, dtype, shape }]) and run with
// `ctx.runSubgraph(body, inputs)`, which binds `inputs` to the body's formal inputs in order,
// resolves the body's outer-scope reads in the graph the op runs in, and returns the body's
// outputs (Tensors, Arrays for sequences, null for empty optionals). Loop-carried values may be
// any of those; scan outputs are tensors, stacked here into new tensors.

import { makeTensor, normalizeAxis } from './util.js';
import { concatTensors, sliceAxis } from './sequence.js';

function truthy(t, what) {
  if (!t || !t.data || t.data.length < 1) throw new Error(`${what} must be a tensor with one element`);
  return Number(t.data[0]) !== 0;
}

/** Stacks `tensors` along a new axis `axis`; `spec` (the body output) gives the dtype/shape when there are none. */
function stack(tensors, axis, spec) {
  if (tensors.length > 0) return concatTensors(tensors, axis, true);
  const elem = Array.isArray(spec?.shape) && spec.shape.every((d) => Number.isInteger(d)) ? spec.shape : [];
  const shape = [...elem];
  shape.splice(normalizeAxis(axis, elem.length + 1), 0, 0);
  const dtype = typeof spec?.dtype === 'string' && !spec.dtype.includes('<') ? spec.dtype : 'float32';
  return makeTensor(dtype, shape);
}

function If([cond], attrs, ctx) {
  const branch = truthy(cond, 'If: cond') ? attrs.then_branch : attrs.else_branch;
  return ctx.runSubgraph(branch, []);
}

/**
 * Loop(M?, cond?, v_initial...): body(iter_num, cond, v...) -> (cond, v..., scan outputs...).
 * Runs while iter_num < M (M omitted: unbounded) and cond (omitted: true).
 */
function Loop([maxTrips, condIn, ...initial], attrs, ctx) {
  const body = attrs.body;
  const n = initial.length;
  const k = body.outputs.length - 1 - n;
  if (k < 0) throw new Error(`Loop: the body has ${body.outputs.length} outputs for ${n} loop-carried values`);
  const limit = maxTrips ? Number(maxTrips.data[0]) : Infinity;
  let cond = condIn ? truthy(condIn, 'Loop: cond') : true;
  if (!maxTrips && !condIn) throw new Error('Loop: neither M nor cond is given (an infinite loop)');
  let carried = initial;
  const scans = Array.from({ length: k }, () => []);
  for (let i = 0; i < limit && cond; i++) {
    const iter = makeTensor('int64', [], BigInt64Array.of(BigInt(i)));
    const condTensor = makeTensor('bool', [], Uint8Array.of(1));
    const out = ctx.runSubgraph(body, [iter, condTensor, ...carried]);
    cond = truthy(out[0], 'Loop: the body\'s cond output');
    carried = out.slice(1, 1 + n);
    for (let j = 0; j < k; j++) scans[j].push(out[1 + n + j]);
  }
  return [...carried, ...scans.map((list, j) => stack(list, 0, body.outputs[1 + n + j]))];
}

/** Scan (opset 9+): initial states..., scan inputs... -> final states..., scan outputs... */
function Scan9(inputs, attrs, ctx) {
  const body = attrs.body;
  const m = attrs.num_scan_inputs;
  const n = inputs.length - m;
  const k = body.outputs.length - n;
  let states = inputs.slice(0, n);
  const scanned = inputs.slice(n);
  const inAxes = scanned.map((x, j) => normalizeAxis(attrs.scan_input_axes?.[j] ?? 0, x.shape.length));
  const inDirs = attrs.scan_input_directions ?? [];
  const steps = scanned.length ? scanned[0].shape[inAxes[0]] : 0;
  scanned.forEach((x, j) => {
    if (x.shape[inAxes[j]] !== steps) throw new Error(`Scan: scan input ${j} has ${x.shape[inAxes[j]]} steps, input 0 has ${steps}`);
  });
  const outs = Array.from({ length: k }, () => []);
  for (let t = 0; t < steps; t++) {
    const slices = scanned.map((x, j) => sliceAxis(x, inAxes[j], inDirs[j] ? steps - 1 - t : t));
    const res = ctx.runSubgraph(body, [...states, ...slices]);
    states = res.slice(0, n);
    for (let j = 0; j < k; j++) outs[j].push(res[n + j]);
  }
  const outDirs = attrs.scan_output_directions ?? [];
  return [...states, ...outs.map((list, j) => {
    const ordered = outDirs[j] ? [...list].reverse() : list;
    return stack(ordered, attrs.scan_output_axes?.[j] ?? 0, body.outputs[n + j]);
  })];
}

/**
 * Scan (opset 8): sequence_lens?, initial states..., scan inputs...; every input has a batch axis 0,
 * scan inputs a sequence axis 1. Scan outputs are padded with zeros past a batch entry's length.
 */
function Scan8([seqLens, ...rest], attrs, ctx) {
  const body = attrs.body;
  const m = attrs.num_scan_inputs;
  const n = rest.length - m;
  const k = body.outputs.length - n;
  const states = rest.slice(0, n);
  const scanned = rest.slice(n);
  const dirs = attrs.directions ?? [];
  const batch = (states[0] ?? scanned[0]).shape[0];
  const maxSteps = scanned.length ? scanned[0].shape[1] : 0;
  const finalStates = Array.from({ length: n }, () => []);
  const scanOuts = Array.from({ length: k }, () => []);
  for (let b = 0; b < batch; b++) {
    let st = states.map((s) => sliceAxis(s, 0, b));
    const seqs = scanned.map((x) => sliceAxis(x, 0, b));
    const len = seqLens ? Number(seqLens.data[b]) : maxSteps;
    const outs = Array.from({ length: k }, () => []);
    for (let t = 0; t < len; t++) {
      const slices = seqs.map((x, j) => sliceAxis(x, 0, dirs[j] ? len - 1 - t : t));
      const res = ctx.runSubgraph(body, [...st, ...slices]);
      st = res.slice(0, n);
      for (let j = 0; j < k; j++) outs[j].push(res[n + j]);
    }
    st.forEach((s, j) => finalStates[j].push(s));
    outs.forEach((list, j) => {
      let seq = stack(list, 0, body.outputs[n + j]);
      if (len < maxSteps) {
        const pad = makeTensor(seq.dtype, [maxSteps - len, ...seq.shape.slice(1)]);
        seq = len > 0 ? concatTensors([seq, pad], 0) : pad;
      }
      scanOuts[j].push(seq);
    });
  }
  return [
    ...finalStates.map((list, j) => stack(list, 0, body.outputs[j])),
    ...scanOuts.map((list) => concatTensors(list, 0, true)),
  ];
}

function Scan(inputs, attrs, ctx) {
  return (ctx.opset ?? 9) < 9 ? Scan8(inputs, attrs, ctx) : Scan9(inputs, attrs, ctx);
}

export const kernels = { If, Loop, Scan };
