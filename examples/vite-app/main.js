// The model is a module: metadata is there at once, the runtime and weights load on first use.
// `digits_samples.json` holds held-out test digits written by examples/models/train_digits.py.
import model from '../models/digits.onnx';
import samples from '../models/digits_samples.json';

const $ = (id) => document.getElementById(id);
const specs = (list) => list.map((s) => `${s.name}: ${s.dtype} [${s.shape}]`).join(', ');
$('inputs').textContent = specs(model.inputs);
$('outputs').textContent = specs(model.outputs);

/** Draws one 8×8 digit (values in [0, 1], ink is 1) on a canvas. */
function drawDigit(pixels) {
  const canvas = document.createElement('canvas');
  canvas.width = 8;
  canvas.height = 8;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(8, 8);
  pixels.forEach((v, i) => {
    const g = Math.round(255 * (1 - v));
    img.data.set([g, g, g, 255], i * 4);
  });
  ctx.putImageData(img, 0, 0);
  return canvas;
}

async function main() {
  $('run').disabled = true;
  $('error').textContent = '';
  try {
    if (!model.runner) {
      const t0 = performance.now();
      await model.load({
        backends: (new URLSearchParams(location.search).get('backends') ?? $('backends').value).split(','),
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
    const [input] = model.inputs;
    const [output] = model.outputs;
    const results = [];
    const times = [];
    $('digits').replaceChildren();
    for (let i = 0; i < samples.pixels.length; i++) {
      const t0 = performance.now();
      const out = await model.run({ [input.name]: new Float32Array(samples.pixels[i]) });
      times.push(performance.now() - t0);
      const probs = Array.from(out[output.name].data);
      const predicted = probs.indexOf(Math.max(...probs));
      results.push({ label: samples.labels[i], predicted, probabilities: probs });

      const cell = document.createElement('div');
      cell.className = 'digit';
      const ok = predicted === samples.labels[i];
      cell.append(drawDigit(samples.pixels[i]));
      const caption = document.createElement('div');
      caption.className = ok ? 'ok' : 'wrong';
      caption.textContent = `${predicted} (${(probs[predicted] * 100).toFixed(1)}%)`;
      caption.title = `true label ${samples.labels[i]}`;
      const truth = document.createElement('div');
      truth.textContent = `true ${samples.labels[i]}`;
      cell.append(caption, truth);
      $('digits').append(cell);
    }
    const sorted = [...times].sort((a, b) => a - b);
    $('time').textContent = `median ${sorted[sorted.length >> 1].toFixed(3)} ms per digit (first: ${times[0].toFixed(3)} ms)`;
    const correct = results.filter((r) => r.label === r.predicted).length;
    $('accuracy').textContent = `${correct} / ${results.length} shown digits correct ` +
      `(held-out test set: ${(samples.accuracy * 100).toFixed(1)}% in training)`;
    window.__result = { backend: model.backend, fallbackLog: model.fallbackLog, results };
  } catch (e) {
    $('error').textContent = String(e && e.stack ? e.stack : e);
    window.__result = { error: String(e) };
  } finally {
    $('run').disabled = false;
  }
}

$('run').addEventListener('click', main);
if (new URLSearchParams(location.search).has('autorun')) main();
