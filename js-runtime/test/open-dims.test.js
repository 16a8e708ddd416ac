// Dims left open at build time (manifest.dims, issue 10): inputs sharing a dim name must agree and stay in the
// dim's range; the errors name the input, the axis and the dim.
import test from 'node:test';
import assert from 'node:assert/strict';
import { checkOpenDims, formatShape } from '../src/tensor-io.js';
import { parseDimExpr } from '../src/dim-expr.js';

const dims = { seq: { min: 1, max: 512 }, h: { min: 8, max: null } };
const specs = [
  { name: 'input_ids', shape: [1, 'seq'] },
  { name: 'attention_mask', shape: [1, 'seq'] },
  { name: 'image', shape: [1, 3, 'h', 'h'] },
];
const feeds = (ids, mask, image) => new Map([
  ['input_ids', { shape: ids }], ['attention_mask', { shape: mask }], ['image', { shape: image }],
]);

test('sizes of the open dims come from the feeds', () => {
  const sizes = checkOpenDims(dims, specs, feeds([1, 9], [1, 9], [1, 3, 1000, 1000]));
  assert.deepEqual([...sizes], [['seq', 9], ['h', 1000]]);
});

test('inputs sharing a dim name must agree', () => {
  assert.throws(() => checkOpenDims(dims, specs, feeds([1, 9], [1, 7], [1, 3, 8, 8])),
    /input 'attention_mask' dim 1 \(seq\) is 7, but input 'input_ids' dim 1 \(seq\) is 9/);
  assert.throws(() => checkOpenDims(dims, specs, feeds([1, 9], [1, 9], [1, 3, 8, 9])),
    /input 'image' dim 3 \(h\) is 9, but input 'image' dim 2 \(h\) is 8/);
});

test('sizes outside the range are refused', () => {
  assert.throws(() => checkOpenDims(dims, specs, feeds([1, 513], [1, 513], [1, 3, 8, 8])),
    /input 'input_ids' dim 1 \(seq\) is 513, outside the range the bundle was built for: 1\.\.512/);
  assert.throws(() => checkOpenDims(dims, specs, feeds([1, 2], [1, 2], [1, 3, 4, 4])),
    /input 'image' dim 2 \(h\) is 4, outside the range the bundle was built for: 8\.\./);
});

test('shapes in messages show the open dims by name', () => {
  assert.equal(formatShape([1, 'seq', null, 4]), '[1,seq,?,4]');
});

test('dim expressions: the text form of webdnn_build/symshape.py, read without eval', () => {
  const s = new Map([['seq', 9], ['h', 17], ['n-1', 4]]);
  const cases = [['seq', 9], ['32*seq', 288], ['seq - 1', 8], ['n-1', 4], ['(h + 1) // 2', 9], ['-seq + 20', 11],
    ['max(seq, 12)', 12], ['min(seq, 12) % 4', 1], ['((h - 1) // 2 + 1) * seq', 81], ['-h // 2', -9], [7, 7]];
  for (const [text, want] of cases) assert.equal(parseDimExpr(text)(s), want, String(text));
  for (const bad of ['seq +', 'seq // 0', 'seq // h', '(seq', 'seq)', 'eval(1)', 'a b', '1;2', '$x', '(('.repeat(40) + '1' + '))'.repeat(40)]) {
    assert.throws(() => parseDimExpr(bad)(s), /bad dim expression|has no size/, bad);
  }
});

test('values sized by open dims get arena slots planned per input shape', async () => {
  const { JsExecutor } = await import('../src/backends/js/backend.js');
  // x [1, n] -> Relu a -> Neg b -> Relu y; a and b live at the same time (b is computed from a)
  const program = {
    opsets: { '': 17 },
    values: [
      { name: 'x', dtype: 'float32', shape: [1, 'n'] },
      { name: 'a', dtype: 'float32', shape: [1, null], symShape: [1, 'n'], elemBytes: 4 },
      { name: 'b', dtype: 'float32', shape: [1, null], symShape: [1, 'n // 2'], elemBytes: 4 }, // too small on purpose
      { name: 'y', dtype: 'float32', shape: [1, null] },
    ],
    inputs: [0], outputs: [3], dims: { n: [0, 1] }, arena: { byteLength: 32 },
    ops: [
      { op: 'Relu', domain: '', name: 'r1', inputs: [0], outputs: [1], attrs: {} },
      { op: 'Neg', domain: '', name: 'neg', inputs: [1], outputs: [2], attrs: {} },
      { op: 'Relu', domain: '', name: 'r2', inputs: [2], outputs: [3], attrs: {} },
    ],
  };
  const ex = new JsExecutor(program, new Uint8Array(0));
  for (const n of [10, 100, 10]) {
    const x = Float32Array.from({ length: n }, (_, i) => i - n / 2);
    const y = ex.run(new Map([['x', { dtype: 'float32', shape: [1, n], data: x }]])).get('y');
    assert.deepEqual([...y.data].map((v) => v + 0), [...x].map((v) => Math.max(0, -Math.max(0, v))), `n=${n}`); // -0 as 0
    assert.equal(ex.top.slots[1].byteLength, Math.max(16, Math.ceil(4 * n / 16) * 16));
    assert.ok(ex.top.slots[1].offset >= 32 && ex.top.slots[2].offset >= ex.top.slots[1].offset + ex.top.slots[1].byteLength);
  }
  assert.ok(ex.arena.byteLength >= 32 + 400 + 208); // grown for n = 100, kept for n = 10
});
