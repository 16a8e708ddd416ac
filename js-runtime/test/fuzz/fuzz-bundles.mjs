#!/usr/bin/env node
// Fuzzes the runtime with corrupted bundles (issue 8, item 4, runtime half).
//
//   node js-runtime/test/fuzz/fuzz-bundles.mjs --cases 2000 --seed 1 --json out.json
//     [--backends js,wasm,webgpu] [--bundles DIR] [--workers 2] [--timeout 10000] [--verbose]
//
// Takes small valid bundles (built from two tiny ONNX models with webdnn-build unless --bundles
// names a folder of bundles), mutates one of their files in memory per case (manifest.json, the
// backend's plan/program, weight shards, model.wasm; see MUTATIONS), loads the result with
// load() - through the file map reader (blob: URLs) for most cases, through a temp folder for
// one case in eight - on one backend, runs it once with a valid input and classifies it. Files the
// manifest's "integrity" table lists keep their stale digest (corruption: load() must refuse them),
// except half of the plan edits, which re-hash ("+rehashed") to reach the structural checks:
//
//   ok        load() and run() resolved (a mutation may leave the bundle valid, or change numbers)
//   rejected  load() or run() rejected cleanly (see cleanRejection())
//   crash     anything else: a thrown non-Error, an engine error (TypeError, RangeError,
//             ReferenceError, SyntaxError other than a wrapped JSON parse error) that our code did
//             not raise itself, a wasm trap (WebAssembly.RuntimeError) anywhere in the error chain,
//             an empty message, or the case's child process dying (out of memory, a native crash)
//   hang      the case took longer than --timeout ms (default 10 s): its child is killed
//
// Cases run in child processes (--workers of them, each running many cases); a hang or a dead
// child is counted against the case it was running and a fresh child takes over. The PRNG is
// seeded per case from (--seed, case index), so a case can be replayed alone (--only INDEX).
//
// Writes { cases, ok, rejected, crashes, hangs, by_mutation: { name: { cases, ok, rejected,
// crashes, hangs } } } to --json (read by tools/reliability_report.py); prints a summary, and the
// first crashes and hangs with their case index and error.

import { fork, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, '..', '..', '..');
const RUNTIME = join(HERE, '..', '..', 'src');

// ---------------------------------------------------------------------------------------------
// PRNG (mulberry32 over a 32-bit hash of seed and case index)

function hash32(...parts) {
  let h = 0x811c9dc5;
  for (const p of parts) {
    for (const ch of String(p)) { h ^= ch.charCodeAt(0); h = Math.imul(h, 0x01000193); }
    h ^= 0x2c; h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(next() * n);
  return { next, int, pick: (arr) => arr[int(arr.length)], chance: (p) => next() < p };
}

// ---------------------------------------------------------------------------------------------
// Fixtures: small valid bundles

/** Two tiny models: an MLP (MatMul, Add, fill constant, int64 Reshape shape, Softmax) and tiny_cnn. */
const MAKE_MODELS = String.raw`
import sys, numpy as np, onnx
from onnx import helper as h, TensorProto as T, numpy_helper as nh
out = sys.argv[1]
W = nh.from_array(np.arange(12, dtype=np.float32).reshape(4, 3) / 10, 'W')
B = nh.from_array(np.zeros((3,), np.float32), 'B')
S = nh.from_array(np.array([1, 3], np.int64), 'S')
nodes = [
  h.make_node('MatMul', ['x', 'W'], ['m'], name='mm'),
  h.make_node('Add', ['m', 'B'], ['a'], name='add'),
  h.make_node('Relu', ['a'], ['r'], name='relu'),
  h.make_node('Reshape', ['r', 'S'], ['rs'], name='reshape'),
  h.make_node('Softmax', ['rs'], ['y'], name='sm', axis=1),
]
g = h.make_graph(nodes, 'mlp', [h.make_tensor_value_info('x', T.FLOAT, [1, 4])],
                 [h.make_tensor_value_info('y', T.FLOAT, [1, 3])], [W, B, S])
onnx.save(h.make_model(g, opset_imports=[h.make_opsetid('', 17)]), out + '/mlp.onnx')
sys.path.insert(0, sys.argv[2])
import generate
onnx.save(generate.build_tiny_cnn(), out + '/tiny_cnn.onnx')
`;

/** Builds the fixture bundles into `dir` (needs the repository's .venv); returns dir. */
export function buildFixtures(dir) {
  const py = process.env.WEBDNN_PYTHON ?? join(REPO, '.venv', 'bin', 'python');
  const build = process.env.WEBDNN_BUILD ?? join(REPO, '.venv', 'bin', 'webdnn-build');
  if (!existsSync(py) || !existsSync(build)) {
    throw new Error(`cannot build the fuzz bundles: ${py} or ${build} is missing (make the .venv, or pass --bundles DIR)`);
  }
  const models = join(dir, 'onnx');
  mkdirSync(models, { recursive: true });
  let r = spawnSync(py, ['-c', MAKE_MODELS, models, join(REPO, 'examples', 'models')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`making the fuzz models failed:\n${r.stderr}`);
  for (const name of ['mlp', 'tiny_cnn']) {
    r = spawnSync(build, ['build', join(models, `${name}.onnx`), '-o', join(dir, name), '--backends', 'js,wasm,webgpu'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`webdnn-build ${name} failed:\n${r.stderr}`);
  }
  return dir;
}

function listFiles(dir, base = dir, out = {}) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) listFiles(p, base, out);
    else out[relative(base, p).split(sep).join('/')] = new Uint8Array(readFileSync(p));
  }
  return out;
}

/** The bundles under `dir` (folders with a manifest.json): [{ name, files: { relPath: bytes } }]. */
export function readFixtures(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    if (!existsSync(join(dir, name, 'manifest.json'))) continue;
    out.push({ name, files: listFiles(join(dir, name)) });
  }
  if (!out.length) throw new Error(`no bundles (folders with a manifest.json) in ${dir}`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Mutations

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Numbers that break dims, offsets, sizes and indices (NaN/Infinity only survive in a manifest object). */
const BAD_NUMBERS = [-1, -7, -(2 ** 31), 1.5, 0, 3, 65537, 2 ** 31 + 1, 2 ** 32, 2 ** 40, 2 ** 53, 2 ** 53 + 2, 1e300, -0.5];
const BAD_NUMBERS_OBJ = [...BAD_NUMBERS, NaN, Infinity, -Infinity];
const HOSTILE_PATHS = ['../outside-weights.bin', '/etc/passwd', 'http://evil.example/w.bin', 'wasm/../../x', '..\\..\\x',
  '%2e%2e/x', 'wasm//plan.json', '', 'file:///etc/passwd', 'weights/000.bin\0.txt', './weights/000.bin', 'C:/x', 'weights/../../x'];

/** A value of another type than `v`. */
function otherType(rng, v, allowSpecial) {
  const options = [null, true, 'x', '', [], {}, [1, 2], { a: 1 }, 0, -1, 'weights.bin', [[[]]]];
  if (allowSpecial) options.push(NaN, Infinity, undefined);
  for (;;) {
    const o = rng.pick(options);
    if (typeof o !== typeof v || Array.isArray(o) !== Array.isArray(v)) return o;
  }
}

/** Every [container, key] in a JSON tree (depth first). */
function slots(root) {
  const out = [];
  const visit = (node) => {
    if (node === null || typeof node !== 'object') return;
    for (const key of Object.keys(node)) {
      out.push([node, key]);
      visit(node[key]);
    }
  };
  visit(root);
  return out;
}

function numberSlots(root) {
  return slots(root).filter(([o, k]) => typeof o[k] === 'number');
}

/** Const descriptors in a JSON tree. */
function constSlots(root) {
  return slots(root).filter(([o, k]) => o[k] && typeof o[k] === 'object' && typeof o[k].encoding === 'string');
}

function truncate(rng, bytes) {
  return bytes.slice(0, rng.int(bytes.byteLength));
}

function bitflip(rng, bytes) {
  const out = bytes.slice();
  const flips = 1 + rng.int(rng.chance(0.7) ? 2 : 16);
  for (let i = 0; i < flips && out.length; i++) out[rng.int(out.length)] ^= 1 << rng.int(8);
  return out;
}

function overwrite(rng, bytes) {
  const out = bytes.slice();
  if (!out.length) return out;
  const at = rng.int(out.length);
  const n = Math.min(out.length - at, 1 + rng.int(64));
  for (let i = 0; i < n; i++) out[at + i] = rng.int(256);
  return out;
}

/** JSON tree edits shared by manifest and plans; `special`: NaN etc. allowed (a manifest object). */
const TREE_EDITS = {
  'delete-key': (rng, tree) => { const s = slots(tree); if (!s.length) return false; const [o, k] = rng.pick(s); if (Array.isArray(o)) o.splice(Number(k), 1); else delete o[k]; return true; },
  'change-type': (rng, tree, special) => { const s = slots(tree); if (!s.length) return false; const [o, k] = rng.pick(s); o[k] = otherType(rng, o[k], special); return true; },
  'bad-number': (rng, tree, special) => { const s = numberSlots(tree); if (!s.length) return false; const [o, k] = rng.pick(s); o[k] = rng.pick(special ? BAD_NUMBERS_OBJ : BAD_NUMBERS); return true; },
  'const': (rng, tree, special) => {
    const s = constSlots(tree);
    if (!s.length) return false;
    const [o, k] = rng.pick(s);
    const c = o[k];
    const num = () => rng.pick(special ? BAD_NUMBERS_OBJ : BAD_NUMBERS);
    switch (rng.int(7)) {
      case 0: if (Array.isArray(c.shape) && c.shape.length) c.shape[rng.int(c.shape.length)] = num(); else c.shape = [num()]; break;
      case 1: c.offset = num(); break;
      case 2: c.byteLength = num(); break;
      case 3: c.encoding = rng.pick(['raw', 'fill', 'json', 'zip', '']); break;
      case 4: c.dtype = rng.pick(['float16', 'int64', 'string', 'bool', 'complex64', 'constructor', 'uint64']); break;
      case 5: c.value = rng.pick(['nan', 'x', [1, 2, 3], null, { a: 1 }, 1e300, -1, '99999999999999999999', true]); break;
      default: c.shape = rng.pick([[], [0], [2 ** 40], 7, null, 'x', [-1, -1], [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]]);
    }
    return true;
  },
  'index': (rng, tree) => {
    // value indices: inputs/outputs/weights lists and op inputs/outputs
    const s = slots(tree).filter(([o, k]) => Array.isArray(o) && typeof o[k] === 'number');
    if (!s.length) return false;
    const [o, k] = rng.pick(s);
    o[k] = rng.pick([-2, -1, 1e6, 2 ** 31, 0.5, o[k] + 1, o[k] - 1]);
    return true;
  },
  'path': (rng, tree) => {
    const s = slots(tree).filter(([o, k]) => ['file', 'plan', 'program', 'module', 'moduleThreads'].includes(k) && typeof o[k] === 'string');
    if (!s.length) return false;
    const [o, k] = rng.pick(s);
    o[k] = rng.pick(HOSTILE_PATHS);
    return true;
  },
};

/** The file each backend's program is in (its manifest entry names it). */
function programFile(manifest, backend) {
  const e = manifest.backends?.[backend];
  return backend === 'js' ? e?.program : e?.plan;
}

/**
 * Makes case `index`: { fixture, backend, mutation, files (relPath -> bytes), manifestObject?, reader }.
 * A mutation that does not apply to the chosen fixture falls back to a byte-level one.
 */
export function makeCase(fixtures, backends, seed, index) {
  const rng = prng(hash32(seed, index));
  const fixture = rng.pick(fixtures);
  const manifest = JSON.parse(dec.decode(fixture.files['manifest.json']));
  const usable = backends.filter((b) => manifest.backends?.[b]);
  const backend = rng.pick(usable.length ? usable : backends);
  const files = { ...fixture.files };
  const reader = rng.chance(1 / 8) ? 'folder' : 'map';
  const c = { fixture: fixture.name, backend, files, reader, manifestObject: undefined };

  const kinds = ['manifest', 'manifest', 'program', 'program', 'program', 'weights'];
  if (backend === 'wasm') kinds.push('wasm', 'wasm');
  const kind = rng.pick(kinds);

  // one JSON tree edit (repeated up to 4 times), chosen among those that apply to the file
  const editTree = (file, edits, special) => {
    const original = JSON.parse(dec.decode(files[file]));
    for (const edit of [...edits].sort(() => rng.next() - 0.5)) {
      const tree = structuredClone(original);
      const n = edit === 'path' ? 1 : 1 + (rng.chance(0.25) ? rng.int(4) : 0);
      let applied = false;
      for (let i = 0; i < n; i++) applied = TREE_EDITS[edit](rng, tree, special) || applied;
      if (applied) return { tree, edit };
    }
    return { tree: original, edit: 'none' };
  };
  const MANIFEST_EDITS = ['delete-key', 'change-type', 'bad-number', 'index'];
  const PLAN_EDITS = ['delete-key', 'change-type', 'bad-number', 'const', 'const', 'index', 'path'];

  if (kind === 'manifest') {
    const how = rng.pick(['truncate', 'bytes', 'tree', 'tree', 'tree', 'object', 'object', 'path', 'weights-length']);
    if (how === 'truncate') { files['manifest.json'] = truncate(rng, files['manifest.json']); c.mutation = 'manifest.truncate'; }
    else if (how === 'bytes') { files['manifest.json'] = rng.chance(0.5) ? bitflip(rng, files['manifest.json']) : overwrite(rng, files['manifest.json']); c.mutation = 'manifest.bytes'; }
    else if (how === 'weights-length') {
      const m = structuredClone(manifest);
      const target = m.weights?.shards?.length && rng.chance(0.5) ? rng.pick(m.weights.shards) : m.weights;
      const key = target === m.weights ? rng.pick(['byteLength', 'shardSize']) : rng.pick(['byteLength', 'storedLength']);
      if (target) target[key] = rng.pick([0, 1, (target[key] ?? 16) - 1, (target[key] ?? 16) + 1, -1, 2 ** 53, 2 ** 31]);
      files['manifest.json'] = enc.encode(JSON.stringify(m));
      c.mutation = 'manifest.weights-length';
    } else if (how === 'path') {
      const m = structuredClone(manifest);
      const field = rng.pick(['weights', ...Object.keys(m.backends)]);
      const p = rng.pick(HOSTILE_PATHS);
      if (field === 'weights' && m.weights?.shards?.length) { const sh = rng.pick(m.weights.shards); files[p] = files[sh.file]; sh.file = p; }
      else if (field === 'weights') { m.weights = { ...(m.weights ?? {}), file: p }; files[p] = new Uint8Array(0); }
      else { const e = m.backends[field]; const key = 'program' in e ? 'program' : 'plan'; files[p] = files[e[key]]; e[key] = p; }
      files['manifest.json'] = enc.encode(JSON.stringify(m)); // a permissive map even has the file
      c.mutation = 'manifest.path';
    } else {
      // a JSON tree edit; 'object': the manifest handed over as an object (NaN, Infinity, undefined survive)
      const special = how === 'object';
      const { tree, edit } = editTree('manifest.json', MANIFEST_EDITS, special);
      if (special) { c.manifestObject = tree; c.reader = 'map'; } else files['manifest.json'] = enc.encode(JSON.stringify(tree));
      c.mutation = `manifest.${special ? 'object-' : ''}${edit}`;
    }
  } else if (kind === 'program') {
    const file = programFile(manifest, backend);
    const how = rng.pick(['truncate', 'tree', 'tree', 'tree', 'tree', 'tree']);
    if (how === 'truncate') { files[file] = truncate(rng, files[file]); c.mutation = `${backend}-plan.truncate`; }
    else {
      const { tree, edit } = editTree(file, PLAN_EDITS);
      files[file] = enc.encode(JSON.stringify(tree));
      c.mutation = `${backend}-plan.${edit}`;
    }
    // Corruption leaves the manifest's digest stale (load() must refuse it). Half the plan edits also
    // update the digest, as a buggy compiler would: those test the runtime's structural checks.
    // Modules are never re-hashed: a wasm module is code, and its digest is what stops a corrupted one.
    if (manifest.integrity && Object.hasOwn(manifest.integrity, file) && rng.chance(0.5)) {
      const m = structuredClone(manifest);
      m.integrity[file] = createHash('sha256').update(files[file]).digest('hex');
      files['manifest.json'] = enc.encode(JSON.stringify(m));
      c.mutation += '+rehashed';
    }
  } else if (kind === 'weights') {
    // one weight shard; half the time its digest in the manifest follows (the loader's structural checks)
    const shards = manifest.weights?.shards ?? [];
    const i = shards.length ? rng.int(shards.length) : -1;
    const file = i >= 0 ? shards[i].file : 'weights/000.bin';
    const w = files[file] ?? new Uint8Array(0);
    const how = rng.pick(['truncate', 'bitflip', 'bitflip', 'overwrite', 'extend']);
    files[file] = how === 'truncate' ? truncate(rng, w) : how === 'bitflip' ? bitflip(rng, w)
      : how === 'overwrite' ? overwrite(rng, w) : new Uint8Array([...w, ...new Uint8Array(1 + rng.int(32))]);
    c.mutation = `weights.${how}`;
    if (i >= 0 && rng.chance(0.5)) {
      const m = structuredClone(manifest);
      m.weights.shards[i].sha256 = createHash('sha256').update(files[file]).digest('hex');
      files['manifest.json'] = enc.encode(JSON.stringify(m));
      c.mutation += '+rehashed';
    }
  } else {
    const plan = JSON.parse(dec.decode(files[programFile(manifest, 'wasm')]));
    const how = rng.pick(['truncate', 'bitflip', 'bitflip', 'overwrite']);
    const w = files[plan.module];
    files[plan.module] = how === 'truncate' ? truncate(rng, w) : how === 'bitflip' ? bitflip(rng, w) : overwrite(rng, w);
    c.mutation = `wasm-module.${how}`;
  }
  c.inputs = manifest.inputs;
  return c;
}

// ---------------------------------------------------------------------------------------------
// Classification

/** Engine error classes: thrown by JS itself, not by our code (unless listed in OUR_ENGINE_CLASS_ERRORS). */
const ENGINE_ERRORS = ['TypeError', 'RangeError', 'ReferenceError', 'SyntaxError', 'EvalError', 'URIError', 'InternalError', 'AggregateError'];

/**
 * Messages of TypeErrors/RangeErrors our own code raises on purpose (feed validation of run()), and
 * wrappers that deliberately carry an engine error as their cause (a JSON parse error, a refused
 * wasm memory allocation).
 */
const OUR_ENGINE_CLASS_ERRORS = [/^input '/, /^run\(feeds\)/, /^load\(/];
const DELIBERATE_WRAPS = [/is not valid JSON/, /^cannot read bundle .*: manifest\.json/, /^cannot allocate \d+ bytes of (shared )?wasm memory/];

/**
 * Why `e` is not a clean rejection, or null when it is. Clean: an Error with a message, whose
 * chain (e, e.cause, ...) holds no wasm trap and no engine error that our code did not raise itself
 * or deliberately wrap.
 */
export function crashReason(e, { moduleCorrupted = false } = {}) {
  if (!(e instanceof Error)) return `a non-Error was thrown: ${typeof e} ${String(e).slice(0, 200)}`;
  if (!e.message) return `an Error without a message (${e.name})`;
  const chain = [];
  for (let x = e; x instanceof Error && chain.length < 20; x = x.cause) chain.push(x);
  for (let i = 0; i < chain.length; i++) {
    const x = chain[i];
    if (typeof WebAssembly !== 'undefined' && x instanceof WebAssembly.RuntimeError) {
      // only a corrupted module may trap, and the trap must come back as our Error naming the step
      if (moduleCorrupted && i > 0 && /^wasm segment /.test(chain[i - 1].message)) continue;
      return `a wasm trap: ${x.message}`;
    }
    if (!ENGINE_ERRORS.includes(x.name)) continue;
    if (OUR_ENGINE_CLASS_ERRORS.some((re) => re.test(x.message))) continue;
    const wrapper = chain[i - 1];
    if (wrapper && DELIBERATE_WRAPS.some((re) => re.test(wrapper.message))) continue;
    const at = String(x.stack ?? '').split('\n').slice(1, 3).map((l) => l.trim()).join(' < ');
    return `${x.name}: ${x.message}${i > 0 ? ` (inside: ${chain[0].message.slice(0, 300)})` : ''} ${at}`;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Child: runs cases

async function child() {
  const { load } = await import(join(RUNTIME, 'index.js'));
  const { openBundle } = await import(join(RUNTIME, 'bundle.js'));
  const { getBackend } = await import(join(RUNTIME, 'backends', 'registry.js'));
  let fixtures = null;
  let config = null;
  const tmp = mkdtempSync(join(tmpdir(), 'webdnn-fuzz-'));
  process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

  const feedsFor = (inputs) => {
    const feeds = {};
    for (const spec of inputs) {
      const dims = (spec.shape ?? []).map((d) => (typeof d === 'number' && d >= 0 ? d : 1));
      const n = dims.reduce((a, b) => a * b, 1);
      const Ctor = { float32: Float32Array, int64: BigInt64Array, int32: Int32Array, uint8: Uint8Array, bool: Uint8Array, float64: Float64Array }[spec.dtype] ?? Float32Array;
      const data = new Ctor(n);
      for (let i = 0; i < n; i++) data[i] = Ctor === BigInt64Array ? BigInt(i % 7) : (i % 7) / 7;
      feeds[spec.name] = { data, shape: dims, dtype: spec.dtype };
    }
    return feeds;
  };

  async function runCase(c) {
    const options = { backends: [c.backend], threads: 1 };
    let source;
    let folder = null;
    const urls = [];
    if (c.reader === 'folder') {
      folder = mkdtempSync(join(tmp, 'b-'));
      for (const [rel, bytes] of Object.entries(c.files)) {
        // paths that leave the bundle are not written (the runtime must refuse them before reading)
        if (!rel || rel.startsWith('/') || rel.includes('..') || rel.includes('\\') || rel.includes('\0') || rel.includes(':') || rel.includes('//') || rel.startsWith('./')) continue;
        mkdirSync(dirname(join(folder, rel)), { recursive: true });
        writeFileSync(join(folder, rel), bytes);
      }
      source = folder;
    } else {
      const files = {};
      for (const [rel, bytes] of Object.entries(c.files)) {
        const url = URL.createObjectURL(new Blob([bytes]));
        urls.push(url);
        files[rel] = url;
      }
      source = { files, label: `fuzz:${c.fixture}` };
      if (c.manifestObject !== undefined) source.manifest = c.manifestObject;
    }
    try {
      let runner;
      try {
        runner = await load(source, options);
      } catch (e) {
        if (!e?.fallbackLog) return outcome(e, c);
        // load() reports a backend's failure as text: recreate that backend alone for its error object
        let inner = null;
        try {
          const bundle = await openBundle(source);
          const ex = await getBackend(c.backend).create(bundle, bundle.manifest.backends[c.backend], options);
          ex.dispose();
        } catch (e2) {
          inner = e2;
        }
        const why = inner ? crashReason(inner, c) : null;
        if (why) return { outcome: 'crash', detail: why, message: e.message.slice(0, 500) };
        return outcome(e, c);
      }
      try {
        await runner.run(feedsFor(c.inputs));
        return { outcome: 'ok' };
      } catch (e) {
        return outcome(e, c);
      } finally {
        runner.dispose();
      }
    } finally {
      for (const u of urls) URL.revokeObjectURL(u);
      if (folder) rmSync(folder, { recursive: true, force: true });
    }
  }

  function outcome(e, c) {
    const why = crashReason(e, c);
    return why ? { outcome: 'crash', detail: why, message: String(e?.message ?? e).slice(0, 500) }
      : { outcome: 'rejected', message: e.message.slice(0, 300) };
  }

  process.on('message', async (msg) => {
    if (msg.type === 'init') {
      config = msg;
      fixtures = readFixtures(msg.bundles);
      process.send({ type: 'ready' });
      return;
    }
    if (msg.type === 'case') {
      const c = makeCase(fixtures, config.backends, config.seed, msg.index);
      c.moduleCorrupted = c.mutation.startsWith('wasm-module.');
      process.send({ type: 'start', index: msg.index, mutation: c.mutation, backend: c.backend, fixture: c.fixture });
      let result;
      try {
        result = await runCase(c);
      } catch (e) {
        result = { outcome: 'crash', detail: `the harness itself failed: ${e?.stack ?? e}` };
      }
      process.send({ type: 'done', index: msg.index, mutation: c.mutation, ...result });
    }
  });
  // an unhandled rejection or exception in our code (a stray promise) is a crash of the case
  process.on('unhandledRejection', (e) => { process.send({ type: 'stray', detail: `unhandled rejection: ${e?.stack ?? e}` }); });
  process.on('uncaughtException', (e) => { process.send({ type: 'stray', detail: `uncaught exception: ${e?.stack ?? e}` }); });
}

// ---------------------------------------------------------------------------------------------
// Parent: schedules cases over child processes

function parseArgs(argv) {
  const args = { cases: 200, seed: 1, json: null, backends: ['js', 'wasm'], bundles: null, workers: 2, timeout: 10000, verbose: false, only: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => { if (i + 1 >= argv.length) throw new Error(`${a} needs a value`); return argv[++i]; };
    if (a === '--cases') args.cases = Number(val());
    else if (a === '--seed') args.seed = Number(val());
    else if (a === '--json') args.json = val();
    else if (a === '--backends') args.backends = val().split(',').filter(Boolean);
    else if (a === '--bundles') args.bundles = val();
    else if (a === '--workers') args.workers = Number(val());
    else if (a === '--timeout') args.timeout = Number(val());
    else if (a === '--only') args.only = Number(val());
    else if (a === '--verbose') args.verbose = true;
    else if (a === '--child') args.child = true;
    else throw new Error(`unknown argument ${a} (see the header of ${fileURLToPath(import.meta.url)})`);
  }
  for (const k of ['cases', 'seed', 'workers', 'timeout']) {
    if (!Number.isInteger(args[k]) || args[k] < (k === 'seed' ? 0 : 1)) throw new Error(`--${k} must be a positive integer`);
  }
  return args;
}

/**
 * Runs the fuzzer; returns { summary, problems }: summary is the JSON written by --json,
 * problems lists { index, mutation, outcome, detail } for crashes and hangs.
 */
export async function fuzz({ cases, seed, backends, bundles, workers = 2, timeout = 10000, verbose = false, only = null, log = console.log }) {
  let cleanup = null;
  if (!bundles) {
    const dir = mkdtempSync(join(tmpdir(), 'webdnn-fuzz-bundles-'));
    cleanup = () => rmSync(dir, { recursive: true, force: true });
    bundles = buildFixtures(dir);
  }
  const summary = { cases: 0, ok: 0, rejected: 0, crashes: 0, hangs: 0, by_mutation: {} };
  const problems = [];
  const KEY = { ok: 'ok', rejected: 'rejected', crash: 'crashes', hang: 'hangs' };
  const record = (mutation, kind, index, detail, message) => {
    summary.cases++;
    summary[KEY[kind]]++;
    const m = (summary.by_mutation[mutation] ??= { cases: 0, ok: 0, rejected: 0, crashes: 0, hangs: 0 });
    m.cases++;
    m[KEY[kind]]++;
    if (kind === 'crash' || kind === 'hang') problems.push({ index, mutation, outcome: kind, detail, message });
    if (verbose) log(`#${index} ${mutation}: ${kind}${detail ? ` - ${detail}` : message ? ` - ${message}` : ''}`);
  };

  const indices = only !== null ? [only] : Array.from({ length: cases }, (_, i) => i);
  let next = 0;
  const self = fileURLToPath(import.meta.url);

  const runWorker = () => new Promise((resolveWorker) => {
    let proc = null;
    let current = null; // { index, mutation, timer }
    let stray = null;
    const start = () => {
      proc = fork(self, ['--child'], { execArgv: ['--max-old-space-size=1024'], stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'advanced' });
      let stderr = '';
      proc.stderr.on('data', (d) => { stderr = (stderr + d).slice(-2000); });
      proc.on('message', (msg) => {
        if (msg.type === 'ready') dispatch();
        else if (msg.type === 'start') current.mutation = msg.mutation;
        else if (msg.type === 'stray') stray ??= msg.detail;
        else if (msg.type === 'done') {
          clearTimeout(current.timer);
          const { index } = current;
          current = null;
          if (stray && msg.outcome !== 'crash') record(msg.mutation, 'crash', index, stray);
          else record(msg.mutation, msg.outcome, index, msg.detail, msg.message);
          stray = null;
          dispatch();
        }
      });
      proc.on('exit', (code, signal) => {
        if (!current) return; // finished or killed for a hang
        clearTimeout(current.timer);
        const { index, mutation } = current;
        current = null;
        record(mutation ?? 'unknown', 'crash', index, `the child process died (code ${code}, signal ${signal}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
        start();
      });
      proc.send({ type: 'init', bundles, backends, seed });
    };
    const dispatch = () => {
      if (next >= indices.length) { proc.removeAllListeners('exit'); proc.kill(); resolveWorker(); return; }
      const index = indices[next++];
      current = { index, mutation: null };
      current.timer = setTimeout(() => {
        const { index: i, mutation } = current;
        current = null;
        proc.removeAllListeners('exit');
        proc.kill('SIGKILL');
        record(mutation ?? 'unknown', 'hang', i, `no result after ${timeout} ms`);
        start();
      }, timeout);
      proc.send({ type: 'case', index });
    };
    start();
  });

  try {
    await Promise.all(Array.from({ length: Math.min(workers, indices.length) }, runWorker));
  } finally {
    cleanup?.();
  }
  summary.by_mutation = Object.fromEntries(Object.entries(summary.by_mutation).sort(([a], [b]) => a.localeCompare(b)));
  return { summary, problems: problems.sort((a, b) => a.index - b.index) };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.child) return child();
  const t0 = Date.now();
  const { summary, problems } = await fuzz(args);
  const s = summary;
  console.log(`fuzz-bundles: seed ${args.seed}, backends ${args.backends.join(',')}: ${s.cases} cases, ${s.ok} ok, ` +
    `${s.rejected} rejected, ${s.crashes} crashes, ${s.hangs} hangs (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  for (const [name, m] of Object.entries(s.by_mutation)) {
    console.log(`  ${name.padEnd(34)} ${String(m.cases).padStart(6)} cases ${String(m.ok).padStart(6)} ok ${String(m.rejected).padStart(6)} rejected` +
      `${m.crashes ? `  ${m.crashes} CRASHES` : ''}${m.hangs ? `  ${m.hangs} HANGS` : ''}`);
  }
  for (const p of problems.slice(0, 20)) console.log(`  ${p.outcome} #${p.index} ${p.mutation}: ${p.detail}${p.message ? `\n      message: ${p.message}` : ''}`);
  if (args.json) writeFileSync(args.json, `${JSON.stringify(summary, null, 2)}\n`);
  process.exitCode = s.crashes || s.hangs ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e) => { console.error(e?.stack ?? e); process.exit(2); });
}
