// The public backend interface (index.d.ts BackendDefinition): registerBackend() validates its
// arguments, the built-in backends are registered through it, and load() runs a backend an
// application registered (tests/test_runtime_backend_plugin.py: one a bundle ships).
import test from 'node:test';
import assert from 'node:assert/strict';
import { load, registerBackend } from '../src/index.js';
import { backendNames, getBackend } from '../src/backends/registry.js';
import { addChainProgram, tempDir, writeBundle } from './helpers.js';

test('the built-in backends are registered through registerBackend', () => {
  assert.deepEqual(backendNames().slice(0, 3), ['webgpu', 'wasm', 'js']);
  for (const name of ['webgpu', 'wasm', 'js']) assert.equal(typeof getBackend(name).create, 'function');
  assert.equal(getBackend('nope'), null);
});

test('registerBackend refuses bad names and definitions', () => {
  for (const name of ['', 'Upper', '1st', 'a b', 'x'.repeat(65), null, 'js/../x']) {
    assert.throws(() => registerBackend(name, { create() {} }), /a backend name is lower-case letters/);
  }
  for (const def of [null, {}, { create: 1 }, { unavailable: 3 }]) {
    assert.throws(() => registerBackend('ok-name', def), /needs create\(bundle, entry, options\), or unavailable/);
  }
});

test('load() runs an application-registered backend, and logs one that is unavailable', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const { program, weights } = addChainProgram();
    writeBundle(dir, program, { weights, backends: { js: { program: 'js/program.json' }, mine: { program: 'js/program.json' }, gone: {} } });
    let created = 0;
    registerBackend('mine', {
      async create(bundle, entry) {
        created++;
        const p = await bundle.readJSON(entry.program, 'backends.mine.program');
        const c = (await bundle.weights()).byteLength;
        return {
          run(feeds) {
            const x = feeds.get('x');
            return new Map([['y', { dtype: 'float32', shape: x.shape, data: Float32Array.from(x.data, (v) => v + p.ops.length + c) }]]);
          },
          dispose() {},
        };
      },
    });
    registerBackend('gone', { unavailable: 'not on this machine' });
    const runner = await load(dir, { backends: ['gone', 'mine', 'js'] });
    assert.equal(runner.backend, 'mine');
    assert.deepEqual(runner.fallbackLog, [{ backend: 'gone', reason: 'not on this machine' }]);
    assert.deepEqual([...(await runner.run({ x: new Float32Array([1, 2, 3, 4]) })).y.data], [21, 22, 23, 24]); // 4 ops + 16 bytes
    assert.equal(created, 1);
  } finally {
    cleanup();
  }
});
