// One side of bench/load_bench.py in Node: time from load() (ours: the bundle folder; onnxruntime-web: the .onnx
// file read from disk and a session created) to the first result, in this process only.
//   node bench/load_time.mjs --side ours --bundle DIR --length 128 --threads 1
//   node bench/load_time.mjs --side ort --model FILE --length 128 --threads 1
// Prints one JSON line: { loadMs, firstRunMs, totalMs }.
import { readFile } from 'node:fs/promises';

const args = process.argv.slice(2);
const opt = {};
for (let i = 0; i < args.length; i += 2) opt[args[i].replace(/^--/, '')] = args[i + 1];
const L = Number(opt.length ?? 128), threads = Number(opt.threads ?? 1);
const ids = BigInt64Array.from({ length: L }, (_, i) => BigInt(1 + ((i * 7) % 900)));
const mask = new BigInt64Array(L).fill(1n);

const t0 = performance.now();
let run;
if (opt.side === 'ours') {
  const { load } = await import('webdnn-runtime');
  const runner = await load(opt.bundle, { backends: ['wasm'], threads });
  run = () => runner.run({ input_ids: { data: ids, shape: [1, L] }, attention_mask: { data: mask, shape: [1, L] } });
} else {
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = 'error';
  const session = await ort.InferenceSession.create(new Uint8Array(await readFile(opt.model)),
    { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  run = () => session.run({ input_ids: new ort.Tensor('int64', ids, [1, L]), attention_mask: new ort.Tensor('int64', mask, [1, L]) });
}
const t1 = performance.now();
await run();
const t2 = performance.now();
console.log(JSON.stringify({ loadMs: t1 - t0, firstRunMs: t2 - t1, totalMs: t2 - t0 }));
process.exit(0);
