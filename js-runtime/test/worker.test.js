// bin/node-worker.mjs: the JSON-lines protocol used by the Python side.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DOMAIN, addChainProgram, tempDir, writeBundle } from './helpers.js';

const WORKER = fileURLToPath(new URL('../bin/node-worker.mjs', import.meta.url));
// helpers.js registers the test.domain kernels when imported.
const HELPERS = fileURLToPath(new URL('./helpers.js', import.meta.url));

/** Spawns the worker; `request(obj)` sends one line and resolves with the next response line. */
function startWorker(args = ['--import', HELPERS]) {
  const child = spawn(process.execPath, [WORKER, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const pending = [];
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    const next = pending.shift();
    if (next) next(JSON.parse(line)); // a non-JSON line on stdout fails the test here
    else throw new Error(`unexpected worker output: ${line}`);
  });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    stderr: () => stderr,
    request(obj) {
      return new Promise((resolve) => {
        pending.push(resolve);
        child.stdin.write(`${typeof obj === 'string' ? obj : JSON.stringify(obj)}\n`);
      });
    },
  };
}

const b64 = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
const fromB64 = (s, Ctor) => new Ctor(new Uint8Array(Buffer.from(s, 'base64')).buffer);

test('worker: load, run, errors, dispose, exit', async () => {
  const { dir, cleanup } = tempDir();
  const { dir: dir2, cleanup: cleanup2 } = tempDir();
  const worker = startWorker();
  try {
    const { program, weights } = addChainProgram();
    writeBundle(dir, program, { weights });
    // A second bundle with a string output and two outputs (order matters).
    writeBundle(dir2, {
      values: [
        { name: 'x', dtype: 'int32', shape: [2] },
        { name: 's', dtype: 'string', shape: [2], const: { encoding: 'json', value: ['a', 'b'], dtype: 'string', shape: [2] } },
        { name: 'z', dtype: 'int32', shape: [2] },
      ],
      inputs: [0],
      outputs: [2, 1],
      ops: [{ op: 'TestAdd', domain: DOMAIN, name: 'add', inputs: [0, 0], outputs: [2], attrs: {} }],
    });

    const loaded = await worker.request({ id: 1, cmd: 'load', bundle: dir, backends: ['nope', 'js'] });
    assert.equal(loaded.id, 1);
    assert.equal(loaded.ok, true, loaded.error);
    assert.equal(loaded.backend, 'js');
    assert.deepEqual(loaded.inputs, [{ name: 'x', shape: [2, 2], dtype: 'float32' }]);
    assert.deepEqual(loaded.outputs, [{ name: 'y', shape: [2, 2], dtype: 'float32' }]);
    assert.deepEqual(loaded.fallbackLog.map((f) => f.backend), ['nope']);

    const x = new Float32Array([1, 1, 1, 1]);
    const ran = await worker.request({ id: 2, cmd: 'run', handle: loaded.handle,
      inputs: { x: { dtype: 'float32', shape: [2, 2], b64: b64(x) } } });
    assert.equal(ran.ok, true, ran.error);
    assert.equal(ran.id, 2);
    assert.equal(typeof ran.ms, 'number');
    assert.equal(ran.outputs.length, 1);
    assert.equal(ran.outputs[0].name, 'y');
    assert.equal(ran.outputs[0].dtype, 'float32');
    assert.deepEqual(ran.outputs[0].shape, [2, 2]);
    assert.deepEqual([...fromB64(ran.outputs[0].b64, Float32Array)], [5, 8, 11, 14]);

    // Errors keep the worker alive.
    const bad = await worker.request({ id: 3, cmd: 'run', handle: loaded.handle,
      inputs: { x: { dtype: 'int32', shape: [2, 2], b64: b64(new Int32Array(4)) } } });
    assert.deepEqual(bad, { id: 3, ok: false, error: "input 'x': expected float32, got int32" });
    const noHandle = await worker.request({ id: 4, cmd: 'run', handle: 99, inputs: {} });
    assert.equal(noHandle.ok, false);
    assert.match(noHandle.error, /no loaded bundle with handle 99/);
    const unknown = await worker.request({ id: 5, cmd: 'frobnicate' });
    assert.equal(unknown.ok, false);
    assert.match(unknown.error, /unknown command "frobnicate"/);
    const notJson = await worker.request('this is not json');
    assert.equal(notJson.ok, false);
    assert.equal(notJson.id, null);
    const failedLoad = await worker.request({ id: 6, cmd: 'load', bundle: `${dir}-missing` });
    assert.equal(failedLoad.ok, false);
    assert.match(failedLoad.error, /manifest\.json/);

    const loaded2 = await worker.request({ id: 7, cmd: 'load', bundle: dir2, backends: ['js'] });
    assert.equal(loaded2.ok, true, loaded2.error);
    assert.notEqual(loaded2.handle, loaded.handle);
    const ran2 = await worker.request({ id: 8, cmd: 'run', handle: loaded2.handle,
      inputs: { x: { dtype: 'int32', shape: [2], b64: b64(new Int32Array([3, -4])) } } });
    assert.equal(ran2.ok, true, ran2.error);
    assert.deepEqual(ran2.outputs.map((o) => o.name), ['z', 's']);
    assert.deepEqual([...fromB64(ran2.outputs[0].b64, Int32Array)], [6, -8]);
    assert.deepEqual(ran2.outputs[1], { name: 's', dtype: 'string', shape: [2], json: ['a', 'b'] });

    assert.deepEqual(await worker.request({ id: 9, cmd: 'dispose', handle: loaded.handle }), { id: 9, ok: true });
    const afterDispose = await worker.request({ id: 10, cmd: 'run', handle: loaded.handle, inputs: {} });
    assert.equal(afterDispose.ok, false);

    worker.child.stdin.write('{"cmd":"exit"}\n');
    assert.equal(await worker.exited, 0);
  } finally {
    if (worker.child.exitCode === null) worker.child.kill();
    cleanup();
    cleanup2();
  }
});

test('worker: the import command registers custom kernels', async () => {
  const { dir, cleanup } = tempDir();
  const worker = startWorker([]);
  try {
    const { program, weights } = addChainProgram();
    writeBundle(dir, program, { weights });
    const before = await worker.request({ id: 1, cmd: 'load', bundle: dir, backends: ['js'] });
    assert.equal(before.ok, false);
    assert.match(before.error, /no js kernel for op test\.domain::TestAdd/);
    assert.deepEqual(await worker.request({ id: 2, cmd: 'import', module: HELPERS }), { id: 2, ok: true });
    const after = await worker.request({ id: 3, cmd: 'load', bundle: dir, backends: ['js'] });
    assert.equal(after.ok, true, after.error);
    assert.deepEqual(await worker.request({ id: 4, cmd: 'exit' }), { id: 4, ok: true });
    assert.equal(await worker.exited, 0);
  } finally {
    if (worker.child.exitCode === null) worker.child.kill();
    cleanup();
  }
});

test('worker: exits when stdin closes', async () => {
  const worker = startWorker();
  worker.child.stdin.end();
  assert.equal(await worker.exited, 0);
});
