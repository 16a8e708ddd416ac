// One side of bench/dynamic_bench.py: the median time of one run of a text encoder bundle at one sequence length,
// in this process only.
//   node bench/encoder_time.mjs --bundle DIR --length 128 --threads 1 [--seconds 3] [--warmup 30]
// Prints one JSON line: { median, min, runs } (milliseconds per run).
import { load } from 'webdnn-runtime';

const args = process.argv.slice(2);
const opt = {};
for (let i = 0; i < args.length; i += 2) opt[args[i].replace(/^--/, '')] = args[i + 1];
const L = Number(opt.length ?? 128), seconds = Number(opt.seconds ?? 3), warmup = Number(opt.warmup ?? 30);
const runner = await load(opt.bundle, { backends: [opt.backend ?? 'wasm'], threads: Number(opt.threads ?? 1) });
const ids = BigInt64Array.from({ length: L }, (_, i) => BigInt(1 + ((i * 7) % 900)));
const feeds = { input_ids: { data: ids, shape: [1, L] }, attention_mask: { data: new BigInt64Array(L).fill(1n), shape: [1, L] } };
if (runner.inputs.some((i) => i.name === 'token_type_ids')) feeds.token_type_ids = { data: new BigInt64Array(L), shape: [1, L] };
for (let i = 0; i < warmup; i++) await runner.run(feeds);
const times = [];
const until = performance.now() + seconds * 1000;
while (performance.now() < until) {
  const t0 = performance.now();
  await runner.run(feeds);
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
console.log(JSON.stringify({ median: times[times.length >> 1], min: times[0], runs: times.length }));
process.exit(0);
