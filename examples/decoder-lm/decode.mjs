// Decoding with a KV cache (greedy, or sampled with a seed), for any decoder step bundle whose cache inputs are past_X and whose outputs are
// logits and present_X (examples/decoder-lm, examples/whisper): each step's present tensors are kept on the
// backend's device (run(feeds, { keep }); a GPU buffer on webgpu) and fed back as the next step's past.
import { resourceCounters } from 'webdnn-runtime';

/** A seeded pseudo-random generator of floats in [0, 1) (mulberry32): the same text for the same seed. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The next token: the argmax of the logits (temperature 0), else a draw from softmax(logits / temperature). */
function pick(logits, temperature, rand) {
  let best = 0;
  for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
  if (!(temperature > 0)) return best;
  let sum = 0;
  const p = Array.from(logits, (x) => { const e = Math.exp((x - logits[best]) / temperature); sum += e; return e; });
  let r = rand() * sum;
  for (let v = 0; v < p.length; v++) if ((r -= p[v]) < 0) return v;
  return best;
}

/**
 * @param {import('webdnn-runtime').Runner} runner the decoder step
 * @param {bigint[]} prompt the first step's token ids
 * @param {number} steps tokens to generate
 * @param {(ids: bigint[], past: number) => Record<string, any>} feedsFor the step's other feeds (input_ids,
 *   attention_mask, encoder states...) for its token ids and the cache length so far
 * @param {{ temperature?: number, seed?: number }} [sampling] temperature 0 (the default): greedy, the token
 *   onnxruntime's argmax gives (what the tests compare); above 0: a seeded draw (tiny models loop when greedy)
 * @returns {Promise<{ tokens: number[], logits: number[][], bytesRead: number[], ms: number }>} the tokens, each
 *   step's last-position logits, the bytes each step downloaded from the GPU, and the time of the loop
 */
export async function decode(runner, prompt, steps, feedsFor, { temperature = 0, seed = 1 } = {}) {
  const rand = random(seed);
  const pastInputs = runner.inputs.filter((i) => i.name.startsWith('past_'));
  const presentNames = pastInputs.map((spec) => spec.name.replace(/^past_/, 'present_'));
  // the first step's cache is empty: its open length (past) is 0
  let cache = Object.fromEntries(pastInputs.map((spec) => [spec.name, {
    data: new Float32Array(0), shape: spec.shape.map((d) => (typeof d === 'number' ? d : 0)),
  }]));
  let ids = prompt;
  const tokens = [], logits = [], bytesRead = [];
  const t0 = performance.now();
  for (let step = 0; step < steps; step++) {
    const past = pastInputs.length ? cache[pastInputs[0].name].shape[2] : 0;
    const readBefore = resourceCounters().gpuBytesRead;
    const outputs = await runner.run({ ...feedsFor(ids, past), ...cache }, { keep: presentNames });
    const { data, shape } = outputs.logits;
    const vocab = shape[2], last = data.subarray((shape[1] - 1) * vocab, shape[1] * vocab);
    const best = pick(last, temperature, rand);
    tokens.push(best);
    logits.push(Array.from(last));
    bytesRead.push(resourceCounters().gpuBytesRead - readBefore); // downloaded from the GPU this step
    for (const t of Object.values(cache)) t.dispose?.(); // (the empty first cache is plain data)
    cache = Object.fromEntries(pastInputs.map((spec) => [spec.name, outputs[spec.name.replace(/^past_/, 'present_')]]));
    ids = [BigInt(best)];
  }
  const ms = performance.now() - t0;
  for (const t of Object.values(cache)) t.dispose?.();
  return { tokens, logits, bytesRead, ms };
}

/** `--name value` options of a command line, and its first bare argument(s). */
export function parseArgs(argv) {
  const positional = [];
  const options = {};
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith('--')) {
      const next = argv[i + 1];
      options[argv[i].slice(2)] = next === undefined || next.startsWith('--') ? true : (i++, next);
    } else {
      positional.push(argv[i]);
    }
  }
  return { positional, options };
}
