#!/usr/bin/env node
// Persistent worker for the Python side (verify command, conformance tests).
//
// Protocol: JSON lines on stdin/stdout, one request -> one response, answered in order.
//   {"id":1,"cmd":"load","bundle":"/abs/dir","backends":["js"]}
//     -> {"id":1,"ok":true,"handle":1,"backend":"js","inputs":[...],"outputs":[...],"fallbackLog":[...]}
//   {"id":2,"cmd":"run","handle":1,"inputs":{"x":{"dtype":"float32","shape":[1,3],"b64":"..."}}}
//     -> {"id":2,"ok":true,"outputs":[{"name":"y","dtype":"float32","shape":[1,3],"b64":"..."}],"ms":1.2}
//   {"id":3,"cmd":"dispose","handle":1} -> {"id":3,"ok":true}
//   {"cmd":"exit"}                        ends the process (answers first when it has an id)
// Tensors: raw little-endian bytes in base64 ("b64"); bool one byte per element; float16/bfloat16
// as uint16 bit patterns; string tensors as "json": [...] instead of "b64".
// Sequences (dtype "sequence<...>"): {"sequence": [tensor, ...]}; optionals (dtype "optional<...>"):
// {"optional": null} when empty, else {"optional": value}; in inputs and outputs alike (outputs add "name").
// Errors: {"id":...,"ok":false,"error":"message"}; the worker keeps running.
// Nothing but responses goes to stdout (console.log is redirected to stderr).
//
// Usage: node node-worker.mjs [--import MODULE]...
//   --import MODULE  imports a module (path or URL) before serving, e.g. one that calls
//                    registerKernel() for custom ops; also available as {"cmd":"import","module":...}.

import { createInterface } from 'node:readline';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { load } from '../src/index.js';
import { API_ARRAYS } from '../src/tensor-io.js';

console.log = console.error;
console.info = console.error;
console.debug = console.error;
console.warn = console.error;

const runners = new Map();
let nextHandle = 1;

function send(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

/** A wire value: a tensor, {"sequence": [...]} or {"optional": null | value}. */
function decodeValue(name, v) {
  if (v && typeof v === 'object' && Array.isArray(v.sequence)) return v.sequence.map((t, i) => decodeValue(`${name}[${i}]`, t));
  if (v && typeof v === 'object' && 'optional' in v) return v.optional === null ? null : decodeValue(name, v.optional);
  return decodeTensor(name, v);
}

function encodeValue(name, v, dtype) {
  if (typeof dtype === 'string' && dtype.startsWith('optional<')) {
    const inner = dtype.slice(9, -1);
    return { name, optional: v === null ? null : encodeValue(undefined, v, inner === '?' ? undefined : inner) };
  }
  if (Array.isArray(v)) return { name, sequence: v.map((t) => encodeTensor(undefined, t)) };
  return encodeTensor(name, v);
}

function decodeTensor(name, t) {
  if (!t || typeof t !== 'object') throw new Error(`input '${name}': expected {dtype, shape, b64|json}`);
  const { dtype, shape } = t;
  if (dtype === 'string' || t.json !== undefined) {
    if (!Array.isArray(t.json)) throw new Error(`input '${name}': string tensors need "json": [...]`);
    return { dtype, shape, data: t.json };
  }
  const Ctor = API_ARRAYS[dtype];
  if (!Ctor) throw new Error(`input '${name}': unsupported dtype ${JSON.stringify(dtype)}`);
  if (typeof t.b64 !== 'string') throw new Error(`input '${name}': missing "b64"`);
  const bytes = Buffer.from(t.b64, 'base64');
  if (bytes.byteLength % Ctor.BYTES_PER_ELEMENT !== 0) {
    throw new Error(`input '${name}': ${bytes.byteLength} bytes is not a whole number of ${dtype} elements`);
  }
  const aligned = new Uint8Array(bytes).buffer; // a fresh, aligned copy
  return { dtype, shape, data: new Ctor(aligned) };
}

function encodeTensor(name, t) {
  if (t.dtype === 'string') return { name, dtype: t.dtype, shape: t.shape, json: t.data };
  const d = t.data;
  return { name, dtype: t.dtype, shape: t.shape, b64: Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('base64') };
}

/** Imports a module given as a file path (relative to the cwd) or a URL. */
function importModule(spec) {
  const isUrl = /^[a-z][a-z0-9+.-]*:/i.test(spec) && !/^[a-z]:[\\/]/i.test(spec);
  return import(isUrl ? spec : pathToFileURL(resolve(spec)).href);
}

function runnerFor(handle) {
  const runner = runners.get(handle);
  if (!runner) throw new Error(`no loaded bundle with handle ${JSON.stringify(handle)}`);
  return runner;
}

const commands = {
  async load(req) {
    if (typeof req.bundle !== 'string') throw new Error('load: "bundle" (folder path or URL) is required');
    // load() options: backends, threads (anything else is passed through as given)
    const options = { ...(req.options ?? {}) };
    if (req.backends) options.backends = req.backends;
    const runner = await load(req.bundle, options);
    const handle = nextHandle++;
    runners.set(handle, runner);
    return {
      handle, backend: runner.backend, inputs: runner.inputs, outputs: runner.outputs, fallbackLog: runner.fallbackLog,
      threads: runner.threads ?? null, threadInfo: runner.threadInfo ?? null,
    };
  },

  async run(req) {
    const runner = runnerFor(req.handle);
    const feeds = {};
    for (const [name, t] of Object.entries(req.inputs ?? {})) feeds[name] = decodeValue(name, t);
    const start = performance.now();
    const result = await runner.run(feeds);
    const ms = performance.now() - start;
    return { outputs: runner.outputs.map((o) => encodeValue(o.name, result[o.name], o.dtype)), ms };
  },

  async dispose(req) {
    runnerFor(req.handle).dispose();
    runners.delete(req.handle);
    return {};
  },

  async import(req) {
    if (typeof req.module !== 'string') throw new Error('import: "module" (path or URL) is required');
    await importModule(req.module);
    return {};
  },

  async ping() {
    return {};
  },
};

async function handle(line) {
  if (!line.trim()) return;
  let req;
  try {
    req = JSON.parse(line);
  } catch (e) {
    send({ id: null, ok: false, error: `invalid JSON request: ${e.message}` });
    return;
  }
  const id = req && typeof req === 'object' ? req.id ?? null : null;
  if (req?.cmd === 'exit') {
    if (id !== null) send({ id, ok: true });
    for (const runner of runners.values()) runner.dispose();
    process.stdout.write('', () => process.exit(0));
    return;
  }
  try {
    const command = req && typeof req.cmd === 'string' && Object.hasOwn(commands, req.cmd) ? commands[req.cmd] : null;
    if (!command) throw new Error(`unknown command ${JSON.stringify(req?.cmd)} (expected load, run, dispose, import, ping, exit)`);
    send({ id, ok: true, ...(await command(req)) });
  } catch (e) {
    if (process.env.WEBDNN_WORKER_DEBUG) console.error(e);
    send({ id, ok: false, error: e && e.message ? e.message : String(e) });
  }
}

process.on('uncaughtException', (e) => console.error('node-worker: uncaught exception:', e));
process.on('unhandledRejection', (e) => console.error('node-worker: unhandled rejection:', e));

const args = process.argv.slice(2);
const preload = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--import' && i + 1 < args.length) preload.push(args[++i]);
  else {
    console.error(`node-worker: unknown argument ${args[i]} (usage: node-worker.mjs [--import MODULE]...)`);
    process.exit(2);
  }
}

// Requests are handled one at a time, in arrival order (after the --import modules).
let queue = (async () => {
  for (const spec of preload) await importModule(spec);
})().catch((e) => {
  console.error(`node-worker: --import failed: ${e.stack ?? e}`);
  process.exit(2);
});
const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => { queue = queue.then(() => handle(line)); });
rl.on('close', () => { queue.then(() => process.exit(0)); });
