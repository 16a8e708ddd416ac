// GEMM / conv micro-benchmark for the wasm kernels (plugins/webdnn-build-wasm/webdnn_build_wasm/csrc).
//   node bench/gemm/bench.mjs [--threads 1,2] [--quick] [--wasm DIR] [--cases REGEX]
// Builds the test module with plugins/webdnn-build-wasm/tests/kernels/build.py (via .venv/bin/python or
// $PYTHON) unless --wasm gives a folder with kernels-st.wasm / kernels-mt.wasm. Reports GFLOP/s and the
// share of the measured 128-bit SIMD mul+add peak (register-only loop in the same module; for nth
// threads the peak is nth x the single-thread peak). Every measurement is warmed up by time (>= 0.5 s).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const kdir = path.join(root, 'plugins/webdnn-build-wasm/tests/kernels');
const { createRunner, setGemm, setConv } = await import(path.join(kdir, 'harness.mjs'));

const argv = process.argv.slice(2);
const opt = (name, dflt) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : dflt; };
const threads = opt('--threads', '1,2').split(',').map(Number);
const quick = argv.includes('--quick');
const only = opt('--cases', null);
const WARM = quick ? 0.3 : 0.5, MEASURE = quick ? 0.4 : 1.5;

let wasmDir = opt('--wasm', null);
if (!wasmDir) {
  wasmDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wdn-gemm-bench-'));
  const py = process.env.PYTHON || path.join(root, '.venv/bin/python');
  execFileSync(fs.existsSync(py) ? py : 'python3', [path.join(kdir, 'build.py'), wasmDir], { stdio: 'inherit' });
}

// The machine may be shared: time many short windows after a warm-up and keep the best one.
function timeit(fn) {
  const now = () => performance.now() / 1e3;
  let t0 = now();
  while (now() - t0 < WARM) fn();
  let best = Infinity;
  const end = now() + MEASURE;
  while (now() < end) {
    let reps = 0;
    const w0 = now();
    let t;
    do { fn(); reps++; t = now(); } while (t - w0 < 0.05);
    best = Math.min(best, (t - w0) / reps);
  }
  return best;
}
const rand = (n) => { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = Math.random() - 0.5; return a; };

const cases = [
  { name: 'gemm 256^3', kind: 'gemm', m: 256, n: 256, k: 256 },
  { name: 'gemm 1024^3', kind: 'gemm', m: 1024, n: 1024, k: 1024 },
  { name: 'gemm 64x3136x576', kind: 'gemm', m: 64, n: 3136, k: 576 },
  { name: 'gemm 128x784x1152', kind: 'gemm', m: 128, n: 784, k: 1152 },
  { name: 'gemm 256x196x2304', kind: 'gemm', m: 256, n: 196, k: 2304 },
  { name: 'gemm 512x49x4608', kind: 'gemm', m: 512, n: 49, k: 4608 },
  { name: 'gemm 512x56x4608', kind: 'gemm', m: 512, n: 56, k: 4608 },
  { name: 'gemm 1280x49x320', kind: 'gemm', m: 1280, n: 49, k: 320 },
  { name: 'gemm 1280x56x320', kind: 'gemm', m: 1280, n: 56, k: 320 },
  // ResNet-50 v1.5 convs (batch 1): 3x3 pad 1
  { name: 'conv3x3 64@56 s1', kind: 'conv', cin: 64, h: 56, cout: 64, k: 3, s: 1, p: 1 },
  { name: 'conv3x3 128@28 s1', kind: 'conv', cin: 128, h: 28, cout: 128, k: 3, s: 1, p: 1 },
  { name: 'conv3x3 256@14 s1', kind: 'conv', cin: 256, h: 14, cout: 256, k: 3, s: 1, p: 1 },
  { name: 'conv3x3 512@7 s1', kind: 'conv', cin: 512, h: 7, cout: 512, k: 3, s: 1, p: 1 },
  { name: 'conv3x3 128@56 s2', kind: 'conv', cin: 128, h: 56, cout: 128, k: 3, s: 2, p: 1 },
  { name: 'conv3x3 256@28 s2', kind: 'conv', cin: 256, h: 28, cout: 256, k: 3, s: 2, p: 1 },
  { name: 'conv1x1 256->64@56', kind: 'conv', cin: 256, h: 56, cout: 64, k: 1, s: 1, p: 0 },
  { name: 'conv1x1 64->256@56', kind: 'conv', cin: 64, h: 56, cout: 256, k: 1, s: 1, p: 0 },
  { name: 'conv1x1 1024->256@14', kind: 'conv', cin: 1024, h: 14, cout: 256, k: 1, s: 1, p: 0 },
  // MobileNetV2: a K = 16 expand conv at 112x112 and the last 1x1 conv over 7x7 = 49 pixels (N edge tiles)
  { name: 'conv1x1 16->96@112', kind: 'conv', cin: 16, h: 112, cout: 96, k: 1, s: 1, p: 0 },
  { name: 'conv1x1 320->1280@7', kind: 'conv', cin: 320, h: 7, cout: 1280, k: 1, s: 1, p: 0 },
  { name: 'conv1x1 24->144@56', kind: 'conv', cin: 24, h: 56, cout: 144, k: 1, s: 1, p: 0 },
  { name: 'conv7x7 3->64@224 s2', kind: 'conv', cin: 3, h: 224, cout: 64, k: 7, s: 2, p: 3 },
  { name: 'dw3x3 144@56 s1', kind: 'conv', cin: 144, h: 56, cout: 144, k: 3, s: 1, p: 1, dw: true },
  { name: 'dw3x3 144@56 s2', kind: 'conv', cin: 144, h: 56, cout: 144, k: 3, s: 2, p: 1, dw: true },
  { name: 'dw3x3 960@7 s1', kind: 'conv', cin: 960, h: 7, cout: 960, k: 3, s: 1, p: 1, dw: true },
  { name: 'dw3x3 32@112 s1', kind: 'conv', cin: 32, h: 112, cout: 32, k: 3, s: 1, p: 1, dw: true },
];

const results = {};
if (only) { const re = new RegExp(only); for (let i = cases.length - 1; i >= 0; i--) if (!re.test(cases[i].name)) cases.splice(i, 1); }
let peak1 = 0;
for (const nth of threads) {
  const r = await createRunner(wasmDir, nth);
  const measurePeak = () => {
    const iters = 2e5;
    peak1 = Math.max(peak1, (iters * 12 * 8) / timeit(() => r.ex.t_peak(iters)) / 1e9);
  };
  measurePeak();
  for (const c of cases) {
    r.reset();
    let flops;
    if (c.kind === 'gemm') {
      const a = r.put(rand(c.m * c.k)), b = r.put(rand(c.k * c.n)), bias = r.put(rand(c.m));
      const y = r.alloc(c.m * c.n * 4);
      const stride = r.ex.t_gemm_scratch(c.m, c.n, c.k);
      const scratch = r.alloc(stride * nth);
      setGemm(r, { m: c.m, n: c.n, k: c.k, ta: 0, tb: 0, a, b, bias, biasKind: 1, alpha: 1, beta: 1, residual: 0,
        y, scratch, stride, act: 1, actA: 0, actB: 0 });
      flops = 2 * c.m * c.n * c.k;
    } else {
      const oh = Math.floor((c.h + 2 * c.p - c.k) / c.s) + 1;
      const group = c.dw ? c.cin : 1;
      const x = r.put(rand(c.cin * c.h * c.h)), weight = r.put(rand(c.cout * (c.cin / group) * c.k * c.k));
      const bias = r.put(rand(c.cout)), y = r.alloc(c.cout * oh * oh * 4);
      const stride = r.ex.t_conv_scratch(c.cin / group, c.k, c.k, oh, oh);
      const scratch = r.alloc(stride * nth);
      setConv(r, { n: 1, cin: c.cin, h: c.h, w: c.h, cout: c.cout, oh, ow: oh, kh: c.k, kw: c.k, sh: c.s, sw: c.s,
        dh: 1, dw: 1, pads: [c.p, c.p, c.p, c.p], group, x, weight, bias, residual: 0, y, scratch, stride,
        act: 1, actA: 0, actB: 0 });
      flops = 2 * c.cout * (c.cin / group) * c.k * c.k * oh * oh;
    }
    const t = timeit(() => r.run());
    (results[c.name] ||= {})[nth] = { ms: t * 1e3, gf: flops / t / 1e9 };
  }
  measurePeak();
  await r.close();
}

console.log(`measured 128-bit SIMD mul+add peak (best window): ${peak1.toFixed(1)} GFLOP/s per thread (Node ${process.version}, ${os.cpus()[0].model})`);
const hdr = ['case'.padEnd(24), ...threads.flatMap((n) => [`${n}T ms`.padStart(9), `${n}T GF/s`.padStart(9), `${n}T %pk`.padStart(8)]),
  ...(threads.length > 1 ? ['speedup'.padStart(8)] : [])];
console.log(hdr.join(' '));
for (const c of cases) {
  const row = [c.name.padEnd(24)];
  for (const n of threads) {
    const v = results[c.name][n];
    row.push(v.ms.toFixed(3).padStart(9), v.gf.toFixed(1).padStart(9), `${(100 * v.gf / (peak1 * n)).toFixed(0)}%`.padStart(8));
  }
  if (threads.length > 1) row.push(`${(results[c.name][threads[0]].ms / results[c.name][threads[threads.length - 1]].ms).toFixed(2)}x`.padStart(8));
  console.log(row.join(' '));
}
process.exit(0);
