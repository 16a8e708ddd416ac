// Helpers of the wasm backend tests: compiles test/wasm-fixture.c with the Zig toolchain
// (`python -m ziglang cc`) and writes bundles with a hand-written wasm plan around it.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireOrSkip } from './ci.js';
import { packWeights, tempDir } from './helpers.js';

/** Elements per arena slot of the fixture (its -DN). */
export const N = 1000;
/** Memory of the fixture modules, in 64 KiB pages (both variants). */
export const PAGES = 16;

const FIXTURE = fileURLToPath(new URL('./wasm-fixture.c', import.meta.url));
const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** A python that has the ziglang package, or null. */
function findZigPython() {
  const candidates = process.env.WEBDNN_PYTHON ? [process.env.WEBDNN_PYTHON]
    : [join(REPO, '.venv', 'bin', 'python'), join(REPO, '.venv', 'Scripts', 'python.exe'), 'python3', 'python'];
  for (const py of candidates) {
    if (!py || (py.includes('/') && !existsSync(py))) continue;
    const r = spawnSync(py, ['-m', 'ziglang', 'version'], { encoding: 'utf8', timeout: 60000 });
    if (r.status === 0) return py;
  }
  return null;
}

let toolchain; // undefined: not looked up yet; null: not found; else { python, dir, single, threaded }

/**
 * Compiles the fixture once per process; returns { single, threaded } (paths of the .wasm files),
 * or null when the Zig toolchain is not found (tests then skip with `SKIP_REASON`).
 */
export function fixtureModules() {
  if (toolchain !== undefined) return toolchain;
  const python = findZigPython();
  if (!python) {
    toolchain = null;
    return null;
  }
  const { dir, cleanup } = tempDir('webdnn-wasm-fixture-');
  process.on('exit', cleanup);
  const bytes = PAGES * 65536;
  const common = ['-m', 'ziglang', 'cc', '--target=wasm32-freestanding', '-msimd128', '-O3', '-g0', '-ffreestanding',
    '-nostdlib', '-Wl,--no-entry', '-Wl,--export-dynamic', '-Wl,--import-memory', '-Wl,-z,stack-size=65536',
    `-Wl,--initial-memory=${bytes}`, `-Wl,--max-memory=${bytes}`, `-DN=${N}`];
  const threadedFlags = ['-DWDN_THREADS=1', '-matomics', '-mbulk-memory', '-Wl,--shared-memory', '-Wl,--export=__stack_pointer'];
  const build = (out, extra) => {
    const r = spawnSync(python, [...common, ...extra, FIXTURE, '-o', out], { encoding: 'utf8', timeout: 300000 });
    if (r.status !== 0) throw new Error(`zig cc failed (${r.status}):\n${r.stderr}${r.stdout}`);
    return out;
  };
  toolchain = {
    python,
    single: build(join(dir, 'fixture.wasm'), []),
    threaded: build(join(dir, 'fixture-mt.wasm'), threadedFlags),
  };
  return toolchain;
}

export const SKIP_REASON = 'the Zig toolchain was not found (pip install ziglang, or set WEBDNN_PYTHON to a python that has it); ' +
  'skipping the wasm backend tests that compile a module';

/** `{ skip }` option value of the tests that compile the fixture (false, or SKIP_REASON, printed; under CI=true a failure). */
export function wasmSkip() {
  if (fixtureModules()) return false;
  console.log(`# ${SKIP_REASON}`);
  return requireOrSkip(SKIP_REASON);
}

/** The fixture's weight w (the wdn_weights() region). */
export function fixtureWeight() {
  return Float32Array.from({ length: N }, (_, i) => (i % 7) - 3 + 0.5);
}

/** What one fixture segment computes: out[i] = 2 * in[N-1-i] + w[i]. */
export function segmentRef(x, w = fixtureWeight()) {
  return Float32Array.from({ length: N }, (_, i) => Math.fround(2 * x[N - 1 - i] + w[i]));
}

export function fixtureInput() {
  return Float32Array.from({ length: N }, (_, i) => Math.sin(i) * 10);
}

const slot = (k) => ({ region: 'arena', offset: k * N * 4 });

/**
 * Writes a bundle using the fixture modules into a new temporary folder.
 *  - `steps`, `outputs`, extra `values`: the plan (values 0..4 are x, w, a, b, y in slots 0..3 / weights);
 *  - `jsProgram`: also write a js backend program (for fallback tests);
 *  - `moduleThreads: false` leaves the threaded module out; `corrupt: ['single' | 'threaded']`
 *    writes garbage instead of that module.
 * Returns { dir, cleanup }.
 */
export function writeWasmBundle({
  steps = [{ wasm: 0, ops: ['seg0'] }],
  outputs = [2],
  extraValues = [],
  extraConsts = [],
  moduleThreads = true,
  corrupt = [],
  jsProgram = null,
  planOverrides = {},
} = {}) {
  const mods = fixtureModules();
  const { dir, cleanup } = tempDir('webdnn-wasm-');
  const w = fixtureWeight();
  const { bytes, refs } = packWeights(w, ...extraConsts);
  const values = [
    { name: 'x', dtype: 'float32', shape: [N], addr: slot(0) },
    { name: 'w', dtype: 'float32', shape: [N], const: { encoding: 'raw', ...refs[0], dtype: 'float32', shape: [N] },
      addr: { region: 'weights', offset: 0 } },
    { name: 'a', dtype: 'float32', shape: [N], addr: slot(1) },
    { name: 'b', dtype: 'float32', shape: [N], addr: slot(2) },
    { name: 'y', dtype: 'float32', shape: [N], addr: slot(3) },
    ...extraValues.map((v) => (v.constIndex !== undefined
      ? { name: v.name, dtype: v.dtype, shape: v.shape, const: { encoding: 'raw', ...refs[v.constIndex + 1], dtype: v.dtype, shape: v.shape } }
      : v)),
  ];
  const plan = {
    module: 'wasm/model.wasm',
    moduleThreads: moduleThreads ? 'wasm/model-mt.wasm' : null,
    memoryPages: { initial: PAGES, maximum: PAGES },
    maxThreads: 8,
    opsets: { '': 17, 'test.domain': 1 },
    values,
    inputs: [0],
    outputs,
    weights: [1],
    steps,
    ...planOverrides,
  };
  mkdirSync(join(dir, 'wasm'), { recursive: true });
  const put = (which, src, name) => {
    if (corrupt.includes(which)) writeFileSync(join(dir, 'wasm', name), new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 99, 99]));
    else copyFileSync(src, join(dir, 'wasm', name));
  };
  put('single', mods.single, 'model.wasm');
  if (moduleThreads) put('threaded', mods.threaded, 'model-mt.wasm');
  writeFileSync(join(dir, 'wasm', 'plan.json'), JSON.stringify(plan, null, 2));
  const spec = (vi) => ({ name: values[vi].name, shape: values[vi].shape, dtype: values[vi].dtype });
  const backends = { wasm: { plan: 'wasm/plan.json' } };
  if (jsProgram) {
    mkdirSync(join(dir, 'js'), { recursive: true });
    writeFileSync(join(dir, 'js', 'program.json'), JSON.stringify(jsProgram(refs), null, 2));
    backends.js = { program: 'js/program.json' };
  }
  const manifest = {
    format: 'webdnn-bundle',
    formatVersion: 3,
    name: 'wasm-fixture',
    source: { file: 'fixture.onnx', sha256: '0' },
    compiler: { version: '0.1.0', plugins: {} },
    inputs: plan.inputs.map(spec),
    outputs: plan.outputs.map(spec),
    weights: { file: 'weights.bin', byteLength: bytes.byteLength },
    backends,
  };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  writeFileSync(join(dir, 'weights.bin'), bytes);
  return { dir, cleanup };
}

/** The mixed plan: segment 0 (x -> a), a JS step (a -> b), segment 1 (b -> y). */
export function mixedSteps(jsOp) {
  return [
    { wasm: 0, ops: ['seg0'] },
    { js: { domain: '', name: 'js_step', inputs: [2], outputs: [3], attrs: {}, ...jsOp } },
    { wasm: 1, ops: ['seg1'] },
  ];
}

/** Asserts two Float32Arrays are equal element by element (exact). */
export function sameArray(assert, actual, expected, what = 'output') {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) assert.fail(`${what}[${i}] = ${actual[i]}, expected ${expected[i]}`);
  }
}
