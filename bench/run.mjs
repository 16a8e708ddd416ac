// One benchmark configuration (model × backend × threads) in one Node process:
// a webdnn-build bundle against onnxruntime-web (wasm EP) on the same .onnx and the same input.
// With --backend webgpu: our webgpu backend against onnxruntime-web's WebGPU EP
// (`onnxruntime-web/webgpu`), both on the same WebGPU implementation (navigator.gpu, or Dawn from
// the `webgpu` npm package in Node); the adapter's info is recorded. Where ORT's WebGPU EP cannot
// run, ours is timed alone (ort_ms null, ort_error says why) and checked against ORT's wasm EP.
//
//   node bench/run.mjs --bundle DIR --onnx MODEL.onnx --backend js --threads 1 [--macs N]
//
// Prints ONE JSON line on stdout (progress goes to stderr). Exit status: 0 ok, 2 bad usage,
// 3 outputs do not match ORT (nothing is timed then, unless --no-check), 1 anything else.
//
// Method: load both, run both once and compare outputs; warm each up by time (>= --warmup-s,
// at least --warmup-min-runs runs: V8 tiers hot code up late); then alternate ours/ORT (the order
// flips every round) until each has >= --min-runs runs and the measured phase has lasted
// >= --target-s, or --max-runs is reached, or --cap-s is exceeded. Reports the median (plus min,
// p90) per side, the ratio ours/ORT of the medians, and GFLOP/s = 2·MACs / median.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { availableParallelism, loadavg } from 'node:os';
import v8 from 'node:v8';
import vm from 'node:vm';
import { load } from 'webdnn-runtime';

const { values: opt } = parseArgs({
  options: {
    bundle: { type: 'string' },
    onnx: { type: 'string' },
    backend: { type: 'string', default: 'js' },
    threads: { type: 'string', default: '1' },
    model: { type: 'string' },
    macs: { type: 'string' },
    seed: { type: 'string', default: '1' },
    'warmup-s': { type: 'string', default: '1' },
    'warmup-min-runs': { type: 'string', default: '2' },
    'min-runs': { type: 'string', default: '15' },
    'max-runs': { type: 'string', default: '500' },
    'target-s': { type: 'string', default: '5' },
    'cap-s': { type: 'string', default: '120' },
    atol: { type: 'string', default: '1e-3' },
    rtol: { type: 'string', default: '1e-3' },
    'no-check': { type: 'boolean', default: false },
    'no-gc': { type: 'boolean', default: false },
    'gap-ms': { type: 'string', default: '0' },
    block: { type: 'string', default: '4' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help || !opt.bundle || !opt.onnx) {
  console.error('usage: node bench/run.mjs --bundle DIR --onnx MODEL.onnx [--backend js] [--threads 1] [--macs N]\n'
    + '  [--model NAME] [--seed 1] [--warmup-s 1] [--min-runs 15] [--max-runs 500] [--target-s 5] [--cap-s 120]\n'
    + '  [--atol 1e-3] [--rtol 1e-3] [--no-check] [--no-gc] [--gap-ms 0] [--block 4]');
  process.exit(opt.help ? 0 : 2);
}
const num = (k) => {
  const v = Number(opt[k]);
  if (!Number.isFinite(v)) { console.error(`--${k}: not a number: ${opt[k]}`); process.exit(2); }
  return v;
};
const threads = num('threads');
const backend = opt.backend;
const macs = opt.macs ? Number(opt.macs) : null;
const modelName = opt.model ?? opt.onnx.replace(/^.*\//, '').replace(/\.onnx$/, '');
const log = (...a) => console.error(`[${modelName} ${backend} ${threads}T]`, ...a);

// ---- WebGPU (before onnxruntime-web is imported: it looks for navigator.gpu) -----------------
let gpuSetup = null; // { gpu, adapterInfo } or { reason }
if (backend === 'webgpu') gpuSetup = await setupWebGPU();

async function setupWebGPU() {
  let gpu = globalThis.navigator?.gpu;
  if (!gpu) {
    let mod;
    try {
      mod = await import('webgpu'); // Dawn: an optional dependency of js-runtime, at the repo root
    } catch (e) {
      return { reason: `no WebGPU: the webgpu package (Dawn) is not installed (${String(e.message).split('\n')[0]})` };
    }
    try {
      Object.assign(globalThis, mod.globals); // GPUBufferUsage, GPUQueue, ... as in a browser
      gpu = mod.create([]);
    } catch (e) {
      return { reason: `the webgpu package (Dawn) failed to start: ${e.message}` };
    }
    Object.defineProperty(globalThis, 'navigator', { value: { ...(globalThis.navigator ?? {}), gpu }, configurable: true, writable: true });
  }
  // Dawn's queue.writeBuffer rejects views of a SharedArrayBuffer ("Invalid argument"), which is
  // what onnxruntime-web's threaded wasm heap is: copy such data first (browsers accept it).
  const Queue = globalThis.GPUQueue;
  if (Queue?.prototype?.writeBuffer && !Queue.prototype.writeBuffer.__benchShim) {
    const writeBuffer = Queue.prototype.writeBuffer;
    const shim = function (buffer, offset, data, dataOffset, size) {
      if (ArrayBuffer.isView(data) && typeof SharedArrayBuffer !== 'undefined' && data.buffer instanceof SharedArrayBuffer) {
        const start = dataOffset ?? 0; // in elements for typed arrays, like size
        const n = size ?? (data.length - start);
        data = data.slice(start, start + n);
        return writeBuffer.call(this, buffer, offset, data, 0, n);
      }
      return writeBuffer.apply(this, arguments);
    };
    shim.__benchShim = true;
    Queue.prototype.writeBuffer = shim;
  }
  let adapterInfo = null;
  try {
    const adapter = await gpu.requestAdapter();
    if (!adapter) return { gpu, reason: 'WebGPU has no adapter here (requestAdapter() returned null)' };
    const info = adapter.info ?? (typeof adapter.requestAdapterInfo === 'function' ? await adapter.requestAdapterInfo() : null);
    if (info) adapterInfo = { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description };
  } catch (e) {
    return { gpu, reason: `requestAdapter() failed: ${e.message}` };
  }
  return { gpu, adapterInfo };
}

// onnxruntime-web: its WebGPU build for --backend webgpu (also has the wasm EP), else the default
// (which resolves to the Node wasm build).
const ort = backend === 'webgpu' ? await import('onnxruntime-web/webgpu') : await import('onnxruntime-web');
const ortVersion = ort.env.versions?.web ?? ort.env.versions?.common ?? 'unknown';

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// ---- seeded input ---------------------------------------------------------------------------
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function makeInput(spec, rand) {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  switch (spec.dtype) {
    case 'float32': case 'float64': {
      const data = spec.dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
      for (let i = 0; i < n; i++) { // N(0, 1) by Box-Muller
        const u = 1 - rand(), v = rand();
        data[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
      }
      return data;
    }
    case 'int32': return Int32Array.from({ length: n }, () => Math.floor(rand() * 10));
    case 'int64': return BigInt64Array.from({ length: n }, () => BigInt(Math.floor(rand() * 10)));
    default: throw new Error(`input ${spec.name}: unsupported dtype ${spec.dtype}`);
  }
}

// ---- statistics -----------------------------------------------------------------------------
function quantile(sorted, q) {
  const pos = (sorted.length - 1) * q, lo = Math.floor(pos), hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}
function stats(times) {
  const s = [...times].sort((a, b) => a - b);
  return {
    median: quantile(s, 0.5), min: s[0], p10: quantile(s, 0.1), p90: quantile(s, 0.9),
    mean: s.reduce((a, b) => a + b, 0) / s.length, runs: s.length,
  };
}
// A full GC before every timed run (not timed): garbage one side leaves behind would otherwise
// be collected by V8's background threads while the other side runs (they compete with ORT's
// worker threads for the cores).
let fullGc = null;
if (!opt['no-gc']) {
  v8.setFlagsFromString('--expose-gc');
  fullGc = vm.runInNewContext('gc');
}
// CPU time the whole machine spent busy (all cores, from /proc/stat), in ms; null off Linux.
function machineBusyMs() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = f;
    return ((user + nice + system + irq + softirq + (steal || 0)) * 1000) / 100; // USER_HZ = 100
  } catch { return null; }
}
const ownCpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
const r3 = (x) => (x == null ? null : Math.round(x * 1000) / 1000);

// ---- main -----------------------------------------------------------------------------------
const result = {
  model: modelName, backend, threads, ok: false,
  node: process.version, ort_version: ortVersion, cores: availableParallelism(), macs,
  loadavg_start: loadavg()[0], gc_between_runs: !!fullGc,
};
const firstLine = (e) => String(e && e.message ? e.message : e).split('\n')[0].slice(0, 300);
let ours, session;
try {
  if (gpuSetup) {
    result.adapter = gpuSetup.adapterInfo ?? null;
    if (gpuSetup.reason) throw new Error(gpuSetup.reason);
    log(`adapter: ${JSON.stringify(result.adapter)}`);
  }
  // ORT first: numThreads must be set before the first session is created.
  // webgpu: the GPU does the work; ORT's wasm part runs single-threaded.
  ort.env.wasm.numThreads = backend === 'webgpu' ? 1 : threads;
  ort.env.logLevel = 'error';
  let t0 = performance.now();
  const onnxBytes = new Uint8Array(await readFile(opt.onnx));
  let ortTimed = true;
  if (backend === 'webgpu') {
    result.ort_ep = 'webgpu';
    try {
      session = await ort.InferenceSession.create(onnxBytes, {
        executionProviders: ['webgpu'], graphOptimizationLevel: 'all',
      });
    } catch (e) {
      // Time ours alone; check it against ORT's wasm EP instead.
      result.ort_error = `onnxruntime-web WebGPU EP failed: ${firstLine(e)}`;
      log(result.ort_error);
      ortTimed = false;
      result.ort_ep = 'wasm (reference only, not timed)';
      session = await ort.InferenceSession.create(onnxBytes, {
        executionProviders: ['wasm'], graphOptimizationLevel: 'all',
      });
    }
  } else {
    session = await ort.InferenceSession.create(onnxBytes, {
      executionProviders: ['wasm'], graphOptimizationLevel: 'all',
    });
  }
  result.ort_load_ms = r3(performance.now() - t0);

  t0 = performance.now();
  ours = await load(opt.bundle, { backends: [backend], threads });
  result.ours_load_ms = r3(performance.now() - t0);
  if (ours.backend !== backend) {
    const why = (ours.fallbackLog ?? []).map((f) => `${f.backend}: ${f.reason}`).join('; ');
    throw new Error(`asked for backend ${backend}, got ${ours.backend}${why ? ` (${why})` : ''}`);
  }

  // Same seeded input for both.
  const rand = mulberry32(num('seed'));
  const oursFeeds = {}, ortFeeds = {};
  for (const spec of ours.inputs) {
    if (spec.shape.some((d) => !(d > 0))) throw new Error(`input ${spec.name} has a dynamic shape [${spec.shape}]`);
    const data = makeInput(spec, rand);
    oursFeeds[spec.name] = { data, shape: spec.shape, dtype: spec.dtype };
    ortFeeds[spec.name] = new ort.Tensor(spec.dtype, data, spec.shape);
  }
  const ortOutputNames = session.outputNames;
  const runOurs = () => ours.run(oursFeeds);
  const runOrt = () => session.run(ortFeeds);
  const runNothing = async () => {};

  // ---- correctness: compare every output against ORT --------------------------------------
  let t1 = performance.now();
  const a = await runOurs();
  result.ours_first_run_ms = r3(performance.now() - t1);
  t1 = performance.now();
  let b;
  try {
    b = await runOrt();
  } catch (e) {
    if (backend !== 'webgpu' || !ortTimed) throw e;
    // ORT's WebGPU session loaded but cannot run: same fallback as above.
    result.ort_error = `onnxruntime-web WebGPU EP failed to run: ${firstLine(e)}`;
    log(result.ort_error);
    ortTimed = false;
    result.ort_ep = 'wasm (reference only, not timed)';
    try { await session.release(); } catch { /* ignore */ }
    session = await ort.InferenceSession.create(onnxBytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    b = await runOrt();
  }
  result.ort_first_run_ms = r3(performance.now() - t1);
  let maxAbs = 0, maxRef = 0, worst = 0; // worst = max |d| / (atol + rtol·|ref|)
  const atol = num('atol'), rtol = num('rtol');
  for (const name of ortOutputNames) {
    if (!a[name]) throw new Error(`our bundle has no output '${name}' (has: ${Object.keys(a).join(', ')})`);
    const x = a[name].data, y = b[name].data;
    if (x.length !== y.length) throw new Error(`output ${name}: ${x.length} elements, ORT has ${y.length}`);
    for (let i = 0; i < x.length; i++) {
      const xv = Number(x[i]), yv = Number(y[i]);
      const d = Math.abs(xv - yv);
      maxAbs = Math.max(maxAbs, Number.isNaN(d) ? Infinity : d);
      maxRef = Math.max(maxRef, Math.abs(yv));
      worst = Math.max(worst, Number.isNaN(d) ? Infinity : d / (atol + rtol * Math.abs(yv)));
    }
  }
  result.max_abs_diff = maxAbs;
  result.max_abs_ref = maxRef;
  result.match = worst <= 1;
  log(`max |ours - ORT| = ${maxAbs.toExponential(3)} (max |ORT| = ${maxRef.toFixed(3)}) ${result.match ? 'ok' : 'MISMATCH'}`);
  if (!result.match && !opt['no-check']) {
    result.error = `outputs differ from ORT: max abs diff ${maxAbs} (atol ${atol}, rtol ${rtol})`;
    emit(result);
    process.exit(3);
  }

  // ---- warm-up by time ------------------------------------------------------------------------
  const warmupMs = num('warmup-s') * 1000, warmupMin = num('warmup-min-runs');
  async function warm(fn) {
    const t = performance.now();
    let n = 0;
    while (n < warmupMin || performance.now() - t < warmupMs) { await fn(); n++; }
    return { runs: n, ms: r3(performance.now() - t) };
  }
  result.warmup_ours = await warm(runOurs);
  result.warmup_ort = ortTimed ? await warm(runOrt) : null;
  log(`warm-up: ours ${result.warmup_ours.runs} runs, ORT ${result.warmup_ort?.runs ?? 'n/a'} runs`);

  // ---- measured, alternating ------------------------------------------------------------------
  const minRuns = num('min-runs'), maxRuns = num('max-runs');
  const gapMs = num('gap-ms');
  const block = Math.max(1, num('block'));
  result.gap_ms = gapMs;
  result.block = block;
  const targetMs = num('target-s') * 1000, capMs = num('cap-s') * 1000;
  const tOurs = [], tOrt = [];
  const busy0 = machineBusyMs(), own0 = ownCpuMs();
  const start = performance.now();
  for (let i = 0; ; i++) {
    const elapsed = performance.now() - start;
    if (tOurs.length >= maxRuns) break;
    if (tOurs.length >= minRuns && elapsed >= targetMs) break;
    if (elapsed >= capMs && tOurs.length >= 3) { result.capped = true; break; }
    const other = ortTimed ? runOrt : runNothing;
    const order = i % 2 === 0 ? [[runOurs, tOurs], [other, tOrt]] : [[other, tOrt], [runOurs, tOurs]];
    if (!ortTimed) order.splice(order.findIndex(([, t]) => t === tOrt), 1);
    for (const [fn, times] of order) {
      // Blocks of back-to-back runs, the first of each untimed: a multi-threaded runtime leaves its
      // worker threads spinning for a while after a run (onnxruntime-web's pool does), which steals
      // the cores from the other side's threads right after a switch. Inside a block each side runs
      // like an app that infers frame after frame.
      await fn();
      for (let b = 0; b < block; b++) {
        fullGc?.();
        if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
        const t = performance.now();
        await fn();
        times.push(performance.now() - t);
      }
    }
  }
  const wallMs = performance.now() - start;
  result.measure_s = r3(wallMs / 1000);
  const busy1 = machineBusyMs();
  if (busy0 != null && busy1 != null) {
    // Cores' worth of CPU used by OTHER processes while we measured (0 = quiet machine).
    result.foreign_cores = r3(Math.max(0, (busy1 - busy0) - (ownCpuMs() - own0)) / wallMs);
  }
  const so = stats(tOurs), sr = ortTimed ? stats(tOrt) : null;
  result.runs = so.runs;
  result.ours_ms = r3(so.median);
  result.ort_ms = sr ? r3(sr.median) : null;
  result.ratio = sr ? r3(so.median / sr.median) : null;
  result.ours_min_ms = r3(so.min); result.ours_p90_ms = r3(so.p90);
  result.ort_min_ms = sr ? r3(sr.min) : null; result.ort_p90_ms = sr ? r3(sr.p90) : null;
  if (macs) {
    result.ours_gflops = r3((2 * macs) / (so.median * 1e6));
    result.ort_gflops = sr ? r3((2 * macs) / (sr.median * 1e6)) : null;
  }
  result.loadavg_end = loadavg()[0];
  result.ok = true;
  log(`ours ${result.ours_ms} ms, ORT ${result.ort_ms ?? 'n/a'} ms, ratio ${result.ratio ?? 'n/a'} (${so.runs} runs each)`);
  emit(result);
} catch (e) {
  result.error = e && e.stack ? e.stack : String(e);
  emit(result);
  process.exitCode = 1;
} finally {
  try { ours?.dispose(); } catch { /* ignore */ }
  try { await session?.release(); } catch { /* ignore */ }
}
// ORT's (and our) worker threads would keep the process alive.
process.exit(process.exitCode ?? 0);
