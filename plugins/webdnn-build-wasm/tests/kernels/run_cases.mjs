// Runs the cases of a manifest written by test_gemm_conv.py:
//   node run_cases.mjs WASM_DIR CASE_DIR
// CASE_DIR/cases.json: [{kind: 'gemm'|'conv', ...shape, inputs: {name: [offset, count]}, out: count}]
// CASE_DIR/inputs.bin: float32 data. Writes CASE_DIR/out-<nth>.bin (outputs concatenated) for nth in 1, 2.
import fs from 'node:fs';
import path from 'node:path';
import { createRunner, setGemm, setConv } from './harness.mjs';

const [wasmDir, caseDir] = process.argv.slice(2);
const cases = JSON.parse(fs.readFileSync(path.join(caseDir, 'cases.json'), 'utf8'));
const buf = fs.readFileSync(path.join(caseDir, 'inputs.bin'));
const data = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);

for (const nth of [1, 2]) {
  const r = await createRunner(wasmDir, nth);
  const outs = [];
  for (const c of cases) {
    r.reset();
    const ptr = {};
    for (const [name, [off, cnt]] of Object.entries(c.inputs)) ptr[name] = r.put(data.subarray(off, off + cnt));
    const scratchBytes = c.kind === 'gemm' ? r.ex.t_gemm_scratch(c.m, c.n, c.k)
      : r.ex.t_conv_scratch(c.cin / c.group, c.kh, c.kw, c.oh, c.ow);
    const stride = (scratchBytes + 63) & ~63;
    const scratch = r.alloc(stride * nth + 64) + 4; // deliberately misaligned base
    const y = r.alloc(c.out * 4 + 64);
    r.f32(y, c.out + 16).fill(NaN); // sentinel after the output must survive
    const common = { bias: ptr.bias || 0, residual: ptr.residual || 0, y, scratch, stride, act: c.act, actA: c.actA, actB: c.actB };
    if (c.kind === 'gemm') {
      setGemm(r, { ...c, ...common, a: ptr.a, b: ptr.b, biasKind: c.biasKind });
    } else {
      setConv(r, { ...c, ...common, x: ptr.x, weight: ptr.weight });
    }
    r.run();
    const o = r.f32(y, c.out + 16);
    for (let q = c.out; q < c.out + 16; q++) if (!Number.isNaN(o[q])) throw new Error(`case ${c.id}: wrote past the output`);
    outs.push(Float32Array.from(o.subarray(0, c.out)));
  }
  const total = outs.reduce((s, o) => s + o.length, 0);
  const all = new Float32Array(total);
  let off = 0;
  for (const o of outs) { all.set(o, off); off += o.length; }
  fs.writeFileSync(path.join(caseDir, `out-${nth}.bin`), Buffer.from(all.buffer));
  await r.close();
}
