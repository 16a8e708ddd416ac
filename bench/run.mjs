// One side of one benchmark configuration (model × backend × threads), in its own Node process.
// bench/bench.py starts this script several times per configuration:
//
//   node bench/run.mjs --side check --bundle DIR --onnx MODEL.onnx --backend wasm --threads 1
//       loads our bundle AND onnxruntime-web, runs each once on the same input, compares every
//       output, exits. Nothing is timed: two runtimes with thread pools in one process slow each
//       other down (each one's spinning worker threads steal the other's cores).
//   node bench/run.mjs --side ours ...     loads only our bundle, warms it up, times it
//   node bench/run.mjs --side ort ...      loads only onnxruntime-web, warms it up, times it
//
// The driver alternates the timing processes, a fresh process for every side and round:
// round 1 ours then ORT, round 2 ORT then ours, ... and reports the median of the round medians.
//
// --backend webgpu: our webgpu backend against onnxruntime-web's WebGPU EP
// (`onnxruntime-web/webgpu`), both on whatever WebGPU the process finds (navigator.gpu, or Dawn from
// the `webgpu` npm package in Node); the adapter's info is recorded. Where ORT's WebGPU EP cannot
// run, `--side check` says so (ort_timeable: false, ort_error) and compares ours against ORT's
// wasm EP instead; the driver then times ours alone.
//
// Input: the bundle's manifest.json names the inputs (name, dtype, shape), the same for every
// process. Each input comes from `--input NAME=FILE.npy` where given, else from a seeded generator
// (N(0, 1) floats, integers in [0, 10)) — identical in every process for the same --seed.
//
// Prints ONE JSON line on stdout (progress goes to stderr). Exit status: 0 ok, 2 bad usage,
// 3 outputs do not match ORT (--side check), 1 anything else.
//
// Timing (--side ours|ort): warm up by time (>= --warmup-s and >= --warmup-min-runs runs: V8 tiers
// hot code up late), then time back-to-back runs, an untimed full GC before each, until there are
// >= --min-runs runs and the measured phase has lasted >= --target-s, or --max-runs is reached, or
// --cap-s is exceeded. Reports median, min, p10, p90 and the CPU that OTHER processes used meanwhile.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { availableParallelism, loadavg } from 'node:os';
import v8 from 'node:v8';
import vm from 'node:vm';

const { values: opt } = parseArgs({
  options: {
    side: { type: 'string', default: 'check' },
    bundle: { type: 'string' },
    onnx: { type: 'string' },
    backend: { type: 'string', default: 'js' },
    threads: { type: 'string', default: '1' },
    model: { type: 'string' },
    input: { type: 'string', multiple: true, default: [] },
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
    'no-gc': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
const SIDES = ['check', 'ours', 'ort'];
if (opt.help || !opt.bundle || !opt.onnx || !SIDES.includes(opt.side)) {
  console.error('usage: node bench/run.mjs --side check|ours|ort --bundle DIR --onnx MODEL.onnx [--backend js] [--threads 1]\n'
    + '  [--input NAME=FILE.npy ...] [--seed 1] [--model NAME] [--macs N]\n'
    + '  timing: [--warmup-s 1] [--warmup-min-runs 2] [--min-runs 15] [--max-runs 500] [--target-s 5] [--cap-s 120] [--no-gc]\n'
    + '  check:  [--atol 1e-3] [--rtol 1e-3]\n'
    + '--onnx is what ORT loads; --bundle is what ours loads (its manifest.json also gives both sides the input specs).');
  process.exit(opt.help ? 0 : 2);
}
const num = (k) => {
  const v = Number(opt[k]);
  if (!Number.isFinite(v)) { console.error(`--${k}: not a number: ${opt[k]}`); process.exit(2); }
  return v;
};
const side = opt.side;
const threads = num('threads');
const backend = opt.backend;
const macs = opt.macs ? Number(opt.macs) : null;
const modelName = opt.model ?? opt.onnx.replace(/^.*\//, '').replace(/\.onnx$/, '');
const log = (...a) => console.error(`[${modelName} ${backend} ${threads}T ${side}]`, ...a);
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const firstLine = (e) => String(e && e.message ? e.message : e).split('\n')[0].slice(0, 300);
const r3 = (x) => (x == null ? null : Math.round(x * 1000) / 1000);

// ---- WebGPU (before onnxruntime-web is imported: it looks for navigator.gpu) -----------------
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

// ---- inputs ---------------------------------------------------------------------------------
const NPY_DTYPES = {
  '<f4': ['float32', Float32Array], '<f8': ['float64', Float64Array],
  '<i4': ['int32', Int32Array], '<i8': ['int64', BigInt64Array],
  '<i2': ['int16', Int16Array], '<u2': ['uint16', Uint16Array], '<u4': ['uint32', Uint32Array],
  '<u8': ['uint64', BigUint64Array], '|i1': ['int8', Int8Array], '|u1': ['uint8', Uint8Array],
  '|b1': ['bool', Uint8Array],
};
/** Reads a NumPy .npy file (format 1.0-3.0, little-endian, C order) as { dtype, shape, data }. */
function readNpy(path) {
  const buf = readFileSync(path);
  if (buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${path}: not a .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || shapeText == null) throw new Error(`${path}: unreadable .npy header ${header}`);
  if (fortran) throw new Error(`${path}: Fortran-ordered arrays are not supported`);
  const entry = NPY_DTYPES[descr.replace(/^=/, '<')];
  if (!entry) throw new Error(`${path}: unsupported dtype ${descr}`);
  const [dtype, Ctor] = entry;
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const n = shape.reduce((a, b) => a * b, 1);
  const offset = start + headerLen;
  const bytes = buf.buffer.slice(buf.byteOffset + offset, buf.byteOffset + offset + n * Ctor.BYTES_PER_ELEMENT);
  return { dtype, shape, data: new Ctor(bytes) };
}

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
function randomData(spec, rand) {
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
    default: throw new Error(`input ${spec.name}: no seeded generator for dtype ${spec.dtype} (give --input ${spec.name}=FILE.npy)`);
  }
}

/** The model's inputs as [{ name, dtype, shape, data }], in manifest order, the same in every process. */
function makeInputs() {
  const manifest = JSON.parse(readFileSync(join(opt.bundle, 'manifest.json'), 'utf8'));
  const files = new Map(opt.input.map((s) => {
    const eq = s.indexOf('=');
    if (eq <= 0) { console.error(`--input ${s}: expected NAME=FILE.npy`); process.exit(2); }
    return [s.slice(0, eq), s.slice(eq + 1)];
  }));
  for (const name of files.keys()) {
    if (!manifest.inputs.some((s) => s.name === name)) throw new Error(`--input ${name}: the model has no such input`);
  }
  const rand = mulberry32(num('seed'));
  return manifest.inputs.map((spec) => {
    const file = files.get(spec.name);
    if (file) {
      const a = readNpy(file);
      if (a.dtype !== spec.dtype) throw new Error(`input ${spec.name}: ${file} holds ${a.dtype}, the model takes ${spec.dtype}`);
      const fits = spec.shape == null || (spec.shape.length === a.shape.length
        && spec.shape.every((d, i) => typeof d !== 'number' || d === a.shape[i]));
      if (!fits) throw new Error(`input ${spec.name}: ${file} has shape [${a.shape}], the model takes [${spec.shape}]`);
      return { name: spec.name, dtype: a.dtype, shape: a.shape, data: a.data, from: file };
    }
    if (!spec.shape || spec.shape.some((d) => !(d > 0))) {
      throw new Error(`input ${spec.name} has a dynamic shape [${spec.shape}]: give --input ${spec.name}=FILE.npy`);
    }
    return { name: spec.name, dtype: spec.dtype, shape: spec.shape, data: randomData(spec, rand), from: `seed ${opt.seed}` };
  });
}

// ---- the two runtimes, each behind { run(), release(), loadMs, ... } ---------------------------
async function openOurs(inputs) {
  const { load } = await import('webdnn-runtime');
  const t0 = performance.now();
  const ours = await load(opt.bundle, { backends: [backend], threads });
  const loadMs = performance.now() - t0;
  if (ours.backend !== backend) {
    const why = (ours.fallbackLog ?? []).map((f) => `${f.backend}: ${f.reason}`).join('; ');
    ours.dispose();
    throw new Error(`asked for backend ${backend}, got ${ours.backend}${why ? ` (${why})` : ''}`);
  }
  const feeds = Object.fromEntries(inputs.map((x) => [x.name, { data: x.data, shape: x.shape, dtype: x.dtype }]));
  return { loadMs, run: () => ours.run(feeds), release: async () => ours.dispose() };
}

let ortModule = null;
async function importOrt() {
  // Its WebGPU build for --backend webgpu (which also has the wasm EP), else the default (which
  // resolves to the Node wasm build).
  ortModule ??= backend === 'webgpu' ? await import('onnxruntime-web/webgpu') : await import('onnxruntime-web');
  // numThreads must be set before the first session is created.
  // webgpu: the GPU does the work; ORT's wasm part runs single-threaded.
  ortModule.env.wasm.numThreads = backend === 'webgpu' ? 1 : threads;
  ortModule.env.logLevel = 'error';
  return ortModule;
}
/** ep: 'wasm' or 'webgpu'. */
async function openOrt(inputs, ep) {
  const ort = await importOrt();
  const t0 = performance.now();
  const onnxBytes = new Uint8Array(await readFile(opt.onnx));
  const session = await ort.InferenceSession.create(onnxBytes, { executionProviders: [ep], graphOptimizationLevel: 'all' });
  const loadMs = performance.now() - t0;
  const feeds = Object.fromEntries(inputs.map((x) => [x.name, new ort.Tensor(x.dtype, x.data, x.shape)]));
  return {
    loadMs, ep, outputNames: session.outputNames,
    run: () => session.run(feeds),
    release: () => session.release(),
  };
}

// ---- correctness: one run each, every output compared ----------------------------------------
async function check(result, inputs) {
  const opened = [];
  try {
    const ours = await openOurs(inputs);
    opened.push(ours);
    let t = performance.now();
    const a = await ours.run();
    result.ours_load_ms = r3(ours.loadMs);
    result.ours_first_run_ms = r3(performance.now() - t);

    // ORT with the EP it is timed on; for webgpu, where ORT's WebGPU EP cannot load or run,
    // ours is checked against ORT's wasm EP and the driver times ours alone.
    const eps = backend === 'webgpu' ? ['webgpu', 'wasm'] : ['wasm'];
    let ort = null, b = null;
    for (const ep of eps) {
      try {
        ort = await openOrt(inputs, ep);
        opened.push(ort);
        t = performance.now();
        b = await ort.run();
        break;
      } catch (e) {
        if (ep === eps[eps.length - 1]) throw e;
        result.ort_error = `onnxruntime-web ${ep} EP failed${ort ? ' to run' : ''}: ${firstLine(e)}`;
        log(result.ort_error);
        try { await ort?.release(); } catch { /* ignore */ }
        ort = null;
      }
    }
    result.ort_ep = ort.ep;
    result.ort_timeable = backend !== 'webgpu' || ort.ep === 'webgpu';
    result.ort_load_ms = r3(ort.loadMs);
    result.ort_first_run_ms = r3(performance.now() - t);

    let maxAbs = 0, maxRef = 0, worst = 0; // worst = max |d| / (atol + rtol·|ref|)
    const atol = num('atol'), rtol = num('rtol');
    for (const name of ort.outputNames) {
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
    if (!result.match) result.error = `outputs differ from ORT: max abs diff ${maxAbs} (atol ${atol}, rtol ${rtol})`;
    return result.match ? 0 : 3;
  } finally {
    for (const r of opened) { try { await r.release(); } catch { /* ignore */ } }
  }
}

// ---- timing: one runtime in this process ----------------------------------------------------
function quantile(sorted, q) {
  const pos = (sorted.length - 1) * q, lo = Math.floor(pos), hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}
// CPU time the whole machine spent busy (all cores, from /proc/stat), in ms; null off Linux.
function machineBusyMs() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = f;
    return ((user + nice + system + irq + softirq + (steal || 0)) * 1000) / 100; // USER_HZ = 100
  } catch { return null; }
}
// This process's CPU time, worker threads (ORT's pool, our wasm threads) included.
const ownCpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };

async function timeSide(result, inputs) {
  const runner = side === 'ours' ? await openOurs(inputs) : await openOrt(inputs, backend === 'webgpu' ? 'webgpu' : 'wasm');
  try {
    result.load_ms = r3(runner.loadMs);
    let t = performance.now();
    await runner.run();
    result.first_run_ms = r3(performance.now() - t);

    // Warm-up by time: V8 tiers hot JS and wasm code up late.
    const warmupMs = num('warmup-s') * 1000, warmupMin = num('warmup-min-runs');
    t = performance.now();
    let n = 0;
    while (n < warmupMin || performance.now() - t < warmupMs) { await runner.run(); n++; }
    result.warmup = { runs: n, ms: r3(performance.now() - t) };

    // A full GC (untimed) before every timed run, so that no run pays for an earlier one's garbage.
    const fullGc = opt['no-gc'] ? null : (v8.setFlagsFromString('--expose-gc'), vm.runInNewContext('gc'));
    result.gc_between_runs = !!fullGc;
    const minRuns = num('min-runs'), maxRuns = num('max-runs');
    const targetMs = num('target-s') * 1000, capMs = num('cap-s') * 1000;
    const times = [];
    const busy0 = machineBusyMs(), own0 = ownCpuMs();
    const start = performance.now();
    for (;;) {
      const elapsed = performance.now() - start;
      if (times.length >= maxRuns) break;
      if (times.length >= minRuns && elapsed >= targetMs) break;
      if (elapsed >= capMs && times.length >= 3) { result.capped = true; break; }
      fullGc?.();
      const t0 = performance.now();
      await runner.run();
      times.push(performance.now() - t0);
    }
    const wallMs = performance.now() - start;
    const busy1 = machineBusyMs();
    if (busy0 != null && busy1 != null) {
      // Cores' worth of CPU used by OTHER processes while we measured (0 = quiet machine).
      result.foreign_cores = r3(Math.max(0, (busy1 - busy0) - (ownCpuMs() - own0)) / wallMs);
    }
    const s = times.sort((x, y) => x - y);
    Object.assign(result, {
      runs: s.length, measure_s: r3(wallMs / 1000),
      median_ms: r3(quantile(s, 0.5)), min_ms: r3(s[0]), p10_ms: r3(quantile(s, 0.1)), p90_ms: r3(quantile(s, 0.9)),
      mean_ms: r3(s.reduce((x, y) => x + y, 0) / s.length),
    });
    if (macs) result.gflops = r3((2 * macs) / (result.median_ms * 1e6));
    log(`median ${result.median_ms} ms (min ${result.min_ms}, p90 ${result.p90_ms}, ${s.length} runs, `
      + `warm-up ${n} runs, other load ${result.foreign_cores ?? 'n/a'} cores)`);
    return 0;
  } finally {
    try { await runner.release(); } catch { /* ignore */ }
  }
}

// ---- main -----------------------------------------------------------------------------------
const result = {
  side, model: modelName, backend, threads, ok: false,
  node: process.version, cores: availableParallelism(), macs, loadavg_start: loadavg()[0],
};
let status = 1;
try {
  if (backend === 'webgpu') {
    const gpu = await setupWebGPU();
    result.adapter = gpu.adapterInfo ?? null;
    if (gpu.reason) throw new Error(gpu.reason);
    log(`adapter: ${JSON.stringify(result.adapter)}`);
  }
  if (side !== 'ours') {
    const ort = await importOrt();
    result.ort_version = ort.env.versions?.web ?? ort.env.versions?.common ?? 'unknown';
  }
  const inputs = makeInputs();
  result.inputs = Object.fromEntries(inputs.map((x) => [x.name, { dtype: x.dtype, shape: x.shape, from: x.from }]));
  status = side === 'check' ? await check(result, inputs) : await timeSide(result, inputs);
  result.ok = status === 0;
  result.loadavg_end = loadavg()[0];
} catch (e) {
  result.error = e && e.stack ? e.stack : String(e);
  status = 1;
}
emit(result);
// Worker threads (ORT's, ours) would keep the process alive.
process.exit(status);
