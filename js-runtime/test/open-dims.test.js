// Dims left open at build time (manifest.dims, issue 10): inputs sharing a dim name must agree and stay in the
// dim's range; the errors name the input, the axis and the dim.
import test from 'node:test';
import assert from 'node:assert/strict';
import { checkOpenDims, formatShape } from '../src/tensor-io.js';

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
