// Decoding with a KV cache: feed each step's present key/values back as the next step's past.
//   node examples/decoder-lm/generate.mjs BUNDLE_DIR [--prompt 5,17,33] [--steps 64] [--backends js] [--json]
//   node examples/decoder-lm/generate.mjs BUNDLE_DIR --vocab vocab.json --text "ROMEO." (a character model:
//     examples/char-lm/train.py; the prompt is text, and the output is printed as text)
//   --temperature T --seed S: sample each token from softmax(logits / T) with a seeded generator (default 0: greedy)
// The bundle is a decoder step built with its sequence dims open (examples/decoder-lm/README.md): inputs
// input_ids [1, seq], attention_mask [1, total], past_key_i / past_value_i [1, heads, past, head_dim];
// outputs logits and present_key_i / present_value_i. The first step feeds an empty cache (past = 0).
import { readFile } from 'node:fs/promises';
import { load } from 'webdnn-runtime';
import { decode, parseArgs } from './decode.mjs';

const { positional: [bundle], options } = parseArgs(process.argv.slice(2));
if (!bundle) {
  console.error('usage: node examples/decoder-lm/generate.mjs BUNDLE_DIR [--prompt 5,17,33] [--steps 64] [--backends js] [--json]');
  process.exit(2);
}
// a character-level model: its vocabulary (characters by token id) turns text into ids and back
const vocab = options.vocab ? JSON.parse(await readFile(options.vocab, 'utf8')) : null;
const toIds = (text) => [...text].map((c) => {
  const id = vocab.indexOf(c);
  if (id < 0) throw new Error(`--text: the character ${JSON.stringify(c)} is not in the model's vocabulary`);
  return BigInt(id);
});
const prompt = vocab && options.text ? toIds(String(options.text))
  : String(options.prompt ?? '5,17,33').split(',').map((t) => BigInt(t));
const steps = Number(options.steps ?? 64);
const runner = await load(bundle, { backends: String(options.backends ?? 'js').split(',') });

const sampling = { temperature: Number(options.temperature ?? 0), seed: Number(options.seed ?? 1) };
const result = await decode(runner, prompt, steps, (ids, past) => ({
  input_ids: { data: BigInt64Array.from(ids), shape: [1, ids.length] },
  attention_mask: { data: new BigInt64Array(past + ids.length).fill(1n), shape: [1, past + ids.length] },
}), sampling);
if (options.json) {
  console.log(JSON.stringify({ backend: runner.backend, ...result }));
} else {
  console.log(`backend: ${runner.backend}; ${steps} tokens in ${result.ms.toFixed(1)} ms (${(result.ms / steps).toFixed(2)} ms/token)`);
  console.log(vocab ? [...prompt].map((t) => vocab[Number(t)]).join('') + result.tokens.map((t) => vocab[t]).join('')
    : result.tokens.join(' '));
}
await runner.dispose();
