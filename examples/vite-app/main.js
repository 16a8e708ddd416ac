// The model is a module: metadata is there at once, the runtime and weights load on first use.
import model from '../models/tiny_cnn.onnx';

const $ = (id) => document.getElementById(id);
const specs = (list) => list.map((s) => `${s.name}: ${s.dtype} [${s.shape}]`).join(', ');
$('inputs').textContent = specs(model.inputs);
$('outputs').textContent = specs(model.outputs);

/** A deterministic "digit-like" 8×8 input. */
function sampleInput(shape) {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.sin(i * 12.9898) * 0.5;
  return data;
}

async function main() {
  $('run').disabled = true;
  try {
    if (!model.runner) {
      const t0 = performance.now();
      await model.load({
        backends: $('backends').value.split(','),
        onProgress: ({ loaded, total }) => {
          $('progress').value = total ? loaded / total : 1;
          $('bytes').textContent = `${loaded} / ${total} bytes`;
        },
      });
      $('load').textContent = `${(performance.now() - t0).toFixed(1)} ms`;
      $('backend').textContent = model.backend +
        model.fallbackLog.map((f) => ` (skipped ${f.backend}: ${f.reason})`).join('');
      const info = model.runner.threadInfo;
      $('threads').textContent = `${model.runner.threads}${info?.reason ? ` (${info.reason})` : ''}` +
        (globalThis.crossOriginIsolated ? '' : ' — page not cross-origin isolated');
      $('backends').disabled = true;
    }
    const input = model.inputs[0];
    const feeds = { [input.name]: sampleInput(input.shape) };
    await model.run(feeds); // warm-up
    const times = [];
    let out;
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      out = await model.run(feeds);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    $('time').textContent = `median ${times[10].toFixed(3)} ms over 20 runs`;
    const probs = out[model.outputs[0].name].data;
    $('output').innerHTML = Array.from(probs, (p, i) =>
      `<div>${i}: <span class="bar" style="width:${(p * 300).toFixed(0)}px"></span> ${p.toFixed(4)}</div>`).join('');
    window.__result = { backend: model.backend, probabilities: Array.from(probs) };
  } catch (e) {
    $('output').textContent = String(e && e.stack ? e.stack : e);
    window.__result = { error: String(e) };
  } finally {
    $('run').disabled = false;
  }
}

$('run').addEventListener('click', main);
if (new URLSearchParams(location.search).has('autorun')) main();
