// What grows in the JS heap over load/run/dispose cycles (issue 8, item 5): two V8 heap snapshots,
// after W warm-up cycles and after W + N more, compared by node type and name. Compiled code
// (V8's JIT output, deopt data, weak code lists) grows as functions get optimised and is not a
// leak; any other category growing with N would be objects the runtime retains.
//
//   node --expose-gc bench/heap-diff.mjs [--backends js,wasm,webgpu] [--warmup 100] [--cycles 500]
//        [--threads N] [--json out.json]
//
// JSON: { version, date, node, warmup, cycles, backends: { <backend>: { threads,
//   code_bytes: growth of compiled-code categories, other_bytes: growth of everything else,
//   other_per_cycle: other_bytes / cycles, top_other: [[type, name, count growth, byte growth], ...] }
//   | { skipped } | { error } } }
// Uses the fixture of js-runtime/test/lifetime-helpers.js (built with the repository's .venv).

import v8 from 'node:v8';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

if (typeof global.gc !== 'function') {
  const r = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

const { load } = await import('../js-runtime/src/index.js');
const { lifetimeFixture } = await import('../js-runtime/test/lifetime-helpers.js');

function parseCli() {
  const { values } = parseArgs({
    options: {
      backends: { type: 'string', default: 'js,wasm,webgpu' },
      warmup: { type: 'string', default: '100' },
      cycles: { type: 'string', default: '500' },
      threads: { type: 'string' },
      json: { type: 'string' },
    },
  });
  return { backends: values.backends.split(',').filter(Boolean), warmup: Number(values.warmup), cycles: Number(values.cycles),
    threads: values.threads ? Number(values.threads) : null, json: values.json ?? null };
}

/** Node counts and self sizes of a heap snapshot file, keyed by "type\0name". */
function tally(file) {
  const snap = JSON.parse(readFileSync(file, 'utf8'));
  const meta = snap.snapshot.meta;
  const stride = meta.node_fields.length;
  const typeAt = meta.node_fields.indexOf('type');
  const nameAt = meta.node_fields.indexOf('name');
  const sizeAt = meta.node_fields.indexOf('self_size');
  const types = meta.node_types[typeAt];
  const out = new Map();
  for (let i = 0; i < snap.nodes.length; i += stride) {
    const key = `${types[snap.nodes[i + typeAt]]}\0${String(snap.strings[snap.nodes[i + nameAt]]).slice(0, 80)}`;
    const e = out.get(key) ?? { count: 0, bytes: 0 };
    e.count++;
    e.bytes += snap.nodes[i + sizeAt];
    out.set(key, e);
  }
  return out;
}

/** Compiled code and V8's bookkeeping of it: what the JIT adds as more functions get optimised. */
const isCode = (type, name) => type === 'code' || (type === 'hidden' && /WeakArrayList|WeakFixedArray/.test(name));

async function measure(backend, fixture, args, dir) {
  const options = { backends: [backend], ...(args.threads ? { threads: args.threads } : {}) };
  let threads = null;
  const cycle = async () => {
    const r = await load(fixture.dir, options);
    threads = r.threads ?? threads;
    await r.run({ x: fixture.inputs[0] });
    await r.dispose();
    if (r.backend !== backend) throw new Error(`loaded on ${r.backend}, not ${backend}`);
  };
  for (let i = 0; i < args.warmup; i++) await cycle();
  global.gc();
  const a = join(dir, `${backend}-a.heapsnapshot`);
  v8.writeHeapSnapshot(a);
  for (let i = 0; i < args.cycles; i++) await cycle();
  global.gc();
  const b = join(dir, `${backend}-b.heapsnapshot`);
  v8.writeHeapSnapshot(b);
  const ta = tally(a);
  const tb = tally(b);
  rmSync(a);
  rmSync(b);
  let code = 0;
  let other = 0;
  const rows = [];
  for (const key of new Set([...ta.keys(), ...tb.keys()])) {
    const [type, name] = key.split('\0');
    const dc = (tb.get(key)?.count ?? 0) - (ta.get(key)?.count ?? 0);
    const db = (tb.get(key)?.bytes ?? 0) - (ta.get(key)?.bytes ?? 0);
    if (isCode(type, name)) code += db;
    else {
      other += db;
      if (db > 0) rows.push([type, name, dc, db]);
    }
  }
  rows.sort((x, y) => y[3] - x[3]);
  return { threads, code_bytes: code, other_bytes: other, other_per_cycle: other / args.cycles, top_other: rows.slice(0, 8) };
}

const args = parseCli();
const fixture = lifetimeFixture();
if (fixture.reason) throw new Error(`the fixture cannot be built: ${fixture.reason}`);
const dir = mkdtempSync(join(tmpdir(), 'webdnn-heapdiff-'));
const result = { version: 1, date: new Date().toISOString(), node: process.version, warmup: args.warmup, cycles: args.cycles, backends: {} };
try {
  for (const backend of args.backends) {
    try {
      result.backends[backend] = await measure(backend, fixture, args, dir);
    } catch (e) {
      result.backends[backend] = { error: e.message };
    }
    const r = result.backends[backend];
    console.error(`${backend}: ${r.error ?? `code +${r.code_bytes} B, other ${r.other_bytes >= 0 ? '+' : ''}${r.other_bytes} B over ${args.cycles} cycles`}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (args.json) writeFileSync(args.json, JSON.stringify(result, null, 1));
console.log(JSON.stringify(result));
