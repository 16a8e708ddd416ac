// One side of the decoder benchmark (bench/decoder_bench.py): greedy decoding with a KV cache, timed per
// generated token, in this process only (the other runtime runs in its own process).
//   node bench/decoder.mjs --side ours|ort --model M.onnx --bundle DIR --threads N --steps 64 --repeats R
// Each repeat decodes --steps tokens from the prompt with an empty cache (the prompt step included), as
// examples/decoder-lm/generate.mjs does; the cache goes back in as each runtime's own output tensors (ours:
// kept on the device with run(feeds, { keep })).
// Prints one JSON line: the tokens of the first repeat and the per-repeat ms per token.
import { readFile } from 'node:fs/promises';

const args = process.argv.slice(2);
const opt = {};
for (let i = 0; i < args.length; i += 2) opt[args[i].replace(/^--/, '')] = args[i + 1];
const threads = Number(opt.threads ?? 1), steps = Number(opt.steps ?? 64), repeats = Number(opt.repeats ?? 5);
const prompt = (opt.prompt ?? '5,17,33').split(',').map((t) => BigInt(t));

async function oursSide() {
  const { load } = await import('webdnn-runtime');
  const runner = await load(opt.bundle, { backends: ['wasm'], threads });
  const past = runner.inputs.filter((i) => i.name.startsWith('past_'));
  const keep = past.map((p) => p.name.replace(/^past_/, 'present_'));
  return {
    names: past.map((p) => p.name),
    empty: (name) => {
      const spec = past.find((p) => p.name === name);
      return { data: new Float32Array(0), shape: spec.shape.map((d) => (typeof d === 'number' ? d : 0)) };
    },
    ids: (ids) => ({ data: BigInt64Array.from(ids), shape: [1, ids.length] }),
    mask: (n) => ({ data: new BigInt64Array(n).fill(1n), shape: [1, n] }),
    run: (feeds) => runner.run(feeds, { keep }), // the cache stays on the device (DeviceTensor)
    len: (t) => t.shape[2],
    release: (t) => t.dispose?.(),
  };
}

async function ortSide() {
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = 'error';
  const session = await ort.InferenceSession.create(new Uint8Array(await readFile(opt.model)),
    { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const names = session.inputNames.filter((n) => n.startsWith('past_'));
  // the past shape from the model's metadata is symbolic: [1, heads, past, head_dim] from the first run's present
  return {
    names,
    empty: () => new ort.Tensor('float32', new Float32Array(0), [1, Number(opt.heads ?? 4), 0, Number(opt.headDim ?? 16)]),
    ids: (ids) => new ort.Tensor('int64', BigInt64Array.from(ids), [1, ids.length]),
    mask: (n) => new ort.Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]),
    run: (feeds) => session.run(feeds),
    len: (t) => t.dims[2],
  };
}

const side = opt.side === 'ort' ? await ortSide() : await oursSide();

async function decode() {
  let cache = Object.fromEntries(side.names.map((n) => [n, side.empty(n)]));
  let ids = prompt;
  const tokens = [];
  for (let s = 0; s < steps; s++) {
    const total = side.len(cache[side.names[0]]) + ids.length;
    const out = await side.run({ input_ids: side.ids(ids), attention_mask: side.mask(total), ...cache });
    const logits = out.logits;
    const shape = logits.shape ?? logits.dims;
    const vocab = shape[2], data = logits.data, base = (shape[1] - 1) * vocab;
    let best = 0;
    for (let v = 1; v < vocab; v++) if (data[base + v] > data[base + best]) best = v;
    tokens.push(best);
    for (const t of Object.values(cache)) side.release?.(t);
    cache = Object.fromEntries(side.names.map((n) => [n, out[n.replace(/^past_/, 'present_')]]));
    ids = [BigInt(best)];
  }
  return tokens;
}

const first = await decode(); // warm-up, and the tokens compared between the sides
const perToken = [];
for (let r = 0; r < repeats; r++) {
  const t0 = performance.now();
  await decode();
  perToken.push((performance.now() - t0) / steps);
}
console.log(JSON.stringify({ side: opt.side, threads, tokens: first, msPerToken: perToken }));
process.exit(0);
