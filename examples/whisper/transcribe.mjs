// Whisper-style speech-to-text: the encoder once over the features, then greedy decoding with a KV cache.
//   node examples/whisper/transcribe.mjs OUT_DIR [--steps 64] [--backends wasm] [--json]
// OUT_DIR holds what examples/whisper/README.md builds: encoder/ and decoder/ bundles and features.f32 (the
// input, [1, 80, 200] float32). The decoder's self-attention cache stays on the backend's device between
// steps; the encoder's states come back to JavaScript once and are fed to every step.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { load } from 'webdnn-runtime';
import { decode, parseArgs } from '../decoder-lm/decode.mjs';

const START = [1n, 2n, 3n]; // start-of-transcript, language, task (make_model.py START)
const { positional: [dir], options } = parseArgs(process.argv.slice(2));
if (!dir) {
  console.error('usage: node examples/whisper/transcribe.mjs OUT_DIR [--steps 64] [--backends wasm] [--json]');
  process.exit(2);
}
const backends = String(options.backends ?? 'wasm').split(',');
const steps = Number(options.steps ?? 64);
const encoder = await load(join(dir, 'encoder'), { backends });
const decoder = await load(join(dir, 'decoder'), { backends });

const bytes = await readFile(join(dir, 'features.f32'));
const spec = encoder.inputs[0];
const features = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
const { encoder_hidden_states: states } = await encoder.run({ [spec.name]: { data: features, shape: spec.shape } });

const result = await decode(decoder, START, steps, (ids) => ({
  input_ids: { data: BigInt64Array.from(ids), shape: [1, ids.length] },
  encoder_hidden_states: states,
}));
if (options.json) {
  console.log(JSON.stringify({ backend: decoder.backend, ...result }));
} else {
  console.log(`backend: ${decoder.backend}; ${steps} tokens in ${result.ms.toFixed(1)} ms (${(result.ms / steps).toFixed(2)} ms/token)`);
  console.log(result.tokens.join(' '));
}
await encoder.dispose();
await decoder.dispose();
