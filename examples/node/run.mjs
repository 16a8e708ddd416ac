// Load a webdnn-build bundle in Node, run it once on random input and print the result.
//   node examples/node/run.mjs BUNDLE_DIR [backend,...]
import { load } from 'webdnn-runtime';

const [bundle, backends = 'webgpu,wasm,js'] = process.argv.slice(2);
if (!bundle) {
  console.error('usage: node examples/node/run.mjs BUNDLE_DIR [backends]');
  process.exit(2);
}

const runner = await load(bundle, { backends: backends.split(',') });
console.log(`backend: ${runner.backend}`);
for (const { backend, reason } of runner.fallbackLog) console.log(`  skipped ${backend}: ${reason}`);

const feeds = {};
for (const input of runner.inputs) {
  const n = input.shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.sin(i * 12.9898) * 0.5; // deterministic pseudo-random input
  feeds[input.name] = { data, shape: input.shape, dtype: input.dtype };
  console.log(`input ${input.name}: ${input.dtype} [${input.shape}]`);
}

const t0 = performance.now();
const outputs = await runner.run(feeds);
const ms = performance.now() - t0;
for (const [name, t] of Object.entries(outputs)) {
  const values = Array.from(t.data.slice(0, 10), (v) => Number(v).toFixed(4));
  console.log(`output ${name}: ${t.dtype} [${t.shape}] = ${values.join(' ')}${t.data.length > 10 ? ' …' : ''}`);
  if (t.data.length > 1) {
    let best = 0;
    for (let i = 1; i < t.data.length; i++) if (t.data[i] > t.data[best]) best = i;
    console.log(`  argmax: ${best}`);
  }
}
console.log(`run: ${ms.toFixed(2)} ms`);
runner.dispose();
