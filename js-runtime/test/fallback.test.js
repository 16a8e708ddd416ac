// Backend selection: preference order, fallback log, and the error when nothing works.
import test from 'node:test';
import assert from 'node:assert/strict';
import { load } from '../src/index.js';
import { addChainProgram, tempDir, writeBundle } from './helpers.js';

async function withBundle(options, fn) {
  const { dir, cleanup } = tempDir();
  try {
    const { program, weights } = addChainProgram();
    writeBundle(dir, program, { weights, ...options });
    return await fn(dir);
  } finally {
    cleanup();
  }
}

test('default preference falls back to js, logging webgpu and wasm', async () => {
  await withBundle({}, async (dir) => {
    const runner = await load(dir);
    assert.equal(runner.backend, 'js');
    assert.deepEqual(runner.fallbackLog.map((f) => f.backend), ['webgpu', 'wasm']);
    assert.equal(runner.fallbackLog[0].reason, "the bundle has no 'webgpu' program (it was built for: js)");
    assert.equal(runner.fallbackLog[1].reason, "the bundle has no 'wasm' program (it was built for: js)");
  });
});

test('unknown backend names are skipped with a reason', async () => {
  await withBundle({}, async (dir) => {
    const runner = await load(dir, { backends: ['cuda', 'js'] });
    assert.equal(runner.backend, 'js');
    assert.deepEqual(runner.fallbackLog, [{ backend: 'cuda', reason: "unknown backend 'cuda' (known: webgpu, wasm, js)" }]);
  });
});

test('a backend missing from the manifest is skipped; no usable backend lists every reason', async () => {
  await withBundle({ backends: { wasm: { program: 'wasm/program.json' } } }, async (dir) => {
    await assert.rejects(load(dir, { backends: ['foo', 'webgpu', 'js'] }), (e) => {
      assert.match(e.message, /^no usable backend for bundle /);
      assert.ok(e.message.includes(dir));
      assert.match(e.message, /- foo: unknown backend 'foo'/);
      assert.match(e.message, /- webgpu: the bundle has no 'webgpu' program \(it was built for: wasm\)/);
      assert.match(e.message, /- js: the bundle has no 'js' program \(it was built for: wasm\)/);
      assert.deepEqual(e.fallbackLog.map((f) => f.backend), ['foo', 'webgpu', 'js']);
      return true;
    });
  });
});

test('a backend that fails during init is skipped with its error message', async () => {
  await withBundle({ backends: { js: { program: 'js/missing.json' } } }, async (dir) => {
    await assert.rejects(load(dir, { backends: ['js'] }), /- js: cannot read js\/missing\.json from bundle/);
  });
});

test('options.backends must be a non-empty list', async () => {
  await withBundle({}, async (dir) => {
    await assert.rejects(load(dir, { backends: [] }), /non-empty array/);
    const runner = await load(dir, { backends: 'js' });
    assert.equal(runner.backend, 'js');
  });
});
