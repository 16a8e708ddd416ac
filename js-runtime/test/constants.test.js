// Constant decoding: raw / fill / json, int64, float16, bfloat16, bool, strings, tensor attributes.
import test from 'node:test';
import assert from 'node:assert/strict';
import { load } from '../src/index.js';
import { decodeConstant } from '../src/constants.js';
import { WeightStore } from '../src/weight-store.js';
import { numberToFloat16Bits, numberToBFloat16Bits } from '../src/backends/js/kernels/util.js';
import { DOMAIN, packWeights, tempDir, writeBundle } from './helpers.js';

test('decodeConstant handles every encoding', () => {
  const f32 = new Float32Array([1.5, -2, 3.25]);
  const i64 = new BigInt64Array([1n, -(2n ** 40n), 9007199254740993n]);
  const f16 = new Uint16Array([numberToFloat16Bits(1), numberToFloat16Bits(-0.5), numberToFloat16Bits(65504)]);
  const { bytes, refs } = packWeights(f32, i64, f16);

  const a = decodeConstant({ encoding: 'raw', ...refs[0], dtype: 'float32', shape: [3] }, bytes);
  assert.deepEqual([...a.data], [1.5, -2, 3.25]);
  assert.ok(a.data instanceof Float32Array);

  const b = decodeConstant({ encoding: 'raw', ...refs[1], dtype: 'int64', shape: [3] }, bytes);
  assert.ok(b.data instanceof BigInt64Array);
  assert.deepEqual([...b.data], [1n, -(2n ** 40n), 9007199254740993n]);

  const c = decodeConstant({ encoding: 'raw', ...refs[2], dtype: 'float16', shape: [3] }, bytes);
  assert.ok(c.data instanceof Float32Array);
  assert.deepEqual([...c.data], [1, -0.5, 65504]);

  // Unaligned view of weights.bin (e.g. a Node Buffer from the pool): copied, still correct.
  const shifted = new Uint8Array(bytes.byteLength + 1).subarray(1);
  shifted.set(bytes);
  const d = decodeConstant({ encoding: 'raw', ...refs[0], dtype: 'float32', shape: [3] }, shifted);
  assert.deepEqual([...d.data], [1.5, -2, 3.25]);

  const fill = decodeConstant({ encoding: 'fill', value: 7, dtype: 'int32', shape: [2, 2] }, bytes);
  assert.deepEqual([...fill.data], [7, 7, 7, 7]);
  const fill64 = decodeConstant({ encoding: 'fill', value: '-9223372036854775808', dtype: 'int64', shape: [2] }, bytes);
  assert.deepEqual([...fill64.data], [-(2n ** 63n), -(2n ** 63n)]);
  const fillNaN = decodeConstant({ encoding: 'fill', value: 'nan', dtype: 'float32', shape: [1] }, bytes);
  assert.ok(Number.isNaN(fillNaN.data[0]));
  const scalar = decodeConstant({ encoding: 'fill', value: 2.5, dtype: 'float64', shape: [] }, bytes);
  assert.deepEqual(scalar.shape, []);
  assert.deepEqual([...scalar.data], [2.5]);

  const json = decodeConstant({ encoding: 'json', value: [[1, 2], [3, 4]], dtype: 'uint8', shape: [2, 2] }, bytes);
  assert.deepEqual([...json.data], [1, 2, 3, 4]);
  const str = decodeConstant({ encoding: 'json', value: ['a', 'bc'], dtype: 'string', shape: [2] }, bytes);
  assert.deepEqual(str.data, ['a', 'bc']);
  const json64 = decodeConstant({ encoding: 'json', value: ['12345678901234567890'], dtype: 'uint64', shape: [1] }, bytes);
  assert.deepEqual([...json64.data], [12345678901234567890n]);

  assert.throws(() => decodeConstant({ encoding: 'raw', offset: 0, byteLength: 4096, dtype: 'float32', shape: [1024] }, bytes),
    /outside the weights/);
  assert.throws(() => decodeConstant({ encoding: 'zip', dtype: 'float32', shape: [1] }, bytes), /unknown encoding/);
});

test('constants of a bundle reach kernels and graph outputs', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const f32 = new Float32Array([0.5, 1.5, 2.5, 3.5]);
    const i64 = new BigInt64Array([5n, -6n]);
    const f16 = new Uint16Array([numberToFloat16Bits(0.25), numberToFloat16Bits(-3)]);
    const bf16 = new Uint16Array([numberToBFloat16Bits(2), numberToBFloat16Bits(-1.5)]);
    const bool = new Uint8Array([1, 0, 1]);
    const { bytes, refs } = packWeights(f32, i64, f16, bf16, bool);
    const raw = (i, dtype, shape) => ({ encoding: 'raw', ...refs[i], dtype, shape });
    const program = {
      values: [
        { name: 'x', dtype: 'float32', shape: [4] },
        { name: 'w', dtype: 'float32', shape: [4], const: raw(0, 'float32', [4]) },
        { name: 'i64', dtype: 'int64', shape: [2], const: raw(1, 'int64', [2]) },
        { name: 'h', dtype: 'float16', shape: [2], const: raw(2, 'float16', [2]) },
        { name: 'bh', dtype: 'bfloat16', shape: [2], const: raw(3, 'bfloat16', [2]) },
        { name: 'flag', dtype: 'bool', shape: [3], const: raw(4, 'bool', [3]) },
        { name: 'zeros', dtype: 'float32', shape: [4], const: { encoding: 'fill', value: 0, dtype: 'float32', shape: [4] } },
        { name: 'names', dtype: 'string', shape: [2], const: { encoding: 'json', value: ['cat', 'dog'], dtype: 'string', shape: [2] } },
        { name: 'y', dtype: 'float32', shape: [4] },
        { name: 'i64copy', dtype: 'int64', shape: [2] },
        { name: 'hcopy', dtype: 'float16', shape: [2], arena: { offset: 0, byteLength: 16 } },
        { name: 'ctx', dtype: 'int32', shape: [2] },
      ],
      inputs: [0],
      outputs: [8, 9, 3, 4, 5, 7, 6, 10, 11],
      arena: { byteLength: 16 },
      ops: [
        { op: 'TestAdd', domain: DOMAIN, name: 'add', inputs: [0, 1], outputs: [8], attrs: {} },
        { op: 'TestCopy', domain: DOMAIN, name: 'copy64', inputs: [2], outputs: [9], attrs: {} },
        { op: 'TestCopy', domain: DOMAIN, name: 'copy16', inputs: [3], outputs: [10], attrs: {} },
        { op: 'TestCtx', domain: DOMAIN, name: 'ctx', inputs: [], outputs: [11],
          attrs: { t: { encoding: 'fill', value: 1, dtype: 'int64', shape: [3] } } },
      ],
    };
    writeBundle(dir, program, { weights: bytes });
    const runner = await load(dir, { backends: ['js'] });
    const out = await runner.run({ x: new Float32Array([1, 1, 1, 1]) });
    assert.deepEqual([...out.y.data], [1.5, 2.5, 3.5, 4.5]);
    assert.ok(out.i64copy.data instanceof BigInt64Array);
    assert.deepEqual([...out.i64copy.data], [5n, -6n]);
    assert.ok(out.h.data instanceof Uint16Array);
    assert.deepEqual([...out.h.data], [...f16]);
    assert.deepEqual([...out.hcopy.data], [...f16]);
    assert.deepEqual(out.hcopy.dtype, 'float16');
    assert.deepEqual([...out.bh.data], [...bf16]);
    assert.ok(out.flag.data instanceof Uint8Array);
    assert.deepEqual([...out.flag.data], [1, 0, 1]);
    assert.deepEqual(out.names.data, ['cat', 'dog']);
    assert.deepEqual([...out.zeros.data], [0, 0, 0, 0]);
    // opset of the default domain, and a tensor attribute decoded to a Tensor.
    assert.deepEqual([...out.ctx.data], [17, 3]);
    // Outputs are fresh: mutating them does not change the constants seen by the next run.
    out.names.data[0] = 'x';
    out.i64copy.data[0] = 0n;
    const again = await runner.run({ x: new Float32Array(4) });
    assert.deepEqual(again.names.data, ['cat', 'dog']);
    assert.deepEqual([...again.i64copy.data], [5n, -6n]);
    runner.dispose();
  } finally {
    cleanup();
  }
});

test('eightbit constants (webdnn_build/compress.py _eightbit): sign bit and a 7-bit index into the 3-bit-exponent, 4-bit-mantissa magnitudes, times the scale', () => {
  // magnitudes: codes 0-15 are 0..15, then (16 + m) << (e - 1): 16 -> 16, 17 -> 17, 32 -> 32, 33 -> 34, 127 -> 1984
  const codes = new Uint8Array([0, 1, 15, 16, 17, 32, 33, 48, 127, 128 | 1, 128 | 33, 128 | 127, 128]);
  const { bytes, refs } = packWeights(new Uint8Array(3), codes); // (at offset 16)
  const desc = { encoding: 'eightbit', dtype: 'float32', shape: [13], ...refs[1], scale: 0.5 };
  const t = decodeConstant(desc, bytes);
  assert.ok(t.data instanceof Float32Array);
  assert.deepEqual(t.shape, [13]);
  assert.deepEqual([...t.data], [0, 0.5, 7.5, 8, 8.5, 16, 17, 32, 992, -0.5, -17, -992, -0]);
  assert.ok(Object.is(t.data[12], -0)); // (code 128: never written by the compiler, decoded as its round trip would)
  // a scale that is not a float32 is read as one (Math.fround), each value a float32 product
  const third = decodeConstant({ ...desc, scale: 1 / 3 }, bytes);
  assert.equal(third.data[8], Math.fround(1984 * Math.fround(1 / 3)));
  // a constant across two weight shards reads the same (WeightStore copies the range once)
  const store = new WeightStore([bytes.subarray(0, 20), bytes.subarray(20)], 20);
  assert.deepEqual([...decodeConstant(desc, store).data], [...t.data]);
});

test('eightbit and int4 descriptors: bad fields refused with an Error naming the field', () => {
  const { bytes, refs } = packWeights(new Uint8Array(16), new Float32Array(8));
  const good = { encoding: 'eightbit', dtype: 'float32', shape: [4, 4], ...refs[0], scale: 0.25 };
  assert.equal(decodeConstant(good, bytes).data.length, 16);
  const refused = (change, pattern) => assert.throws(() => decodeConstant({ ...good, ...change }, bytes),
    (e) => e.constructor === Error && pattern.test(e.message), JSON.stringify(change));
  refused({ scale: undefined }, /eightbit constant: "scale" nothing must be a non-negative float32 number/);
  refused({ scale: '0.25' }, /"scale"/);
  refused({ scale: -1 }, /"scale" -1/);
  refused({ scale: NaN }, /"scale"/);
  refused({ scale: 1e39 }, /"scale"/); // (Infinity as a float32)
  refused({ scale: 1e37 }, /"scale"/); // (1984 times it is)
  refused({ byteLength: 15 }, /needs 16 bytes \(one per element\), has 15/);
  refused({ byteLength: '16' }, /eightbit constant: "byteLength" must be a non-negative integer/);
  refused({ offset: -16 }, /eightbit constant: "offset" must be a non-negative integer/);
  refused({ offset: 2 ** 53 }, /eightbit constant: "offset"/);
  refused({ offset: 48 }, /eightbit constant \[48, 64\) lies outside the weights/);
  refused({ dtype: 'float64' }, /eightbit constant must be float32/);
  refused({ shape: [4, 4.5] }, /"shape"/);

  // int4: the blocks the compiler writes (int4:B, B a power of two from 16 to 1024) decode; nonsense is refused
  const int4 = (block, extra = {}) => { // (a K = 16, N = 2 weight of codes 9: 1 * scale 2, stored for `block` when it is a size)
    const K = 16, N = 2, blocks = Number.isInteger(block) && block > 0 ? Math.ceil(K / block) : 1;
    const size = Number.isInteger(block) && block > 0 ? N * blocks * Math.ceil(block / 2) : 16;
    const { bytes: b, refs: r } = packWeights(new Uint8Array(size).fill(0x99), new Float32Array(N * blocks).fill(2));
    return decodeConstant({ encoding: 'int4', dtype: 'float32', shape: [K, N], axis: 0, block, offset: r[0].offset,
      byteLength: r[0].byteLength, scalesOffset: r[1].offset, ...extra }, b);
  };
  for (const block of [16, 32, 64, 128, 256, 512, 1024]) assert.deepEqual([...int4(block).data], new Array(32).fill(2), `block ${block}`);
  for (const block of [0, 3, 4098, 8192, -32, 32.5, '32', null]) assert.throws(() => int4(block), /int4 constant: bad "block"/, `block ${block}`);
  assert.throws(() => int4(32, { axis: 2 }), /int4 constant: "axis" 2 must be 0 or 1/);
  assert.throws(() => int4(32, { byteLength: 8 }), /int4 constant of shape \[16,2\] needs 32 bytes, has 8/);
  assert.throws(() => int4(32, { scalesOffset: undefined }), /int4 constant: "scalesOffset" must be a non-negative integer/);
});
