// Companion of kernel_check.py: interprets each case's nodes with the js kernels and compares outputs.
import { readFileSync } from 'node:fs';
import { findKernel } from '../js-runtime/src/backends/js/kernels/index.js';
import { makeTensor, float16BitsToNumber } from '../js-runtime/src/backends/js/kernels/util.js';

const STORAGE = { float32: Float32Array, float64: Float64Array, float16: Uint16Array, int8: Int8Array, uint8: Uint8Array,
  int16: Int16Array, uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array, int64: BigInt64Array, uint64: BigUint64Array, bool: Uint8Array };

function decode(e) {
  if (e.dtype === 'string') return { dtype: 'string', shape: e.shape, data: e.json };
  const buf = Buffer.from(e.b64, 'base64');
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  let data = new STORAGE[e.dtype](ab);
  if (e.dtype === 'float16') data = Float32Array.from(data, float16BitsToNumber);
  return { dtype: e.dtype, shape: e.shape, data };
}

function decodeAttrs(attrs) {
  const out = {};
  for (const [k, v] of Object.entries(attrs)) {
    if (v && typeof v === 'object' && v.__tensor__) out[k] = decode(v.__tensor__);
    else if (v && typeof v === 'object' && v.__float__) out[k] = Number(v.__float__.replace('inf', 'Infinity'));
    else out[k] = v;
  }
  return out;
}

function compare(got, exp, rtol, atol) {
  if (!got) return 'missing output';
  if (got.dtype !== exp.dtype) return `dtype ${got.dtype} != ${exp.dtype}`;
  if (got.shape.length !== exp.shape.length || got.shape.some((d, i) => d !== exp.shape[i])) return `shape [${got.shape}] != [${exp.shape}]`;
  let worst = 0;
  for (let i = 0; i < exp.data.length; i++) {
    const a = got.data[i], b = exp.data[i];
    if (typeof b === 'bigint' || typeof b === 'string') {
      if (a !== b) return `element ${i}: ${a} != ${b}`;
      continue;
    }
    if (Number.isNaN(b)) { if (!Number.isNaN(a)) return `element ${i}: ${a} != NaN`; continue; }
    if (a === b) continue;
    const err = Math.abs(a - b);
    if (!(err <= atol + rtol * Math.abs(b))) return `element ${i}: ${a} != ${b} (abs err ${err})`;
    worst = Math.max(worst, err);
  }
  return null;
}

const { cases, verbose } = JSON.parse(readFileSync(0, 'utf8'));
let pass = 0, fail = 0;
for (const c of cases) {
  let problem = null;
  try {
    for (const set of c.sets) {
      const env = new Map();
      for (const [k, v] of Object.entries(c.initializers)) env.set(k, decode(v));
      for (const [k, v] of Object.entries(set.inputs)) env.set(k, decode(v));
      for (const n of c.nodes) {
        const kernel = findKernel(n.op, n.domain);
        if (!kernel) throw new Error(`no kernel for ${n.op}`);
        const inputs = n.inputs.map((x) => (x ? env.get(x) ?? null : null));
        const ctx = { opset: c.opset, opType: n.op, domain: n.domain, name: n.name, numOutputs: n.outputs.length,
          output: (i, shape, dtype) => makeTensor(dtype, shape) };
        const outs = kernel(inputs, decodeAttrs(n.attrs), ctx);
        n.outputs.forEach((o, i) => { if (o) env.set(o, outs[i]); });
      }
      c.graphOutputs.forEach((o, i) => {
        if (problem) return;
        const p = compare(env.get(o), decode(set.outputs[i]), c.rtol, c.atol);
        if (p) problem = `output ${o}: ${p}`;
      });
      if (problem) break;
    }
  } catch (e) {
    problem = `error: ${verbose ? e.stack : e.message}`;
  }
  if (problem) { fail++; console.log(`FAIL ${c.name}: ${problem}`); }
  else { pass++; if (verbose) console.log(`ok   ${c.name}`); }
}
console.log(`passed ${pass}, failed ${fail}`);
process.exitCode = fail ? 1 : 0;
