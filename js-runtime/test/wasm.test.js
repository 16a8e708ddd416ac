// The wasm backend, single-threaded: runs of hand-written plans around a fixture module compiled
// from test/wasm-fixture.c, JS steps between wasm segments, and the fallback reasons.
import test from 'node:test';
import assert from 'node:assert/strict';
import { load } from '../src/index.js';
import { DOMAIN } from './helpers.js';
import {
  N, fixtureInput, fixtureModules, fixtureWeight, wasmSkip, mixedSteps, sameArray, segmentRef, writeWasmBundle,
} from './wasm-helpers.js';

const skip = wasmSkip();

async function withBundle(options, fn) {
  const { dir, cleanup } = writeWasmBundle(options);
  try {
    return await fn(dir);
  } finally {
    cleanup();
  }
}

const relu = (a) => a.map((v) => (v < 0 ? 0 : v));

test('single-threaded run of one wasm segment (weights copied, wdn_prepare called)', { skip }, async () => {
  await withBundle({}, async (dir) => {
    const runner = await load(dir, { backends: ['wasm'], threads: 1 });
    try {
      assert.equal(runner.backend, 'wasm');
      assert.equal(runner.threads, 1);
      assert.deepEqual(runner.fallbackLog, []);
      assert.match(runner.threadInfo.reason, /threads: 1/);
      const x = fixtureInput();
      const out = await runner.run({ x });
      assert.deepEqual(Object.keys(out), ['a']);
      assert.deepEqual(out.a.shape, [N]);
      assert.equal(out.a.dtype, 'float32');
      sameArray(assert, out.a.data, segmentRef(x));
      assert.ok(!(out.a.data.buffer instanceof SharedArrayBuffer) && out.a.data.byteLength === out.a.data.buffer.byteLength,
        'outputs are fresh arrays');
      // outputs do not change with later runs, and repeated runs agree
      const x2 = x.map((v) => v + 1);
      const out2 = await runner.run({ x: x2 });
      sameArray(assert, out.a.data, segmentRef(x));
      sameArray(assert, out2.a.data, segmentRef(x2));
    } finally {
      runner.dispose();
    }
    await assert.rejects(runner.run({ x: fixtureInput() }), /disposed/);
  });
});

test('the default backend order picks wasm when the bundle has it', { skip }, async () => {
  await withBundle({ moduleThreads: false }, async (dir) => {
    const runner = await load(dir);
    try {
      assert.equal(runner.backend, 'wasm');
      assert.deepEqual(runner.fallbackLog.map((f) => f.backend), ['webgpu']);
      assert.equal(runner.threads, 1);
      assert.match(runner.threadInfo.reason, /no threaded wasm module/);
    } finally {
      runner.dispose();
    }
  });
});

test('a JS step (Relu) between two wasm segments reads and writes wasm memory', { skip }, async () => {
  await withBundle({ steps: mixedSteps({ op: 'Relu' }), outputs: [4] }, async (dir) => {
    const runner = await load(dir, { backends: ['wasm'], threads: 1 });
    try {
      const x = fixtureInput();
      const { y } = await runner.run({ x });
      sameArray(assert, y.data, segmentRef(relu(segmentRef(x))));
    } finally {
      runner.dispose();
    }
  });
});

test('JS steps: a JS-only constant, a fused activation, a result copied into its slot, a JS-only output', { skip }, async () => {
  const c = Float32Array.from({ length: N }, (_, i) => (i % 3) - 1);
  const steps = [
    { wasm: 0, ops: ['seg0'] },
    // Add with a constant that is not in wasm memory, and a fused Relu (applied in wasm memory)
    { js: { op: 'Add', domain: '', name: 'add', inputs: [2, 5], outputs: [6], attrs: { fused_activation: 'Relu' } } },
    // TestIdentity returns its input tensor: the runtime must copy it into b's slot for segment 1
    { js: { op: 'TestIdentity', domain: DOMAIN, name: 'ident', inputs: [6], outputs: [3], attrs: {} } },
    { wasm: 1, ops: ['seg1'] },
    // an output without addr, kept in JS
    { js: { op: 'Neg', domain: '', name: 'neg', inputs: [4], outputs: [7], attrs: {} } },
  ];
  const extraValues = [
    { name: 'c', dtype: 'float32', shape: [N], constIndex: 0 },
    { name: 'sum', dtype: 'float32', shape: [N], addr: { region: 'arena', offset: 0 } }, // reuses x's slot (dead by then)
    { name: 'z', dtype: 'float32', shape: [N] },
  ];
  await withBundle({ steps, outputs: [4, 7], extraValues, extraConsts: [c] }, async (dir) => {
    const runner = await load(dir, { backends: ['wasm'], threads: 1 });
    try {
      const x = fixtureInput();
      const out = await runner.run({ x });
      const a = segmentRef(x);
      const sum = relu(a.map((v, i) => Math.fround(v + c[i])));
      const y = segmentRef(sum);
      sameArray(assert, out.y.data, y, 'y');
      sameArray(assert, out.z.data, y.map((v) => -v), 'z');
      const again = await runner.run({ x });
      sameArray(assert, again.y.data, y, 'y (second run)');
    } finally {
      runner.dispose();
    }
  });
});

test('a JS step with a subgraph reads a weight that otherwise lives only in wasm memory', { skip }, async () => {
  const branch = (outer, name) => ({
    values: [{ name: outer, dtype: 'float32', shape: [N] }, { name: `${name}_out`, dtype: 'float32', shape: [N] }],
    inputs: [], outputs: [1], captures: [0],
    ops: [{ op: 'Identity', domain: '', name, inputs: [0], outputs: [1], attrs: {} }],
  });
  const steps = mixedSteps({ op: 'If', name: 'if', inputs: [5],
    attrs: { then_branch: { $graph: branch('w', 't') }, else_branch: { $graph: branch('a', 'e') } } });
  for (const flag of [1, 0]) {
    const extraValues = [{ name: 'cond', dtype: 'bool', shape: [], const: { encoding: 'fill', dtype: 'bool', shape: [], value: flag } }];
    await withBundle({ steps, outputs: [4], extraValues }, async (dir) => {
      const runner = await load(dir, { backends: ['wasm'], threads: 1 });
      try {
        const x = fixtureInput();
        const { y } = await runner.run({ x });
        sameArray(assert, y.data, segmentRef(flag ? fixtureWeight() : segmentRef(x)), `cond=${flag}`);
      } finally {
        runner.dispose();
      }
    });
  }
});

test('a JS step error names the node; a bad plan fails load with the reason', { skip }, async () => {
  await withBundle({ steps: mixedSteps({ op: 'TestFail', domain: DOMAIN, name: 'boom' }), outputs: [4] }, async (dir) => {
    const runner = await load(dir, { backends: ['wasm'], threads: 1 });
    try {
      await assert.rejects(runner.run({ x: fixtureInput() }), /node 'boom' \(TestFail\): deliberate failure/);
    } finally {
      runner.dispose();
    }
  });
  await withBundle({ steps: mixedSteps({ op: 'NoSuchOp' }), outputs: [4] }, async (dir) => {
    await assert.rejects(load(dir, { backends: ['wasm'] }), /- wasm: no js kernel for op NoSuchOp/);
  });
});

test('fallback: WebAssembly missing (hidden global, or the testing hook)', { skip }, async () => {
  const jsProgram = (refs) => ({
    opsets: { '': 17 },
    values: [
      { name: 'x', dtype: 'float32', shape: [N] },
      { name: 'a', dtype: 'float32', shape: [N] },
    ],
    inputs: [0],
    outputs: [1],
    arena: { byteLength: 0 },
    ops: [{ op: 'Relu', domain: '', name: 'r', inputs: [0], outputs: [1], attrs: {} }],
  });
  await withBundle({ jsProgram }, async (dir) => {
    const saved = Object.getOwnPropertyDescriptor(globalThis, 'WebAssembly');
    delete globalThis.WebAssembly;
    let runner;
    try {
      runner = await load(dir, { backends: ['wasm', 'js'] });
    } finally {
      Object.defineProperty(globalThis, 'WebAssembly', saved);
    }
    assert.equal(runner.backend, 'js');
    assert.deepEqual(runner.fallbackLog, [{ backend: 'wasm', reason: 'WebAssembly is not available in this environment' }]);
    assert.equal(runner.threads, 1);
    assert.equal(runner.threadInfo, null);
    runner.dispose();

    const r2 = await load(dir, { backends: ['wasm', 'js'], wasmHooks: { WebAssembly: null } });
    assert.equal(r2.backend, 'js');
    assert.match(r2.fallbackLog[0].reason, /WebAssembly is not available/);
    r2.dispose();
  });
});

test('fallback: SIMD unsupported (validate hook)', { skip }, async () => {
  await withBundle({}, async (dir) => {
    let probed = null;
    const validate = (bytes) => { probed = bytes; return false; };
    await assert.rejects(load(dir, { backends: ['wasm'], wasmHooks: { validate } }), (e) => {
      assert.equal(e.fallbackLog.length, 1);
      assert.match(e.fallbackLog[0].reason, /does not support SIMD/);
      return true;
    });
    assert.ok(probed instanceof Uint8Array && WebAssembly.validate(probed), 'the probe is a valid SIMD module here');
  });
});

test('fallback: a module that does not compile', { skip }, async () => {
  await withBundle({ corrupt: ['single'], moduleThreads: false }, async (dir) => {
    await assert.rejects(load(dir, { backends: ['wasm'] }), /- wasm: cannot compile wasm\/model\.wasm: /);
  });
});

test('fallback: a bundle without a wasm entry runs on js with the reason', async () => {
  const { addChainProgram, tempDir, writeBundle } = await import('./helpers.js');
  const { dir, cleanup } = tempDir();
  try {
    const { program, weights } = addChainProgram();
    writeBundle(dir, program, { weights });
    const runner = await load(dir, { backends: ['wasm', 'js'] });
    assert.equal(runner.backend, 'js');
    assert.deepEqual(runner.fallbackLog, [
      { backend: 'wasm', reason: "the bundle has no 'wasm' program (it was built for: js)" },
    ]);
    runner.dispose();
  } finally {
    cleanup();
  }
});

test('options.threads is validated', async () => {
  await assert.rejects(load('/nonexistent', { threads: 0 }), /options\.threads must be a positive integer/);
  await assert.rejects(load('/nonexistent', { threads: 1.5 }), /options\.threads must be a positive integer/);
});
