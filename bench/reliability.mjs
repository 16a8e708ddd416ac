// Reliability measurements of the runtime (issue 8, item 5): resource use over many runs and many
// load/dispose cycles per backend, and concurrent runs. A measurement, not a timed test (the quick
// checks are js-runtime/test/lifetime.test.js); tools/reliability_report.py turns the JSON into
// docs/reliability.md.
//
//   node --expose-gc bench/reliability.mjs [--runs 10000] [--cycles 200] [--concurrency 64]
//        [--backends js,wasm,webgpu] [--bundle DIR] [--threads N] [--json out.json]
//
// (Without --expose-gc the script restarts itself with it.) For webgpu in Node run
// `eval "$(tools/setup-webgpu.sh --no-install)"` first. Without --bundle, the fixture of
// js-runtime/test/lifetime-helpers.js is built (MatMul 4x16 @ 16x8 + Add + Relu, webgpu,wasm,js,
// 64 inputs with onnxruntime's outputs); with --bundle, the js backend's sequential results on
// generated inputs are the reference. Every run's output is checked against the reference.
// Memory figures are taken after global.gc(): JS heap = process.memoryUsage().heapUsed; wasm memory
// = the wasm backend's memory.buffer.byteLength (runner.stats().wasmMemoryBytes, 0 on other backends);
// GPU buffers = buffers the webgpu backend created minus those it destroyed (runner.stats().gpuBuffers
// for one runner, resourceCounters().gpuBuffersLive for the whole process).
//
// JSON written by --json (and printed on stdout), all sizes in bytes:
// {
//   "version": 1, "date": ISO time, "node": process.version, "platform": "linux x64",
//   "bundle": folder, "reference": "onnxruntime 1.x" | "js backend, sequential",
//   "settings": { runs, cycles, concurrency, warmup_runs, samples, threads (--threads or null) },
//   "backends": { <backend>: {            // N consecutive runs on one runner
//       "runs": N, "wrong": runs whose output differed from the reference (> 1e-5 relative),
//       "max_error": largest relative error, "ms_per_run": mean wall time per run,
//       "heap_start", "heap_end", "heap_growth": heap_end - heap_start,   (after warm-up, gc'd)
//       "heap_samples": [[runs so far, heapUsed], ...] (samples + 1 points, gc'd),
//       "rss_start", "rss_end",
//       "wasm_start", "wasm_end" (wasm memory; 0 off the wasm backend),
//       "gpu_buffers_start", "gpu_buffers_end" (live GPU buffers of the runner),
//       "gpu_buffers_process_start", "gpu_buffers_process_end" (live GPU buffers in the process),
//       "adapter": WebGPU adapter description (webgpu only), "threads": runner.threads,
//       "thread_reason": why the wasm backend uses fewer threads (runner.threadInfo.reason) }
//     | { "skipped": reason } | { "error": message } },
//   "cycles": { <backend>: {              // C x (load, one run, dispose) in this process
//       "cycles": C, "completed": cycles that ran, "wrong": wrong outputs, "ms_per_cycle",
//       "heap_start", "heap_end", "heap_growth", "rss_start", "rss_end",
//       "gpu_buffers_start", "gpu_buffers_end", "gpu_devices_start", "gpu_devices_end"
//       (process-wide live counts: equal start/end = nothing leaked), "gpu_buffers_created" }
//     | { "skipped": reason } | { "error": message, "completed": n } },
//   "concurrency": { <backend>: {         // M run() calls issued at once on one runner
//       "calls": M, "correct": calls whose result matched their own input's reference,
//       "max_error", "ms": wall time for all M,
//       "dispose_queued": { "queued": runs queued behind an executing one when dispose() was called,
//         "rejected": of those, rejected with "this runner has been disposed",
//         "other": settled any other way, "in_flight_ok": the executing run resolved correctly,
//         "run_after_dispose_rejected": a later run() rejected } }
//     | { "skipped": reason } | { "error": message } }
// }
// Exit status: 0 when every measured run and cycle gave the right result and nothing errored, 1 otherwise.

import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { arch, platform } from 'node:os';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { load, resourceCounters } from '../js-runtime/src/index.js';

if (typeof globalThis.gc !== 'function') {
  const r = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

const { values: opt } = parseArgs({
  options: {
    runs: { type: 'string', default: '10000' },
    cycles: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '64' },
    backends: { type: 'string', default: 'js,wasm,webgpu' },
    bundle: { type: 'string' },
    json: { type: 'string' },
    samples: { type: 'string', default: '10' },
    'warmup-runs': { type: 'string', default: '200' },
    threads: { type: 'string' },
  },
});
const int = (name) => {
  const n = Number(opt[name]);
  if (!Number.isInteger(n) || n < 0) { console.error(`--${name} must be a non-negative integer`); process.exit(2); }
  return n;
};
const RUNS = int('runs');
const CYCLES = int('cycles');
const CONCURRENCY = int('concurrency');
const SAMPLES = Math.max(1, int('samples'));
const WARMUP = int('warmup-runs');
const LOAD_OPTIONS = opt.threads ? { threads: Number(opt.threads) } : {};
const BACKENDS = opt.backends.split(',').map((s) => s.trim()).filter(Boolean);
const TOLERANCE = 1e-5;
const log = (...a) => console.error('reliability:', ...a);

/** { dir, inputs, outputs, reference }: the bundle and its inputs with reference outputs. */
async function fixture() {
  if (!opt.bundle) {
    const { lifetimeFixture } = await import('../js-runtime/test/lifetime-helpers.js');
    const f = lifetimeFixture();
    if (f.reason) throw new Error(`cannot build the fixture bundle: ${f.reason} (or pass --bundle DIR)`);
    return f;
  }
  // a given bundle: seeded inputs for its (single, float32) input, the js backend as reference
  const ref = await load(opt.bundle, { backends: ['js'] });
  if (ref.inputs.length !== 1 || ref.inputs[0].dtype !== 'float32' || !ref.inputs[0].shape?.every(Number.isInteger)) {
    throw new Error('--bundle: only bundles with one float32 input of static shape are supported');
  }
  const n = ref.inputs[0].shape.reduce((a, b) => a * b, 1);
  let seed = 1;
  const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 * 2 - 1; };
  const inputs = Array.from({ length: 64 }, () => Float32Array.from({ length: n }, rnd));
  const first = ref.outputs[0].name;
  const outputs = [];
  for (const x of inputs) outputs.push((await ref.run({ [ref.inputs[0].name]: x }))[first].data);
  await ref.dispose();
  return { dir: opt.bundle, inputs, outputs, reference: 'js backend, sequential', inputName: ref.inputs[0].name, outputName: first };
}

const F = await fixture();
const inName = F.inputName ?? 'x';
const outName = F.outputName ?? 'y';
const feed = (k) => ({ [inName]: F.inputs[k % F.inputs.length] });

function relError(actual, expected) {
  if (actual.length !== expected.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.abs(actual[i] - expected[i]) / (1 + Math.abs(expected[i]));
    if (Number.isNaN(e)) return NaN;
    if (e > worst) worst = e;
  }
  return worst;
}
const errorOf = (out, k) => relError(out[outName].data, F.outputs[k % F.outputs.length]);
const isWrong = (e) => !(e <= TOLERANCE);

function heap() {
  globalThis.gc();
  globalThis.gc();
  return process.memoryUsage().heapUsed;
}
const rss = () => process.memoryUsage().rss;
const message = (e) => (e && e.message ? e.message : String(e));

/** Loads on `backend` alone; { runner } or { skipped } when the backend is not usable here. */
async function open(backend) {
  try {
    return { runner: await load(F.dir, { ...LOAD_OPTIONS, backends: [backend] }) };
  } catch (e) {
    return { skipped: message(e).replace(/^no usable backend for bundle [^\n]*:\n {2}- /, '') };
  }
}

async function measureRuns(backend) {
  const { runner, skipped } = await open(backend);
  if (!runner) return { skipped };
  try {
    for (let k = 0; k < WARMUP; k++) await runner.run(feed(k));
    const r = {
      runs: RUNS, wrong: 0, max_error: 0, ms_per_run: 0, threads: runner.threads, thread_reason: runner.threadInfo?.reason ?? null,
      heap_start: heap(), heap_end: 0, heap_growth: 0, heap_samples: [],
      rss_start: rss(), rss_end: 0,
      wasm_start: runner.stats().wasmMemoryBytes, wasm_end: 0,
      gpu_buffers_start: runner.stats().gpuBuffers, gpu_buffers_end: 0,
      gpu_buffers_process_start: resourceCounters().gpuBuffersLive, gpu_buffers_process_end: 0,
    };
    if (backend === 'webgpu') {
      const info = runner._executor?.adapterInfo;
      r.adapter = info ? [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || null : null;
    }
    r.heap_samples.push([0, r.heap_start]);
    const every = Math.max(1, Math.ceil(RUNS / SAMPLES));
    let ms = 0;
    for (let k = 0; k < RUNS; k++) {
      const t0 = performance.now();
      const out = await runner.run(feed(k));
      ms += performance.now() - t0;
      const e = errorOf(out, k);
      if (isWrong(e)) r.wrong++;
      if (!(e <= r.max_error)) r.max_error = e;
      if ((k + 1) % every === 0 || k + 1 === RUNS) r.heap_samples.push([k + 1, heap()]);
    }
    r.ms_per_run = RUNS ? ms / RUNS : 0;
    r.heap_end = heap();
    r.heap_growth = r.heap_end - r.heap_start;
    r.rss_end = rss();
    r.wasm_end = runner.stats().wasmMemoryBytes;
    r.gpu_buffers_end = runner.stats().gpuBuffers;
    r.gpu_buffers_process_end = resourceCounters().gpuBuffersLive;
    return r;
  } catch (e) {
    return { error: message(e) };
  } finally {
    await runner.dispose();
  }
}

async function measureCycles(backend) {
  const probe = await open(backend);
  if (!probe.runner) return { skipped: probe.skipped };
  await probe.runner.dispose();
  const c0 = resourceCounters();
  const r = {
    cycles: CYCLES, completed: 0, wrong: 0, ms_per_cycle: 0,
    heap_start: heap(), heap_end: 0, heap_growth: 0, rss_start: rss(), rss_end: 0,
    gpu_buffers_start: c0.gpuBuffersLive, gpu_buffers_end: 0,
    gpu_devices_start: c0.gpuDevicesLive, gpu_devices_end: 0, gpu_buffers_created: 0,
  };
  const t0 = performance.now();
  try {
    for (let i = 0; i < CYCLES; i++) {
      const runner = await load(F.dir, { ...LOAD_OPTIONS, backends: [backend] });
      try {
        if (isWrong(errorOf(await runner.run(feed(i)), i))) r.wrong++;
      } finally {
        await runner.dispose();
      }
      r.completed++;
      if ((i + 1) % 50 === 0) log(`${backend}: ${i + 1}/${CYCLES} cycles`);
    }
  } catch (e) {
    r.error = message(e);
  }
  r.ms_per_cycle = r.completed ? (performance.now() - t0) / r.completed : 0;
  r.heap_end = heap();
  r.heap_growth = r.heap_end - r.heap_start;
  r.rss_end = rss();
  const c1 = resourceCounters();
  r.gpu_buffers_end = c1.gpuBuffersLive;
  r.gpu_devices_end = c1.gpuDevicesLive;
  r.gpu_buffers_created = c1.gpuBuffersCreated - c0.gpuBuffersCreated;
  return r;
}

async function measureConcurrency(backend) {
  const { runner, skipped } = await open(backend);
  if (!runner) return { skipped };
  const r = { calls: CONCURRENCY, correct: 0, max_error: 0, ms: 0 };
  try {
    const t0 = performance.now();
    const outs = await Promise.all(Array.from({ length: CONCURRENCY }, (_, k) => runner.run(feed(k))));
    r.ms = performance.now() - t0;
    outs.forEach((o, k) => {
      const e = errorOf(o, k);
      if (!isWrong(e)) r.correct++;
      if (!(e <= r.max_error)) r.max_error = e;
    });
    // dispose() with one run executing and 8 queued behind it
    const first = runner.run(feed(0));
    await new Promise((res) => setImmediate(res));
    const queued = Array.from({ length: 8 }, (_, k) => runner.run(feed(k + 1)));
    const released = runner.dispose();
    const d = { queued: queued.length, rejected: 0, other: 0, in_flight_ok: false, run_after_dispose_rejected: false };
    d.in_flight_ok = await first.then((o) => !isWrong(errorOf(o, 0)), () => false);
    for (const s of await Promise.allSettled(queued)) {
      if (s.status === 'rejected' && s.reason instanceof Error && /this runner has been disposed/.test(s.reason.message)) d.rejected++;
      else d.other++;
    }
    await released;
    d.run_after_dispose_rejected = await runner.run(feed(0)).then(() => false, (e) => e instanceof Error && /disposed/.test(e.message));
    r.dispose_queued = d;
    return r;
  } catch (e) {
    return { ...r, error: message(e) };
  } finally {
    await runner.dispose();
  }
}

const result = {
  version: 1,
  date: new Date().toISOString(),
  node: process.version,
  platform: `${platform()} ${arch()}`,
  bundle: F.dir,
  reference: F.reference,
  settings: { runs: RUNS, cycles: CYCLES, concurrency: CONCURRENCY, warmup_runs: WARMUP, samples: SAMPLES, threads: LOAD_OPTIONS.threads ?? null },
  backends: {},
  cycles: {},
  concurrency: {},
};
for (const backend of BACKENDS) {
  log(`${backend}: ${CONCURRENCY} concurrent runs`);
  result.concurrency[backend] = await measureConcurrency(backend);
  log(`${backend}: ${RUNS} runs`);
  result.backends[backend] = await measureRuns(backend);
  log(`${backend}: ${CYCLES} load/dispose cycles`);
  result.cycles[backend] = await measureCycles(backend);
}

const text = JSON.stringify(result, null, 2);
if (opt.json) writeFileSync(opt.json, `${text}\n`);
console.log(text);
const bad = Object.values(result.backends).some((r) => r.error || r.wrong)
  || Object.values(result.cycles).some((r) => r.error || r.wrong)
  || Object.values(result.concurrency).some((r) => r.error || (r.calls !== undefined && r.correct !== r.calls)
    || (r.dispose_queued && (r.dispose_queued.other || !r.dispose_queued.in_flight_ok || !r.dispose_queued.run_after_dispose_rejected)));
process.exit(bad ? 1 : 0);
