// Subgraph attributes ($graph), captures, sequences and optionals in the js executor and the Runner API.
import test from 'node:test';
import assert from 'node:assert/strict';
import { load } from '../src/index.js';
import { DOMAIN, tempDir, writeBundle } from './helpers.js';

async function withBundle(program, fn) {
  const { dir, cleanup } = tempDir();
  try {
    writeBundle(dir, program);
    return await fn(await load(dir, { backends: ['js'] }));
  } finally {
    cleanup();
  }
}

/**
 * a = x + x (arena slot 0); seq = [a]; b = copy(x) (reuses slot 0); y = If(flag, then: copy(b), else: seq[0]).
 * The branches read b and seq from the enclosing program.
 */
function ifProgram() {
  const thenBranch = {
    values: [{ name: 'b', dtype: 'float32', shape: [2] }, { name: 't_out', dtype: 'float32', shape: [2] }],
    inputs: [], outputs: [1], captures: [0],
    ops: [{ op: 'TestCopy', domain: DOMAIN, name: 't', inputs: [0], outputs: [1], attrs: {} }],
  };
  const elseBranch = {
    values: [
      { name: 'seq', dtype: 'sequence<float32>', shape: null },
      { name: 'zero', dtype: 'int64', shape: [], const: { encoding: 'fill', dtype: 'int64', shape: [], value: '0' } },
      { name: 'e_out', dtype: 'float32', shape: [2] },
    ],
    inputs: [], outputs: [2], captures: [0],
    ops: [{ op: 'SequenceAt', domain: '', name: 'e', inputs: [0, 1], outputs: [2], attrs: {} }],
  };
  return {
    values: [
      { name: 'x', dtype: 'float32', shape: [2] },
      { name: 'flag', dtype: 'bool', shape: [] },
      { name: 'a', dtype: 'float32', shape: [2], arena: { offset: 0, byteLength: 16 } },
      { name: 'seq', dtype: 'sequence<float32>', shape: null },
      { name: 'b', dtype: 'float32', shape: [2], arena: { offset: 0, byteLength: 16 } },
      { name: 'y', dtype: 'float32', shape: [2] },
    ],
    inputs: [0, 1],
    outputs: [5, 3],
    arena: { byteLength: 16 },
    ops: [
      { op: 'TestAdd', domain: DOMAIN, name: 'a', inputs: [0, 0], outputs: [2], attrs: {} },
      { op: 'SequenceConstruct', domain: '', name: 'seq', inputs: [2], outputs: [3], attrs: {} },
      { op: 'TestCopy', domain: DOMAIN, name: 'b', inputs: [0], outputs: [4], attrs: {} },
      { op: 'If', domain: '', name: 'if', inputs: [1], outputs: [5],
        attrs: { then_branch: { $graph: thenBranch }, else_branch: { $graph: elseBranch } } },
    ],
  };
}

test('If runs the chosen branch; branches read outer values; sequences survive arena reuse', async () => {
  await withBundle(ifProgram(), async (runner) => {
    assert.deepEqual(runner.outputs.map((o) => [o.name, o.shape, o.dtype]), [['y', [2], 'float32'], ['seq', null, 'sequence<float32>']]);
    const x = new Float32Array([1, 5]);
    const yes = await runner.run({ x, flag: new Uint8Array([1]) });
    assert.deepEqual([...yes.y.data], [1, 5]);
    assert.equal(yes.seq.length, 1);
    assert.deepEqual([...yes.seq[0].data], [2, 10]); // 'a' was copied out of the arena before 'b' reused its slot
    const no = await runner.run({ x, flag: new Uint8Array([0]) });
    assert.deepEqual([...no.y.data], [2, 10]);
  });
});

test('a capture the enclosing program lacks fails at load, naming it', async () => {
  const program = ifProgram();
  program.ops[3].attrs.then_branch.$graph.values[0].name = 'nowhere';
  const { dir, cleanup } = tempDir();
  try {
    writeBundle(dir, program);
    await assert.rejects(load(dir, { backends: ['js'] }), /reads 'nowhere', which the enclosing graph does not have/);
  } finally {
    cleanup();
  }
});

test('sequence and optional inputs/outputs through Runner.run', async () => {
  const program = {
    values: [
      { name: 's', dtype: 'sequence<float32>', shape: null },
      { name: 'o', dtype: 'optional<float32>', shape: null },
      { name: 'n', dtype: 'int64', shape: [] },
      { name: 's2', dtype: 'sequence<float32>', shape: null },
      { name: 'has', dtype: 'bool', shape: [] },
      { name: 'o2', dtype: 'optional<float32>', shape: null },
    ],
    inputs: [0, 1],
    outputs: [2, 3, 4, 5],
    ops: [
      { op: 'SequenceLength', domain: '', name: 'len', inputs: [0], outputs: [2], attrs: {} },
      { op: 'Identity', domain: '', name: 'id', inputs: [0], outputs: [3], attrs: {} },
      { op: 'OptionalHasElement', domain: '', name: 'has', inputs: [1], outputs: [4], attrs: {} },
      { op: 'Identity', domain: '', name: 'id2', inputs: [1], outputs: [5], attrs: {} },
    ],
  };
  await withBundle(program, async (runner) => {
    const s = [{ data: new Float32Array([1, 2]), shape: [2] }, { data: new Float32Array([3]), shape: [1, 1] }];
    const out = await runner.run({ s, o: null });
    assert.equal(out.n.data[0], 2n);
    assert.deepEqual(out.s2.map((t) => t.shape), [[2], [1, 1]]);
    assert.equal(out.has.data[0], 0);
    assert.equal(out.o2, null);
    const full = await runner.run({ s: [], o: { data: new Float32Array([4]), shape: [1] } });
    assert.equal(full.n.data[0], 0n);
    assert.equal(full.has.data[0], 1);
    assert.deepEqual([...full.o2.data], [4]);
    await assert.rejects(runner.run({ s: new Float32Array(1), o: null }), /takes an Array of tensors/);
  });
});
