// Per-op profile of a bundle on one backend (wasm): build it with one segment per op first:
//   .venv/bin/webdnn-build build MODEL -o DIR --backends wasm --backend-option wasm.segment_per_op=true
//   node bench/profile.mjs DIR [threads] [seconds]
import { load } from 'webdnn-runtime';

const [dir, threadsArg = '1', secondsArg = '3'] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node bench/profile.mjs BUNDLE_DIR [threads] [seconds]');
  process.exit(2);
}
const runner = await load(dir, { backends: ['wasm'], threads: Number(threadsArg), profile: true });
const feeds = {};
for (const input of runner.inputs) {
  const n = input.shape.reduce((a, b) => a * b, 1);
  // token ids and masks: small non-negative integers (1 = keep); floats: a smooth signal
  if (input.dtype === 'int64') feeds[input.name] = BigInt64Array.from({ length: n }, (_, i) => BigInt(1 + (i % 7)));
  else if (input.dtype === 'int32') feeds[input.name] = Int32Array.from({ length: n }, (_, i) => 1 + (i % 7));
  else feeds[input.name] = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
}
const warmUntil = performance.now() + 1000; // V8 tiers up late: warm up by time
while (performance.now() < warmUntil) await runner.run(feeds);
runner._executor.profile.clear();
let runs = 0;
const until = performance.now() + Number(secondsArg) * 1000;
while (performance.now() < until) { await runner.run(feeds); runs++; }
const rows = runner.profile();
const total = rows.reduce((a, r) => a + r.ms, 0) / runs;
console.log(`${runner.backend}, ${runner.threads} thread(s), ${runs} runs, ${total.toFixed(2)} ms per run (sum of steps)`);
for (const r of rows.slice(0, Number(process.env.PROFILE_ROWS || 40))) {
  const ms = r.ms / runs;
  console.log(`${ms.toFixed(3).padStart(9)} ms ${(100 * ms / total).toFixed(1).padStart(5)}%  ${r.step}`);
}
runner.dispose();
