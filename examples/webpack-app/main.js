// Same model, bundled by webpack: metadata at once; runtime, wasm and weights on first load().
import model from '../models/tiny_cnn.onnx';

const out = document.getElementById('out');
const log = (line) => { out.textContent += `${line}\n`; };

log(`inputs:  ${model.inputs.map((s) => `${s.name} ${s.dtype} [${s.shape}]`).join(', ')}`);
log(`outputs: ${model.outputs.map((s) => `${s.name} ${s.dtype} [${s.shape}]`).join(', ')}`);

(async () => {
  const t0 = performance.now();
  await model.load({ onProgress: ({ loaded, total }) => log(`weights: ${loaded} / ${total} bytes`) });
  log(`backend: ${model.backend} (${model.runner.threads} thread(s)), loaded in ${(performance.now() - t0).toFixed(1)} ms`);
  for (const f of model.fallbackLog) log(`  skipped ${f.backend}: ${f.reason}`);
  const input = model.inputs[0];
  const data = new Float32Array(input.shape.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i * 12.9898) * 0.5);
  const t1 = performance.now();
  const result = await model.run({ [input.name]: data });
  log(`run: ${(performance.now() - t1).toFixed(2)} ms`);
  const probs = result[model.outputs[0].name].data;
  log(`probabilities: ${Array.from(probs, (p) => p.toFixed(4)).join(' ')}`);
  window.__result = { backend: model.backend, probabilities: Array.from(probs) };
})().catch((e) => {
  log(String(e && e.stack ? e.stack : e));
  window.__result = { error: String(e) };
});
