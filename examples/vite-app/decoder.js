// Text generation with a decoder step whose KV cache stays on the device (examples/decoder-lm/decode.mjs).
// `vocab.json` (characters by token id) and the model are written by examples/char-lm/train.py.
import model from '../char-lm/model/decoder_step.onnx';
import vocab from '../char-lm/model/vocab.json';
import { decode } from '../decoder-lm/decode.mjs';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
if (params.has('text')) $('prompt').value = params.get('text');
if (params.has('steps')) $('steps').value = params.get('steps');
if (params.has('temperature')) $('temperature').value = params.get('temperature');

async function main() {
  $('run').disabled = true;
  $('error').textContent = '';
  try {
    if (!model.runner) {
      await model.load({ backends: (params.get('backends') ?? $('backends').value).split(',') });
      $('backend').textContent = model.backend + model.fallbackLog.map((f) => ` (skipped ${f.backend}: ${f.reason})`).join('');
      $('backends').disabled = true;
    }
    const text = $('prompt').value;
    const prompt = [...text].map((c) => {
      const id = vocab.indexOf(c);
      if (id < 0) throw new Error(`the character ${JSON.stringify(c)} is not in the model's vocabulary`);
      return BigInt(id);
    });
    const steps = Number($('steps').value);
    const result = await decode(model.runner, prompt, steps, (ids, past) => ({
      input_ids: { data: BigInt64Array.from(ids), shape: [1, ids.length] },
      attention_mask: { data: new BigInt64Array(past + ids.length).fill(1n), shape: [1, past + ids.length] },
    }), { temperature: Number($('temperature').value), seed: 1 });
    const shown = document.createElement('span');
    shown.className = 'prompt';
    shown.textContent = text;
    $('text').replaceChildren(shown, document.createTextNode(result.tokens.map((t) => vocab[t]).join('')));
    $('time').textContent = `${(result.ms / steps).toFixed(2)} ms per character (${steps} in ${result.ms.toFixed(0)} ms)`;
    const bytes = result.bytesRead.slice(1);
    $('bytes').textContent = model.backend === 'webgpu' ? `${Math.max(...bytes)} bytes (the logits)` : 'nothing (no GPU)';
    window.__result = { backend: model.backend, fallbackLog: model.fallbackLog, tokens: result.tokens, bytesRead: result.bytesRead };
  } catch (e) {
    $('error').textContent = String(e && e.stack ? e.stack : e);
    window.__result = { error: String(e) };
  } finally {
    $('run').disabled = false;
  }
}

$('run').addEventListener('click', main);
if (params.has('autorun')) main();
