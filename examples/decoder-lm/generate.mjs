// Greedy decoding with a KV cache: feed each step's present key/values back as the next step's past.
//   node examples/decoder-lm/generate.mjs BUNDLE_DIR [--prompt 5,17,33] [--steps 64] [--backends js] [--json]
// The bundle is a decoder step built with its sequence dims open (examples/decoder-lm/README.md): inputs
// input_ids [1, seq], attention_mask [1, total], past_key_i / past_value_i [1, heads, past, head_dim];
// outputs logits and present_key_i / present_value_i. The first step feeds an empty cache (past = 0).
import { load, resourceCounters } from 'webdnn-runtime';

const args = process.argv.slice(2);
const bundle = args[0] && !args[0].startsWith('--') ? args[0] : null; // the first argument
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
if (!bundle) {
  console.error('usage: node examples/decoder-lm/generate.mjs BUNDLE_DIR [--prompt 5,17,33] [--steps 64] [--backends js] [--json]');
  process.exit(2);
}
const prompt = option('prompt', '5,17,33').split(',').map((t) => BigInt(t));
const steps = Number(option('steps', '64'));
const runner = await load(bundle, { backends: option('backends', 'js').split(',') });

// the cache inputs and the outputs that feed them: past_X <- present_X
const pastInputs = runner.inputs.filter((i) => i.name.startsWith('past_'));
const emptyCache = (spec) => {
  const shape = spec.shape.map((d) => (typeof d === 'number' ? d : 0));
  return { data: new Float32Array(0), shape };
};
let cache = Object.fromEntries(pastInputs.map((spec) => [spec.name, emptyCache(spec)]));
const presentNames = pastInputs.map((spec) => spec.name.replace(/^past_/, 'present_'));
let ids = prompt;
const tokens = [], logitsPerStep = [], bytesRead = [];
const t0 = performance.now();
for (let step = 0; step < steps; step++) {
  const past = pastInputs.length ? cache[pastInputs[0].name].shape[2] : 0;
  const total = past + ids.length;
  const readBefore = resourceCounters().gpuBytesRead;
  // the present key/values stay on the backend's device (a GPU buffer on webgpu) and are fed back as is
  const outputs = await runner.run({
    input_ids: { data: BigInt64Array.from(ids), shape: [1, ids.length] },
    attention_mask: { data: new BigInt64Array(total).fill(1n), shape: [1, total] },
    ...cache,
  }, { keep: presentNames });
  const { data, shape } = outputs.logits;
  const vocab = shape[2], last = data.subarray((shape[1] - 1) * vocab, shape[1] * vocab);
  let best = 0;
  for (let v = 1; v < vocab; v++) if (last[v] > last[best]) best = v;
  tokens.push(best);
  bytesRead.push(resourceCounters().gpuBytesRead - readBefore); // downloaded from the GPU this step
  logitsPerStep.push(Array.from(last));
  for (const t of Object.values(cache)) t.dispose?.(); // (the empty first cache is plain data)
  cache = Object.fromEntries(pastInputs.map((spec) => [spec.name, outputs[spec.name.replace(/^past_/, 'present_')]]));
  ids = [BigInt(best)];
}
const ms = performance.now() - t0;
if (args.includes('--json')) {
  console.log(JSON.stringify({ backend: runner.backend, tokens, logits: logitsPerStep, ms, bytesRead }));
} else {
  console.log(`backend: ${runner.backend}; ${steps} tokens in ${ms.toFixed(1)} ms (${(ms / steps).toFixed(2)} ms/token)`);
  console.log(tokens.join(' '));
}
for (const t of Object.values(cache)) t.dispose?.();
await runner.dispose();
