// The wasm backend with threads: workers over a shared memory (test/wasm-fixture.c built with
// -DWDN_THREADS=1), results equal to the single-threaded module, fallbacks to one thread, and
// workers that never keep the process alive.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { load } from '../src/index.js';
import {
  fixtureInput, fixtureModules, mixedSteps, wasmSkip, sameArray, segmentRef, writeWasmBundle,
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
const MIXED = { steps: mixedSteps({ op: 'Relu' }), outputs: [4] };

test('threads: 2 and 3 give the same result as threads: 1 (mixed plan)', { skip }, async () => {
  await withBundle(MIXED, async (dir) => {
    const x = fixtureInput();
    const expected = segmentRef(relu(segmentRef(x)));
    const one = await load(dir, { backends: ['wasm'], threads: 1 });
    const single = (await one.run({ x })).y.data;
    one.dispose();
    sameArray(assert, single, expected, 'threads=1');
    for (const threads of [2, 3]) {
      const runner = await load(dir, { backends: ['wasm'], threads });
      try {
        assert.equal(runner.backend, 'wasm');
        assert.equal(runner.threads, threads);
        assert.deepEqual(runner.threadInfo, { threads, requested: threads, reason: null });
        for (let k = 0; k < 20; k++) {
          const xs = x.map((v) => v + k);
          const { y } = await runner.run({ x: xs });
          sameArray(assert, y.data, k === 0 ? single : segmentRef(relu(segmentRef(xs))), `threads=${threads} run ${k}`);
        }
      } finally {
        runner.dispose();
      }
    }
  });
});

test('default thread count: available cores, capped by maxThreads', { skip }, async () => {
  await withBundle({ planOverrides: { maxThreads: 2 } }, async (dir) => {
    const runner = await load(dir, { backends: ['wasm'] });
    try {
      const expected = Math.min(availableParallelism(), 2);
      assert.equal(runner.threads, expected);
      assert.equal(runner.threadInfo.requested, null);
      const { a } = await runner.run({ x: fixtureInput() });
      sameArray(assert, a.data, segmentRef(fixtureInput()));
    } finally {
      runner.dispose();
    }
    const capped = await load(dir, { backends: ['wasm'], threads: 6 });
    assert.equal(capped.threads, 2);
    assert.match(capped.threadInfo.reason, /capped at 2 threads/);
    capped.dispose();
  });
});

test('threads fall back silently to the single-threaded module', { skip }, async () => {
  // no threaded module in the bundle
  await withBundle({ moduleThreads: false }, async (dir) => {
    const runner = await load(dir, { backends: ['wasm'], threads: 4 });
    assert.equal(runner.threads, 1);
    assert.deepEqual(runner.fallbackLog, []);
    assert.match(runner.threadInfo.reason, /no threaded wasm module/);
    runner.dispose();
  });
  // a threaded module that does not compile
  await withBundle({ corrupt: ['threaded'] }, async (dir) => {
    const runner = await load(dir, { backends: ['wasm'], threads: 2 });
    assert.equal(runner.backend, 'wasm');
    assert.equal(runner.threads, 1);
    assert.deepEqual(runner.fallbackLog, []);
    assert.match(runner.threadInfo.reason, /threaded module could not be used \(cannot compile wasm\/model-mt\.wasm/);
    const { a } = await runner.run({ x: fixtureInput() });
    sameArray(assert, a.data, segmentRef(fixtureInput()));
    runner.dispose();
  });
  // no SharedArrayBuffer
  await withBundle({}, async (dir) => {
    const saved = Object.getOwnPropertyDescriptor(globalThis, 'SharedArrayBuffer');
    delete globalThis.SharedArrayBuffer;
    let runner;
    try {
      runner = await load(dir, { backends: ['wasm'], threads: 2 });
    } finally {
      Object.defineProperty(globalThis, 'SharedArrayBuffer', saved);
    }
    assert.equal(runner.threads, 1);
    assert.match(runner.threadInfo.reason, /SharedArrayBuffer is not available/);
    runner.dispose();
  });
});

/** Runs a script in a fresh Node process; resolves with { code, stdout, stderr, ms } or rejects after `timeoutMs`. */
function runScript(source, timeoutMs = 20000) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--input-type=module', '-e', source], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the process did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

const INDEX = new URL('../src/index.js', import.meta.url).href;

test('dispose terminates the workers; the process exits by itself (with or without dispose)', { skip }, async () => {
  await withBundle({}, async (dir) => {
    for (const dispose of [true, false]) {
      const script = `
        import { load } from ${JSON.stringify(INDEX)};
        const runner = await load(${JSON.stringify(dir)}, { backends: ['wasm'], threads: 2 });
        const { a } = await runner.run({ x: new Float32Array(${fixtureInput().length}).fill(1) });
        console.log(JSON.stringify({ threads: runner.threads, a0: a.data[0] }));
        ${dispose ? 'runner.dispose();' : ''}
      `;
      const r = await runScript(script);
      assert.equal(r.code, 0, r.stderr);
      const info = JSON.parse(r.stdout.trim());
      assert.equal(info.threads, 2);
      assert.equal(info.a0, segmentRef(new Float32Array(fixtureInput().length).fill(1))[0]);
    }
  });
});

test('after dispose, runs reject and workers are gone', { skip }, async () => {
  await withBundle({}, async (dir) => {
    const runner = await load(dir, { backends: ['wasm'], threads: 2 });
    const executor = runner._executor;
    assert.equal(executor.workers.count, 1);
    const [worker] = executor.workers.raw;
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    runner.dispose();
    assert.equal(executor.workers, null);
    await exited; // terminate() stops a worker blocked in wdn_worker_loop
    await assert.rejects(runner.run({ x: fixtureInput() }), /disposed/);
  });
});
