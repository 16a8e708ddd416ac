// Runner: execution, arena reuse, input validation, dtype conversions, errors, dispose, URL loading.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join, normalize } from 'node:path';
import { pathToFileURL } from 'node:url';
import { load } from '../src/index.js';
import { numberToFloat16Bits, float16BitsToNumber } from '../src/backends/js/kernels/util.js';
import * as activation from '../src/backends/js/kernels/activation.js';
import { DOMAIN, addChainProgram, calls, tempDir, writeBundle } from './helpers.js';

/** A bundle with one TestAdd op: y = x + x, for inputs of the given dtype/shape. */
function doubleProgram(dtype, shape, extra = {}) {
  return {
    values: [
      { name: 'x', dtype, shape },
      { name: 'y', dtype, shape },
    ],
    inputs: [0],
    outputs: [1],
    ops: [{ op: 'TestAdd', domain: DOMAIN, name: 'double', inputs: [0, 0], outputs: [1], attrs: extra }],
  };
}

async function withBundle(program, fn, options) {
  const { dir, cleanup } = tempDir();
  try {
    writeBundle(dir, program.program ?? program, { weights: program.weights, ...options });
    return await fn(dir);
  } finally {
    cleanup();
  }
}

test('runs a program; intermediates sharing an arena offset give correct results', async () => {
  await withBundle(addChainProgram(), async (dir) => {
    const runner = await load(dir, { backends: ['js'] });
    assert.equal(runner.backend, 'js');
    assert.deepEqual(runner.inputs, [{ name: 'x', shape: [2, 2], dtype: 'float32' }]);
    assert.deepEqual(runner.outputs, [{ name: 'y', shape: [2, 2], dtype: 'float32' }]);
    assert.deepEqual(runner.fallbackLog, []);

    calls.length = 0;
    const x = new Float32Array([10, 20, 30, 40]);
    const first = await runner.run({ x: { data: x, shape: [2, 2], dtype: 'float32' } });
    // y = x + 3c + x
    assert.deepEqual([...first.y.data], [23, 46, 69, 92]);
    assert.deepEqual(first.y.shape, [2, 2]);
    assert.equal(first.y.dtype, 'float32');
    // a, b, c2 were arena views; y (graph output) was not.
    assert.deepEqual(calls.map((c) => c.arena), [true, true, true, false]);

    const second = await runner.run({ x: new Float32Array([1, 1, 1, 1]) });
    assert.deepEqual([...second.y.data], [5, 8, 11, 14]);
    // The first result is a fresh array, untouched by the second run.
    assert.deepEqual([...first.y.data], [23, 46, 69, 92]);
    assert.deepEqual([...x], [10, 20, 30, 40]);
    runner.dispose();
  });
});

test('a graph output that aliases arena memory is copied out correctly', async () => {
  // out1 = Identity(a) where a lives in the arena, then c2 reuses a's slot.
  const { program, weights } = addChainProgram();
  program.values.push({ name: 'alias', dtype: 'float32', shape: [2, 2] });
  program.ops.splice(1, 0, { op: 'TestIdentity', domain: DOMAIN, name: 'ident', inputs: [2], outputs: [6], attrs: {} });
  program.outputs = [5, 6];
  await withBundle({ program, weights }, async (dir) => {
    const runner = await load(dir, { backends: ['js'] });
    const out = await runner.run({ x: new Float32Array([0, 0, 0, 0]) });
    assert.deepEqual([...out.alias.data], [1, 2, 3, 4]);
    assert.deepEqual([...out.y.data], [3, 6, 9, 12]);
  });
});

test('input validation errors', async () => {
  const program = doubleProgram('float32', [1, 3]);
  program.values.push({ name: 'z', dtype: 'int32', shape: [2] }, { name: 'w', dtype: 'int32', shape: [2] });
  program.inputs = [0, 2];
  program.outputs = [1, 3];
  program.ops.push({ op: 'TestAdd', domain: DOMAIN, name: 'dz', inputs: [2, 2], outputs: [3], attrs: {} });
  await withBundle(program, async (dir) => {
    const runner = await load(dir, { backends: ['js'] });
    const x = new Float32Array(3);
    const z = new Int32Array(2);
    await assert.rejects(runner.run({ x, z, q: x }), { message: "unknown input 'q' (the model's inputs are 'x', 'z')" });
    await assert.rejects(runner.run({ x }), { message: "missing input 'z' (the model's inputs are 'x', 'z')" });
    await assert.rejects(runner.run({ x: new Int32Array(3), z }), { message: "input 'x': expected float32, got int32" });
    await assert.rejects(runner.run({ x: { data: x, shape: [1, 3], dtype: 'float64' }, z }),
      { message: "input 'x': expected float32, got float64" });
    await assert.rejects(runner.run({ x: { data: new Float64Array(3), shape: [1, 3], dtype: 'float32' }, z }),
      { message: "input 'x': float32 data must be a Float32Array, got Float64Array" });
    await assert.rejects(runner.run({ x: { data: new Float32Array(4), shape: [1, 4] }, z }),
      { message: "input 'x': expected shape [1,3], got [1,4]" });
    await assert.rejects(runner.run({ x: { data: new Float32Array(3), shape: [3] }, z }),
      { message: "input 'x': expected shape [1,3], got [3]" });
    await assert.rejects(runner.run({ x: new Float32Array(4), z }),
      { message: "input 'x': shape [1,3] needs 3 elements, data has 4" });
    await assert.rejects(runner.run({ x: 5, z }), /input 'x': expected a TypedArray or \{ data, shape, dtype \}, got number/);
    await assert.rejects(runner.run(null), /feeds must be an object/);

    // Bare TypedArrays (shape from the model) and a Map of feeds both work.
    const out = await runner.run({ x: new Float32Array([1, 2, 3]), z: new Int32Array([4, 5]) });
    assert.deepEqual([...out.y.data], [2, 4, 6]);
    assert.deepEqual(out.y.shape, [1, 3]);
    assert.ok(out.w.data instanceof Int32Array);
    assert.deepEqual([...out.w.data], [8, 10]);
    const viaMap = await runner.run(new Map([['x', x], ['z', z]]));
    assert.deepEqual([...viaMap.w.data], [0, 0]);
  });
});

test('the message for a wrong shape matches the documented form', async () => {
  await withBundle(doubleProgram('float32', [1, 3, 224, 224]), async (dir) => {
    const runner = await load(dir, { backends: ['js'] });
    await assert.rejects(runner.run({ x: { data: new Float32Array(3 * 200 * 200), shape: [1, 3, 200, 200] } }),
      { message: "input 'x': expected shape [1,3,224,224], got [1,3,200,200]" });
  });
});

test('dynamic input dims accept any size when the shape is given', async () => {
  const program = doubleProgram('float32', [null, 2]);
  await withBundle(program, async (dir) => {
    const runner = await load(dir, { backends: ['js'] });
    const out = await runner.run({ x: { data: new Float32Array([1, 2, 3, 4, 5, 6]), shape: [3, 2] } });
    assert.deepEqual(out.y.shape, [3, 2]);
    assert.deepEqual([...out.y.data], [2, 4, 6, 8, 10, 12]);
    await assert.rejects(runner.run({ x: new Float32Array(4) }), /has dynamic dimensions; pass \{ data, shape \}/);
    await assert.rejects(runner.run({ x: { data: new Float32Array(3), shape: [1, 3] } }),
      { message: "input 'x': expected shape [?,2], got [1,3]" });
  });
});

test('int64 and float16 at the API boundary', async () => {
  await withBundle(doubleProgram('int64', [3]), async (dir) => {
    const runner = await load(dir, { backends: ['js'] });
    const out = await runner.run({ x: new BigInt64Array([1n, -2n, 2n ** 50n]) });
    assert.ok(out.y.data instanceof BigInt64Array);
    assert.deepEqual([...out.y.data], [2n, -4n, 2n ** 51n]);
    await assert.rejects(runner.run({ x: new Int32Array(3) }), { message: "input 'x': expected int64, got int32" });
  });
  await withBundle(doubleProgram('float16', [3]), async (dir) => {
    const runner = await load(dir, { backends: ['js'] });
    const bits = new Uint16Array([1, 0.5, -3].map(numberToFloat16Bits));
    const out = await runner.run({ x: bits });
    assert.ok(out.y.data instanceof Uint16Array);
    assert.deepEqual([...out.y.data].map(float16BitsToNumber), [2, 1, -6]);
    await assert.rejects(runner.run({ x: { data: new Float32Array(3), shape: [3], dtype: 'float16' } }),
      { message: "input 'x': float16 data must be a Uint16Array (float16 bit patterns), got Float32Array" });
  });
  await withBundle(doubleProgram('bool', [2]), async (dir) => {
    const runner = await load(dir, { backends: ['js'] });
    const out = await runner.run({ x: new Uint8Array([1, 0]) });
    assert.equal(out.y.dtype, 'bool');
    assert.ok(out.y.data instanceof Uint8Array);
  });
});

test('kernel errors name the node; a missing kernel fails init naming op and node', async () => {
  const failing = doubleProgram('float32', [2]);
  failing.ops[0] = { op: 'TestFail', domain: DOMAIN, name: 'bad_node', inputs: [0], outputs: [1], attrs: {} };
  await withBundle(failing, async (dir) => {
    const runner = await load(dir, { backends: ['js'] });
    await assert.rejects(runner.run({ x: new Float32Array(2) }), { message: "node 'bad_node' (TestFail): deliberate failure" });
    // The runner keeps working for later runs (here: failing again the same way).
    await assert.rejects(runner.run({ x: new Float32Array(2) }), /deliberate failure/);
  });

  const missing = doubleProgram('float32', [2]);
  missing.ops[0] = { op: 'NoSuchOp', domain: DOMAIN, name: 'mystery', inputs: [0], outputs: [1], attrs: {} };
  await withBundle(missing, async (dir) => {
    await assert.rejects(load(dir, { backends: ['js'] }), (e) => {
      assert.match(e.message, /no usable backend/);
      assert.match(e.message, /js: no js kernel for op test\.domain::NoSuchOp \(node 'mystery' \(NoSuchOp\)\)/);
      assert.deepEqual(e.fallbackLog.map((f) => f.backend), ['js']);
      return true;
    });
  });
});

test('fused activation (when activation.js provides applyActivation)', { skip: typeof activation.applyActivation !== 'function' }, async () => {
  await withBundle(doubleProgram('float32', [4], { fused_activation: 'Relu' }), async (dir) => {
    const runner = await load(dir, { backends: ['js'] });
    const out = await runner.run({ x: new Float32Array([-1, 2, -3, 4]) });
    assert.deepEqual([...out.y.data], [0, 4, 0, 8]);
  });
  // An op returning its input must not activate the input in place.
  const ident = doubleProgram('float32', [2], { fused_activation: 'Relu' });
  ident.ops[0] = { op: 'TestIdentity', domain: DOMAIN, name: 'id', inputs: [0], outputs: [1], attrs: { fused_activation: 'Relu' } };
  await withBundle(ident, async (dir) => {
    const runner = await load(dir, { backends: ['js'] });
    const x = new Float32Array([-1, 1]);
    const out = await runner.run({ x });
    assert.deepEqual([...out.y.data], [0, 1]);
    assert.deepEqual([...x], [-1, 1]);
  });
});

test('dispose: run afterwards throws', async () => {
  await withBundle(doubleProgram('float32', [2]), async (dir) => {
    const runner = await load(dir, { backends: ['js'] });
    runner.dispose();
    runner.dispose(); // idempotent
    await assert.rejects(runner.run({ x: new Float32Array(2) }), /disposed/);
  });
});

test('manifest validation names the bundle', async () => {
  await withBundle(doubleProgram('float32', [2]), async (dir) => {
    await assert.rejects(load(dir), (e) => e.message.includes(dir) && /not a webdnn bundle/.test(e.message));
  }, { manifest: { format: 'something-else' } });
  await withBundle(doubleProgram('float32', [2]), async (dir) => {
    await assert.rejects(load(dir), (e) => e.message.includes(dir) && /has formatVersion 4; this runtime reads formatVersion 3/.test(e.message));
  }, { manifest: { formatVersion: 4 } });
  const { dir, cleanup } = tempDir();
  try {
    await assert.rejects(load(join(dir, 'nope')), /cannot read bundle .*nope.*manifest\.json/);
  } finally {
    cleanup();
  }
});

test('loads from a file: URL and from an http URL (fetch path)', async () => {
  await withBundle(addChainProgram(), async (dir) => {
    const viaFileUrl = await load(pathToFileURL(dir), { backends: ['js'] });
    assert.deepEqual([...(await viaFileUrl.run({ x: new Float32Array(4) })).y.data], [3, 6, 9, 12]);

    const requested = [];
    const server = createServer(async (req, res) => {
      requested.push(req.url);
      try {
        const rel = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^\/+bundle\//, '');
        res.end(await readFile(join(dir, rel)));
      } catch {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${server.address().port}/bundle`;
      const runner = await load(url, { backends: ['js'] });
      const out = await runner.run({ x: new Float32Array([1, 1, 1, 1]) });
      assert.deepEqual([...out.y.data], [5, 8, 11, 14]);
      assert.deepEqual(requested.sort(), ['/bundle/js/program.json', '/bundle/manifest.json', '/bundle/weights.bin']);
      await assert.rejects(load(`${url}-missing/`), /HTTP 404/);
    } finally {
      server.close();
    }
  });
});

test('executor drops references to intermediates after their last use', async () => {
  const { JsExecutor } = await import('../src/backends/js/backend.js');
  const { program, weights } = addChainProgram();
  for (const v of program.values) delete v.arena; // all intermediates are plain allocations
  program.arena = { byteLength: 0 };
  program.values.push({ name: 'unused', dtype: 'float32', shape: [2, 2] });
  program.ops.push({ op: 'TestCopy', domain: DOMAIN, name: '', inputs: [0], outputs: [6], attrs: {} });
  const executor = new JsExecutor(program, weights);
  const frees = executor.steps.map((s) => [...new Set(s.frees)].sort());
  // a (2) dies at add_b, b (3) at add_c2, c2 (4) at add_y; x (0) after its last reader;
  // 'unused' (6) right after it is produced; the constant (1) and the output y (5) are kept.
  assert.deepEqual(frees, [[], [2], [3], [4], [0, 6]]);
  const out = executor.run(new Map([['x', { dtype: 'float32', shape: [2, 2], data: new Float32Array(4) }]]));
  assert.deepEqual([...out.get('y').data], [3, 6, 9, 12]);
  assert.equal(executor.steps[4].label, "node '#4' (TestCopy)");
  executor.dispose();
  assert.throws(() => executor.run(new Map()), /disposed/);
});
